//! The C ABI contract of `libtokenemu.so`, checked through raw calls where
//! cryptoki cannot express the input (NULL pointers, short buffers, bad
//! handles, bad init args) and through cryptoki where it can.
//!
//! Needs the built module: `cargo build -p tokenemu-pkcs11`.

mod common;

use std::ffi::c_void;
use std::ptr::null_mut;

use common::{assert_rv, Ctx, ETOKEN};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki_sys::*;
use serial_test::serial;

/// Ensures the library is not initialised (a previous test may have failed
/// half-way); returns the raw API.
fn fresh_raw() -> cryptoki_sys::Pkcs11 {
    let raw = common::raw();
    // SAFETY: NULL pReserved is the documented argument.
    let _ = unsafe { raw.C_Finalize(null_mut()) };
    raw
}

/// The raw 2.40 function list.
fn function_list(raw: &cryptoki_sys::Pkcs11) -> &'static CK_FUNCTION_LIST {
    let mut list: *mut CK_FUNCTION_LIST = null_mut();
    // SAFETY: list is a valid out-pointer.
    assert_ckr!(unsafe { raw.C_GetFunctionList(&mut list) }, CKR_OK);
    assert!(!list.is_null());
    // SAFETY: the module returns a pointer to a static list.
    unsafe { &*list }
}

/// The raw interface list.
fn interfaces(raw: &cryptoki_sys::Pkcs11) -> Vec<CK_INTERFACE> {
    let mut n: CK_ULONG = 0;
    assert_ckr!(
        // SAFETY: NULL list asks for the count.
        unsafe { raw.C_GetInterfaceList(null_mut(), &mut n) },
        CKR_OK
    );
    let mut v = vec![
        CK_INTERFACE {
            pInterfaceName: null_mut(),
            pFunctionList: null_mut(),
            flags: 0
        };
        n as usize
    ];
    assert_ckr!(
        // SAFETY: v has room for n entries.
        unsafe { raw.C_GetInterfaceList(v.as_mut_ptr(), &mut n) },
        CKR_OK
    );
    v
}

/// The version at the start of any function list.
fn list_version(p: *mut c_void) -> (u8, u8) {
    // SAFETY: every function list struct starts with a CK_VERSION.
    let v = unsafe { *(p as *const CK_VERSION) };
    (v.major, v.minor)
}

/// Counts NULL function pointers in a function-list struct of `n` entries.
fn null_entries(p: *const c_void, n: usize) -> usize {
    // SAFETY: the list is CK_VERSION (padded to a pointer) + n function
    // pointers, all pointer-sized; we read n + 1 words of it.
    let words = unsafe { std::slice::from_raw_parts(p as *const usize, n + 1) };
    words[1..].iter().filter(|w| **w == 0).count()
}

// ---- function lists and interfaces -------------------------------------------

#[test]
#[serial]
fn function_list_is_240_and_complete() {
    let raw = fresh_raw();
    let list = function_list(&raw);
    assert_eq!((list.version.major, list.version.minor), (2, 40));
    assert_eq!(std::mem::size_of::<CK_FUNCTION_LIST>(), 8 + 68 * 8);
    assert_eq!(null_entries(list as *const _ as *const c_void, 68), 0);
    assert_ckr!(
        // SAFETY: NULL out-pointer must be rejected, not dereferenced.
        unsafe { raw.C_GetFunctionList(null_mut()) },
        CKR_ARGUMENTS_BAD
    );
}

#[test]
#[serial]
fn interface_list_offers_30_then_240() {
    let raw = fresh_raw();
    let ifs = interfaces(&raw);
    assert_eq!(ifs.len(), 2);
    for i in &ifs {
        // SAFETY: the name is a NUL-terminated static string.
        let name = unsafe { std::ffi::CStr::from_ptr(i.pInterfaceName as *const std::ffi::c_char) };
        assert_eq!(name.to_str().unwrap(), "PKCS 11");
        assert_eq!(i.flags, 0);
    }
    assert_eq!(list_version(ifs[0].pFunctionList), (3, 0));
    assert_eq!(list_version(ifs[1].pFunctionList), (2, 40));
    assert_eq!(std::mem::size_of::<CK_FUNCTION_LIST_3_0>(), 8 + 92 * 8);
    assert_eq!(null_entries(ifs[0].pFunctionList, 92), 0);
    assert_eq!(null_entries(ifs[1].pFunctionList, 68), 0);

    let mut one = [ifs[0]];
    let mut n: CK_ULONG = 1;
    assert_ckr!(
        // SAFETY: one has room for n entries.
        unsafe { raw.C_GetInterfaceList(one.as_mut_ptr(), &mut n) },
        CKR_BUFFER_TOO_SMALL
    );
    assert_eq!(n, 2);
    assert_ckr!(
        // SAFETY: NULL count must be rejected.
        unsafe { raw.C_GetInterfaceList(null_mut(), null_mut()) },
        CKR_ARGUMENTS_BAD
    );
}

#[test]
#[serial]
fn get_interface_variants() {
    let raw = fresh_raw();
    let mut name = *b"PKCS 11\0";
    let get = |name: *mut u8, version: Option<(u8, u8)>, flags: CK_FLAGS| {
        let mut v = version.map(|(major, minor)| CK_VERSION { major, minor });
        let pv = v.as_mut().map_or(null_mut(), |v| v as *mut CK_VERSION);
        let mut out: *mut CK_INTERFACE = null_mut();
        // SAFETY: all pointers are valid or NULL as the spec allows.
        let rv = unsafe { raw.C_GetInterface(name, pv, &mut out, flags) };
        // SAFETY: on success out points to a static interface.
        (
            rv,
            (rv == CKR_OK).then(|| list_version(unsafe { (*out).pFunctionList })),
        )
    };
    assert_eq!(get(null_mut(), None, 0), (CKR_OK, Some((3, 0))));
    assert_eq!(get(name.as_mut_ptr(), None, 0), (CKR_OK, Some((3, 0))));
    assert_eq!(
        get(name.as_mut_ptr(), Some((2, 40)), 0),
        (CKR_OK, Some((2, 40)))
    );
    assert_eq!(get(null_mut(), Some((3, 0)), 0), (CKR_OK, Some((3, 0))));
    assert_eq!(get(null_mut(), Some((3, 1)), 0).0, CKR_ARGUMENTS_BAD);
    assert_eq!(get(null_mut(), Some((2, 11)), 0).0, CKR_ARGUMENTS_BAD);
    let mut other = *b"Vendor\0";
    assert_eq!(get(other.as_mut_ptr(), None, 0).0, CKR_ARGUMENTS_BAD);
    assert_eq!(
        get(null_mut(), None, CKF_INTERFACE_FORK_SAFE).0,
        CKR_ARGUMENTS_BAD
    );
    assert_ckr!(
        // SAFETY: NULL ppInterface must be rejected.
        unsafe { raw.C_GetInterface(null_mut(), null_mut(), null_mut(), 0) },
        CKR_ARGUMENTS_BAD
    );
}

#[test]
#[serial]
fn get_info_agrees_with_the_list() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let info = ctx.p11().get_library_info().unwrap();
    // cryptoki uses C_GetInterface's default: the 3.0 list.
    assert_eq!(
        (
            info.cryptoki_version().major(),
            info.cryptoki_version().minor()
        ),
        (3, 0)
    );
    let mut ci = CK_INFO::default();
    // SAFETY: ci is a valid CK_INFO.
    assert_ckr!(unsafe { raw.C_GetInfo(&mut ci) }, CKR_OK);
    assert_eq!(
        (ci.cryptokiVersion.major, ci.cryptokiVersion.minor),
        (2, 40)
    );
    let list = function_list(&raw);
    // SAFETY: as above, through the 2.40 list.
    assert_ckr!(unsafe { (list.C_GetInfo.unwrap())(&mut ci) }, CKR_OK);
    assert_eq!(
        (ci.cryptokiVersion.major, ci.cryptokiVersion.minor),
        (2, 40)
    );
    let v3 = interfaces(&raw)[0].pFunctionList as *const CK_FUNCTION_LIST_3_0;
    // SAFETY: the first interface is the 3.0 list.
    assert_ckr!(unsafe { ((*v3).C_GetInfo.unwrap())(&mut ci) }, CKR_OK);
    assert_eq!((ci.cryptokiVersion.major, ci.cryptokiVersion.minor), (3, 0));
    assert!(ci.flags == 0);
    // SAFETY: NULL must be rejected.
    assert_ckr!(unsafe { raw.C_GetInfo(null_mut()) }, CKR_ARGUMENTS_BAD);
}

// ---- initialisation ----------------------------------------------------------

#[test]
#[serial]
fn calls_before_initialize_are_refused() {
    let raw = fresh_raw();
    let _env = common::TestEnv::new(common::DEFAULT_SLOTS);
    let mut n: CK_ULONG = 0;
    let mut info = CK_INFO::default();
    let mut h: CK_SESSION_HANDLE = 0;
    let mut slot: CK_SLOT_ID = 0;
    // SAFETY: every pointer is valid; the library must refuse before using them.
    unsafe {
        assert_ckr!(raw.C_GetInfo(&mut info), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_ckr!(
            raw.C_GetSlotList(CK_FALSE as CK_BBOOL, null_mut(), &mut n),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_ckr!(
            raw.C_OpenSession(0, CKF_SERIAL_SESSION, null_mut(), None, &mut h),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_ckr!(raw.C_CloseSession(1), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_ckr!(
            raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, null_mut()),
            CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_ckr!(raw.C_GetFunctionStatus(1), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_ckr!(raw.C_MessageSignFinal(1), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_ckr!(raw.C_Finalize(null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
        // These need no initialisation.
        let mut list: *mut CK_FUNCTION_LIST = null_mut();
        assert_ckr!(raw.C_GetFunctionList(&mut list), CKR_OK);
        assert_ckr!(raw.C_GetInterfaceList(null_mut(), &mut n), CKR_OK);
    }
}

#[test]
#[serial]
fn double_initialize_and_reinitialize() {
    let raw = fresh_raw();
    let _env = common::TestEnv::new(common::DEFAULT_SLOTS);
    // SAFETY: NULL init args are allowed.
    unsafe {
        assert_ckr!(raw.C_Initialize(null_mut()), CKR_OK);
        assert_ckr!(
            raw.C_Initialize(null_mut()),
            CKR_CRYPTOKI_ALREADY_INITIALIZED
        );
        assert_ckr!(raw.C_Finalize(null_mut()), CKR_OK);
        assert_ckr!(raw.C_Finalize(null_mut()), CKR_CRYPTOKI_NOT_INITIALIZED);
        assert_ckr!(raw.C_Initialize(null_mut()), CKR_OK);
        assert_ckr!(raw.C_Finalize(null_mut()), CKR_OK);
    }
}

unsafe extern "C" fn create_mutex(pp: *mut *mut c_void) -> CK_RV {
    // SAFETY: the caller passes a valid out-pointer; we hand out a dummy.
    unsafe { *pp = std::ptr::dangling_mut::<c_void>() };
    CKR_OK
}
unsafe extern "C" fn mutex_op(_: *mut c_void) -> CK_RV {
    CKR_OK
}

fn init_args(flags: CK_FLAGS) -> CK_C_INITIALIZE_ARGS {
    CK_C_INITIALIZE_ARGS {
        CreateMutex: None,
        DestroyMutex: None,
        LockMutex: None,
        UnlockMutex: None,
        flags,
        pReserved: null_mut(),
    }
}

#[test]
#[serial]
fn initialize_argument_rules() {
    let raw = fresh_raw();
    let _env = common::TestEnv::new(common::DEFAULT_SLOTS);
    let init = |a: &mut CK_C_INITIALIZE_ARGS| {
        // SAFETY: a is a valid CK_C_INITIALIZE_ARGS.
        let rv = unsafe { raw.C_Initialize(a as *mut CK_C_INITIALIZE_ARGS as *mut c_void) };
        if rv == CKR_OK {
            // SAFETY: NULL pReserved.
            unsafe { raw.C_Finalize(null_mut()) };
        }
        rv
    };
    let mut reserved = 0u8;
    let mut a = init_args(CKF_OS_LOCKING_OK);
    a.pReserved = (&mut reserved as *mut u8).cast();
    assert_ckr!(init(&mut a), CKR_ARGUMENTS_BAD);
    let mut a = init_args(0);
    a.CreateMutex = Some(create_mutex);
    assert_ckr!(init(&mut a), CKR_ARGUMENTS_BAD);
    // All four callbacks, without CKF_OS_LOCKING_OK: accepted (we always lock internally).
    a.DestroyMutex = Some(mutex_op);
    a.LockMutex = Some(mutex_op);
    a.UnlockMutex = Some(mutex_op);
    assert_ckr!(init(&mut a), CKR_OK);
    assert_ckr!(init(&mut init_args(0)), CKR_OK);
    assert_ckr!(
        init(&mut init_args(
            CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS
        )),
        CKR_OK
    );
    // C_Finalize with a non-NULL pReserved.
    // SAFETY: NULL args, then a bogus pReserved that must not be dereferenced.
    unsafe {
        assert_ckr!(raw.C_Initialize(null_mut()), CKR_OK);
        assert_ckr!(
            raw.C_Finalize((&mut reserved as *mut u8).cast()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(raw.C_Finalize(null_mut()), CKR_OK);
    }
}

#[test]
#[serial]
fn bad_configuration_fails_initialize() {
    let raw = fresh_raw();
    let env = common::TestEnv::new(common::DEFAULT_SLOTS);
    std::fs::write(
        &env.conf,
        "[[slot]]\nid = 0\nprofile = \"no-such-profile\"\n",
    )
    .unwrap();
    // SAFETY: NULL init args.
    assert_ckr!(unsafe { raw.C_Initialize(null_mut()) }, CKR_GENERAL_ERROR);
    assert_ckr!(
        // SAFETY: not initialised.
        unsafe { raw.C_Finalize(null_mut()) },
        CKR_CRYPTOKI_NOT_INITIALIZED
    );
}

// ---- NULL pointers and handles -----------------------------------------------

#[test]
#[serial]
fn null_pointers_are_arguments_bad() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let h = s.handle();
    let mut n: CK_ULONG = 0;
    let mut mech = CK_MECHANISM {
        mechanism: CKM_SHA256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    // SAFETY: each call passes NULL where the spec requires a pointer; the
    // library must reject it without dereferencing.
    unsafe {
        assert_ckr!(
            raw.C_GetSlotList(CK_TRUE as CK_BBOOL, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(raw.C_GetSlotInfo(ETOKEN, null_mut()), CKR_ARGUMENTS_BAD);
        assert_ckr!(raw.C_GetTokenInfo(ETOKEN, null_mut()), CKR_ARGUMENTS_BAD);
        assert_ckr!(
            raw.C_GetMechanismList(ETOKEN, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(
            raw.C_GetMechanismInfo(ETOKEN, CKM_SHA256, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(
            raw.C_OpenSession(ETOKEN, CKF_SERIAL_SESSION, null_mut(), None, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(raw.C_GetSessionInfo(h, null_mut()), CKR_ARGUMENTS_BAD);
        assert_ckr!(raw.C_Login(h, CKU_USER, null_mut(), 6), CKR_ARGUMENTS_BAD);
        assert_ckr!(
            raw.C_InitToken(ETOKEN, null_mut(), 0, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(
            raw.C_CreateObject(h, null_mut(), 0, null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(
            raw.C_CreateObject(h, null_mut(), 3, &mut n),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(raw.C_FindObjectsInit(h, null_mut(), 2), CKR_ARGUMENTS_BAD);
        assert_ckr!(
            raw.C_GetAttributeValue(h, 1, null_mut(), 1),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(raw.C_DigestInit(h, null_mut()), CKR_ARGUMENTS_BAD);
        assert_ckr!(raw.C_SignInit(h, null_mut(), 1), CKR_ARGUMENTS_BAD);
        assert_ckr!(raw.C_GenerateRandom(h, null_mut(), 16), CKR_ARGUMENTS_BAD);
        assert_ckr!(
            raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        let mut slot = 0;
        let mut x = 0u8;
        assert_ckr!(
            raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, (&mut x as *mut u8).cast()),
            CKR_ARGUMENTS_BAD
        );
        // A digest operation, then NULL length pointers.
        assert_ckr!(raw.C_DigestInit(h, &mut mech), CKR_OK);
        let mut data = *b"abc";
        assert_ckr!(
            raw.C_Digest(h, data.as_mut_ptr(), 3, null_mut(), null_mut()),
            CKR_ARGUMENTS_BAD
        );
        assert_ckr!(raw.C_DigestUpdate(h, null_mut(), 3), CKR_ARGUMENTS_BAD);
    }
}

#[test]
#[serial]
fn invalid_handles() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let h = s.handle();
    let mut info = CK_SESSION_INFO::default();
    let mut sinfo = CK_SLOT_INFO::default();
    let mut mech = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut label = [0u8; 16];
    let mut attr = [CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: label.as_mut_ptr().cast(),
        ulValueLen: 16,
    }];
    let mut n: CK_ULONG = 0;
    // SAFETY: valid pointers throughout; only handles are bogus.
    unsafe {
        assert_ckr!(raw.C_GetSlotInfo(4242, &mut sinfo), CKR_SLOT_ID_INVALID);
        assert_ckr!(
            raw.C_GetMechanismList(4242, null_mut(), &mut n),
            CKR_SLOT_ID_INVALID
        );
        assert_ckr!(raw.C_CloseAllSessions(4242), CKR_SLOT_ID_INVALID);
        assert_ckr!(
            raw.C_GetSessionInfo(0xdead, &mut info),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_ckr!(raw.C_CloseSession(0xdead), CKR_SESSION_HANDLE_INVALID);
        assert_ckr!(raw.C_Logout(0xdead), CKR_SESSION_HANDLE_INVALID);
        assert_ckr!(raw.C_GetFunctionStatus(0xdead), CKR_SESSION_HANDLE_INVALID);
        assert_ckr!(raw.C_GetFunctionStatus(h), CKR_FUNCTION_NOT_PARALLEL);
        assert_ckr!(raw.C_CancelFunction(h), CKR_FUNCTION_NOT_PARALLEL);
        assert_ckr!(
            raw.C_GetOperationState(0xdead, null_mut(), &mut n),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_ckr!(
            raw.C_GetOperationState(h, null_mut(), &mut n),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_ckr!(
            raw.C_SetOperationState(h, null_mut(), 0, 0, 0),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_ckr!(
            raw.C_GetAttributeValue(h, 0xbeef, attr.as_mut_ptr(), 1),
            CKR_OBJECT_HANDLE_INVALID
        );
        assert_ckr!(raw.C_DestroyObject(h, 0xbeef), CKR_OBJECT_HANDLE_INVALID);
        assert_ckr!(raw.C_SignInit(h, &mut mech, 0xbeef), CKR_KEY_HANDLE_INVALID);
        assert_ckr!(
            raw.C_SignInit(0xdead, &mut mech, 0xbeef),
            CKR_SESSION_HANDLE_INVALID
        );
        assert_ckr!(
            raw.C_WrapKey(h, &mut mech, 1, 2, null_mut(), &mut n),
            CKR_MECHANISM_INVALID
        );
        assert_ckr!(
            raw.C_UnwrapKey(
                0xdead,
                &mut mech,
                1,
                null_mut(),
                0,
                null_mut(),
                0,
                null_mut()
            ),
            CKR_SESSION_HANDLE_INVALID
        );
        // A signature mechanism does not derive (CKF_DERIVE unset).
        let mut derived: CK_OBJECT_HANDLE = 0;
        assert_ckr!(
            raw.C_DeriveKey(h, &mut mech, 1, null_mut(), 0, &mut derived),
            CKR_MECHANISM_INVALID
        );
    }
}

#[test]
#[serial]
fn unsupported_30_functions() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let v3 = interfaces(&raw)[0].pFunctionList as *const CK_FUNCTION_LIST_3_0;
    // SAFETY: v3 is the static 3.0 list; arguments are never dereferenced.
    unsafe {
        let l = &*v3;
        assert_ckr!(
            (l.C_SessionCancel.unwrap())(s.handle(), 0),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_ckr!(
            (l.C_MessageEncryptInit.unwrap())(s.handle(), null_mut(), 0),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_ckr!(
            (l.C_LoginUser.unwrap())(s.handle(), CKU_USER, null_mut(), 0, null_mut(), 0),
            CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_ckr!(
            (l.C_MessageVerifyFinal.unwrap())(s.handle()),
            CKR_FUNCTION_NOT_SUPPORTED
        );
    }
}

// ---- caps on caller-controlled sizes -----------------------------------------

#[test]
#[serial]
fn oversized_templates_are_refused() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let mut v = [0u8; 1];
    let a = CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: v.as_mut_ptr().cast(),
        ulValueLen: 1,
    };
    let mut many = vec![a; 4097];
    let mut out: CK_OBJECT_HANDLE = 0;
    assert_ckr!(
        // SAFETY: many holds 4097 attributes.
        unsafe { raw.C_CreateObject(s.handle(), many.as_mut_ptr(), 4097, &mut out) },
        CKR_ARGUMENTS_BAD
    );
    // A value length above 64 MiB is refused before it is read.
    let mut huge = [CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: v.as_mut_ptr().cast(),
        ulValueLen: (64 << 20) + 1,
    }];
    assert_ckr!(
        // SAFETY: the length is rejected before pValue is read.
        unsafe { raw.C_FindObjectsInit(s.handle(), huge.as_mut_ptr(), 1) },
        CKR_ARGUMENTS_BAD
    );
}

// ---- mechanism parameters ----------------------------------------------------

#[test]
#[serial]
fn mechanism_parameters_are_checked() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (_, private) = common::rsa_session_pair(&s, 1024);
    let mut pss = CK_RSA_PKCS_PSS_PARAMS {
        hashAlg: CKM_SHA256,
        mgf: CKG_MGF1_SHA256,
        sLen: 32,
    };
    let size = std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG;
    let mut m = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS_PSS,
        pParameter: (&mut pss as *mut CK_RSA_PKCS_PSS_PARAMS).cast(),
        ulParameterLen: size - 8,
    };
    // SAFETY: m and its parameter are valid; only the size is wrong.
    unsafe {
        assert_ckr!(
            raw.C_SignInit(s.handle(), &mut m, private.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        m.ulParameterLen = 0;
        m.pParameter = null_mut();
        assert_ckr!(
            raw.C_SignInit(s.handle(), &mut m, private.handle()),
            CKR_MECHANISM_PARAM_INVALID
        );
        let mut d = CK_MECHANISM {
            mechanism: CKM_SHA256,
            pParameter: (&mut pss as *mut CK_RSA_PKCS_PSS_PARAMS).cast(),
            ulParameterLen: size,
        };
        assert_ckr!(
            raw.C_DigestInit(s.handle(), &mut d),
            CKR_MECHANISM_PARAM_INVALID
        );
        m.pParameter = (&mut pss as *mut CK_RSA_PKCS_PSS_PARAMS).cast();
        m.ulParameterLen = size;
        assert_ckr!(raw.C_SignInit(s.handle(), &mut m, private.handle()), CKR_OK);
    }
}

// ---- the two-call size protocol ----------------------------------------------

#[test]
#[serial]
fn slot_list_size_protocol() {
    let raw = fresh_raw();
    let _ctx = Ctx::new();
    let mut n: CK_ULONG = 0;
    // SAFETY: valid pointers; NULL list asks for the count.
    unsafe {
        assert_ckr!(
            raw.C_GetSlotList(CK_FALSE as CK_BBOOL, null_mut(), &mut n),
            CKR_OK
        );
        assert_eq!(n, 3);
        let mut slots = [0 as CK_SLOT_ID; 3];
        let mut small: CK_ULONG = 2;
        assert_ckr!(
            raw.C_GetSlotList(CK_FALSE as CK_BBOOL, slots.as_mut_ptr(), &mut small),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(small, 3);
        assert_ckr!(
            raw.C_GetSlotList(CK_FALSE as CK_BBOOL, slots.as_mut_ptr(), &mut n),
            CKR_OK
        );
        assert_eq!(slots, [0, 1, 2]);
    }
}

#[test]
#[serial]
fn mechanism_list_size_protocol() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let mut n: CK_ULONG = 0;
    // SAFETY: valid pointers; NULL list asks for the count.
    unsafe {
        assert_ckr!(raw.C_GetMechanismList(ETOKEN, null_mut(), &mut n), CKR_OK);
        assert!(n > 1);
        let mut v = vec![0 as CK_MECHANISM_TYPE; n as usize];
        let mut small = n - 1;
        assert_ckr!(
            raw.C_GetMechanismList(ETOKEN, v.as_mut_ptr(), &mut small),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(small, n);
        assert_ckr!(
            raw.C_GetMechanismList(ETOKEN, v.as_mut_ptr(), &mut n),
            CKR_OK
        );
        // cryptoki drops the types it has no name for; all it knows are ours.
        let via_cryptoki = ctx.p11().get_mechanism_list(ctx.slot(ETOKEN)).unwrap();
        assert!(via_cryptoki
            .iter()
            .all(|m| v.contains(&CK_MECHANISM_TYPE::from(*m))));
    }
}

#[test]
#[serial]
fn attribute_value_size_protocol_and_unavailable_information() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let data = s
        .create_object(&[
            Attribute::Class(cryptoki::object::ObjectClass::DATA),
            Attribute::Token(false),
            Attribute::Label(b"twelve bytes".to_vec()),
            Attribute::Value(vec![7; 40]),
        ])
        .unwrap();
    let (_, private) = common::rsa_session_pair(&s, 1024);
    let h = s.handle();
    let attr = |ty, p: *mut u8, len| CK_ATTRIBUTE {
        type_: ty,
        pValue: p.cast(),
        ulValueLen: len,
    };
    // SAFETY: every pValue is NULL or a buffer of at least ulValueLen bytes.
    unsafe {
        // NULL pValue → lengths.
        let mut t = [
            attr(CKA_LABEL, null_mut(), 0),
            attr(CKA_VALUE, null_mut(), 0),
        ];
        assert_ckr!(
            raw.C_GetAttributeValue(h, data.handle(), t.as_mut_ptr(), 2),
            CKR_OK
        );
        assert_eq!((t[0].ulValueLen, t[1].ulValueLen), (12, 40));
        // Too small for one, right for the other: both processed.
        let (mut small, mut big) = ([0u8; 4], [0u8; 64]);
        let mut t = [
            attr(CKA_LABEL, small.as_mut_ptr(), 4),
            attr(CKA_VALUE, big.as_mut_ptr(), 64),
        ];
        assert_ckr!(
            raw.C_GetAttributeValue(h, data.handle(), t.as_mut_ptr(), 2),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[1].ulValueLen, 40);
        assert_eq!(&big[..40], &[7; 40][..]);
        // Type invalid + buffer too small: TYPE_INVALID wins (documented priority).
        let mut t = [
            attr(CKA_MODULUS, big.as_mut_ptr(), 64),
            attr(CKA_LABEL, small.as_mut_ptr(), 4),
        ];
        assert_ckr!(
            raw.C_GetAttributeValue(h, data.handle(), t.as_mut_ptr(), 2),
            CKR_ATTRIBUTE_TYPE_INVALID
        );
        assert_eq!(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        // Sensitive + type invalid + a good one: SENSITIVE wins, the good one is filled.
        let (mut e, mut m) = ([0u8; 512], [0u8; 512]);
        let mut t = [
            attr(CKA_PRIVATE_EXPONENT, e.as_mut_ptr(), 512),
            attr(CKA_VALUE, null_mut(), 0),
            attr(CKA_MODULUS, m.as_mut_ptr(), 512),
        ];
        assert_ckr!(
            raw.C_GetAttributeValue(h, private.handle(), t.as_mut_ptr(), 3),
            CKR_ATTRIBUTE_SENSITIVE
        );
        assert_eq!(t[0].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[2].ulValueLen, 128);
    }
}

#[test]
#[serial]
fn sign_size_protocol_keeps_the_operation() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.user_session(ETOKEN);
    let (public, private) = common::rsa_session_pair(&s, 1024);
    let h = s.handle();
    let mut mech = CK_MECHANISM {
        mechanism: CKM_SHA256_RSA_PKCS,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    let mut data = *b"the message";
    let mut sig = vec![0u8; 256];
    let mut len: CK_ULONG = 0;
    // SAFETY: all buffers are valid for the lengths given.
    unsafe {
        assert_ckr!(raw.C_SignInit(h, &mut mech, private.handle()), CKR_OK);
        assert_ckr!(
            raw.C_SignInit(h, &mut mech, private.handle()),
            CKR_OPERATION_ACTIVE
        );
        assert_ckr!(
            raw.C_Sign(h, data.as_mut_ptr(), 11, null_mut(), &mut len),
            CKR_OK
        );
        assert_eq!(len, 128);
        len = 10;
        assert_ckr!(
            raw.C_Sign(h, data.as_mut_ptr(), 11, sig.as_mut_ptr(), &mut len),
            CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(len, 128);
        len = 256;
        assert_ckr!(
            raw.C_Sign(h, data.as_mut_ptr(), 11, sig.as_mut_ptr(), &mut len),
            CKR_OK
        );
        assert_eq!(len, 128);
        // The operation is over.
        assert_ckr!(
            raw.C_Sign(h, data.as_mut_ptr(), 11, sig.as_mut_ptr(), &mut len),
            CKR_OPERATION_NOT_INITIALIZED
        );
    }
    sig.truncate(128);
    s.verify(&Mechanism::Sha256RsaPkcs, public, b"the message", &sig)
        .expect("signature verifies");
    assert_rv(
        s.verify(&Mechanism::Sha256RsaPkcs, public, b"another message", &sig),
        cryptoki::error::RvError::SignatureInvalid,
    );
}

#[test]
#[serial]
fn generate_random_fills_large_buffers() {
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let mut buf = vec![0u8; 200_000];
    s.generate_random_slice(&mut buf).unwrap();
    assert!(
        buf[150_000..].iter().any(|b| *b != 0),
        "the tail is filled too"
    );
}

// ---- fork --------------------------------------------------------------------

#[test]
#[serial]
fn forked_child_can_initialize_again() {
    let raw = fresh_raw();
    let _env = common::TestEnv::new(common::DEFAULT_SLOTS);
    // SAFETY: NULL args.
    assert_ckr!(unsafe { raw.C_Initialize(null_mut()) }, CKR_OK);
    // SAFETY: fork in a test process; the child only makes PKCS#11 calls
    // (which take locks no other thread holds across fork) and _exit()s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child_after_fork(&raw);
        // SAFETY: leave the child without running the test harness's atexit.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: pid is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child crashed: status {status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child step {} failed",
        libc::WEXITSTATUS(status)
    );
    // The parent is unaffected.
    let mut n: CK_ULONG = 0;
    // SAFETY: valid pointers.
    unsafe {
        assert_ckr!(
            raw.C_GetSlotList(CK_FALSE as CK_BBOOL, null_mut(), &mut n),
            CKR_OK
        );
        assert_ckr!(raw.C_Finalize(null_mut()), CKR_OK);
    }
}

/// Returns 0 on success, else the number of the step that failed.
fn child_after_fork(raw: &cryptoki_sys::Pkcs11) -> i32 {
    let mut n: CK_ULONG = 0;
    let mut h: CK_SESSION_HANDLE = 0;
    // SAFETY: valid pointers.
    unsafe {
        if raw.C_GetSlotList(CK_FALSE as CK_BBOOL, null_mut(), &mut n)
            != CKR_CRYPTOKI_NOT_INITIALIZED
        {
            return 1;
        }
        if raw.C_Initialize(null_mut()) != CKR_OK {
            return 2;
        }
        if raw.C_GetSlotList(CK_FALSE as CK_BBOOL, null_mut(), &mut n) != CKR_OK || n != 3 {
            return 3;
        }
        if raw.C_OpenSession(ETOKEN, CKF_SERIAL_SESSION, null_mut(), None, &mut h) != CKR_OK {
            return 4;
        }
        if raw.C_Finalize(null_mut()) != CKR_OK {
            return 5;
        }
    }
    0
}

// ---- robustness sweep ----------------------------------------------------------

/// Calls every 2.40 entry point with zero handles, NULL pointers and small
/// lengths, on a bogus session and on a real one: nothing may crash and
/// nothing may report `CKR_GENERAL_ERROR` (the boundary's panic answer).
#[test]
#[serial]
fn every_entry_point_survives_null_arguments() {
    let raw = fresh_raw();
    let ctx = Ctx::new();
    let s = ctx.rw(ETOKEN);
    let n: *mut c_void = null_mut();
    for h in [0xdead, s.handle()] {
        let k: CK_OBJECT_HANDLE = 0;
        // SAFETY: every pointer is NULL; lengths that come with a NULL pointer
        // must be rejected without dereferencing anything.
        let rvs = unsafe {
            [
                ("C_GetInfo", raw.C_GetInfo(n.cast())),
                ("C_GetSlotList", raw.C_GetSlotList(0, n.cast(), n.cast())),
                ("C_GetSlotInfo", raw.C_GetSlotInfo(ETOKEN, n.cast())),
                ("C_GetTokenInfo", raw.C_GetTokenInfo(ETOKEN, n.cast())),
                (
                    "C_GetMechanismList",
                    raw.C_GetMechanismList(ETOKEN, n.cast(), n.cast()),
                ),
                (
                    "C_GetMechanismInfo",
                    raw.C_GetMechanismInfo(ETOKEN, 0, n.cast()),
                ),
                (
                    "C_InitToken",
                    raw.C_InitToken(ETOKEN, n.cast(), 1, n.cast()),
                ),
                ("C_InitPIN", raw.C_InitPIN(h, n.cast(), 1)),
                ("C_SetPIN", raw.C_SetPIN(h, n.cast(), 1, n.cast(), 1)),
                (
                    "C_OpenSession",
                    raw.C_OpenSession(ETOKEN, CKF_SERIAL_SESSION, n, None, n.cast()),
                ),
                ("C_GetSessionInfo", raw.C_GetSessionInfo(h, n.cast())),
                (
                    "C_GetOperationState",
                    raw.C_GetOperationState(h, n.cast(), n.cast()),
                ),
                (
                    "C_SetOperationState",
                    raw.C_SetOperationState(h, n.cast(), 1, k, k),
                ),
                ("C_Login", raw.C_Login(h, CKU_USER, n.cast(), 1)),
                ("C_Logout", raw.C_Logout(h)),
                (
                    "C_CreateObject",
                    raw.C_CreateObject(h, n.cast(), 1, n.cast()),
                ),
                (
                    "C_CopyObject",
                    raw.C_CopyObject(h, k, n.cast(), 1, n.cast()),
                ),
                ("C_DestroyObject", raw.C_DestroyObject(h, k)),
                ("C_GetObjectSize", raw.C_GetObjectSize(h, k, n.cast())),
                (
                    "C_GetAttributeValue",
                    raw.C_GetAttributeValue(h, k, n.cast(), 1),
                ),
                (
                    "C_SetAttributeValue",
                    raw.C_SetAttributeValue(h, k, n.cast(), 1),
                ),
                ("C_FindObjectsInit", raw.C_FindObjectsInit(h, n.cast(), 1)),
                ("C_FindObjects", raw.C_FindObjects(h, n.cast(), 1, n.cast())),
                ("C_FindObjectsFinal", raw.C_FindObjectsFinal(h)),
                ("C_EncryptInit", raw.C_EncryptInit(h, n.cast(), k)),
                (
                    "C_Encrypt",
                    raw.C_Encrypt(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_EncryptUpdate",
                    raw.C_EncryptUpdate(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                ("C_EncryptFinal", raw.C_EncryptFinal(h, n.cast(), n.cast())),
                ("C_DecryptInit", raw.C_DecryptInit(h, n.cast(), k)),
                (
                    "C_Decrypt",
                    raw.C_Decrypt(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_DecryptUpdate",
                    raw.C_DecryptUpdate(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                ("C_DecryptFinal", raw.C_DecryptFinal(h, n.cast(), n.cast())),
                ("C_DigestInit", raw.C_DigestInit(h, n.cast())),
                ("C_Digest", raw.C_Digest(h, n.cast(), 1, n.cast(), n.cast())),
                ("C_DigestUpdate", raw.C_DigestUpdate(h, n.cast(), 1)),
                ("C_DigestKey", raw.C_DigestKey(h, k)),
                ("C_DigestFinal", raw.C_DigestFinal(h, n.cast(), n.cast())),
                ("C_SignInit", raw.C_SignInit(h, n.cast(), k)),
                ("C_Sign", raw.C_Sign(h, n.cast(), 1, n.cast(), n.cast())),
                ("C_SignUpdate", raw.C_SignUpdate(h, n.cast(), 1)),
                ("C_SignFinal", raw.C_SignFinal(h, n.cast(), n.cast())),
                ("C_SignRecoverInit", raw.C_SignRecoverInit(h, n.cast(), k)),
                (
                    "C_SignRecover",
                    raw.C_SignRecover(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                ("C_VerifyInit", raw.C_VerifyInit(h, n.cast(), k)),
                ("C_Verify", raw.C_Verify(h, n.cast(), 1, n.cast(), 1)),
                ("C_VerifyUpdate", raw.C_VerifyUpdate(h, n.cast(), 1)),
                ("C_VerifyFinal", raw.C_VerifyFinal(h, n.cast(), 1)),
                (
                    "C_VerifyRecoverInit",
                    raw.C_VerifyRecoverInit(h, n.cast(), k),
                ),
                (
                    "C_VerifyRecover",
                    raw.C_VerifyRecover(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_DigestEncryptUpdate",
                    raw.C_DigestEncryptUpdate(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_DecryptDigestUpdate",
                    raw.C_DecryptDigestUpdate(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_SignEncryptUpdate",
                    raw.C_SignEncryptUpdate(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_DecryptVerifyUpdate",
                    raw.C_DecryptVerifyUpdate(h, n.cast(), 1, n.cast(), n.cast()),
                ),
                (
                    "C_GenerateKey",
                    raw.C_GenerateKey(h, n.cast(), n.cast(), 1, n.cast()),
                ),
                (
                    "C_GenerateKeyPair",
                    raw.C_GenerateKeyPair(
                        h,
                        n.cast(),
                        n.cast(),
                        1,
                        n.cast(),
                        1,
                        n.cast(),
                        n.cast(),
                    ),
                ),
                (
                    "C_WrapKey",
                    raw.C_WrapKey(h, n.cast(), k, k, n.cast(), n.cast()),
                ),
                (
                    "C_UnwrapKey",
                    raw.C_UnwrapKey(h, n.cast(), k, n.cast(), 1, n.cast(), 1, n.cast()),
                ),
                (
                    "C_DeriveKey",
                    raw.C_DeriveKey(h, n.cast(), k, n.cast(), 1, n.cast()),
                ),
                ("C_SeedRandom", raw.C_SeedRandom(h, n.cast(), 1)),
                ("C_GenerateRandom", raw.C_GenerateRandom(h, n.cast(), 1)),
                ("C_GetFunctionStatus", raw.C_GetFunctionStatus(h)),
                ("C_CancelFunction", raw.C_CancelFunction(h)),
                (
                    "C_WaitForSlotEvent",
                    raw.C_WaitForSlotEvent(CKF_DONT_BLOCK, n.cast(), n),
                ),
            ]
        };
        for (name, rv) in rvs {
            assert_ne!(rv, CKR_GENERAL_ERROR, "{name} (session {h:#x})");
            assert_ne!(
                rv, CKR_OK,
                "{name} (session {h:#x}) accepted NULL arguments"
            );
        }
    }
}

/// Threads keep calling while the main thread finalizes and re-initialises:
/// in-flight calls keep their module alive, later ones see
/// `CKR_CRYPTOKI_NOT_INITIALIZED`, nothing crashes or reports a general error.
#[test]
#[serial]
fn finalize_races_with_running_calls() {
    let raw = fresh_raw();
    let _env = common::TestEnv::new(common::DEFAULT_SLOTS);
    // SAFETY: NULL init args.
    assert_ckr!(unsafe { raw.C_Initialize(null_mut()) }, CKR_OK);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let raw = common::raw();
                let mut calls = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let mut h: CK_SESSION_HANDLE = 0;
                    let mut n: CK_ULONG = 0;
                    // SAFETY: valid out-pointers.
                    let rvs = unsafe {
                        [
                            raw.C_GetSlotList(CK_TRUE as CK_BBOOL, null_mut(), &mut n),
                            raw.C_OpenSession(ETOKEN, CKF_SERIAL_SESSION, null_mut(), None, &mut h),
                            raw.C_CloseSession(h),
                        ]
                    };
                    for rv in rvs {
                        assert!(
                            matches!(
                                rv,
                                CKR_OK | CKR_CRYPTOKI_NOT_INITIALIZED | CKR_SESSION_HANDLE_INVALID
                            ),
                            "{}",
                            common::rv_name(rv)
                        );
                    }
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        // SAFETY: NULL reserved / init args.
        unsafe {
            assert_ckr!(raw.C_Finalize(null_mut()), CKR_OK);
            assert_ckr!(raw.C_Initialize(null_mut()), CKR_OK);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        assert!(w.join().expect("worker panicked") > 0);
    }
    // SAFETY: NULL reserved.
    assert_ckr!(unsafe { raw.C_Finalize(null_mut()) }, CKR_OK);
}
