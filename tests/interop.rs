//! Real PKCS#11 clients against the built module: OpenSC's pkcs11-tool,
//! GnuTLS's p11tool and OpenSSL's pkcs11 engine. Each test gets its own
//! configuration and stores; the tools run as separate processes.

mod common;
mod tools;

use std::path::Path;
use std::process::Command;

use common::{module_path, TestEnv, DEFAULT_SLOTS, ETOKEN};
use serial_test::serial;
use tools::{require, require_file, run, run_ok};

const ETOKEN_PIN: &str = "1234567890";

fn pkcs11_tool(env: &TestEnv, args: &[&str]) -> Option<String> {
    require("pkcs11-tool", "opensc")?;
    let mut cmd = Command::new("pkcs11-tool");
    cmd.arg("--module").arg(module_path()).args(args);
    Some(run_ok(&mut cmd, &env.conf))
}

fn user_args(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["--slot", "1", "--login", "--pin", ETOKEN_PIN];
    v.extend_from_slice(extra);
    v
}

fn keypairs(env: &TestEnv) -> Option<()> {
    pkcs11_tool(
        env,
        &user_args(&[
            "--keypairgen",
            "--key-type",
            "rsa:2048",
            "--id",
            "01",
            "--label",
            "rsa",
        ]),
    )?;
    pkcs11_tool(
        env,
        &user_args(&[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "02",
            "--label",
            "ec",
        ]),
    )?;
    Some(())
}

#[test]
#[serial]
fn pkcs11_tool_info_slots_mechanisms_and_objects() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    assert_eq!(env.profile(ETOKEN).pin.default_user_pin, ETOKEN_PIN);
    let Some(info) = pkcs11_tool(&env, &["-I"]) else {
        return;
    };
    assert!(info.contains("tokenemu PKCS#11 token emulator"), "{info}");
    let slots = pkcs11_tool(&env, &["-L"]).unwrap();
    for want in [
        "JaCarta GOST 2.0",
        "Aladdin R.D.",
        "eToken",
        "SafeNet, Inc.",
        "pin min/max        : 6/20",
    ] {
        assert!(slots.contains(want), "-L lacks {want:?}:\n{slots}");
    }
    let mechs = pkcs11_tool(&env, &["-M", "--slot", "1"]).unwrap();
    for want in [
        "RSA-PKCS-KEY-PAIR-GEN",
        "SHA256-RSA-PKCS-PSS",
        "RSA-PKCS-OAEP",
        "ECDSA-SHA256",
        "SHA512",
    ] {
        assert!(mechs.contains(want), "-M lacks {want}:\n{mechs}");
    }
    keypairs(&env).unwrap();
    let objects = pkcs11_tool(&env, &user_args(&["-O"])).unwrap();
    for want in [
        "Private Key Object; RSA",
        "Public Key Object; RSA 2048 bits",
        "Private Key Object; EC",
        "label:      ec",
    ] {
        assert!(objects.contains(want), "-O lacks {want}:\n{objects}");
    }
    // Without login the private keys stay hidden.
    let public_only = pkcs11_tool(&env, &["--slot", "1", "-O"]).unwrap();
    assert!(!public_only.contains("Private Key Object"), "{public_only}");
}

#[test]
#[serial]
fn pkcs11_tool_test_runs_to_the_end_with_and_without_allow_sw() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    if keypairs(&env).is_none() {
        return;
    }
    for extra in [&["--test"][..], &["--test", "--allow-sw"][..]] {
        let mut args = user_args(&[]);
        args.extend_from_slice(extra);
        let out = pkcs11_tool(&env, &args).unwrap();
        assert!(out.contains("No errors"), "pkcs11-tool {extra:?}:\n{out}");
        // SoftHSM2 stops here; we must not.
        assert!(out.contains("RSA-PKCS-OAEP"), "OAEP was not tested:\n{out}");
    }
}

#[test]
#[serial]
fn pkcs11_tool_test_ec() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    // --test-ec needs a read-write session; pkcs11-tool 0.23 opens one only
    // when a write action such as --keypairgen is also given.
    let Some(out) = pkcs11_tool(
        &env,
        &user_args(&[
            "--test-ec",
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--id",
            "03",
        ]),
    ) else {
        return;
    };
    assert!(out.contains("==> OK"), "{out}");
}

#[test]
#[serial]
fn pkcs11_tool_test_fork() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    let Some(out) = pkcs11_tool(&env, &user_args(&["--test-fork"])) else {
        return;
    };
    assert!(out.contains("C_Initialize in forked child"), "{out}");
    assert!(!out.contains("error:") && !out.contains("failed"), "{out}");
}

fn p11tool(env: &TestEnv, args: &[&str]) -> Option<String> {
    require("p11tool", "gnutls-bin")?;
    let mut cmd = Command::new("p11tool");
    cmd.arg("--provider")
        .arg(module_path())
        .args(args)
        .env("GNUTLS_PIN", ETOKEN_PIN);
    Some(run_ok(&mut cmd, &env.conf))
}

#[test]
#[serial]
fn p11tool_lists_and_test_signs() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    if require("p11tool", "gnutls-bin").is_none() || keypairs(&env).is_none() {
        return;
    }
    let all = p11tool(&env, &["--list-all", "pkcs11:token=eToken"]).unwrap();
    assert!(all.contains("Public key (RSA-2048)"), "{all}");
    assert!(all.contains("EC/ECDSA-SECP256R1"), "{all}");
    for object in ["rsa", "ec"] {
        let out = p11tool(
            &env,
            &[
                "--login",
                "--test-sign",
                &format!("pkcs11:token=eToken;object={object}"),
            ],
        )
        .unwrap();
        assert!(
            out.contains("Verifying against public key in the token... ok"),
            "{object}:\n{out}"
        );
    }
}

#[test]
#[serial]
fn openssl_pkcs11_engine_signature_verifies_with_plain_openssl() {
    let env = TestEnv::new(DEFAULT_SLOTS);
    let Some(engine) = require_file(
        "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so",
        "libengine-pkcs11-openssl",
    ) else {
        return;
    };
    if require("openssl", "openssl").is_none() || keypairs(&env).is_none() {
        return;
    }
    let dir = env.dir.path();
    let cnf = dir.join("engine.cnf");
    std::fs::write(
        &cnf,
        format!(
            "openssl_conf = openssl_def\n[openssl_def]\nengines = engine_section\n[engine_section]\n\
             pkcs11 = pkcs11_section\n[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = {}\n\
             MODULE_PATH = {}\ninit = 0\n",
            engine.display(),
            module_path().display()
        ),
    )
    .unwrap();
    let msg = dir.join("msg");
    std::fs::write(&msg, b"signed by the emulated eToken through OpenSSL\n").unwrap();
    let sig = dir.join("msg.sig");
    let key = format!("pkcs11:token=eToken;object=rsa;type=private;pin-value={ETOKEN_PIN}");
    let mut sign = Command::new("openssl");
    sign.env("OPENSSL_CONF", &cnf)
        .args([
            "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine", "-sign", &key, "-out",
        ])
        .arg(&sig)
        .arg(&msg);
    run_ok(&mut sign, &env.conf);

    // The public key comes out through pkcs11-tool; plain OpenSSL (no engine) verifies.
    let pub_der = dir.join("pub.der");
    pkcs11_tool(
        &env,
        &[
            "--slot",
            "1",
            "--read-object",
            "--type",
            "pubkey",
            "--id",
            "01",
            "-o",
            pub_der.to_str().unwrap(),
        ],
    )
    .unwrap();
    let out = verify_with_openssl(&pub_der, &sig, &msg, &env.conf);
    assert!(out.contains("Verified OK"), "{out}");

    // A changed message does not verify.
    std::fs::write(&msg, b"tampered\n").unwrap();
    let mut verify = Command::new("openssl");
    verify
        .env_remove("OPENSSL_CONF")
        .args(["dgst", "-sha256", "-keyform", "DER", "-verify"])
        .arg(&pub_der);
    verify.arg("-signature").arg(&sig).arg(&msg);
    assert!(!run(&mut verify, &env.conf).status.success());
}

fn verify_with_openssl(pub_der: &Path, sig: &Path, msg: &Path, conf: &Path) -> String {
    let mut verify = Command::new("openssl");
    verify
        .env_remove("OPENSSL_CONF")
        .args(["dgst", "-sha256", "-keyform", "DER", "-verify"])
        .arg(pub_der);
    verify.arg("-signature").arg(sig).arg(msg);
    run_ok(&mut verify, conf)
}

/// pkcs11-tool on the `softtoken` profile, the SoftHSM2 stand-in: secret keys
/// generated and imported, AES-CBC-PAD both ways and SHA256-HMAC equal to
/// `openssl enc` / `openssl dgst -mac HMAC`, and `--test` without errors.
#[test]
#[serial]
fn pkcs11_tool_secret_keys_on_the_softtoken_equal_openssl() {
    let env = TestEnv::new(&[common::SlotSpec {
        id: 0,
        profile: "softtoken",
        present: true,
    }]);
    let pin = env.profile(0).pin.default_user_pin;
    let dir = env.dir.path();
    let login = |extra: &[&str]| -> Option<String> {
        let mut v = vec!["--slot", "0", "--login", "--pin", pin.as_str()];
        v.extend_from_slice(extra);
        pkcs11_tool(&env, &v)
    };
    let Some(out) = login(&[
        "--keygen",
        "--key-type",
        "AES:32",
        "--id",
        "11",
        "--label",
        "aes",
    ]) else {
        return;
    };
    assert!(out.contains("AES length 32"), "{out}");
    let out = login(&["--keygen", "--key-type", "GENERIC:64", "--id", "12"]).unwrap();
    assert!(out.contains("Generic secret length 64"), "{out}");
    let Some(openssl) = require("openssl", "openssl") else {
        return;
    };

    // An imported AES key: CBC-PAD both ways against openssl enc.
    let key = dir.join("aes.key");
    let plain = dir.join("plain.bin");
    let (ours, theirs, back) = (
        dir.join("p11.enc"),
        dir.join("ossl.enc"),
        dir.join("p11.dec"),
    );
    std::fs::write(&key, b"0123456789abcdef0123456789abcdef").unwrap();
    std::fs::write(&plain, (0..100u8).collect::<Vec<_>>()).unwrap();
    let path = |p: &std::path::PathBuf| p.to_str().unwrap().to_owned();
    login(&[
        "--write-object",
        &path(&key),
        "--type",
        "secrkey",
        "--key-type",
        "AES:32",
        "--id",
        "21",
        "--usage-decrypt",
    ])
    .unwrap();
    let iv = "000102030405060708090a0b0c0d0e0f";
    login(&[
        "--encrypt",
        "-m",
        "AES-CBC-PAD",
        "--iv",
        iv,
        "--id",
        "21",
        "--input-file",
        &path(&plain),
        "--output-file",
        &path(&ours),
    ])
    .unwrap();
    run_ok(
        Command::new(&openssl)
            .args([
                "enc",
                "-aes-256-cbc",
                "-K",
                &hex::encode(b"0123456789abcdef0123456789abcdef"),
            ])
            .args(["-iv", iv, "-in", &path(&plain), "-out", &path(&theirs)]),
        &env.conf,
    );
    assert_eq!(
        std::fs::read(&ours).unwrap(),
        std::fs::read(&theirs).unwrap()
    );
    login(&[
        "--decrypt",
        "-m",
        "AES-CBC-PAD",
        "--iv",
        iv,
        "--id",
        "21",
        "--input-file",
        &path(&theirs),
        "--output-file",
        &path(&back),
    ])
    .unwrap();
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&plain).unwrap()
    );

    // An extractable generic secret: its HMAC-SHA256 equals openssl's.
    let (hkey, mac) = (dir.join("hmac.key"), dir.join("mac.bin"));
    login(&[
        "--keygen",
        "--key-type",
        "GENERIC:32",
        "--extractable",
        "--id",
        "41",
    ])
    .unwrap();
    login(&[
        "--read-object",
        "--type",
        "secrkey",
        "--id",
        "41",
        "--output-file",
        &path(&hkey),
    ])
    .unwrap();
    login(&[
        "--sign",
        "-m",
        "SHA256-HMAC",
        "--id",
        "41",
        "--input-file",
        &path(&plain),
        "--output-file",
        &path(&mac),
    ])
    .unwrap();
    let macopt = format!("hexkey:{}", hex::encode(std::fs::read(&hkey).unwrap()));
    let out = run_ok(
        Command::new(&openssl)
            .args(["dgst", "-sha256", "-mac", "HMAC", "-macopt", &macopt])
            .arg(&plain),
        &env.conf,
    );
    assert!(
        out.trim_end()
            .ends_with(&hex::encode(std::fs::read(&mac).unwrap())),
        "pkcs11-tool HMAC differs from openssl: {out}"
    );

    let out = login(&["--test"]).unwrap();
    assert!(out.contains("No errors"), "pkcs11-tool --test:\n{out}");
}
