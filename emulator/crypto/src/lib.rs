//! The emulator's cryptography behind one API.
//!
//! Everything the PKCS#11 layer needs from a crypto backend lives here: digests
//! ([`Hasher`], [`digest`]), RSA ([`RsaPublicKey`], [`RsaPrivateKey`]), ECDSA over the NIST
//! curves ([`EcPrivateKey`], [`EcPublicKey`]), ECDH ([`ecdh1_derive`]), Ed25519
//! ([`Ed25519PrivateKey`]), symmetric ciphers, key wrapping and MACs ([`symmetric`]) and
//! randomness ([`random_fill`]). No PKCS#11 types appear here, so the backend can change
//! without touching the token layer.
//!
//! # Backends
//!
//! * **aws-lc-rs** carries the hot paths: SHA-1/SHA-2 digests, RSA PKCS#1 v1.5 and PSS
//!   signatures with SHA-256/384/512 (salt = hash length), RSA OAEP with an equal
//!   hash/MGF1 hash, RSA PKCS#1 v1.5 encryption, ECDSA on P-256/P-384/P-521, and the
//!   random generator. Symmetric side: AES-ECB/CBC/CBC-PAD (`cipher`, whole blocks; the
//!   PKCS#11 buffering and PKCS#7 padding are ours), AES-CTR (`cipher` streaming),
//!   AES-GCM with 96-bit IVs (`aead`; also decryption with full 128-bit tags), AES key wrap
//!   RFC 3394 / RFC 5649 with the default IV and AES-128/256 keys (`key_wrap`), HMAC
//!   SHA-1/SHA-2 (`hmac`), AES-CMAC (`cmac`), ECDH on P-256/P-384/P-521 (`agreement`)
//!   and Ed25519 (`signature`).
//! * **In-house**: Streebog (GOST R 34.11-2012), table driven (`streebog.rs`; the RustCrypto
//!   `streebog` crate is its test oracle).
//! * **RustCrypto** fills the gaps: the `gost94` digests; the `rsa` crate for
//!   keys under 2048 bits, raw (X.509) RSA, PKCS#1 v1.5 signatures with SHA-1/SHA-224 or
//!   arbitrary data, OAEP with a different MGF1 hash, prime recovery from `(n, e, d)`;
//!   `p256`/`p384`/`p521` for point decoding/validation and P-521 digests wider than 64
//!   bytes. PSS with a custom salt length or MGF1 hash uses this crate's own EMSA-PSS
//!   encoding (RFC 8017 §9.1) over the `rsa` crate's blinded raw private operation.
//!   Symmetric gaps: `des` + `cbc` for DES3 (2-key and 3-key) ECB/CBC/CBC-PAD (aws-lc's
//!   legacy DES refuses keys PKCS#11 accepts, such as K1 = K3 or weak subkeys); `aes` +
//!   `ctr` + `ghash` compose SP 800-38D GCM for what aws-lc's AEAD API cannot take: IVs
//!   other than 96 bits and tags shorter than 128 bits on decryption (both legal in
//!   `CK_GCM_PARAMS`); `aes` for RFC 3394/5649 key wrap with a caller IV or an AES-192
//!   key (no maintained crate offers a caller IV, aws-lc-rs has no AES-192 wrap);
//!   `block-padding` for PKCS#7 unpadding.
//! * **In-house** too: the ANSI X9.63 KDF loop of `CKD_SHA*_KDF` over the digests above
//!   (RustCrypto's `ansi-x963-kdf` exists only for the pre-release `digest` 0.11).
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
mod ecdh;
mod eddsa;
pub mod gost_sym;
mod hash;
mod pss;
mod rsa_keys;
mod streebog;
pub mod symmetric;

pub use ec::{EcCurve, EcPrivateKey, EcPublicKey};
pub use ecdh::{ecdh1_derive, ecdh_shared_secret, x963_kdf, EcdhKdf};
pub use eddsa::{Ed25519PrivateKey, Ed25519PublicKey};
pub use hash::{digest, HashAlg, Hasher};
pub use rsa_keys::{RsaComponents, RsaPrivateKey, RsaPublicKey};
pub use symmetric::{
    generic_secret_check_value, AesKey, AesMode, Des3Key, Des3Mode, Direction, Mac, StreamingCipher,
};

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
    /// A mechanism parameter is out of range: an IV, counter, tag or MAC length, a key
    /// derivation parameter or a peer public key (`CKR_MECHANISM_PARAM_INVALID`).
    #[error("invalid mechanism parameter: {0}")]
    InvalidParameter(&'static str),
    /// An AEAD tag (AES-GCM) does not match the ciphertext and associated data. For
    /// `C_Decrypt`/`C_DecryptFinal` this is `CKR_ENCRYPTED_DATA_INVALID`: the v3.0 base
    /// specification lists `CKR_AEAD_DECRYPT_FAILED` only for the message-based
    /// functions (`C_DecryptMessage`, `C_DecryptMessageNext`), not for `C_Decrypt*`.
    #[error("authentication tag mismatch")]
    AuthenticationFailed,
    /// The streaming operation was already finished (`CKR_OPERATION_NOT_INITIALIZED`).
    #[error("operation already finished")]
    OperationFinished,
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
