//! NSS as a client of the module (issue 11): `modutil` registers
//! libtokenemu.so in a fresh NSS database, `certutil` generates RSA and EC
//! keys and a self-signed certificate on the `softtoken`, `symkeyutil` makes
//! an AES key there. Every NSS command is a separate process, so each step
//! also proves the previous one was stored on the token. OpenSSL checks the
//! self-signature NSS made with the token key, so a wrong signature from the
//! module fails the test even though NSS itself does not verify it.

mod common;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{module_path, SlotSpec, TestEnv};
use serial_test::serial;
use tools::{require, run_ok};

const TOKEN_LABEL: &str = "softtoken";
const USER_PIN: &str = "1234";

/// A temp NSS database with the module added, on a one-slot `softtoken`
/// configuration.
struct NssDb {
    env: TestEnv,
    db: String,
    pin_file: PathBuf,
    noise_file: PathBuf,
}

impl NssDb {
    /// `None` (skipped) when the NSS tools are missing.
    fn new() -> Option<NssDb> {
        for tool in ["certutil", "modutil", "symkeyutil"] {
            require(tool, "libnss3-tools")?;
        }
        let env = TestEnv::new(&[SlotSpec {
            id: 0,
            profile: "softtoken",
            present: true,
        }]);
        assert_eq!(env.profile(0).pin.default_user_pin, USER_PIN);
        assert_eq!(env.profile(0).token.label, TOKEN_LABEL);
        let db_dir = env.dir.path().join("nssdb");
        std::fs::create_dir(&db_dir).expect("create NSS db dir");
        let pin_file = env.dir.path().join("pin.txt");
        std::fs::write(&pin_file, format!("{USER_PIN}\n")).expect("write PIN file");
        // certutil wants seed bytes for its own RNG even when the token
        // generates the key; any content does.
        let noise_file = env.dir.path().join("noise.bin");
        std::fs::write(&noise_file, (0u8..=255).collect::<Vec<u8>>()).expect("write noise");
        let nss = NssDb {
            db: format!("sql:{}", db_dir.display()),
            env,
            pin_file,
            noise_file,
        };
        nss.tool("certutil", &["-N", "--empty-password"]);
        let module = module_path();
        let module = module.to_str().expect("utf-8 module path");
        let added = nss.tool(
            "modutil",
            &["-force", "-add", "tokenemu", "-libfile", module],
        );
        assert!(added.contains("Module \"tokenemu\" added"), "{added}");
        Some(nss)
    }

    /// Runs `tool` on this database (`-d`/`-dbdir` first) with `args`;
    /// asserts success and returns stdout + stderr. stdin is closed so a
    /// PIN prompt fails instead of waiting.
    fn tool(&self, tool: &str, args: &[&str]) -> String {
        let mut cmd = Command::new(tool);
        let db_flag = if tool == "modutil" { "-dbdir" } else { "-d" };
        cmd.arg(db_flag).arg(&self.db).args(args);
        cmd.stdin(Stdio::null());
        run_ok(&mut cmd, &self.env.conf)
    }

    /// `tool` with `-h <token> -f <PIN file>` after `args`.
    fn on_token(&self, tool: &str, args: &[&str]) -> String {
        let mut all = args.to_vec();
        let pin_file = self.pin_file.to_str().expect("utf-8 temp path");
        all.extend_from_slice(&["-h", TOKEN_LABEL, "-f", pin_file]);
        self.tool(tool, &all)
    }

    fn noise(&self) -> &str {
        self.noise_file.to_str().expect("utf-8 temp path")
    }

    /// The key lines of `certutil -K` on the token: (type, nickname).
    fn token_keys(&self) -> Vec<(String, String)> {
        let out = self.on_token("certutil", &["-K"]);
        assert!(
            out.contains(&format!("Checking token \"{TOKEN_LABEL}\"")),
            "{out}"
        );
        out.lines()
            .filter(|l| l.starts_with('<'))
            .map(|l| {
                let fields: Vec<&str> = l
                    .split('>')
                    .nth(1)
                    .unwrap_or("")
                    .split_whitespace()
                    .collect();
                assert_eq!(fields.len(), 3, "unexpected certutil -K line {l:?}");
                (fields[0].to_string(), fields[2].to_string())
            })
            .collect()
    }

    /// The certificate `nickname` on the token as PEM.
    fn cert_pem(&self, nickname: &str, dir: &Path) -> PathBuf {
        let pem = self.on_token("certutil", &["-L", "-a", "-n", nickname]);
        let begin = pem.find("-----BEGIN CERTIFICATE-----").expect("PEM output");
        let path = dir.join(format!("{}.pem", nickname.replace(':', "_")));
        std::fs::write(&path, &pem[begin..]).expect("write PEM");
        path
    }
}

#[test]
#[serial]
fn modutil_adds_the_module_and_lists_the_softtoken() {
    let Some(nss) = NssDb::new() else {
        return;
    };
    let list = nss.tool("modutil", &["-list"]);
    let module = list
        .split("2. tokenemu")
        .nth(1)
        .unwrap_or_else(|| panic!("modutil -list lacks the tokenemu module:\n{list}"));
    for want in [
        "status: loaded",
        "slot: tokenemu software slot",
        "token: softtoken",
        "library-description=tokenemu%20PKCS%2311%20token%20emulator",
    ] {
        assert!(
            module.contains(want),
            "modutil -list lacks {want:?}:\n{list}"
        );
    }
    // A fresh token holds no keys: certutil -K says so and exits non-zero.
    let mut cmd = Command::new("certutil");
    cmd.args(["-K", "-d", &nss.db, "-h", TOKEN_LABEL, "-f"])
        .arg(&nss.pin_file)
        .stdin(Stdio::null());
    let out = tools::run(&mut cmd, &nss.env.conf);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("no keys found"), "{text}");
}

#[test]
#[serial]
fn certutil_generates_keys_and_a_self_signed_certificate_on_the_token() {
    let Some(nss) = NssDb::new() else {
        return;
    };
    let Some(_) = require("openssl", "openssl") else {
        return;
    };
    let noise = nss.noise();
    nss.on_token("certutil", &["-G", "-k", "rsa", "-g", "2048", "-z", noise]);
    nss.on_token(
        "certutil",
        &["-G", "-k", "ec", "-q", "nistp256", "-z", noise],
    );
    let mut keys = nss.token_keys();
    keys.sort();
    assert_eq!(
        keys,
        [
            ("ec".to_string(), "(orphan)".to_string()),
            ("rsa".to_string(), "(orphan)".to_string())
        ],
        "certutil -K after two certutil -G"
    );

    for (nickname, key_args) in [
        ("ec-cert", &["-k", "ec", "-q", "nistp256"][..]),
        ("rsa-cert", &["-k", "rsa", "-g", "2048"][..]),
    ] {
        let subject = format!("CN=tokenemu {nickname}");
        let mut args = vec![
            "-S", "-x", "-n", nickname, "-s", &subject, "-t", "CT,,", "-v", "12", "-z", noise,
        ];
        args.extend_from_slice(key_args);
        nss.on_token("certutil", &args);
    }
    let certs = nss.on_token("certutil", &["-L"]);
    for nickname in ["softtoken:ec-cert", "softtoken:rsa-cert"] {
        assert!(
            certs.contains(nickname),
            "certutil -L lacks {nickname}:\n{certs}"
        );
    }
    let keys = nss.token_keys();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for (kind, nickname) in [("ec", "softtoken:ec-cert"), ("rsa", "softtoken:rsa-cert")] {
        assert!(
            keys.contains(&(kind.to_string(), nickname.to_string())),
            "no {kind} key for {nickname} in {keys:?}"
        );
    }

    // The self-signatures were made by C_Sign on the token: OpenSSL checks them.
    for (nickname, algorithm) in [
        ("softtoken:ec-cert", "ecdsa-with-SHA256"),
        ("softtoken:rsa-cert", "sha256WithRSAEncryption"),
    ] {
        let pem = nss.cert_pem(nickname, nss.env.dir.path());
        let text = run_ok(
            Command::new("openssl")
                .args(["x509", "-noout", "-text", "-in"])
                .arg(&pem),
            &nss.env.conf,
        );
        assert!(
            text.contains(&format!("Signature Algorithm: {algorithm}")),
            "{text}"
        );
        let verified = run_ok(
            Command::new("openssl")
                .args(["verify", "-check_ss_sig", "-partial_chain", "-CAfile"])
                .arg(&pem)
                .arg(&pem),
            &nss.env.conf,
        );
        assert!(verified.contains(": OK"), "{verified}");
    }
}

#[test]
#[serial]
fn symkeyutil_makes_and_lists_an_aes_key_on_the_token() {
    let Some(nss) = NssDb::new() else {
        return;
    };
    nss.on_token(
        "symkeyutil",
        &["-K", "-n", "emu-aes", "-t", "aes", "-s", "32"],
    );
    let list = nss.on_token("symkeyutil", &["-L"]);
    let line = list
        .lines()
        .find(|l| l.starts_with("emu-aes"))
        .unwrap_or_else(|| panic!("symkeyutil -L lacks emu-aes:\n{list}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    // Name, length in bytes, strength in bits, type, then the value or
    // `<restricted>`: NSS leaves CKA_SENSITIVE to the token's default, so
    // that last column shows the emulator's default, not NSS interop.
    assert_eq!(fields.len(), 5, "{list}");
    assert_eq!(fields[..4], ["emu-aes", "32", "256", "aes"], "{list}");
    assert!(list.contains(&format!("{TOKEN_LABEL}:")), "{list}");
}
