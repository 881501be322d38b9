//! RSA: aws-lc-rs for the fast paths, the `rsa` crate for everything else.

use std::fmt;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa as lc_rsa;
use aws_lc_rs::signature as lc_sig;
use rand_core::OsRng;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{pss, strip_leading_zeros, CryptoError, HashAlg};

/// Smallest modulus accepted on import.
const MIN_IMPORT_BITS: usize = 512;
/// Largest modulus for private keys (the `rsa` crate's limit, which the slow paths need).
const MAX_PRIVATE_BITS: usize = 4096;
/// Largest modulus for public keys.
const MAX_PUBLIC_BITS: usize = 8192;
/// Smallest modulus aws-lc-rs accepts for private-key objects.
const LC_MIN_BITS: usize = 2048;
/// Largest public exponent (33 bits) both backends accept.
const MAX_PUBLIC_EXPONENT: u64 = (1 << 33) - 1;

fn map_rsa_err(e: rsa::Error) -> CryptoError {
    match e {
        rsa::Error::Verification => CryptoError::InvalidSignature,
        rsa::Error::MessageTooLong => CryptoError::DataLength,
        rsa::Error::Decryption => CryptoError::EncryptedData,
        rsa::Error::InvalidPaddingScheme => CryptoError::Unsupported("RSA padding parameters"),
        other => CryptoError::Backend(other.to_string()),
    }
}

fn biguint_bytes(x: &BigUint) -> Vec<u8> {
    x.to_bytes_be()
}

/// Validates a public exponent: odd, at least 3, at most 33 bits. Returns it without
/// leading zeros.
fn check_exponent(e: &[u8]) -> Result<BigUint, CryptoError> {
    let e = strip_leading_zeros(e);
    if e.is_empty() || e.len() > 5 {
        return Err(CryptoError::InvalidKey(
            "public exponent out of range".into(),
        ));
    }
    let v = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if v < 3 || v % 2 == 0 || v > MAX_PUBLIC_EXPONENT {
        return Err(CryptoError::InvalidKey(
            "public exponent must be odd, >= 3 and at most 33 bits".into(),
        ));
    }
    Ok(BigUint::from(v))
}

// ---------------------------------------------------------------------------------------
// Public key
// ---------------------------------------------------------------------------------------

struct PubInner {
    /// The `rsa` crate key: raw public operation, small-key fallbacks.
    rc: rsa::RsaPublicKey,
    /// PKCS#1 `RSAPublicKey` DER, for aws-lc-rs verification.
    pkcs1_der: Vec<u8>,
    bits: usize,
    size: usize,
}

/// An RSA public key `(n, e)`.
#[derive(Clone)]
pub struct RsaPublicKey(Arc<PubInner>);

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPublicKey")
            .field("bits", &self.0.bits)
            .field("e", &self.0.rc.e().to_string())
            .finish_non_exhaustive()
    }
}

impl RsaPublicKey {
    fn from_rc(rc: rsa::RsaPublicKey) -> Result<Self, CryptoError> {
        let pkcs1_der = rc
            .to_pkcs1_der()
            .map_err(|e| CryptoError::Backend(e.to_string()))?
            .as_bytes()
            .to_vec();
        let bits = rc.n().bits();
        let size = rc.size();
        Ok(RsaPublicKey(Arc::new(PubInner {
            rc,
            pkcs1_der,
            bits,
            size,
        })))
    }

    /// Builds a public key from the modulus and public exponent (big-endian, leading
    /// zeros allowed).
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] if the modulus is not 512..=8192 bits,
    /// [`CryptoError::InvalidKey`] for an even modulus or a bad exponent.
    pub fn from_components(n: &[u8], e: &[u8]) -> Result<Self, CryptoError> {
        let n = strip_leading_zeros(n);
        let odd = n.last().is_some_and(|b| b & 1 == 1);
        let n = BigUint::from_bytes_be(n);
        let bits = n.bits();
        if !(MIN_IMPORT_BITS..=MAX_PUBLIC_BITS).contains(&bits) {
            return Err(CryptoError::KeySize);
        }
        if !odd {
            return Err(CryptoError::InvalidKey("modulus is even".into()));
        }
        let e = check_exponent(e)?;
        let rc = rsa::RsaPublicKey::new_with_max_size(n, e, MAX_PUBLIC_BITS)
            .map_err(|err| CryptoError::InvalidKey(err.to_string()))?;
        Self::from_rc(rc)
    }

    /// The modulus `n`, big-endian without leading zeros.
    #[must_use]
    pub fn modulus(&self) -> Vec<u8> {
        biguint_bytes(self.0.rc.n())
    }

    /// The public exponent `e`, big-endian without leading zeros.
    #[must_use]
    pub fn public_exponent(&self) -> Vec<u8> {
        biguint_bytes(self.0.rc.e())
    }

    /// Modulus length in bytes (`k`): the size of signatures and ciphertexts.
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.0.size
    }

    /// Modulus length in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.0.bits
    }

    /// The key as a DER `SubjectPublicKeyInfo` (rsaEncryption).
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if encoding fails.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.0
            .rc
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|e| CryptoError::Backend(e.to_string()))
    }

    /// The key as a DER PKCS#1 `RSAPublicKey`.
    #[must_use]
    pub fn to_pkcs1_der(&self) -> Vec<u8> {
        self.0.pkcs1_der.clone()
    }

    /// The RSA public operation on a `k`-byte (or shorter) big-endian input `< n`;
    /// output is `k` bytes. `DataLength` if too long, `InvalidData` if not below `n`.
    fn public_op(&self, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if data.len() > self.0.size {
            return Err(CryptoError::DataLength);
        }
        let m = BigUint::from_bytes_be(data);
        if &m >= self.0.rc.n() {
            return Err(CryptoError::InvalidData);
        }
        let c = rsa::hazmat::rsa_encrypt(&self.0.rc, &m).map_err(map_rsa_err)?;
        Ok(Zeroizing::new(to_k_bytes(&c, self.0.size)))
    }

    /// Raw RSA (`CKM_RSA_X_509`) public operation: `data^e mod n`.
    ///
    /// `data` may be shorter than `k` bytes (it is read as a big-endian integer); the
    /// output is always `k` bytes.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] if `data` is longer than `k` bytes,
    /// [`CryptoError::InvalidData`] if it is numerically not below `n`.
    pub fn raw_public(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.public_op(data).map(|z| z.to_vec())
    }

    /// Recovers the encoded message from a signature; maps range errors to signature
    /// errors.
    fn open_signature(&self, sig: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sig.len() != self.0.size {
            return Err(CryptoError::SignatureLength);
        }
        self.public_op(sig).map_err(|e| match e {
            CryptoError::DataLength | CryptoError::InvalidData => CryptoError::InvalidSignature,
            other => other,
        })
    }

    /// Verifies a PKCS#1 v1.5 signature.
    ///
    /// With `hash = Some(h)`, `digest` is `h`'s output and the signature must cover the
    /// `DigestInfo` for it. With `hash = None` (`CKM_RSA_PKCS`), `digest` is the raw data
    /// that was padded (typically a complete `DigestInfo`, but any data of at most
    /// `k - 11` bytes is accepted).
    ///
    /// # Errors
    /// [`CryptoError::SignatureLength`] if `sig` is not `k` bytes,
    /// [`CryptoError::DataLength`] if `digest` has the wrong length,
    /// [`CryptoError::InvalidSignature`] if the signature does not verify,
    /// [`CryptoError::Unsupported`] for a hash without a `DigestInfo` (GOST).
    pub fn verify_pkcs1v15(
        &self,
        hash: Option<HashAlg>,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        if sig.len() != self.0.size {
            return Err(CryptoError::SignatureLength);
        }
        let (alg, dgst) = match hash {
            Some(h) => {
                if digest.len() != h.output_len() {
                    return Err(CryptoError::DataLength);
                }
                (Some(h), digest)
            }
            None => {
                if digest.len() + 11 > self.0.size {
                    return Err(CryptoError::DataLength);
                }
                match HashAlg::from_digest_info(digest) {
                    Some((h, d)) => (Some(h), d),
                    None => (None, digest),
                }
            }
        };
        // Fast path: aws-lc-rs verifies a DigestInfo-wrapped SHA-1/256/384/512 digest.
        if let Some(h) = alg {
            let params: Option<&'static lc_sig::RsaParameters> = match h {
                HashAlg::Sha1 => Some(&lc_sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY),
                HashAlg::Sha256 => Some(&lc_sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY),
                HashAlg::Sha384 if self.0.bits >= 2048 => Some(&lc_sig::RSA_PKCS1_2048_8192_SHA384),
                HashAlg::Sha512 => Some(&lc_sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY),
                _ => None,
            };
            if let (Some(params), Some(lc_alg)) = (params, h.lc_algorithm()) {
                if self.0.bits >= 1024 {
                    let d = aws_lc_rs::digest::Digest::import_less_safe(dgst, lc_alg)
                        .map_err(|_| CryptoError::DataLength)?;
                    return lc_sig::UnparsedPublicKey::new(params, &self.0.pkcs1_der)
                        .verify_digest(&d, sig)
                        .map_err(|_| CryptoError::InvalidSignature);
                }
            }
        }
        // Slow path: recover EM and compare with the expected encoding.
        let t = match alg {
            Some(h) => {
                let prefix = h
                    .digest_info_prefix()
                    .ok_or(CryptoError::Unsupported("PKCS#1 v1.5 with a GOST hash"))?;
                [prefix, dgst].concat()
            }
            None => digest.to_vec(),
        };
        let em = self.open_signature(sig)?;
        let expected = pkcs1_type1_encode(&t, self.0.size)?;
        if em.as_slice() == expected.as_slice() {
            Ok(())
        } else {
            Err(CryptoError::InvalidSignature)
        }
    }

    /// Verifies an RSASSA-PSS signature over the precomputed `digest` (hash output).
    ///
    /// # Errors
    /// [`CryptoError::SignatureLength`], [`CryptoError::DataLength`] (digest length),
    /// [`CryptoError::InvalidSignature`].
    pub fn verify_pss(
        &self,
        hash: HashAlg,
        mgf_hash: HashAlg,
        salt_len: usize,
        digest: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        if sig.len() != self.0.size {
            return Err(CryptoError::SignatureLength);
        }
        if digest.len() != hash.output_len() {
            return Err(CryptoError::DataLength);
        }
        if hash == mgf_hash && salt_len == hash.output_len() && self.0.bits >= 2048 {
            let params: Option<&'static lc_sig::RsaParameters> = match hash {
                HashAlg::Sha256 => Some(&lc_sig::RSA_PSS_2048_8192_SHA256),
                HashAlg::Sha384 => Some(&lc_sig::RSA_PSS_2048_8192_SHA384),
                HashAlg::Sha512 => Some(&lc_sig::RSA_PSS_2048_8192_SHA512),
                _ => None,
            };
            if let (Some(params), Some(lc_alg)) = (params, hash.lc_algorithm()) {
                let d = aws_lc_rs::digest::Digest::import_less_safe(digest, lc_alg)
                    .map_err(|_| CryptoError::DataLength)?;
                return lc_sig::UnparsedPublicKey::new(params, &self.0.pkcs1_der)
                    .verify_digest(&d, sig)
                    .map_err(|_| CryptoError::InvalidSignature);
            }
        }
        let m = self.open_signature(sig)?;
        pss::verify(hash, mgf_hash, salt_len, digest, &m, self.0.bits)
    }

    /// RSAES-PKCS1-v1_5 encryption (`CKM_RSA_PKCS`).
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] if `data` is longer than `k - 11` bytes.
    pub fn encrypt_pkcs1v15(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() + 11 > self.0.size {
            return Err(CryptoError::DataLength);
        }
        if self.0.bits >= LC_MIN_BITS {
            let key = self.lc_encrypting_key()?;
            let key = lc_rsa::Pkcs1PublicEncryptingKey::new(key)
                .map_err(|_| CryptoError::Backend("PKCS#1 encrypting key".into()))?;
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key
                .encrypt(data, &mut out)
                .map_err(|_| CryptoError::Backend("PKCS#1 v1.5 encryption failed".into()))?
                .len();
            out.truncate(len);
            return Ok(out);
        }
        self.0
            .rc
            .encrypt(&mut OsRng, Pkcs1v15Encrypt, data)
            .map_err(map_rsa_err)
    }

    /// RSAES-OAEP encryption with message hash `hash`, MGF1 hash `mgf_hash` and `label`
    /// (`CKM_RSA_PKCS_OAEP`; the label is `pSourceData`).
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] if `data` is longer than `k - 2·hLen - 2` bytes;
    /// [`CryptoError::Unsupported`] for GOST hashes, or for a label that is not UTF-8
    /// when `hash != mgf_hash` (a limit of the `rsa` crate).
    pub fn encrypt_oaep(
        &self,
        hash: HashAlg,
        mgf_hash: HashAlg,
        label: &[u8],
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if data.len() + 2 * hash.output_len() + 2 > self.0.size {
            return Err(CryptoError::DataLength);
        }
        if let (true, Some(alg)) = (
            hash == mgf_hash && self.0.bits >= LC_MIN_BITS,
            lc_oaep_alg(hash),
        ) {
            let key = lc_rsa::OaepPublicEncryptingKey::new(self.lc_encrypting_key()?)
                .map_err(|_| CryptoError::Backend("OAEP encrypting key".into()))?;
            let mut out = vec![0u8; key.ciphertext_size()];
            let label = (!label.is_empty()).then_some(label);
            let len = key
                .encrypt(alg, data, &mut out, label)
                .map_err(|_| CryptoError::Backend("OAEP encryption failed".into()))?
                .len();
            out.truncate(len);
            return Ok(out);
        }
        let padding = rc_oaep(hash, mgf_hash, label)?;
        self.0
            .rc
            .encrypt(&mut OsRng, padding, data)
            .map_err(map_rsa_err)
    }

    fn lc_encrypting_key(&self) -> Result<lc_rsa::PublicEncryptingKey, CryptoError> {
        let spki = self.to_spki_der()?;
        lc_rsa::PublicEncryptingKey::from_der(&spki)
            .map_err(|e| CryptoError::InvalidKey(format!("aws-lc rejected the public key: {e}")))
    }
}

fn lc_oaep_alg(h: HashAlg) -> Option<&'static lc_rsa::OaepAlgorithm> {
    match h {
        HashAlg::Sha1 => Some(&lc_rsa::OAEP_SHA1_MGF1SHA1),
        HashAlg::Sha256 => Some(&lc_rsa::OAEP_SHA256_MGF1SHA256),
        HashAlg::Sha384 => Some(&lc_rsa::OAEP_SHA384_MGF1SHA384),
        HashAlg::Sha512 => Some(&lc_rsa::OAEP_SHA512_MGF1SHA512),
        _ => None,
    }
}

/// The `rsa` crate's OAEP scheme; its label is a `String`, so non-UTF-8 labels are
/// unsupported here.
fn rc_oaep(hash: HashAlg, mgf_hash: HashAlg, label: &[u8]) -> Result<Oaep, CryptoError> {
    let digest = hash
        .dyn_digest()
        .ok_or(CryptoError::Unsupported("OAEP with a GOST hash"))?;
    let mgf_digest = mgf_hash
        .dyn_digest()
        .ok_or(CryptoError::Unsupported("OAEP with a GOST hash"))?;
    let label = if label.is_empty() {
        None
    } else {
        Some(
            String::from_utf8(label.to_vec())
                .map_err(|_| CryptoError::Unsupported("non-UTF-8 OAEP label with this MGF"))?,
        )
    };
    Ok(Oaep {
        digest,
        mgf_digest,
        label,
    })
}

/// `EM = 0x00 ‖ 0x01 ‖ 0xFF… ‖ 0x00 ‖ T` (RFC 8017 §9.2 step 5), `k` bytes.
fn pkcs1_type1_encode(t: &[u8], k: usize) -> Result<Vec<u8>, CryptoError> {
    if t.len() + 11 > k {
        return Err(CryptoError::DataLength);
    }
    let mut em = vec![0xffu8; k];
    em[0] = 0;
    em[1] = 1;
    em[k - t.len() - 1] = 0;
    em[k - t.len()..].copy_from_slice(t);
    Ok(em)
}

fn to_k_bytes(x: &BigUint, k: usize) -> Vec<u8> {
    let mut b = x.to_bytes_be();
    if b.len() < k {
        let mut out = vec![0u8; k - b.len()];
        out.extend_from_slice(&b);
        b.zeroize();
        out
    } else {
        b
    }
}

// ---------------------------------------------------------------------------------------
// Components
// ---------------------------------------------------------------------------------------

/// The components of an RSA private key, big-endian (PKCS#11 `CKA_MODULUS`,
/// `CKA_PUBLIC_EXPONENT`, `CKA_PRIVATE_EXPONENT`, `CKA_PRIME_1`, `CKA_PRIME_2`,
/// `CKA_EXPONENT_1`, `CKA_EXPONENT_2`, `CKA_COEFFICIENT`). Zeroized on drop; `Debug`
/// shows only the public part.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct RsaComponents {
    /// Modulus `n`.
    pub n: Vec<u8>,
    /// Public exponent `e`.
    pub e: Vec<u8>,
    /// Private exponent `d`.
    pub d: Vec<u8>,
    /// First prime `p`.
    pub p: Vec<u8>,
    /// Second prime `q`.
    pub q: Vec<u8>,
    /// `d mod (p - 1)`.
    pub dp: Vec<u8>,
    /// `d mod (q - 1)`.
    pub dq: Vec<u8>,
    /// `q⁻¹ mod p`.
    pub qinv: Vec<u8>,
}

impl fmt::Debug for RsaComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaComponents")
            .field("n_len", &self.n.len())
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------
// Private key
// ---------------------------------------------------------------------------------------

struct PrivInner {
    public: RsaPublicKey,
    /// aws-lc-rs key pair (fast signatures); `None` under 2048 bits.
    lc: Option<lc_rsa::KeyPair>,
    /// The `rsa` crate key (raw operations, slow paths, component export). Zeroized on
    /// drop by the `rsa` crate.
    rc: rsa::RsaPrivateKey,
    /// aws-lc-rs decrypting keys, built on first use.
    lc_pkcs1_dec: OnceLock<lc_rsa::Pkcs1PrivateDecryptingKey>,
    lc_oaep_dec: OnceLock<lc_rsa::OaepPrivateDecryptingKey>,
}

/// An RSA private key (two primes).
#[derive(Clone)]
pub struct RsaPrivateKey(Arc<PrivInner>);

impl fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("public", &self.0.public)
            .field("aws_lc", &self.0.lc.is_some())
            .finish_non_exhaustive()
    }
}

/// Gets or initialises a `OnceLock` with a fallible constructor.
fn get_or_try_init<T>(
    cell: &OnceLock<T>,
    init: impl FnOnce() -> Result<T, CryptoError>,
) -> Result<&T, CryptoError> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = init()?;
    // Another thread may have won the race; either value is equivalent.
    let _ = cell.set(v);
    cell.get()
        .ok_or_else(|| CryptoError::Backend("lazy key initialisation".into()))
}

impl RsaPrivateKey {
    fn from_rc(rc: rsa::RsaPrivateKey) -> Result<Self, CryptoError> {
        let public = RsaPublicKey::from_rc(rc.to_public_key())?;
        if rc.primes().len() != 2 {
            return Err(CryptoError::Unsupported("multi-prime RSA"));
        }
        // Fails only for an inconsistent key: checked once here so `components` cannot.
        rc_crt(&rc)?;
        let lc = if public.bits() >= LC_MIN_BITS {
            Some(lc_from_rc(&rc)?)
        } else {
            None
        };
        Ok(RsaPrivateKey(Arc::new(PrivInner {
            public,
            lc,
            rc,
            lc_pkcs1_dec: OnceLock::new(),
            lc_oaep_dec: OnceLock::new(),
        })))
    }

    /// Wraps a freshly generated aws-lc key; the `rsa` crate twin comes from its PKCS#8
    /// export.
    fn from_lc(lc: lc_rsa::KeyPair) -> Result<Self, CryptoError> {
        let der = lc
            .as_der()
            .map_err(|_| CryptoError::Backend("PKCS#8 export failed".into()))?;
        let rc = rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref())
            .map_err(|e| CryptoError::Backend(e.to_string()))?;
        drop(der);
        if rc.primes().len() != 2 {
            return Err(CryptoError::Unsupported("multi-prime RSA"));
        }
        rc_crt(&rc)?;
        let public = RsaPublicKey::from_rc(rc.to_public_key())?;
        Ok(RsaPrivateKey(Arc::new(PrivInner {
            public,
            lc: Some(lc),
            rc,
            lc_pkcs1_dec: OnceLock::new(),
            lc_oaep_dec: OnceLock::new(),
        })))
    }

    /// Generates a key pair with a modulus of exactly `bits` bits (1024..=4096) and the
    /// given public exponent (odd, ≥ 3, ≤ 33 bits; usually `01 00 01`).
    ///
    /// 2048/3072/4096 bits with e = 65537 use aws-lc-rs; other sizes and exponents use
    /// the `rsa` crate (noticeably slower for large keys).
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] for an unsupported size, [`CryptoError::InvalidKey`] for
    /// a bad exponent.
    pub fn generate(bits: usize, public_exponent: &[u8]) -> Result<Self, CryptoError> {
        if !(1024..=MAX_PRIVATE_BITS).contains(&bits) {
            return Err(CryptoError::KeySize);
        }
        let e = check_exponent(public_exponent)?;
        if e == BigUint::from(65537u32) {
            let size = match bits {
                2048 => Some(lc_rsa::KeySize::Rsa2048),
                3072 => Some(lc_rsa::KeySize::Rsa3072),
                4096 => Some(lc_rsa::KeySize::Rsa4096),
                _ => None,
            };
            if let Some(size) = size {
                let kp = lc_rsa::KeyPair::generate(size)
                    .map_err(|_| CryptoError::Backend("RSA key generation failed".into()))?;
                return Self::from_lc(kp);
            }
        }
        let rc = rsa::RsaPrivateKey::new_with_exp(&mut OsRng, bits, &e).map_err(map_rsa_err)?;
        Self::from_rc(rc)
    }

    /// Builds a private key from its components.
    ///
    /// `n`, `e` and `d` are required. If `p` or `q` is empty the primes are recovered
    /// from `(n, e, d)` (NIST SP 800-56B Appendix C.2; needs 2¹⁶ < e < 2²⁵⁶) and any CRT
    /// values given are ignored. Otherwise missing CRT values (`dp`, `dq`, `qinv`) are
    /// computed, and any that are given must match. The whole key is checked for
    /// consistency.
    ///
    /// # Errors
    /// [`CryptoError::KeySize`] outside 512..=4096 bits, [`CryptoError::InvalidKey`] for
    /// inconsistent or malformed components.
    pub fn from_components(c: &RsaComponents) -> Result<Self, CryptoError> {
        let n = BigUint::from_bytes_be(strip_leading_zeros(&c.n));
        if !(MIN_IMPORT_BITS..=MAX_PRIVATE_BITS).contains(&n.bits()) {
            return Err(CryptoError::KeySize);
        }
        let e = check_exponent(&c.e)?;
        if strip_leading_zeros(&c.d).is_empty() {
            return Err(CryptoError::InvalidKey("private exponent missing".into()));
        }
        let d = BigUint::from_bytes_be(&c.d);
        let have_primes =
            !strip_leading_zeros(&c.p).is_empty() && !strip_leading_zeros(&c.q).is_empty();
        let primes = if have_primes {
            vec![BigUint::from_bytes_be(&c.p), BigUint::from_bytes_be(&c.q)]
        } else {
            Vec::new()
        };
        let rc = rsa::RsaPrivateKey::from_components(n, e, d, primes)
            .map_err(|err| CryptoError::InvalidKey(err.to_string()))?;
        if have_primes {
            let given = [&c.dp, &c.dq, &c.qinv];
            let computed = rc_crt(&rc)?;
            for (g, comp) in given.iter().zip(computed.iter()) {
                let g = strip_leading_zeros(g);
                if !g.is_empty() && g != strip_leading_zeros(comp) {
                    return Err(CryptoError::InvalidKey(
                        "CRT values inconsistent with the primes".into(),
                    ));
                }
            }
        }
        Self::from_rc(rc)
    }

    fn lc_pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let lc = self.0.lc.as_ref().ok_or(CryptoError::Unsupported(
            "aws-lc path for keys under 2048 bits",
        ))?;
        let der = lc
            .as_der()
            .map_err(|_| CryptoError::Backend("PKCS#8 export failed".into()))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    fn lc_decrypting_key(&self) -> Result<lc_rsa::PrivateDecryptingKey, CryptoError> {
        lc_rsa::PrivateDecryptingKey::from_pkcs8(&self.lc_pkcs8()?)
            .map_err(|e| CryptoError::Backend(format!("decrypting key: {e}")))
    }

    /// All components (computed CRT values included), big-endian without leading zeros.
    #[must_use]
    pub fn components(&self) -> RsaComponents {
        let rc = &self.0.rc;
        let primes = rc.primes();
        // Both invariants were checked at construction.
        let [dp, dq, qinv] = rc_crt(rc).unwrap_or_default().map(|v| v.to_vec());
        RsaComponents {
            n: biguint_bytes(rc.n()),
            e: biguint_bytes(rc.e()),
            d: biguint_bytes(rc.d()),
            p: biguint_bytes(&primes[0]),
            q: biguint_bytes(&primes[1]),
            dp,
            dq,
            qinv,
        }
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> RsaPublicKey {
        self.0.public.clone()
    }

    /// Modulus length in bytes (`k`).
    #[must_use]
    pub fn size_bytes(&self) -> usize {
        self.0.public.size_bytes()
    }

    /// Modulus length in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.0.public.bits()
    }

    fn lc_sign(
        &self,
        enc: &'static lc_sig::RsaSignatureEncoding,
        alg: &'static aws_lc_rs::digest::Algorithm,
        digest: &[u8],
    ) -> Option<Result<Vec<u8>, CryptoError>> {
        let lc = self.0.lc.as_ref()?;
        Some((|| {
            let d = aws_lc_rs::digest::Digest::import_less_safe(digest, alg)
                .map_err(|_| CryptoError::DataLength)?;
            let mut sig = vec![0u8; lc.public_modulus_len()];
            lc.sign_digest(enc, &d, &mut sig)
                .map_err(|_| CryptoError::Backend("RSA signing failed".into()))?;
            Ok(sig)
        })())
    }

    /// The blinded RSA private operation on a `k`-byte big-endian input `< n`, checked
    /// by re-encryption (guards against CRT faults).
    fn private_op(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let k = self.size_bytes();
        if data.len() > k {
            return Err(CryptoError::DataLength);
        }
        let rc = &self.0.rc;
        let c = BigUint::from_bytes_be(data);
        if &c >= rc.n() {
            return Err(CryptoError::InvalidData);
        }
        let m = Zeroizing::new(
            rsa::hazmat::rsa_decrypt_and_check(rc, Some(&mut OsRng), &c).map_err(map_rsa_err)?,
        );
        Ok(to_k_bytes(&m, k))
    }

    /// PKCS#1 v1.5 signature (RSASSA-PKCS1-v1_5).
    ///
    /// * `hash = Some(h)`: `digest` is `h`'s output; it is wrapped in `h`'s `DigestInfo`
    ///   (`CKM_SHA256_RSA_PKCS` after hashing, etc.).
    /// * `hash = None` (`CKM_RSA_PKCS`): `digest` is arbitrary data of at most `k - 11`
    ///   bytes, padded as-is (usually a complete `DigestInfo`).
    ///
    /// SHA-256/384/512 (also when recognised inside a `DigestInfo`) are signed by aws-lc-rs
    /// for keys of 2048 bits and more; everything else by the `rsa` crate, blinded.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] for a wrong digest length or data too long,
    /// [`CryptoError::Unsupported`] for a GOST hash.
    pub fn sign_pkcs1v15(
        &self,
        hash: Option<HashAlg>,
        digest: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let k = self.size_bytes();
        let (alg, dgst) = match hash {
            Some(h) => {
                if digest.len() != h.output_len() {
                    return Err(CryptoError::DataLength);
                }
                (Some(h), digest)
            }
            None => {
                if digest.len() + 11 > k {
                    return Err(CryptoError::DataLength);
                }
                match HashAlg::from_digest_info(digest) {
                    Some((h, d)) => (Some(h), d),
                    None => (None, digest),
                }
            }
        };
        if let Some(h) = alg {
            let fast = match h {
                HashAlg::Sha256 => Some((&lc_sig::RSA_PKCS1_SHA256, &aws_lc_rs::digest::SHA256)),
                HashAlg::Sha384 => Some((&lc_sig::RSA_PKCS1_SHA384, &aws_lc_rs::digest::SHA384)),
                HashAlg::Sha512 => Some((&lc_sig::RSA_PKCS1_SHA512, &aws_lc_rs::digest::SHA512)),
                _ => None,
            };
            if let Some(res) = fast.and_then(|(enc, a)| self.lc_sign(enc, a, dgst)) {
                return res;
            }
        }
        let t: Zeroizing<Vec<u8>> = Zeroizing::new(match alg {
            Some(h) => {
                let prefix = h
                    .digest_info_prefix()
                    .ok_or(CryptoError::Unsupported("PKCS#1 v1.5 with a GOST hash"))?;
                [prefix, dgst].concat()
            }
            None => digest.to_vec(),
        });
        self.0
            .rc
            .sign_with_rng(&mut OsRng, Pkcs1v15Sign::new_unprefixed(), &t)
            .map_err(map_rsa_err)
    }

    /// RSASSA-PSS signature over the precomputed `digest` (hash output), with the
    /// message hash `hash`, MGF1 hash `mgf_hash` and a salt of `salt_len` bytes.
    ///
    /// aws-lc-rs handles SHA-256/384/512 with `mgf_hash == hash` and `salt_len` equal to
    /// the hash length on keys of 2048 bits or more; any other combination uses this
    /// crate's EMSA-PSS encoding and the `rsa` crate's blinded private operation.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] for a wrong digest length or a salt too long for the
    /// key.
    pub fn sign_pss(
        &self,
        hash: HashAlg,
        mgf_hash: HashAlg,
        salt_len: usize,
        digest: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if digest.len() != hash.output_len() {
            return Err(CryptoError::DataLength);
        }
        if hash == mgf_hash && salt_len == hash.output_len() {
            let fast = match hash {
                HashAlg::Sha256 => Some((&lc_sig::RSA_PSS_SHA256, &aws_lc_rs::digest::SHA256)),
                HashAlg::Sha384 => Some((&lc_sig::RSA_PSS_SHA384, &aws_lc_rs::digest::SHA384)),
                HashAlg::Sha512 => Some((&lc_sig::RSA_PSS_SHA512, &aws_lc_rs::digest::SHA512)),
                _ => None,
            };
            if let Some(res) = fast.and_then(|(enc, a)| self.lc_sign(enc, a, digest)) {
                return res;
            }
        }
        let em = Zeroizing::new(pss::encode(hash, mgf_hash, salt_len, digest, self.bits())?);
        self.private_op(&em)
    }

    /// Raw RSA (`CKM_RSA_X_509`) private operation: `data^d mod n`, blinded.
    ///
    /// `data` may be shorter than `k` bytes; the output is always `k` bytes.
    ///
    /// # Errors
    /// [`CryptoError::DataLength`] if `data` is longer than `k` bytes,
    /// [`CryptoError::InvalidData`] if it is numerically not below `n`.
    pub fn raw_private(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.private_op(data)
    }

    /// RSAES-PKCS1-v1_5 decryption.
    ///
    /// aws-lc-rs is used for keys of 2048 bits or more; smaller keys fall back to the
    /// `rsa` crate (which is not hardened against padding-oracle timing attacks).
    ///
    /// # Errors
    /// [`CryptoError::EncryptedDataLength`] if `data` is not `k` bytes,
    /// [`CryptoError::EncryptedData`] if it does not decrypt.
    pub fn decrypt_pkcs1v15(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if data.len() != self.size_bytes() {
            return Err(CryptoError::EncryptedDataLength);
        }
        if self.0.lc.is_some() {
            let key = get_or_try_init(&self.0.lc_pkcs1_dec, || {
                lc_rsa::Pkcs1PrivateDecryptingKey::new(self.lc_decrypting_key()?)
                    .map_err(|_| CryptoError::Backend("PKCS#1 decrypting key".into()))
            })?;
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            let pt = key
                .decrypt(data, &mut out)
                .map_err(|_| CryptoError::EncryptedData)?;
            return Ok(pt.to_vec());
        }
        self.0
            .rc
            .decrypt_blinded(&mut OsRng, Pkcs1v15Encrypt, data)
            .map_err(map_rsa_err)
    }

    /// RSAES-OAEP decryption with message hash `hash`, MGF1 hash `mgf_hash` and `label`.
    ///
    /// # Errors
    /// [`CryptoError::EncryptedDataLength`], [`CryptoError::EncryptedData`], and
    /// [`CryptoError::Unsupported`] as for [`RsaPublicKey::encrypt_oaep`].
    pub fn decrypt_oaep(
        &self,
        hash: HashAlg,
        mgf_hash: HashAlg,
        label: &[u8],
        data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if data.len() != self.size_bytes() {
            return Err(CryptoError::EncryptedDataLength);
        }
        if let (true, Some(alg)) = (hash == mgf_hash && self.0.lc.is_some(), lc_oaep_alg(hash)) {
            let key = get_or_try_init(&self.0.lc_oaep_dec, || {
                lc_rsa::OaepPrivateDecryptingKey::new(self.lc_decrypting_key()?)
                    .map_err(|_| CryptoError::Backend("OAEP decrypting key".into()))
            })?;
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            let label = (!label.is_empty()).then_some(label);
            let pt = key
                .decrypt(alg, data, &mut out, label)
                .map_err(|_| CryptoError::EncryptedData)?;
            return Ok(pt.to_vec());
        }
        let padding = rc_oaep(hash, mgf_hash, label)?;
        self.0
            .rc
            .decrypt_blinded(&mut OsRng, padding, data)
            .map_err(map_rsa_err)
    }
}

/// `[dp, dq, qinv]` of an `rsa` crate key (computed if not precomputed).
fn rc_crt(rc: &rsa::RsaPrivateKey) -> Result<[Zeroizing<Vec<u8>>; 3], CryptoError> {
    let primes = rc.primes();
    if primes.len() != 2 {
        return Err(CryptoError::Unsupported("multi-prime RSA"));
    }
    let one = BigUint::from(1u8);
    let dp = Zeroizing::new(rc.d() % (&primes[0] - &one));
    let dq = Zeroizing::new(rc.d() % (&primes[1] - &one));
    let qinv = rc
        .crt_coefficient()
        .ok_or_else(|| CryptoError::InvalidKey("q is not invertible mod p".into()))?;
    let qinv = Zeroizing::new(qinv);
    Ok([
        Zeroizing::new(biguint_bytes(&dp)),
        Zeroizing::new(biguint_bytes(&dq)),
        Zeroizing::new(biguint_bytes(&qinv)),
    ])
}

/// Builds the aws-lc-rs key pair from an `rsa` crate key (all components, validated by
/// aws-lc's `RSA_check_key`).
fn lc_from_rc(rc: &rsa::RsaPrivateKey) -> Result<lc_rsa::KeyPair, CryptoError> {
    let primes = rc.primes();
    if primes.len() != 2 {
        return Err(CryptoError::Unsupported("multi-prime RSA"));
    }
    let [dp, dq, qinv] = rc_crt(rc)?;
    let d = Zeroizing::new(biguint_bytes(rc.d()));
    let p = Zeroizing::new(biguint_bytes(&primes[0]));
    let q = Zeroizing::new(biguint_bytes(&primes[1]));
    let comps = lc_rsa::KeyPairComponents {
        public_key: lc_rsa::PublicKeyComponents {
            n: biguint_bytes(rc.n()),
            e: biguint_bytes(rc.e()),
        },
        d: d.as_slice(),
        p: p.as_slice(),
        q: q.as_slice(),
        dP: dp.as_slice(),
        dQ: dq.as_slice(),
        qInv: qinv.as_slice(),
    };
    lc_rsa::KeyPair::from_components(&comps)
        .map_err(|e| CryptoError::InvalidKey(format!("aws-lc rejected the key: {e}")))
}
