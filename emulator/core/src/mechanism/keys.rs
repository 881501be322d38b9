//! Parsed key material, built from an object's attributes once and cached on
//! the object, so operations never re-parse a key.

use crate::crypto::{
    EcCurve, EcPrivateKey, EcPublicKey, RsaComponents, RsaPrivateKey, RsaPublicKey,
};
use der::{Decode, Encode};
use zeroize::Zeroizing;

use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};

/// A key ready for use.
pub enum KeyMaterial {
    /// RSA private key.
    RsaPrivate(RsaPrivateKey),
    /// RSA public key.
    RsaPublic(RsaPublicKey),
    /// EC private key.
    EcPrivate(EcPrivateKey),
    /// EC public key.
    EcPublic(EcPublicKey),
    /// GOST R 34.10 private key.
    GostPrivate(crate::crypto::gost::SigningKey),
    /// GOST R 34.10 public key.
    GostPublic(crate::crypto::gost::VerifyingKey),
    /// Secret key bytes.
    Secret(Zeroizing<Vec<u8>>),
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyMaterial::RsaPrivate(_) => "RsaPrivate",
            KeyMaterial::RsaPublic(_) => "RsaPublic",
            KeyMaterial::EcPrivate(_) => "EcPrivate",
            KeyMaterial::EcPublic(_) => "EcPublic",
            KeyMaterial::GostPrivate(_) => "GostPrivate",
            KeyMaterial::GostPublic(_) => "GostPublic",
            KeyMaterial::Secret(_) => "Secret",
        })
    }
}

fn need(attrs: &AttrMap, ty: CK_ATTRIBUTE_TYPE) -> Result<&[u8]> {
    attrs
        .get_bytes(ty)
        .filter(|v| !v.is_empty())
        .ok_or(Error::TemplateIncomplete(ty))
}

fn opt(attrs: &AttrMap, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    attrs.get_bytes(ty).map(<[u8]>::to_vec).unwrap_or_default()
}

/// The curve named by `CKA_EC_PARAMS`.
pub fn ec_curve(attrs: &AttrMap) -> Result<EcCurve> {
    let params = need(attrs, CKA_EC_PARAMS)?;
    EcCurve::from_params_der(params).ok_or(Error::CurveNotSupported)
}

/// `CKA_EC_POINT` is a DER OCTET STRING around the SEC1 point (PKCS#11 2.40
/// §2.3.3); a bare SEC1 point is accepted on import too, as OpenSC does.
pub fn ec_point_from_attr(curve: EcCurve, value: &[u8]) -> Result<Vec<u8>> {
    if let Ok(os) = der::asn1::OctetString::from_der(value) {
        return Ok(os.as_bytes().to_vec());
    }
    let raw_len = 1 + 2 * curve.field_len();
    if value.len() == raw_len && value[0] == 4 {
        return Ok(value.to_vec());
    }
    Err(Error::AttributeValueInvalid(
        CKA_EC_POINT,
        "not a DER OCTET STRING holding an EC point",
    ))
}

/// The DER OCTET STRING form of a SEC1 point for `CKA_EC_POINT`.
pub fn ec_point_to_attr(point: &[u8]) -> Result<Vec<u8>> {
    der::asn1::OctetString::new(point)
        .and_then(|os| os.to_der())
        .map_err(|e| Error::General(format!("DER encoding of EC point: {e}")))
}

impl KeyMaterial {
    /// Parses the key an object holds.
    pub fn from_attrs(attrs: &AttrMap) -> Result<KeyMaterial> {
        let class = attrs
            .get_ulong(CKA_CLASS)
            .unwrap_or(CK_UNAVAILABLE_INFORMATION);
        let key_type = attrs
            .get_ulong(CKA_KEY_TYPE)
            .ok_or(Error::KeyTypeInconsistent)?;
        let invalid = |ty, what| move |_e| Error::AttributeValueInvalid(ty, what);
        Ok(match (class, key_type) {
            (CKO_PUBLIC_KEY, CKK_RSA) => KeyMaterial::RsaPublic(
                RsaPublicKey::from_components(
                    need(attrs, CKA_MODULUS)?,
                    need(attrs, CKA_PUBLIC_EXPONENT)?,
                )
                .map_err(invalid(CKA_MODULUS, "not a valid RSA public key"))?,
            ),
            (CKO_PRIVATE_KEY, CKK_RSA) => {
                let c = RsaComponents {
                    n: need(attrs, CKA_MODULUS)?.to_vec(),
                    e: need(attrs, CKA_PUBLIC_EXPONENT)?.to_vec(),
                    d: need(attrs, CKA_PRIVATE_EXPONENT)?.to_vec(),
                    p: opt(attrs, CKA_PRIME_1),
                    q: opt(attrs, CKA_PRIME_2),
                    dp: opt(attrs, CKA_EXPONENT_1),
                    dq: opt(attrs, CKA_EXPONENT_2),
                    qinv: opt(attrs, CKA_COEFFICIENT),
                };
                KeyMaterial::RsaPrivate(
                    RsaPrivateKey::from_components(&c)
                        .map_err(invalid(CKA_PRIVATE_EXPONENT, "not a valid RSA private key"))?,
                )
            }
            (CKO_PUBLIC_KEY, CKK_EC) => {
                let curve = ec_curve(attrs)?;
                let point = ec_point_from_attr(curve, need(attrs, CKA_EC_POINT)?)?;
                KeyMaterial::EcPublic(
                    EcPublicKey::from_point(curve, &point)
                        .map_err(invalid(CKA_EC_POINT, "not a point on the curve"))?,
                )
            }
            (CKO_PRIVATE_KEY, CKK_EC) => {
                let curve = ec_curve(attrs)?;
                KeyMaterial::EcPrivate(
                    EcPrivateKey::from_scalar(curve, need(attrs, CKA_VALUE)?)
                        .map_err(invalid(CKA_VALUE, "not a valid private scalar"))?,
                )
            }
            (CKO_PUBLIC_KEY | CKO_PRIVATE_KEY, CKK_GOSTR3410 | CKK_GOSTR3410_512) => {
                super::gost::key_from_attrs(class, attrs)?
            }
            (CKO_SECRET_KEY, _) => {
                KeyMaterial::Secret(Zeroizing::new(need(attrs, CKA_VALUE)?.to_vec()))
            }
            _ => return Err(Error::KeyTypeInconsistent),
        })
    }

    /// Key size in bits as `CK_MECHANISM_INFO` counts it.
    pub fn bits(&self) -> usize {
        match self {
            KeyMaterial::RsaPrivate(k) => k.bits(),
            KeyMaterial::RsaPublic(k) => k.bits(),
            KeyMaterial::EcPrivate(k) => k.curve().bits(),
            KeyMaterial::EcPublic(k) => k.curve().bits(),
            KeyMaterial::GostPrivate(k) => k.params().coordinate_len() * 8,
            KeyMaterial::GostPublic(k) => k.params().coordinate_len() * 8,
            KeyMaterial::Secret(v) => v.len() * 8,
        }
    }
}

/// Checks an imported key's values and adds what the token derives from them
/// (`CKA_MODULUS_BITS`), so a bad key fails at `C_CreateObject`, not at first use.
pub fn complete_import(attrs: &mut AttrMap) -> Result<()> {
    let class = attrs
        .get_ulong(CKA_CLASS)
        .unwrap_or(CK_UNAVAILABLE_INFORMATION);
    if !matches!(class, CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY) {
        return Ok(());
    }
    let key = KeyMaterial::from_attrs(attrs)?;
    if let KeyMaterial::RsaPublic(k) = &key {
        attrs.set_ulong(CKA_MODULUS_BITS, k.bits() as CK_ULONG);
    }
    if class == CKO_SECRET_KEY {
        super::symmetric::complete_secret_key(attrs)?;
    }
    Ok(())
}
