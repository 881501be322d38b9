//! Generic secret keys: `CKM_GENERIC_SECRET_KEY_GEN`.

use super::params::Mechanism;
use super::{no_param, MechanismImpl, Registry};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};

struct GenericSecret;

impl MechanismImpl for GenericSecret {
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
        if len == 0 || len < range.0 || (range.1 != 0 && len > range.1) {
            return Err(Error::KeySizeRange);
        }
        let mut v = vec![0u8; usize::try_from(len).map_err(|_| Error::KeySizeRange)?];
        crate::crypto::random_fill(&mut v)?;
        attrs.insert(CKA_VALUE, v);
        Ok(())
    }
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        (m == CKM_GENERIC_SECRET_KEY_GEN).then_some(CKK_GENERIC_SECRET)
    }
}

/// Registers generic secret key generation.
pub fn register(r: &mut Registry) {
    static IMP: GenericSecret = GenericSecret;
    r.add(&[CKM_GENERIC_SECRET_KEY_GEN], &IMP);
}
