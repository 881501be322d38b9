//! KExp15 / KImp15: export of a key under a pair of keys (K_exp_mac, K_exp_enc), R
//! 1323565.1.017-2018 §9 (the TC26 `CKM_KUZNECHIK_KEXP_15_WRAP` / `CKM_MAGMA_KEXP_15_WRAP`):
//! `KEXP = CTR_{K_enc, IV}(K ‖ OMAC_{K_mac}(IV ‖ K))`, the OMAC untruncated (one block).
//! Own composition of this module's 34.13 CTR and OMAC.

use zeroize::Zeroizing;

use super::cipher_all;
use super::modes::{Gost3412Cipher, Gost3412Key, Gost3413Ctr, Gost3413Omac};
use crate::CryptoError;

fn keys(
    cipher: Gost3412Cipher,
    k_mac: &[u8],
    k_enc: &[u8],
) -> Result<(Gost3412Key, Gost3412Key), CryptoError> {
    Ok((
        Gost3412Key::new(cipher, k_mac)?,
        Gost3412Key::new(cipher, k_enc)?,
    ))
}

fn omac(mac_key: &Gost3412Key, iv: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut m = Gost3413Omac::new(mac_key, mac_key.block_len())?;
    m.update(iv);
    m.update(key);
    Ok(m.finalize())
}

/// KExp15: exports `key` (any non-empty length) under `k_mac` and `k_enc` (32 bytes each)
/// with `iv` (half a block: 8 bytes for Kuznyechik, 4 for Magma). The result is
/// `key.len() + block length` bytes.
///
/// # Errors
/// [`CryptoError::KeySize`] for a bad key length or an empty `key`,
/// [`CryptoError::InvalidParameter`] for a bad IV length.
pub fn kexp15(
    cipher: Gost3412Cipher,
    k_mac: &[u8],
    k_enc: &[u8],
    iv: &[u8],
    key: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if key.is_empty() {
        return Err(CryptoError::KeySize);
    }
    let (mac_key, enc_key) = keys(cipher, k_mac, k_enc)?;
    let mut ctr = Gost3413Ctr::new(&enc_key, iv)?;
    let mut plain = Zeroizing::new(key.to_vec());
    plain.extend_from_slice(&omac(&mac_key, iv, key)?);
    cipher_all(&mut ctr, &plain)
}

/// KImp15: the inverse of [`kexp15`]; checks the MAC in constant time.
///
/// # Errors
/// [`CryptoError::KeySize`] / [`CryptoError::InvalidParameter`] as for [`kexp15`];
/// [`CryptoError::EncryptedDataLength`] if `wrapped` is not longer than one block;
/// [`CryptoError::EncryptedData`] when the MAC does not match.
pub fn kimp15(
    cipher: Gost3412Cipher,
    k_mac: &[u8],
    k_enc: &[u8],
    iv: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let n = cipher.block_len();
    if wrapped.len() <= n {
        return Err(CryptoError::EncryptedDataLength);
    }
    let (mac_key, enc_key) = keys(cipher, k_mac, k_enc)?;
    let mut ctr = Gost3413Ctr::new(&enc_key, iv)?;
    let plain = Zeroizing::new(cipher_all(&mut ctr, wrapped)?);
    let (key, mac) = plain.split_at(plain.len() - n);
    let expected = omac(&mac_key, iv, key)?;
    aws_lc_rs::constant_time::verify_slices_are_equal(&expected, mac)
        .map_err(|_| CryptoError::EncryptedData)?;
    Ok(Zeroizing::new(key.to_vec()))
}
