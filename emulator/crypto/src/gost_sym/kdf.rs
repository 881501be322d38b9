//! Key derivation: KDF_GOSTR3411_2012_256 (RFC 7836 §4.5, R 50.1.113-2016 §4.4) and the
//! CryptoPro KEK diversification KDF_4357 (RFC 4357 §6.5).

use zeroize::Zeroizing;

use super::gost28147::{cfb_encrypt, Gost28147Key, Gost28147ParamSet};
use super::hmac::{HmacStreebog, StreebogSize};
use crate::CryptoError;

/// KDF_GOSTR3411_2012_256(K, label, seed) = HMAC256(K, 0x01 ‖ label ‖ 0x00 ‖ seed ‖ 0x01 ‖
/// 0x00): one 256-bit output (RFC 7836 §4.5, `CKM_KDF_GOSTR3411_2012_256`).
pub fn kdf_gostr3411_2012_256(key: &[u8], label: &[u8], seed: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut h = HmacStreebog::new(StreebogSize::S256, key);
    h.update(&[0x01]);
    h.update(label);
    h.update(&[0x00]);
    h.update(seed);
    h.update(&[0x01, 0x00]);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&h.finalize());
    out
}

/// CryptoPro KEK diversification (RFC 4357 §6.5, `CKD_CPDIVERSIFY_KDF` / `CKM_KDF_4357`):
/// eight rounds; round i splits the key into little-endian words k_0..k_7, sums those whose
/// bit j of UKM byte i is set (s1) and the others (s2), both mod 2^32, and CFB-encrypts the
/// key with itself under the IV `s1 ‖ s2` (little-endian) and the parameter set's S-box.
///
/// # Errors
/// [`CryptoError::KeySize`] unless `kek` is 32 bytes.
pub fn kdf_4357(
    kek: &[u8],
    ukm: &[u8; 8],
    params: Gost28147ParamSet,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let mut k = Zeroizing::new([0u8; 32]);
    if kek.len() != 32 {
        return Err(CryptoError::KeySize);
    }
    k.copy_from_slice(kek);
    for &u in ukm {
        let (mut s1, mut s2) = (0u32, 0u32);
        for (j, word) in k.chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes(word.try_into().expect("4 bytes"));
            if u & (1 << j) != 0 {
                s1 = s1.wrapping_add(w);
            } else {
                s2 = s2.wrapping_add(w);
            }
        }
        let mut iv = [0u8; 8];
        iv[..4].copy_from_slice(&s1.to_le_bytes());
        iv[4..].copy_from_slice(&s2.to_le_bytes());
        let round_key = Gost28147Key::new(&k[..], params)?;
        cfb_encrypt(&round_key, &iv, &mut k[..]);
    }
    Ok(k)
}
