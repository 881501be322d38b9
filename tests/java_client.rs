//! Java 17's SunPKCS11 provider as a client of the module (issue 11):
//! compiles tests/java_client/TokenemuClient.java with `javac` into a temp
//! dir and runs it against a `softtoken`. The program checks AES/GCM with a
//! token AES key, HmacSHA256 against SunJCE, ECDH between token keys and
//! against SunEC, and SHA256withECDSA/SHA256withRSA token signatures verified
//! by the JDK's own providers; it prints one `OK <check>` line per check and
//! throws on any mismatch. The module's call trace then shows the work was
//! done by the token.

mod common;
mod tools;

use std::path::Path;
use std::process::Command;

use common::{module_path, SlotSpec, TestEnv};
use serial_test::serial;
use tools::{require, run_ok};

/// SunPKCS11 configuration. The `attributes` lines are the provider's
/// documented way to fill templates it leaves empty:
/// - SunPKCS11 generates EC key pairs with an empty private template, and
///   CKA_DERIVE defaults to CK_FALSE (PKCS#11 common key attributes), so
///   ECDH1_DERIVE would be refused with CKR_KEY_FUNCTION_NOT_PERMITTED.
/// - KeyAgreement.generateSecret() derives a CKK_GENERIC_SECRET with only
///   CKA_CLASS/CKA_KEY_TYPE and then reads its CKA_VALUE; the emulator makes
///   secret keys sensitive and non-extractable unless the template says
///   otherwise, so without these lines that read is CKR_ATTRIBUTE_SENSITIVE.
fn sunpkcs11_config(module: &Path) -> String {
    format!(
        "name = tokenemu\n\
         library = {}\n\
         slot = 0\n\
         attributes(generate, CKO_PRIVATE_KEY, CKK_EC) = {{\n  CKA_DERIVE = true\n}}\n\
         attributes(generate, CKO_SECRET_KEY, CKK_GENERIC_SECRET) = {{\n  \
           CKA_SENSITIVE = false\n  CKA_EXTRACTABLE = true\n}}\n",
        module.display()
    )
}

#[test]
#[serial]
fn sunpkcs11_aes_gcm_hmac_ecdh_and_signatures_on_the_softtoken() {
    let (Some(javac), Some(java)) = (
        require("javac", "default-jdk-headless"),
        require("java", "default-jdk-headless"),
    ) else {
        return;
    };
    let env = TestEnv::new(&[SlotSpec {
        id: 0,
        profile: "softtoken",
        present: true,
    }]);
    let pin = env.profile(0).pin.default_user_pin;
    let classes = env.dir.path().join("classes");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("java_client/TokenemuClient.java");
    run_ok(
        Command::new(&javac)
            .args(["-Xlint:all", "-Werror", "-d"])
            .arg(&classes)
            .arg(&source),
        &env.conf,
    );

    let config = env.dir.path().join("sunpkcs11.cfg");
    std::fs::write(&config, sunpkcs11_config(&module_path())).expect("write SunPKCS11 config");
    let trace = env.dir.path().join("trace.jsonl");
    let out = tools::run(
        Command::new(&java)
            .arg("-cp")
            .arg(&classes)
            .arg("TokenemuClient")
            .arg(&config)
            .arg(pin)
            .env("TOKENEMU_TRACE", &trace),
        &env.conf,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "TokenemuClient failed ({}):\n{stdout}{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "OK login SunPKCS11-tokenemu",
            "OK aes-gcm",
            "OK hmac-sha256",
            "OK ecdh",
            "OK sha256-ecdsa",
            "OK sha256-rsa",
            "DONE",
        ],
        "stderr:\n{stderr}"
    );

    // The provider really went through the module: each operation shows up
    // in the trace with CKR_OK.
    let trace = std::fs::read_to_string(&trace).expect("read call trace");
    let calls: Vec<serde_json::Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).expect("trace line is JSON"))
        .collect();
    for (function, mechanism) in [
        ("C_Login", None),
        ("C_GenerateKey", Some("CKM_AES_KEY_GEN")),
        ("C_EncryptInit", Some("CKM_AES_GCM")),
        ("C_SignInit", Some("CKM_SHA256_HMAC")),
        ("C_DeriveKey", Some("CKM_ECDH1_DERIVE")),
        ("C_SignInit", Some("CKM_ECDSA_SHA256")),
        ("C_SignInit", Some("CKM_SHA256_RSA_PKCS")),
        ("C_CopyObject", None),
        ("C_CreateObject", None),
    ] {
        let ok = calls.iter().any(|c| {
            c["function"] == function
                && c["rv"] == "CKR_OK"
                && mechanism.is_none_or(|m| c["args"]["mechanism"] == m)
        });
        assert!(ok, "no successful {function} {mechanism:?} in the trace");
    }
}
