//! ECDSA over P-256, P-384 and P-521: aws-lc-rs signs and verifies, RustCrypto decodes
//! and validates points and covers P-521 digests wider than 64 bytes.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest as lc_digest;
use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::signature::{self as lc_sig, EcdsaKeyPair, KeyPair as _, ParsedPublicKey};
use p521::ecdsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::{left_pad, CryptoError};

/// A NIST prime curve for ECDSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// P-256 (prime256v1, secp256r1), OID 1.2.840.10045.3.1.7.
    P256,
    /// P-384 (secp384r1), OID 1.3.132.0.34.
    P384,
    /// P-521 (secp521r1), OID 1.3.132.0.35.
    P521,
}

const P256_OID_DER: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID_DER: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const P521_OID_DER: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];

impl EcCurve {
    /// Recognises `CKA_EC_PARAMS` given as the DER-encoded named-curve OID.
    #[must_use]
    pub fn from_params_der(der: &[u8]) -> Option<EcCurve> {
        match der {
            P256_OID_DER => Some(EcCurve::P256),
            P384_OID_DER => Some(EcCurve::P384),
            P521_OID_DER => Some(EcCurve::P521),
            _ => None,
        }
    }

    /// The DER-encoded named-curve OID (`CKA_EC_PARAMS`).
    #[must_use]
    pub fn params_der(self) -> &'static [u8] {
        match self {
            EcCurve::P256 => P256_OID_DER,
            EcCurve::P384 => P384_OID_DER,
            EcCurve::P521 => P521_OID_DER,
        }
    }

    /// Length in bytes of a field element or scalar (32, 48, 66); signatures are twice
    /// this.
    #[must_use]
    pub fn field_len(self) -> usize {
        match self {
            EcCurve::P256 => 32,
            EcCurve::P384 => 48,
            EcCurve::P521 => 66,
        }
    }

    /// Size of the curve (and of its group order) in bits.
    #[must_use]
    pub fn bits(self) -> usize {
        match self {
            EcCurve::P256 => 256,
            EcCurve::P384 => 384,
            EcCurve::P521 => 521,
        }
    }

    /// aws-lc-rs signing algorithm (fixed `r ‖ s` output) for this curve.
    fn lc_signing(self) -> &'static lc_sig::EcdsaSigningAlgorithm {
        match self {
            EcCurve::P256 => &lc_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EcCurve::P384 => &lc_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EcCurve::P521 => &lc_sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        }
    }

    fn lc_verification(self) -> &'static lc_sig::EcdsaVerificationAlgorithm {
        match self {
            EcCurve::P256 => &lc_sig::ECDSA_P256_SHA256_FIXED,
            EcCurve::P384 => &lc_sig::ECDSA_P384_SHA384_FIXED,
            EcCurve::P521 => &lc_sig::ECDSA_P521_SHA512_FIXED,
        }
    }

    /// The digest algorithm aws-lc-rs expects for this curve's signing algorithm.
    fn lc_digest(self) -> &'static lc_digest::Algorithm {
        match self {
            EcCurve::P256 => &lc_digest::SHA256,
            EcCurve::P384 => &lc_digest::SHA384,
            EcCurve::P521 => &lc_digest::SHA512,
        }
    }
}

/// The ECDSA message representative for a digest of any length.
enum Prehash {
    /// Exactly the aws-lc digest length of the curve, with the same `bits2int` value.
    Fast(Vec<u8>),
    /// P-521 only: `bits2int(digest)` as 66 bytes that do not fit in 64.
    Wide(Vec<u8>),
}

/// Maps a digest of any length to an input with the same ECDSA `bits2int` value
/// (FIPS 186-5 §6.4.1, RFC 6979 §2.3.2): the leftmost `bits(n)` bits of the digest, as
/// an integer. Shorter digests are taken whole (left-padding keeps the value).
fn prehash(curve: EcCurve, digest: &[u8]) -> Prehash {
    let order_bits = curve.bits();
    let nbytes = order_bits.div_ceil(8);
    let mut v = if digest.len() * 8 > order_bits {
        let mut v = digest[..nbytes].to_vec();
        let shift = nbytes * 8 - order_bits;
        if shift > 0 {
            let mut carry = 0u8;
            for b in &mut v {
                let next = *b << (8 - shift);
                *b = (*b >> shift) | carry;
                carry = next;
            }
        }
        v
    } else {
        let mut v = vec![0u8; nbytes - digest.len()];
        v.extend_from_slice(digest);
        v
    };
    let lc_len = curve.lc_digest().output_len();
    let extra = nbytes - lc_len;
    if v[..extra].iter().all(|&b| b == 0) {
        v.drain(..extra);
        Prehash::Fast(v)
    } else {
        Prehash::Wide(v)
    }
}

// ---------------------------------------------------------------------------------------
// Public key
// ---------------------------------------------------------------------------------------

/// An ECDSA public key.
#[derive(Clone)]
pub struct EcPublicKey {
    curve: EcCurve,
    /// SEC1 uncompressed point `04 ‖ X ‖ Y`.
    point: Vec<u8>,
    lc: ParsedPublicKey,
}

impl fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPublicKey")
            .field("curve", &self.curve)
            .field("point", &hex(&self.point))
            .finish()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Decodes and validates a SEC1 point (on the curve, not the identity) and returns its
/// uncompressed encoding.
fn decode_point(curve: EcCurve, point: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |_| CryptoError::InvalidKey("EC point is not a valid point on the curve".into());
    let out = match curve {
        EcCurve::P256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            p256::PublicKey::from_sec1_bytes(point)
                .map_err(bad)?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
        EcCurve::P384 => {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            p384::PublicKey::from_sec1_bytes(point)
                .map_err(bad)?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
        EcCurve::P521 => {
            use p521::elliptic_curve::sec1::ToEncodedPoint;
            p521::PublicKey::from_sec1_bytes(point)
                .map_err(bad)?
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
    };
    Ok(out)
}

impl EcPublicKey {
    /// Builds a public key from a SEC1 point (uncompressed `04 ‖ X ‖ Y`, or compressed
    /// `02/03 ‖ X`), *not* wrapped in a DER OCTET STRING. The point is validated.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] for a malformed, off-curve or identity point.
    pub fn from_point(curve: EcCurve, point: &[u8]) -> Result<Self, CryptoError> {
        let point = decode_point(curve, point)?;
        let lc = ParsedPublicKey::new(curve.lc_verification(), &point)
            .map_err(|e| CryptoError::InvalidKey(format!("aws-lc rejected the point: {e}")))?;
        Ok(EcPublicKey { curve, point, lc })
    }

    /// The SEC1 uncompressed point `04 ‖ X ‖ Y` (`CKA_EC_POINT` without the DER
    /// wrapping).
    #[must_use]
    pub fn point_uncompressed(&self) -> Vec<u8> {
        self.point.clone()
    }

    /// The curve.
    #[must_use]
    pub fn curve(&self) -> EcCurve {
        self.curve
    }

    /// The key as a DER `SubjectPublicKeyInfo` (id-ecPublicKey with the named curve,
    /// uncompressed point), e.g. for `CKA_PUBLIC_KEY_INFO`.
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if encoding fails.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        self.lc
            .as_der()
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| CryptoError::Backend("SPKI encoding failed".into()))
    }

    /// Verifies an ECDSA signature `r ‖ s` (each [`EcCurve::field_len`] bytes) over a
    /// digest of any length (`CKM_ECDSA`).
    ///
    /// # Errors
    /// [`CryptoError::SignatureLength`] if `sig` is not `2 · field_len` bytes,
    /// [`CryptoError::InvalidSignature`] if it does not verify.
    pub fn verify_prehash(&self, digest: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        if sig.len() != 2 * self.curve.field_len() {
            return Err(CryptoError::SignatureLength);
        }
        match prehash(self.curve, digest) {
            Prehash::Fast(e) => {
                let d = lc_digest::Digest::import_less_safe(&e, self.curve.lc_digest())
                    .map_err(|_| CryptoError::Backend("digest import".into()))?;
                self.lc
                    .verify_digest_sig(&d, sig)
                    .map_err(|_| CryptoError::InvalidSignature)
            }
            Prehash::Wide(e) => {
                let vk = p521::ecdsa::VerifyingKey::from_sec1_bytes(&self.point)
                    .map_err(|_| CryptoError::InvalidKey("P-521 point".into()))?;
                let sig = p521::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| CryptoError::InvalidSignature)?;
                vk.verify_prehash(&e, &sig)
                    .map_err(|_| CryptoError::InvalidSignature)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Private key
// ---------------------------------------------------------------------------------------

struct PrivInner {
    curve: EcCurve,
    lc: EcdsaKeyPair,
    public: EcPublicKey,
}

/// An ECDSA private key.
#[derive(Clone)]
pub struct EcPrivateKey(Arc<PrivInner>);

impl fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcPrivateKey")
            .field("public", &self.0.public)
            .finish_non_exhaustive()
    }
}

/// The public point `d·G` for a scalar of exactly `field_len` bytes; checks
/// `0 < d < n`.
fn public_point_for(curve: EcCurve, d: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let bad = |_| CryptoError::InvalidKey("EC private scalar out of range".into());
    let out = match curve {
        EcCurve::P256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            p256::SecretKey::from_slice(d)
                .map_err(bad)?
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
        EcCurve::P384 => {
            use p384::elliptic_curve::sec1::ToEncodedPoint;
            p384::SecretKey::from_slice(d)
                .map_err(bad)?
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
        EcCurve::P521 => {
            use p521::elliptic_curve::sec1::ToEncodedPoint;
            p521::SecretKey::from_slice(d)
                .map_err(bad)?
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec()
        }
    };
    Ok(out)
}

impl EcPrivateKey {
    fn from_lc(curve: EcCurve, lc: EcdsaKeyPair) -> Result<Self, CryptoError> {
        let public = EcPublicKey::from_point(curve, lc.public_key().as_ref())?;
        Ok(EcPrivateKey(Arc::new(PrivInner { curve, lc, public })))
    }

    /// Generates a key pair (aws-lc-rs).
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if generation fails.
    pub fn generate(curve: EcCurve) -> Result<Self, CryptoError> {
        let lc = EcdsaKeyPair::generate(curve.lc_signing())
            .map_err(|_| CryptoError::Backend("EC key generation failed".into()))?;
        Self::from_lc(curve, lc)
    }

    /// Imports the private scalar `d` (`CKA_VALUE`, big-endian; shorter than
    /// [`EcCurve::field_len`] is left-padded, extra leading zero bytes are tolerated).
    /// The public point is recomputed.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] unless `0 < d < n`.
    pub fn from_scalar(curve: EcCurve, d: &[u8]) -> Result<Self, CryptoError> {
        let d = Zeroizing::new(
            left_pad(d, curve.field_len())
                .ok_or_else(|| CryptoError::InvalidKey("EC private scalar too long".into()))?,
        );
        let point = public_point_for(curve, &d)?;
        let lc = EcdsaKeyPair::from_private_key_and_public_key(curve.lc_signing(), &d, &point)
            .map_err(|e| CryptoError::InvalidKey(format!("aws-lc rejected the key: {e}")))?;
        Self::from_lc(curve, lc)
    }

    /// The private scalar, [`EcCurve::field_len`] bytes big-endian.
    #[must_use]
    pub fn scalar(&self) -> Zeroizing<Vec<u8>> {
        let len = self.0.curve.field_len();
        // Serialising a valid key cannot fail; an empty result would be caught by any
        // re-import.
        match self.0.lc.private_key().as_be_bytes() {
            Ok(bin) => Zeroizing::new(left_pad(bin.as_ref(), len).unwrap_or_default()),
            Err(_) => Zeroizing::new(Vec::new()),
        }
    }

    /// The public half.
    #[must_use]
    pub fn public_key(&self) -> EcPublicKey {
        self.0.public.clone()
    }

    /// The curve.
    #[must_use]
    pub fn curve(&self) -> EcCurve {
        self.0.curve
    }

    /// ECDSA signature over a precomputed digest of any length (`CKM_ECDSA`); the digest
    /// is converted with `bits2int` (truncated to the order's bit length if longer).
    /// Output is `r ‖ s`, each [`EcCurve::field_len`] bytes.
    ///
    /// aws-lc-rs signs every digest whose `bits2int` value fits the curve's natural hash
    /// length (always for P-256/P-384, up to 64 bytes for P-521); wider P-521 values use
    /// the `p521` crate (random nonce).
    ///
    /// # Errors
    /// [`CryptoError::Backend`] if signing fails.
    pub fn sign_prehash(&self, digest: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match prehash(self.0.curve, digest) {
            Prehash::Fast(e) => {
                let d = lc_digest::Digest::import_less_safe(&e, self.0.curve.lc_digest())
                    .map_err(|_| CryptoError::Backend("digest import".into()))?;
                let sig = self
                    .0
                    .lc
                    .sign_digest(&d)
                    .map_err(|_| CryptoError::Backend("ECDSA signing failed".into()))?;
                Ok(sig.as_ref().to_vec())
            }
            Prehash::Wide(e) => {
                let d = self.scalar();
                let sk = p521::ecdsa::SigningKey::from_slice(&d)
                    .map_err(|_| CryptoError::Backend("P-521 scalar".into()))?;
                let sig: p521::ecdsa::Signature = sk
                    .sign_prehash_with_rng(&mut OsRng, &e)
                    .map_err(|_| CryptoError::Backend("ECDSA signing failed".into()))?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}
