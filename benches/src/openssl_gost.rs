//! Safe wrappers around `csrc/gost_engine.c`: OpenSSL 3 with the gost engine
//! loaded at run time through the "dynamic" engine.
//!
//! The C side runs whole batches (`count` operations per call) so that the
//! FFI crossing is not part of what is measured.

#[cfg(tokenemu_openssl_helper)]
use std::ffi::{c_char, c_int, c_uchar, c_ulong, CStr, CString};
use std::fmt;

/// Default location of the engine on Debian/Ubuntu x86-64 (`libengine-gost-openssl`).
pub const DEFAULT_ENGINE_PATH: &str = "/usr/lib/x86_64-linux-gnu/engines-3/gost.so";

/// Why the OpenSSL side is unavailable or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineError(pub String);

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

#[cfg(tokenemu_openssl_helper)]
mod ffi {
    use super::{c_char, c_int, c_uchar, c_ulong};

    /// Opaque `struct tkb_key`.
    #[repr(C)]
    pub struct TkbKey {
        _private: [u8; 0],
    }

    extern "C" {
        pub fn tkb_engine_load(so_path: *const c_char) -> c_int;
        pub fn tkb_engine_name() -> *const c_char;
        pub fn tkb_openssl_version() -> *const c_char;
        pub fn tkb_key_new(bits: c_int, paramset: *const c_char) -> *mut TkbKey;
        pub fn tkb_key_free(k: *mut TkbKey);
        pub fn tkb_sign(
            k: *mut TkbKey,
            dgst: *const c_uchar,
            dgst_len: usize,
            sig: *mut c_uchar,
            sig_len: *mut usize,
            count: c_ulong,
        ) -> c_int;
        pub fn tkb_verify(
            k: *mut TkbKey,
            dgst: *const c_uchar,
            dgst_len: usize,
            sig: *const c_uchar,
            sig_len: usize,
            count: c_ulong,
        ) -> c_int;
        pub fn tkb_digest(
            bits: c_int,
            data: *const c_uchar,
            len: usize,
            out: *mut c_uchar,
            count: c_ulong,
        ) -> c_int;
    }
}

/// The loaded gost engine. Only one exists per process (the C side keeps a
/// global `ENGINE *`); all operations go through it.
#[derive(Debug)]
pub struct GostEngine {
    _not_send: std::marker::PhantomData<*const ()>,
}

/// A gost-engine key pair with sign and verify contexts (not thread safe).
pub struct EngineKey {
    #[cfg(tokenemu_openssl_helper)]
    ptr: *mut ffi::TkbKey,
    bits: usize,
}

impl fmt::Debug for EngineKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineKey")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

#[cfg(tokenemu_openssl_helper)]
fn c_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: the C helper returns pointers to NUL-terminated strings owned by
    // OpenSSL (static version text, the engine's name) that live as long as the
    // process or the loaded engine; we copy them out immediately.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

impl GostEngine {
    /// Loads the engine from `so_path` (see [`DEFAULT_ENGINE_PATH`]).
    ///
    /// # Errors
    /// If the helper was not built, the file is missing, or OpenSSL refuses it.
    pub fn load(so_path: &str) -> Result<GostEngine, EngineError> {
        #[cfg(not(tokenemu_openssl_helper))]
        {
            let _ = so_path;
            Err(EngineError(
                "the OpenSSL helper was not compiled (no OpenSSL headers at build time: \
                 install libssl-dev and rebuild)"
                    .into(),
            ))
        }
        #[cfg(tokenemu_openssl_helper)]
        {
            if !std::path::Path::new(so_path).exists() {
                return Err(EngineError(format!(
                    "gost engine not found at {so_path} (Debian: apt-get install libengine-gost-openssl)"
                )));
            }
            let path = CString::new(so_path).map_err(|e| EngineError(e.to_string()))?;
            // SAFETY: `path` is a valid NUL-terminated string for the duration of
            // the call; the helper copies what it needs (OpenSSL strdup's SO_PATH).
            let ok = unsafe { ffi::tkb_engine_load(path.as_ptr()) };
            if ok == 1 {
                Ok(GostEngine {
                    _not_send: std::marker::PhantomData,
                })
            } else {
                Err(EngineError(format!(
                    "OpenSSL could not load the gost engine from {so_path} (see the errors above)"
                )))
            }
        }
    }

    /// "OpenSSL 3.0.x …, engine name".
    pub fn describe(&self) -> String {
        #[cfg(tokenemu_openssl_helper)]
        {
            // SAFETY: both functions take no arguments and return static or
            // engine-owned strings (read by `c_str`).
            let (v, n) = unsafe { (ffi::tkb_openssl_version(), ffi::tkb_engine_name()) };
            format!("{}, {}", c_str(v), c_str(n))
        }
        #[cfg(not(tokenemu_openssl_helper))]
        String::new()
    }

    /// Generates a key on `paramset` ("A", "B", …) of size 256 or 512 bits.
    ///
    /// # Errors
    /// If the engine refuses the parameters.
    pub fn generate_key(&self, bits: usize, paramset: &str) -> Result<EngineKey, EngineError> {
        #[cfg(not(tokenemu_openssl_helper))]
        {
            let _ = paramset;
            Err(EngineError(format!("no OpenSSL helper ({bits}-bit key)")))
        }
        #[cfg(tokenemu_openssl_helper)]
        {
            assert!(bits == 256 || bits == 512, "GOST key size");
            let ps = CString::new(paramset).map_err(|e| EngineError(e.to_string()))?;
            // SAFETY: `ps` is NUL-terminated and outlives the call; the engine was
            // loaded (a `GostEngine` exists). The result is null or a key we own.
            let ptr = unsafe { ffi::tkb_key_new(bits as c_int, ps.as_ptr()) };
            if ptr.is_null() {
                Err(EngineError(format!(
                    "gost engine keygen failed ({bits} bits, paramset {paramset})"
                )))
            } else {
                Ok(EngineKey { ptr, bits })
            }
        }
    }

    /// Runs `count` one-shot md_gost12_256 (`bits` = 256) or md_gost12_512
    /// digests of `data` and returns the last digest.
    ///
    /// # Errors
    /// If OpenSSL fails.
    pub fn digest(&self, bits: usize, data: &[u8], count: u64) -> Result<Vec<u8>, EngineError> {
        let mut out = vec![0u8; 64];
        #[cfg(tokenemu_openssl_helper)]
        {
            // SAFETY: `data` is valid for `data.len()` bytes and `out` has room
            // for the largest (64-byte) digest; both outlive the call.
            let ok = unsafe {
                ffi::tkb_digest(
                    bits as c_int,
                    data.as_ptr(),
                    data.len(),
                    out.as_mut_ptr(),
                    count as c_ulong,
                )
            };
            if ok != 1 {
                return Err(EngineError("EVP_Digest(md_gost12) failed".into()));
            }
        }
        #[cfg(not(tokenemu_openssl_helper))]
        let _ = (data, count);
        out.truncate(bits / 8);
        Ok(out)
    }
}

impl EngineKey {
    /// Signs `digest` `count` times (EVP_PKEY_sign); returns the last signature.
    ///
    /// # Errors
    /// If OpenSSL fails.
    pub fn sign(&mut self, digest: &[u8], count: u64) -> Result<Vec<u8>, EngineError> {
        let mut sig = vec![0u8; 2 * self.bits / 8];
        #[cfg(tokenemu_openssl_helper)]
        {
            let mut len = sig.len();
            // SAFETY: `self.ptr` is a live key from `tkb_key_new` used by this
            // thread only (`&mut self`); `digest` and `sig` are valid for the
            // given lengths for the whole call and `len` is a valid pointer.
            let ok = unsafe {
                ffi::tkb_sign(
                    self.ptr,
                    digest.as_ptr(),
                    digest.len(),
                    sig.as_mut_ptr(),
                    &mut len,
                    count as c_ulong,
                )
            };
            if ok != 1 {
                return Err(EngineError("EVP_PKEY_sign failed".into()));
            }
            sig.truncate(len);
        }
        #[cfg(not(tokenemu_openssl_helper))]
        let _ = (digest, count);
        Ok(sig)
    }

    /// Verifies `sig` over `digest` `count` times (EVP_PKEY_verify).
    ///
    /// # Errors
    /// If any verification fails.
    pub fn verify(&mut self, digest: &[u8], sig: &[u8], count: u64) -> Result<(), EngineError> {
        #[cfg(tokenemu_openssl_helper)]
        {
            // SAFETY: as in `sign`; `sig` is only read.
            let ok = unsafe {
                ffi::tkb_verify(
                    self.ptr,
                    digest.as_ptr(),
                    digest.len(),
                    sig.as_ptr(),
                    sig.len(),
                    count as c_ulong,
                )
            };
            if ok != 1 {
                return Err(EngineError("EVP_PKEY_verify failed".into()));
            }
        }
        #[cfg(not(tokenemu_openssl_helper))]
        let _ = (digest, sig, count);
        Ok(())
    }
}

impl Drop for EngineKey {
    fn drop(&mut self) {
        #[cfg(tokenemu_openssl_helper)]
        // SAFETY: `self.ptr` came from `tkb_key_new`, is freed exactly once here
        // and never used afterwards.
        unsafe {
            ffi::tkb_key_free(self.ptr)
        };
    }
}
