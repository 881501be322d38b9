//! GOST R 34.12-2015 block ciphers (Kuznyechik, Magma) in the GOST R 34.13-2015 modes, and
//! the buffering every block mode of this module shares.
//!
//! Byte order: keys, blocks and IVs are the byte strings exactly as GOST R 34.12/34.13 and
//! RFC 7801 / RFC 8891 print them (the RustCrypto crates and OpenSSL's gost engine use the
//! same order; the standards' vectors in `tests/vectors/gost_r_34_13_2015.txt` pin it).

use cmac::Mac as _;
use kuznyechik::Kuznyechik;
use magma::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use magma::Magma;
use zeroize::Zeroizing;

use super::{delegate_streaming_cipher, xor_in_place, MacOperation, StreamCore, StreamOp};
use crate::symmetric::{BlockCore, BlockStream, Direction};
use crate::CryptoError;

/// The two block ciphers of GOST R 34.12-2015.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gost3412Cipher {
    /// Kuznyechik ("Grasshopper"): 128-bit block, RFC 7801.
    Kuznyechik,
    /// Magma: 64-bit block, RFC 8891 (GOST 28147-89 with the TC26 S-box, big-endian).
    Magma,
}

impl Gost3412Cipher {
    /// Block length n in bytes: 16 or 8.
    pub fn block_len(self) -> usize {
        match self {
            Gost3412Cipher::Kuznyechik => 16,
            Gost3412Cipher::Magma => 8,
        }
    }
}

/// Both ciphers take a 256-bit key.
pub(crate) const KEY_LEN: usize = 32;

#[derive(Clone)]
enum Engine {
    Kuznyechik(Box<Kuznyechik>),
    Magma(Box<Magma>),
}

/// A Kuznyechik or Magma key: the raw 32 bytes (zeroized on drop; needed to re-key for
/// OMAC and ACPKM) and the expanded cipher.
#[derive(Clone)]
pub struct Gost3412Key {
    cipher: Gost3412Cipher,
    raw: Zeroizing<[u8; KEY_LEN]>,
    engine: Engine,
}

impl std::fmt::Debug for Gost3412Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gost3412Key")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl Gost3412Key {
    /// A key for `cipher` from its 32 bytes.
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] unless `key` is 32 bytes.
    pub fn new(cipher: Gost3412Cipher, key: &[u8]) -> Result<Gost3412Key, CryptoError> {
        let raw: [u8; KEY_LEN] = key.try_into().map_err(|_| CryptoError::KeySize)?;
        let engine = match cipher {
            Gost3412Cipher::Kuznyechik => {
                Engine::Kuznyechik(Box::new(Kuznyechik::new(&raw.into())))
            }
            Gost3412Cipher::Magma => Engine::Magma(Box::new(Magma::new(&raw.into()))),
        };
        Ok(Gost3412Key {
            cipher,
            raw: Zeroizing::new(raw),
            engine,
        })
    }

    /// Which cipher this key is for.
    pub fn cipher(&self) -> Gost3412Cipher {
        self.cipher
    }

    /// Block length in bytes.
    pub fn block_len(&self) -> usize {
        self.cipher.block_len()
    }

    /// Encrypts one block in place (`block.len()` must be the block length).
    pub fn encrypt_block(&self, block: &mut [u8]) {
        match &self.engine {
            Engine::Kuznyechik(c) => c.encrypt_block(block.into()),
            Engine::Magma(c) => c.encrypt_block(block.into()),
        }
    }

    /// Decrypts one block in place (`block.len()` must be the block length).
    pub fn decrypt_block(&self, block: &mut [u8]) {
        match &self.engine {
            Engine::Kuznyechik(c) => c.decrypt_block(block.into()),
            Engine::Magma(c) => c.decrypt_block(block.into()),
        }
    }

    pub(crate) fn raw(&self) -> &[u8; KEY_LEN] {
        &self.raw
    }
}

// --- ECB -------------------------------------------------------------------------------

struct EcbCore {
    key: Gost3412Key,
    direction: Direction,
}

impl BlockCore for EcbCore {
    fn block_len(&self) -> usize {
        self.key.block_len()
    }
    fn process(&mut self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        self.process_detached(blocks)
    }
    fn process_detached(&self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        for block in blocks.chunks_exact_mut(self.key.block_len()) {
            match self.direction {
                Direction::Encrypt => self.key.encrypt_block(block),
                Direction::Decrypt => self.key.decrypt_block(block),
            }
        }
        Ok(())
    }
}

/// GOST R 34.13-2015 §5.1 electronic codebook without padding (`CKM_KUZNECHIK_ECB`,
/// `CKM_MAGMA_ECB`): the data must be a whole number of blocks.
#[derive(Debug)]
pub struct Gost3413Ecb(BlockStream<EcbCore>);

impl Gost3413Ecb {
    /// ECB with `key` in `direction`.
    pub fn new(key: &Gost3412Key, direction: Direction) -> Gost3413Ecb {
        Gost3413Ecb(BlockStream::new(
            EcbCore {
                key: key.clone(),
                direction,
            },
            direction,
            false,
        ))
    }
}

// --- CBC -------------------------------------------------------------------------------

struct CbcCore {
    key: Gost3412Key,
    direction: Direction,
    /// The shift register R of 34.13 §5.4, `m = z * n` bytes (z >= 1).
    register: Zeroizing<Vec<u8>>,
}

impl CbcCore {
    fn run(&self, register: &mut [u8], blocks: &mut [u8]) {
        let n = self.key.block_len();
        let m = register.len();
        for block in blocks.chunks_exact_mut(n) {
            let mut c = Zeroizing::new([0u8; 16]);
            match self.direction {
                Direction::Encrypt => {
                    xor_in_place(block, &register[..n]);
                    self.key.encrypt_block(block);
                    c[..n].copy_from_slice(block);
                }
                Direction::Decrypt => {
                    c[..n].copy_from_slice(block);
                    self.key.decrypt_block(block);
                    xor_in_place(block, &register[..n]);
                }
            }
            // R = LSB_{m-n}(R) ‖ C_i.
            register.rotate_left(n);
            register[m - n..].copy_from_slice(&c[..n]);
        }
    }
}

impl BlockCore for CbcCore {
    fn block_len(&self) -> usize {
        self.key.block_len()
    }
    fn process(&mut self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        let mut register = std::mem::take(&mut *self.register);
        self.run(&mut register, blocks);
        *self.register = register;
        Ok(())
    }
    fn process_detached(&self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        let mut register = Zeroizing::new(self.register.to_vec());
        self.run(&mut register, blocks);
        Ok(())
    }
}

/// GOST R 34.13-2015 §5.4 cipher block chaining without padding. The IV is `z` blocks
/// (`z >= 1`; PKCS#11 and OpenSSL use one block, the standard's examples two or three).
/// Own code: the `cbc` crate has no multi-block IV register.
#[derive(Debug)]
pub struct Gost3413Cbc(BlockStream<CbcCore>);

impl Gost3413Cbc {
    /// CBC with `key`, initial register `iv` (a non-zero multiple of the block length).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an IV of another length.
    pub fn new(
        key: &Gost3412Key,
        iv: &[u8],
        direction: Direction,
    ) -> Result<Gost3413Cbc, CryptoError> {
        let n = key.block_len();
        if iv.is_empty() || iv.len() % n != 0 {
            return Err(CryptoError::InvalidParameter(
                "GOST R 34.13 CBC IV must be a whole number of blocks",
            ));
        }
        Ok(Gost3413Cbc(BlockStream::new(
            CbcCore {
                key: key.clone(),
                direction,
                register: Zeroizing::new(iv.to_vec()),
            },
            direction,
            false,
        )))
    }
}

delegate_streaming_cipher!(Gost3413Ecb);
delegate_streaming_cipher!(Gost3413Cbc);

// --- CTR -------------------------------------------------------------------------------

enum CtrEngine {
    Kuznyechik(Box<ctr::Ctr128BE<Kuznyechik>>),
    Magma(Box<ctr::Ctr64BE<Magma>>),
}

impl CtrEngine {
    /// Counter mode from the counter block `iv ‖ 0…0` (34.13 §5.2: CTR_1 = IV ‖ 0^{n/2}).
    fn new(key: &Gost3412Key, iv: &[u8]) -> CtrEngine {
        let mut block = [0u8; 16];
        block[..iv.len()].copy_from_slice(iv);
        let raw = key.raw();
        match key.cipher {
            Gost3412Cipher::Kuznyechik => {
                CtrEngine::Kuznyechik(Box::new(<ctr::Ctr128BE<Kuznyechik> as KeyIvInit>::new(
                    raw.into(),
                    &block.into(),
                )))
            }
            Gost3412Cipher::Magma => {
                let b8: [u8; 8] = block[..8].try_into().expect("8 bytes");
                CtrEngine::Magma(Box::new(<ctr::Ctr64BE<Magma> as KeyIvInit>::new(
                    raw.into(),
                    &b8.into(),
                )))
            }
        }
    }

    fn apply(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        match self {
            CtrEngine::Kuznyechik(c) => c.try_apply_keystream(buf),
            CtrEngine::Magma(c) => c.try_apply_keystream(buf),
        }
        .map_err(|_| CryptoError::DataLength)
    }
}

/// GOST R 34.13-2015 §5.2 counter mode (the `ctr` crate): the IV is half a block, the
/// counter block starts at `IV ‖ 0…0` and is incremented as a big-endian integer. A stream
/// mode: encryption and decryption are the same operation, any length is accepted.
#[derive(Debug)]
pub struct Gost3413Ctr(StreamOp<CtrEngine>);

impl StreamCore for CtrEngine {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), CryptoError> {
        CtrEngine::apply(self, data)
    }
}

/// Checks a 34.13 CTR IV: half a block.
fn check_ctr_iv(key: &Gost3412Key, iv: &[u8]) -> Result<(), CryptoError> {
    if iv.len() == key.block_len() / 2 {
        Ok(())
    } else {
        Err(CryptoError::InvalidParameter(
            "GOST R 34.13 CTR IV must be half a block",
        ))
    }
}

impl Gost3413Ctr {
    /// CTR with `key` and `iv` (half a block: 8 bytes for Kuznyechik, 4 for Magma).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an IV of another length.
    pub fn new(key: &Gost3412Key, iv: &[u8]) -> Result<Gost3413Ctr, CryptoError> {
        check_ctr_iv(key, iv)?;
        Ok(Gost3413Ctr(StreamOp::new(CtrEngine::new(key, iv))))
    }
}

delegate_streaming_cipher!(Gost3413Ctr);

// --- CTR-ACPKM -------------------------------------------------------------------------

/// The ACPKM constant D = 0x80 ‖ 0x81 ‖ … ‖ 0x9F (R 1323565.1.017-2018 §4.1, RFC 8645 §6.2.1).
fn acpkm_constant() -> [u8; KEY_LEN] {
    let mut d = [0u8; KEY_LEN];
    for (i, b) in d.iter_mut().enumerate() {
        *b = 0x80 + i as u8;
    }
    d
}

/// ACPKM(K): the next section key, `E_K(D_1) ‖ E_K(D_2) ‖ …` over the 32-byte constant.
fn acpkm_next(key: &Gost3412Key) -> Gost3412Key {
    let mut next = Zeroizing::new(acpkm_constant());
    for block in next.chunks_exact_mut(key.block_len()) {
        key.encrypt_block(block);
    }
    Gost3412Key::new(key.cipher, &next[..]).expect("32-byte key")
}

/// CTR-ACPKM (R 1323565.1.017-2018 §4.1, RFC 8645 §6.2.2): 34.13 counter mode whose key is
/// replaced by ACPKM(K) after every `section_len` bytes; the counter runs on across
/// sections. Own code (no crate offers the re-keying).
#[derive(Debug)]
pub struct Gost3413CtrAcpkm(StreamOp<AcpkmCore>);

struct AcpkmCore {
    key: Gost3412Key,
    /// The counter block (`IV ‖ 0…0`, then incremented), big-endian.
    counter: [u8; 16],
    keystream: Zeroizing<[u8; 16]>,
    /// Unused keystream bytes at the end of `keystream`.
    keystream_left: usize,
    section_len: usize,
    /// Bytes of the current section already encrypted.
    section_used: usize,
}

impl Gost3413CtrAcpkm {
    /// CTR-ACPKM with `key`, `iv` (half a block) and sections of `section_len` bytes (a
    /// non-zero multiple of the block length).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for a bad IV length or section length.
    pub fn new(
        key: &Gost3412Key,
        iv: &[u8],
        section_len: usize,
    ) -> Result<Gost3413CtrAcpkm, CryptoError> {
        check_ctr_iv(key, iv)?;
        if section_len == 0 || section_len % key.block_len() != 0 {
            return Err(CryptoError::InvalidParameter(
                "ACPKM section length must be a whole number of blocks",
            ));
        }
        let mut counter = [0u8; 16];
        counter[..iv.len()].copy_from_slice(iv);
        Ok(Gost3413CtrAcpkm(StreamOp::new(AcpkmCore {
            key: key.clone(),
            counter,
            keystream: Zeroizing::new([0; 16]),
            keystream_left: 0,
            section_len,
            section_used: 0,
        })))
    }
}

delegate_streaming_cipher!(Gost3413CtrAcpkm);

impl AcpkmCore {
    fn next_block(&mut self) {
        let n = self.key.block_len();
        if self.section_used == self.section_len {
            self.key = acpkm_next(&self.key);
            self.section_used = 0;
        }
        self.keystream[..n].copy_from_slice(&self.counter[..n]);
        self.key.encrypt_block(&mut self.keystream[..n]);
        // Increment the n-byte counter block mod 2^(8n).
        for b in self.counter[..n].iter_mut().rev() {
            *b = b.wrapping_add(1);
            if *b != 0 {
                break;
            }
        }
        self.keystream_left = n;
        self.section_used += n;
    }
}

impl StreamCore for AcpkmCore {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), CryptoError> {
        let n = self.key.block_len();
        for b in data.iter_mut() {
            if self.keystream_left == 0 {
                self.next_block();
            }
            *b ^= self.keystream[n - self.keystream_left];
            self.keystream_left -= 1;
        }
        Ok(())
    }
}

// --- OMAC ------------------------------------------------------------------------------

enum OmacEngine {
    Kuznyechik(Box<cmac::Cmac<Kuznyechik>>),
    Magma(Box<cmac::Cmac<Magma>>),
}

/// GOST R 34.13-2015 §5.6 MAC (OMAC1 = CMAC, the `cmac` crate), truncated to its first
/// `mac_len` bytes (34.13: MSB_s).
pub struct Gost3413Omac {
    engine: OmacEngine,
    mac_len: usize,
}

impl std::fmt::Debug for Gost3413Omac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gost3413Omac")
            .field("mac_len", &self.mac_len)
            .finish_non_exhaustive()
    }
}

impl Gost3413Omac {
    /// OMAC with `key`, output truncated to `mac_len` bytes (1 ..= block length).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for a `mac_len` out of range.
    pub fn new(key: &Gost3412Key, mac_len: usize) -> Result<Gost3413Omac, CryptoError> {
        if mac_len == 0 || mac_len > key.block_len() {
            return Err(CryptoError::InvalidParameter("OMAC length out of range"));
        }
        let raw = key.raw();
        let engine = match key.cipher {
            Gost3412Cipher::Kuznyechik => OmacEngine::Kuznyechik(Box::new(
                <cmac::Cmac<Kuznyechik> as KeyInit>::new(raw.into()),
            )),
            Gost3412Cipher::Magma => {
                OmacEngine::Magma(Box::new(<cmac::Cmac<Magma> as KeyInit>::new(raw.into())))
            }
        };
        Ok(Gost3413Omac { engine, mac_len })
    }

    /// Feeds more data (also available through [`MacOperation`]).
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.engine {
            OmacEngine::Kuznyechik(m) => m.update(data),
            OmacEngine::Magma(m) => m.update(data),
        }
    }

    /// The truncated MAC.
    pub fn finalize(self) -> Vec<u8> {
        let full = match self.engine {
            OmacEngine::Kuznyechik(m) => m.finalize().into_bytes().to_vec(),
            OmacEngine::Magma(m) => m.finalize().into_bytes().to_vec(),
        };
        full[..self.mac_len].to_vec()
    }
}

impl MacOperation for Gost3413Omac {
    fn update(&mut self, data: &[u8]) {
        Gost3413Omac::update(self, data);
    }
    fn output_len(&self) -> usize {
        self.mac_len
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        (*self).finalize()
    }
}
