//! String rules shared by every dialect: lengths in Unicode characters, control characters,
//! email addresses.

/// A control character docs/API.md §4a refuses: U+0000..U+001F and U+007F. When `multiline`,
/// `\n`, `\r` and `\t` are allowed.
pub fn has_forbidden_control(s: &str, multiline: bool) -> bool {
    s.chars().any(|c| {
        let control = c <= '\u{1f}' || c == '\u{7f}';
        control && !(multiline && matches!(c, '\n' | '\r' | '\t'))
    })
}

/// A JSON Schema `pattern` admitting exactly the strings [`has_forbidden_control`] lets
/// through, for the API description and the stored-item schemas.
pub fn control_free_pattern(multiline: bool) -> &'static str {
    if multiline {
        "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$"
    } else {
        "^[^\\u0000-\\u001F\\u007F]*$"
    }
}

/// The number of Unicode scalar values (what docs/API.md calls characters).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// A "valid email address" as the WHATWG HTML standard defines it (the rule browsers apply
/// to `<input type=email>`): `local@domain`, the local part of atext characters and dots, the
/// domain of dot-separated labels of letters, digits and inner hyphens, each at most 63
/// characters. Internationalised addresses are refused; the rule is documented in
/// docs/DECISIONS.md.
pub fn is_valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.is_empty() {
        return false;
    }
    let local_ok = local
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    local_ok && domain.split('.').all(is_domain_label)
}

fn is_domain_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for ok in [
            "a@b",
            "first.last@example.com",
            "x+tag@sub.example.co.uk",
            "o'neil@example.org",
        ] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@@b.com",
            "a@b..com",
            "a@-b.com",
            "a@b-.com",
            "a b@c.com",
            "a@b_c.com",
            "jörg@example.com",
            "a@b.com\n",
        ] {
            assert!(!is_valid_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn control_characters() {
        assert!(has_forbidden_control("a\u{0}b", false));
        assert!(has_forbidden_control("a\u{7f}", true));
        assert!(has_forbidden_control("a\nb", false));
        assert!(!has_forbidden_control("a\nb\r\tc", true));
        assert!(has_forbidden_control("a\u{1b}b", true));
        assert!(!has_forbidden_control("Zoë ✓ \u{80}", false));
    }

    #[test]
    fn lengths_count_characters() {
        assert_eq!(char_len("Zoë"), 3);
        assert_eq!(char_len("😀😀"), 2);
    }
}
