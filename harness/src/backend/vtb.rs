//! «VTB Business» (manuals 003 kk / 004 ru): log-in with the token's
//! certificate; access blocked automatically once the registration
//! certificate has expired; the branch takes the token, the head office
//! re-provisions it («прошивка»: the SO re-initialises the token and writes
//! new keys and certificates) and returns it.

use super::kisc::{
    certificate_list, choose, generate_and_request, install, prove_possession, Kisc,
};
use super::{date_ru, days_left, refuse, Env, Outputs, StepResult, DAY};
use crate::p11::Alg;

/// The bank.
#[derive(Debug, Default)]
pub struct Vtb {
    blocked: bool,
    application: bool,
    notified: bool,
}

impl Vtb {
    /// Log-in with the certificate `select`: blocked when it has expired;
    /// a notice 30 days before.
    pub fn login(&mut self, env: &Env, kisc: &mut Kisc, pin: &str, select: &str) -> StepResult {
        let s = env.token.session(true)?;
        let list = certificate_list(env.token, &s)?;
        let choice = choose(&list, select)?.clone();
        let summary = crate::pki::summary(&choice.der).map_err(|e| refuse("ca", e.to_string()))?;
        if env.now > summary.not_after {
            self.blocked = true;
        }
        if self.blocked {
            return Err(refuse(
                "blocked",
                format!("доступ в Систему Интернет банк автоматически блокируется: certificate expired on {}", date_ru(summary.not_after)),
            ));
        }
        env.token
            .login(&s, cryptoki::session::UserType::User, pin)?;
        let ch = kisc.ca.challenge(env.now);
        prove_possession(
            env.token,
            &s,
            &kisc.ca,
            &choice.id,
            &choice.der,
            &ch,
            env.now,
        )?;
        let left = days_left(env.now, summary.not_after);
        let mut o = Outputs::new();
        o.insert("days_left".into(), left.to_string());
        o.insert(
            "notice".into(),
            if left <= 30 {
                "reissue_required".into()
            } else {
                "none".into()
            },
        );
        Ok(o)
    }

    /// The user tells technical support the key was regenerated.
    pub fn notify_support(&mut self) -> StepResult {
        self.notified = true;
        let mut o = Outputs::new();
        o.insert("to".into(), "onlineservice@vtb-bank.kz".into());
        Ok(o)
    }

    /// The application at the branch; the token is taken by act.
    pub fn branch_application(&mut self) -> StepResult {
        if !self.blocked {
            return Err(refuse(
                "invalid_transition",
                "access is not blocked: reissue on the KISC portal instead",
            ));
        }
        self.application = true;
        let mut o = Outputs::new();
        o.insert("token".into(), "handed over".into());
        Ok(o)
    }

    /// Head office: `C_InitToken` with the SO PIN, `C_InitPIN`, new key
    /// pairs and one-year certificates issued by the CA, written to the token.
    pub fn reprovision(
        &mut self,
        env: &Env,
        kisc: &mut Kisc,
        algorithms: &[Alg],
        subject: &str,
    ) -> StepResult {
        if !self.application {
            return Err(refuse("invalid_transition", "no application at the branch"));
        }
        let (_, label) = env.token.model_label()?;
        env.token.init_token(&env.so_pin, &label)?;
        env.token.init_user_pin(&env.so_pin, &env.user_pin)?;
        let s = env.token.user_session(&env.user_pin)?;
        let mut o = Outputs::new();
        for alg in algorithms {
            let id = kisc.new_key_id();
            let lbl = format!("{} {}", alg.name(), super::date_iso(env.now));
            let csr = generate_and_request(env.token, &s, *alg, &id, &lbl, subject)?;
            let der = kisc.ca.issue(&csr, env.now, 365)?;
            install(env.token, &s, &id, &lbl, &der)?;
            o.insert(format!("{}_id", alg.name()), hex::encode(&id));
        }
        let list = certificate_list(env.token, &s)?;
        let top = choose(&list, "top")?;
        o.insert("certificates".into(), list.len().to_string());
        o.insert(
            "days_left".into(),
            days_left(env.now, top.summary.not_after).to_string(),
        );
        self.blocked = false;
        self.application = false;
        let _ = DAY;
        Ok(o)
    }
}
