//! Types that cross the core's public API (the C boundary converts them to and
//! from C structs and buffers).

use crate::ck::*;

/// What `C_GetAttributeValue` found for one requested attribute.
#[derive(Clone, PartialEq, Eq)]
pub enum AttrLookup {
    /// The value.
    Value(Vec<u8>),
    /// The attribute is secret (`CKR_ATTRIBUTE_SENSITIVE`).
    Sensitive,
    /// The object has no such attribute (`CKR_ATTRIBUTE_TYPE_INVALID`).
    Invalid,
}

impl std::fmt::Debug for AttrLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AttrLookup::Value(v) => write!(f, "Value({} bytes)", v.len()),
            AttrLookup::Sensitive => f.write_str("Sensitive"),
            AttrLookup::Invalid => f.write_str("Invalid"),
        }
    }
}

/// The caller's output buffer, as far as the core needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutSpec {
    /// `pOut` was NULL: only the length is asked for; the operation stays active.
    Query,
    /// The caller's buffer holds this many bytes.
    Capacity(usize),
}

/// The answer to a call that produces output.
#[derive(Clone, PartialEq, Eq)]
pub enum Output {
    /// The length (for a query): copy nothing, report this length.
    Len(usize),
    /// The data to copy out; it fits the capacity given.
    Data(Vec<u8>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Len(n) => write!(f, "Len({n})"),
            Output::Data(v) => write!(f, "Data({} bytes)", v.len()),
        }
    }
}

/// The kinds of cryptographic operation a session can have active, one of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `C_Encrypt*`.
    Encrypt,
    /// `C_Decrypt*`.
    Decrypt,
    /// `C_Digest*`.
    Digest,
    /// `C_Sign*`.
    Sign,
    /// `C_Verify*`.
    Verify,
    /// `C_SignRecover`.
    SignRecover,
    /// `C_VerifyRecover`.
    VerifyRecover,
}

/// Library information for `C_GetInfo`.
pub fn library_info(cryptoki_version: CK_VERSION) -> CK_INFO {
    CK_INFO {
        cryptokiVersion: cryptoki_version,
        manufacturerID: crate::util::padded(crate::LIBRARY_MANUFACTURER),
        flags: 0,
        libraryDescription: crate::util::padded(crate::LIBRARY_DESCRIPTION),
        libraryVersion: crate::LIBRARY_VERSION,
    }
}
