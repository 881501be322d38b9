//! Benchmark support code. Criterion benchmarks live under `benches/`; the
//! side-by-side comparison with OpenSSL's gost engine is the
//! `gost_vs_openssl` binary, whose OpenSSL side is [`openssl_gost`].

pub mod openssl_gost;
