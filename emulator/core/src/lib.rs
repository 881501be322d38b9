//! tokenemu-core: the safe heart of the tokenemu PKCS#11 emulator.
//!
//! It never sees a C pointer: the `tokenemu-pkcs11` cdylib copies every
//! argument into owned values and calls [`module::Module`]. See ARCHITECTURE.md
//! at the workspace root for how a call flows from the C ABI to the store.
#![forbid(unsafe_code)]

pub mod api;
pub mod ck;
pub mod config;
pub mod crypto;
pub mod error;
pub mod hooks;
pub mod mechanism;
pub mod module;
pub mod names;
mod names_table;
pub mod object;
pub mod profile;
pub mod sealing;
pub mod session;
mod state;
pub mod token;
pub mod util;
pub mod vendor;

pub use error::{Error, Result};
pub use module::Module;

/// `CK_INFO.manufacturerID`.
pub const LIBRARY_MANUFACTURER: &str = "tokenemu project";
/// `CK_INFO.libraryDescription`.
pub const LIBRARY_DESCRIPTION: &str = "tokenemu PKCS#11 token emulator";
/// `CK_INFO.libraryVersion`: the crate version's major.minor.
pub const LIBRARY_VERSION: ck::CK_VERSION = ck::CK_VERSION { major: 0, minor: 1 };
