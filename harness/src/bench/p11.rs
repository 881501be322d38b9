//! The calls `tokenemu bench` makes, over the harness's raw caller
//! ([`crate::p11::client`]): every module sees exactly the same C call
//! sequence (no length queries it did not ask for, GOST mechanisms and
//! `CKA_GOSTR3410_PARAMS` as they are, which `cryptoki` 0.12 cannot
//! express), and a failure becomes a [`CallError`] naming the function. The
//! signing and digest loops write into the caller's buffers and allocate
//! nothing.

use std::path::Path;

use anyhow::Result;
use cryptoki_sys::*;

use crate::p11::client::{Client, InitArgs, Mech, Template};

/// A failed PKCS#11 call: which function and the `CK_RV` it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallError {
    /// The C function.
    pub call: &'static str,
    /// What it returned.
    pub rv: CK_RV,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} returned {}",
            self.call,
            tokenemu_core::names::rv_name(self.rv)
        )
    }
}

impl std::error::Error for CallError {}

/// The result of one wrapped call.
pub type CallResult<T> = std::result::Result<T, CallError>;

fn check(call: &'static str, rv: CK_RV) -> CallResult<()> {
    if rv == CKR_OK {
        Ok(())
    } else {
        Err(CallError { call, rv })
    }
}

/// Most handles one `C_FindObjects` call asks for.
pub const FIND_BATCH: usize = 1024;

/// A loaded PKCS#11 module.
#[derive(Debug)]
pub struct Module {
    client: Client,
}

impl Module {
    /// `dlopen`s `path` and resolves its `C_*` symbols (a separate handle
    /// per path, so two modules live side by side).
    pub fn load(path: &Path) -> Result<Module> {
        Ok(Module {
            client: Client::load(path)?,
        })
    }

    /// The file the module was loaded from.
    pub fn path(&self) -> &Path {
        self.client.path()
    }

    /// The raw caller underneath (for the PIN pre-flight,
    /// [`crate::p11::preflight`]).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `C_Initialize` with `CKF_OS_LOCKING_OK` (the workloads call from
    /// several threads).
    pub fn initialize(&self) -> CallResult<()> {
        check("C_Initialize", self.client.initialize(InitArgs::OsLocking))
    }

    /// `C_Finalize`.
    pub fn finalize(&self) -> CallResult<()> {
        check("C_Finalize", self.client.finalize())
    }

    /// `C_GetInfo`: library description and version.
    pub fn library_description(&self) -> CallResult<String> {
        let (rv, info) = self.client.info();
        check("C_GetInfo", rv)?;
        Ok(format!(
            "{} {}.{}",
            padded_str(&info.libraryDescription),
            info.libraryVersion.major,
            info.libraryVersion.minor
        ))
    }

    /// `C_GetSlotList(tokenPresent = TRUE)`.
    pub fn slots_with_token(&self) -> CallResult<Vec<CK_SLOT_ID>> {
        let out = self.client.slot_list_all(true);
        check("C_GetSlotList", out.rv)?;
        Ok(out.data)
    }

    /// The token label in `slot` (blank padding removed).
    pub fn token_label(&self, slot: CK_SLOT_ID) -> CallResult<String> {
        let (rv, info) = self.client.token_info(slot);
        check("C_GetTokenInfo", rv)?;
        Ok(padded_str(&info.label))
    }

    /// `C_GetMechanismList`, every value.
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> CallResult<Vec<CK_MECHANISM_TYPE>> {
        let out = self.client.mechanism_list_all(slot);
        check("C_GetMechanismList", out.rv)?;
        Ok(out.data)
    }

    /// `C_OpenSession` (read-write, serial).
    pub fn open_session(&self, slot: CK_SLOT_ID) -> CallResult<CK_SESSION_HANDLE> {
        let (rv, h) = self
            .client
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION);
        check("C_OpenSession", rv)?;
        Ok(h)
    }

    /// `C_CloseSession`.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) -> CallResult<()> {
        check("C_CloseSession", self.client.close_session(session))
    }

    /// `C_Login` as the user; `CKR_USER_ALREADY_LOGGED_IN` counts as done
    /// (the login state is shared by every session of the application).
    pub fn login_user(&self, session: CK_SESSION_HANDLE, pin: &[u8]) -> CallResult<()> {
        match self.client.login(session, CKU_USER, Some(pin)) {
            CKR_USER_ALREADY_LOGGED_IN => Ok(()),
            rv => check("C_Login", rv),
        }
    }

    /// `C_Logout`.
    pub fn logout(&self, session: CK_SESSION_HANDLE) -> CallResult<()> {
        check("C_Logout", self.client.logout(session))
    }

    /// `C_GenerateKeyPair` with no mechanism parameter; returns (public, private).
    pub fn generate_key_pair(
        &self,
        session: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        public: &Template,
        private: &Template,
    ) -> CallResult<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let (rv, hpub, hpriv) =
            self.client
                .generate_key_pair(session, &Mech::new(mech), public, private);
        check("C_GenerateKeyPair", rv)?;
        Ok((hpub, hpriv))
    }

    /// `C_CreateObject`.
    pub fn create_object(
        &self,
        session: CK_SESSION_HANDLE,
        template: &Template,
    ) -> CallResult<CK_OBJECT_HANDLE> {
        let (rv, h) = self.client.create_object(session, template);
        check("C_CreateObject", rv)?;
        Ok(h)
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> CallResult<()> {
        check(
            "C_DestroyObject",
            self.client.destroy_object(session, object),
        )
    }

    /// `C_FindObjectsInit` + `C_FindObjects` (batches of [`FIND_BATCH`])
    /// until the module has no more + `C_FindObjectsFinal`. The handles are
    /// written to `out` (cleared first).
    pub fn find(
        &self,
        session: CK_SESSION_HANDLE,
        template: &Template,
        out: &mut Vec<CK_OBJECT_HANDLE>,
    ) -> CallResult<()> {
        out.clear();
        check(
            "C_FindObjectsInit",
            self.client.find_init(session, template),
        )?;
        let mut batch = [0 as CK_OBJECT_HANDLE; FIND_BATCH];
        let result = loop {
            let (rv, n) = self.client.find_into(session, &mut batch);
            if rv != CKR_OK {
                break Err(CallError {
                    call: "C_FindObjects",
                    rv,
                });
            }
            out.extend_from_slice(&batch[..n]);
            if n < FIND_BATCH {
                break Ok(());
            }
        };
        let fin = check("C_FindObjectsFinal", self.client.find_final(session));
        result.and(fin)
    }

    /// `C_SignInit` + `C_Sign` into `out` (its capacity is offered; no
    /// length query). Returns the signature length.
    pub fn sign(
        &self,
        session: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        out: &mut [u8],
    ) -> CallResult<usize> {
        check(
            "C_SignInit",
            self.client.sign_init(session, &Mech::new(mech), key),
        )?;
        let (rv, len) = self.client.sign_into(session, data, out);
        check("C_Sign", rv)?;
        Ok(len)
    }

    /// `C_VerifyInit` + `C_Verify`.
    pub fn verify(
        &self,
        session: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        signature: &[u8],
    ) -> CallResult<()> {
        check(
            "C_VerifyInit",
            self.client.verify_init(session, &Mech::new(mech), key),
        )?;
        check("C_Verify", self.client.verify(session, data, signature))
    }

    /// `C_DigestInit` + `C_Digest` into `out` (capacity offered). Returns
    /// the digest length.
    pub fn digest(
        &self,
        session: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        data: &[u8],
        out: &mut [u8],
    ) -> CallResult<usize> {
        check(
            "C_DigestInit",
            self.client.digest_init(session, Some(&Mech::new(mech))),
        )?;
        let (rv, len) = self.client.digest_into(session, data, out);
        check("C_Digest", rv)?;
        Ok(len)
    }
}

/// A blank-padded fixed-size PKCS#11 string, trimmed.
fn padded_str(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_string()
}
