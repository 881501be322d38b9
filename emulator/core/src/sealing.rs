//! Secrets at rest.
//!
//! Each token has a random 256-bit master key. The store never holds it in
//! the clear: it holds one copy wrapped under a key derived from the user PIN
//! and one under a key derived from the SO PIN (PBKDF2-HMAC-SHA256,
//! [`PIN_KDF_ITERATIONS`] iterations, 16-byte random salt; AES-256-GCM). A PIN
//! is right exactly when its copy unwraps, so there is no separate PIN hash.
//! Changing a PIN re-wraps the master key without touching any object, and the
//! SO can set a new user PIN without losing keys.
//!
//! Every secret attribute (private key values, secret key values: the
//! attributes the policy table marks `SENSITIVE`) is sealed with AES-256-GCM
//! under the master key, with the object's uid and the attribute type as
//! associated data, so a sealed value cannot be moved to another object or
//! attribute. Before login the master key is unknown and secret values cannot
//! be decrypted.
//!
//! Key derivation is deliberately slow. A process remembers the keys derived
//! from PINs that proved right (keyed by a hash of salt, iteration count and
//! PIN), so an application that logs in again, or re-initialises the library,
//! does not pay for the derivation twice; a wrong PIN always pays in full.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ck::CK_ATTRIBUTE_TYPE;
use crate::error::{Error, Result};

/// PBKDF2-HMAC-SHA256 iterations for PIN-derived keys (kept in each wrapped
/// copy, so it can be raised without breaking existing stores).
pub const PIN_KDF_ITERATIONS: u32 = 100_000;

const NONCE_LEN: usize = 12;

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    crate::crypto::random_fill(&mut b)?;
    Ok(b)
}

type Key = Zeroizing<[u8; 32]>;

fn kek_cache() -> &'static Mutex<HashMap<[u8; 32], Key>> {
    static CACHE: OnceLock<Mutex<HashMap<[u8; 32], Key>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cache_id(pin: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tokenemu kek cache v1");
    h.update(iterations.to_le_bytes());
    h.update((salt.len() as u64).to_le_bytes());
    h.update(salt);
    h.update(pin);
    h.finalize().into()
}

fn derive(pin: &[u8], salt: &[u8], iterations: u32) -> Key {
    let mut out = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(pin, salt, iterations, out.as_mut());
    out
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// A token's master key, in memory only while someone is logged in.
#[derive(Clone)]
pub struct MasterKey(Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

// CK_ULONG is 64 bits here but 32 on other targets; the stored form is always 64.
#[allow(clippy::useless_conversion)]
fn aad(uid: u64, ty: CK_ATTRIBUTE_TYPE) -> [u8; 24] {
    let mut a = [0u8; 24];
    a[..8].copy_from_slice(b"tkemattr");
    a[8..16].copy_from_slice(&uid.to_le_bytes());
    a[16..].copy_from_slice(&u64::from(ty).to_le_bytes());
    a
}

impl MasterKey {
    /// A fresh random master key.
    pub fn generate() -> Result<MasterKey> {
        Ok(MasterKey(Zeroizing::new(random::<32>()?)))
    }

    /// Seals attribute `ty` of object `uid`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, uid: u64, ty: CK_ATTRIBUTE_TYPE, plain: &[u8]) -> Result<Vec<u8>> {
        let nonce = random::<NONCE_LEN>()?;
        let ct = cipher(&self.0)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad(uid, ty),
                },
            )
            .map_err(|_| Error::General("sealing failed".into()))?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    /// Opens a sealed attribute; fails if it was made for another object,
    /// attribute or token, or was changed.
    pub fn open(
        &self,
        uid: u64,
        ty: CK_ATTRIBUTE_TYPE,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(Error::DeviceError("a sealed attribute is truncated".into()));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        cipher(&self.0)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad(uid, ty),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::DeviceError(format!(
                    "sealed {} of object {uid:016x} does not open with this token's key",
                    crate::names::attribute_name(ty)
                ))
            })
    }
}

/// The master key wrapped under a PIN-derived key, as the store keeps it.
#[derive(Clone, Serialize, Deserialize)]
pub struct WrappedKey {
    salt: String,
    iterations: u32,
    nonce: String,
    wrapped: String,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedKey(iterations: {})", self.iterations)
    }
}

impl WrappedKey {
    /// Wraps `mk` under `pin`; `role` ("user" / "so") is bound as associated data.
    pub fn wrap(mk: &MasterKey, pin: &[u8], role: &str) -> Result<WrappedKey> {
        let salt = random::<16>()?;
        let nonce = random::<NONCE_LEN>()?;
        let kek = derive(pin, &salt, PIN_KDF_ITERATIONS);
        let wrapped = cipher(&kek)
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: mk.0.as_slice(),
                    aad: role.as_bytes(),
                },
            )
            .map_err(|_| Error::General("wrapping failed".into()))?;
        lock_cache().insert(cache_id(pin, &salt, PIN_KDF_ITERATIONS), kek);
        Ok(WrappedKey {
            salt: hex::encode(salt),
            iterations: PIN_KDF_ITERATIONS,
            nonce: hex::encode(nonce),
            wrapped: hex::encode(wrapped),
        })
    }

    /// The master key if `pin` is right, `None` if it is wrong.
    pub fn unwrap(&self, pin: &[u8], role: &str) -> Result<Option<MasterKey>> {
        let bad =
            |_| Error::DeviceError("a wrapped master key in the token metadata is garbled".into());
        let salt = hex::decode(&self.salt).map_err(bad)?;
        let nonce = hex::decode(&self.nonce).map_err(bad)?;
        let wrapped = hex::decode(&self.wrapped).map_err(bad)?;
        if nonce.len() != NONCE_LEN {
            return Err(Error::DeviceError(
                "a wrapped master key has a bad nonce".into(),
            ));
        }
        let id = cache_id(pin, &salt, self.iterations);
        let cached = lock_cache().get(&id).cloned();
        let kek = match cached {
            Some(k) => k,
            None => derive(pin, &salt, self.iterations),
        };
        let plain = cipher(&kek)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &wrapped,
                    aad: role.as_bytes(),
                },
            )
            .map(Zeroizing::new);
        match plain {
            Ok(p) if p.len() == 32 => {
                lock_cache().insert(id, kek);
                let mut k = Zeroizing::new([0u8; 32]);
                k.copy_from_slice(&p);
                Ok(Some(MasterKey(k)))
            }
            Ok(_) => Err(Error::DeviceError(
                "a wrapped master key has the wrong length".into(),
            )),
            Err(_) => Ok(None),
        }
    }
}

fn lock_cache() -> std::sync::MutexGuard<'static, HashMap<[u8; 32], Key>> {
    kek_cache()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap_and_wrong_pin() {
        let mk = MasterKey::generate().unwrap();
        let w = WrappedKey::wrap(&mk, b"123456", "user").unwrap();
        assert_eq!(*w.unwrap(b"123456", "user").unwrap().unwrap().0, *mk.0);
        assert!(w.unwrap(b"654321", "user").unwrap().is_none());
        assert!(
            w.unwrap(b"123456", "so").unwrap().is_none(),
            "role is bound"
        );
    }

    #[test]
    fn sealed_values_are_bound_to_object_and_attribute() {
        let mk = MasterKey::generate().unwrap();
        let s = mk.seal(7, 0x11, b"secret").unwrap();
        assert!(!s.windows(6).any(|w| w == b"secret"));
        assert_eq!(mk.open(7, 0x11, &s).unwrap().as_slice(), b"secret");
        assert!(mk.open(8, 0x11, &s).is_err());
        assert!(mk.open(7, 0x12, &s).is_err());
        let other = MasterKey::generate().unwrap();
        assert!(other.open(7, 0x11, &s).is_err());
        let mut t = s.clone();
        t[20] ^= 1;
        assert!(mk.open(7, 0x11, &t).is_err());
    }
}
