//! Objects: an attribute map plus the rules that govern creating, copying,
//! changing and reading it, and a cache of the parsed key.

pub mod attribute;
pub mod policy;
pub mod table;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::api::AttrLookup;
use crate::ck::*;
use crate::error::{Error, Result};
use crate::mechanism::keys::KeyMaterial;
use crate::sealing::MasterKey;
use attribute::{find, AttrMap, AttrMapExt, Attribute};
use policy::{flag, rule, rules_for, Rule};

/// An object on a token or in a session.
pub struct Object {
    /// Store uid for token objects; 0 for session objects.
    pub uid: u64,
    /// The session that owns a session object.
    pub session: Option<CK_SESSION_HANDLE>,
    /// The attributes (secret ones only while the token's master key is known).
    pub attrs: AttrMap,
    /// Secret attributes as stored: sealed under the token's master key
    /// (token objects only; see `sealing`).
    sealed: BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>,
    /// The parsed key, built on first use and reused by every operation.
    key: OnceLock<Arc<KeyMaterial>>,
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("uid", &format_args!("{:016x}", self.uid))
            .field("class", &self.class())
            .field("attributes", &self.attrs.len())
            .finish()
    }
}

/// How an object comes into being; decides which template rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `C_CreateObject`: the caller supplies the value.
    Create,
    /// `C_GenerateKey(Pair)`: the token makes the value.
    Generate(CK_MECHANISM_TYPE),
    /// `C_UnwrapKey`: the value comes from the wrapped data, so the template
    /// may not give it; the key is not local, never always sensitive nor
    /// never extractable (v3.0 §4.9).
    Unwrap,
    /// `C_DeriveKey`: the value comes from the base key; `CKA_ALWAYS_SENSITIVE`
    /// and `CKA_NEVER_EXTRACTABLE` carry the base key's flags forward (v3.0
    /// §4.9 footnotes: true only if the base key's was and the new key stays so).
    Derive {
        /// The base key's `CKA_ALWAYS_SENSITIVE`.
        always_sensitive: bool,
        /// The base key's `CKA_NEVER_EXTRACTABLE`.
        never_extractable: bool,
    },
}

impl Object {
    /// A new object around validated attributes.
    pub fn new(uid: u64, session: Option<CK_SESSION_HANDLE>, attrs: AttrMap) -> Self {
        Object {
            uid,
            session,
            attrs,
            sealed: BTreeMap::new(),
            key: OnceLock::new(),
        }
    }

    /// The same object with other attributes (`C_SetAttributeValue`); the
    /// sealed secrets carry over, as secret values never change.
    pub fn with_attrs(&self, attrs: AttrMap) -> Object {
        Object {
            uid: self.uid,
            session: self.session,
            attrs,
            sealed: self.sealed.clone(),
            key: OnceLock::new(),
        }
    }

    /// The attribute types this object keeps secret (the policy's `SENSITIVE`).
    fn secret_types(&self) -> Vec<CK_ATTRIBUTE_TYPE> {
        self.rules()
            .iter()
            .flat_map(|t| t.iter())
            .filter(|r| r.has(flag::SENSITIVE))
            .map(|r| r.ty)
            .collect()
    }

    /// Whether the object holds secret values in the clear.
    pub fn has_secrets(&self) -> bool {
        self.secret_types()
            .iter()
            .any(|t| self.attrs.contains_key(t))
    }

    /// Whether the object has sealed secrets.
    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// Seals every secret value under `mk` (for storing).
    pub fn seal_secrets(&mut self, mk: &MasterKey) -> Result<()> {
        for ty in self.secret_types() {
            if let Some(v) = self.attrs.get(&ty) {
                let sealed = mk.seal(self.uid, ty, v)?;
                self.sealed.insert(ty, sealed);
            }
        }
        Ok(())
    }

    /// A copy with every sealed secret opened.
    pub fn opened(&self, mk: &MasterKey) -> Result<Object> {
        let mut attrs = self.attrs.clone();
        for (ty, sealed) in &self.sealed {
            attrs.insert(*ty, mk.open(self.uid, *ty, sealed)?.to_vec());
        }
        Ok(self.with_attrs(attrs))
    }

    /// A copy without the secrets in the clear (after logout).
    pub fn closed(&self) -> Object {
        let mut attrs = self.attrs.clone();
        for ty in self.sealed.keys() {
            attrs.remove(ty);
        }
        self.with_attrs(attrs)
    }

    /// `CKA_CLASS`.
    pub fn class(&self) -> CK_OBJECT_CLASS {
        self.attrs
            .get_ulong(CKA_CLASS)
            .unwrap_or(CK_UNAVAILABLE_INFORMATION)
    }
    /// `CKA_KEY_TYPE`, for keys.
    pub fn key_type(&self) -> Option<CK_KEY_TYPE> {
        self.attrs.get_ulong(CKA_KEY_TYPE)
    }
    /// A boolean attribute, false when absent.
    pub fn flag(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs.get_bool(ty).unwrap_or(false)
    }
    /// `CKA_TOKEN`.
    pub fn is_token(&self) -> bool {
        self.flag(CKA_TOKEN)
    }
    /// `CKA_PRIVATE`.
    pub fn is_private(&self) -> bool {
        self.flag(CKA_PRIVATE)
    }

    /// The parsed key (cached).
    pub fn key_material(&self) -> Result<Arc<KeyMaterial>> {
        if let Some(k) = self.key.get() {
            return Ok(k.clone());
        }
        if self.sealed.keys().any(|t| !self.attrs.contains_key(t)) {
            // Sealed and not opened: nobody is logged in.
            return Err(Error::UserNotLoggedIn);
        }
        let k = Arc::new(KeyMaterial::from_attrs(&self.attrs)?);
        Ok(self.key.get_or_init(|| k).clone())
    }

    fn rules(&self) -> Vec<&'static [Rule]> {
        rules_for(self.class(), self.key_type()).unwrap_or_default()
    }

    /// Whether `ty` is hidden from `C_GetAttributeValue`.
    fn hides(&self, r: &Rule) -> bool {
        r.has(flag::SENSITIVE) && (self.flag(CKA_SENSITIVE) || !self.flag(CKA_EXTRACTABLE))
    }

    /// Answers `C_GetAttributeValue` for each requested type.
    pub fn lookup(&self, types: &[CK_ATTRIBUTE_TYPE]) -> Vec<AttrLookup> {
        let rules = self.rules();
        types
            .iter()
            .map(|&ty| {
                if ty == CKA_UNIQUE_ID && self.uid != 0 {
                    return AttrLookup::Value(format!("{:016x}", self.uid).into_bytes());
                }
                match (self.attrs.get(&ty), rule(&rules, ty)) {
                    (Some(_), Some(r)) if self.hides(&r) => AttrLookup::Sensitive,
                    (Some(v), _) => AttrLookup::Value(v.clone()),
                    // Sealed and not opened: the value exists but cannot be read now.
                    (None, _) if self.sealed.contains_key(&ty) => AttrLookup::Sensitive,
                    (None, _) => AttrLookup::Invalid,
                }
            })
            .collect()
    }

    /// Whether every template attribute equals the object's (for `C_FindObjects`).
    pub fn matches(&self, template: &[Attribute]) -> bool {
        template.iter().all(|a| {
            if a.ty == CKA_UNIQUE_ID && self.uid != 0 {
                return a.value == format!("{:016x}", self.uid).into_bytes();
            }
            self.attrs.get(&a.ty).is_some_and(|v| *v == a.value)
        })
    }

    /// The attribute map after `C_SetAttributeValue` with `template`.
    pub fn with_changes(&self, template: &[Attribute]) -> Result<AttrMap> {
        if !self.attrs.get_bool(CKA_MODIFIABLE).unwrap_or(true) {
            return Err(Error::ActionProhibited);
        }
        self.apply_changes(template, false)
    }

    /// The attribute map of a `C_CopyObject` copy with `template` applied.
    pub fn copy_with(&self, template: &[Attribute]) -> Result<AttrMap> {
        if !self.attrs.get_bool(CKA_COPYABLE).unwrap_or(true) {
            return Err(Error::ActionProhibited);
        }
        self.apply_changes(template, true)
    }

    fn apply_changes(&self, template: &[Attribute], copying: bool) -> Result<AttrMap> {
        let rules = self.rules();
        let mut attrs = self.attrs.clone();
        for a in template {
            a.validate()?;
            let r = rule(&rules, a.ty).ok_or(Error::AttributeTypeInvalid(a.ty))?;
            let current = self.attrs.get(&a.ty);
            if current == Some(&a.value) {
                continue; // setting an attribute to its own value is always fine
            }
            let fixed = r.has(flag::TOKEN_SET)
                || (r.has(flag::FIXED_AFTER_CREATE) && !(copying && r.has(flag::CHANGE_ON_COPY)));
            if fixed {
                return Err(Error::AttributeReadOnly(a.ty));
            }
            if r.has(flag::ONLY_TO_TRUE) && !a.as_bool()? {
                return Err(Error::AttributeReadOnly(a.ty));
            }
            if r.has(flag::ONLY_TO_FALSE) && a.as_bool()? {
                return Err(Error::AttributeReadOnly(a.ty));
            }
            attrs.insert(a.ty, a.value.clone());
        }
        Ok(attrs)
    }

    /// Bytes of storage the object takes (for `C_GetObjectSize` and memory
    /// accounting): each attribute's value plus 16 bytes of bookkeeping, a
    /// secret one in its sealed form, so the figure does not change with
    /// login and logout.
    pub fn size(&self) -> usize {
        let plain: usize = self
            .attrs
            .iter()
            .filter(|(t, _)| !self.sealed.contains_key(t))
            .map(|(_, v)| v.len() + 16)
            .sum();
        plain + self.sealed.values().map(|v| v.len() + 16).sum::<usize>()
    }

    /// The object's stored form: public attributes in the clear, secret ones
    /// only sealed. Fails if a secret value has not been sealed.
    pub fn to_record(&self) -> Result<Vec<u8>> {
        let secret = self.secret_types();
        if let Some(ty) = secret
            .iter()
            .find(|t| self.attrs.contains_key(t) && !self.sealed.contains_key(t))
        {
            return Err(Error::General(format!(
                "{} would be stored unsealed",
                crate::names::attribute_name(*ty)
            )));
        }
        let named = |(t, v): (&CK_ATTRIBUTE_TYPE, &Vec<u8>)| {
            (attribute_name(*t), Cow::from(hex::encode(v)))
        };
        let rec = Record {
            v: RECORD_VERSION,
            attrs: self
                .attrs
                .iter()
                .filter(|(t, _)| !secret.contains(t))
                .map(named)
                .collect(),
            sealed: self.sealed.iter().map(named).collect(),
        };
        serde_json::to_vec(&rec).map_err(|e| Error::General(e.to_string()))
    }

    /// Reads a stored object, opening its secrets if the master key is known;
    /// `Err` carries a message for the store's file name.
    pub fn from_record(
        uid: u64,
        bytes: &[u8],
        mk: Option<&MasterKey>,
    ) -> std::result::Result<Object, String> {
        let rec: Record<'_> =
            serde_json::from_slice(bytes).map_err(|e| format!("not an object record: {e}"))?;
        if rec.v != RECORD_VERSION {
            return Err(format!("object record version {} is not supported", rec.v));
        }
        let decode = |list: Vec<(Cow<'_, str>, Cow<'_, str>)>| -> std::result::Result<BTreeMap<CK_ATTRIBUTE_TYPE, Vec<u8>>, String> {
            list.into_iter()
                .map(|(name, value)| {
                    let ty = attribute_type(&name).ok_or_else(|| format!("unknown attribute {name}"))?;
                    Ok((ty, hex::decode(value.as_bytes()).map_err(|e| format!("{name}: {e}"))?))
                })
                .collect()
        };
        let mut obj = Object::new(uid, None, decode(rec.attrs)?);
        obj.sealed = decode(rec.sealed)?;
        match mk {
            Some(mk) if obj.has_sealed() => obj.opened(mk).map_err(|e| e.to_string()),
            _ => Ok(obj),
        }
    }
}

const RECORD_VERSION: u32 = 2;

/// A stored object: attribute names and hex values. Read without copying the
/// strings (names and hex digits never need JSON escapes).
#[derive(Serialize, Deserialize)]
struct Record<'a> {
    v: u32,
    #[serde(borrow)]
    attrs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    #[serde(default, borrow)]
    sealed: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// Attribute types by spec name, and spec names by type.
type AttributeNames = (
    HashMap<&'static str, CK_ATTRIBUTE_TYPE>,
    HashMap<CK_ATTRIBUTE_TYPE, &'static str>,
);

/// The spec names of attribute types both ways, built once: loading a token
/// translates every attribute of every object.
fn attribute_names() -> &'static AttributeNames {
    static NAMES: OnceLock<AttributeNames> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut by_name = HashMap::new();
        let mut by_type = HashMap::new();
        let vendor = crate::vendor::VENDOR_TABLE
            .iter()
            .filter(|(n, _)| n.starts_with("CKA_"));
        for &(name, ty) in crate::names_table::CKA_TABLE.iter().chain(vendor) {
            by_name.entry(name).or_insert(ty);
            // The first spelling is the spec's preferred one (as `names::name_of`).
            by_type.entry(ty).or_insert(name);
        }
        (by_name, by_type)
    })
}

/// An attribute type by its stored name (or number).
fn attribute_type(name: &str) -> Option<CK_ATTRIBUTE_TYPE> {
    attribute_names()
        .0
        .get(name)
        .copied()
        .or_else(|| crate::names::value_of(name))
}

/// The stored name of an attribute type (as `names::attribute_name`).
fn attribute_name(ty: CK_ATTRIBUTE_TYPE) -> Cow<'static, str> {
    attribute_names().1.get(&ty).map_or_else(
        || Cow::Owned(crate::names::attribute_name(ty)),
        |n| Cow::Borrowed(*n),
    )
}

/// Builds the attribute map of a new object from a caller's template: checks
/// every attribute against the class's rules, rejects what the caller may not
/// set, adds defaults and the attributes the token computes.
pub fn build_attrs(template: &[Attribute], origin: Origin) -> Result<AttrMap> {
    let class = find(template, CKA_CLASS)
        .ok_or(Error::TemplateIncomplete(CKA_CLASS))?
        .as_ulong()?;
    let key_type = match class {
        CKO_PUBLIC_KEY | CKO_PRIVATE_KEY | CKO_SECRET_KEY => Some(
            find(template, CKA_KEY_TYPE)
                .ok_or(Error::TemplateIncomplete(CKA_KEY_TYPE))?
                .as_ulong()?,
        ),
        _ => None,
    };
    if class == CKO_CERTIFICATE {
        let ct = find(template, CKA_CERTIFICATE_TYPE)
            .ok_or(Error::TemplateIncomplete(CKA_CERTIFICATE_TYPE))?
            .as_ulong()?;
        if ct != CKC_X_509 {
            return Err(Error::AttributeValueInvalid(
                CKA_CERTIFICATE_TYPE,
                "only X.509 certificates",
            ));
        }
    }
    let rules = rules_for(class, key_type).ok_or(match key_type {
        Some(_) => Error::AttributeValueInvalid(CKA_KEY_TYPE, "key type not held by this token"),
        None => Error::AttributeValueInvalid(CKA_CLASS, "object class not held by this token"),
    })?;

    let mut attrs = AttrMap::new();
    for a in template {
        // JaCarta's alias for the 512-bit curve parameters (gost.md §3).
        let normalized;
        let a = if a.ty == CKA_GOSTR3410_512PARAMS {
            normalized = Attribute::bytes(CKA_GOSTR3410_PARAMS, a.value.clone());
            &normalized
        } else {
            a
        };
        a.validate()?;
        let r = rule(&rules, a.ty).ok_or(Error::AttributeTypeInvalid(a.ty))?;
        if r.has(flag::TOKEN_SET) {
            return Err(Error::AttributeReadOnly(a.ty));
        }
        if !matches!(origin, Origin::Create) && r.has(flag::NOT_ON_GENERATE) {
            return Err(Error::TemplateInconsistent(
                "a generated, unwrapped or derived key's value cannot be given",
            ));
        }
        if let Some(prev) = attrs.insert(a.ty, a.value.clone()) {
            if prev != a.value {
                return Err(Error::TemplateInconsistent(
                    "an attribute is given twice with different values",
                ));
            }
        }
    }
    for table in &rules {
        for r in table.iter() {
            if attrs.contains_key(&r.ty) {
                continue;
            }
            let required = match origin {
                Origin::Create => r.has(flag::REQUIRED_ON_CREATE),
                Origin::Generate(_) => r.has(flag::REQUIRED_ON_GENERATE),
                // The mechanism decides what else it needs (CKA_VALUE_LEN).
                Origin::Unwrap | Origin::Derive { .. } => false,
            };
            if required {
                return Err(Error::TemplateIncomplete(r.ty));
            }
            if let Some(v) = r.default.bytes() {
                attrs.insert(r.ty, v);
            }
        }
    }
    // Attributes the token sets.
    if key_type.is_some() {
        let local = matches!(origin, Origin::Generate(_));
        attrs.set_bool(CKA_LOCAL, local);
        if let Origin::Generate(m) = origin {
            attrs.set_ulong(CKA_KEY_GEN_MECHANISM, m);
        }
        if class != CKO_PUBLIC_KEY {
            let sensitive = attrs.get_bool(CKA_SENSITIVE).unwrap_or(false);
            let extractable = attrs.get_bool(CKA_EXTRACTABLE).unwrap_or(false);
            let (was_sensitive, was_unextractable) = match origin {
                Origin::Generate(_) => (true, true),
                Origin::Create | Origin::Unwrap => (false, false),
                Origin::Derive {
                    always_sensitive,
                    never_extractable,
                } => (always_sensitive, never_extractable),
            };
            attrs.set_bool(CKA_ALWAYS_SENSITIVE, was_sensitive && sensitive);
            attrs.set_bool(CKA_NEVER_EXTRACTABLE, was_unextractable && !extractable);
        }
    }
    Ok(attrs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use attribute::Attribute as A;

    fn data_template() -> Vec<A> {
        vec![
            A::ulong(CKA_CLASS, CKO_DATA),
            A::bytes(CKA_LABEL, "x"),
            A::bytes(CKA_VALUE, "v"),
        ]
    }

    #[test]
    fn defaults_are_applied_and_unknown_attributes_rejected() {
        let attrs = build_attrs(&data_template(), Origin::Create).unwrap();
        assert_eq!(attrs.get_bool(CKA_TOKEN), Some(false));
        assert_eq!(attrs.get_bool(CKA_MODIFIABLE), Some(true));
        let mut t = data_template();
        t.push(A::bytes(CKA_MODULUS, vec![1]));
        assert!(matches!(
            build_attrs(&t, Origin::Create),
            Err(Error::AttributeTypeInvalid(CKA_MODULUS))
        ));
    }

    #[test]
    fn missing_class_and_token_set_attributes() {
        assert!(matches!(
            build_attrs(&[], Origin::Create),
            Err(Error::TemplateIncomplete(CKA_CLASS))
        ));
        let t = vec![
            A::ulong(CKA_CLASS, CKO_SECRET_KEY),
            A::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            A::bytes(CKA_VALUE, vec![1; 16]),
            A::bool(CKA_LOCAL, true),
        ];
        assert!(matches!(
            build_attrs(&t, Origin::Create),
            Err(Error::AttributeReadOnly(CKA_LOCAL))
        ));
    }

    #[test]
    fn sensitive_values_hide_and_one_way_flags_hold() {
        let t = vec![
            A::ulong(CKA_CLASS, CKO_SECRET_KEY),
            A::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            A::bytes(CKA_VALUE, vec![7; 16]),
            A::bool(CKA_SENSITIVE, false),
            A::bool(CKA_EXTRACTABLE, true),
        ];
        let o = Object::new(1, None, build_attrs(&t, Origin::Create).unwrap());
        assert_eq!(o.lookup(&[CKA_VALUE]), vec![AttrLookup::Value(vec![7; 16])]);
        assert_eq!(o.attrs.get_bool(CKA_ALWAYS_SENSITIVE), Some(false));
        let changed = o.with_changes(&[A::bool(CKA_SENSITIVE, true)]).unwrap();
        let o2 = Object::new(1, None, changed);
        assert_eq!(
            o2.lookup(&[CKA_VALUE, CKA_NO_SUCH]),
            vec![AttrLookup::Sensitive, AttrLookup::Invalid]
        );
        assert!(matches!(
            o2.with_changes(&[A::bool(CKA_SENSITIVE, false)]),
            Err(Error::AttributeReadOnly(_))
        ));
        assert!(matches!(
            o2.with_changes(&[A::bytes(CKA_VALUE, vec![1])]),
            Err(Error::AttributeReadOnly(_))
        ));
        assert!(o2.with_changes(&[A::bool(CKA_EXTRACTABLE, false)]).is_ok());
    }

    #[test]
    fn records_round_trip_and_garbage_is_named() {
        let o = Object::new(
            9,
            None,
            build_attrs(&data_template(), Origin::Create).unwrap(),
        );
        let back = Object::from_record(9, &o.to_record().unwrap(), None).unwrap();
        assert_eq!(back.attrs, o.attrs);
        assert!(Object::from_record(9, b"{nope", None)
            .unwrap_err()
            .contains("not an object record"));
    }

    #[test]
    fn secrets_are_stored_sealed_and_open_only_with_the_master_key() {
        let t = vec![
            A::ulong(CKA_CLASS, CKO_SECRET_KEY),
            A::ulong(CKA_KEY_TYPE, CKK_GENERIC_SECRET),
            A::bool(CKA_TOKEN, true),
            A::bytes(CKA_VALUE, b"0123456789abcdef".to_vec()),
        ];
        let mut o = Object::new(5, None, build_attrs(&t, Origin::Create).unwrap());
        assert!(
            o.to_record().is_err(),
            "an unsealed secret must not be stored"
        );
        let mk = MasterKey::generate().unwrap();
        o.seal_secrets(&mk).unwrap();
        let rec = o.to_record().unwrap();
        assert!(!rec.windows(16).any(|w| w == b"0123456789abcdef"));
        assert!(!String::from_utf8_lossy(&rec).contains(&hex::encode(b"0123456789abcdef")));
        let locked = Object::from_record(5, &rec, None).unwrap();
        assert_eq!(locked.lookup(&[CKA_VALUE]), vec![AttrLookup::Sensitive]);
        assert!(matches!(locked.key_material(), Err(Error::UserNotLoggedIn)));
        let open = Object::from_record(5, &rec, Some(&mk)).unwrap();
        assert_eq!(open.attrs.get(&CKA_VALUE).unwrap(), b"0123456789abcdef");
        assert!(Object::from_record(5, &rec, Some(&MasterKey::generate().unwrap())).is_err());
        assert_eq!(open.closed().attrs.get(&CKA_VALUE), None);
    }

    const CKA_NO_SUCH: CK_ATTRIBUTE_TYPE = 0x7fff_0000;
}
