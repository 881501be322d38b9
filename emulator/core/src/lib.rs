//! tokenemu-core: the safe heart of the tokenemu PKCS#11 emulator.
#![forbid(unsafe_code)]

pub mod ck;
pub mod error;
pub mod names;
mod names_table;
pub mod vendor;

pub use error::{Error, Result};
