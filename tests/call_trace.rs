//! `TOKENEMU_TRACE` holds one line per C call, whatever the call: before
//! `C_Initialize`, the general-purpose and slot functions, calls refused at
//! the C boundary for their pointers, unsupported functions, and
//! `C_Finalize`; each with the `CK_RV` its caller got.
//!
//! A separate test binary: the trace file is process-wide, chosen when the
//! library is first called. Needs the built module: `cargo build -p
//! tokenemu-pkcs11`.

mod common;
mod tools;

use std::path::Path;
use std::process::Command;
use std::ptr::null_mut;

use common::{module_path, TestEnv, DEFAULT_SLOTS, ETOKEN};
use cryptoki_sys::*;
use serial_test::serial;

/// The parsed lines of a trace file.
fn read_trace(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn names(lines: &[serde_json::Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            (
                l["function"].as_str().unwrap_or("?").to_owned(),
                l["rv"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

/// The calls a test made, with what each returned.
struct Calls {
    raw: cryptoki_sys::Pkcs11,
    made: Vec<(String, String)>,
}

/// Makes one raw call through the exported symbol and notes its name and
/// return value.
macro_rules! call {
    ($calls:expr, $f:ident($($a:expr),* $(,)?)) => {{
        // SAFETY: every pointer passed is NULL where the test means it, or
        // points to a live local of the right type and size.
        let rv = unsafe { $calls.raw.$f($($a),*) };
        $calls.made.push((stringify!($f).to_owned(), common::rv_name(rv)));
        rv
    }};
}

/// An output struct for a raw call, zeroed.
fn zeroed<T: Copy>() -> T {
    // SAFETY: used only for the plain C structs of PKCS#11 (integers and
    // byte arrays), for which all zero bytes is a valid value.
    unsafe { std::mem::zeroed() }
}

fn attr(ty: CK_ATTRIBUTE_TYPE, value: &mut [u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: value.as_mut_ptr().cast(),
        ulValueLen: value.len() as CK_ULONG,
    }
}

#[test]
#[serial]
fn every_call_is_one_trace_line_with_its_return_value() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    let trace = env.dir.path().join("calls.jsonl");
    // Set before the first call into the library: the trace is opened at
    // first use, so even the calls before C_Initialize are in it.
    std::env::set_var("TOKENEMU_TRACE", &trace);
    let so_pin = env.profile(ETOKEN).pin.default_so_pin;
    let user_pin = "pin-5f1e9a7c";
    let wrong_pin = "pin-wrong-33d0";
    let new_pin = "pin-new-a81c2b";

    let mut c = Calls {
        raw: common::raw(),
        made: Vec::new(),
    };
    let mut info: CK_INFO = zeroed();
    // §5.4 before initialisation.
    call!(c, C_GetInfo(&mut info));
    let mut list: *mut CK_FUNCTION_LIST = null_mut();
    call!(c, C_GetFunctionList(&mut list));
    let mut n: CK_ULONG = 0;
    call!(c, C_GetInterfaceList(null_mut(), &mut n));
    let mut iface: *mut CK_INTERFACE = null_mut();
    call!(c, C_GetInterface(null_mut(), null_mut(), &mut iface, 0));
    call!(c, C_Initialize(null_mut()));
    call!(c, C_Initialize(null_mut()));
    call!(c, C_GetInfo(&mut info));

    // §5.5 slots and tokens, one refused at the boundary (NULL pInfo).
    let mut slots = [0 as CK_SLOT_ID; 8];
    n = 8;
    call!(c, C_GetSlotList(CK_TRUE, slots.as_mut_ptr(), &mut n));
    let mut slot_info: CK_SLOT_INFO = zeroed();
    call!(c, C_GetSlotInfo(ETOKEN, &mut slot_info));
    call!(c, C_GetSlotInfo(ETOKEN, null_mut()));
    call!(c, C_GetSlotInfo(999, &mut slot_info));
    let mut token_info: CK_TOKEN_INFO = zeroed();
    call!(c, C_GetTokenInfo(ETOKEN, &mut token_info));
    call!(c, C_GetMechanismList(ETOKEN, null_mut(), &mut n));
    let mut mech_info: CK_MECHANISM_INFO = zeroed();
    call!(c, C_GetMechanismInfo(ETOKEN, CKM_SHA256, &mut mech_info));
    let mut event: CK_SLOT_ID = 0;
    call!(
        c,
        C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut event, null_mut())
    );
    let mut label = [b' '; 32];
    label[..5].copy_from_slice(b"trace");
    call!(
        c,
        C_InitToken(
            ETOKEN,
            so_pin.as_ptr() as *mut _,
            so_pin.len() as CK_ULONG,
            label.as_mut_ptr()
        )
    );

    // §5.6 sessions and PINs.
    let mut h: CK_SESSION_HANDLE = 0;
    call!(
        c,
        C_OpenSession(
            ETOKEN,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            null_mut(),
            None,
            &mut h
        )
    );
    call!(
        c,
        C_Login(
            h,
            CKU_SO,
            so_pin.as_ptr() as *mut _,
            so_pin.len() as CK_ULONG
        )
    );
    call!(
        c,
        C_InitPIN(h, user_pin.as_ptr() as *mut _, user_pin.len() as CK_ULONG)
    );
    call!(c, C_Logout(h));
    call!(
        c,
        C_Login(
            h,
            CKU_USER,
            wrong_pin.as_ptr() as *mut _,
            wrong_pin.len() as CK_ULONG
        )
    );
    call!(
        c,
        C_Login(
            h,
            CKU_USER,
            user_pin.as_ptr() as *mut _,
            user_pin.len() as CK_ULONG
        )
    );
    call!(
        c,
        C_SetPIN(
            h,
            user_pin.as_ptr() as *mut _,
            user_pin.len() as CK_ULONG,
            new_pin.as_ptr() as *mut _,
            new_pin.len() as CK_ULONG
        )
    );
    let mut session_info: CK_SESSION_INFO = zeroed();
    call!(c, C_GetSessionInfo(h, &mut session_info));
    call!(c, C_GetOperationState(h, null_mut(), &mut n));

    // §5.7 objects.
    let mut class = CKO_DATA.to_le_bytes();
    let mut token = [CK_FALSE];
    let mut obj_label = *b"traced-object";
    let mut value = *b"some data";
    let mut template = [
        attr(CKA_CLASS, &mut class),
        attr(CKA_TOKEN, &mut token),
        attr(CKA_LABEL, &mut obj_label),
        attr(CKA_VALUE, &mut value),
    ];
    let mut obj: CK_OBJECT_HANDLE = 0;
    call!(
        c,
        C_CreateObject(
            h,
            template.as_mut_ptr(),
            template.len() as CK_ULONG,
            &mut obj
        )
    );
    call!(c, C_CreateObject(h, template.as_mut_ptr(), 4, null_mut()));
    let mut size: CK_ULONG = 0;
    call!(c, C_GetObjectSize(h, obj, &mut size));
    let mut read_back = [CK_ATTRIBUTE {
        type_: CKA_LABEL,
        pValue: null_mut(),
        ulValueLen: 0,
    }];
    call!(c, C_GetAttributeValue(h, obj, read_back.as_mut_ptr(), 1));
    let mut new_label = *b"renamed";
    let mut change = [attr(CKA_LABEL, &mut new_label)];
    call!(c, C_SetAttributeValue(h, obj, change.as_mut_ptr(), 1));
    let mut copy: CK_OBJECT_HANDLE = 0;
    call!(c, C_CopyObject(h, obj, null_mut(), 0, &mut copy));
    call!(c, C_FindObjectsInit(h, template.as_mut_ptr(), 1));
    let mut found = [0 as CK_OBJECT_HANDLE; 4];
    call!(c, C_FindObjects(h, found.as_mut_ptr(), 4, &mut n));
    call!(c, C_FindObjectsFinal(h));
    call!(c, C_DestroyObject(h, copy));
    call!(c, C_DestroyObject(h, copy));

    // §5.8–5.15 cryptography, one unsupported key function, randomness.
    let mut mech = CK_MECHANISM {
        mechanism: CKM_SHA256,
        pParameter: null_mut(),
        ulParameterLen: 0,
    };
    call!(c, C_DigestInit(h, &mut mech));
    let mut digest = [0u8; 32];
    let mut digest_len: CK_ULONG = 32;
    call!(
        c,
        C_Digest(
            h,
            value.as_mut_ptr(),
            9,
            digest.as_mut_ptr(),
            &mut digest_len
        )
    );
    call!(c, C_DigestFinal(h, digest.as_mut_ptr(), &mut digest_len));
    call!(c, C_SignInit(h, null_mut(), obj));
    call!(c, C_WrapKey(h, &mut mech, 0, obj, null_mut(), &mut n));
    let mut random = [0u8; 100];
    call!(c, C_GenerateRandom(h, random.as_mut_ptr(), 100));
    call!(c, C_SeedRandom(h, random.as_mut_ptr(), 16));

    // Legacy and 3.0 functions this token does not support.
    call!(c, C_GetFunctionStatus(h));
    call!(c, C_SessionCancel(h, 0));
    call!(c, C_MessageEncryptInit(h, &mut mech, obj));

    call!(c, C_CloseSession(h));
    call!(c, C_CloseAllSessions(ETOKEN));
    call!(c, C_Finalize(null_mut()));
    call!(c, C_Finalize(null_mut()));
    call!(c, C_GetSlotList(CK_FALSE, null_mut(), &mut n));
    std::env::remove_var("TOKENEMU_TRACE");

    let lines = read_trace(&trace);
    // Exactly one line per call, in order, each with what the caller got.
    assert_eq!(
        names(&lines),
        c.made,
        "trace lines (left) against the calls made (right)"
    );
    // A sample of the return values, so the comparison above is not
    // comparing two empty or all-OK lists.
    for want in [
        ("C_GetInfo", "CKR_CRYPTOKI_NOT_INITIALIZED"),
        ("C_Initialize", "CKR_OK"),
        ("C_Initialize", "CKR_CRYPTOKI_ALREADY_INITIALIZED"),
        ("C_GetSlotInfo", "CKR_ARGUMENTS_BAD"),
        ("C_GetSlotInfo", "CKR_SLOT_ID_INVALID"),
        ("C_WaitForSlotEvent", "CKR_NO_EVENT"),
        ("C_InitToken", "CKR_OK"),
        ("C_Login", "CKR_PIN_INCORRECT"),
        ("C_DestroyObject", "CKR_OBJECT_HANDLE_INVALID"),
        ("C_SignInit", "CKR_ARGUMENTS_BAD"),
        ("C_WrapKey", "CKR_MECHANISM_INVALID"),
        ("C_GetFunctionStatus", "CKR_FUNCTION_NOT_PARALLEL"),
        ("C_MessageEncryptInit", "CKR_FUNCTION_NOT_SUPPORTED"),
        ("C_Finalize", "CKR_OK"),
        ("C_Finalize", "CKR_CRYPTOKI_NOT_INITIALIZED"),
    ] {
        let want = (want.0.to_owned(), want.1.to_owned());
        assert!(
            c.made.contains(&want),
            "the module returned otherwise: {want:?}"
        );
    }

    // Arguments: scalars from the boundary, decoded values from the core.
    let line = |f: &str| {
        lines
            .iter()
            .find(|l| l["function"] == f)
            .unwrap_or_else(|| panic!("no {f} line"))
    };
    assert_eq!(line("C_GetSlotList")["args"]["token_present"], true);
    assert_eq!(line("C_GetSlotInfo")["args"]["slot"], ETOKEN);
    assert_eq!(
        line("C_GetMechanismInfo")["args"]["mechanism"],
        "CKM_SHA256"
    );
    assert_eq!(line("C_WaitForSlotEvent")["args"]["flags"], CKF_DONT_BLOCK);
    assert_eq!(line("C_GenerateRandom")["args"]["len"], 100);
    assert_eq!(
        line("C_InitToken")["args"]["pin"]["redacted_len"],
        so_pin.len()
    );
    assert_eq!(line("C_InitToken")["args"]["label"], "trace");
    assert_eq!(
        line("C_InitPIN")["args"]["pin"]["redacted_len"],
        user_pin.len()
    );
    assert_eq!(
        line("C_SetPIN")["args"]["new_pin"]["redacted_len"],
        new_pin.len()
    );
    let create = line("C_CreateObject");
    assert_eq!(create["args"]["session"], h);
    assert_eq!(create["args"]["template"][2]["type"], "CKA_LABEL");
    assert_eq!(
        create["args"]["template"][3]["len"], 9,
        "a value shows as its length"
    );
    assert_eq!(line("C_DigestInit")["args"]["mechanism"], "CKM_SHA256");
    for l in &lines {
        assert!(
            l["ts_us"].is_u64() && l["us"].is_u64() && l["pid"].is_u64(),
            "{l}"
        );
    }
    let text = std::fs::read_to_string(&trace).unwrap();
    for secret in [so_pin.as_str(), user_pin, wrong_pin, new_pin, "some data"] {
        assert!(!text.contains(secret), "{secret:?} reached the trace");
    }
}

/// The slot listing an ordinary client does is all in the trace.
#[test]
#[serial]
fn pkcs11_tool_list_slots_is_traced() {
    let Some(tool) = tools::require("pkcs11-tool", "opensc") else {
        return;
    };
    let env = TestEnv::new(DEFAULT_SLOTS);
    let trace = env.dir.path().join("pkcs11-tool.jsonl");
    let mut cmd = Command::new(tool);
    cmd.arg("--module")
        .arg(module_path())
        .arg("-L")
        .env("TOKENEMU_TRACE", &trace);
    let out = tools::run_ok(&mut cmd, &env.conf);
    assert!(out.contains("eToken"), "{out}");
    let calls = names(&read_trace(&trace));
    let ok = |f: &str| calls.iter().any(|(n, rv)| n == f && rv == "CKR_OK");
    for f in [
        "C_Initialize",
        "C_GetSlotList",
        "C_GetSlotInfo",
        "C_GetTokenInfo",
        "C_Finalize",
    ] {
        assert!(ok(f), "no successful {f} in the trace: {calls:?}");
    }
    assert_eq!(
        calls.last().map(|c| c.0.as_str()),
        Some("C_Finalize"),
        "{calls:?}"
    );
}
