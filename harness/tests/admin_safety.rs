//! `tokenemu token …` commands are all-or-nothing (issue 14, item 4): they
//! check everything they can before touching the token, refuse to import an
//! object twice, refuse fault rules that could never fire, and `token list`
//! fails when a slot shows an error.

mod support {
    pub mod cli_env;
}

use std::path::PathBuf;

use support::cli_env::Env;
use tokenemu_fixtures::fixtures_dir;

/// The eToken profile's default user and SO PIN.
const DEFAULT_PIN: &str = "1234567890";

fn fx(p: &str) -> String {
    fixtures_dir().join(p).display().to_string()
}

/// `token dump` with the default user PIN given explicitly (the token
/// commands do not fall back to a PIN the user did not give).
fn dump(env: &Env) -> String {
    env.ok_env(
        &["token", "dump", "--slot", "0", "--pin-env", "TEST_PIN"],
        &[("TEST_PIN", DEFAULT_PIN)],
    )
}

fn import_sample_objects(env: &Env) {
    env.ok_env(
        &[
            "token",
            "import-fixture",
            "--slot",
            "0",
            "--pin-env",
            "TEST_PIN",
            &fx("tokens/sample-data-objects.toml"),
        ],
        &[("TEST_PIN", DEFAULT_PIN)],
    );
}

/// Slot 0's label, object count and flags, as `token list --json` shows them.
fn slot0(env: &Env) -> (String, u64, Vec<String>) {
    let j = env.list_json();
    let s = &j[0];
    (
        s["label"].as_str().unwrap().to_owned(),
        s["objects"].as_u64().unwrap(),
        s["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect(),
    )
}

#[test]
fn init_with_a_pin_or_label_the_profile_rejects_changes_nothing() {
    let env = Env::new();
    import_sample_objects(&env);
    let before = slot0(&env);
    assert_eq!(before.1, 3);
    let init = |extra: &[&str], envs: &[(&str, &str)]| {
        let mut args = vec!["token", "init", "--slot", "0", "--so-pin-env", "SO"];
        args.extend_from_slice(extra);
        let mut all = vec![("SO", DEFAULT_PIN)];
        all.extend_from_slice(envs);
        env.fail_env(&args, &all)
    };
    // The eToken takes PINs of 6 to 20 bytes.
    let e = init(&["--user-pin-env", "NEW"], &[("NEW", "12345")]);
    assert!(e.contains("new user PIN is 5 bytes long"), "{e}");
    assert!(e.contains("6 to 20"), "{e}");
    assert!(e.contains("nothing was changed"), "{e}");
    let e = init(
        &["--user-pin-env", "NEW"],
        &[("NEW", "123456789012345678901")],
    );
    assert!(e.contains("21 bytes"), "{e}");
    // An SO PIN that cannot be the token's is not tried (a try would count).
    let e = env.fail_env(
        &[
            "token",
            "init",
            "--slot",
            "0",
            "--so-pin-env",
            "SO",
            "--user-pin-env",
            "NEW",
        ],
        &[("SO", "123"), ("NEW", "24681357")],
    );
    assert!(e.contains("SO PIN is 3 bytes long"), "{e}");
    // Labels: a control character, a trailing blank (the label's padding).
    let e = init(
        &["--user-pin-env", "NEW", "--label", "bad\tlabel"],
        &[("NEW", "24681357")],
    );
    assert!(e.contains("control character"), "{e}");
    let e = init(
        &["--user-pin-env", "NEW", "--label", "trailing "],
        &[("NEW", "24681357")],
    );
    assert!(e.contains("ends with a blank"), "{e}");

    // Nothing changed: the objects, the label, the flags (no SO or user try
    // spent) and the user PIN, which still opens the token.
    assert_eq!(slot0(&env), before);
    let d = dump(&env);
    assert_eq!(
        d.lines().filter(|l| l.starts_with("handle ")).count(),
        3,
        "{d}"
    );
}

/// A profile file like the built-in eToken one whose RSA mechanisms take
/// at most 1536-bit keys, and a configuration with slot 0 on it.
fn small_rsa_profile(env: &Env) {
    let etoken = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../emulator/core/profiles/etoken.toml"),
    )
    .unwrap();
    assert!(etoken.contains("max_key = 2048"));
    let small = etoken
        .replace("name = \"etoken\"", "name = \"etoken-rsa1536\"")
        .replace("max_key = 2048", "max_key = 1536");
    let profile = env.dir.path().join("etoken-rsa1536.toml");
    std::fs::write(&profile, small).unwrap();
    std::fs::write(
        &env.conf,
        format!(
            "[[slot]]\nid = 0\nprofile = \"{}\"\nstore = \"{}\"\n",
            profile.display(),
            env.store().display()
        ),
    )
    .unwrap();
}

#[test]
fn import_key_checks_the_profiles_key_sizes_before_logging_in() {
    let env = Env::new();
    small_rsa_profile(&env);
    // No PIN variable is set: the size check comes before any log-in.
    let e = env.fail(&[
        "token",
        "import-key",
        "--slot",
        "0",
        "--file",
        &fx("keys/test-rsa-2048.pem"),
    ]);
    assert!(e.contains("RSA 2048-bit key (2048 bits)"), "{e}");
    assert!(e.contains("CKM_RSA_PKCS keys of 1024 to 1536 bits"), "{e}");
    assert!(e.contains("nothing was imported"), "{e}");
    assert_eq!(env.list_json()[0]["objects"], 0);

    // A key type the profile has no mechanism for: JaCarta PKI has no EC.
    std::fs::write(
        &env.conf,
        format!(
            "[[slot]]\nid = 0\nprofile = \"jacarta-pki\"\nstore = \"{}\"\n",
            env.dir.path().join("pki-store").display()
        ),
    )
    .unwrap();
    let e = env.fail(&[
        "token",
        "import-key",
        "--slot",
        "0",
        "--file",
        &fx("keys/test-ec-p256.pem"),
    ]);
    assert!(
        e.contains("profile jacarta-pki has no mechanism for EC P-256 keys"),
        "{e}"
    );
    assert!(e.contains("CKM_ECDSA"), "{e}");
    assert_eq!(env.list_json()[0]["objects"], 0);
}

#[test]
fn importing_a_key_or_certificate_twice_is_refused() {
    let env = Env::new();
    let pin = [("TEST_PIN", DEFAULT_PIN)];
    let key = fx("keys/test-rsa-2048.pem");
    let cert = fx("pki/test-rsa-2048-selfsigned.pem");
    let import_key = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "import-key",
            "--slot",
            "0",
            "--pin-env",
            "TEST_PIN",
            "--file",
        ];
        args.push(&key);
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = import_key(&["--cert", &cert]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.ok_env(&args, &pin);
    assert_eq!(env.list_json()[0]["objects"], 3);

    // The same key again (under its default CKA_ID, or another one).
    let e = env.fail_env(&args, &pin);
    assert!(e.contains("already holds this key"), "{e}");
    assert!(e.contains("token delete --slot 0 --id"), "{e}");
    let other_id = import_key(&["--id", "abcd", "--label", "twin"]);
    let other_id: Vec<&str> = other_id.iter().map(String::as_str).collect();
    let e = env.fail_env(&other_id, &pin);
    assert!(e.contains("already holds this key"), "{e}");
    // The same certificate again.
    let e = env.fail_env(
        &[
            "token",
            "import-cert",
            "--slot",
            "0",
            "--pin-env",
            "TEST_PIN",
            "--file",
            &cert,
        ],
        &pin,
    );
    assert!(e.contains("already holds this certificate"), "{e}");
    // Another key under the CKA_ID the first one has.
    let json = env.list_json();
    assert_eq!(json[0]["objects"], 3);
    let d = dump(&env);
    let id_line = d
        .lines()
        .find(|l| l.trim_start().starts_with("CKA_ID "))
        .unwrap()
        .to_owned();
    let id = id_line.split_whitespace().nth(1).unwrap().to_owned();
    let e = env.fail_env(
        &[
            "token",
            "import-key",
            "--slot",
            "0",
            "--pin-env",
            "TEST_PIN",
            "--file",
            &fx("keys/test-ec-p256.pem"),
            "--id",
            &id,
        ],
        &pin,
    );
    assert!(e.contains("is already used by another key"), "{e}");
    // Nothing of the refused imports reached the token.
    assert_eq!(env.list_json()[0]["objects"], 3);
}

#[test]
fn fault_rejects_unknown_function_names_with_close_matches() {
    let env = Env::new();
    let e = env.fail(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_Sgin",
        "--nth",
        "1",
    ]);
    assert!(e.contains("C_Sgin is not a PKCS#11 function name"), "{e}");
    assert!(e.contains("did you mean C_Sign"), "{e}");
    let e = env.fail(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "c_login",
        "--nth",
        "1",
    ]);
    assert!(e.contains("did you mean C_Login"), "{e}");
    let e = env.fail(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_Xyzzy",
        "--nth",
        "1",
    ]);
    assert!(e.contains("by its spec name"), "{e}");
    // Nothing was written; a real name and * still work.
    let list = env.ok(&["token", "fault", "--slot", "0", "--list"]);
    assert!(list.contains("no fault rules"), "{list}");
    env.ok(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "C_SignFinal",
        "--nth",
        "2",
    ]);
    env.ok(&[
        "token",
        "fault",
        "--slot",
        "0",
        "--function",
        "*",
        "--every",
        "1000",
    ]);
    let list = env.ok(&["token", "fault", "--slot", "0", "--list"]);
    assert!(list.contains("C_SignFinal"), "{list}");
}

#[test]
fn token_list_fails_when_a_slot_shows_an_error() {
    let env = Env::new();
    // Slot 1's store would be a directory under a regular file: it can be
    // neither opened nor created (even by root).
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    std::fs::write(
        &env.conf,
        format!(
            "[[slot]]\nid = 0\nprofile = \"etoken\"\nstore = \"{}\"\n\n\
             [[slot]]\nid = 1\nprofile = \"etoken\"\nstore = \"{}\"\n",
            env.store().display(),
            file.join("store1").display()
        ),
    )
    .unwrap();
    for json in [false, true] {
        let mut args = vec!["token", "list"];
        if json {
            args.push("--json");
        }
        let o = env.run_env(&args, &[]);
        let out = String::from_utf8_lossy(&o.stdout);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "stdout: {out}\nstderr: {err}");
        // Every slot is still listed; the error names the bad one.
        assert!(out.contains("store1"), "{out}");
        assert!(out.contains("etoken"), "{out}");
        // (The module may log why the store is unusable before that.)
        let errors: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("tokenemu: error:"))
            .collect();
        assert_eq!(
            errors,
            ["tokenemu: error: 1 of 2 slot(s) show an error (slot 1); see the listing above"],
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
