//! HMAC with Streebog (GOST R 34.11-2012): HMAC_GOSTR3411_2012_256 / _512 of RFC 7836 §4.1.1
//! (`CKM_GOSTR3411_12_256_HMAC` / `_512_HMAC`), the `hmac` crate over this crate's own
//! Streebog (which gets the `digest` traits here).

use hmac::digest::consts::{U32, U64};
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::{FixedOutput, HashMarker, Output, OutputSizeUser, Update};
use hmac::{Mac, SimpleHmac};

use super::MacOperation;
use crate::streebog::Streebog;

/// Streebog-256 as a `digest` hash (block 64 bytes, output 32).
#[derive(Clone)]
struct Streebog256(Streebog);

/// Streebog-512 as a `digest` hash (block 64 bytes, output 64).
#[derive(Clone)]
struct Streebog512(Streebog);

macro_rules! digest_adapter {
    ($t:ident, $new:ident, $out:ty) => {
        impl Default for $t {
            fn default() -> Self {
                $t(Streebog::$new())
            }
        }
        impl HashMarker for $t {}
        impl BlockSizeUser for $t {
            type BlockSize = U64;
        }
        impl OutputSizeUser for $t {
            type OutputSize = $out;
        }
        impl Update for $t {
            fn update(&mut self, data: &[u8]) {
                self.0.update(data);
            }
        }
        impl FixedOutput for $t {
            fn finalize_into(self, out: &mut Output<Self>) {
                out.copy_from_slice(&self.0.finalize());
            }
        }
    };
}

digest_adapter!(Streebog256, new_256, U32);
digest_adapter!(Streebog512, new_512, U64);

/// The Streebog output size of an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreebogSize {
    /// Streebog-256: 32-byte MAC.
    S256,
    /// Streebog-512: 64-byte MAC.
    S512,
}

#[derive(Clone)]
enum Inner {
    S256(SimpleHmac<Streebog256>),
    S512(SimpleHmac<Streebog512>),
}

/// HMAC_GOSTR3411_2012_256 / _512 (RFC 7836 §4.1.1, R 50.1.113-2016 §4.1.1).
#[derive(Clone)]
pub struct HmacStreebog {
    inner: Inner,
}

impl std::fmt::Debug for HmacStreebog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacStreebog").finish_non_exhaustive()
    }
}

impl HmacStreebog {
    /// An HMAC with `key` (any length; keys longer than the 64-byte block are hashed first).
    pub fn new(size: StreebogSize, key: &[u8]) -> HmacStreebog {
        let inner = match size {
            StreebogSize::S256 => Inner::S256(
                <SimpleHmac<Streebog256> as Mac>::new_from_slice(key).expect("any key length"),
            ),
            StreebogSize::S512 => Inner::S512(
                <SimpleHmac<Streebog512> as Mac>::new_from_slice(key).expect("any key length"),
            ),
        };
        HmacStreebog { inner }
    }

    /// One-shot HMAC of `data`.
    pub fn mac(size: StreebogSize, key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut h = HmacStreebog::new(size, key);
        h.update(data);
        h.finalize()
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::S256(m) => Mac::update(m, data),
            Inner::S512(m) => Mac::update(m, data),
        }
    }

    /// The MAC length: 32 or 64 bytes.
    pub fn mac_len(&self) -> usize {
        match self.inner {
            Inner::S256(_) => 32,
            Inner::S512(_) => 64,
        }
    }

    /// The MAC.
    pub fn finalize(self) -> Vec<u8> {
        match self.inner {
            Inner::S256(m) => m.finalize().into_bytes().to_vec(),
            Inner::S512(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

impl MacOperation for HmacStreebog {
    fn update(&mut self, data: &[u8]) {
        HmacStreebog::update(self, data);
    }
    fn output_len(&self) -> usize {
        HmacStreebog::mac_len(self)
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        (*self).finalize()
    }
}
