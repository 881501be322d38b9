//! Compiles the OpenSSL + gost-engine helper (`csrc/gost_engine.c`) and links
//! libcrypto. Without the OpenSSL headers (Debian: `libssl-dev`) the helper is
//! left out and `gost_vs_openssl` reports that at run time instead of failing
//! the whole workspace build.

fn main() {
    println!("cargo::rerun-if-changed=csrc/gost_engine.c");
    println!("cargo::rustc-check-cfg=cfg(tokenemu_openssl_helper)");
    let built = cc::Build::new()
        .file("csrc/gost_engine.c")
        .opt_level(2)
        .warnings(true)
        .cargo_warnings(false)
        .try_compile("tokenemu_gost_engine");
    match built {
        Ok(()) => {
            println!("cargo::rustc-link-lib=dylib=crypto");
            println!("cargo::rustc-cfg=tokenemu_openssl_helper");
        }
        Err(e) => {
            println!(
                "cargo::warning=OpenSSL helper not built (install libssl-dev): {}",
                e.to_string().lines().next().unwrap_or("")
            );
        }
    }
}
