//! Secret-key mechanisms: AES (ECB, CBC, CBC-PAD, CTR, GCM) and DES3 (ECB,
//! CBC, CBC-PAD) ciphers, HMAC over SHA-1/SHA-2 and AES-CMAC through
//! `C_Sign`/`C_Verify` (fixed and `_GENERAL` lengths), and key generation for
//! AES, DES2 and DES3. The primitives are tokenemu-crypto's; this file maps
//! `CK_MECHANISM`s and key objects onto them.

use std::sync::Arc;

use super::keys::KeyMaterial;
use super::params::{MechParam, Mechanism};
use super::{check_key, no_param, CipherOp, MechanismImpl, Registry, SignOp, VerifyOp};
use crate::ck::*;
use crate::crypto::gost_sym::MacOperation;
use crate::crypto::{AesKey, AesMode, Des3Key, Des3Mode, Direction, HashAlg, Mac, StreamingCipher};
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};
use crate::object::Object;

/// A symmetric cipher run through PKCS#11's single- and multi-part calls.
pub(super) struct SymCipher(pub(super) Box<dyn StreamingCipher>);

impl CipherOp for SymCipher {
    fn update(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.0.update_len(data.len()));
        self.0.update(data, &mut out)?;
        Ok(out)
    }
    fn update_len(&self, input_len: usize) -> usize {
        self.0.update_len(input_len)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.0.finish(&mut out)?;
        Ok(out)
    }
    fn final_len(&self) -> Result<usize> {
        Ok(self.0.final_len()?)
    }
    fn single_len(&self, input: &[u8]) -> Result<usize> {
        Ok(self.0.oneshot_len(input)?)
    }
    fn single(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.0.oneshot(input, &mut out)?;
        Ok(out)
    }
}

/// The secret value of a key object (parsed once and cached on the object).
pub(super) fn secret_of(key: &Object) -> Result<Arc<KeyMaterial>> {
    let km = key.key_material()?;
    match &*km {
        KeyMaterial::Secret(_) => Ok(km),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

pub(super) fn secret_bytes(km: &KeyMaterial) -> &[u8] {
    match km {
        KeyMaterial::Secret(v) => v,
        _ => &[],
    }
}

pub(super) fn usage(direction: Direction) -> CK_ATTRIBUTE_TYPE {
    match direction {
        Direction::Encrypt => CKA_ENCRYPT,
        Direction::Decrypt => CKA_DECRYPT,
    }
}

fn param_invalid(what: &'static str) -> Error {
    Error::MechanismParamInvalid(what)
}

/// Random key bytes of `len`, with DES parity where the key type needs it.
pub(super) fn random_key(len: usize, des_parity: bool) -> Result<Vec<u8>> {
    let mut v = vec![0u8; len];
    crate::crypto::random_fill(&mut v)?;
    if des_parity {
        // FIPS 46-3: each byte's low bit makes the byte's parity odd.
        for b in &mut v {
            *b = (*b & 0xfe) | u8::from((*b >> 1).count_ones() % 2 == 0);
        }
    }
    Ok(v)
}

// ---- AES ---------------------------------------------------------------------

struct Aes;

fn aes_mode(m: &Mechanism) -> Result<AesMode> {
    Ok(match (m.mech, &m.param) {
        (CKM_AES_ECB, MechParam::None) => AesMode::Ecb,
        (CKM_AES_CBC, MechParam::Bytes(iv)) => AesMode::Cbc { iv: iv.clone() },
        (CKM_AES_CBC_PAD, MechParam::Bytes(iv)) => AesMode::CbcPad { iv: iv.clone() },
        (
            CKM_AES_CTR,
            MechParam::AesCtr {
                counter_bits,
                counter_block,
            },
        ) => AesMode::Ctr {
            counter_bits: *counter_bits,
            counter_block: *counter_block,
        },
        (CKM_AES_GCM, MechParam::Gcm { iv, aad, tag_bits }) => AesMode::Gcm {
            iv: iv.clone(),
            aad: aad.clone(),
            tag_bits: *tag_bits,
        },
        (CKM_AES_ECB, _) => return Err(param_invalid("CKM_AES_ECB takes no parameter")),
        (CKM_AES_CBC | CKM_AES_CBC_PAD, _) => {
            return Err(param_invalid("AES-CBC takes a 16-byte IV"))
        }
        _ => return Err(param_invalid("missing mechanism parameter")),
    })
}

fn aes_cipher(m: &Mechanism, key: &Object, direction: Direction) -> Result<Box<dyn CipherOp>> {
    check_key(key, CKO_SECRET_KEY, &[CKK_AES], usage(direction), m.mech)?;
    let km = secret_of(key)?;
    let aes = AesKey::new(secret_bytes(&km))?;
    Ok(Box::new(SymCipher(aes.cipher(aes_mode(m)?, direction)?)))
}

impl MechanismImpl for Aes {
    fn encrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        aes_cipher(m, key, Direction::Encrypt)
    }
    fn decrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        aes_cipher(m, key, Direction::Decrypt)
    }
    fn generate_key(
        &self,
        m: &Mechanism,
        attrs: &mut AttrMap,
        range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        no_param(m)?;
        let len = attrs
            .get_ulong(CKA_VALUE_LEN)
            .ok_or(Error::TemplateIncomplete(CKA_VALUE_LEN))?;
        // CKM_AES_KEY_GEN's key sizes are in bytes (mechanisms spec, AES).
        if !matches!(len, 16 | 24 | 32) || !in_range(len, range) {
            return Err(Error::KeySizeRange);
        }
        attrs.insert(CKA_VALUE, random_key(len as usize, false)?);
        Ok(())
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        (m == CKM_AES_KEY_GEN).then_some(CKK_AES)
    }
    fn key_size_in_bytes(&self, _m: CK_MECHANISM_TYPE) -> bool {
        true
    }
}

/// Whether `len` lies in a `CK_MECHANISM_INFO` range (a maximum of 0: none).
pub(super) fn in_range(len: CK_ULONG, (min, max): (CK_ULONG, CK_ULONG)) -> bool {
    len >= min && (max == 0 || len <= max)
}

// ---- DES3 --------------------------------------------------------------------

struct Des3;

fn des3_cipher(m: &Mechanism, key: &Object, direction: Direction) -> Result<Box<dyn CipherOp>> {
    check_key(
        key,
        CKO_SECRET_KEY,
        &[CKK_DES3, CKK_DES2],
        usage(direction),
        m.mech,
    )?;
    let mode = match (m.mech, &m.param) {
        (CKM_DES3_ECB, MechParam::None) => Des3Mode::Ecb,
        (CKM_DES3_CBC, MechParam::Bytes(iv)) => Des3Mode::Cbc { iv: iv.clone() },
        (CKM_DES3_CBC_PAD, MechParam::Bytes(iv)) => Des3Mode::CbcPad { iv: iv.clone() },
        (CKM_DES3_ECB, _) => return Err(param_invalid("CKM_DES3_ECB takes no parameter")),
        _ => return Err(param_invalid("DES3-CBC takes an 8-byte IV")),
    };
    let km = secret_of(key)?;
    let des3 = Des3Key::new(secret_bytes(&km))?;
    Ok(Box::new(SymCipher(des3.cipher(mode, direction)?)))
}

impl MechanismImpl for Des3 {
    fn encrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        des3_cipher(m, key, Direction::Encrypt)
    }
    fn decrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        des3_cipher(m, key, Direction::Decrypt)
    }
    fn generate_key(
        &self,
        m: &Mechanism,
        attrs: &mut AttrMap,
        _range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        no_param(m)?;
        // DES2 and DES3 keys have one size each; the template gives none.
        let len = if m.mech == CKM_DES2_KEY_GEN { 16 } else { 24 };
        attrs.insert(CKA_VALUE, random_key(len, true)?);
        Ok(())
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        match m {
            CKM_DES3_KEY_GEN => Some(CKK_DES3),
            CKM_DES2_KEY_GEN => Some(CKK_DES2),
            _ => None,
        }
    }
}

// ---- MACs --------------------------------------------------------------------

/// The keyed MAC behind a MAC mechanism.
pub(super) enum AnyMac {
    /// HMAC over SHA-1/SHA-2, or AES-CMAC.
    Standard(Mac),
    /// A GOST MAC: GOST 28147-89, Kuznyechik/Magma OMAC, Streebog HMAC.
    Gost(Box<dyn MacOperation>),
}

impl AnyMac {
    fn output_len(&self) -> usize {
        match self {
            AnyMac::Standard(m) => m.output_len(),
            AnyMac::Gost(m) => m.output_len(),
        }
    }
    fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            AnyMac::Standard(m) => m.update(data)?,
            AnyMac::Gost(m) => m.update(data),
        }
        Ok(())
    }
    fn finish(self) -> Result<Vec<u8>> {
        Ok(match self {
            AnyMac::Standard(m) => m.finish()?,
            AnyMac::Gost(m) => m.finish(),
        })
    }
    fn verify(self, mac: &[u8]) -> Result<()> {
        match self {
            AnyMac::Standard(m) => m.verify(mac)?,
            AnyMac::Gost(m) => m.verify(mac)?,
        }
        Ok(())
    }
}

/// A MAC computed by `C_Sign*` or checked by `C_Verify*`.
pub(super) struct MacOp(Option<AnyMac>, usize);

impl MacOp {
    pub(super) fn new(mac: AnyMac) -> Self {
        let n = mac.output_len();
        MacOp(Some(mac), n)
    }
    fn mac(&mut self) -> Result<&mut AnyMac> {
        self.0.as_mut().ok_or(Error::OperationNotInitialized)
    }
    fn take(&mut self) -> Result<AnyMac> {
        self.0.take().ok_or(Error::OperationNotInitialized)
    }
}

impl SignOp for MacOp {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.mac()?.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        self.take()?.finish()
    }
    fn output_len(&self) -> usize {
        self.1
    }
}

impl VerifyOp for MacOp {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.mac()?.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        self.take()?.verify(signature)
    }
}

/// A family of MAC mechanisms: `C_Sign*`/`C_Verify*` over one constructor
/// (key checks and parameters are the constructor's). Key sizes count bytes.
pub(super) struct MacFamily(pub(super) fn(&Mechanism, &Object, CK_ATTRIBUTE_TYPE) -> Result<MacOp>);

impl MechanismImpl for MacFamily {
    fn sign(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
        Ok(Box::new((self.0)(m, key, CKA_SIGN)?))
    }
    fn verify(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
        Ok(Box::new((self.0)(m, key, CKA_VERIFY)?))
    }
    fn key_size_in_bytes(&self, _m: CK_MECHANISM_TYPE) -> bool {
        true
    }
}

/// The hash of an HMAC mechanism and whether it is the `_GENERAL` variant.
fn hmac_of(mech: CK_MECHANISM_TYPE) -> Option<(HashAlg, bool)> {
    Some(match mech {
        CKM_SHA_1_HMAC => (HashAlg::Sha1, false),
        CKM_SHA224_HMAC => (HashAlg::Sha224, false),
        CKM_SHA256_HMAC => (HashAlg::Sha256, false),
        CKM_SHA384_HMAC => (HashAlg::Sha384, false),
        CKM_SHA512_HMAC => (HashAlg::Sha512, false),
        CKM_SHA_1_HMAC_GENERAL => (HashAlg::Sha1, true),
        CKM_SHA224_HMAC_GENERAL => (HashAlg::Sha224, true),
        CKM_SHA256_HMAC_GENERAL => (HashAlg::Sha256, true),
        CKM_SHA384_HMAC_GENERAL => (HashAlg::Sha384, true),
        CKM_SHA512_HMAC_GENERAL => (HashAlg::Sha512, true),
        _ => return None,
    })
}

/// The key type v3.0 gives each hash's HMAC keys (generic secrets serve all).
fn hmac_key_type(hash: HashAlg) -> CK_KEY_TYPE {
    match hash {
        HashAlg::Sha1 => CKK_SHA_1_HMAC,
        HashAlg::Sha224 => CKK_SHA224_HMAC,
        HashAlg::Sha256 => CKK_SHA256_HMAC,
        HashAlg::Sha384 => CKK_SHA384_HMAC,
        _ => CKK_SHA512_HMAC,
    }
}

/// The MAC length a `_GENERAL` mechanism asks for, or the full length.
fn mac_length(m: &Mechanism, general: bool) -> Result<Option<usize>> {
    match (general, &m.param) {
        (false, MechParam::None) => Ok(None),
        (true, MechParam::MacLength(n)) => usize::try_from(*n)
            .map(Some)
            .map_err(|_| param_invalid("MAC length out of range")),
        (false, _) => Err(param_invalid("this MAC mechanism takes no parameter")),
        (true, _) => Err(param_invalid("a _GENERAL MAC takes CK_MAC_GENERAL_PARAMS")),
    }
}

fn mac_op(m: &Mechanism, key: &Object, usage: CK_ATTRIBUTE_TYPE) -> Result<MacOp> {
    let mac = if let Some((hash, general)) = hmac_of(m.mech) {
        check_key(
            key,
            CKO_SECRET_KEY,
            &[CKK_GENERIC_SECRET, hmac_key_type(hash)],
            usage,
            m.mech,
        )?;
        let len = mac_length(m, general)?;
        let km = secret_of(key)?;
        Mac::hmac(hash, secret_bytes(&km), len)?
    } else {
        check_key(key, CKO_SECRET_KEY, &[CKK_AES], usage, m.mech)?;
        let len = mac_length(m, m.mech == CKM_AES_CMAC_GENERAL)?;
        let km = secret_of(key)?;
        Mac::aes_cmac(&AesKey::new(secret_bytes(&km))?, len)?
    };
    Ok(MacOp::new(AnyMac::Standard(mac)))
}

/// Registers the AES, DES3 and MAC mechanisms.
pub fn register(r: &mut Registry) {
    static AES: Aes = Aes;
    static DES3: Des3 = Des3;
    static MACS: MacFamily = MacFamily(mac_op);
    r.add(
        &[
            CKM_AES_KEY_GEN,
            CKM_AES_ECB,
            CKM_AES_CBC,
            CKM_AES_CBC_PAD,
            CKM_AES_CTR,
            CKM_AES_GCM,
        ],
        &AES,
    );
    r.add(
        &[
            CKM_DES2_KEY_GEN,
            CKM_DES3_KEY_GEN,
            CKM_DES3_ECB,
            CKM_DES3_CBC,
            CKM_DES3_CBC_PAD,
        ],
        &DES3,
    );
    r.add(
        &[
            CKM_SHA_1_HMAC,
            CKM_SHA224_HMAC,
            CKM_SHA256_HMAC,
            CKM_SHA384_HMAC,
            CKM_SHA512_HMAC,
            CKM_SHA_1_HMAC_GENERAL,
            CKM_SHA224_HMAC_GENERAL,
            CKM_SHA256_HMAC_GENERAL,
            CKM_SHA384_HMAC_GENERAL,
            CKM_SHA512_HMAC_GENERAL,
            CKM_AES_CMAC,
            CKM_AES_CMAC_GENERAL,
        ],
        &MACS,
    );
}

/// Completes a secret key's attributes once its value is known (import or
/// generation): checks the value's length for the key type, sets
/// `CKA_VALUE_LEN` where the type has it, and computes `CKA_CHECK_VALUE`
/// (v3.0: AES and DES3 — the first three bytes of ECB-encrypting a zero block;
/// generic secrets — the first three bytes of the value's SHA-1). A caller's
/// check value must match; an empty one asks for none.
pub fn complete_secret_key(attrs: &mut AttrMap) -> Result<()> {
    let Some(kt) = attrs.get_ulong(CKA_KEY_TYPE) else {
        return Ok(());
    };
    let value = attrs
        .get_bytes(CKA_VALUE)
        .ok_or(Error::TemplateIncomplete(CKA_VALUE))?
        .to_vec();
    let n = value.len();
    let fits = match kt {
        CKK_AES => matches!(n, 16 | 24 | 32),
        CKK_DES3 => n == 24,
        CKK_DES2 => n == 16,
        CKK_GOST28147 | CKK_KUZNECHIK | CKK_MAGMA => n == 32,
        _ => n > 0,
    };
    if !fits {
        return Err(Error::AttributeValueInvalid(
            CKA_VALUE,
            "key length does not fit the key type",
        ));
    }
    // The types whose rule table has CKA_VALUE_LEN (policy.rs).
    let has_value_len = !matches!(
        kt,
        CKK_DES3 | CKK_DES2 | CKK_GOST28147 | CKK_KUZNECHIK | CKK_MAGMA
    );
    if has_value_len {
        match attrs.get_ulong(CKA_VALUE_LEN) {
            Some(given) if given != n as CK_ULONG => {
                return Err(Error::TemplateInconsistent(
                    "CKA_VALUE_LEN differs from the length of CKA_VALUE",
                ))
            }
            _ => attrs.set_ulong(CKA_VALUE_LEN, n as CK_ULONG),
        }
    }
    let computed: Option<[u8; 3]> = match kt {
        CKK_AES => Some(AesKey::new(&value)?.check_value()?),
        CKK_DES3 | CKK_DES2 => Some(Des3Key::new(&value)?.check_value()?),
        CKK_GENERIC_SECRET => Some(crate::crypto::generic_secret_check_value(&value)),
        _ => None,
    };
    match (attrs.get_bytes(CKA_CHECK_VALUE), computed) {
        (Some([]), _) => {}
        (Some(given), Some(cv)) if given != cv => {
            return Err(Error::AttributeValueInvalid(
                CKA_CHECK_VALUE,
                "does not match the key value",
            ))
        }
        (Some(_), _) => {}
        (None, Some(cv)) => {
            attrs.insert(CKA_CHECK_VALUE, cv.to_vec());
        }
        (None, None) => {}
    }
    Ok(())
}
