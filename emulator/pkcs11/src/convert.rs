//! C structures ↔ the core's owned types: templates, mechanisms, and the
//! `C_GetAttributeValue` write-back. The core never sees a C pointer.

use tokenemu_core::api::AttrLookup;
use tokenemu_core::ck::*;
use tokenemu_core::mechanism::params::{param_shape, MechParam, Mechanism, ParamShape};
use tokenemu_core::object::attribute::{Attribute, Template};
use tokenemu_core::Error;

use crate::ptr::{self, MAX_TEMPLATE_LEN, MAX_VALUE_LEN};

type Result<T> = std::result::Result<T, Error>;

/// Copies a caller's `CK_ATTRIBUTE[count]`. `pValue` NULL with length 0 is an
/// empty value; NULL with a length → `CKR_ARGUMENTS_BAD`; more than
/// [`MAX_TEMPLATE_LEN`] attributes or a value above [`MAX_VALUE_LEN`] →
/// `CKR_ARGUMENTS_BAD`.
///
/// # Safety
/// `p` is NULL (then `count` must be 0) or points to `count` attributes whose
/// `pValue` buffers hold `ulValueLen` readable bytes.
pub unsafe fn template(p: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<Template> {
    // SAFETY: forwarded contract.
    let attrs = unsafe { ptr::slice(p, count, MAX_TEMPLATE_LEN) }?;
    attrs
        .iter()
        .map(|a| {
            // SAFETY: the caller guarantees pValue holds ulValueLen bytes.
            let v = unsafe { ptr::slice(a.pValue as *const u8, a.ulValueLen, MAX_VALUE_LEN) }?;
            Ok(Attribute {
                ty: a.type_,
                value: v.to_vec(),
            })
        })
        .collect()
}

/// Copies a caller's `CK_MECHANISM` and reads its parameter in the shape
/// [`param_shape`] names. A wrong parameter size or a parameter where none is
/// taken → `CKR_MECHANISM_PARAM_INVALID`.
///
/// # Safety
/// `p` is NULL or points to a `CK_MECHANISM` whose `pParameter` holds
/// `ulParameterLen` readable bytes.
pub unsafe fn mechanism(p: *const CK_MECHANISM) -> Result<Mechanism> {
    // SAFETY: forwarded contract.
    let m = unsafe { ptr::read(p) }?;
    let len = ptr::to_usize(m.ulParameterLen).map_err(|_| param_err("length"))?;
    let param = m.pParameter as *const u8;
    let param = match param_shape(m.mechanism) {
        ParamShape::None if len == 0 => MechParam::None,
        ParamShape::None => return Err(param_err("this mechanism takes no parameter")),
        // SAFETY: the caller guarantees pParameter holds ulParameterLen bytes.
        ParamShape::Bytes => match unsafe { param_bytes(param, m.ulParameterLen) }? {
            [] => MechParam::None,
            b => MechParam::Bytes(b.to_vec()),
        },
        ParamShape::RsaPss => {
            // SAFETY: as above; the size is checked against the struct.
            let p: CK_RSA_PKCS_PSS_PARAMS = unsafe { param_struct(param, len) }?;
            MechParam::RsaPss {
                hash: p.hashAlg,
                mgf: p.mgf,
                salt_len: p.sLen,
            }
        }
        ParamShape::RsaOaep => {
            // SAFETY: as above.
            let p: CK_RSA_PKCS_OAEP_PARAMS = unsafe { param_struct(param, len) }?;
            // SAFETY: pSourceData holds ulSourceDataLen bytes (caller's contract).
            let label = unsafe { param_bytes(p.pSourceData as *const u8, p.ulSourceDataLen) }?;
            MechParam::RsaOaep {
                hash: p.hashAlg,
                mgf: p.mgf,
                source: p.source,
                source_data: label.to_vec(),
            }
        }
        ParamShape::AesCtr => {
            // SAFETY: as above.
            let p: CK_AES_CTR_PARAMS = unsafe { param_struct(param, len) }?;
            MechParam::AesCtr {
                counter_bits: p.ulCounterBits,
                counter_block: p.cb,
            }
        }
        // SAFETY: as above.
        ParamShape::Gcm => unsafe { gcm_params(param, len) }?,
        ParamShape::MacLength => {
            // SAFETY: as above.
            let n: CK_MAC_GENERAL_PARAMS = unsafe { param_struct(param, len) }?;
            MechParam::MacLength(n)
        }
        ParamShape::Ecdh1 => {
            // SAFETY: as above.
            let p: CK_ECDH1_DERIVE_PARAMS = unsafe { param_struct(param, len) }?;
            // SAFETY: the struct's pointers hold their lengths (caller's contract).
            let (shared, public) = unsafe {
                (
                    param_bytes(p.pSharedData, p.ulSharedDataLen)?,
                    param_bytes(p.pPublicData, p.ulPublicDataLen)?,
                )
            };
            MechParam::Ecdh1 {
                kdf: p.kdf,
                shared_data: shared.to_vec(),
                public_data: public.to_vec(),
            }
        }
    };
    Ok(Mechanism {
        mech: m.mechanism,
        param,
    })
}

/// v2.40's `CK_GCM_PARAMS`, which has no `ulIvBits`: still what many
/// clients built against older headers pass, told apart by its size.
#[repr(C)]
#[derive(Clone, Copy)]
struct GcmParamsV240 {
    p_iv: *mut CK_BYTE,
    ul_iv_len: CK_ULONG,
    p_aad: *mut CK_BYTE,
    ul_aad_len: CK_ULONG,
    ul_tag_bits: CK_ULONG,
}

/// Reads `CK_GCM_PARAMS` in either layout and copies the IV and AAD.
///
/// # Safety
/// `p` is NULL or holds `len` readable bytes; the IV and AAD pointers inside
/// hold their lengths.
unsafe fn gcm_params(p: *const u8, len: usize) -> Result<MechParam> {
    let (iv, iv_len, aad, aad_len, tag_bits) = if len == std::mem::size_of::<CK_GCM_PARAMS>() {
        // SAFETY: forwarded contract; the size matches the struct.
        let g: CK_GCM_PARAMS = unsafe { param_struct(p, len) }?;
        (g.pIv, g.ulIvLen, g.pAAD, g.ulAADLen, g.ulTagBits)
    } else {
        // SAFETY: as above; param_struct refuses any other size.
        let g: GcmParamsV240 = unsafe { param_struct(p, len) }?;
        (g.p_iv, g.ul_iv_len, g.p_aad, g.ul_aad_len, g.ul_tag_bits)
    };
    Ok(MechParam::Gcm {
        // SAFETY: the caller's struct promises these buffers and lengths.
        iv: unsafe { param_bytes(iv, iv_len) }?.to_vec(),
        // SAFETY: as above.
        aad: unsafe { param_bytes(aad, aad_len) }?.to_vec(),
        tag_bits,
    })
}

fn param_err(what: &'static str) -> Error {
    Error::MechanismParamInvalid(what)
}

/// # Safety
/// `p` is NULL or holds `len` readable bytes.
unsafe fn param_bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    // SAFETY: forwarded contract.
    unsafe { ptr::slice(p, len, MAX_VALUE_LEN) }.map_err(|_| param_err("bad parameter buffer"))
}

/// # Safety
/// `p` is NULL or holds `len` readable bytes.
unsafe fn param_struct<T: Copy>(p: *const u8, len: usize) -> Result<T> {
    if p.is_null() || len != std::mem::size_of::<T>() {
        return Err(param_err("parameter size does not match its struct"));
    }
    // SAFETY: p holds exactly size_of::<T>() bytes; read_unaligned copes with
    // any alignment; T is a plain C struct (integers and pointers), valid for
    // any bit pattern.
    Ok(unsafe { (p as *const T).read_unaligned() })
}

/// Reads the `type` fields of a `C_GetAttributeValue` template and returns a
/// copy of the headers (so no reference into caller memory outlives this
/// call while we write back through raw pointers).
///
/// # Safety
/// As for [`template`] (values are not read).
pub unsafe fn attribute_headers(
    p: *const CK_ATTRIBUTE,
    count: CK_ULONG,
) -> Result<Vec<CK_ATTRIBUTE>> {
    // SAFETY: forwarded contract.
    Ok(unsafe { ptr::slice(p, count, MAX_TEMPLATE_LEN) }?.to_vec())
}

/// Writes the core's answers back into the caller's template, one per
/// attribute, and returns the combined result.
///
/// Per attribute (PKCS#11 3.0 §5.7.5, C_GetAttributeValue rules 1–5):
/// - `Sensitive` → `ulValueLen = CK_UNAVAILABLE_INFORMATION`;
/// - `Invalid` → `ulValueLen = CK_UNAVAILABLE_INFORMATION`;
/// - `pValue` NULL → `ulValueLen` = the value's length;
/// - buffer too small → `ulValueLen = CK_UNAVAILABLE_INFORMATION`;
/// - otherwise copy the value and set `ulValueLen`.
///
/// All attributes are processed, then one error is returned. The spec allows
/// any of the applicable codes; ours is fixed, in this priority:
/// `CKR_ATTRIBUTE_SENSITIVE` > `CKR_ATTRIBUTE_TYPE_INVALID` >
/// `CKR_BUFFER_TOO_SMALL` (the caller's own mistake, the buffer, comes last,
/// so a retry with bigger buffers still sees the more fundamental problem).
///
/// # Safety
/// `p` points to `headers.len()` writable attributes (the same array the
/// headers were read from), each non-NULL `pValue` to `ulValueLen` writable
/// bytes.
pub unsafe fn write_attributes(
    found: Vec<AttrLookup>,
    headers: &[CK_ATTRIBUTE],
    p: *mut CK_ATTRIBUTE,
) -> Result<()> {
    if found.len() != headers.len() {
        return Err(Error::General(
            "core answered a different number of attributes".into(),
        ));
    }
    let (mut sensitive, mut invalid, mut small) = (None, None, None);
    for (i, (answer, h)) in found.into_iter().zip(headers).enumerate() {
        let len = match answer {
            AttrLookup::Sensitive => {
                sensitive.get_or_insert(h.type_);
                CK_UNAVAILABLE_INFORMATION
            }
            AttrLookup::Invalid => {
                invalid.get_or_insert(h.type_);
                CK_UNAVAILABLE_INFORMATION
            }
            AttrLookup::Value(v) if h.pValue.is_null() => ptr::to_ulong(v.len())?,
            AttrLookup::Value(v) if ptr::to_usize(h.ulValueLen).unwrap_or(usize::MAX) < v.len() => {
                small.get_or_insert(v.len());
                CK_UNAVAILABLE_INFORMATION
            }
            AttrLookup::Value(v) => {
                // SAFETY: pValue is non-NULL with ulValueLen ≥ v.len() bytes.
                unsafe { ptr::copy_out(&v, h.pValue as *mut u8) };
                ptr::to_ulong(v.len())?
            }
        };
        // SAFETY: i < headers.len() attributes are writable at p; the field
        // is written through a raw place, no reference is formed.
        unsafe { std::ptr::addr_of_mut!((*p.add(i)).ulValueLen).write_unaligned(len) };
    }
    match (sensitive, invalid, small) {
        (Some(t), _, _) => Err(Error::AttributeSensitive(t)),
        (None, Some(t), _) => Err(Error::AttributeTypeInvalid(t)),
        (None, None, Some(n)) => Err(Error::BufferTooSmall(n)),
        (None, None, None) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: CK_ATTRIBUTE_TYPE, buf: &mut [u8]) -> CK_ATTRIBUTE {
        CK_ATTRIBUTE {
            type_: ty,
            pValue: buf.as_mut_ptr().cast(),
            ulValueLen: buf.len() as CK_ULONG,
        }
    }

    #[test]
    fn template_copies_values_and_checks_nulls() {
        let mut label = *b"abc";
        let t = [
            attr(CKA_LABEL, &mut label),
            CK_ATTRIBUTE {
                type_: CKA_ID,
                pValue: std::ptr::null_mut(),
                ulValueLen: 0,
            },
        ];
        // SAFETY: t and its buffers are valid.
        let got = unsafe { template(t.as_ptr(), 2) }.unwrap();
        assert_eq!(got[0].value, b"abc");
        assert!(got[1].value.is_empty());
        let bad = [CK_ATTRIBUTE {
            type_: CKA_ID,
            pValue: std::ptr::null_mut(),
            ulValueLen: 4,
        }];
        assert!(matches!(
            // SAFETY: NULL with a length is rejected before reading.
            unsafe { template(bad.as_ptr(), 1) },
            Err(Error::ArgumentsBad(_))
        ));
        // SAFETY: rejected on count before reading.
        let r = unsafe { template(t.as_ptr(), (MAX_TEMPLATE_LEN + 1) as CK_ULONG) };
        assert!(matches!(r, Err(Error::ArgumentsBad(_))));
    }

    #[test]
    fn mechanism_params_are_size_checked() {
        let mut pss = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            sLen: 32,
        };
        let mut m = CK_MECHANISM {
            mechanism: CKM_SHA256_RSA_PKCS_PSS,
            pParameter: (&mut pss as *mut CK_RSA_PKCS_PSS_PARAMS).cast(),
            ulParameterLen: std::mem::size_of::<CK_RSA_PKCS_PSS_PARAMS>() as CK_ULONG,
        };
        // SAFETY: m and its parameter are valid.
        let got = unsafe { mechanism(&m) }.unwrap();
        assert_eq!(
            got.param,
            MechParam::RsaPss {
                hash: CKM_SHA256,
                mgf: CKG_MGF1_SHA256,
                salt_len: 32
            }
        );
        m.ulParameterLen -= 1;
        assert!(matches!(
            // SAFETY: as above (shorter length).
            unsafe { mechanism(&m) },
            Err(Error::MechanismParamInvalid(_))
        ));
        m.mechanism = CKM_SHA256;
        assert!(matches!(
            // SAFETY: a parameterless mechanism with a parameter is rejected unread.
            unsafe { mechanism(&m) },
            Err(Error::MechanismParamInvalid(_))
        ));
        m.pParameter = std::ptr::null_mut();
        m.ulParameterLen = 0;
        assert_eq!(
            // SAFETY: no parameter.
            unsafe { mechanism(&m) }.unwrap(),
            Mechanism::new(CKM_SHA256)
        );
        assert!(matches!(
            // SAFETY: NULL mechanism is rejected.
            unsafe { mechanism(std::ptr::null()) },
            Err(Error::ArgumentsBad(_))
        ));
    }

    #[test]
    fn write_back_processes_every_attribute() {
        let (mut a, mut b, mut c, mut d) = ([0u8; 8], [0u8; 1], [0u8; 4], [0u8; 2]);
        let mut t = [
            attr(CKA_LABEL, &mut a),
            attr(CKA_ID, &mut b),
            attr(CKA_VALUE, &mut c),
            CK_ATTRIBUTE {
                type_: CKA_SUBJECT,
                pValue: std::ptr::null_mut(),
                ulValueLen: 0,
            },
            attr(CKA_PRIVATE_EXPONENT, &mut d),
        ];
        let found = vec![
            AttrLookup::Value(b"label".to_vec()),
            AttrLookup::Value(vec![1, 2]),
            AttrLookup::Invalid,
            AttrLookup::Value(vec![0; 9]),
            AttrLookup::Sensitive,
        ];
        let headers = t.to_vec();
        // SAFETY: t and its buffers are valid and writable.
        let r = unsafe { write_attributes(found, &headers, t.as_mut_ptr()) };
        assert!(matches!(
            r,
            Err(Error::AttributeSensitive(CKA_PRIVATE_EXPONENT))
        ));
        assert_eq!(t[0].ulValueLen, 5);
        assert_eq!(&a[..5], b"label");
        assert_eq!(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
        assert_eq!(t[3].ulValueLen, 9);
        assert_eq!(t[4].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    }
}
