//! An `Idempotency-Key` header parsed, the entry key it names (scoped to the customer and the
//! authenticated principal), and the fingerprint of "the same request". What the entry's
//! states mean, and when each is entered, is stated once in [`crate::http::idempotency`].

use lambda_http::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::store::EntryKey;
use crate::table::CustomerId;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The longest key accepted, in characters.
pub const MAX_KEY_CHARS: usize = 255;

const SYNTAX: &str = "Idempotency-Key must be a quoted string of 1 to 255 printable ASCII characters, such as \"8e03978e-40d5-43e8-bc93-6894a57f9324\", sent once.";

/// A client's idempotency key, as sent inside the quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A short hash of the key for logs: keys may hold anything a client chose.
    pub fn log_hash(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        hex(digest.get(..8).unwrap_or_default())
    }
}

/// The `Idempotency-Key` header: absent, or one RFC 8941 string (`"…"`, with `\"` and `\\`
/// escapes) of 1 to [`MAX_KEY_CHARS`] printable ASCII characters.
pub fn parse_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, &'static str> {
    let mut values = headers.get_all(HEADER).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(SYNTAX),
    };
    let text = value.to_str().map_err(|_| SYNTAX)?.trim_matches(' ');
    let inner = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .ok_or(SYNTAX)?;
    let mut key = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('"' | '\\')) => key.push(escaped),
                _ => return Err(SYNTAX),
            },
            '"' => return Err(SYNTAX),
            ' '..='~' => key.push(c),
            _ => return Err(SYNTAX),
        }
    }
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS {
        return Err(SYNTAX);
    }
    Ok(Some(IdempotencyKey(key)))
}

/// What identifies "the same request": method, path, `If-Match` and the body's bytes.
pub fn fingerprint(method: &str, path: &str, if_match: &[&[u8]], body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update((if_match.len() as u64).to_be_bytes());
    for value in if_match {
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    }
    hasher.update((body.len() as u64).to_be_bytes());
    hasher.update(body);
    hex(&hasher.finalize())
}

/// Where the entry of `key`, sent by `principal` for `customer`, is stored: keys are scoped to
/// the principal, so two clients' equal keys never meet.
pub fn entry_key(customer: CustomerId, principal: &str, key: &IdempotencyKey) -> EntryKey {
    let mut hasher = Sha256::new();
    hasher.update((principal.len() as u64).to_be_bytes());
    hasher.update(principal.as_bytes());
    hasher.update(key.0.as_bytes());
    EntryKey::new(customer, &hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(HEADER, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn keys_are_structured_field_strings() {
        assert_eq!(parse_key(&headers(&[])), Ok(None));
        let key = |v: &str| parse_key(&headers(&[v])).map(|k| k.map(|k| k.0));
        assert_eq!(key("\"abc\""), Ok(Some("abc".into())));
        assert_eq!(key(" \"a b\" "), Ok(Some("a b".into())));
        assert_eq!(key(r#""a\"b\\c""#), Ok(Some("a\"b\\c".into())));
        assert_eq!(
            key(&format!("\"{}\"", "k".repeat(255))).map(|k| k.map(|k| k.len())),
            Ok(Some(255))
        );
        for bad in [
            "abc",
            "\"\"",
            "\"abc",
            "abc\"",
            r#""a\b""#,
            r#""a"b""#,
            "\"tab\there\"",
        ] {
            assert!(parse_key(&headers(&[bad])).is_err(), "{bad:?}");
        }
        assert!(key(&format!("\"{}\"", "k".repeat(256))).is_err());
        assert!(parse_key(&headers(&["\"a\"", "\"a\""])).is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let base = fingerprint("PATCH", "/v1/persons/x", &[], b"{}");
        assert_eq!(base, fingerprint("PATCH", "/v1/persons/x", &[], b"{}"));
        assert_ne!(base, fingerprint("PATCH", "/v1/persons/y", &[], b"{}"));
        assert_ne!(
            base,
            fingerprint("PATCH", "/v1/persons/x", &[b"\"1\""], b"{}")
        );
        assert_ne!(base, fingerprint("PATCH", "/v1/persons/x", &[], b"{ }"));
        assert_ne!(base, fingerprint("POST", "/v1/persons/x", &[], b"{}"));
    }

    #[test]
    fn entries_are_scoped_to_customer_and_principal() {
        let key = IdempotencyKey("k".into());
        let a = entry_key(CustomerId(1), "client-a", &key);
        assert_eq!(a, entry_key(CustomerId(1), "client-a", &key));
        assert_ne!(a, entry_key(CustomerId(1), "client-b", &key));
        assert_ne!(a, entry_key(CustomerId(2), "client-a", &key));
        let prefix = crate::table::idempotency_key_prefix();
        assert!(a.sort_key.starts_with(prefix));
        assert!(!a.sort_key.contains('k') || a.sort_key.len() == prefix.len() + 64);
        assert_eq!(key.log_hash().len(), 16);
    }
}
