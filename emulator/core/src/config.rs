//! Runtime configuration: which slots exist, which profile each token follows
//! and where its store lives.
//!
//! The environment variable `TOKENEMU_CONF` names a TOML file:
//!
//! ```toml
//! [[slot]]
//! id = 0                      # slot id, stable across restarts and C_InitToken
//! profile = "jacarta-gost"    # a built-in profile name, or a path to a profile TOML file
//! store = "/var/tmp/tokens/0" # optional; default: $XDG_DATA_HOME/tokenemu/slot-<id>
//! present = true              # optional; the token starts inserted (default true)
//! description = "…"           # optional; overrides the profile's slot description
//! latency = false             # optional; calls take as long as the real token's
//! fault_seed = 42             # optional; seed of the random faults below
//! memory = "unlimited"        # optional; object storage in bytes (CKR_DEVICE_MEMORY
//!                             # beyond), or "unlimited"; default: the profile's figure
//! max_objects = 0             # optional; most token objects, 0 = no limit; default: the profile's
//! max_sessions = 0            # optional; most open sessions, 0 = no limit; default: the profile's
//!
//! [[slot.fault]]              # optional, any number: injected faults (see `hooks`)
//! function = "C_Sign"         # a C function name, or "*"
//! rv = "CKR_DEVICE_ERROR"     # what to return (default CKR_DEVICE_ERROR)
//! nth = 3                     # on the 3rd call; or every = N; or probability = 0.1
//! action = "fail"             # or "unplug": pull the token out instead
//! ```
//!
//! Without the variable the embedded default applies: slot 0 holds a JaCarta
//! GOST token and slot 1 an eToken, both removable, stored under the XDG data
//! directory, created on first use with the profile's default PINs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::ck::CK_SLOT_ID;
use crate::error::{Error, Result};
use crate::hooks::FaultRule;
use crate::profile::Profile;

/// The environment variable naming the configuration file.
pub const CONF_ENV: &str = "TOKENEMU_CONF";

/// The embedded default configuration (relative stores resolve under the XDG
/// data directory).
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    slot: Vec<RawSlot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlot {
    id: CK_SLOT_ID,
    profile: String,
    store: Option<PathBuf>,
    present: Option<bool>,
    description: Option<String>,
    #[serde(default)]
    latency: bool,
    #[serde(default)]
    fault_seed: u64,
    #[serde(default)]
    fault: Vec<FaultRule>,
    memory: Option<MemorySetting>,
    max_objects: Option<usize>,
    max_sessions: Option<crate::ck::CK_ULONG>,
}

/// `memory = 81920` or `memory = "unlimited"` in a `[[slot]]`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
enum MemorySetting {
    Bytes(crate::ck::CK_ULONG),
    Word(MemoryWord),
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum MemoryWord {
    Unlimited,
}

/// Applies a slot's limit overrides to its copy of the profile.
fn with_limits(mut profile: Profile, s: &RawSlot) -> Profile {
    let t = &mut profile.token;
    match s.memory {
        Some(MemorySetting::Bytes(n)) => {
            t.memory = n;
            t.total_public_memory = n;
            t.total_private_memory = n;
        }
        Some(MemorySetting::Word(MemoryWord::Unlimited)) => {
            t.memory = 0;
            t.total_public_memory = crate::ck::CK_UNAVAILABLE_INFORMATION;
            t.total_private_memory = crate::ck::CK_UNAVAILABLE_INFORMATION;
        }
        None => {}
    }
    if let Some(n) = s.max_objects {
        t.max_objects = n;
    }
    if let Some(n) = s.max_sessions {
        t.max_sessions = n;
        if t.max_rw_sessions == 0 || (n != 0 && t.max_rw_sessions > n) {
            t.max_rw_sessions = n;
        }
    }
    profile
}

/// One configured slot.
#[derive(Debug, Clone)]
pub struct SlotConfig {
    /// The slot id.
    pub id: CK_SLOT_ID,
    /// The token profile.
    pub profile: Arc<Profile>,
    /// The token's store directory.
    pub store: PathBuf,
    /// `Some(p)` forces the presence flag at start; `None` keeps what the store says.
    pub present: Option<bool>,
    /// Slot description override.
    pub description: Option<String>,
    /// Calls take as long as the profile's `[latency]` table says.
    pub latency: bool,
    /// Seed of the random faults.
    pub fault_seed: u64,
    /// Injected faults.
    pub faults: Vec<FaultRule>,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The slots, in id order.
    pub slots: Vec<SlotConfig>,
    /// Where the configuration came from (for messages).
    pub source: String,
}

impl Config {
    /// The configuration named by `TOKENEMU_CONF`, or the embedded default.
    pub fn from_env() -> Result<Config> {
        match std::env::var_os(CONF_ENV) {
            Some(path) if !path.is_empty() => Config::from_file(Path::new(&path)),
            _ => Config::embedded_default(),
        }
    }

    /// The embedded default: a JaCarta GOST token and an eToken.
    pub fn embedded_default() -> Result<Config> {
        Config::parse(DEFAULT_CONFIG, "embedded default configuration", None)
    }

    /// Reads a configuration file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text =
            crate::util::read_toml_text(path, "configuration file").map_err(Error::Config)?;
        Config::parse(&text, &path.display().to_string(), path.parent())
    }

    /// Parses configuration text (relative profile paths resolve from the
    /// current directory).
    pub fn from_toml_str(text: &str) -> Result<Config> {
        Config::parse(text, "configuration text", None)
    }

    fn parse(text: &str, source: &str, base: Option<&Path>) -> Result<Config> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            Error::Config(format!("{source}: {}", crate::util::toml_error(text, &e)))
        })?;
        if raw.slot.is_empty() {
            return Err(Error::Config(format!("{source}: no [[slot]] entries")));
        }
        let mut slots = Vec::with_capacity(raw.slot.len());
        for s in raw.slot {
            if slots.iter().any(|o: &SlotConfig| o.id == s.id) {
                return Err(Error::Config(format!(
                    "{source}: slot id {} appears twice",
                    s.id
                )));
            }
            let profile = Profile::resolve(&s.profile, base)
                .map_err(|e| Error::Config(format!("{source}: slot {}: {e}", s.id)))?;
            let profile = with_limits(profile, &s);
            let store = match s.store {
                Some(p) if p.is_absolute() => p,
                Some(p) => base.map_or_else(|| data_dir().join(&p), |b| b.join(&p)),
                None => data_dir().join(format!("slot-{}", s.id)),
            };
            // The slot's fault file (`tokenemu token fault`) adds its rules
            // to the configuration's, and its seed replaces `fault_seed`.
            let fault_file = crate::hooks::FaultFile::load(&store)
                .map_err(|e| Error::Config(format!("slot {}: {e}", s.id)))?;
            let fault_seed = fault_file.seed.unwrap_or(s.fault_seed);
            let mut faults = s.fault;
            faults.extend(fault_file.fault);
            slots.push(SlotConfig {
                id: s.id,
                profile: Arc::new(profile),
                store,
                present: s.present,
                description: s.description,
                latency: s.latency,
                fault_seed,
                faults,
            });
        }
        slots.sort_by_key(|s| s.id);
        Ok(Config {
            slots,
            source: source.to_owned(),
        })
    }
}

/// `$XDG_DATA_HOME/tokenemu`, else `$HOME/.local/share/tokenemu`, else a
/// directory under the system temp dir.
pub fn data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("tokenemu");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".local/share/tokenemu");
    }
    std::env::temp_dir().join("tokenemu")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_has_jacarta_and_etoken() {
        let c = Config::embedded_default().unwrap();
        assert_eq!(c.slots.len(), 2);
        assert_eq!(c.slots[0].profile.name, "jacarta-gost");
        assert_eq!(c.slots[1].profile.name, "etoken");
        assert!(c.slots[0].store.ends_with("tokenemu/slot-0"));
    }

    #[test]
    fn duplicate_slot_ids_are_rejected() {
        let e = Config::from_toml_str(
            "[[slot]]\nid=1\nprofile=\"etoken\"\n[[slot]]\nid=1\nprofile=\"etoken\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
    }

    #[test]
    fn unknown_keys_and_profiles_are_named() {
        let e =
            Config::from_toml_str("[[slot]]\nid=1\nprofile=\"etoken\"\ncolour=1\n").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Config::from_toml_str("[[slot]]\nid=1\nprofile=\"nope\"\n").unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[test]
    fn slot_limits_default_to_the_profile_and_can_be_lifted() {
        let c = Config::from_toml_str(
            "[[slot]]\nid=0\nprofile=\"etoken\"\n\
             [[slot]]\nid=1\nprofile=\"etoken\"\nmemory=\"unlimited\"\nmax_objects=0\nmax_sessions=0\n\
             [[slot]]\nid=2\nprofile=\"etoken\"\nmemory=4096\nmax_objects=7\nmax_sessions=3\n",
        )
        .unwrap();
        let builtin = Profile::builtin("etoken").unwrap();
        let t = |i: usize| &c.slots[i].profile.token;
        assert_eq!(t(0).memory, builtin.token.memory);
        assert_ne!(t(0).memory, 0, "built-in profiles have a memory figure");
        assert_eq!(t(0).max_objects, builtin.token.max_objects);
        assert_eq!(t(1).memory, 0);
        assert_eq!(t(1).max_objects, 0);
        assert_eq!(t(1).max_sessions, 0);
        assert_eq!(
            t(1).total_public_memory,
            crate::ck::CK_UNAVAILABLE_INFORMATION
        );
        assert_eq!((t(2).memory, t(2).total_private_memory), (4096, 4096));
        assert_eq!((t(2).max_objects, t(2).max_sessions), (7, 3));
        assert!(t(2).max_rw_sessions <= 3 && t(2).max_rw_sessions != 0);
        let e = Config::from_toml_str("[[slot]]\nid=1\nprofile=\"etoken\"\nmemory=\"lots\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("memory"), "{e}");
    }
}
