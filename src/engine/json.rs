//! A JSON document model that keeps object members in order and refuses duplicate keys.
//!
//! `serde_json::Value` silently keeps the last of two equal keys; the contract (§4a) makes a key
//! given twice, also when two keys differ only in ASCII case, a 400. Parsing into [`Json`] is
//! where that rule lives, at every depth, so later stages never see an ambiguous document.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A parsed JSON value; objects keep their members in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The JSON type name used in messages to callers ("must be a string, not a number").
    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Parses one JSON document. Errors carry serde_json's line and column, which tells the
/// caller where to look; they never echo the document itself.
pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    serde_json::from_slice(bytes)
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Number::from_f64(v)
            .map(Json::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        // Small objects (every real request body) compare in place; a hostile object with
        // thousands of keys switches to a set so the check stays linear.
        let mut seen: Option<HashSet<String>> = None;
        while let Some(key) = map.next_key::<String>()? {
            let duplicate = match seen.as_mut() {
                Some(set) => !set.insert(key.to_ascii_lowercase()),
                None => {
                    let dup = members.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key));
                    if !dup && members.len() >= 32 {
                        let mut set: HashSet<String> = members
                            .iter()
                            .map(|(k, _)| k.to_ascii_lowercase())
                            .collect();
                        set.insert(key.to_ascii_lowercase());
                        seen = Some(set);
                    }
                    dup
                }
            };
            if duplicate {
                return Err(de::Error::custom(format_args!(
                    "property \"{}\" is given more than once (names are matched case-insensitively)",
                    Printable(&key)
                )));
            }
            let value = map.next_value()?;
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

/// A property name as it may be echoed back in a message: at most 64 characters, control
/// characters escaped, so a hostile key can neither flood nor break a response.
pub struct Printable<'a>(pub &'a str);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX {
                return f.write_str("…");
            }
            if c.is_control() || c == '"' || c == '\\' {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_member_order() {
        let json = parse(br#"{"b":1,"a":[true,null,"x"]}"#).unwrap();
        let Json::Object(members) = json else {
            panic!("not an object")
        };
        assert_eq!(members[0].0, "b");
        assert_eq!(members[1].0, "a");
        assert_eq!(
            members[1].1,
            Json::Array(vec![Json::Bool(true), Json::Null, Json::String("x".into())])
        );
    }

    #[test]
    fn refuses_exact_duplicates() {
        let err = parse(br#"{"forename":"a","forename":"b"}"#).unwrap_err();
        assert!(err
            .to_string()
            .contains("\"forename\" is given more than once"));
    }

    #[test]
    fn refuses_duplicates_differing_in_case() {
        assert!(parse(br#"{"FirstName":"a","firstname":"b"}"#).is_err());
    }

    #[test]
    fn refuses_duplicates_in_nested_objects() {
        assert!(parse(br#"{"customFields":[{"definitionId":1,"DefinitionId":2}]}"#).is_err());
    }

    #[test]
    fn refuses_duplicates_in_large_objects() {
        let mut body = String::from("{");
        for i in 0..100 {
            body.push_str(&format!("\"k{i}\":0,"));
        }
        body.push_str("\"K7\":1}");
        assert!(parse(body.as_bytes()).is_err());
        let ok: String = format!(
            "{{{}}}",
            (0..100)
                .map(|i| format!("\"k{i}\":0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(parse(ok.as_bytes()).is_ok());
    }

    #[test]
    fn printable_escapes_and_truncates() {
        assert_eq!(Printable("a\"b\n").to_string(), "a\\\"b\\n");
        assert_eq!(Printable(&"x".repeat(100)).to_string().chars().count(), 65);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
