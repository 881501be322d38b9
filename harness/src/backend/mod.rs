//! Simulated back-ends, in-process and deterministic (a seed and the
//! scenario clock): the KISC-like CA ([`kisc`]), the BS-Client bank
//! ([`bs_client`]), kzibank ibank24 ([`kzibank`]), VTB Business ([`vtb`]),
//! and the files a client produces ([`artifacts`]).

pub mod artifacts;
pub mod bs_client;
pub mod kisc;
pub mod kzibank;
pub mod vtb;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::p11::{harness_err, P11Error, Token};

/// What a step produced: named values the scenario may check or capture.
pub type Outputs = BTreeMap<String, String>;

/// A step failure: a `CKR_*` name or a back-end code, and a message.
pub type StepError = P11Error;

/// Result of a step's action.
pub type StepResult = Result<Outputs, StepError>;

/// A back-end refusal with its code.
pub fn refuse(code: &str, message: impl Into<String>) -> StepError {
    harness_err(code, message)
}

/// Seconds in a day.
pub const DAY: u64 = 86_400;

/// Everything a step's action may use besides the back-ends' own state.
#[derive(Debug)]
pub struct Env<'a> {
    /// The token, through PKCS#11.
    pub token: &'a Token,
    /// The scenario clock, Unix seconds.
    pub now: u64,
    /// The user PIN the bank sent by e-mail.
    pub user_pin: String,
    /// The SO PIN (head office only).
    pub so_pin: String,
    /// Where artifacts go.
    pub out_dir: PathBuf,
    /// The emulator's store directory for the slot, when the module is the
    /// emulator (hot-plug needs it).
    pub emulator_store: Option<PathBuf>,
}

impl Env<'_> {
    /// The PIN a step names: `user` (the right one), `wrong`, `so`.
    pub fn pin(&self, which: &str) -> Result<String, StepError> {
        match which {
            "user" => Ok(self.user_pin.clone()),
            "so" => Ok(self.so_pin.clone()),
            "wrong" => Ok(wrong_pin(&self.user_pin)),
            other => Err(refuse(
                "bad_step",
                format!("unknown PIN {other:?} (user, wrong, so)"),
            )),
        }
    }
}

/// A PIN of the same length as `pin` that differs in every digit.
pub fn wrong_pin(pin: &str) -> String {
    pin.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else if c.is_ascii_digit() {
                ((c as u8) + 1) as char
            } else {
                'x'
            }
        })
        .collect()
}

/// Deterministic bytes from the seed and a label (Streebog-256 of both).
pub fn derive(seed: u64, label: &str) -> Vec<u8> {
    let mut data = seed.to_be_bytes().to_vec();
    data.extend_from_slice(label.as_bytes());
    tokenemu_crypto::digest(tokenemu_crypto::HashAlg::Streebog256, &data)
}

/// `dd.mm.yyyy` of Unix seconds (as the banks' pages print dates).
pub fn date_ru(unix: u64) -> String {
    let (y, m, d) = civil(unix);
    format!("{d:02}.{m:02}.{y:04}")
}

/// `yyyy-mm-dd` of Unix seconds.
pub fn date_iso(unix: u64) -> String {
    let (y, m, d) = civil(unix);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Unix seconds → (year, month, day), proleptic Gregorian (H. Hinnant's
/// civil_from_days).
pub fn civil(unix: u64) -> (i64, u32, u32) {
    let z = (unix / DAY) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) → Unix seconds at midnight UTC.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    ((era * 146_097 + doe - 719_468) as u64) * DAY
}

/// Whole days from `now` to `until` (0 when past).
pub fn days_left(now: u64, until: u64) -> u64 {
    until.saturating_sub(now) / DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for (y, m, d) in [(1970, 1, 1), (2025, 2, 11), (2024, 2, 29), (2049, 12, 31)] {
            assert_eq!(civil(days_from_civil(y, m, d)), (y, m, d));
        }
        assert_eq!(date_ru(days_from_civil(2025, 2, 11)), "11.02.2025");
    }

    #[test]
    fn wrong_pin_differs() {
        assert_eq!(wrong_pin("1234567890"), "2345678901");
    }
}
