//! The shape of a conformance check (data: id, title, spec section,
//! requirements, function) and the context a check runs in.

use cryptoki_sys::*;
use serde::{Deserialize, Serialize};
use tokenemu_core::names::{mechanism_name, rv_name};

use crate::p11::client::{Client, Template};

/// The spec chapters the checks are grouped by (also the `--only` /
/// `--skip` chapter names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chapter {
    /// General-purpose functions (C_Initialize, C_GetInfo, …).
    General,
    /// Slot and token management.
    SlotToken,
    /// Session and login state machines.
    Session,
    /// The two-call size-query protocol.
    SizeQuery,
    /// Error codes for bad handles, arguments, templates and lengths.
    Errors,
    /// Attribute policy.
    Attributes,
    /// Operation lifecycle.
    Operations,
    /// Per-mechanism correctness.
    Mechanisms,
    /// Secret keys: symmetric known answers, check values, wrapping policy,
    /// key derivation.
    SecretKeys,
    /// Token-info policy: PIN lengths, retry counters, re-initialisation.
    TokenPolicy,
}

impl Chapter {
    /// Every chapter, in catalogue order.
    pub const ALL: [Chapter; 10] = [
        Chapter::General,
        Chapter::SlotToken,
        Chapter::Session,
        Chapter::SizeQuery,
        Chapter::Errors,
        Chapter::Attributes,
        Chapter::Operations,
        Chapter::Mechanisms,
        Chapter::SecretKeys,
        Chapter::TokenPolicy,
    ];

    /// The chapter's name (the prefix of its check ids).
    pub fn name(self) -> &'static str {
        match self {
            Chapter::General => "general",
            Chapter::SlotToken => "slot-token",
            Chapter::Session => "session",
            Chapter::SizeQuery => "size-query",
            Chapter::Errors => "errors",
            Chapter::Attributes => "attributes",
            Chapter::Operations => "operations",
            Chapter::Mechanisms => "mechanisms",
            Chapter::SecretKeys => "secret-keys",
            Chapter::TokenPolicy => "token-policy",
        }
    }
}

/// What a check needs before it can run.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// Mechanisms the token must list (all of them).
    pub mechanisms: &'static [CK_MECHANISM_TYPE],
    /// The user PIN (it logs in).
    pub login: bool,
    /// The SO PIN.
    pub so_pin: bool,
    /// It changes or may destroy data on the token (PINs, retry counters,
    /// re-initialisation): runs only with --allow-destructive.
    pub destructive: bool,
}

impl Needs {
    /// Nothing.
    pub const NONE: Needs = Needs {
        mechanisms: &[],
        login: false,
        so_pin: false,
        destructive: false,
    };

    /// Needs the user PIN.
    pub const fn login(self) -> Needs {
        Needs {
            login: true,
            ..self
        }
    }

    /// Needs the SO PIN.
    pub const fn so(self) -> Needs {
        Needs {
            so_pin: true,
            ..self
        }
    }

    /// Destructive.
    pub const fn destructive(self) -> Needs {
        Needs {
            destructive: true,
            ..self
        }
    }

    /// Needs these mechanisms.
    pub const fn mechs(self, mechanisms: &'static [CK_MECHANISM_TYPE]) -> Needs {
        Needs { mechanisms, ..self }
    }
}

/// Why a check stopped without passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The module did not do what the spec says.
    Fail {
        /// What went wrong, naming the call and the spec's expectation.
        message: String,
        /// The CK_RV the module returned instead, when that is the failure.
        rv: Option<CK_RV>,
    },
    /// The check does not apply to this token.
    Skip(String),
}

/// A check's result: `Ok(note)` passed (the note says e.g. which of the
/// allowed return values came back).
pub type CheckResult = Result<Option<String>, Stop>;

/// One check of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Stable id, `<chapter>.<name>` (used by --only, --skip, expectations).
    pub id: &'static str,
    /// Chapter.
    pub chapter: Chapter,
    /// What it checks, one line.
    pub title: &'static str,
    /// The spec section(s) it follows.
    pub spec: &'static str,
    /// Requirements.
    pub needs: Needs,
    /// The check.
    pub run: fn(&mut Ctx) -> CheckResult,
}

/// A failure naming the call, what came back and what the spec wants.
pub fn fail(message: impl Into<String>) -> Stop {
    Stop::Fail {
        message: message.into(),
        rv: None,
    }
}

/// A skip with the reason.
pub fn skip(reason: impl Into<String>) -> Stop {
    Stop::Skip(reason.into())
}

/// `got` must be `want`.
pub fn expect_rv(call: &str, got: CK_RV, want: CK_RV) -> Result<(), Stop> {
    if got == want {
        return Ok(());
    }
    Err(Stop::Fail {
        message: format!(
            "{call} returned {}, expected {}",
            rv_name(got),
            rv_name(want)
        ),
        rv: Some(got),
    })
}

/// `got` must be one of `allowed` (the spec allows several); returns the
/// name of the one that came back.
pub fn expect_one_of(call: &str, got: CK_RV, allowed: &[CK_RV]) -> Result<String, Stop> {
    if allowed.contains(&got) {
        return Ok(rv_name(got));
    }
    Err(Stop::Fail {
        message: format!(
            "{call} returned {}, expected one of {}",
            rv_name(got),
            allowed
                .iter()
                .map(|r| rv_name(*r))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        rv: Some(got),
    })
}

/// `rv` must be CKR_OK.
pub fn ok(call: &str, rv: CK_RV) -> Result<(), Stop> {
    expect_rv(call, rv, CKR_OK)
}

/// `cond` must hold.
pub fn ensure(cond: bool, message: impl FnOnce() -> String) -> Result<(), Stop> {
    if cond {
        Ok(())
    } else {
        Err(fail(message()))
    }
}

/// What a check runs against: one slot of a loaded, initialised module.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The module.
    pub p11: &'a Client,
    /// The slot.
    pub slot: CK_SLOT_ID,
    /// The user PIN (None: checks that log in are skipped).
    pub user_pin: Option<Vec<u8>>,
    /// The SO PIN.
    pub so_pin: Option<Vec<u8>>,
    /// The token's mechanism list, read once before the checks.
    pub mechanisms: Vec<CK_MECHANISM_TYPE>,
    /// The token label the run started with (re-initialisation keeps it).
    pub label: String,
}

/// Prefix of every object label a check creates.
pub const LABEL_PREFIX: &str = "tokenemu-conformance";

impl Ctx<'_> {
    /// Whether the token lists `m`.
    pub fn has(&self, m: CK_MECHANISM_TYPE) -> bool {
        self.mechanisms.contains(&m)
    }

    /// Requires `m`, else skips with the reason.
    pub fn require(&self, m: CK_MECHANISM_TYPE) -> Result<(), Stop> {
        if self.has(m) {
            Ok(())
        } else {
            Err(skip(format!(
                "the token does not list {}",
                mechanism_name(m)
            )))
        }
    }

    /// Opens a session (read-write if `rw`).
    pub fn open(&self, rw: bool) -> Result<CK_SESSION_HANDLE, Stop> {
        let flags = CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 };
        let (rv, h) = self.p11.open_session(self.slot, flags);
        ok("C_OpenSession", rv)?;
        Ok(h)
    }

    /// The user PIN, or a skip.
    pub fn user_pin(&self) -> Result<Vec<u8>, Stop> {
        self.user_pin
            .clone()
            .ok_or_else(|| skip("no user PIN given (--pin-env)"))
    }

    /// The SO PIN, or a skip.
    pub fn so_pin(&self) -> Result<Vec<u8>, Stop> {
        self.so_pin
            .clone()
            .ok_or_else(|| skip("no SO PIN given (--so-pin-env)"))
    }

    /// Logs the user in on `s`.
    pub fn login_user(&self, s: CK_SESSION_HANDLE) -> Result<(), Stop> {
        let pin = self.user_pin()?;
        ok("C_Login(CKU_USER)", self.p11.login(s, CKU_USER, Some(&pin)))
    }

    /// A read-write session with the user logged in.
    pub fn user_session(&self) -> Result<CK_SESSION_HANDLE, Stop> {
        let s = self.open(true)?;
        self.login_user(s)?;
        Ok(s)
    }

    /// The token info.
    pub fn token_info(&self) -> Result<CK_TOKEN_INFO, Stop> {
        let (rv, info) = self.p11.token_info(self.slot);
        ok("C_GetTokenInfo", rv)?;
        Ok(info)
    }

    /// The session state.
    pub fn state(&self, s: CK_SESSION_HANDLE) -> Result<CK_STATE, Stop> {
        let (rv, info) = self.p11.session_info(s);
        ok("C_GetSessionInfo", rv)?;
        Ok(info.state)
    }

    /// Creates a public session data object (CKA_TOKEN false, CKA_PRIVATE
    /// false unless `extra` sets it) labelled `<prefix>-<name>`, plus
    /// `extra` attributes.
    pub fn data_object(
        &self,
        s: CK_SESSION_HANDLE,
        name: &str,
        extra: Template,
    ) -> Result<CK_OBJECT_HANDLE, Stop> {
        let mut t = Template::new()
            .ulong(CKA_CLASS, CKO_DATA)
            .bool(CKA_TOKEN, false)
            .text(CKA_LABEL, &format!("{LABEL_PREFIX}-{name}"))
            .bytes(CKA_VALUE, b"conformance");
        // CKA_PRIVATE's default is token-specific (base v3.0 §4.4): say
        // "public" unless the check chose, so no login is needed.
        if !extra.has(CKA_PRIVATE) {
            t = t.bool(CKA_PRIVATE, false);
        }
        t = t.extend(extra);
        let (rv, h) = self.p11.create_object(s, &t);
        ok("C_CreateObject(CKO_DATA)", rv)?;
        Ok(h)
    }

    /// Ends everything the check left behind: closes every session of the
    /// slot, which logs out and destroys the session objects.
    pub fn cleanup(&self) {
        let _ = self.p11.close_all_sessions(self.slot);
    }
}

/// Blank-padded fixed-size text (CK_INFO, CK_SLOT_INFO, CK_TOKEN_INFO
/// strings) as a trimmed string.
pub fn padded(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim_end().to_string()
}

/// Whether a fixed-size string field is blank-padded text without NUL
/// (base spec v3.0 §3.1–3.2: "must be padded with the blank character").
pub fn is_blank_padded(b: &[u8]) -> bool {
    !b.contains(&0) && std::str::from_utf8(b).is_ok()
}
