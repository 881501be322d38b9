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
        let (aff, id) = p.to_affine();
        assert!(!bool::from(id));
        assert!(bool::from(aff.x.ct_eq(&C::G.x) & aff.y.ct_eq(&(-C::G.y))));
        // 2G two ways.
        let two = C::Sc::ONE + C::Sc::ONE;
        let (a1, _) = mul_base::<C>(&two).to_affine();
        let (a2, _) = double::<C>(&Projective::from_affine(&C::G)).to_affine();
        assert!(bool::from(a1.x.ct_eq(&a2.x) & a1.y.ct_eq(&a2.y)));
    }

    #[test]
    fn every_curve_is_consistent() {
        for ps in param_sets() {
            with_curve!(ps.curve, C => check_curve::<C>());
        }
    }
}
