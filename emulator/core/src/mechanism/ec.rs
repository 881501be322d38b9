//! ECDSA on the NIST curves: `CKM_EC_KEY_PAIR_GEN`, `CKM_ECDSA` (input is the
//! digest) and `CKM_ECDSA_SHA*`.

use std::sync::Arc;

use crate::crypto::{EcCurve, EcPrivateKey, EcPublicKey, HashAlg};

use super::keys::{ec_curve, ec_point_to_attr, KeyMaterial};
use super::params::Mechanism;
use super::{check_key, no_param, Input, MechanismImpl, Registry, SignOp, VerifyOp};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::attribute::AttrMap;
use crate::object::Object;

struct Ecdsa;

/// The longest input `CKM_ECDSA` accepts (a SHA-512 digest).
const MAX_PREHASH: usize = 64;

fn input(mech: CK_MECHANISM_TYPE) -> Result<Input> {
    Ok(match mech {
        CKM_ECDSA => Input::raw(MAX_PREHASH),
        CKM_ECDSA_SHA1 => Input::hash(HashAlg::Sha1),
        CKM_ECDSA_SHA224 => Input::hash(HashAlg::Sha224),
        CKM_ECDSA_SHA256 => Input::hash(HashAlg::Sha256),
        CKM_ECDSA_SHA384 => Input::hash(HashAlg::Sha384),
        CKM_ECDSA_SHA512 => Input::hash(HashAlg::Sha512),
        _ => return Err(Error::MechanismInvalid(mech)),
    })
}

struct EcSign {
    key: Arc<KeyMaterial>,
    input: Input,
    len: usize,
}

impl SignOp for EcSign {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        let digest = self.input.take()?;
        if digest.is_empty() {
            return Err(Error::DataLenRange);
        }
        match &*self.key {
            KeyMaterial::EcPrivate(k) => Ok(k.sign_prehash(&digest)?),
            _ => Err(Error::KeyTypeInconsistent),
        }
    }
    fn output_len(&self) -> usize {
        self.len
    }
}

struct EcVerify {
    key: EcPublicKey,
    input: Input,
}

impl VerifyOp for EcVerify {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.input.update(data)
    }
    fn finish(&mut self, signature: &[u8]) -> Result<()> {
        let digest = self.input.take()?;
        if signature.len() != 2 * self.key.curve().field_len() {
            return Err(Error::SignatureLenRange);
        }
        if digest.is_empty() {
            return Err(Error::DataLenRange);
        }
        Ok(self.key.verify_prehash(&digest, signature)?)
    }
}

fn curve_len(c: EcCurve) -> usize {
    2 * c.field_len()
}

impl MechanismImpl for Ecdsa {
    fn sign(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn SignOp>> {
        no_param(m)?;
        let input = input(m.mech)?;
        check_key(key, CKO_PRIVATE_KEY, &[CKK_EC], CKA_SIGN, m.mech)?;
        let km = key.key_material()?;
        let len = match &*km {
            KeyMaterial::EcPrivate(k) => curve_len(k.curve()),
            _ => return Err(Error::KeyTypeInconsistent),
        };
        Ok(Box::new(EcSign {
            key: km,
            input,
            len,
        }))
    }
    fn verify(&self, m: &Mechanism, key: &Object) -> Result<Box<dyn VerifyOp>> {
        no_param(m)?;
        let input = input(m.mech)?;
        check_key(key, CKO_PUBLIC_KEY, &[CKK_EC], CKA_VERIFY, m.mech)?;
        let km = key.key_material()?;
        let k = match &*km {
            KeyMaterial::EcPublic(k) => k.clone(),
            _ => return Err(Error::KeyTypeInconsistent),
        };
        Ok(Box::new(EcVerify { key: k, input }))
    }
    fn generate_key_pair(
        &self,
        m: &Mechanism,
        public: &mut AttrMap,
        private: &mut AttrMap,
        range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        no_param(m)?;
        let curve = ec_curve(public)?;
        let bits = curve.bits() as CK_ULONG;
        if bits < range.0 || bits > range.1 {
            return Err(Error::CurveNotSupported);
        }
        let key = EcPrivateKey::generate(curve)?;
        public.insert(
            CKA_EC_POINT,
            ec_point_to_attr(&key.public_key().point_uncompressed())?,
        );
        private.insert(CKA_EC_PARAMS, curve.params_der().to_vec());
        private.insert(CKA_VALUE, key.scalar().to_vec());
        Ok(())
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        (m == CKM_EC_KEY_PAIR_GEN).then_some(CKK_EC)
    }
}

/// Registers ECDSA.
pub fn register(r: &mut Registry) {
    static IMP: Ecdsa = Ecdsa;
    r.add(
        &[
            CKM_EC_KEY_PAIR_GEN,
            CKM_ECDSA,
            CKM_ECDSA_SHA1,
            CKM_ECDSA_SHA224,
            CKM_ECDSA_SHA256,
            CKM_ECDSA_SHA384,
            CKM_ECDSA_SHA512,
        ],
        &IMP,
    );
}
