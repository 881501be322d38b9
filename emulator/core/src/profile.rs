//! Vendor token profiles: what a JaCarta, eToken or JavaToken reports and
//! allows, as data. The built-in profiles are the TOML files under
//! `emulator/core/profiles/`, embedded at build time; a configuration may name
//! a profile file of its own instead.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::ck::*;
use crate::names;
use crate::util::excerpt;

/// The built-in profiles: (name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "jacarta-gost",
        include_str!("../profiles/jacarta-gost.toml"),
    ),
    ("jacarta-pki", include_str!("../profiles/jacarta-pki.toml")),
    ("etoken", include_str!("../profiles/etoken.toml")),
    ("javatoken", include_str!("../profiles/javatoken.toml")),
    ("softtoken", include_str!("../profiles/softtoken.toml")),
];

/// A token profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Short name (`jacarta-gost`).
    pub name: String,
    /// What the profile emulates, for people.
    pub description: String,
    /// Slot (reader) facts.
    pub slot: SlotProfile,
    /// `CK_TOKEN_INFO` facts.
    pub token: TokenProfile,
    /// PIN policy.
    pub pin: PinPolicy,
    /// Mechanisms the token lists, by spec name.
    pub mechanisms: BTreeMap<String, MechanismProfile>,
    /// How long the real token takes (used when a slot sets `latency = true`).
    #[serde(default = "default_latency")]
    pub latency: crate::hooks::LatencyProfile,
    /// Which values are assumed rather than documented (free text per field).
    #[serde(default)]
    pub assumed: BTreeMap<String, String>,
    /// `mechanism_table()`, resolved once (names are looked up in tables).
    #[serde(skip)]
    mech_table: std::sync::OnceLock<Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)>>,
}

/// Latency of a typical USB token when a profile gives none: an RSA-2048 or
/// GOST signature of the order of 100 ms, on-token RSA key generation of
/// seconds (assumed figures; the vendors publish none).
fn default_latency() -> crate::hooks::LatencyProfile {
    crate::hooks::LatencyProfile {
        default_ms: 2,
        login_ms: 40,
        private_key_ms: 100,
        keygen_ms: 3000,
        write_ms: 30,
    }
}

/// The reader the token sits in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotProfile {
    /// `slotDescription`.
    pub description: String,
    /// `manufacturerID` of the slot.
    pub manufacturer: String,
    /// Hardware version "major.minor".
    pub hardware_version: String,
    /// Firmware version "major.minor".
    pub firmware_version: String,
}

/// `CK_TOKEN_INFO` content.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenProfile {
    /// Default label written at token creation.
    pub label: String,
    /// `manufacturerID`.
    pub manufacturer: String,
    /// `model`.
    pub model: String,
    /// Serial number pattern: `#` is replaced by a random hex digit, `9` by a
    /// random decimal digit, anything else kept.
    pub serial_pattern: String,
    /// Extra `CKF_*` token flags beyond the ones the emulator computes
    /// (RNG, LOGIN_REQUIRED, USER_PIN_INITIALIZED, TOKEN_INITIALIZED and the PIN
    /// state flags), by name.
    #[serde(default)]
    pub extra_flags: Vec<String>,
    /// `ulMaxSessionCount` (0 = CK_EFFECTIVELY_INFINITE).
    pub max_sessions: CK_ULONG,
    /// `ulMaxRwSessionCount` (0 = CK_EFFECTIVELY_INFINITE).
    pub max_rw_sessions: CK_ULONG,
    /// `ulTotalPublicMemory` in bytes.
    pub total_public_memory: CK_ULONG,
    /// `ulTotalPrivateMemory` in bytes.
    pub total_private_memory: CK_ULONG,
    /// Hardware version "major.minor".
    pub hardware_version: String,
    /// Firmware version "major.minor".
    pub firmware_version: String,
    /// Most objects the token holds (CKR_DEVICE_MEMORY beyond); 0 = no limit.
    #[serde(default)]
    pub max_objects: usize,
    /// Bytes of object storage, shared by public and private token objects
    /// (as the chip's EEPROM is): creating or growing a token object beyond it
    /// answers CKR_DEVICE_MEMORY ("memory full"); 0 = no limit. Sizes are
    /// counted as `C_GetObjectSize` reports them.
    #[serde(default)]
    pub memory: CK_ULONG,
}

/// PIN policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinPolicy {
    /// `ulMinPinLen`.
    pub min_len: CK_ULONG,
    /// `ulMaxPinLen`.
    pub max_len: CK_ULONG,
    /// Wrong user PINs before the user PIN locks.
    pub user_retries: u32,
    /// Wrong SO PINs before the SO PIN locks.
    pub so_retries: u32,
    /// The user PIN a new token has (CKF_USER_PIN_TO_BE_CHANGED while in use).
    pub default_user_pin: String,
    /// The SO PIN a new token has.
    pub default_so_pin: String,
}

/// `CK_MECHANISM_INFO` for one mechanism.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MechanismProfile {
    /// `ulMinKeySize` (bits for RSA/EC, bytes for secret keys, per the spec).
    #[serde(default)]
    pub min_key: CK_ULONG,
    /// `ulMaxKeySize`.
    #[serde(default)]
    pub max_key: CK_ULONG,
    /// `CKF_*` flags by name.
    pub flags: Vec<String>,
}

impl Profile {
    /// Parses and validates a profile.
    pub fn from_toml_str(text: &str, source: &str) -> std::result::Result<Profile, String> {
        let p: Profile = toml::from_str(text)
            .map_err(|e| format!("profile {source}: {}", crate::util::toml_error(text, &e)))?;
        p.validate().map_err(|e| format!("profile {source}: {e}"))?;
        Ok(p)
    }

    /// A built-in profile by name, or a profile file by path (relative paths
    /// resolve against `base`).
    pub fn resolve(
        name_or_path: &str,
        base: Option<&Path>,
    ) -> std::result::Result<Profile, String> {
        if let Some(p) = Profile::builtin_cached(name_or_path) {
            return p;
        }
        if name_or_path.ends_with(".toml") || name_or_path.contains('/') {
            let p = Path::new(name_or_path);
            let p = match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.to_path_buf(),
            };
            let text = crate::util::read_toml_text(&p, "profile file")?;
            return Profile::from_toml_str(&text, &p.display().to_string());
        }
        let known: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
        Err(format!(
            "unknown profile \"{}\" (built-in: {}; or give a path to a .toml file)",
            excerpt(name_or_path),
            known.join(", ")
        ))
    }

    /// A built-in profile, parsed once per process (`C_Initialize` resolves
    /// every slot's profile, and parsing the TOML is most of its cost).
    fn builtin_cached(name: &str) -> Option<std::result::Result<Profile, String>> {
        type Parsed = Vec<(&'static str, std::result::Result<Profile, String>)>;
        static PARSED: std::sync::OnceLock<Parsed> = std::sync::OnceLock::new();
        let parsed = PARSED.get_or_init(|| {
            BUILTIN
                .iter()
                .map(|(n, t)| (*n, Profile::from_toml_str(t, n)))
                .collect()
        });
        parsed
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
    }

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(n, t)| Profile::from_toml_str(t, n).ok())
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.pin.min_len > self.pin.max_len {
            return Err("pin.min_len exceeds pin.max_len".into());
        }
        for (what, pin) in [
            ("user", &self.pin.default_user_pin),
            ("so", &self.pin.default_so_pin),
        ] {
            let n = pin.len() as CK_ULONG;
            if n < self.pin.min_len || n > self.pin.max_len {
                return Err(format!(
                    "default {what} PIN length {n} is outside the PIN policy"
                ));
            }
        }
        if self.pin.user_retries == 0 || self.pin.so_retries == 0 {
            return Err("PIN retry limits must be at least 1".into());
        }
        for f in &self.token.extra_flags {
            flag_value(f)?;
        }
        for (m, info) in &self.mechanisms {
            let v =
                names::value_of(m).ok_or_else(|| format!("unknown mechanism {}", excerpt(m)))?;
            if !m.starts_with("CKM_") && names::name_of("CKM", v).is_none() {
                return Err(format!("{} is not a mechanism name", excerpt(m)));
            }
            for f in &info.flags {
                flag_value(f).map_err(|e| format!("mechanism {}: {e}", excerpt(m)))?;
            }
        }
        parse_version(&self.token.hardware_version)?;
        parse_version(&self.token.firmware_version)?;
        parse_version(&self.slot.hardware_version)?;
        parse_version(&self.slot.firmware_version)?;
        Ok(())
    }

    /// The extra token flags as a bit set.
    pub fn extra_token_flags(&self) -> CK_FLAGS {
        self.token
            .extra_flags
            .iter()
            .filter_map(|f| flag_value(f).ok())
            .fold(0, |a, b| a | b)
    }

    /// The mechanism list with its info, in numeric order.
    pub fn mechanism_table(&self) -> Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)> {
        self.mech_table
            .get_or_init(|| self.resolve_mechanisms())
            .clone()
    }

    fn resolve_mechanisms(&self) -> Vec<(CK_MECHANISM_TYPE, CK_MECHANISM_INFO)> {
        let mut v: Vec<_> = self
            .mechanisms
            .iter()
            .filter_map(|(name, m)| {
                let ty = names::value_of(name)?;
                let flags = m
                    .flags
                    .iter()
                    .filter_map(|f| flag_value(f).ok())
                    .fold(0, |a, b| a | b);
                Some((
                    ty,
                    CK_MECHANISM_INFO {
                        ulMinKeySize: m.min_key,
                        ulMaxKeySize: m.max_key,
                        flags,
                    },
                ))
            })
            .collect();
        v.sort_by_key(|(t, _)| *t);
        v
    }
}

/// `"2.10"` → `CK_VERSION { 2, 10 }`.
pub fn parse_version(s: &str) -> std::result::Result<CK_VERSION, String> {
    let (a, b) = s
        .split_once('.')
        .ok_or_else(|| format!("version \"{}\" is not major.minor", excerpt(s)))?;
    Ok(CK_VERSION {
        major: a
            .parse()
            .map_err(|_| format!("bad version \"{}\"", excerpt(s)))?,
        minor: b
            .parse()
            .map_err(|_| format!("bad version \"{}\"", excerpt(s)))?,
    })
}

/// A `CKF_*` flag by name (token and mechanism flags share one namespace here).
pub fn flag_value(name: &str) -> std::result::Result<CK_FLAGS, String> {
    Ok(match name {
        "CKF_HW" => CKF_HW,
        "CKF_ENCRYPT" => CKF_ENCRYPT,
        "CKF_DECRYPT" => CKF_DECRYPT,
        "CKF_DIGEST" => CKF_DIGEST,
        "CKF_SIGN" => CKF_SIGN,
        "CKF_SIGN_RECOVER" => CKF_SIGN_RECOVER,
        "CKF_VERIFY" => CKF_VERIFY,
        "CKF_VERIFY_RECOVER" => CKF_VERIFY_RECOVER,
        "CKF_GENERATE" => CKF_GENERATE,
        "CKF_GENERATE_KEY_PAIR" => CKF_GENERATE_KEY_PAIR,
        "CKF_WRAP" => CKF_WRAP,
        "CKF_UNWRAP" => CKF_UNWRAP,
        "CKF_DERIVE" => CKF_DERIVE,
        "CKF_EC_F_P" => CKF_EC_F_P,
        "CKF_EC_NAMEDCURVE" => CKF_EC_NAMEDCURVE,
        "CKF_EC_UNCOMPRESS" => CKF_EC_UNCOMPRESS,
        "CKF_EC_COMPRESS" => CKF_EC_COMPRESS,
        "CKF_EC_OID" => CKF_EC_OID,
        "CKF_DUAL_CRYPTO_OPERATIONS" => CKF_DUAL_CRYPTO_OPERATIONS,
        "CKF_WRITE_PROTECTED" => CKF_WRITE_PROTECTED,
        "CKF_PROTECTED_AUTHENTICATION_PATH" => CKF_PROTECTED_AUTHENTICATION_PATH,
        "CKF_CLOCK_ON_TOKEN" => CKF_CLOCK_ON_TOKEN,
        "CKF_RESTORE_KEY_NOT_NEEDED" => CKF_RESTORE_KEY_NOT_NEEDED,
        "CKF_SECONDARY_AUTHENTICATION" => CKF_SECONDARY_AUTHENTICATION,
        _ => return Err(format!("unknown flag {}", excerpt(name))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses_and_validates() {
        for (name, text) in BUILTIN {
            let p = Profile::from_toml_str(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(&p.name, name);
            assert!(!p.mechanism_table().is_empty());
            assert_eq!(
                p.mechanism_table().len(),
                p.mechanisms.len(),
                "{name}: a mechanism name did not resolve"
            );
        }
    }

    #[test]
    fn unknown_mechanism_or_flag_is_rejected() {
        let (_, text) = BUILTIN[0];
        let bad = text.replacen("[mechanisms.CKM_SHA_1]", "[mechanisms.CKM_SHA_42]", 1);
        assert!(Profile::from_toml_str(&bad, "x")
            .unwrap_err()
            .contains("CKM_SHA_42"));
        let bad = text.replacen("\"CKF_DIGEST\"", "\"CKF_DIGESTS\"", 1);
        assert!(Profile::from_toml_str(&bad, "x")
            .unwrap_err()
            .contains("CKF_DIGESTS"));
    }
}
