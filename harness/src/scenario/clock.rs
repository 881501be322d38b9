//! The scenario clock: starts at the scenario's date (09:00 UTC), moves one
//! minute per step (the user's pace) and jumps with `clock.advance`.

use crate::backend::{days_from_civil, DAY};

/// Seconds a step takes on the scenario clock.
pub const STEP_SECONDS: u64 = 60;

/// Parses `YYYY-MM-DD` into Unix seconds at 09:00 UTC.
pub fn parse_start(s: &str) -> Result<u64, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let bad = || format!("start date {s:?} is not YYYY-MM-DD");
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let y: i64 = parts[0].parse().map_err(|_| bad())?;
    let m: u32 = parts[1].parse().map_err(|_| bad())?;
    let d: u32 = parts[2].parse().map_err(|_| bad())?;
    if !(1970..=2049).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) + 9 * 3600)
}

/// The clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Now, Unix seconds.
    pub now: u64,
}

impl Clock {
    /// Starts at `start`.
    pub fn new(start: u64) -> Clock {
        Clock { now: start }
    }

    /// One step's worth of time.
    pub fn tick(&mut self) {
        self.now += STEP_SECONDS;
    }

    /// Time travel.
    pub fn advance(&mut self, days: u64, hours: u64) {
        self.now += days * DAY + hours * 3600;
    }
}
