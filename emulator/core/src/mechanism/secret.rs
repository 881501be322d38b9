//! Generic secret keys: `CKM_GENERIC_SECRET_KEY_GEN`.

use super::params::Mechanism;
use super::{no_param, MechanismImpl, Registry};
use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::attribute::{AttrMap, AttrMapExt};

struct GenericSecret;

/// The longest generic secret generated when the profile sets no maximum.
const MAX_SECRET_LEN: CK_ULONG = 64 * 1024;

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
        // CKM_GENERIC_SECRET_KEY_GEN's key sizes are in bits (mechanisms
        // spec, generic secret key generation); CKA_VALUE_LEN is in bytes. A
        // profile without a maximum still gets one: a caller's CKA_VALUE_LEN
        // must never size an allocation that exhausts memory.
        let max_bytes = if range.1 == 0 {
            MAX_SECRET_LEN
        } else {
            (range.1 / 8).min(MAX_SECRET_LEN)
        };
        if len == 0 || len.saturating_mul(8) < range.0 || len > max_bytes {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::params::MechParam;
    use crate::object::attribute::AttrMapExt;

    #[test]
    fn a_huge_value_len_is_refused_without_allocating_even_with_no_profile_maximum() {
        let m = Mechanism {
            mech: CKM_GENERIC_SECRET_KEY_GEN,
            param: MechParam::None,
        };
        let mut attrs = AttrMap::new();
        attrs.set_ulong(CKA_VALUE_LEN, CK_ULONG::MAX);
        assert!(matches!(
            GenericSecret.generate_key(&m, &mut attrs, (1, 0)),
            Err(Error::KeySizeRange)
        ));
        attrs.set_ulong(CKA_VALUE_LEN, 32);
        GenericSecret.generate_key(&m, &mut attrs, (1, 0)).unwrap();
        assert_eq!(attrs.get(&CKA_VALUE).map(Vec::len), Some(32));
    }
}
