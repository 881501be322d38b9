//! RSA: key pair generation, PKCS#1 v1.5, PSS, raw (X.509) and OAEP.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::{HashAlg, RsaPrivateKey};

use super::keys::KeyMaterial;
use super::params::{MechParam, Mechanism};
use super::{
    check_key, hash_of_digest_mech, no_param, CipherOp, Input, MechanismImpl, Registry, SignOp,
    VerifyOp,
};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};
use crate::object::Object;

struct Rsa;

/// What a signature mechanism does with its input.
#[derive(Clone, Copy)]
enum Scheme {
    /// `CKM_RSA_PKCS`: raw data ≤ k − 11 padded as is.
    Pkcs1Raw,
    /// `CKM_SHA*_RSA_PKCS`.
    Pkcs1(HashAlg),
    /// `CKM_RSA_X_509`.
    X509,
    /// `CKM_RSA_PKCS_PSS` (input is the digest) or `CKM_SHA*_RSA_PKCS_PSS`.
    Pss {
        prehashed: bool,
        hash: HashAlg,
        mgf: HashAlg,
        salt: usize,
    },
}

fn hash_of_mgf(mgf: CK_RSA_PKCS_MGF_TYPE) -> Result<HashAlg> {
    Ok(match mgf {
        CKG_MGF1_SHA1 => HashAlg::Sha1,
        CKG_MGF1_SHA224 => HashAlg::Sha224,
        CKG_MGF1_SHA256 => HashAlg::Sha256,
        CKG_MGF1_SHA384 => HashAlg::Sha384,
        CKG_MGF1_SHA512 => HashAlg::Sha512,
        _ => return Err(Error::MechanismParamInvalid("unsupported MGF")),
    })
}

fn scheme(m: &Mechanism) -> Result<Scheme> {
    let outer = match m.mech {
        CKM_SHA1_RSA_PKCS | CKM_SHA1_RSA_PKCS_PSS => Some(HashAlg::Sha1),
        CKM_SHA224_RSA_PKCS | CKM_SHA224_RSA_PKCS_PSS => Some(HashAlg::Sha224),
        CKM_SHA256_RSA_PKCS | CKM_SHA256_RSA_PKCS_PSS => Some(HashAlg::Sha256),
        CKM_SHA384_RSA_PKCS | CKM_SHA384_RSA_PKCS_PSS => Some(HashAlg::Sha384),
        CKM_SHA512_RSA_PKCS | CKM_SHA512_RSA_PKCS_PSS => Some(HashAlg::Sha512),
        _ => None,
    };
    match m.mech {
        CKM_RSA_PKCS => no_param(m).map(|_| Scheme::Pkcs1Raw),
        CKM_RSA_X_509 => no_param(m).map(|_| Scheme::X509),
        CKM_SHA1_RSA_PKCS | CKM_SHA224_RSA_PKCS | CKM_SHA256_RSA_PKCS | CKM_SHA384_RSA_PKCS
        | CKM_SHA512_RSA_PKCS => {
            no_param(m)?;
            Ok(Scheme::Pkcs1(outer.ok_or(Error::MechanismInvalid(m.mech))?))
        }
        CKM_RSA_PKCS_PSS
        | CKM_SHA1_RSA_PKCS_PSS
        | CKM_SHA224_RSA_PKCS_PSS
        | CKM_SHA256_RSA_PKCS_PSS
        | CKM_SHA384_RSA_PKCS_PSS
        | CKM_SHA512_RSA_PKCS_PSS => {
            let MechParam::RsaPss {
                hash,
                mgf,
                salt_len,
            } = &m.param
            else {
                return Err(Error::MechanismParamInvalid(
                    "RSA-PSS needs CK_RSA_PKCS_PSS_PARAMS",
                ));
            };
            let hash = hash_of_digest_mech(*hash)
                .ok_or(Error::MechanismParamInvalid("unsupported PSS hash"))?;
            if outer.is_some_and(|o| o != hash) {
                return Err(Error::MechanismParamInvalid(
                    "PSS hashAlg differs from the mechanism's hash",
                ));
            }
            let salt = usize::try_from(*salt_len)
                .map_err(|_| Error::MechanismParamInvalid("salt length"))?;
            Ok(Scheme::Pss {
                prehashed: outer.is_none(),
                hash,
                mgf: hash_of_mgf(*mgf)?,
                salt,
            })
        }
        _ => Err(Error::MechanismInvalid(m.mech)),
    }
}

fn input_for(s: Scheme, k: usize) -> Input {
    match s {
        Scheme::Pkcs1Raw => Input::raw(k.saturating_sub(11)),
        Scheme::X509 => Input::raw(k),
        Scheme::Pkcs1(h) => Input::hash(h),
        Scheme::Pss {
            prehashed: false,
            hash,
            ..
        } => Input::hash(hash),
        Scheme::Pss {
            prehashed: true,
            hash,
            ..
        } => Input::raw(hash.output_len()),
    }
}

fn check_pss_digest(s: Scheme, digest: &[u8]) -> Result<()> {
    match s {
        Scheme::Pss {
            prehashed: true,
            hash,
            ..
        } if digest.len() != hash.output_len() => Err(Error::DataLenRange),
        _ => Ok(()),
    }
}

struct RsaSign {
    key: Arc<KeyMaterial>,
    scheme: Scheme,
    input: Input,
    len: usize,
}

fn private(key: &KeyMaterial) -> Result<&RsaPrivateKey> {
    match key {
        KeyMaterial::RsaPrivate(k) => Ok(k),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

fn public(key: &KeyMaterial) -> Result<crate::crypto::RsaPublicKey> {
    match key {
        KeyMaterial::RsaPublic(k) => Ok(k.clone()),
        KeyMaterial::RsaPrivate(k) => Ok(k.public_key()),
        _ => Err(Error::KeyTypeInconsistent),
    }
}

impl SignOp for RsaSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let data = self.input.take()?;
        let k = private(&self.key)?;
        check_pss_digest(self.scheme, &data)?;
        Ok(match self.scheme {
            Scheme::Pkcs1Raw => k.sign_pkcs1v15(None, &data)?,
            Scheme::Pkcs1(h) => k.sign_pkcs1v15(Some(h), &data)?,
            Scheme::X509 => k.raw_private(&data)?,
            Scheme::Pss {
                hash, mgf, salt, ..
            } => k.sign_pss(hash, mgf, salt, &data)?,
        })
    }
    fn output_len(&self) -> usize {
        self.len
    }
}

struct RsaVerify {
    key: crate::crypto::RsaPublicKey,
    scheme: Scheme,
    input: Input,
}

impl VerifyOp for RsaVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let data = self.input.take()?;
        if signature.len() != self.key.size_bytes() {
            return Err(Error::SignatureLenRange);
        }
        check_pss_digest(self.scheme, &data)?;
        match self.scheme {
            Scheme::Pkcs1Raw => self.key.verify_pkcs1v15(None, &data, signature)?,
            Scheme::Pkcs1(h) => self.key.verify_pkcs1v15(Some(h), &data, signature)?,
            Scheme::X509 => {
                let recovered = self.key.raw_public(signature)?;
                // Raw RSA compares the whole block, with the data left-padded with zeros.
                let mut expected = vec![0u8; recovered.len().saturating_sub(data.len())];
                expected.extend_from_slice(&data);
                if !bool::from(subtle::ConstantTimeEq::ct_eq(&recovered[..], &expected[..])) {
                    return Err(Error::SignatureInvalid);
                }
            }
            Scheme::Pss {
                hash, mgf, salt, ..
            } => self.key.verify_pss(hash, mgf, salt, &data, signature)?,
        }
        Ok(())
    }
}

/// What an encryption mechanism does.
#[derive(Clone)]
enum Cipher {
    Pkcs1,
    X509,
    Oaep {
        hash: HashAlg,
        mgf: HashAlg,
        label: Vec<u8>,
    },
}

fn cipher(m: &Mechanism) -> Result<Cipher> {
    match (m.mech, &m.param) {
        (CKM_RSA_PKCS, _) => no_param(m).map(|_| Cipher::Pkcs1),
        (CKM_RSA_X_509, _) => no_param(m).map(|_| Cipher::X509),
        (
            CKM_RSA_PKCS_OAEP,
            MechParam::RsaOaep {
                hash,
                mgf,
                source,
                source_data,
            },
        ) => {
            let hash = hash_of_digest_mech(*hash)
                .ok_or(Error::MechanismParamInvalid("unsupported OAEP hash"))?;
            if *source != 0 && *source != CKZ_DATA_SPECIFIED {
                return Err(Error::MechanismParamInvalid(
                    "OAEP source must be CKZ_DATA_SPECIFIED",
                ));
            }
            Ok(Cipher::Oaep {
                hash,
                mgf: hash_of_mgf(*mgf)?,
                label: source_data.clone(),
            })
        }
        (CKM_RSA_PKCS_OAEP, _) => Err(Error::MechanismParamInvalid(
            "RSA-OAEP needs CK_RSA_PKCS_OAEP_PARAMS",
        )),
        _ => Err(Error::MechanismInvalid(m.mech)),
    }
}

/// The schemes that wrap keys: PKCS#1 v1.5 and OAEP (raw RSA would leak the
/// key's length and structure, so `CKM_RSA_X_509` does not wrap here).
fn wrap_cipher(m: &Mechanism) -> Result<Cipher> {
    match m.mech {
        CKM_RSA_PKCS | CKM_RSA_PKCS_OAEP => cipher(m),
        _ => Err(Error::MechanismInvalid(m.mech)),
    }
}

struct RsaCipher {
    key: Arc<KeyMaterial>,
    cipher: Cipher,
    encrypt: bool,
    input: Vec<u8>,
    k: usize,
}

impl CipherOp for RsaCipher {
    fn update(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        if self.input.len() + data.len() > self.k {
            return Err(if self.encrypt {
                Error::DataLenRange
            } else {
                Error::EncryptedDataLenRange
            });
        }
        self.input.extend_from_slice(data);
        Ok(Vec::new())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let data = std::mem::take(&mut self.input);
        if self.encrypt {
            let k = public(&self.key)?;
            Ok(match &self.cipher {
                Cipher::Pkcs1 => k.encrypt_pkcs1v15(&data)?,
                Cipher::X509 => k.raw_public(&data)?,
                Cipher::Oaep { hash, mgf, label } => k.encrypt_oaep(*hash, *mgf, label, &data)?,
            })
        } else {
            if data.len() != self.k {
                return Err(Error::EncryptedDataLenRange);
            }
            let k = private(&self.key)?;
            Ok(match &self.cipher {
                Cipher::Pkcs1 => k.decrypt_pkcs1v15(&data)?,
                Cipher::X509 => k.raw_private(&data)?,
                Cipher::Oaep { hash, mgf, label } => k.decrypt_oaep(*hash, *mgf, label, &data)?,
            })
        }
    }
    fn update_len(&self, _input_len: usize) -> usize {
        0 // RSA needs the whole input: everything comes out at the end
    }
    fn final_len(&self) -> Result<usize> {
        Ok(self.k) // a decryption's plaintext is shorter; an upper bound is allowed
    }
    fn single_len(&self, _input: &[u8]) -> Result<usize> {
        Ok(self.k)
    }
}

fn key_len(key: &KeyMaterial) -> Result<usize> {
    Ok(match key {
        KeyMaterial::RsaPrivate(k) => k.size_bytes(),
        KeyMaterial::RsaPublic(k) => k.size_bytes(),
        _ => return Err(Error::KeyTypeInconsistent),
    })
}

impl MechanismImpl for Rsa {
    fn sign(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
        let scheme = scheme(m)?;
        check_key(key, CKO_PRIVATE_KEY, &[CKK_RSA], CKA_SIGN, m.mech)?;
        let km = key.key_material()?;
        let len = key_len(&km)?;
        Ok(Box::new(RsaSign {
            input: input_for(scheme, len),
            key: km,
            scheme,
            len,
        }))
    }
    fn verify(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
        let scheme = scheme(m)?;
        check_key(key, CKO_PUBLIC_KEY, &[CKK_RSA], CKA_VERIFY, m.mech)?;
        let km = key.key_material()?;
        let k = public(&km)?;
        Ok(Box::new(RsaVerify {
            input: input_for(scheme, k.size_bytes()),
            key: k,
            scheme,
        }))
    }
    fn encrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        let cipher = cipher(m)?;
        check_key(key, CKO_PUBLIC_KEY, &[CKK_RSA], CKA_ENCRYPT, m.mech)?;
        let km = key.key_material()?;
        let k = key_len(&km)?;
        Ok(Box::new(RsaCipher {
            key: km,
            cipher,
            encrypt: true,
            input: Vec::new(),
            k,
        }))
    }
    fn decrypt(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn CipherOp>> {
        let cipher = cipher(m)?;
        check_key(key, CKO_PRIVATE_KEY, &[CKK_RSA], CKA_DECRYPT, m.mech)?;
        let km = key.key_material()?;
        let k = key_len(&km)?;
        Ok(Box::new(RsaCipher {
            key: km,
            cipher,
            encrypt: false,
            input: Vec::new(),
            k,
        }))
    }
    fn wrap(&self, m: &Mechanism, wrapping_key: &Object, value: &[u8]) -> Result<Vec<u8>> {
        let cipher = wrap_cipher(m)?;
        check_key(wrapping_key, CKO_PUBLIC_KEY, &[CKK_RSA], CKA_WRAP, m.mech)?;
        let k = public(&*wrapping_key.key_material()?)?;
        let wrapped = match &cipher {
            Cipher::Oaep { hash, mgf, label } => k.encrypt_oaep(*hash, *mgf, label, value),
            _ => k.encrypt_pkcs1v15(value),
        };
        // A key value too long for the modulus cannot be wrapped by it.
        wrapped.map_err(super::wrap::key_size_error)
    }
    fn unwrap(
        &self,
        m: &Mechanism,
        unwrapping_key: &Object,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let cipher = wrap_cipher(m)?;
        check_key(
            unwrapping_key,
            CKO_PRIVATE_KEY,
            &[CKK_RSA],
            CKA_UNWRAP,
            m.mech,
        )?;
        let km = unwrapping_key.key_material()?;
        let k = private(&km)?;
        if wrapped.len() != k.size_bytes() {
            return Err(Error::EncryptedDataLenRange);
        }
        Ok(Zeroizing::new(match &cipher {
            Cipher::Oaep { hash, mgf, label } => k.decrypt_oaep(*hash, *mgf, label, wrapped)?,
            _ => k.decrypt_pkcs1v15(wrapped)?,
        }))
    }
    fn generate_key_pair(
        &self,
        m: &Mechanism,
        public: &mut AttrMap,
        private: &mut AttrMap,
        range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        no_param(m)?;
        let bits = public
            .get_ulong(CKA_MODULUS_BITS)
            .ok_or(Error::TemplateIncomplete(CKA_MODULUS_BITS))?;
        if bits < range.0 || bits > range.1 || bits % 8 != 0 {
            return Err(Error::KeySizeRange);
        }
        let e = public
            .get_bytes(CKA_PUBLIC_EXPONENT)
            .filter(|e| !e.is_empty())
            .map_or_else(|| vec![1, 0, 1], <[u8]>::to_vec);
        let bits = usize::try_from(bits).map_err(|_| Error::KeySizeRange)?;
        let key = RsaPrivateKey::generate(bits, &e)?;
        let c = key.components();
        public.insert(CKA_MODULUS, c.n.clone());
        public.insert(CKA_PUBLIC_EXPONENT, c.e.clone());
        for (ty, v) in [
            (CKA_MODULUS, &c.n),
            (CKA_PUBLIC_EXPONENT, &c.e),
            (CKA_PRIVATE_EXPONENT, &c.d),
            (CKA_PRIME_1, &c.p),
            (CKA_PRIME_2, &c.q),
            (CKA_EXPONENT_1, &c.dp),
            (CKA_EXPONENT_2, &c.dq),
            (CKA_COEFFICIENT, &c.qinv),
        ] {
            private.insert(ty, v.clone());
        }
        Ok(())
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        (m == CKM_RSA_PKCS_KEY_PAIR_GEN).then_some(CKK_RSA)
    }
}

/// Registers the RSA mechanisms.
pub fn register(r: &mut Registry) {
    static IMP: Rsa = Rsa;
    r.add(
        &[
            CKM_RSA_PKCS_KEY_PAIR_GEN,
            CKM_RSA_PKCS,
            CKM_RSA_X_509,
            CKM_RSA_PKCS_OAEP,
            CKM_RSA_PKCS_PSS,
            CKM_SHA1_RSA_PKCS,
            CKM_SHA224_RSA_PKCS,
            CKM_SHA256_RSA_PKCS,
            CKM_SHA384_RSA_PKCS,
            CKM_SHA512_RSA_PKCS,
            CKM_SHA1_RSA_PKCS_PSS,
            CKM_SHA224_RSA_PKCS_PSS,
            CKM_SHA256_RSA_PKCS_PSS,
            CKM_SHA384_RSA_PKCS_PSS,
            CKM_SHA512_RSA_PKCS_PSS,
        ],
        &IMP,
    );
}
