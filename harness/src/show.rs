//! Turning PKCS#11 values into text people can read.

use tokenemu_core::ck::*;
use tokenemu_core::names;
use tokenemu_core::object::attribute::{kind_of, AttrKind};

/// `CK_TOKEN_INFO.flags` bits by name, in spec order.
pub const TOKEN_FLAGS: &[(&str, CK_FLAGS)] = &[
    ("CKF_RNG", CKF_RNG),
    ("CKF_WRITE_PROTECTED", CKF_WRITE_PROTECTED),
    ("CKF_LOGIN_REQUIRED", CKF_LOGIN_REQUIRED),
    ("CKF_USER_PIN_INITIALIZED", CKF_USER_PIN_INITIALIZED),
    ("CKF_RESTORE_KEY_NOT_NEEDED", CKF_RESTORE_KEY_NOT_NEEDED),
    ("CKF_CLOCK_ON_TOKEN", CKF_CLOCK_ON_TOKEN),
    (
        "CKF_PROTECTED_AUTHENTICATION_PATH",
        CKF_PROTECTED_AUTHENTICATION_PATH,
    ),
    ("CKF_DUAL_CRYPTO_OPERATIONS", CKF_DUAL_CRYPTO_OPERATIONS),
    ("CKF_TOKEN_INITIALIZED", CKF_TOKEN_INITIALIZED),
    ("CKF_SECONDARY_AUTHENTICATION", CKF_SECONDARY_AUTHENTICATION),
    ("CKF_USER_PIN_COUNT_LOW", CKF_USER_PIN_COUNT_LOW),
    ("CKF_USER_PIN_FINAL_TRY", CKF_USER_PIN_FINAL_TRY),
    ("CKF_USER_PIN_LOCKED", CKF_USER_PIN_LOCKED),
    ("CKF_USER_PIN_TO_BE_CHANGED", CKF_USER_PIN_TO_BE_CHANGED),
    ("CKF_SO_PIN_COUNT_LOW", CKF_SO_PIN_COUNT_LOW),
    ("CKF_SO_PIN_FINAL_TRY", CKF_SO_PIN_FINAL_TRY),
    ("CKF_SO_PIN_LOCKED", CKF_SO_PIN_LOCKED),
    ("CKF_SO_PIN_TO_BE_CHANGED", CKF_SO_PIN_TO_BE_CHANGED),
    ("CKF_ERROR_STATE", CKF_ERROR_STATE),
];

/// The names of the bits set in `flags` (unknown bits as one hex value).
pub fn flag_names(flags: CK_FLAGS, table: &[(&str, CK_FLAGS)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = flags;
    for (name, bit) in table {
        if flags & bit != 0 {
            out.push((*name).to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out
}

/// A fixed-size, blank-padded `CK_UTF8CHAR` field as a trimmed string.
pub fn padded_str(field: &[u8]) -> String {
    String::from_utf8_lossy(field).trim_end().to_owned()
}

/// How to render byte values.
#[derive(Debug, Clone, Copy)]
pub struct ValueStyle {
    /// Print long values completely.
    pub full: bool,
}

/// Values longer than this are shortened unless [`ValueStyle::full`].
pub const SHORT_LIMIT: usize = 48;

/// A `CK_ULONG` attribute value: by constant name for the enumerated ones.
pub fn ulong_text(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> String {
    if v == CK_UNAVAILABLE_INFORMATION {
        return "CK_UNAVAILABLE_INFORMATION".to_owned();
    }
    let prefix = match ty {
        CKA_CLASS => "CKO",
        CKA_KEY_TYPE => "CKK",
        CKA_CERTIFICATE_TYPE => "CKC",
        CKA_KEY_GEN_MECHANISM | CKA_MECHANISM_TYPE | CKA_NAME_HASH_ALGORITHM => "CKM",
        _ => return v.to_string(),
    };
    names::name_of(prefix, v).map_or_else(|| format!("{prefix}_{v:#x}"), str::to_owned)
}

/// An attribute value as text, by the attribute's kind.
pub fn value_text(ty: CK_ATTRIBUTE_TYPE, value: &[u8], style: ValueStyle) -> String {
    let ulong =
        |b: &[u8]| -> Option<CK_ULONG> { Some(CK_ULONG::from_ne_bytes(b.try_into().ok()?)) };
    match kind_of(ty) {
        AttrKind::Bool => match value {
            [0] => "false".into(),
            [1] => "true".into(),
            _ => format!("<malformed CK_BBOOL {}>", hex::encode(value)),
        },
        AttrKind::Ulong => match ulong(value) {
            Some(v) => ulong_text(ty, v),
            None => format!("<malformed CK_ULONG {}>", hex::encode(value)),
        },
        AttrKind::Date if value.is_empty() => "(empty)".into(),
        AttrKind::Date => String::from_utf8_lossy(value).into_owned(),
        AttrKind::UlongArray => {
            let n = std::mem::size_of::<CK_ULONG>();
            if value.len() % n != 0 {
                return format!("<malformed array {}>", hex::encode(value));
            }
            let items: Vec<String> = value
                .chunks(n)
                .filter_map(ulong)
                .map(names::mechanism_name)
                .collect();
            format!("[{}]", items.join(", "))
        }
        AttrKind::AttrArray | AttrKind::Bytes => {
            let mut out = bytes_text(value, style);
            if let Some(name) = matches!(ty, CKA_SUBJECT | CKA_ISSUER)
                .then(|| dn_text(value))
                .flatten()
            {
                out.push_str(&format!(" [{name}]"));
            }
            out
        }
    }
}

/// A DER X.500 Name as RFC 4514 text, if it parses.
fn dn_text(der: &[u8]) -> Option<String> {
    use der::Decode;
    x509_cert::name::Name::from_der(der)
        .ok()
        .map(|n| n.to_string())
}

/// Bytes as hex, plus the text when it is printable.
pub fn bytes_text(value: &[u8], style: ValueStyle) -> String {
    if value.is_empty() {
        return "(empty)".into();
    }
    let text = std::str::from_utf8(value)
        .ok()
        .filter(|s| s.chars().all(|c| !c.is_control()));
    let mut out = if style.full || value.len() <= SHORT_LIMIT {
        hex::encode(value)
    } else {
        format!("{}…", hex::encode(&value[..SHORT_LIMIT / 2]))
    };
    if value.len() > SHORT_LIMIT {
        out.push_str(&format!(" ({} bytes)", value.len()));
    }
    if let Some(t) = text {
        out.push_str(&format!(" \"{}\"", t.escape_default()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: ValueStyle = ValueStyle { full: false };

    #[test]
    fn values_by_kind() {
        assert_eq!(value_text(CKA_TOKEN, &[1], SHORT), "true");
        assert_eq!(
            value_text(CKA_CLASS, &CKO_PRIVATE_KEY.to_ne_bytes(), SHORT),
            "CKO_PRIVATE_KEY"
        );
        assert_eq!(
            value_text(CKA_KEY_TYPE, &CKK_RSA.to_ne_bytes(), SHORT),
            "CKK_RSA"
        );
        assert_eq!(
            value_text(
                CKA_KEY_GEN_MECHANISM,
                &CK_UNAVAILABLE_INFORMATION.to_ne_bytes(),
                SHORT
            ),
            "CK_UNAVAILABLE_INFORMATION"
        );
        assert_eq!(
            value_text(CKA_MODULUS_BITS, &2048u64.to_ne_bytes(), SHORT),
            "2048"
        );
        assert_eq!(value_text(CKA_LABEL, b"abc", SHORT), "616263 \"abc\"");
        assert_eq!(value_text(CKA_ID, &[0, 1], SHORT), "0001");
        assert_eq!(value_text(CKA_LABEL, b"", SHORT), "(empty)");
        let long = vec![0xAAu8; 100];
        let s = value_text(CKA_VALUE, &long, SHORT);
        assert!(s.ends_with("… (100 bytes)"), "{s}");
        let s = value_text(CKA_VALUE, &long, ValueStyle { full: true });
        assert!(s.starts_with(&"aa".repeat(100)), "{s}");
    }

    #[test]
    fn flags_by_name() {
        assert_eq!(
            flag_names(CKF_RNG | CKF_LOGIN_REQUIRED | (1 << 40), TOKEN_FLAGS),
            ["CKF_RNG", "CKF_LOGIN_REQUIRED", "0x10000000000"]
        );
    }
}
