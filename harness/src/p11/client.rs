//! The harness's one raw caller of a PKCS#11 module's C functions
//! (`cryptoki-sys`), under the conformance checks, `tokenemu bench` and the
//! GOST calls of the scenario layer ([`super::raw`]). Unlike `cryptoki` it
//! lets a caller pass NULL pointers, short buffers, invalid handles and
//! vendor mechanisms and attributes, and it hands back every `CK_RV` as it
//! is. Each method maps one C call; the only logic here is building the C
//! arguments from owned Rust values (templates, mechanisms, output buffers)
//! so that no pointer outlives what it points at. The `_into` variants write
//! into the caller's buffer, so that a benchmark loop allocates nothing.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use cryptoki_sys::*;

/// The module's C functions, loaded by name (`dlsym`), as an application
/// linked against the module would call them.
pub struct Client {
    lib: Pkcs11,
    path: PathBuf,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.path.display())
    }
}

/// How a check hands over an output buffer (the two-call protocol, base
/// spec v3.0 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    /// `pBuf = NULL`, `*pulLen` = 0: ask for the length.
    Query,
    /// A buffer of this many bytes (or entries).
    Buf(usize),
    /// `pBuf = NULL` and `pulLen = NULL`: a bad argument.
    NullLen,
}

/// What an output call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output<T = u8> {
    /// The return value.
    pub rv: CK_RV,
    /// `*pulLen` after the call.
    pub len: CK_ULONG,
    /// The buffer, cut to `len` when the call succeeded and `len` fits.
    pub data: Vec<T>,
}

/// A mechanism with its parameter, kept as `CK_ULONG` words so that the
/// module reads a correctly aligned structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mech {
    /// `CKM_…`.
    pub ty: CK_MECHANISM_TYPE,
    /// The parameter structure as words (empty: no parameter).
    pub words: Vec<CK_ULONG>,
    /// Buffers the structure points at: `(i, bytes)` puts the address of
    /// `bytes` into word `i` at call time (`pIv`, `pAAD`, `pPublicData`), so
    /// the pointer is valid exactly during the call.
    pub buffers: Vec<(usize, Vec<u8>)>,
    /// A parameter that is a byte string rather than a structure (an IV);
    /// when set it is passed instead of `words`.
    pub bytes: Option<Vec<u8>>,
}

impl Mech {
    /// A mechanism without parameter.
    pub fn new(ty: CK_MECHANISM_TYPE) -> Mech {
        Mech {
            ty,
            words: Vec::new(),
            buffers: Vec::new(),
            bytes: None,
        }
    }

    /// A mechanism whose parameter is a byte string (an IV for CBC modes).
    pub fn with_bytes(ty: CK_MECHANISM_TYPE, bytes: &[u8]) -> Mech {
        Mech {
            bytes: Some(bytes.to_vec()),
            ..Mech::new(ty)
        }
    }

    /// `CKM_AES_CTR` (`CK_AES_CTR_PARAMS`: ulCounterBits, cb[16]); the
    /// counter block is laid out in memory as given.
    pub fn aes_ctr(counter_bits: CK_ULONG, cb: [u8; 16]) -> Mech {
        let half = |i: usize| {
            let mut w = [0u8; std::mem::size_of::<CK_ULONG>()];
            let n = w.len();
            w.copy_from_slice(&cb[i * n..(i + 1) * n]);
            CK_ULONG::from_ne_bytes(w)
        };
        let n = 16 / std::mem::size_of::<CK_ULONG>();
        Mech {
            words: std::iter::once(counter_bits)
                .chain((0..n).map(half))
                .collect(),
            ..Mech::new(CKM_AES_CTR)
        }
    }

    /// `CKM_AES_GCM` (`CK_GCM_PARAMS`: pIv, ulIvLen, ulIvBits, pAAD,
    /// ulAADLen, ulTagBits).
    pub fn aes_gcm(iv: &[u8], aad: &[u8], tag_bits: CK_ULONG) -> Mech {
        Mech {
            words: vec![
                0,
                iv.len() as CK_ULONG,
                8 * iv.len() as CK_ULONG,
                0,
                aad.len() as CK_ULONG,
                tag_bits,
            ],
            buffers: vec![(0, iv.to_vec()), (3, aad.to_vec())],
            ..Mech::new(CKM_AES_GCM)
        }
    }

    /// `CKM_ECDH1_DERIVE` (`CK_ECDH1_DERIVE_PARAMS`: kdf, ulSharedDataLen,
    /// pSharedData, ulPublicDataLen, pPublicData) without shared data.
    pub fn ecdh1(kdf: CK_EC_KDF_TYPE, public: &[u8]) -> Mech {
        Mech {
            words: vec![kdf, 0, 0, public.len() as CK_ULONG, 0],
            buffers: vec![(4, public.to_vec())],
            ..Mech::new(CKM_ECDH1_DERIVE)
        }
    }

    /// RSA PSS (`CK_RSA_PKCS_PSS_PARAMS`: hashAlg, mgf, sLen).
    pub fn pss(ty: CK_MECHANISM_TYPE, hash: CK_MECHANISM_TYPE, mgf: CK_ULONG, slen: u64) -> Mech {
        Mech {
            ty,
            words: vec![hash, mgf, slen],
            ..Mech::new(ty)
        }
    }

    /// RSA OAEP (`CK_RSA_PKCS_OAEP_PARAMS`: hashAlg, mgf, source,
    /// pSourceData = NULL, ulSourceDataLen = 0).
    pub fn oaep(hash: CK_MECHANISM_TYPE, mgf: CK_ULONG) -> Mech {
        Mech {
            words: vec![hash, mgf, CKZ_DATA_SPECIFIED, 0, 0],
            ..Mech::new(CKM_RSA_PKCS_OAEP)
        }
    }
}

/// A template: attribute types with owned values (`None`: `pValue = NULL`).
#[derive(Debug, Clone, Default)]
pub struct Template {
    attrs: Vec<(CK_ATTRIBUTE_TYPE, Option<Vec<u8>>)>,
}

impl Template {
    /// An empty template.
    pub fn new() -> Template {
        Template::default()
    }

    /// Adds raw bytes.
    pub fn bytes(mut self, ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Template {
        self.attrs.push((ty, Some(v.to_vec())));
        self
    }

    /// Adds a `CK_BBOOL`.
    pub fn bool(self, ty: CK_ATTRIBUTE_TYPE, v: bool) -> Template {
        self.bytes(ty, &[if v { CK_TRUE } else { CK_FALSE }])
    }

    /// Adds a `CK_ULONG` in native byte order.
    pub fn ulong(self, ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Template {
        self.bytes(ty, &v.to_ne_bytes())
    }

    /// Adds a UTF-8 string.
    pub fn text(self, ty: CK_ATTRIBUTE_TYPE, v: &str) -> Template {
        self.bytes(ty, v.as_bytes())
    }

    /// Adds a NULL `pValue` with length `len`.
    pub fn null(mut self, ty: CK_ATTRIBUTE_TYPE) -> Template {
        self.attrs.push((ty, None));
        self
    }

    /// Whether the template sets `ty`.
    pub fn has(&self, ty: CK_ATTRIBUTE_TYPE) -> bool {
        self.attrs.iter().any(|(t, _)| *t == ty)
    }

    /// Appends another template's attributes.
    pub fn extend(mut self, other: Template) -> Template {
        self.attrs.extend(other.attrs);
        self
    }

    fn raw(&self) -> Vec<CK_ATTRIBUTE> {
        self.attrs
            .iter()
            .map(|(ty, v)| CK_ATTRIBUTE {
                type_: *ty,
                pValue: v.as_ref().map_or(null_mut(), |v| v.as_ptr() as *mut c_void),
                ulValueLen: v.as_ref().map_or(0, |v| v.len() as CK_ULONG),
            })
            .collect()
    }
}

/// One entry of a `C_GetAttributeValue` template and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrRead {
    /// The attribute type.
    pub ty: CK_ATTRIBUTE_TYPE,
    /// `None`: `pValue = NULL` (length query); else a buffer of that size.
    pub buf: Option<Vec<u8>>,
    /// `ulValueLen` after the call.
    pub len: CK_ULONG,
}

impl AttrRead {
    /// A length query for `ty`.
    pub fn query(ty: CK_ATTRIBUTE_TYPE) -> AttrRead {
        AttrRead {
            ty,
            buf: None,
            len: 0,
        }
    }

    /// A read of `ty` into `n` bytes.
    pub fn sized(ty: CK_ATTRIBUTE_TYPE, n: usize) -> AttrRead {
        AttrRead {
            ty,
            buf: Some(vec![0; n]),
            len: n as CK_ULONG,
        }
    }

    /// The value read (the buffer cut to `len`), if any.
    pub fn value(&self) -> Option<&[u8]> {
        let b = self.buf.as_ref()?;
        let n = usize::try_from(self.len).ok()?;
        b.get(..n)
    }
}

/// `C_Initialize` arguments a check can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitArgs {
    /// `pInitArgs = NULL`.
    Null,
    /// `CKF_OS_LOCKING_OK`, no mutex functions (what the harness uses).
    OsLocking,
    /// Only `CreateMutex` set: a bad argument (§5.4.1).
    PartialMutex,
    /// `pReserved` not NULL: a bad argument (§5.4.1).
    ReservedNonNull,
}

extern "C" fn never_create_mutex(_pp: *mut *mut c_void) -> CK_RV {
    CKR_GENERAL_ERROR
}

/// Runs a C call that writes `T`s into a buffer of `out`'s kind.
fn out_call<T: Copy + Default>(
    out: Out,
    f: impl FnOnce(*mut T, *mut CK_ULONG) -> CK_RV,
) -> Output<T> {
    match out {
        Out::Query => {
            let mut len: CK_ULONG = 0;
            let rv = f(null_mut(), &mut len);
            Output {
                rv,
                len,
                data: Vec::new(),
            }
        }
        Out::NullLen => {
            let rv = f(null_mut(), null_mut());
            Output {
                rv,
                len: 0,
                data: Vec::new(),
            }
        }
        Out::Buf(n) => {
            let mut buf = vec![T::default(); n];
            let mut len = n as CK_ULONG;
            // An empty Vec's pointer is dangling but not NULL, as the
            // protocol wants for "a buffer of 0 bytes".
            let rv = f(buf.as_mut_ptr(), &mut len);
            if rv == CKR_OK {
                buf.truncate(usize::try_from(len).unwrap_or(n).min(n));
            }
            Output { rv, len, data: buf }
        }
    }
}

/// Most entries a list call may announce before the count is taken as
/// nonsense rather than allocated.
const MAX_LIST: usize = 1 << 16;

/// A whole list through the two-call protocol: the count, then a buffer of
/// that size. A count over [`MAX_LIST`] gives `CKR_GENERAL_ERROR`.
fn whole_list<T>(call: impl Fn(Out) -> Output<T>) -> Output<T> {
    let q = call(Out::Query);
    if q.rv != CKR_OK {
        return q;
    }
    match usize::try_from(q.len).ok().filter(|n| *n <= MAX_LIST) {
        Some(n) => call(Out::Buf(n)),
        None => Output {
            rv: CKR_GENERAL_ERROR,
            ..q
        },
    }
}

/// Runs a C call that writes `T`s into all of `buf` (its length offered in
/// `*pulLen`): the return value and how many entries the module wrote,
/// never more than `buf` holds.
fn into_call<T>(buf: &mut [T], f: impl FnOnce(*mut T, *mut CK_ULONG) -> CK_RV) -> (CK_RV, usize) {
    let mut len = buf.len() as CK_ULONG;
    let rv = f(buf.as_mut_ptr(), &mut len);
    (rv, usize::try_from(len).unwrap_or(0).min(buf.len()))
}

impl Client {
    /// Loads the module's symbols (`dlopen` + `dlsym`; runs the library's
    /// initialisers, but not `C_Initialize`).
    pub fn load(path: &Path) -> anyhow::Result<Client> {
        // SAFETY: loading a PKCS#11 module runs its ELF initialisers, which
        // is what every PKCS#11 application does; the caller chose the file.
        let lib = unsafe { Pkcs11::new(path.as_os_str()) }
            .map_err(|e| anyhow::anyhow!("loading {}: {e}", path.display()))?;
        for (name, present) in [
            ("C_Initialize", lib.C_Initialize.is_ok()),
            ("C_OpenSession", lib.C_OpenSession.is_ok()),
            ("C_FindObjectsInit", lib.C_FindObjectsInit.is_ok()),
            ("C_SignInit", lib.C_SignInit.is_ok()),
        ] {
            if !present {
                anyhow::bail!(
                    "{} does not export {name}: not a PKCS#11 module",
                    path.display()
                );
            }
        }
        Ok(Client {
            lib,
            path: path.to_path_buf(),
        })
    }

    /// The module file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `C_Initialize` with the chosen arguments.
    pub fn initialize(&self, how: InitArgs) -> CK_RV {
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: null_mut(),
        };
        let mut reserved = 0u64;
        match how {
            InitArgs::Null => {
                // SAFETY: NULL pInitArgs is allowed (§5.4.1).
                return unsafe { self.lib.C_Initialize(null_mut()) };
            }
            InitArgs::OsLocking => {}
            InitArgs::PartialMutex => {
                args.flags = 0;
                args.CreateMutex = Some(never_create_mutex);
            }
            InitArgs::ReservedNonNull => {
                args.pReserved = (&mut reserved as *mut u64).cast();
            }
        }
        // SAFETY: `args` is a valid CK_C_INITIALIZE_ARGS living across the
        // call; its one function pointer (PartialMutex) is a real function
        // with the C signature; `reserved` outlives the call.
        unsafe {
            self.lib
                .C_Initialize((&mut args as *mut CK_C_INITIALIZE_ARGS).cast())
        }
    }

    /// `C_Finalize(NULL)`.
    pub fn finalize(&self) -> CK_RV {
        // SAFETY: the reserved argument must be NULL.
        unsafe { self.lib.C_Finalize(null_mut()) }
    }

    /// `C_Finalize` with a non-NULL reserved pointer (a bad argument).
    pub fn finalize_reserved(&self) -> CK_RV {
        let mut reserved = 0u64;
        // SAFETY: the pointer is valid for the call; a module must not use it.
        unsafe { self.lib.C_Finalize((&mut reserved as *mut u64).cast()) }
    }

    /// `C_GetInfo`.
    pub fn info(&self) -> (CK_RV, CK_INFO) {
        let mut info = CK_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_INFO.
        let rv = unsafe { self.lib.C_GetInfo(&mut info) };
        (rv, info)
    }

    /// `C_GetInfo(NULL)`.
    pub fn info_null(&self) -> CK_RV {
        // SAFETY: a NULL out-pointer must be refused, not written.
        unsafe { self.lib.C_GetInfo(null_mut()) }
    }

    /// `C_GetFunctionList`: the return value and the list's version.
    pub fn function_list(&self) -> (CK_RV, Option<CK_VERSION>) {
        let mut list: *mut CK_FUNCTION_LIST = null_mut();
        // SAFETY: `list` is a valid out-pointer for one pointer.
        let rv = unsafe { self.lib.C_GetFunctionList(&mut list) };
        // SAFETY: on CKR_OK the module returned a pointer to its static
        // function list, valid while the library stays loaded (it does:
        // `self.lib` owns it); only its version field is read.
        let version = (rv == CKR_OK && !list.is_null()).then(|| unsafe { (*list).version });
        (rv, version)
    }

    /// `C_GetFunctionList(NULL)`.
    pub fn function_list_null(&self) -> CK_RV {
        // SAFETY: a NULL out-pointer must be refused, not written.
        unsafe { self.lib.C_GetFunctionList(null_mut()) }
    }

    /// `C_GetSlotList`.
    pub fn slot_list(&self, present: bool, out: Out) -> Output<CK_SLOT_ID> {
        let flag = if present { CK_TRUE } else { CK_FALSE };
        // SAFETY: `out_call` passes NULL or a buffer of `*len` entries and a
        // valid or NULL count pointer, both living across the call.
        out_call(out, |p, n| unsafe { self.lib.C_GetSlotList(flag, p, n) })
    }

    /// Every slot (`present` false) or every slot with a token, through the
    /// two-call protocol.
    pub fn slot_list_all(&self, present: bool) -> Output<CK_SLOT_ID> {
        whole_list(|out| self.slot_list(present, out))
    }

    /// `C_GetSlotInfo`.
    pub fn slot_info(&self, slot: CK_SLOT_ID) -> (CK_RV, CK_SLOT_INFO) {
        let mut info = CK_SLOT_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_SLOT_INFO.
        let rv = unsafe { self.lib.C_GetSlotInfo(slot, &mut info) };
        (rv, info)
    }

    /// `C_GetTokenInfo`.
    pub fn token_info(&self, slot: CK_SLOT_ID) -> (CK_RV, CK_TOKEN_INFO) {
        let mut info = CK_TOKEN_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_TOKEN_INFO.
        let rv = unsafe { self.lib.C_GetTokenInfo(slot, &mut info) };
        (rv, info)
    }

    /// `C_GetTokenInfo(slot, NULL)`.
    pub fn token_info_null(&self, slot: CK_SLOT_ID) -> CK_RV {
        // SAFETY: a NULL out-pointer must be refused, not written.
        unsafe { self.lib.C_GetTokenInfo(slot, null_mut()) }
    }

    /// `C_WaitForSlotEvent(CKF_DONT_BLOCK)`.
    pub fn wait_for_slot_event_nonblocking(&self) -> CK_RV {
        let mut slot: CK_SLOT_ID = 0;
        // SAFETY: `slot` is a valid out-pointer; the reserved one is NULL.
        unsafe {
            self.lib
                .C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, null_mut())
        }
    }

    /// `C_GetMechanismList`.
    pub fn mechanism_list(&self, slot: CK_SLOT_ID, out: Out) -> Output<CK_MECHANISM_TYPE> {
        // SAFETY: as for `slot_list`.
        out_call(out, |p, n| unsafe {
            self.lib.C_GetMechanismList(slot, p, n)
        })
    }

    /// Every mechanism of the slot, through the two-call protocol.
    pub fn mechanism_list_all(&self, slot: CK_SLOT_ID) -> Output<CK_MECHANISM_TYPE> {
        whole_list(|out| self.mechanism_list(slot, out))
    }

    /// `C_GetMechanismInfo`.
    pub fn mechanism_info(
        &self,
        slot: CK_SLOT_ID,
        m: CK_MECHANISM_TYPE,
    ) -> (CK_RV, CK_MECHANISM_INFO) {
        let mut info = CK_MECHANISM_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_MECHANISM_INFO.
        let rv = unsafe { self.lib.C_GetMechanismInfo(slot, m, &mut info) };
        (rv, info)
    }

    /// `C_InitToken` (the label is blank-padded to 32 bytes here).
    pub fn init_token(&self, slot: CK_SLOT_ID, so_pin: &[u8], label: &str) -> CK_RV {
        let mut l = [b' '; 32];
        let n = label.len().min(32);
        l[..n].copy_from_slice(&label.as_bytes()[..n]);
        // SAFETY: the PIN buffer has exactly the given length and the label
        // 32 bytes, as the function requires; the module only reads them.
        unsafe {
            self.lib.C_InitToken(
                slot,
                so_pin.as_ptr() as *mut _,
                so_pin.len() as CK_ULONG,
                l.as_mut_ptr(),
            )
        }
    }

    /// `C_InitPIN`.
    pub fn init_pin(&self, s: CK_SESSION_HANDLE, pin: &[u8]) -> CK_RV {
        // SAFETY: the PIN buffer has exactly the given length; read only.
        unsafe {
            self.lib
                .C_InitPIN(s, pin.as_ptr() as *mut _, pin.len() as CK_ULONG)
        }
    }

    /// `C_SetPIN`.
    pub fn set_pin(&self, s: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CK_RV {
        // SAFETY: both PIN buffers have exactly the given lengths; read only.
        unsafe {
            self.lib.C_SetPIN(
                s,
                old.as_ptr() as *mut _,
                old.len() as CK_ULONG,
                new.as_ptr() as *mut _,
                new.len() as CK_ULONG,
            )
        }
    }

    /// `C_OpenSession` (no callback).
    pub fn open_session(&self, slot: CK_SLOT_ID, flags: CK_FLAGS) -> (CK_RV, CK_SESSION_HANDLE) {
        let mut h: CK_SESSION_HANDLE = CK_INVALID_HANDLE;
        // SAFETY: `h` is a valid out-pointer; no application data or notify
        // callback is passed.
        let rv = unsafe {
            self.lib
                .C_OpenSession(slot, flags, null_mut(), None, &mut h)
        };
        (rv, h)
    }

    /// `C_OpenSession` with a NULL handle pointer (a bad argument).
    pub fn open_session_null(&self, slot: CK_SLOT_ID) -> CK_RV {
        // SAFETY: a NULL out-pointer must be refused, not written.
        unsafe {
            self.lib
                .C_OpenSession(slot, CKF_SERIAL_SESSION, null_mut(), None, null_mut())
        }
    }

    /// `C_CloseSession`.
    pub fn close_session(&self, s: CK_SESSION_HANDLE) -> CK_RV {
        // SAFETY: takes only integers.
        unsafe { self.lib.C_CloseSession(s) }
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&self, slot: CK_SLOT_ID) -> CK_RV {
        // SAFETY: takes only integers.
        unsafe { self.lib.C_CloseAllSessions(slot) }
    }

    /// `C_GetSessionInfo`.
    pub fn session_info(&self, s: CK_SESSION_HANDLE) -> (CK_RV, CK_SESSION_INFO) {
        let mut info = CK_SESSION_INFO::default();
        // SAFETY: `info` is a valid out-pointer for one CK_SESSION_INFO.
        let rv = unsafe { self.lib.C_GetSessionInfo(s, &mut info) };
        (rv, info)
    }

    /// `C_Login`; `pin = None` passes `pPin = NULL` with `ulPinLen = 4`.
    pub fn login(&self, s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: Option<&[u8]>) -> CK_RV {
        let (p, n) = match pin {
            Some(p) => (p.as_ptr() as *mut u8, p.len() as CK_ULONG),
            None => (null_mut(), 4),
        };
        // SAFETY: `p` is NULL or points at exactly `n` readable bytes.
        unsafe { self.lib.C_Login(s, user, p, n) }
    }

    /// `C_Logout`.
    pub fn logout(&self, s: CK_SESSION_HANDLE) -> CK_RV {
        // SAFETY: takes only integers.
        unsafe { self.lib.C_Logout(s) }
    }

    /// `C_CreateObject`.
    pub fn create_object(&self, s: CK_SESSION_HANDLE, t: &Template) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut raw = t.raw();
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: `raw` points into `t`'s owned values, all alive across the
        // call; the count is the array's length; `h` is a valid out-pointer.
        let rv = unsafe {
            self.lib
                .C_CreateObject(s, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h)
        };
        (rv, h)
    }

    /// `C_CreateObject(pTemplate = NULL, ulCount = 1)` (a bad argument).
    pub fn create_object_null_template(&self, s: CK_SESSION_HANDLE) -> CK_RV {
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: a NULL template with a non-zero count must be refused.
        unsafe { self.lib.C_CreateObject(s, null_mut(), 1, &mut h) }
    }

    /// `C_CopyObject`.
    pub fn copy_object(
        &self,
        s: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        t: &Template,
    ) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut raw = t.raw();
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: as for `create_object`.
        let rv = unsafe {
            self.lib
                .C_CopyObject(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h)
        };
        (rv, h)
    }

    /// `C_DestroyObject`.
    pub fn destroy_object(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE) -> CK_RV {
        // SAFETY: takes only integers.
        unsafe { self.lib.C_DestroyObject(s, o) }
    }

    /// `C_GetAttributeValue` over `reads` (updated in place).
    pub fn get_attributes(
        &self,
        s: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        reads: &mut [AttrRead],
    ) -> CK_RV {
        let mut raw: Vec<CK_ATTRIBUTE> = reads
            .iter_mut()
            .map(|r| CK_ATTRIBUTE {
                type_: r.ty,
                pValue: r
                    .buf
                    .as_mut()
                    .map_or(null_mut(), |b| b.as_mut_ptr() as *mut c_void),
                ulValueLen: r.buf.as_ref().map_or(0, |b| b.len() as CK_ULONG),
            })
            .collect();
        // SAFETY: each pValue is NULL or a buffer of exactly ulValueLen
        // writable bytes owned by `reads`, alive across the call.
        let rv = unsafe {
            self.lib
                .C_GetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG)
        };
        for (r, a) in reads.iter_mut().zip(&raw) {
            r.len = a.ulValueLen;
        }
        rv
    }

    /// One attribute through the two-call protocol: Ok(value) or the CK_RV
    /// of the failing call.
    pub fn attribute(
        &self,
        s: CK_SESSION_HANDLE,
        o: CK_OBJECT_HANDLE,
        ty: CK_ATTRIBUTE_TYPE,
    ) -> Result<Vec<u8>, CK_RV> {
        let mut q = [AttrRead::query(ty)];
        let rv = self.get_attributes(s, o, &mut q);
        if rv != CKR_OK {
            return Err(rv);
        }
        let n = usize::try_from(q[0].len)
            .ok()
            .filter(|n| *n <= 1 << 20)
            .ok_or(CKR_GENERAL_ERROR)?;
        let mut r = [AttrRead::sized(ty, n)];
        let rv = self.get_attributes(s, o, &mut r);
        if rv != CKR_OK {
            return Err(rv);
        }
        Ok(r[0].value().map(<[u8]>::to_vec).unwrap_or_default())
    }

    /// `C_SetAttributeValue`.
    pub fn set_attributes(&self, s: CK_SESSION_HANDLE, o: CK_OBJECT_HANDLE, t: &Template) -> CK_RV {
        let mut raw = t.raw();
        // SAFETY: as for `create_object`; the module only reads the values.
        unsafe {
            self.lib
                .C_SetAttributeValue(s, o, raw.as_mut_ptr(), raw.len() as CK_ULONG)
        }
    }

    /// `C_FindObjectsInit`.
    pub fn find_init(&self, s: CK_SESSION_HANDLE, t: &Template) -> CK_RV {
        let mut raw = t.raw();
        let p = if raw.is_empty() {
            null_mut()
        } else {
            raw.as_mut_ptr()
        };
        // SAFETY: `p` is NULL with count 0 or points at the owned template.
        unsafe { self.lib.C_FindObjectsInit(s, p, raw.len() as CK_ULONG) }
    }

    /// `C_FindObjects` for up to `max` handles.
    pub fn find(&self, s: CK_SESSION_HANDLE, max: usize) -> (CK_RV, Vec<CK_OBJECT_HANDLE>) {
        let mut buf = vec![CK_INVALID_HANDLE; max];
        let mut n: CK_ULONG = 0;
        // SAFETY: `buf` has room for `max` handles; `n` is a valid out-pointer.
        let rv = unsafe {
            self.lib
                .C_FindObjects(s, buf.as_mut_ptr(), max as CK_ULONG, &mut n)
        };
        buf.truncate(usize::try_from(n).unwrap_or(0).min(max));
        (rv, buf)
    }

    /// `C_FindObjects` into `buf` (its length is the maximum): (rv, count).
    pub fn find_into(&self, s: CK_SESSION_HANDLE, buf: &mut [CK_OBJECT_HANDLE]) -> (CK_RV, usize) {
        let max = buf.len() as CK_ULONG;
        // SAFETY: `into_call` passes `buf`, with room for `max` handles, and
        // a valid count pointer.
        into_call(buf, |p, n| unsafe { self.lib.C_FindObjects(s, p, max, n) })
    }

    /// `C_FindObjects` with a NULL count pointer (a bad argument).
    pub fn find_null_count(&self, s: CK_SESSION_HANDLE) -> CK_RV {
        let mut buf = [CK_INVALID_HANDLE; 4];
        // SAFETY: a NULL count pointer must be refused, not written.
        unsafe { self.lib.C_FindObjects(s, buf.as_mut_ptr(), 4, null_mut()) }
    }

    /// `C_FindObjectsFinal`.
    pub fn find_final(&self, s: CK_SESSION_HANDLE) -> CK_RV {
        // SAFETY: takes only integers.
        unsafe { self.lib.C_FindObjectsFinal(s) }
    }

    /// Every handle matching `t` (init, find until empty, final).
    pub fn find_all(
        &self,
        s: CK_SESSION_HANDLE,
        t: &Template,
    ) -> Result<Vec<CK_OBJECT_HANDLE>, CK_RV> {
        let rv = self.find_init(s, t);
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut all = Vec::new();
        loop {
            let (rv, hs) = self.find(s, 64);
            if rv != CKR_OK {
                self.find_final(s);
                return Err(rv);
            }
            if hs.is_empty() {
                break;
            }
            all.extend(hs);
            if all.len() > 100_000 {
                break;
            }
        }
        match self.find_final(s) {
            CKR_OK => Ok(all),
            rv => Err(rv),
        }
    }

    fn with_mech<R>(m: Option<&Mech>, f: impl FnOnce(*mut CK_MECHANISM) -> R) -> R {
        match m {
            None => f(null_mut()),
            Some(m) => {
                let mut words = m.words.clone();
                let mut buffers: Vec<(usize, Vec<u8>)> = m.buffers.clone();
                for (i, b) in &mut buffers {
                    if let Some(w) = words.get_mut(*i) {
                        *w = b.as_mut_ptr() as CK_ULONG;
                    }
                }
                let mut bytes = m.bytes.clone();
                let (ptr, len): (*mut c_void, usize) = match &mut bytes {
                    Some(b) => (b.as_mut_ptr().cast(), b.len()),
                    None if words.is_empty() => (null_mut(), 0),
                    None => (
                        words.as_mut_ptr().cast(),
                        words.len() * std::mem::size_of::<CK_ULONG>(),
                    ),
                };
                let mut raw = CK_MECHANISM {
                    mechanism: m.ty,
                    pParameter: ptr,
                    ulParameterLen: len as CK_ULONG,
                };
                f(&mut raw)
            }
        }
    }

    /// `C_DigestInit`; `None` passes a NULL mechanism.
    pub fn digest_init(&self, s: CK_SESSION_HANDLE, m: Option<&Mech>) -> CK_RV {
        // SAFETY: the mechanism pointer is NULL or a CK_MECHANISM whose
        // parameter words live across the call (`with_mech`).
        Self::with_mech(m, |p| unsafe { self.lib.C_DigestInit(s, p) })
    }

    /// `C_Digest`.
    pub fn digest(&self, s: CK_SESSION_HANDLE, data: &[u8], out: Out) -> Output {
        // SAFETY: `data` is read for exactly its length; the output pointers
        // come from `out_call` (NULL or a buffer of `*len` bytes).
        out_call(out, |p, n| unsafe {
            self.lib
                .C_Digest(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_Digest` into `buf`: (rv, digest length).
    pub fn digest_into(&self, s: CK_SESSION_HANDLE, data: &[u8], buf: &mut [u8]) -> (CK_RV, usize) {
        // SAFETY: `data` is read for exactly its length; `into_call` passes
        // `buf` with `*len` writable bytes and a valid length pointer.
        into_call(buf, |p, n| unsafe {
            self.lib
                .C_Digest(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_DigestUpdate`.
    pub fn digest_update(&self, s: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
        // SAFETY: `data` is read for exactly its length.
        unsafe {
            self.lib
                .C_DigestUpdate(s, data.as_ptr() as *mut _, data.len() as CK_ULONG)
        }
    }

    /// `C_DigestFinal`.
    pub fn digest_final(&self, s: CK_SESSION_HANDLE, out: Out) -> Output {
        // SAFETY: output pointers from `out_call`.
        out_call(out, |p, n| unsafe { self.lib.C_DigestFinal(s, p, n) })
    }

    /// `C_SignInit`.
    pub fn sign_init(&self, s: CK_SESSION_HANDLE, m: &Mech, key: CK_OBJECT_HANDLE) -> CK_RV {
        // SAFETY: as for `digest_init`.
        Self::with_mech(Some(m), |p| unsafe { self.lib.C_SignInit(s, p, key) })
    }

    /// `C_Sign`.
    pub fn sign(&self, s: CK_SESSION_HANDLE, data: &[u8], out: Out) -> Output {
        // SAFETY: as for `digest`.
        out_call(out, |p, n| unsafe {
            self.lib
                .C_Sign(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_Sign` into `buf`: (rv, signature length).
    pub fn sign_into(&self, s: CK_SESSION_HANDLE, data: &[u8], buf: &mut [u8]) -> (CK_RV, usize) {
        // SAFETY: as for `digest_into`.
        into_call(buf, |p, n| unsafe {
            self.lib
                .C_Sign(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_SignUpdate`.
    pub fn sign_update(&self, s: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
        // SAFETY: `data` is read for exactly its length.
        unsafe {
            self.lib
                .C_SignUpdate(s, data.as_ptr() as *mut _, data.len() as CK_ULONG)
        }
    }

    /// `C_SignFinal`.
    pub fn sign_final(&self, s: CK_SESSION_HANDLE, out: Out) -> Output {
        // SAFETY: output pointers from `out_call`.
        out_call(out, |p, n| unsafe { self.lib.C_SignFinal(s, p, n) })
    }

    /// `C_VerifyInit`.
    pub fn verify_init(&self, s: CK_SESSION_HANDLE, m: &Mech, key: CK_OBJECT_HANDLE) -> CK_RV {
        // SAFETY: as for `digest_init`.
        Self::with_mech(Some(m), |p| unsafe { self.lib.C_VerifyInit(s, p, key) })
    }

    /// `C_Verify`.
    pub fn verify(&self, s: CK_SESSION_HANDLE, data: &[u8], sig: &[u8]) -> CK_RV {
        // SAFETY: both buffers are read for exactly their lengths.
        unsafe {
            self.lib.C_Verify(
                s,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                sig.as_ptr() as *mut _,
                sig.len() as CK_ULONG,
            )
        }
    }

    /// `C_VerifyUpdate`.
    pub fn verify_update(&self, s: CK_SESSION_HANDLE, data: &[u8]) -> CK_RV {
        // SAFETY: `data` is read for exactly its length.
        unsafe {
            self.lib
                .C_VerifyUpdate(s, data.as_ptr() as *mut _, data.len() as CK_ULONG)
        }
    }

    /// `C_VerifyFinal`.
    pub fn verify_final(&self, s: CK_SESSION_HANDLE, sig: &[u8]) -> CK_RV {
        // SAFETY: `sig` is read for exactly its length.
        unsafe {
            self.lib
                .C_VerifyFinal(s, sig.as_ptr() as *mut _, sig.len() as CK_ULONG)
        }
    }

    /// `C_EncryptInit`.
    pub fn encrypt_init(&self, s: CK_SESSION_HANDLE, m: &Mech, key: CK_OBJECT_HANDLE) -> CK_RV {
        // SAFETY: as for `digest_init`.
        Self::with_mech(Some(m), |p| unsafe { self.lib.C_EncryptInit(s, p, key) })
    }

    /// `C_Encrypt`.
    pub fn encrypt(&self, s: CK_SESSION_HANDLE, data: &[u8], out: Out) -> Output {
        // SAFETY: as for `digest`.
        out_call(out, |p, n| unsafe {
            self.lib
                .C_Encrypt(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_DecryptInit`.
    pub fn decrypt_init(&self, s: CK_SESSION_HANDLE, m: &Mech, key: CK_OBJECT_HANDLE) -> CK_RV {
        // SAFETY: as for `digest_init`.
        Self::with_mech(Some(m), |p| unsafe { self.lib.C_DecryptInit(s, p, key) })
    }

    /// `C_Decrypt`.
    pub fn decrypt(&self, s: CK_SESSION_HANDLE, data: &[u8], out: Out) -> Output {
        // SAFETY: as for `digest`.
        out_call(out, |p, n| unsafe {
            self.lib
                .C_Decrypt(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_EncryptUpdate`.
    pub fn encrypt_update(&self, s: CK_SESSION_HANDLE, data: &[u8], out: Out) -> Output {
        // SAFETY: as for `digest`.
        out_call(out, |p, n| unsafe {
            self.lib
                .C_EncryptUpdate(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_EncryptFinal`.
    pub fn encrypt_final(&self, s: CK_SESSION_HANDLE, out: Out) -> Output {
        // SAFETY: output pointers from `out_call`.
        out_call(out, |p, n| unsafe { self.lib.C_EncryptFinal(s, p, n) })
    }

    /// `C_DecryptUpdate`.
    pub fn decrypt_update(&self, s: CK_SESSION_HANDLE, data: &[u8], out: Out) -> Output {
        // SAFETY: as for `digest`.
        out_call(out, |p, n| unsafe {
            self.lib
                .C_DecryptUpdate(s, data.as_ptr() as *mut _, data.len() as CK_ULONG, p, n)
        })
    }

    /// `C_DecryptFinal`.
    pub fn decrypt_final(&self, s: CK_SESSION_HANDLE, out: Out) -> Output {
        // SAFETY: output pointers from `out_call`.
        out_call(out, |p, n| unsafe { self.lib.C_DecryptFinal(s, p, n) })
    }

    /// `C_WrapKey`.
    pub fn wrap_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: &Mech,
        wrapping: CK_OBJECT_HANDLE,
        key: CK_OBJECT_HANDLE,
        out: Out,
    ) -> Output {
        Self::with_mech(Some(m), |mp| {
            // SAFETY: mechanism as for `digest_init` (alive for this
            // closure); output pointers from `out_call`.
            out_call(out, |p, n| unsafe {
                self.lib.C_WrapKey(s, mp, wrapping, key, p, n)
            })
        })
    }

    /// `C_UnwrapKey`.
    pub fn unwrap_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: &Mech,
        unwrapping: CK_OBJECT_HANDLE,
        wrapped: &[u8],
        t: &Template,
    ) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut raw = t.raw();
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: mechanism and template as for `generate_key`; `wrapped`
        // is read for exactly its length.
        let rv = Self::with_mech(Some(m), |p| unsafe {
            self.lib.C_UnwrapKey(
                s,
                p,
                unwrapping,
                wrapped.as_ptr() as *mut _,
                wrapped.len() as CK_ULONG,
                raw.as_mut_ptr(),
                raw.len() as CK_ULONG,
                &mut h,
            )
        });
        (rv, h)
    }

    /// `C_DeriveKey`.
    pub fn derive_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: &Mech,
        base: CK_OBJECT_HANDLE,
        t: &Template,
    ) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut raw = t.raw();
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: mechanism and template as for `generate_key`.
        let rv = Self::with_mech(Some(m), |p| unsafe {
            self.lib
                .C_DeriveKey(s, p, base, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h)
        });
        (rv, h)
    }

    /// `C_GenerateKey`.
    pub fn generate_key(
        &self,
        s: CK_SESSION_HANDLE,
        m: &Mech,
        t: &Template,
    ) -> (CK_RV, CK_OBJECT_HANDLE) {
        let mut raw = t.raw();
        let mut h = CK_INVALID_HANDLE;
        // SAFETY: mechanism and template as above; `h` a valid out-pointer.
        let rv = Self::with_mech(Some(m), |p| unsafe {
            self.lib
                .C_GenerateKey(s, p, raw.as_mut_ptr(), raw.len() as CK_ULONG, &mut h)
        });
        (rv, h)
    }

    /// `C_GenerateKeyPair`: (rv, public, private).
    pub fn generate_key_pair(
        &self,
        s: CK_SESSION_HANDLE,
        m: &Mech,
        public: &Template,
        private: &Template,
    ) -> (CK_RV, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
        let mut pubt = public.raw();
        let mut privt = private.raw();
        let (mut hp, mut hk) = (CK_INVALID_HANDLE, CK_INVALID_HANDLE);
        // SAFETY: both templates point into owned values alive across the
        // call; the handles are valid out-pointers.
        let rv = Self::with_mech(Some(m), |p| unsafe {
            self.lib.C_GenerateKeyPair(
                s,
                p,
                pubt.as_mut_ptr(),
                pubt.len() as CK_ULONG,
                privt.as_mut_ptr(),
                privt.len() as CK_ULONG,
                &mut hp,
                &mut hk,
            )
        });
        (rv, hp, hk)
    }

    /// `C_GenerateRandom` into `n` bytes.
    pub fn generate_random(&self, s: CK_SESSION_HANDLE, n: usize) -> (CK_RV, Vec<u8>) {
        let mut buf = vec![0u8; n];
        // SAFETY: `buf` has exactly `n` writable bytes.
        let rv = unsafe {
            self.lib
                .C_GenerateRandom(s, buf.as_mut_ptr(), n as CK_ULONG)
        };
        (rv, buf)
    }

    /// `C_GenerateRandom(NULL, 16)` (a bad argument).
    pub fn generate_random_null(&self, s: CK_SESSION_HANDLE) -> CK_RV {
        // SAFETY: a NULL buffer with a non-zero length must be refused.
        unsafe { self.lib.C_GenerateRandom(s, null::<u8>() as *mut u8, 16) }
    }
}
