//! The GOST calls `cryptoki` 0.12 cannot express (style.md §2): key pair
//! generation with `CKM_GOSTR3410_KEY_PAIR_GEN` (0x1200, below
//! `CKM_VENDOR_DEFINED`) and templates or reads of `CKA_GOSTR3410_PARAMS`
//! (0x250, rejected by `AttributeType::try_from`). They use `cryptoki-sys`
//! on the same shared library that `cryptoki` loaded and initialised (a
//! second `dlopen` of a path returns the same library, so the module state
//! is shared; `C_Initialize` is not called again) and the session handle of
//! a `cryptoki::Session`. This is the only module of the harness with
//! `unsafe` code.
#![allow(unsafe_code)]

use std::path::Path;
use std::ptr::null_mut;

use cryptoki::object::ObjectHandle;
use cryptoki_sys::*;

use super::{harness_err, P11Error, P11Result};

/// The module's C functions, loaded by name.
pub struct Raw {
    lib: Pkcs11,
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Raw")
    }
}

fn rv_err(call: &str, rv: CK_RV) -> P11Error {
    P11Error {
        code: tokenemu_core::names::rv_name(rv),
        message: format!("{call} returned {}", tokenemu_core::names::rv_name(rv)),
    }
}

/// An `ObjectHandle` for a handle the module returned through [`Raw`].
pub fn object_handle(h: CK_OBJECT_HANDLE) -> ObjectHandle {
    // SAFETY: `h` was just returned by the module for a live session of the
    // same `Pkcs11` context; `new_from_raw` only wraps the integer.
    unsafe { ObjectHandle::new_from_raw(h) }
}

fn attr(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v.as_ptr() as *mut _,
        ulValueLen: v.len() as CK_ULONG,
    }
}

impl Raw {
    /// Loads the symbols of `module` (already loaded and initialised by
    /// `cryptoki`).
    pub fn load(module: &Path) -> P11Result<Raw> {
        // SAFETY: the library is already loaded in this process by cryptoki;
        // loading it again runs no initialisers and only resolves symbols.
        let lib = unsafe { Pkcs11::new(module.as_os_str()) }
            .map_err(|e| harness_err("load", format!("loading {}: {e}", module.display())))?;
        Ok(Raw { lib })
    }

    /// `C_GenerateKeyPair` for a GOST key pair on the curve `params_der`,
    /// token objects with this `CKA_ID` and label. Returns (public, private).
    pub fn generate_gost(
        &self,
        session: CK_SESSION_HANDLE,
        mechanism: CK_MECHANISM_TYPE,
        params_der: &[u8],
        id: &[u8],
        label: &str,
    ) -> P11Result<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let yes = [CK_TRUE];
        let no = [CK_FALSE];
        let pubt = [
            attr(CKA_TOKEN, &yes),
            attr(CKA_PRIVATE, &no),
            attr(CKA_VERIFY, &yes),
            attr(CKA_GOSTR3410_PARAMS, params_der),
            attr(CKA_ID, id),
            attr(CKA_LABEL, label.as_bytes()),
        ];
        let privt = [
            attr(CKA_TOKEN, &yes),
            attr(CKA_PRIVATE, &yes),
            attr(CKA_SENSITIVE, &yes),
            attr(CKA_EXTRACTABLE, &no),
            attr(CKA_SIGN, &yes),
            attr(CKA_ID, id),
            attr(CKA_LABEL, label.as_bytes()),
        ];
        let mut mech = CK_MECHANISM {
            mechanism,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let (mut hpub, mut hpriv) = (0, 0);
        // SAFETY: the templates point at buffers (`yes`, `no`, `params_der`,
        // `id`, `label`) that outlive the call, with their exact lengths; the
        // module only reads them. The output handles are valid locals.
        let rv = unsafe {
            self.lib.C_GenerateKeyPair(
                session,
                &mut mech,
                pubt.as_ptr() as *mut _,
                pubt.len() as CK_ULONG,
                privt.as_ptr() as *mut _,
                privt.len() as CK_ULONG,
                &mut hpub,
                &mut hpriv,
            )
        };
        if rv != CKR_OK {
            return Err(rv_err("C_GenerateKeyPair", rv));
        }
        Ok((hpub, hpriv))
    }

    /// Reads `CKA_GOSTR3410_PARAMS` and `CKA_VALUE` of a GOST public key
    /// (two-call size protocol).
    pub fn gost_public(
        &self,
        session: CK_SESSION_HANDLE,
        key: CK_OBJECT_HANDLE,
    ) -> P11Result<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        for ty in [CKA_GOSTR3410_PARAMS, CKA_VALUE] {
            let mut a = CK_ATTRIBUTE {
                type_: ty,
                pValue: null_mut(),
                ulValueLen: 0,
            };
            // SAFETY: a NULL pValue asks only for the length; `a` is valid.
            let rv = unsafe { self.lib.C_GetAttributeValue(session, key, &mut a, 1) };
            if rv != CKR_OK {
                return Err(rv_err("C_GetAttributeValue", rv));
            }
            if a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > 4096 {
                return Err(harness_err(
                    "CKR_ATTRIBUTE_TYPE_INVALID",
                    format!("attribute {ty:#x} unavailable"),
                ));
            }
            let mut buf = vec![0u8; a.ulValueLen as usize];
            a.pValue = buf.as_mut_ptr().cast();
            // SAFETY: `buf` has exactly `ulValueLen` writable bytes.
            let rv = unsafe { self.lib.C_GetAttributeValue(session, key, &mut a, 1) };
            if rv != CKR_OK {
                return Err(rv_err("C_GetAttributeValue", rv));
            }
            buf.truncate(a.ulValueLen as usize);
            out.push(buf);
        }
        let value = out.pop().unwrap_or_default();
        let params = out.pop().unwrap_or_default();
        Ok((params, value))
    }

    /// `C_GetMechanismList` with every value (cryptoki drops the ones it has
    /// no Rust name for, such as `CKM_GOSTR3410_KEY_PAIR_GEN`).
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> P11Result<Vec<CK_MECHANISM_TYPE>> {
        let mut n: CK_ULONG = 0;
        // SAFETY: a NULL list asks for the count only; `n` is a valid local.
        let rv = unsafe { self.lib.C_GetMechanismList(slot, null_mut(), &mut n) };
        if rv != CKR_OK {
            return Err(rv_err("C_GetMechanismList", rv));
        }
        let mut list = vec![0 as CK_MECHANISM_TYPE; n as usize];
        // SAFETY: `list` has room for `n` entries, as `n` says.
        let rv = unsafe { self.lib.C_GetMechanismList(slot, list.as_mut_ptr(), &mut n) };
        if rv != CKR_OK {
            return Err(rv_err("C_GetMechanismList", rv));
        }
        list.truncate(n as usize);
        Ok(list)
    }

    /// `C_GetMechanismInfo` for any mechanism, vendor ones included.
    pub fn mechanism_info(
        &self,
        slot: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> P11Result<CK_MECHANISM_INFO> {
        let mut info = CK_MECHANISM_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_MECHANISM_INFO.
        let rv = unsafe { self.lib.C_GetMechanismInfo(slot, mech, &mut info) };
        if rv != CKR_OK {
            return Err(rv_err("C_GetMechanismInfo", rv));
        }
        Ok(info)
    }

    /// `C_Finalize` (cryptoki 0.12 does not finalize when its context is
    /// dropped, and the next scenario must re-initialise the module to read
    /// its new `TOKENEMU_CONF`).
    pub fn finalize(&self) -> CK_RV {
        // SAFETY: `C_Finalize` takes a reserved pointer that must be NULL.
        unsafe { self.lib.C_Finalize(null_mut()) }
    }
}
