//! Known-answer tests from text vector files (see each file's header for its source).

use std::collections::BTreeMap;

use tokenemu_gost::{param_set_by_oid_der, param_sets, ParamSet, SigningKey, VerifyingKey};

/// Parses `key = hex` lines into sections (`[name]` headers; "" before the first).
fn parse(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = vec![(String::new(), BTreeMap::new())];
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((name.to_string(), BTreeMap::new()));
            continue;
        }
        let (k, v) = line.split_once('=').expect("key = value");
        out.last_mut()
            .expect("section")
            .1
            .insert(k.trim().to_string(), v.trim().to_string());
    }
    out.retain(|(_, m)| !m.is_empty());
    out
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

fn rev(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

fn params_by_dotted(oid: &str) -> &'static ParamSet {
    param_sets()
        .iter()
        .copied()
        .find(|p| p.oid == oid)
        .unwrap_or_else(|| panic!("unknown OID {oid}"))
}

/// GOST R 34.10-2012 Appendix A: fixed-k signature equals (r, s), Q = dG, verify succeeds.
fn check_appendix_a(text: &str) {
    let sections = parse(text);
    assert_eq!(sections.len(), 1);
    let v = &sections[0].1;
    let params = params_by_dotted(&v["oid"]);
    assert_eq!(param_set_by_oid_der(&params.oid_der()), Some(params));

    let d_le = rev(unhex(&v["d"]));
    let key = SigningKey::from_le_bytes(params, &d_le).expect("d");
    assert_eq!(&key.to_le_bytes()[..], &d_le[..]);

    // Public key derivation: X_LE || Y_LE.
    let mut q_le = rev(unhex(&v["qx"]));
    q_le.extend(rev(unhex(&v["qy"])));
    let vk = key.verifying_key();
    assert_eq!(hex::encode_upper(vk.to_le_xy()), hex::encode_upper(&q_le));
    let vk2 = VerifyingKey::from_le_xy(params, &q_le).expect("Q");
    assert_eq!(vk, vk2);

    // Signature with the standard's k: s || r big-endian.
    let digest = rev(unhex(&v["e"]));
    let k = unhex(&v["k"]);
    let mut expected = unhex(&v["s"]);
    expected.extend(unhex(&v["r"]));
    let sig = key.sign_digest_with_k(&digest, &k).expect("sign");
    assert_eq!(hex::encode_upper(&sig), hex::encode_upper(&expected));
    vk2.verify_digest(&digest, &sig).expect("verify");

    // A random-k signature over the same digest verifies too.
    let sig2 = key.sign_digest(&digest).expect("sign");
    vk.verify_digest(&digest, &sig2).expect("verify random-k");

    // Big-endian digest interpretation must fail (gost.md §2: the BE reading is wrong).
    assert!(vk.verify_digest(&unhex(&v["e"]), &sig).is_err());
}

#[test]
fn gost_r_34_10_2012_appendix_a1() {
    check_appendix_a(include_str!("vectors/gost_r_34_10_2012_a1.txt"));
}

#[test]
fn gost_r_34_10_2012_appendix_a2() {
    check_appendix_a(include_str!("vectors/gost_r_34_10_2012_a2.txt"));
}

/// CryptoPro interop vectors from gost-engine `test_params.c`.
#[test]
fn cryptopro_interop_vectors_verify() {
    use streebog::{Digest, Streebog256, Streebog512};
    let sections = parse(include_str!("vectors/cryptopro_interop.txt"));
    assert_eq!(sections.len(), 7);
    for (name, v) in sections {
        let params = params_by_dotted(&v["oid"]);
        assert_eq!(params.name, name);
        let data = unhex(&v["data"]);
        let hash = unhex(&v["hash"]);
        let computed = if params.coordinate_len() == 32 {
            Streebog256::digest(&data).to_vec()
        } else {
            Streebog512::digest(&data).to_vec()
        };
        assert_eq!(
            hex::encode(&computed),
            hex::encode(&hash),
            "{name}: Streebog(data)"
        );

        let vk = VerifyingKey::from_le_xy(params, &unhex(&v["pub"])).expect(&name);
        let sig = rev(unhex(&v["sig_raw"])); // r_LE||s_LE -> s_BE||r_BE
        vk.verify_digest(&hash, &sig)
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        // Negative controls: unreversed signature and a flipped hash bit fail.
        assert!(
            vk.verify_digest(&hash, &unhex(&v["sig_raw"])).is_err(),
            "{name}"
        );
        let mut bad = hash.clone();
        bad[0] ^= 1;
        assert!(vk.verify_digest(&bad, &sig).is_err(), "{name}");

        // The alias records share the curve: the same key verifies under them.
        for alias in param_sets()
            .iter()
            .filter(|p| p.p == params.p && p.a == params.a && p.oid != params.oid)
        {
            let vk_alias = VerifyingKey::from_le_xy(alias, &unhex(&v["pub"])).expect("alias");
            vk_alias.verify_digest(&hash, &sig).expect("alias verify");
        }
    }
}
