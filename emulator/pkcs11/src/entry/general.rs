//! §5.4 General-purpose functions, §5.16 parallel-function management (v3.0
//! §5.20), and the interface lookups (v3.0 §5.4.5–§5.4.6).

use tokenemu_core::ck::*;
use tokenemu_core::Error;

use crate::boundary::entry;
use crate::function_list::{self as fl, FUNCTION_LIST_240, INTERFACES, INTERFACE_NAME};
use crate::ptr;
use crate::state;

/// `C_Initialize` (§5.4.1). `pInitArgs` is NULL or a `CK_C_INITIALIZE_ARGS`
/// (see `state.rs` for locking and fork rules).
#[no_mangle]
pub unsafe extern "C" fn C_Initialize(pInitArgs: CK_VOID_PTR) -> CK_RV {
    let trace_args = || {
        crate::boundary::trace_args([(
            "init_args",
            serde_json::json!(if pInitArgs.is_null() { "NULL" } else { "given" }),
        )])
    };
    crate::boundary::guard_initialize(trace_args, || {
        // SAFETY: the spec defines pInitArgs as NULL or a CK_C_INITIALIZE_ARGS.
        let args = unsafe { ptr::read_opt(pInitArgs as *const CK_C_INITIALIZE_ARGS) }?;
        state::initialize(args.as_ref())
    })
}

/// `C_Finalize` (§5.4.2): `pReserved` must be NULL.
#[no_mangle]
pub unsafe extern "C" fn C_Finalize(pReserved: CK_VOID_PTR) -> CK_RV {
    entry!(C_Finalize(), || {
        if !pReserved.is_null() {
            return Err(tokenemu_core::Error::ArgumentsBad("pReserved must be NULL"));
        }
        state::finalize()
    })
}

/// `C_GetInfo` (§5.4.3) as reached through the exported symbol and the 2.40
/// list: reports Cryptoki version 2.40.
#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(pInfo: CK_INFO_PTR) -> CK_RV {
    entry!(C_GetInfo(), |m| {
        ptr::non_null(pInfo)?;
        // SAFETY: pInfo is a caller-provided CK_INFO (checked non-NULL).
        unsafe { ptr::write(pInfo, m.info(fl::VERSION_240)) }
    })
}

/// `C_GetInfo` in the 3.0 function list: reports Cryptoki version 3.0.
pub unsafe extern "C" fn get_info_v3(pInfo: CK_INFO_PTR) -> CK_RV {
    entry!(C_GetInfo(), |m| {
        ptr::non_null(pInfo)?;
        // SAFETY: as in C_GetInfo.
        unsafe { ptr::write(pInfo, m.info(fl::VERSION_300)) }
    })
}

/// `C_GetFunctionList` (§5.4.4): the 2.40 list. Works before `C_Initialize`.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(ppFunctionList: CK_FUNCTION_LIST_PTR_PTR) -> CK_RV {
    entry!(C_GetFunctionList(), || {
        let list = &FUNCTION_LIST_240 as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST;
        // SAFETY: ppFunctionList is NULL or a writable pointer slot.
        unsafe { ptr::write(ppFunctionList, list) }
    })
}

/// `C_GetInterfaceList` (3.0 §5.4.5): 3.0 then 2.40, two-call count protocol.
/// Works before `C_Initialize`.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(
    pInterfacesList: CK_INTERFACE_PTR,
    pulCount: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_GetInterfaceList(), || {
        // SAFETY: pulCount is NULL or valid; pInterfacesList NULL or *pulCount entries.
        unsafe { ptr::write_list(&INTERFACES.0, pInterfacesList, pulCount) }
    })
}

/// `C_GetInterface` (3.0 §5.4.6): name NULL or `"PKCS 11"`; version NULL
/// (default 3.0), 2.40 or 3.0; every requested flag must be offered. Anything
/// else → `CKR_ARGUMENTS_BAD`. Works before `C_Initialize`.
#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(
    pInterfaceName: CK_UTF8CHAR_PTR,
    pVersion: CK_VERSION_PTR,
    ppInterface: CK_INTERFACE_PTR_PTR,
    flags: CK_FLAGS,
) -> CK_RV {
    entry!(C_GetInterface(flags = flags), || {
        ptr::non_null(ppInterface)?;
        // SAFETY: pInterfaceName is NULL or a NUL-terminated string.
        let name_ok = pInterfaceName.is_null() || unsafe { name_is_ours(pInterfaceName) };
        // SAFETY: pVersion is NULL or a readable CK_VERSION.
        let version = unsafe { ptr::read_opt(pVersion) }?;
        let found = fl::find_interface(name_ok, version, flags)
            .ok_or(tokenemu_core::Error::ArgumentsBad("no such interface"))?;
        let found = found as *const CK_INTERFACE as *mut CK_INTERFACE;
        // SAFETY: ppInterface checked non-NULL; a writable pointer slot.
        unsafe { ptr::write(ppInterface, found) }
    })
}

/// Compares a C string with [`INTERFACE_NAME`], reading no further than the
/// first mismatch (so an unterminated string is never over-read by more than
/// the name's length).
///
/// # Safety
/// `p` points to a NUL-terminated string.
unsafe fn name_is_ours(p: *const CK_UTF8CHAR) -> bool {
    for (i, want) in INTERFACE_NAME.iter().enumerate() {
        // SAFETY: bytes up to and including the NUL (or the first mismatch,
        // which comes no later than the NUL) are readable.
        if unsafe { *p.add(i) } != *want {
            return false;
        }
    }
    true
}

/// `C_GetFunctionStatus` (§5.16): legacy; checks the session, then
/// `CKR_FUNCTION_NOT_PARALLEL`.
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionStatus(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry!(C_GetFunctionStatus(session = hSession), |m| {
        m.check_session(hSession)?;
        Err(Error::FunctionNotParallel)
    })
}

/// `C_CancelFunction` (§5.16): legacy; checks the session, then
/// `CKR_FUNCTION_NOT_PARALLEL`.
#[no_mangle]
pub unsafe extern "C" fn C_CancelFunction(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry!(C_CancelFunction(session = hSession), |m| {
        m.check_session(hSession)?;
        Err(Error::FunctionNotParallel)
    })
}
