//! §5.8–§5.13: encryption, decryption, message digesting, signing and MACing,
//! verifying, and the dual-function operations (v3.0 §5.8, §5.10, §5.12,
//! §5.13, §5.15, §5.17).
//!
//! All of them map onto five core calls (`op_init`, `op_single`, `op_update`,
//! `op_final`, `verify`/`verify_final`) parameterised by [`OpKind`]; the
//! helpers below do the pointer work once.
//!
//! Dual functions (§5.13) are composed from two core `op_update` calls, the
//! encrypting/decrypting half first:
//! - `C_DigestEncryptUpdate` / `C_SignEncryptUpdate`: encrypt the part with
//!   the caller's output spec; if that was only a length query or reported
//!   `CKR_BUFFER_TOO_SMALL`, stop there (so a retried call does not feed the
//!   digest/signature twice); otherwise feed the same plaintext to the
//!   digest/sign operation and return the ciphertext.
//! - `C_DecryptDigestUpdate` / `C_DecryptVerifyUpdate`: decrypt, then feed the
//!   recovered plaintext to the digest/verify operation.
//!
//! If the second half fails, the first half has already advanced; the spec
//! leaves the state after such an error to the token, and the error is
//! returned.

use tokenemu_core::api::{OpKind, OutSpec, Output};
use tokenemu_core::ck::*;
use tokenemu_core::module::Module;

use crate::boundary::{entry, Outcome};
use crate::convert;
use crate::ptr;

type CoreResult<T> = Result<T, tokenemu_core::Error>;

/// `C_*Init`: reads the mechanism, then `op_init`.
///
/// # Safety
/// `p_mech` is NULL or a valid `CK_MECHANISM`.
unsafe fn init(
    m: &Module,
    kind: OpKind,
    s: CK_SESSION_HANDLE,
    p_mech: *const CK_MECHANISM,
    key: Option<CK_OBJECT_HANDLE>,
) -> Outcome {
    // SAFETY: forwarded contract.
    let mech = unsafe { convert::mechanism(p_mech) }?;
    m.op_init(s, kind, mech, key)
}

/// A call refused here for its pointers or lengths, before the core sees it,
/// ends the session's active operation like any other failed call (only a
/// size query or `CKR_BUFFER_TOO_SMALL` keeps it, v3.0 §5.2), so the next
/// call answers `CKR_OPERATION_NOT_INITIALIZED` as it would on a token.
fn ending<T>(m: &Module, kind: OpKind, s: CK_SESSION_HANDLE, r: CoreResult<T>) -> CoreResult<T> {
    r.inspect_err(|_| m.op_abort(s, kind))
}

/// The input buffer of a call with output, and its output length pointer
/// (which must not be NULL), checked before the operation runs.
///
/// # Safety
/// `(p_in, in_len)` is a valid buffer or NULL; `pul_out` is NULL or valid.
unsafe fn checked_in_out<'a>(
    p_in: *const CK_BYTE,
    in_len: CK_ULONG,
    pul_out: *const CK_ULONG,
) -> CoreResult<&'a [u8]> {
    // SAFETY: forwarded contract.
    let input = unsafe { ptr::bytes(p_in, in_len) }?;
    // SAFETY: forwarded contract.
    unsafe { ptr::read(pul_out) }?;
    Ok(input)
}

/// Single-part calls with output (`C_Encrypt`, `C_Sign`, `C_VerifyRecover` …).
///
/// # Safety
/// `(p_in, in_len)` is a valid buffer; `(p_out, pul_out)` follow the
/// two-call output convention.
unsafe fn single(
    m: &Module,
    kind: OpKind,
    s: CK_SESSION_HANDLE,
    (p_in, in_len): (*const CK_BYTE, CK_ULONG),
    p_out: *mut CK_BYTE,
    pul_out: *mut CK_ULONG,
) -> Outcome {
    // SAFETY: forwarded contract.
    let input = ending(m, kind, s, unsafe { checked_in_out(p_in, in_len, pul_out) })?;
    // SAFETY: forwarded contract.
    unsafe { ptr::with_output(p_out, pul_out, |spec| m.op_single(s, kind, input, spec)) }
}

/// `C_EncryptUpdate` / `C_DecryptUpdate`: multi-part with output.
///
/// # Safety
/// As for [`single`].
unsafe fn update_out(
    m: &Module,
    kind: OpKind,
    s: CK_SESSION_HANDLE,
    (p_in, in_len): (*const CK_BYTE, CK_ULONG),
    p_out: *mut CK_BYTE,
    pul_out: *mut CK_ULONG,
) -> Outcome {
    // SAFETY: forwarded contract.
    let input = ending(m, kind, s, unsafe { checked_in_out(p_in, in_len, pul_out) })?;
    // SAFETY: forwarded contract.
    unsafe { ptr::with_output(p_out, pul_out, |spec| m.op_update(s, kind, input, spec)) }
}

/// `C_DigestUpdate` / `C_SignUpdate` / `C_VerifyUpdate`: input only; the
/// core's (empty) output is ignored.
///
/// # Safety
/// `(p_in, in_len)` is a valid buffer.
unsafe fn update_in(
    m: &Module,
    kind: OpKind,
    s: CK_SESSION_HANDLE,
    p_in: *const CK_BYTE,
    in_len: CK_ULONG,
) -> Outcome {
    // SAFETY: forwarded contract.
    let input = ending(m, kind, s, unsafe { ptr::bytes(p_in, in_len) })?;
    m.op_update(s, kind, input, OutSpec::Capacity(0))?;
    Ok(())
}

/// `C_*Final` with output.
///
/// # Safety
/// `(p_out, pul_out)` follow the two-call output convention.
unsafe fn final_out(
    m: &Module,
    kind: OpKind,
    s: CK_SESSION_HANDLE,
    p_out: *mut CK_BYTE,
    pul_out: *mut CK_ULONG,
) -> Outcome {
    // SAFETY: forwarded contract.
    ending(m, kind, s, unsafe { ptr::read(pul_out) }.map(|_| ()))?;
    // SAFETY: forwarded contract.
    unsafe { ptr::with_output(p_out, pul_out, |spec| m.op_final(s, kind, spec)) }
}

/// Encrypts a part, then (only if ciphertext was actually produced) feeds the
/// plaintext to `second` (Digest or Sign). See the module docs.
///
/// # Safety
/// As for [`single`].
unsafe fn encrypt_then(
    m: &Module,
    second: OpKind,
    s: CK_SESSION_HANDLE,
    (p_in, in_len): (*const CK_BYTE, CK_ULONG),
    p_out: *mut CK_BYTE,
    pul_out: *mut CK_ULONG,
) -> Outcome {
    // SAFETY: forwarded contract.
    let part = unsafe { ptr::bytes(p_in, in_len) }?;
    let run = |spec: OutSpec| -> CoreResult<Output> {
        let out = m.op_update(s, OpKind::Encrypt, part, spec)?;
        if matches!(out, Output::Data(_)) {
            m.op_update(s, second, part, OutSpec::Capacity(0))?;
        }
        Ok(out)
    };
    // SAFETY: forwarded contract.
    unsafe { ptr::with_output(p_out, pul_out, run) }
}

/// Decrypts a part, then feeds the recovered plaintext to `second` (Digest or
/// Verify). See the module docs.
///
/// # Safety
/// As for [`single`].
unsafe fn decrypt_then(
    m: &Module,
    second: OpKind,
    s: CK_SESSION_HANDLE,
    (p_in, in_len): (*const CK_BYTE, CK_ULONG),
    p_out: *mut CK_BYTE,
    pul_out: *mut CK_ULONG,
) -> Outcome {
    // SAFETY: forwarded contract.
    let part = unsafe { ptr::bytes(p_in, in_len) }?;
    let run = |spec: OutSpec| -> CoreResult<Output> {
        let out = m.op_update(s, OpKind::Decrypt, part, spec)?;
        if let Output::Data(plain) = &out {
            m.op_update(s, second, plain, OutSpec::Capacity(0))?;
        }
        Ok(out)
    };
    // SAFETY: forwarded contract.
    unsafe { ptr::with_output(p_out, pul_out, run) }
}

// ---- §5.8 encryption ---------------------------------------------------------

/// `C_EncryptInit` (§5.8.1).
#[no_mangle]
pub unsafe extern "C" fn C_EncryptInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
    entry!(C_EncryptInit(session = hSession, key = hKey), |m| unsafe {
        init(&m, OpKind::Encrypt, hSession, pMechanism, Some(hKey))
    })
}

/// `C_Encrypt` (§5.8.2).
#[no_mangle]
pub unsafe extern "C" fn C_Encrypt(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pEncryptedData: CK_BYTE_PTR,
    pulEncryptedDataLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_Encrypt(session = hSession, data_len = ulDataLen), |m| {
        // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
        unsafe {
            single(
                &m,
                OpKind::Encrypt,
                hSession,
                (pData, ulDataLen),
                pEncryptedData,
                pulEncryptedDataLen,
            )
        }
    })
}

/// `C_EncryptUpdate` (§5.8.3).
#[no_mangle]
pub unsafe extern "C" fn C_EncryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
    pEncryptedPart: CK_BYTE_PTR,
    pulEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_EncryptUpdate(session = hSession, data_len = ulPartLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                update_out(
                    &m,
                    OpKind::Encrypt,
                    hSession,
                    (pPart, ulPartLen),
                    pEncryptedPart,
                    pulEncryptedPartLen,
                )
            }
        }
    )
}

/// `C_EncryptFinal` (§5.8.4).
#[no_mangle]
pub unsafe extern "C" fn C_EncryptFinal(
    hSession: CK_SESSION_HANDLE,
    pLastEncryptedPart: CK_BYTE_PTR,
    pulLastEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
    entry!(C_EncryptFinal(session = hSession), |m| unsafe {
        final_out(
            &m,
            OpKind::Encrypt,
            hSession,
            pLastEncryptedPart,
            pulLastEncryptedPartLen,
        )
    })
}

// ---- §5.9 decryption ---------------------------------------------------------

/// `C_DecryptInit` (§5.9.1).
#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
    entry!(C_DecryptInit(session = hSession, key = hKey), |m| unsafe {
        init(&m, OpKind::Decrypt, hSession, pMechanism, Some(hKey))
    })
}

/// `C_Decrypt` (§5.9.2).
#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(
    hSession: CK_SESSION_HANDLE,
    pEncryptedData: CK_BYTE_PTR,
    ulEncryptedDataLen: CK_ULONG,
    pData: CK_BYTE_PTR,
    pulDataLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_Decrypt(session = hSession, data_len = ulEncryptedDataLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                single(
                    &m,
                    OpKind::Decrypt,
                    hSession,
                    (pEncryptedData, ulEncryptedDataLen),
                    pData,
                    pulDataLen,
                )
            }
        }
    )
}

/// `C_DecryptUpdate` (§5.9.3).
#[no_mangle]
pub unsafe extern "C" fn C_DecryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pEncryptedPart: CK_BYTE_PTR,
    ulEncryptedPartLen: CK_ULONG,
    pPart: CK_BYTE_PTR,
    pulPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_DecryptUpdate(session = hSession, data_len = ulEncryptedPartLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                update_out(
                    &m,
                    OpKind::Decrypt,
                    hSession,
                    (pEncryptedPart, ulEncryptedPartLen),
                    pPart,
                    pulPartLen,
                )
            }
        }
    )
}

/// `C_DecryptFinal` (§5.9.4).
#[no_mangle]
pub unsafe extern "C" fn C_DecryptFinal(
    hSession: CK_SESSION_HANDLE,
    pLastPart: CK_BYTE_PTR,
    pulLastPartLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
    entry!(C_DecryptFinal(session = hSession), |m| unsafe {
        final_out(&m, OpKind::Decrypt, hSession, pLastPart, pulLastPartLen)
    })
}

// ---- §5.10 message digesting -------------------------------------------------

/// `C_DigestInit` (§5.10.1).
#[no_mangle]
pub unsafe extern "C" fn C_DigestInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
) -> CK_RV {
    // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
    entry!(C_DigestInit(session = hSession), |m| unsafe {
        init(&m, OpKind::Digest, hSession, pMechanism, None)
    })
}

/// `C_Digest` (§5.10.2).
#[no_mangle]
pub unsafe extern "C" fn C_Digest(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pDigest: CK_BYTE_PTR,
    pulDigestLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_Digest(session = hSession, data_len = ulDataLen), |m| {
        // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
        unsafe {
            single(
                &m,
                OpKind::Digest,
                hSession,
                (pData, ulDataLen),
                pDigest,
                pulDigestLen,
            )
        }
    })
}

/// `C_DigestUpdate` (§5.10.3).
#[no_mangle]
pub unsafe extern "C" fn C_DigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_DigestUpdate(session = hSession, data_len = ulPartLen),
        |m| {
            // SAFETY: the buffer holds ulPartLen bytes (caller's contract).
            unsafe { update_in(&m, OpKind::Digest, hSession, pPart, ulPartLen) }
        }
    )
}

/// `C_DigestKey` (§5.10.4).
#[no_mangle]
pub unsafe extern "C" fn C_DigestKey(hSession: CK_SESSION_HANDLE, hKey: CK_OBJECT_HANDLE) -> CK_RV {
    entry!(C_DigestKey(session = hSession, key = hKey), |m| m
        .digest_key(hSession, hKey))
}

/// `C_DigestFinal` (§5.10.5).
#[no_mangle]
pub unsafe extern "C" fn C_DigestFinal(
    hSession: CK_SESSION_HANDLE,
    pDigest: CK_BYTE_PTR,
    pulDigestLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
    entry!(C_DigestFinal(session = hSession), |m| unsafe {
        final_out(&m, OpKind::Digest, hSession, pDigest, pulDigestLen)
    })
}

// ---- §5.11 signing and MACing ------------------------------------------------

/// `C_SignInit` (§5.11.1).
#[no_mangle]
pub unsafe extern "C" fn C_SignInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
    entry!(C_SignInit(session = hSession, key = hKey), |m| unsafe {
        init(&m, OpKind::Sign, hSession, pMechanism, Some(hKey))
    })
}

/// `C_Sign` (§5.11.2).
#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pSignature: CK_BYTE_PTR,
    pulSignatureLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(C_Sign(session = hSession, data_len = ulDataLen), |m| {
        // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
        unsafe {
            single(
                &m,
                OpKind::Sign,
                hSession,
                (pData, ulDataLen),
                pSignature,
                pulSignatureLen,
            )
        }
    })
}

/// `C_SignUpdate` (§5.11.3).
#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_SignUpdate(session = hSession, data_len = ulPartLen),
        |m| {
            // SAFETY: the buffer holds ulPartLen bytes (caller's contract).
            unsafe { update_in(&m, OpKind::Sign, hSession, pPart, ulPartLen) }
        }
    )
}

/// `C_SignFinal` (§5.11.4).
#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: CK_BYTE_PTR,
    pulSignatureLen: CK_ULONG_PTR,
) -> CK_RV {
    // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
    entry!(C_SignFinal(session = hSession), |m| unsafe {
        final_out(&m, OpKind::Sign, hSession, pSignature, pulSignatureLen)
    })
}

/// `C_SignRecoverInit` (§5.11.5).
#[no_mangle]
pub unsafe extern "C" fn C_SignRecoverInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry!(C_SignRecoverInit(session = hSession, key = hKey), |m| {
        // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
        unsafe { init(&m, OpKind::SignRecover, hSession, pMechanism, Some(hKey)) }
    })
}

/// `C_SignRecover` (§5.11.6).
#[no_mangle]
pub unsafe extern "C" fn C_SignRecover(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pSignature: CK_BYTE_PTR,
    pulSignatureLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_SignRecover(session = hSession, data_len = ulDataLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                single(
                    &m,
                    OpKind::SignRecover,
                    hSession,
                    (pData, ulDataLen),
                    pSignature,
                    pulSignatureLen,
                )
            }
        }
    )
}

// ---- §5.12 verifying signatures and MACs -------------------------------------

/// `C_VerifyInit` (§5.12.1).
#[no_mangle]
pub unsafe extern "C" fn C_VerifyInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
    entry!(C_VerifyInit(session = hSession, key = hKey), |m| unsafe {
        init(&m, OpKind::Verify, hSession, pMechanism, Some(hKey))
    })
}

/// `C_Verify` (§5.12.2): ends the operation whatever the outcome.
#[no_mangle]
pub unsafe extern "C" fn C_Verify(
    hSession: CK_SESSION_HANDLE,
    pData: CK_BYTE_PTR,
    ulDataLen: CK_ULONG,
    pSignature: CK_BYTE_PTR,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_Verify(
            session = hSession,
            data_len = ulDataLen,
            signature_len = ulSignatureLen
        ),
        |m| {
            // SAFETY: both buffers hold their lengths in bytes (caller's contract).
            let both = unsafe {
                ptr::bytes(pData, ulDataLen)
                    .and_then(|data| Ok((data, ptr::bytes(pSignature, ulSignatureLen)?)))
            };
            let (data, sig) = ending(&m, OpKind::Verify, hSession, both)?;
            m.verify(hSession, data, sig)
        }
    )
}

/// `C_VerifyUpdate` (§5.12.3).
#[no_mangle]
pub unsafe extern "C" fn C_VerifyUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_VerifyUpdate(session = hSession, data_len = ulPartLen),
        |m| {
            // SAFETY: the buffer holds ulPartLen bytes (caller's contract).
            unsafe { update_in(&m, OpKind::Verify, hSession, pPart, ulPartLen) }
        }
    )
}

/// `C_VerifyFinal` (§5.12.4).
#[no_mangle]
pub unsafe extern "C" fn C_VerifyFinal(
    hSession: CK_SESSION_HANDLE,
    pSignature: CK_BYTE_PTR,
    ulSignatureLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_VerifyFinal(session = hSession, signature_len = ulSignatureLen),
        |m| {
            // SAFETY: the buffer holds ulSignatureLen bytes (caller's contract).
            let sig = unsafe { ptr::bytes(pSignature, ulSignatureLen) }?;
            m.verify_final(hSession, sig)
        }
    )
}

/// `C_VerifyRecoverInit` (§5.12.5).
#[no_mangle]
pub unsafe extern "C" fn C_VerifyRecoverInit(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hKey: CK_OBJECT_HANDLE,
) -> CK_RV {
    entry!(C_VerifyRecoverInit(session = hSession, key = hKey), |m| {
        // SAFETY: pMechanism is NULL or a valid CK_MECHANISM (caller's contract).
        unsafe { init(&m, OpKind::VerifyRecover, hSession, pMechanism, Some(hKey)) }
    })
}

/// `C_VerifyRecover` (§5.12.6).
#[no_mangle]
pub unsafe extern "C" fn C_VerifyRecover(
    hSession: CK_SESSION_HANDLE,
    pSignature: CK_BYTE_PTR,
    ulSignatureLen: CK_ULONG,
    pData: CK_BYTE_PTR,
    pulDataLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_VerifyRecover(session = hSession, signature_len = ulSignatureLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                single(
                    &m,
                    OpKind::VerifyRecover,
                    hSession,
                    (pSignature, ulSignatureLen),
                    pData,
                    pulDataLen,
                )
            }
        }
    )
}

// ---- §5.13 dual-function cryptographic functions -----------------------------

/// `C_DigestEncryptUpdate` (§5.13.1): encrypt, then digest the plaintext.
#[no_mangle]
pub unsafe extern "C" fn C_DigestEncryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
    pEncryptedPart: CK_BYTE_PTR,
    pulEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_DigestEncryptUpdate(session = hSession, data_len = ulPartLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                encrypt_then(
                    &m,
                    OpKind::Digest,
                    hSession,
                    (pPart, ulPartLen),
                    pEncryptedPart,
                    pulEncryptedPartLen,
                )
            }
        }
    )
}

/// `C_DecryptDigestUpdate` (§5.13.2): decrypt, then digest the plaintext.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptDigestUpdate(
    hSession: CK_SESSION_HANDLE,
    pEncryptedPart: CK_BYTE_PTR,
    ulEncryptedPartLen: CK_ULONG,
    pPart: CK_BYTE_PTR,
    pulPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_DecryptDigestUpdate(session = hSession, data_len = ulEncryptedPartLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                decrypt_then(
                    &m,
                    OpKind::Digest,
                    hSession,
                    (pEncryptedPart, ulEncryptedPartLen),
                    pPart,
                    pulPartLen,
                )
            }
        }
    )
}

/// `C_SignEncryptUpdate` (§5.13.3): encrypt, then sign the plaintext.
#[no_mangle]
pub unsafe extern "C" fn C_SignEncryptUpdate(
    hSession: CK_SESSION_HANDLE,
    pPart: CK_BYTE_PTR,
    ulPartLen: CK_ULONG,
    pEncryptedPart: CK_BYTE_PTR,
    pulEncryptedPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_SignEncryptUpdate(session = hSession, data_len = ulPartLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                encrypt_then(
                    &m,
                    OpKind::Sign,
                    hSession,
                    (pPart, ulPartLen),
                    pEncryptedPart,
                    pulEncryptedPartLen,
                )
            }
        }
    )
}

/// `C_DecryptVerifyUpdate` (§5.13.4): decrypt, then verify the plaintext.
#[no_mangle]
pub unsafe extern "C" fn C_DecryptVerifyUpdate(
    hSession: CK_SESSION_HANDLE,
    pEncryptedPart: CK_BYTE_PTR,
    ulEncryptedPartLen: CK_ULONG,
    pPart: CK_BYTE_PTR,
    pulPartLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_DecryptVerifyUpdate(session = hSession, data_len = ulEncryptedPartLen),
        |m| {
            // SAFETY: buffers follow the PKCS#11 conventions (caller's contract).
            unsafe {
                decrypt_then(
                    &m,
                    OpKind::Verify,
                    hSession,
                    (pEncryptedPart, ulEncryptedPartLen),
                    pPart,
                    pulPartLen,
                )
            }
        }
    )
}
