//! Templates: C_CreateObject, C_CopyObject, C_FindObjects*, C_GetAttributeValue,
//! C_SetAttributeValue and C_DestroyObject with arbitrary attribute types,
//! values and lengths (NULL `pValue` with any `ulValueLen` included).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tokenemu_fuzz::{harness, Attr, Op, Query, Sel};

#[derive(Arbitrary, Debug)]
enum TOp {
    Create {
        s: u8,
        t: Vec<Attr>,
    },
    Copy {
        s: u8,
        o: Sel,
        t: Vec<Attr>,
    },
    Find {
        s: u8,
        t: Vec<Attr>,
        max: u8,
        finish: bool,
    },
    Get {
        s: u8,
        o: Sel,
        q: Vec<Query>,
    },
    Set {
        s: u8,
        o: Sel,
        t: Vec<Attr>,
    },
    Destroy {
        s: u8,
        o: Sel,
    },
    Size {
        s: u8,
        o: Sel,
    },
}

fuzz_target!(|ops: Vec<TOp>| {
    let ops: Vec<Op> = ops
        .into_iter()
        .flat_map(|op| match op {
            TOp::Create { s, t } => vec![Op::CreateObject {
                s: Sel::Known(s),
                t,
            }],
            TOp::Copy { s, o, t } => vec![Op::CopyObject {
                s: Sel::Known(s),
                o,
                t,
            }],
            TOp::Find { s, t, max, finish } => {
                let s = Sel::Known(s);
                let mut v = vec![Op::FindObjectsInit { s, t }, Op::FindObjects { s, max }];
                if finish {
                    v.push(Op::FindObjectsFinal { s });
                }
                v
            }
            TOp::Get { s, o, q } => vec![Op::GetAttributeValue {
                s: Sel::Known(s),
                o,
                q,
            }],
            TOp::Set { s, o, t } => vec![Op::SetAttributeValue {
                s: Sel::Known(s),
                o,
                t,
            }],
            TOp::Destroy { s, o } => vec![Op::DestroyObject {
                s: Sel::Known(s),
                o,
            }],
            TOp::Size { s, o } => vec![Op::GetObjectSize {
                s: Sel::Known(s),
                o,
            }],
        })
        .collect();
    harness().run(&ops);
});
