//! `libtokenemu.so`: the PKCS#11 C ABI over [`tokenemu_core`].
//!
//! This crate is the only place in the workspace with `unsafe` code. Its job is
//! pointers, lengths, buffers and the C calling convention; every decision
//! about tokens, sessions, objects and mechanisms is the core's.
//!
//! - [`boundary`]: the `entry!` guard around every entry point (panics,
//!   module lookup, `Error` → `CK_RV`, logging);
//! - [`ptr`]: NULL checks, length caps, the two-call output protocol;
//! - [`convert`]: templates and mechanisms in, attribute values out;
//! - [`state`]: the one global (the initialised module) and fork handling;
//! - [`function_list`]: the 2.40 and 3.0 function lists and interfaces;
//! - `entry/*`: the exported `C_*` functions, one file per spec chapter.
//!
//! Every `C_*` function is exported by symbol (clients that `dlsym` single
//! functions work) and reachable through the function lists. Their safety
//! contract is the PKCS#11 specification's: pointers are NULL or valid for
//! the lengths given. Within that contract nothing a caller passes can make
//! the library crash, allocate without bound or unwind into C.
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(non_snake_case, clippy::missing_safety_doc)]

pub mod boundary;
pub mod convert;
pub mod entry;
pub mod function_list;
pub mod ptr;
pub mod state;

pub use entry::crypt::*;
pub use entry::general::*;
pub use entry::keys::*;
pub use entry::message::*;
pub use entry::object::*;
pub use entry::session::*;
pub use entry::slot_token::*;
