//! GOST 28147-89 with its parameter sets: ECB, counter ("gamma") mode, CFB, the MAC
//! (imitovstavka) — the last three with CryptoPro key meshing where the parameter set asks
//! for it (RFC 4357 §2.3) — and the RFC 4357 §6 key wraps.
//!
//! The block cipher is the `magma` crate's `Gost89<S>`. That crate reads words big-endian
//! (GOST R 34.12-2015 order); GOST 28147-89 as RFC 5830, CryptoPro and OpenSSL's gost engine
//! use it reads the key and the block as little-endian 32-bit words. So a 28147 block is
//! `rev8(Gost89(rev4_each(key), rev8(block)))`; the RFC 5831 and CryptoPro vectors in
//! `tests/vectors/gost28147_89.txt` pin this. The modes around it are our own code: no
//! crate has the 28147 counter mode, the 16-round MAC or the key meshing.

use magma::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use magma::Gost89;
use zeroize::{Zeroize, Zeroizing};

use super::{delegate_streaming_cipher, xor_in_place, MacOperation, StreamCore, StreamOp};
use crate::symmetric::{BlockCore, BlockStream, Direction};
use crate::CryptoError;

/// Block length of GOST 28147-89.
const BLOCK: usize = 8;
/// Key length of GOST 28147-89.
const KEY_LEN: usize = 32;
/// CryptoPro key meshing happens after every 1024 bytes (RFC 4357 §2.3.2).
const MESH_INTERVAL: usize = 1024;

/// The CryptoPro key meshing constant C (RFC 4357 §2.3.2).
const KEY_MESHING_C: [u8; 32] = [
    0x69, 0x00, 0x72, 0x22, 0x64, 0xC9, 0x04, 0x23, 0x8D, 0x3A, 0xDB, 0x96, 0x46, 0xE9, 0x2A, 0xC4,
    0x18, 0xFE, 0xAC, 0x94, 0x00, 0xED, 0x07, 0x12, 0xC0, 0x86, 0xDC, 0xC2, 0xEF, 0x4C, 0xA9, 0x2B,
];

/// Counter-mode constants of GOST 28147-89 §3.1: C2 is added to N3 modulo 2^32, C1 to N4
/// modulo 2^32 - 1.
const C2: u32 = 0x0101_0101;
const C1: u32 = 0x0101_0104;

/// The S-box of id-Gost28147-89-TestParamSet (1.2.643.2.2.31.0, RFC 4357 §11.2, as in
/// gost-engine's `Gost28147_TestParamSet`), rows in the `magma` crate's order (row 0
/// substitutes the lowest nibble; gost-engine lists k8 first). The crate's own `TestSbox` is
/// a different one: GOST R 34.11-94's test S-box.
enum TestParamSetSbox {}

impl magma::Sbox for TestParamSetSbox {
    const NAME: &'static str = "Gost28147TestParamSet";
    const SBOX: [[u8; 16]; 8] = [
        [
            0x4, 0x2, 0xF, 0x5, 0x9, 0x1, 0x0, 0x8, 0xE, 0x3, 0xB, 0xC, 0xD, 0x7, 0xA, 0x6,
        ],
        [
            0xC, 0x9, 0xF, 0xE, 0x8, 0x1, 0x3, 0xA, 0x2, 0x7, 0x4, 0xD, 0x6, 0x0, 0xB, 0x5,
        ],
        [
            0xD, 0x8, 0xE, 0xC, 0x7, 0x3, 0x9, 0xA, 0x1, 0x5, 0x2, 0x4, 0x6, 0xF, 0x0, 0xB,
        ],
        [
            0xE, 0x9, 0xB, 0x2, 0x5, 0xF, 0x7, 0x1, 0x0, 0xD, 0xC, 0x6, 0xA, 0x4, 0x3, 0x8,
        ],
        [
            0x3, 0xE, 0x5, 0x9, 0x6, 0x8, 0x0, 0xD, 0xA, 0xB, 0x7, 0xC, 0x2, 0x1, 0xF, 0x4,
        ],
        [
            0x8, 0xF, 0x6, 0xB, 0x1, 0x9, 0xC, 0x5, 0xD, 0x3, 0x7, 0xA, 0x0, 0xE, 0x2, 0x4,
        ],
        [
            0x9, 0xB, 0xC, 0x0, 0x3, 0x6, 0x7, 0x5, 0x4, 0x8, 0xE, 0xF, 0x1, 0xA, 0x2, 0xD,
        ],
        [
            0xC, 0x6, 0x5, 0x2, 0xB, 0x0, 0x9, 0xD, 0x3, 0xE, 0x7, 0xA, 0xF, 0x4, 0x1, 0x8,
        ],
    ];
}

/// The S-box of id-Gost28147-89-CryptoPro-D-ParamSet (1.2.643.2.2.31.4, RFC 4357 §11.2),
/// `magma` crate row order (from gost-engine's `Gost28147_CryptoProParamSetD`). The
/// crate's `Gost89CryptoProD` is in fact GOST R 34.11-94's CryptoPro S-box
/// (1.2.643.2.2.30.1): it fails the CryptoPro CSP vector `testcfb4` and OpenSSL.
enum CryptoProDParamSetSbox {}

impl magma::Sbox for CryptoProDParamSetSbox {
    const NAME: &'static str = "Gost28147CryptoProD";
    const SBOX: [[u8; 16]; 8] = [
        [
            0xF, 0xC, 0x2, 0xA, 0x6, 0x4, 0x5, 0x0, 0x7, 0x9, 0xE, 0xD, 0x1, 0xB, 0x8, 0x3,
        ],
        [
            0xB, 0x6, 0x3, 0x4, 0xC, 0xF, 0xE, 0x2, 0x7, 0xD, 0x8, 0x0, 0x5, 0xA, 0x9, 0x1,
        ],
        [
            0x1, 0xC, 0xB, 0x0, 0xF, 0xE, 0x6, 0x5, 0xA, 0xD, 0x4, 0x8, 0x9, 0x3, 0x7, 0x2,
        ],
        [
            0x1, 0x5, 0xE, 0xC, 0xA, 0x7, 0x0, 0xD, 0x6, 0x2, 0xB, 0x4, 0x9, 0x3, 0xF, 0x8,
        ],
        [
            0x0, 0xC, 0x8, 0x9, 0xD, 0x2, 0xA, 0xB, 0x7, 0x3, 0x6, 0x5, 0x4, 0xE, 0xF, 0x1,
        ],
        [
            0x8, 0x0, 0xF, 0x3, 0x2, 0x5, 0xE, 0xB, 0x1, 0xA, 0x4, 0x7, 0xC, 0x9, 0xD, 0x6,
        ],
        [
            0x3, 0x0, 0x6, 0xF, 0x1, 0xE, 0x9, 0x2, 0xD, 0x8, 0xC, 0x4, 0xB, 0xA, 0x5, 0x7,
        ],
        [
            0x1, 0xA, 0x6, 0x8, 0xF, 0xB, 0x0, 0x4, 0xC, 0x3, 0x5, 0x9, 0x7, 0xD, 0x2, 0xE,
        ],
    ];
}

/// A GOST 28147-89 parameter set: the S-box and whether CryptoPro key meshing applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gost28147ParamSet {
    /// id-Gost28147-89-TestParamSet, 1.2.643.2.2.31.0 (no key meshing, RFC 4357 §11.2).
    Test,
    /// id-Gost28147-89-CryptoPro-A-ParamSet, 1.2.643.2.2.31.1.
    CryptoProA,
    /// id-Gost28147-89-CryptoPro-B-ParamSet, 1.2.643.2.2.31.2.
    CryptoProB,
    /// id-Gost28147-89-CryptoPro-C-ParamSet, 1.2.643.2.2.31.3.
    CryptoProC,
    /// id-Gost28147-89-CryptoPro-D-ParamSet, 1.2.643.2.2.31.4.
    CryptoProD,
    /// id-tc26-gost-28147-param-Z, 1.2.643.7.1.2.5.1.1: the GOST R 34.12-2015 S-box, with
    /// CryptoPro key meshing (RFC 7836 §2.2 / gost-engine `gost89-cnt-12`).
    Tc26Z,
    /// The GOST R 34.11-94 test S-box (id-GostR3411-94-TestParamSet, 1.2.643.2.2.30.0), as
    /// used inside the 34.11-94 hash and by its RFC 5831 examples; no key meshing. Not a
    /// 28147 parameter set OID, so [`Gost28147ParamSet::from_oid_der`] never returns it.
    GostR3411_94Test,
}

impl Gost28147ParamSet {
    /// Every parameter set a `CKA_GOST28147_PARAMS` may name.
    pub const ALL: [Gost28147ParamSet; 6] = [
        Gost28147ParamSet::Test,
        Gost28147ParamSet::CryptoProA,
        Gost28147ParamSet::CryptoProB,
        Gost28147ParamSet::CryptoProC,
        Gost28147ParamSet::CryptoProD,
        Gost28147ParamSet::Tc26Z,
    ];

    /// The dotted OID.
    pub fn oid(self) -> &'static str {
        match self {
            Gost28147ParamSet::Test => "1.2.643.2.2.31.0",
            Gost28147ParamSet::CryptoProA => "1.2.643.2.2.31.1",
            Gost28147ParamSet::CryptoProB => "1.2.643.2.2.31.2",
            Gost28147ParamSet::CryptoProC => "1.2.643.2.2.31.3",
            Gost28147ParamSet::CryptoProD => "1.2.643.2.2.31.4",
            Gost28147ParamSet::Tc26Z => "1.2.643.7.1.2.5.1.1",
            Gost28147ParamSet::GostR3411_94Test => "1.2.643.2.2.30.0",
        }
    }

    /// The DER encoding of the OID, tag and length included (the `CKA_GOST28147_PARAMS`
    /// value).
    pub fn oid_der(self) -> &'static [u8] {
        match self {
            Gost28147ParamSet::Test => &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x00],
            Gost28147ParamSet::CryptoProA => {
                &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x01]
            }
            Gost28147ParamSet::CryptoProB => {
                &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x02]
            }
            Gost28147ParamSet::CryptoProC => {
                &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x03]
            }
            Gost28147ParamSet::CryptoProD => {
                &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x04]
            }
            Gost28147ParamSet::Tc26Z => &[
                0x06, 0x09, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x05, 0x01, 0x01,
            ],
            Gost28147ParamSet::GostR3411_94Test => {
                &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1E, 0x00]
            }
        }
    }

    /// The parameter set a `CKA_GOST28147_PARAMS` value (DER OID) names, if any.
    pub fn from_oid_der(der: &[u8]) -> Option<Gost28147ParamSet> {
        Self::ALL.into_iter().find(|p| p.oid_der() == der)
    }

    /// The parameter set of a dotted OID, if any.
    pub fn from_oid(dotted: &str) -> Option<Gost28147ParamSet> {
        Self::ALL.into_iter().find(|p| p.oid() == dotted)
    }

    /// Whether CFB, counter mode and the MAC re-key every 1024 bytes (CryptoPro key
    /// meshing): the parameter set's `keyMeshing` field (RFC 4357 §10.3, §11.2).
    pub fn key_meshing(self) -> bool {
        !matches!(
            self,
            Gost28147ParamSet::Test | Gost28147ParamSet::GostR3411_94Test
        )
    }
}

#[derive(Clone)]
enum Engine {
    Test(Box<Gost89<TestParamSetSbox>>),
    CryptoProA(Box<magma::Gost89CryptoProA>),
    CryptoProB(Box<magma::Gost89CryptoProB>),
    CryptoProC(Box<magma::Gost89CryptoProC>),
    CryptoProD(Box<Gost89<CryptoProDParamSetSbox>>),
    Tc26Z(Box<magma::Magma>),
    R3411Test(Box<magma::Gost89Test>),
}

macro_rules! with_engine {
    ($e:expr, $c:ident => $body:expr) => {
        match $e {
            Engine::Test($c) => $body,
            Engine::CryptoProA($c) => $body,
            Engine::CryptoProB($c) => $body,
            Engine::CryptoProC($c) => $body,
            Engine::CryptoProD($c) => $body,
            Engine::Tc26Z($c) => $body,
            Engine::R3411Test($c) => $body,
        }
    };
}

/// A GOST 28147-89 key bound to a parameter set.
#[derive(Clone)]
pub struct Gost28147Key {
    params: Gost28147ParamSet,
    /// The key bytes (for the MAC's own 16-round code and for key meshing).
    raw: Zeroizing<[u8; KEY_LEN]>,
    engine: Engine,
}

impl std::fmt::Debug for Gost28147Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gost28147Key")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Gost28147Key {
    /// A key from its 32 bytes (the `CKA_VALUE` byte string).
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] unless `key` is 32 bytes.
    pub fn new(key: &[u8], params: Gost28147ParamSet) -> Result<Gost28147Key, CryptoError> {
        if key.len() != KEY_LEN {
            return Err(CryptoError::KeySize);
        }
        // The crate reads each 32-bit key word big-endian; 28147 reads them little-endian.
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        for (dst, src) in k.chunks_exact_mut(4).zip(key.chunks_exact(4)) {
            dst.copy_from_slice(src);
            dst.reverse();
        }
        let k = (&*k).into();
        let engine = match params {
            Gost28147ParamSet::Test => Engine::Test(Box::new(Gost89::new(k))),
            Gost28147ParamSet::CryptoProA => Engine::CryptoProA(Box::new(Gost89::new(k))),
            Gost28147ParamSet::CryptoProB => Engine::CryptoProB(Box::new(Gost89::new(k))),
            Gost28147ParamSet::CryptoProC => Engine::CryptoProC(Box::new(Gost89::new(k))),
            Gost28147ParamSet::CryptoProD => Engine::CryptoProD(Box::new(Gost89::new(k))),
            Gost28147ParamSet::Tc26Z => Engine::Tc26Z(Box::new(Gost89::new(k))),
            Gost28147ParamSet::GostR3411_94Test => Engine::R3411Test(Box::new(Gost89::new(k))),
        };
        let mut raw = Zeroizing::new([0u8; KEY_LEN]);
        raw.copy_from_slice(key);
        Ok(Gost28147Key {
            params,
            raw,
            engine,
        })
    }

    /// The parameter set.
    pub fn params(&self) -> Gost28147ParamSet {
        self.params
    }

    /// Encrypts one 8-byte block in place (GOST 28147-89 §2, 32-З).
    pub fn encrypt_block(&self, block: &mut [u8]) {
        block.reverse();
        with_engine!(&self.engine, c => c.encrypt_block(block.into()));
        block.reverse();
    }

    /// Decrypts one 8-byte block in place (32-Р).
    pub fn decrypt_block(&self, block: &mut [u8]) {
        block.reverse();
        with_engine!(&self.engine, c => c.decrypt_block(block.into()));
        block.reverse();
    }

    /// The key as GOST 28147-89's eight little-endian 32-bit words K1..K8.
    fn le_words(&self) -> [u32; 8] {
        let mut w = [0u32; 8];
        for (dst, src) in w.iter_mut().zip(self.raw.chunks_exact(4)) {
            *dst = u32::from_le_bytes(src.try_into().expect("4 bytes"));
        }
        w
    }

    /// The S-box rows of this parameter set, `magma` crate order.
    fn sbox(&self) -> [[u8; 16]; 8] {
        fn of<S: magma::Sbox>(_: &Gost89<S>) -> [[u8; 16]; 8] {
            S::SBOX
        }
        with_engine!(&self.engine, c => of(c))
    }

    /// CryptoPro key meshing (RFC 4357 §2.3.2): K' = D_K(C), then the IV (if any) becomes
    /// E_K'(IV).
    fn mesh(&mut self, iv: Option<&mut [u8; BLOCK]>) {
        let mut next = Zeroizing::new(KEY_MESHING_C);
        for block in next.chunks_exact_mut(BLOCK) {
            self.decrypt_block(block);
        }
        *self = Gost28147Key::new(&next[..], self.params).expect("32-byte key");
        if let Some(iv) = iv {
            self.encrypt_block(iv);
        }
    }
}

// --- ECB -------------------------------------------------------------------------------

struct EcbCore {
    key: Gost28147Key,
    direction: Direction,
}

impl BlockCore for EcbCore {
    fn block_len(&self) -> usize {
        BLOCK
    }
    fn process(&mut self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        self.process_detached(blocks)
    }
    fn process_detached(&self, blocks: &mut [u8]) -> Result<(), CryptoError> {
        for block in blocks.chunks_exact_mut(BLOCK) {
            match self.direction {
                Direction::Encrypt => self.key.encrypt_block(block),
                Direction::Decrypt => self.key.decrypt_block(block),
            }
        }
        Ok(())
    }
}

/// GOST 28147-89 electronic codebook ("simple replacement", `CKM_GOST28147_ECB`): whole
/// blocks only, no key meshing (RFC 4357 §2.3 applies it to CFB, CNT and the MAC).
#[derive(Debug)]
pub struct Gost28147Ecb(BlockStream<EcbCore>);

impl Gost28147Ecb {
    /// ECB with `key` in `direction`.
    pub fn new(key: &Gost28147Key, direction: Direction) -> Gost28147Ecb {
        Gost28147Ecb(BlockStream::new(
            EcbCore {
                key: key.clone(),
                direction,
            },
            direction,
            false,
        ))
    }
}

delegate_streaming_cipher!(Gost28147Ecb);

// --- Stream modes: counter and CFB -------------------------------------------------------

/// State shared by the two 28147 stream modes: the key (re-keyed by meshing), the 8-byte
/// register, the current gamma block and the meshing counter.
struct StreamState {
    key: Gost28147Key,
    register: Zeroizing<[u8; BLOCK]>,
    gamma: Zeroizing<[u8; BLOCK]>,
    /// Bytes of `gamma` already used (BLOCK = none left).
    gamma_used: usize,
    /// Bytes enciphered under the current key, as gost-engine counts them (0..=1024).
    count: usize,
}

impl StreamState {
    fn new(key: &Gost28147Key, iv: &[u8]) -> Result<StreamState, CryptoError> {
        let register: [u8; BLOCK] = iv
            .try_into()
            .map_err(|_| CryptoError::InvalidParameter("GOST 28147-89 IV must be 8 bytes"))?;
        Ok(StreamState {
            key: key.clone(),
            register: Zeroizing::new(register),
            gamma: Zeroizing::new([0; BLOCK]),
            gamma_used: BLOCK,
            count: 0,
        })
    }

    /// Meshes the key (and encrypts the register with the new key) when 1024 bytes have
    /// been processed under the current one.
    fn mesh_if_due(&mut self) {
        if self.key.params.key_meshing() && self.count == MESH_INTERVAL {
            self.key.mesh(Some(&mut self.register));
        }
    }

    fn counted(&mut self) {
        self.count = self.count % MESH_INTERVAL + BLOCK;
    }
}

/// GOST 28147-89 counter mode ("gamma", §3; `CKM_GOST28147` with a counter IV, OpenSSL
/// `gost89-cnt`): the IV is encrypted once into (N3, N4); each block adds C2 to N3 modulo
/// 2^32 and C1 to N4 modulo 2^32 - 1 and encrypts (N3, N4) into the gamma. CryptoPro key
/// meshing every 1024 bytes for the parameter sets that have it.
#[derive(Debug)]
pub struct Gost28147Cnt(StreamOp<CntCore>);

struct CntCore(StreamState);

impl Gost28147Cnt {
    /// Counter mode with `key` and the 8-byte `iv` (synchro-message S).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] unless `iv` is 8 bytes.
    pub fn new(key: &Gost28147Key, iv: &[u8]) -> Result<Gost28147Cnt, CryptoError> {
        Ok(Gost28147Cnt(StreamOp::new(CntCore(StreamState::new(
            key, iv,
        )?))))
    }
}

delegate_streaming_cipher!(Gost28147Cnt);

impl CntCore {
    fn next_gamma(&mut self) {
        let s = &mut self.0;
        s.mesh_if_due();
        if s.count == 0 {
            // First block: (N1, N2) = E(S).
            s.key.encrypt_block(&mut s.register[..]);
        }
        let n3 = u32::from_le_bytes(s.register[..4].try_into().expect("4 bytes"));
        let n4 = u32::from_le_bytes(s.register[4..].try_into().expect("4 bytes"));
        let n3 = n3.wrapping_add(C2);
        let (sum, carry) = n4.overflowing_add(C1);
        // Addition modulo 2^32 - 1: a carry out of 2^32 comes back in as +1.
        let n4 = sum.wrapping_add(u32::from(carry));
        s.register[..4].copy_from_slice(&n3.to_le_bytes());
        s.register[4..].copy_from_slice(&n4.to_le_bytes());
        s.gamma.copy_from_slice(&s.register[..]);
        s.key.encrypt_block(&mut s.gamma[..]);
        s.gamma_used = 0;
        s.counted();
    }
}

impl StreamCore for CntCore {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), CryptoError> {
        for b in data.iter_mut() {
            if self.0.gamma_used == BLOCK {
                self.next_gamma();
            }
            *b ^= self.0.gamma[self.0.gamma_used];
            self.0.gamma_used += 1;
        }
        Ok(())
    }
}

/// GOST 28147-89 cipher feedback ("gamma with feedback", §4; OpenSSL `gost89`): gamma =
/// E(previous ciphertext block), first E(IV). CryptoPro key meshing every 1024 bytes for the
/// parameter sets that have it. Any length; a partial last block is fine.
#[derive(Debug)]
pub struct Gost28147Cfb(StreamOp<CfbCore>);

struct CfbCore {
    state: StreamState,
    direction: Direction,
    /// The ciphertext bytes of the current block (the next register).
    feedback: Zeroizing<[u8; BLOCK]>,
}

impl Gost28147Cfb {
    /// CFB with `key`, the 8-byte `iv`, in `direction`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] unless `iv` is 8 bytes.
    pub fn new(
        key: &Gost28147Key,
        iv: &[u8],
        direction: Direction,
    ) -> Result<Gost28147Cfb, CryptoError> {
        Ok(Gost28147Cfb(StreamOp::new(CfbCore {
            state: StreamState::new(key, iv)?,
            direction,
            feedback: Zeroizing::new([0; BLOCK]),
        })))
    }
}

delegate_streaming_cipher!(Gost28147Cfb);

impl StreamCore for CfbCore {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), CryptoError> {
        for b in data.iter_mut() {
            let s = &mut self.state;
            if s.gamma_used == BLOCK {
                s.mesh_if_due();
                s.gamma.copy_from_slice(&s.register[..]);
                s.key.encrypt_block(&mut s.gamma[..]);
                s.gamma_used = 0;
                s.counted();
            }
            let input = *b;
            *b ^= s.gamma[s.gamma_used];
            let c = match self.direction {
                Direction::Encrypt => *b,
                Direction::Decrypt => input,
            };
            self.feedback[s.gamma_used] = c;
            s.gamma_used += 1;
            if s.gamma_used == BLOCK {
                s.register.copy_from_slice(&self.feedback[..]);
            }
        }
        Ok(())
    }
}

/// One-shot CFB encryption without meshing concerns (≤ 1024 bytes), used by KDF_4357.
pub(crate) fn cfb_encrypt(key: &Gost28147Key, iv: &[u8; BLOCK], data: &mut [u8]) {
    let mut core = CfbCore {
        state: StreamState::new(key, iv).expect("8-byte IV"),
        direction: Direction::Encrypt,
        feedback: Zeroizing::new([0; BLOCK]),
    };
    core.apply(data).expect("CFB cannot fail");
}

// --- MAC -------------------------------------------------------------------------------

/// The 16-round transform of the MAC (GOST 28147-89 §5, 16-З): the first two passes of the
/// key schedule, no final swap; words little-endian. Built on the parameter set's S-box
/// taken from the `magma` crate (the crate does not expose 16 rounds).
fn mac_rounds(sbox: &[[u8; 16]; 8], key_words: &[u32; 8], state: &mut [u8; BLOCK]) {
    let f = |x: u32| -> u32 {
        let mut y = 0u32;
        for (i, row) in sbox.iter().enumerate() {
            let nibble = (x >> (4 * i)) & 0xF;
            y |= u32::from(row[nibble as usize]) << (4 * i);
        }
        y.rotate_left(11)
    };
    let mut n1 = u32::from_le_bytes(state[..4].try_into().expect("4 bytes"));
    let mut n2 = u32::from_le_bytes(state[4..].try_into().expect("4 bytes"));
    for _ in 0..2 {
        for pair in key_words.chunks_exact(2) {
            n2 ^= f(n1.wrapping_add(pair[0]));
            n1 ^= f(n2.wrapping_add(pair[1]));
        }
    }
    state[..4].copy_from_slice(&n1.to_le_bytes());
    state[4..].copy_from_slice(&n2.to_le_bytes());
}

/// The GOST 28147-89 MAC (imitovstavka, §5; `CKM_GOST28147_MAC`, OpenSSL `gost-mac`), with
/// CryptoPro key meshing every 1024 bytes for the parameter sets that have it. The MAC is
/// the first `mac_len` bytes of the final state (4 by default). As CryptoPro and
/// gost-engine do: the last partial block is zero-padded, and a message of at most one block
/// gets a second, all-zero block.
pub struct Gost28147Mac {
    key: Gost28147Key,
    key_words: Zeroizing<[u32; 8]>,
    sbox: [[u8; 16]; 8],
    state: Zeroizing<[u8; BLOCK]>,
    /// The not yet processed bytes (up to a whole block: the last block is only processed
    /// when more data comes or at the end).
    pending: Zeroizing<[u8; BLOCK]>,
    pending_len: usize,
    /// Bytes processed under the current key (0..=1024), as gost-engine counts them.
    count: usize,
    blocks: u64,
    mac_len: usize,
}

impl std::fmt::Debug for Gost28147Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gost28147Mac")
            .field("mac_len", &self.mac_len)
            .finish_non_exhaustive()
    }
}

/// The default MAC length of GOST 28147-89 (32 bits).
pub const GOST28147_MAC_LEN: usize = 4;

impl Gost28147Mac {
    /// A MAC with `key`, initial state `iv` (8 bytes; `None` = zero) and output length
    /// `mac_len` (1..=8 bytes; PKCS#11 and OpenSSL use 4).
    ///
    /// # Errors
    /// [`CryptoError::InvalidParameter`] for an IV that is not 8 bytes or a `mac_len` out
    /// of range.
    pub fn new(
        key: &Gost28147Key,
        iv: Option<&[u8]>,
        mac_len: usize,
    ) -> Result<Gost28147Mac, CryptoError> {
        if !(1..=BLOCK).contains(&mac_len) {
            return Err(CryptoError::InvalidParameter(
                "GOST 28147-89 MAC length out of range",
            ));
        }
        let state: [u8; BLOCK] = match iv {
            Some(iv) => iv.try_into().map_err(|_| {
                CryptoError::InvalidParameter("GOST 28147-89 MAC IV must be 8 bytes")
            })?,
            None => [0; BLOCK],
        };
        let mut mac = Gost28147Mac {
            key: key.clone(),
            key_words: Zeroizing::new([0; 8]),
            sbox: key.sbox(),
            state: Zeroizing::new(state),
            pending: Zeroizing::new([0; BLOCK]),
            pending_len: 0,
            count: 0,
            blocks: 0,
            mac_len,
        };
        mac.load_key_words();
        Ok(mac)
    }

    fn load_key_words(&mut self) {
        *self.key_words = self.key.le_words();
    }

    fn process(&mut self, block: &[u8; BLOCK]) {
        if self.key.params.key_meshing() && self.count == MESH_INTERVAL {
            // The MAC state is not an IV here: only the key changes (gost-engine
            // `mac_block_mesh`, as CryptoPro does).
            self.key.mesh(None);
            self.load_key_words();
        }
        xor_in_place(&mut self.state[..], block);
        mac_rounds(&self.sbox, &self.key_words, &mut self.state);
        self.count = self.count % MESH_INTERVAL + BLOCK;
        self.blocks += 1;
    }

    /// Feeds more data.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.pending_len == BLOCK {
                let block = *self.pending;
                self.process(&block);
                self.pending_len = 0;
            }
            let take = (BLOCK - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
        }
    }

    /// The MAC: the first `mac_len` bytes of the final state.
    pub fn finalize(mut self) -> Vec<u8> {
        if self.pending_len > 0 {
            let mut last = [0u8; BLOCK];
            last[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
            self.process(&last);
            last.zeroize();
            if self.blocks == 1 {
                self.process(&[0u8; BLOCK]);
            }
        }
        self.state[..self.mac_len].to_vec()
    }
}

impl MacOperation for Gost28147Mac {
    fn update(&mut self, data: &[u8]) {
        Gost28147Mac::update(self, data);
    }
    fn output_len(&self) -> usize {
        self.mac_len
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        (*self).finalize()
    }
}

// --- Key wrap (RFC 4357 §6) -----------------------------------------------------------

/// Length of a wrapped key: UKM (8) ‖ CEK_ENC (32) ‖ CEK_MAC (4).
pub const GOST28147_WRAPPED_LEN: usize = 44;

fn wrap_with(kek: &Gost28147Key, ukm: &[u8; 8], cek: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if cek.len() != KEY_LEN {
        return Err(CryptoError::KeySize);
    }
    let mut out = Vec::with_capacity(GOST28147_WRAPPED_LEN);
    out.extend_from_slice(ukm);
    let mut enc = Zeroizing::new([0u8; KEY_LEN]);
    enc.copy_from_slice(cek);
    for block in enc.chunks_exact_mut(BLOCK) {
        kek.encrypt_block(block);
    }
    out.extend_from_slice(&enc[..]);
    let mut mac = Gost28147Mac::new(kek, Some(ukm), GOST28147_MAC_LEN)?;
    mac.update(cek);
    out.extend_from_slice(&mac.finalize());
    Ok(out)
}

fn unwrap_with(kek: &Gost28147Key, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let ukm: [u8; 8] = wrapped[..8].try_into().expect("checked length");
    let mut cek = Zeroizing::new(wrapped[8..40].to_vec());
    for block in cek.chunks_exact_mut(BLOCK) {
        kek.decrypt_block(block);
    }
    let mut mac = Gost28147Mac::new(kek, Some(&ukm), GOST28147_MAC_LEN)?;
    mac.update(&cek);
    aws_lc_rs::constant_time::verify_slices_are_equal(&mac.finalize(), &wrapped[40..])
        .map_err(|_| CryptoError::EncryptedData)?;
    Ok(cek)
}

fn check_wrapped(wrapped: &[u8]) -> Result<(), CryptoError> {
    if wrapped.len() == GOST28147_WRAPPED_LEN {
        Ok(())
    } else {
        Err(CryptoError::EncryptedDataLength)
    }
}

/// GOST 28147-89 key wrap (RFC 4357 §6.1): `UKM ‖ ECB_KEK(CEK) ‖ MAC_KEK,IV=UKM(CEK)`,
/// 44 bytes.
///
/// # Errors
/// [`CryptoError::KeySize`] unless `cek` is 32 bytes.
pub fn gost28147_key_wrap(
    kek: &Gost28147Key,
    ukm: &[u8; 8],
    cek: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    wrap_with(kek, ukm, cek)
}

/// GOST 28147-89 key unwrap (RFC 4357 §6.2) of `UKM ‖ CEK_ENC ‖ CEK_MAC`.
///
/// # Errors
/// [`CryptoError::EncryptedDataLength`] unless `wrapped` is 44 bytes,
/// [`CryptoError::EncryptedData`] when the MAC does not match.
pub fn gost28147_key_unwrap(
    kek: &Gost28147Key,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_wrapped(wrapped)?;
    unwrap_with(kek, wrapped)
}

/// CryptoPro key wrap (RFC 4357 §6.3): the KEK is first diversified with the UKM
/// ([`super::kdf_4357`], §6.5), then wrapped as in §6.1. 44 bytes.
///
/// # Errors
/// [`CryptoError::KeySize`] unless `cek` is 32 bytes.
pub fn cryptopro_key_wrap(
    kek: &[u8],
    params: Gost28147ParamSet,
    ukm: &[u8; 8],
    cek: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let diversified = super::kdf_4357(kek, ukm, params)?;
    wrap_with(&Gost28147Key::new(&diversified[..], params)?, ukm, cek)
}

/// CryptoPro key unwrap (RFC 4357 §6.4).
///
/// # Errors
/// [`CryptoError::EncryptedDataLength`] unless `wrapped` is 44 bytes,
/// [`CryptoError::EncryptedData`] when the MAC does not match.
pub fn cryptopro_key_unwrap(
    kek: &[u8],
    params: Gost28147ParamSet,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_wrapped(wrapped)?;
    let ukm: [u8; 8] = wrapped[..8].try_into().expect("checked length");
    let diversified = super::kdf_4357(kek, &ukm, params)?;
    unwrap_with(&Gost28147Key::new(&diversified[..], params)?, wrapped)
}
