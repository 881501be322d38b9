//! AES key wrap: `CKM_AES_KEY_WRAP` (RFC 3394, NIST SP 800-38F KW) and
//! `CKM_AES_KEY_WRAP_PAD`/`_KWP` (RFC 5649, SP 800-38F KWP). Single-part only, as the
//! mechanisms are.
//!
//! aws-lc-rs's `key_wrap` does the default-IV case for AES-128 and AES-256 keys. The
//! mechanism parameter may carry a caller IV (8 bytes for KW, the 4-byte prefix for KWP),
//! and AES-192 keys are legal; neither aws-lc-rs nor the `aes-kw` crate takes a caller IV
//! and aws-lc-rs has no AES-192 wrap, so those cases run RFC 3394 §2.2.1's wrapping
//! process here over RustCrypto's AES block cipher. The tests check both paths against
//! the RFC vectors, each other (caller IV = default IV) and `openssl enc -id-aes*-wrap`.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::key_wrap::{self as lc, KeyEncryptionKey, KeyWrap, KeyWrapPadded};
use zeroize::Zeroizing;

use super::AesKey;
use crate::CryptoError;

/// RFC 3394 §2.2.3.1 default initial value.
const KW_DEFAULT_IV: [u8; 8] = [0xa6; 8];
/// RFC 5649 §3 alternative initial value prefix.
const KWP_DEFAULT_PREFIX: [u8; 4] = [0xa6, 0x59, 0x59, 0xa6];
const SEMIBLOCK: usize = 8;

impl AesKey {
    /// Wraps `data` (`CKM_AES_KEY_WRAP`, RFC 3394). `iv` is the optional mechanism
    /// parameter; `None` is the default `A6A6A6A6A6A6A6A6`.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] unless `data` is a multiple of 8 bytes and at least
    /// 16; [`CryptoError::InvalidParameter`] for an IV that is not 8 bytes.
    pub fn key_wrap(&self, iv: Option<&[u8]>, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() < 2 * SEMIBLOCK || data.len() % SEMIBLOCK != 0 {
            return Err(CryptoError::DataLength);
        }
        let iv = kw_iv(iv)?;
        if let (None, Some(alg)) = (iv, self.lc_wrap_algorithm()) {
            let kek = KeyEncryptionKey::new(alg, self.value()).map_err(lc_err)?;
            let mut out = vec![0u8; data.len() + SEMIBLOCK];
            let len = kek.wrap(data, &mut out).map_err(lc_err)?.len();
            out.truncate(len);
            return Ok(out);
        }
        let mut out = Vec::with_capacity(data.len() + SEMIBLOCK);
        out.extend_from_slice(&iv.unwrap_or(KW_DEFAULT_IV));
        out.extend_from_slice(data);
        Block::new(self)?.wrap_in_place(&mut out);
        Ok(out)
    }

    /// Unwraps `wrapped` (`CKM_AES_KEY_WRAP`), checking the integrity value against `iv`
    /// (default `A6A6A6A6A6A6A6A6`).
    ///
    /// # Errors
    /// [`CryptoError::EncryptedDataLength`] unless `wrapped` is a multiple of 8 bytes and
    /// at least 24; [`CryptoError::EncryptedData`] if the integrity check fails;
    /// [`CryptoError::InvalidParameter`] for an IV that is not 8 bytes.
    pub fn key_unwrap(
        &self,
        iv: Option<&[u8]>,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if wrapped.len() < 3 * SEMIBLOCK || wrapped.len() % SEMIBLOCK != 0 {
            return Err(CryptoError::EncryptedDataLength);
        }
        let iv = kw_iv(iv)?;
        if let (None, Some(alg)) = (iv, self.lc_wrap_algorithm()) {
            let kek = KeyEncryptionKey::new(alg, self.value()).map_err(lc_err)?;
            let mut out = Zeroizing::new(vec![0u8; wrapped.len() - SEMIBLOCK]);
            let len = kek
                .unwrap(wrapped, &mut out)
                .map_err(|_| CryptoError::EncryptedData)?
                .len();
            out.truncate(len);
            return Ok(out);
        }
        let mut buf = Zeroizing::new(wrapped.to_vec());
        Block::new(self)?.unwrap_in_place(&mut buf);
        verify_slices_are_equal(&buf[..SEMIBLOCK], &iv.unwrap_or(KW_DEFAULT_IV))
            .map_err(|_| CryptoError::EncryptedData)?;
        Ok(Zeroizing::new(buf[SEMIBLOCK..].to_vec()))
    }

    /// Wraps `data` of any non-zero length with padding (`CKM_AES_KEY_WRAP_KWP`, RFC
    /// 5649). `iv` is the optional 4-byte prefix of the alternative initial value;
    /// `None` is the default `A65959A6`.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] for empty data or more than 2^32 − 1 bytes;
    /// [`CryptoError::InvalidParameter`] for an IV that is not 4 bytes.
    pub fn key_wrap_pad(&self, iv: Option<&[u8]>, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mli = u32::try_from(data.len()).map_err(|_| CryptoError::DataLength)?;
        if data.is_empty() {
            return Err(CryptoError::DataLength);
        }
        let prefix = kwp_prefix(iv)?;
        if let (None, Some(alg)) = (prefix, self.lc_wrap_algorithm()) {
            let kek = KeyEncryptionKey::new(alg, self.value()).map_err(lc_err)?;
            let mut out = vec![0u8; data.len() + 15];
            let len = kek.wrap_with_padding(data, &mut out).map_err(lc_err)?.len();
            out.truncate(len);
            return Ok(out);
        }
        let padded_len = data.len().div_ceil(SEMIBLOCK) * SEMIBLOCK;
        let mut out = Vec::with_capacity(padded_len + SEMIBLOCK);
        out.extend_from_slice(&prefix.unwrap_or(KWP_DEFAULT_PREFIX));
        out.extend_from_slice(&mli.to_be_bytes());
        out.extend_from_slice(data);
        out.resize(padded_len + SEMIBLOCK, 0);
        let block = Block::new(self)?;
        if out.len() == 2 * SEMIBLOCK {
            // RFC 5649 §4.1: a single padded semiblock is one AES block, not a wrap.
            block.encrypt(&mut out);
        } else {
            block.wrap_in_place(&mut out);
        }
        Ok(out)
    }

    /// Unwraps `wrapped` (`CKM_AES_KEY_WRAP_KWP`, RFC 5649), checking the prefix, the
    /// message length indicator and the zero padding.
    ///
    /// # Errors
    /// [`CryptoError::EncryptedDataLength`] unless `wrapped` is a multiple of 8 bytes and
    /// at least 16; [`CryptoError::EncryptedData`] if a check fails;
    /// [`CryptoError::InvalidParameter`] for an IV that is not 4 bytes.
    pub fn key_unwrap_pad(
        &self,
        iv: Option<&[u8]>,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if wrapped.len() < 2 * SEMIBLOCK || wrapped.len() % SEMIBLOCK != 0 {
            return Err(CryptoError::EncryptedDataLength);
        }
        let prefix = kwp_prefix(iv)?;
        if let (None, Some(alg)) = (prefix, self.lc_wrap_algorithm()) {
            let kek = KeyEncryptionKey::new(alg, self.value()).map_err(lc_err)?;
            let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
            let len = kek
                .unwrap_with_padding(wrapped, &mut out)
                .map_err(|_| CryptoError::EncryptedData)?
                .len();
            out.truncate(len);
            return Ok(out);
        }
        let mut buf = Zeroizing::new(wrapped.to_vec());
        let block = Block::new(self)?;
        if buf.len() == 2 * SEMIBLOCK {
            block.decrypt(&mut buf);
        } else {
            block.unwrap_in_place(&mut buf);
        }
        let prefix_ok =
            verify_slices_are_equal(&buf[..4], &prefix.unwrap_or(KWP_DEFAULT_PREFIX)).is_ok();
        let mli = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        let padded_len = buf.len() - SEMIBLOCK;
        // RFC 5649 §3: 8·(n−1) < MLI ≤ 8·n, and the padding bytes are zero.
        let mli_ok = mli <= padded_len && mli + SEMIBLOCK > padded_len;
        let padding_ok = mli_ok && buf[SEMIBLOCK + mli..].iter().all(|&b| b == 0);
        if !(prefix_ok && mli_ok && padding_ok) {
            return Err(CryptoError::EncryptedData);
        }
        Ok(Zeroizing::new(buf[SEMIBLOCK..SEMIBLOCK + mli].to_vec()))
    }

    fn lc_wrap_algorithm(&self) -> Option<&'static lc::AesBlockCipher> {
        match self.len() {
            16 => Some(&lc::AES_128),
            32 => Some(&lc::AES_256),
            _ => None,
        }
    }
}

fn lc_err(_: aws_lc_rs::error::Unspecified) -> CryptoError {
    CryptoError::Backend("aws-lc key wrap failed".into())
}

fn kw_iv(iv: Option<&[u8]>) -> Result<Option<[u8; 8]>, CryptoError> {
    iv.map(|v| {
        v.try_into()
            .map_err(|_| CryptoError::InvalidParameter("AES key wrap IV must be 8 bytes"))
    })
    .transpose()
}

fn kwp_prefix(iv: Option<&[u8]>) -> Result<Option<[u8; 4]>, CryptoError> {
    iv.map(|v| {
        v.try_into().map_err(|_| {
            CryptoError::InvalidParameter("AES key wrap with padding IV must be 4 bytes")
        })
    })
    .transpose()
}

/// RustCrypto AES for the in-house wrapping process.
enum Block {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

impl Block {
    fn new(key: &AesKey) -> Result<Self, CryptoError> {
        let bad = |_| CryptoError::Backend("AES key".into());
        Ok(match key.len() {
            16 => Block::A128(Aes128::new_from_slice(key.value()).map_err(bad)?),
            24 => Block::A192(Aes192::new_from_slice(key.value()).map_err(bad)?),
            _ => Block::A256(Aes256::new_from_slice(key.value()).map_err(bad)?),
        })
    }

    fn encrypt(&self, block: &mut [u8]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Block::A128(c) => c.encrypt_block(b),
            Block::A192(c) => c.encrypt_block(b),
            Block::A256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Block::A128(c) => c.decrypt_block(b),
            Block::A192(c) => c.decrypt_block(b),
            Block::A256(c) => c.decrypt_block(b),
        }
    }

    /// RFC 3394 §2.2.1 (index-based): `buf` is `A ‖ R[1] ‖ … ‖ R[n]` on input and the
    /// ciphertext `C[0] ‖ … ‖ C[n]` on output.
    fn wrap_in_place(&self, buf: &mut [u8]) {
        let n = buf.len() / SEMIBLOCK - 1;
        let mut b = Zeroizing::new([0u8; 16]);
        for j in 0..6u64 {
            for i in 1..=n {
                b[..8].copy_from_slice(&buf[..8]);
                b[8..].copy_from_slice(&buf[i * 8..i * 8 + 8]);
                self.encrypt(&mut b[..]);
                let t = (n as u64) * j + i as u64;
                for (a, (x, y)) in buf[..8].iter_mut().zip(b[..8].iter().zip(t.to_be_bytes())) {
                    *a = x ^ y;
                }
                buf[i * 8..i * 8 + 8].copy_from_slice(&b[8..]);
            }
        }
    }

    /// RFC 3394 §2.2.2 (index-based): the inverse of [`wrap_in_place`](Self::wrap_in_place);
    /// leaves the recovered integrity value in the first semiblock.
    fn unwrap_in_place(&self, buf: &mut [u8]) {
        let n = buf.len() / SEMIBLOCK - 1;
        let mut b = Zeroizing::new([0u8; 16]);
        for j in (0..6u64).rev() {
            for i in (1..=n).rev() {
                let t = (n as u64) * j + i as u64;
                for (x, (a, y)) in b[..8].iter_mut().zip(buf[..8].iter().zip(t.to_be_bytes())) {
                    *x = a ^ y;
                }
                b[8..].copy_from_slice(&buf[i * 8..i * 8 + 8]);
                self.decrypt(&mut b[..]);
                buf[..8].copy_from_slice(&b[..8]);
                buf[i * 8..i * 8 + 8].copy_from_slice(&b[8..]);
            }
        }
    }
}
