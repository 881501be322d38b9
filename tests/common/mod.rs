//! Shared helpers for the integration tests that load the built
//! `libtokenemu.so`.
//!
//! - The module path comes from `TOKENEMU_MODULE`, else
//!   `target/<debug|release>/libtokenemu.so` next to this workspace. Build it
//!   first: `cargo build -p tokenemu-pkcs11` (cargo test does not build a
//!   cdylib of another package).
//! - Each test writes its own configuration (two or more `[[slot]]`s, each
//!   with a store under a fresh temp dir) and points `TOKENEMU_CONF` at it
//!   before `C_Initialize`. Module state is process-global, so every test is
//!   `#[serial]`.
//! - [`Ctx`] finalizes the library when dropped, also when a test panics, so
//!   one failing test does not make the next one see
//!   `CKR_CRYPTOKI_ALREADY_INITIALIZED`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use cryptoki_sys::*;
use tokenemu_core::profile::Profile;

/// Path of the module under test.
pub fn module_path() -> PathBuf {
    if let Some(p) = std::env::var_os("TOKENEMU_MODULE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let path = target.join(profile).join("libtokenemu.so");
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build -p tokenemu-pkcs11{}` first (or set TOKENEMU_MODULE)",
        path.display(),
        if profile == "release" {
            " --release"
        } else {
            ""
        }
    );
    path
}

/// A slot of a test configuration.
#[derive(Clone, Copy, Debug)]
pub struct SlotSpec {
    /// Slot id.
    pub id: CK_SLOT_ID,
    /// Built-in profile name.
    pub profile: &'static str,
    /// Token inserted at start.
    pub present: bool,
}

/// The default test layout: slot 0 JaCarta GOST, slot 1 eToken, slot 2
/// JaCarta PKI, all present.
pub const DEFAULT_SLOTS: &[SlotSpec] = &[
    SlotSpec {
        id: 0,
        profile: "jacarta-gost",
        present: true,
    },
    SlotSpec {
        id: 1,
        profile: "etoken",
        present: true,
    },
    SlotSpec {
        id: 2,
        profile: "jacarta-pki",
        present: true,
    },
];

/// The slot of [`DEFAULT_SLOTS`] that holds an RSA/EC-capable eToken.
pub const ETOKEN: CK_SLOT_ID = 1;
/// The JaCarta GOST slot of [`DEFAULT_SLOTS`].
pub const JACARTA_GOST: CK_SLOT_ID = 0;

/// A temp dir with a configuration file; `TOKENEMU_CONF` points at it.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub slots: Vec<SlotSpec>,
}

impl TestEnv {
    /// Writes a configuration for `slots` and sets `TOKENEMU_CONF`.
    pub fn new(slots: &[SlotSpec]) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut text = String::new();
        for s in slots {
            text += &format!(
                "[[slot]]\nid = {}\nprofile = \"{}\"\nstore = \"{}\"\npresent = {}\n\n",
                s.id,
                s.profile,
                dir.path().join(format!("slot-{}", s.id)).display(),
                s.present
            );
        }
        let conf = dir.path().join("tokenemu.toml");
        std::fs::write(&conf, text).expect("write config");
        let env = TestEnv {
            dir,
            conf,
            slots: slots.to_vec(),
        };
        env.activate();
        env
    }

    /// Points `TOKENEMU_CONF` at this configuration again (after another
    /// environment was active).
    pub fn activate(&self) {
        std::env::set_var("TOKENEMU_CONF", &self.conf);
    }

    /// The store directory of a slot.
    pub fn store_dir(&self, slot: CK_SLOT_ID) -> PathBuf {
        self.dir.path().join(format!("slot-{slot}"))
    }

    /// The profile of a slot.
    pub fn profile(&self, slot: CK_SLOT_ID) -> Profile {
        let spec = self
            .slots
            .iter()
            .find(|s| s.id == slot)
            .expect("slot in config");
        Profile::builtin(spec.profile).expect("built-in profile")
    }

    /// The default user PIN of a slot's profile.
    pub fn user_pin(&self, slot: CK_SLOT_ID) -> AuthPin {
        AuthPin::from(self.profile(slot).pin.default_user_pin)
    }

    /// The default SO PIN of a slot's profile.
    pub fn so_pin(&self, slot: CK_SLOT_ID) -> AuthPin {
        AuthPin::from(self.profile(slot).pin.default_so_pin)
    }
}

/// An initialised library for one test; finalizes on drop.
pub struct Ctx {
    p11: Option<Pkcs11>,
    pub env: TestEnv,
}

impl Ctx {
    /// [`DEFAULT_SLOTS`], initialised.
    pub fn new() -> Ctx {
        Ctx::with_slots(DEFAULT_SLOTS)
    }

    /// Writes a configuration for `slots` and initialises the library.
    pub fn with_slots(slots: &[SlotSpec]) -> Ctx {
        let env = TestEnv::new(slots);
        let p11 = load();
        init(&p11).expect("C_Initialize");
        Ctx {
            p11: Some(p11),
            env,
        }
    }

    /// The cryptoki context.
    pub fn p11(&self) -> &Pkcs11 {
        self.p11.as_ref().expect("initialised")
    }

    /// `C_Finalize` + `C_Initialize` on the same configuration (stores stay).
    pub fn reinitialize(&mut self) {
        if let Some(p) = self.p11.take() {
            p.finalize().expect("C_Finalize");
        }
        self.env.activate();
        let p11 = load();
        init(&p11).expect("C_Initialize");
        self.p11 = Some(p11);
    }

    /// `C_Finalize` now (the drop then does nothing).
    pub fn finalize(mut self) -> cryptoki::error::Result<()> {
        self.p11.take().map_or(Ok(()), Pkcs11::finalize)
    }

    /// A slot by id.
    pub fn slot(&self, id: CK_SLOT_ID) -> Slot {
        Slot::try_from(id).expect("slot id")
    }

    /// A read-write session on `slot`.
    pub fn rw(&self, slot: CK_SLOT_ID) -> Session {
        self.p11()
            .open_rw_session(self.slot(slot))
            .expect("C_OpenSession")
    }

    /// A read-only session on `slot`.
    pub fn ro(&self, slot: CK_SLOT_ID) -> Session {
        self.p11()
            .open_ro_session(self.slot(slot))
            .expect("C_OpenSession")
    }

    /// A read-write session on `slot`, logged in as the user.
    pub fn user_session(&self, slot: CK_SLOT_ID) -> Session {
        let s = self.rw(slot);
        s.login(UserType::User, Some(&self.env.user_pin(slot)))
            .expect("C_Login(CKU_USER)");
        s
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if let Some(p) = self.p11.take() {
            let _ = p.finalize();
        }
    }
}

/// Loads the module through cryptoki (no `C_Initialize`).
pub fn load() -> Pkcs11 {
    Pkcs11::new(module_path()).expect("load libtokenemu.so")
}

/// `C_Initialize` with `CKF_OS_LOCKING_OK`.
pub fn init(p11: &Pkcs11) -> cryptoki::error::Result<()> {
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
}

/// `C_Initialize`, then a read-write session on the eToken slot with the user
/// logged in with the profile's default PIN: how the child processes of the
/// crash and multi-process tests start (the parent configured the slots).
pub fn etoken_user_session(p11: &Pkcs11) -> Session {
    init(p11).expect("C_Initialize");
    let slot = Slot::try_from(ETOKEN).expect("slot");
    let s = p11.open_rw_session(slot).expect("C_OpenSession");
    let pin = AuthPin::from(
        Profile::builtin("etoken")
            .expect("profile")
            .pin
            .default_user_pin,
    );
    s.login(UserType::User, Some(&pin)).expect("C_Login");
    s
}

/// The raw C API of the module, through its exported symbols (for inputs
/// cryptoki cannot express: NULL pointers, bad sizes, bad handles).
pub fn raw() -> cryptoki_sys::Pkcs11 {
    // SAFETY: loading our own module runs no constructors with preconditions.
    unsafe { cryptoki_sys::Pkcs11::new(module_path()) }.expect("load libtokenemu.so")
}

/// The `CK_RV` inside a cryptoki error (panics on non-PKCS#11 errors).
pub fn rv_of(e: &Error) -> RvError {
    match e {
        Error::Pkcs11(rv, _) => *rv,
        other => panic!("expected a PKCS#11 error, got {other}"),
    }
}

/// Asserts that `r` failed with `want`.
#[track_caller]
pub fn assert_rv<T: std::fmt::Debug>(r: cryptoki::error::Result<T>, want: RvError) {
    match r {
        Ok(v) => panic!("expected {want:?}, got Ok({v:?})"),
        Err(e) => assert_eq!(rv_of(&e), want, "{e}"),
    }
}

/// A spec name for a raw return value, for assertion messages.
pub fn rv_name(rv: CK_RV) -> String {
    tokenemu_core::names::rv_name(rv)
}

/// Asserts a raw return value, naming both sides on failure.
#[macro_export]
macro_rules! assert_ckr {
    ($got:expr, $want:expr) => {{
        let (got, want): (cryptoki_sys::CK_RV, cryptoki_sys::CK_RV) = ($got, $want);
        assert_eq!(
            common::rv_name(got),
            common::rv_name(want),
            "{} returned {}",
            stringify!($got),
            common::rv_name(got)
        );
    }};
}

/// A session RSA key pair of `bits` on `s`: public key for verifying and
/// encrypting, private (sensitive) key for signing and decrypting.
pub fn rsa_session_pair(s: &Session, bits: u64) -> (ObjectHandle, ObjectHandle) {
    s.generate_key_pair(
        &Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::Token(false),
            Attribute::ModulusBits(bits.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Verify(true),
            Attribute::Encrypt(true),
        ],
        &[
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Decrypt(true),
        ],
    )
    .expect("C_GenerateKeyPair(RSA)")
}
