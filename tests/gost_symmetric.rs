//! GOST symmetric mechanisms through the module's C functions, cross-checked
//! with OpenSSL and the gost engine (`libengine-gost-openssl`): GOST 28147-89
//! (CFB, ECB, MAC, S-box from CKA_GOST28147_PARAMS), Kuznyechik and Magma (ECB,
//! CTR-ACPKM, OMAC), HMAC with Streebog; plus the GOST R 34.12-2015 appendix
//! A examples through C_Encrypt.
//!
//! The TC26 mechanisms and key types are vendor values cryptoki cannot name,
//! so these tests call the C functions directly (`common::raw()`).

mod common;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::ptr::null_mut;

use common::{Ctx, SlotSpec};
use cryptoki::session::Session;
use cryptoki_sys::*;
use serial_test::serial;
use tokenemu_core::vendor::*;
use tools::{require, require_file};

const SLOTS: &[SlotSpec] = &[
    SlotSpec {
        id: 0,
        profile: "softtoken",
        present: true,
    },
    SlotSpec {
        id: 1,
        profile: "jacarta-gost",
        present: true,
    },
];
const SOFT: u64 = 0;
const JACARTA: u64 = 1;
const GOST_ENGINE: &str = "/usr/lib/x86_64-linux-gnu/engines-3/gost.so";

/// A test key and IVs (the key is `00 01 … 1f`).
fn test_key() -> Vec<u8> {
    (0u8..32).collect()
}

/// A message crossing the 1024-byte key-meshing boundary of GOST 28147-89 and
/// ending in a partial block.
fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

const CRYPTOPRO_A: &[u8] = &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x01];
const CRYPTOPRO_B: &[u8] = &[0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x1F, 0x02];
const TC26_Z: &[u8] = &[
    0x06, 0x09, 0x2A, 0x85, 0x03, 0x07, 0x01, 0x02, 0x05, 0x01, 0x01,
];

// ---- raw C calls ---------------------------------------------------------------

fn attr<T>(t: CK_ATTRIBUTE_TYPE, v: &T) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: t,
        pValue: (v as *const T).cast_mut().cast(),
        ulValueLen: std::mem::size_of::<T>() as CK_ULONG,
    }
}

fn attr_bytes(t: CK_ATTRIBUTE_TYPE, v: &[u8]) -> CK_ATTRIBUTE {
    CK_ATTRIBUTE {
        type_: t,
        pValue: v.as_ptr().cast_mut().cast(),
        ulValueLen: v.len() as CK_ULONG,
    }
}

/// Imports a session secret key of `key_type` usable for everything, with
/// `CKA_GOST28147_PARAMS` when `params` is given.
fn import(
    s: &Session,
    key_type: CK_KEY_TYPE,
    value: &[u8],
    params: Option<&[u8]>,
) -> CK_OBJECT_HANDLE {
    let raw = common::raw();
    let class = CKO_SECRET_KEY;
    let t: CK_BBOOL = CK_TRUE as CK_BBOOL;
    let f: CK_BBOOL = CK_FALSE as CK_BBOOL;
    let mut tpl = vec![
        attr(CKA_CLASS, &class),
        attr(CKA_KEY_TYPE, &key_type),
        attr(CKA_TOKEN, &f),
        attr_bytes(CKA_VALUE, value),
        attr(CKA_ENCRYPT, &t),
        attr(CKA_DECRYPT, &t),
        attr(CKA_SIGN, &t),
        attr(CKA_VERIFY, &t),
    ];
    if let Some(p) = params {
        tpl.push(attr_bytes(CKA_GOST28147_PARAMS, p));
    }
    let mut h = 0;
    // SAFETY: the template points at live locals of the lengths given.
    let rv =
        unsafe { raw.C_CreateObject(s.handle(), tpl.as_mut_ptr(), tpl.len() as CK_ULONG, &mut h) };
    assert_ckr!(rv, CKR_OK);
    h
}

fn mech(m: CK_MECHANISM_TYPE, param: &[u8]) -> CK_MECHANISM {
    CK_MECHANISM {
        mechanism: m,
        pParameter: if param.is_empty() {
            null_mut()
        } else {
            param.as_ptr().cast_mut().cast()
        },
        ulParameterLen: param.len() as CK_ULONG,
    }
}

/// `C_EncryptInit`/`C_DecryptInit` and then the data: in one `C_Encrypt` when
/// `parts` is empty, else through `C_*Update` in chunks of those sizes and
/// `C_*Final`. Err(rv) for the first failing call.
fn crypt(
    s: &Session,
    encrypt: bool,
    m: CK_MECHANISM_TYPE,
    param: &[u8],
    key: CK_OBJECT_HANDLE,
    data: &[u8],
    parts: &[usize],
) -> Result<Vec<u8>, CK_RV> {
    let raw = common::raw();
    let h = s.handle();
    let mut mm = mech(m, param);
    let mut input = data.to_vec();
    let mut out = vec![0u8; data.len() + 64];
    // SAFETY: every pointer is a live local buffer of the length passed.
    unsafe {
        let rv = if encrypt {
            raw.C_EncryptInit(h, &mut mm, key)
        } else {
            raw.C_DecryptInit(h, &mut mm, key)
        };
        if rv != CKR_OK {
            return Err(rv);
        }
        if parts.is_empty() {
            let mut n = out.len() as CK_ULONG;
            let f = if encrypt {
                raw.C_Encrypt
            } else {
                raw.C_Decrypt
            };
            let rv = f.expect("C_Encrypt/C_Decrypt")(
                h,
                input.as_mut_ptr(),
                input.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
            );
            if rv != CKR_OK {
                return Err(rv);
            }
            out.truncate(n as usize);
            return Ok(out);
        }
        let (upd, fin) = if encrypt {
            (raw.C_EncryptUpdate, raw.C_EncryptFinal)
        } else {
            (raw.C_DecryptUpdate, raw.C_DecryptFinal)
        };
        let (upd, fin) = (upd.expect("update"), fin.expect("final"));
        let mut result = Vec::new();
        let mut rest = &mut input[..];
        for &p in parts.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at_mut(p.min(rest.len()));
            let mut n = out.len() as CK_ULONG;
            let rv = upd(
                h,
                chunk.as_mut_ptr(),
                chunk.len() as CK_ULONG,
                out.as_mut_ptr(),
                &mut n,
            );
            if rv != CKR_OK {
                return Err(rv);
            }
            result.extend_from_slice(&out[..n as usize]);
            rest = tail;
        }
        let mut n = out.len() as CK_ULONG;
        let rv = fin(h, out.as_mut_ptr(), &mut n);
        if rv != CKR_OK {
            return Err(rv);
        }
        result.extend_from_slice(&out[..n as usize]);
        Ok(result)
    }
}

fn encrypt(
    s: &Session,
    m: CK_MECHANISM_TYPE,
    param: &[u8],
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Vec<u8> {
    crypt(s, true, m, param, key, data, &[])
        .unwrap_or_else(|rv| panic!("C_Encrypt: {}", common::rv_name(rv)))
}

/// Encrypts in one part and in several, decrypts back, and returns the
/// ciphertext (after checking the three agree).
fn encrypt_checked(
    s: &Session,
    m: CK_MECHANISM_TYPE,
    param: &[u8],
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Vec<u8> {
    let one = encrypt(s, m, param, key, data);
    let parts = crypt(s, true, m, param, key, data, &[5, 64, 1000, 3]).expect("multi-part");
    assert_eq!(one, parts, "single- and multi-part encryption differ");
    let back = crypt(s, false, m, param, key, &one, &[7, 1024]).expect("decrypt");
    assert_eq!(back, data, "decryption does not give the plaintext back");
    one
}

/// `C_Sign` in one part; `C_Verify` of the same MAC must pass and of a changed
/// one fail with CKR_SIGNATURE_INVALID.
fn sign_and_verify(
    s: &Session,
    m: CK_MECHANISM_TYPE,
    param: &[u8],
    key: CK_OBJECT_HANDLE,
    data: &[u8],
) -> Vec<u8> {
    let raw = common::raw();
    let h = s.handle();
    let mut input = data.to_vec();
    let mut sig = vec![0u8; 128];
    let mut n = sig.len() as CK_ULONG;
    // SAFETY: live local buffers of the lengths passed.
    unsafe {
        let mut mm = mech(m, param);
        assert_ckr!(raw.C_SignInit(h, &mut mm, key), CKR_OK);
        assert_ckr!(
            raw.C_Sign(
                h,
                input.as_mut_ptr(),
                input.len() as CK_ULONG,
                sig.as_mut_ptr(),
                &mut n
            ),
            CKR_OK
        );
        sig.truncate(n as usize);
        for (mac, want) in [(sig.clone(), CKR_OK), (flip(&sig), CKR_SIGNATURE_INVALID)] {
            let mut mac = mac;
            let mut mm = mech(m, param);
            assert_ckr!(raw.C_VerifyInit(h, &mut mm, key), CKR_OK);
            assert_ckr!(
                raw.C_Verify(
                    h,
                    input.as_mut_ptr(),
                    input.len() as CK_ULONG,
                    mac.as_mut_ptr(),
                    mac.len() as CK_ULONG
                ),
                want
            );
        }
    }
    sig
}

fn flip(v: &[u8]) -> Vec<u8> {
    let mut v = v.to_vec();
    v[0] ^= 1;
    v
}

// ---- OpenSSL with the gost engine --------------------------------------------------

/// An OpenSSL config loading the gost engine (with `CRYPT_PARAMS` when given),
/// or None (skip) when openssl or the engine is missing.
fn openssl_gost(dir: &Path, crypt_params: Option<&str>) -> Option<PathBuf> {
    require("openssl", "openssl")?;
    require_file(GOST_ENGINE, "libengine-gost-openssl")?;
    let name = format!("gost-{}.cnf", crypt_params.unwrap_or("default"));
    let cnf = dir.join(name);
    let extra = crypt_params
        .map(|p| format!("CRYPT_PARAMS = {p}\n"))
        .unwrap_or_default();
    std::fs::write(
        &cnf,
        format!(
            "openssl_conf = openssl_def\n[openssl_def]\nengines = engine_section\n[engine_section]\n\
             gost = gost_section\n[gost_section]\nengine_id = gost\ndynamic_path = {GOST_ENGINE}\n\
             default_algorithms = ALL\n{extra}"
        ),
    )
    .expect("write gost.cnf");
    Some(cnf)
}

/// `openssl ARGS` under `cnf` with `input` on stdin; its stdout.
fn openssl(cnf: &Path, args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .env("OPENSSL_CONF", cnf)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().expect("openssl");
    writer.join().expect("writer").expect("write stdin");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `openssl enc -CIPHER -K key -iv iv` (no padding) over `data`.
fn openssl_enc(cnf: &Path, cipher: &str, key: &[u8], iv: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
    let k = hex::encode(key);
    let mut args = vec![
        "enc".to_string(),
        format!("-{cipher}"),
        "-K".into(),
        k,
        "-nopad".into(),
    ];
    if let Some(iv) = iv {
        args.push("-iv".into());
        args.push(hex::encode(iv));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(cnf, &args, data)
}

/// `openssl dgst -mac NAME -macopt hexkey:KEY` (plus `extra`) over `data`: the MAC.
fn openssl_mac(cnf: &Path, extra: &[&str], name: &str, key: &[u8], data: &[u8]) -> Vec<u8> {
    let keyopt = format!("hexkey:{}", hex::encode(key));
    let mut args = vec!["dgst"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-mac", name, "-macopt", &keyopt]);
    let out = openssl(cnf, &args, data);
    let text = String::from_utf8_lossy(&out);
    let last = text.split_whitespace().last().expect("openssl dgst output");
    hex::decode(last.to_ascii_lowercase()).expect("hex MAC")
}

// ---- tests -------------------------------------------------------------------

#[test]
#[serial]
fn gost28147_cfb_ecb_and_mac_equal_openssl_with_the_keys_sbox() {
    let dir = tempfile::tempdir().unwrap();
    // gost-engine 3.x defaults gost89 to TC26-Z (CRYPT_PARAMS) and gost-mac
    // to CryptoPro-A (its `paramset` option), so every set is named explicitly.
    let Some(cnf) = openssl_gost(dir.path(), Some("id-Gost28147-89-CryptoPro-A-ParamSet")) else {
        return;
    };
    let Some(cnf_b) = openssl_gost(dir.path(), Some("id-Gost28147-89-CryptoPro-B-ParamSet")) else {
        return;
    };
    let Some(cnf_z) = openssl_gost(dir.path(), Some("id-tc26-gost-28147-param-Z")) else {
        return;
    };
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let k = test_key();
    let iv = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let data = message(2100);

    // No CKA_GOST28147_PARAMS: CryptoPro-A, gost-engine's default too.
    let key_a = import(&s, CKK_GOST28147, &k, None);
    let key_b = import(&s, CKK_GOST28147, &k, Some(CRYPTOPRO_B));
    let key_z = import(&s, CKK_GOST28147, &k, Some(TC26_Z));
    let ours = encrypt_checked(&s, CKM_GOST28147, &iv, key_a, &data);
    assert_eq!(
        hex::encode(&ours),
        hex::encode(openssl_enc(&cnf, "gost89", &k, Some(&iv), &data)),
        "CKM_GOST28147 vs gost89 (CFB), CryptoPro-A"
    );
    let ours_b = encrypt_checked(&s, CKM_GOST28147, &iv, key_b, &data);
    assert_eq!(
        hex::encode(&ours_b),
        hex::encode(openssl_enc(&cnf_b, "gost89", &k, Some(&iv), &data)),
        "CryptoPro-B S-box"
    );
    let ours_z = encrypt_checked(&s, CKM_GOST28147, &iv, key_z, &data);
    assert_eq!(
        hex::encode(&ours_z),
        hex::encode(openssl_enc(&cnf_z, "gost89", &k, Some(&iv), &data)),
        "TC26-Z S-box"
    );
    assert_ne!(ours, ours_b, "the S-box must follow CKA_GOST28147_PARAMS");
    // Omitted IV = zero IV (mechanisms spec).
    assert_eq!(
        encrypt(&s, CKM_GOST28147, &[], key_a, &data),
        openssl_enc(&cnf, "gost89", &k, Some(&[0; 8]), &data)
    );

    // ECB: E(X) is the first CFB gamma, so openssl's gost89 over a zero block
    // with IV X gives it.
    let blocks: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(29)).collect();
    let ecb = encrypt_checked(&s, CKM_GOST28147_ECB, &[], key_a, &blocks);
    for (c, p) in ecb.chunks(8).zip(blocks.chunks(8)) {
        assert_eq!(
            c,
            openssl_enc(&cnf, "gost89", &k, Some(p), &[0; 8]),
            "GOST 28147 ECB block"
        );
    }
    assert_eq!(
        crypt(&s, true, CKM_GOST28147_ECB, &[], key_a, &blocks[..12], &[]),
        Err(CKR_DATA_LEN_RANGE)
    );

    // MAC: 4 bytes, zero IV when omitted, key meshing over 2100 bytes.
    let opt_a = ["-macopt", "paramset:id-Gost28147-89-CryptoPro-A-ParamSet"];
    for len in [5, 8, 40, 2100] {
        let msg = &data[..len];
        let mac = sign_and_verify(&s, CKM_GOST28147_MAC, &[], key_a, msg);
        assert_eq!(mac.len(), 4);
        assert_eq!(
            mac,
            openssl_mac(&cnf, &opt_a, "gost-mac", &k, msg),
            "gost-mac over {len} bytes"
        );
        let mac_b = sign_and_verify(&s, CKM_GOST28147_MAC, &[0; 8], key_b, msg);
        let opt_b = ["-macopt", "paramset:id-Gost28147-89-CryptoPro-B-ParamSet"];
        assert_eq!(
            mac_b,
            openssl_mac(&cnf, &opt_b, "gost-mac", &k, msg),
            "gost-mac (B) over {len}"
        );
        let mac_z = sign_and_verify(&s, CKM_GOST28147_MAC, &[], key_z, msg);
        let opt_z = ["-macopt", "paramset:id-tc26-gost-28147-param-Z"];
        assert_eq!(
            mac_z,
            openssl_mac(&cnf, &opt_z, "gost-mac", &k, msg),
            "gost-mac (Z) over {len}"
        );
    }
}

#[test]
#[serial]
fn gost28147_refuses_bad_ivs_unknown_params_and_other_key_types() {
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let k = test_key();
    let key = import(&s, CKK_GOST28147, &k, None);
    let data = message(16);
    for (m, p) in [
        (CKM_GOST28147, &[0u8; 7][..]),
        (CKM_GOST28147, &[0u8; 9][..]),
        (CKM_GOST28147_ECB, &[0u8; 8][..]),
    ] {
        assert_eq!(
            crypt(&s, true, m, p, key, &data, &[]),
            Err(CKR_MECHANISM_PARAM_INVALID)
        );
    }
    // An OID naming no 28147 parameter set (a GOST R 34.10 curve).
    let curve = [0x06, 0x07, 0x2A, 0x85, 0x03, 0x02, 0x02, 0x23, 0x01];
    let bad = import(&s, CKK_GOST28147, &k, Some(&curve));
    assert_eq!(
        crypt(&s, true, CKM_GOST28147, &[], bad, &data, &[]),
        Err(CKR_DOMAIN_PARAMS_INVALID)
    );
    let kuz = import(&s, CKK_KUZNECHIK, &k, None);
    assert_eq!(
        crypt(&s, true, CKM_GOST28147, &[], kuz, &data, &[]),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
    assert_eq!(
        crypt(&s, true, CKM_KUZNECHIK_ECB, &[], key, &data, &[]),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
}

#[test]
#[serial]
fn kuznyechik_and_magma_ecb_ctr_acpkm_and_mac_equal_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cnf) = openssl_gost(dir.path(), None) else {
        return;
    };
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let k = test_key();
    let kuz = import(&s, CKK_KUZNECHIK, &k, None);
    let magma = import(&s, CKK_MAGMA, &k, None);
    let data = message(5000);

    // ECB (openssl has kuznyechik-ecb; Magma ECB is the KAT test below).
    let ecb = encrypt_checked(&s, CKM_KUZNECHIK_ECB, &[], kuz, &data[..4096]);
    assert_eq!(
        ecb,
        openssl_enc(&cnf, "kuznyechik-ecb", &k, None, &data[..4096])
    );
    assert_eq!(
        crypt(&s, true, CKM_MAGMA_ECB, &[], magma, &data[..12], &[]),
        Err(CKR_DATA_LEN_RANGE)
    );

    // CTR-ACPKM: section length 0 = plain 34.13 CTR (openssl -ctr); gost-engine's
    // -ctr-acpkm re-keys every 4096 bytes (Kuznyechik) / 1024 bytes (Magma).
    let kiv = [0x12, 0x34, 0x56, 0x78, 0x90, 0xab, 0xcd, 0xef];
    let miv = [0x12, 0x34, 0x56, 0x78];
    for (key, iv, cipher, section_bytes) in [
        (kuz, &kiv[..], "kuznyechik", 4096u32),
        (magma, &miv[..], "magma", 1024),
    ] {
        let mech = if cipher == "magma" {
            CKM_MAGMA_CTR_ACPKM
        } else {
            CKM_KUZNECHIK_CTR_ACPKM
        };
        let plain_param = [&0u32.to_be_bytes()[..], iv].concat();
        let ctr = encrypt_checked(&s, mech, &plain_param, key, &data);
        assert_eq!(
            ctr,
            openssl_enc(&cnf, &format!("{cipher}-ctr"), &k, Some(iv), &data),
            "{cipher}-ctr"
        );
        let acpkm_param = [&(section_bytes * 8).to_be_bytes()[..], iv].concat();
        let acpkm = encrypt_checked(&s, mech, &acpkm_param, key, &data);
        assert_eq!(
            acpkm,
            openssl_enc(&cnf, &format!("{cipher}-ctr-acpkm"), &k, Some(iv), &data),
            "{cipher}-ctr-acpkm"
        );
        assert_ne!(acpkm, ctr, "{cipher}: ACPKM must re-key within 5000 bytes");
        // Wrong lengths and a section that is not whole blocks.
        for bad in [
            iv.to_vec(),
            [&0u32.to_be_bytes()[..], iv, &[0]].concat(),
            [&100u32.to_be_bytes()[..], iv].concat(),
        ] {
            assert_eq!(
                crypt(&s, true, mech, &bad, key, &data, &[]),
                Err(CKR_MECHANISM_PARAM_INVALID)
            );
        }
    }

    // OMAC, the whole block.
    for len in [0, 1, 16, 100, 5000] {
        let msg = &data[..len];
        let mac = sign_and_verify(&s, CKM_KUZNECHIK_MAC, &[], kuz, msg);
        assert_eq!(mac.len(), 16);
        assert_eq!(
            mac,
            openssl_mac(&cnf, &[], "kuznyechik-mac", &k, msg),
            "kuznyechik-mac/{len}"
        );
        let mac = sign_and_verify(&s, CKM_MAGMA_MAC, &[], magma, msg);
        assert_eq!(mac.len(), 8);
        assert_eq!(
            mac,
            openssl_mac(&cnf, &[], "magma-mac", &k, msg),
            "magma-mac/{len}"
        );
    }
}

#[test]
#[serial]
fn gost_r_34_12_2015_appendix_a_examples_through_c_encrypt() {
    let ctx = Ctx::with_slots(SLOTS);
    for slot in [SOFT, JACARTA] {
        let s = ctx.user_session(slot);
        // GOST R 34.12-2015 A.1 (RFC 7801 §5): Kuznyechik.
        let k = hex::decode("8899aabbccddeeff0011223344556677fedcba98765432100123456789abcdef")
            .unwrap();
        let key = import(&s, CKK_KUZNECHIK, &k, None);
        let p = hex::decode("1122334455667700ffeeddccbbaa9988").unwrap();
        let c = encrypt_checked(&s, CKM_KUZNECHIK_ECB, &[], key, &p);
        assert_eq!(hex::encode(c), "7f679d90bebc24305a468d42b9d4edcd");
        // A.2 (RFC 8891 §5): Magma.
        let k = hex::decode("ffeeddccbbaa99887766554433221100f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
            .unwrap();
        let key = import(&s, CKK_MAGMA, &k, None);
        let p = hex::decode("fedcba9876543210").unwrap();
        let c = encrypt_checked(&s, CKM_MAGMA_ECB, &[], key, &p);
        assert_eq!(hex::encode(c), "4ee901e5c2d8ca3d");
    }
}

#[test]
#[serial]
fn streebog_hmac_equals_openssl_and_takes_generic_and_gost28147_keys() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cnf) = openssl_gost(dir.path(), None) else {
        return;
    };
    let ctx = Ctx::with_slots(SLOTS);
    let s = ctx.user_session(SOFT);
    let k = test_key();
    let generic = import(&s, CKK_GENERIC_SECRET, &k[..20], None);
    let gost = import(&s, CKK_GOST28147, &k, None);
    let data = message(300);
    for (m, md, len) in [
        (CKM_GOSTR3411_12_256_HMAC, "-md_gost12_256", 32),
        (CKM_GOSTR3411_12_512_HMAC, "-md_gost12_512", 64),
    ] {
        let mac = sign_and_verify(&s, m, &[], generic, &data);
        assert_eq!(mac.len(), len);
        assert_eq!(
            mac,
            openssl_mac(&cnf, &[md], "hmac", &k[..20], &data),
            "{md} HMAC"
        );
        let mac = sign_and_verify(&s, m, &[], gost, &data);
        assert_eq!(
            mac,
            openssl_mac(&cnf, &[md], "hmac", &k, &data),
            "{md} HMAC, GOST key"
        );
    }
    let aes = import(&s, CKK_AES, &k, None);
    let raw = common::raw();
    let mut mm = mech(CKM_GOSTR3411_12_256_HMAC, &[]);
    // SAFETY: a live local mechanism.
    let rv = unsafe { raw.C_SignInit.expect("C_SignInit")(s.handle(), &mut mm, aes) };
    assert_ckr!(rv, CKR_KEY_TYPE_INCONSISTENT);
}

/// Generates a secret key with `m`; the handle and its CKA_VALUE.
fn generate(
    s: &Session,
    m: CK_MECHANISM_TYPE,
    extra: &[CK_ATTRIBUTE],
) -> Result<(CK_OBJECT_HANDLE, Vec<u8>), CK_RV> {
    let raw = common::raw();
    let t: CK_BBOOL = CK_TRUE as CK_BBOOL;
    let f: CK_BBOOL = CK_FALSE as CK_BBOOL;
    let mut tpl = vec![
        attr(CKA_TOKEN, &f),
        attr(CKA_SENSITIVE, &f),
        attr(CKA_EXTRACTABLE, &t),
        attr(CKA_ENCRYPT, &t),
        attr(CKA_DECRYPT, &t),
    ];
    tpl.extend_from_slice(extra);
    let mut mm = mech(m, &[]);
    let mut h = 0;
    let mut value = vec![0u8; 64];
    // SAFETY: live locals of the lengths passed.
    unsafe {
        let rv = raw.C_GenerateKey(
            s.handle(),
            &mut mm,
            tpl.as_mut_ptr(),
            tpl.len() as CK_ULONG,
            &mut h,
        );
        if rv != CKR_OK {
            return Err(rv);
        }
        let mut a = [attr_bytes(CKA_VALUE, &value)];
        a[0].pValue = value.as_mut_ptr().cast();
        assert_ckr!(
            raw.C_GetAttributeValue(s.handle(), h, a.as_mut_ptr(), 1),
            CKR_OK
        );
        value.truncate(a[0].ulValueLen as usize);
    }
    Ok((h, value))
}

fn read_attr(s: &Session, h: CK_OBJECT_HANDLE, t: CK_ATTRIBUTE_TYPE) -> Vec<u8> {
    let raw = common::raw();
    let mut buf = vec![0u8; 256];
    let mut a = [CK_ATTRIBUTE {
        type_: t,
        pValue: buf.as_mut_ptr().cast(),
        ulValueLen: buf.len() as CK_ULONG,
    }];
    // SAFETY: a live local buffer of the length given.
    let rv = unsafe { raw.C_GetAttributeValue(s.handle(), h, a.as_mut_ptr(), 1) };
    assert_ckr!(rv, CKR_OK);
    buf.truncate(a[0].ulValueLen as usize);
    buf
}

#[test]
#[serial]
fn key_generation_gives_32_byte_keys_sizes_in_bytes_and_default_params() {
    let ctx = Ctx::with_slots(SLOTS);
    let raw = common::raw();
    for slot in [SOFT, JACARTA] {
        let s = ctx.user_session(slot);
        for m in [
            CKM_GOST28147_KEY_GEN,
            CKM_KUZNECHIK_KEY_GEN,
            CKM_MAGMA_KEY_GEN,
        ] {
            let mut info = CK_MECHANISM_INFO::default();
            // SAFETY: a live local out-parameter.
            let rv = unsafe { raw.C_GetMechanismInfo(slot, m, &mut info) };
            assert_ckr!(rv, CKR_OK);
            assert_eq!(
                (info.ulMinKeySize, info.ulMaxKeySize),
                (32, 32),
                "{m:#x}: bytes"
            );
            assert_ne!(info.flags & CKF_GENERATE, 0);
            let (h, v) = generate(&s, m, &[]).expect("C_GenerateKey");
            assert_eq!(v.len(), 32);
            assert_ne!(v, [0u8; 32]);
            // The key works for the family's ECB.
            let ecb = match m {
                CKM_GOST28147_KEY_GEN => CKM_GOST28147_ECB,
                CKM_KUZNECHIK_KEY_GEN => CKM_KUZNECHIK_ECB,
                _ => CKM_MAGMA_ECB,
            };
            encrypt_checked(&s, ecb, &[], h, &message(32));
        }
        let (h, _) = generate(&s, CKM_GOST28147_KEY_GEN, &[]).unwrap();
        assert_eq!(read_attr(&s, h, CKA_GOST28147_PARAMS), CRYPTOPRO_A);
        let (h, _) = generate(
            &s,
            CKM_GOST28147_KEY_GEN,
            &[attr_bytes(CKA_GOST28147_PARAMS, CRYPTOPRO_B)],
        )
        .unwrap();
        assert_eq!(read_attr(&s, h, CKA_GOST28147_PARAMS), CRYPTOPRO_B);
        let nonsense = [0x06, 0x03, 0x2A, 0x03, 0x04];
        assert_eq!(
            generate(
                &s,
                CKM_GOST28147_KEY_GEN,
                &[attr_bytes(CKA_GOST28147_PARAMS, &nonsense)]
            )
            .map(|_| ()),
            Err(CKR_ATTRIBUTE_VALUE_INVALID)
        );
    }
}
