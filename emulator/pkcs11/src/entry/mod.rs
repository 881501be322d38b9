//! The exported `C_*` functions, one module per chapter of the PKCS#11 3.0
//! specification (§5.4–§5.15 and the 3.0 message-based functions). Each is a
//! thin shell: `entry!` + pointer conversion + one core call.

pub mod crypt;
pub mod general;
pub mod keys;
pub mod message;
pub mod object;
pub mod session;
pub mod slot_token;
