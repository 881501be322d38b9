//! AES keys and the ECB, CBC, CBC-PAD, CTR and GCM modes.

use std::fmt;

use aws_lc_rs::cipher::{
    self as lc, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    StreamingEncryptingKey, UnboundCipherKey,
};
use zeroize::Zeroizing;

use super::gcm::AesGcm;
use super::{zeroize_tail, BlockCore, BlockStream, Direction, StreamingCipher};
use crate::CryptoError;

const BLOCK: usize = 16;

/// An AES key (128, 192 or 256 bits). The value is zeroized on drop and never shown by
/// `Debug`.
#[derive(Clone)]
pub struct AesKey(Zeroizing<Vec<u8>>);

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesKey")
            .field("bits", &(self.0.len() * 8))
            .finish_non_exhaustive()
    }
}

/// An AES mode with its parameters, as `CK_MECHANISM` carries them.
#[derive(Clone)]
pub enum AesMode {
    /// `CKM_AES_ECB`: whole blocks only.
    Ecb,
    /// `CKM_AES_CBC`: whole blocks only; `iv` must be 16 bytes.
    Cbc {
        /// Initialization vector (16 bytes).
        iv: Vec<u8>,
    },
    /// `CKM_AES_CBC_PAD`: CBC with PKCS#7 padding; `iv` must be 16 bytes.
    CbcPad {
        /// Initialization vector (16 bytes).
        iv: Vec<u8>,
    },
    /// `CKM_AES_CTR` with `CK_AES_CTR_PARAMS`: the low `counter_bits` (1..=128) bits of
    /// `counter_block` are a big-endian counter that must not wrap.
    Ctr {
        /// `ulCounterBits`.
        counter_bits: u64,
        /// `cb`.
        counter_block: [u8; 16],
    },
    /// `CKM_AES_GCM` with `CK_GCM_PARAMS`: an IV of at least one byte, any AAD, and a tag
    /// of `tag_bits` bits (0..=128, a multiple of 8) appended to the ciphertext.
    Gcm {
        /// `pIv`/`ulIvLen`.
        iv: Vec<u8>,
        /// `pAAD`/`ulAADLen`.
        aad: Vec<u8>,
        /// `ulTagBits`.
        tag_bits: u64,
    },
}

impl fmt::Debug for AesMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AesMode::Ecb => f.write_str("Ecb"),
            AesMode::Cbc { iv } => f.debug_struct("Cbc").field("iv_len", &iv.len()).finish(),
            AesMode::CbcPad { iv } => f.debug_struct("CbcPad").field("iv_len", &iv.len()).finish(),
            AesMode::Ctr { counter_bits, .. } => f
                .debug_struct("Ctr")
                .field("counter_bits", counter_bits)
                .finish_non_exhaustive(),
            AesMode::Gcm { iv, aad, tag_bits } => f
                .debug_struct("Gcm")
                .field("iv_len", &iv.len())
                .field("aad_len", &aad.len())
                .field("tag_bits", tag_bits)
                .finish(),
        }
    }
}

impl AesKey {
    /// Takes a 16-, 24- or 32-byte key value.
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] for any other length.
    pub fn new(value: &[u8]) -> Result<Self, CryptoError> {
        match value.len() {
            16 | 24 | 32 => Ok(AesKey(Zeroizing::new(value.to_vec()))),
            _ => Err(CryptoError::KeySize),
        }
    }

    /// Key length in bytes (16, 24 or 32).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: an AES key has 16, 24 or 32 bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn value(&self) -> &[u8] {
        &self.0
    }

    fn lc_algorithm(&self) -> &'static lc::Algorithm {
        match self.0.len() {
            16 => &lc::AES_128,
            24 => &lc::AES_192,
            _ => &lc::AES_256,
        }
    }

    fn unbound(&self) -> Result<UnboundCipherKey, CryptoError> {
        UnboundCipherKey::new(self.lc_algorithm(), &self.0)
            .map_err(|_| CryptoError::Backend("aws-lc rejected the AES key".into()))
    }

    /// `CKA_CHECK_VALUE`: the first three bytes of the ECB encryption of a zero block.
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if aws-lc fails.
    pub fn check_value(&self) -> Result<[u8; 3], CryptoError> {
        let key = EncryptingKey::ecb(self.unbound()?).map_err(backend)?;
        let mut block = [0u8; BLOCK];
        key.encrypt(&mut block).map_err(backend)?;
        Ok([block[0], block[1], block[2]])
    }

    /// Starts an encryption or decryption in `mode`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an IV, counter-bit or tag length the mode
    /// does not take; [`CryptoError::Backend`] if aws-lc fails.
    pub fn cipher(
        &self,
        mode: AesMode,
        direction: Direction,
    ) -> Result<Box<dyn StreamingCipher>, CryptoError> {
        Ok(match mode {
            AesMode::Ecb => Box::new(BlockStream::new(
                AesCore::new(self, None, direction)?,
                direction,
                false,
            )),
            AesMode::Cbc { iv } => Box::new(BlockStream::new(
                AesCore::new(self, Some(cbc_iv(&iv)?), direction)?,
                direction,
                false,
            )),
            AesMode::CbcPad { iv } => Box::new(BlockStream::new(
                AesCore::new(self, Some(cbc_iv(&iv)?), direction)?,
                direction,
                true,
            )),
            AesMode::Ctr {
                counter_bits,
                counter_block,
            } => Box::new(AesCtr::new(self, counter_bits, counter_block)?),
            AesMode::Gcm { iv, aad, tag_bits } => {
                Box::new(AesGcm::new(self.clone(), iv, aad, tag_bits, direction)?)
            }
        })
    }
}

fn backend(_: aws_lc_rs::error::Unspecified) -> CryptoError {
    CryptoError::Backend("aws-lc AES operation failed".into())
}

fn cbc_iv(iv: &[u8]) -> Result<[u8; BLOCK], CryptoError> {
    iv.try_into()
        .map_err(|_| CryptoError::InvalidParameter("AES-CBC IV must be 16 bytes"))
}

/// aws-lc AES in ECB (`iv == None`) or CBC mode over whole blocks. The CBC chaining value
/// lives here, so each call hands aws-lc the IV to continue from.
struct AesCore {
    key: AesDirKey,
    iv: Option<[u8; BLOCK]>,
}

enum AesDirKey {
    Enc(EncryptingKey),
    Dec(DecryptingKey),
}

impl AesCore {
    fn new(
        key: &AesKey,
        iv: Option<[u8; BLOCK]>,
        direction: Direction,
    ) -> Result<Self, CryptoError> {
        let unbound = key.unbound()?;
        let key = match (direction, iv.is_some()) {
            (Direction::Encrypt, false) => {
                AesDirKey::Enc(EncryptingKey::ecb(unbound).map_err(backend)?)
            }
            (Direction::Encrypt, true) => {
                AesDirKey::Enc(EncryptingKey::cbc(unbound).map_err(backend)?)
            }
            (Direction::Decrypt, false) => {
                AesDirKey::Dec(DecryptingKey::ecb(unbound).map_err(backend)?)
            }
            (Direction::Decrypt, true) => {
                AesDirKey::Dec(DecryptingKey::cbc(unbound).map_err(backend)?)
            }
        };
        Ok(AesCore { key, iv })
    }

    /// Processes `blocks` from chaining value `self.iv`; returns the next chaining value.
    fn run(&self, blocks: &mut [u8]) -> Result<Option<[u8; BLOCK]>, CryptoError> {
        if blocks.is_empty() {
            return Ok(self.iv);
        }
        let last = |b: &[u8]| -> [u8; BLOCK] {
            let mut v = [0u8; BLOCK];
            v.copy_from_slice(&b[b.len() - BLOCK..]);
            v
        };
        match (&self.key, self.iv) {
            (AesDirKey::Enc(k), None) => {
                k.encrypt(blocks).map_err(backend)?;
                Ok(None)
            }
            (AesDirKey::Enc(k), Some(iv)) => {
                k.less_safe_encrypt(blocks, EncryptionContext::Iv128(iv.into()))
                    .map_err(backend)?;
                Ok(Some(last(blocks)))
            }
            (AesDirKey::Dec(k), None) => {
                k.decrypt(blocks, DecryptionContext::None)
                    .map_err(backend)?;
                Ok(None)
            }
            (AesDirKey::Dec(k), Some(iv)) => {
                let next = last(blocks);
                k.decrypt(blocks, DecryptionContext::Iv128(iv.into()))
                    .map_err(backend)?;
                Ok(Some(next))
            }
        }
    }
}

impl BlockCore for AesCore {
    fn block_len(&self) -> usize {
        BLOCK
    }

    fn process(&mut self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        self.iv = self.run(blocks)?;
        Ok(())
    }

    fn process_detached(&self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        self.run(blocks).map(|_| ())
    }
}

/// `CKM_AES_CTR`: aws-lc's streaming CTR (which increments all 128 bits) with PKCS#11's
/// counter-width rule enforced here. A counter that may not wrap never reaches a block
/// where aws-lc's wider carry would differ, so the keystream is the PKCS#11 one.
/// Decryption is the same keystream XOR, so one type serves both directions.
struct AesCtr {
    stream: Option<StreamingEncryptingKey>,
    /// Keystream bytes left before the counter's low `counter_bits` bits would wrap.
    remaining: u128,
}

impl fmt::Debug for AesCtr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesCtr")
            .field("remaining", &self.remaining)
            .field("finished", &self.stream.is_none())
            .finish_non_exhaustive()
    }
}

impl AesCtr {
    fn new(key: &AesKey, counter_bits: u64, counter_block: [u8; 16]) -> Result<Self, CryptoError> {
        if !(1..=128).contains(&counter_bits) {
            return Err(CryptoError::InvalidParameter(
                "AES-CTR counter bits must be between 1 and 128",
            ));
        }
        let whole = u128::from_be_bytes(counter_block);
        // Blocks left = 2^bits − counter: with bits = 2 and the counter at 1, three
        // blocks (the CKM_AES_CTR text's example). 2^128 itself saturates.
        let blocks_left = if counter_bits == 128 {
            (u128::MAX - whole).saturating_add(1)
        } else {
            let modulus = 1u128 << counter_bits;
            modulus - (whole & (modulus - 1))
        };
        let stream = StreamingEncryptingKey::less_safe_ctr(
            key.unbound()?,
            EncryptionContext::Iv128(counter_block.into()),
        )
        .map_err(backend)?;
        Ok(AesCtr {
            stream: Some(stream),
            remaining: blocks_left.saturating_mul(BLOCK as u128),
        })
    }
}

impl StreamingCipher for AesCtr {
    fn update_len(&self, in_len: usize) -> usize {
        in_len
    }

    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let stream = self.stream.as_mut().ok_or(CryptoError::OperationFinished)?;
        let len = input.len() as u128;
        if len > self.remaining {
            return Err(CryptoError::DataLength);
        }
        if input.is_empty() {
            return Ok(());
        }
        let start = out.len();
        out.resize(start + input.len() + BLOCK - 1, 0);
        let written = match stream.update(input, &mut out[start..]) {
            Ok(u) => u.written().len(),
            Err(_) => {
                zeroize_tail(out, start);
                return Err(CryptoError::Backend("aws-lc AES-CTR update failed".into()));
            }
        };
        if written != input.len() {
            zeroize_tail(out, start);
            return Err(CryptoError::Backend("aws-lc AES-CTR output length".into()));
        }
        out.truncate(start + written);
        self.remaining -= len;
        Ok(())
    }

    fn final_len(&self) -> Result<usize, CryptoError> {
        if self.stream.is_none() {
            return Err(CryptoError::OperationFinished);
        }
        Ok(0)
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let stream = self.stream.take().ok_or(CryptoError::OperationFinished)?;
        // CTR has no tail: aws-lc writes nothing here (checked).
        let mut tail = [0u8; BLOCK];
        let (_, update) = stream
            .finish(&mut tail)
            .map_err(|_| CryptoError::Backend("aws-lc AES-CTR finish failed".into()))?;
        if !update.written().is_empty() {
            return Err(CryptoError::Backend("aws-lc AES-CTR wrote a tail".into()));
        }
        Ok(())
    }

    fn oneshot_len(&self, input: &[u8]) -> Result<usize, CryptoError> {
        if self.stream.is_none() {
            return Err(CryptoError::OperationFinished);
        }
        if input.len() as u128 > self.remaining {
            return Err(CryptoError::DataLength);
        }
        Ok(input.len())
    }
}
