//! The emulator's cryptography behind one API.
//!
//! Everything the PKCS#11 layer needs from a crypto backend lives here: digests
//! ([`Hasher`], [`digest`]), RSA ([`RsaPublicKey`], [`RsaPrivateKey`]), ECDSA over the NIST
//! curves ([`EcPrivateKey`], [`EcPublicKey`]) and randomness ([`random_fill`]). No PKCS#11
//! types appear here, so the backend can change without touching the token layer.
//!
//! # Backends
//!
//! * **aws-lc-rs** carries the hot paths: SHA-1/SHA-2 digests, RSA PKCS#1 v1.5 and PSS
//!   signatures with SHA-256/384/512 (salt = hash length), RSA OAEP with an equal
//!   hash/MGF1 hash, RSA PKCS#1 v1.5 encryption, ECDSA on P-256/P-384/P-521, and the
//!   random generator.
//! * **In-house**: Streebog (GOST R 34.11-2012), table driven (`streebog.rs`; the RustCrypto
//!   `streebog` crate is its test oracle).
//! * **RustCrypto** fills the gaps: the `gost94` digests; the `rsa` crate for
//!   keys under 2048 bits, raw (X.509) RSA, PKCS#1 v1.5 signatures with SHA-1/SHA-224 or
//!   arbitrary data, OAEP with a different MGF1 hash, prime recovery from `(n, e, d)`;
//!   `p256`/`p384`/`p521` for point decoding/validation and P-521 digests wider than 64
//!   bytes. PSS with a custom salt length or MGF1 hash uses this crate's own EMSA-PSS
//!   encoding (RFC 8017 §9.1) over the `rsa` crate's blinded raw private operation.
//!
//! # Conventions
//!
//! All byte strings are big-endian unless said otherwise. All key types are
//! `Send + Sync + Clone` (cloning is cheap: keys are reference counted), their `Debug`
//! output never shows secrets, and the secret material this crate holds is zeroized on
//! drop (aws-lc clears its own key memory on free).
//!
//! # Example
//!
//! ```
//! use tokenemu_crypto::{digest, EcCurve, EcPrivateKey, HashAlg};
//!
//! let key = EcPrivateKey::generate(EcCurve::P256)?;
//! let hash = digest(HashAlg::Sha256, b"to be signed");
//! let sig = key.sign_prehash(&hash)?; // r ‖ s, 64 bytes
//! key.public_key().verify_prehash(&hash, &sig)?;
//! # Ok::<(), tokenemu_crypto::CryptoError>(())
//! ```
#![forbid(unsafe_code)]

mod ec;
mod hash;
mod pss;
mod rsa_keys;
mod streebog;

pub use ec::{EcCurve, EcPrivateKey, EcPublicKey};
pub use hash::{digest, HashAlg, Hasher};
pub use rsa_keys::{RsaComponents, RsaPrivateKey, RsaPublicKey};

/// Why a cryptographic operation failed.
///
/// The variants are deliberately close to the PKCS#11 return codes the token layer
/// maps them to (`CKR_SIGNATURE_INVALID`, `CKR_DATA_LEN_RANGE`, …), but carry no PKCS#11
/// types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The signature does not verify.
    #[error("signature is invalid")]
    InvalidSignature,
    /// The signature has the wrong length for this key.
    #[error("signature has the wrong length")]
    SignatureLength,
    /// The input data has a length the operation cannot take.
    #[error("data length out of range")]
    DataLength,
    /// The input data has an acceptable length but an unacceptable value
    /// (for example a raw RSA input not below the modulus).
    #[error("data is invalid")]
    InvalidData,
    /// A ciphertext failed to decrypt (bad padding, out of range).
    #[error("encrypted data is invalid")]
    EncryptedData,
    /// A ciphertext has the wrong length for this key.
    #[error("encrypted data has the wrong length")]
    EncryptedDataLength,
    /// The key size is outside what the operation supports.
    #[error("key size out of range")]
    KeySize,
    /// The key material is malformed or inconsistent.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The combination of algorithm and parameters is not supported.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The backend failed for a reason it did not explain.
    #[error("crypto backend error: {0}")]
    Backend(String),
}

/// Fills `buf` with cryptographically secure random bytes (aws-lc's DRBG).
///
/// # Errors
/// [`CryptoError::Backend`] if the generator fails.
pub fn random_fill(buf: &mut [u8]) -> Result<(), CryptoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CryptoError::Backend("random generator failed".into()))
}

/// Strips leading zero bytes from a big-endian integer (keeps at least nothing: an
/// all-zero input becomes empty).
pub(crate) fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// Left-pads a big-endian integer with zeros to `len` bytes; `None` if it does not fit
/// (leading zero bytes beyond `len` are tolerated).
pub(crate) fn left_pad(b: &[u8], len: usize) -> Option<Vec<u8>> {
    let b = if b.len() > len {
        let (head, tail) = b.split_at(b.len() - len);
        if head.iter().any(|&x| x != 0) {
            return None;
        }
        tail
    } else {
        b
    };
    let mut out = vec![0u8; len];
    out[len - b.len()..].copy_from_slice(b);
    Some(out)
}
