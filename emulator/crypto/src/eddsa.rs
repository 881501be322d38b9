//! Ed25519 (RFC 8032 PureEdDSA; `CKM_EC_EDWARDS_KEY_PAIR_GEN`, `CKM_EDDSA` without
//! parameters) with aws-lc-rs.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::{self as lc, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Seed (private key) and public key length.
const KEY_LEN: usize = 32;
/// Signature length.
const SIG_LEN: usize = 64;

/// An Ed25519 private key. Cloning shares it; `Debug` shows the public key only.
#[derive(Clone)]
pub struct Ed25519PrivateKey(Arc<Ed25519KeyPair>);

/// An Ed25519 public key (the 32-byte RFC 8032 encoding).
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey([u8; KEY_LEN]);

impl fmt::Debug for Ed25519PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ed25519PrivateKey")
            .field("public", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
        f.debug_tuple("Ed25519PublicKey").field(&hex).finish()
    }
}

impl Ed25519PrivateKey {
    /// Generates a key pair.
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if generation fails.
    pub fn generate() -> Result<Self, CryptoError> {
        Ed25519KeyPair::generate()
            .map(|k| Ed25519PrivateKey(Arc::new(k)))
            .map_err(|_| CryptoError::Backend("Ed25519 key generation failed".into()))
    }

    /// Imports the 32-byte RFC 8032 private key (the seed; PKCS#11 `CKA_VALUE`). The
    /// public key is derived from it.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] unless `seed` is 32 bytes.
    pub fn from_seed(seed: &[u8]) -> Result<Self, CryptoError> {
        if seed.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey(
                "Ed25519 private key must be 32 bytes".into(),
            ));
        }
        Ed25519KeyPair::from_seed_unchecked(seed)
            .map(|k| Ed25519PrivateKey(Arc::new(k)))
            .map_err(|e| CryptoError::InvalidKey(format!("aws-lc rejected the seed: {e}")))
    }

    /// The 32-byte seed.
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if aws-lc cannot export it.
    pub fn seed(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let seed = self
            .0
            .seed()
            .map_err(|_| CryptoError::Backend("Ed25519 seed export".into()))?;
        let bin = seed
            .as_be_bytes()
            .map_err(|_| CryptoError::Backend("Ed25519 seed export".into()))?;
        Ok(Zeroizing::new(bin.as_ref().to_vec()))
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> Ed25519PublicKey {
        let mut pk = [0u8; KEY_LEN];
        pk.copy_from_slice(self.0.public_key().as_ref());
        Ed25519PublicKey(pk)
    }

    /// Signs `message` (PureEdDSA: the whole message, no prehash), 64 bytes.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }
}

impl Ed25519PublicKey {
    /// Takes the 32-byte encoding (PKCS#11 `CKA_EC_POINT` without its DER wrapping).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] unless `bytes` is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        bytes
            .try_into()
            .map(Ed25519PublicKey)
            .map_err(|_| CryptoError::InvalidKey("Ed25519 public key must be 32 bytes".into()))
    }

    /// The 32-byte encoding.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Verifies a signature over `message`.
    ///
    /// # Errors
    /// [`CryptoError::SignatureLength`] unless `signature` is 64 bytes;
    /// [`CryptoError::InvalidSignature`] if it does not verify (or the key is not a
    /// valid point).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), CryptoError> {
        if signature.len() != SIG_LEN {
            return Err(CryptoError::SignatureLength);
        }
        UnparsedPublicKey::new(&lc::ED25519, &self.0)
            .verify(message, signature)
            .map_err(|_| CryptoError::InvalidSignature)
    }
}
