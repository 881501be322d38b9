//! The command line, as clap derive structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The tokenemu command line: inspect the emulated PKCS#11 tokens and manage
/// their content.
///
/// Which slots exist, which vendor profile each follows and where its store
/// lives comes from the TOML file named by TOKENEMU_CONF (without it: slot 0
/// JaCarta GOST, slot 1 eToken, stored under ~/.local/share/tokenemu).
///
/// PINs are never given on the command line (they would show in `ps`):
/// options like --pin-env name an environment variable that holds the PIN.
/// A wrong PIN counts against the token's retry limit, as on a real token,
/// so no PIN is ever guessed: without --pin-env a `token` command tries the
/// profile's default PIN only while the token reports
/// CKF_USER_PIN_TO_BE_CHANGED (CKF_SO_PIN_TO_BE_CHANGED for the SO PIN), and
/// `run`, `conformance` and `bench` on another module log in once before
/// anything else and stop at the first refused PIN (README: "Safety with
/// real tokens").
///
/// Log output (to stderr) is controlled by TOKENEMU_LOG, e.g.
/// TOKENEMU_LOG=debug. Errors are reported on one line; the exit code is 1
/// for errors, 2 for command line mistakes, 130 for a `run` stopped by
/// Ctrl-C, and 141 (as for a program killed by SIGPIPE) when standard
/// output is closed early (`tokenemu list | head -1`), which ends a command
/// quietly.
#[derive(Debug, Parser)]
#[command(name = "tokenemu", version, propagate_version = true)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a PKCS#11 module the way an application does and print its
    /// library info, slots, tokens and mechanisms.
    ///
    /// By default it loads libtokenemu.so from the directory of this
    /// executable (target/<profile>/), else the file named by
    /// TOKENEMU_MODULE. Any other PKCS#11 module works too (--module).
    List(ListArgs),
    /// Administer the emulated tokens directly (no PKCS#11 module needed):
    /// list, initialise, change and unlock PINs, import keys, certificates
    /// and fixtures, dump and delete objects, unplug and plug.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Replay the bank manuals' flows (scenarios/*.toml) against the
    /// emulator or any PKCS#11 module, with simulated CA and bank back-ends.
    ///
    /// Without --module every scenario runs on each emulator profile it
    /// targets, with a fresh token provisioned from fixtures/provision/.
    /// With --module it runs once on that module's token (--slot or
    /// --token-label; user PIN from --pin-env); an expectations file
    /// (--expectations) lists the steps that module cannot do. Destructive
    /// steps (key deletion, PIN lock-out, re-initialisation) only run on
    /// another module with --allow-destructive. Exit status 1 if any step
    /// failed.
    ///
    /// Ctrl-C lets the step in progress finish, skips the rest, removes the
    /// temporary tokens and writes both reports marked "interrupted" (exit
    /// status 130); a second Ctrl-C stops at once.
    Run(RunArgs),
    /// Print a TOKENEMU_TRACE call trace (JSON lines) readably: one line per
    /// call with time offset, process/thread, slot/session, function,
    /// arguments (PINs only as lengths), return value and duration.
    Trace(crate::trace_cmd::TraceArgs),
    /// Measure PKCS#11 workloads on one or two modules side by side:
    /// RSA-2048, ECDSA P-256 and GOST sign/verify, SHA-256 and Streebog
    /// digests, C_FindObjects on tokens of 1,000 and 10,000 objects, and
    /// C_Initialize+C_OpenSession+C_Login, with 1 and 2 threads.
    ///
    /// Prints throughput, p50/p99 latency and the ratio A/B (the first
    /// --module is A). `--module emulator` (the default) uses
    /// libtokenemu.so next to this executable on temporary tokens; another
    /// module needs an initialised token (--slot or --token-label) and
    /// --pin-env. Keys are session objects; the data objects created on a
    /// real token are destroyed at the end unless --keep. --targets shows
    /// the performance targets (A = emulator against B = SoftHSM2) as met
    /// or not; --check-targets also exits 1 when one is missed.
    Bench(crate::bench::BenchArgs),
    /// Check a PKCS#11 module against the specification: a catalogue of
    /// checks, each tied to a spec section (general, slot and token, session
    /// and login state machines, the size-query protocol, error codes,
    /// attribute policy, operation lifecycle, per-mechanism known answers and
    /// round trips, token-info policy).
    ///
    /// Without --module it runs on the emulator, once per profile, on fresh
    /// temporary tokens (destructive checks included). With --module it
    /// runs on that module's token (--slot or --token-label; PINs from
    /// --pin-env / --so-pin-env); mechanisms the token does not list are
    /// skipped with the reason, destructive checks need
    /// --allow-destructive, and an expectations file (--expectations) lists
    /// the module's known deviations. Prints a matrix; --json, --junit and
    /// --compare for CI. Exit status 1 on any unexpected failure or
    /// unexpectedly passing check.
    Conformance(crate::conformance::ConformanceArgs),
}

/// `tokenemu run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or directories (default: the workspace's scenarios/).
    #[arg(value_name = "SCENARIO")]
    pub scenarios: Vec<PathBuf>,
    /// A PKCS#11 module to run against instead of the emulator.
    #[arg(long, value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Slot id on --module.
    #[arg(long, value_name = "ID", conflicts_with = "token_label")]
    pub slot: Option<u64>,
    /// Token label on --module.
    #[arg(long, value_name = "L")]
    pub token_label: Option<String>,
    /// Environment variable holding the user PIN (--module).
    #[arg(long, value_name = "VAR")]
    pub pin_env: Option<String>,
    /// Environment variable holding the SO PIN (--module; re-provisioning).
    #[arg(long, value_name = "VAR")]
    pub so_pin_env: Option<String>,
    /// Only these emulator profiles (default: each scenario's own list).
    #[arg(long, value_name = "NAME")]
    pub profile: Vec<String>,
    /// Expectations file: steps skipped on this module, with reasons.
    #[arg(long, value_name = "FILE")]
    pub expectations: Option<PathBuf>,
    /// Run destructive steps on a module other than the emulator.
    #[arg(long)]
    pub allow_destructive: bool,
    /// Go ahead on a token whose flags show CKF_USER_PIN_COUNT_LOW or
    /// FINAL_TRY (some wrong PINs were entered since its last good login;
    /// without this option no PIN is tried on it). A locked PIN is never
    /// tried.
    #[arg(long)]
    pub allow_low_pin_tries: bool,
    /// Output directory for artifacts and reports. The files a run writes
    /// are listed in <DIR>/.tokenemu-run-files.json; the next run in the
    /// same directory removes those its own report no longer names (and
    /// nothing it did not write).
    #[arg(long, value_name = "DIR", default_value = "target/scenario-out")]
    pub out: PathBuf,
    /// JSON report file (default: <out>/report.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// JUnit XML report file (default: <out>/junit.xml).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// `tokenemu list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The PKCS#11 module (.so) to load.
    #[arg(long, value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The slot a token command works on.
#[derive(Debug, Args, Clone, Copy)]
pub struct SlotArg {
    /// Slot id, as configured in TOKENEMU_CONF (see `tokenemu token list`).
    #[arg(long, value_name = "ID")]
    pub slot: u64,
}

/// The user PIN for commands that log in.
#[derive(Debug, Args, Clone)]
pub struct UserPinArg {
    /// Name of the environment variable holding the user PIN. Without it
    /// the profile's default user PIN is tried, but only while the token
    /// reports CKF_USER_PIN_TO_BE_CHANGED (the default is still in use);
    /// otherwise the command stops without trying any PIN.
    #[arg(long, value_name = "VAR")]
    pub pin_env: Option<String>,
}

/// `tokenemu token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Show every configured slot: profile, store directory, whether the
    /// token is plugged in, its label, serial number, flags and object count.
    /// Exit status 1 when a slot shows an error (every slot is still listed).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Initialise a token (C_InitToken: every object is deleted), then set
    /// the user PIN (C_InitPIN as SO). The label and both PINs are checked
    /// against the profile (PIN length range) first: a command that fails
    /// them changes nothing.
    Init {
        #[command(flatten)]
        slot: SlotArg,
        /// New token label, at most 32 bytes (default: the profile's label).
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        /// Environment variable holding the SO PIN. C_InitToken checks it; it
        /// does not change. Without it the profile's default SO PIN is
        /// tried, only while the token reports CKF_SO_PIN_TO_BE_CHANGED.
        #[arg(long, value_name = "VAR")]
        so_pin_env: Option<String>,
        /// Environment variable holding the user PIN to set (default: the
        /// profile's default user PIN).
        #[arg(long, value_name = "VAR")]
        user_pin_env: Option<String>,
    },
    /// Change the user PIN (or with --so the SO PIN) with C_SetPIN. The old
    /// PIN is tried once (as the SO's log-in first with --so).
    SetPin {
        #[command(flatten)]
        slot: SlotArg,
        /// Change the SO PIN instead of the user PIN.
        #[arg(long)]
        so: bool,
        /// Environment variable holding the current PIN.
        #[arg(long, value_name = "VAR")]
        old_pin_env: String,
        /// Environment variable holding the new PIN.
        #[arg(long, value_name = "VAR")]
        new_pin_env: String,
    },
    /// Unlock the user PIN: log in as the SO and set a new user PIN
    /// (C_InitPIN), which also resets its retry counter.
    Unlock {
        #[command(flatten)]
        slot: SlotArg,
        /// Environment variable holding the SO PIN. Without it the
        /// profile's default SO PIN is tried, only while the token reports
        /// CKF_SO_PIN_TO_BE_CHANGED.
        #[arg(long, value_name = "VAR")]
        so_pin_env: Option<String>,
        /// Environment variable holding the new user PIN.
        #[arg(long, value_name = "VAR")]
        new_pin_env: String,
    },
    /// Import a private key (PKCS#8, or PKCS#1 RSA / SEC1 EC; PEM or DER,
    /// unencrypted) as a private key object plus the matching public key
    /// object. RSA and EC P-256/P-384 keys are supported, in the sizes the
    /// slot's profile takes (CK_MECHANISM_INFO of its signing mechanism).
    /// Importing twice is refused, not repeated: a key the token already
    /// holds, a key under a CKA_ID another key has, or (with --cert) a
    /// certificate already there stops the command before anything is
    /// created.
    ImportKey {
        #[command(flatten)]
        slot: SlotArg,
        /// The key file (.pem or .der).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// CKA_ID in hex (default: SHA-1 of the public key, the same value
        /// import-cert derives from the certificate, so key and certificate
        /// match).
        #[arg(long, value_name = "HEX")]
        id: Option<String>,
        /// CKA_LABEL (default: the key file's name without extension).
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        /// Also import this certificate (PEM or DER) with the same CKA_ID and
        /// CKA_LABEL; it must hold the key's public key.
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        #[command(flatten)]
        pin: UserPinArg,
    },
    /// Import an X.509 certificate (PEM or DER) as a certificate object. A
    /// certificate the token already holds is refused, not imported twice.
    ImportCert {
        #[command(flatten)]
        slot: SlotArg,
        /// The certificate file (.pem, .crt, .der).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// CKA_ID in hex (default: SHA-1 of the certificate's public key).
        #[arg(long, value_name = "HEX")]
        id: Option<String>,
        /// CKA_LABEL (default: the subject's common name, else the file name).
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        #[command(flatten)]
        pin: UserPinArg,
    },
    /// Create the objects of a fixture file (TOML, see fixtures/README.md).
    /// All objects are created or none.
    ImportFixture {
        #[command(flatten)]
        slot: SlotArg,
        /// The fixture file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        pin: UserPinArg,
    },
    /// Delete objects: one by handle (as `token dump` shows it), all with a
    /// CKA_ID or CKA_LABEL, or every object.
    Delete {
        #[command(flatten)]
        slot: SlotArg,
        #[command(flatten)]
        which: DeleteWhich,
        #[command(flatten)]
        pin: UserPinArg,
    },
    /// Print every object on the token with its attributes by spec name.
    /// Secret values are never shown.
    Dump {
        #[command(flatten)]
        slot: SlotArg,
        /// List each sensitive attribute by name as <sensitive> (by default
        /// only their number is shown).
        #[arg(long)]
        show_sensitive_names: bool,
        /// Print long byte values in full (by default values over 48 bytes
        /// are shortened).
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        pin: UserPinArg,
    },
    /// Pull the token out of its slot (hot-plug emulation): applications
    /// using the module see CKR_TOKEN_NOT_PRESENT / CKR_DEVICE_REMOVED.
    Unplug {
        #[command(flatten)]
        slot: SlotArg,
    },
    /// Put the token back into its slot.
    Plug {
        #[command(flatten)]
        slot: SlotArg,
    },
    /// Inject faults: make a PKCS#11 function return a chosen CK_RV (or pull
    /// the token out) on its Nth call, on every Nth call, or at random with
    /// a seed. Rules go to the slot's fault file (faults.toml in its store
    /// directory), which the module reads at C_Initialize, after the
    /// configuration's [[slot.fault]] rules. --list shows them, --clear
    /// removes the file.
    Fault(crate::admin::FaultArgs),
}

/// Which objects `token delete` removes (exactly one option).
#[derive(Debug, Args, Clone)]
#[group(required = true, multiple = false)]
pub struct DeleteWhich {
    /// The object with this handle, as printed by `token dump`. tokenemu
    /// numbers objects the same way on every run, so the handle stays valid
    /// until the token's content changes (an application using the module
    /// may see other numbers).
    #[arg(long, value_name = "H")]
    pub handle: Option<u64>,
    /// Every object with this CKA_ID (hex).
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
    /// Every object with this CKA_LABEL.
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Every object on the token.
    #[arg(long)]
    pub all: bool,
}
