//! Name ↔ value lookups for PKCS#11 constants (`"CKA_LABEL"` ↔ `0x03`).
//!
//! Profiles, fixtures, scenarios and logs name constants the way the spec does;
//! these functions are the only place that translates.

use crate::ck::CK_ULONG;
use crate::names_table::*;
use crate::vendor::VENDOR_TABLE;

fn table_for(prefix: &str) -> Option<&'static [(&'static str, CK_ULONG)]> {
    Some(match prefix {
        "CKA" => CKA_TABLE,
        "CKM" => CKM_TABLE,
        "CKK" => CKK_TABLE,
        "CKO" => CKO_TABLE,
        "CKR" => CKR_TABLE,
        "CKU" => CKU_TABLE,
        "CKC" => CKC_TABLE,
        _ => return None,
    })
}

/// Looks a constant up by its spec name (`"CKM_RSA_PKCS"`), vendor names included.
/// Also accepts a number written as `0x…` or decimal.
pub fn value_of(name: &str) -> Option<CK_ULONG> {
    let name = name.trim();
    if let Some(hex) = name.strip_prefix("0x").or_else(|| name.strip_prefix("0X")) {
        return CK_ULONG::from_str_radix(hex, 16).ok();
    }
    if let Ok(v) = name.parse::<CK_ULONG>() {
        return Some(v);
    }
    let prefix = name.get(..3)?;
    table_for(prefix)?
        .iter()
        .chain(VENDOR_TABLE.iter())
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
}

/// Looks a value up in the table of `prefix` (`"CKA"`, `"CKM"`, …).
pub fn name_of(prefix: &str, value: CK_ULONG) -> Option<&'static str> {
    table_for(prefix)?
        .iter()
        .chain(VENDOR_TABLE.iter().filter(|(n, _)| n.starts_with(prefix)))
        .find(|(_, v)| *v == value)
        .map(|(n, _)| *n)
}

/// A display name for an attribute type: its spec name or its hex value.
pub fn attribute_name(v: CK_ULONG) -> String {
    display("CKA", v)
}

/// A display name for a mechanism type: its spec name or its hex value.
pub fn mechanism_name(v: CK_ULONG) -> String {
    display("CKM", v)
}

/// A display name for a return value: its spec name or its hex value.
pub fn rv_name(v: CK_ULONG) -> String {
    display("CKR", v)
}

fn display(prefix: &str, v: CK_ULONG) -> String {
    name_of(prefix, v).map_or_else(|| format!("{prefix}_{v:#x}"), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ck::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(value_of("CKA_LABEL"), Some(CKA_LABEL));
        assert_eq!(name_of("CKA", CKA_LABEL), Some("CKA_LABEL"));
        assert_eq!(
            value_of("CKM_GOSTR3410_WITH_GOSTR3411_12_256"),
            Some(0xD432_1008)
        );
        assert_eq!(mechanism_name(0xD432_1012), "CKM_GOSTR3411_12_256");
        assert_eq!(value_of("0x250"), Some(CKA_GOSTR3410_PARAMS));
        assert_eq!(value_of("CKA_NO_SUCH_THING"), None);
        assert_eq!(rv_name(CKR_PIN_LOCKED), "CKR_PIN_LOCKED");
    }

    #[test]
    fn preferred_name_comes_first_for_aliases() {
        assert_eq!(
            name_of("CKM", CKM_EC_KEY_PAIR_GEN),
            Some("CKM_EC_KEY_PAIR_GEN")
        );
    }
}
