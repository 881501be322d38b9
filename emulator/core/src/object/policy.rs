//! Attribute rules per object class and key type, as data (kryoptic's OAFlags
//! idea): which attributes an object may carry, which are required, which
//! default, which are fixed after creation, which are secret.
//!
//! Reference: PKCS#11 v2.40 base spec §4 (tables 15–63), v3.0 §4.

use crate::ck::*;
use crate::object::attribute::{bool_bytes, ulong_bytes};

/// Rule flags.
pub mod flag {
    /// Must be in the template of `C_CreateObject`.
    pub const REQUIRED_ON_CREATE: u16 = 1;
    /// Must be in the template of a key generation.
    pub const REQUIRED_ON_GENERATE: u16 = 1 << 1;
    /// Set only by the token (`CKA_LOCAL`, `CKA_ALWAYS_SENSITIVE`, …): a caller
    /// template naming it gets `CKR_ATTRIBUTE_READ_ONLY`.
    pub const TOKEN_SET: u16 = 1 << 2;
    /// May be given at creation, never changed afterwards.
    pub const FIXED_AFTER_CREATE: u16 = 1 << 3;
    /// Secret: unreadable when the object is sensitive or not extractable.
    pub const SENSITIVE: u16 = 1 << 4;
    /// May only change from false to true (`CKA_SENSITIVE`).
    pub const ONLY_TO_TRUE: u16 = 1 << 5;
    /// May only change from true to false (`CKA_EXTRACTABLE`, `CKA_COPYABLE`).
    pub const ONLY_TO_FALSE: u16 = 1 << 6;
    /// Computed by key generation; a generation template naming it is inconsistent.
    pub const NOT_ON_GENERATE: u16 = 1 << 7;
    /// May be changed by `C_CopyObject` even though otherwise fixed.
    pub const CHANGE_ON_COPY: u16 = 1 << 8;
}
use flag::*;

/// A default applied when the template does not give the attribute.
#[derive(Clone, Copy, Debug)]
pub enum DefaultValue {
    /// No default: absent unless given.
    None,
    /// A `CK_BBOOL`.
    Bool(bool),
    /// A `CK_ULONG`.
    Ulong(CK_ULONG),
    /// An empty byte string.
    Empty,
}

impl DefaultValue {
    /// The encoded default value, if any.
    pub fn bytes(self) -> Option<Vec<u8>> {
        match self {
            DefaultValue::None => None,
            DefaultValue::Bool(b) => Some(bool_bytes(b)),
            DefaultValue::Ulong(u) => Some(ulong_bytes(u)),
            DefaultValue::Empty => Some(Vec::new()),
        }
    }
}

/// One attribute's rule.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The attribute.
    pub ty: CK_ATTRIBUTE_TYPE,
    /// `flag::*` bits.
    pub flags: u16,
    /// Its default.
    pub default: DefaultValue,
}

impl Rule {
    /// Whether the rule has `f`.
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
}

const fn r(ty: CK_ATTRIBUTE_TYPE, flags: u16, default: DefaultValue) -> Rule {
    Rule { ty, flags, default }
}
use DefaultValue::{Bool as B, Empty as E, None as N};

static STORAGE: &[Rule] = &[
    r(CKA_CLASS, REQUIRED_ON_CREATE | FIXED_AFTER_CREATE, N),
    r(CKA_TOKEN, FIXED_AFTER_CREATE | CHANGE_ON_COPY, B(false)),
    r(CKA_PRIVATE, FIXED_AFTER_CREATE | CHANGE_ON_COPY, B(false)),
    r(CKA_MODIFIABLE, FIXED_AFTER_CREATE | CHANGE_ON_COPY, B(true)),
    r(CKA_COPYABLE, ONLY_TO_FALSE | CHANGE_ON_COPY, B(true)),
    r(CKA_DESTROYABLE, CHANGE_ON_COPY, B(true)),
    r(CKA_LABEL, 0, E),
    r(CKA_UNIQUE_ID, TOKEN_SET, N),
];

static DATA: &[Rule] = &[
    r(CKA_APPLICATION, 0, E),
    r(CKA_OBJECT_ID, 0, E),
    r(CKA_VALUE, 0, E),
];

static CERTIFICATE: &[Rule] = &[
    r(
        CKA_CERTIFICATE_TYPE,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE,
        N,
    ),
    r(CKA_TRUSTED, FIXED_AFTER_CREATE, B(false)),
    r(
        CKA_CERTIFICATE_CATEGORY,
        FIXED_AFTER_CREATE,
        DefaultValue::Ulong(0),
    ),
    r(CKA_CHECK_VALUE, FIXED_AFTER_CREATE, N),
    r(CKA_START_DATE, 0, E),
    r(CKA_END_DATE, 0, E),
    r(CKA_PUBLIC_KEY_INFO, FIXED_AFTER_CREATE, E),
    // X.509 public key certificate (table 22).
    r(CKA_SUBJECT, REQUIRED_ON_CREATE | FIXED_AFTER_CREATE, N),
    r(CKA_ID, 0, E),
    r(CKA_ISSUER, 0, E),
    r(CKA_SERIAL_NUMBER, 0, E),
    r(CKA_VALUE, REQUIRED_ON_CREATE | FIXED_AFTER_CREATE, N),
    r(CKA_URL, FIXED_AFTER_CREATE, E),
    r(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, FIXED_AFTER_CREATE, E),
    r(CKA_HASH_OF_ISSUER_PUBLIC_KEY, FIXED_AFTER_CREATE, E),
    r(
        CKA_JAVA_MIDP_SECURITY_DOMAIN,
        FIXED_AFTER_CREATE,
        DefaultValue::Ulong(0),
    ),
    r(CKA_NAME_HASH_ALGORITHM, FIXED_AFTER_CREATE, N),
];

static KEY: &[Rule] = &[
    r(CKA_KEY_TYPE, REQUIRED_ON_CREATE | FIXED_AFTER_CREATE, N),
    r(CKA_ID, 0, E),
    r(CKA_START_DATE, 0, E),
    r(CKA_END_DATE, 0, E),
    r(CKA_DERIVE, 0, B(false)),
    r(CKA_LOCAL, TOKEN_SET, B(false)),
    r(
        CKA_KEY_GEN_MECHANISM,
        TOKEN_SET,
        DefaultValue::Ulong(CK_UNAVAILABLE_INFORMATION),
    ),
    r(CKA_ALLOWED_MECHANISMS, 0, E),
];

static PUBLIC_KEY: &[Rule] = &[
    r(CKA_SUBJECT, 0, E),
    r(CKA_ENCRYPT, 0, B(true)),
    r(CKA_VERIFY, 0, B(true)),
    r(CKA_VERIFY_RECOVER, 0, B(true)),
    r(CKA_WRAP, 0, B(true)),
    r(CKA_TRUSTED, FIXED_AFTER_CREATE, B(false)),
    r(CKA_PUBLIC_KEY_INFO, FIXED_AFTER_CREATE, E),
];

static PRIVATE_KEY: &[Rule] = &[
    r(CKA_SUBJECT, 0, E),
    r(CKA_SENSITIVE, ONLY_TO_TRUE, B(true)),
    r(CKA_DECRYPT, 0, B(true)),
    r(CKA_SIGN, 0, B(true)),
    r(CKA_SIGN_RECOVER, 0, B(true)),
    r(CKA_UNWRAP, 0, B(true)),
    r(CKA_EXTRACTABLE, ONLY_TO_FALSE, B(false)),
    r(CKA_ALWAYS_SENSITIVE, TOKEN_SET, N),
    r(CKA_NEVER_EXTRACTABLE, TOKEN_SET, N),
    r(CKA_WRAP_WITH_TRUSTED, ONLY_TO_TRUE, B(false)),
    r(CKA_ALWAYS_AUTHENTICATE, 0, B(false)),
    r(CKA_PUBLIC_KEY_INFO, FIXED_AFTER_CREATE, E),
];

static SECRET_KEY: &[Rule] = &[
    r(CKA_SENSITIVE, ONLY_TO_TRUE, B(true)),
    r(CKA_ENCRYPT, 0, B(true)),
    r(CKA_DECRYPT, 0, B(true)),
    r(CKA_SIGN, 0, B(true)),
    r(CKA_VERIFY, 0, B(true)),
    r(CKA_WRAP, 0, B(true)),
    r(CKA_UNWRAP, 0, B(true)),
    r(CKA_EXTRACTABLE, ONLY_TO_FALSE, B(false)),
    r(CKA_ALWAYS_SENSITIVE, TOKEN_SET, N),
    r(CKA_NEVER_EXTRACTABLE, TOKEN_SET, N),
    r(CKA_CHECK_VALUE, FIXED_AFTER_CREATE, N),
    r(CKA_WRAP_WITH_TRUSTED, ONLY_TO_TRUE, B(false)),
    r(CKA_TRUSTED, FIXED_AFTER_CREATE, B(false)),
];

static RSA_PUBLIC: &[Rule] = &[
    r(
        CKA_MODULUS,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_MODULUS_BITS,
        REQUIRED_ON_GENERATE | FIXED_AFTER_CREATE,
        N,
    ),
    r(
        CKA_PUBLIC_EXPONENT,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE,
        N,
    ),
];

static RSA_PRIVATE: &[Rule] = &[
    r(
        CKA_MODULUS,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | NOT_ON_GENERATE,
        N,
    ),
    r(CKA_PUBLIC_EXPONENT, FIXED_AFTER_CREATE | NOT_ON_GENERATE, N),
    r(
        CKA_PRIVATE_EXPONENT,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_PRIME_1,
        FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_PRIME_2,
        FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_EXPONENT_1,
        FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_EXPONENT_2,
        FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_COEFFICIENT,
        FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
];

static EC_PUBLIC: &[Rule] = &[
    r(
        CKA_EC_PARAMS,
        REQUIRED_ON_CREATE | REQUIRED_ON_GENERATE | FIXED_AFTER_CREATE,
        N,
    ),
    r(
        CKA_EC_POINT,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | NOT_ON_GENERATE,
        N,
    ),
];

static EC_PRIVATE: &[Rule] = &[
    r(
        CKA_EC_PARAMS,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | NOT_ON_GENERATE,
        N,
    ),
    r(
        CKA_VALUE,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
];

static GOST_PUBLIC: &[Rule] = &[
    r(
        CKA_GOSTR3410_PARAMS,
        REQUIRED_ON_CREATE | REQUIRED_ON_GENERATE | FIXED_AFTER_CREATE,
        N,
    ),
    r(CKA_GOSTR3411_PARAMS, FIXED_AFTER_CREATE, N),
    r(CKA_GOST28147_PARAMS, FIXED_AFTER_CREATE, N),
    r(
        CKA_VALUE,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | NOT_ON_GENERATE,
        N,
    ),
];

static GOST_PRIVATE: &[Rule] = &[
    r(
        CKA_GOSTR3410_PARAMS,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE,
        N,
    ),
    r(CKA_GOSTR3411_PARAMS, FIXED_AFTER_CREATE, N),
    r(CKA_GOST28147_PARAMS, FIXED_AFTER_CREATE, N),
    r(
        CKA_VALUE,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
];

static GENERIC_SECRET: &[Rule] = &[
    r(
        CKA_VALUE,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(CKA_VALUE_LEN, REQUIRED_ON_GENERATE | FIXED_AFTER_CREATE, N),
];

/// Block-cipher keys of one fixed size: the value only (DES2, DES3,
/// Kuznyechik, Magma).
static FIXED_SIZE_SECRET: &[Rule] = &[r(
    CKA_VALUE,
    REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
    N,
)];

static GOST28147_SECRET: &[Rule] = &[
    r(
        CKA_VALUE,
        REQUIRED_ON_CREATE | FIXED_AFTER_CREATE | SENSITIVE | NOT_ON_GENERATE,
        N,
    ),
    r(CKA_GOST28147_PARAMS, FIXED_AFTER_CREATE, N),
];

/// The rule tables that apply to an object of `class` (and `key_type` for keys),
/// or `None` when the token does not hold such objects.
pub fn rules_for(
    class: CK_OBJECT_CLASS,
    key_type: Option<CK_KEY_TYPE>,
) -> Option<Vec<&'static [Rule]>> {
    let mut v: Vec<&'static [Rule]> = vec![STORAGE];
    match class {
        CKO_DATA => v.push(DATA),
        CKO_CERTIFICATE => v.push(CERTIFICATE),
        CKO_PUBLIC_KEY => {
            v.push(KEY);
            v.push(PUBLIC_KEY);
            v.push(match key_type? {
                CKK_RSA => RSA_PUBLIC,
                CKK_EC => EC_PUBLIC,
                CKK_GOSTR3410 | CKK_GOSTR3410_512 => GOST_PUBLIC,
                _ => return None,
            });
        }
        CKO_PRIVATE_KEY => {
            v.push(KEY);
            v.push(PRIVATE_KEY);
            v.push(match key_type? {
                CKK_RSA => RSA_PRIVATE,
                CKK_EC => EC_PRIVATE,
                CKK_GOSTR3410 | CKK_GOSTR3410_512 => GOST_PRIVATE,
                _ => return None,
            });
        }
        CKO_SECRET_KEY => {
            v.push(KEY);
            v.push(SECRET_KEY);
            v.push(match key_type? {
                // Variable-length secrets: the value and its length.
                CKK_GENERIC_SECRET | CKK_AES | CKK_SHA_1_HMAC | CKK_SHA224_HMAC
                | CKK_SHA256_HMAC | CKK_SHA384_HMAC | CKK_SHA512_HMAC => GENERIC_SECRET,
                CKK_DES2 | CKK_DES3 | CKK_KUZNECHIK | CKK_MAGMA => FIXED_SIZE_SECRET,
                CKK_GOST28147 => GOST28147_SECRET,
                _ => return None,
            });
        }
        _ => return None,
    }
    Some(v)
}

/// The rule for `ty` within the given tables; later (more specific) tables win.
pub fn rule(tables: &[&'static [Rule]], ty: CK_ATTRIBUTE_TYPE) -> Option<Rule> {
    tables
        .iter()
        .rev()
        .find_map(|t| t.iter().find(|r| r.ty == ty))
        .copied()
}
