//! Error messages stay readable: each cause appears once when an error is
//! printed as a chain (anyhow's `{:#}`, the CLI's one-line errors), and a
//! configuration or profile file that is not what it should be (20 MB of
//! binary) is named and glimpsed, never echoed whole.

use tokenemu_core::Error;
use tokenemu_store::StoreError;

/// Every message of the chain, outermost first, joined as anyhow's `{:#}` does.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut next = e.source();
    while let Some(cause) = next {
        parts.push(cause.to_string());
        next = cause.source();
    }
    parts.join(": ")
}

/// A store error from a real read-only failure: the store refuses to open a
/// store directory under a file (ENOTDIR), or the OS error is made directly.
fn io_store_error() -> StoreError {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    match tokenemu_store::Store::open(&file.join("store")) {
        Err(e @ StoreError::Io { .. }) => e,
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn store_and_core_errors_print_each_cause_once() {
    let store = io_store_error();
    let text = chain(&store);
    let os = "Not a directory (os error 20)";
    assert_eq!(text.matches(os).count(), 1, "{text}");
    let core = Error::from(io_store_error());
    let text = chain(&core);
    assert_eq!(text.matches(os).count(), 1, "{text}");
    assert!(text.starts_with("token store: I/O error on "), "{text}");
    let slot = Error::slot_store(3, std::path::Path::new("/x/slot-3"), io_store_error());
    let text = chain(&slot);
    assert_eq!(text.matches(os).count(), 1, "{text}");
    assert!(text.starts_with("slot 3: I/O error on "), "{text}");
}

/// The longest message a broken file may produce (path included).
const SHORT: usize = 600;

/// 20 MB: random bytes (not UTF-8), and zeros on one line (UTF-8, not TOML).
fn binary_files(dir: &std::path::Path) -> [std::path::PathBuf; 2] {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..20_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let random_file = dir.join("random.toml");
    std::fs::write(&random_file, random).unwrap();
    let zeros_file = dir.join("zeros.toml");
    std::fs::write(&zeros_file, vec![0u8; 20_000_000]).unwrap();
    [random_file, zeros_file]
}

#[test]
fn a_binary_configuration_file_gets_a_short_message() {
    let dir = tempfile::tempdir().unwrap();
    let [random, zeros] = binary_files(dir.path());
    let e = tokenemu_core::config::Config::from_file(&random)
        .unwrap_err()
        .to_string();
    assert!(
        e.len() < SHORT,
        "{} bytes: {}",
        e.len(),
        &e[..SHORT.min(e.len())]
    );
    assert!(
        e.contains("random.toml") && e.contains("is not a text file"),
        "{e}"
    );
    let e = tokenemu_core::config::Config::from_file(&zeros)
        .unwrap_err()
        .to_string();
    assert!(
        e.len() < SHORT,
        "{} bytes: {}",
        e.len(),
        &e[..SHORT.min(e.len())]
    );
    assert!(e.contains("zeros.toml: line 1, column 1: "), "{e}");
    assert!(e.contains("\\u{0}") && e.ends_with("…\")"), "{e}");
}

#[test]
fn a_binary_profile_file_gets_a_short_message() {
    let dir = tempfile::tempdir().unwrap();
    let [random, zeros] = binary_files(dir.path());
    for (file, says) in [(random, "is not a text file"), (zeros, "line 1, column 1")] {
        let conf = format!(
            "[[slot]]\nid = 1\nprofile = \"{}\"\nstore = \"{}\"\n",
            file.display(),
            dir.path().join("s1").display()
        );
        let e = tokenemu_core::config::Config::from_toml_str(&conf)
            .unwrap_err()
            .to_string();
        assert!(
            e.len() < SHORT,
            "{} bytes: {}",
            e.len(),
            &e[..SHORT.min(e.len())]
        );
        assert!(e.contains("slot 1") && e.contains(says), "{e}");
    }
    // A huge profile name is quoted short too.
    let conf = format!(
        "[[slot]]\nid = 1\nprofile = \"{}\"\n",
        "n".repeat(1_000_000)
    );
    let e = tokenemu_core::config::Config::from_toml_str(&conf)
        .unwrap_err()
        .to_string();
    assert!(
        e.len() < SHORT && e.contains("unknown profile"),
        "{} bytes",
        e.len()
    );
}
