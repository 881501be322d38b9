//! ECDH on P-256/P-384/P-521 (`CKM_ECDH1_DERIVE`) with aws-lc-rs `agreement`, and the
//! ANSI X9.63 KDF of the `CKD_SHA*_KDF` functions.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::{CryptoError, EcCurve, EcPrivateKey, EcPublicKey, HashAlg, Hasher};

/// The key derivation function of `CK_ECDH1_DERIVE_PARAMS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcdhKdf {
    /// `CKD_NULL`: the raw shared secret.
    Null,
    /// `CKD_SHA1_KDF` … `CKD_SHA512_KDF`: ANSI X9.63 with this hash.
    X963(HashAlg),
}

/// The raw ECDH shared secret: the x coordinate of `d · Q`, [`EcCurve::field_len`] bytes
/// big-endian. `peer_point` is the other party's SEC1 point, uncompressed or compressed
/// (not wrapped in a DER OCTET STRING); it is validated (on the curve, not the identity).
///
/// # Errors
/// [`CryptoError::InvalidParameter`] for a malformed or invalid peer point;
/// [`CryptoError::Backend`] if aws-lc fails.
pub fn ecdh_shared_secret(
    private: &EcPrivateKey,
    peer_point: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let curve = private.curve();
    let peer = EcPublicKey::from_point(curve, peer_point)
        .map_err(|_| CryptoError::InvalidParameter("ECDH peer public point is invalid"))?;
    let alg = match curve {
        EcCurve::P256 => &agreement::ECDH_P256,
        EcCurve::P384 => &agreement::ECDH_P384,
        EcCurve::P521 => &agreement::ECDH_P521,
    };
    let scalar = private.scalar();
    let key = PrivateKey::from_private_key(alg, &scalar)
        .map_err(|_| CryptoError::Backend("aws-lc rejected the ECDH private key".into()))?;
    let point = peer.point_uncompressed();
    agreement::agree(
        &key,
        UnparsedPublicKey::new(alg, &point),
        CryptoError::Backend("aws-lc ECDH failed".into()),
        |z| Ok(Zeroizing::new(z.to_vec())),
    )
}

/// ANSI X9.63 (SEC 1 §3.6.1) KDF: `Hash(Z ‖ counter ‖ SharedInfo)` for counter = 1, 2, …
/// (32-bit big-endian), concatenated and cut to `out_len` bytes.
///
/// The loop is written here over the crate's aws-lc digests: RustCrypto's
/// `ansi-x963-kdf` exists only for the pre-release `digest` 0.11 generation, while this
/// workspace is on `sha2`/`digest` 0.10. Checked against NIST CAVP's X9.63 vectors.
///
/// # Errors
/// [`CryptoError::InvalidParameter`] for an empty secret, `out_len` 0, or an output that
/// would need more than 2^32 − 1 hash blocks (SEC 1's limit).
pub fn x963_kdf(
    hash: HashAlg,
    secret: &[u8],
    shared_info: &[u8],
    out_len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if secret.is_empty() || out_len == 0 {
        return Err(CryptoError::InvalidParameter(
            "X9.63 KDF needs a secret and an output length",
        ));
    }
    let blocks = out_len.div_ceil(hash.output_len());
    if u32::try_from(blocks).is_err() {
        return Err(CryptoError::InvalidParameter("X9.63 KDF output too long"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(blocks * hash.output_len()));
    for counter in 1..=blocks as u32 {
        let mut hasher = Hasher::new(hash);
        hasher.update(secret);
        hasher.update(&counter.to_be_bytes());
        hasher.update(shared_info);
        out.extend_from_slice(&Zeroizing::new(hasher.finalize()));
    }
    out.truncate(out_len);
    Ok(out)
}

/// `CKM_ECDH1_DERIVE`'s key value: the shared secret through `kdf`, `key_len` bytes.
///
/// With [`EcdhKdf::Null`] the raw secret is truncated as the mechanism text says ("the
/// truncation removes bytes from the leading end of the secret value"); `key_len = None`
/// keeps it whole. With an X9.63 KDF exactly `key_len` bytes are derived (`None`: one
/// field length).
///
/// # Errors
/// [`CryptoError::KeySize`] if `key_len` is 0 or, for [`EcdhKdf::Null`], longer than the
/// secret; the errors of [`ecdh_shared_secret`] and [`x963_kdf`].
pub fn ecdh1_derive(
    private: &EcPrivateKey,
    peer_point: &[u8],
    kdf: EcdhKdf,
    shared_data: &[u8],
    key_len: Option<usize>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if key_len == Some(0) {
        return Err(CryptoError::KeySize);
    }
    let secret = ecdh_shared_secret(private, peer_point)?;
    match kdf {
        EcdhKdf::Null => {
            if !shared_data.is_empty() {
                return Err(CryptoError::InvalidParameter(
                    "CKD_NULL takes no shared data",
                ));
            }
            let len = key_len.unwrap_or(secret.len());
            if len > secret.len() {
                return Err(CryptoError::KeySize);
            }
            Ok(Zeroizing::new(secret[secret.len() - len..].to_vec()))
        }
        EcdhKdf::X963(hash) => x963_kdf(
            hash,
            &secret,
            shared_data,
            key_len.unwrap_or(private.curve().field_len()),
        ),
    }
}
