//! Links libtokenemu.so with `-z nodelete`.
//!
//! Rust code (std's thread-local destructors, and crates such as
//! tracing-subscriber that keep per-thread state) registers per-thread
//! destructors that live in this library's code. If a host application
//! `dlclose`s the module while one of its threads that called into us is
//! still running, that thread's exit later jumps into unmapped memory and the
//! host crashes (seen as SIGSEGV in `__nptl_deallocate_tsd`). NODELETE keeps
//! the code mapped after `dlclose`; a later `dlopen` gets the same copy, whose
//! state is "not initialised" after `C_Finalize`.
fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "solaris"
            | "illumos"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
