//! The options of `tokenemu bench`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// The `--module` value that means the emulator built next to this
/// executable, on a temporary token.
pub const EMULATOR: &str = "emulator";

/// `tokenemu bench`.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// A PKCS#11 module to measure: a .so path, or `emulator` (libtokenemu.so
    /// next to this executable, on fresh temporary tokens). Given twice, the
    /// first is A and the second B, and each row shows the ratio A/B
    /// (throughput of A over throughput of B). Default: `emulator` alone.
    #[arg(long, value_name = "PATH|emulator")]
    pub module: Vec<String>,
    /// Slot id of the token to use, one per non-emulator --module, in
    /// --module order.
    #[arg(long, value_name = "ID")]
    pub slot: Vec<u64>,
    /// Token label to use instead of --slot, one per non-emulator --module,
    /// in --module order.
    #[arg(long, value_name = "L")]
    pub token_label: Vec<String>,
    /// Environment variable holding the user PIN, one per non-emulator
    /// --module, in --module order (the emulator's temporary tokens use the
    /// profile's default PIN).
    #[arg(long, value_name = "VAR")]
    pub pin_env: Vec<String>,
    /// Go ahead on a non-emulator token whose flags show
    /// CKF_USER_PIN_COUNT_LOW or FINAL_TRY (some wrong PINs were entered
    /// since its last good login; without this option no PIN is tried on
    /// it). A locked PIN is never tried.
    #[arg(long)]
    pub allow_low_pin_tries: bool,
    /// Timed rounds per workload; A and B alternate within each round and
    /// the report shows medians.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub rounds: usize,
    /// Seconds per round per module.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub secs: f64,
    /// Token sizes (numbers of CKO_DATA objects the bench creates) for the
    /// FindObjects and login workloads, ascending.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000",
        value_name = "N,N…"
    )]
    pub objects: Vec<usize>,
    /// Thread counts for the signing and FindObjects workloads.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2",
        value_name = "N,N…"
    )]
    pub threads: Vec<usize>,
    /// Only these workload groups (default: all).
    #[arg(long, value_delimiter = ',', value_name = "GROUP,…")]
    pub workloads: Vec<Group>,
    /// Also write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print the performance targets (A against B) as met / not met.
    #[arg(long)]
    pub targets: bool,
    /// Like --targets, and exit with status 1 if a target is not met.
    #[arg(long)]
    pub check_targets: bool,
    /// Keep the data objects the bench created on a non-emulator token
    /// (by default they are destroyed at the end).
    #[arg(long)]
    pub keep: bool,
}

/// Workload groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    /// RSA-2048 C_Sign / C_Verify.
    Rsa,
    /// ECDSA P-256 C_Sign / C_Verify.
    Ecdsa,
    /// GOST R 34.10-2012 256 and 512 C_Sign / C_Verify.
    Gost,
    /// C_Digest, SHA-256 and Streebog-256.
    Digest,
    /// C_FindObjects on tokens of --objects sizes.
    Find,
    /// C_Initialize + C_OpenSession + C_Login on tokens of --objects sizes.
    Login,
}

impl BenchArgs {
    /// Whether the group runs.
    pub fn wants(&self, g: Group) -> bool {
        self.workloads.is_empty() || self.workloads.contains(&g)
    }
}
