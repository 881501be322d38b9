//! Small helpers for the fixed-size, blank-padded strings of PKCS#11 info
//! structs, and for quoting user files in error messages.

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

/// The most characters of a user's text an error message quotes.
pub const EXCERPT_CHARS: usize = 120;

/// `s` as it may appear in an error message: at most [`EXCERPT_CHARS`]
/// characters, control characters escaped (`\u{0}`, `\n`), `…` where it
/// was cut. A configuration file may be anything, even 20 MB of binary
/// on one line; a message quotes a glimpse of it, never the whole.
pub fn excerpt(s: &str) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for c in s.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        shown += piece.chars().count();
        if shown > EXCERPT_CHARS {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

/// Reads a TOML file a user gave, as text: a file that is not UTF-8 (a
/// binary file given by mistake) gets a message saying so, not a parse error.
pub fn read_toml_text(path: &std::path::Path, what: &str) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "{what} {} is not a text file (invalid UTF-8 at byte {}); a TOML file is expected",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// A TOML error on one line: where it is (line, column), what is wrong, and
/// a short excerpt of the offending line, instead of `toml`'s own display,
/// which quotes the whole line however long it is.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let message = excerpt(&message);
    let Some(span) = e.span() else {
        return message;
    };
    let at = span.start.min(text.len());
    let at = (0..=at)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line_no = text[..line_start].matches('\n').count() + 1;
    let column = text[line_start..at].chars().count() + 1;
    // Start the excerpt a little before the error when the line is long.
    let skip = column.saturating_sub(EXCERPT_CHARS / 2 + 1);
    let from = text[line_start..line_end]
        .char_indices()
        .nth(skip)
        .map_or(line_end, |(i, _)| line_start + i);
    let lead = if skip > 0 { "…" } else { "" };
    format!(
        "line {line_no}, column {column}: {message} (at \"{lead}{}\")",
        excerpt(&text[from..line_end])
    )
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

    #[test]
    fn excerpts_are_short_and_printable() {
        assert_eq!(super::excerpt("slot = 1"), "slot = 1");
        let long = "x".repeat(10_000);
        let e = super::excerpt(&long);
        assert_eq!(e.chars().count(), super::EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
        assert_eq!(super::excerpt("a\0b\u{1b}"), "a\\u{0}b\\u{1b}");
    }

    #[test]
    fn toml_errors_name_the_place_and_quote_a_glimpse() {
        let text = format!("[[slot]]\nid = 1\nprofile = {}\n", "\0".repeat(1_000_000));
        let e = toml::from_str::<toml::Value>(&text).unwrap_err();
        let msg = super::toml_error(&text, &e);
        assert!(msg.starts_with("line 3, column 11: "), "{msg}");
        assert!(msg.len() < 400, "{} bytes: {msg}", msg.len());
        assert!(msg.contains("\\u{0}\\u{0}"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        // An error far into a long line shows the text around it.
        let text = format!("a = \"{}\" b", "y".repeat(500));
        let e = toml::from_str::<toml::Value>(&text).unwrap_err();
        let msg = super::toml_error(&text, &e);
        assert!(msg.contains("…y") && msg.contains("\" b"), "{msg}");
        assert!(msg.len() < 400, "{msg}");
    }
}
