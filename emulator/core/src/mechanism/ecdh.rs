//! `CKM_ECDH1_DERIVE`: ECDH on the NIST curves through `C_DeriveKey`, the raw
//! shared secret (`CKD_NULL`) or ANSI X9.63 over SHA-1/SHA-2 (`CKD_SHA*_KDF`)
//! into a secret key of the template's type and `CKA_VALUE_LEN`.

use der::Decode;

use super::keys::KeyMaterial;
use super::params::{MechParam, Mechanism};
use super::{check_key, MechanismImpl, Registry};
use crate::ck::*;
use crate::crypto::{ecdh1_derive, EcCurve, EcdhKdf, HashAlg};
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};
use crate::object::Object;

struct Ecdh;

fn kdf_of(kdf: CK_EC_KDF_TYPE) -> Result<EcdhKdf> {
    Ok(match kdf {
        CKD_NULL => EcdhKdf::Null,
        CKD_SHA1_KDF => EcdhKdf::X963(HashAlg::Sha1),
        CKD_SHA224_KDF => EcdhKdf::X963(HashAlg::Sha224),
        CKD_SHA256_KDF => EcdhKdf::X963(HashAlg::Sha256),
        CKD_SHA384_KDF => EcdhKdf::X963(HashAlg::Sha384),
        CKD_SHA512_KDF => EcdhKdf::X963(HashAlg::Sha512),
        _ => {
            return Err(Error::MechanismParamInvalid(
                "unsupported key derivation function",
            ))
        }
    })
}

/// The peer's SEC1 point: as is, or inside a DER OCTET STRING (the form of
/// `CKA_EC_POINT`, which many callers pass straight through). The bare forms
/// are recognised by length first, since a bare point starts with 0x04 too.
fn peer_point(curve: EcCurve, public_data: &[u8]) -> Result<Vec<u8>> {
    let n = curve.field_len();
    let bare = match public_data.first() {
        Some(4) => public_data.len() == 1 + 2 * n,
        Some(2 | 3) => public_data.len() == 1 + n,
        _ => false,
    };
    if bare {
        return Ok(public_data.to_vec());
    }
    der::asn1::OctetString::from_der(public_data)
        .map(|os| os.as_bytes().to_vec())
        .map_err(|_| Error::MechanismParamInvalid("the public data is not an EC point"))
}

/// The length of the key to derive: `CKA_VALUE_LEN`, else the one size of a
/// fixed-size key type, else what the KDF gives by default.
fn key_len(attrs: &AttrMap) -> Result<Option<usize>> {
    if let Some(n) = attrs.get_ulong(CKA_VALUE_LEN) {
        return usize::try_from(n)
            .map(Some)
            .map_err(|_| Error::AttributeValueInvalid(CKA_VALUE_LEN, "too large"));
    }
    Ok(match attrs.get_ulong(CKA_KEY_TYPE) {
        Some(CKK_DES3) => Some(24),
        Some(CKK_DES2) => Some(16),
        Some(CKK_GOST28147 | CKK_KUZNECHIK | CKK_MAGMA) => Some(32),
        _ => None,
    })
}

impl MechanismImpl for Ecdh {
    fn derive(&self, m: &Mechanism, base_key: &Object, attrs: &mut AttrMap) -> Result<()> {
        let MechParam::Ecdh1 {
            kdf,
            shared_data,
            public_data,
        } = &m.param
        else {
            return Err(Error::MechanismParamInvalid(
                "CKM_ECDH1_DERIVE takes CK_ECDH1_DERIVE_PARAMS",
            ));
        };
        let kdf = kdf_of(*kdf)?;
        if matches!(kdf, EcdhKdf::Null) && !shared_data.is_empty() {
            return Err(Error::MechanismParamInvalid(
                "CKD_NULL takes no shared data",
            ));
        }
        check_key(base_key, CKO_PRIVATE_KEY, &[CKK_EC], CKA_DERIVE, m.mech)?;
        let km = base_key.key_material()?;
        let KeyMaterial::EcPrivate(private) = &*km else {
            return Err(Error::KeyTypeInconsistent);
        };
        let point = peer_point(private.curve(), public_data)?;
        let value =
            ecdh1_derive(private, &point, kdf, shared_data, key_len(attrs)?).map_err(|e| {
                match Error::from(e) {
                    // More than the shared secret holds without a KDF.
                    Error::KeySizeRange => Error::TemplateInconsistent(
                        "CKA_VALUE_LEN is longer than the derivation gives",
                    ),
                    e => e,
                }
            })?;
        attrs.insert(CKA_VALUE, value.to_vec());
        Ok(())
    }
}

/// Registers `CKM_ECDH1_DERIVE`.
pub fn register(r: &mut Registry) {
    static IMP: Ecdh = Ecdh;
    r.add(&[CKM_ECDH1_DERIVE], &IMP);
}
