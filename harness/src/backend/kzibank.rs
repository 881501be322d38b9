//! kzibank «ibank24» (manual 002): log-in with the e-mailed login and the
//! SMS password (valid one hour), the 4-digit SMS code, the signing plugin,
//! the password change, and documents signed with the key on the token and
//! verified by the bank with the client's registered certificate.

use super::kisc::{certificate_list, choose, Kisc};
use super::{derive, refuse, Env, Outputs, StepResult};
use crate::p11::Alg;
use crate::pki;

/// Where the client is in the log-in flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// On the log-in page.
    LoggedOut,
    /// Password accepted; the SMS code is asked.
    NeedOtp,
    /// In, but the plugin is not installed.
    NeedPlugin,
    /// The plugin is installed; the password must be changed.
    NeedPasswordChange,
    /// Logged in again; the plugin prompt must be confirmed («YES»).
    NeedPluginConfirm,
    /// In the cabinet.
    In,
}

/// The bank.
#[derive(Debug)]
pub struct Kzibank {
    seed: u64,
    password_issued: u64,
    password_changed: bool,
    otp_round: u32,
    plugin: Option<String>,
    stage: Stage,
    documents: u32,
}

/// How long the SMS password is valid.
pub const PASSWORD_VALIDITY: u64 = 3600;

impl Kzibank {
    /// The bank sent the login and the SMS password at `now`.
    pub fn new(seed: u64, now: u64) -> Kzibank {
        Kzibank {
            seed,
            password_issued: now,
            password_changed: false,
            otp_round: 0,
            plugin: None,
            stage: Stage::LoggedOut,
            documents: 0,
        }
    }

    fn out(&self) -> Outputs {
        let mut o = Outputs::new();
        o.insert("stage".into(), format!("{:?}", self.stage));
        o
    }

    /// The SMS code of the current round (4 digits, from the seed).
    pub fn otp(&self) -> String {
        let b = derive(self.seed, &format!("otp {}", self.otp_round));
        format!("{:04}", u16::from_be_bytes([b[0], b[1]]) % 10_000)
    }

    /// Log-in page.
    pub fn login(&mut self, env: &Env, password: &str) -> StepResult {
        match (password, self.password_changed) {
            ("initial", false) => {
                if env.now > self.password_issued + PASSWORD_VALIDITY {
                    return Err(refuse(
                        "password_expired",
                        "the SMS password is valid for 1 hour; ask the contact centre for a new one",
                    ));
                }
            }
            ("new", true) => {}
            ("wrong", _) | ("initial", true) | ("new", false) => {
                return Err(refuse("wrong_password", "wrong login or password"));
            }
            (other, _) => {
                return Err(refuse(
                    "bad_step",
                    format!("password {other:?}: expected initial, new or wrong"),
                ))
            }
        }
        let mut o = Outputs::new();
        if self.password_changed && self.plugin.is_some() {
            // Manual 002 п.13: after the change, log-in with the new password
            // goes straight to the plugin's prompt.
            self.stage = Stage::NeedPluginConfirm;
            o.insert("otp_sent".into(), "no".into());
        } else {
            self.otp_round += 1;
            self.stage = Stage::NeedOtp;
            o.insert("otp_sent".into(), "yes".into());
        }
        o.extend(self.out());
        Ok(o)
    }

    /// «Ввод одноразового пароля».
    pub fn enter_otp(&mut self, code: &str) -> StepResult {
        if self.stage != Stage::NeedOtp {
            return Err(refuse(
                "invalid_transition",
                "no one-time password was asked",
            ));
        }
        let entered = match code {
            "correct" => self.otp(),
            "wrong" => {
                let c = self.otp();
                let first = c.as_bytes()[0];
                format!(
                    "{}{}",
                    if first == b'9' {
                        '0'
                    } else {
                        (first + 1) as char
                    },
                    &c[1..]
                )
            }
            other => {
                return Err(refuse(
                    "bad_step",
                    format!("code {other:?}: expected correct or wrong"),
                ))
            }
        };
        if entered != self.otp() {
            return Err(refuse("wrong_otp", "the one-time password is wrong"));
        }
        self.stage = if self.plugin.is_none() {
            Stage::NeedPlugin
        } else if !self.password_changed {
            Stage::NeedPasswordChange
        } else {
            Stage::NeedPluginConfirm
        };
        let mut o = self.out();
        if self.stage == Stage::NeedPlugin {
            o.insert(
                "prompt".into(),
                "Плагин для работы с электронными подписями не обнаружен. Скачать его?".into(),
            );
        }
        Ok(o)
    }

    /// The plugin is downloaded, its language chosen, installed.
    pub fn install_plugin(&mut self, language: &str) -> StepResult {
        if self.stage != Stage::NeedPlugin {
            return Err(refuse(
                "invalid_transition",
                "the plugin prompt is not shown",
            ));
        }
        self.plugin = Some(language.into());
        self.stage = Stage::NeedPasswordChange;
        Ok(self.out())
    }

    /// The password change page.
    pub fn change_password(&mut self) -> StepResult {
        if self.stage != Stage::NeedPasswordChange {
            return Err(refuse(
                "invalid_transition",
                "the password change is not asked",
            ));
        }
        self.password_changed = true;
        self.stage = Stage::LoggedOut;
        let mut o = self.out();
        o.insert("message".into(), "ПАРОЛЬ УСПЕШНО ИЗМЕНЕН".into());
        Ok(o)
    }

    /// «YES» on the plugin's prompt after the second log-in.
    pub fn confirm_plugin(&mut self) -> StepResult {
        if self.stage != Stage::NeedPluginConfirm {
            return Err(refuse(
                "invalid_transition",
                "the plugin prompt is not shown",
            ));
        }
        self.stage = Stage::In;
        Ok(self.out())
    }

    /// The contact centre sends a new SMS password.
    pub fn contact_centre(&mut self, env: &Env) -> StepResult {
        self.password_issued = env.now;
        self.password_changed = false;
        self.stage = Stage::LoggedOut;
        Ok(self.out())
    }

    /// Creates a document, signs it on the token (the plugin asks for the
    /// key password) and sends it; the bank verifies the signature with the
    /// client's certificate. With `pull_token` the token is pulled out
    /// between the log-in and `C_Sign` (emulator only).
    pub fn sign_document(
        &mut self,
        env: &Env,
        kisc: &Kisc,
        document: &str,
        alg: Alg,
        pin: &str,
        pull_token: bool,
    ) -> StepResult {
        if self.stage != Stage::In {
            return Err(refuse("not_logged_in", "log in to ibank24 first"));
        }
        let title = match document {
            "statement" => "Запрос выписки",
            "payment" => "Платежное поручение",
            "letter" => "Письмо в банк",
            other => {
                return Err(refuse(
                    "bad_step",
                    format!("document {other:?}: expected statement, payment or letter"),
                ))
            }
        };
        self.documents += 1;
        let body = format!(
            "{title} №{}; период {}",
            self.documents,
            super::date_ru(env.now)
        );
        let s = env.token.user_session(pin)?;
        let list = certificate_list(env.token, &s)?;
        let choice = choose(&list, alg.name())?.clone();
        let summary = kisc.ca.check_cert(&choice.der, env.now)?;
        let key = env
            .token
            .list_keys(&s)?
            .into_iter()
            .find(|k| k.id == choice.id)
            .ok_or_else(|| refuse("key_not_found", "no private key for the certificate"))?;
        if pull_token {
            // The user pulls the token out while the plugin waits to sign.
            let store = env.emulator_store.as_ref().ok_or_else(|| {
                refuse("needs_emulator", "pulling the token out needs the emulator")
            })?;
            tokenemu_store::Store::open(store)
                .and_then(|st| st.set_present(false))
                .map_err(|e| refuse("store", e.to_string()))?;
        }
        let sig = env.token.sign(&s, key.alg, key.private, body.as_bytes())?;
        pki::verify(&summary.spki, body.as_bytes(), &sig)
            .map_err(|e| refuse("signature_rejected", e.to_string()))?;
        let mut o = self.out();
        o.insert("status".into(), "отправлен".into());
        o.insert("document".into(), body);
        o.insert("algorithm".into(), alg.name().into());
        Ok(o)
    }
}
