//! The library's only global: the initialised module, the pid that
//! initialised it, and the flag that cancels blocked `C_WaitForSlotEvent`
//! callers. Also the one-time logging setup.
//!
//! Locking: entry points clone the `Arc<Module>` under a short read lock and
//! release it before calling the core. The core does its own locking, always,
//! whatever `CK_C_INITIALIZE_ARGS` says: mutex callbacks are validated
//! (all-or-none) and then ignored, as Kryoptic does; `CKF_OS_LOCKING_OK` and
//! `CKF_LIBRARY_CANT_CREATE_OS_THREADS` are accepted (we start no threads).
//!
//! fork(): the state records the pid of the process that called
//! `C_Initialize`. In a child (another pid) every call sees "not initialised"
//! until the child calls `C_Initialize`, which is allowed. The parent's module
//! is then *leaked* in the child, not dropped: dropping it could release
//! advisory locks or flush stores that still belong to the parent (the
//! child's copy of that memory is the only thing lost).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokenemu_core::ck::*;
use tokenemu_core::config::Config;
use tokenemu_core::module::Module;
use tokenemu_core::Error;

type Result<T> = std::result::Result<T, Error>;

/// One `C_Initialize` … `C_Finalize` lifetime.
struct Loaded {
    module: Arc<Module>,
    pid: u32,
    /// Set by `C_Finalize`: blocked `C_WaitForSlotEvent` calls return
    /// `CKR_CRYPTOKI_NOT_INITIALIZED`.
    cancel: Arc<AtomicBool>,
}

static STATE: RwLock<Option<Loaded>> = RwLock::new(None);

fn read_state() -> RwLockReadGuard<'static, Option<Loaded>> {
    // A panic never happens while the lock is held (only clones and
    // assignments run under it), but a poisoned lock must not wedge the
    // library either.
    STATE.read().unwrap_or_else(|e| e.into_inner())
}

fn write_state() -> RwLockWriteGuard<'static, Option<Loaded>> {
    STATE.write().unwrap_or_else(|e| e.into_inner())
}

/// The module, if this process initialised the library.
pub fn module() -> Result<Arc<Module>> {
    module_and_cancel().map(|(m, _)| m)
}

/// The module and the cancellation flag of the current initialisation.
pub fn module_and_cancel() -> Result<(Arc<Module>, Arc<AtomicBool>)> {
    let pid = std::process::id();
    match &*read_state() {
        Some(l) if l.pid == pid => Ok((l.module.clone(), l.cancel.clone())),
        _ => Err(Error::NotInitialized),
    }
}

/// Checks `CK_C_INITIALIZE_ARGS` (NULL is fine).
pub fn check_init_args(args: Option<&CK_C_INITIALIZE_ARGS>) -> Result<()> {
    let Some(a) = args else { return Ok(()) };
    if !a.pReserved.is_null() {
        return Err(Error::ArgumentsBad(
            "CK_C_INITIALIZE_ARGS.pReserved must be NULL",
        ));
    }
    let set = [
        a.CreateMutex.is_some(),
        a.DestroyMutex.is_some(),
        a.LockMutex.is_some(),
        a.UnlockMutex.is_some(),
    ];
    if set.iter().any(|s| *s) && !set.iter().all(|s| *s) {
        return Err(Error::ArgumentsBad(
            "mutex callbacks must be all set or all NULL",
        ));
    }
    Ok(())
}

/// `C_Initialize`: loads the configuration and builds the module.
pub fn initialize(args: Option<&CK_C_INITIALIZE_ARGS>) -> Result<()> {
    check_init_args(args)?;
    let pid = std::process::id();
    let mut state = write_state();
    match state.take() {
        Some(l) if l.pid == pid => {
            *state = Some(l);
            return Err(Error::AlreadyInitialized);
        }
        // Inherited through fork(): see the module docs.
        Some(stale) => std::mem::forget(stale),
        None => {}
    }
    // Errors are logged (at warn, with the reason) by the boundary.
    let config = Config::from_env()?;
    tracing::info!(source = %config.source, slots = config.slots.len(), "configuration loaded");
    let module = Module::new(config)?;
    *state = Some(Loaded {
        module,
        pid,
        cancel: Arc::new(AtomicBool::new(false)),
    });
    Ok(())
}

/// `C_Finalize`: drops this process's module (in-flight calls keep their
/// `Arc` until they return) and wakes blocked slot-event waiters.
pub fn finalize() -> Result<()> {
    let pid = std::process::id();
    let mut state = write_state();
    match state.take() {
        Some(l) if l.pid == pid => {
            l.cancel.store(true, Ordering::SeqCst);
            drop(state);
            drop(l);
            Ok(())
        }
        Some(stale) => {
            std::mem::forget(stale);
            Err(Error::NotInitialized)
        }
        None => Err(Error::NotInitialized),
    }
}

/// The environment variable holding the log filter.
pub const LOG_ENV: &str = "TOKENEMU_LOG";
/// The environment variable naming the log file.
pub const LOG_FILE_ENV: &str = "TOKENEMU_LOG_FILE";
/// The log filter when `TOKENEMU_LOG` is unset or unusable.
const DEFAULT_LOG_FILTER: &str = "warn";

/// Installs the `tracing` subscriber once per process.
///
/// - `TOKENEMU_LOG`: an `EnvFilter` directive (`debug`, `tokenemu_core=trace`,
///   …); default `warn`.
/// - `TOKENEMU_LOG_FILE`: append to this file instead of stderr.
///
/// A filter that does not parse, or a log file that cannot be opened, is
/// reported once on stderr (the log cannot carry the news about itself) and
/// logging goes on with the default filter, or to stderr.
///
/// If the host application already installed a global subscriber, ours is
/// silently not installed and events go to the host's.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (filter, filter_problem) = log_filter(std::env::var_os(LOG_ENV));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(true);
        let (file, file_problem) = match std::env::var_os(LOG_FILE_ENV).filter(|p| !p.is_empty()) {
            None => (None, None),
            Some(path) => match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                Ok(f) => (Some(f), None),
                Err(e) => (
                    None,
                    Some(format!(
                        "{LOG_FILE_ENV}: cannot open {} ({e}); logging to stderr instead",
                        std::path::Path::new(&path).display()
                    )),
                ),
            },
        };
        for problem in [filter_problem, file_problem].into_iter().flatten() {
            use std::io::Write;
            // Not eprintln!: a host with a closed stderr must not see a panic.
            let _ = writeln!(std::io::stderr(), "tokenemu: {problem}");
        }
        let _ = match file {
            Some(f) => builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init(),
            None => {
                use std::io::IsTerminal;
                let ansi = std::io::stderr().is_terminal();
                builder
                    .with_ansi(ansi)
                    .with_writer(std::io::stderr)
                    .try_init()
            }
        };
    });
}

/// The log filter `TOKENEMU_LOG` asks for, and what is wrong with it if it
/// cannot be used.
fn log_filter(
    value: Option<std::ffi::OsString>,
) -> (tracing_subscriber::EnvFilter, Option<String>) {
    use tracing_subscriber::EnvFilter;
    let default = || EnvFilter::new(DEFAULT_LOG_FILTER);
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return (default(), None);
    };
    let Some(text) = value.to_str() else {
        return (
            default(),
            Some(format!(
                "{LOG_ENV} is not valid UTF-8; using the default filter {DEFAULT_LOG_FILTER:?}"
            )),
        );
    };
    match EnvFilter::try_new(text) {
        Ok(f) => (f, None),
        Err(e) => (
            default(),
            Some(format!(
                "{LOG_ENV}={text:?} is not a valid log filter ({e}); using the default filter {DEFAULT_LOG_FILTER:?}"
            )),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn create(_: *mut *mut std::ffi::c_void) -> CK_RV {
        CKR_OK
    }

    #[test]
    fn init_args_rules() {
        assert!(check_init_args(None).is_ok());
        let mut a = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: std::ptr::null_mut(),
        };
        assert!(check_init_args(Some(&a)).is_ok());
        a.CreateMutex = Some(create);
        assert!(matches!(
            check_init_args(Some(&a)),
            Err(Error::ArgumentsBad(_))
        ));
        a.CreateMutex = None;
        let mut x = 0u8;
        a.pReserved = (&mut x as *mut u8).cast();
        assert!(matches!(
            check_init_args(Some(&a)),
            Err(Error::ArgumentsBad(_))
        ));
    }

    #[test]
    fn log_filters_that_do_not_parse_are_named() {
        assert!(log_filter(None).1.is_none());
        assert!(log_filter(Some("".into())).1.is_none());
        assert!(log_filter(Some("debug,tokenemu_core=trace".into()))
            .1
            .is_none());
        let problem = log_filter(Some("tokenemu=loud".into()))
            .1
            .expect("a problem");
        assert!(
            problem.contains("TOKENEMU_LOG=\"tokenemu=loud\" is not a valid log filter"),
            "{problem}"
        );
        assert!(problem.contains("\"warn\""), "{problem}");
    }
}
