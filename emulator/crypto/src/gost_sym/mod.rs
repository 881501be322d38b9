//! GOST symmetric cryptography: GOST 28147-89 (ECB, counter/gamma, CFB, MAC, RFC 4357 key
//! wrap), GOST R 34.12-2015 Kuznyechik and Magma in the GOST R 34.13-2015 modes (ECB, CTR,
//! CBC, OMAC, CTR-ACPKM), the KExp15/KImp15 key export of R 1323565.1.017-2018, HMAC with
//! Streebog and the KDFs of RFC 4357 §6.5 and RFC 7836 §4.5.
//!
//! Where the code comes from:
//! * block ciphers: the RustCrypto `magma` crate (its `Gost89<S>` carries the 28147 S-boxes)
//!   and `kuznyechik`; 34.13 CTR is the `ctr` crate, OMAC the `cmac` crate, HMAC the `hmac`
//!   crate over this crate's own Streebog;
//! * our own code, because no crate has it: the GOST 28147-89 byte order (little-endian
//!   words, unlike 34.12's big-endian Magma), its counter mode with the C1/C2 constants,
//!   CFB and MAC with CryptoPro key meshing, the RFC 4357 key wraps and KDF, the 34.13 CBC
//!   with an IV of several blocks, ACPKM re-keying and KExp15. Multi-part buffering of the
//!   block modes is also ours.
//!
//! Multi-part ciphers implement [`crate::symmetric::StreamingCipher`] (the trait of the AES
//! and DES3 ciphers: exact `update_len` / `final_len` / `oneshot_len`, output appended to a
//! `Vec`); the block modes reuse `symmetric`'s buffering (`BlockStream`). MACs implement
//! [`MacOperation`].

mod gost28147;
mod hmac;
mod kdf;
mod kexp15;
mod modes;

pub use gost28147::{
    cryptopro_key_unwrap, cryptopro_key_wrap, gost28147_key_unwrap, gost28147_key_wrap,
    Gost28147Cfb, Gost28147Cnt, Gost28147Ecb, Gost28147Key, Gost28147Mac, Gost28147ParamSet,
    GOST28147_MAC_LEN, GOST28147_WRAPPED_LEN,
};
pub use hmac::{HmacStreebog, StreebogSize};
pub use kdf::{kdf_4357, kdf_gostr3411_2012_256};
pub use kexp15::{kexp15, kimp15};
pub use modes::{
    Gost3412Cipher, Gost3412Key, Gost3413Cbc, Gost3413Ctr, Gost3413CtrAcpkm, Gost3413Ecb,
    Gost3413Omac,
};

use crate::symmetric::{zeroize_tail, StreamingCipher};
use crate::CryptoError;

/// An in-place keystream transform: what [`StreamOp`] drives (any length, any chunking).
pub(crate) trait StreamCore: Send {
    /// Encrypts or decrypts `data` in place, advancing the state.
    fn apply(&mut self, data: &mut [u8]) -> Result<(), CryptoError>;
}

/// [`StreamingCipher`] over a [`StreamCore`]: output length = input length, nothing held
/// back, nothing at the end.
pub(crate) struct StreamOp<C> {
    core: C,
    finished: bool,
}

impl<C> StreamOp<C> {
    pub(crate) fn new(core: C) -> Self {
        StreamOp {
            core,
            finished: false,
        }
    }
}

impl<C> std::fmt::Debug for StreamOp<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOp")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<C: StreamCore> StreamingCipher for StreamOp<C> {
    fn update_len(&self, in_len: usize) -> usize {
        if self.finished {
            0
        } else {
            in_len
        }
    }

    fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        let start = out.len();
        out.extend_from_slice(input);
        if let Err(e) = self.core.apply(&mut out[start..]) {
            zeroize_tail(out, start);
            return Err(e);
        }
        Ok(())
    }

    fn final_len(&self) -> Result<usize, CryptoError> {
        if self.finished {
            Err(CryptoError::OperationFinished)
        } else {
            Ok(0)
        }
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if self.finished {
            return Err(CryptoError::OperationFinished);
        }
        self.finished = true;
        Ok(())
    }

    fn oneshot_len(&self, input: &[u8]) -> Result<usize, CryptoError> {
        if self.finished {
            Err(CryptoError::OperationFinished)
        } else {
            Ok(input.len())
        }
    }
}

/// Implements [`StreamingCipher`] for a public newtype over a private driver.
macro_rules! delegate_streaming_cipher {
    ($t:ty) => {
        impl $crate::symmetric::StreamingCipher for $t {
            fn update_len(&self, in_len: usize) -> usize {
                self.0.update_len(in_len)
            }
            fn update(
                &mut self,
                input: &[u8],
                out: &mut Vec<u8>,
            ) -> Result<(), $crate::CryptoError> {
                self.0.update(input, out)
            }
            fn final_len(&self) -> Result<usize, $crate::CryptoError> {
                self.0.final_len()
            }
            fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), $crate::CryptoError> {
                self.0.finish(out)
            }
            fn oneshot_len(&self, input: &[u8]) -> Result<usize, $crate::CryptoError> {
                self.0.oneshot_len(input)
            }
        }
    };
}
pub(crate) use delegate_streaming_cipher;

/// Runs a whole message through `op` ([`StreamingCipher::oneshot`]) into a new vector.
///
/// # Errors
/// Whatever the operation reports.
pub fn cipher_all(op: &mut dyn StreamingCipher, input: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(op.oneshot_len(input)?);
    op.oneshot(input, &mut out)?;
    Ok(out)
}

/// A multi-part MAC of this module (C_SignUpdate / C_SignFinal shaped), the same shape as
/// [`crate::symmetric::Mac`].
pub trait MacOperation: Send {
    /// Feeds more data.
    fn update(&mut self, data: &[u8]);
    /// The length of the MAC [`finish`](Self::finish) returns.
    fn output_len(&self) -> usize;
    /// Ends the operation and returns the MAC.
    fn finish(self: Box<Self>) -> Vec<u8>;
    /// Ends the operation and compares the MAC with `mac` in constant time.
    ///
    /// # Errors
    /// [`CryptoError::SignatureLength`] for a MAC of the wrong length,
    /// [`CryptoError::InvalidSignature`] for a mismatch.
    fn verify(self: Box<Self>, mac: &[u8]) -> Result<(), CryptoError> {
        if mac.len() != self.output_len() {
            return Err(CryptoError::SignatureLength);
        }
        let ours = self.finish();
        aws_lc_rs::constant_time::verify_slices_are_equal(&ours, mac)
            .map_err(|_| CryptoError::InvalidSignature)
    }
}

/// XORs `src` into `dst` (equal lengths).
fn xor_in_place(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}
