//! The PKCS#11 hot paths through the exported C functions, as a client sees
//! them: the module is `dlopen`ed (`cryptoki_sys::Pkcs11`) and driven with raw
//! calls, so the boundary, the core and the store are all in the figure.
//!
//! ```text
//! cargo build --release -p tokenemu-pkcs11
//! cargo bench -p tokenemu-benches --bench ffi_path
//! MODULE=/usr/lib/softhsm/libsofthsm2.so cargo bench -p tokenemu-benches --bench ffi_path
//! ```
//!
//! - `MODULE`: the module to load (default `target/release/libtokenemu.so`).
//!   A path containing `softhsm` gets a fresh SoftHSM2 token (temporary
//!   `SOFTHSM2_CONF`); anything else is taken to be tokenemu and gets a
//!   temporary `TOKENEMU_CONF` with the object caps lifted (`memory =
//!   "unlimited"`, `max_objects = 0`).
//! - `FFI_OBJECTS`: token sizes for the FindObjects and login groups
//!   (default `1000,10000,100000` for tokenemu, `1000` for other modules).
//! - Stores live under `/dev/shm` when it exists (fills are fast there);
//!   the work directory is removed at the end.
//!
//! Groups: `crypto_only/*` (the same RSA and ECDSA signatures straight
//! through tokenemu-crypto: the difference to `sign/*` is the PKCS#11
//! path's cost), `sign/*` (C_SignInit + C_Sign: RSA-2048 CKM_SHA256_RSA_PKCS over
//! 1 KiB, ECDSA P-256 CKM_ECDSA over a 32-byte hash, GOST R 34.10-2012-256
//! with Streebog-256 over 1 KiB on tokenemu), `sign_threads/*` (the same on one and on
//! two sessions from two threads: compare the per-signature times),
//! `find_one/<n>` (C_FindObjectsInit(class + label) + C_FindObjects +
//! C_FindObjectsFinal on a token of n data objects, one match) and
//! `init_login/<n>` (C_Initialize + C_GetSlotList + C_OpenSession +
//! C_Login on that token, repeated in this process; C_Finalize is outside
//! the timing). After it, the same sequence is timed once in each of 7 new
//! processes (a cold start: nothing cached in the process) and the median
//! is printed as `cold C_Initialize…`.

use std::path::{Path, PathBuf};
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use cryptoki_sys::*;

/// GOST R 34.10-2012 256 with Streebog-256 (TC26 vendor range).
const CKM_GOSTR3410_WITH_GOSTR3411_12_256: CK_MECHANISM_TYPE = 0xD432_1008;
/// DER of the P-256 OID 1.2.840.10045.3.1.7.
const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// DER of the CryptoPro-A parameter set OID 1.2.643.2.2.35.1.
const CRYPTOPRO_A: &[u8] = &[0x06, 0x07, 0x2a, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];
const SO_PIN: &str = "1234567890";
const USER_PIN: &str = "1234567890";
const SOFTHSM_LABEL: &str = "ffi-path-bench";
const APPLICATION: &str = "tokenemu ffi_path bench";

/// Panics with the function name and the return value unless it is CKR_OK.
macro_rules! ck {
    ($call:expr) => {{
        let rv: CK_RV = $call;
        if rv != CKR_OK {
            panic!("{} returned {:#x}", stringify!($call), rv);
        }
    }};
}

/// The module under test and the slots each group uses.
struct Module {
    f: Pkcs11,
    softhsm: bool,
    /// Slot for RSA and ECDSA signing.
    sign_slot: CK_SLOT_ID,
    /// Slot for GOST signing (tokenemu only).
    gost_slot: Option<CK_SLOT_ID>,
    /// Slot whose token receives the data objects.
    objects_slot: CK_SLOT_ID,
}

/// A template entry pointing into `'static` or caller-held storage.
fn attr(ty: CK_ATTRIBUTE_TYPE, value: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: value.as_ptr() as *mut _,
        ulValueLen: value.len() as CK_ULONG,
    }
}

const TRUE: &[u8] = &[1];
const FALSE: &[u8] = &[0];

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn mechanism(m: CK_MECHANISM_TYPE, param: &[u8]) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: if param.is_empty() {
            null_mut()
        } else {
            param.as_ptr() as *mut _
        },
        ulParameterLen: param.len() as CK_ULONG,
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn work_dir() -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("tokenemu-ffi-path-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

impl Module {
    fn load(path: &Path, dir: &Path) -> Module {
        let softhsm = path.to_string_lossy().contains("softhsm");
        if softhsm {
            let tokens = dir.join("softhsm-tokens");
            std::fs::create_dir_all(&tokens).expect("token dir");
            let conf = dir.join("softhsm2.conf");
            std::fs::write(
                &conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    tokens.display()
                ),
            )
            .expect("softhsm2.conf");
            std::env::set_var("SOFTHSM2_CONF", &conf);
        } else {
            let mut text = String::new();
            for (id, profile) in [(0, "jacarta-gost"), (1, "etoken"), (2, "etoken")] {
                text += &format!(
                    "[[slot]]\nid = {id}\nprofile = \"{profile}\"\nstore = \"{}\"\nmemory = \"unlimited\"\nmax_objects = 0\n\n",
                    dir.join(format!("slot-{id}")).display()
                );
            }
            let conf = dir.join("tokenemu.toml");
            std::fs::write(&conf, text).expect("tokenemu.toml");
            std::env::set_var("TOKENEMU_CONF", &conf);
        }
        // SAFETY: loading a PKCS#11 module runs only its own initialisers.
        let f = unsafe { Pkcs11::new(path) }
            .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
        let mut m = Module {
            f,
            softhsm,
            sign_slot: 1,
            gost_slot: Some(0),
            objects_slot: 2,
        };
        m.initialize();
        if softhsm {
            let slot = m.init_softhsm_token();
            m.sign_slot = slot;
            m.gost_slot = None;
            m.objects_slot = slot;
        }
        m
    }

    fn initialize(&self) {
        // Threads call in: SoftHSM2 locks only when asked to.
        let mut args = CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: CKF_OS_LOCKING_OK,
            pReserved: null_mut(),
        };
        // SAFETY: args is a valid CK_C_INITIALIZE_ARGS for the call.
        ck!(unsafe {
            self.f
                .C_Initialize((&mut args as *mut CK_C_INITIALIZE_ARGS).cast())
        });
    }

    fn finalize(&self) {
        // SAFETY: NULL reserved pointer as the spec requires.
        ck!(unsafe { self.f.C_Finalize(null_mut()) });
    }

    fn slots(&self, present: bool) -> Vec<CK_SLOT_ID> {
        let mut n: CK_ULONG = 0;
        // SAFETY: NULL list asks for the count.
        ck!(unsafe {
            self.f
                .C_GetSlotList(present as CK_BBOOL, null_mut(), &mut n)
        });
        let mut v = vec![0; n as usize];
        // SAFETY: v holds n entries.
        ck!(unsafe {
            self.f
                .C_GetSlotList(present as CK_BBOOL, v.as_mut_ptr(), &mut n)
        });
        v.truncate(n as usize);
        v
    }

    /// Initialises a fresh SoftHSM2 token with the bench PINs; its slot.
    fn init_softhsm_token(&self) -> CK_SLOT_ID {
        let free = self.slots(false)[0];
        let mut label = [b' '; 32];
        label[..SOFTHSM_LABEL.len()].copy_from_slice(SOFTHSM_LABEL.as_bytes());
        ck!(
            // SAFETY: the PIN and the 32-byte label are valid buffers.
            unsafe {
                self.f.C_InitToken(
                    free,
                    SO_PIN.as_ptr() as *mut _,
                    SO_PIN.len() as CK_ULONG,
                    label.as_mut_ptr(),
                )
            }
        );
        let slot = self.softhsm_slot();
        let s = self.open(slot);
        self.login(s, CKU_SO, SO_PIN);
        ck!(
            // SAFETY: the PIN is a valid buffer.
            unsafe {
                self.f
                    .C_InitPIN(s, USER_PIN.as_ptr() as *mut _, USER_PIN.len() as CK_ULONG)
            }
        );
        // SAFETY: s is an open session.
        ck!(unsafe { self.f.C_Logout(s) });
        // SAFETY: s is an open session.
        ck!(unsafe { self.f.C_CloseSession(s) });
        slot
    }

    /// The slot of the bench's SoftHSM2 token: SoftHSM2 moves a token to a
    /// new slot id at C_InitToken and at every C_Initialize.
    fn softhsm_slot(&self) -> CK_SLOT_ID {
        let mut label = [b' '; 32];
        label[..SOFTHSM_LABEL.len()].copy_from_slice(SOFTHSM_LABEL.as_bytes());
        self.slots(true)
            .into_iter()
            .find(|&s| {
                let mut info = std::mem::MaybeUninit::<CK_TOKEN_INFO>::zeroed();
                // SAFETY: info is a valid out-pointer.
                let rv = unsafe { self.f.C_GetTokenInfo(s, info.as_mut_ptr()) };
                // SAFETY: written by the successful call.
                rv == CKR_OK && unsafe { info.assume_init() }.label == label
            })
            .expect("the bench's SoftHSM2 token")
    }

    /// The data objects' slot as an application finds it after
    /// C_Initialize: through C_GetSlotList (and, on SoftHSM2, the label).
    fn find_objects_slot(&self) -> CK_SLOT_ID {
        if self.softhsm {
            self.softhsm_slot()
        } else {
            let slots = self.slots(true);
            assert!(slots.contains(&self.objects_slot));
            self.objects_slot
        }
    }

    fn open(&self, slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
        let mut h = 0;
        ck!(
            // SAFETY: h is a valid out-pointer; no callback.
            unsafe {
                self.f.C_OpenSession(
                    slot,
                    CKF_SERIAL_SESSION | CKF_RW_SESSION,
                    null_mut(),
                    None,
                    &mut h,
                )
            }
        );
        h
    }

    fn login(&self, s: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: &str) {
        // SAFETY: the PIN is a valid buffer.
        let rv = unsafe {
            self.f
                .C_Login(s, user, pin.as_ptr() as *mut _, pin.len() as CK_ULONG)
        };
        if rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN {
            panic!("C_Login returned {rv:#x}");
        }
    }

    /// A session key pair; returns the private key.
    fn key_pair(
        &self,
        s: CK_SESSION_HANDLE,
        mech: CK_MECHANISM,
        mut public: Vec<CK_ATTRIBUTE>,
    ) -> CK_OBJECT_HANDLE {
        public.extend([attr(CKA_TOKEN, FALSE), attr(CKA_VERIFY, TRUE)]);
        let mut private = [
            attr(CKA_TOKEN, FALSE),
            attr(CKA_PRIVATE, TRUE),
            attr(CKA_SENSITIVE, TRUE),
            attr(CKA_SIGN, TRUE),
        ];
        let mut mech = mech;
        let (mut hpub, mut hpriv) = (0, 0);
        ck!(
            // SAFETY: templates, mechanism and out-pointers are valid for the
            // lengths given; their values outlive the call.
            unsafe {
                self.f.C_GenerateKeyPair(
                    s,
                    &mut mech,
                    public.as_mut_ptr(),
                    public.len() as CK_ULONG,
                    private.as_mut_ptr(),
                    private.len() as CK_ULONG,
                    &mut hpub,
                    &mut hpriv,
                )
            }
        );
        hpriv
    }

    fn rsa_key(&self, s: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
        let bits = ulong(2048);
        let exponent = [1u8, 0, 1];
        self.key_pair(
            s,
            mechanism(CKM_RSA_PKCS_KEY_PAIR_GEN, &[]),
            vec![
                attr(CKA_MODULUS_BITS, &bits),
                attr(CKA_PUBLIC_EXPONENT, &exponent),
            ],
        )
    }

    fn ec_key(&self, s: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
        self.key_pair(
            s,
            mechanism(CKM_EC_KEY_PAIR_GEN, &[]),
            vec![attr(CKA_EC_PARAMS, P256)],
        )
    }

    fn gost_key(&self, s: CK_SESSION_HANDLE) -> CK_OBJECT_HANDLE {
        self.key_pair(
            s,
            mechanism(CKM_GOSTR3410_KEY_PAIR_GEN, CRYPTOPRO_A),
            vec![attr(CKA_GOSTR3410_PARAMS, CRYPTOPRO_A)],
        )
    }

    /// C_SignInit + C_Sign into a buffer of `sig.len()`; returns the length.
    fn sign(
        &self,
        s: CK_SESSION_HANDLE,
        mech: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        sig: &mut [u8],
    ) -> usize {
        let mut m = mechanism(mech, &[]);
        // SAFETY: m is a valid mechanism without parameter.
        ck!(unsafe { self.f.C_SignInit(s, &mut m, key) });
        let mut len = sig.len() as CK_ULONG;
        ck!(
            // SAFETY: data and sig are valid for the lengths given.
            unsafe {
                self.f.C_Sign(
                    s,
                    data.as_ptr() as *mut _,
                    data.len() as CK_ULONG,
                    sig.as_mut_ptr(),
                    &mut len,
                )
            }
        );
        len as usize
    }

    fn create_data(&self, s: CK_SESSION_HANDLE, label: &str) {
        let class = ulong(CKO_DATA);
        let value = [0x5au8; 32];
        let mut t = [
            attr(CKA_CLASS, &class),
            attr(CKA_TOKEN, TRUE),
            attr(CKA_PRIVATE, FALSE),
            attr(CKA_LABEL, label.as_bytes()),
            attr(CKA_APPLICATION, APPLICATION.as_bytes()),
            attr(CKA_VALUE, &value),
        ];
        let mut h = 0;
        ck!(
            // SAFETY: the template's values outlive the call.
            unsafe {
                self.f
                    .C_CreateObject(s, t.as_mut_ptr(), t.len() as CK_ULONG, &mut h)
            }
        );
    }

    /// FindObjectsInit(class + label) + FindObjects + FindObjectsFinal: the
    /// number of handles found.
    fn find_one(&self, s: CK_SESSION_HANDLE, label: &str) -> usize {
        let class = ulong(CKO_DATA);
        let mut t = [attr(CKA_CLASS, &class), attr(CKA_LABEL, label.as_bytes())];
        let mut found = [0 as CK_OBJECT_HANDLE; 16];
        let mut n: CK_ULONG = 0;
        // SAFETY: the template's values outlive the call.
        ck!(unsafe {
            self.f
                .C_FindObjectsInit(s, t.as_mut_ptr(), t.len() as CK_ULONG)
        });
        ck!(
            // SAFETY: found holds 16 handles.
            unsafe { self.f.C_FindObjects(s, found.as_mut_ptr(), 16, &mut n) }
        );
        // SAFETY: s is an open session with an active search.
        ck!(unsafe { self.f.C_FindObjectsFinal(s) });
        n as usize
    }
}

fn label_of(i: usize) -> String {
    format!("ffi-path object {i:06}")
}

fn env_sizes(softhsm: bool) -> Vec<usize> {
    match std::env::var("FFI_OBJECTS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("FFI_OBJECTS: comma-separated counts")
            })
            .collect(),
        _ if softhsm => vec![1000],
        _ => vec![1000, 10_000, 100_000],
    }
}

fn ffi_path(c: &mut Criterion) {
    let path = module_path();
    assert!(
        path.exists(),
        "{} does not exist: run `cargo build --release -p tokenemu-pkcs11` first (or set MODULE)",
        path.display()
    );
    let dir = work_dir();
    let m = Module::load(&path, &dir);
    let who = if m.softhsm { "softhsm2" } else { "tokenemu" };
    eprintln!("ffi_path: {who} from {}", path.display());
    let data = vec![0xa5u8; 1024];

    // ---- the primitives alone, for the PKCS#11 path's overhead ---------------------
    let mut group = c.benchmark_group("crypto_only");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    let rsa_key = tokenemu_crypto::RsaPrivateKey::generate(2048, &[1, 0, 1]).expect("RSA key");
    group.bench_function("rsa2048_sha256", |b| {
        b.iter(|| {
            let h = tokenemu_crypto::digest(tokenemu_crypto::HashAlg::Sha256, &data);
            rsa_key
                .sign_pkcs1v15(Some(tokenemu_crypto::HashAlg::Sha256), &h)
                .expect("sign")
        })
    });
    let ec_key =
        tokenemu_crypto::EcPrivateKey::generate(tokenemu_crypto::EcCurve::P256).expect("EC key");
    group.bench_function("ecdsa_p256", |b| {
        b.iter(|| ec_key.sign_prehash(&data[..32]).expect("sign"))
    });
    group.finish();

    // ---- signing --------------------------------------------------------------
    let s = m.open(m.sign_slot);
    m.login(s, CKU_USER, USER_PIN);
    let rsa = m.rsa_key(s);
    let ec = m.ec_key(s);
    // (name, mechanism, key, session, input length): ECDSA signs a SHA-256
    // value (CKM_ECDSA), as SoftHSM2 has no CKM_ECDSA_SHA256.
    let mut keys = vec![
        ("rsa2048_sha256", CKM_SHA256_RSA_PKCS, rsa, s, data.len()),
        ("ecdsa_p256", CKM_ECDSA, ec, s, 32),
    ];
    if let Some(gs) = m.gost_slot {
        let g = m.open(gs);
        m.login(g, CKU_USER, USER_PIN);
        keys.push((
            "gost2012_256_streebog",
            CKM_GOSTR3410_WITH_GOSTR3411_12_256,
            m.gost_key(g),
            g,
            data.len(),
        ));
    }
    let mut group = c.benchmark_group(format!("{who}/sign"));
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(3));
    for &(name, mech, key, sess, len) in &keys {
        let mut sig = [0u8; 512];
        let input = &data[..len];
        assert!(m.sign(sess, mech, key, input, &mut sig) > 0);
        group.bench_function(name, |b| {
            b.iter(|| m.sign(sess, mech, key, input, &mut sig))
        });
    }
    group.finish();

    // Two sessions signing from two threads against one thread on one.
    let s2 = m.open(m.sign_slot);
    let mut group = c.benchmark_group(format!("{who}/sign_threads"));
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(4));
    for &(name, mech, key, _, len) in &keys[..2] {
        for threads in [1usize, 2] {
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    std::thread::scope(|scope| {
                        for (t, sess) in [s, s2].into_iter().enumerate().take(threads) {
                            let n = iters / threads as u64
                                + u64::from((t as u64) < iters % threads as u64);
                            let (m, data) = (&m, &data[..len]);
                            scope.spawn(move || {
                                let mut sig = [0u8; 512];
                                for _ in 0..n {
                                    m.sign(sess, mech, key, data, &mut sig);
                                }
                            });
                        }
                    });
                    start.elapsed()
                })
            });
        }
    }
    group.finish();

    // ---- objects: FindObjects and login on growing tokens ------------------------
    let mut filled = 0usize;
    for n in env_sizes(m.softhsm) {
        let s = m.open(m.find_objects_slot());
        m.login(s, CKU_USER, USER_PIN);
        if n > filled {
            let t = Instant::now();
            for i in filled..n {
                m.create_data(s, &label_of(i));
            }
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "ffi_path: {who}: created {} data objects in {secs:.1} s ({:.0}/s)",
                n - filled,
                (n - filled) as f64 / secs.max(1e-9)
            );
            filled = n;
        }
        let target = label_of(n / 2);
        assert_eq!(m.find_one(s, &target), 1, "one object labelled {target}");
        let mut group = c.benchmark_group(format!("{who}/find_one"));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(3));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| m.find_one(s, &target))
        });
        group.finish();

        // Everything below re-initialises the module: earlier sessions end.
        m.finalize();
        let mut group = c.benchmark_group(format!("{who}/init_login"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(3));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = Instant::now();
                    m.initialize();
                    let s = m.open(m.find_objects_slot());
                    m.login(s, CKU_USER, USER_PIN);
                    total += t.elapsed();
                    m.finalize();
                }
                total
            })
        });
        group.finish();
        let (median, min) = cold_login(7);
        eprintln!(
            "ffi_path: {who}: cold C_Initialize+C_GetSlotList+C_OpenSession+C_Login in a new process, \
             {n} objects: median {:.2} ms, min {:.2} ms (7 processes)",
            median.as_secs_f64() * 1e3,
            min.as_secs_f64() * 1e3
        );
        m.initialize();
    }
    m.finalize();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Set in the child processes that time a cold C_Initialize.
const COLD_CHILD: &str = "FFI_PATH_COLD_CHILD";

/// In a child process: C_Initialize + C_GetSlotList + C_OpenSession +
/// C_Login on a token the parent filled, timed once; prints nanoseconds.
fn cold_child(path: &Path) {
    // SAFETY: loading a PKCS#11 module runs only its own initialisers.
    let f = unsafe { Pkcs11::new(path) }.expect("load module");
    let m = Module {
        f,
        softhsm: path.to_string_lossy().contains("softhsm"),
        sign_slot: 1,
        gost_slot: None,
        objects_slot: 2,
    };
    let t = Instant::now();
    m.initialize();
    let s = m.open(m.find_objects_slot());
    m.login(s, CKU_USER, USER_PIN);
    let elapsed = t.elapsed();
    m.finalize();
    println!("{}", elapsed.as_nanos());
}

/// Median and minimum of `runs` cold C_Initialize … C_Login in new processes.
fn cold_login(runs: usize) -> (Duration, Duration) {
    let exe = std::env::current_exe().expect("bench executable");
    let mut v: Vec<Duration> = (0..runs)
        .map(|_| {
            let out = std::process::Command::new(&exe)
                .env(COLD_CHILD, "1")
                .output()
                .expect("run the cold-login child");
            assert!(
                out.status.success(),
                "cold-login child: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let ns: u64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("child prints nanoseconds");
            Duration::from_nanos(ns)
        })
        .collect();
    v.sort();
    (v[v.len() / 2], v[0])
}

fn module_path() -> PathBuf {
    std::env::var_os("MODULE")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release/libtokenemu.so"))
}

criterion_group!(benches, ffi_path);

fn main() {
    if std::env::var_os(COLD_CHILD).is_some() {
        cold_child(&module_path());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
