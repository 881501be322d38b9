//! Curve points: complete projective formulas and scalar multiplication.
//!
//! Addition and doubling use the complete formulas of Renes, Costello and
//! Batina, "Complete addition formulas for prime order elliptic curves"
//! (EUROCRYPT 2016, eprint 2015/1060): Algorithms 1-3 for a generic `a`,
//! Algorithms 4-6 for `a = -3`. Step numbers in the comments refer to the
//! paper. The formulas are complete on any group of odd order; on the
//! cofactor-4 curves every point we combine lies in the subgroup of odd
//! prime order q (public keys are checked for that on import).
//!
//! Scalar multiplication by the base point uses a fixed-base table of
//! `j * 32^i * G` (j = 1..16) for every 5-bit window i, with signed digits,
//! a constant-time scan of each row and a conditional negation: no
//! secret-dependent branch or memory index.

use std::sync::OnceLock;

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::field::Field;

/// A curve with its constants; implemented by the types in [`crate::curves`].
pub(crate) trait Curve: 'static + Sized {
    /// Field of coordinates, GF(p).
    type Fe: Field;
    /// Scalars modulo the subgroup order q.
    type Sc: Field;
    /// Whether `a = p - 3` (selects Algorithms 4-6).
    const A_IS_MINUS_3: bool;
    /// Curve coefficient a.
    const A: Self::Fe;
    /// Curve coefficient b.
    const B: Self::Fe;
    /// `3 * b`.
    const B3: Self::Fe;
    /// Base point.
    const G: Affine<Self::Fe>;
    /// Cofactor h.
    const COFACTOR: u32;
    /// The fixed-base table for G, built on first use.
    fn base_table() -> &'static BaseTable<Self::Fe>;
    /// The lazily initialised storage for [`Self::base_table`].
    fn base_table_cell() -> &'static OnceLock<BaseTable<Self::Fe>>;
}

/// An affine point (never the identity).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine<F> {
    pub(crate) x: F,
    pub(crate) y: F,
}

/// A point in homogeneous projective coordinates `(X : Y : Z)`, `x = X/Z`, `y = Y/Z`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Projective<F> {
    pub(crate) x: F,
    pub(crate) y: F,
    pub(crate) z: F,
}

impl<F: Field> ConditionallySelectable for Affine<F> {
    #[inline(always)]
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self {
            x: F::conditional_select(&a.x, &b.x, choice),
            y: F::conditional_select(&a.y, &b.y, choice),
        }
    }
}

impl<F: Field> ConditionallySelectable for Projective<F> {
    #[inline(always)]
    fn conditional_select(a: &Self, b: &Self, choice: Choice) -> Self {
        Self {
            x: F::conditional_select(&a.x, &b.x, choice),
            y: F::conditional_select(&a.y, &b.y, choice),
            z: F::conditional_select(&a.z, &b.z, choice),
        }
    }
}

impl<F: Field> Affine<F> {
    /// `-P`.
    #[inline(always)]
    pub(crate) fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: -self.y,
        }
    }

    /// Overwrites the coordinates with zero.
    pub(crate) fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
    }
}

impl<F: Field> Projective<F> {
    /// The point at infinity `(0 : 1 : 0)`.
    pub(crate) const IDENTITY: Self = Self {
        x: F::ZERO,
        y: F::ONE,
        z: F::ZERO,
    };

    /// Lifts an affine point.
    #[inline(always)]
    pub(crate) fn from_affine(p: &Affine<F>) -> Self {
        Self {
            x: p.x,
            y: p.y,
            z: F::ONE,
        }
    }

    /// Whether this is the identity (`Z = 0`).
    #[inline(always)]
    pub(crate) fn is_identity(&self) -> Choice {
        self.z.is_zero()
    }

    /// `-P`.
    #[inline(always)]
    pub(crate) fn neg(&self) -> Self {
        Self {
            x: self.x,
            y: -self.y,
            z: self.z,
        }
    }

    /// Converts to affine with one (constant-time) inversion; the flag is set
    /// for the identity, in which case the coordinates are zero.
    pub(crate) fn normalize(&self) -> (Affine<F>, Choice) {
        let zinv = self.z.invert();
        (
            Affine {
                x: self.x * zinv,
                y: self.y * zinv,
            },
            self.is_identity(),
        )
    }

    /// Overwrites the coordinates with zero.
    pub(crate) fn zeroize(&mut self) {
        self.x.zeroize();
        self.y.zeroize();
        self.z.zeroize();
    }
}

/// `y^2 == x^3 + a x + b`.
pub(crate) fn is_on_curve<C: Curve>(p: &Affine<C::Fe>) -> Choice {
    let rhs = (p.x.square() + C::A) * p.x + C::B;
    p.y.square().ct_eq(&rhs)
}

/// `P + Q`, complete.
#[inline(always)]
pub(crate) fn add<C: Curve>(p: &Projective<C::Fe>, q: &Projective<C::Fe>) -> Projective<C::Fe> {
    if C::A_IS_MINUS_3 {
        add_a_minus_3::<C>(p, q)
    } else {
        add_generic::<C>(p, q)
    }
}

/// `P + Q` for an affine `Q` (which must not be the identity).
#[inline(always)]
pub(crate) fn add_mixed<C: Curve>(p: &Projective<C::Fe>, q: &Affine<C::Fe>) -> Projective<C::Fe> {
    if C::A_IS_MINUS_3 {
        add_mixed_a_minus_3::<C>(p, q)
    } else {
        add_mixed_generic::<C>(p, q)
    }
}

/// `2P`, exception free.
#[inline(always)]
pub(crate) fn double<C: Curve>(p: &Projective<C::Fe>) -> Projective<C::Fe> {
    if C::A_IS_MINUS_3 {
        double_a_minus_3::<C>(p)
    } else {
        double_generic::<C>(p)
    }
}

/// RCB Algorithm 1.
#[inline(always)]
fn add_generic<C: Curve>(p: &Projective<C::Fe>, q: &Projective<C::Fe>) -> Projective<C::Fe> {
    let (a, b3) = (C::A, C::B3);
    let mut t0 = p.x * q.x; // 1
    let mut t1 = p.y * q.y; // 2
    let mut t2 = p.z * q.z; // 3
    let mut t3 = p.x + p.y; // 4
    let mut t4 = q.x + q.y; // 5
    t3 = t3 * t4; // 6
    t4 = t0 + t1; // 7
    t3 = t3 - t4; // 8
    t4 = p.x + p.z; // 9
    let mut t5 = q.x + q.z; // 10
    t4 = t4 * t5; // 11
    t5 = t0 + t2; // 12
    t4 = t4 - t5; // 13
    t5 = p.y + p.z; // 14
    let mut x3 = q.y + q.z; // 15
    t5 = t5 * x3; // 16
    x3 = t1 + t2; // 17
    t5 = t5 - x3; // 18
    let mut z3 = a * t4; // 19
    x3 = b3 * t2; // 20
    z3 = x3 + z3; // 21
    x3 = t1 - z3; // 22
    z3 = t1 + z3; // 23
    let mut y3 = x3 * z3; // 24
    t1 = t0 + t0; // 25
    t1 = t1 + t0; // 26
    t2 = a * t2; // 27
    t4 = b3 * t4; // 28
    t1 = t1 + t2; // 29
    t2 = t0 - t2; // 30
    t2 = a * t2; // 31
    t4 = t4 + t2; // 32
    t0 = t1 * t4; // 33
    y3 = y3 + t0; // 34
    t0 = t5 * t4; // 35
    x3 = t3 * x3; // 36
    x3 = x3 - t0; // 37
    t0 = t3 * t1; // 38
    z3 = t5 * z3; // 39
    z3 = z3 + t0; // 40
    Projective {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// RCB Algorithm 2.
#[inline(always)]
fn add_mixed_generic<C: Curve>(p: &Projective<C::Fe>, q: &Affine<C::Fe>) -> Projective<C::Fe> {
    let (a, b3) = (C::A, C::B3);
    let mut t0 = p.x * q.x; // 1
    let mut t1 = p.y * q.y; // 2
    let mut t3 = q.x + q.y; // 3
    let mut t4 = p.x + p.y; // 4
    t3 = t3 * t4; // 5
    t4 = t0 + t1; // 6
    t3 = t3 - t4; // 7
    t4 = q.x * p.z; // 8
    t4 = t4 + p.x; // 9
    let mut t5 = q.y * p.z; // 10
    t5 = t5 + p.y; // 11
    let mut z3 = a * t4; // 12
    let mut x3 = b3 * p.z; // 13
    z3 = x3 + z3; // 14
    x3 = t1 - z3; // 15
    z3 = t1 + z3; // 16
    let mut y3 = x3 * z3; // 17
    t1 = t0 + t0; // 18
    t1 = t1 + t0; // 19
    let mut t2 = a * p.z; // 20
    t4 = b3 * t4; // 21
    t1 = t1 + t2; // 22
    t2 = t0 - t2; // 23
    t2 = a * t2; // 24
    t4 = t4 + t2; // 25
    t0 = t1 * t4; // 26
    y3 = y3 + t0; // 27
    t0 = t5 * t4; // 28
    x3 = t3 * x3; // 29
    x3 = x3 - t0; // 30
    t0 = t3 * t1; // 31
    z3 = t5 * z3; // 32
    z3 = z3 + t0; // 33
    Projective {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// RCB Algorithm 3.
#[inline(always)]
fn double_generic<C: Curve>(p: &Projective<C::Fe>) -> Projective<C::Fe> {
    let (a, b3) = (C::A, C::B3);
    let mut t0 = p.x.square(); // 1
    let t1 = p.y.square(); // 2
    let mut t2 = p.z.square(); // 3
    let mut t3 = p.x * p.y; // 4
    t3 = t3.double(); // 5
    let mut z3 = p.x * p.z; // 6
    z3 = z3.double(); // 7
    let mut x3 = a * z3; // 8
    let mut y3 = b3 * t2; // 9
    y3 = x3 + y3; // 10
    x3 = t1 - y3; // 11
    y3 = t1 + y3; // 12
    y3 = x3 * y3; // 13
    x3 = t3 * x3; // 14
    z3 = b3 * z3; // 15
    t2 = a * t2; // 16
    t3 = t0 - t2; // 17
    t3 = a * t3; // 18
    t3 = t3 + z3; // 19
    z3 = t0 + t0; // 20
    t0 = z3 + t0; // 21
    t0 = t0 + t2; // 22
    t0 = t0 * t3; // 23
    y3 = y3 + t0; // 24
    t2 = p.y * p.z; // 25
    t2 = t2.double(); // 26
    t0 = t2 * t3; // 27
    x3 = x3 - t0; // 28
    z3 = t2 * t1; // 29
    z3 = z3.double(); // 30
    z3 = z3.double(); // 31
    Projective {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// RCB Algorithm 4 (a = -3).
#[inline(always)]
fn add_a_minus_3<C: Curve>(p: &Projective<C::Fe>, q: &Projective<C::Fe>) -> Projective<C::Fe> {
    let b = C::B;
    let mut t0 = p.x * q.x; // 1
    let mut t1 = p.y * q.y; // 2
    let mut t2 = p.z * q.z; // 3
    let mut t3 = p.x + p.y; // 4
    let mut t4 = q.x + q.y; // 5
    t3 = t3 * t4; // 6
    t4 = t0 + t1; // 7
    t3 = t3 - t4; // 8
    t4 = p.y + p.z; // 9
    let mut x3 = q.y + q.z; // 10
    t4 = t4 * x3; // 11
    x3 = t1 + t2; // 12
    t4 = t4 - x3; // 13
    x3 = p.x + p.z; // 14
    let mut y3 = q.x + q.z; // 15
    x3 = x3 * y3; // 16
    y3 = t0 + t2; // 17
    y3 = x3 - y3; // 18
    let mut z3 = b * t2; // 19
    x3 = y3 - z3; // 20
    z3 = x3.double(); // 21
    x3 = x3 + z3; // 22
    z3 = t1 - x3; // 23
    x3 = t1 + x3; // 24
    y3 = b * y3; // 25
    t1 = t2.double(); // 26
    t2 = t1 + t2; // 27
    y3 = y3 - t2; // 28
    y3 = y3 - t0; // 29
    t1 = y3.double(); // 30
    y3 = t1 + y3; // 31
    t1 = t0.double(); // 32
    t0 = t1 + t0; // 33
    t0 = t0 - t2; // 34
    t1 = t4 * y3; // 35
    t2 = t0 * y3; // 36
    y3 = x3 * z3; // 37
    y3 = y3 + t2; // 38
    x3 = t3 * x3; // 39
    x3 = x3 - t1; // 40
    z3 = t4 * z3; // 41
    t1 = t3 * t0; // 42
    z3 = z3 + t1; // 43
    Projective {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// RCB Algorithm 5 (a = -3, mixed).
#[inline(always)]
fn add_mixed_a_minus_3<C: Curve>(p: &Projective<C::Fe>, q: &Affine<C::Fe>) -> Projective<C::Fe> {
    let b = C::B;
    let mut t0 = p.x * q.x; // 1
    let mut t1 = p.y * q.y; // 2
    let mut t3 = q.x + q.y; // 3
    let mut t4 = p.x + p.y; // 4
    t3 = t3 * t4; // 5
    t4 = t0 + t1; // 6
    t3 = t3 - t4; // 7
    t4 = q.y * p.z; // 8
    t4 = t4 + p.y; // 9
    let mut y3 = q.x * p.z; // 10
    y3 = y3 + p.x; // 11
    let mut z3 = b * p.z; // 12
    let mut x3 = y3 - z3; // 13
    z3 = x3.double(); // 14
    x3 = x3 + z3; // 15
    z3 = t1 - x3; // 16
    x3 = t1 + x3; // 17
    y3 = b * y3; // 18
    t1 = p.z.double(); // 19
    let mut t2 = t1 + p.z; // 20
    y3 = y3 - t2; // 21
    y3 = y3 - t0; // 22
    t1 = y3.double(); // 23
    y3 = t1 + y3; // 24
    t1 = t0.double(); // 25
    t0 = t1 + t0; // 26
    t0 = t0 - t2; // 27
    t1 = t4 * y3; // 28
    t2 = t0 * y3; // 29
    y3 = x3 * z3; // 30
    y3 = y3 + t2; // 31
    x3 = t3 * x3; // 32
    x3 = x3 - t1; // 33
    z3 = t4 * z3; // 34
    t1 = t3 * t0; // 35
    z3 = z3 + t1; // 36
    Projective {
        x: x3,
        y: y3,
        z: z3,
    }
}

/// RCB Algorithm 6 (a = -3).
#[inline(always)]
fn double_a_minus_3<C: Curve>(p: &Projective<C::Fe>) -> Projective<C::Fe> {
    let b = C::B;
    let mut t0 = p.x.square(); // 1
    let t1 = p.y.square(); // 2
    let mut t2 = p.z.square(); // 3
    let mut t3 = p.x * p.y; // 4
    t3 = t3.double(); // 5
    let mut z3 = p.x * p.z; // 6
    z3 = z3.double(); // 7
    let mut y3 = b * t2; // 8
    y3 = y3 - z3; // 9
    let mut x3 = y3.double(); // 10
    y3 = x3 + y3; // 11
    x3 = t1 - y3; // 12
    y3 = t1 + y3; // 13
    y3 = x3 * y3; // 14
    x3 = x3 * t3; // 15
    t3 = t2.double(); // 16
    t2 = t2 + t3; // 17
    z3 = b * z3; // 18
    z3 = z3 - t2; // 19
    z3 = z3 - t0; // 20
    t3 = z3.double(); // 21
    z3 = z3 + t3; // 22
    t3 = t0.double(); // 23
    t0 = t3 + t0; // 24
    t0 = t0 - t2; // 25
    t0 = t0 * z3; // 26
    y3 = y3 + t0; // 27
    t0 = p.y * p.z; // 28
    t0 = t0.double(); // 29
    z3 = t0 * z3; // 30
    x3 = x3 - z3; // 31
    z3 = t0 * t1; // 32
    z3 = z3.double(); // 33
    z3 = z3.double(); // 34
    Projective {
        x: x3,
        y: y3,
        z: z3,
    }
}

// --- Scalar recoding ------------------------------------------------------

/// Window width of the signed-digit recoding.
pub(crate) const WINDOW: usize = 5;
/// Points per table row: multiples 1..=2^(WINDOW-1).
pub(crate) const ROW: usize = 1 << (WINDOW - 1);
/// Enough windows for a 512-bit scalar plus the final carry.
pub(crate) const MAX_WINDOWS: usize = (512usize + 1).div_ceil(WINDOW);
/// Largest limb count of any scalar.
pub(crate) const MAX_LIMBS: usize = 8;

/// Number of windows for scalars of `limbs` 64-bit limbs.
pub(crate) const fn windows_for(limbs: usize) -> usize {
    (64 * limbs + 1).div_ceil(WINDOW)
}

/// Signed radix-32 recoding of a little-endian scalar: digits in [-15, 16]
/// with `k = sum d_i 32^i`. Branch-free in the scalar value.
pub(crate) fn recode(limbs: &[u64], digits: &mut [i8; MAX_WINDOWS]) {
    let nwin = windows_for(limbs.len());
    let mut carry: u32 = 0;
    for (i, digit) in digits.iter_mut().enumerate().take(nwin) {
        let pos = i * WINDOW;
        let word = pos / 64;
        let off = pos % 64;
        let mut bits = if word < limbs.len() {
            limbs[word] >> off
        } else {
            0
        };
        if off + WINDOW > 64 && word + 1 < limbs.len() {
            bits |= limbs[word + 1] << (64 - off);
        }
        let v = ((bits & 0x1F) as u32) + carry; // 0..=32
        carry = (v + 15) >> 5; // 1 iff v >= 17
        *digit = (v as i32 - ((carry as i32) << 5)) as i8;
    }
    debug_assert_eq!(carry, 0, "scalar too large for the recoding");
    for d in digits.iter_mut().skip(nwin) {
        *d = 0;
    }
}

/// Absolute value and sign of a digit, branch-free.
#[inline(always)]
fn digit_parts(d: i8) -> (u32, Choice) {
    let d = i32::from(d);
    let m = d >> 31; // all ones if negative
    let abs = ((d ^ m) - m) as u32;
    (abs, Choice::from((m & 1) as u8))
}

// --- Fixed-base table ----------------------------------------------------

/// Rows `[j * 32^i * G for j in 1..=16]` for every window i, in affine form.
pub(crate) struct BaseTable<F> {
    rows: Vec<[Affine<F>; ROW]>,
}

impl<F: Field> BaseTable<F> {
    /// Builds the table for curve `C` (one batched inversion).
    pub(crate) fn new<C: Curve<Fe = F>>() -> Self {
        let nwin = windows_for(C::Sc::LIMBS);
        let mut proj = Vec::with_capacity(nwin * ROW);
        let mut base = Projective::from_affine(&C::G);
        for _ in 0..nwin {
            let mut m = base;
            for j in 0..ROW {
                if j > 0 {
                    m = add::<C>(&m, &base);
                }
                proj.push(m);
            }
            for _ in 0..WINDOW {
                base = double::<C>(&base);
            }
        }
        let aff = batch_to_affine(&proj);
        let rows = aff
            .chunks_exact(ROW)
            .map(|c| {
                let mut row = [c[0]; ROW];
                row.copy_from_slice(c);
                row
            })
            .collect();
        Self { rows }
    }
}

/// Normalises many non-identity points with a single inversion.
fn batch_to_affine<F: Field>(pts: &[Projective<F>]) -> Vec<Affine<F>> {
    let mut prefix = Vec::with_capacity(pts.len());
    let mut acc = F::ONE;
    for p in pts {
        prefix.push(acc);
        acc = acc * p.z;
    }
    let mut inv = acc.invert();
    let mut out = vec![
        Affine {
            x: F::ZERO,
            y: F::ZERO
        };
        pts.len()
    ];
    for i in (0..pts.len()).rev() {
        let zinv = inv * prefix[i];
        inv = inv * pts[i].z;
        out[i] = Affine {
            x: pts[i].x * zinv,
            y: pts[i].y * zinv,
        };
    }
    out
}

/// `k * G` in constant time (for signing and key generation).
pub(crate) fn mul_base<C: Curve>(k: &C::Sc) -> Projective<C::Fe> {
    let table = C::base_table();
    let mut limbs = [0u64; MAX_LIMBS];
    k.write_canonical_limbs(&mut limbs[..C::Sc::LIMBS]);
    let mut digits = [0i8; MAX_WINDOWS];
    recode(&limbs[..C::Sc::LIMBS], &mut digits);
    let mut acc = Projective::<C::Fe>::IDENTITY;
    for (row, &d) in table.rows.iter().zip(digits.iter()) {
        let (abs, negative) = digit_parts(d);
        let mut sel = row[0];
        for (j, entry) in row.iter().enumerate().skip(1) {
            sel.conditional_assign(entry, abs.ct_eq(&(j as u32 + 1)));
        }
        let neg_y = -sel.y;
        sel.y.conditional_assign(&neg_y, negative);
        let sum = add_mixed::<C>(&acc, &sel);
        acc.conditional_assign(&sum, !abs.ct_eq(&0));
        sel.zeroize();
    }
    zeroize::Zeroize::zeroize(&mut limbs);
    zeroize::Zeroize::zeroize(&mut digits);
    acc
}

/// `k * P` in constant time, for a secret scalar `k` and a public point `P` of order q
/// (VKO key agreement). The same signed radix-32 recoding as [`mul_base`]: a table of
/// `1P..16P` (from the public point), five doublings per window, a full scan of the table
/// for each digit, a conditional negation, and an addition that is always computed and
/// kept or discarded by mask. Complete formulas, so the identity needs no branch.
pub(crate) fn mul_ct<C: Curve>(p: &Affine<C::Fe>, k: &C::Sc) -> Projective<C::Fe> {
    let base = Projective::from_affine(p);
    let mut table = [base; ROW];
    for j in 1..ROW {
        table[j] = add::<C>(&table[j - 1], &base);
    }
    let mut limbs = [0u64; MAX_LIMBS];
    k.write_canonical_limbs(&mut limbs[..C::Sc::LIMBS]);
    let mut digits = [0i8; MAX_WINDOWS];
    recode(&limbs[..C::Sc::LIMBS], &mut digits);
    let nwin = windows_for(C::Sc::LIMBS);
    let mut acc = Projective::<C::Fe>::IDENTITY;
    for &d in digits[..nwin].iter().rev() {
        for _ in 0..WINDOW {
            acc = double::<C>(&acc);
        }
        let (abs, negative) = digit_parts(d);
        let mut sel = table[0];
        for (j, entry) in table.iter().enumerate().skip(1) {
            sel.conditional_assign(entry, abs.ct_eq(&(j as u32 + 1)));
        }
        let neg_y = -sel.y;
        sel.y.conditional_assign(&neg_y, negative);
        let sum = add::<C>(&acc, &sel);
        acc.conditional_assign(&sum, !abs.ct_eq(&0));
        sel.zeroize();
    }
    zeroize::Zeroize::zeroize(&mut limbs);
    zeroize::Zeroize::zeroize(&mut digits);
    acc
}

/// `z1 * G + z2 * P`, variable time (public scalars only: verification).
pub(crate) fn mul2_vartime<C: Curve>(
    z1: &C::Sc,
    p: &Affine<C::Fe>,
    z2: &C::Sc,
) -> Projective<C::Fe> {
    let n = C::Sc::LIMBS;
    let mut l1 = [0u64; MAX_LIMBS];
    let mut l2 = [0u64; MAX_LIMBS];
    z1.write_canonical_limbs(&mut l1[..n]);
    z2.write_canonical_limbs(&mut l2[..n]);
    let acc = mul_vartime_limbs::<C>(p, &l2[..n]);
    add_base_vartime::<C>(acc, &l1[..n])
}

/// `acc + k * G` using the base table, variable time.
fn add_base_vartime<C: Curve>(mut acc: Projective<C::Fe>, k: &[u64]) -> Projective<C::Fe> {
    let table = C::base_table();
    let mut digits = [0i8; MAX_WINDOWS];
    recode(k, &mut digits);
    for (row, &d) in table.rows.iter().zip(digits.iter()) {
        if d > 0 {
            acc = add_mixed::<C>(&acc, &row[d as usize - 1]);
        } else if d < 0 {
            acc = add_mixed::<C>(&acc, &row[(-d) as usize - 1].neg());
        }
    }
    acc
}

/// `k * P` for a public little-endian scalar `k` (any value below 2^(64n)), variable time.
pub(crate) fn mul_vartime_limbs<C: Curve>(p: &Affine<C::Fe>, k: &[u64]) -> Projective<C::Fe> {
    let base = Projective::from_affine(p);
    let mut table = [base; ROW];
    for j in 1..ROW {
        table[j] = add::<C>(&table[j - 1], &base);
    }
    let mut digits = [0i8; MAX_WINDOWS];
    recode(k, &mut digits);
    let nwin = windows_for(k.len());
    let mut acc = Projective::<C::Fe>::IDENTITY;
    let mut started = false;
    for &d in digits[..nwin].iter().rev() {
        if started {
            for _ in 0..WINDOW {
                acc = double::<C>(&acc);
            }
        }
        if d != 0 {
            let t = if d > 0 {
                table[d as usize - 1]
            } else {
                table[(-d) as usize - 1].neg()
            };
            acc = if started { add::<C>(&acc, &t) } else { t };
            started = true;
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recode_roundtrip() {
        let cases: [[u64; 4]; 4] = [
            [0, 0, 0, 0],
            [u64::MAX; 4],
            [0x8421_0842_1084_2108, 0xFFFF_0000_FFFF_0000, 1, 1 << 63],
            [16, 17, 31, 32],
        ];
        for k in cases {
            let mut digits = [0i8; MAX_WINDOWS];
            recode(&k, &mut digits);
            // Horner evaluation modulo 2^384 in two's complement.
            let mut acc = [0u64; 6];
            for &d in digits[..windows_for(4)].iter().rev() {
                let mut carry = 0u64;
                for w in acc.iter_mut() {
                    let nw = (*w << WINDOW) | carry;
                    carry = *w >> (64 - WINDOW);
                    *w = nw;
                }
                let ext = if d < 0 { u64::MAX } else { 0 };
                let mut c = 0u64;
                for (i, w) in acc.iter_mut().enumerate() {
                    let addend = if i == 0 { i64::from(d) as u64 } else { ext };
                    let (s, cc) = crate::arith::adc(*w, addend, c);
                    *w = s;
                    c = cc;
                }
            }
            assert_eq!(&acc[..4], &k[..], "digits {digits:?}");
            assert_eq!(acc[4], 0);
        }
    }
}
