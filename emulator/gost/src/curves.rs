//! Arithmetic instances of the curves in [`crate::params`]: one field type
//! per prime p, one scalar type per order q, one [`Curve`] per distinct curve.
//! All constants come from the hex data in [`crate::params::hex`].

use std::sync::OnceLock;

use crate::field::prime_field;
use crate::params::hex;
use crate::point::{Affine, BaseTable, Curve};

prime_field!(
    /// GF(p) of CryptoPro-Test.
    FpTest256, 4, hex::TEST256_P
);
prime_field!(
    /// GF(2^256 - 617): CryptoPro-A and tc26-256-A.
    FpP256, 4, hex::CPA_P
);
prime_field!(
    /// GF(p) of CryptoPro-B.
    FpCpB, 4, hex::CPB_P
);
prime_field!(
    /// GF(p) of CryptoPro-C.
    FpCpC, 4, hex::CPC_P
);
prime_field!(
    /// GF(p) of tc26-512-Test.
    FpTest512, 8, hex::TEST512_P
);
prime_field!(
    /// GF(2^512 - 569): tc26-512-A and tc26-512-C.
    FpP512, 8, hex::TC512A_P
);
prime_field!(
    /// GF(p) of tc26-512-B.
    FpTc512B, 8, hex::TC512B_P
);

prime_field!(
    /// Scalars of CryptoPro-Test.
    ScTest256, 4, hex::TEST256_Q
);
prime_field!(
    /// Scalars of CryptoPro-A.
    ScCpA, 4, hex::CPA_Q
);
prime_field!(
    /// Scalars of CryptoPro-B.
    ScCpB, 4, hex::CPB_Q
);
prime_field!(
    /// Scalars of CryptoPro-C.
    ScCpC, 4, hex::CPC_Q
);
prime_field!(
    /// Scalars of tc26-256-A (subgroup order q, not 4q).
    ScTc256A, 4, hex::TC256A_Q
);
prime_field!(
    /// Scalars of tc26-512-Test.
    ScTest512, 8, hex::TEST512_Q
);
prime_field!(
    /// Scalars of tc26-512-A.
    ScTc512A, 8, hex::TC512A_Q
);
prime_field!(
    /// Scalars of tc26-512-B.
    ScTc512B, 8, hex::TC512B_Q
);
prime_field!(
    /// Scalars of tc26-512-C (subgroup order q, not 4q).
    ScTc512C, 8, hex::TC512C_Q
);

macro_rules! curve {
    ($(#[$attr:meta])* $name:ident, $fe:ident, $sc:ident, $minus3:literal, $cof:literal,
     $a:expr, $b:expr, $x:expr, $y:expr) => {
        $(#[$attr])*
        #[derive(Debug)]
        pub(crate) struct $name;

        impl Curve for $name {
            type Fe = $fe;
            type Sc = $sc;
            const A_IS_MINUS_3: bool = $minus3;
            const A: $fe = $fe::from_hex($a);
            const B: $fe = $fe::from_hex($b);
            const B3: $fe = Self::B.const_add(Self::B).const_add(Self::B);
            const G: Affine<$fe> = Affine {
                x: $fe::from_hex($x),
                y: $fe::from_hex($y),
            };
            const COFACTOR: u32 = $cof;

            fn base_table() -> &'static BaseTable<$fe> {
                Self::base_table_cell().get_or_init(BaseTable::new::<Self>)
            }

            fn base_table_cell() -> &'static OnceLock<BaseTable<$fe>> {
                static TABLE: OnceLock<BaseTable<$fe>> = OnceLock::new();
                &TABLE
            }
        }
    };
}

curve!(
    /// CryptoPro-Test / GOST R 34.10-2012 A.1.
    Test256, FpTest256, ScTest256, false, 1,
    hex::TEST256_A, hex::TEST256_B, hex::TEST256_X, hex::TEST256_Y
);
curve!(
    /// CryptoPro-A = XchA = tc26-256-B.
    CryptoProA, FpP256, ScCpA, true, 1,
    hex::CPA_A, hex::CPA_B, hex::CPA_X, hex::CPA_Y
);
curve!(
    /// CryptoPro-B = tc26-256-C.
    CryptoProB, FpCpB, ScCpB, true, 1,
    hex::CPB_A, hex::CPB_B, hex::CPB_X, hex::CPB_Y
);
curve!(
    /// CryptoPro-C = XchB = tc26-256-D.
    CryptoProC, FpCpC, ScCpC, true, 1,
    hex::CPC_A, hex::CPC_B, hex::CPC_X, hex::CPC_Y
);
curve!(
    /// tc26-256-A (cofactor 4).
    Tc26_256A, FpP256, ScTc256A, false, 4,
    hex::TC256A_A, hex::TC256A_B, hex::TC256A_X, hex::TC256A_Y
);
curve!(
    /// tc26-512-Test / GOST R 34.10-2012 A.2.
    Test512, FpTest512, ScTest512, false, 1,
    hex::TEST512_A, hex::TEST512_B, hex::TEST512_X, hex::TEST512_Y
);
curve!(
    /// tc26-512-A.
    Tc26_512A, FpP512, ScTc512A, true, 1,
    hex::TC512A_A, hex::TC512A_B, hex::TC512A_X, hex::TC512A_Y
);
curve!(
    /// tc26-512-B.
    Tc26_512B, FpTc512B, ScTc512B, true, 1,
    hex::TC512B_A, hex::TC512B_B, hex::TC512B_X, hex::TC512B_Y
);
curve!(
    /// tc26-512-C (cofactor 4).
    Tc26_512C, FpP512, ScTc512C, false, 4,
    hex::TC512C_A, hex::TC512C_B, hex::TC512C_X, hex::TC512C_Y
);

/// Runs `$body` with the type alias `$C` bound to the curve of `$id`.
macro_rules! with_curve {
    ($id:expr, $C:ident => $body:expr) => {{
        use $crate::params::CurveId;
        match $id {
            CurveId::Test256 => {
                type $C = $crate::curves::Test256;
                $body
            }
            CurveId::CryptoProA => {
                type $C = $crate::curves::CryptoProA;
                $body
            }
            CurveId::CryptoProB => {
                type $C = $crate::curves::CryptoProB;
                $body
            }
            CurveId::CryptoProC => {
                type $C = $crate::curves::CryptoProC;
                $body
            }
            CurveId::Tc26_256A => {
                type $C = $crate::curves::Tc26_256A;
                $body
            }
            CurveId::Test512 => {
                type $C = $crate::curves::Test512;
                $body
            }
            CurveId::Tc26_512A => {
                type $C = $crate::curves::Tc26_512A;
                $body
            }
            CurveId::Tc26_512B => {
                type $C = $crate::curves::Tc26_512B;
                $body
            }
            CurveId::Tc26_512C => {
                type $C = $crate::curves::Tc26_512C;
                $body
            }
        }
    }};
}

pub(crate) use with_curve;

#[cfg(test)]
mod tests {
    use subtle::ConstantTimeEq;

    use super::*;
    use crate::field::Field;
    use crate::params::param_sets;
    use crate::point::{double, is_on_curve, mul_base, mul_vartime_limbs, Projective};

    fn check_curve<C: Curve>() {
        assert_eq!(C::Fe::BYTES, C::Sc::BYTES);
        assert!(bool::from(is_on_curve::<C>(&C::G)), "G on curve");
        if C::A_IS_MINUS_3 {
            let three = C::Fe::ONE + C::Fe::ONE + C::Fe::ONE;
            assert!(bool::from((C::A + three).is_zero()), "a = -3");
        }
        // q * G = O
        let mut q = [0u64; 8];
        C::Sc::write_modulus_limbs(&mut q[..C::Sc::LIMBS]);
        let o = mul_vartime_limbs::<C>(&C::G, &q[..C::Sc::LIMBS]);
        assert!(bool::from(o.is_identity()), "qG = O");
        // (q - 1) G = -G via the constant-time path.
        let minus_one = -C::Sc::ONE;
        let p = mul_base::<C>(&minus_one);
        let (aff, id) = p.normalize();
        assert!(!bool::from(id));
        assert!(bool::from(aff.x.ct_eq(&C::G.x) & aff.y.ct_eq(&(-C::G.y))));
        // 2G two ways.
        let two = C::Sc::ONE + C::Sc::ONE;
        let (a1, _) = mul_base::<C>(&two).normalize();
        let (a2, _) = double::<C>(&Projective::from_affine(&C::G)).normalize();
        assert!(bool::from(a1.x.ct_eq(&a2.x) & a1.y.ct_eq(&a2.y)));
    }

    /// The 2-torsion point of an Edwards-derived curve is `(t, 0)` with
    /// `t = (e + d) / 6`, e = 1 (gost.md §1, RFC 7836). It and `G + T` are on
    /// the curve but outside the order-q subgroup, so keys must reject them.
    fn check_torsion_rejected<C: Curve>(edwards_d: C::Fe) {
        let six = C::Fe::ONE.double() + C::Fe::ONE.double().double();
        let t = (C::Fe::ONE + edwards_d) * six.invert();
        let torsion = Affine {
            x: t,
            y: C::Fe::ZERO,
        };
        assert!(bool::from(is_on_curve::<C>(&torsion)));
        let mut xb = vec![0u8; C::Fe::BYTES];
        let mut yb = vec![0u8; C::Fe::BYTES];
        let enc = |p: &Affine<C::Fe>, xb: &mut [u8], yb: &mut [u8]| {
            p.x.write_be_bytes(xb);
            p.y.write_be_bytes(yb);
        };
        enc(&torsion, &mut xb, &mut yb);
        assert!(crate::sign::decode_point::<C>(&xb, &yb).is_none());
        let (g_plus_t, _) = crate::point::add::<C>(
            &Projective::from_affine(&C::G),
            &Projective::from_affine(&torsion),
        )
        .normalize();
        assert!(bool::from(is_on_curve::<C>(&g_plus_t)));
        enc(&g_plus_t, &mut xb, &mut yb);
        assert!(crate::sign::decode_point::<C>(&xb, &yb).is_none());
        enc(&C::G, &mut xb, &mut yb);
        assert!(crate::sign::decode_point::<C>(&xb, &yb).is_some());
    }

    #[test]
    fn cofactor_curves_reject_small_order_components() {
        check_torsion_rejected::<Tc26_256A>(FpP256::from_hex(
            "0605F6B7C183FA81578BC39CFAD518132B9DF62897009AF7E522C32D6DC7BFFB",
        ));
        check_torsion_rejected::<Tc26_512C>(FpP512::from_hex(
            "9E4F5D8C017D8D9F13A5CF3CDF5BFE4DAB402D54198E31EBDE28A0621050439CA6B39E0A515C06B304E2CE43E79E369E91A0CFC2BC2A22B4CA302DBB33EE7550",
        ));
    }

    #[test]
    fn every_curve_is_consistent() {
        for ps in param_sets() {
            with_curve!(ps.curve, C => check_curve::<C>());
        }
    }
}

/// Differential tests of the hand-written Montgomery arithmetic against
/// crypto-bigint's generic modular arithmetic.
#[cfg(test)]
mod oracle {
    use crypto_bigint::{NonZero, Uint};
    use proptest::prelude::*;

    use super::*;
    use crate::field::{into_option, Field};

    fn check<F: Field, const L: usize>(modulus_hex: &str, a: &[u8], b: &[u8]) {
        let padded = format!("{:0>width$}", modulus_hex, width = 16 * L);
        let p = Uint::<L>::from_be_slice(&::hex::decode(padded).expect("hex"));
        let x = Uint::<L>::from_be_slice(a);
        let y = Uint::<L>::from_be_slice(b);
        let (Some(fx), Some(fy)) = (
            into_option(F::from_be_bytes(a)),
            into_option(F::from_be_bytes(b)),
        ) else {
            assert!(x >= p || y >= p, "canonical input rejected");
            return;
        };
        assert!(x < p && y < p, "non-canonical input accepted");
        let nz = NonZero::new(p).expect("p != 0");
        let enc = |v: F| {
            let mut out = vec![0u8; F::BYTES];
            v.write_be_bytes(&mut out);
            Uint::<L>::from_be_slice(&out)
        };
        assert_eq!(enc(fx), x);
        assert_eq!(enc(fx * fy), x.mul_mod_vartime(&y, &nz));
        assert_eq!(enc(fx.square()), x.mul_mod_vartime(&x, &nz));
        assert_eq!(enc(fx + fy), x.add_mod(&y, &p));
        assert_eq!(enc(fx - fy), x.sub_mod(&y, &p));
        assert_eq!(enc(-fx), Uint::<L>::ZERO.sub_mod(&x, &p));
        if x != Uint::<L>::ZERO {
            assert_eq!(enc(fx * fx.invert()), Uint::<L>::ONE);
        }
        // Reduction of arbitrary 8L-byte strings (digests, x mod q).
        let mut wide = a.to_vec();
        wide[0] |= 0x80;
        let w = Uint::<L>::from_be_slice(&wide);
        assert_eq!(enc(F::from_be_bytes_reduced(&wide)), w.rem_vartime(&nz));
    }

    fn edge_values(modulus_hex: &str, bytes: usize) -> Vec<Vec<u8>> {
        let padded = format!("{:0>width$}", modulus_hex, width = 2 * bytes);
        let p = ::hex::decode(padded).expect("hex");
        let sub = |k: u8| {
            let mut v = p.clone();
            let mut borrow = k;
            for b in v.iter_mut().rev() {
                let (r, o) = b.overflowing_sub(borrow);
                *b = r;
                borrow = u8::from(o);
                if borrow == 0 {
                    break;
                }
            }
            v
        };
        let mut one = vec![0u8; bytes];
        one[bytes - 1] = 1;
        vec![
            vec![0u8; bytes],
            one,
            sub(1),
            sub(2),
            p.clone(),
            vec![0xFF; bytes],
        ]
    }

    macro_rules! oracle_test {
        ($test:ident, $fe:ty, $limbs:literal, $hex:expr) => {
            proptest! {
                #[test]
                fn $test(a in proptest::collection::vec(any::<u8>(), 8 * $limbs),
                         b in proptest::collection::vec(any::<u8>(), 8 * $limbs),
                         top in 0u8..4) {
                    let mut a = a;
                    // Bias towards values just below the modulus half of the time.
                    if top == 0 {
                        let e = edge_values($hex, 8 * $limbs);
                        a[..4].copy_from_slice(&e[2][..4]);
                    }
                    check::<$fe, $limbs>($hex, &a, &b);
                }
            }
        };
    }

    oracle_test!(fp_p256, FpP256, 4, hex::CPA_P);
    oracle_test!(fp_test256, FpTest256, 4, hex::TEST256_P);
    oracle_test!(fp_cpc, FpCpC, 4, hex::CPC_P);
    oracle_test!(sc_tc256a, ScTc256A, 4, hex::TC256A_Q);
    oracle_test!(fp_p512, FpP512, 8, hex::TC512A_P);
    oracle_test!(fp_test512, FpTest512, 8, hex::TEST512_P);
    oracle_test!(sc_tc512c, ScTc512C, 8, hex::TC512C_Q);

    #[test]
    fn edges() {
        fn all<F: Field, const L: usize>(hex: &str) {
            let e = edge_values(hex, 8 * L);
            for a in &e {
                for b in &e {
                    check::<F, L>(hex, a, b);
                }
            }
        }
        all::<FpP256, 4>(hex::CPA_P);
        all::<FpCpB, 4>(hex::CPB_P);
        all::<ScCpA, 4>(hex::CPA_Q);
        all::<ScTc256A, 4>(hex::TC256A_Q);
        all::<FpP512, 8>(hex::TC512A_P);
        all::<FpTc512B, 8>(hex::TC512B_P);
        all::<ScTest512, 8>(hex::TEST512_Q);
        all::<ScTc512C, 8>(hex::TC512C_Q);
    }
}

#[cfg(test)]
mod timing {
    use std::time::Instant;

    use super::*;
    use crate::field::Field;
    use crate::point::{add, add_mixed, double, mul_base, Projective};

    fn time<C: Curve>(name: &str) {
        let n = 200_000u32;
        let mut x = C::G.x;
        let y = C::G.y;
        let t = Instant::now();
        for _ in 0..n {
            x = x * y;
        }
        let mul = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            x = x.square();
        }
        let sqr = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..n {
            x = x + y;
        }
        let addt = t.elapsed() / n;
        let m = 2000u32;
        let t = Instant::now();
        for _ in 0..m {
            x = x.invert();
        }
        let inv = t.elapsed() / m;
        let mut p = Projective::from_affine(&C::G);
        let t = Instant::now();
        for _ in 0..m * 10 {
            p = double::<C>(&p);
        }
        let dbl = t.elapsed() / (m * 10);
        let q = p;
        let t = Instant::now();
        for _ in 0..m * 10 {
            p = add::<C>(&p, &q);
        }
        let addp = t.elapsed() / (m * 10);
        let t = Instant::now();
        for _ in 0..m * 10 {
            p = add_mixed::<C>(&p, &C::G);
        }
        let madd = t.elapsed() / (m * 10);
        let k = -C::Sc::ONE;
        let _ = mul_base::<C>(&k);
        let t = Instant::now();
        for _ in 0..m {
            p = add::<C>(&p, &mul_base::<C>(&k));
        }
        let mb = t.elapsed() / m;
        println!(
            "{name}: mul {mul:?} sqr {sqr:?} add {addt:?} inv {inv:?} dbl {dbl:?} add {addp:?} madd {madd:?} mul_base {mb:?} {:?}",
            bool::from(p.is_identity() & x.is_zero())
        );
    }

    #[test]
    #[ignore = "timing only: cargo test --release -p tokenemu-gost --lib timing -- --ignored --nocapture"]
    fn field_and_point_timing() {
        time::<CryptoProA>("CryptoPro-A");
        time::<Tc26_256A>("tc26-256-A");
        time::<Tc26_512A>("tc26-512-A");
    }
}
