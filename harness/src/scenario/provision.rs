//! The token's content at the start of a scenario, as the manuals show it:
//! `fixtures/provision/<name>.toml` lists key pairs to generate on the token
//! (through PKCS#11) and the certificates the simulated CA issued for them,
//! with their age. See `fixtures/README.md`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::backend::kisc::{generate_and_request, install, Kisc};
use crate::backend::{StepError, DAY};
use crate::p11::{harness_err, Alg, Token};

/// One key pair with its certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// Name; the runner defines `${prov_<name>_id}`.
    pub name: String,
    /// Algorithm.
    pub algorithm: Alg,
    /// `CKA_ID`, hex.
    pub id: String,
    /// `CKA_LABEL` (the Tumar container name).
    pub label: String,
    /// How many days ago the certificate was issued.
    pub issued_days_ago: u64,
    /// Validity in days.
    #[serde(default = "year")]
    pub valid_days: u64,
}

fn year() -> u64 {
    365
}

/// A provisioning file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provision {
    /// What the file stands for.
    pub description: String,
    /// Certificate subject (RFC 4514).
    pub subject: String,
    /// The key pairs, in the order the configurator lists them.
    #[serde(rename = "keypair")]
    pub keypairs: Vec<KeyPair>,
}

/// `fixtures/provision/`: in the current directory if there is one, else
/// in the source tree this binary was built from.
pub fn provision_dir() -> PathBuf {
    let here = PathBuf::from("fixtures/provision");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/provision")
}

impl Provision {
    /// Reads `<dir>/<name>.toml`.
    pub fn load(dir: &Path, name: &str) -> Result<Provision, String> {
        let p = dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {}", p.display(), e.message().trim()))
    }
}

/// What provisioning did with one key pair.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Provisioned {
    /// Key pair name.
    pub name: String,
    /// Algorithm.
    pub algorithm: String,
    /// `CKA_ID` hex, when created.
    pub id: Option<String>,
    /// Why it was not created.
    pub skipped: Option<String>,
}

/// Creates the key pairs on the token, issues their certificates with the
/// CA at `now − issued_days_ago`, writes them. Key pairs whose mechanism the
/// module lacks are skipped when `skip(name)` gives a reason, else an error.
pub fn provision(
    token: &Token,
    kisc: &mut Kisc,
    p: &Provision,
    pin: &str,
    now: u64,
    skip: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Provisioned>, StepError> {
    let s = token.user_session(pin)?;
    let mut out = Vec::new();
    for kp in &p.keypairs {
        if !token.supports(kp.algorithm.keygen_mechanism()) {
            match skip(&kp.name) {
                Some(reason) => {
                    out.push(Provisioned {
                        name: kp.name.clone(),
                        algorithm: kp.algorithm.name().into(),
                        id: None,
                        skipped: Some(reason),
                    });
                    continue;
                }
                None => {
                    return Err(harness_err(
                        "CKR_MECHANISM_INVALID",
                        format!(
                            "provisioning {}: the module does not offer {} key generation",
                            kp.name,
                            kp.algorithm.name()
                        ),
                    ))
                }
            }
        }
        let id = hex::decode(&kp.id)
            .map_err(|e| harness_err("bad_fixture", format!("{}: id: {e}", kp.name)))?;
        let csr = generate_and_request(token, &s, kp.algorithm, &id, &kp.label, &p.subject)?;
        let not_before = now.saturating_sub(kp.issued_days_ago * DAY);
        let der = kisc.ca.issue(&csr, not_before, kp.valid_days)?;
        install(token, &s, &id, &kp.label, &der)?;
        out.push(Provisioned {
            name: kp.name.clone(),
            algorithm: kp.algorithm.name().into(),
            id: Some(kp.id.clone()),
            skipped: None,
        });
    }
    Ok(out)
}
