//! General fuzz target: arbitrary sequences of PKCS#11 calls (sessions,
//! login, objects, finds, crypto, key generation, random, state functions)
//! through the real `C_*` entry points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenemu_fuzz::{harness, Op};

fuzz_target!(|ops: Vec<Op>| {
    harness().run(&ops);
});
