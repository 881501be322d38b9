//! GOST R 34.10-2012 (256/512) and 34.10-2001 signatures, GOST R 34.11-2012
//! (Streebog) and 34.11-94 digests, with the PKCS#11 conventions of
//! `../shared/reference/gost.md` §3:
//!
//! - `C_Sign(CKM_GOSTR3410[_512])` takes the 32/64-byte hash as the hash
//!   function output it is (read as a little-endian integer) and returns s‖r,
//!   each big-endian;
//! - a public key's `CKA_VALUE` is X‖Y, each little-endian; a private key's
//!   `CKA_VALUE` is d, little-endian;
//! - `CKA_GOSTR3410_PARAMS` / `CKA_GOSTR3411_PARAMS` are DER OIDs.

use std::sync::Arc;

use super::keys::KeyMaterial;
use super::params::{MechParam, Mechanism};
use super::{
    check_key, no_param, DigestOp, HashDigest, Input, MechanismImpl, Registry, SignOp, VerifyOp,
};
use crate::ck::*;
use crate::crypto::gost::{self, KeySize, ParamSet, SigningKey, VerifyingKey};
use crate::crypto::HashAlg;
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};
use crate::object::Object;

/// DER of the Streebog-256 OID 1.2.643.7.1.1.2.2 (`CKA_GOSTR3411_PARAMS` of 2012-256 keys).
pub const STREEBOG256_OID: &[u8] = &[0x06, 0x08, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x02, 0x02];
/// DER of the Streebog-512 OID 1.2.643.7.1.1.2.3.
pub const STREEBOG512_OID: &[u8] = &[0x06, 0x08, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x01, 0x02, 0x03];
/// DER of GOST R 34.11-94 with the CryptoPro parameters, 1.2.643.2.2.30.1.
pub const GOST94_CRYPTOPRO_OID: &[u8] = &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1E, 0x01];
/// DER of GOST R 34.11-94 with the Test parameters, 1.2.643.2.2.30.0 (KZ GOST 34.311-95).
pub const GOST94_TEST_OID: &[u8] = &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1E, 0x00];

/// The 34.11-94 variant a hash OID names.
fn gost94_by_oid(oid: &[u8]) -> Result<HashAlg> {
    match oid {
        GOST94_CRYPTOPRO_OID => Ok(HashAlg::Gost94CryptoPro),
        GOST94_TEST_OID => Ok(HashAlg::Gost94Test),
        _ => Err(Error::MechanismParamInvalid(
            "unknown GOST R 34.11-94 parameter OID",
        )),
    }
}

/// The curve of a key's `CKA_GOSTR3410_PARAMS`, checked against its key type.
pub fn param_set(attrs: &AttrMap) -> Result<&'static ParamSet> {
    let oid = attrs
        .get_bytes(CKA_GOSTR3410_PARAMS)
        .filter(|v| !v.is_empty())
        .ok_or(Error::TemplateIncomplete(CKA_GOSTR3410_PARAMS))?;
    let set = gost::param_set_by_oid_der(oid).ok_or(Error::DomainParamsInvalid)?;
    let want = match attrs.get_ulong(CKA_KEY_TYPE) {
        Some(CKK_GOSTR3410_512) => KeySize::Bits512,
        _ => KeySize::Bits256,
    };
    if set.size != want {
        return Err(Error::DomainParamsInvalid);
    }
    Ok(set)
}

/// Parses a GOST key object.
pub fn key_from_attrs(class: CK_OBJECT_CLASS, attrs: &AttrMap) -> Result<KeyMaterial> {
    let set = param_set(attrs)?;
    let value = attrs
        .get_bytes(CKA_VALUE)
        .filter(|v| !v.is_empty())
        .ok_or(Error::TemplateIncomplete(CKA_VALUE))?;
    match class {
        CKO_PRIVATE_KEY => SigningKey::from_le_bytes(set, value)
            .map(KeyMaterial::GostPrivate)
            .map_err(|_| Error::AttributeValueInvalid(CKA_VALUE, "not a valid GOST private key")),
        CKO_PUBLIC_KEY => VerifyingKey::from_le_xy(set, value)
            .map(KeyMaterial::GostPublic)
            .map_err(|_| Error::AttributeValueInvalid(CKA_VALUE, "not a point on the GOST curve")),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

struct Gost;

/// What a signing mechanism hashes with and which key size it needs.
fn sign_setup(m: &Mechanism, key: &Object) -> Result<(Input, KeySize)> {
    Ok(match m.mech {
        CKM_GOSTR3410 => {
            no_param(m)?;
            (Input::raw(32), KeySize::Bits256)
        }
        CKM_GOSTR3410_512 => {
            no_param(m)?;
            (Input::raw(64), KeySize::Bits512)
        }
        CKM_GOSTR3410_WITH_GOSTR3411_12_256 => {
            no_param(m)?;
            (Input::hash(HashAlg::Streebog256), KeySize::Bits256)
        }
        CKM_GOSTR3410_WITH_GOSTR3411_12_512 => {
            no_param(m)?;
            (Input::hash(HashAlg::Streebog512), KeySize::Bits512)
        }
        CKM_GOSTR3410_WITH_GOSTR3411 => {
            // The hash parameters come from the mechanism, else from the key.
            let oid = match &m.param {
                MechParam::Bytes(b) if !b.is_empty() => b.clone(),
                MechParam::None | MechParam::Bytes(_) => key
                    .attrs
                    .get_bytes(CKA_GOSTR3411_PARAMS)
                    .filter(|v| *v != STREEBOG256_OID && !v.is_empty())
                    .unwrap_or(GOST94_CRYPTOPRO_OID)
                    .to_vec(),
                _ => return Err(Error::MechanismParamInvalid("expected a DER OID")),
            };
            (Input::hash(gost94_by_oid(&oid)?), KeySize::Bits256)
        }
        other => return Err(Error::MechanismInvalid(other)),
    })
}

fn key_types(size: KeySize) -> &'static [CK_KEY_TYPE] {
    match size {
        KeySize::Bits256 => &[CKK_GOSTR3410],
        KeySize::Bits512 => &[CKK_GOSTR3410_512],
    }
}

struct GostSign {
    key: Arc<KeyMaterial>,
    input: Input,
    len: usize,
}

impl SignOp for GostSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let digest = self.input.take()?;
        let KeyMaterial::GostPrivate(k) = &*self.key else {
            return Err(Error::KeyTypeInconsistent);
        };
        if digest.len() != k.params().coordinate_len() {
            return Err(Error::DataLenRange);
        }
        k.sign_digest(&digest)
            .map_err(|e| Error::Crypto(e.to_string()))
    }
    fn output_len(&self) -> usize {
        self.len
    }
}

struct GostVerify {
    key: VerifyingKey,
    input: Input,
}

impl VerifyOp for GostVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let digest = self.input.take()?;
        let n = self.key.params().coordinate_len();
        if digest.len() != n {
            return Err(Error::DataLenRange);
        }
        if signature.len() != 2 * n {
            return Err(Error::SignatureLenRange);
        }
        self.key
            .verify_digest(&digest, signature)
            .map_err(|_| Error::SignatureInvalid)
    }
}

impl MechanismImpl for Gost {
    fn digest(&self, m: &Mechanism) -> Result<Box<dyn DigestOp>> {
        let alg = match m.mech {
            CKM_GOSTR3411_12_256 => no_param(m).map(|_| HashAlg::Streebog256)?,
            CKM_GOSTR3411_12_512 => no_param(m).map(|_| HashAlg::Streebog512)?,
            CKM_GOSTR3411 => match &m.param {
                MechParam::Bytes(b) if !b.is_empty() => gost94_by_oid(b)?,
                MechParam::None | MechParam::Bytes(_) => HashAlg::Gost94CryptoPro,
                _ => return Err(Error::MechanismParamInvalid("expected a DER OID")),
            },
            other => return Err(Error::MechanismInvalid(other)),
        };
        Ok(HashDigest::boxed(alg))
    }

    fn sign(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
        let (input, size) = sign_setup(m, key)?;
        check_key(key, CKO_PRIVATE_KEY, key_types(size), CKA_SIGN, m.mech)?;
        let km = key.key_material()?;
        let KeyMaterial::GostPrivate(k) = &*km else {
            return Err(Error::KeyTypeInconsistent);
        };
        let len = 2 * k.params().coordinate_len();
        Ok(Box::new(GostSign {
            key: km,
            input,
            len,
        }))
    }

    fn verify(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
        let (input, size) = sign_setup(m, key)?;
        check_key(key, CKO_PUBLIC_KEY, key_types(size), CKA_VERIFY, m.mech)?;
        let km = key.key_material()?;
        let KeyMaterial::GostPublic(k) = &*km else {
            return Err(Error::KeyTypeInconsistent);
        };
        Ok(Box::new(GostVerify {
            key: k.clone(),
            input,
        }))
    }

    fn generate_key_pair(
        &self,
        m: &Mechanism,
        public: &mut AttrMap,
        private: &mut AttrMap,
        _range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        // Some clients pass the curve OID as the mechanism parameter as well;
        // the public template's CKA_GOSTR3410_PARAMS is what counts.
        let set = param_set(public)?;
        let _ = m;
        let hash_oid = public
            .get_bytes(CKA_GOSTR3411_PARAMS)
            .filter(|v| !v.is_empty())
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| match set.size {
                KeySize::Bits256 => STREEBOG256_OID.to_vec(),
                KeySize::Bits512 => STREEBOG512_OID.to_vec(),
            });
        let key = SigningKey::generate(set);
        public.insert(CKA_GOSTR3411_PARAMS, hash_oid.clone());
        public.insert(CKA_VALUE, key.verifying_key().to_le_xy());
        private.insert(CKA_GOSTR3410_PARAMS, set.oid_der());
        private.insert(CKA_GOSTR3411_PARAMS, hash_oid);
        if let Some(p) = public.get_bytes(CKA_GOST28147_PARAMS).map(<[u8]>::to_vec) {
            private.insert(CKA_GOST28147_PARAMS, p);
        }
        private.insert(CKA_VALUE, key.to_le_bytes().to_vec());
        Ok(())
    }

    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        match m {
            CKM_GOSTR3410_KEY_PAIR_GEN => Some(CKK_GOSTR3410),
            CKM_GOSTR3410_512_KEY_PAIR_GEN => Some(CKK_GOSTR3410_512),
            _ => None,
        }
    }
}

/// Registers the GOST mechanisms.
pub fn register(r: &mut Registry) {
    static IMP: Gost = Gost;
    r.add(
        &[
            CKM_GOSTR3410_KEY_PAIR_GEN,
            CKM_GOSTR3410_512_KEY_PAIR_GEN,
            CKM_GOSTR3410,
            CKM_GOSTR3410_512,
            CKM_GOSTR3410_WITH_GOSTR3411,
            CKM_GOSTR3410_WITH_GOSTR3411_12_256,
            CKM_GOSTR3410_WITH_GOSTR3411_12_512,
            CKM_GOSTR3411,
            CKM_GOSTR3411_12_256,
            CKM_GOSTR3411_12_512,
        ],
        &IMP,
    );
}
