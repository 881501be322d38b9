//! The GOST calls `cryptoki` 0.12 cannot express (style.md §2): key pair
//! generation with `CKM_GOSTR3410_KEY_PAIR_GEN` (0x1200, below
//! `CKM_VENDOR_DEFINED`) and templates or reads of `CKA_GOSTR3410_PARAMS`
//! (0x250, rejected by `AttributeType::try_from`), and the mechanism list
//! with the values cryptoki has no name for. They go through the harness's
//! raw caller ([`super::client`]) on the same shared library that `cryptoki`
//! loaded and initialised (a second `dlopen` of a path returns the same
//! library, so the module state is shared; `C_Initialize` is not called
//! again) and the session handle of a `cryptoki::Session`.
//!
//! The one `unsafe` line left here turns a handle the module returned into a
//! `cryptoki` `ObjectHandle`.

use std::path::Path;

use cryptoki::object::ObjectHandle;
use cryptoki_sys::*;

use super::client::{Client, Mech, Template};
use super::{harness_err, P11Error, P11Result};

/// The module's C functions, loaded by name.
#[derive(Debug)]
pub struct Raw {
    client: Client,
}

fn rv_err(call: &str, rv: CK_RV) -> P11Error {
    P11Error {
        code: tokenemu_core::names::rv_name(rv),
        message: format!("{call} returned {}", tokenemu_core::names::rv_name(rv)),
    }
}

fn check(call: &str, rv: CK_RV) -> P11Result<()> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(rv_err(call, rv))
    }
}

/// An `ObjectHandle` for a handle the module returned through [`Raw`].
#[allow(unsafe_code)]
pub fn object_handle(h: CK_OBJECT_HANDLE) -> ObjectHandle {
    // SAFETY: `h` was just returned by the module for a live session of the
    // same `Pkcs11` context; `new_from_raw` only wraps the integer.
    unsafe { ObjectHandle::new_from_raw(h) }
}

impl Raw {
    /// Loads the symbols of `module` (already loaded and initialised by
    /// `cryptoki`: loading it again runs no initialisers).
    pub fn load(module: &Path) -> P11Result<Raw> {
        let client = Client::load(module).map_err(|e| harness_err("load", format!("{e:#}")))?;
        Ok(Raw { client })
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
        let public = Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, false)
            .bool(CKA_VERIFY, true)
            .bytes(CKA_GOSTR3410_PARAMS, params_der)
            .bytes(CKA_ID, id)
            .text(CKA_LABEL, label);
        let private = Template::new()
            .bool(CKA_TOKEN, true)
            .bool(CKA_PRIVATE, true)
            .bool(CKA_SENSITIVE, true)
            .bool(CKA_EXTRACTABLE, false)
            .bool(CKA_SIGN, true)
            .bytes(CKA_ID, id)
            .text(CKA_LABEL, label);
        let (rv, hpub, hpriv) =
            self.client
                .generate_key_pair(session, &Mech::new(mechanism), &public, &private);
        check("C_GenerateKeyPair", rv)?;
        Ok((hpub, hpriv))
    }

    /// Reads `CKA_GOSTR3410_PARAMS` and `CKA_VALUE` of a GOST public key
    /// (two-call size protocol).
    pub fn gost_public(
        &self,
        session: CK_SESSION_HANDLE,
        key: CK_OBJECT_HANDLE,
    ) -> P11Result<(Vec<u8>, Vec<u8>)> {
        let read = |ty| {
            self.client
                .attribute(session, key, ty)
                .map_err(|rv| rv_err("C_GetAttributeValue", rv))
        };
        Ok((read(CKA_GOSTR3410_PARAMS)?, read(CKA_VALUE)?))
    }

    /// `C_GetMechanismList` with every value (cryptoki drops the ones it has
    /// no Rust name for, such as `CKM_GOSTR3410_KEY_PAIR_GEN`).
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> P11Result<Vec<CK_MECHANISM_TYPE>> {
        let out = self.client.mechanism_list_all(slot);
        check("C_GetMechanismList", out.rv)?;
        Ok(out.data)
    }

    /// `C_GetMechanismInfo` for any mechanism, vendor ones included.
    pub fn mechanism_info(
        &self,
        slot: CK_SLOT_ID,
        mech: CK_MECHANISM_TYPE,
    ) -> P11Result<CK_MECHANISM_INFO> {
        let (rv, info) = self.client.mechanism_info(slot, mech);
        check("C_GetMechanismInfo", rv)?;
        Ok(info)
    }

    /// `C_Finalize` (cryptoki 0.12 does not finalize when its context is
    /// dropped, and the next scenario must re-initialise the module to read
    /// its new `TOKENEMU_CONF`).
    pub fn finalize(&self) -> CK_RV {
        self.client.finalize()
    }
}
