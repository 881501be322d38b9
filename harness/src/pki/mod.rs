//! Certificates and requests for the simulated CA, built with `x509-cert`,
//! `der` and `spki` (no hand-written DER). GOST keys use the RFC 9215 / TC26
//! encodings of gost.md §4: key OID 1.2.643.7.1.1.1.1 (or .1.2), parameters
//! `SEQUENCE { curve OID [, digest OID] }`, key bits = DER `OCTET STRING`
//! holding `X_LE ‖ Y_LE`, signature 1.2.643.7.1.1.3.2 (.3.3) with the value
//! `s ‖ r` big-endian, exactly what `CKM_GOSTR3410_WITH_GOSTR3411_12_256`
//! returns.

use std::str::FromStr;
use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, OctetString, UtcTime};
use der::{Any, Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use tokenemu_crypto::{digest, HashAlg};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::p11::{Alg, PublicKey};

/// gost2012_256 public key, 1.2.643.7.1.1.1.1.
pub const OID_GOST_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.1.1");
/// gost2012_512 public key, 1.2.643.7.1.1.1.2.
pub const OID_GOST_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.1.2");
/// Streebog-256, 1.2.643.7.1.1.2.2.
pub const OID_STREEBOG_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.2.2");
/// Streebog-512, 1.2.643.7.1.1.2.3.
pub const OID_STREEBOG_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.2.3");
/// id-tc26-signwithdigest-gost3410-12-256, 1.2.643.7.1.1.3.2.
pub const OID_SIG_GOST_256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.3.2");
/// id-tc26-signwithdigest-gost3410-12-512, 1.2.643.7.1.1.3.3.
pub const OID_SIG_GOST_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.643.7.1.1.3.3");
/// rsaEncryption.
pub const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// sha256WithRSAEncryption.
pub const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// A PKI failure (malformed input, bad signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiError(pub String);

impl std::fmt::Display for PkiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PkiError {}

/// Result of PKI functions.
pub type PkiResult<T> = Result<T, PkiError>;

fn pe<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> PkiError {
    move |e| PkiError(format!("{what}: {e}"))
}

/// GOST key parameters, `SEQUENCE { publicKeyParamSet, digestParamSet OPTIONAL }`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct GostKeyParams {
    public_key_param_set: ObjectIdentifier,
    digest_param_set: Option<ObjectIdentifier>,
}

/// The SPKI of a token public key.
pub fn spki_of(key: &PublicKey) -> PkiResult<SubjectPublicKeyInfoOwned> {
    match key {
        PublicKey::Rsa { n, e } => {
            let pk = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(n),
                rsa::BigUint::from_bytes_be(e),
            )
            .map_err(pe("RSA public key"))?;
            use rsa::pkcs8::EncodePublicKey;
            let der = pk.to_public_key_der().map_err(pe("RSA SPKI"))?;
            SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).map_err(pe("RSA SPKI"))
        }
        PublicKey::Gost {
            alg,
            params_der,
            xy_le,
        } => {
            let curve =
                ObjectIdentifier::from_der(params_der).map_err(pe("CKA_GOSTR3410_PARAMS"))?;
            let (key_oid, digest) = match alg {
                // CryptoPro curves carry the digest OID; tc26-512-A does too (gost.md §4).
                Alg::Gost512 => (OID_GOST_512, Some(OID_STREEBOG_512)),
                _ => (OID_GOST_256, Some(OID_STREEBOG_256)),
            };
            let params = GostKeyParams {
                public_key_param_set: curve,
                digest_param_set: digest,
            };
            let params_any = Any::from_der(&params.to_der().map_err(pe("GOST params"))?)
                .map_err(pe("GOST params"))?;
            let octets = OctetString::new(xy_le.clone()).map_err(pe("GOST key"))?;
            let bits = BitString::from_bytes(&octets.to_der().map_err(pe("GOST key"))?)
                .map_err(pe("GOST key"))?;
            Ok(SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: key_oid,
                    parameters: Some(params_any),
                },
                subject_public_key: bits,
            })
        }
    }
}

/// The signature algorithm identifier for a key algorithm.
pub fn signature_algorithm(alg: Alg) -> AlgorithmIdentifierOwned {
    match alg {
        Alg::Gost256 => AlgorithmIdentifierOwned {
            oid: OID_SIG_GOST_256,
            parameters: None,
        },
        Alg::Gost512 => AlgorithmIdentifierOwned {
            oid: OID_SIG_GOST_512,
            parameters: None,
        },
        Alg::Rsa2048 => AlgorithmIdentifierOwned {
            oid: OID_SHA256_RSA,
            parameters: Some(Any::null()),
        },
    }
}

/// Which algorithm a SPKI is for.
pub fn alg_of_spki(spki: &SubjectPublicKeyInfoOwned) -> PkiResult<Alg> {
    match spki.algorithm.oid {
        o if o == OID_GOST_256 => Ok(Alg::Gost256),
        o if o == OID_GOST_512 => Ok(Alg::Gost512),
        o if o == OID_RSA => Ok(Alg::Rsa2048),
        o => Err(PkiError(format!("unsupported public key algorithm {o}"))),
    }
}

/// Verifies `sig` over `data` with the key in `spki` (GOST: Streebog of the
/// data read as the digest, s‖r BE; RSA: PKCS#1 v1.5 SHA-256).
pub fn verify(spki: &SubjectPublicKeyInfoOwned, data: &[u8], sig: &[u8]) -> PkiResult<()> {
    match alg_of_spki(spki)? {
        Alg::Rsa2048 => {
            use rsa::pkcs8::DecodePublicKey;
            use rsa::signature::Verifier;
            let der = spki.to_der().map_err(pe("SPKI"))?;
            let pk = rsa::RsaPublicKey::from_public_key_der(&der).map_err(pe("RSA key"))?;
            let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(pk);
            let s = rsa::pkcs1v15::Signature::try_from(sig).map_err(pe("RSA signature"))?;
            vk.verify(data, &s)
                .map_err(|_| PkiError("RSA signature does not verify".into()))
        }
        alg => {
            let params = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or_else(|| PkiError("GOST key without parameters".into()))?;
            let p = GostKeyParams::from_der(&params.to_der().map_err(pe("params"))?)
                .map_err(pe("GOST params"))?;
            let set = tokenemu_gost::param_set_by_oid_der(
                &p.public_key_param_set.to_der().map_err(pe("curve"))?,
            )
            .ok_or_else(|| PkiError(format!("unknown GOST curve {}", p.public_key_param_set)))?;
            let octets = OctetString::from_der(spki.subject_public_key.raw_bytes())
                .map_err(pe("GOST key bits"))?;
            let vk = tokenemu_gost::VerifyingKey::from_le_xy(set, octets.as_bytes())
                .map_err(pe("GOST key"))?;
            let h = digest(
                if alg == Alg::Gost512 {
                    HashAlg::Streebog512
                } else {
                    HashAlg::Streebog256
                },
                data,
            );
            vk.verify_digest(&h, sig)
                .map_err(|_| PkiError("GOST signature does not verify".into()))
        }
    }
}

/// Parses a distinguished name in RFC 4514 text (`CN=…,O=…,C=KZ`).
pub fn name(dn: &str) -> PkiResult<Name> {
    Name::from_str(dn).map_err(pe("distinguished name"))
}

/// The DER `CertReqInfo` to be signed for a PKCS#10 request.
pub fn csr_info(subject: &Name, spki: SubjectPublicKeyInfoOwned) -> PkiResult<CertReqInfo> {
    Ok(CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: subject.clone(),
        public_key: spki,
        attributes: Default::default(),
    })
}

/// Assembles the signed request.
pub fn csr_assemble(info: CertReqInfo, alg: Alg, sig: &[u8]) -> PkiResult<Vec<u8>> {
    CertReq {
        info,
        algorithm: signature_algorithm(alg),
        signature: BitString::from_bytes(sig).map_err(pe("signature"))?,
    }
    .to_der()
    .map_err(pe("CSR"))
}

/// Parses a request and checks its self-signature (proof of possession).
pub fn csr_verify(der: &[u8]) -> PkiResult<CertReq> {
    let req = CertReq::from_der(der).map_err(pe("PKCS#10 request"))?;
    let tbs = req.info.to_der().map_err(pe("request info"))?;
    let sig = req
        .signature
        .as_bytes()
        .ok_or_else(|| PkiError("signature has unused bits".into()))?;
    verify(&req.info.public_key, &tbs, sig)
        .map_err(|e| PkiError(format!("request signature: {e}")))?;
    Ok(req)
}

/// UTCTime from Unix seconds.
pub fn time(unix: u64) -> PkiResult<Time> {
    Ok(Time::UtcTime(
        UtcTime::from_unix_duration(Duration::from_secs(unix)).map_err(pe("time"))?,
    ))
}

/// What a certificate says, for the configurator listing.
#[derive(Debug, Clone)]
pub struct CertSummary {
    /// Subject DN text.
    pub subject: String,
    /// Issuer DN text.
    pub issuer: String,
    /// Serial, hex.
    pub serial: String,
    /// notBefore, Unix seconds.
    pub not_before: u64,
    /// notAfter, Unix seconds.
    pub not_after: u64,
    /// Key algorithm.
    pub alg: Alg,
    /// The SPKI.
    pub spki: SubjectPublicKeyInfoOwned,
}

fn unix_of(t: &Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Reads a DER certificate.
pub fn summary(der: &[u8]) -> PkiResult<CertSummary> {
    let c = Certificate::from_der(der).map_err(pe("certificate"))?;
    let t = &c.tbs_certificate;
    Ok(CertSummary {
        subject: t.subject.to_string(),
        issuer: t.issuer.to_string(),
        serial: hex::encode(t.serial_number.as_bytes()),
        not_before: unix_of(&t.validity.not_before),
        not_after: unix_of(&t.validity.not_after),
        alg: alg_of_spki(&t.subject_public_key_info)?,
        spki: t.subject_public_key_info.clone(),
    })
}

/// Parts of a certificate the token's certificate object repeats.
pub fn cert_object_fields(der: &[u8]) -> PkiResult<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let c = Certificate::from_der(der).map_err(pe("certificate"))?;
    let t = &c.tbs_certificate;
    Ok((
        t.subject.to_der().map_err(pe("subject"))?,
        t.issuer.to_der().map_err(pe("issuer"))?,
        t.serial_number.to_der().map_err(pe("serial"))?,
    ))
}

/// A to-be-signed certificate.
#[allow(clippy::too_many_arguments)]
pub fn tbs(
    serial: &[u8],
    sig_alg: Alg,
    issuer: &Name,
    subject: &Name,
    spki: SubjectPublicKeyInfoOwned,
    not_before: u64,
    not_after: u64,
    ca: bool,
) -> PkiResult<TbsCertificate> {
    let mut exts: Vec<Extension> = Vec::new();
    let bc = BasicConstraints {
        ca,
        path_len_constraint: None,
    };
    exts.push(
        bc.to_extension(subject, &exts)
            .map_err(pe("basicConstraints"))?,
    );
    let ku = if ca {
        KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature)
    } else {
        KeyUsage(
            KeyUsages::DigitalSignature | KeyUsages::NonRepudiation | KeyUsages::KeyEncipherment,
        )
    };
    exts.push(ku.to_extension(subject, &exts).map_err(pe("keyUsage"))?);
    Ok(TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(serial).map_err(pe("serial"))?,
        signature: signature_algorithm(sig_alg),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: time(not_before)?,
            not_after: time(not_after)?,
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    })
}

/// Assembles a signed certificate.
pub fn cert_assemble(tbs: TbsCertificate, sig: &[u8]) -> PkiResult<Vec<u8>> {
    let alg = tbs.signature.clone();
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(sig).map_err(pe("signature"))?,
    }
    .to_der()
    .map_err(pe("certificate"))
}

/// Checks a certificate's signature with the issuer's SPKI.
pub fn cert_verify(der: &[u8], issuer: &SubjectPublicKeyInfoOwned) -> PkiResult<()> {
    let c = Certificate::from_der(der).map_err(pe("certificate"))?;
    let tbs = c.tbs_certificate.to_der().map_err(pe("tbs"))?;
    let sig = c
        .signature
        .as_bytes()
        .ok_or_else(|| PkiError("signature has unused bits".into()))?;
    verify(issuer, &tbs, sig)
}

/// PEM of a DER certificate.
pub fn cert_pem(der: &[u8]) -> String {
    use der::pem::LineEnding;
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, der).unwrap_or_default()
}
