//! Key material the checks generate or import: session objects only
//! (CKA_TOKEN false), so closing the sessions removes them.

use cryptoki_sys::*;
use tokenemu_core::vendor::{
    CKK_GOSTR3410_512, CKM_GOSTR3410_512_KEY_PAIR_GEN, CKM_GOSTR3410_WITH_GOSTR3411_12_256,
};

use crate::conformance::check::{ok, skip, Ctx, Stop, LABEL_PREFIX};
use crate::p11::client::{Mech, Out, Template};

/// DER of the P-256 curve OID (CKA_EC_PARAMS).
pub const P256_DER: &[u8] = &[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// DER of CryptoPro-A, 1.2.643.2.2.35.1 (CKA_GOSTR3410_PARAMS).
pub const CRYPTOPRO_A_DER: &[u8] = &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];
/// DER of tc26-512-A, 1.2.643.7.1.2.1.2.1.
pub const TC26_512_A_DER: &[u8] = &[
    0x06, 0x09, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x02, 0x01,
];

/// A generated key pair.
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    /// Public key handle.
    pub public: CK_OBJECT_HANDLE,
    /// Private key handle.
    pub private: CK_OBJECT_HANDLE,
}

fn label(name: &str) -> String {
    format!("{LABEL_PREFIX}-{name}")
}

/// The modulus size for RSA keys: 2048 bits if the token allows it, else
/// its smallest size of at least 1024 bits.
fn rsa_bits(ctx: &Ctx) -> CK_ULONG {
    let (rv, info) = ctx.p11.mechanism_info(ctx.slot, CKM_RSA_PKCS_KEY_PAIR_GEN);
    if rv != CKR_OK {
        return 2048;
    }
    if (info.ulMinKeySize..=info.ulMaxKeySize).contains(&2048) {
        2048
    } else {
        info.ulMinKeySize.max(1024).min(info.ulMaxKeySize)
    }
}

/// An RSA key pair (sign/verify and encrypt/decrypt allowed), private key
/// sensitive and not extractable.
pub fn rsa_pair(ctx: &Ctx, s: CK_SESSION_HANDLE) -> Result<Pair, Stop> {
    ctx.require(CKM_RSA_PKCS_KEY_PAIR_GEN)?;
    let public = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_VERIFY, true)
        .bool(CKA_ENCRYPT, true)
        .ulong(CKA_MODULUS_BITS, rsa_bits(ctx))
        .bytes(CKA_PUBLIC_EXPONENT, &[1, 0, 1])
        .text(CKA_LABEL, &label("rsa"));
    let private = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_EXTRACTABLE, false)
        .bool(CKA_SIGN, true)
        .bool(CKA_DECRYPT, true)
        .text(CKA_LABEL, &label("rsa"));
    let (rv, public, private) =
        ctx.p11
            .generate_key_pair(s, &Mech::new(CKM_RSA_PKCS_KEY_PAIR_GEN), &public, &private);
    ok("C_GenerateKeyPair(CKM_RSA_PKCS_KEY_PAIR_GEN)", rv)?;
    Ok(Pair { public, private })
}

/// The modulus length k, in bytes, of an RSA public key (CKA_MODULUS).
pub fn modulus_len(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    public: CK_OBJECT_HANDLE,
) -> Result<usize, Stop> {
    ctx.p11
        .attribute(s, public, CKA_MODULUS)
        .map(|n| n.len())
        .map_err(|rv| Stop::Fail {
            message: "C_GetAttributeValue(CKA_MODULUS) of the public key".into(),
            rv: Some(rv),
        })
}

/// An EC P-256 key pair.
pub fn ec_pair(ctx: &Ctx, s: CK_SESSION_HANDLE) -> Result<Pair, Stop> {
    ctx.require(CKM_EC_KEY_PAIR_GEN)?;
    let public = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_VERIFY, true)
        .bytes(CKA_EC_PARAMS, P256_DER)
        .text(CKA_LABEL, &label("ec"));
    let private = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_SIGN, true)
        .text(CKA_LABEL, &label("ec"));
    let (rv, public, private) =
        ctx.p11
            .generate_key_pair(s, &Mech::new(CKM_EC_KEY_PAIR_GEN), &public, &private);
    ok("C_GenerateKeyPair(CKM_EC_KEY_PAIR_GEN, P-256)", rv)?;
    Ok(Pair { public, private })
}

/// A GOST R 34.10-2012 key pair: 256-bit on CryptoPro-A or 512-bit on
/// tc26-512-A.
pub fn gost_pair(ctx: &Ctx, s: CK_SESSION_HANDLE, bits: u32) -> Result<Pair, Stop> {
    let (mech, params, key_type) = if bits == 512 {
        (
            CKM_GOSTR3410_512_KEY_PAIR_GEN,
            TC26_512_A_DER,
            CKK_GOSTR3410_512,
        )
    } else {
        (CKM_GOSTR3410_KEY_PAIR_GEN, CRYPTOPRO_A_DER, CKK_GOSTR3410)
    };
    ctx.require(mech)?;
    let public = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_VERIFY, true)
        .ulong(CKA_KEY_TYPE, key_type)
        .bytes(CKA_GOSTR3410_PARAMS, params)
        .text(CKA_LABEL, &label("gost"));
    let private = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, true)
        .bool(CKA_SIGN, true)
        .ulong(CKA_KEY_TYPE, key_type)
        .text(CKA_LABEL, &label("gost"));
    let (rv, public, private) = ctx
        .p11
        .generate_key_pair(s, &Mech::new(mech), &public, &private);
    ok(&format!("C_GenerateKeyPair(GOST {bits})"), rv)?;
    Ok(Pair { public, private })
}

/// A generic secret key of 32 bytes with the given policy.
pub fn generic_secret(
    ctx: &Ctx,
    s: CK_SESSION_HANDLE,
    sensitive: bool,
    extractable: bool,
) -> Result<CK_OBJECT_HANDLE, Stop> {
    ctx.require(CKM_GENERIC_SECRET_KEY_GEN)?;
    let t = Template::new()
        .bool(CKA_TOKEN, false)
        .bool(CKA_PRIVATE, true)
        .bool(CKA_SENSITIVE, sensitive)
        .bool(CKA_EXTRACTABLE, extractable)
        .ulong(CKA_VALUE_LEN, 32)
        .text(CKA_LABEL, &label("secret"));
    let (rv, h) = ctx
        .p11
        .generate_key(s, &Mech::new(CKM_GENERIC_SECRET_KEY_GEN), &t);
    ok("C_GenerateKey(CKM_GENERIC_SECRET_KEY_GEN)", rv)?;
    Ok(h)
}

/// A signing set-up any token can offer: the first of RSA PKCS#1 v1.5 with
/// SHA-256, ECDSA with SHA-256, GOST R 34.10-2012 with Streebog-256 that the
/// token lists, with a fresh key pair.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The signature mechanism.
    pub mech: Mech,
    /// Its name.
    pub name: &'static str,
    /// The keys.
    pub pair: Pair,
}

impl Signer {
    /// `C_SignInit` with the private key; anything but CKR_OK fails the check.
    pub fn sign_init(&self, ctx: &Ctx, s: CK_SESSION_HANDLE) -> Result<(), Stop> {
        ok(
            "C_SignInit",
            ctx.p11.sign_init(s, &self.mech, self.pair.private),
        )
    }

    /// `C_VerifyInit` with the public key; anything but CKR_OK fails the check.
    pub fn verify_init(&self, ctx: &Ctx, s: CK_SESSION_HANDLE) -> Result<(), Stop> {
        ok(
            "C_VerifyInit",
            ctx.p11.verify_init(s, &self.mech, self.pair.public),
        )
    }

    /// A fresh single-part signature of `data` (`C_SignInit`, `C_Sign`), the
    /// set-up of every check that then looks at how `C_Verify` treats it.
    pub fn signature(&self, ctx: &Ctx, s: CK_SESSION_HANDLE, data: &[u8]) -> Result<Vec<u8>, Stop> {
        self.sign_init(ctx, s)?;
        let sig = ctx.p11.sign(s, data, Out::Buf(1024));
        ok("C_Sign", sig.rv)?;
        Ok(sig.data)
    }
}

/// Picks and generates a [`Signer`] (the user must be logged in on `s`).
pub fn signer(ctx: &Ctx, s: CK_SESSION_HANDLE) -> Result<Signer, Stop> {
    if ctx.has(CKM_SHA256_RSA_PKCS) && ctx.has(CKM_RSA_PKCS_KEY_PAIR_GEN) {
        return Ok(Signer {
            mech: Mech::new(CKM_SHA256_RSA_PKCS),
            name: "CKM_SHA256_RSA_PKCS",
            pair: rsa_pair(ctx, s)?,
        });
    }
    if ctx.has(CKM_ECDSA_SHA256) && ctx.has(CKM_EC_KEY_PAIR_GEN) {
        return Ok(Signer {
            mech: Mech::new(CKM_ECDSA_SHA256),
            name: "CKM_ECDSA_SHA256",
            pair: ec_pair(ctx, s)?,
        });
    }
    if ctx.has(CKM_GOSTR3410_WITH_GOSTR3411_12_256) && ctx.has(CKM_GOSTR3410_KEY_PAIR_GEN) {
        return Ok(Signer {
            mech: Mech::new(CKM_GOSTR3410_WITH_GOSTR3411_12_256),
            name: "CKM_GOSTR3410_WITH_GOSTR3411_12_256",
            pair: gost_pair(ctx, s, 256)?,
        });
    }
    Err(skip(
        "the token lists none of CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256, CKM_GOSTR3410_WITH_GOSTR3411_12_256 with its key generation",
    ))
}

/// A digest mechanism the token lists (SHA-256, else SHA-1, else Streebog-256).
pub fn any_digest(ctx: &Ctx) -> Result<Mech, Stop> {
    for m in [
        CKM_SHA256,
        CKM_SHA_1,
        tokenemu_core::vendor::CKM_GOSTR3411_12_256,
    ] {
        if ctx.has(m) {
            return Ok(Mech::new(m));
        }
    }
    Err(skip(
        "the token lists no digest mechanism (SHA-256, SHA-1, Streebog-256)",
    ))
}
