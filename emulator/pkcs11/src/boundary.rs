//! The one guard around every C entry point.
//!
//! [`entry!`] turns an inner body returning [`Outcome`] into a `CK_RV`:
//! - a panic is caught (`std::panic::catch_unwind`) and reported as
//!   `CKR_GENERAL_ERROR`; no unwind ever crosses the C ABI;
//! - `entry!(Name, |m| …)` first fetches the initialised module
//!   (`CKR_CRYPTOKI_NOT_INITIALIZED` if there is none) and hands the body an
//!   `Arc<Module>`; the global lock is already released, so calls on
//!   different sessions run in parallel;
//! - `entry!(Name, || …)` is for the few functions that work without a
//!   module (interface lookup, `C_Initialize`, `C_Finalize`);
//! - `Err(e)` goes through the core's single table, `CK_RV::from(&e)`;
//! - the function name and the return value's name are logged at `debug`
//!   (never arguments: PINs and buffers stay out of logs).

use tokenemu_core::ck::*;
use tokenemu_core::Error;

/// What an inner entry body returns.
pub type Outcome = Result<(), Error>;

/// Runs `body` under the panic guard and maps its result to a `CK_RV`.
/// Logging setup and the log calls themselves sit inside a second, outer
/// guard, so not even a panicking subscriber can unwind into C.
pub fn guard(name: &'static str, body: impl FnOnce() -> Outcome) -> CK_RV {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::state::init_logging();
        let rv = run(name, body);
        tracing::debug!(
            function = name,
            rv = %tokenemu_core::names::rv_name(rv),
            "return"
        );
        rv
    }))
    .unwrap_or(CKR_GENERAL_ERROR)
}

fn run(name: &'static str, body: impl FnOnce() -> Outcome) -> CK_RV {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            let rv = CK_RV::from(&e);
            // Failures that are not the caller's doing are worth a warning.
            if matches!(
                rv,
                CKR_GENERAL_ERROR | CKR_FUNCTION_FAILED | CKR_DEVICE_ERROR | CKR_DEVICE_MEMORY
            ) {
                tracing::warn!(function = name, error = %e, "call failed");
            } else {
                tracing::debug!(function = name, error = %e);
            }
            rv
        }
        Err(_) => {
            tracing::error!(function = name, "panic caught at the C boundary");
            CKR_GENERAL_ERROR
        }
    }
}

/// Wraps one C entry point; see the module docs.
///
/// ```ignore
/// entry!(C_CloseSession, |m| Ok(m.close_session(h_session)?))
/// entry!(C_GetInterfaceList, || { … })
/// ```
macro_rules! entry {
    ($name:ident, |$m:ident| $body:expr) => {
        $crate::boundary::guard(stringify!($name), || -> $crate::boundary::Outcome {
            let $m = $crate::state::module()?;
            $body
        })
    };
    ($name:ident, || $body:expr) => {
        $crate::boundary::guard(stringify!($name), || -> $crate::boundary::Outcome { $body })
    };
}
pub(crate) use entry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_general_error() {
        let rv = guard("test", || panic!("boom"));
        assert_eq!(rv, CKR_GENERAL_ERROR);
    }

    #[test]
    fn errors_map_through_the_core_table() {
        assert_eq!(guard("t", || Err(Error::PinIncorrect)), CKR_PIN_INCORRECT);
        assert_eq!(
            guard("t", || Err(Error::FunctionNotParallel)),
            CKR_FUNCTION_NOT_PARALLEL
        );
        assert_eq!(guard("t", || Ok(())), CKR_OK);
    }
}
