//! SHA-1 and SHA-2 digests (`CKM_SHA_1`, `CKM_SHA224` … `CKM_SHA512`).

use super::params::Mechanism;
use super::{hash_of_digest_mech, no_param, DigestOp, HashDigest, MechanismImpl, Registry};
use crate::ck::*;
use crate::error::{Error, Result};

struct ShaFamily;

impl MechanismImpl for ShaFamily {
    fn digest(&self, m: &Mechanism) -> Result<Box<dyn DigestOp>> {
        no_param(m)?;
        let alg = hash_of_digest_mech(m.mech).ok_or(Error::MechanismInvalid(m.mech))?;
        Ok(HashDigest::boxed(alg))
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
