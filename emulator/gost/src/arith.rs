//! Limb-level arithmetic on little-endian `[u64; N]` arrays.
//!
//! Everything here is branch-free on the values (only the loop bounds, which
//! are the public limb count, drive control flow) and `const fn`, so that the
//! Montgomery constants and the curve constants are computed at compile time
//! from the hexadecimal strings in [`crate::params`].

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
    // borrow == 1 <=> (hi:t) < p <=> keep t.
    let keep = 0u64.wrapping_sub(borrow);
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
    let mask = 0u64.wrapping_sub(borrow);
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

/// Montgomery squaring `a^2 * 2^(-64N) mod p` for `a < p`.
///
/// Computes the double-width square with the usual "off-diagonal products
/// once, then double" trick, followed by a word-by-word Montgomery reduction.
#[inline(always)]
pub(crate) fn mont_sqr<const N: usize>(a: &[u64; N], p: &[u64; N], m0inv: u64) -> [u64; N] {
    // 2N-word product, stored as two N-word halves to stay on stable const generics.
    let mut lo = [0u64; N];
    let mut hi = [0u64; N];
    // Off-diagonal products a[i]*a[j], i < j.
    let mut i = 0;
    while i < N {
        let mut c = 0;
        let mut j = i + 1;
        while j < N {
            let k = i + j;
            let cur = if k < N { lo[k] } else { hi[k - N] };
            let (v, h) = mac(a[i], a[j], cur, c);
            if k < N {
                lo[k] = v;
            } else {
                hi[k - N] = v;
            }
            c = h;
            j += 1;
        }
        let k = i + N;
        if k < 2 * N {
            // position i + N is always in the high half (i >= 0).
            hi[k - N] = c;
        }
        i += 1;
    }
    // Double: shift the whole 2N-word value left by one bit.
    let mut carry = 0u64;
    let mut k = 0;
    while k < 2 * N {
        let w = if k < N { lo[k] } else { hi[k - N] };
        let nw = (w << 1) | carry;
        carry = w >> 63;
        if k < N {
            lo[k] = nw;
        } else {
            hi[k - N] = nw;
        }
        k += 1;
    }
    // Add the diagonal squares a[i]^2 at positions 2i, 2i+1.
    let mut c = 0u64;
    i = 0;
    while i < N {
        let (sq_lo, sq_hi) = mac(a[i], a[i], 0, 0);
        let k0 = 2 * i;
        let k1 = 2 * i + 1;
        let w0 = if k0 < N { lo[k0] } else { hi[k0 - N] };
        let (v0, c0) = adc(w0, sq_lo, c);
        let w1 = if k1 < N { lo[k1] } else { hi[k1 - N] };
        let (v1, c1) = adc(w1, sq_hi, c0);
        if k0 < N {
            lo[k0] = v0;
        } else {
            hi[k0 - N] = v0;
        }
        if k1 < N {
            lo[k1] = v1;
        } else {
            hi[k1 - N] = v1;
        }
        c = c1;
        i += 1;
    }
    // Montgomery reduction of (hi:lo).
    let mut top = 0u64; // carry out of the high half
    i = 0;
    while i < N {
        let m = lo[0].wrapping_mul(m0inv);
        let (_, mut c) = mac(m, p[0], lo[0], 0);
        let mut j = 1;
        while j < N {
            let (v, h) = mac(m, p[j], lo[j], c);
            lo[j - 1] = v;
            c = h;
            j += 1;
        }
        // Fold in the next high word.
        let (v, c2) = adc(hi[i], c, top);
        lo[N - 1] = v;
        top = c2;
        i += 1;
    }
    sub_if_ge(&lo, top, p)
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

/// `p - 2` (the Fermat inversion exponent), for `p > 2`.
pub(crate) const fn minus_two<const N: usize>(p: &[u64; N]) -> [u64; N] {
    let mut two = [0u64; N];
    two[0] = 2;
    let mut r = [0u64; N];
    let mut borrow = 0;
    let mut j = 0;
    while j < N {
        let (d, b) = sbb(p[j], two[j], borrow);
        r[j] = d;
        borrow = b;
        j += 1;
    }
    r
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
    fn sqr_matches_mul() {
        let inv = m0inv(P[0]);
        let vals = [
            [0u64, 0, 0, 0],
            [1, 0, 0, 0],
            [u64::MAX, u64::MAX, u64::MAX, u64::MAX - 1],
            minus_two(&P),
            [0x1234_5678_9abc_def0, 0x0fed_cba9_8765_4321, 7, 1 << 63],
        ];
        for v in vals {
            assert_eq!(mont_sqr(&v, &P, inv), mont_mul(&v, &v, &P, inv));
        }
    }

    #[test]
    fn m0inv_is_negated_inverse() {
        assert_eq!(P[0].wrapping_mul(m0inv(P[0])), u64::MAX);
    }
}
