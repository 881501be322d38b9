//! VKO key agreement: VKO GOST R 34.10-2012 (RFC 7836 §4.3, R 50.1.113-2016 §4.3) and VKO
//! GOST R 34.10-2001 (RFC 4357 §5.2).
//!
//! `K(x, Y, UKM) = (h · UKM · x mod q) · Y`, where x is our private key, Y the peer's public
//! key, h = m/q the cofactor and UKM the user keying material read as a little-endian
//! integer. K is encoded as `X_LE ‖ Y_LE` and hashed: Streebog-256 (VKO_GOSTR3410_2012_256),
//! Streebog-512 (VKO_GOSTR3410_2012_512) or GOST R 34.11-94 with the CryptoPro parameters
//! (VKO GOST R 34.10-2001).
//!
//! The multiplication by the secret scalar is constant time ([`crate::point`]'s `mul_ct`);
//! the peer point was validated when its [`VerifyingKey`] was made: on the curve, not the
//! identity, and on the cofactor-4 curves inside the subgroup of order q — so it is not of
//! small order. See CONSTANT_TIME.md.
//!
//! Interoperability note: RFC 7836 includes the cofactor h. OpenSSL's gost-engine
//! (`internal_compute_ecdh`) leaves it out, so on tc26-256-A and tc26-512-C (h = 4) its
//! VKO differs from this one; on every other curve h = 1 and the two agree.

use streebog::Digest;
use zeroize::Zeroizing;

use crate::curves::with_curve;
use crate::field::{into_option, Field};
use crate::{reversed, sign, GostError, SigningKey, VerifyingKey};

/// The hash applied to the shared point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VkoHash {
    /// Streebog-256: VKO_GOSTR3410_2012_256, a 32-byte KEK.
    Streebog256,
    /// Streebog-512: VKO_GOSTR3410_2012_512, a 64-byte KEK.
    Streebog512,
    /// GOST R 34.11-94 with the CryptoPro parameter set (1.2.643.2.2.30.1): VKO GOST R
    /// 34.10-2001, a 32-byte KEK.
    Gost94CryptoPro,
}

/// The unhashed shared point `K = (h · UKM · x mod q) · Y` as `X_LE ‖ Y_LE`
/// (`2 * coordinate_len` bytes).
///
/// `ukm` is read as a little-endian integer (1 to `coordinate_len` bytes; RFC 7836 and RFC
/// 4357 use 8).
///
/// # Errors
/// [`GostError::InvalidKey`] if the peer key is on another curve;
/// [`GostError::InvalidUkm`] for an empty or too long UKM, or one that is 0 modulo q.
pub fn vko_shared_point(
    key: &SigningKey,
    peer: &VerifyingKey,
    ukm: &[u8],
) -> Result<Zeroizing<Vec<u8>>, GostError> {
    let params = key.params();
    if peer.params().curve != params.curve {
        return Err(GostError::InvalidKey);
    }
    let n = params.coordinate_len();
    if ukm.is_empty() || ukm.len() > n {
        return Err(GostError::InvalidUkm);
    }
    let peer_xy = peer.to_le_xy();
    let x_be = reversed(&peer_xy[..n]);
    let y_be = reversed(&peer_xy[n..]);
    let mut ukm_be = vec![0u8; n];
    ukm_be[n - ukm.len()..].copy_from_slice(&reversed(ukm));
    let mut out = Zeroizing::new(vec![0u8; 2 * n]);
    with_curve!(params.curve, C => {
        type Sc = <C as crate::point::Curve>::Sc;
        type Fe = <C as crate::point::Curve>::Fe;
        // The peer point was validated on import; only decode it.
        let q = crate::point::Affine {
            x: into_option(<Fe as Field>::from_be_bytes(&x_be)).ok_or(GostError::InvalidKey)?,
            y: into_option(<Fe as Field>::from_be_bytes(&y_be)).ok_or(GostError::InvalidKey)?,
        };
        // UKM is public: refusing UKM = 0 mod q branches on public data only.
        let u = <Sc as Field>::from_be_bytes_reduced(&ukm_be);
        if bool::from(u.is_zero()) {
            return Err(GostError::InvalidUkm);
        }
        let mut d = into_option(sign::scalar_from_be::<C>(&key.d_be)).ok_or(GostError::InvalidKey)?;
        let mut h = <Sc as Field>::ZERO;
        for _ in 0..<C as crate::point::Curve>::COFACTOR {
            h = h + <Sc as Field>::ONE;
        }
        let mut k = h * u * d;
        let mut p = crate::point::mul_ct::<C>(&q, &k);
        d.zeroize();
        k.zeroize();
        let (mut aff, _) = p.normalize();
        p.zeroize();
        let mut be = Zeroizing::new(vec![0u8; n]);
        aff.x.write_be_bytes(&mut be);
        for (dst, src) in out[..n].iter_mut().zip(be.iter().rev()) {
            *dst = *src;
        }
        aff.y.write_be_bytes(&mut be);
        for (dst, src) in out[n..].iter_mut().zip(be.iter().rev()) {
            *dst = *src;
        }
        aff.zeroize();
    });
    Ok(out)
}

/// The VKO KEK: `hash(K)` (32 or 64 bytes).
///
/// # Errors
/// As [`vko_shared_point`].
pub fn vko(
    key: &SigningKey,
    peer: &VerifyingKey,
    ukm: &[u8],
    hash: VkoHash,
) -> Result<Zeroizing<Vec<u8>>, GostError> {
    let k = vko_shared_point(key, peer, ukm)?;
    Ok(Zeroizing::new(match hash {
        VkoHash::Streebog256 => streebog::Streebog256::digest(&k[..]).to_vec(),
        VkoHash::Streebog512 => streebog::Streebog512::digest(&k[..]).to_vec(),
        VkoHash::Gost94CryptoPro => gost94::Gost94CryptoPro::digest(&k[..]).to_vec(),
    }))
}
