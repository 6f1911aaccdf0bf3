//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header-06): a client-chosen key makes
//! a retried PATCH answer what the first one answered, without writing again.
//!
//! A key is scoped to the customer and the authenticated principal. Its record lives in the
//! persons table beside the customer's persons (see [`crate::table`]), so the person's update and the record of its answer are written by one `TransactWriteItems`.
//! The record's life: claimed (`running`, locked for [`LOCK`]) before the request is carried
//! out; `done` with the answer, written in the same transaction as the update (or alone, for a
//! recorded refusal); `released` when the request failed in a way worth retrying (5xx, 503).
//! It expires through the table's TTL attribute after [`RETENTION`]; a record past its
//! expiry is treated as absent before DynamoDB deletes it.

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};

use crate::engine::{Op, Patch, Target, Value};
use crate::store::{Record, Stored};
use crate::table::person::{UPDATED_AT, UPDATED_BY, VERSION, WRITE_ID};
use crate::table::{self, CustomerId};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header marking a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key's answer is kept and replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a claim blocks the key before another request may take it over: longer than the
/// function's timeout (10 s), so a live request is never overtaken.
pub const LOCK: Duration = Duration::from_secs(15);
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

/// Where a key's record is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey {
    pub partition_key: String,
    pub sort_key: String,
}

impl RecordKey {
    /// The record of `key` sent by `principal` for `customer`.
    pub fn new(customer: CustomerId, principal: &str, key: &IdempotencyKey) -> RecordKey {
        let mut hasher = Sha256::new();
        hasher.update((principal.len() as u64).to_be_bytes());
        hasher.update(principal.as_bytes());
        hasher.update(key.0.as_bytes());
        RecordKey {
            partition_key: table::customer_key(customer),
            sort_key: table::idempotency_key(&hex(&hasher.finalize())),
        }
    }
}

/// An answer as recorded and replayed: status, the headers that describe it, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

/// The headers worth replaying.
const RECORDED_HEADERS: &[&str] = &[
    "content-type",
    "etag",
    "allow",
    "accept-patch",
    "www-authenticate",
];

impl RecordedAnswer {
    pub fn from_response(response: &Response<Body>) -> RecordedAnswer {
        let headers = RECORDED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = response.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect();
        let body = match response.body() {
            Body::Text(text) => Some(text.clone()),
            Body::Binary(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            _ => None,
        };
        RecordedAnswer {
            status: response.status().as_u16(),
            headers,
            body,
        }
    }

    /// The answer again, marked as a replay.
    pub fn replay(&self) -> Response<Body> {
        let body = match &self.body {
            Some(text) => Body::Text(text.clone()),
            None => Body::Empty,
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        response
    }
}

/// Whether an answer is kept for replay: every answer to the request as the fingerprint
/// knows it (successes, and the refusals it will always get: 4xx), not failures worth retrying
/// (5xx), and not a 415: it follows from `Content-Type`, which the fingerprint leaves out, so
/// the corrected request under the same key is carried out instead of refused again.
pub fn is_recorded(status: u16) -> bool {
    (200..500).contains(&status) && status != 415
}

/// The record as it will be after `patch` is applied to `old` with these stamps: what the
/// update's `ALL_NEW` would return (a transaction returns no values).
pub fn apply_patch(
    old: &Record,
    patch: &Patch,
    updated_at: &str,
    updated_by: &str,
    write_id: &str,
    version: u64,
) -> Record {
    let mut record = old.clone();
    for change in patch.changes() {
        match (&change.target, &change.op) {
            (Target::Attribute(name), Op::Set(value)) => {
                record.insert((*name).to_owned(), Stored::Value(value.clone()));
            }
            (Target::Attribute(name), Op::Remove) => {
                record.remove(*name);
            }
            (Target::MapEntry { map, key }, op) => {
                let entry = record
                    .entry((*map).to_owned())
                    .or_insert_with(|| Stored::Map(BTreeMap::new()));
                if !matches!(entry, Stored::Map(_)) {
                    *entry = Stored::Map(BTreeMap::new());
                }
                if let Stored::Map(entries) = entry {
                    match op {
                        Op::Set(value) => {
                            entries.insert(key.to_string(), Stored::Value(value.clone()));
                        }
                        Op::Remove => {
                            entries.remove(&key.to_string());
                        }
                    }
                }
            }
        }
    }
    let text = |s: &str| Stored::Value(Value::S(s.to_owned()));
    record.insert(UPDATED_AT.into(), text(updated_at));
    record.insert(UPDATED_BY.into(), text(updated_by));
    record.insert(WRITE_ID.into(), text(write_id));
    record.insert(VERSION.into(), Stored::Value(Value::N(version.to_string())));
    record
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn records_are_scoped_to_customer_and_principal() {
        let key = IdempotencyKey("k".into());
        let a = RecordKey::new(CustomerId(1), "client-a", &key);
        assert_eq!(a, RecordKey::new(CustomerId(1), "client-a", &key));
        assert_ne!(a, RecordKey::new(CustomerId(1), "client-b", &key));
        assert_ne!(a, RecordKey::new(CustomerId(2), "client-a", &key));
        let prefix = table::idempotency_key_prefix();
        assert!(a.sort_key.starts_with(prefix));
        assert!(!a.sort_key.contains('k') || a.sort_key.len() == prefix.len() + 64);
        assert_eq!(key.log_hash().len(), 16);
    }

    #[test]
    fn answers_replay_with_the_marker() {
        let mut response = Response::new(Body::Text("{\"a\":1}".into()));
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert("etag", HeaderValue::from_static("\"2\""));
        response
            .headers_mut()
            .insert("x-other", HeaderValue::from_static("no"));
        let recorded = RecordedAnswer::from_response(&response);
        let replayed = recorded.replay();
        assert_eq!(replayed.status(), StatusCode::OK);
        assert_eq!(replayed.headers()["etag"], "\"2\"");
        assert_eq!(replayed.headers()[REPLAYED_HEADER], "true");
        assert!(replayed.headers().get("x-other").is_none());
        assert!(is_recorded(204) && is_recorded(422) && is_recorded(412));
        assert!(!is_recorded(503) && !is_recorded(500));
    }
}
