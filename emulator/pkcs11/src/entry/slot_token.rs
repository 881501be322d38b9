//! §5.5 Slot and token management.

use tokenemu_core::ck::*;
use tokenemu_core::Error;

use crate::boundary::entry;
use crate::ptr;
use crate::state;

/// `C_GetSlotList` (§5.5.1), two-call count protocol.
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(
    tokenPresent: CK_BBOOL,
    pSlotList: CK_SLOT_ID_PTR,
    pulCount: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_GetSlotList(token_present = tokenPresent != 0), |m| {
        ptr::non_null(pulCount)?;
        let slots = m.slot_list(tokenPresent != 0);
        // SAFETY: pulCount valid; pSlotList NULL or *pulCount entries.
        unsafe { ptr::write_list(&slots, pSlotList, pulCount) }
    })
}

/// `C_GetSlotInfo` (§5.5.2).
#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slotID: CK_SLOT_ID, pInfo: CK_SLOT_INFO_PTR) -> CK_RV {
    entry!(C_GetSlotInfo(slot = slotID), |m| {
        ptr::non_null(pInfo)?;
        let info = m.slot_info(slotID)?;
        // SAFETY: pInfo is a caller-provided CK_SLOT_INFO.
        unsafe { ptr::write(pInfo, info) }
    })
}

/// `C_GetTokenInfo` (§5.5.3).
#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slotID: CK_SLOT_ID, pInfo: CK_TOKEN_INFO_PTR) -> CK_RV {
    entry!(C_GetTokenInfo(slot = slotID), |m| {
        ptr::non_null(pInfo)?;
        let info = m.token_info(slotID)?;
        // SAFETY: pInfo is a caller-provided CK_TOKEN_INFO.
        unsafe { ptr::write(pInfo, info) }
    })
}

/// `C_WaitForSlotEvent` (§5.5.4): `CKF_DONT_BLOCK` → `CKR_NO_EVENT` if
/// nothing happened; a blocking wait ends with `CKR_CRYPTOKI_NOT_INITIALIZED`
/// when another thread calls `C_Finalize`. `pReserved` must be NULL.
#[no_mangle]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    pSlot: CK_SLOT_ID_PTR,
    pReserved: CK_VOID_PTR,
) -> CK_RV {
    entry!(C_WaitForSlotEvent(flags = flags), || {
        let (m, cancel) = state::module_and_cancel()?;
        if !pReserved.is_null() {
            return Err(Error::ArgumentsBad("pReserved must be NULL"));
        }
        ptr::non_null(pSlot)?;
        let slot = m.wait_for_slot_event(flags & CKF_DONT_BLOCK == 0, &cancel)?;
        // SAFETY: pSlot is a caller-provided CK_SLOT_ID.
        unsafe { ptr::write(pSlot, slot) }
    })
}

/// `C_GetMechanismList` (§5.5.5), two-call count protocol.
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    slotID: CK_SLOT_ID,
    pMechanismList: CK_MECHANISM_TYPE_PTR,
    pulCount: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_GetMechanismList(slot = slotID), |m| {
        ptr::non_null(pulCount)?;
        let mechs = m.mechanism_list(slotID)?;
        // SAFETY: pulCount valid; pMechanismList NULL or *pulCount entries.
        unsafe { ptr::write_list(&mechs, pMechanismList, pulCount) }
    })
}

/// `C_GetMechanismInfo` (§5.5.6).
#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slotID: CK_SLOT_ID,
    type_: CK_MECHANISM_TYPE,
    pInfo: CK_MECHANISM_INFO_PTR,
) -> CK_RV {
    entry!(
        C_GetMechanismInfo(
            slot = slotID,
            mechanism = tokenemu_core::names::mechanism_name(type_)
        ),
        |m| {
            ptr::non_null(pInfo)?;
            let info = m.mechanism_info(slotID, type_)?;
            // SAFETY: pInfo is a caller-provided CK_MECHANISM_INFO.
            unsafe { ptr::write(pInfo, info) }
        }
    )
}

/// `C_InitToken` (§5.5.7): `pLabel` is 32 blank-padded bytes, not NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn C_InitToken(
    slotID: CK_SLOT_ID,
    pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
    pLabel: CK_UTF8CHAR_PTR,
) -> CK_RV {
    entry!(
        C_InitToken(slot = slotID, pin = crate::boundary::secret_len(ulPinLen)),
        |m| {
            // SAFETY: pPin holds ulPinLen bytes (NULL only with 0).
            let pin = unsafe { ptr::bytes(pPin, ulPinLen) }?;
            // SAFETY: pLabel is NULL or 32 readable bytes.
            let label = unsafe { ptr::read(pLabel as *const [u8; 32]) }?;
            m.init_token(slotID, pin, &label)
        }
    )
}

/// `C_InitPIN` (§5.5.8).
#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(
    hSession: CK_SESSION_HANDLE,
    pPin: CK_UTF8CHAR_PTR,
    ulPinLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_InitPIN(
            session = hSession,
            pin = crate::boundary::secret_len(ulPinLen)
        ),
        |m| {
            // SAFETY: pPin holds ulPinLen bytes (NULL only with 0).
            let pin = unsafe { ptr::bytes(pPin, ulPinLen) }?;
            m.init_pin(hSession, pin)
        }
    )
}

/// `C_SetPIN` (§5.5.9).
#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    hSession: CK_SESSION_HANDLE,
    pOldPin: CK_UTF8CHAR_PTR,
    ulOldLen: CK_ULONG,
    pNewPin: CK_UTF8CHAR_PTR,
    ulNewLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_SetPIN(
            session = hSession,
            old_pin = crate::boundary::secret_len(ulOldLen),
            new_pin = crate::boundary::secret_len(ulNewLen)
        ),
        |m| {
            // SAFETY: each PIN pointer holds its length in bytes (NULL only with 0).
            let (old, new) = unsafe {
                (
                    ptr::bytes(pOldPin, ulOldLen)?,
                    ptr::bytes(pNewPin, ulNewLen)?,
                )
            };
            m.set_pin(hSession, old, new)
        }
    )
}
