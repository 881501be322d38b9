//! MACs through `C_Sign`/`C_Verify`: HMAC over SHA-1/SHA-2 (`CKM_<hash>_HMAC` and
//! `_HMAC_GENERAL`) and AES-CMAC (`CKM_AES_CMAC` and `_GENERAL`), both from aws-lc-rs.

use std::fmt;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::{cmac, hmac};

use super::AesKey;
use crate::{CryptoError, HashAlg};

/// A MAC computation in progress, single- or multi-part. Key material lives inside
/// aws-lc (cleared on free); `Debug` shows only the algorithm and lengths.
pub struct Mac {
    inner: Inner,
    full_len: usize,
    out_len: usize,
}

enum Inner {
    // Boxed: aws-lc's HMAC context is over a kilobyte, CMAC's a pointer.
    Hmac(Box<hmac::Context>),
    Cmac(cmac::Context),
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Hmac(_) => "HMAC",
            Inner::Cmac(_) => "AES-CMAC",
        };
        f.debug_struct("Mac")
            .field("kind", &kind)
            .field("full_len", &self.full_len)
            .field("out_len", &self.out_len)
            .finish_non_exhaustive()
    }
}

/// The output length: the full length, or a `CK_MAC_GENERAL_PARAMS` length in `1..=full`.
fn output_len(full: usize, requested: Option<usize>) -> Result<usize, CryptoError> {
    match requested {
        None => Ok(full),
        Some(len) if (1..=full).contains(&len) => Ok(len),
        Some(_) => Err(CryptoError::InvalidParameter(
            "MAC length must be between 1 and the full MAC length",
        )),
    }
}

impl Mac {
    /// HMAC with `hash` (SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512) under a key of any
    /// length. `out_len` is the `_GENERAL` mechanisms' length (leftmost bytes of the
    /// full HMAC); `None` is the full length.
    ///
    /// # Errors
    /// [`CryptoError::Unsupported`] for other hashes; [`CryptoError::InvalidParameter`]
    /// for an `out_len` outside `1..=hash length`.
    pub fn hmac(hash: HashAlg, key: &[u8], out_len: Option<usize>) -> Result<Self, CryptoError> {
        let alg = match hash {
            HashAlg::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            HashAlg::Sha224 => hmac::HMAC_SHA224,
            HashAlg::Sha256 => hmac::HMAC_SHA256,
            HashAlg::Sha384 => hmac::HMAC_SHA384,
            HashAlg::Sha512 => hmac::HMAC_SHA512,
            _ => return Err(CryptoError::Unsupported("HMAC over this hash")),
        };
        let full_len = alg.digest_algorithm().output_len();
        let out_len = output_len(full_len, out_len)?;
        let key = hmac::Key::new(alg, key);
        Ok(Mac {
            inner: Inner::Hmac(Box::new(hmac::Context::with_key(&key))),
            full_len,
            out_len,
        })
    }

    /// AES-CMAC (NIST SP 800-38B, RFC 4493). `out_len` is `CKM_AES_CMAC_GENERAL`'s
    /// length (leftmost bytes of the 16-byte MAC); `None` is the full 16 bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an `out_len` outside `1..=16`.
    pub fn aes_cmac(key: &AesKey, out_len: Option<usize>) -> Result<Self, CryptoError> {
        let alg = match key.len() {
            16 => cmac::AES_128,
            24 => cmac::AES_192,
            _ => cmac::AES_256,
        };
        let full_len = alg.tag_len();
        let out_len = output_len(full_len, out_len)?;
        let key = cmac::Key::new(alg, key.value())
            .map_err(|_| CryptoError::Backend("aws-lc rejected the CMAC key".into()))?;
        Ok(Mac {
            inner: Inner::Cmac(cmac::Context::with_key(&key)),
            full_len,
            out_len,
        })
    }

    /// Length of the MAC [`finish`](Self::finish) returns (the signature length).
    #[must_use]
    pub fn output_len(&self) -> usize {
        self.out_len
    }

    /// Feeds data.
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if aws-lc's CMAC fails (HMAC cannot).
    pub fn update(&mut self, data: &[u8]) -> Result<(), CryptoError> {
        match &mut self.inner {
            Inner::Hmac(c) => c.update(data),
            Inner::Cmac(c) => c
                .update(data)
                .map_err(|_| CryptoError::Backend("aws-lc CMAC update failed".into()))?,
        }
        Ok(())
    }

    /// The MAC over everything fed, truncated to [`output_len`](Self::output_len).
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if aws-lc's CMAC fails.
    pub fn finish(self) -> Result<Vec<u8>, CryptoError> {
        let full = match self.inner {
            Inner::Hmac(c) => c.sign().as_ref().to_vec(),
            Inner::Cmac(c) => c
                .sign()
                .map_err(|_| CryptoError::Backend("aws-lc CMAC failed".into()))?
                .as_ref()
                .to_vec(),
        };
        Ok(full[..self.out_len].to_vec())
    }

    /// Checks `mac` against the MAC over everything fed, in constant time.
    ///
    /// # Errors
    /// [`CryptoError::SignatureLength`] if `mac` is not [`output_len`](Self::output_len)
    /// bytes (`CKR_SIGNATURE_LEN_RANGE`); [`CryptoError::InvalidSignature`] if it differs
    /// (`CKR_SIGNATURE_INVALID`).
    pub fn verify(self, mac: &[u8]) -> Result<(), CryptoError> {
        if mac.len() != self.out_len {
            return Err(CryptoError::SignatureLength);
        }
        let expected = self.finish()?;
        verify_slices_are_equal(&expected, mac).map_err(|_| CryptoError::InvalidSignature)
    }
}
