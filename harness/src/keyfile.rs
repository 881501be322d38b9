//! Reading private keys and certificates from PEM or DER files and turning
//! them into object templates. All ASN.1 goes through the RustCrypto `der`
//! family (`pkcs8`, `pkcs1`, `sec1`, `x509-cert`).

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use sha1::{Digest, Sha1};
use tokenemu_core::ck::*;
use tokenemu_core::object::attribute::{Attribute, Template};
use tokenemu_crypto::{EcCurve, EcPrivateKey};
use x509_cert::Certificate;
use zeroize::Zeroizing;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// A file's content: the DER bytes and, for PEM, the block label.
struct Contents {
    der: Zeroizing<Vec<u8>>,
    pem_label: Option<String>,
}

/// Reads `path` as PEM (the first block whose label `want` accepts) or DER.
fn read_pem_or_der(path: &Path, want: &dyn Fn(&str) -> bool, what: &str) -> Result<Contents> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("cannot read {what} file {}", path.display()))?,
    );
    let Some(text) = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| t.trim_start().starts_with("-----BEGIN "))
    else {
        return Ok(Contents {
            der: bytes,
            pem_label: None,
        });
    };
    let mut seen = Vec::new();
    let starts: Vec<usize> = text.match_indices("-----BEGIN ").map(|(i, _)| i).collect();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(text.len());
        let block = &text[start..end];
        let (label, der) = der::pem::decode_vec(block.trim_end().as_bytes())
            .map_err(|e| anyhow!("{} is not a valid PEM file: {e}", path.display()))?;
        if want(label) {
            return Ok(Contents {
                der: Zeroizing::new(der),
                pem_label: Some(label.to_owned()),
            });
        }
        seen.push(format!("\"{label}\""));
    }
    bail!(
        "{} holds no {what} (PEM blocks found: {})",
        path.display(),
        seen.join(", ")
    )
}

/// A parsed private key, ready to become a private and a public key object.
#[derive(Debug)]
pub struct KeyPair {
    /// "RSA 2048-bit", "EC P-256".
    pub description: String,
    /// `CKK_RSA` or `CKK_EC`.
    pub key_type: CK_KEY_TYPE,
    /// The key size as `CK_MECHANISM_INFO` counts it for this key type: the
    /// modulus bits for RSA, the curve's bits for EC.
    pub bits: CK_ULONG,
    /// The private key object's key attributes (class, key type, values).
    pub private: Template,
    /// The public key object's key attributes.
    pub public: Template,
    /// The subjectPublicKey BIT STRING contents of this key (what a
    /// certificate for it carries).
    pub public_key_bits: Vec<u8>,
}

/// The default `CKA_ID`: SHA-1 of the subjectPublicKey bits.
pub fn default_id(public_key_bits: &[u8]) -> Vec<u8> {
    Sha1::digest(public_key_bits).to_vec()
}

/// Reads a private key file: PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1
/// (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`), PEM or DER.
pub fn read_private_key(path: &Path) -> Result<KeyPair> {
    let c = read_pem_or_der(path, &|l| l.ends_with("PRIVATE KEY"), "private key")?;
    let shown = path.display();
    match c.pem_label.as_deref() {
        Some("PRIVATE KEY") => from_pkcs8(&c.der),
        Some("RSA PRIVATE KEY") => rsa_from_pkcs1(&c.der),
        Some("EC PRIVATE KEY") => ec_from_sec1(&c.der, None),
        Some("ENCRYPTED PRIVATE KEY") => bail!(
            "{shown} is an encrypted PKCS#8 key; decrypt it first \
             (openssl pkcs8 -in {shown} -nocrypt -topk8 -out plain.pem)"
        ),
        Some(other) => bail!("{shown}: PEM block \"{other}\" is not a supported private key"),
        None => from_pkcs8(&c.der)
            .or_else(|_| rsa_from_pkcs1(&c.der))
            .or_else(|_| ec_from_sec1(&c.der, None))
            .map_err(|_| {
                anyhow!("neither a PEM file nor a DER PKCS#8, PKCS#1 or SEC1 private key")
            }),
    }
    .with_context(|| format!("key file {shown}"))
}

fn from_pkcs8(der: &[u8]) -> Result<KeyPair> {
    let info = pkcs8::PrivateKeyInfo::from_der(der).context("not a valid PKCS#8 PrivateKeyInfo")?;
    let alg = info.algorithm.oid;
    if alg == RSA_ENCRYPTION {
        rsa_from_pkcs1(info.private_key)
    } else if alg == ID_EC_PUBLIC_KEY {
        let params = info
            .algorithm
            .parameters
            .context("EC key without curve parameters")?;
        let oid: ObjectIdentifier = params
            .decode_as()
            .context("EC key parameters are not a named curve OID")?;
        ec_from_sec1(info.private_key, Some(oid))
    } else {
        bail!("unsupported key algorithm {alg} (RSA and EC keys are supported)")
    }
}

fn rsa_from_pkcs1(der: &[u8]) -> Result<KeyPair> {
    let k = pkcs1::RsaPrivateKey::from_der(der).context("not a valid PKCS#1 RSAPrivateKey")?;
    if k.other_prime_infos.is_some() {
        bail!("multi-prime RSA keys are not supported");
    }
    let public = pkcs1::RsaPublicKey {
        modulus: k.modulus,
        public_exponent: k.public_exponent,
    };
    let public_key_bits = public.to_der().context("encoding the RSA public key")?;
    let n = k.modulus.as_bytes();
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    let common = |class| {
        vec![
            Attribute::ulong(CKA_CLASS, class),
            Attribute::ulong(CKA_KEY_TYPE, CKK_RSA),
            Attribute::bytes(CKA_MODULUS, n),
            Attribute::bytes(CKA_PUBLIC_EXPONENT, k.public_exponent.as_bytes()),
        ]
    };
    let mut private = common(CKO_PRIVATE_KEY);
    for (ty, v) in [
        (CKA_PRIVATE_EXPONENT, k.private_exponent),
        (CKA_PRIME_1, k.prime1),
        (CKA_PRIME_2, k.prime2),
        (CKA_EXPONENT_1, k.exponent1),
        (CKA_EXPONENT_2, k.exponent2),
        (CKA_COEFFICIENT, k.coefficient),
    ] {
        private.push(Attribute::bytes(ty, v.as_bytes()));
    }
    private.push(Attribute::bool(CKA_DECRYPT, true));
    private.push(Attribute::bool(CKA_SIGN, true));
    let mut public = common(CKO_PUBLIC_KEY);
    public.push(Attribute::bool(CKA_ENCRYPT, true));
    public.push(Attribute::bool(CKA_VERIFY, true));
    Ok(KeyPair {
        description: format!("RSA {bits}-bit"),
        key_type: CKK_RSA,
        bits: bits as CK_ULONG,
        private,
        public,
        public_key_bits,
    })
}

fn curve_name(c: EcCurve) -> &'static str {
    match c {
        EcCurve::P256 => "P-256",
        EcCurve::P384 => "P-384",
        EcCurve::P521 => "P-521",
    }
}

fn ec_from_sec1(der: &[u8], outer_curve: Option<ObjectIdentifier>) -> Result<KeyPair> {
    let k = sec1::EcPrivateKey::from_der(der).context("not a valid SEC1 ECPrivateKey")?;
    let inner = k.parameters.and_then(|p| p.named_curve());
    let oid = match (outer_curve, inner) {
        (Some(a), Some(b)) if a != b => bail!("the key names two different curves ({a}, {b})"),
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => bail!("EC key without a named curve"),
    };
    let params = oid.to_der().context("encoding the curve OID")?;
    let curve = EcCurve::from_params_der(&params)
        .ok_or_else(|| anyhow!("unsupported EC curve {oid} (P-256 and P-384 are supported)"))?;
    let key = EcPrivateKey::from_scalar(curve, k.private_key)
        .map_err(|e| anyhow!("not a valid {} private key: {e}", curve_name(curve)))?;
    let point = key.public_key().point_uncompressed();
    let ec_point = OctetString::new(point.clone())
        .and_then(|o| o.to_der())
        .context("encoding the EC point")?;
    let private = vec![
        Attribute::ulong(CKA_CLASS, CKO_PRIVATE_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
        Attribute::bytes(CKA_EC_PARAMS, params.clone()),
        Attribute::bytes(CKA_VALUE, k.private_key),
        Attribute::bool(CKA_SIGN, true),
        Attribute::bool(CKA_DERIVE, false),
    ];
    let public = vec![
        Attribute::ulong(CKA_CLASS, CKO_PUBLIC_KEY),
        Attribute::ulong(CKA_KEY_TYPE, CKK_EC),
        Attribute::bytes(CKA_EC_PARAMS, params),
        Attribute::bytes(CKA_EC_POINT, ec_point),
        Attribute::bool(CKA_VERIFY, true),
    ];
    Ok(KeyPair {
        description: format!("EC {}", curve_name(curve)),
        key_type: CKK_EC,
        bits: curve.bits() as CK_ULONG,
        private,
        public,
        public_key_bits: point,
    })
}

/// A parsed X.509 certificate.
#[derive(Debug)]
pub struct Cert {
    /// The whole certificate, DER.
    pub der: Vec<u8>,
    /// DER of the subject Name.
    pub subject: Vec<u8>,
    /// DER of the issuer Name.
    pub issuer: Vec<u8>,
    /// DER of the serialNumber INTEGER.
    pub serial: Vec<u8>,
    /// The subject as text (RFC 4514).
    pub subject_text: String,
    /// The subject's common name, if any.
    pub common_name: Option<String>,
    /// notBefore as `YYYYMMDD`.
    pub start_date: String,
    /// notAfter as `YYYYMMDD`.
    pub end_date: String,
    /// The subjectPublicKey BIT STRING contents.
    pub public_key_bits: Vec<u8>,
}

/// Reads an X.509 certificate, PEM (`BEGIN CERTIFICATE`) or DER.
pub fn read_certificate(path: &Path) -> Result<Cert> {
    let c = read_pem_or_der(path, &|l| l == "CERTIFICATE", "certificate")?;
    let cert = Certificate::from_der(&c.der).map_err(|e| {
        anyhow!(
            "{} is not an X.509 certificate ({}): {e}",
            path.display(),
            if c.pem_label.is_some() { "PEM" } else { "DER" }
        )
    })?;
    let tbs = &cert.tbs_certificate;
    let enc =
        |r: der::Result<Vec<u8>>| r.with_context(|| format!("re-encoding {}", path.display()));
    let date = |t: &x509_cert::time::Time| {
        let d = t.to_date_time();
        format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
    };
    let common_name = tbs
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == COMMON_NAME)
        .and_then(|atv| std::str::from_utf8(atv.value.value()).ok())
        .map(str::to_owned);
    Ok(Cert {
        der: c.der.to_vec(),
        subject: enc(tbs.subject.to_der())?,
        issuer: enc(tbs.issuer.to_der())?,
        serial: enc(tbs.serial_number.to_der())?,
        subject_text: tbs.subject.to_string(),
        common_name,
        start_date: date(&tbs.validity.not_before),
        end_date: date(&tbs.validity.not_after),
        public_key_bits: tbs
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec(),
    })
}

impl Cert {
    /// The certificate object's template (without `CKA_ID`/`CKA_LABEL`).
    pub fn template(&self) -> Template {
        vec![
            Attribute::ulong(CKA_CLASS, CKO_CERTIFICATE),
            Attribute::ulong(CKA_CERTIFICATE_TYPE, CKC_X_509),
            Attribute::bytes(CKA_SUBJECT, self.subject.clone()),
            Attribute::bytes(CKA_ISSUER, self.issuer.clone()),
            Attribute::bytes(CKA_SERIAL_NUMBER, self.serial.clone()),
            Attribute::bytes(CKA_VALUE, self.der.clone()),
            Attribute::bytes(CKA_START_DATE, self.start_date.as_bytes()),
            Attribute::bytes(CKA_END_DATE, self.end_date.as_bytes()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenemu_core::object::attribute::find;

    fn fx(p: &str) -> std::path::PathBuf {
        tokenemu_fixtures::fixtures_dir().join(p)
    }

    #[test]
    fn rsa_pkcs8_pem_and_der_agree() {
        let a = read_private_key(&fx("keys/test-rsa-2048.pem")).unwrap();
        let b = read_private_key(&fx("keys/test-rsa-2048.der")).unwrap();
        assert_eq!(a.description, "RSA 2048-bit");
        assert_eq!((a.key_type, a.bits), (CKK_RSA, 2048));
        assert_eq!(a.private, b.private);
        assert_eq!(find(&a.private, CKA_MODULUS).unwrap().value.len(), 256);
        let cert = read_certificate(&fx("pki/test-rsa-2048-selfsigned.pem")).unwrap();
        assert_eq!(cert.public_key_bits, a.public_key_bits);
        assert_eq!(cert.common_name.as_deref(), Some("tokenemu test RSA"));
        assert_eq!(cert.serial, [0x02, 0x02, 0x10, 0x01]);
        let der = read_certificate(&fx("pki/test-rsa-2048-selfsigned.der")).unwrap();
        assert_eq!(der.der, cert.der);
    }

    #[test]
    fn ec_key_matches_its_certificate() {
        let k = read_private_key(&fx("keys/test-ec-p256.pem")).unwrap();
        assert_eq!(k.description, "EC P-256");
        assert_eq!((k.key_type, k.bits), (CKK_EC, 256));
        assert_eq!(k.public_key_bits.len(), 65);
        let cert = read_certificate(&fx("pki/test-ec-p256-selfsigned.pem")).unwrap();
        assert_eq!(cert.public_key_bits, k.public_key_bits);
    }

    #[test]
    fn garbage_is_rejected_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("junk.pem");
        std::fs::write(
            &p,
            "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let e = format!("{:#}", read_private_key(&p).unwrap_err());
        assert!(e.contains("junk.pem"), "{e}");
        std::fs::write(&p, b"\x30\x03\x02\x01\x00").unwrap();
        let e = format!("{:#}", read_private_key(&p).unwrap_err());
        assert!(e.contains("neither"), "{e}");
        let e = format!("{:#}", read_certificate(&p).unwrap_err());
        assert!(e.contains("not an X.509 certificate"), "{e}");
        let e = format!(
            "{:#}",
            read_certificate(&fx("keys/test-ec-p256.pem")).unwrap_err()
        );
        assert!(e.contains("no certificate"), "{e}");
    }
}
