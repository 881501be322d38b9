//! §5.14 Key management and §5.15 random number generation (v3.0 §5.18, §5.19).

use crate::boundary::entry;
use crate::convert;
use crate::ptr;
use tokenemu_core::ck::*;

/// Bytes asked of the core per step of `C_GenerateRandom`, so a huge request
/// never makes us allocate more than this at once.
const RANDOM_CHUNK: usize = 64 * 1024;

/// `C_GenerateKey` (§5.14.1).
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulCount: CK_ULONG,
    phKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry!(C_GenerateKey(session = hSession, count = ulCount), |m| {
        ptr::non_null(phKey)?;
        // SAFETY: pMechanism / pTemplate follow the PKCS#11 conventions.
        let (mech, t) = unsafe {
            (
                convert::mechanism(pMechanism)?,
                convert::template(pTemplate, ulCount)?,
            )
        };
        let h = m.generate_key(hSession, mech, t)?;
        // SAFETY: phKey is a caller-provided handle slot (non-NULL).
        unsafe { ptr::write(phKey, h) }
    })
}

/// `C_GenerateKeyPair` (§5.14.2).
#[no_mangle]
pub unsafe extern "C" fn C_GenerateKeyPair(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    pPublicKeyTemplate: CK_ATTRIBUTE_PTR,
    ulPublicKeyAttributeCount: CK_ULONG,
    pPrivateKeyTemplate: CK_ATTRIBUTE_PTR,
    ulPrivateKeyAttributeCount: CK_ULONG,
    phPublicKey: CK_OBJECT_HANDLE_PTR,
    phPrivateKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry!(
        C_GenerateKeyPair(
            session = hSession,
            public_count = ulPublicKeyAttributeCount,
            private_count = ulPrivateKeyAttributeCount
        ),
        |m| {
            ptr::non_null(phPublicKey)?;
            ptr::non_null(phPrivateKey)?;
            // SAFETY: pMechanism and both templates follow the PKCS#11 conventions.
            let mech = unsafe { convert::mechanism(pMechanism) }?;
            // SAFETY: as above.
            let public =
                unsafe { convert::template(pPublicKeyTemplate, ulPublicKeyAttributeCount) }?;
            // SAFETY: as above.
            let private =
                unsafe { convert::template(pPrivateKeyTemplate, ulPrivateKeyAttributeCount) }?;
            let (hpub, hpriv) = m.generate_key_pair(hSession, mech, public, private)?;
            // SAFETY: both handle slots are caller-provided and non-NULL.
            unsafe { ptr::write(phPublicKey, hpub).and_then(|()| ptr::write(phPrivateKey, hpriv)) }
        }
    )
}

/// `C_WrapKey` (§5.14.3): the two-call protocol for the wrapped key (NULL
/// `pWrappedKey` → the exact length; too small → `CKR_BUFFER_TOO_SMALL`).
#[no_mangle]
pub unsafe extern "C" fn C_WrapKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hWrappingKey: CK_OBJECT_HANDLE,
    hKey: CK_OBJECT_HANDLE,
    pWrappedKey: CK_BYTE_PTR,
    pulWrappedKeyLen: CK_ULONG_PTR,
) -> CK_RV {
    entry!(
        C_WrapKey(session = hSession, wrapping_key = hWrappingKey, key = hKey),
        |m| {
            // An invalid session answers before any pointer is looked at.
            m.check_session(hSession)?;
            // SAFETY: pMechanism follows the PKCS#11 conventions.
            let mech = unsafe { convert::mechanism(pMechanism) }?;
            // SAFETY: pulWrappedKeyLen is NULL or valid; pWrappedKey is NULL or
            // holds *pulWrappedKeyLen bytes (caller's contract).
            unsafe {
                ptr::with_output(pWrappedKey, pulWrappedKeyLen, |spec| {
                    m.wrap_key(hSession, mech, hWrappingKey, hKey, spec)
                })
            }
        }
    )
}

/// `C_UnwrapKey` (§5.14.4).
#[no_mangle]
pub unsafe extern "C" fn C_UnwrapKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hUnwrappingKey: CK_OBJECT_HANDLE,
    pWrappedKey: CK_BYTE_PTR,
    ulWrappedKeyLen: CK_ULONG,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulAttributeCount: CK_ULONG,
    phKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry!(
        C_UnwrapKey(
            session = hSession,
            unwrapping_key = hUnwrappingKey,
            wrapped_len = ulWrappedKeyLen,
            count = ulAttributeCount
        ),
        |m| {
            // An invalid session answers before any pointer is looked at.
            m.check_session(hSession)?;
            ptr::non_null(phKey)?;
            // SAFETY: pMechanism / pTemplate follow the PKCS#11 conventions.
            let (mech, t) = unsafe {
                (
                    convert::mechanism(pMechanism)?,
                    convert::template(pTemplate, ulAttributeCount)?,
                )
            };
            // SAFETY: pWrappedKey holds ulWrappedKeyLen bytes (NULL only with 0).
            let wrapped = unsafe { ptr::bytes(pWrappedKey, ulWrappedKeyLen) }?;
            let h = m.unwrap_key(hSession, mech, hUnwrappingKey, wrapped, t)?;
            // SAFETY: phKey is a caller-provided handle slot (non-NULL).
            unsafe { ptr::write(phKey, h) }
        }
    )
}

/// `C_DeriveKey` (§5.14.5).
#[no_mangle]
pub unsafe extern "C" fn C_DeriveKey(
    hSession: CK_SESSION_HANDLE,
    pMechanism: CK_MECHANISM_PTR,
    hBaseKey: CK_OBJECT_HANDLE,
    pTemplate: CK_ATTRIBUTE_PTR,
    ulAttributeCount: CK_ULONG,
    phKey: CK_OBJECT_HANDLE_PTR,
) -> CK_RV {
    entry!(
        C_DeriveKey(
            session = hSession,
            base_key = hBaseKey,
            count = ulAttributeCount
        ),
        |m| {
            // An invalid session answers before any pointer is looked at.
            m.check_session(hSession)?;
            ptr::non_null(phKey)?;
            // SAFETY: pMechanism / pTemplate follow the PKCS#11 conventions.
            let (mech, t) = unsafe {
                (
                    convert::mechanism(pMechanism)?,
                    convert::template(pTemplate, ulAttributeCount)?,
                )
            };
            let h = m.derive_key(hSession, mech, hBaseKey, t)?;
            // SAFETY: phKey is a caller-provided handle slot (non-NULL).
            unsafe { ptr::write(phKey, h) }
        }
    )
}

/// `C_SeedRandom` (§5.15.1).
#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(
    hSession: CK_SESSION_HANDLE,
    pSeed: CK_BYTE_PTR,
    ulSeedLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_SeedRandom(session = hSession, seed_len = ulSeedLen),
        |m| {
            // SAFETY: pSeed holds ulSeedLen bytes (NULL only with 0).
            let seed = unsafe { ptr::bytes(pSeed, ulSeedLen) }?;
            m.seed_random(hSession, seed)
        }
    )
}

/// `C_GenerateRandom` (§5.15.2): filled in chunks of 64 KiB, so any length
/// the caller's buffer really has is served without a matching allocation.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(
    hSession: CK_SESSION_HANDLE,
    pRandomData: CK_BYTE_PTR,
    ulRandomLen: CK_ULONG,
) -> CK_RV {
    entry!(
        C_GenerateRandom(session = hSession, len = ulRandomLen),
        |m| {
            let len = ptr::to_usize(ulRandomLen)?;
            if len > 0 {
                ptr::non_null(pRandomData)?;
            }
            let mut off = 0;
            loop {
                let want = (len - off).min(RANDOM_CHUNK);
                let chunk = m.generate_random(hSession, want)?;
                let chunk = &chunk[..chunk.len().min(want)];
                // SAFETY: pRandomData holds len bytes; off + chunk.len() ≤ len.
                unsafe { ptr::copy_out(chunk, pRandomData.add(off)) };
                off += chunk.len();
                if off >= len || chunk.is_empty() {
                    return Ok(());
                }
            }
        }
    )
}
