//! GOST R 34.10-2012 (and GOST R 34.10-2001 / KZ GOST 34.310-2004)
//! digital signatures over every CryptoPro and TC26 parameter set, in pure
//! Rust and without PKCS#11 types.
//!
//! Byte conventions are those of PKCS#11 and OpenSSL's gost-engine:
//!
//! - the digest is the hash output exactly as Streebog / OpenSSL print it,
//!   read as a **little-endian** integer `e`;
//! - a signature is `s ‖ r`, each **big-endian**, `2 * coordinate_len` bytes
//!   (`CKM_GOSTR3410` output);
//! - a private key (`CKA_VALUE`) is `d` little-endian;
//! - a public key (`CKA_VALUE`) is `X ‖ Y`, each little-endian.
//!
//! Secret-dependent arithmetic (key generation, signing) is constant time:
//! Montgomery field arithmetic without data-dependent branches, complete
//! Renes–Costello–Batina formulas and a fixed-base table scanned in full.
//! Verification is variable time.
//!
//! ```
//! use tokenemu_gost::{param_set_by_oid_der, SigningKey};
//!
//! let params = param_set_by_oid_der(&[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01])
//!     .expect("CryptoPro-A");
//! let key = SigningKey::generate(params);
//! let digest = [0x42u8; 32]; // Streebog-256 output bytes
//! let sig = key.sign_digest(&digest).unwrap();
//! key.verifying_key().verify_digest(&digest, &sig).unwrap();
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod arith;
mod curves;
mod field;
mod params;
mod point;
mod safegcd;
mod sign;
mod vko;

use core::fmt;

use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::curves::with_curve;
pub use crate::params::{param_set_by_oid_der, param_sets, KeySize, ParamSet};
pub use crate::params::{
    CRYPTOPRO_A, CRYPTOPRO_B, CRYPTOPRO_C, CRYPTOPRO_TEST, CRYPTOPRO_XCHA, CRYPTOPRO_XCHB,
    TC26_256_A, TC26_256_B, TC26_256_C, TC26_256_D, TC26_512_A, TC26_512_B, TC26_512_C,
    TC26_512_TEST,
};
pub use crate::vko::{vko, vko_shared_point, VkoHash};

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GostError {
    /// A private or public key (or a fixed nonce) is malformed: wrong length,
    /// out of range, not on the curve, or not in the prime-order subgroup.
    InvalidKey,
    /// The signature does not verify, or r or s is 0 or not below q.
    InvalidSignature,
    /// The signature is not `2 * coordinate_len` bytes long.
    SignatureLength,
    /// The digest is not `coordinate_len` bytes long.
    DigestLength,
    /// The parameter set (OID) is not known.
    UnknownParamSet,
    /// The VKO user keying material is empty, too long, or 0 modulo q.
    InvalidUkm,
}

impl fmt::Display for GostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GostError::InvalidKey => "invalid GOST R 34.10 key",
            GostError::InvalidSignature => "invalid GOST R 34.10 signature",
            GostError::SignatureLength => "GOST R 34.10 signature has the wrong length",
            GostError::DigestLength => "digest length does not match the GOST R 34.10 key size",
            GostError::UnknownParamSet => "unknown GOST R 34.10 parameter set",
            GostError::InvalidUkm => "invalid VKO user keying material (UKM)",
        })
    }
}

impl std::error::Error for GostError {}

/// Reverses a byte string (LE ⇄ BE).
fn reversed(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().rev().copied().collect()
}

/// A GOST R 34.10 private key `d` in `[1, q-1]`, bound to a parameter set.
///
/// The secret is wiped on drop; `Debug` shows only the parameter set.
#[derive(Clone)]
pub struct SigningKey {
    params: &'static ParamSet,
    /// `d`, big-endian, `coordinate_len` bytes.
    d_be: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("params", &self.params.name)
            .finish_non_exhaustive()
    }
}

impl ZeroizeOnDrop for SigningKey {}

impl SigningKey {
    /// Generates a key with `d` uniform in `[1, q-1]` from the OS RNG.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn generate(params: &'static ParamSet) -> SigningKey {
        let n = params.coordinate_len();
        let mut d_be = Zeroizing::new(vec![0u8; n]);
        with_curve!(params.curve, C => {
            let mut d = sign::random_scalar::<C>();
            field::Field::write_be_bytes(&d, &mut d_be);
            field::Field::zeroize(&mut d);
        });
        SigningKey { params, d_be }
    }

    /// Imports `d` in the PKCS#11 `CKA_VALUE` form: little-endian,
    /// exactly [`ParamSet::coordinate_len`] bytes.
    ///
    /// # Errors
    /// [`GostError::InvalidKey`] for a wrong length, `d = 0` or `d >= q`.
    pub fn from_le_bytes(params: &'static ParamSet, d_le: &[u8]) -> Result<SigningKey, GostError> {
        if d_le.len() != params.coordinate_len() {
            return Err(GostError::InvalidKey);
        }
        let d_be = Zeroizing::new(reversed(d_le));
        let ok = with_curve!(params.curve, C => {
            field::into_option(sign::scalar_from_be::<C>(&d_be)).map(|mut d| field::Field::zeroize(&mut d)).is_some()
        });
        if ok {
            Ok(SigningKey { params, d_be })
        } else {
            Err(GostError::InvalidKey)
        }
    }

    /// Exports `d` little-endian ([`ParamSet::coordinate_len`] bytes), the PKCS#11 `CKA_VALUE` form.
    pub fn to_le_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(reversed(&self.d_be))
    }

    /// Derives the public key `Q = dG` (constant time).
    pub fn verifying_key(&self) -> VerifyingKey {
        let (x, y) = with_curve!(self.params.curve, C => sign::public_key::<C>(&self.d_be));
        let mut xy_le = reversed(&x);
        xy_le.extend(y.iter().rev());
        VerifyingKey {
            params: self.params,
            xy_le,
        }
    }

    /// The parameter set of this key.
    pub fn params(&self) -> &'static ParamSet {
        self.params
    }

    /// Signs a digest (`CKM_GOSTR3410` / `CKM_GOSTR3410_512`).
    ///
    /// `digest` is the hash output bytes as Streebog/OpenSSL print them
    /// (interpreted as a little-endian integer). The result is `s ‖ r`, each
    /// big-endian, `2 * coordinate_len` bytes. The nonce comes from the OS RNG.
    ///
    /// # Errors
    /// [`GostError::DigestLength`] if `digest.len() != coordinate_len`.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn sign_digest(&self, digest: &[u8]) -> Result<Vec<u8>, GostError> {
        if digest.len() != self.params.coordinate_len() {
            return Err(GostError::DigestLength);
        }
        Ok(with_curve!(self.params.curve, C => sign::sign::<C>(&self.d_be, digest)))
    }

    /// Signs with a fixed nonce `k` (big-endian, `coordinate_len` bytes, in
    /// `[1, q-1]`). For known-answer tests only: reusing `k` reveals `d`.
    ///
    /// # Errors
    /// [`GostError::DigestLength`] for a wrong digest length,
    /// [`GostError::InvalidKey`] for a malformed `k`,
    /// [`GostError::InvalidSignature`] if this `k` yields r = 0 or s = 0.
    #[doc(hidden)]
    pub fn sign_digest_with_k(&self, digest: &[u8], k_be: &[u8]) -> Result<Vec<u8>, GostError> {
        let n = self.params.coordinate_len();
        if digest.len() != n {
            return Err(GostError::DigestLength);
        }
        if k_be.len() != n {
            return Err(GostError::InvalidKey);
        }
        with_curve!(self.params.curve, C => sign::sign_fixed_k::<C>(&self.d_be, digest, k_be))
    }
}

/// A GOST R 34.10 public key `Q`, validated on import, bound to a parameter set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    params: &'static ParamSet,
    /// `X_LE ‖ Y_LE`.
    xy_le: Vec<u8>,
}

impl VerifyingKey {
    /// Imports `X ‖ Y`, each little-endian ([`ParamSet::coordinate_len`]
    /// bytes): the PKCS#11 public `CKA_VALUE` and the contents of the SPKI
    /// OCTET STRING.
    ///
    /// # Errors
    /// [`GostError::InvalidKey`] for a wrong length, a coordinate `>= p`, a
    /// point not on the curve (this includes the identity), or, on the
    /// cofactor-4 curves, a point outside the subgroup of order q.
    pub fn from_le_xy(params: &'static ParamSet, xy: &[u8]) -> Result<VerifyingKey, GostError> {
        let n = params.coordinate_len();
        if xy.len() != 2 * n {
            return Err(GostError::InvalidKey);
        }
        let x = reversed(&xy[..n]);
        let y = reversed(&xy[n..]);
        let ok = with_curve!(params.curve, C => sign::decode_point::<C>(&x, &y).is_some());
        if ok {
            Ok(VerifyingKey {
                params,
                xy_le: xy.to_vec(),
            })
        } else {
            Err(GostError::InvalidKey)
        }
    }

    /// Exports `X_LE ‖ Y_LE` (`2 * coordinate_len` bytes).
    pub fn to_le_xy(&self) -> Vec<u8> {
        self.xy_le.clone()
    }

    /// The parameter set of this key.
    pub fn params(&self) -> &'static ParamSet {
        self.params
    }

    /// Verifies `sig = s ‖ r` (each big-endian) over `digest` (hash output
    /// bytes, read little-endian).
    ///
    /// # Errors
    /// [`GostError::DigestLength`] or [`GostError::SignatureLength`] for wrong
    /// lengths; [`GostError::InvalidSignature`] if r or s is 0 or `>= q`, or
    /// the signature does not match.
    pub fn verify_digest(&self, digest: &[u8], sig: &[u8]) -> Result<(), GostError> {
        let n = self.params.coordinate_len();
        if digest.len() != n {
            return Err(GostError::DigestLength);
        }
        if sig.len() != 2 * n {
            return Err(GostError::SignatureLength);
        }
        let x = reversed(&self.xy_le[..n]);
        let y = reversed(&self.xy_le[n..]);
        let ok = with_curve!(self.params.curve, C => {
            // The point was validated on import; decode without re-checking the subgroup.
            let q = point::Affine {
                x: field::into_option(<<C as point::Curve>::Fe as field::Field>::from_be_bytes(&x))
                    .ok_or(GostError::InvalidKey)?,
                y: field::into_option(<<C as point::Curve>::Fe as field::Field>::from_be_bytes(&y))
                    .ok_or(GostError::InvalidKey)?,
            };
            sign::verify::<C>(&q, digest, sig)
        });
        if ok {
            Ok(())
        } else {
            Err(GostError::InvalidSignature)
        }
    }
}
