//! Mechanisms: C_*Init with an arbitrary CK_MECHANISM (type, parameter
//! struct, parameter length) on one of the setup keys, then arbitrary data
//! through single-part, multi-part and final calls with every output-buffer
//! shape of the size protocol.
#![no_main]
// CK_ULONG is c_ulong: u64 here, u32 on Windows, so the casts are not no-ops everywhere.
#![allow(clippy::unnecessary_cast)]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tokenemu_fuzz::{harness, KeySel, Kind, Mech, Op, Out, Sel};

#[derive(Arbitrary, Debug)]
enum Step {
    Single { data: Vec<u8>, out: Out },
    Update { data: Vec<u8>, out: Out },
    Final { out: Out },
    Verify { data: Vec<u8>, sig: Vec<u8> },
    VerifyFinal { sig: Vec<u8> },
    Dual { which: u8, data: Vec<u8>, out: Out },
}

#[derive(Arbitrary, Debug)]
struct Case {
    kind: Kind,
    key: KeySel,
    mech: Mech,
    steps: Vec<Step>,
    /// A second operation on the same session (dual functions, a sign/verify round trip).
    second: Option<(Kind, KeySel, Mech)>,
}

fuzz_target!(|cases: Vec<Case>| {
    let mut h = harness();
    for case in cases.iter().take(8) {
        let (slot, key) = case.key.resolve(&h.keys);
        let s = h.open(slot);
        let s = Sel::Raw(s as u64);
        let mut ops = vec![Op::Init {
            kind: case.kind,
            s,
            m: case.mech.clone(),
            key: Sel::Raw(key as u64),
        }];
        if let Some((kind, k, m)) = &case.second {
            let (_, key) = k.resolve(&h.keys);
            ops.push(Op::Init {
                kind: *kind,
                s,
                m: m.clone(),
                key: Sel::Raw(key as u64),
            });
        }
        for st in case.steps.iter().take(16) {
            ops.push(match st {
                Step::Single { data, out } => Op::Single {
                    kind: case.kind,
                    s,
                    data: data.clone(),
                    out: *out,
                },
                Step::Update { data, out } => Op::Update {
                    kind: case.kind,
                    s,
                    data: data.clone(),
                    out: *out,
                },
                Step::Final { out } => Op::Final {
                    kind: case.kind,
                    s,
                    out: *out,
                },
                Step::Verify { data, sig } => Op::Verify {
                    s,
                    data: data.clone(),
                    sig: sig.clone(),
                },
                Step::VerifyFinal { sig } => Op::VerifyFinal {
                    sig: sig.clone(),
                    s,
                },
                Step::Dual { which, data, out } => Op::Dual {
                    which: *which,
                    s,
                    data: data.clone(),
                    out: *out,
                },
            });
        }
        for op in &ops {
            h.step(op);
        }
    }
    h.reset();
});
