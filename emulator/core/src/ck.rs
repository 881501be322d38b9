//! PKCS#11 types and constants: everything from `cryptoki-sys`, plus the vendor
//! constants that the OASIS headers lack.
//!
//! Every `CK_*` type the workspace uses comes from here, so there is exactly one
//! definition of each constant.

pub use cryptoki_sys::*;

pub use crate::vendor::*;

/// `CK_TRUE` as stored in a `CK_BBOOL` attribute.
pub const TRUE: CK_BBOOL = CK_TRUE as CK_BBOOL;
/// `CK_FALSE` as stored in a `CK_BBOOL` attribute.
pub const FALSE: CK_BBOOL = CK_FALSE as CK_BBOOL;
