//! §5.7 Object management.

use tokenemu_core::ck::*;

use crate::boundary::entry;
use crate::convert;
use crate::ptr::{self, MAX_FIND_BATCH};

/// `C_CreateObject` (§5.7.1).
#[no_mangle]
pub unsafe extern "C" fn C_CreateObject(
    hSession: CK_SESSION_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
    phObject: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry!(C_CreateObject(session = hSession, count = ulCount), |m| {
        ptr::non_null(phObject)?;
        // SAFETY: pTemplate holds ulCount attributes (NULL only with 0).
        let template = unsafe { convert::template(pTemplate, ulCount) }?;
        let h = m.create_object(hSession, template)?;
        // SAFETY: phObject is a caller-provided CK_OBJECT_HANDLE (non-NULL).
        unsafe { ptr::write(phObject, h) }
    })
}

/// `C_CopyObject` (§5.7.2).
#[no_mangle]
pub unsafe extern "C" fn C_CopyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
    phNewObject: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry!(
        C_CopyObject(session = hSession, object = hObject, count = ulCount),
        |m| {
            ptr::non_null(phNewObject)?;
            // SAFETY: pTemplate holds ulCount attributes (NULL only with 0).
            let template = unsafe { convert::template(pTemplate, ulCount) }?;
            let h = m.copy_object(hSession, hObject, template)?;
            // SAFETY: phNewObject is a caller-provided CK_OBJECT_HANDLE (non-NULL).
            unsafe { ptr::write(phNewObject, h) }
        }
    )
}

/// `C_DestroyObject` (§5.7.3).
#[no_mangle]
pub unsafe extern "C" fn C_DestroyObject(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry!(C_DestroyObject(session = hSession, object = hObject), |m| m
        .destroy_object(hSession, hObject))
}

/// `C_GetObjectSize` (§5.7.4).
#[no_mangle]
pub unsafe extern "C" fn C_GetObjectSize(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pulSize: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_GetObjectSize(session = hSession, object = hObject), |m| {
        ptr::non_null(pulSize)?;
        let size = m.object_size(hSession, hObject)?;
        // SAFETY: pulSize is a caller-provided CK_ULONG (non-NULL).
        unsafe { ptr::write(pulSize, size) }
    })
}

/// `C_GetAttributeValue` (§5.7.5): every attribute is answered; the combined
/// return value follows the priority documented in
/// [`convert::write_attributes`].
#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry!(
        C_GetAttributeValue(session = hSession, object = hObject, count = ulCount),
        |m| {
            // SAFETY: pTemplate holds ulCount attributes (NULL only with 0).
            let headers = unsafe { convert::attribute_headers(pTemplate, ulCount) }?;
            let types: Vec<CK_ATTRIBUTE_TYPE> = headers.iter().map(|a| a.type_).collect();
            let found = m.get_attributes(hSession, hObject, &types)?;
            // SAFETY: headers were read from pTemplate, which is writable, and each
            // non-NULL pValue holds ulValueLen writable bytes.
            unsafe { convert::write_attributes(found, &headers, pTemplate) }
        }
    )
}

/// `C_SetAttributeValue` (§5.7.6).
#[no_mangle]
pub unsafe extern "C" fn C_SetAttributeValue(
    hSession: CK_SESSION_HANDLE,
    hObject: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry!(
        C_SetAttributeValue(session = hSession, object = hObject, count = ulCount),
        |m| {
            // SAFETY: pTemplate holds ulCount attributes (NULL only with 0).
            let template = unsafe { convert::template(pTemplate, ulCount) }?;
            m.set_attributes(hSession, hObject, template)
        }
    )
}

/// `C_FindObjectsInit` (§5.7.7).
#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(
    hSession: CK_SESSION_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
) -> CK_RV {
    entry!(
        C_FindObjectsInit(session = hSession, count = ulCount),
        |m| {
            // SAFETY: pTemplate holds ulCount attributes (NULL only with 0).
            let template = unsafe { convert::template(pTemplate, ulCount) }?;
            m.find_init(hSession, template)
        }
    )
}

/// `C_FindObjects` (§5.7.8): at most `min(ulMaxObjectCount, 65536)` handles
/// per call.
#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    hSession: CK_SESSION_HANDLE,
    phObject: CK_OBJECT_HANDLE_PTR,
    ulMaxObjectCount: CK_ULONG,
    pulObjectCount: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_FindObjects(session = hSession, max = ulMaxObjectCount),
        |m| {
            ptr::non_null(pulObjectCount)?;
            let max = ptr::to_usize(ulMaxObjectCount)
                .unwrap_or(usize::MAX)
                .min(MAX_FIND_BATCH);
            if max > 0 {
                ptr::non_null(phObject)?;
            }
            let found = m.find_next(hSession, max)?;
            let found = &found[..found.len().min(max)];
            for (i, h) in found.iter().enumerate() {
                // SAFETY: phObject has room for ulMaxObjectCount ≥ max > i handles.
                unsafe { phObject.add(i).write_unaligned(*h) };
            }
            // SAFETY: pulObjectCount is a caller-provided CK_ULONG (non-NULL).
            unsafe { ptr::write(pulObjectCount, ptr::to_ulong(found.len())?) }
        }
    )
}

/// `C_FindObjectsFinal` (§5.7.9).
#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsFinal(hSession: CK_SESSION_HANDLE) -> CK_RV {
    entry!(C_FindObjectsFinal(session = hSession), |m| m
        .find_final(hSession))
}
