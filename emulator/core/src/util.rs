//! Small helpers for the fixed-size, blank-padded strings of PKCS#11 info structs.

/// `s` as a blank-padded, truncated fixed-size field (UTF-8 cut at a char boundary).
pub fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&s.as_bytes()[..end]);
    out
}

/// A blank-padded field back as a trimmed string.
pub fn unpadded(field: &[u8]) -> String {
    String::from_utf8_lossy(field)
        .trim_end_matches([' ', '\0'])
        .to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn padding_truncates_and_pads() {
        let f: [u8; 4] = super::padded("ab");
        assert_eq!(&f, b"ab  ");
        let f: [u8; 3] = super::padded("abcdef");
        assert_eq!(&f, b"abc");
        let f: [u8; 3] = super::padded("аб"); // two 2-byte chars: cut at a boundary
        assert_eq!(&f, &[0xD0, 0xB0, b' ']);
        assert_eq!(super::unpadded(b"ab  "), "ab");
    }
}
