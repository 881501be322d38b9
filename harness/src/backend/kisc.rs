//! A KISC-like certification authority (ca.kisc.kz as the manuals show it):
//! log-in «по сертификату» (a challenge signed on the token with the chosen
//! certificate's key), PKCS#10 requests from keys generated on the token,
//! one-year certificates, «Установить все сертификаты».
//!
//! The CA keys live in software: a GOST R 34.10-2012 key on CryptoPro-A
//! derived from the seed, and the fixture RSA-2048 test key
//! (`fixtures/keys/test-rsa-2048.pem`), each with a self-signed root.

use cryptoki::session::Session;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::name::Name;

use super::{derive, refuse, Env, Outputs, StepError, StepResult, DAY};
use crate::p11::{Alg, PublicKey, Token};
use crate::pki;

/// The fixture RSA key the simulated CAs sign RSA certificates with.
const CA_RSA_PEM: &str = include_str!("../../../fixtures/keys/test-rsa-2048.pem");

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// `CKA_ID` of the key on the token.
    pub id: Vec<u8>,
    /// Label for the certificate object.
    pub label: String,
    /// Algorithm.
    pub alg: Alg,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Whether it has been written to the token.
    pub installed: bool,
}

/// A software CA with a GOST and an RSA root.
pub struct Ca {
    gost_key: tokenemu_gost::SigningKey,
    gost_name: Name,
    gost_cert: Vec<u8>,
    rsa_key: rsa::RsaPrivateKey,
    rsa_name: Name,
    rsa_cert: Vec<u8>,
    seed: u64,
    next_serial: u64,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("gost", &self.gost_name.to_string())
            .field("rsa", &self.rsa_name.to_string())
            .finish()
    }
}

impl Ca {
    /// A CA named `org` (e.g. "KISC"), keys from `seed`, roots valid from
    /// `now` − 1 year for 10 years.
    pub fn new(org: &str, seed: u64, now: u64) -> Result<Ca, StepError> {
        let set =
            tokenemu_gost::param_set_by_oid_der(crate::p11::CRYPTOPRO_A_DER).expect("CryptoPro-A");
        let mut d = derive(seed, &format!("{org} CA GOST key"));
        d[31] &= 0x3f;
        d[0] |= 1;
        let gost_key = tokenemu_gost::SigningKey::from_le_bytes(set, &d)
            .map_err(|e| refuse("ca", format!("CA key: {e}")))?;
        let rsa_key = rsa::RsaPrivateKey::from_pkcs8_pem(CA_RSA_PEM)
            .map_err(|e| refuse("ca", format!("CA RSA key: {e}")))?;
        let gost_name = pki::name(&format!("CN={org} Test CA (GOST),O={org} simulated,C=KZ"))
            .map_err(ca_err)?;
        let rsa_name =
            pki::name(&format!("CN={org} Test CA (RSA),O={org} simulated,C=KZ")).map_err(ca_err)?;
        let mut ca = Ca {
            gost_key,
            gost_name,
            gost_cert: Vec::new(),
            rsa_key,
            rsa_name,
            rsa_cert: Vec::new(),
            seed,
            next_serial: 1,
        };
        let nb = now.saturating_sub(365 * DAY);
        let na = now + 10 * 365 * DAY;
        let gpub = PublicKey::Gost {
            alg: Alg::Gost256,
            params_der: crate::p11::CRYPTOPRO_A_DER.to_vec(),
            xy_le: ca.gost_key.verifying_key().to_le_xy(),
        };
        let gspki = pki::spki_of(&gpub).map_err(ca_err)?;
        let tbs = pki::tbs(
            &ca.serial(),
            Alg::Gost256,
            &ca.gost_name,
            &ca.gost_name,
            gspki,
            nb,
            na,
            true,
        )
        .map_err(ca_err)?;
        ca.gost_cert = ca.sign_tbs(tbs, Alg::Gost256)?;
        use rsa::traits::PublicKeyParts;
        let rpub = PublicKey::Rsa {
            n: ca.rsa_key.n().to_bytes_be(),
            e: ca.rsa_key.e().to_bytes_be(),
        };
        let rspki = pki::spki_of(&rpub).map_err(ca_err)?;
        let tbs = pki::tbs(
            &ca.serial(),
            Alg::Rsa2048,
            &ca.rsa_name,
            &ca.rsa_name,
            rspki,
            nb,
            na,
            true,
        )
        .map_err(ca_err)?;
        ca.rsa_cert = ca.sign_tbs(tbs, Alg::Rsa2048)?;
        Ok(ca)
    }

    fn serial(&mut self) -> Vec<u8> {
        let mut s = derive(self.seed, &format!("serial {}", self.next_serial))[..8].to_vec();
        s[0] &= 0x3f;
        s[0] |= 0x10;
        self.next_serial += 1;
        s
    }

    fn sign_tbs(&self, tbs: x509_cert::TbsCertificate, alg: Alg) -> Result<Vec<u8>, StepError> {
        use der::Encode;
        let data = tbs.to_der().map_err(|e| refuse("ca", e.to_string()))?;
        let sig = match alg {
            Alg::Rsa2048 => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.rsa_key.clone())
                .sign(&data)
                .to_vec(),
            _ => {
                let h = tokenemu_crypto::digest(tokenemu_crypto::HashAlg::Streebog256, &data);
                self.gost_key
                    .sign_digest(&h)
                    .map_err(|e| refuse("ca", e.to_string()))?
            }
        };
        pki::cert_assemble(tbs, &sig).map_err(ca_err)
    }

    /// The root certificate (DER) for an algorithm family.
    pub fn root(&self, alg: Alg) -> &[u8] {
        if alg.is_gost() {
            &self.gost_cert
        } else {
            &self.rsa_cert
        }
    }

    fn root_spki(&self, alg: Alg) -> Result<SubjectPublicKeyInfoOwned, StepError> {
        Ok(pki::summary(self.root(alg)).map_err(ca_err)?.spki)
    }

    /// Checks a PKCS#10 request (its signature proves possession of the
    /// key) and issues a certificate valid from `not_before` for `days`.
    pub fn issue(
        &mut self,
        csr_der: &[u8],
        not_before: u64,
        days: u64,
    ) -> Result<Vec<u8>, StepError> {
        let req = pki::csr_verify(csr_der)
            .map_err(|e| refuse("request_rejected", format!("CA rejected the request: {e}")))?;
        let alg = pki::alg_of_spki(&req.info.public_key)
            .map_err(|e| refuse("request_rejected", e.to_string()))?;
        // The CA signs GOST keys with its GOST root (2012-256) and RSA keys with its RSA root.
        let sig_alg = if alg.is_gost() {
            Alg::Gost256
        } else {
            Alg::Rsa2048
        };
        let issuer = if alg.is_gost() {
            self.gost_name.clone()
        } else {
            self.rsa_name.clone()
        };
        let serial = self.serial();
        let tbs = pki::tbs(
            &serial,
            sig_alg,
            &issuer,
            &req.info.subject,
            req.info.public_key.clone(),
            not_before,
            not_before + days * DAY,
            false,
        )
        .map_err(ca_err)?;
        self.sign_tbs(tbs, sig_alg)
    }

    /// Verifies a certificate was issued by this CA and is valid at `now`:
    /// `expired` / `not_yet_valid` / `unknown_issuer` otherwise.
    pub fn check_cert(&self, der: &[u8], now: u64) -> Result<pki::CertSummary, StepError> {
        let s = pki::summary(der).map_err(ca_err)?;
        let root = self.root_spki(s.alg)?;
        pki::cert_verify(der, &root).map_err(|e| {
            refuse(
                "unknown_issuer",
                format!("certificate not issued by this CA: {e}"),
            )
        })?;
        if now > s.not_after {
            return Err(refuse(
                "expired",
                format!(
                    "certificate {} expired on {}",
                    s.serial,
                    super::date_ru(s.not_after)
                ),
            ));
        }
        if now < s.not_before {
            return Err(refuse(
                "not_yet_valid",
                format!(
                    "certificate {} not valid before {}",
                    s.serial,
                    super::date_ru(s.not_before)
                ),
            ));
        }
        Ok(s)
    }

    /// A fresh challenge for a log-in.
    pub fn challenge(&mut self, now: u64) -> Vec<u8> {
        let n = self.next_serial;
        self.next_serial += 1;
        derive(self.seed, &format!("challenge {n} at {now}"))
    }
}

fn ca_err(e: pki::PkiError) -> StepError {
    refuse("ca", e.to_string())
}

/// Generates a key pair of `alg` on the token, builds and signs (on the
/// token) a PKCS#10 request for `subject`, returns (id, request DER).
pub fn generate_and_request(
    token: &Token,
    s: &Session,
    alg: Alg,
    id: &[u8],
    label: &str,
    subject: &str,
) -> Result<Vec<u8>, StepError> {
    use der::Encode;
    let (pubh, privh) = token.generate(s, alg, id, label)?;
    let pk = token.public_key(s, alg, pubh)?;
    let spki = pki::spki_of(&pk).map_err(ca_err)?;
    let info = pki::csr_info(&pki::name(subject).map_err(ca_err)?, spki).map_err(ca_err)?;
    let tbs = info.to_der().map_err(|e| refuse("csr", e.to_string()))?;
    let sig = token.sign(s, alg, privh, &tbs)?;
    pki::csr_assemble(info, alg, &sig).map_err(ca_err)
}

/// Writes an issued certificate onto the token next to its key.
pub fn install(
    token: &Token,
    s: &Session,
    id: &[u8],
    label: &str,
    der: &[u8],
) -> Result<(), StepError> {
    let (subject, issuer, serial) = pki::cert_object_fields(der).map_err(ca_err)?;
    token.store_certificate(s, id, label, der, &subject, &issuer, &serial)?;
    Ok(())
}

/// Signs `challenge` with the token key `id` and checks it with the
/// certificate `cert` (what a log-in «по сертификату» does).
pub fn prove_possession(
    token: &Token,
    s: &Session,
    ca: &Ca,
    id: &[u8],
    cert: &[u8],
    challenge: &[u8],
    now: u64,
) -> Result<pki::CertSummary, StepError> {
    let summary = ca.check_cert(cert, now)?;
    let key = token
        .list_keys(s)?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| {
            refuse(
                "key_not_found",
                format!("no private key for certificate {}", summary.serial),
            )
        })?;
    let sig = token.sign(s, key.alg, key.private, challenge)?;
    pki::verify(&summary.spki, challenge, &sig)
        .map_err(|e| refuse("login_failed", format!("challenge signature: {e}")))?;
    Ok(summary)
}

/// The client's session with the KISC portal.
#[derive(Debug)]
pub struct Kisc {
    /// The CA.
    pub ca: Ca,
    /// Subject of the logged-in certificate.
    pub logged_in: Option<String>,
    /// Certificates issued through the portal.
    pub issued: Vec<Issued>,
    /// The «Лог процесса» field.
    pub process_log: Vec<String>,
    /// E-mails sent to the user.
    pub emails: Vec<String>,
    next_key: u8,
}

/// One certificate as the portal's «Выбор сертификата» list shows it.
#[derive(Debug, Clone)]
pub struct CertChoice {
    /// Its key's `CKA_ID`.
    pub id: Vec<u8>,
    /// The certificate.
    pub der: Vec<u8>,
    /// Summary.
    pub summary: pki::CertSummary,
}

/// The certificates on the token, as a certificate picker lists them: GOST
/// first, then RSA, older first within an algorithm.
pub fn certificate_list(token: &Token, s: &Session) -> Result<Vec<CertChoice>, StepError> {
    let mut out = Vec::new();
    for (id, der) in token.certificates(s)? {
        let summary = pki::summary(&der).map_err(ca_err)?;
        out.push(CertChoice { id, der, summary });
    }
    out.sort_by_key(|c| (!c.summary.alg.is_gost(), c.summary.not_before));
    Ok(out)
}

/// Picks a certificate: `top`, or an algorithm name (the newest of it).
pub fn choose<'a>(list: &'a [CertChoice], select: &str) -> Result<&'a CertChoice, StepError> {
    if select == "top" {
        return list
            .first()
            .ok_or_else(|| refuse("no_certificate", "the token holds no certificate"));
    }
    list.iter()
        .filter(|c| c.summary.alg.name() == select)
        .max_by_key(|c| c.summary.not_before)
        .ok_or_else(|| {
            refuse(
                "no_certificate",
                format!("no {select} certificate on the token"),
            )
        })
}

impl Kisc {
    /// The portal with a CA from `seed`.
    pub fn new(seed: u64, now: u64) -> Result<Kisc, StepError> {
        Ok(Kisc {
            ca: Ca::new("KISC", seed, now)?,
            logged_in: None,
            issued: Vec::new(),
            process_log: Vec::new(),
            emails: Vec::new(),
            next_key: 0x20,
        })
    }

    /// A new `CKA_ID` for a key generated through the portal.
    pub fn new_key_id(&mut self) -> Vec<u8> {
        self.next_key += 1;
        vec![0x4b, 0x49, self.next_key]
    }

    /// «По сертификату» → «Вход»: lists the token's certificates, picks one,
    /// logs in with the PIN and signs the CA's challenge.
    pub fn login(&mut self, env: &Env, select: &str, pin: &str) -> StepResult {
        let s = env.token.session(true)?;
        let list = certificate_list(env.token, &s)?;
        let shown = list.len();
        let choice = choose(&list, select)?.clone();
        env.token
            .login(&s, cryptoki::session::UserType::User, pin)?;
        let ch = self.ca.challenge(env.now);
        let summary = prove_possession(
            env.token,
            &s,
            &self.ca,
            &choice.id,
            &choice.der,
            &ch,
            env.now,
        )?;
        self.logged_in = Some(summary.subject.clone());
        let mut o = Outputs::new();
        o.insert("certificates_shown".into(), shown.to_string());
        o.insert("subject".into(), summary.subject);
        o.insert("algorithm".into(), summary.alg.name().into());
        o.insert(
            "days_left".into(),
            super::days_left(env.now, summary.not_after).to_string(),
        );
        Ok(o)
    }

    /// «Запрос на выпуск сертификата»: the device must match the token;
    /// a key pair is generated on it, the request signed on it, the CA issues
    /// a certificate for `days`; with `install` it is written to the token
    /// at once (000), otherwise later by «Установить все сертификаты» (003/004).
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        env: &Env,
        device: &str,
        alg: Alg,
        pin: &str,
        days: u64,
        install: bool,
        subject: Option<&str>,
    ) -> StepResult {
        let subject = match (subject, &self.logged_in) {
            (Some(s), _) => s.to_string(),
            (None, Some(s)) => s.clone(),
            (None, None) => return Err(refuse("not_logged_in", "log in to the CA portal first")),
        };
        let (model, _) = env.token.model_label()?;
        if !device_matches(device, &model) {
            return Err(refuse(
                "device_not_found",
                format!("device «{device}» not found: the token is a {model}"),
            ));
        }
        let s = env.token.user_session(pin)?;
        let id = self.new_key_id();
        let label = format!("{} {}", alg.name(), super::date_iso(env.now));
        let csr = generate_and_request(env.token, &s, alg, &id, &label, &subject)?;
        self.process_log.push(format!(
            "Сгенерирован ключ {}; запрос отправлен в УЦ",
            alg.tumar_name()
        ));
        let der = self.ca.issue(&csr, env.now, days)?;
        let summary = pki::summary(&der).map_err(ca_err)?;
        self.process_log.push(format!(
            "Выпущен сертификат {} ({}) до {}",
            summary.serial,
            alg.name(),
            super::date_ru(summary.not_after)
        ));
        if install {
            install_cert(env.token, &s, &id, &label, &der)?;
            self.process_log.push(format!(
                "Сертификат {} записан на устройство",
                summary.serial
            ));
        }
        self.emails.push(format!(
            "Перевыпуск регистрационного свидетельства {} подтверждён",
            summary.serial
        ));
        self.issued.push(Issued {
            id: id.clone(),
            label,
            alg,
            der,
            installed: install,
        });
        let mut o = Outputs::new();
        o.insert("key_id".into(), hex::encode(&id));
        o.insert("serial".into(), summary.serial);
        o.insert("algorithm".into(), alg.name().into());
        o.insert("not_after".into(), super::date_ru(summary.not_after));
        o.insert("installed".into(), install.to_string());
        o.insert(
            "process_log".into(),
            self.process_log.last().cloned().unwrap_or_default(),
        );
        Ok(o)
    }

    /// «Установить все сертификаты»: writes every issued, not yet installed
    /// certificate onto the token.
    pub fn install_all(&mut self, env: &Env, pin: &str) -> StepResult {
        if self.logged_in.is_none() {
            return Err(refuse("not_logged_in", "log in to the CA portal first"));
        }
        let s = env.token.user_session(pin)?;
        let mut n = 0;
        for i in self.issued.iter_mut().filter(|i| !i.installed) {
            install_cert(env.token, &s, &i.id, &i.label, &i.der)?;
            i.installed = true;
            n += 1;
        }
        let mut o = Outputs::new();
        o.insert("installed".into(), n.to_string());
        Ok(o)
    }
}

fn install_cert(
    token: &Token,
    s: &Session,
    id: &[u8],
    label: &str,
    der: &[u8],
) -> Result<(), StepError> {
    install(token, s, id, label, der)
}

/// Whether the portal's «Устройство» choice names this token model
/// («JaCarta», «JavaToken - JavaToken», «eToken»).
pub fn device_matches(device: &str, model: &str) -> bool {
    let d = device.to_lowercase();
    let m = model.to_lowercase();
    let first = d.split(" - ").next().unwrap_or(&d).trim().to_string();
    // A module whose model no Kazakh CSP knows (SoftHSM2, …): the portal
    // lists it under any name.
    if first == "any" || !["jacarta", "etoken", "java"].iter().any(|v| m.contains(v)) {
        return true;
    }
    m.contains(&first)
        || (first == "javatoken" && m.contains("java"))
        || (first == "etoken" && m.contains("etoken"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    /// A request signed in software (as the token would) for each GOST key
    /// size is accepted and the certificate verifies against the root; a
    /// request with a broken signature is rejected.
    #[test]
    fn ca_issues_for_gost_256_and_512_requests() {
        let now = super::super::days_from_civil(2025, 2, 11);
        let mut ca = Ca::new("KISC", 7, now).unwrap();
        for (alg, curve, hash) in [
            (
                Alg::Gost256,
                crate::p11::CRYPTOPRO_A_DER,
                tokenemu_crypto::HashAlg::Streebog256,
            ),
            (
                Alg::Gost512,
                crate::p11::TC26_512_A_DER,
                tokenemu_crypto::HashAlg::Streebog512,
            ),
        ] {
            let set = tokenemu_gost::param_set_by_oid_der(curve).unwrap();
            let key = tokenemu_gost::SigningKey::generate(set);
            let pk = PublicKey::Gost {
                alg,
                params_der: curve.to_vec(),
                xy_le: key.verifying_key().to_le_xy(),
            };
            let info = pki::csr_info(
                &pki::name("CN=Тест,C=KZ").unwrap(),
                pki::spki_of(&pk).unwrap(),
            )
            .unwrap();
            let tbs = info.to_der().unwrap();
            let sig = key
                .sign_digest(&tokenemu_crypto::digest(hash, &tbs))
                .unwrap();
            let mut bad = sig.clone();
            bad[3] ^= 1;
            let csr = pki::csr_assemble(info.clone(), alg, &sig).unwrap();
            let der = ca.issue(&csr, now, 365).unwrap();
            let s = ca.check_cert(&der, now + 60).unwrap();
            assert_eq!(s.alg, alg);
            assert_eq!(super::super::days_left(now + 60, s.not_after), 364);
            assert_eq!(
                ca.check_cert(&der, now + 366 * DAY).unwrap_err().code,
                "expired"
            );
            let bad_csr = pki::csr_assemble(info, alg, &bad).unwrap();
            assert_eq!(
                ca.issue(&bad_csr, now, 365).unwrap_err().code,
                "request_rejected"
            );
        }
    }

    #[test]
    fn device_names() {
        assert!(device_matches("JaCarta", "JaCarta GOST 2.0"));
        assert!(!device_matches("eToken", "JaCarta GOST 2.0"));
        assert!(device_matches("JavaToken - JavaToken", "eToken PRO Java"));
        assert!(device_matches("JaCarta", "SoftHSM v2"));
    }
}
