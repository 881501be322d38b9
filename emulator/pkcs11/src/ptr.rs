//! Everything that touches caller memory: NULL-checked reads and writes,
//! `CK_ULONG` ↔ `usize`, slices from `(pointer, length)`, caps on what a caller
//! can make us allocate, and the two-call output-size protocol (PKCS#11 3.0
//! §5.2 "Conventions for functions returning output in a variable-length
//! buffer").
//!
//! Rules shared by every helper:
//! - a NULL pointer where a value is required → `CKR_ARGUMENTS_BAD`;
//! - `(NULL, 0)` is an empty slice, `(NULL, n > 0)` → `CKR_ARGUMENTS_BAD`;
//! - a misaligned typed pointer → `CKR_ARGUMENTS_BAD` (never UB);
//! - lengths above the caps below → `CKR_ARGUMENTS_BAD`.

use tokenemu_core::api::{OutSpec, Output};
use tokenemu_core::ck::*;
use tokenemu_core::Error;

/// Most attributes one template may carry.
pub const MAX_TEMPLATE_LEN: usize = 4096;
/// Largest single attribute value, mechanism parameter, PIN or data buffer
/// accepted from a caller (64 MiB). Nothing a caller passes makes us allocate
/// more than this per value.
pub const MAX_VALUE_LEN: usize = 64 << 20;
/// Most handles returned by one `C_FindObjects` call (a larger
/// `ulMaxObjectCount` is clamped: returning fewer handles is always legal).
pub const MAX_FIND_BATCH: usize = 65_536;

type Result<T> = std::result::Result<T, Error>;

fn bad(what: &'static str) -> Error {
    Error::ArgumentsBad(what)
}

/// A caller's `CK_ULONG` as `usize` (`CKR_ARGUMENTS_BAD` if it does not fit).
pub fn to_usize(v: CK_ULONG) -> Result<usize> {
    usize::try_from(v).map_err(|_| bad("length does not fit in usize"))
}

/// A length or count for the caller.
pub fn to_ulong(v: usize) -> Result<CK_ULONG> {
    CK_ULONG::try_from(v).map_err(|_| Error::General("length does not fit in CK_ULONG".into()))
}

/// Reads `*p`.
///
/// # Safety
/// `p` is NULL or points to a readable `T` (the caller's PKCS#11 contract).
pub unsafe fn read<T: Copy>(p: *const T) -> Result<T> {
    if p.is_null() {
        return Err(bad("NULL pointer"));
    }
    // SAFETY: non-NULL, and the caller guarantees a readable T; unaligned
    // reads are allowed so a misaligned struct from C is not UB.
    Ok(unsafe { p.read_unaligned() })
}

/// Reads `*p` if `p` is not NULL.
///
/// # Safety
/// As for [`read`].
pub unsafe fn read_opt<T: Copy>(p: *const T) -> Result<Option<T>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract, p is non-NULL.
    unsafe { read(p) }.map(Some)
}

/// Writes `*p = v`.
///
/// # Safety
/// `p` is NULL or points to writable memory for a `T`.
pub unsafe fn write<T>(p: *mut T, v: T) -> Result<()> {
    if p.is_null() {
        return Err(bad("NULL output pointer"));
    }
    // SAFETY: non-NULL and writable per the caller's contract; unaligned write
    // tolerates a misaligned output pointer.
    unsafe { p.write_unaligned(v) };
    Ok(())
}

/// Fails with `CKR_ARGUMENTS_BAD` if `p` is NULL (checked before any state
/// changes, so a call that would fail to report its result changes nothing).
pub fn non_null<T>(p: *const T) -> Result<()> {
    if p.is_null() {
        Err(bad("NULL output pointer"))
    } else {
        Ok(())
    }
}

/// Borrows `len` elements at `p`, at most `max` of them.
///
/// # Safety
/// If `len > 0`, `p` is NULL or points to `len` readable, initialised `T`s
/// that stay valid and unmodified for `'a`.
pub unsafe fn slice<'a, T>(p: *const T, len: CK_ULONG, max: usize) -> Result<&'a [T]> {
    let len = to_usize(len)?;
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(bad("NULL buffer with non-zero length"));
    }
    if len > max {
        return Err(bad("length above the emulator's limit"));
    }
    if !p.is_aligned() {
        return Err(bad("misaligned pointer"));
    }
    // SAFETY: p is non-NULL and aligned, len ≤ max keeps len * size_of::<T>()
    // far below isize::MAX, and the caller guarantees len readable elements.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows a caller's byte buffer (data, signature, PIN, seed …).
///
/// # Safety
/// As for [`slice`].
pub unsafe fn bytes<'a>(p: *const CK_BYTE, len: CK_ULONG) -> Result<&'a [u8]> {
    // SAFETY: forwarded contract.
    unsafe { slice(p, len, MAX_VALUE_LEN) }
}

/// Copies `src` to `dst`.
///
/// # Safety
/// `dst` points to at least `src.len()` writable bytes not overlapping `src`.
pub unsafe fn copy_out(src: &[u8], dst: *mut u8) {
    if src.is_empty() {
        return;
    }
    // SAFETY: the caller guarantees dst has room for src.len() bytes; src is
    // our own buffer so the two cannot overlap.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
}

/// What the caller's `(pOut, pulOutLen)` pair asks for: a length query if
/// `pOut` is NULL, otherwise a buffer of `*pulOutLen` bytes.
///
/// # Safety
/// `pul_len` is NULL or points to a readable `CK_ULONG`.
pub unsafe fn out_spec(p_out: *const CK_BYTE, pul_len: *const CK_ULONG) -> Result<OutSpec> {
    // SAFETY: forwarded contract.
    let cap = unsafe { read(pul_len) }?;
    if p_out.is_null() {
        Ok(OutSpec::Query)
    } else {
        // A capacity larger than usize can hold is still "large enough".
        Ok(OutSpec::Capacity(
            usize::try_from(cap).unwrap_or(usize::MAX),
        ))
    }
}

/// Delivers a core answer through the two-call protocol: `Output::Len(n)` →
/// `*pul_len = n`; `Output::Data(v)` → copy `v` to `p_out`, `*pul_len = len`.
///
/// # Safety
/// `pul_len` is a valid `CK_ULONG` pointer; if the answer is data, `p_out`
/// points to at least the capacity given to the core in [`out_spec`].
pub unsafe fn write_output(
    out: Output,
    spec: OutSpec,
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
) -> Result<()> {
    match out {
        // SAFETY: pul_len checked non-NULL by out_spec; forwarded contract.
        Output::Len(n) => unsafe { write(pul_len, to_ulong(n)?) },
        Output::Data(v) => {
            let fits = matches!(spec, OutSpec::Capacity(c) if v.len() <= c);
            if !fits || p_out.is_null() {
                // A core bug: never write past the caller's buffer.
                return Err(Error::General(format!(
                    "core returned {} bytes for {spec:?}",
                    v.len()
                )));
            }
            // SAFETY: p_out is non-NULL with room for the capacity, v fits it.
            unsafe { copy_out(&v, p_out) };
            // SAFETY: as above.
            unsafe { write(pul_len, to_ulong(v.len())?) }
        }
    }
}

/// Runs a core call that produces output under the two-call protocol: reads
/// the caller's [`OutSpec`], calls `f`, and writes the answer. On
/// `Error::BufferTooSmall(n)` it sets `*pul_len = n` and returns the error
/// (`CKR_BUFFER_TOO_SMALL`; the core keeps the operation active).
///
/// # Safety
/// `pul_len` is NULL or a valid `CK_ULONG` pointer; `p_out` is NULL or points
/// to `*pul_len` writable bytes.
pub unsafe fn with_output(
    p_out: *mut CK_BYTE,
    pul_len: *mut CK_ULONG,
    f: impl FnOnce(OutSpec) -> Result<Output>,
) -> Result<()> {
    // SAFETY: forwarded contract.
    let spec = unsafe { out_spec(p_out, pul_len) }?;
    match f(spec) {
        // SAFETY: forwarded contract; spec describes p_out.
        Ok(out) => unsafe { write_output(out, spec, p_out, pul_len) },
        Err(Error::BufferTooSmall(n)) => {
            // SAFETY: pul_len was read successfully above, so it is valid.
            unsafe { write(pul_len, to_ulong(n)?) }?;
            Err(Error::BufferTooSmall(n))
        }
        Err(e) => Err(e),
    }
}

/// The two-call protocol for lists of `CK_ULONG`-like items (slot ids,
/// mechanism types, interfaces): NULL list → count only; a list shorter than
/// needed → count + `CKR_BUFFER_TOO_SMALL`; else copy + count.
///
/// # Safety
/// `pul_count` is NULL or a valid `CK_ULONG` pointer; `p_list` is NULL or
/// points to `*pul_count` writable `T`s.
pub unsafe fn write_list<T: Copy>(
    items: &[T],
    p_list: *mut T,
    pul_count: *mut CK_ULONG,
) -> Result<()> {
    // SAFETY: forwarded contract.
    let cap = unsafe { read(pul_count) }?;
    let n = to_ulong(items.len())?;
    // SAFETY: forwarded contract; read above proved pul_count valid.
    unsafe { write(pul_count, n) }?;
    if p_list.is_null() {
        return Ok(());
    }
    if cap < n {
        return Err(Error::BufferTooSmall(items.len()));
    }
    for (i, item) in items.iter().enumerate() {
        // SAFETY: i < n ≤ cap elements are writable at p_list.
        unsafe { p_list.add(i).write_unaligned(*item) };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_follow_the_null_rules() {
        // SAFETY: NULL with length 0 is never dereferenced.
        assert!(unsafe { bytes(std::ptr::null(), 0) }.unwrap().is_empty());
        assert!(matches!(
            // SAFETY: NULL with a length is rejected before any dereference.
            unsafe { bytes(std::ptr::null(), 3) },
            Err(Error::ArgumentsBad(_))
        ));
        let buf = [1u8, 2, 3];
        // SAFETY: buf has 3 bytes.
        assert_eq!(unsafe { bytes(buf.as_ptr(), 3) }.unwrap(), &buf);
        let big = (MAX_VALUE_LEN + 1) as CK_ULONG;
        assert!(matches!(
            // SAFETY: rejected on length before any dereference.
            unsafe { bytes(buf.as_ptr(), big) },
            Err(Error::ArgumentsBad(_))
        ));
    }

    #[test]
    fn output_protocol() {
        let mut len: CK_ULONG = 0;
        // SAFETY: len is a valid CK_ULONG; p_out is NULL (query).
        let r = unsafe {
            with_output(std::ptr::null_mut(), &mut len, |s| {
                assert_eq!(s, OutSpec::Query);
                Ok(Output::Len(7))
            })
        };
        assert!(r.is_ok());
        assert_eq!(len, 7);
        let mut buf = [0u8; 4];
        len = 4;
        // SAFETY: buf has len bytes.
        let r = unsafe {
            with_output(buf.as_mut_ptr(), &mut len, |_| {
                Err(Error::BufferTooSmall(7))
            })
        };
        assert!(matches!(r, Err(Error::BufferTooSmall(7))));
        assert_eq!(len, 7);
        len = 4;
        // SAFETY: buf has len bytes.
        let r =
            unsafe { with_output(buf.as_mut_ptr(), &mut len, |_| Ok(Output::Data(vec![9, 8]))) };
        assert!(r.is_ok());
        assert_eq!((len, &buf[..2]), (2, &[9u8, 8][..]));
        // A core that overflows the capacity is caught.
        len = 1;
        // SAFETY: buf has at least len bytes; nothing is written on error.
        let r =
            unsafe { with_output(buf.as_mut_ptr(), &mut len, |_| Ok(Output::Data(vec![1, 2]))) };
        assert!(matches!(r, Err(Error::General(_))));
    }

    #[test]
    fn list_protocol() {
        let items = [5 as CK_ULONG, 6, 7];
        let mut n: CK_ULONG = 0;
        // SAFETY: n is valid; list is NULL.
        unsafe { write_list(&items, std::ptr::null_mut(), &mut n) }.unwrap();
        assert_eq!(n, 3);
        let mut out = [0 as CK_ULONG; 3];
        n = 2;
        // SAFETY: out has room for 3 ≥ n items.
        let r = unsafe { write_list(&items, out.as_mut_ptr(), &mut n) };
        assert!(matches!(r, Err(Error::BufferTooSmall(3))));
        assert_eq!(n, 3);
        // SAFETY: out has room for n items.
        unsafe { write_list(&items, out.as_mut_ptr(), &mut n) }.unwrap();
        assert_eq!(out, items);
    }
}
