//! AES key wrapping: `CKM_AES_KEY_WRAP` (RFC 3394, an optional 8-byte IV)
//! and `CKM_AES_KEY_WRAP_PAD` / `CKM_AES_KEY_WRAP_KWP` (RFC 5649, an
//! optional 4-byte alternative IV), through `C_WrapKey`/`C_UnwrapKey` only.
//! RSA wrapping lives with the other RSA mechanisms (rsa.rs).

use zeroize::Zeroizing;

use super::params::{MechParam, Mechanism};
use super::symmetric::{secret_bytes, secret_of};
use super::{check_key, MechanismImpl, Registry};
use crate::ck::*;
use crate::crypto::AesKey;
use crate::error::{Error, Result};
use crate::object::Object;

struct AesKeyWrap;

/// The IV the caller gave, if any (an empty parameter means the default).
fn iv(m: &Mechanism) -> Result<Option<&[u8]>> {
    match &m.param {
        MechParam::None => Ok(None),
        MechParam::Bytes(b) => {
            let want = if m.mech == CKM_AES_KEY_WRAP { 8 } else { 4 };
            if b.len() != want {
                return Err(Error::MechanismParamInvalid(
                    "AES key wrap takes an 8-byte IV (RFC 3394) or a 4-byte one (RFC 5649)",
                ));
            }
            Ok(Some(b))
        }
        _ => Err(Error::MechanismParamInvalid("AES key wrap takes an IV")),
    }
}

fn kek(m: &Mechanism, key: &Object, usage: CK_ATTRIBUTE_TYPE) -> Result<AesKey> {
    check_key(key, CKO_SECRET_KEY, &[CKK_AES], usage, m.mech)?;
    let km = secret_of(key)?;
    Ok(AesKey::new(secret_bytes(&km))?)
}

impl MechanismImpl for AesKeyWrap {
    fn wrap(&self, m: &Mechanism, wrapping_key: &Object, value: &[u8]) -> Result<Vec<u8>> {
        let iv = iv(m)?;
        let kek = kek(m, wrapping_key, CKA_WRAP)?;
        let wrapped = if m.mech == CKM_AES_KEY_WRAP {
            kek.key_wrap(iv, value)
        } else {
            kek.key_wrap_pad(iv, value)
        };
        // RFC 3394 takes whole 8-byte blocks, at least two: any other key
        // value cannot be wrapped by it (CKR_KEY_SIZE_RANGE, as SoftHSM).
        wrapped.map_err(key_size_error)
    }
    fn unwrap(
        &self,
        m: &Mechanism,
        unwrapping_key: &Object,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let iv = iv(m)?;
        let kek = kek(m, unwrapping_key, CKA_UNWRAP)?;
        Ok(if m.mech == CKM_AES_KEY_WRAP {
            kek.key_unwrap(iv, wrapped)?
        } else {
            kek.key_unwrap_pad(iv, wrapped)?
        })
    }
    fn key_size_in_bytes(&self, _m: CK_MECHANISM_TYPE) -> bool {
        true
    }
}

/// Registers the AES key wrap mechanisms.
pub fn register(r: &mut Registry) {
    static KW: AesKeyWrap = AesKeyWrap;
    r.add(
        &[CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP],
        &KW,
    );
}

/// C_WrapKey's error for a key value the mechanism cannot take because of its
/// length: the primitive's data-length error becomes `CKR_KEY_SIZE_RANGE`
/// (v3.0 §5.18.6: "solely because of its length").
pub(crate) fn key_size_error(e: crate::crypto::CryptoError) -> Error {
    match Error::from(e) {
        Error::DataLenRange => Error::KeySizeRange,
        e => e,
    }
}
