//! The workloads: what each one calls, which key and data it uses, and the
//! timed loops (one thread, several threads with a session each, and the
//! C_Initialize + C_OpenSession + C_Login loop).

use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use cryptoki_sys::*;

use super::args::{BenchArgs, Group};
use super::p11::{CallResult, Module};
use super::stats::{self, Round};
use super::target::{KeyKind, Target};
use crate::p11::client::Template;

/// The bytes a workload signs, verifies or digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// 1 KiB of data.
    Data1k,
    /// A SHA-256 DigestInfo (for CKM_RSA_PKCS).
    DigestInfoSha256,
    /// A 32-byte hash (for CKM_ECDSA).
    Hash32,
}

impl Input {
    fn bytes(self) -> Vec<u8> {
        let data: Vec<u8> = (0..1024u32).map(|i| (i * 31 + 7) as u8).collect();
        match self {
            Input::Data1k => data,
            Input::Hash32 => tokenemu_crypto::digest(tokenemu_crypto::HashAlg::Sha256, &data),
            Input::DigestInfoSha256 => {
                let mut di = tokenemu_crypto::HashAlg::Sha256
                    .digest_info_prefix()
                    .unwrap_or_default()
                    .to_vec();
                di.extend(tokenemu_crypto::digest(
                    tokenemu_crypto::HashAlg::Sha256,
                    &data,
                ));
                di
            }
        }
    }
}

/// What a workload does per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// C_SignInit + C_Sign.
    Sign {
        /// The key.
        key: KeyKind,
        /// The signature mechanism.
        mech: CK_MECHANISM_TYPE,
        /// What is signed.
        input: Input,
    },
    /// C_VerifyInit + C_Verify of a signature made in setup.
    Verify {
        /// The key.
        key: KeyKind,
        /// The signature mechanism.
        mech: CK_MECHANISM_TYPE,
        /// What is verified.
        input: Input,
    },
    /// C_DigestInit + C_Digest.
    Digest {
        /// The digest mechanism.
        mech: CK_MECHANISM_TYPE,
    },
    /// C_FindObjectsInit(class + label of one object) + C_FindObjects +
    /// C_FindObjectsFinal on a token with this many data objects.
    FindOne {
        /// Data objects on the token.
        objects: usize,
    },
    /// Find every data object of this run (class + CKA_APPLICATION), all
    /// handles fetched in batches of 1,024.
    FindClass {
        /// Data objects on the token.
        objects: usize,
    },
    /// C_Initialize + C_OpenSession + C_Login (C_Logout, C_CloseSession,
    /// C_Finalize untimed).
    Login {
        /// Data objects on the token.
        objects: usize,
    },
}

/// One row of the report.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Stable identifier, e.g. `rsa2048-sign-sha256-1k`.
    pub id: String,
    /// Group (for --workloads).
    pub group: Group,
    /// What it measures, for people.
    pub title: String,
    /// Threads, each with its own session.
    pub threads: usize,
    /// What one operation is.
    pub op: Op,
}

impl Workload {
    /// Data objects on the token, for the token-size workloads.
    pub fn objects(&self) -> Option<usize> {
        match self.op {
            Op::FindOne { objects } | Op::FindClass { objects } | Op::Login { objects } => {
                Some(objects)
            }
            _ => None,
        }
    }
}

const GOST256_SIGN: CK_MECHANISM_TYPE = crate::p11::tc26::CKM_GOSTR3410_WITH_GOSTR3411_12_256;
const GOST512_SIGN: CK_MECHANISM_TYPE = crate::p11::tc26::CKM_GOSTR3410_WITH_GOSTR3411_12_512;
const STREEBOG256: CK_MECHANISM_TYPE = tokenemu_core::vendor::CKM_GOSTR3411_12_256;

/// The workloads `args` asks for, in the order they run: the signing and
/// digest ones first (they use session keys, which the login workloads'
/// C_Finalize destroys), then for each token size FindObjects and login.
pub fn plan(args: &BenchArgs) -> Result<Vec<Workload>> {
    if args.threads.is_empty() || args.threads.contains(&0) {
        bail!("--threads needs thread counts of at least 1");
    }
    if args.objects.windows(2).any(|w| w[0] >= w[1]) || args.objects.contains(&0) {
        bail!("--objects needs ascending token sizes above 0, e.g. 1000,10000");
    }
    let mut out = Vec::new();
    let mut add = |id: &str, group: Group, title: &str, op: Op, threaded: bool| {
        let counts: &[usize] = if threaded { &args.threads } else { &[1] };
        for &threads in counts {
            out.push(Workload {
                id: id.to_string(),
                group,
                title: title.to_string(),
                threads,
                op,
            });
        }
    };
    use Input::*;
    use KeyKind::*;
    let sign = |key, mech, input| Op::Sign { key, mech, input };
    let verify = |key, mech, input| Op::Verify { key, mech, input };
    if args.wants(Group::Rsa) {
        add(
            "rsa2048-sign-sha256-1k",
            Group::Rsa,
            "RSA-2048 C_Sign CKM_SHA256_RSA_PKCS, 1 KiB",
            sign(Rsa2048, CKM_SHA256_RSA_PKCS, Data1k),
            true,
        );
        add(
            "rsa2048-sign-pkcs-digestinfo",
            Group::Rsa,
            "RSA-2048 C_Sign CKM_RSA_PKCS, DigestInfo",
            sign(Rsa2048, CKM_RSA_PKCS, DigestInfoSha256),
            false,
        );
        add(
            "rsa2048-verify-sha256-1k",
            Group::Rsa,
            "RSA-2048 C_Verify CKM_SHA256_RSA_PKCS, 1 KiB",
            verify(Rsa2048, CKM_SHA256_RSA_PKCS, Data1k),
            false,
        );
        add(
            "rsa2048-verify-pkcs-digestinfo",
            Group::Rsa,
            "RSA-2048 C_Verify CKM_RSA_PKCS, DigestInfo",
            verify(Rsa2048, CKM_RSA_PKCS, DigestInfoSha256),
            false,
        );
    }
    if args.wants(Group::Ecdsa) {
        add(
            "ecdsa-p256-sign",
            Group::Ecdsa,
            "ECDSA P-256 C_Sign CKM_ECDSA, 32-byte hash",
            sign(P256, CKM_ECDSA, Hash32),
            true,
        );
        add(
            "ecdsa-p256-verify",
            Group::Ecdsa,
            "ECDSA P-256 C_Verify CKM_ECDSA, 32-byte hash",
            verify(P256, CKM_ECDSA, Hash32),
            false,
        );
    }
    if args.wants(Group::Gost) {
        add(
            "gost256-sign",
            Group::Gost,
            "GOST-2012-256 C_Sign WITH_GOSTR3411_12_256, 1 KiB",
            sign(Gost256, GOST256_SIGN, Data1k),
            true,
        );
        add(
            "gost256-verify",
            Group::Gost,
            "GOST-2012-256 C_Verify WITH_GOSTR3411_12_256, 1 KiB",
            verify(Gost256, GOST256_SIGN, Data1k),
            false,
        );
        add(
            "gost512-sign",
            Group::Gost,
            "GOST-2012-512 C_Sign WITH_GOSTR3411_12_512, 1 KiB",
            sign(Gost512, GOST512_SIGN, Data1k),
            false,
        );
        add(
            "gost512-verify",
            Group::Gost,
            "GOST-2012-512 C_Verify WITH_GOSTR3411_12_512, 1 KiB",
            verify(Gost512, GOST512_SIGN, Data1k),
            false,
        );
    }
    if args.wants(Group::Digest) {
        add(
            "digest-sha256-1k",
            Group::Digest,
            "C_Digest CKM_SHA256, 1 KiB",
            Op::Digest { mech: CKM_SHA256 },
            false,
        );
        add(
            "digest-streebog256-1k",
            Group::Digest,
            "C_Digest CKM_GOSTR3411_12_256, 1 KiB",
            Op::Digest { mech: STREEBOG256 },
            false,
        );
    }
    for &n in &args.objects {
        if args.wants(Group::Find) {
            add(
                &format!("find-one-{n}"),
                Group::Find,
                &format!("C_FindObjects*: 1 object by label of {n}"),
                Op::FindOne { objects: n },
                true,
            );
            add(
                &format!("find-class-{n}"),
                Group::Find,
                &format!("C_FindObjects*: all {n} data objects"),
                Op::FindClass { objects: n },
                false,
            );
        }
        if args.wants(Group::Login) {
            add(
                &format!("login-{n}"),
                Group::Login,
                &format!("C_Initialize+C_OpenSession+C_Login, {n} objects"),
                Op::Login { objects: n },
                false,
            );
        }
    }
    Ok(out)
}

/// A workload made ready on one module: the slot, key and bytes it uses.
#[derive(Debug, Clone)]
pub struct Prepared {
    slot: CK_SLOT_ID,
    key: CK_OBJECT_HANDLE,
    input: Vec<u8>,
    signature: Vec<u8>,
}

/// Readies `w` on `t`: picks the slot, generates the key if needed, makes
/// the signature a verify workload checks, fills the token. `Ok(Err(reason))`
/// when the module cannot do the workload (reported as skipped).
pub fn prepare(t: &mut Target, w: &Workload) -> Result<std::result::Result<Prepared, String>> {
    let mut buf = vec![0u8; 1024];
    let p = match w.op {
        Op::Sign { key, mech, input } | Op::Verify { key, mech, input } => {
            let pair = match t.key(key, mech) {
                Ok(p) => p,
                Err(reason) => return Ok(Err(reason)),
            };
            let input = input.bytes();
            let session = t.session(pair.slot)?;
            let signature = if matches!(w.op, Op::Verify { .. }) {
                let n = t
                    .module
                    .sign(session, mech, pair.private, &input, &mut buf)?;
                buf[..n].to_vec()
            } else {
                Vec::new()
            };
            let key = if signature.is_empty() {
                pair.private
            } else {
                pair.public
            };
            Prepared {
                slot: pair.slot,
                key,
                input,
                signature,
            }
        }
        Op::Digest { mech } => match t.slot_for(&[mech]) {
            Ok(slot) => Prepared {
                slot,
                key: 0,
                input: Input::Data1k.bytes(),
                signature: Vec::new(),
            },
            Err(reason) => return Ok(Err(reason)),
        },
        Op::FindOne { objects } | Op::FindClass { objects } | Op::Login { objects } => {
            t.fill_to(objects)?;
            Prepared {
                slot: t.objects_slot,
                key: 0,
                input: Vec::new(),
                signature: Vec::new(),
            }
        }
    };
    Ok(Ok(p))
}

/// Runs one timed round of `w` on `t` for `secs` seconds. `first` receives
/// the time of the first login iteration of the process (login workloads).
pub fn run_round(
    t: &mut Target,
    w: &Workload,
    p: &Prepared,
    secs: f64,
    first: &mut Option<Duration>,
) -> Result<Round> {
    let dur = Duration::from_secs_f64(secs);
    match w.op {
        Op::Login { .. } => login_round(t, p.slot, dur, first),
        _ => {
            let op = |module: &Module, session, thread: usize, i: u64, buf: &mut [u8]| {
                one_op(t, w, p, module, session, thread, i, buf)
            };
            threaded_round(&t.module, p.slot, w.threads, dur, &op)
        }
    }
}

/// One operation of a per-session workload.
#[allow(clippy::too_many_arguments)]
fn one_op(
    t: &Target,
    w: &Workload,
    p: &Prepared,
    module: &Module,
    session: CK_SESSION_HANDLE,
    thread: usize,
    i: u64,
    buf: &mut [u8],
) -> Result<()> {
    match w.op {
        Op::Sign { mech, .. } => {
            module.sign(session, mech, p.key, &p.input, &mut buf[..1024])?;
        }
        Op::Verify { mech, .. } => module.verify(session, mech, p.key, &p.input, &p.signature)?,
        Op::Digest { mech } => {
            module.digest(session, mech, &p.input, &mut buf[..1024])?;
        }
        Op::FindOne { objects } => {
            // Spread the lookups over the token; threads start apart.
            let k = (i.wrapping_mul(7919).wrapping_add(thread as u64 * 104_729) % objects as u64)
                as usize;
            let template = Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .text(CKA_LABEL, &t.object_label(k));
            let mut handles = Vec::new();
            module.find(session, &template, &mut handles)?;
            if handles.len() != 1 {
                bail!(
                    "C_FindObjects for label {} found {} objects, expected 1",
                    t.object_label(k),
                    handles.len()
                );
            }
        }
        Op::FindClass { objects } => {
            let template = Template::new()
                .ulong(CKA_CLASS, CKO_DATA)
                .text(CKA_APPLICATION, &t.tag);
            let mut handles = Vec::with_capacity(objects);
            module.find(session, &template, &mut handles)?;
            if handles.len() != objects {
                bail!(
                    "C_FindObjects for every data object found {}, expected {objects}",
                    handles.len()
                );
            }
        }
        Op::Login { .. } => unreachable!("login rounds run apart"),
    }
    Ok(())
}

type OpFn<'a> = dyn Fn(&Module, CK_SESSION_HANDLE, usize, u64, &mut [u8]) -> Result<()> + Sync + 'a;

/// `threads` threads, each with its own session on `slot`, run `op` until
/// `dur` has passed. Each thread does one untimed operation first.
fn threaded_round(
    module: &Module,
    slot: CK_SLOT_ID,
    threads: usize,
    dur: Duration,
    op: &OpFn<'_>,
) -> Result<Round> {
    let barrier = Barrier::new(threads + 1);
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let barrier = &barrier;
                scope.spawn(move || -> Result<(u64, Vec<u64>, Instant, Option<u64>)> {
                    let mut buf = vec![0u8; 1024];
                    let setup = module.open_session(slot).map_err(anyhow::Error::from);
                    let warm = setup
                        .as_ref()
                        .map_err(|e| anyhow!("{e}"))
                        .and_then(|s| op(module, *s, thread, u64::MAX / 2, &mut buf));
                    // Everyone reaches the barrier, even after an error, so
                    // the others are not left waiting.
                    barrier.wait();
                    let session = setup?;
                    let run = || -> Result<(u64, Vec<u64>, Instant, Option<u64>)> {
                        warm?;
                        let cpu0 = stats::thread_cpu_ns();
                        let start = Instant::now();
                        let mut lat = Vec::with_capacity(1 << 12);
                        let mut i = 0u64;
                        while start.elapsed() < dur {
                            let t0 = Instant::now();
                            op(module, session, thread, i, &mut buf)?;
                            lat.push(t0.elapsed().as_nanos() as u64);
                            i += 1;
                        }
                        let end = Instant::now();
                        let cpu = cpu0
                            .zip(stats::thread_cpu_ns())
                            .map(|(a, b)| b.saturating_sub(a));
                        Ok((i, lat, end, cpu))
                    };
                    let out = run();
                    let closed = module.close_session(session);
                    let out = out?;
                    closed?;
                    Ok(out)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let joined: Vec<_> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a benchmark thread panicked")))
            })
            .collect();
        (start, joined)
    });
    let (start, joined) = results;
    let mut round = Round {
        cpu_ns: Some(0),
        ..Round::default()
    };
    let mut end = start;
    for r in joined {
        let (ops, lat, e, cpu) = r?;
        round.ops += ops;
        round.latencies_ns.extend(lat);
        round.cpu_ns = round.cpu_ns.zip(cpu).map(|(a, b)| a + b);
        end = end.max(e);
    }
    round.wall = end - start;
    Ok(round)
}

/// Repeats C_Initialize + C_OpenSession + C_Login (timed) and C_Logout +
/// C_CloseSession + C_Finalize (untimed) for `dur`, at least twice. The
/// module is finalized around it ([`Target::suspend`] / [`Target::resume`]).
fn login_round(
    t: &mut Target,
    slot: CK_SLOT_ID,
    dur: Duration,
    first: &mut Option<Duration>,
) -> Result<Round> {
    t.suspend()?;
    let pin = t.pin(slot).to_vec();
    let once = |m: &Module| -> CallResult<(Duration, CK_SESSION_HANDLE)> {
        let t0 = Instant::now();
        m.initialize()?;
        let s = m.open_session(slot)?;
        m.login_user(s, &pin)?;
        Ok((t0.elapsed(), s))
    };
    let undo = |m: &Module, s| -> CallResult<()> {
        m.logout(s)?;
        m.close_session(s)?;
        m.finalize()
    };
    let mut round = Round {
        cpu_ns: Some(0),
        ..Round::default()
    };
    let mut wall = Duration::ZERO;
    let start = Instant::now();
    while start.elapsed() < dur || round.ops < 2 {
        let cpu0 = stats::thread_cpu_ns();
        let (d, s) = once(&t.module)?;
        let cpu = cpu0
            .zip(stats::thread_cpu_ns())
            .map(|(a, b)| b.saturating_sub(a));
        undo(&t.module, s)?;
        if first.is_none() {
            // Reported apart: whatever the module caches on its first
            // login in the process is not steady state.
            *first = Some(d);
            continue;
        }
        round.ops += 1;
        round.latencies_ns.push(d.as_nanos() as u64);
        round.cpu_ns = round.cpu_ns.zip(cpu).map(|(a, b)| a + b);
        wall += d;
    }
    // Throughput of the timed part only (setup and teardown excluded).
    round.wall = wall;
    t.resume()?;
    Ok(round)
}
