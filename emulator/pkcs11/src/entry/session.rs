//! §5.6 Session management (and the 3.0 additions `C_LoginUser`,
//! `C_SessionCancel`, which this token does not support).

use tokenemu_core::ck::*;
use tokenemu_core::Error;

use crate::boundary::entry;
use crate::ptr;

/// `C_OpenSession` (v3.0 and v2.40 §5.6.1). `pApplication` and `Notify` are accepted and
/// ignored: this token never calls back.
#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slotID: CK_SLOT_ID,
    flags: CK_FLAGS,
    _pApplication: CK_VOID_PTR,
    _Notify: CK_NOTIFY,
    phSession: CK_SESSION_HANDLE_PTR,
) -> CK_RV {
    entry!(C_OpenSession(slot = slotID, flags = flags), |m| {
        ptr::non_null(phSession)?;
        let h = m.open_session(slotID, flags)?;
        // SAFETY: phSession is a caller-provided CK_SESSION_HANDLE (non-NULL).
        unsafe { ptr::write(phSession, h) }
    })
}

/// `C_CloseSession` (v3.0 and v2.40 §5.6.2).
#[no_mangle]
pub unsafe extern "C" fn C_CloseSession(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry!(C_CloseSession(session = hSession), |m| m
        .close_session(hSession))
}

/// `C_CloseAllSessions` (v3.0 and v2.40 §5.6.3).
#[no_mangle]
pub unsafe extern "C" fn C_CloseAllSessions(slotID: CK_SLOT_ID) -> CK_RV {
    entry!(C_CloseAllSessions(slot = slotID), |m| m
        .close_all_sessions(slotID))
}

/// `C_GetSessionInfo` (v3.0 and v2.40 §5.6.4).
#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(
    hSession: CK_SESSION_HANDLE,
    pInfo: CK_SESSION_INFO_PTR,
) -> CK_RV {
    entry!(C_GetSessionInfo(session = hSession), |m| {
        ptr::non_null(pInfo)?;
        let info = m.session_info(hSession)?;
        // SAFETY: pInfo is a caller-provided CK_SESSION_INFO.
        unsafe { ptr::write(pInfo, info) }
    })
}

/// `C_GetOperationState` (v3.0 §5.6.6, v2.40 §5.6.5): not supported (after the session check).
#[no_mangle]
pub unsafe extern "C" fn C_GetOperationState(
    hSession: CK_SESSION_HANDLE,
    _pOperationState: CK_BYTE_PTR,
    _pulOperationStateLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_GetOperationState(session = hSession), |m| {
        m.check_session(hSession)?;
        Err(Error::FunctionNotSupported("C_GetOperationState"))
    })
}

/// `C_SetOperationState` (v3.0 §5.6.7, v2.40 §5.6.6): not supported (after the session check).
#[no_mangle]
pub unsafe extern "C" fn C_SetOperationState(
    hSession: CK_SESSION_HANDLE,
    _pOperationState: CK_BYTE_PTR,
    ulOperationStateLen: CK_ULONG,
    _hEncryptionKey: CK_OBJECT_HANDLE,
    _hAuthenticationKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry!(
        C_SetOperationState(session = hSession, state_len = ulOperationStateLen),
        |m| {
            m.check_session(hSession)?;
            Err(Error::FunctionNotSupported("C_SetOperationState"))
        }
    )
}

/// `C_Login` (v3.0 §5.6.8, v2.40 §5.6.7). A NULL PIN with length 0 is passed on as an empty PIN.
#[no_mangle]
pub unsafe extern "C" fn C_Login(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_Login(
            session = hSession,
            user = userType,
            pin = crate::boundary::secret_len(ulPinLen)
        ),
        |m| {
            // SAFETY: pPin holds ulPinLen bytes (NULL only with 0).
            let pin = unsafe { ptr::bytes(pPin, ulPinLen) }?;
            m.login(hSession, userType, pin)
        }
    )
}

/// `C_Logout` (v3.0 §5.6.10, v2.40 §5.6.8).
#[no_mangle]
pub unsafe extern "C" fn C_Logout(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry!(C_Logout(session = hSession), |m| m.logout(hSession))
}

/// `C_LoginUser` (v3.0 §5.6.9): not supported.
#[no_mangle]
pub unsafe extern "C" fn C_LoginUser(
    hSession: CK_SESSION_HANDLE,
    userType: CK_USER_TYPE,
    _pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
    _pUsername: CK_UTF8CHAR_PTR,
    ulUsernameLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_LoginUser(
            session = hSession,
            user = userType,
            pin = crate::boundary::secret_len(ulPinLen),
            username_len = ulUsernameLen
        ),
        |_m| Err(Error::FunctionNotSupported("C_LoginUser"))
    )
}

/// `C_SessionCancel` (v3.0 §5.6.5): not supported.
#[no_mangle]
pub unsafe extern "C" fn C_SessionCancel(hSession: CK_SESSION_HANDLE, flags: CK_FLAGS) -> CK_RV {
    entry!(
        C_SessionCancel(session = hSession, flags = flags),
        |_m| Err(Error::FunctionNotSupported("C_SessionCancel"))
    )
}
