//! EMSA-PSS encoding and verification with an independent MGF1 hash (RFC 8017 §9.1).
//!
//! Used only for the PSS variants aws-lc-rs does not offer (salt length other than the
//! hash length, MGF1 hash different from the message hash, SHA-1/SHA-224, keys under 2048
//! bits). The RSA primitive itself is done by the caller.

use crate::{random_fill, CryptoError, HashAlg, Hasher};

/// MGF1 (RFC 8017 §B.2.1): XORs `mask_len` bytes of mask generated from `seed` into `out`.
fn mgf1_xor(hash: HashAlg, seed: &[u8], out: &mut [u8]) {
    let mut counter: u32 = 0;
    for chunk in out.chunks_mut(hash.output_len()) {
        let mut h = Hasher::new(hash);
        h.update(seed);
        h.update(&counter.to_be_bytes());
        let block = h.finalize();
        for (o, m) in chunk.iter_mut().zip(block.iter()) {
            *o ^= m;
        }
        counter = counter.wrapping_add(1);
    }
}

/// `H = Hash(0x00 × 8 ‖ mHash ‖ salt)`.
fn h_prime(hash: HashAlg, m_hash: &[u8], salt: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(hash);
    h.update(&[0u8; 8]);
    h.update(m_hash);
    h.update(salt);
    h.finalize()
}

/// EMSA-PSS-ENCODE for a modulus of `mod_bits` bits. Returns the encoded message
/// left-padded to `k = ceil(mod_bits / 8)` bytes, ready for the RSA private operation.
pub(crate) fn encode(
    hash: HashAlg,
    mgf_hash: HashAlg,
    salt_len: usize,
    m_hash: &[u8],
    mod_bits: usize,
) -> Result<Vec<u8>, CryptoError> {
    let h_len = hash.output_len();
    if m_hash.len() != h_len {
        return Err(CryptoError::DataLength);
    }
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    if em_len < h_len + salt_len + 2 {
        // The salt does not fit this key: the caller asked for too long a salt.
        return Err(CryptoError::DataLength);
    }
    let mut salt = vec![0u8; salt_len];
    random_fill(&mut salt)?;
    let h = h_prime(hash, m_hash, &salt);

    let db_len = em_len - h_len - 1;
    let mut em = vec![0u8; em_len];
    // DB = PS ‖ 0x01 ‖ salt
    em[db_len - salt_len - 1] = 0x01;
    em[db_len - salt_len..db_len].copy_from_slice(&salt);
    mgf1_xor(mgf_hash, &h, &mut em[..db_len]);
    em[0] &= 0xff >> (8 * em_len - em_bits);
    em[db_len..db_len + h_len].copy_from_slice(&h);
    em[em_len - 1] = 0xbc;

    let k = mod_bits.div_ceil(8);
    if k > em_len {
        let mut out = vec![0u8; k - em_len];
        out.extend_from_slice(&em);
        Ok(out)
    } else {
        Ok(em)
    }
}

/// EMSA-PSS-VERIFY. `m` is the result of the RSA public operation, `k` bytes.
pub(crate) fn verify(
    hash: HashAlg,
    mgf_hash: HashAlg,
    salt_len: usize,
    m_hash: &[u8],
    m: &[u8],
    mod_bits: usize,
) -> Result<(), CryptoError> {
    let h_len = hash.output_len();
    if m_hash.len() != h_len {
        return Err(CryptoError::DataLength);
    }
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let bad = Err(CryptoError::InvalidSignature);
    // I2OSP(m, emLen): any byte beyond emLen must be zero.
    if m.len() < em_len || m[..m.len() - em_len].iter().any(|&b| b != 0) {
        return bad;
    }
    let em = &m[m.len() - em_len..];
    if em_len < h_len + salt_len + 2 || em[em_len - 1] != 0xbc {
        return bad;
    }
    let db_len = em_len - h_len - 1;
    let top_mask = 0xffu8 >> (8 * em_len - em_bits);
    if em[0] & !top_mask != 0 {
        return bad;
    }
    let h = &em[db_len..db_len + h_len];
    let mut db = em[..db_len].to_vec();
    mgf1_xor(mgf_hash, h, &mut db);
    db[0] &= top_mask;
    let ps_len = db_len - salt_len - 1;
    if db[..ps_len].iter().any(|&b| b != 0) || db[ps_len] != 0x01 {
        return bad;
    }
    let salt = &db[ps_len + 1..];
    if h_prime(hash, m_hash, salt) != h {
        return bad;
    }
    Ok(())
}
