//! The PKCS#11 3.0 message-based functions (v3.0 §5.9 message-based
//! encryption, §5.11 decryption, §5.14 signing, §5.16 verification). This token does not support them: each
//! checks that the library is initialised, then returns
//! `CKR_FUNCTION_NOT_SUPPORTED`. They exist so the 3.0 function list has no
//! NULL entries.

use std::ffi::c_void;

use tokenemu_core::ck::*;
use tokenemu_core::Error;

use crate::boundary::entry;

macro_rules! unsupported {
    ($( $name:ident ( $session:ident : $sty:ty $(, $arg:ident : $ty:ty)* $(,)? ); )*) => {$(
        #[doc = concat!("`", stringify!($name), "` (PKCS#11 3.0): not supported.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name($session: $sty $(, $arg: $ty)*) -> CK_RV {
            $(let _ = $arg;)*
            entry!($name(session = $session), |_m| Err(Error::FunctionNotSupported(stringify!($name))))
        }
    )*};
}

unsupported! {
    C_MessageEncryptInit(h: CK_SESSION_HANDLE, mech: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE);
    C_EncryptMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG,
        d: CK_BYTE_PTR, dl: CK_ULONG, o: CK_BYTE_PTR, ol: CK_ULONG_PTR);
    C_EncryptMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG);
    C_EncryptMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: CK_BYTE_PTR, dl: CK_ULONG,
        o: CK_BYTE_PTR, ol: CK_ULONG_PTR, f: CK_FLAGS);
    C_MessageEncryptFinal(h: CK_SESSION_HANDLE);
    C_MessageDecryptInit(h: CK_SESSION_HANDLE, mech: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE);
    C_DecryptMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG,
        d: CK_BYTE_PTR, dl: CK_ULONG, o: CK_BYTE_PTR, ol: CK_ULONG_PTR);
    C_DecryptMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, a: CK_BYTE_PTR, al: CK_ULONG);
    C_DecryptMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: CK_BYTE_PTR, dl: CK_ULONG,
        o: CK_BYTE_PTR, ol: CK_ULONG_PTR, f: CK_FLAGS);
    C_MessageDecryptFinal(h: CK_SESSION_HANDLE);
    C_MessageSignInit(h: CK_SESSION_HANDLE, mech: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE);
    C_SignMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: CK_BYTE_PTR, dl: CK_ULONG,
        s: CK_BYTE_PTR, sl: CK_ULONG_PTR);
    C_SignMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG);
    C_SignMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: CK_BYTE_PTR, dl: CK_ULONG,
        s: CK_BYTE_PTR, sl: CK_ULONG_PTR);
    C_MessageSignFinal(h: CK_SESSION_HANDLE);
    C_MessageVerifyInit(h: CK_SESSION_HANDLE, mech: CK_MECHANISM_PTR, key: CK_OBJECT_HANDLE);
    C_VerifyMessage(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: CK_BYTE_PTR, dl: CK_ULONG,
        s: CK_BYTE_PTR, sl: CK_ULONG);
    C_VerifyMessageBegin(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG);
    C_VerifyMessageNext(h: CK_SESSION_HANDLE, p: *mut c_void, pl: CK_ULONG, d: CK_BYTE_PTR, dl: CK_ULONG,
        s: CK_BYTE_PTR, sl: CK_ULONG);
    C_MessageVerifyFinal(h: CK_SESSION_HANDLE);
}
