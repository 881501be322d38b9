//! GOST symmetric mechanisms: GOST 28147-89 (key generation, ECB, the
//! `CKM_GOST28147` feedback mode, the MAC) from the base spec; GOST R 34.12-2015
//! Kuznyechik and Magma (key generation, ECB, CTR-ACPKM, OMAC) and HMAC over
//! Streebog from the TC26 vendor set (`vendor.rs`). The primitives are
//! tokenemu-crypto's `gost_sym`; this file maps `CK_MECHANISM`s and key objects
//! onto them, as `symmetric.rs` does for AES and DES3.

use super::params::{MechParam, Mechanism};
use super::symmetric::{
    in_range, random_key, secret_bytes, secret_of, usage, AnyMac, MacFamily, MacOp, SymCipher,
};
use super::{check_key, no_param, CipherOp, MechanismImpl, Registry};
use crate::ck::*;
use crate::crypto::gost_sym::{
    Gost28147Cfb, Gost28147Ecb, Gost28147Key, Gost28147Mac, Gost28147ParamSet, Gost3412Cipher,
    Gost3412Key, Gost3413Ctr, Gost3413CtrAcpkm, Gost3413Ecb, Gost3413Omac, HmacStreebog,
    MacOperation, StreebogSize, GOST28147_MAC_LEN,
};
use crate::crypto::{Direction, StreamingCipher};
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};
use crate::object::Object;

/// GOST 28147-89, Kuznyechik and Magma all take 256-bit keys.
const GOST_KEY_LEN: usize = 32;

/// The parameter set a key generation without `CKA_GOST28147_PARAMS` gets, and
/// that a key imported without one is used with: CryptoPro-A
/// (1.2.643.2.2.31.1), the set RFC 4357 §10.3 and the CryptoPro/gost-engine
/// defaults use.
const DEFAULT_PARAM_SET: Gost28147ParamSet = Gost28147ParamSet::CryptoProA;

fn param_invalid(what: &'static str) -> Error {
    Error::MechanismParamInvalid(what)
}

/// Generates a 32-byte GOST key after checking the mechanism has no parameter
/// and that 32 bytes lie in the profile's range (bytes, see `key_size_in_bytes`).
fn generate_value(m: &Mechanism, attrs: &mut AttrMap, range: (CK_ULONG, CK_ULONG)) -> Result<()> {
    no_param(m)?;
    if !in_range(GOST_KEY_LEN as CK_ULONG, range) {
        return Err(Error::KeySizeRange);
    }
    attrs.insert(CKA_VALUE, random_key(GOST_KEY_LEN, false)?);
    Ok(())
}

// ---- GOST 28147-89 -------------------------------------------------------------

/// The 28147 parameter set a key object names in `CKA_GOST28147_PARAMS`
/// (CryptoPro-A when it names none). An OID the emulator does not know is
/// `CKR_DOMAIN_PARAMS_INVALID`: the S-box cannot be chosen.
fn gost28147_key(key: &Object) -> Result<Gost28147Key> {
    let params = match key.attrs.get_bytes(CKA_GOST28147_PARAMS) {
        None | Some([]) => DEFAULT_PARAM_SET,
        Some(der) => Gost28147ParamSet::from_oid_der(der).ok_or(Error::DomainParamsInvalid)?,
    };
    let km = secret_of(key)?;
    Ok(Gost28147Key::new(secret_bytes(&km), params)?)
}

/// An optional 8-byte IV: absent means zero (mechanisms spec, `CKM_GOST28147`
/// and `CKM_GOST28147_MAC`: "This parameter may be omitted then a zero
/// initialization vector is used").
fn optional_iv(m: &Mechanism, what: &'static str) -> Result<[u8; 8]> {
    match &m.param {
        MechParam::None => Ok([0; 8]),
        MechParam::Bytes(iv) => iv.as_slice().try_into().map_err(|_| param_invalid(what)),
        _ => Err(param_invalid(what)),
    }
}

struct Gost28147;

fn gost28147_cipher(
    m: &Mechanism,
    key: &Object,
    direction: Direction,
) -> Result<Box<dyn CipherOp>> {
    check_key(
        key,
        CKO_SECRET_KEY,
        &[CKK_GOST28147],
        usage(direction),
        m.mech,
    )?;
    let key = gost28147_key(key)?;
    let cipher: Box<dyn StreamingCipher> = match m.mech {
        CKM_GOST28147_ECB => {
            no_param(m)?;
            Box::new(Gost28147Ecb::new(&key, direction))
        }
        // CKM_GOST28147 is CFB ("gamma with feedback", GOST 28147-89 §4) for
        // every parameter set. The v2.30/v2.40 mechanisms text ("GOST 28147-89
        // encryption mode except ECB") names "CFB, counter mode, and
        // additional CBC mode defined in [RFC 4357] section 2" and says the
        // encryption parameters come from the OID in CKA_GOST28147_PARAMS,
        // whose RFC 4357 parameter sets carry a `mode` field; the CryptoPro
        // sets that tokens use are CFB sets, gost.md §3 lists 0x1222 as CFB,
        // and gost-engine's plain `gost89` cipher (CFB with CryptoPro key
        // meshing) is what tests/gost_symmetric.rs matches byte for byte.
        // Choosing CNT or CBC from the set's `mode` field is not implemented:
        // the counter mode ("gamma") has no mechanism of its own here.
        _ => {
            let iv = optional_iv(m, "CKM_GOST28147 takes an optional 8-byte IV")?;
            Box::new(Gost28147Cfb::new(&key, &iv, direction)?)
        }
    };
    Ok(Box::new(SymCipher(cipher)))
}

impl MechanismImpl for Gost28147 {
    fn encrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        gost28147_cipher(m, key, Direction::Encrypt)
    }
    fn decrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        gost28147_cipher(m, key, Direction::Decrypt)
    }
    fn generate_key(
        &self,
        m: &Mechanism,
        attrs: &mut AttrMap,
        range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        match attrs.get_bytes(CKA_GOST28147_PARAMS) {
            None => {
                attrs.insert(CKA_GOST28147_PARAMS, DEFAULT_PARAM_SET.oid_der().to_vec());
            }
            Some(der) if Gost28147ParamSet::from_oid_der(der).is_none() => {
                return Err(Error::AttributeValueInvalid(
                    CKA_GOST28147_PARAMS,
                    "not a GOST 28147-89 parameter set OID this token knows",
                ))
            }
            Some(_) => {}
        }
        generate_value(m, attrs, range)
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        (m == CKM_GOST28147_KEY_GEN).then_some(CKK_GOST28147)
    }
    fn key_size_in_bytes(&self, _m: CK_MECHANISM_TYPE) -> bool {
        true
    }
}

// ---- GOST R 34.12-2015: Kuznyechik and Magma ---------------------------------

/// One of the two 34.12 ciphers with its key type and mechanism numbers.
struct Gost3412 {
    cipher: Gost3412Cipher,
    key_type: CK_KEY_TYPE,
    key_gen: CK_MECHANISM_TYPE,
    ecb: CK_MECHANISM_TYPE,
    ctr_acpkm: CK_MECHANISM_TYPE,
    mac: CK_MECHANISM_TYPE,
}

static KUZNECHIK: Gost3412 = Gost3412 {
    cipher: Gost3412Cipher::Kuznyechik,
    key_type: CKK_KUZNECHIK,
    key_gen: CKM_KUZNECHIK_KEY_GEN,
    ecb: CKM_KUZNECHIK_ECB,
    ctr_acpkm: CKM_KUZNECHIK_CTR_ACPKM,
    mac: CKM_KUZNECHIK_MAC,
};

static MAGMA: Gost3412 = Gost3412 {
    cipher: Gost3412Cipher::Magma,
    key_type: CKK_MAGMA,
    key_gen: CKM_MAGMA_KEY_GEN,
    ecb: CKM_MAGMA_ECB,
    ctr_acpkm: CKM_MAGMA_CTR_ACPKM,
    mac: CKM_MAGMA_MAC,
};

impl Gost3412 {
    fn key(
        &self,
        key: &Object,
        usage: CK_ATTRIBUTE_TYPE,
        mech: CK_MECHANISM_TYPE,
    ) -> Result<Gost3412Key> {
        check_key(key, CKO_SECRET_KEY, &[self.key_type], usage, mech)?;
        let km = secret_of(key)?;
        Ok(Gost3412Key::new(self.cipher, secret_bytes(&km))?)
    }

    /// The CTR-ACPKM parameter: a 4-byte big-endian section length in bits,
    /// then the half-block IV (12 bytes for Kuznyechik, 8 for Magma). This is
    /// the layout Rutoken's TC26 samples pass (a 12-/8-byte parameter) and
    /// that a published token client documents ("the section length is a
    /// number of BITS"). A section length of 0 means no re-keying: plain
    /// GOST R 34.13-2015 CTR.
    fn ctr_acpkm(&self, m: &Mechanism, key: &Gost3412Key) -> Result<Box<dyn StreamingCipher>> {
        const WHAT: &str =
            "CTR-ACPKM takes a 4-byte big-endian section length in bits and a half-block IV";
        let MechParam::Bytes(p) = &m.param else {
            return Err(param_invalid(WHAT));
        };
        let half = self.cipher.block_len() / 2;
        if p.len() != 4 + half {
            return Err(param_invalid(WHAT));
        }
        let (section, iv) = p.split_at(4);
        let section_bits = u32::from_be_bytes(section.try_into().map_err(|_| param_invalid(WHAT))?);
        if section_bits == 0 {
            return Ok(Box::new(Gost3413Ctr::new(key, iv)?));
        }
        let block_bits = 8 * self.cipher.block_len() as u32;
        if section_bits % block_bits != 0 {
            return Err(param_invalid(
                "CTR-ACPKM section length must be a whole number of blocks",
            ));
        }
        Ok(Box::new(Gost3413CtrAcpkm::new(
            key,
            iv,
            section_bits as usize / 8,
        )?))
    }

    fn cipher(
        &self,
        m: &Mechanism,
        key: &Object,
        direction: Direction,
    ) -> Result<Box<dyn CipherOp>> {
        let key = self.key(key, usage(direction), m.mech)?;
        let cipher: Box<dyn StreamingCipher> = if m.mech == self.ecb {
            no_param(m)?;
            Box::new(Gost3413Ecb::new(&key, direction))
        } else if m.mech == self.ctr_acpkm {
            self.ctr_acpkm(m, &key)?
        } else {
            return Err(Error::MechanismInvalid(m.mech));
        };
        Ok(Box::new(SymCipher(cipher)))
    }
}

impl MechanismImpl for Gost3412 {
    fn encrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        self.cipher(m, key, Direction::Encrypt)
    }
    fn decrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        self.cipher(m, key, Direction::Decrypt)
    }
    fn generate_key(
        &self,
        m: &Mechanism,
        attrs: &mut AttrMap,
        range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        generate_value(m, attrs, range)
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        (m == self.key_gen).then_some(self.key_type)
    }
    fn key_size_in_bytes(&self, _m: CK_MECHANISM_TYPE) -> bool {
        true
    }
}

// ---- MACs --------------------------------------------------------------------

fn mac_op(m: &Mechanism, key: &Object, usage: CK_ATTRIBUTE_TYPE) -> Result<MacOp> {
    let mac: Box<dyn MacOperation> = match m.mech {
        CKM_GOST28147_MAC => {
            check_key(key, CKO_SECRET_KEY, &[CKK_GOST28147], usage, m.mech)?;
            let iv = optional_iv(m, "CKM_GOST28147_MAC takes an optional 8-byte IV")?;
            let key = gost28147_key(key)?;
            // The mechanisms spec's table: a 4-byte signature.
            Box::new(Gost28147Mac::new(&key, Some(&iv), GOST28147_MAC_LEN)?)
        }
        CKM_GOSTR3411_12_256_HMAC | CKM_GOSTR3411_12_512_HMAC => {
            no_param(m)?;
            // As the base spec's CKM_GOSTR3411_HMAC (GOST R 34.11-94) takes
            // CKK_GENERIC_SECRET or CKK_GOST28147 keys, so do the TC26
            // Streebog HMACs.
            check_key(
                key,
                CKO_SECRET_KEY,
                &[CKK_GENERIC_SECRET, CKK_GOST28147],
                usage,
                m.mech,
            )?;
            let size = if m.mech == CKM_GOSTR3411_12_256_HMAC {
                StreebogSize::S256
            } else {
                StreebogSize::S512
            };
            let km = secret_of(key)?;
            Box::new(HmacStreebog::new(size, secret_bytes(&km)))
        }
        _ => {
            let g = [&KUZNECHIK, &MAGMA]
                .into_iter()
                .find(|g| g.mac == m.mech)
                .ok_or(Error::MechanismInvalid(m.mech))?;
            no_param(m)?;
            let key = g.key(key, usage, m.mech)?;
            // OMAC over the whole block (16 bytes for Kuznyechik, 8 for
            // Magma): the TC26 mechanism has no length parameter, and
            // gost-engine's kuznyechik-mac / magma-mac give the full block.
            Box::new(Gost3413Omac::new(&key, g.cipher.block_len())?)
        }
    };
    Ok(MacOp::new(AnyMac::Gost(mac)))
}

/// Registers the GOST 28147-89, Kuznyechik, Magma and Streebog HMAC mechanisms.
pub fn register(r: &mut Registry) {
    static GOST28147: Gost28147 = Gost28147;
    static MACS: MacFamily = MacFamily(mac_op);
    r.add(
        &[CKM_GOST28147_KEY_GEN, CKM_GOST28147_ECB, CKM_GOST28147],
        &GOST28147,
    );
    for g in [&KUZNECHIK, &MAGMA] {
        r.add(&[g.key_gen, g.ecb, g.ctr_acpkm], g);
    }
    r.add(
        &[
            CKM_GOST28147_MAC,
            CKM_KUZNECHIK_MAC,
            CKM_MAGMA_MAC,
            CKM_GOSTR3411_12_256_HMAC,
            CKM_GOSTR3411_12_512_HMAC,
        ],
        &MACS,
    );
}
