//! Symmetric cryptography: AES and DES3 ciphers, AES key wrap, HMAC and AES-CMAC, key check
//! values.
//!
//! Ciphers are streaming objects ([`StreamingCipher`]) shaped after PKCS#11's
//! single-/multi-part functions and their two-call size protocol: every method that
//! produces output has a companion that says, exactly and without side effects, how many
//! bytes it would produce, so the token layer can answer a size query (or
//! `CKR_BUFFER_TOO_SMALL`) without consuming input or ending the operation.
//!
//! Error mapping (see [`CryptoError`]): a plaintext that is not a whole number of blocks
//! where the mode needs one is [`CryptoError::DataLength`] (`CKR_DATA_LEN_RANGE`); a
//! ciphertext of the wrong length is [`CryptoError::EncryptedDataLength`]
//! (`CKR_ENCRYPTED_DATA_LEN_RANGE`); bad PKCS#7 padding or a failed key-wrap integrity
//! check is [`CryptoError::EncryptedData`] (`CKR_ENCRYPTED_DATA_INVALID`); a GCM tag
//! mismatch is [`CryptoError::AuthenticationFailed`]; a CTR counter that would wrap is
//! [`CryptoError::DataLength`] in both directions (the `CKM_AES_CTR` text says
//! `CKR_DATA_LEN_RANGE`); a wrong key length is [`CryptoError::KeySize`]
//! (`CKR_KEY_SIZE_RANGE`); a wrong IV, counter-bit, tag or MAC length is
//! [`CryptoError::InvalidParameter`] (`CKR_MECHANISM_PARAM_INVALID`).

use std::fmt;

use block_padding::{Pkcs7, RawPadding};
use zeroize::Zeroizing;

use crate::CryptoError;

mod aes;
mod des3;
mod gcm;
mod kw;
mod mac;

pub use self::aes::{AesKey, AesMode};
pub use self::des3::{Des3Key, Des3Mode};
pub use self::mac::Mac;

/// Which way a cipher runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Plaintext in, ciphertext out.
    Encrypt,
    /// Ciphertext in, plaintext out.
    Decrypt,
}

/// A symmetric encryption or decryption in progress, fed in any number of parts.
///
/// Output is appended to the caller's `Vec` only when a call succeeds. After an error the
/// operation must be abandoned (PKCS#11 ends it); after [`finish`](Self::finish) every
/// further call fails with [`CryptoError::OperationFinished`].
///
/// Single-part `C_Encrypt`/`C_Decrypt` map to [`oneshot_len`](Self::oneshot_len) and
/// [`oneshot`](Self::oneshot); `C_*Update` to [`update_len`](Self::update_len) and
/// [`update`](Self::update); `C_*Final` to [`final_len`](Self::final_len) and
/// [`finish`](Self::finish).
pub trait StreamingCipher: Send + fmt::Debug {
    /// Exactly how many bytes [`update`](Self::update) with `in_len` bytes of input would
    /// append now. Block modes hold back partial blocks (and, when unpadding, the last
    /// full block); GCM returns 0 (it outputs only at the end).
    fn update_len(&self, in_len: usize) -> usize;

    /// Feeds `input`, appending [`update_len`](Self::update_len)`(input.len())` bytes of
    /// output to `out`.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] if a CTR counter would wrap;
    /// [`CryptoError::OperationFinished`] after [`finish`](Self::finish).
    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError>;

    /// Exactly how many bytes [`finish`](Self::finish) would append. For CBC-PAD
    /// decryption this decrypts the held-back block (without advancing the state) to read
    /// its padding.
    ///
    /// # Errors
    /// The error [`finish`](Self::finish) would return for a length or padding problem.
    fn final_len(&self) -> Result<usize, CryptoError>;

    /// Ends the operation, appending the last output (padding block, GCM ciphertext and
    /// tag, GCM plaintext after the tag check).
    ///
    /// # Errors
    /// Length, padding and tag errors as listed in the [module docs](self).
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CryptoError>;

    /// Exactly how many bytes [`oneshot`](Self::oneshot) on `input` would append.
    ///
    /// # Errors
    /// The length or padding error [`oneshot`](Self::oneshot) would return (a GCM tag is
    /// only checked by [`oneshot`](Self::oneshot) itself).
    fn oneshot_len(&self, input: &[u8]) -> Result<usize, CryptoError>;

    /// Single-part operation: [`update`](Self::update) then [`finish`](Self::finish);
    /// on error nothing is appended to `out`.
    ///
    /// # Errors
    /// As [`update`](Self::update) and [`finish`](Self::finish).
    fn oneshot(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let start = out.len();
        let result = self.update(input, out).and_then(|()| self.finish(out));
        if result.is_err() {
            zeroize_tail(out, start);
        }
        result
    }
}

/// `CKA_CHECK_VALUE` of a generic secret key: the first three bytes of SHA-1 over the
/// key value (PKCS#11 v3.0, generic secret key objects). The specification defines no
/// check value for the `CKK_<hash>_HMAC` key types.
#[must_use]
pub fn generic_secret_check_value(value: &[u8]) -> [u8; 3] {
    let hash = crate::digest(crate::HashAlg::Sha1, value);
    [hash[0], hash[1], hash[2]]
}

/// Wipes and drops whatever was appended to `out` after `start`.
pub(crate) fn zeroize_tail(out: &mut Vec<u8>, start: usize) {
    use zeroize::Zeroize as _;
    out[start..].zeroize();
    out.truncate(start);
}

/// A block cipher in ECB or CBC mode over whole blocks: what [`BlockStream`] drives.
pub(crate) trait BlockCore: Send {
    /// Block length in bytes (16 for AES, 8 for DES3).
    fn block_len(&self) -> usize;
    /// Encrypts or decrypts `blocks` (a whole number of blocks) in place, advancing the
    /// chaining state.
    fn process(&mut self, blocks: &mut [u8]) -> Result<(), CryptoError>;
    /// As [`process`](Self::process), leaving the chaining state where it was.
    fn process_detached(&self, blocks: &mut [u8]) -> Result<(), CryptoError>;
}

/// PKCS#11 multi-part buffering and PKCS#7 padding over a [`BlockCore`].
pub(crate) struct BlockStream<C: BlockCore> {
    core: C,
    direction: Direction,
    padded: bool,
    /// Input not yet processed: less than one block, or — when unpadding — up to one full
    /// block held back because it may carry the padding.
    pending: Zeroizing<Vec<u8>>,
    finished: bool,
}

impl<C: BlockCore> fmt::Debug for BlockStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockStream")
            .field("block_len", &self.core.block_len())
            .field("direction", &self.direction)
            .field("padded", &self.padded)
            .field("pending_len", &self.pending.len())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<C: BlockCore> BlockStream<C> {
    pub(crate) fn new(core: C, direction: Direction, padded: bool) -> Self {
        BlockStream {
            core,
            direction,
            padded,
            pending: Zeroizing::new(Vec::new()),
            finished: false,
        }
    }

    fn unpadding(&self) -> bool {
        self.padded && self.direction == Direction::Decrypt
    }

    /// How many of `total` buffered-plus-new bytes can be processed now.
    fn ready_len(&self, total: usize) -> usize {
        let bl = self.core.block_len();
        if self.unpadding() {
            // Keep the last block back, even a complete one: it may be the padding block.
            total.saturating_sub(1) / bl * bl
        } else {
            total / bl * bl
        }
    }

    fn length_error(&self) -> CryptoError {
        match self.direction {
            Direction::Encrypt => CryptoError::DataLength,
            Direction::Decrypt => CryptoError::EncryptedDataLength,
        }
    }

    /// Length of the plaintext in the final (padded) block `block`, decrypting a copy.
    fn unpadded_len(&self, block: &[u8]) -> Result<usize, CryptoError> {
        let mut copy = Zeroizing::new(block.to_vec());
        self.core.process_detached(&mut copy)?;
        Pkcs7::raw_unpad(&copy)
            .map(<[u8]>::len)
            .map_err(|_| CryptoError::EncryptedData)
    }
}

impl<C: BlockCore> StreamingCipher for BlockStream<C> {
    fn update_len(&self, in_len: usize) -> usize {
        if self.finished {
            return 0;
        }
        self.ready_len(self.pending.len().saturating_add(in_len))
    }

    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        let total = self
            .pending
            .len()
            .checked_add(input.len())
            .ok_or_else(|| self.length_error())?;
        let ready = self.ready_len(total);
        if ready == 0 {
            self.pending.extend_from_slice(input);
            return Ok(());
        }
        // `ready` is at least one block and the pending bytes never exceed one block, so
        // all of them go out now.
        let from_input = ready - self.pending.len();
        let start = out.len();
        out.extend_from_slice(&self.pending);
        out.extend_from_slice(&input[..from_input]);
        if let Err(e) = self.core.process(&mut out[start..]) {
            zeroize_tail(out, start);
            return Err(e);
        }
        self.pending.clear();
        self.pending.extend_from_slice(&input[from_input..]);
        Ok(())
    }

    fn final_len(&self) -> Result<usize, CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        let bl = self.core.block_len();
        match (self.direction, self.padded) {
            (Direction::Encrypt, true) => Ok(bl),
            (Direction::Decrypt, true) => {
                if self.pending.len() != bl {
                    return Err(CryptoError::EncryptedDataLength);
                }
                self.unpadded_len(&self.pending)
            }
            (_, false) if self.pending.is_empty() => Ok(0),
            (_, false) => Err(self.length_error()),
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        self.finished = true;
        let bl = self.core.block_len();
        match (self.direction, self.padded) {
            (Direction::Encrypt, true) => {
                let used = self.pending.len();
                let mut block = Zeroizing::new(vec![0u8; bl]);
                block[..used].copy_from_slice(&self.pending);
                Pkcs7::raw_pad(&mut block, used);
                self.core.process(&mut block)?;
                out.extend_from_slice(&block);
            }
            (Direction::Decrypt, true) => {
                if self.pending.len() != bl {
                    return Err(CryptoError::EncryptedDataLength);
                }
                let mut block = Zeroizing::new(self.pending.to_vec());
                self.core.process(&mut block)?;
                let plain = Pkcs7::raw_unpad(&block).map_err(|_| CryptoError::EncryptedData)?;
                out.extend_from_slice(plain);
            }
            (_, false) if self.pending.is_empty() => {}
            (_, false) => return Err(self.length_error()),
        }
        self.pending.clear();
        Ok(())
    }

    fn oneshot_len(&self, input: &[u8]) -> Result<usize, CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        let bl = self.core.block_len();
        let total = self.pending.len() + input.len();
        match (self.direction, self.padded) {
            (Direction::Encrypt, true) => Ok((total / bl + 1) * bl),
            (Direction::Decrypt, true) => {
                if total == 0 || total % bl != 0 {
                    return Err(CryptoError::EncryptedDataLength);
                }
                // The last block's padding is only known after decrypting the chain up
                // to it: run the whole message on a detached copy.
                let mut all = Zeroizing::new(Vec::with_capacity(total));
                all.extend_from_slice(&self.pending);
                all.extend_from_slice(input);
                self.core.process_detached(&mut all)?;
                let last =
                    Pkcs7::raw_unpad(&all[total - bl..]).map_err(|_| CryptoError::EncryptedData)?;
                Ok(total - bl + last.len())
            }
            (_, false) if total % bl == 0 => Ok(total),
            (_, false) => Err(self.length_error()),
        }
    }
}
