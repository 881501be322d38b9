//! Mechanisms: a registry of trait objects, one per algorithm family. Each
//! operation's default answers `CKR_MECHANISM_INVALID`, so a family implements
//! only what it supports. A token's profile decides which registered
//! mechanisms it lists and with which `CK_MECHANISM_INFO`.

pub mod digest;
pub mod ec;
pub mod ecdh;
pub mod gost;
pub mod gost_symmetric;
pub mod keys;
pub mod params;
pub mod rsa;
pub mod secret;
pub mod symmetric;
pub mod wrap;

use std::collections::HashMap;
use std::sync::OnceLock;

use zeroize::Zeroizing;

use crate::crypto::{HashAlg, Hasher};

use crate::ck::*;
use crate::error::{Error, Result};
use crate::object::attribute::AttrMap;
use crate::object::Object;
use params::Mechanism;

/// A running digest.
pub trait DigestOp: Send {
    /// Feeds data.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// The digest; the operation is over.
    fn finish(&mut self) -> Result<Vec<u8>>;
    /// The digest's length.
    fn output_len(&self) -> usize;
}

/// A running signature.
pub trait SignOp: Send {
    /// Feeds data.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// The signature; the operation is over.
    fn finish(&mut self) -> Result<Vec<u8>>;
    /// The signature's length.
    fn output_len(&self) -> usize;
}

/// A running verification.
pub trait VerifyOp: Send {
    /// Feeds data.
    fn update(&mut self, data: &[u8]) -> Result<()>;
    /// Checks the signature; the operation is over.
    fn finish(&mut self, signature: &[u8]) -> Result<()>;
}

/// A running encryption or decryption.
///
/// The length methods answer the two-call protocol's queries: `update_len`
/// exactly (a too-small buffer is refused before any input is consumed),
/// `final_len` and `single_len` exactly or as an upper bound where the spec
/// allows one (an RSA decryption reports the modulus length).
pub trait CipherOp: Send {
    /// Feeds data; returns what output is ready.
    fn update(&mut self, data: &[u8]) -> Result<Vec<u8>>;
    /// Exactly what `update` with `input_len` bytes would return now.
    fn update_len(&self, input_len: usize) -> usize;
    /// The remaining output; the operation is over.
    fn finish(&mut self) -> Result<Vec<u8>>;
    /// What `finish` would return now.
    fn final_len(&self) -> Result<usize>;
    /// What a single-part call over `input` would return.
    fn single_len(&self, input: &[u8]) -> Result<usize>;
    /// A single-part call: `input`, then the end.
    fn single(&mut self, input: &[u8]) -> Result<Vec<u8>> {
        let mut out = self.update(input)?;
        out.extend(self.finish()?);
        Ok(out)
    }
}

/// A key pair's attributes filled in by generation: (public, private).
pub type KeyPairAttrs = (AttrMap, AttrMap);

/// One algorithm family's mechanisms.
pub trait MechanismImpl: Send + Sync {
    /// Starts a digest.
    fn digest(&self, m: &Mechanism) -> Result<Box<dyn DigestOp>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Starts a signature with `key`.
    fn sign(&self, m: &Mechanism, _key: &Object) -> Result<Box<dyn SignOp>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Starts a verification with `key`.
    fn verify(&self, m: &Mechanism, _key: &Object) -> Result<Box<dyn VerifyOp>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Starts an encryption with `key`.
    fn encrypt(&self, m: &Mechanism, _key: &Object) -> Result<Box<dyn CipherOp>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Starts a decryption with `key`.
    fn decrypt(&self, m: &Mechanism, _key: &Object) -> Result<Box<dyn CipherOp>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Generates a key pair into the (already policy-checked) attribute maps.
    /// `bits` is the `CK_MECHANISM_INFO` key size range.
    fn generate_key_pair(
        &self,
        m: &Mechanism,
        _public: &mut AttrMap,
        _private: &mut AttrMap,
        _range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Generates a secret key into the attribute map.
    fn generate_key(
        &self,
        m: &Mechanism,
        _attrs: &mut AttrMap,
        _range: (CK_ULONG, CK_ULONG),
    ) -> Result<()> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Wraps `value`, a secret key's `CKA_VALUE`, with `wrapping_key`. The
    /// mechanism checks the wrapping key's class, type and `CKA_WRAP`; the
    /// caller checks the key being wrapped.
    fn wrap(&self, m: &Mechanism, _wrapping_key: &Object, _value: &[u8]) -> Result<Vec<u8>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Recovers a key value from `wrapped` with `unwrapping_key` (class, type
    /// and `CKA_UNWRAP` checked here).
    fn unwrap(
        &self,
        m: &Mechanism,
        _unwrapping_key: &Object,
        _wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// Derives a secret key's `CKA_VALUE` from `base_key` into the new key's
    /// (already policy-checked) attributes; the template's `CKA_KEY_TYPE`
    /// and `CKA_VALUE_LEN` say what to make.
    fn derive(&self, m: &Mechanism, _base_key: &Object, _attrs: &mut AttrMap) -> Result<()> {
        Err(Error::MechanismInvalid(m.mech))
    }
    /// The key type a generation mechanism makes and the class pair it makes.
    fn generated_key_type(&self, m: CK_MECHANISM_TYPE) -> Option<CK_KEY_TYPE> {
        let _ = m;
        None
    }
    /// Whether `m`'s `CK_MECHANISM_INFO` key sizes count bytes (AES, HMAC,
    /// CMAC: the mechanisms spec says so per mechanism) rather than bits.
    fn key_size_in_bytes(&self, m: CK_MECHANISM_TYPE) -> bool {
        let _ = m;
        false
    }
}

/// The registry: mechanism type → implementation.
pub struct Registry {
    map: HashMap<CK_MECHANISM_TYPE, &'static dyn MechanismImpl>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Registry({} mechanisms)", self.map.len())
    }
}

impl Registry {
    /// Adds `imp` for each of `mechs`.
    pub fn add(&mut self, mechs: &[CK_MECHANISM_TYPE], imp: &'static dyn MechanismImpl) {
        for m in mechs {
            self.map.insert(*m, imp);
        }
    }
    /// The implementation of `mech`.
    pub fn get(&self, mech: CK_MECHANISM_TYPE) -> Result<&'static dyn MechanismImpl> {
        self.map
            .get(&mech)
            .copied()
            .ok_or(Error::MechanismInvalid(mech))
    }
    /// Whether the emulator implements `mech` at all.
    pub fn contains(&self, mech: CK_MECHANISM_TYPE) -> bool {
        self.map.contains_key(&mech)
    }
}

/// The one registry, filled by each family's `register`.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let mut r = Registry {
            map: HashMap::new(),
        };
        digest::register(&mut r);
        rsa::register(&mut r);
        ec::register(&mut r);
        gost::register(&mut r);
        secret::register(&mut r);
        symmetric::register(&mut r);
        gost_symmetric::register(&mut r);
        wrap::register(&mut r);
        ecdh::register(&mut r);
        r
    })
}

/// The hash a `CKM_SHA*` digest mechanism stands for.
pub fn hash_of_digest_mech(mech: CK_MECHANISM_TYPE) -> Option<HashAlg> {
    Some(match mech {
        CKM_SHA_1 => HashAlg::Sha1,
        CKM_SHA224 => HashAlg::Sha224,
        CKM_SHA256 => HashAlg::Sha256,
        CKM_SHA384 => HashAlg::Sha384,
        CKM_SHA512 => HashAlg::Sha512,
        _ => return None,
    })
}

/// A digest operation over any [`HashAlg`] (SHA, Streebog, GOST R 34.11-94).
pub(crate) struct HashDigest(Option<Hasher>, usize);

impl HashDigest {
    pub(crate) fn boxed(alg: HashAlg) -> Box<dyn DigestOp> {
        Box::new(HashDigest(Some(Hasher::new(alg)), alg.output_len()))
    }
}

impl DigestOp for HashDigest {
    fn update(&mut self, data: &[u8]) -> Result<()> {
        self.0
            .as_mut()
            .ok_or(Error::OperationNotInitialized)?
            .update(data);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>> {
        Ok(self
            .0
            .take()
            .ok_or(Error::OperationNotInitialized)?
            .finalize())
    }
    fn output_len(&self) -> usize {
        self.1
    }
}

/// Where a signature mechanism's input goes: into a hash, or collected as-is
/// for mechanisms that take a ready digest or raw block.
pub(crate) enum Input {
    Hash(Option<Box<Hasher>>),
    Raw(Vec<u8>, usize),
}

impl Input {
    pub(crate) fn hash(alg: HashAlg) -> Self {
        Input::Hash(Some(Box::new(Hasher::new(alg))))
    }
    /// Raw input of at most `limit` bytes (more is `CKR_DATA_LEN_RANGE`).
    pub(crate) fn raw(limit: usize) -> Self {
        Input::Raw(Vec::new(), limit)
    }
    pub(crate) fn update(&mut self, data: &[u8]) -> Result<()> {
        match self {
            Input::Hash(Some(h)) => h.update(data),
            Input::Hash(None) => return Err(Error::OperationNotInitialized),
            Input::Raw(buf, limit) => {
                if buf.len() + data.len() > *limit {
                    return Err(Error::DataLenRange);
                }
                buf.extend_from_slice(data);
            }
        }
        Ok(())
    }
    pub(crate) fn take(&mut self) -> Result<Vec<u8>> {
        match self {
            Input::Hash(h) => Ok(h.take().ok_or(Error::OperationNotInitialized)?.finalize()),
            Input::Raw(buf, _) => Ok(std::mem::take(buf)),
        }
    }
}

/// Checks that `key` is of `class` and `key_type` and allows `usage`
/// (`CKA_SIGN` …) and `mech` (`CKA_ALLOWED_MECHANISMS`).
pub(crate) fn check_key(
    key: &Object,
    class: CK_OBJECT_CLASS,
    key_types: &[CK_KEY_TYPE],
    usage: CK_ATTRIBUTE_TYPE,
    mech: CK_MECHANISM_TYPE,
) -> Result<()> {
    if key.class() != class || !key.key_type().is_some_and(|t| key_types.contains(&t)) {
        return Err(Error::KeyTypeInconsistent);
    }
    if !key.flag(usage) {
        return Err(Error::KeyFunctionNotPermitted);
    }
    use crate::object::attribute::AttrMapExt;
    if let Some(allowed) = key.attrs.get_bytes(CKA_ALLOWED_MECHANISMS) {
        if !allowed.is_empty() {
            let ok = allowed
                .chunks_exact(std::mem::size_of::<CK_ULONG>())
                .any(|c| c.try_into().map(CK_ULONG::from_ne_bytes).ok() == Some(mech));
            if !ok {
                return Err(Error::MechanismInvalid(mech));
            }
        }
    }
    Ok(())
}

/// Requires a mechanism without parameter.
pub(crate) fn no_param(m: &Mechanism) -> Result<()> {
    match &m.param {
        params::MechParam::None => Ok(()),
        params::MechParam::Bytes(b) if b.is_empty() => Ok(()),
        _ => Err(Error::MechanismParamInvalid(
            "this mechanism takes no parameter",
        )),
    }
}
