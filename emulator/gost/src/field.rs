//! Prime-field elements, one concrete type per modulus: Montgomery form in
//! general, plain form with a special reduction for `p = 2^(64N) - c`.
//!
//! The [`Field`] trait is what the curve and signature code is generic over;
//! [`prime_field!`] declares a type for one modulus given as hexadecimal data.
//! All operations are constant time except the ones whose name says
//! `vartime`.

use core::fmt::Debug;
use core::ops::{Add, Mul, Neg, Sub};

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};

/// Arithmetic in GF(m) for an odd modulus m (the field prime p or the group order q).
pub(crate) trait Field:
    Copy
    + Debug
    + ConditionallySelectable
    + ConstantTimeEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + Send
    + Sync
    + 'static
{
    /// Number of 64-bit limbs.
    const LIMBS: usize;
    /// Encoded length in bytes (`8 * LIMBS`).
    const BYTES: usize;
    /// Bit length of the modulus.
    const MODULUS_BITS: u32;
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;

    /// `self^2`.
    fn square(&self) -> Self;
    /// `2 * self`.
    fn double(&self) -> Self;
    /// The inverse for non-zero `self` (m prime), 0 for 0; constant time.
    fn invert(&self) -> Self;
    /// Whether `self == 0`.
    fn is_zero(&self) -> Choice;
    /// Big-endian decoding of exactly [`Self::BYTES`] bytes; none if the value is `>= m`.
    fn from_be_bytes(bytes: &[u8]) -> CtOption<Self>;
    /// Big-endian decoding of exactly [`Self::BYTES`] bytes, reduced modulo m.
    fn from_be_bytes_reduced(bytes: &[u8]) -> Self;
    /// Writes the canonical big-endian encoding into `out` (length [`Self::BYTES`]).
    fn write_be_bytes(&self, out: &mut [u8]);
    /// Writes the canonical value as little-endian limbs into `out` (length [`Self::LIMBS`]).
    fn write_canonical_limbs(&self, out: &mut [u64]);
    /// Writes the modulus as little-endian limbs into `out` (length [`Self::LIMBS`]).
    fn write_modulus_limbs(out: &mut [u64]);
    /// Overwrites `self` with zero in a way the optimiser keeps.
    fn zeroize(&mut self);
}

/// Declares a field element type `$name` for the modulus `$hex` with `$n` limbs.
macro_rules! prime_field {
    ($(#[$attr:meta])* $name:ident, $n:literal, $hex:expr) => {
        $(#[$attr])*
        #[derive(Clone, Copy)]
        pub(crate) struct $name([u64; $n]);

        #[allow(dead_code)]
        impl $name {
            const MODULUS: [u64; $n] = $crate::arith::limbs_from_hex::<$n>($hex);
            const M0INV: u64 = $crate::arith::m0inv(Self::MODULUS[0]);
            const R_R2: ([u64; $n], [u64; $n]) = $crate::arith::r_and_r2(&Self::MODULUS);
            const R: [u64; $n] = Self::R_R2.0;
            const R2: [u64; $n] = Self::R_R2.1;
            /// The modulus for the safegcd inversion.
            const INV_MODULUS: $crate::safegcd::InvModulus =
                $crate::safegcd::InvModulus::new(&Self::MODULUS);
            /// `R^3 mod m`: turns the plain inverse of `aR` into `a^(-1) R`.
            const R3: [u64; $n] =
                $crate::arith::mont_mul(&Self::R2, &Self::R2, &Self::MODULUS, Self::M0INV);
            /// `c` when the modulus is `2^(64N) - c` (plain representation and
            /// special reduction), 0 for Montgomery representation.
            const PM_C: u64 = $crate::arith::pseudo_mersenne_c(&Self::MODULUS);
            const ONE_REPR: [u64; $n] = {
                let mut one = [0u64; $n];
                one[0] = 1;
                if Self::PM_C != 0 {
                    one
                } else {
                    Self::R
                }
            };

            /// Compile-time conversion of a big-endian hex constant (`< modulus`).
            pub(crate) const fn from_hex(s: &str) -> Self {
                let x = $crate::arith::limbs_from_hex::<$n>(s);
                assert!(
                    $crate::arith::bit_len(&x) <= $crate::arith::bit_len(&Self::MODULUS),
                    "constant larger than the modulus"
                );
                if Self::PM_C != 0 {
                    Self($crate::arith::sub_if_ge(&x, 0, &Self::MODULUS))
                } else {
                    Self($crate::arith::mont_mul(&x, &Self::R2, &Self::MODULUS, Self::M0INV))
                }
            }

            /// Compile-time addition (for derived constants such as 3b).
            pub(crate) const fn const_add(self, rhs: Self) -> Self {
                Self($crate::arith::add_mod(&self.0, &rhs.0, &Self::MODULUS))
            }

            /// Any `x < 2^(64N)`, reduced into the internal representation.
            #[inline(always)]
            fn from_limbs_reduced(x: &[u64; $n]) -> Self {
                if Self::PM_C != 0 {
                    // x < 2^(64N) < 2p.
                    Self($crate::arith::sub_if_ge(x, 0, &Self::MODULUS))
                } else {
                    Self($crate::arith::mont_mul(x, &Self::R2, &Self::MODULUS, Self::M0INV))
                }
            }

            #[inline(always)]
            fn canonical(&self) -> [u64; $n] {
                if Self::PM_C != 0 {
                    self.0
                } else {
                    let mut one = [0u64; $n];
                    one[0] = 1;
                    $crate::arith::mont_mul(&self.0, &one, &Self::MODULUS, Self::M0INV)
                }
            }

            fn limbs_from_be(bytes: &[u8]) -> [u64; $n] {
                assert_eq!(bytes.len(), 8 * $n, "field element length");
                let mut x = [0u64; $n];
                for (i, chunk) in bytes.rchunks_exact(8).enumerate() {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(chunk);
                    x[i] = u64::from_be_bytes(w);
                }
                x
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                // Field elements may be secret (k, d): never print the value.
                write!(f, concat!(stringify!($name), "(..)"))
            }
        }

        impl subtle::ConditionallySelectable for $name {
            #[inline(always)]
            fn conditional_select(a: &Self, b: &Self, choice: subtle::Choice) -> Self {
                let mut r = [0u64; $n];
                for i in 0..$n {
                    r[i] = u64::conditional_select(&a.0[i], &b.0[i], choice);
                }
                Self(r)
            }
        }

        impl subtle::ConstantTimeEq for $name {
            #[inline(always)]
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                // Montgomery representations are canonical (< modulus).
                subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..])
            }
        }

        impl core::ops::Add for $name {
            type Output = Self;
            #[inline(always)]
            fn add(self, rhs: Self) -> Self {
                Self($crate::arith::add_mod(&self.0, &rhs.0, &Self::MODULUS))
            }
        }

        impl core::ops::Sub for $name {
            type Output = Self;
            #[inline(always)]
            fn sub(self, rhs: Self) -> Self {
                Self($crate::arith::sub_mod(&self.0, &rhs.0, &Self::MODULUS))
            }
        }

        impl core::ops::Mul for $name {
            type Output = Self;
            #[inline(always)]
            fn mul(self, rhs: Self) -> Self {
                if Self::PM_C != 0 {
                    Self($crate::arith::pm_mul(&self.0, &rhs.0, Self::PM_C, &Self::MODULUS))
                } else {
                    Self($crate::arith::mont_mul(&self.0, &rhs.0, &Self::MODULUS, Self::M0INV))
                }
            }
        }

        impl core::ops::Neg for $name {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                Self($crate::arith::sub_mod(&[0u64; $n], &self.0, &Self::MODULUS))
            }
        }

        impl $crate::field::Field for $name {
            const LIMBS: usize = $n;
            const BYTES: usize = 8 * $n;
            const MODULUS_BITS: u32 = $crate::arith::bit_len(&Self::MODULUS);
            const ZERO: Self = Self([0u64; $n]);
            const ONE: Self = Self(Self::ONE_REPR);

            #[inline(always)]
            fn square(&self) -> Self {
                // The dedicated squaring (arith::pm_sqr / mont_sqr) measured no
                // faster than the multiplication on x86-64; keep the multiplication.
                *self * *self
            }

            #[inline(always)]
            fn double(&self) -> Self {
                *self + *self
            }

            fn invert(&self) -> Self {
                // Constant-time safegcd on the stored limbs: the plain
                // representation inverts directly; for Montgomery, (aR)^-1 * R^3 / R = a^-1 R.
                let inv = $crate::safegcd::invert(&self.0, &Self::INV_MODULUS);
                if Self::PM_C != 0 {
                    Self(inv)
                } else {
                    Self($crate::arith::mont_mul(&inv, &Self::R3, &Self::MODULUS, Self::M0INV))
                }
            }

            #[inline(always)]
            fn is_zero(&self) -> subtle::Choice {
                subtle::ConstantTimeEq::ct_eq(self, &Self::ZERO)
            }

            fn from_be_bytes(bytes: &[u8]) -> subtle::CtOption<Self> {
                let mut x = Self::limbs_from_be(bytes);
                let ok = $crate::arith::lt(&x, &Self::MODULUS);
                let r = Self::from_limbs_reduced(&x);
                zeroize::Zeroize::zeroize(&mut x);
                subtle::CtOption::new(r, subtle::Choice::from(ok as u8))
            }

            fn from_be_bytes_reduced(bytes: &[u8]) -> Self {
                let mut x = Self::limbs_from_be(bytes);
                let r = Self::from_limbs_reduced(&x);
                zeroize::Zeroize::zeroize(&mut x);
                r
            }

            fn write_be_bytes(&self, out: &mut [u8]) {
                assert_eq!(out.len(), 8 * $n, "field element length");
                let mut c = self.canonical();
                for (i, chunk) in out.rchunks_exact_mut(8).enumerate() {
                    chunk.copy_from_slice(&c[i].to_be_bytes());
                }
                zeroize::Zeroize::zeroize(&mut c);
            }

            fn write_canonical_limbs(&self, out: &mut [u64]) {
                out.copy_from_slice(&self.canonical());
            }

            fn write_modulus_limbs(out: &mut [u64]) {
                out.copy_from_slice(&Self::MODULUS);
            }

            fn zeroize(&mut self) {
                zeroize::Zeroize::zeroize(&mut self.0);
            }
        }
    };
}

pub(crate) use prime_field;

/// Unwraps a `CtOption` whose presence is public information.
#[inline(always)]
pub(crate) fn into_option<T>(v: CtOption<T>) -> Option<T> {
    Option::from(v)
}
