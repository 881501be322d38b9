//! The core's one door to cryptography. Mechanisms and keys import primitives
//! from here only, so a backend can change (aws-lc-rs, RustCrypto, the GOST
//! crate) without touching the PKCS#11 layer.

pub use tokenemu_crypto::*;
pub use tokenemu_gost as gost;
