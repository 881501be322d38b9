//! The raw PKCS#11 caller of `tokenemu bench`: one loaded module
//! (`cryptoki_sys::Pkcs11`, its own `dlopen` handle) and safe wrappers for
//! the calls the workloads make. The bench goes through raw calls rather
//! than `cryptoki` so that every module sees exactly the same C call
//! sequence (no length queries it did not ask for) and so that GOST
//! mechanisms and `CKA_GOSTR3410_PARAMS`, which `cryptoki` 0.12 cannot
//! express, work. One of the two harness files with `unsafe` code (the other
//! is `p11/raw.rs`).
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::ptr::null_mut;

use anyhow::{anyhow, Result};
use cryptoki_sys::*;

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

/// One attribute of a template, owning its value.
#[derive(Debug, Clone)]
pub struct Attr {
    /// `CKA_*`.
    pub ty: CK_ATTRIBUTE_TYPE,
    /// The value bytes as the module expects them (native-endian `CK_ULONG`s).
    pub value: Vec<u8>,
}

impl Attr {
    /// A `CK_BBOOL` attribute.
    pub fn bool(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attr {
        Attr {
            ty,
            value: vec![if v { CK_TRUE } else { CK_FALSE }],
        }
    }
    /// A `CK_ULONG` attribute.
    pub fn ulong(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
        Attr {
            ty,
            value: v.to_ne_bytes().to_vec(),
        }
    }
    /// A byte-string attribute.
    pub fn bytes(ty: CK_ATTRIBUTE_TYPE, v: impl Into<Vec<u8>>) -> Attr {
        Attr {
            ty,
            value: v.into(),
        }
    }
}

/// `CK_ATTRIBUTE`s pointing into `attrs` (valid while `attrs` lives; the
/// module only reads them).
fn c_template(attrs: &[Attr]) -> Vec<CK_ATTRIBUTE> {
    attrs
        .iter()
        .map(|a| CK_ATTRIBUTE {
            type_: a.ty,
            pValue: a.value.as_ptr() as *mut _,
            ulValueLen: a.value.len() as CK_ULONG,
        })
        .collect()
}

fn mechanism(mech: CK_MECHANISM_TYPE) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: mech,
        pParameter: null_mut(),
        ulParameterLen: 0,
    }
}

/// Most handles one `C_FindObjects` call asks for.
pub const FIND_BATCH: usize = 1024;

/// A loaded PKCS#11 module.
pub struct Module {
    lib: Pkcs11,
    path: PathBuf,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Module({})", self.path.display())
    }
}

impl Module {
    /// `dlopen`s `path` and resolves its `C_*` symbols.
    pub fn load(path: &Path) -> Result<Module> {
        // SAFETY: loading a PKCS#11 module runs its library initialisers,
        // which is what every PKCS#11 application does; the path was given by
        // the user as a PKCS#11 module. A different path gives a separate
        // handle, so two modules live side by side.
        let lib = unsafe { Pkcs11::new(path.as_os_str()) }
            .map_err(|e| anyhow!("loading PKCS#11 module {}: {e}", path.display()))?;
        for (name, present) in [
            ("C_Initialize", lib.C_Initialize.is_ok()),
            ("C_SignInit", lib.C_SignInit.is_ok()),
            ("C_FindObjectsInit", lib.C_FindObjectsInit.is_ok()),
            ("C_GenerateKeyPair", lib.C_GenerateKeyPair.is_ok()),
        ] {
            if !present {
                return Err(anyhow!(
                    "{} does not export {name}: not a PKCS#11 module",
                    path.display()
                ));
            }
        }
        Ok(Module {
            lib,
            path: path.to_path_buf(),
        })
    }

    /// The file the module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `C_Initialize` with `CKF_OS_LOCKING_OK` (the workloads call from
    /// several threads).
    pub fn initialize(&self) -> CallResult<()> {
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: null_mut(),
        };
        // SAFETY: `args` is a valid CK_C_INITIALIZE_ARGS that outlives the call.
        let rv = unsafe {
            self.lib
                .C_Initialize((&mut args as *mut CK_C_INITIALIZE_ARGS).cast())
        };
        check("C_Initialize", rv)
    }

    /// `C_Finalize`.
    pub fn finalize(&self) -> CallResult<()> {
        // SAFETY: the reserved argument must be NULL.
        let rv = unsafe { self.lib.C_Finalize(null_mut()) };
        check("C_Finalize", rv)
    }

    /// `C_GetInfo`: library description and version.
    pub fn library_description(&self) -> CallResult<String> {
        let mut info = CK_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_INFO.
        check("C_GetInfo", unsafe { self.lib.C_GetInfo(&mut info) })?;
        Ok(format!(
            "{} {}.{}",
            padded_str(&info.libraryDescription),
            info.libraryVersion.major,
            info.libraryVersion.minor
        ))
    }

    /// `C_GetSlotList(tokenPresent = TRUE)`.
    pub fn slots_with_token(&self) -> CallResult<Vec<CK_SLOT_ID>> {
        let mut n: CK_ULONG = 0;
        // SAFETY: a NULL list asks for the count; `n` is a valid local.
        check("C_GetSlotList", unsafe {
            self.lib.C_GetSlotList(CK_TRUE, null_mut(), &mut n)
        })?;
        let mut list = vec![0 as CK_SLOT_ID; n as usize];
        // SAFETY: `list` has room for `n` entries, as `n` says.
        check("C_GetSlotList", unsafe {
            self.lib.C_GetSlotList(CK_TRUE, list.as_mut_ptr(), &mut n)
        })?;
        list.truncate(n as usize);
        Ok(list)
    }

    /// The token label in `slot` (blank padding removed).
    pub fn token_label(&self, slot: CK_SLOT_ID) -> CallResult<String> {
        let mut info = CK_TOKEN_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_TOKEN_INFO.
        check("C_GetTokenInfo", unsafe {
            self.lib.C_GetTokenInfo(slot, &mut info)
        })?;
        Ok(padded_str(&info.label))
    }

    /// `C_GetMechanismList`, every value.
    pub fn mechanisms(&self, slot: CK_SLOT_ID) -> CallResult<Vec<CK_MECHANISM_TYPE>> {
        let mut n: CK_ULONG = 0;
        // SAFETY: a NULL list asks for the count; `n` is a valid local.
        check("C_GetMechanismList", unsafe {
            self.lib.C_GetMechanismList(slot, null_mut(), &mut n)
        })?;
        let mut list = vec![0 as CK_MECHANISM_TYPE; n as usize];
        // SAFETY: `list` has room for `n` entries, as `n` says.
        check("C_GetMechanismList", unsafe {
            self.lib.C_GetMechanismList(slot, list.as_mut_ptr(), &mut n)
        })?;
        list.truncate(n as usize);
        Ok(list)
    }

    /// `C_OpenSession` (read-write, serial).
    pub fn open_session(&self, slot: CK_SLOT_ID) -> CallResult<CK_SESSION_HANDLE> {
        let mut h: CK_SESSION_HANDLE = 0;
        // SAFETY: no notify callback (NULL application pointer and None);
        // `h` is a valid out-pointer.
        check("C_OpenSession", unsafe {
            self.lib.C_OpenSession(
                slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                null_mut(),
                None,
                &mut h,
            )
        })?;
        Ok(h)
    }

    /// `C_CloseSession`.
    pub fn close_session(&self, session: CK_SESSION_HANDLE) -> CallResult<()> {
        // SAFETY: plain integer argument.
        check("C_CloseSession", unsafe {
            self.lib.C_CloseSession(session)
        })
    }

    /// `C_Login` as the user; `CKR_USER_ALREADY_LOGGED_IN` counts as done
    /// (the login state is shared by every session of the application).
    pub fn login_user(&self, session: CK_SESSION_HANDLE, pin: &[u8]) -> CallResult<()> {
        // SAFETY: `pin` is valid for its length; the module only reads it.
        let rv = unsafe {
            self.lib.C_Login(
                session,
                CKU_USER,
                pin.as_ptr() as *mut _,
                pin.len() as CK_ULONG,
            )
        };
        if rv == CKR_USER_ALREADY_LOGGED_IN {
            return Ok(());
        }
        check("C_Login", rv)
    }

    /// `C_Logout`.
    pub fn logout(&self, session: CK_SESSION_HANDLE) -> CallResult<()> {
        // SAFETY: plain integer argument.
        check("C_Logout", unsafe { self.lib.C_Logout(session) })
    }

    /// `C_GenerateKeyPair` with no mechanism parameter; returns (public, private).
    pub fn generate_key_pair(
        &self,
        session: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        public: &[Attr],
        private: &[Attr],
    ) -> CallResult<(CK_OBJECT_HANDLE, CK_OBJECT_HANDLE)> {
        let (pubt, privt) = (c_template(public), c_template(private));
        let mut m = mechanism(mech);
        let (mut hpub, mut hpriv) = (0, 0);
        // SAFETY: both templates point into `public`/`private`, alive for the
        // call, with exact lengths; the mechanism has no parameter; the two
        // out-handles are valid locals.
        check("C_GenerateKeyPair", unsafe {
            self.lib.C_GenerateKeyPair(
                session,
                &mut m,
                pubt.as_ptr() as *mut _,
                pubt.len() as CK_ULONG,
                privt.as_ptr() as *mut _,
                privt.len() as CK_ULONG,
                &mut hpub,
                &mut hpriv,
            )
        })?;
        Ok((hpub, hpriv))
    }

    /// `C_CreateObject`.
    pub fn create_object(
        &self,
        session: CK_SESSION_HANDLE,
        template: &[Attr],
    ) -> CallResult<CK_OBJECT_HANDLE> {
        let t = c_template(template);
        let mut h = 0;
        // SAFETY: the template points into `template` (alive, exact lengths);
        // `h` is a valid out-pointer.
        check("C_CreateObject", unsafe {
            self.lib
                .C_CreateObject(session, t.as_ptr() as *mut _, t.len() as CK_ULONG, &mut h)
        })?;
        Ok(h)
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(
        &self,
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
    ) -> CallResult<()> {
        // SAFETY: plain integer arguments.
        check("C_DestroyObject", unsafe {
            self.lib.C_DestroyObject(session, object)
        })
    }

    /// `C_FindObjectsInit` + `C_FindObjects` (batches of [`FIND_BATCH`])
    /// until the module has no more + `C_FindObjectsFinal`. The handles are
    /// written to `out` (cleared first).
    pub fn find(
        &self,
        session: CK_SESSION_HANDLE,
        template: &[Attr],
        out: &mut Vec<CK_OBJECT_HANDLE>,
    ) -> CallResult<()> {
        out.clear();
        let t = c_template(template);
        // SAFETY: the template points into `template` (alive, exact lengths).
        check("C_FindObjectsInit", unsafe {
            self.lib
                .C_FindObjectsInit(session, t.as_ptr() as *mut _, t.len() as CK_ULONG)
        })?;
        let mut batch = [0 as CK_OBJECT_HANDLE; FIND_BATCH];
        let result = loop {
            let mut n: CK_ULONG = 0;
            // SAFETY: `batch` has room for FIND_BATCH handles, as passed; `n`
            // is a valid out-pointer.
            let rv = unsafe {
                self.lib
                    .C_FindObjects(session, batch.as_mut_ptr(), FIND_BATCH as CK_ULONG, &mut n)
            };
            if rv != CKR_OK {
                break Err(CallError {
                    call: "C_FindObjects",
                    rv,
                });
            }
            let n = (n as usize).min(FIND_BATCH);
            out.extend_from_slice(&batch[..n]);
            if n < FIND_BATCH {
                break Ok(());
            }
        };
        // SAFETY: plain integer argument.
        let fin = check("C_FindObjectsFinal", unsafe {
            self.lib.C_FindObjectsFinal(session)
        });
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
        let mut m = mechanism(mech);
        // SAFETY: the mechanism has no parameter and outlives the call.
        check("C_SignInit", unsafe {
            self.lib.C_SignInit(session, &mut m, key)
        })?;
        let mut len = out.len() as CK_ULONG;
        // SAFETY: `data` is readable for its length; `out` writable for
        // `len` bytes; `len` is a valid in/out pointer.
        check("C_Sign", unsafe {
            self.lib.C_Sign(
                session,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut len,
            )
        })?;
        Ok((len as usize).min(out.len()))
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
        let mut m = mechanism(mech);
        // SAFETY: the mechanism has no parameter and outlives the call.
        check("C_VerifyInit", unsafe {
            self.lib.C_VerifyInit(session, &mut m, key)
        })?;
        // SAFETY: `data` and `signature` are readable for their lengths.
        check("C_Verify", unsafe {
            self.lib.C_Verify(
                session,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                signature.as_ptr() as *mut _,
                signature.len() as CK_ULONG,
            )
        })
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
        let mut m = mechanism(mech);
        // SAFETY: the mechanism has no parameter and outlives the call.
        check("C_DigestInit", unsafe {
            self.lib.C_DigestInit(session, &mut m)
        })?;
        let mut len = out.len() as CK_ULONG;
        // SAFETY: `data` is readable for its length; `out` writable for
        // `len` bytes.
        check("C_Digest", unsafe {
            self.lib.C_Digest(
                session,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut len,
            )
        })?;
        Ok((len as usize).min(out.len()))
    }
}

/// A blank-padded fixed-size PKCS#11 string, trimmed.
fn padded_str(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_string()
}
