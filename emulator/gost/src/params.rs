//! GOST R 34.10-2001/2012 curve parameter sets, declared as data.
//!
//! Values: gost-engine `gost_params.c` (field order `a, b, p, q, x, y,
//! cofactor`); OIDs: RFC 4357 (CryptoPro) and RFC 7836 (TC26). The aliases
//! (XchA/XchB, tc26-256-B/C/D) are their own records sharing the curve
//! constants of the set they alias, so that a key keeps the OID it was
//! created with.

/// Size of the field elements and coordinates of a parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySize {
    /// 256-bit curves: 32-byte coordinates, 32-byte digests, 64-byte signatures.
    Bits256,
    /// 512-bit curves: 64-byte coordinates, 64-byte digests, 128-byte signatures.
    Bits512,
}

impl KeySize {
    /// Byte length of one coordinate (and of the digest and of `d`).
    pub const fn coordinate_len(self) -> usize {
        match self {
            KeySize::Bits256 => 32,
            KeySize::Bits512 => 64,
        }
    }
}

/// Which arithmetic instance implements a curve (several OIDs share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CurveId {
    Test256,
    CryptoProA,
    CryptoProB,
    CryptoProC,
    Tc26_256A,
    Test512,
    Tc26_512A,
    Tc26_512B,
    Tc26_512C,
}

/// One GOST R 34.10 parameter set: an OID naming a curve `y^2 = x^3 + ax + b`
/// over GF(p) with a base point G of prime order q.
///
/// All numbers are big-endian hexadecimal strings, as printed in
/// gost-engine's `gost_params.c` and in RFC 4357 / RFC 7836.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ParamSet {
    /// Human-readable name, e.g. `"CryptoPro-A"` or `"tc26-512-A"`.
    pub name: &'static str,
    /// Dotted object identifier, e.g. `"1.2.643.2.2.35.1"`.
    pub oid: &'static str,
    /// Field/coordinate size.
    pub size: KeySize,
    /// Field prime p.
    pub p: &'static str,
    /// Curve coefficient a.
    pub a: &'static str,
    /// Curve coefficient b.
    pub b: &'static str,
    /// Order q of the base point (the prime subgroup order; signatures use q).
    pub q: &'static str,
    /// Base point x coordinate.
    pub x: &'static str,
    /// Base point y coordinate.
    pub y: &'static str,
    /// Cofactor h = #E / q (1, or 4 for the Edwards-derived TC26 curves).
    pub cofactor: u32,
    pub(crate) curve: CurveId,
}

impl ParamSet {
    /// DER encoding of [`Self::oid`] including tag and length, as stored in
    /// `CKA_GOSTR3410_PARAMS` (e.g. `06 07 2A 85 03 02 02 23 01`).
    pub fn oid_der(&self) -> Vec<u8> {
        encode_oid_der(self.oid)
    }

    /// Length in bytes of a coordinate, of `d`, and of the digest: 32 or 64.
    pub fn coordinate_len(&self) -> usize {
        self.size.coordinate_len()
    }
}

/// DER-encodes a dotted OID (tag 06, short-form length). Panics on malformed
/// input; only called on the constants below.
fn encode_oid_der(dotted: &str) -> Vec<u8> {
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| a.parse().expect("numeric OID arc"))
        .collect();
    assert!(arcs.len() >= 2, "OID needs two arcs");
    let mut body = Vec::new();
    let mut push_arc = |mut v: u64| {
        let mut tmp = [0u8; 10];
        let mut n = 0;
        loop {
            tmp[n] = (v & 0x7F) as u8;
            v >>= 7;
            n += 1;
            if v == 0 {
                break;
            }
        }
        for i in (0..n).rev() {
            body.push(if i > 0 { tmp[i] | 0x80 } else { tmp[i] });
        }
    };
    push_arc(arcs[0] * 40 + arcs[1]);
    for &a in &arcs[2..] {
        push_arc(a);
    }
    assert!(body.len() < 128, "OID too long for short-form length");
    let mut der = Vec::with_capacity(body.len() + 2);
    der.push(0x06);
    der.push(body.len() as u8);
    der.extend_from_slice(&body);
    der
}

// --- Curve constants (gost-engine gost_params.c; see gost.md §1) -----------

pub(crate) mod hex {
    //! The curve constants, shared by the public records and the arithmetic.

    // CryptoPro-Test = GOST R 34.10-2012 Appendix A.1 curve (a = 7).
    pub(crate) const TEST256_P: &str =
        "8000000000000000000000000000000000000000000000000000000000000431";
    pub(crate) const TEST256_A: &str = "7";
    pub(crate) const TEST256_B: &str =
        "5FBFF498AA938CE739B8E022FBAFEF40563F6E6A3472FC2A514C0CE9DAE23B7E";
    pub(crate) const TEST256_Q: &str =
        "8000000000000000000000000000000150FE8A1892976154C59CFC193ACCF5B3";
    pub(crate) const TEST256_X: &str = "2";
    pub(crate) const TEST256_Y: &str =
        "08E2A8A0E65147D4BD6316030E16D19C85C97F0A9CA267122B96ABBCEA7E8FC8";

    // CryptoPro-A (= XchA = tc26-256-B), p = 2^256 - 617, a = -3.
    pub(crate) const CPA_P: &str =
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97";
    pub(crate) const CPA_A: &str =
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD94";
    pub(crate) const CPA_B: &str = "A6";
    pub(crate) const CPA_Q: &str =
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF6C611070995AD10045841B09B761B893";
    pub(crate) const CPA_X: &str = "1";
    pub(crate) const CPA_Y: &str =
        "8D91E471E0989CDA27DF505A453F2B7635294F2DDF23E3B122ACC99C9E9F1E14";

    // CryptoPro-B (= tc26-256-C), a = -3.
    pub(crate) const CPB_P: &str =
        "8000000000000000000000000000000000000000000000000000000000000C99";
    pub(crate) const CPB_A: &str =
        "8000000000000000000000000000000000000000000000000000000000000C96";
    pub(crate) const CPB_B: &str =
        "3E1AF419A269A5F866A7D3C25C3DF80AE979259373FF2B182F49D4CE7E1BBC8B";
    pub(crate) const CPB_Q: &str =
        "800000000000000000000000000000015F700CFFF1A624E5E497161BCC8A198F";
    pub(crate) const CPB_X: &str = "1";
    pub(crate) const CPB_Y: &str =
        "3FA8124359F96680B83D1C3EB2C070E5C545C9858D03ECFB744BF8D717717EFC";

    // CryptoPro-C (= XchB = tc26-256-D), a = -3.
    pub(crate) const CPC_P: &str =
        "9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D759B";
    pub(crate) const CPC_A: &str =
        "9B9F605F5A858107AB1EC85E6B41C8AACF846E86789051D37998F7B9022D7598";
    pub(crate) const CPC_B: &str = "805A";
    pub(crate) const CPC_Q: &str =
        "9B9F605F5A858107AB1EC85E6B41C8AA582CA3511EDDFB74F02F3A6598980BB9";
    pub(crate) const CPC_X: &str = "0";
    pub(crate) const CPC_Y: &str =
        "41ECE55743711A8C3CBF3783CD08C0EE4D4DC440D4641A8F366E550DFDB3BB67";

    // tc26-256-A (twisted-Edwards-derived, cofactor 4); same p as CryptoPro-A.
    pub(crate) const TC256A_P: &str = CPA_P;
    pub(crate) const TC256A_A: &str =
        "C2173F1513981673AF4892C23035A27CE25E2013BF95AA33B22C656F277E7335";
    pub(crate) const TC256A_B: &str =
        "295F9BAE7428ED9CCC20E7C359A9D41A22FCCD9108E17BF7BA9337A6F8AE9513";
    pub(crate) const TC256A_Q: &str =
        "400000000000000000000000000000000FD8CDDFC87B6635C115AF556C360C67";
    pub(crate) const TC256A_X: &str =
        "91E38443A5E82C0D880923425712B2BB658B9196932E02C78B2582FE742DAA28";
    pub(crate) const TC256A_Y: &str =
        "32879423AB1A0375895786C4BB46E9565FDE0B5344766740AF268ADB32322E5C";

    // tc26-512-Test = GOST R 34.10-2012 Appendix A.2 curve (a = 7).
    pub(crate) const TEST512_P: &str = "4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15DF1D852741AF4704A0458047E80E4546D35B8336FAC224DD81664BBF528BE6373";
    pub(crate) const TEST512_A: &str = "7";
    pub(crate) const TEST512_B: &str = "1CFF0806A31116DA29D8CFA54E57EB748BC5F377E49400FDD788B649ECA1AC4361834013B2AD7322480A89CA58E0CF74BC9E540C2ADD6897FAD0A3084F302ADC";
    pub(crate) const TEST512_Q: &str = "4531ACD1FE0023C7550D267B6B2FEE80922B14B2FFB90F04D4EB7C09B5D2D15DA82F2D7ECB1DBAC719905C5EECC423F1D86E25EDBE23C595D644AAF187E6E6DF";
    pub(crate) const TEST512_X: &str = "24D19CC64572EE30F396BF6EBBFD7A6C5213B3B3D7057CC825F91093A68CD762FD60611262CD838DC6B60AA7EEE804E28BC849977FAC33B4B530F1B120248A9A";
    pub(crate) const TEST512_Y: &str = "2BB312A43BD2CE6E0D020613C857ACDDCFBF061E91E5F2C3F32447C259F39B2C83AB156D77F1496BF7EB3351E1EE4E43DC1A18B91B24640B6DBB92CB1ADD371E";

    // tc26-512-A, p = 2^512 - 569, a = -3.
    pub(crate) const TC512A_P: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC7";
    pub(crate) const TC512A_A: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDC4";
    pub(crate) const TC512A_B: &str = "E8C2505DEDFC86DDC1BD0B2B6667F1DA34B82574761CB0E879BD081CFD0B6265EE3CB090F30D27614CB4574010DA90DD862EF9D4EBEE4761503190785A71C760";
    pub(crate) const TC512A_Q: &str = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF27E69532F48D89116FF22B8D4E0560609B4B38ABFAD2B85DCACDB1411F10B275";
    pub(crate) const TC512A_X: &str = "3";
    pub(crate) const TC512A_Y: &str = "7503CFE87A836AE3A61B8816E25450E6CE5E1C93ACF1ABC1778064FDCBEFA921DF1626BE4FD036E93D75E6A50E3A41E98028FE5FC235F5B889A589CB5215F2A4";

    // tc26-512-B, a = -3.
    pub(crate) const TC512B_P: &str = "8000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006F";
    pub(crate) const TC512B_A: &str = "8000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000006C";
    pub(crate) const TC512B_B: &str = "687D1B459DC841457E3E06CF6F5E2517B97C7D614AF138BCBF85DC806C4B289F3E965D2DB1416D217F8B276FAD1AB69C50F78BEE1FA3106EFB8CCBC7C5140116";
    pub(crate) const TC512B_Q: &str = "800000000000000000000000000000000000000000000000000000000000000149A1EC142565A545ACFDB77BD9D40CFA8B996712101BEA0EC6346C54374F25BD";
    pub(crate) const TC512B_X: &str = "2";
    pub(crate) const TC512B_Y: &str = "1A8F7EDA389B094C2C071E3647A8940F3C123B697578C213BE6DD9E6C8EC7335DCB228FD1EDF4A39152CBCAAF8C0398828041055F94CEEEC7E21340780FE41BD";

    // tc26-512-C (twisted-Edwards-derived, cofactor 4); same p as tc26-512-A.
    pub(crate) const TC512C_P: &str = TC512A_P;
    pub(crate) const TC512C_A: &str = "DC9203E514A721875485A529D2C722FB187BC8980EB866644DE41C68E143064546E861C0E2C9EDD92ADE71F46FCF50FF2AD97F951FDA9F2A2EB6546F39689BD3";
    pub(crate) const TC512C_B: &str = "B4C4EE28CEBC6C2C8AC12952CF37F16AC7EFB6A9F69F4B57FFDA2E4F0DE5ADE038CBC2FFF719D2C18DE0284B8BFEF3B52B8CC7A5F5BF0A3C8D2319A5312557E1";
    pub(crate) const TC512C_Q: &str = "3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC98CDBA46506AB004C33A9FF5147502CC8EDA9E7A769A12694623CEF47F023ED";
    pub(crate) const TC512C_X: &str = "E2E31EDFC23DE7BDEBE241CE593EF5DE2295B7A9CBAEF021D385F7074CEA043AA27272A7AE602BF2A7B9033DB9ED3610C6FB85487EAE97AAC5BC7928C1950148";
    pub(crate) const TC512C_Y: &str = "F5CE40D95B5EB899ABBCCFF5911CB8577939804D6527378B8C108C3D2090FF9BE18E2D33E3021ED2EF32D85822423B6304F726AA854BAE07D0396E9A9ADDC40F";
}

macro_rules! param_set {
    ($ident:ident, $name:literal, $oid:literal, $size:ident, $pfx:ident, $cof:literal, $curve:ident) => {
        #[doc = concat!("The `", $name, "` parameter set (", $oid, ").")]
        pub static $ident: ParamSet = ParamSet {
            name: $name,
            oid: $oid,
            size: KeySize::$size,
            p: hex::$pfx::P,
            a: hex::$pfx::A,
            b: hex::$pfx::B,
            q: hex::$pfx::Q,
            x: hex::$pfx::X,
            y: hex::$pfx::Y,
            cofactor: $cof,
            curve: CurveId::$curve,
        };
    };
}

// Namespaced views of the constants so that the records above can refer to
// them uniformly as `hex::<CURVE>::P` etc.
#[allow(non_snake_case)]
mod hex_ns {
    macro_rules! ns {
        ($m:ident, $p:ident, $a:ident, $b:ident, $q:ident, $x:ident, $y:ident) => {
            pub(crate) mod $m {
                pub(crate) const P: &str = super::super::hex::$p;
                pub(crate) const A: &str = super::super::hex::$a;
                pub(crate) const B: &str = super::super::hex::$b;
                pub(crate) const Q: &str = super::super::hex::$q;
                pub(crate) const X: &str = super::super::hex::$x;
                pub(crate) const Y: &str = super::super::hex::$y;
            }
        };
    }
    ns!(TEST256, TEST256_P, TEST256_A, TEST256_B, TEST256_Q, TEST256_X, TEST256_Y);
    ns!(CPA, CPA_P, CPA_A, CPA_B, CPA_Q, CPA_X, CPA_Y);
    ns!(CPB, CPB_P, CPB_A, CPB_B, CPB_Q, CPB_X, CPB_Y);
    ns!(CPC, CPC_P, CPC_A, CPC_B, CPC_Q, CPC_X, CPC_Y);
    ns!(TC256A, TC256A_P, TC256A_A, TC256A_B, TC256A_Q, TC256A_X, TC256A_Y);
    ns!(TEST512, TEST512_P, TEST512_A, TEST512_B, TEST512_Q, TEST512_X, TEST512_Y);
    ns!(TC512A, TC512A_P, TC512A_A, TC512A_B, TC512A_Q, TC512A_X, TC512A_Y);
    ns!(TC512B, TC512B_P, TC512B_A, TC512B_B, TC512B_Q, TC512B_X, TC512B_Y);
    ns!(TC512C, TC512C_P, TC512C_A, TC512C_B, TC512C_Q, TC512C_X, TC512C_Y);
}

mod sets {
    use super::hex_ns as hex;
    use super::{CurveId, KeySize, ParamSet};

    param_set!(
        CRYPTOPRO_TEST,
        "CryptoPro-Test",
        "1.2.643.2.2.35.0",
        Bits256,
        TEST256,
        1,
        Test256
    );
    param_set!(
        CRYPTOPRO_A,
        "CryptoPro-A",
        "1.2.643.2.2.35.1",
        Bits256,
        CPA,
        1,
        CryptoProA
    );
    param_set!(
        CRYPTOPRO_B,
        "CryptoPro-B",
        "1.2.643.2.2.35.2",
        Bits256,
        CPB,
        1,
        CryptoProB
    );
    param_set!(
        CRYPTOPRO_C,
        "CryptoPro-C",
        "1.2.643.2.2.35.3",
        Bits256,
        CPC,
        1,
        CryptoProC
    );
    param_set!(
        CRYPTOPRO_XCHA,
        "CryptoPro-XchA",
        "1.2.643.2.2.36.0",
        Bits256,
        CPA,
        1,
        CryptoProA
    );
    param_set!(
        CRYPTOPRO_XCHB,
        "CryptoPro-XchB",
        "1.2.643.2.2.36.1",
        Bits256,
        CPC,
        1,
        CryptoProC
    );
    param_set!(
        TC26_256_A,
        "tc26-256-A",
        "1.2.643.7.1.2.1.1.1",
        Bits256,
        TC256A,
        4,
        Tc26_256A
    );
    param_set!(
        TC26_256_B,
        "tc26-256-B",
        "1.2.643.7.1.2.1.1.2",
        Bits256,
        CPA,
        1,
        CryptoProA
    );
    param_set!(
        TC26_256_C,
        "tc26-256-C",
        "1.2.643.7.1.2.1.1.3",
        Bits256,
        CPB,
        1,
        CryptoProB
    );
    param_set!(
        TC26_256_D,
        "tc26-256-D",
        "1.2.643.7.1.2.1.1.4",
        Bits256,
        CPC,
        1,
        CryptoProC
    );
    param_set!(
        TC26_512_TEST,
        "tc26-512-Test",
        "1.2.643.7.1.2.1.2.0",
        Bits512,
        TEST512,
        1,
        Test512
    );
    param_set!(
        TC26_512_A,
        "tc26-512-A",
        "1.2.643.7.1.2.1.2.1",
        Bits512,
        TC512A,
        1,
        Tc26_512A
    );
    param_set!(
        TC26_512_B,
        "tc26-512-B",
        "1.2.643.7.1.2.1.2.2",
        Bits512,
        TC512B,
        1,
        Tc26_512B
    );
    param_set!(
        TC26_512_C,
        "tc26-512-C",
        "1.2.643.7.1.2.1.2.3",
        Bits512,
        TC512C,
        4,
        Tc26_512C
    );
}

pub use sets::{
    CRYPTOPRO_A, CRYPTOPRO_B, CRYPTOPRO_C, CRYPTOPRO_TEST, CRYPTOPRO_XCHA, CRYPTOPRO_XCHB,
    TC26_256_A, TC26_256_B, TC26_256_C, TC26_256_D, TC26_512_A, TC26_512_B, TC26_512_C,
    TC26_512_TEST,
};

static ALL: [&ParamSet; 14] = [
    &CRYPTOPRO_TEST,
    &CRYPTOPRO_A,
    &CRYPTOPRO_B,
    &CRYPTOPRO_C,
    &CRYPTOPRO_XCHA,
    &CRYPTOPRO_XCHB,
    &TC26_256_A,
    &TC26_256_B,
    &TC26_256_C,
    &TC26_256_D,
    &TC26_512_TEST,
    &TC26_512_A,
    &TC26_512_B,
    &TC26_512_C,
];

/// Every supported parameter set, including the alias OIDs (XchA, XchB,
/// tc26-256-B/C/D), each as its own record.
pub fn param_sets() -> &'static [&'static ParamSet] {
    &ALL
}

/// Looks a parameter set up by the DER encoding of its OID, including the
/// tag and length bytes (the form of `CKA_GOSTR3410_PARAMS`), e.g.
/// `06 07 2A 85 03 02 02 23 01` for CryptoPro-A. Alias OIDs return their own
/// record, whose [`ParamSet::oid_der`] is the OID that was asked for.
pub fn param_set_by_oid_der(der: &[u8]) -> Option<&'static ParamSet> {
    ALL.iter().copied().find(|p| p.oid_der() == der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_der_known_encodings() {
        assert_eq!(
            CRYPTOPRO_A.oid_der(),
            [0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01]
        );
        assert_eq!(
            CRYPTOPRO_XCHA.oid_der(),
            [0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x24, 0x00]
        );
        assert_eq!(
            TC26_256_A.oid_der(),
            [0x06, 0x09, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x01, 0x01]
        );
        assert_eq!(
            TC26_512_C.oid_der(),
            [0x06, 0x09, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x02, 0x03]
        );
    }
}
