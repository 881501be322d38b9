//! `CKM_AES_GCM` (NIST SP 800-38D) with `CK_GCM_PARAMS`.
//!
//! aws-lc-rs seals and opens the common case: a 96-bit IV, and on decryption a full
//! 128-bit tag. `CK_GCM_PARAMS` also allows any IV length from 1 byte and tags from 0 to
//! 128 bits, which aws-lc-rs's AEAD API cannot take (its nonce is fixed at 12 bytes and
//! its tag check at 16), nor can the `aes-gcm` crate (compile-time nonce sizes, tags of
//! 12–16 bytes). For those, GCM is composed here from RustCrypto's `aes` block cipher,
//! `ghash` and `ctr` exactly as SP 800-38D §7 defines it; the tests hold both paths to
//! the NIST vectors and to the `aes-gcm` crate.
//!
//! The whole message is buffered: encryption outputs ciphertext and tag at the end, and
//! decryption releases plaintext only after the tag checked, as the `CKM_AES_GCM` text
//! asks ("no data should be returned until C_Decrypt or C_DecryptFinal").

use std::fmt;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::U16;
use aes::cipher::{BlockCipher, BlockEncrypt, BlockSizeUser, InnerIvInit, KeyInit, StreamCipher};
use aes::{Aes128, Aes192, Aes256};
use aws_lc_rs::aead::{self as lc, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use zeroize::{Zeroize, Zeroizing};

use super::{AesKey, Direction, StreamingCipher};
use crate::CryptoError;

const FULL_TAG: usize = 16;
const LC_NONCE: usize = 12;

/// A GCM encryption or decryption in progress.
pub(crate) struct AesGcm {
    key: AesKey,
    iv: Vec<u8>,
    aad: Vec<u8>,
    tag_len: usize,
    direction: Direction,
    /// Everything fed so far (plaintext, or ciphertext followed by the tag).
    buffered: Zeroizing<Vec<u8>>,
    finished: bool,
}

impl fmt::Debug for AesGcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcm")
            .field("key", &self.key)
            .field("iv_len", &self.iv.len())
            .field("aad_len", &self.aad.len())
            .field("tag_len", &self.tag_len)
            .field("direction", &self.direction)
            .field("buffered_len", &self.buffered.len())
            .field("finished", &self.finished)
            .finish()
    }
}

impl AesGcm {
    pub(crate) fn new(
        key: AesKey,
        iv: Vec<u8>,
        aad: Vec<u8>,
        tag_bits: u64,
        direction: Direction,
    ) -> Result<Self, CryptoError> {
        if iv.is_empty() {
            return Err(CryptoError::InvalidParameter(
                "AES-GCM IV must not be empty",
            ));
        }
        if u32::try_from(iv.len()).is_err() {
            return Err(CryptoError::InvalidParameter(
                "AES-GCM IV longer than 2^32 - 1 bytes",
            ));
        }
        if tag_bits > 128 || tag_bits % 8 != 0 {
            return Err(CryptoError::InvalidParameter(
                "AES-GCM tag bits must be a multiple of 8 from 0 to 128",
            ));
        }
        Ok(AesGcm {
            key,
            iv,
            aad,
            tag_len: (tag_bits / 8) as usize,
            direction,
            buffered: Zeroizing::new(Vec::new()),
            finished: false,
        })
    }

    fn output_len(&self, total: usize) -> Result<usize, CryptoError> {
        match self.direction {
            Direction::Encrypt => Ok(total + self.tag_len),
            Direction::Decrypt => total
                .checked_sub(self.tag_len)
                .ok_or(CryptoError::EncryptedDataLength),
        }
    }

    /// Seals `data` in place and returns the full 128-bit tag.
    fn seal(&self, data: &mut [u8]) -> Result<[u8; FULL_TAG], CryptoError> {
        check_data_len(data.len(), CryptoError::DataLength)?;
        if self.iv.len() == LC_NONCE {
            let key = lc_key(&self.key)?;
            let nonce = Nonce::try_assume_unique_for_key(&self.iv)
                .map_err(|_| CryptoError::Backend("aws-lc GCM nonce".into()))?;
            let tag = key
                .seal_in_place_separate_tag(nonce, Aad::from(&self.aad), data)
                .map_err(|_| CryptoError::Backend("aws-lc GCM seal failed".into()))?;
            let mut full = [0u8; FULL_TAG];
            full.copy_from_slice(tag.as_ref());
            return Ok(full);
        }
        soft_gcm(&self.key, &self.iv, &self.aad, data, None)
    }

    /// Checks `tag` over `ciphertext` and decrypts it in place.
    fn open(&self, ciphertext: &mut [u8], tag: &[u8]) -> Result<(), CryptoError> {
        check_data_len(ciphertext.len(), CryptoError::EncryptedDataLength)?;
        if self.iv.len() == LC_NONCE && tag.len() == FULL_TAG {
            let key = lc_key(&self.key)?;
            let nonce = Nonce::try_assume_unique_for_key(&self.iv)
                .map_err(|_| CryptoError::Backend("aws-lc GCM nonce".into()))?;
            return key
                .open_in_place_separate_tag(nonce, Aad::from(&self.aad), tag, ciphertext)
                .map(|_| ())
                .map_err(|_| {
                    ciphertext.zeroize();
                    CryptoError::AuthenticationFailed
                });
        }
        soft_gcm(&self.key, &self.iv, &self.aad, ciphertext, Some(tag)).map(|_| ())
    }
}

impl StreamingCipher for AesGcm {
    fn update_len(&self, _in_len: usize) -> usize {
        0
    }

    fn update(&mut self, input: &[u8], _out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        self.buffered.extend_from_slice(input);
        Ok(())
    }

    fn final_len(&self) -> Result<usize, CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        self.output_len(self.buffered.len())
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        self.finished = true;
        let mut data = std::mem::take(&mut self.buffered);
        match self.direction {
            Direction::Encrypt => {
                let tag = self.seal(&mut data)?;
                out.extend_from_slice(&data);
                out.extend_from_slice(&tag[..self.tag_len]);
            }
            Direction::Decrypt => {
                let ct_len = self.output_len(data.len())?;
                let (ciphertext, tag) = data.split_at_mut(ct_len);
                self.open(ciphertext, tag)?;
                out.extend_from_slice(ciphertext);
            }
        }
        Ok(())
    }

    fn oneshot_len(&self, input: &[u8]) -> Result<usize, CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        self.output_len(self.buffered.len() + input.len())
    }
}

/// SP 800-38D §5.2.1.1: at most 2^39 − 256 bits of plaintext.
fn check_data_len(len: usize, error: CryptoError) -> Result<(), CryptoError> {
    if (len as u64) > (1u64 << 36) - 32 {
        return Err(error);
    }
    Ok(())
}

fn lc_key(key: &AesKey) -> Result<LessSafeKey, CryptoError> {
    let alg = match key.len() {
        16 => &lc::AES_128_GCM,
        24 => &lc::AES_192_GCM,
        _ => &lc::AES_256_GCM,
    };
    UnboundKey::new(alg, key.value())
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::Backend("aws-lc rejected the AES-GCM key".into()))
}

/// GCM composed from RustCrypto parts. Without `expected_tag`: encrypts `data` in place
/// and returns the full tag. With it: checks the tag prefix over the ciphertext in
/// constant time first, then decrypts in place.
fn soft_gcm(
    key: &AesKey,
    iv: &[u8],
    aad: &[u8],
    data: &mut [u8],
    expected_tag: Option<&[u8]>,
) -> Result<[u8; FULL_TAG], CryptoError> {
    let bad_key = |_| CryptoError::Backend("AES key".into());
    match key.len() {
        16 => soft_gcm_with(
            Aes128::new_from_slice(key.value()).map_err(bad_key)?,
            iv,
            aad,
            data,
            expected_tag,
        ),
        24 => soft_gcm_with(
            Aes192::new_from_slice(key.value()).map_err(bad_key)?,
            iv,
            aad,
            data,
            expected_tag,
        ),
        _ => soft_gcm_with(
            Aes256::new_from_slice(key.value()).map_err(bad_key)?,
            iv,
            aad,
            data,
            expected_tag,
        ),
    }
}

fn soft_gcm_with<C>(
    cipher: C,
    iv: &[u8],
    aad: &[u8],
    data: &mut [u8],
    expected_tag: Option<&[u8]>,
) -> Result<[u8; FULL_TAG], CryptoError>
where
    C: BlockCipher + BlockEncrypt + BlockSizeUser<BlockSize = U16> + Clone,
{
    // Hash subkey H = E_K(0^128).
    let mut h = GenericArray::default();
    cipher.encrypt_block(&mut h);
    // Pre-counter block J0 (§7.1 step 2).
    let mut j0 = GenericArray::<u8, U16>::default();
    if iv.len() == LC_NONCE {
        j0[..LC_NONCE].copy_from_slice(iv);
        j0[15] = 1;
    } else {
        let mut ghash = GHash::new(&h);
        ghash.update_padded(iv);
        let mut lengths = GenericArray::default();
        lengths[8..].copy_from_slice(&(iv.len() as u64 * 8).to_be_bytes());
        ghash.update(&[lengths]);
        j0 = ghash.finalize();
    }
    // E_K(J0) masks the tag; the keystream starts at inc32(J0).
    let mut tag_mask = j0;
    cipher.encrypt_block(&mut tag_mask);
    let mut counter = j0;
    let low = u32::from_be_bytes([j0[12], j0[13], j0[14], j0[15]]).wrapping_add(1);
    counter[12..].copy_from_slice(&low.to_be_bytes());

    let tag_over = |ciphertext: &[u8]| -> [u8; FULL_TAG] {
        let mut ghash = GHash::new(&h);
        ghash.update_padded(aad);
        ghash.update_padded(ciphertext);
        let mut lengths = GenericArray::default();
        lengths[..8].copy_from_slice(&(aad.len() as u64 * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(ciphertext.len() as u64 * 8).to_be_bytes());
        ghash.update(&[lengths]);
        let mut tag: [u8; FULL_TAG] = ghash.finalize().into();
        for (t, m) in tag.iter_mut().zip(tag_mask.iter()) {
            *t ^= m;
        }
        tag
    };

    let mut keystream = ctr::Ctr32BE::<C>::from_core(
        ctr::CtrCore::<C, ctr::flavors::Ctr32BE>::inner_iv_init(cipher, &counter),
    );
    let result = match expected_tag {
        None => {
            keystream.apply_keystream(data);
            Ok(tag_over(data))
        }
        Some(expected) => {
            let tag = tag_over(data);
            if verify_slices_are_equal(&tag[..expected.len()], expected).is_err() {
                Err(CryptoError::AuthenticationFailed)
            } else {
                keystream.apply_keystream(data);
                Ok(tag)
            }
        }
    };
    h.zeroize();
    j0.zeroize();
    tag_mask.zeroize();
    counter.zeroize();
    result
}
