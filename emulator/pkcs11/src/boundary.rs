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
//!   (never arguments: PINs and buffers stay out of logs);
//! - with `TOKENEMU_TRACE` set, every call — initialised or not, reaching the
//!   core or refused here — writes one trace line with the `CK_RV` the caller
//!   gets (`tokenemu_core::hooks::TracedCall`). Its arguments are the scalars
//!   named in the macro (`entry!(C_Login(session = hSession, …), …)`; PINs
//!   only as their length), joined by what the core decoded (templates,
//!   mechanisms). Without a trace this costs one branch per call.

use tokenemu_core::ck::*;
use tokenemu_core::hooks::TracedCall;
use tokenemu_core::Error;

/// What an inner entry body returns.
pub type Outcome = Result<(), Error>;

/// Runs `body` under the panic guard and maps its result to a `CK_RV`.
/// Logging setup and the log calls themselves sit inside a second, outer
/// guard, so not even a panicking subscriber can unwind into C. `args` gives
/// the call's trace arguments; it runs only when a trace is written.
pub fn guard(
    name: &'static str,
    args: impl FnOnce() -> serde_json::Value,
    body: impl FnOnce() -> Outcome,
) -> CK_RV {
    guarded(name, TracedCall::begin, args, body)
}

/// [`guard`] for `C_Initialize`, which (re)opens the trace file: its clock
/// runs even when nothing was traced before, so the call that starts the
/// trace is its first line.
pub fn guard_initialize(
    args: impl FnOnce() -> serde_json::Value,
    body: impl FnOnce() -> Outcome,
) -> CK_RV {
    guarded(
        "C_Initialize",
        || Some(TracedCall::begin_always()),
        args,
        body,
    )
}

fn guarded(
    name: &'static str,
    begin: impl FnOnce() -> Option<TracedCall>,
    args: impl FnOnce() -> serde_json::Value,
    body: impl FnOnce() -> Outcome,
) -> CK_RV {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::state::init_logging();
        let call = begin();
        let rv = run(name, body);
        if let Some(call) = call {
            call.finish(name, args, rv);
        }
        tracing::debug!(
            function = name,
            rv = %tokenemu_core::names::rv_name(rv),
            "return"
        );
        rv
    }))
    .unwrap_or(CKR_GENERAL_ERROR)
}

/// The trace arguments of a call, from the `entry!` macro's `key = value` list.
pub fn trace_args<const N: usize>(
    pairs: [(&'static str, serde_json::Value); N],
) -> serde_json::Value {
    serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A PIN (or other secret) in the trace: its length only, as the core shows it.
pub fn secret_len(len: CK_ULONG) -> serde_json::Value {
    serde_json::json!({ "redacted_len": len })
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

/// Wraps one C entry point; see the module docs. The parenthesised list
/// names the call's scalar arguments for the trace.
///
/// ```ignore
/// entry!(C_CloseSession(session = hSession), |m| Ok(m.close_session(h_session)?))
/// entry!(C_GetInterfaceList(), || { … })
/// ```
macro_rules! entry {
    ($name:ident($($key:ident = $val:expr),* $(,)?), |$m:ident| $body:expr) => {
        $crate::boundary::guard(
            stringify!($name),
            || $crate::boundary::trace_args([$((stringify!($key), ::serde_json::json!($val))),*]),
            || -> $crate::boundary::Outcome {
                let $m = $crate::state::module()?;
                $body
            },
        )
    };
    ($name:ident($($key:ident = $val:expr),* $(,)?), || $body:expr) => {
        $crate::boundary::guard(
            stringify!($name),
            || $crate::boundary::trace_args([$((stringify!($key), ::serde_json::json!($val))),*]),
            || -> $crate::boundary::Outcome { $body },
        )
    };
}
pub(crate) use entry;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_general_error() {
        let rv = guard("test", || trace_args([]), || panic!("boom"));
        assert_eq!(rv, CKR_GENERAL_ERROR);
    }

    #[test]
    fn errors_map_through_the_core_table() {
        let none = || trace_args([]);
        assert_eq!(
            guard("t", none, || Err(Error::PinIncorrect)),
            CKR_PIN_INCORRECT
        );
        assert_eq!(
            guard("t", none, || Err(Error::FunctionNotParallel)),
            CKR_FUNCTION_NOT_PARALLEL
        );
        assert_eq!(guard("t", none, || Ok(())), CKR_OK);
    }
}
