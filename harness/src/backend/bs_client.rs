//! «ДБО BS-Client» (Qazaq Banki): the key-set («абонент») status machine of
//! manual 001 and its regeneration flow.
//!
//! | status | shown as | double-click |
//! |---|---|---|
//! | InUse | «в эксплуатации» | request regeneration |
//! | Unplanned | «необходима внеплановая перегенерация» | request regeneration |
//! | Planned | «необходима плановая перегенерация» (≤ 30 days left) | request regeneration |
//! | Accepted | «принят банком» | — (the bank is processing) |
//! | NewCertificate | «получен новый сертификат» | receive form |
//! | Refused | «получен отказ в регистрации» | the refusal reason |
//!
//! The page shows the status as of the last (re)load: a decision by the bank
//! becomes visible only after `reload` (manual: «статус … обновляется только
//! при обновлении страницы»).

use super::kisc::{generate_and_request, install, prove_possession, Kisc};
use super::{date_ru, days_left, refuse, Env, Outputs, StepResult};
use crate::p11::Alg;
use crate::pki;

/// A key set's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// «в эксплуатации».
    InUse,
    /// «необходима внеплановая перегенерация».
    Unplanned,
    /// «необходима плановая перегенерация».
    Planned,
    /// «принят банком».
    Accepted,
    /// «получен новый сертификат».
    NewCertificate,
    /// «получен отказ в регистрации».
    Refused,
}

impl Status {
    /// The page's wording.
    pub fn text(self) -> &'static str {
        match self {
            Status::InUse => "в эксплуатации",
            Status::Unplanned => "необходима внеплановая перегенерация",
            Status::Planned => "необходима плановая перегенерация",
            Status::Accepted => "принят банком",
            Status::NewCertificate => "получен новый сертификат",
            Status::Refused => "получен отказ в регистрации",
        }
    }

    fn may_request(self) -> bool {
        matches!(
            self,
            Status::InUse | Status::Unplanned | Status::Planned | Status::Refused
        )
    }
}

/// The bank's view of one subscriber («абонент»).
#[derive(Debug)]
pub struct BsClient {
    /// Profile name.
    pub profile: String,
    /// `CKA_ID` of the key set in use.
    pub active_key: Vec<u8>,
    /// The key set being regenerated.
    pub new_key: Option<(Vec<u8>, Alg, Vec<u8>)>,
    stored: Status,
    shown: Status,
    unplanned: Option<String>,
    refusal: Option<String>,
    new_cert: Option<Vec<u8>>,
    received: bool,
    active_cert: Option<Vec<u8>>,
}

impl BsClient {
    /// A subscriber whose active key set has `CKA_ID` `active_key`.
    pub fn new(profile: &str, active_key: Vec<u8>) -> BsClient {
        BsClient {
            profile: profile.into(),
            active_key,
            new_key: None,
            stored: Status::InUse,
            shown: Status::InUse,
            unplanned: None,
            refusal: None,
            new_cert: None,
            received: false,
            active_cert: None,
        }
    }

    fn current(&self, now: u64) -> Status {
        match self.stored {
            Status::InUse if self.unplanned.is_some() => Status::Unplanned,
            Status::InUse => match &self.active_cert {
                Some(c) => match pki::summary(c) {
                    Ok(s) if days_left(now, s.not_after) <= 30 => Status::Planned,
                    _ => Status::InUse,
                },
                None => Status::InUse,
            },
            s => s,
        }
    }

    fn out(&self) -> Outputs {
        let mut o = Outputs::new();
        o.insert("status".into(), self.shown.text().into());
        o
    }

    fn active_cert(&self, env: &Env) -> Result<Vec<u8>, super::StepError> {
        let s = env.token.session(false)?;
        env.token
            .certificates(&s)?
            .into_iter()
            .find(|(id, _)| *id == self.active_key)
            .map(|(_, der)| der)
            .ok_or_else(|| {
                refuse(
                    "no_certificate",
                    "the active key set has no certificate on the key carrier",
                )
            })
    }

    /// Log-in: signs the bank's challenge with the active key; the page
    /// then shows the subscribers with a critical status.
    pub fn login(&mut self, env: &Env, kisc: &mut Kisc, pin: &str) -> StepResult {
        let cert = self.active_cert(env)?;
        let s = env.token.user_session(pin)?;
        let ch = kisc.ca.challenge(env.now);
        prove_possession(
            env.token,
            &s,
            &kisc.ca,
            &self.active_key,
            &cert,
            &ch,
            env.now,
        )?;
        self.active_cert = Some(cert);
        self.shown = self.current(env.now);
        let mut o = self.out();
        let critical = matches!(self.shown, Status::Planned | Status::Unplanned);
        o.insert(
            "warning".into(),
            if critical {
                "У Вас есть абоненты ЭЦП, профили которых имеют критический статус".into()
            } else {
                String::new()
            },
        );
        Ok(o)
    }

    /// «Параметры подписи».
    pub fn profile(&mut self, env: &Env) -> StepResult {
        let cert = self.active_cert(env)?;
        let s = pki::summary(&cert).map_err(|e| refuse("ca", e.to_string()))?;
        let mut o = self.out();
        o.insert("profile".into(), self.profile.clone());
        o.insert("identifier".into(), s.serial.to_uppercase());
        o.insert("crypto".into(), "Tumar CSP".into());
        o.insert("key_type".into(), "рабочий".into());
        o.insert("start".into(), date_ru(s.not_before));
        o.insert("end".into(), date_ru(s.not_after));
        o.insert(
            "days_left".into(),
            days_left(env.now, s.not_after).to_string(),
        );
        Ok(o)
    }

    /// «Новый»: a new key set on the key carrier and its request.
    pub fn new_key_set(&mut self, env: &Env, kisc: &mut Kisc, alg: Alg, pin: &str) -> StepResult {
        if !self.shown.may_request() {
            return Err(refuse(
                "invalid_transition",
                format!(
                    "status «{}»: regeneration cannot be requested",
                    self.shown.text()
                ),
            ));
        }
        let cert = self.active_cert(env)?;
        let subject = pki::summary(&cert)
            .map_err(|e| refuse("ca", e.to_string()))?
            .subject;
        let s = env.token.user_session(pin)?;
        let id = kisc.new_key_id();
        let csr = generate_and_request(
            env.token,
            &s,
            alg,
            &id,
            &format!("{} new", self.profile),
            &subject,
        )?;
        self.new_key = Some((id.clone(), alg, csr));
        let mut o = self.out();
        o.insert("key_id".into(), hex::encode(id));
        Ok(o)
    }

    /// «Отправить документ в банк» → «Подписать»: the request is signed
    /// with the active key and checked by the bank.
    pub fn send_request(&mut self, env: &Env, kisc: &mut Kisc, pin: &str) -> StepResult {
        let Some((_, _, csr)) = self.new_key.clone() else {
            return Err(refuse(
                "invalid_transition",
                "no new key set: press «Новый» first",
            ));
        };
        let cert = self.active_cert(env)?;
        let s = env.token.user_session(pin)?;
        // The signed document is the request itself.
        prove_possession(
            env.token,
            &s,
            &kisc.ca,
            &self.active_key,
            &cert,
            &csr,
            env.now,
        )?;
        self.stored = Status::Accepted;
        self.shown = Status::Accepted;
        Ok(self.out())
    }

    /// The bank's back office accepts (the CA issues the certificate) or refuses.
    pub fn bank_process(
        &mut self,
        env: &Env,
        kisc: &mut Kisc,
        decision: &str,
        reason: &str,
    ) -> StepResult {
        if self.stored != Status::Accepted {
            return Err(refuse(
                "invalid_transition",
                format!("status «{}»: nothing to process", self.stored.text()),
            ));
        }
        match decision {
            "accept" => {
                let (_, _, csr) = self
                    .new_key
                    .clone()
                    .ok_or_else(|| refuse("invalid_transition", "no request"))?;
                self.new_cert = Some(kisc.ca.issue(&csr, env.now, 365)?);
                self.stored = Status::NewCertificate;
            }
            "refuse" => {
                self.refusal = Some(reason.to_string());
                self.stored = Status::Refused;
            }
            other => {
                return Err(refuse(
                    "bad_step",
                    format!("decision {other:?}: expected accept or refuse"),
                ))
            }
        }
        Ok(self.out())
    }

    /// The bank flags the key set (e.g. a compromise).
    pub fn mark_unplanned(&mut self, reason: &str) -> StepResult {
        self.unplanned = Some(reason.into());
        Ok(self.out())
    }

    /// Reload the page.
    pub fn reload(&mut self, env: &Env) -> StepResult {
        self.shown = self.current(env.now);
        Ok(self.out())
    }

    /// The refusal message.
    pub fn show_refusal(&mut self) -> StepResult {
        if self.shown != Status::Refused {
            return Err(refuse(
                "invalid_transition",
                format!("status «{}»: no refusal to show", self.shown.text()),
            ));
        }
        let mut o = self.out();
        o.insert("reason".into(), self.refusal.clone().unwrap_or_default());
        Ok(o)
    }

    /// «Получить сертификат (ключ)» → «ОК»: the certificate is written next
    /// to the new key.
    pub fn receive_certificate(&mut self, env: &Env, pin: &str) -> StepResult {
        if self.shown != Status::NewCertificate {
            return Err(refuse(
                "invalid_transition",
                format!(
                    "status «{}»: no new certificate to receive",
                    self.shown.text()
                ),
            ));
        }
        let (id, _, _) = self
            .new_key
            .clone()
            .ok_or_else(|| refuse("invalid_transition", "no new key set"))?;
        let der = self
            .new_cert
            .clone()
            .ok_or_else(|| refuse("invalid_transition", "no certificate"))?;
        let s = env.token.user_session(pin)?;
        install(env.token, &s, &id, &format!("{} new", self.profile), &der)?;
        self.received = true;
        let mut o = self.out();
        o.insert(
            "message".into(),
            format!(
                "Из банка получен новый сертификат для абонента \"{}\"",
                self.profile
            ),
        );
        Ok(o)
    }

    /// «Продолжить»: the system switches to the new key set.
    pub fn continue_(&mut self, env: &Env) -> StepResult {
        if !self.received {
            return Err(refuse(
                "invalid_transition",
                "receive the certificate first",
            ));
        }
        let (id, _, _) = self
            .new_key
            .take()
            .ok_or_else(|| refuse("invalid_transition", "no new key set"))?;
        self.active_key = id;
        self.active_cert = self.new_cert.take();
        self.unplanned = None;
        self.received = false;
        self.stored = Status::InUse;
        self.shown = self.current(env.now);
        let mut o = self.out();
        o.insert("active_key".into(), hex::encode(&self.active_key));
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_allowed_requests() {
        let all = [
            Status::InUse,
            Status::Unplanned,
            Status::Planned,
            Status::Accepted,
            Status::NewCertificate,
            Status::Refused,
        ];
        let texts: Vec<&str> = all.iter().map(|s| s.text()).collect();
        assert_eq!(
            texts,
            [
                "в эксплуатации",
                "необходима внеплановая перегенерация",
                "необходима плановая перегенерация",
                "принят банком",
                "получен новый сертификат",
                "получен отказ в регистрации"
            ]
        );
        let may: Vec<bool> = all.iter().map(|s| s.may_request()).collect();
        assert_eq!(may, [true, true, true, false, false, true]);
    }

    #[test]
    fn bank_decisions_need_an_accepted_request() {
        let mut b = BsClient::new("p", vec![1]);
        assert_eq!(b.show_refusal().unwrap_err().code, "invalid_transition");
        assert_eq!(b.mark_unplanned("x").unwrap()["status"], "в эксплуатации");
    }
}
