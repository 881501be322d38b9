//! Random number generation (v3.0 §5.19).

use super::*;

impl ModuleState {
    pub(crate) fn seed_random(&self, h: CK_SESSION_HANDLE, _seed: &[u8]) -> Result<()> {
        // The token draws from the OS generator, which cannot be seeded from here.
        self.with_session(h, |_| Err(Error::RandomSeedNotSupported))
    }

    pub(crate) fn generate_random(&self, h: CK_SESSION_HANDLE, len: usize) -> Result<Vec<u8>> {
        self.with_session(h, |_| {
            if len > MAX_RANDOM {
                return Err(Error::DataLenRange);
            }
            let mut v = vec![0u8; len];
            crate::crypto::random_fill(&mut v)?;
            Ok(v)
        })
    }
}
