//! Limb-level arithmetic on little-endian `[u64; N]` arrays.
//!
//! Everything here is branch-free on the values (only the loop bounds, which
//! are the public limb count, drive control flow) and `const fn`, so that the
//! Montgomery constants and the curve constants are computed at compile time
//! from the hexadecimal strings in [`crate::params`].

// Limb loops index several arrays in lock-step; iterators would obscure them.
#![allow(clippy::needless_range_loop)]

/// `a * b + c + carry`, returned as `(low, high)`.
#[inline(always)]
pub(crate) const fn mac(a: u64, b: u64, c: u64, carry: u64) -> (u64, u64) {
    let t = (a as u128) * (b as u128) + (c as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// `a + b + carry`, returned as `(sum, carry)`.
#[inline(always)]
pub(crate) const fn adc(a: u64, b: u64, carry: u64) -> (u64, u64) {
    let t = (a as u128) + (b as u128) + (carry as u128);
    (t as u64, (t >> 64) as u64)
}

/// `a - b - borrow`, returned as `(difference, borrow)` with `borrow` in {0, 1}.
#[inline(always)]
pub(crate) const fn sbb(a: u64, b: u64, borrow: u64) -> (u64, u64) {
    let t = (a as u128).wrapping_sub((b as u128) + (borrow as u128));
    (t as u64, ((t >> 64) as u64) & 1)
}

/// Returns `(hi:t) - p` if `(hi:t) >= p`, else `t`; requires `(hi:t) < 2p`.
#[inline(always)]
pub(crate) const fn sub_if_ge<const N: usize>(t: &[u64; N], hi: u64, p: &[u64; N]) -> [u64; N] {
    let mut r = [0u64; N];
    let mut borrow = 0;
    let mut j = 0;
    while j < N {
        let (d, b) = sbb(t[j], p[j], borrow);
        r[j] = d;
        borrow = b;
        j += 1;
    }
    let (_, borrow) = sbb(hi, 0, borrow);
    // borrow == 1 <=> (hi:t) < p <=> keep t. The mask goes through a value
    // barrier: without it LLVM turned this select into a branch on the
    // (secret-dependent) borrow inside Montgomery multiplication.
    let keep = core::hint::black_box(0u64.wrapping_sub(borrow));
    j = 0;
    while j < N {
        r[j] = (t[j] & keep) | (r[j] & !keep);
        j += 1;
    }
    r
}

/// `(a + b) mod p` for `a, b < p`.
#[inline(always)]
pub(crate) const fn add_mod<const N: usize>(a: &[u64; N], b: &[u64; N], p: &[u64; N]) -> [u64; N] {
    let mut s = [0u64; N];
    let mut carry = 0;
    let mut j = 0;
    while j < N {
        let (v, c) = adc(a[j], b[j], carry);
        s[j] = v;
        carry = c;
        j += 1;
    }
    sub_if_ge(&s, carry, p)
}

/// `(a - b) mod p` for `a, b < p`.
#[inline(always)]
pub(crate) const fn sub_mod<const N: usize>(a: &[u64; N], b: &[u64; N], p: &[u64; N]) -> [u64; N] {
    let mut d = [0u64; N];
    let mut borrow = 0;
    let mut j = 0;
    while j < N {
        let (v, b2) = sbb(a[j], b[j], borrow);
        d[j] = v;
        borrow = b2;
        j += 1;
    }
    // Value barrier, as in `sub_if_ge`: the add-back must not become a branch.
    let mask = core::hint::black_box(0u64.wrapping_sub(borrow));
    let mut carry = 0;
    j = 0;
    while j < N {
        let (v, c) = adc(d[j], p[j] & mask, carry);
        d[j] = v;
        carry = c;
        j += 1;
    }
    d
}

/// Montgomery product `a * b * 2^(-64N) mod p` (CIOS) for `a < 2^(64N)`, `b < p`.
///
/// `m0inv` is `-p^(-1) mod 2^64`. The result is fully reduced.
#[inline(always)]
pub(crate) const fn mont_mul<const N: usize>(
    a: &[u64; N],
    b: &[u64; N],
    p: &[u64; N],
    m0inv: u64,
) -> [u64; N] {
    let mut t = [0u64; N];
    let mut hi = 0u64;
    let mut i = 0;
    while i < N {
        let mut c = 0;
        let mut j = 0;
        while j < N {
            let (lo, h) = mac(a[j], b[i], t[j], c);
            t[j] = lo;
            c = h;
            j += 1;
        }
        let (t_n, t_n1) = adc(hi, c, 0);
        let m = t[0].wrapping_mul(m0inv);
        let (_, mut c) = mac(m, p[0], t[0], 0);
        j = 1;
        while j < N {
            let (lo, h) = mac(m, p[j], t[j], c);
            t[j - 1] = lo;
            c = h;
            j += 1;
        }
        let (lo, h) = adc(t_n, c, 0);
        t[N - 1] = lo;
        hi = t_n1 + h;
        i += 1;
    }
    sub_if_ge(&t, hi, p)
}

/// Largest double-width product, in words (2 × 8).
pub(crate) const WIDE: usize = 16;

/// `t[i..=i+N] += a * bi` where `t[i+N]` is still zero: one row of the schoolbook product.
#[inline(always)]
fn mul_row<const N: usize>(t: &mut [u64; WIDE], a: &[u64; N], bi: u64, i: usize) {
    let mut c = 0;
    for j in 0..N {
        let (v, h) = mac(a[j], bi, t[i + j], c);
        t[i + j] = v;
        c = h;
    }
    t[i + N] = c;
}

/// Full 2N-word product `a * b` in the first 2N words of the result.
#[inline(always)]
pub(crate) fn wide_mul<const N: usize>(a: &[u64; N], b: &[u64; N]) -> [u64; WIDE] {
    let mut t = [0u64; WIDE];
    // The rows are written out so that every index is a constant once inlined; as a
    // loop, LLVM keeps the 8-limb product rolled, with bounds logic (~10% slower).
    macro_rules! rows {
        ($($i:literal)*) => {$(
            if $i < N {
                mul_row(&mut t, a, b[$i % N], $i);
            }
        )*};
    }
    rows!(0 1 2 3 4 5 6 7);
    t
}

/// Reduction modulo a pseudo-Mersenne prime `p = 2^(64N) - c` (`c < 2^32`)
/// of a 2N-word value (the first 2N words of `t`), using `2^(64N) = c (mod p)`. Branch-free.
#[inline(always)]
pub(crate) fn pm_reduce<const N: usize>(t: &[u64; WIDE], c: u64, p: &[u64; N]) -> [u64; N] {
    let (lo, hi) = (&t[..N], &t[N..2 * N]);
    // r = lo + hi * c  (N words + a top word below 2^33)
    let mut r = [0u64; N];
    let mut carry = 0u64;
    for i in 0..N {
        let (v, h) = mac(hi[i], c, lo[i], carry);
        r[i] = v;
        carry = h;
    }
    // r += top * c; a carry out of the N words is worth another c.
    let (v, mut k) = adc(r[0], carry * c, 0);
    r[0] = v;
    for w in r.iter_mut().skip(1) {
        let (v, k2) = adc(*w, 0, k);
        *w = v;
        k = k2;
    }
    // If that overflowed, the low words are now tiny, so adding c cannot overflow.
    let (v, mut k) = adc(r[0], k * c, 0);
    r[0] = v;
    for w in r.iter_mut().skip(1) {
        let (v, k2) = adc(*w, 0, k);
        *w = v;
        k = k2;
    }
    // r < 2^(64N) < 2p.
    sub_if_ge(&r, 0, p)
}

/// `a * b mod p` for a pseudo-Mersenne `p = 2^(64N) - c`, `a, b < p`.
#[inline(always)]
pub(crate) fn pm_mul<const N: usize>(a: &[u64; N], b: &[u64; N], c: u64, p: &[u64; N]) -> [u64; N] {
    pm_reduce(&wide_mul(a, b), c, p)
}

/// `c` if `p = 2^(64N) - c` with `0 < c < 2^32`, else 0 (compile time).
pub(crate) const fn pseudo_mersenne_c<const N: usize>(p: &[u64; N]) -> u64 {
    let mut i = 1;
    while i < N {
        if p[i] != u64::MAX {
            return 0;
        }
        i += 1;
    }
    let c = p[0].wrapping_neg();
    if c != 0 && c < (1 << 32) {
        c
    } else {
        0
    }
}

/// `-p^(-1) mod 2^64` for odd `p0`.
pub(crate) const fn m0inv(p0: u64) -> u64 {
    let mut inv = 1u64;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(p0.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg()
}

/// `2^(64N) mod p` and `2^(128N) mod p`, by repeated modular doubling.
pub(crate) const fn r_and_r2<const N: usize>(p: &[u64; N]) -> ([u64; N], [u64; N]) {
    let mut x = [0u64; N];
    x[0] = 1;
    let mut i = 0;
    while i < 64 * N {
        x = add_mod(&x, &x, p);
        i += 1;
    }
    let r = x;
    i = 0;
    while i < 64 * N {
        x = add_mod(&x, &x, p);
        i += 1;
    }
    (r, x)
}

/// Parses a big-endian hexadecimal string into little-endian limbs (compile time).
pub(crate) const fn limbs_from_hex<const N: usize>(s: &str) -> [u64; N] {
    let b = s.as_bytes();
    assert!(b.len() <= 16 * N, "hex constant too long");
    let mut out = [0u64; N];
    let mut i = 0;
    while i < b.len() {
        let c = b[b.len() - 1 - i];
        let v = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("invalid hex digit"),
        };
        out[i / 16] |= (v as u64) << ((i % 16) * 4);
        i += 1;
    }
    out
}

/// Bit length of a little-endian limb array (compile time).
pub(crate) const fn bit_len<const N: usize>(x: &[u64; N]) -> u32 {
    let mut i = N;
    while i > 0 {
        i -= 1;
        if x[i] != 0 {
            return (i as u32) * 64 + (64 - x[i].leading_zeros());
        }
    }
    0
}

/// Constant-time `x < p`: returns 1 if so, else 0.
#[inline(always)]
pub(crate) fn lt<const N: usize>(x: &[u64; N], p: &[u64; N]) -> u64 {
    let mut borrow = 0;
    for j in 0..N {
        borrow = sbb(x[j], p[j], borrow).1;
    }
    borrow
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: [u64; 4] =
        limbs_from_hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97");

    #[test]
    fn pseudo_mersenne_detection() {
        assert_eq!(pseudo_mersenne_c(&P), 617);
        let q: [u64; 4] =
            limbs_from_hex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF6C611070995AD10045841B09B761B893");
        assert_eq!(pseudo_mersenne_c(&q), 0);
    }

    #[test]
    fn m0inv_is_negated_inverse() {
        assert_eq!(P[0].wrapping_mul(m0inv(P[0])), u64::MAX);
    }
}
