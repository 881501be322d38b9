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

/// Every PKCS#11 3.0 function by its spec name, in `CK_FUNCTION_LIST_3_0`
/// order: what a fault rule (`tokenemu token fault --function`, a slot's
/// `[[slot.fault]]`) may name.
pub const FUNCTION_NAMES: &[&str] = &[
    "C_Initialize",
    "C_Finalize",
    "C_GetInfo",
    "C_GetFunctionList",
    "C_GetSlotList",
    "C_GetSlotInfo",
    "C_GetTokenInfo",
    "C_GetMechanismList",
    "C_GetMechanismInfo",
    "C_InitToken",
    "C_InitPIN",
    "C_SetPIN",
    "C_OpenSession",
    "C_CloseSession",
    "C_CloseAllSessions",
    "C_GetSessionInfo",
    "C_GetOperationState",
    "C_SetOperationState",
    "C_Login",
    "C_Logout",
    "C_CreateObject",
    "C_CopyObject",
    "C_DestroyObject",
    "C_GetObjectSize",
    "C_GetAttributeValue",
    "C_SetAttributeValue",
    "C_FindObjectsInit",
    "C_FindObjects",
    "C_FindObjectsFinal",
    "C_EncryptInit",
    "C_Encrypt",
    "C_EncryptUpdate",
    "C_EncryptFinal",
    "C_DecryptInit",
    "C_Decrypt",
    "C_DecryptUpdate",
    "C_DecryptFinal",
    "C_DigestInit",
    "C_Digest",
    "C_DigestUpdate",
    "C_DigestKey",
    "C_DigestFinal",
    "C_SignInit",
    "C_Sign",
    "C_SignUpdate",
    "C_SignFinal",
    "C_SignRecoverInit",
    "C_SignRecover",
    "C_VerifyInit",
    "C_Verify",
    "C_VerifyUpdate",
    "C_VerifyFinal",
    "C_VerifyRecoverInit",
    "C_VerifyRecover",
    "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate",
    "C_SignEncryptUpdate",
    "C_DecryptVerifyUpdate",
    "C_GenerateKey",
    "C_GenerateKeyPair",
    "C_WrapKey",
    "C_UnwrapKey",
    "C_DeriveKey",
    "C_SeedRandom",
    "C_GenerateRandom",
    "C_GetFunctionStatus",
    "C_CancelFunction",
    "C_WaitForSlotEvent",
    "C_GetInterfaceList",
    "C_GetInterface",
    "C_LoginUser",
    "C_SessionCancel",
    "C_MessageEncryptInit",
    "C_EncryptMessage",
    "C_EncryptMessageBegin",
    "C_EncryptMessageNext",
    "C_MessageEncryptFinal",
    "C_MessageDecryptInit",
    "C_DecryptMessage",
    "C_DecryptMessageBegin",
    "C_DecryptMessageNext",
    "C_MessageDecryptFinal",
    "C_MessageSignInit",
    "C_SignMessage",
    "C_SignMessageBegin",
    "C_SignMessageNext",
    "C_MessageSignFinal",
    "C_MessageVerifyInit",
    "C_VerifyMessage",
    "C_VerifyMessageBegin",
    "C_VerifyMessageNext",
    "C_MessageVerifyFinal",
];

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
    fn function_names_are_the_3_0_list_once_each() {
        // CK_FUNCTION_LIST_3_0: 68 functions of 2.40 and 24 new ones.
        assert_eq!(FUNCTION_NAMES.len(), 92);
        let mut sorted = FUNCTION_NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), FUNCTION_NAMES.len());
        // Every name the hooks give an operation is in the list.
        use crate::api::OpKind;
        use crate::hooks::{op_name, Phase};
        for kind in [
            OpKind::Encrypt,
            OpKind::Decrypt,
            OpKind::Digest,
            OpKind::Sign,
            OpKind::Verify,
            OpKind::SignRecover,
            OpKind::VerifyRecover,
        ] {
            for phase in [Phase::Init, Phase::Single, Phase::Update, Phase::Final] {
                assert!(FUNCTION_NAMES.contains(&op_name(kind, phase)));
            }
        }
    }

    #[test]
    fn preferred_name_comes_first_for_aliases() {
        assert_eq!(
            name_of("CKM", CKM_EC_KEY_PAIR_GEN),
            Some("CKM_EC_KEY_PAIR_GEN")
        );
    }
}
