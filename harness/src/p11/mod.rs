//! The PKCS#11 layer of the scenario harness: every token operation a
//! scenario performs goes through here, through `cryptoki` for what it can
//! express and through [`raw`] (the same loaded library, `cryptoki-sys`) for
//! the GOST calls it cannot (`CKM_GOSTR3410_KEY_PAIR_GEN`,
//! `CKA_GOSTR3410_PARAMS`). Each call is recorded by name so the report can
//! show which PKCS#11 functions a step made.

pub mod client;
pub mod preflight;
pub mod raw;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::Error as CkError;
use cryptoki::mechanism::vendor_defined::VendorDefinedMechanism;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

/// TC26 vendor constants (gost.md §3).
pub mod tc26 {
    /// `CKK_GOSTR3410_512`.
    pub const CKK_GOSTR3410_512: u64 = 0xD432_1003;
    /// `CKM_GOSTR3410_512_KEY_PAIR_GEN`.
    pub const CKM_GOSTR3410_512_KEY_PAIR_GEN: u64 = 0xD432_1005;
    /// `CKM_GOSTR3410_WITH_GOSTR3411_12_256`.
    pub const CKM_GOSTR3410_WITH_GOSTR3411_12_256: u64 = 0xD432_1008;
    /// `CKM_GOSTR3410_WITH_GOSTR3411_12_512`.
    pub const CKM_GOSTR3410_WITH_GOSTR3411_12_512: u64 = 0xD432_1009;
}

/// DER of the CryptoPro-A parameter set OID 1.2.643.2.2.35.1 (the curve of
/// Tumar's `EC 256/512 (GOST 34.310-2004 A/Xch)`).
pub const CRYPTOPRO_A_DER: &[u8] = &[0x06, 0x07, 0x2a, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];
/// DER of tc26-512-A 1.2.643.7.1.2.1.2.1.
pub const TC26_512_A_DER: &[u8] = &[
    0x06, 0x09, 0x2a, 0x85, 0x03, 0x07, 0x01, 0x02, 0x01, 0x02, 0x01,
];

/// A key algorithm a scenario works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Alg {
    /// GOST R 34.10-2012 256-bit on CryptoPro-A (CKK_GOSTR3410).
    #[serde(rename = "gost2012-256")]
    Gost256,
    /// GOST R 34.10-2012 512-bit on tc26-512-A (CKK_GOSTR3410_512).
    #[serde(rename = "gost2012-512")]
    Gost512,
    /// RSA 2048 with SHA-256 PKCS#1 v1.5 signatures.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
}

impl Alg {
    /// The name scenario files use.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Gost256 => "gost2012-256",
            Alg::Gost512 => "gost2012-512",
            Alg::Rsa2048 => "rsa-2048",
        }
    }

    /// How Tumar CSP's configurator shows the algorithm (manual 000).
    pub fn tumar_name(self) -> &'static str {
        match self {
            Alg::Gost256 | Alg::Gost512 => "EC 256/512 (GOST 34.310-2004 A/Xch)",
            Alg::Rsa2048 => "RSA 2048 (Xch)",
        }
    }

    /// Whether this is a GOST algorithm.
    pub fn is_gost(self) -> bool {
        !matches!(self, Alg::Rsa2048)
    }

    /// The key pair generation mechanism.
    pub fn keygen_mechanism(self) -> u64 {
        match self {
            Alg::Gost256 => cryptoki_sys::CKM_GOSTR3410_KEY_PAIR_GEN,
            Alg::Gost512 => tc26::CKM_GOSTR3410_512_KEY_PAIR_GEN,
            Alg::Rsa2048 => cryptoki_sys::CKM_RSA_PKCS_KEY_PAIR_GEN,
        }
    }

    /// The hash-and-sign mechanism.
    pub fn sign_mechanism(self) -> u64 {
        match self {
            Alg::Gost256 => tc26::CKM_GOSTR3410_WITH_GOSTR3411_12_256,
            Alg::Gost512 => tc26::CKM_GOSTR3410_WITH_GOSTR3411_12_512,
            Alg::Rsa2048 => cryptoki_sys::CKM_SHA256_RSA_PKCS,
        }
    }

    fn from_key_type(kt: u64) -> Option<Alg> {
        match kt {
            cryptoki_sys::CKK_GOSTR3410 => Some(Alg::Gost256),
            tc26::CKK_GOSTR3410_512 => Some(Alg::Gost512),
            cryptoki_sys::CKK_RSA => Some(Alg::Rsa2048),
            _ => None,
        }
    }
}

/// A failed token operation: the `CKR_*` name (or a harness code) and a
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P11Error {
    /// `CKR_PIN_INCORRECT`, … or a harness code such as `key_not_found`.
    pub code: String,
    /// What was being done.
    pub message: String,
}

impl std::fmt::Display for P11Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for P11Error {}

/// Converts cryptoki's `RvError` debug name (`PinIncorrect`) into the spec
/// name (`CKR_PIN_INCORRECT`).
pub fn ckr_name(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => {
            let dbg = format!("{rv:?}");
            let mut out = String::from("CKR");
            for (i, c) in dbg.char_indices() {
                if c.is_ascii_uppercase()
                    || (c.is_ascii_digit()
                        && i > 0
                        && !dbg[..i].ends_with(|p: char| p.is_ascii_digit()))
                {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
        other => format!("cryptoki_{other}"),
    }
}

fn err(what: &str) -> impl FnOnce(CkError) -> P11Error + '_ {
    move |e| {
        let code = ckr_name(&e);
        let message = match &e {
            // cryptoki's Display of a CK_RV is the spec's paragraph: keep the name.
            CkError::Pkcs11(_, f) => {
                let func = format!("C_{f:?}");
                if func == what {
                    format!("{func} returned {code}")
                } else {
                    format!("{func} returned {code} ({what})")
                }
            }
            other => format!("{what}: {other}"),
        };
        P11Error { code, message }
    }
}

/// Harness-level error (no CK_RV).
pub fn harness_err(code: &str, message: impl Into<String>) -> P11Error {
    P11Error {
        code: code.into(),
        message: message.into(),
    }
}

/// Result of token operations.
pub type P11Result<T> = Result<T, P11Error>;

/// A public key read from the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA modulus and public exponent, big-endian.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Exponent.
        e: Vec<u8>,
    },
    /// GOST: the curve OID (DER) and `X_LE ‖ Y_LE`.
    Gost {
        /// Key size.
        alg: Alg,
        /// `CKA_GOSTR3410_PARAMS`.
        params_der: Vec<u8>,
        /// `CKA_VALUE`.
        xy_le: Vec<u8>,
    },
}

/// A key pair on the token, as a configurator lists it.
#[derive(Debug, Clone)]
pub struct KeyEntry {
    /// `CKA_ID`.
    pub id: Vec<u8>,
    /// `CKA_LABEL` of the private key.
    pub label: String,
    /// Algorithm.
    pub alg: Alg,
    /// Private key handle.
    pub private: ObjectHandle,
    /// Public key handle, if there is a public key object.
    pub public: Option<ObjectHandle>,
    /// The certificate with the same `CKA_ID`, DER.
    pub cert: Option<Vec<u8>>,
}

/// A loaded and initialised PKCS#11 module plus the slot the scenario uses.
pub struct Token {
    ctx: Pkcs11,
    raw: raw::Raw,
    slot: Slot,
    module_path: PathBuf,
    calls: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.module_path)
            .field("slot", &self.slot.id())
            .finish()
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        let _ = self.raw.finalize();
    }
}

/// How to pick the slot.
#[derive(Debug, Clone, Default)]
pub enum SlotChoice {
    /// The first slot with a token.
    #[default]
    First,
    /// This slot id.
    Id(u64),
    /// The slot whose token has this label.
    Label(String),
}

impl Token {
    /// Loads `module`, calls `C_Initialize` and picks the slot.
    pub fn open(module: &Path, choice: &SlotChoice) -> P11Result<Token> {
        let ctx = Pkcs11::new(module).map_err(err("loading the module"))?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(err("C_Initialize"))?;
        let raw = raw::Raw::load(module)?;
        let slots = ctx.get_all_slots().map_err(err("C_GetSlotList"))?;
        let slot = match choice {
            SlotChoice::First => {
                let with = ctx.get_slots_with_token().map_err(err("C_GetSlotList"))?;
                *with
                    .first()
                    .ok_or_else(|| harness_err("no_token", "no slot holds a token"))?
            }
            SlotChoice::Id(id) => *slots
                .iter()
                .find(|s| s.id() == *id)
                .ok_or_else(|| harness_err("no_slot", format!("the module has no slot {id}")))?,
            SlotChoice::Label(l) => {
                let mut found = None;
                for s in ctx.get_slots_with_token().map_err(err("C_GetSlotList"))? {
                    if let Ok(ti) = ctx.get_token_info(s) {
                        if ti.label().trim_end() == l {
                            found = Some(s);
                            break;
                        }
                    }
                }
                found.ok_or_else(|| harness_err("no_token", format!("no token labelled {l:?}")))?
            }
        };
        Ok(Token {
            ctx,
            raw,
            slot,
            module_path: module.to_path_buf(),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// The slot id in use.
    pub fn slot_id(&self) -> u64 {
        self.slot.id()
    }

    /// Records one PKCS#11 call by name.
    pub fn note(&self, call: &str) {
        self.calls.lock().expect("call log").push(call.to_string());
    }

    /// Takes the calls recorded since the last take.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.calls.lock().expect("call log"))
    }

    /// Whether the module lists `mech` for the slot.
    pub fn supports(&self, mech: u64) -> bool {
        self.note("C_GetMechanismList");
        self.raw
            .mechanisms(self.slot.id())
            .map(|l| l.contains(&mech))
            .unwrap_or(false)
    }

    /// Whether the token is present.
    pub fn present(&self) -> bool {
        self.note("C_GetSlotInfo");
        self.ctx
            .get_slot_info(self.slot)
            .map(|i| i.token_present())
            .unwrap_or(false)
    }

    /// Token model and label.
    pub fn model_label(&self) -> P11Result<(String, String)> {
        self.note("C_GetTokenInfo");
        let ti = self
            .ctx
            .get_token_info(self.slot)
            .map_err(err("C_GetTokenInfo"))?;
        Ok((
            ti.model().trim_end().to_string(),
            ti.label().trim_end().to_string(),
        ))
    }

    /// The user PIN state from the token flags: `ok`, `count_low`,
    /// `final_try`, `locked`.
    pub fn user_pin_state(&self) -> P11Result<&'static str> {
        self.note("C_GetTokenInfo");
        let ti = self
            .ctx
            .get_token_info(self.slot)
            .map_err(err("C_GetTokenInfo"))?;
        Ok(if ti.user_pin_locked() {
            "locked"
        } else if ti.user_pin_final_try() {
            "final_try"
        } else if ti.user_pin_count_low() {
            "count_low"
        } else {
            "ok"
        })
    }

    /// Opens a session (R/W or R/O).
    pub fn session(&self, rw: bool) -> P11Result<Session> {
        self.note("C_OpenSession");
        if rw {
            self.ctx
                .open_rw_session(self.slot)
                .map_err(err("C_OpenSession"))
        } else {
            self.ctx
                .open_ro_session(self.slot)
                .map_err(err("C_OpenSession"))
        }
    }

    /// Opens a R/W session and logs the user in.
    pub fn user_session(&self, pin: &str) -> P11Result<Session> {
        let s = self.session(true)?;
        self.login(&s, UserType::User, pin)?;
        Ok(s)
    }

    /// `C_Login`.
    pub fn login(&self, s: &Session, who: UserType, pin: &str) -> P11Result<()> {
        self.note("C_Login");
        s.login(who, Some(&AuthPin::new(pin.into())))
            .map_err(err("C_Login"))
    }

    /// `C_InitToken` with the SO PIN (every object is destroyed).
    pub fn init_token(&self, so_pin: &str, label: &str) -> P11Result<()> {
        self.note("C_InitToken");
        self.ctx
            .init_token(self.slot, &AuthPin::new(so_pin.into()), label)
            .map_err(err("C_InitToken"))
    }

    /// `C_InitPIN` by the SO (sets the user PIN, unlocks it).
    pub fn init_user_pin(&self, so_pin: &str, user_pin: &str) -> P11Result<()> {
        let s = self.session(true)?;
        self.login(&s, UserType::So, so_pin)?;
        self.note("C_InitPIN");
        s.init_pin(&AuthPin::new(user_pin.into()))
            .map_err(err("C_InitPIN"))
    }

    /// Generates a key pair on the token. GOST goes through [`raw`].
    pub fn generate(
        &self,
        s: &Session,
        alg: Alg,
        id: &[u8],
        label: &str,
    ) -> P11Result<(ObjectHandle, ObjectHandle)> {
        self.note("C_GenerateKeyPair");
        match alg {
            Alg::Rsa2048 => {
                let pubt = vec![
                    Attribute::Token(true),
                    Attribute::Private(false),
                    Attribute::Verify(true),
                    Attribute::ModulusBits(2048.into()),
                    Attribute::PublicExponent(vec![1, 0, 1]),
                    Attribute::Id(id.to_vec()),
                    Attribute::Label(label.as_bytes().to_vec()),
                ];
                let privt = vec![
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Sign(true),
                    Attribute::Id(id.to_vec()),
                    Attribute::Label(label.as_bytes().to_vec()),
                ];
                s.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &pubt, &privt)
                    .map_err(err("C_GenerateKeyPair"))
            }
            Alg::Gost256 | Alg::Gost512 => {
                let params = if alg == Alg::Gost256 {
                    CRYPTOPRO_A_DER
                } else {
                    TC26_512_A_DER
                };
                let (p, k) = self.raw.generate_gost(
                    s.handle(),
                    alg.keygen_mechanism(),
                    params,
                    id,
                    label,
                )?;
                Ok((raw::object_handle(p), raw::object_handle(k)))
            }
        }
    }

    /// Reads a public key object's key.
    pub fn public_key(&self, s: &Session, alg: Alg, h: ObjectHandle) -> P11Result<PublicKey> {
        self.note("C_GetAttributeValue");
        match alg {
            Alg::Rsa2048 => {
                let attrs = s
                    .get_attributes(h, &[AttributeType::Modulus, AttributeType::PublicExponent])
                    .map_err(err("C_GetAttributeValue"))?;
                let (mut n, mut e) = (Vec::new(), Vec::new());
                for a in attrs {
                    match a {
                        Attribute::Modulus(v) => n = v,
                        Attribute::PublicExponent(v) => e = v,
                        _ => {}
                    }
                }
                Ok(PublicKey::Rsa { n, e })
            }
            Alg::Gost256 | Alg::Gost512 => {
                let (params_der, xy_le) = self.raw.gost_public(s.handle(), h.handle())?;
                Ok(PublicKey::Gost {
                    alg,
                    params_der,
                    xy_le,
                })
            }
        }
    }

    /// Signs `data` with the key's hash-and-sign mechanism.
    pub fn sign(
        &self,
        s: &Session,
        alg: Alg,
        key: ObjectHandle,
        data: &[u8],
    ) -> P11Result<Vec<u8>> {
        self.note("C_SignInit");
        self.note("C_Sign");
        let mech = match alg {
            Alg::Rsa2048 => Mechanism::Sha256RsaPkcs,
            _ => {
                let t = MechanismType::new_vendor_defined(alg.sign_mechanism())
                    .map_err(err("mechanism"))?;
                Mechanism::VendorDefined(VendorDefinedMechanism::new::<()>(t, None))
            }
        };
        s.sign(&mech, key, data).map_err(err("C_Sign"))
    }

    /// Stores an X.509 certificate object with this `CKA_ID` and label.
    #[allow(clippy::too_many_arguments)]
    pub fn store_certificate(
        &self,
        s: &Session,
        id: &[u8],
        label: &str,
        der: &[u8],
        subject: &[u8],
        issuer: &[u8],
        serial: &[u8],
    ) -> P11Result<ObjectHandle> {
        self.note("C_CreateObject");
        s.create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Subject(subject.to_vec()),
            Attribute::Issuer(issuer.to_vec()),
            Attribute::SerialNumber(serial.to_vec()),
            Attribute::Value(der.to_vec()),
        ])
        .map_err(err("C_CreateObject"))
    }

    fn find(&self, s: &Session, t: &[Attribute]) -> P11Result<Vec<ObjectHandle>> {
        self.note("C_FindObjectsInit");
        self.note("C_FindObjects");
        self.note("C_FindObjectsFinal");
        s.find_objects(t).map_err(err("C_FindObjects"))
    }

    fn bytes_attr(&self, s: &Session, h: ObjectHandle, t: AttributeType) -> P11Result<Vec<u8>> {
        self.note("C_GetAttributeValue");
        let v = s
            .get_attributes(h, &[t])
            .map_err(err("C_GetAttributeValue"))?;
        Ok(match v.into_iter().next() {
            Some(Attribute::Id(b)) | Some(Attribute::Label(b)) | Some(Attribute::Value(b)) => b,
            _ => Vec::new(),
        })
    }

    /// Every key pair the session can see (private keys with their public
    /// key and certificate by `CKA_ID`), in handle order.
    pub fn list_keys(&self, s: &Session) -> P11Result<Vec<KeyEntry>> {
        let privs = self.find(s, &[Attribute::Class(ObjectClass::PRIVATE_KEY)])?;
        let mut out = Vec::new();
        for h in privs {
            self.note("C_GetAttributeValue");
            let attrs = s
                .get_attributes(
                    h,
                    &[
                        AttributeType::Id,
                        AttributeType::Label,
                        AttributeType::KeyType,
                    ],
                )
                .map_err(err("C_GetAttributeValue"))?;
            let (mut id, mut label, mut kt) = (Vec::new(), String::new(), None);
            for a in attrs {
                match a {
                    Attribute::Id(v) => id = v,
                    Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                    Attribute::KeyType(k) => kt = Some(k),
                    _ => {}
                }
            }
            let Some(alg) =
                kt.and_then(|k: KeyType| Alg::from_key_type(cryptoki_sys::CK_KEY_TYPE::from(k)))
            else {
                continue;
            };
            let public = self
                .find(
                    s,
                    &[
                        Attribute::Class(ObjectClass::PUBLIC_KEY),
                        Attribute::Id(id.clone()),
                    ],
                )?
                .into_iter()
                .next();
            let cert = match self
                .find(
                    s,
                    &[
                        Attribute::Class(ObjectClass::CERTIFICATE),
                        Attribute::Id(id.clone()),
                    ],
                )?
                .into_iter()
                .next()
            {
                Some(c) => Some(self.bytes_attr(s, c, AttributeType::Value)?),
                None => None,
            };
            out.push(KeyEntry {
                id,
                label,
                alg,
                private: h,
                public,
                cert,
            });
        }
        Ok(out)
    }

    /// Destroys the private key, public key and certificates with this
    /// `CKA_ID`. The private key must be visible (the user logged in):
    /// otherwise `key_not_found`. Returns how many objects went.
    pub fn destroy_key(&self, s: &Session, id: &[u8]) -> P11Result<usize> {
        let privs = self.find(
            s,
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Id(id.to_vec()),
            ],
        )?;
        if privs.is_empty() {
            return Err(harness_err(
                "key_not_found",
                format!(
                    "no private key with CKA_ID {} is visible in this session",
                    hex::encode(id)
                ),
            ));
        }
        let mut n = 0;
        for h in self.find(s, &[Attribute::Id(id.to_vec())])? {
            self.note("C_DestroyObject");
            s.destroy_object(h).map_err(err("C_DestroyObject"))?;
            n += 1;
        }
        Ok(n)
    }

    /// Destroys every object with this `CKA_ID` the session can see.
    pub fn destroy_all_with_id(&self, s: &Session, id: &[u8]) -> P11Result<usize> {
        let hs = self.find(s, &[Attribute::Id(id.to_vec())])?;
        for h in &hs {
            self.note("C_DestroyObject");
            s.destroy_object(*h).map_err(err("C_DestroyObject"))?;
        }
        Ok(hs.len())
    }

    /// `C_DestroyObject` on one handle (to show what a module answers when
    /// the session may not do it).
    pub fn destroy_handle(&self, s: &Session, h: ObjectHandle) -> P11Result<()> {
        self.note("C_DestroyObject");
        s.destroy_object(h).map_err(err("C_DestroyObject"))
    }

    /// The certificates (public objects, no log-in needed): (`CKA_ID`, DER).
    pub fn certificates(&self, s: &Session) -> P11Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        for h in self.find(s, &[Attribute::Class(ObjectClass::CERTIFICATE)])? {
            out.push((
                self.bytes_attr(s, h, AttributeType::Id)?,
                self.bytes_attr(s, h, AttributeType::Value)?,
            ));
        }
        Ok(out)
    }

    /// Reads `CKA_ID` bytes of an object.
    pub fn id_of(&self, s: &Session, h: ObjectHandle) -> P11Result<Vec<u8>> {
        self.bytes_attr(s, h, AttributeType::Id)
    }
}
