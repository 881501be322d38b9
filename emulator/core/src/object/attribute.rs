//! Attribute values as PKCS#11 stores them (raw bytes in native layout) and the
//! kind table that says how each attribute type is encoded.

use std::collections::BTreeMap;

use crate::ck::*;
use crate::error::{Error, Result};

/// How an attribute's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    /// One byte, `CK_TRUE` or `CK_FALSE`.
    Bool,
    /// A native-endian `CK_ULONG`.
    Ulong,
    /// Arbitrary bytes (strings, big integers, DER).
    Bytes,
    /// A `CK_DATE` (8 ASCII digits) or empty.
    Date,
    /// An array of `CK_MECHANISM_TYPE`.
    UlongArray,
    /// An array of `CK_ATTRIBUTE` (nested templates); not stored by this token.
    AttrArray,
}

/// The encoding of attribute type `ty`.
pub fn kind_of(ty: CK_ATTRIBUTE_TYPE) -> AttrKind {
    match ty {
        CKA_TOKEN
        | CKA_PRIVATE
        | CKA_MODIFIABLE
        | CKA_COPYABLE
        | CKA_DESTROYABLE
        | CKA_TRUSTED
        | CKA_SENSITIVE
        | CKA_ENCRYPT
        | CKA_DECRYPT
        | CKA_WRAP
        | CKA_UNWRAP
        | CKA_SIGN
        | CKA_SIGN_RECOVER
        | CKA_VERIFY
        | CKA_VERIFY_RECOVER
        | CKA_DERIVE
        | CKA_EXTRACTABLE
        | CKA_LOCAL
        | CKA_NEVER_EXTRACTABLE
        | CKA_ALWAYS_SENSITIVE
        | CKA_WRAP_WITH_TRUSTED
        | CKA_ALWAYS_AUTHENTICATE
        | CKA_RESET_ON_INIT
        | CKA_HAS_RESET
        | CKA_COLOR => AttrKind::Bool,
        CKA_CLASS
        | CKA_CERTIFICATE_TYPE
        | CKA_CERTIFICATE_CATEGORY
        | CKA_KEY_TYPE
        | CKA_MODULUS_BITS
        | CKA_VALUE_LEN
        | CKA_VALUE_BITS
        | CKA_KEY_GEN_MECHANISM
        | CKA_JAVA_MIDP_SECURITY_DOMAIN
        | CKA_NAME_HASH_ALGORITHM
        | CKA_PRIME_BITS
        | CKA_SUBPRIME_BITS
        | CKA_MECHANISM_TYPE
        | CKA_HW_FEATURE_TYPE => AttrKind::Ulong,
        CKA_START_DATE | CKA_END_DATE => AttrKind::Date,
        CKA_ALLOWED_MECHANISMS => AttrKind::UlongArray,
        CKA_WRAP_TEMPLATE | CKA_UNWRAP_TEMPLATE | CKA_DERIVE_TEMPLATE => AttrKind::AttrArray,
        _ => AttrKind::Bytes,
    }
}

/// Encodes a `CK_ULONG` the way `C_GetAttributeValue` returns it.
pub fn ulong_bytes(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// Encodes a `CK_BBOOL`.
pub fn bool_bytes(v: bool) -> Vec<u8> {
    vec![if v { TRUE } else { FALSE }]
}

/// One attribute of a caller's template, copied out of caller memory.
#[derive(Clone, PartialEq, Eq)]
pub struct Attribute {
    /// The `CKA_*` type.
    pub ty: CK_ATTRIBUTE_TYPE,
    /// The raw value bytes.
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Attribute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be key material: only the type and length are shown.
        write!(
            f,
            "{}({} bytes)",
            crate::names::attribute_name(self.ty),
            self.value.len()
        )
    }
}

impl Attribute {
    /// A `CK_BBOOL` attribute.
    pub fn bool(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Self {
        Attribute {
            ty,
            value: bool_bytes(v),
        }
    }
    /// A `CK_ULONG` attribute.
    pub fn ulong(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Self {
        Attribute {
            ty,
            value: ulong_bytes(v),
        }
    }
    /// A byte-string attribute.
    pub fn bytes(ty: CK_ATTRIBUTE_TYPE, v: impl Into<Vec<u8>>) -> Self {
        Attribute {
            ty,
            value: v.into(),
        }
    }

    /// Checks the value's encoding against the attribute's kind.
    pub fn validate(&self) -> Result<()> {
        let ok = match kind_of(self.ty) {
            AttrKind::Bool => self.value.len() == 1 && self.value[0] <= 1,
            AttrKind::Ulong => self.value.len() == std::mem::size_of::<CK_ULONG>(),
            AttrKind::Date => self.value.is_empty() || self.value.len() == 8,
            AttrKind::UlongArray => self.value.len() % std::mem::size_of::<CK_ULONG>() == 0,
            AttrKind::AttrArray => {
                return Err(Error::AttributeTypeInvalid(self.ty));
            }
            AttrKind::Bytes => true,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::AttributeValueInvalid(
                self.ty,
                "wrong length or encoding for its type",
            ))
        }
    }

    /// The value as a boolean (callers validate first).
    pub fn as_bool(&self) -> Result<bool> {
        match self.value.as_slice() {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(Error::AttributeValueInvalid(self.ty, "not a CK_BBOOL")),
        }
    }

    /// The value as a `CK_ULONG`.
    pub fn as_ulong(&self) -> Result<CK_ULONG> {
        let arr: [u8; std::mem::size_of::<CK_ULONG>()] = self
            .value
            .as_slice()
            .try_into()
            .map_err(|_| Error::AttributeValueInvalid(self.ty, "not a CK_ULONG"))?;
        Ok(CK_ULONG::from_ne_bytes(arr))
    }
}

/// An owned, validated template.
pub type Template = Vec<Attribute>;

/// The attributes of an object, keyed by type.
pub type AttrMap = BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>;

/// Typed reads from an attribute map.
pub trait AttrMapExt {
    /// A boolean attribute, if present and well-formed.
    fn get_bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<bool>;
    /// A `CK_ULONG` attribute, if present and well-formed.
    fn get_ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG>;
    /// A byte attribute, if present.
    fn get_bytes(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]>;
    /// Sets a boolean attribute.
    fn set_bool(&mut self, ty: CK_ATTRIBUTE_TYPE, v: bool);
    /// Sets a `CK_ULONG` attribute.
    fn set_ulong(&mut self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG);
}

impl AttrMapExt for AttrMap {
    fn get_bool(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<bool> {
        match self.get(&ty)?.as_slice() {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
    fn get_ulong(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<CK_ULONG> {
        Some(CK_ULONG::from_ne_bytes(
            self.get(&ty)?.as_slice().try_into().ok()?,
        ))
    }
    fn get_bytes(&self, ty: CK_ATTRIBUTE_TYPE) -> Option<&[u8]> {
        self.get(&ty).map(Vec::as_slice)
    }
    fn set_bool(&mut self, ty: CK_ATTRIBUTE_TYPE, v: bool) {
        self.insert(ty, bool_bytes(v));
    }
    fn set_ulong(&mut self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) {
        self.insert(ty, ulong_bytes(v));
    }
}

/// Finds an attribute in a template.
pub fn find(template: &[Attribute], ty: CK_ATTRIBUTE_TYPE) -> Option<&Attribute> {
    template.iter().find(|a| a.ty == ty)
}
