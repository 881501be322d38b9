//! The scenario file model (TOML through serde). See `scenarios/README.md`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::p11::Alg;

/// `[scenario]`: which manual, which profiles, where the clock starts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Short id, the manual's number: `000` … `004`.
    pub id: String,
    /// Title in the manual's language.
    pub title: String,
    /// The manual's file name under `shared/manuals/`.
    pub manual: String,
    /// `ru` or `kk`.
    pub language: String,
    /// Emulator profiles the scenario targets.
    pub profiles: Vec<String>,
    /// Token content at the start: a file under `fixtures/provision/`
    /// (without `.toml`).
    pub provision: String,
    /// Scenario clock start, `YYYY-MM-DD` (09:00 UTC).
    pub start: String,
    /// Seed of the back-ends.
    #[serde(default)]
    pub seed: u64,
    /// Closing note: the manual's steps left out, and why.
    pub note: String,
}

/// Where a step comes from in its manual.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocRef {
    /// Manual file name.
    pub file: String,
    /// The manual's own words, in its language.
    pub quote: String,
}

/// `[[coverage]]`: one numbered step of the manual and the scenario steps
/// that replay it (or why none does).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// The manual's step number or section (`"1"`, `"§2"`, `"Статья 3 п.5"`).
    pub manual_step: String,
    /// Step ids.
    #[serde(default)]
    pub steps: Vec<String>,
    /// Why the manual's step is not replayed.
    pub left_out: Option<String>,
}

/// `[[step]]` as written, before the action is decoded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Unique id (letters, digits, `-`, `_`).
    pub id: String,
    /// Title in the manual's language.
    pub title: String,
    /// The manual reference.
    pub doc_ref: DocRef,
    /// What happens on the token.
    pub on_token: String,
    /// What the back-end does.
    pub backend: String,
    /// What is expected, in words.
    pub expect: String,
    /// The action kind (`ca.login`, `token.login`, …).
    pub kind: String,
    /// The action's parameters.
    #[serde(default)]
    pub with: toml::Table,
    /// Expected outputs; `result` is `ok` (default) or error codes joined by `|`.
    #[serde(default)]
    pub check: BTreeMap<String, String>,
    /// Variables to capture: name → output name.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// The step destroys keys or locks the token: on a module other than
    /// the emulator it runs only with `--allow-destructive`.
    #[serde(default)]
    pub destructive: bool,
    /// The step depends on something only the emulator can do (hot-plug):
    /// skipped on other modules.
    #[serde(default)]
    pub emulator_only: bool,
}

fn one() -> u32 {
    1
}

fn year() -> u64 {
    365
}

/// What a step does, decoded from `kind` + `with`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Action {
    /// Move the scenario clock forward.
    #[serde(rename = "clock.advance")]
    ClockAdvance {
        /// Days.
        #[serde(default)]
        days: u64,
        /// Hours.
        #[serde(default)]
        hours: u64,
    },
    /// Plug the token in (emulator), or check it is present (other modules).
    #[serde(rename = "token.insert")]
    TokenInsert {},
    /// Pull the token out (emulator only).
    #[serde(rename = "token.remove")]
    TokenRemove {},
    /// `C_Login` as the user, `times` times; outputs `pin_state`.
    #[serde(rename = "token.login")]
    TokenLogin {
        /// `user`, `wrong`.
        pin: String,
        /// How many attempts.
        #[serde(default = "one")]
        times: u32,
    },
    /// Token and PIN state: `pin_state`, `present`, `keys`, `certificates`.
    #[serde(rename = "token.status")]
    TokenStatus {
        /// PIN to log in with for counting private keys (`none` to skip).
        #[serde(default = "none")]
        pin: String,
    },
    /// The configurator's key list: `count`, `key.N.{id,algorithm,days_left,created}`, `newest_gost`, ...
    #[serde(rename = "token.list_keys")]
    TokenListKeys {
        /// PIN.
        pin: String,
    },
    /// Delete a key pair and its certificate.
    #[serde(rename = "token.delete_key")]
    TokenDeleteKey {
        /// `CKA_ID` hex.
        key: String,
        /// `user`, `wrong`, or `none` (no log-in).
        pin: String,
    },
    /// The SO resets the user PIN (`C_InitPIN`).
    #[serde(rename = "token.unlock")]
    TokenUnlock {},
    /// Export a certificate to `<file>.cer` and `<file>.pem`.
    #[serde(rename = "token.export_certificate")]
    TokenExportCertificate {
        /// `CKA_ID` hex.
        key: String,
        /// Base file name.
        file: String,
    },
    /// CA portal log-in «по сертификату».
    #[serde(rename = "ca.login")]
    CaLogin {
        /// `top` or an algorithm name.
        select: String,
        /// PIN.
        pin: String,
    },
    /// «Запрос на выпуск сертификата».
    #[serde(rename = "ca.request")]
    CaRequest {
        /// The «Устройство» choice.
        device: String,
        /// Key algorithm.
        algorithm: Alg,
        /// PIN.
        pin: String,
        /// Validity in days.
        #[serde(default = "year")]
        days: u64,
        /// Install on the token at once.
        #[serde(default)]
        install: bool,
    },
    /// «Установить все сертификаты».
    #[serde(rename = "ca.install_all")]
    CaInstallAll {
        /// PIN.
        pin: String,
    },
    /// The «Заявление» shown after issue, printed to PDF.
    #[serde(rename = "ca.application")]
    CaApplication {
        /// PDF file name.
        file: String,
    },
    /// The e-mails and the «Лог процесса» of the portal.
    #[serde(rename = "ca.mailbox")]
    CaMailbox {},
    /// Zip files of the output directory.
    #[serde(rename = "artifact.zip")]
    ArtifactZip {
        /// Archive name.
        file: String,
        /// Files to include.
        files: Vec<String>,
    },
    /// The internet bank's expiry notice for the certificate `select`.
    #[serde(rename = "bank.notice")]
    BankNotice {
        /// `top` or an algorithm.
        #[serde(default = "top")]
        select: String,
    },
    /// BS-Client: log in with the active key set.
    #[serde(rename = "bs_client.login")]
    BsLogin {
        /// PIN.
        pin: String,
    },
    /// BS-Client: Профили → single click: «Параметры подписи».
    #[serde(rename = "bs_client.profile")]
    BsProfile {},
    /// BS-Client: «Новый»: a new key set on the key carrier.
    #[serde(rename = "bs_client.new_key_set")]
    BsNewKeySet {
        /// Algorithm.
        algorithm: Alg,
        /// PIN.
        pin: String,
    },
    /// BS-Client: «Отправить документ в банк» → «Подписать».
    #[serde(rename = "bs_client.send_request")]
    BsSendRequest {
        /// PIN.
        pin: String,
    },
    /// The bank processes the request (back office).
    #[serde(rename = "bs_client.bank_process")]
    BsBankProcess {
        /// `accept` or `refuse`.
        decision: String,
        /// Refusal reason.
        #[serde(default)]
        reason: String,
    },
    /// The bank marks the key set for unplanned regeneration.
    #[serde(rename = "bs_client.bank_mark_unplanned")]
    BsBankMarkUnplanned {
        /// Why.
        reason: String,
    },
    /// Reload the profiles page.
    #[serde(rename = "bs_client.reload")]
    BsReload {},
    /// Double-click on a refused profile: the refusal message.
    #[serde(rename = "bs_client.show_refusal")]
    BsShowRefusal {},
    /// «Получить сертификат (ключ)» → «ОК».
    #[serde(rename = "bs_client.receive_certificate")]
    BsReceiveCertificate {
        /// PIN.
        pin: String,
    },
    /// «Продолжить»: switch to the new key set.
    #[serde(rename = "bs_client.continue")]
    BsContinue {},
    /// ibank24 log-in with login and password.
    #[serde(rename = "kzibank.login")]
    KzLogin {
        /// `initial`, `new`, `wrong`.
        password: String,
    },
    /// The 4-digit SMS code.
    #[serde(rename = "kzibank.otp")]
    KzOtp {
        /// `correct` or `wrong`.
        code: String,
    },
    /// The plugin prompt: install, choose the language.
    #[serde(rename = "kzibank.install_plugin")]
    KzInstallPlugin {
        /// Language.
        language: String,
    },
    /// Change the password.
    #[serde(rename = "kzibank.change_password")]
    KzChangePassword {},
    /// Confirm the plugin prompt after logging in again.
    #[serde(rename = "kzibank.confirm_plugin")]
    KzConfirmPlugin {},
    /// The contact centre issues a new one-hour password.
    #[serde(rename = "kzibank.contact_centre")]
    KzContactCentre {},
    /// Create, sign (key password) and send a document.
    #[serde(rename = "kzibank.sign_document")]
    KzSignDocument {
        /// `statement`, `payment`, `letter`.
        document: String,
        /// Which key signs.
        algorithm: Alg,
        /// PIN.
        pin: String,
        /// Pull the token out after the log-in, before `C_Sign` (emulator only).
        #[serde(default)]
        pull_token_before_sign: bool,
    },
    /// VTB Business log-in with the token.
    #[serde(rename = "vtb.login")]
    VtbLogin {
        /// PIN.
        pin: String,
        /// Which certificate.
        #[serde(default = "top")]
        select: String,
    },
    /// Notify technical support of the reissue.
    #[serde(rename = "vtb.notify_support")]
    VtbNotifySupport {},
    /// Application at the branch: the token is handed over.
    #[serde(rename = "vtb.branch_application")]
    VtbBranchApplication {},
    /// Head office: SO re-initialises the token and writes new keys and certificates.
    #[serde(rename = "vtb.reprovision")]
    VtbReprovision {
        /// Algorithms of the new key pairs.
        algorithms: Vec<Alg>,
    },
}

fn none() -> String {
    "none".into()
}

fn top() -> String {
    "top".into()
}

impl Action {
    /// Every step kind, for error messages.
    pub const KINDS: &'static [&'static str] = &[
        "clock.advance",
        "token.insert",
        "token.remove",
        "token.login",
        "token.status",
        "token.list_keys",
        "token.delete_key",
        "token.unlock",
        "token.export_certificate",
        "ca.login",
        "ca.request",
        "ca.install_all",
        "ca.application",
        "ca.mailbox",
        "artifact.zip",
        "bank.notice",
        "bs_client.login",
        "bs_client.profile",
        "bs_client.new_key_set",
        "bs_client.send_request",
        "bs_client.bank_process",
        "bs_client.bank_mark_unplanned",
        "bs_client.reload",
        "bs_client.show_refusal",
        "bs_client.receive_certificate",
        "bs_client.continue",
        "kzibank.login",
        "kzibank.otp",
        "kzibank.install_plugin",
        "kzibank.change_password",
        "kzibank.confirm_plugin",
        "kzibank.contact_centre",
        "kzibank.sign_document",
        "vtb.login",
        "vtb.notify_support",
        "vtb.branch_application",
        "vtb.reprovision",
    ];

    /// Whether the step needs the emulator (hot-plug).
    pub fn needs_emulator(&self) -> bool {
        matches!(
            self,
            Action::TokenRemove {}
                | Action::KzSignDocument {
                    pull_token_before_sign: true,
                    ..
                }
        )
    }
}

/// A decoded step.
#[derive(Debug, Clone)]
pub struct Step {
    /// As written.
    pub def: StepDef,
    /// Line in the file where the step starts.
    pub line: usize,
}

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file it came from.
    pub file: String,
    /// `[scenario]`.
    pub header: Header,
    /// `[[coverage]]`.
    pub coverage: Vec<Coverage>,
    /// `[[step]]`s.
    pub steps: Vec<Step>,
    /// Clock start, Unix seconds.
    pub start: u64,
}
