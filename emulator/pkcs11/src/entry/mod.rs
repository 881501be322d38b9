//! The exported `C_*` functions, one module per chapter of the PKCS#11
//! specification (chapter 5, plus the 3.0 message-based functions). Each is a
//! thin shell: `entry!` + pointer conversion + one core call.
//!
//! Section numbers in these modules are v2.40's; v3.0 inserted the
//! message-based sections, so from §5.9 on its numbers differ and each module
//! names both where they do.

pub mod crypt;
pub mod general;
pub mod keys;
pub mod message;
pub mod object;
pub mod session;
pub mod slot_token;
