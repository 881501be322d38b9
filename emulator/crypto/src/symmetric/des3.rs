//! Triple DES (2-key `CKK_DES2` and 3-key `CKK_DES3`) in ECB, CBC and CBC-PAD, with the
//! RustCrypto `des` and `cbc` crates.
//!
//! aws-lc-rs has 3DES behind a deprecated feature, and it refuses weak or semi-weak DES
//! subkeys and equal subkeys (K1 = K2, K1 = K3): keys PKCS#11 imports and uses without
//! complaint, so it cannot serve here.

use std::fmt;

use aes::cipher::generic_array::GenericArray;
use aes::cipher::typenum::U8;
use aes::cipher::{
    BlockCipher, BlockDecrypt, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, BlockSizeUser,
    InnerIvInit, KeyInit,
};
use des::{TdesEde2, TdesEde3};
use zeroize::Zeroizing;

use super::{BlockCore, BlockStream, Direction, StreamingCipher};
use crate::CryptoError;

const BLOCK: usize = 8;

/// A DES3 key: 16 bytes (2-key, K1 K2 K1) or 24 bytes (3-key). Parity bits are ignored,
/// as DES ignores them. Zeroized on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct Des3Key(Zeroizing<Vec<u8>>);

impl fmt::Debug for Des3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Des3Key")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

/// A DES3 mode with its parameters.
#[derive(Clone)]
pub enum Des3Mode {
    /// `CKM_DES3_ECB`: whole blocks only.
    Ecb,
    /// `CKM_DES3_CBC`: whole blocks only; `iv` must be 8 bytes.
    Cbc {
        /// Initialization vector (8 bytes).
        iv: Vec<u8>,
    },
    /// `CKM_DES3_CBC_PAD`: CBC with PKCS#7 padding; `iv` must be 8 bytes.
    CbcPad {
        /// Initialization vector (8 bytes).
        iv: Vec<u8>,
    },
}

impl fmt::Debug for Des3Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Des3Mode::Ecb => f.write_str("Ecb"),
            Des3Mode::Cbc { .. } => f.write_str("Cbc"),
            Des3Mode::CbcPad { .. } => f.write_str("CbcPad"),
        }
    }
}

impl Des3Key {
    /// Takes a 16-byte (2-key) or 24-byte (3-key) value.
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] for any other length.
    pub fn new(value: &[u8]) -> Result<Self, CryptoError> {
        match value.len() {
            16 | 24 => Ok(Des3Key(Zeroizing::new(value.to_vec()))),
            _ => Err(CryptoError::KeySize),
        }
    }

    /// Key length in bytes (16 or 24).
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `CKA_CHECK_VALUE`: the first three bytes of the ECB encryption of a zero block.
    ///
    /// # Errors
    /// [`CryptoError::Backend`] never in practice (the length was checked).
    pub fn check_value(&self) -> Result<[u8; 3], CryptoError> {
        let mut block = GenericArray::default();
        match self.0.len() {
            16 => TdesEde2::new_from_slice(&self.0)
                .map_err(|_| bad_key())?
                .encrypt_block(&mut block),
            _ => TdesEde3::new_from_slice(&self.0)
                .map_err(|_| bad_key())?
                .encrypt_block(&mut block),
        }
        Ok([block[0], block[1], block[2]])
    }

    /// Starts an encryption or decryption in `mode`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an IV that is not 8 bytes.
    pub fn cipher(
        &self,
        mode: Des3Mode,
        direction: Direction,
    ) -> Result<Box<dyn StreamingCipher>, CryptoError> {
        let (iv, padded) = match mode {
            Des3Mode::Ecb => (None, false),
            Des3Mode::Cbc { iv } => (Some(des_iv(&iv)?), false),
            Des3Mode::CbcPad { iv } => (Some(des_iv(&iv)?), true),
        };
        Ok(match self.0.len() {
            16 => Box::new(BlockStream::new(
                DesCore::new(
                    TdesEde2::new_from_slice(&self.0).map_err(|_| bad_key())?,
                    iv,
                    direction,
                ),
                direction,
                padded,
            )),
            _ => Box::new(BlockStream::new(
                DesCore::new(
                    TdesEde3::new_from_slice(&self.0).map_err(|_| bad_key())?,
                    iv,
                    direction,
                ),
                direction,
                padded,
            )),
        })
    }
}

fn bad_key() -> CryptoError {
    CryptoError::Backend("DES3 key".into())
}

fn des_iv(iv: &[u8]) -> Result<[u8; BLOCK], CryptoError> {
    iv.try_into()
        .map_err(|_| CryptoError::InvalidParameter("DES3-CBC IV must be 8 bytes"))
}

/// One DES3 variant in one mode and direction; the `cbc` crate keeps the chaining value.
#[derive(Clone)]
enum DesCore<C: BlockCipher + BlockEncrypt + BlockDecrypt + Clone> {
    EcbEncrypt(C),
    EcbDecrypt(C),
    CbcEncrypt(cbc::Encryptor<C>),
    CbcDecrypt(cbc::Decryptor<C>),
}

impl<C> DesCore<C>
where
    C: BlockCipher + BlockEncrypt + BlockDecrypt + Clone + BlockSizeUser<BlockSize = U8>,
{
    fn new(cipher: C, iv: Option<[u8; BLOCK]>, direction: Direction) -> Self {
        match (iv, direction) {
            (None, Direction::Encrypt) => DesCore::EcbEncrypt(cipher),
            (None, Direction::Decrypt) => DesCore::EcbDecrypt(cipher),
            (Some(iv), Direction::Encrypt) => {
                DesCore::CbcEncrypt(cbc::Encryptor::inner_iv_init(cipher, &iv.into()))
            }
            (Some(iv), Direction::Decrypt) => {
                DesCore::CbcDecrypt(cbc::Decryptor::inner_iv_init(cipher, &iv.into()))
            }
        }
    }
}

impl<C> BlockCore for DesCore<C>
where
    C: BlockCipher + BlockEncrypt + BlockDecrypt + Clone + Send + BlockSizeUser<BlockSize = U8>,
{
    fn block_len(&self) -> usize {
        BLOCK
    }

    fn process(&mut self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        if blocks.len() % BLOCK != 0 {
            return Err(CryptoError::Backend("DES3: partial block".into()));
        }
        for chunk in blocks.chunks_exact_mut(BLOCK) {
            let block = GenericArray::from_mut_slice(chunk);
            match self {
                DesCore::EcbEncrypt(c) => c.encrypt_block(block),
                DesCore::EcbDecrypt(c) => c.decrypt_block(block),
                DesCore::CbcEncrypt(c) => c.encrypt_block_mut(block),
                DesCore::CbcDecrypt(c) => c.decrypt_block_mut(block),
            }
        }
        Ok(())
    }

    fn process_detached(&self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        self.clone().process(blocks)
    }
}
