//! GOST through the module's PKCS#11 interface, cross-checked with an
//! independent implementation: OpenSSL with the gost engine
//! (`libengine-gost-openssl`, gost.md §7), and with pkcs11-tool as a client.
//!
//! cryptoki 0.12 cannot express CKM_GOSTR3410_KEY_PAIR_GEN or
//! CKA_GOSTR3410_PARAMS, so these tests call the C functions directly.

mod common;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::null_mut;

use common::{module_path, SlotSpec, TestEnv};
use cryptoki_sys::*;
use der::asn1::{BitString, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode};
use serial_test::serial;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use tokenemu_core::vendor::*;
use tools::{require, require_file, run_ok};

const SLOT: CK_SLOT_ID = 0;
const GOST_ENGINE: &str = "/usr/lib/x86_64-linux-gnu/engines-3/gost.so";

/// One curve under test: gost.md §1 and §4.
struct Case {
    name: &'static str,
    curve_oid: &'static str,
    /// The digest OID in the SPKI parameters (absent for tc26-256-A..D, 512-C).
    spki_digest_oid: Option<&'static str>,
    size: usize,
    openssl_paramset: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "CryptoPro-A",
        curve_oid: "1.2.643.2.2.35.1",
        spki_digest_oid: Some("1.2.643.7.1.1.2.2"),
        size: 32,
        openssl_paramset: "A",
    },
    Case {
        name: "TC26-256-A",
        curve_oid: "1.2.643.7.1.2.1.1.1",
        spki_digest_oid: None,
        size: 32,
        openssl_paramset: "TCA",
    },
    Case {
        name: "TC26-512-A",
        curve_oid: "1.2.643.7.1.2.1.2.1",
        spki_digest_oid: Some("1.2.643.7.1.1.2.3"),
        size: 64,
        openssl_paramset: "A",
    },
];

impl Case {
    fn key_type(&self) -> CK_KEY_TYPE {
        if self.size == 64 {
            CKK_GOSTR3410_512
        } else {
            CKK_GOSTR3410
        }
    }
    fn keygen(&self) -> CK_MECHANISM_TYPE {
        if self.size == 64 {
            CKM_GOSTR3410_512_KEY_PAIR_GEN
        } else {
            CKM_GOSTR3410_KEY_PAIR_GEN
        }
    }
    fn sign_mech(&self) -> CK_MECHANISM_TYPE {
        if self.size == 64 {
            CKM_GOSTR3410_WITH_GOSTR3411_12_512
        } else {
            CKM_GOSTR3410_WITH_GOSTR3411_12_256
        }
    }
    fn digest_mech(&self) -> CK_MECHANISM_TYPE {
        if self.size == 64 {
            CKM_GOSTR3411_12_512
        } else {
            CKM_GOSTR3411_12_256
        }
    }
    fn openssl_md(&self) -> &'static str {
        if self.size == 64 {
            "-md_gost12_512"
        } else {
            "-md_gost12_256"
        }
    }
    fn openssl_alg(&self) -> &'static str {
        if self.size == 64 {
            "gost2012_512"
        } else {
            "gost2012_256"
        }
    }
    fn key_oid(&self) -> &'static str {
        if self.size == 64 {
            "1.2.643.7.1.1.1.2"
        } else {
            "1.2.643.7.1.1.1.1"
        }
    }
    fn curve_der(&self) -> Vec<u8> {
        ObjectIdentifier::new_unwrap(self.curve_oid)
            .to_der()
            .unwrap()
    }
}

/// The raw module with one logged-in read-write session on the GOST slot.
struct Raw {
    p: cryptoki_sys::Pkcs11,
    s: CK_SESSION_HANDLE,
}

fn ok(rv: CK_RV, what: &str) {
    assert_eq!(
        rv,
        CKR_OK,
        "{what} returned {}",
        tokenemu_core::names::rv_name(rv)
    );
}

fn attr<T>(ty: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v as *const T as *mut _,
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

fn bytes_attr(ty: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: ty,
        pValue: v.as_ptr() as *mut _,
        ulValueLen: v.len() as CK_ULONG,
    }
}

impl Raw {
    fn open(env: &TestEnv) -> Raw {
        // SAFETY: loading our own module runs no constructors with preconditions.
        let p = unsafe { cryptoki_sys::Pkcs11::new(module_path()) }.expect("load module");
        let mut s = 0;
        let pin = env.profile(SLOT).pin.default_user_pin;
        // SAFETY: NULL init args are allowed; out-pointers are valid.
        unsafe {
            ok(p.C_Initialize(null_mut()), "C_Initialize");
            ok(
                p.C_OpenSession(
                    SLOT,
                    CKF_SERIAL_SESSION | CKF_RW_SESSION,
                    null_mut(),
                    None,
                    &mut s,
                ),
                "C_OpenSession",
            );
            ok(
                p.C_Login(s, CKU_USER, pin.as_ptr() as *mut _, pin.len() as CK_ULONG),
                "C_Login",
            );
        }
        Raw { p, s }
    }

    fn generate(&self, case: &Case) -> (CK_OBJECT_HANDLE, CK_OBJECT_HANDLE) {
        let yes: CK_BBOOL = CK_TRUE as CK_BBOOL;
        let curve = case.curve_der();
        let mut public = [
            bytes_attr(CKA_GOSTR3410_PARAMS, &curve),
            attr(CKA_VERIFY, &yes),
        ];
        let mut private = [attr(CKA_SIGN, &yes), attr(CKA_PRIVATE, &yes)];
        let mut mech = CK_MECHANISM {
            mechanism: case.keygen(),
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let (mut pubk, mut privk) = (0, 0);
        // SAFETY: templates and out-pointers live across the call.
        ok(
            unsafe {
                self.p.C_GenerateKeyPair(
                    self.s,
                    &mut mech,
                    public.as_mut_ptr(),
                    2,
                    private.as_mut_ptr(),
                    2,
                    &mut pubk,
                    &mut privk,
                )
            },
            "C_GenerateKeyPair",
        );
        (pubk, privk)
    }

    fn value(&self, object: CK_OBJECT_HANDLE, ty: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
        let mut a = CK_ATTRIBUTE {
            type_: ty,
            pValue: null_mut(),
            ulValueLen: 0,
        };
        // SAFETY: a NULL pValue asks for the length.
        ok(
            unsafe { self.p.C_GetAttributeValue(self.s, object, &mut a, 1) },
            "C_GetAttributeValue(len)",
        );
        let mut v = vec![0u8; a.ulValueLen as usize];
        a.pValue = v.as_mut_ptr() as *mut _;
        // SAFETY: v has ulValueLen bytes.
        ok(
            unsafe { self.p.C_GetAttributeValue(self.s, object, &mut a, 1) },
            "C_GetAttributeValue",
        );
        v
    }

    fn sign(&self, mech: CK_MECHANISM_TYPE, key: CK_OBJECT_HANDLE, data: &[u8]) -> Vec<u8> {
        let mut m = CK_MECHANISM {
            mechanism: mech,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let mut out = vec![0u8; 256];
        let mut len = out.len() as CK_ULONG;
        // SAFETY: buffers outlive the calls; len holds out's capacity.
        unsafe {
            ok(self.p.C_SignInit(self.s, &mut m, key), "C_SignInit");
            ok(
                self.p.C_Sign(
                    self.s,
                    data.as_ptr() as *mut _,
                    data.len() as CK_ULONG,
                    out.as_mut_ptr(),
                    &mut len,
                ),
                "C_Sign",
            );
        }
        out.truncate(len as usize);
        out
    }

    fn verify(
        &self,
        mech: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
        data: &[u8],
        sig: &[u8],
    ) -> CK_RV {
        let mut m = CK_MECHANISM {
            mechanism: mech,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        // SAFETY: buffers outlive the calls.
        unsafe {
            ok(self.p.C_VerifyInit(self.s, &mut m, key), "C_VerifyInit");
            self.p.C_Verify(
                self.s,
                data.as_ptr() as *mut _,
                data.len() as CK_ULONG,
                sig.as_ptr() as *mut _,
                sig.len() as CK_ULONG,
            )
        }
    }

    fn digest(&self, mech: CK_MECHANISM_TYPE, data: &[u8]) -> Vec<u8> {
        let mut m = CK_MECHANISM {
            mechanism: mech,
            pParameter: null_mut(),
            ulParameterLen: 0,
        };
        let mut out = vec![0u8; 64];
        let mut len = out.len() as CK_ULONG;
        // SAFETY: buffers outlive the calls.
        unsafe {
            ok(self.p.C_DigestInit(self.s, &mut m), "C_DigestInit");
            ok(
                self.p.C_Digest(
                    self.s,
                    data.as_ptr() as *mut _,
                    data.len() as CK_ULONG,
                    out.as_mut_ptr(),
                    &mut len,
                ),
                "C_Digest",
            );
        }
        out.truncate(len as usize);
        out
    }

    fn import_public(&self, case: &Case, xy: &[u8]) -> CK_OBJECT_HANDLE {
        let class: CK_OBJECT_CLASS = CKO_PUBLIC_KEY;
        let kt = case.key_type();
        let curve = case.curve_der();
        let mut t = [
            attr(CKA_CLASS, &class),
            attr(CKA_KEY_TYPE, &kt),
            bytes_attr(CKA_GOSTR3410_PARAMS, &curve),
            bytes_attr(CKA_VALUE, xy),
        ];
        let mut h = 0;
        // SAFETY: the template lives across the call.
        ok(
            unsafe {
                self.p
                    .C_CreateObject(self.s, t.as_mut_ptr(), t.len() as CK_ULONG, &mut h)
            },
            "C_CreateObject",
        );
        h
    }

    fn find_by_id(&self, class: CK_OBJECT_CLASS, id: &[u8]) -> CK_OBJECT_HANDLE {
        let mut t = [attr(CKA_CLASS, &class), bytes_attr(CKA_ID, id)];
        let mut h = 0;
        let mut n = 0;
        // SAFETY: template and out-pointers live across the calls.
        unsafe {
            ok(
                self.p.C_FindObjectsInit(self.s, t.as_mut_ptr(), 2),
                "C_FindObjectsInit",
            );
            ok(
                self.p.C_FindObjects(self.s, &mut h, 1, &mut n),
                "C_FindObjects",
            );
            ok(self.p.C_FindObjectsFinal(self.s), "C_FindObjectsFinal");
        }
        assert_eq!(n, 1, "object with id {id:02x?} not found");
        h
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        // SAFETY: finalize with the required NULL argument.
        unsafe {
            self.p.C_Finalize(null_mut());
        }
    }
}

fn gost_env() -> TestEnv {
    TestEnv::new(&[SlotSpec {
        id: SLOT,
        profile: "jacarta-gost",
        present: true,
    }])
}

/// An OpenSSL config that loads the gost engine, or None (skip) when absent.
fn openssl_gost(dir: &Path) -> Option<PathBuf> {
    require("openssl", "openssl")?;
    require_file(GOST_ENGINE, "libengine-gost-openssl")?;
    let cnf = dir.join("gost.cnf");
    std::fs::write(
        &cnf,
        format!(
            "openssl_conf = openssl_def\n[openssl_def]\nengines = engine_section\n[engine_section]\n\
             gost = gost_section\n[gost_section]\nengine_id = gost\ndynamic_path = {GOST_ENGINE}\n\
             default_algorithms = ALL\n"
        ),
    )
    .unwrap();
    Some(cnf)
}

fn openssl(cnf: &Path, env: &TestEnv, args: &[&str]) -> String {
    let mut c = Command::new("openssl");
    c.env("OPENSSL_CONF", cnf).args(args);
    run_ok(&mut c, &env.conf)
}

/// SubjectPublicKeyInfo for a GOST public key in the form gost.md §4 gives.
fn spki(case: &Case, xy: &[u8]) -> Vec<u8> {
    let mut params = vec![ObjectIdentifier::new_unwrap(case.curve_oid)];
    params.extend(case.spki_digest_oid.map(ObjectIdentifier::new_unwrap));
    let params = Any::from_der(&params.to_der().unwrap()).unwrap();
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap(case.key_oid()),
            parameters: Some(params),
        },
        subject_public_key: BitString::from_bytes(&OctetString::new(xy).unwrap().to_der().unwrap())
            .unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
#[serial]
fn module_signs_and_openssl_verifies_streebog_digests_agree() {
    let env = gost_env();
    let dir = env.dir.path().to_path_buf();
    let Some(cnf) = openssl_gost(&dir) else {
        return;
    };
    let raw = Raw::open(&env);
    let msg_path = dir.join("msg");
    let msg = "Заявление на выпуск сертификата / өтініш".as_bytes();
    std::fs::write(&msg_path, msg).unwrap();
    for case in CASES {
        let (public, private) = raw.generate(case);
        let xy = raw.value(public, CKA_VALUE);
        assert_eq!(xy.len(), 2 * case.size, "{}", case.name);
        assert_eq!(raw.value(private, CKA_GOSTR3410_PARAMS), case.curve_der());

        // C_Digest equals openssl dgst.
        let ours = raw.digest(case.digest_mech(), msg);
        let theirs = openssl(
            &cnf,
            &env,
            &["dgst", case.openssl_md(), "-r", msg_path.to_str().unwrap()],
        );
        assert_eq!(
            theirs.split_whitespace().next().unwrap(),
            hex::encode(&ours),
            "{}: Streebog digest",
            case.name
        );

        let sig = raw.sign(case.sign_mech(), private, msg);
        assert_eq!(sig.len(), 2 * case.size);
        let pub_der = dir.join(format!("{}.pub.der", case.name));
        std::fs::write(&pub_der, spki(case, &xy)).unwrap();
        let sig_path = dir.join(format!("{}.sig", case.name));
        std::fs::write(&sig_path, &sig).unwrap();
        let out = openssl(
            &cnf,
            &env,
            &[
                "dgst",
                case.openssl_md(),
                "-keyform",
                "DER",
                "-verify",
                pub_der.to_str().unwrap(),
                "-signature",
                sig_path.to_str().unwrap(),
                msg_path.to_str().unwrap(),
            ],
        );
        assert!(out.contains("Verified OK"), "{}: {out}", case.name);

        // A signature from the module over other data must not verify.
        let other = raw.sign(case.sign_mech(), private, b"other data");
        std::fs::write(&sig_path, &other).unwrap();
        let mut c = Command::new("openssl");
        c.env("OPENSSL_CONF", &cnf).args([
            "dgst",
            case.openssl_md(),
            "-keyform",
            "DER",
            "-verify",
            pub_der.to_str().unwrap(),
            "-signature",
            sig_path.to_str().unwrap(),
            msg_path.to_str().unwrap(),
        ]);
        assert!(
            !tools::run(&mut c, &env.conf).status.success(),
            "{}: wrong signature accepted",
            case.name
        );
    }
}

#[test]
#[serial]
fn openssl_signs_and_module_verifies_an_imported_public_key() {
    let env = gost_env();
    let dir = env.dir.path().to_path_buf();
    let Some(cnf) = openssl_gost(&dir) else {
        return;
    };
    let raw = Raw::open(&env);
    let msg_path = dir.join("msg");
    let msg = b"statement request, account KZ00 0000 0000 0000";
    std::fs::write(&msg_path, msg).unwrap();
    for case in CASES {
        let key = dir.join(format!("{}.key.pem", case.name));
        let pub_der = dir.join(format!("{}.pub.der", case.name));
        let sig = dir.join(format!("{}.sig", case.name));
        let paramset = format!("paramset:{}", case.openssl_paramset);
        openssl(
            &cnf,
            &env,
            &[
                "genpkey",
                "-algorithm",
                case.openssl_alg(),
                "-pkeyopt",
                &paramset,
                "-out",
                key.to_str().unwrap(),
            ],
        );
        openssl(
            &cnf,
            &env,
            &[
                "pkey",
                "-in",
                key.to_str().unwrap(),
                "-pubout",
                "-outform",
                "DER",
                "-out",
                pub_der.to_str().unwrap(),
            ],
        );
        openssl(
            &cnf,
            &env,
            &[
                "dgst",
                case.openssl_md(),
                "-sign",
                key.to_str().unwrap(),
                "-out",
                sig.to_str().unwrap(),
                msg_path.to_str().unwrap(),
            ],
        );

        let spki = SubjectPublicKeyInfoOwned::from_der(&std::fs::read(&pub_der).unwrap()).unwrap();
        let xy = OctetString::from_der(spki.subject_public_key.raw_bytes())
            .unwrap()
            .into_bytes();
        let handle = raw.import_public(case, &xy);
        let mut sig = std::fs::read(&sig).unwrap();
        assert_eq!(
            raw.verify(case.sign_mech(), handle, msg, &sig),
            CKR_OK,
            "{}",
            case.name
        );
        sig[3] ^= 0x10;
        assert_eq!(
            raw.verify(case.sign_mech(), handle, msg, &sig),
            CKR_SIGNATURE_INVALID,
            "{}",
            case.name
        );
    }
}

#[test]
#[serial]
fn pkcs11_tool_generates_and_signs_with_gost() {
    let env = gost_env();
    if require("pkcs11-tool", "opensc").is_none() {
        return;
    }
    let pin = env.profile(SLOT).pin.default_user_pin;
    let dir = env.dir.path().to_path_buf();
    let msg = dir.join("msg");
    std::fs::write(&msg, b"hello from pkcs11-tool").unwrap();
    let cases = [
        (
            "GOSTR3410-2012-256:A",
            "11",
            "GOSTR3410-WITH-GOSTR3411-12-256",
            64,
        ),
        (
            "GOSTR3410-2012-512:A",
            "12",
            "GOSTR3410-WITH-GOSTR3411-12-512",
            128,
        ),
    ];
    for (key_type, id, mech, sig_len) in cases {
        let tool = |args: &[&str]| {
            let mut c = Command::new("pkcs11-tool");
            c.arg("--module")
                .arg(module_path())
                .args(["--slot", "0", "--login", "--pin", &pin])
                .args(args);
            run_ok(&mut c, &env.conf)
        };
        tool(&[
            "--keypairgen",
            "--key-type",
            key_type,
            "--id",
            id,
            "--label",
            key_type,
        ]);
        let sig = dir.join(format!("{id}.sig"));
        tool(&[
            "--sign",
            "--id",
            id,
            "-m",
            mech,
            "-i",
            msg.to_str().unwrap(),
            "-o",
            sig.to_str().unwrap(),
        ]);
        let sig = std::fs::read(&sig).unwrap();
        assert_eq!(sig.len(), sig_len, "{key_type}");

        // The keys pkcs11-tool made in its process verify the signature in ours.
        let raw = Raw::open(&env);
        let id_bytes = hex::decode(id).unwrap();
        let public = raw.find_by_id(CKO_PUBLIC_KEY, &id_bytes);
        let m = if sig_len == 64 {
            CKM_GOSTR3410_WITH_GOSTR3411_12_256
        } else {
            CKM_GOSTR3410_WITH_GOSTR3411_12_512
        };
        let data = std::fs::read(&msg).unwrap();
        assert_eq!(raw.verify(m, public, &data, &sig), CKR_OK, "{key_type}");
        drop(raw);
    }
}
