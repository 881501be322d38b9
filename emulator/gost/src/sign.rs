//! The GOST R 34.10-2012 signature scheme, generic over the curve.
//!
//! - Sign: `e = LE(digest) mod q` (1 if 0); `C = kG`; `r = x_C mod q`;
//!   `s = (r d + k e) mod q`; retry if `r = 0` or `s = 0`. Output `s ‖ r`
//!   big-endian.
//! - Verify: `0 < r, s < q`; `v = e^-1`; `z1 = s v`; `z2 = -r v`;
//!   accept iff `x(z1 G + z2 Q) mod q = r`.
//!
//! Source: GOST R 34.10-2012 §6-7 (RFC 7091 §6), gost-engine `gost_ec_sign.c`.

use subtle::{ConditionallySelectable, CtOption};
use zeroize::Zeroizing;

use crate::field::{into_option, Field};
use crate::point::{
    is_on_curve, mul2_vartime, mul_base, mul_vartime_limbs, Affine, Curve, MAX_LIMBS,
};
use crate::GostError;

/// Largest encoded scalar / coordinate.
const MAX_BYTES: usize = 64;

/// `e = LE(digest) mod q`, replaced by 1 when it is 0. `digest.len()` must be `Sc::BYTES`.
pub(crate) fn e_from_digest<C: Curve>(digest: &[u8]) -> C::Sc {
    let mut be = [0u8; MAX_BYTES];
    let be = &mut be[..digest.len()];
    for (dst, src) in be.iter_mut().zip(digest.iter().rev()) {
        *dst = *src;
    }
    let e = C::Sc::from_be_bytes_reduced(be);
    C::Sc::conditional_select(&e, &C::Sc::ONE, e.is_zero())
}

/// Decodes a big-endian scalar in `[1, q-1]`.
pub(crate) fn scalar_from_be<C: Curve>(be: &[u8]) -> CtOption<C::Sc> {
    let s = C::Sc::from_be_bytes(be);
    let v = s.unwrap_or(C::Sc::ZERO);
    CtOption::new(v, s.is_some() & !v.is_zero())
}

/// A uniformly random scalar in `[1, q-1]` from the OS RNG (rejection sampling).
///
/// # Panics
/// If the operating system's random number generator fails.
pub(crate) fn random_scalar<C: Curve>() -> C::Sc {
    let n = C::Sc::BYTES;
    let excess = (8 * n as u32) - C::Sc::MODULUS_BITS;
    let top_mask = 0xFFu8 >> excess;
    let mut buf = Zeroizing::new([0u8; MAX_BYTES]);
    loop {
        getrandom::getrandom(&mut buf[..n]).expect("OS random number generator failed");
        buf[0] &= top_mask;
        // The accept/reject decision only concerns discarded candidates.
        if let Some(k) = into_option(scalar_from_be::<C>(&buf[..n])) {
            return k;
        }
    }
}

/// One signing attempt with nonce `k`: `Some((r, s))`, or `None` if r or s is 0.
pub(crate) fn sign_with_k<C: Curve>(d: &C::Sc, e: &C::Sc, k: &C::Sc) -> Option<(C::Sc, C::Sc)> {
    let mut c = mul_base::<C>(k);
    let (mut aff, _) = c.normalize();
    let mut xb = Zeroizing::new([0u8; MAX_BYTES]);
    let n = C::Fe::BYTES;
    aff.x.write_be_bytes(&mut xb[..n]);
    let r = C::Sc::from_be_bytes_reduced(&xb[..n]);
    let s = r * *d + *k * *e;
    c.zeroize();
    aff.zeroize();
    // r and s are published; their being zero is not secret.
    if bool::from(r.is_zero() | s.is_zero()) {
        None
    } else {
        Some((r, s))
    }
}

/// Encodes `s ‖ r`, each big-endian.
pub(crate) fn encode_signature<C: Curve>(r: &C::Sc, s: &C::Sc) -> Vec<u8> {
    let n = C::Sc::BYTES;
    let mut out = vec![0u8; 2 * n];
    s.write_be_bytes(&mut out[..n]);
    r.write_be_bytes(&mut out[n..]);
    out
}

/// Signs with the secret `d_be` (big-endian, already validated) and fresh random nonces.
pub(crate) fn sign<C: Curve>(d_be: &[u8], digest: &[u8]) -> Vec<u8> {
    let mut d = into_option(scalar_from_be::<C>(d_be)).expect("validated signing key");
    let e = e_from_digest::<C>(digest);
    loop {
        let mut k = random_scalar::<C>();
        let res = sign_with_k::<C>(&d, &e, &k);
        k.zeroize();
        if let Some((r, s)) = res {
            d.zeroize();
            return encode_signature::<C>(&r, &s);
        }
    }
}

/// Signs with a caller-chosen nonce (known-answer tests).
pub(crate) fn sign_fixed_k<C: Curve>(
    d_be: &[u8],
    digest: &[u8],
    k_be: &[u8],
) -> Result<Vec<u8>, GostError> {
    let mut d = into_option(scalar_from_be::<C>(d_be)).ok_or(GostError::InvalidKey)?;
    let e = e_from_digest::<C>(digest);
    let mut k = into_option(scalar_from_be::<C>(k_be)).ok_or(GostError::InvalidKey)?;
    let res = sign_with_k::<C>(&d, &e, &k);
    d.zeroize();
    k.zeroize();
    let (r, s) = res.ok_or(GostError::InvalidSignature)?;
    Ok(encode_signature::<C>(&r, &s))
}

/// `Q = d G` as big-endian `(x, y)`.
pub(crate) fn public_key<C: Curve>(d_be: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut d = into_option(scalar_from_be::<C>(d_be)).expect("validated signing key");
    let mut p = mul_base::<C>(&d);
    d.zeroize();
    let (aff, _) = p.normalize();
    p.zeroize();
    let n = C::Fe::BYTES;
    let mut x = vec![0u8; n];
    let mut y = vec![0u8; n];
    aff.x.write_be_bytes(&mut x);
    aff.y.write_be_bytes(&mut y);
    (x, y)
}

/// Decodes and validates a public point from big-endian coordinates: both
/// below p, on the curve, and (for cofactor curves) of order q.
pub(crate) fn decode_point<C: Curve>(x_be: &[u8], y_be: &[u8]) -> Option<Affine<C::Fe>> {
    let x = into_option(C::Fe::from_be_bytes(x_be))?;
    let y = into_option(C::Fe::from_be_bytes(y_be))?;
    let p = Affine { x, y };
    if !bool::from(is_on_curve::<C>(&p)) {
        return None;
    }
    if C::COFACTOR != 1 {
        let mut q = [0u64; MAX_LIMBS];
        C::Sc::write_modulus_limbs(&mut q[..C::Sc::LIMBS]);
        // On these curves the complete formulas are complete only on the
        // odd-order subgroup; outside it they may degenerate to (0 : 0 : 0),
        // which is absorbing. Accept only a genuine identity (0 : Y : 0), Y != 0.
        let qp = mul_vartime_limbs::<C>(&p, &q[..C::Sc::LIMBS]);
        if !bool::from(qp.is_identity() & !qp.y.is_zero()) {
            return None;
        }
    }
    Some(p)
}

/// Verifies `sig = s ‖ r` (lengths already checked) over `digest`.
pub(crate) fn verify<C: Curve>(q: &Affine<C::Fe>, digest: &[u8], sig: &[u8]) -> bool {
    let n = C::Sc::BYTES;
    let Some(s) = into_option(scalar_from_be::<C>(&sig[..n])) else {
        return false;
    };
    let Some(r) = into_option(scalar_from_be::<C>(&sig[n..])) else {
        return false;
    };
    let e = e_from_digest::<C>(digest);
    let v = e.invert();
    let z1 = s * v;
    let z2 = -(r * v);
    let c = mul2_vartime::<C>(&z1, q, &z2);
    if bool::from(c.is_identity()) {
        return false;
    }
    // Accept iff x = X/Z satisfies x mod q = r, i.e. x = r + j q for some
    // j >= 0 with r + j q < p. Compare X = (r + j q) Z projectively instead
    // of inverting Z (j <= 1 when h = 1, j <= 4 on the cofactor-4 curves).
    let mut cand = [0u64; MAX_LIMBS + 1];
    let mut q = [0u64; MAX_LIMBS];
    r.write_canonical_limbs(&mut cand[..n / 8]);
    C::Sc::write_modulus_limbs(&mut q[..n / 8]);
    let mut be = [0u8; MAX_BYTES];
    for _ in 0..=(C::COFACTOR + 1) {
        if cand[n / 8] != 0 {
            break;
        }
        for (chunk, limb) in be[..n].rchunks_exact_mut(8).zip(cand.iter()) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        let Some(x) = into_option(C::Fe::from_be_bytes(&be[..n])) else {
            break; // r + j q >= p
        };
        if bool::from(subtle::ConstantTimeEq::ct_eq(&c.x, &(x * c.z))) {
            return true;
        }
        let mut carry = 0;
        for (w, qw) in cand.iter_mut().zip(q.iter()).take(n / 8) {
            let (v, k) = crate::arith::adc(*w, *qw, carry);
            *w = v;
            carry = k;
        }
        cand[n / 8] = carry;
    }
    false
}
