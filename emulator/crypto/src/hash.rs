//! Message digests: SHA-1/SHA-2 via aws-lc-rs, Streebog in-house ([`crate::streebog`]),
//! GOST R 34.11-94 via RustCrypto.

use aws_lc_rs::digest as lc;
use gost94::{Gost94CryptoPro, Gost94Test};
use sha2::Digest as _;

use crate::streebog::Streebog;

/// A hash algorithm the emulator can compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (FIPS 180-4), 20 bytes.
    Sha1,
    /// SHA-224, 28 bytes.
    Sha224,
    /// SHA-256, 32 bytes.
    Sha256,
    /// SHA-384, 48 bytes.
    Sha384,
    /// SHA-512, 64 bytes.
    Sha512,
    /// GOST R 34.11-2012 (Streebog), 32 bytes. Output bytes in the OpenSSL/RFC 6986
    /// byte order (the standard prints them reversed, as an integer).
    Streebog256,
    /// GOST R 34.11-2012 (Streebog), 64 bytes.
    Streebog512,
    /// GOST R 34.11-94 with the CryptoPro S-box (OID 1.2.643.2.2.30.1), 32 bytes.
    Gost94CryptoPro,
    /// GOST R 34.11-94 with the test S-box (OID 1.2.643.2.2.30.0), 32 bytes. This is also
    /// the Kazakh GOST 34.311-95 hash.
    Gost94Test,
}

// DER DigestInfo prefixes, RFC 8017 §9.2 note 1.
const SHA1_PREFIX: &[u8] = &[
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
];
const SHA224_PREFIX: &[u8] = &[
    0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05,
    0x00, 0x04, 0x1c,
];
const SHA256_PREFIX: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_PREFIX: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_PREFIX: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

impl HashAlg {
    /// All algorithms, in declaration order.
    pub const ALL: [HashAlg; 9] = [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Streebog256,
        HashAlg::Streebog512,
        HashAlg::Gost94CryptoPro,
        HashAlg::Gost94Test,
    ];

    /// Length of the digest in bytes.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256
            | HashAlg::Streebog256
            | HashAlg::Gost94CryptoPro
            | HashAlg::Gost94Test => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 | HashAlg::Streebog512 => 64,
        }
    }

    /// The DER prefix of a PKCS#1 `DigestInfo` for this hash (RFC 8017 §9.2, note 1):
    /// `prefix ‖ digest` is the complete `DigestInfo`. `None` for the GOST hashes, which
    /// have no PKCS#1 encoding.
    #[must_use]
    pub fn digest_info_prefix(self) -> Option<&'static [u8]> {
        match self {
            HashAlg::Sha1 => Some(SHA1_PREFIX),
            HashAlg::Sha224 => Some(SHA224_PREFIX),
            HashAlg::Sha256 => Some(SHA256_PREFIX),
            HashAlg::Sha384 => Some(SHA384_PREFIX),
            HashAlg::Sha512 => Some(SHA512_PREFIX),
            _ => None,
        }
    }

    /// Recognises a complete DER `DigestInfo` for one of the SHA hashes and returns the
    /// algorithm and the digest inside it. Only the exact RFC 8017 encodings (with the
    /// explicit NULL parameters) are recognised; anything else is `None`.
    #[must_use]
    pub fn from_digest_info(data: &[u8]) -> Option<(HashAlg, &[u8])> {
        [
            HashAlg::Sha1,
            HashAlg::Sha224,
            HashAlg::Sha256,
            HashAlg::Sha384,
            HashAlg::Sha512,
        ]
        .into_iter()
        .find_map(|alg| {
            let prefix = alg.digest_info_prefix()?;
            (data.len() == prefix.len() + alg.output_len() && data.starts_with(prefix))
                .then(|| (alg, &data[prefix.len()..]))
        })
    }

    /// The aws-lc-rs algorithm for the SHA family, `None` otherwise.
    pub(crate) fn lc_algorithm(self) -> Option<&'static lc::Algorithm> {
        match self {
            HashAlg::Sha1 => Some(&lc::SHA1_FOR_LEGACY_USE_ONLY),
            HashAlg::Sha224 => Some(&lc::SHA224),
            HashAlg::Sha256 => Some(&lc::SHA256),
            HashAlg::Sha384 => Some(&lc::SHA384),
            HashAlg::Sha512 => Some(&lc::SHA512),
            _ => None,
        }
    }

    /// A boxed RustCrypto digest for the `rsa` crate's padding schemes (SHA family only).
    pub(crate) fn dyn_digest(self) -> Option<Box<dyn sha2::digest::DynDigest + Send + Sync>> {
        Some(match self {
            HashAlg::Sha1 => Box::new(sha1::Sha1::new()),
            HashAlg::Sha224 => Box::new(sha2::Sha224::new()),
            HashAlg::Sha256 => Box::new(sha2::Sha256::new()),
            HashAlg::Sha384 => Box::new(sha2::Sha384::new()),
            HashAlg::Sha512 => Box::new(sha2::Sha512::new()),
            _ => return None,
        })
    }
}

#[derive(Clone)]
enum Inner {
    Lc(lc::Context),
    Streebog(Streebog),
    Gost94CryptoPro(Gost94CryptoPro),
    Gost94Test(Gost94Test),
}

/// An incremental hash computation. Cloning forks the state (useful for
/// `C_DigestKey`-style or "digest so far" operations).
#[derive(Clone)]
pub struct Hasher {
    alg: HashAlg,
    inner: Inner,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hasher")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Hasher {
    /// Starts a new hash computation.
    #[must_use]
    pub fn new(alg: HashAlg) -> Self {
        let inner = match alg {
            HashAlg::Streebog256 => Inner::Streebog(Streebog::new_256()),
            HashAlg::Streebog512 => Inner::Streebog(Streebog::new_512()),
            HashAlg::Gost94CryptoPro => Inner::Gost94CryptoPro(Gost94CryptoPro::new()),
            HashAlg::Gost94Test => Inner::Gost94Test(Gost94Test::new()),
            HashAlg::Sha1 => Inner::Lc(lc::Context::new(&lc::SHA1_FOR_LEGACY_USE_ONLY)),
            HashAlg::Sha224 => Inner::Lc(lc::Context::new(&lc::SHA224)),
            HashAlg::Sha256 => Inner::Lc(lc::Context::new(&lc::SHA256)),
            HashAlg::Sha384 => Inner::Lc(lc::Context::new(&lc::SHA384)),
            HashAlg::Sha512 => Inner::Lc(lc::Context::new(&lc::SHA512)),
        };
        Hasher { alg, inner }
    }

    /// Feeds more data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            Inner::Lc(c) => c.update(data),
            Inner::Streebog(h) => h.update(data),
            Inner::Gost94CryptoPro(h) => h.update(data),
            Inner::Gost94Test(h) => h.update(data),
        }
    }

    /// Finishes and returns the digest ([`HashAlg::output_len`] bytes).
    #[must_use]
    pub fn finalize(self) -> Vec<u8> {
        match self.inner {
            Inner::Lc(c) => c.finish().as_ref().to_vec(),
            Inner::Streebog(h) => h.finalize(),
            Inner::Gost94CryptoPro(h) => h.finalize().to_vec(),
            Inner::Gost94Test(h) => h.finalize().to_vec(),
        }
    }

    /// The algorithm this hasher computes.
    #[must_use]
    pub fn alg(&self) -> HashAlg {
        self.alg
    }
}

/// One-shot digest of `data`.
#[must_use]
pub fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    match alg.lc_algorithm() {
        Some(a) => lc::digest(a, data).as_ref().to_vec(),
        None => {
            let mut h = Hasher::new(alg);
            h.update(data);
            h.finalize()
        }
    }
}
