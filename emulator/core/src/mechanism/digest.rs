//! SHA-1 and SHA-2 digests (`CKM_SHA_1`, `CKM_SHA224` … `CKM_SHA512`).

use crate::crypto::Hasher;

use super::params::Mechanism;
use super::{hash_of_digest_mech, no_param, DigestOp, MechanismImpl, Registry};
use crate::ck::*;
use crate::error::{Error, Result};

struct ShaFamily;

struct HashDigest(Option<Hasher>, usize);

impl DigestOp for HashDigest {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?
            .update(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        Ok(self
            .0
            .take()
            .ok_or(Error::OperationNotInitialized)?
            .finalize())
    }
    fn output_len(&self) -> usize {
        self.1
    }
}

impl MechanismImpl for ShaFamily {
    fn digest(&self, m: &Mechanism) -> Result<Box<dyn DigestOp>> {
        no_param(m)?;
        let alg = hash_of_digest_mech(m.mech).ok_or(Error::MechanismInvalid(m.mech))?;
        Ok(Box::new(HashDigest(
            Some(Hasher::new(alg)),
            alg.output_len(),
        )))
    }
}

/// Registers the SHA digests.
pub fn register(r: &mut Registry) {
    static IMP: ShaFamily = ShaFamily;
    r.add(
        &[CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512],
        &IMP,
    );
}
