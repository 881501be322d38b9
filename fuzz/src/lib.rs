//! Shared machinery of the libtokenemu fuzz targets.
//!
//! Every target calls the real exported `C_*` functions of the
//! `tokenemu-pkcs11` rlib (the same code as `libtokenemu.so`) with arguments
//! built from an [`arbitrary`] op list. The PKCS#11 caller contract is kept
//! (a non-NULL pointer is always valid for the length passed with it); all
//! else is arbitrary: attribute types, values and lengths, NULL `pValue` with
//! huge `ulValueLen`, mechanism types and parameters, session and object
//! handles, output buffer sizes, call order.
//!
//! Oracles: a crash or sanitizer report (ASan, LeakSanitizer), a panic (the
//! boundary catches panics, but libfuzzer-sys's panic hook aborts first, so a
//! caught panic is still reported), a hang (`-timeout`), unbounded memory
//! (`-rss_limit_mb`), and [`check_rv`]: `CKR_GENERAL_ERROR` (what a caught
//! panic becomes) or a value outside the spec's table aborts the run.
//!
//! Setup runs once per process: a temp store (under `/dev/shm` when it exists:
//! commits `fsync`, which tmpfs makes cheap) for two tokens, slot 0
//! `jacarta-gost` and slot 1 `etoken`, `C_Initialize`, one logged-in "anchor"
//! session per slot (never handed to the fuzzer: it keeps the user logged in
//! across runs, since login state is per token) and a few token keys made
//! undestroyable and unmodifiable so that the fuzzer cannot lose them. After
//! every run [`Harness::reset`] closes the sessions the run opened, destroys
//! the objects it created and restores the user login (the KEK cache makes a
//! re-login with the same PIN cheap), so runs are close to independent.
//!
//! Deliberately left out, with the reason:
//! - wrong PINs of a valid length: each costs a fresh PBKDF2 (100,000
//!   iterations) and counts down the retry counter, which would lock the token
//!   for every later run; PINs are the right ones, or of an invalid length, or
//!   NULL;
//! - `C_InitToken`, `C_InitPIN`, `C_SetPIN` with valid PINs (they wipe the
//!   token or change PINs for later runs); they are called with invalid PINs;
//! - `C_Finalize` (the finalize/initialize races have their own tests);
//! - RSA key generation (seconds per call under ASan): mapped to EC;
//! - `CKA_DESTROYABLE` in fuzzer templates (it would let runs leave
//!   undestroyable token objects behind for ever): mapped to `CKA_LABEL`.

use std::ptr::null_mut;
use std::sync::{Mutex, OnceLock};

use arbitrary::Arbitrary;
use cryptoki_sys::*;
use tokenemu as p11;

/// Slot of the JaCarta GOST token (RSA, GOST, secrets).
pub const SLOT_GOST: CK_SLOT_ID = 0;
/// Slot of the eToken (RSA, EC).
pub const SLOT_ETOKEN: CK_SLOT_ID = 1;
const GOST_USER_PIN: &[u8] = b"1234567890";
const GOST_SO_PIN: &[u8] = b"0987654321";
const ETOKEN_PIN: &[u8] = b"1234567890";

/// TC26 vendor constants (the emulator's `vendor.rs`).
const TC26: CK_ULONG = 0xD432_1000;
const CKM_GOSTR3410_WITH_GOSTR3411_12_256: CK_ULONG = TC26 | 0x008;
const CKM_GOSTR3410_WITH_GOSTR3411_12_512: CK_ULONG = TC26 | 0x009;
const CKM_GOSTR3410_512_KEY_PAIR_GEN: CK_ULONG = TC26 | 0x005;
const CKM_GOSTR3410_512: CK_ULONG = TC26 | 0x006;
const CKM_GOSTR3411_12_256: CK_ULONG = TC26 | 0x012;
const CKM_GOSTR3411_12_512: CK_ULONG = TC26 | 0x013;
const CKM_GOSTR3411_12_256_HMAC: CK_ULONG = TC26 | 0x014;
const CKA_GOSTR3410_512PARAMS: CK_ULONG = TC26 | 0x004;

/// id-GostR3410-2001-CryptoPro-A-ParamSet.
pub const CRYPTOPRO_A: &[u8] = &[0x06, 0x07, 0x2a, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];
/// prime256v1.
pub const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1.
pub const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Mechanisms the fuzzer picks by index (plus raw values).
pub const MECHS: &[CK_MECHANISM_TYPE] = &[
    CKM_SHA_1,
    CKM_SHA224,
    CKM_SHA256,
    CKM_SHA384,
    CKM_SHA512,
    CKM_RSA_PKCS,
    CKM_RSA_X_509,
    CKM_RSA_PKCS_OAEP,
    CKM_RSA_PKCS_PSS,
    CKM_SHA1_RSA_PKCS,
    CKM_SHA256_RSA_PKCS,
    CKM_SHA512_RSA_PKCS,
    CKM_SHA256_RSA_PKCS_PSS,
    CKM_SHA384_RSA_PKCS_PSS,
    CKM_ECDSA,
    CKM_ECDSA_SHA1,
    CKM_ECDSA_SHA256,
    CKM_ECDSA_SHA512,
    CKM_EC_KEY_PAIR_GEN,
    CKM_GENERIC_SECRET_KEY_GEN,
    CKM_GOSTR3410_KEY_PAIR_GEN,
    CKM_GOSTR3410,
    CKM_GOSTR3410_WITH_GOSTR3411,
    CKM_GOSTR3411,
    CKM_GOSTR3410_WITH_GOSTR3411_12_256,
    CKM_GOSTR3410_WITH_GOSTR3411_12_512,
    CKM_GOSTR3410_512_KEY_PAIR_GEN,
    CKM_GOSTR3410_512,
    CKM_GOSTR3411_12_256,
    CKM_GOSTR3411_12_512,
    CKM_GOSTR3411_12_256_HMAC,
    CKM_SHA256_HMAC,
    CKM_AES_CBC,
    CKM_MD5,
];

/// Attribute types the fuzzer picks by index (plus raw values).
pub const ATTRS: &[CK_ATTRIBUTE_TYPE] = &[
    CKA_CLASS,
    CKA_TOKEN,
    CKA_PRIVATE,
    CKA_LABEL,
    CKA_APPLICATION,
    CKA_VALUE,
    CKA_OBJECT_ID,
    CKA_ID,
    CKA_KEY_TYPE,
    CKA_SENSITIVE,
    CKA_EXTRACTABLE,
    CKA_ENCRYPT,
    CKA_DECRYPT,
    CKA_SIGN,
    CKA_VERIFY,
    CKA_DERIVE,
    CKA_MODULUS,
    CKA_MODULUS_BITS,
    CKA_PUBLIC_EXPONENT,
    CKA_PRIVATE_EXPONENT,
    CKA_PRIME_1,
    CKA_EC_PARAMS,
    CKA_EC_POINT,
    CKA_VALUE_LEN,
    CKA_MODIFIABLE,
    CKA_COPYABLE,
    CKA_CERTIFICATE_TYPE,
    CKA_SUBJECT,
    CKA_ISSUER,
    CKA_SERIAL_NUMBER,
    CKA_START_DATE,
    CKA_END_DATE,
    CKA_GOSTR3410_PARAMS,
    CKA_GOSTR3411_PARAMS,
    CKA_GOSTR3410_512PARAMS,
    CKA_ALWAYS_SENSITIVE,
    CKA_NEVER_EXTRACTABLE,
    CKA_LOCAL,
    CKA_KEY_GEN_MECHANISM,
    CKA_ALLOWED_MECHANISMS,
    CKA_WRAP_TEMPLATE,
    CKA_TRUSTED,
    CKA_ALWAYS_AUTHENTICATE,
    CKA_PUBLIC_KEY_INFO,
];

const CLASSES: &[CK_ULONG] = &[
    CKO_DATA,
    CKO_CERTIFICATE,
    CKO_PUBLIC_KEY,
    CKO_PRIVATE_KEY,
    CKO_SECRET_KEY,
    CKO_DOMAIN_PARAMETERS,
    CKO_MECHANISM,
    CKO_VENDOR_DEFINED,
];

const KEY_TYPES: &[CK_ULONG] = &[
    CKK_RSA,
    CKK_EC,
    CKK_GENERIC_SECRET,
    CKK_GOSTR3410,
    CKK_AES,
    TC26 | 0x003,
];

// ---------------------------------------------------------------------------
// The fuzzer's vocabulary
// ---------------------------------------------------------------------------

/// A handle: one of the harness's known handles, or any value.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Sel {
    /// Index (modulo) into the known list.
    Known(u8),
    /// Any value.
    Raw(u64),
    /// `CK_INVALID_HANDLE`.
    Zero,
}

/// A slot id.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum SlotSel {
    /// Slot 0 (JaCarta GOST).
    Gost,
    /// Slot 1 (eToken).
    Etoken,
    /// Any value.
    Raw(u64),
}

impl SlotSel {
    fn id(self) -> CK_SLOT_ID {
        match self {
            SlotSel::Gost => SLOT_GOST,
            SlotSel::Etoken => SLOT_ETOKEN,
            SlotSel::Raw(v) => v as CK_SLOT_ID,
        }
    }
}

/// An attribute type.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum AttrType {
    /// Index (modulo) into [`ATTRS`].
    Known(u8),
    /// Any value.
    Raw(u64),
}

impl AttrType {
    fn ty(self) -> CK_ATTRIBUTE_TYPE {
        let t = self.exact();
        if t == CKA_DESTROYABLE {
            CKA_LABEL
        } else {
            t
        }
    }
    fn exact(self) -> CK_ATTRIBUTE_TYPE {
        match self {
            AttrType::Known(i) => ATTRS[i as usize % ATTRS.len()],
            AttrType::Raw(v) => v as CK_ATTRIBUTE_TYPE,
        }
    }
}

/// An attribute value (with its length).
#[derive(Arbitrary, Debug, Clone)]
pub enum Value {
    /// Any bytes.
    Bytes(Vec<u8>),
    /// A `CK_BBOOL`.
    Bool(bool),
    /// A `CK_ULONG`.
    Ulong(u64),
    /// An object class from the list.
    Class(u8),
    /// A key type from the list.
    KeyType(u8),
    /// A curve / parameter-set OID.
    Oid(u8),
    /// `pValue` NULL with any `ulValueLen` (huge ones must be refused, not allocated).
    Null(u64),
}

impl Value {
    fn bytes(&self) -> Option<Vec<u8>> {
        let pick = |l: &[CK_ULONG], i: u8| l[i as usize % l.len()].to_ne_bytes().to_vec();
        Some(match self {
            Value::Bytes(b) => b.clone(),
            Value::Bool(b) => vec![u8::from(*b)],
            Value::Ulong(v) => (*v as CK_ULONG).to_ne_bytes().to_vec(),
            Value::Class(i) => pick(CLASSES, *i),
            Value::KeyType(i) => pick(KEY_TYPES, *i),
            Value::Oid(i) => [CRYPTOPRO_A, P256, P384, &[0x06, 0x00]][*i as usize % 4].to_vec(),
            Value::Null(_) => return None,
        })
    }
}

/// One template entry.
#[derive(Arbitrary, Debug, Clone)]
pub struct Attr {
    /// `type`.
    pub ty: AttrType,
    /// `pValue` / `ulValueLen`.
    pub value: Value,
}

/// A `C_GetAttributeValue` request entry.
#[derive(Arbitrary, Debug, Clone)]
pub struct Query {
    /// `type`.
    pub ty: AttrType,
    /// `None`: NULL `pValue` with this `ulValueLen` (size query); `Some(n)`: an n-byte buffer.
    pub buf: Option<u16>,
    /// `ulValueLen` for the NULL case.
    pub len: u64,
}

/// A mechanism parameter.
#[derive(Arbitrary, Debug, Clone)]
pub enum Param {
    /// NULL, length 0.
    None,
    /// NULL with a non-zero length.
    NullLen(u64),
    /// Any bytes.
    Bytes(Vec<u8>),
    /// A curve OID (GOST key generation takes one).
    Oid(u8),
    /// `CK_RSA_PKCS_PSS_PARAMS` (with an arbitrary stated length delta).
    Pss {
        /// hashAlg (index or raw).
        hash: u64,
        /// mgf.
        mgf: u64,
        /// sLen.
        salt: u64,
        /// Length delta from the struct size (0 = exact).
        delta: i8,
    },
    /// `CK_RSA_PKCS_OAEP_PARAMS`.
    Oaep {
        /// hashAlg.
        hash: u64,
        /// mgf.
        mgf: u64,
        /// source.
        source: u64,
        /// `Some`: pSourceData; `None`: NULL.
        data: Option<Vec<u8>>,
        /// ulSourceDataLen when data is NULL.
        null_len: u64,
        /// Length delta from the struct size.
        delta: i8,
    },
}

/// A `CK_MECHANISM`.
#[derive(Arbitrary, Debug, Clone)]
pub struct Mech {
    /// Index into [`MECHS`], or raw.
    pub ty: AttrType,
    /// The parameter.
    pub param: Param,
}

/// An output buffer for the two-call size protocol.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Out {
    /// NULL buffer, length query.
    Query,
    /// A buffer of this many bytes (0..=1023).
    Buf(u16),
    /// NULL `pulLen`.
    NullLen,
    /// A query, then a buffer of the length returned.
    TwoCall,
}

/// Which crypto function family.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Kind {
    /// Encrypt.
    Encrypt,
    /// Decrypt.
    Decrypt,
    /// Digest.
    Digest,
    /// Sign.
    Sign,
    /// Verify.
    Verify,
    /// SignRecover.
    SignRecover,
    /// VerifyRecover.
    VerifyRecover,
}

/// A PIN choice (see the module docs for why no wrong PIN of valid length).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Pin {
    /// The user PIN of the slot.
    User,
    /// The SO PIN of the slot.
    So,
    /// Too short.
    Short,
    /// Too long.
    Long,
    /// NULL with a length.
    Null(u64),
}

/// One PKCS#11 call.
#[derive(Arbitrary, Debug, Clone)]
pub enum Op {
    GetInfo,
    GetSlotList {
        present: bool,
        cap: Option<u8>,
    },
    GetSlotInfo {
        slot: SlotSel,
    },
    GetTokenInfo {
        slot: SlotSel,
    },
    GetMechanismList {
        slot: SlotSel,
        cap: Option<u8>,
    },
    GetMechanismInfo {
        slot: SlotSel,
        mech: AttrType,
    },
    WaitForSlotEvent,
    OpenSession {
        slot: SlotSel,
        flags: u8,
    },
    CloseSession {
        s: Sel,
    },
    CloseAllSessions {
        slot: SlotSel,
    },
    GetSessionInfo {
        s: Sel,
    },
    Login {
        s: Sel,
        user: u8,
        pin: Pin,
    },
    Logout {
        s: Sel,
    },
    InitPin {
        s: Sel,
        pin: Pin,
    },
    SetPin {
        s: Sel,
        old: Pin,
        new: Pin,
    },
    InitToken {
        slot: SlotSel,
        pin: Pin,
    },
    CreateObject {
        s: Sel,
        t: Vec<Attr>,
    },
    CopyObject {
        s: Sel,
        o: Sel,
        t: Vec<Attr>,
    },
    DestroyObject {
        s: Sel,
        o: Sel,
    },
    GetObjectSize {
        s: Sel,
        o: Sel,
    },
    GetAttributeValue {
        s: Sel,
        o: Sel,
        q: Vec<Query>,
    },
    SetAttributeValue {
        s: Sel,
        o: Sel,
        t: Vec<Attr>,
    },
    FindObjectsInit {
        s: Sel,
        t: Vec<Attr>,
    },
    FindObjects {
        s: Sel,
        max: u8,
    },
    FindObjectsFinal {
        s: Sel,
    },
    Init {
        kind: Kind,
        s: Sel,
        m: Mech,
        key: Sel,
    },
    Single {
        kind: Kind,
        s: Sel,
        data: Vec<u8>,
        out: Out,
    },
    Update {
        kind: Kind,
        s: Sel,
        data: Vec<u8>,
        out: Out,
    },
    Final {
        kind: Kind,
        s: Sel,
        out: Out,
    },
    Verify {
        s: Sel,
        data: Vec<u8>,
        sig: Vec<u8>,
    },
    VerifyFinal {
        s: Sel,
        sig: Vec<u8>,
    },
    SignThenVerify {
        s: Sel,
        m: Mech,
        key: Sel,
        pubkey: Sel,
        data: Vec<u8>,
    },
    DigestKey {
        s: Sel,
        o: Sel,
    },
    Dual {
        which: u8,
        s: Sel,
        data: Vec<u8>,
        out: Out,
    },
    GenerateKey {
        s: Sel,
        m: Mech,
        t: Vec<Attr>,
    },
    GenerateKeyPair {
        s: Sel,
        m: Mech,
        pubt: Vec<Attr>,
        privt: Vec<Attr>,
    },
    WrapKey {
        s: Sel,
        m: Mech,
        wrapping: Sel,
        key: Sel,
    },
    UnwrapKey {
        s: Sel,
        m: Mech,
        key: Sel,
        data: Vec<u8>,
        t: Vec<Attr>,
    },
    DeriveKey {
        s: Sel,
        m: Mech,
        key: Sel,
        t: Vec<Attr>,
    },
    SeedRandom {
        s: Sel,
        data: Vec<u8>,
    },
    GenerateRandom {
        s: Sel,
        len: u16,
    },
    GetOperationState {
        s: Sel,
        out: Out,
    },
    SetOperationState {
        s: Sel,
        data: Vec<u8>,
    },
}

// ---------------------------------------------------------------------------
// Argument building
// ---------------------------------------------------------------------------

/// A built template: the attribute array plus the storage it points into.
pub struct Template {
    attrs: Vec<CK_ATTRIBUTE>,
    _values: Vec<Vec<u8>>,
}

impl Template {
    /// Builds a template from fuzzer attributes (at most 64 entries;
    /// `CKA_DESTROYABLE` becomes `CKA_LABEL`).
    pub fn new(t: &[Attr]) -> Template {
        Template::build(t, false)
    }
    /// As [`new`](Self::new), types taken as they are (setup only).
    fn exact(t: &[Attr]) -> Template {
        Template::build(t, true)
    }
    fn build(t: &[Attr], exact: bool) -> Template {
        let ty = |a: &Attr| if exact { a.ty.exact() } else { a.ty.ty() };
        let mut values: Vec<Vec<u8>> = Vec::new();
        let mut attrs = Vec::new();
        for a in t.iter().take(64) {
            match a.value.bytes() {
                Some(v) => {
                    values.push(v);
                    let v = values.last_mut().expect("just pushed");
                    attrs.push(CK_ATTRIBUTE {
                        type_: ty(a),
                        // An empty Vec's pointer is dangling but non-NULL: fine for length 0.
                        pValue: v.as_mut_ptr().cast(),
                        ulValueLen: v.len() as CK_ULONG,
                    });
                }
                None => {
                    let Value::Null(len) = a.value else {
                        unreachable!()
                    };
                    attrs.push(CK_ATTRIBUTE {
                        type_: ty(a),
                        pValue: null_mut(),
                        ulValueLen: len as CK_ULONG,
                    });
                }
            }
        }
        // The Vec<u8> buffers do not move when `values` reallocates (only
        // their headers do), so the pointers stay valid.
        Template {
            attrs,
            _values: values,
        }
    }
    /// Pointer (NULL when empty) and count.
    pub fn raw(&mut self) -> (CK_ATTRIBUTE_PTR, CK_ULONG) {
        if self.attrs.is_empty() {
            (null_mut(), 0)
        } else {
            (self.attrs.as_mut_ptr(), self.attrs.len() as CK_ULONG)
        }
    }
}

/// A built mechanism and the storage its parameter points into.
pub struct MechBuf {
    mech: CK_MECHANISM,
    _param: Vec<u8>,
    _source: Vec<u8>,
}

impl MechBuf {
    /// Builds a `CK_MECHANISM`.
    pub fn new(m: &Mech) -> Box<MechBuf> {
        let ty = match m.ty {
            AttrType::Known(i) => MECHS[i as usize % MECHS.len()],
            AttrType::Raw(v) => v as CK_MECHANISM_TYPE,
        };
        let mut b = Box::new(MechBuf {
            mech: CK_MECHANISM {
                mechanism: ty,
                pParameter: null_mut(),
                ulParameterLen: 0,
            },
            _param: Vec::new(),
            _source: Vec::new(),
        });
        let hash_of = |h: u64| -> CK_ULONG {
            const H: &[CK_ULONG] = &[CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512];
            if h < 16 {
                H[h as usize % H.len()]
            } else {
                h as CK_ULONG
            }
        };
        let mgf_of = |g: u64| -> CK_ULONG {
            if g < 16 {
                [
                    CKG_MGF1_SHA1,
                    CKG_MGF1_SHA256,
                    CKG_MGF1_SHA384,
                    CKG_MGF1_SHA512,
                ][g as usize % 4]
            } else {
                g as CK_ULONG
            }
        };
        match &m.param {
            Param::None => {}
            Param::NullLen(n) => b.mech.ulParameterLen = *n as CK_ULONG,
            Param::Bytes(v) => b._param = v.clone(),
            Param::Oid(i) => b._param = [CRYPTOPRO_A, P256, P384][*i as usize % 3].to_vec(),
            Param::Pss {
                hash,
                mgf,
                salt,
                delta,
            } => {
                let p = CK_RSA_PKCS_PSS_PARAMS {
                    hashAlg: hash_of(*hash),
                    mgf: mgf_of(*mgf),
                    sLen: (*salt % 4096) as CK_ULONG,
                };
                b._param = struct_bytes(&p, *delta);
            }
            Param::Oaep {
                hash,
                mgf,
                source,
                data,
                null_len,
                delta,
            } => {
                let (ptr, len) = match data {
                    Some(d) => {
                        b._source = d.clone();
                        (b._source.as_mut_ptr(), b._source.len() as CK_ULONG)
                    }
                    None => (null_mut(), *null_len as CK_ULONG),
                };
                let p = CK_RSA_PKCS_OAEP_PARAMS {
                    hashAlg: hash_of(*hash),
                    mgf: mgf_of(*mgf),
                    source: if *source < 4 {
                        CKZ_DATA_SPECIFIED
                    } else {
                        *source as CK_ULONG
                    },
                    pSourceData: ptr.cast(),
                    ulSourceDataLen: len,
                };
                b._param = struct_bytes(&p, *delta);
            }
        }
        if !matches!(m.param, Param::None | Param::NullLen(_)) {
            b.mech.pParameter = b._param.as_mut_ptr().cast();
            b.mech.ulParameterLen = b._param.len() as CK_ULONG;
        }
        b
    }
    /// The mechanism pointer.
    pub fn ptr(&mut self) -> CK_MECHANISM_PTR {
        &mut self.mech
    }
    /// The mechanism type.
    pub fn ty(&self) -> CK_MECHANISM_TYPE {
        self.mech.mechanism
    }
}

/// The bytes of a plain C struct, truncated or extended by `delta`.
fn struct_bytes<T: Copy>(v: &T, delta: i8) -> Vec<u8> {
    let n = std::mem::size_of::<T>();
    // SAFETY: T is a plain C struct of integers and pointers, read as bytes.
    let mut bytes = unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), n) }.to_vec();
    let want = (n as isize + (delta as isize % 16)).max(0) as usize;
    bytes.resize(want, 0);
    bytes
}

fn pin_bytes(slot_user: &[u8], slot_so: &[u8], p: Pin) -> (Vec<u8>, Option<CK_ULONG>) {
    match p {
        Pin::User => (slot_user.to_vec(), None),
        Pin::So => (slot_so.to_vec(), None),
        Pin::Short => (b"12".to_vec(), None),
        Pin::Long => (vec![b'7'; 100], None),
        Pin::Null(n) => (Vec::new(), Some(n as CK_ULONG)),
    }
}

/// Panics (→ a libFuzzer crash) on return values that must never appear.
#[track_caller]
pub fn check_rv(call: &str, rv: CK_RV) -> CK_RV {
    assert!(
        rv != CKR_GENERAL_ERROR,
        "{call} returned CKR_GENERAL_ERROR (a caught panic or an internal error)"
    );
    assert!(
        rv <= CKR_FUNCTION_REJECTED || rv == CKR_VENDOR_DEFINED,
        "{call} returned a value outside the spec: {rv:#x}"
    );
    rv
}

macro_rules! call {
    ($f:ident ( $($a:expr),* $(,)? )) => {{
        // SAFETY: every pointer argument is NULL or valid for the length
        // passed with it (the PKCS#11 caller contract), built above.
        let rv = unsafe { p11::$f($($a),*) };
        check_rv(stringify!($f), rv)
    }};
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

/// Keys created once at setup.
#[derive(Debug, Default, Clone)]
pub struct Keys {
    /// (public, private) RSA-1024 on slot 0.
    pub rsa: (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE),
    /// (public, private) GOST R 34.10-2012-256 on slot 0.
    pub gost: (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE),
    /// Generic secret on slot 0.
    pub secret: CK_OBJECT_HANDLE,
    /// (public, private) EC P-256 on slot 1.
    pub ec: (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE),
}

impl Keys {
    fn all(&self) -> Vec<CK_OBJECT_HANDLE> {
        vec![
            self.rsa.0,
            self.rsa.1,
            self.gost.0,
            self.gost.1,
            self.secret,
            self.ec.0,
            self.ec.1,
        ]
    }
}

/// Process-wide fuzzing state.
#[derive(Debug)]
pub struct Harness {
    anchors: [CK_SESSION_HANDLE; 2],
    /// The setup keys.
    pub keys: Keys,
    sessions: Vec<CK_SESSION_HANDLE>,
    objects: Vec<CK_OBJECT_HANDLE>,
    created: Vec<CK_OBJECT_HANDLE>,
    wrong_pins_left: u32,
}

static HARNESS: OnceLock<Mutex<Harness>> = OnceLock::new();

/// The harness, set up on first use.
pub fn harness() -> std::sync::MutexGuard<'static, Harness> {
    HARNESS
        .get_or_init(|| Mutex::new(Harness::setup()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

// CK_ULONG is c_ulong: u64 here, u32 on Windows, so the casts are not no-ops everywhere.
#[allow(clippy::unnecessary_cast)]
fn bool_attr(ty: CK_ATTRIBUTE_TYPE, v: bool) -> Attr {
    Attr {
        ty: AttrType::Raw(ty as u64),
        value: Value::Bool(v),
    }
}

// CK_ULONG is c_ulong: u64 here, u32 on Windows, so the casts are not no-ops everywhere.
#[allow(clippy::unnecessary_cast)]
fn attr_bytes(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> Attr {
    Attr {
        ty: AttrType::Raw(ty as u64),
        value: Value::Bytes(v.to_vec()),
    }
}

// CK_ULONG is c_ulong: u64 here, u32 on Windows, so the casts are not no-ops everywhere.
#[allow(clippy::unnecessary_cast)]
fn ulong_attr(ty: CK_ATTRIBUTE_TYPE, v: CK_ULONG) -> Attr {
    Attr {
        ty: AttrType::Raw(ty as u64),
        value: Value::Ulong(v as u64),
    }
}

// CK_ULONG is c_ulong: u64 here, u32 on Windows, so the casts are not no-ops everywhere.
#[allow(clippy::unnecessary_cast)]
fn raw_mech(ty: CK_MECHANISM_TYPE, param: Param) -> Mech {
    Mech {
        ty: AttrType::Raw(ty as u64),
        param,
    }
}

impl Harness {
    fn setup() -> Harness {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("tokenemu-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fuzz store dir");
        let conf = dir.join("tokenemu.toml");
        std::fs::write(
            &conf,
            format!(
                "[[slot]]\nid = 0\nprofile = \"jacarta-gost\"\nstore = \"{0}/slot-0\"\n\n\
                 [[slot]]\nid = 1\nprofile = \"etoken\"\nstore = \"{0}/slot-1\"\n",
                dir.display()
            ),
        )
        .expect("write fuzz config");
        std::env::set_var("TOKENEMU_CONF", &conf);
        // Quiet: the fuzzer makes every error on purpose.
        if std::env::var_os("TOKENEMU_LOG").is_none() {
            std::env::set_var("TOKENEMU_LOG", "off");
        }
        // Remove the store at exit (best effort; libFuzzer exits via exit()).
        extern "C" fn cleanup() {
            let dir = std::env::var_os("TOKENEMU_CONF")
                .map(std::path::PathBuf::from)
                .and_then(|p| p.parent().map(|d| d.to_path_buf()));
            if let Some(d) = dir {
                let _ = std::fs::remove_dir_all(d);
            }
        }
        extern "C" {
            fn atexit(f: extern "C" fn()) -> i32;
        }
        // SAFETY: registering a plain extern "C" function.
        unsafe { atexit(cleanup) };

        assert_eq!(call!(C_Initialize(null_mut())), CKR_OK, "C_Initialize");
        let mut h = Harness {
            anchors: [0; 2],
            keys: Keys::default(),
            sessions: Vec::new(),
            objects: Vec::new(),
            created: Vec::new(),
            wrong_pins_left: 0,
        };
        h.open_anchors();
        // Setup keys: token objects, undestroyable and unmodifiable.
        let keep = |mut t: Vec<Attr>| {
            t.push(bool_attr(CKA_TOKEN, true));
            t.push(bool_attr(CKA_DESTROYABLE, false));
            t.push(bool_attr(CKA_MODIFIABLE, false));
            t.push(attr_bytes(CKA_LABEL, b"fuzz-setup"));
            t
        };
        let pair = |h: &mut Harness, slot: usize, m: Mech, pubt: Vec<Attr>, privt: Vec<Attr>| {
            let mut m = MechBuf::new(&m);
            let mut pubt = Template::exact(&keep(pubt));
            let mut privt = Template::exact(&keep(privt));
            let (pp, pn) = pubt.raw();
            let (sp, sn) = privt.raw();
            let (mut a, mut b) = (0, 0);
            let rv = call!(C_GenerateKeyPair(
                h.anchors[slot],
                m.ptr(),
                pp,
                pn,
                sp,
                sn,
                &mut a,
                &mut b
            ));
            assert_eq!(rv, CKR_OK, "setup C_GenerateKeyPair {:#x}", m.ty());
            (a, b)
        };
        let usage = |pubk: bool| {
            if pubk {
                vec![bool_attr(CKA_VERIFY, true), bool_attr(CKA_ENCRYPT, true)]
            } else {
                vec![
                    bool_attr(CKA_SIGN, true),
                    bool_attr(CKA_DECRYPT, true),
                    bool_attr(CKA_PRIVATE, true),
                    bool_attr(CKA_SENSITIVE, true),
                ]
            }
        };
        let mut rsa_pub = usage(true);
        rsa_pub.push(ulong_attr(CKA_MODULUS_BITS, 1024));
        h.keys.rsa = pair(
            &mut h,
            0,
            raw_mech(CKM_RSA_PKCS_KEY_PAIR_GEN, Param::None),
            rsa_pub,
            usage(false),
        );
        let mut gost_pub = vec![bool_attr(CKA_VERIFY, true)];
        gost_pub.push(attr_bytes(CKA_GOSTR3410_PARAMS, CRYPTOPRO_A));
        h.keys.gost = pair(
            &mut h,
            0,
            raw_mech(CKM_GOSTR3410_KEY_PAIR_GEN, Param::None),
            gost_pub,
            vec![bool_attr(CKA_SIGN, true), bool_attr(CKA_PRIVATE, true)],
        );
        let mut ec_pub = vec![bool_attr(CKA_VERIFY, true)];
        ec_pub.push(attr_bytes(CKA_EC_PARAMS, P256));
        h.keys.ec = pair(
            &mut h,
            1,
            raw_mech(CKM_EC_KEY_PAIR_GEN, Param::None),
            ec_pub,
            vec![bool_attr(CKA_SIGN, true), bool_attr(CKA_PRIVATE, true)],
        );
        {
            let mut m = MechBuf::new(&raw_mech(CKM_GENERIC_SECRET_KEY_GEN, Param::None));
            let mut t = Template::exact(&keep(vec![
                ulong_attr(CKA_VALUE_LEN, 32),
                bool_attr(CKA_SIGN, true),
                bool_attr(CKA_VERIFY, true),
                bool_attr(CKA_PRIVATE, true),
            ]));
            let (tp, tn) = t.raw();
            let mut k = 0;
            let rv = call!(C_GenerateKey(h.anchors[0], m.ptr(), tp, tn, &mut k));
            // The profile may not allow it; then there is simply no secret key.
            if rv == CKR_OK {
                h.keys.secret = k;
            }
        }
        h
    }

    fn open_anchors(&mut self) {
        for (i, (slot, pin)) in [(SLOT_GOST, GOST_USER_PIN), (SLOT_ETOKEN, ETOKEN_PIN)]
            .into_iter()
            .enumerate()
        {
            let mut s = 0;
            let rv = call!(C_OpenSession(
                slot,
                CKF_SERIAL_SESSION | CKF_RW_SESSION,
                null_mut(),
                None,
                &mut s
            ));
            assert_eq!(rv, CKR_OK, "anchor C_OpenSession");
            self.anchors[i] = s;
            let mut p = pin.to_vec();
            let rv = call!(C_Login(s, CKU_USER, p.as_mut_ptr(), p.len() as CK_ULONG));
            assert!(
                rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN,
                "anchor C_Login: {rv:#x}"
            );
        }
    }

    /// Back to the baseline after a run: the run's sessions closed, its
    /// objects destroyed, anchors open and logged in as the user.
    pub fn reset(&mut self) {
        for s in std::mem::take(&mut self.sessions) {
            if !self.anchors.contains(&s) {
                call!(C_CloseSession(s));
            }
        }
        // Anchors: still valid? logged in as the user?
        let mut reopen = false;
        for (i, pin) in [GOST_USER_PIN, ETOKEN_PIN].into_iter().enumerate() {
            let mut info = CK_SESSION_INFO {
                slotID: 0,
                state: 0,
                flags: 0,
                ulDeviceError: 0,
            };
            let rv = call!(C_GetSessionInfo(self.anchors[i], &mut info));
            if rv != CKR_OK {
                reopen = true;
                continue;
            }
            if info.state == CKS_RW_SO_FUNCTIONS {
                call!(C_Logout(self.anchors[i]));
            }
            if info.state != CKS_RW_USER_FUNCTIONS {
                let mut p = pin.to_vec();
                let rv = call!(C_Login(
                    self.anchors[i],
                    CKU_USER,
                    p.as_mut_ptr(),
                    p.len() as CK_ULONG
                ));
                assert!(
                    rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN,
                    "re-login: {rv:#x}"
                );
            }
        }
        if reopen {
            // C_CloseAllSessions took an anchor with it.
            for a in self.anchors {
                call!(C_CloseSession(a));
            }
            self.open_anchors();
        }
        // A wrong PIN given while the user stays logged in (C_SetPIN's old PIN,
        // CKU_CONTEXT_SPECIFIC) counts down the retry counter without the
        // re-login above, so runs added up to CKR_PIN_LOCKED (found after
        // 122,044 runs). A login with the right PIN restores the counter.
        for (i, (slot, pin)) in [(SLOT_GOST, GOST_USER_PIN), (SLOT_ETOKEN, ETOKEN_PIN)]
            .into_iter()
            .enumerate()
        {
            let mut info: CK_TOKEN_INFO = unsafe_zeroed();
            if call!(C_GetTokenInfo(slot, &mut info)) == CKR_OK
                && info.flags & CKF_USER_PIN_COUNT_LOW != 0
            {
                call!(C_Logout(self.anchors[i]));
                let mut p = pin.to_vec();
                let rv = call!(C_Login(
                    self.anchors[i],
                    CKU_USER,
                    p.as_mut_ptr(),
                    p.len() as CK_ULONG
                ));
                assert_eq!(rv, CKR_OK, "retry-counter restoring login");
            }
        }
        for o in std::mem::take(&mut self.created) {
            if !self.keys.all().contains(&o) {
                let a = self.anchors[0];
                if call!(C_DestroyObject(a, o)) != CKR_OK {
                    call!(C_DestroyObject(self.anchors[1], o));
                }
            }
        }
        self.objects.clear();
    }

    fn session(&self, s: Sel) -> CK_SESSION_HANDLE {
        match s {
            Sel::Known(i) if !self.sessions.is_empty() => {
                self.sessions[i as usize % self.sessions.len()]
            }
            Sel::Known(i) => i as CK_SESSION_HANDLE,
            Sel::Raw(v) => v as CK_SESSION_HANDLE,
            Sel::Zero => 0,
        }
    }

    fn object(&self, o: Sel) -> CK_OBJECT_HANDLE {
        let keys = self.keys.all();
        match o {
            Sel::Known(i) => {
                let i = i as usize % (keys.len() + self.objects.len());
                if i < keys.len() {
                    keys[i]
                } else {
                    self.objects[i - keys.len()]
                }
            }
            Sel::Raw(v) => v as CK_OBJECT_HANDLE,
            Sel::Zero => 0,
        }
    }

    fn new_object(&mut self, h: CK_OBJECT_HANDLE) {
        self.objects.push(h);
        self.created.push(h);
    }

    /// Opens a fresh R/W session on `slot` for a run (closed by [`reset`](Self::reset)).
    pub fn open(&mut self, slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
        let mut s = 0;
        let rv = call!(C_OpenSession(
            slot,
            CKF_SERIAL_SESSION | CKF_RW_SESSION,
            null_mut(),
            None,
            &mut s
        ));
        if rv == CKR_OK {
            self.sessions.push(s);
        }
        s
    }

    /// Runs a list of calls (at most 64), then [`reset`](Self::reset)s.
    pub fn run(&mut self, ops: &[Op]) {
        self.wrong_pins_left = 2;
        self.open(SLOT_GOST);
        self.open(SLOT_ETOKEN);
        for op in ops.iter().take(64) {
            self.step(op);
        }
        self.reset();
    }

    fn pins(&self, s: CK_SESSION_HANDLE) -> (&'static [u8], &'static [u8]) {
        let mut info = CK_SESSION_INFO {
            slotID: 0,
            state: 0,
            flags: 0,
            ulDeviceError: 0,
        };
        call!(C_GetSessionInfo(s, &mut info));
        if info.slotID == SLOT_ETOKEN {
            (ETOKEN_PIN, ETOKEN_PIN)
        } else {
            (GOST_USER_PIN, GOST_SO_PIN)
        }
    }

    /// One call.
    pub fn step(&mut self, op: &Op) {
        match op {
            Op::GetInfo => {
                let mut info: CK_INFO = unsafe_zeroed();
                call!(C_GetInfo(&mut info));
            }
            Op::GetSlotList { present, cap } => {
                list_call(*cap, |p, n| {
                    call!(C_GetSlotList(CK_BBOOL::from(*present), p, n))
                });
            }
            Op::GetSlotInfo { slot } => {
                let mut info: CK_SLOT_INFO = unsafe_zeroed();
                call!(C_GetSlotInfo(slot.id(), &mut info));
            }
            Op::GetTokenInfo { slot } => {
                let mut info: CK_TOKEN_INFO = unsafe_zeroed();
                call!(C_GetTokenInfo(slot.id(), &mut info));
            }
            Op::GetMechanismList { slot, cap } => {
                list_call(*cap, |p, n| call!(C_GetMechanismList(slot.id(), p, n)));
            }
            Op::GetMechanismInfo { slot, mech } => {
                let m = match mech {
                    AttrType::Known(i) => MECHS[*i as usize % MECHS.len()],
                    AttrType::Raw(v) => *v as CK_ULONG,
                };
                let mut info: CK_MECHANISM_INFO = unsafe_zeroed();
                call!(C_GetMechanismInfo(slot.id(), m, &mut info));
            }
            Op::WaitForSlotEvent => {
                let mut slot = 0;
                call!(C_WaitForSlotEvent(CKF_DONT_BLOCK, &mut slot, null_mut()));
            }
            Op::OpenSession { slot, flags } => {
                let f = (CK_FLAGS::from(flags & 1) * CKF_SERIAL_SESSION)
                    | (CK_FLAGS::from((flags >> 1) & 1) * CKF_RW_SESSION)
                    | if flags & 0x80 != 0 { 0x100 } else { 0 };
                let mut s = 0;
                if call!(C_OpenSession(slot.id(), f, null_mut(), None, &mut s)) == CKR_OK {
                    self.sessions.push(s);
                }
            }
            Op::CloseSession { s } => {
                let s = self.session(*s);
                if !self.anchors.contains(&s) {
                    call!(C_CloseSession(s));
                }
            }
            Op::CloseAllSessions { slot } => {
                call!(C_CloseAllSessions(slot.id()));
            }
            Op::GetSessionInfo { s } => {
                let mut info: CK_SESSION_INFO = unsafe_zeroed();
                call!(C_GetSessionInfo(self.session(*s), &mut info));
            }
            Op::Login { s, user, pin } => {
                let s = self.session(*s);
                let (u, so) = self.pins(s);
                let user = match user % 4 {
                    0 => CKU_USER,
                    1 => CKU_SO,
                    2 => CKU_CONTEXT_SPECIFIC,
                    _ => *user as CK_ULONG,
                };
                // "User" is the right PIN for the user type, "So" the other
                // role's. Wrong PINs cost a PBKDF2 and a retry: at most two per
                // run and only against the user PIN (the reset's login resets
                // its counter); otherwise the PIN becomes NULL with a length.
                let (right, other) = if user == CKU_SO { (so, u) } else { (u, so) };
                let pin = match pin {
                    Pin::User => Pin::User,
                    _ if user == CKU_SO || self.wrong_pins_left == 0 => match pin {
                        Pin::Null(n) => Pin::Null(n | 1),
                        _ => Pin::Null(1),
                    },
                    other => {
                        self.wrong_pins_left -= 1;
                        *other
                    }
                };
                let (mut p, null) = pin_bytes(right, other, pin);
                match null {
                    Some(n) => call!(C_Login(s, user, null_mut(), n)),
                    None => call!(C_Login(s, user, p.as_mut_ptr(), p.len() as CK_ULONG)),
                };
            }
            Op::Logout { s } => {
                call!(C_Logout(self.session(*s)));
            }
            Op::InitPin { s, pin } => {
                // New PINs of an invalid length only (see the module docs).
                let (mut p, null) = pin_bytes(b"", b"", bad_len_pin(*pin));
                let s = self.session(*s);
                match null {
                    Some(n) => call!(C_InitPIN(s, null_mut(), n)),
                    None => call!(C_InitPIN(s, p.as_mut_ptr(), p.len() as CK_ULONG)),
                };
            }
            Op::SetPin { s, old, new } => {
                // The old PIN is the right one of the session's role (user,
                // or SO in an SO session), NULL with a length, or (from the
                // same budget as C_Login's, never in an SO session, whose
                // counter no reset restores) the other role's PIN: C_SetPIN
                // checks the old PIN first, so a wrong one counts down the
                // retry counter. The new PIN has an invalid length, so no PIN
                // changes. Every checked old PIN costs a full PBKDF2 (no KEK
                // cache here): about a sixth of call_sequence's CPU time.
                let s = self.session(*s);
                let (u, so) = self.pins(s);
                let mut info: CK_SESSION_INFO = unsafe_zeroed();
                call!(C_GetSessionInfo(s, &mut info));
                let so_session = info.state == CKS_RW_SO_FUNCTIONS;
                let (right, other) = if so_session { (so, u) } else { (u, so) };
                let old = match old {
                    Pin::So if self.wrong_pins_left > 0 && !so_session => {
                        self.wrong_pins_left -= 1;
                        Pin::So
                    }
                    Pin::User | Pin::So => Pin::User,
                    Pin::Null(n) => Pin::Null(n | 1),
                    _ => Pin::Null(1),
                };
                let (mut o, onull) = pin_bytes(right, other, old);
                let (mut n, nnull) = pin_bytes(b"", b"", bad_len_pin(*new));
                let (op, ol) = match onull {
                    Some(l) => (null_mut(), l),
                    None => (o.as_mut_ptr(), o.len() as CK_ULONG),
                };
                let (np, nl) = match nnull {
                    Some(l) => (null_mut(), l),
                    None => (n.as_mut_ptr(), n.len() as CK_ULONG),
                };
                call!(C_SetPIN(s, op, ol, np, nl));
            }
            Op::InitToken { slot, pin } => {
                // Never a PIN that could be checked: NULL with a length.
                let n = match pin {
                    Pin::Null(n) => n | 1,
                    _ => 1,
                };
                let mut label = [b' '; 32];
                call!(C_InitToken(
                    slot.id(),
                    null_mut(),
                    n as CK_ULONG,
                    label.as_mut_ptr()
                ));
            }
            Op::CreateObject { s, t } => {
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                let mut h = 0;
                if call!(C_CreateObject(self.session(*s), p, n, &mut h)) == CKR_OK {
                    self.new_object(h);
                }
            }
            Op::CopyObject { s, o, t } => {
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                let mut h = 0;
                let o = self.object(*o);
                if call!(C_CopyObject(self.session(*s), o, p, n, &mut h)) == CKR_OK {
                    self.new_object(h);
                }
            }
            Op::DestroyObject { s, o } => {
                call!(C_DestroyObject(self.session(*s), self.object(*o)));
            }
            Op::GetObjectSize { s, o } => {
                let mut n = 0;
                call!(C_GetObjectSize(self.session(*s), self.object(*o), &mut n));
            }
            Op::GetAttributeValue { s, o, q } => {
                let mut bufs: Vec<Vec<u8>> = Vec::new();
                let mut attrs: Vec<CK_ATTRIBUTE> = Vec::new();
                for e in q.iter().take(64) {
                    match e.buf {
                        Some(n) => {
                            bufs.push(vec![0u8; usize::from(n % 1024)]);
                            let b = bufs.last_mut().expect("pushed");
                            attrs.push(CK_ATTRIBUTE {
                                type_: e.ty.ty(),
                                pValue: b.as_mut_ptr().cast(),
                                ulValueLen: b.len() as CK_ULONG,
                            });
                        }
                        None => attrs.push(CK_ATTRIBUTE {
                            type_: e.ty.ty(),
                            pValue: null_mut(),
                            ulValueLen: e.len as CK_ULONG,
                        }),
                    }
                }
                let (p, n) = if attrs.is_empty() {
                    (null_mut(), 0)
                } else {
                    (attrs.as_mut_ptr(), attrs.len() as CK_ULONG)
                };
                call!(C_GetAttributeValue(self.session(*s), self.object(*o), p, n));
                // Second call with buffers of the sizes reported (the usual
                // two-call pattern), where a size came back.
                let mut bufs2: Vec<Vec<u8>> = Vec::new();
                let mut own = bufs.iter_mut();
                for (a, e) in attrs.iter_mut().zip(q.iter()) {
                    if e.buf.is_some() {
                        // The first call overwrote ulValueLen (with the value's
                        // length or CK_UNAVAILABLE_INFORMATION): state our
                        // buffer's real size again.
                        let b = own.next().expect("one buffer per Some");
                        a.pValue = b.as_mut_ptr().cast();
                        a.ulValueLen = b.len() as CK_ULONG;
                    } else if a.pValue.is_null()
                        && a.ulValueLen != CK_UNAVAILABLE_INFORMATION
                        && a.ulValueLen <= 1 << 20
                    {
                        bufs2.push(vec![0u8; a.ulValueLen as usize]);
                        a.pValue = bufs2.last_mut().expect("pushed").as_mut_ptr().cast();
                    } else if a.pValue.is_null() {
                        a.ulValueLen = 0;
                    }
                }
                call!(C_GetAttributeValue(self.session(*s), self.object(*o), p, n));
            }
            Op::SetAttributeValue { s, o, t } => {
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                let o = self.object(*o);
                // The setup keys are unmodifiable; still try.
                call!(C_SetAttributeValue(self.session(*s), o, p, n));
            }
            Op::FindObjectsInit { s, t } => {
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                call!(C_FindObjectsInit(self.session(*s), p, n));
            }
            Op::FindObjects { s, max } => {
                let mut out = vec![0; usize::from(*max)];
                let mut n = 0;
                let p = if out.is_empty() {
                    null_mut()
                } else {
                    out.as_mut_ptr()
                };
                if call!(C_FindObjects(self.session(*s), p, *max as CK_ULONG, &mut n)) == CKR_OK {
                    assert!(
                        n <= CK_ULONG::from(*max),
                        "C_FindObjects returned {n} > {max}"
                    );
                    for &h in &out[..n as usize] {
                        if self.objects.len() < 256 && !self.objects.contains(&h) {
                            self.objects.push(h);
                        }
                    }
                }
            }
            Op::FindObjectsFinal { s } => {
                call!(C_FindObjectsFinal(self.session(*s)));
            }
            Op::Init { kind, s, m, key } => {
                let mut m = MechBuf::new(m);
                let s = self.session(*s);
                let k = self.object(*key);
                let mp = m.ptr();
                match kind {
                    Kind::Encrypt => call!(C_EncryptInit(s, mp, k)),
                    Kind::Decrypt => call!(C_DecryptInit(s, mp, k)),
                    Kind::Digest => call!(C_DigestInit(s, mp)),
                    Kind::Sign => call!(C_SignInit(s, mp, k)),
                    Kind::Verify => call!(C_VerifyInit(s, mp, k)),
                    Kind::SignRecover => call!(C_SignRecoverInit(s, mp, k)),
                    Kind::VerifyRecover => call!(C_VerifyRecoverInit(s, mp, k)),
                };
            }
            Op::Single { kind, s, data, out } => {
                let s = self.session(*s);
                let mut d = data.clone();
                let (dp, dl) = (d.as_mut_ptr(), d.len() as CK_ULONG);
                output(*out, |o, l| match kind {
                    Kind::Encrypt => call!(C_Encrypt(s, dp, dl, o, l)),
                    Kind::Decrypt => call!(C_Decrypt(s, dp, dl, o, l)),
                    Kind::Digest => call!(C_Digest(s, dp, dl, o, l)),
                    Kind::Sign => call!(C_Sign(s, dp, dl, o, l)),
                    Kind::SignRecover => call!(C_SignRecover(s, dp, dl, o, l)),
                    Kind::VerifyRecover => call!(C_VerifyRecover(s, dp, dl, o, l)),
                    Kind::Verify => {
                        let n = if l.is_null() {
                            0
                        } else {
                            // SAFETY: l is our own CK_ULONG.
                            unsafe { *l }
                        };
                        call!(C_Verify(s, dp, dl, o, n))
                    }
                });
            }
            Op::Update { kind, s, data, out } => {
                let s = self.session(*s);
                let mut d = data.clone();
                let (dp, dl) = (d.as_mut_ptr(), d.len() as CK_ULONG);
                match kind {
                    Kind::Encrypt => {
                        output(*out, |o, l| call!(C_EncryptUpdate(s, dp, dl, o, l)));
                    }
                    Kind::Decrypt => {
                        output(*out, |o, l| call!(C_DecryptUpdate(s, dp, dl, o, l)));
                    }
                    Kind::Digest => {
                        call!(C_DigestUpdate(s, dp, dl));
                    }
                    Kind::Sign | Kind::SignRecover => {
                        call!(C_SignUpdate(s, dp, dl));
                    }
                    Kind::Verify | Kind::VerifyRecover => {
                        call!(C_VerifyUpdate(s, dp, dl));
                    }
                }
            }
            Op::Final { kind, s, out } => {
                let s = self.session(*s);
                output(*out, |o, l| match kind {
                    Kind::Encrypt => call!(C_EncryptFinal(s, o, l)),
                    Kind::Decrypt => call!(C_DecryptFinal(s, o, l)),
                    Kind::Digest => call!(C_DigestFinal(s, o, l)),
                    Kind::Sign | Kind::SignRecover => call!(C_SignFinal(s, o, l)),
                    Kind::Verify | Kind::VerifyRecover => {
                        let n = if l.is_null() {
                            0
                        } else {
                            // SAFETY: l is our own CK_ULONG.
                            unsafe { *l }
                        };
                        call!(C_VerifyFinal(s, o, n))
                    }
                });
            }
            Op::Verify { s, data, sig } => {
                let (mut d, mut g) = (data.clone(), sig.clone());
                call!(C_Verify(
                    self.session(*s),
                    d.as_mut_ptr(),
                    d.len() as CK_ULONG,
                    g.as_mut_ptr(),
                    g.len() as CK_ULONG
                ));
            }
            Op::VerifyFinal { s, sig } => {
                let mut g = sig.clone();
                call!(C_VerifyFinal(
                    self.session(*s),
                    g.as_mut_ptr(),
                    g.len() as CK_ULONG
                ));
            }
            Op::SignThenVerify {
                s,
                m,
                key,
                pubkey,
                data,
            } => {
                let s = self.session(*s);
                let mut mb = MechBuf::new(m);
                if call!(C_SignInit(s, mb.ptr(), self.object(*key))) != CKR_OK {
                    return;
                }
                let mut d = data.clone();
                let mut sig = vec![0u8; 1024];
                let mut n = sig.len() as CK_ULONG;
                let rv = call!(C_Sign(
                    s,
                    d.as_mut_ptr(),
                    d.len() as CK_ULONG,
                    sig.as_mut_ptr(),
                    &mut n
                ));
                if rv != CKR_OK {
                    return;
                }
                let mut mb = MechBuf::new(m);
                if call!(C_VerifyInit(s, mb.ptr(), self.object(*pubkey))) == CKR_OK {
                    call!(C_Verify(
                        s,
                        d.as_mut_ptr(),
                        d.len() as CK_ULONG,
                        sig.as_mut_ptr(),
                        n
                    ));
                }
            }
            Op::DigestKey { s, o } => {
                call!(C_DigestKey(self.session(*s), self.object(*o)));
            }
            Op::Dual {
                which,
                s,
                data,
                out,
            } => {
                let s = self.session(*s);
                let mut d = data.clone();
                let (dp, dl) = (d.as_mut_ptr(), d.len() as CK_ULONG);
                output(*out, |o, l| match which % 4 {
                    0 => call!(C_DigestEncryptUpdate(s, dp, dl, o, l)),
                    1 => call!(C_DecryptDigestUpdate(s, dp, dl, o, l)),
                    2 => call!(C_SignEncryptUpdate(s, dp, dl, o, l)),
                    _ => call!(C_DecryptVerifyUpdate(s, dp, dl, o, l)),
                });
            }
            Op::GenerateKey { s, m, t } => {
                let mut m = MechBuf::new(m);
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                let mut h = 0;
                if call!(C_GenerateKey(self.session(*s), m.ptr(), p, n, &mut h)) == CKR_OK {
                    self.new_object(h);
                }
            }
            Op::GenerateKeyPair { s, m, pubt, privt } => {
                let mut m = MechBuf::new(m);
                if m.ty() == CKM_RSA_PKCS_KEY_PAIR_GEN || m.ty() == CKM_RSA_X9_31_KEY_PAIR_GEN {
                    m.mech.mechanism = CKM_EC_KEY_PAIR_GEN;
                }
                let mut a = Template::new(pubt);
                let mut b = Template::new(privt);
                let (ap, an) = a.raw();
                let (bp, bn) = b.raw();
                let (mut x, mut y) = (0, 0);
                let rv = call!(C_GenerateKeyPair(
                    self.session(*s),
                    m.ptr(),
                    ap,
                    an,
                    bp,
                    bn,
                    &mut x,
                    &mut y
                ));
                if rv == CKR_OK {
                    self.new_object(x);
                    self.new_object(y);
                }
            }
            Op::WrapKey {
                s,
                m,
                wrapping,
                key,
            } => {
                let mut m = MechBuf::new(m);
                let (w, k) = (self.object(*wrapping), self.object(*key));
                let mut buf = vec![0u8; 512];
                let mut n = buf.len() as CK_ULONG;
                call!(C_WrapKey(
                    self.session(*s),
                    m.ptr(),
                    w,
                    k,
                    buf.as_mut_ptr(),
                    &mut n
                ));
            }
            Op::UnwrapKey { s, m, key, data, t } => {
                let mut m = MechBuf::new(m);
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                let mut d = data.clone();
                let mut h = 0;
                if call!(C_UnwrapKey(
                    self.session(*s),
                    m.ptr(),
                    self.object(*key),
                    d.as_mut_ptr(),
                    d.len() as CK_ULONG,
                    p,
                    n,
                    &mut h
                )) == CKR_OK
                {
                    self.new_object(h);
                }
            }
            Op::DeriveKey { s, m, key, t } => {
                let mut m = MechBuf::new(m);
                let mut t = Template::new(t);
                let (p, n) = t.raw();
                let mut h = 0;
                if call!(C_DeriveKey(
                    self.session(*s),
                    m.ptr(),
                    self.object(*key),
                    p,
                    n,
                    &mut h
                )) == CKR_OK
                {
                    self.new_object(h);
                }
            }
            Op::SeedRandom { s, data } => {
                let mut d = data.clone();
                call!(C_SeedRandom(
                    self.session(*s),
                    d.as_mut_ptr(),
                    d.len() as CK_ULONG
                ));
            }
            Op::GenerateRandom { s, len } => {
                let mut b = vec![0u8; usize::from(*len)];
                call!(C_GenerateRandom(
                    self.session(*s),
                    b.as_mut_ptr(),
                    b.len() as CK_ULONG
                ));
            }
            Op::GetOperationState { s, out } => {
                let s = self.session(*s);
                output(*out, |o, l| call!(C_GetOperationState(s, o, l)));
            }
            Op::SetOperationState { s, data } => {
                let mut d = data.clone();
                call!(C_SetOperationState(
                    self.session(*s),
                    d.as_mut_ptr(),
                    d.len() as CK_ULONG,
                    0,
                    0
                ));
            }
        }
    }
}

/// A PIN whose length no profile accepts (4..=32), or NULL with a length.
fn bad_len_pin(p: Pin) -> Pin {
    match p {
        Pin::Long => Pin::Long,
        Pin::Null(n) => Pin::Null(n | 1),
        _ => Pin::Short,
    }
}

fn unsafe_zeroed<T: Copy>() -> T {
    // SAFETY: only used for the plain C info structs (integers and byte
    // arrays), for which all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Calls `f` with an output buffer per `out`; for `TwoCall`, asks the length
/// first and then passes a buffer of that length (capped at 1 MiB).
fn output(out: Out, mut f: impl FnMut(*mut u8, *mut CK_ULONG) -> CK_RV) {
    match out {
        Out::Query => {
            let mut n: CK_ULONG = 0;
            f(null_mut(), &mut n);
        }
        Out::Buf(n) => {
            let mut b = vec![0u8; usize::from(n % 1024)];
            let mut l = b.len() as CK_ULONG;
            f(b.as_mut_ptr(), &mut l);
        }
        Out::NullLen => {
            let mut b = [0u8; 16];
            f(b.as_mut_ptr(), null_mut());
        }
        Out::TwoCall => {
            let mut n: CK_ULONG = 0;
            if f(null_mut(), &mut n) == CKR_OK && n <= 1 << 20 {
                // One spare byte: a zero-length output still needs a
                // non-NULL buffer to not be a query.
                let mut b = vec![0u8; n as usize + 1];
                let mut l = n;
                let p = b.as_mut_ptr();
                let rv = f(p, &mut l);
                assert!(
                    rv != CKR_BUFFER_TOO_SMALL,
                    "two-call protocol: a buffer of the announced {n} bytes was too small"
                );
            }
        }
    }
}

/// Calls a list function (`C_GetSlotList`, `C_GetMechanismList`): a query
/// then a buffer of `cap` (or of the queried size).
fn list_call(cap: Option<u8>, mut f: impl FnMut(*mut CK_ULONG, *mut CK_ULONG) -> CK_RV) {
    let mut n: CK_ULONG = 0;
    if f(null_mut(), &mut n) != CKR_OK {
        return;
    }
    let want = cap.map_or(n as usize, usize::from);
    let mut b = vec![0 as CK_ULONG; want.max(1)];
    let mut l = want as CK_ULONG;
    f(b.as_mut_ptr(), &mut l);
}

/// For the `mechanisms` target: which setup key.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum KeySel {
    /// RSA-1024 private/public.
    Rsa(bool),
    /// GOST-2012-256 private/public.
    Gost(bool),
    /// EC P-256 private/public.
    Ec(bool),
    /// The generic secret.
    Secret,
    /// Any handle.
    Raw(u64),
}

impl KeySel {
    /// (slot, handle).
    pub fn resolve(self, k: &Keys) -> (CK_SLOT_ID, CK_OBJECT_HANDLE) {
        let pick = |p: (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE), private: bool| {
            if private {
                p.1
            } else {
                p.0
            }
        };
        match self {
            KeySel::Rsa(p) => (SLOT_GOST, pick(k.rsa, p)),
            KeySel::Gost(p) => (SLOT_GOST, pick(k.gost, p)),
            KeySel::Ec(p) => (SLOT_ETOKEN, pick(k.ec, p)),
            KeySel::Secret => (SLOT_GOST, k.secret),
            KeySel::Raw(v) => (SLOT_GOST, v as CK_OBJECT_HANDLE),
        }
    }
}
