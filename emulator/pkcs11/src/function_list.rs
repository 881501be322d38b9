//! The function lists and interfaces handed to callers.
//!
//! Versions (see `shared/reference/peers.md` §a "PKCS#11 version"):
//! - `C_GetFunctionList` returns the 2.40 `CK_FUNCTION_LIST` (version 2.40);
//!   a 3.x version is never advertised in a 2.x struct.
//! - `C_GetInterfaceList` offers two interfaces, both named `"PKCS 11"`:
//!   3.0 first (the default), then 2.40.
//! - `C_GetInfo` agrees with the list the caller holds: the 2.40 list (and the
//!   exported `C_GetInfo` symbol, which belongs to the 2.40 API) reports
//!   2.40, the 3.0 list holds a separate `C_GetInfo` that reports 3.0.
//!
//! Interface flags are 0: we do not set `CKF_INTERFACE_FORK_SAFE`. The 3.0
//! spec defines it as "each process keeps its sessions, login and operation
//! state after fork"; we do the opposite (a child sees "not initialised" and
//! must call `C_Initialize`, see `state.rs`), so asking for that flag fails.
//!
//! Both lists are built by one macro from one list of function names, so an
//! entry cannot be forgotten or duplicated (the struct literals must name
//! every field, so the compiler checks completeness).

use std::ffi::c_void;

use tokenemu_core::ck::*;

/// Version of the 2.40 interface.
pub const VERSION_240: CK_VERSION = CK_VERSION {
    major: 2,
    minor: 40,
};
/// Version of the 3.0 interface.
pub const VERSION_300: CK_VERSION = CK_VERSION { major: 3, minor: 0 };

macro_rules! function_lists {
    (v2: [$($f:ident),* $(,)?], v3_only: [$($g:ident),* $(,)?]) => {
        /// The PKCS#11 2.40 function list.
        pub static FUNCTION_LIST_240: CK_FUNCTION_LIST = CK_FUNCTION_LIST {
            version: VERSION_240,
            C_GetInfo: Some(crate::entry::general::C_GetInfo),
            $($f: Some(crate::$f),)*
        };
        /// The PKCS#11 3.0 function list.
        pub static FUNCTION_LIST_300: CK_FUNCTION_LIST_3_0 = CK_FUNCTION_LIST_3_0 {
            version: VERSION_300,
            C_GetInfo: Some(crate::entry::general::get_info_v3),
            $($f: Some(crate::$f),)*
            $($g: Some(crate::$g),)*
        };
    };
}

function_lists! {
    v2: [
        C_Initialize, C_Finalize, C_GetFunctionList,
        C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo,
        C_InitToken, C_InitPIN, C_SetPIN,
        C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo,
        C_GetOperationState, C_SetOperationState, C_Login, C_Logout,
        C_CreateObject, C_CopyObject, C_DestroyObject, C_GetObjectSize,
        C_GetAttributeValue, C_SetAttributeValue,
        C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal,
        C_EncryptInit, C_Encrypt, C_EncryptUpdate, C_EncryptFinal,
        C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal,
        C_DigestInit, C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal,
        C_SignInit, C_Sign, C_SignUpdate, C_SignFinal, C_SignRecoverInit, C_SignRecover,
        C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal,
        C_VerifyRecoverInit, C_VerifyRecover,
        C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate,
        C_GenerateKey, C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey,
        C_SeedRandom, C_GenerateRandom,
        C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent,
    ],
    v3_only: [
        C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
        C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext,
        C_MessageEncryptFinal,
        C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext,
        C_MessageDecryptFinal,
        C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext,
        C_MessageSignFinal,
        C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext,
        C_MessageVerifyFinal,
    ]
}

/// The interface name, NUL-terminated.
pub const INTERFACE_NAME: &[u8; 8] = b"PKCS 11\0";

/// The interface table (a newtype so a table of raw pointers can be a static).
#[derive(Debug)]
pub struct Interfaces(pub [CK_INTERFACE; 2]);

// SAFETY: the pointers inside point to immutable statics (the name and the
// function lists); nothing ever writes through them, so sharing is sound.
unsafe impl Sync for Interfaces {}

/// What `C_GetInterfaceList` returns: 3.0 first (the default), then 2.40.
pub static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST_300 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_UTF8CHAR,
        pFunctionList: &FUNCTION_LIST_240 as *const CK_FUNCTION_LIST as *mut c_void,
        flags: 0,
    },
]);

/// The interface version of an interface's function list (both list structs
/// start with `CK_VERSION`).
pub fn interface_version(i: &CK_INTERFACE) -> CK_VERSION {
    if std::ptr::eq(i.pFunctionList, INTERFACES.0[0].pFunctionList) {
        VERSION_300
    } else {
        VERSION_240
    }
}

/// Picks the interface for `C_GetInterface`: `name_matches` says the name was
/// NULL or `"PKCS 11"`, `version` NULL means the default (3.0), `flags` must
/// all be offered by the interface.
pub fn find_interface(
    name_matches: bool,
    version: Option<CK_VERSION>,
    flags: CK_FLAGS,
) -> Option<&'static CK_INTERFACE> {
    if !name_matches {
        return None;
    }
    INTERFACES.0.iter().find(|i| {
        let v = interface_version(i);
        version.is_none_or(|w| w.major == v.major && w.minor == v.minor) && flags & !i.flags == 0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_lookup() {
        let v3 = find_interface(true, None, 0).unwrap();
        assert_eq!(interface_version(v3).major, 3);
        let v2 = find_interface(true, Some(VERSION_240), 0).unwrap();
        assert_eq!(interface_version(v2).minor, 40);
        assert!(find_interface(true, Some(CK_VERSION { major: 3, minor: 1 }), 0).is_none());
        assert!(find_interface(false, None, 0).is_none());
        assert!(find_interface(true, None, CKF_INTERFACE_FORK_SAFE).is_none());
    }

    #[test]
    fn list_versions() {
        assert_eq!(
            (
                FUNCTION_LIST_240.version.major,
                FUNCTION_LIST_240.version.minor
            ),
            (2, 40)
        );
        assert_eq!(
            (
                FUNCTION_LIST_300.version.major,
                FUNCTION_LIST_300.version.minor
            ),
            (3, 0)
        );
    }
}
