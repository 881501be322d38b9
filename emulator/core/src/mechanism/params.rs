//! Owned mechanism descriptions: the boundary copies `CK_MECHANISM` and its
//! parameter out of caller memory into these before the core sees them.

use crate::ck::*;

/// What shape of `pParameter` a mechanism takes, so the boundary knows which C
/// struct to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamShape {
    /// No parameter (NULL / length 0); anything else is `CKR_MECHANISM_PARAM_INVALID`.
    None,
    /// `CK_RSA_PKCS_PSS_PARAMS`.
    RsaPss,
    /// `CK_RSA_PKCS_OAEP_PARAMS`.
    RsaOaep,
    /// Raw bytes (an OID for GOST digests, an IV, or an optional parameter).
    Bytes,
    /// `CK_AES_CTR_PARAMS`.
    AesCtr,
    /// `CK_GCM_PARAMS` (v3.0, or v2.40's struct without `ulIvBits`).
    Gcm,
    /// `CK_MAC_GENERAL_PARAMS`: the MAC length in bytes.
    MacLength,
    /// `CK_ECDH1_DERIVE_PARAMS`.
    Ecdh1,
}

/// A parsed mechanism parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MechParam {
    /// No parameter.
    None,
    /// RSA-PSS parameters.
    RsaPss {
        /// Hash of the message (`CKM_SHA256` …).
        hash: CK_MECHANISM_TYPE,
        /// Mask generation function (`CKG_MGF1_SHA256` …).
        mgf: CK_RSA_PKCS_MGF_TYPE,
        /// Salt length in bytes.
        salt_len: CK_ULONG,
    },
    /// RSA-OAEP parameters.
    RsaOaep {
        /// Hash (`CKM_SHA_1`, `CKM_SHA256` …).
        hash: CK_MECHANISM_TYPE,
        /// Mask generation function.
        mgf: CK_RSA_PKCS_MGF_TYPE,
        /// `CKZ_DATA_SPECIFIED` or 0.
        source: CK_RSA_PKCS_OAEP_SOURCE_TYPE,
        /// The label.
        source_data: Vec<u8>,
    },
    /// Raw parameter bytes.
    Bytes(Vec<u8>),
    /// `CK_AES_CTR_PARAMS`.
    AesCtr {
        /// `ulCounterBits`.
        counter_bits: CK_ULONG,
        /// `cb`: the initial counter block.
        counter_block: [u8; 16],
    },
    /// `CK_GCM_PARAMS`.
    Gcm {
        /// `pIv`.
        iv: Vec<u8>,
        /// `pAAD`.
        aad: Vec<u8>,
        /// `ulTagBits`.
        tag_bits: CK_ULONG,
    },
    /// `CK_MAC_GENERAL_PARAMS`.
    MacLength(CK_ULONG),
    /// `CK_ECDH1_DERIVE_PARAMS`.
    Ecdh1 {
        /// `kdf`: `CKD_NULL`, `CKD_SHA1_KDF` …
        kdf: CK_EC_KDF_TYPE,
        /// `pSharedData`.
        shared_data: Vec<u8>,
        /// `pPublicData`: the other party's EC point.
        public_data: Vec<u8>,
    },
}

/// A mechanism with its parameter, owned by the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mechanism {
    /// The `CKM_*` type.
    pub mech: CK_MECHANISM_TYPE,
    /// Its parameter.
    pub param: MechParam,
}

impl Mechanism {
    /// A mechanism without parameter.
    pub fn new(mech: CK_MECHANISM_TYPE) -> Self {
        Mechanism {
            mech,
            param: MechParam::None,
        }
    }
}

/// The parameter shape the boundary must read for `mech`.
pub fn param_shape(mech: CK_MECHANISM_TYPE) -> ParamShape {
    match mech {
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => ParamShape::RsaPss,
        CKM_RSA_PKCS_OAEP => ParamShape::RsaOaep,
        CKM_GOSTR3411 | CKM_GOSTR3410_WITH_GOSTR3411 | CKM_GOSTR3410_KEY_PAIR_GEN => {
            ParamShape::Bytes
        }
        CKM_AES_CBC | CKM_AES_CBC_PAD | CKM_DES3_CBC | CKM_DES3_CBC_PAD => ParamShape::Bytes,
        // An optional 8-byte IV (GOST 28147-89); CTR-ACPKM's section length
        // and IV (gost_symmetric.rs).
        CKM_GOST28147 | CKM_GOST28147_MAC | CKM_KUZNECHIK_CTR_ACPKM | CKM_MAGMA_CTR_ACPKM => {
            ParamShape::Bytes
        }
        // An optional IV: 8 bytes for RFC 3394, 4 for RFC 5649.
        CKM_AES_KEY_WRAP | CKM_AES_KEY_WRAP_PAD | CKM_AES_KEY_WRAP_KWP => ParamShape::Bytes,
        CKM_ECDH1_DERIVE => ParamShape::Ecdh1,
        CKM_AES_CTR => ParamShape::AesCtr,
        CKM_AES_GCM => ParamShape::Gcm,
        CKM_SHA_1_HMAC_GENERAL
        | CKM_SHA224_HMAC_GENERAL
        | CKM_SHA256_HMAC_GENERAL
        | CKM_SHA384_HMAC_GENERAL
        | CKM_SHA512_HMAC_GENERAL
        | CKM_AES_CMAC_GENERAL => ParamShape::MacLength,
        _ => ParamShape::None,
    }
}
