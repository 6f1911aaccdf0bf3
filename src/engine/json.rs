//! A JSON document model that keeps object members in order and refuses duplicate keys.
//!
//! `serde_json::Value` silently keeps the last of two equal keys; docs/API.md (§4a) makes a key
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
    Number(JsonNumber),
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

/// A JSON number, and the integer its literal denotes exactly, if any.
///
/// serde_json reads a number with a fraction or exponent as an `f64`, which rounds:
/// `2147483646.9999999` becomes `2147483647.0`. Whether a number is a whole one is therefore
/// decided from its literal text (`5`, `5.0`, `5e0` and `0.5e1` are; `2147483646.9999999` is
/// not), never from the rounded value.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonNumber {
    value: Number,
    integer: Option<i64>,
}

impl JsonNumber {
    /// The number as serde_json reads it (an `f64` for fractions and exponents).
    pub fn value(&self) -> &Number {
        &self.value
    }

    /// The integer the literal denotes exactly, when it is a whole number within `i64`.
    pub fn integer(&self) -> Option<i64> {
        self.integer
    }
}

/// Parses one JSON document. Errors carry serde_json's line and column, which tells the
/// caller where to look; they never echo the document itself.
pub fn parse(bytes: &[u8]) -> Result<Json, serde_json::Error> {
    let mut json: Json = serde_json::from_slice(bytes)?;
    let mut literals = number_literals(bytes);
    attach_integers(&mut json, &mut literals);
    Ok(json)
}

/// The number literals of a (valid) JSON text, in document order.
fn number_literals(bytes: &[u8]) -> std::vec::IntoIter<&[u8]> {
    let mut literals = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|c| matches!(c, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                {
                    i += 1;
                }
                literals.push(bytes.get(start..i).unwrap_or_default());
            }
            _ => i += 1,
        }
    }
    literals.into_iter()
}

/// Gives every number of `json` (in document order) the integer of its literal.
fn attach_integers<'a>(json: &mut Json, literals: &mut impl Iterator<Item = &'a [u8]>) {
    match json {
        Json::Number(number) => {
            number.integer = literals.next().and_then(exact_integer);
        }
        Json::Array(items) => {
            for item in items {
                attach_integers(item, literals);
            }
        }
        Json::Object(members) => {
            for (_, value) in members {
                attach_integers(value, literals);
            }
        }
        Json::Null | Json::Bool(_) | Json::String(_) => {}
    }
}

/// The integer a JSON number literal denotes exactly, if it is a whole number within `i64`.
fn exact_integer(literal: &[u8]) -> Option<i64> {
    exact_integer_counted(literal, &mut 0)
}

/// The largest exponent magnitude told apart: past it, a non-zero mantissa is far out of
/// `i64` (or far below 1) and a zero one is zero, so the value no longer matters.
const EXPONENT_CAP: i64 = 1 << 40;

/// [`exact_integer`], adding the steps it takes to `steps`: one per byte of the literal and
/// one per zero the exponent appends (at most 19, the digits of `u64`), so the work is bounded
/// by the literal's length whatever its value.
fn exact_integer_counted(literal: &[u8], steps: &mut usize) -> Option<i64> {
    let (negative, unsigned) = match literal.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, literal),
    };
    let (mantissa, exponent) = match unsigned.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(at) => (
            unsigned.get(..at)?,
            exponent_of(unsigned.get(at + 1..)?, steps)?,
        ),
        None => (unsigned, 0),
    };
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (mantissa.get(..at)?, mantissa.get(at + 1..)?),
        None => (mantissa, &[][..]),
    };
    // Where the decimal point falls among the digits once the exponent is applied.
    let point = i64::try_from(whole.len()).ok()?.saturating_add(exponent);
    let mut value: u64 = 0;
    let mut index: i64 = 0;
    for &digit in whole.iter().chain(fraction) {
        *steps += 1;
        let d = digit.checked_sub(b'0').filter(|d| *d <= 9)?;
        if index < point {
            value = value.checked_mul(10)?.checked_add(u64::from(d))?;
        } else if d != 0 {
            return None;
        }
        index += 1;
    }
    // Zeros the exponent appends after the last digit: none change a zero, and twenty would
    // take any other value past `u64`.
    let appended = point.saturating_sub(index);
    if value != 0 && appended > 0 {
        if appended > 19 {
            return None;
        }
        for _ in 0..appended {
            *steps += 1;
            value = value.checked_mul(10)?;
        }
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// The exponent after `e`: an optional sign and digits, its magnitude capped at
/// [`EXPONENT_CAP`] (one step per byte).
fn exponent_of(text: &[u8], steps: &mut usize) -> Option<i64> {
    let (sign, digits) = match text.split_first() {
        Some((b'-', rest)) => (-1, rest),
        Some((b'+', rest)) => (1, rest),
        _ => (1, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: i64 = 0;
    for &digit in digits {
        *steps += 1;
        let d = digit.checked_sub(b'0').filter(|d| *d <= 9)?;
        magnitude = (magnitude * 10 + i64::from(d)).min(EXPONENT_CAP);
    }
    Some(sign * magnitude)
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
        Ok(Json::Number(JsonNumber {
            value: v.into(),
            integer: Some(v),
        }))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(JsonNumber {
            value: v.into(),
            integer: i64::try_from(v).ok(),
        }))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        Number::from_f64(v)
            .map(|value| {
                Json::Number(JsonNumber {
                    value,
                    integer: None,
                })
            })
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
    use proptest::prelude::*;

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
    fn whole_numbers_are_told_from_their_literals() {
        let numbers = |text: &str| -> Vec<Option<i64>> {
            let Json::Array(items) = parse(text.as_bytes()).unwrap() else {
                panic!("not an array")
            };
            items
                .iter()
                .map(|item| match item {
                    Json::Number(n) => n.integer(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            numbers(r#"[5, -5, 5.0, 5.000, 5e0, 0.5e1, 50E-1, 1e3, -0, 0.0]"#),
            [5, -5, 5, 5, 5, 5, 5, 1000, 0, 0].map(Some)
        );
        assert_eq!(
            numbers(
                r#"[2147483646.9999999, 5.5, 1e-1, 0.5, 1.25e1, 9223372036854775808, 1e30, -9223372036854775809]"#
            ),
            [None; 8]
        );
        assert_eq!(
            numbers(r#"[9223372036854775807, -9223372036854775808, 9223372036854775807.0]"#),
            [Some(i64::MAX), Some(i64::MIN), Some(i64::MAX)]
        );
        // Numbers inside strings are not literals; order follows the document.
        let Json::Object(members) =
            parse(br#"{"a": "1.5 2 \" 3", "b": [1.0, {"c": 2.50e1}], "d": 7}"#).unwrap()
        else {
            panic!("not an object")
        };
        let Json::Array(b) = &members[1].1 else {
            panic!()
        };
        assert_eq!(
            b[0],
            Json::Number(JsonNumber {
                value: Number::from_f64(1.0).unwrap(),
                integer: Some(1)
            })
        );
        let Json::Number(d) = &members[2].1 else {
            panic!()
        };
        assert_eq!(d.integer(), Some(7));
    }

    #[test]
    fn printable_escapes_and_truncates() {
        assert_eq!(Printable("a\"b\n").to_string(), "a\\\"b\\n");
        assert_eq!(Printable(&"x".repeat(100)).to_string().chars().count(), 65);
    }

    /// What a literal denotes, worked out another way: the digits without their trailing
    /// zeros, times a power of ten (exponents of up to 38 digits, as generated).
    fn reference(literal: &str) -> Option<i64> {
        let (negative, unsigned) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i128>().unwrap()),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = format!("{whole}{fraction}");
        let significant = digits.trim_start_matches('0');
        if significant.is_empty() {
            return Some(0);
        }
        let kept = significant.trim_end_matches('0');
        let dropped = (significant.len() - kept.len()) as i128;
        let power = whole.len() as i128 + exponent - digits.len() as i128 + dropped;
        if !(0..=40).contains(&power) || kept.len() > 38 {
            return None;
        }
        let value = kept
            .parse::<u128>()
            .ok()?
            .checked_mul(10u128.checked_pow(power as u32)?)?;
        let value = i128::try_from(value).ok()?;
        i64::try_from(if negative { -value } else { value }).ok()
    }

    /// JSON number literals of every form: signs, zeros, long mantissas, exponents of any sign
    /// and size (up to 38 digits), and the edges of int32, int64 and f64.
    fn literal() -> impl Strategy<Value = String> {
        let whole = prop_oneof![
            Just("0".to_owned()),
            "[1-9][0-9]{0,25}",
            "[1-9]0{0,40}",
            Just("2147483647".to_owned()),
            Just("2147483648".to_owned()),
            Just("9223372036854775807".to_owned()),
            Just("9223372036854775808".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("17976931348623157".to_owned()),
        ];
        let fraction = proptest::option::of(prop_oneof!["[0-9]{1,25}", "0{1,60}", "[0-9]0{0,40}"]);
        let exponent = proptest::option::of((
            prop_oneof![Just("e"), Just("E")],
            prop_oneof![Just(""), Just("+"), Just("-")],
            prop_oneof!["[0-9]{1,3}", "[0-9]{1,38}", "0{1,30}[1-9]"],
        ));
        (any::<bool>(), whole, fraction, exponent).prop_map(
            |(negative, whole, fraction, exponent)| {
                let mut literal = String::new();
                if negative {
                    literal.push('-');
                }
                literal.push_str(&whole);
                if let Some(fraction) = fraction {
                    literal.push('.');
                    literal.push_str(&fraction);
                }
                if let Some((e, sign, digits)) = exponent {
                    literal.push_str(e);
                    literal.push_str(sign);
                    literal.push_str(&digits);
                }
                literal
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The integer of a literal is the one it denotes, and finding it takes at most one
        /// step per byte plus the 19 zeros an exponent may append, whatever the value.
        #[test]
        fn literals_cost_their_length_not_their_value(literal in literal()) {
            let mut steps = 0;
            let integer = exact_integer_counted(literal.as_bytes(), &mut steps);
            prop_assert_eq!(integer, reference(&literal), "{}", literal);
            prop_assert!(steps <= literal.len() + 19, "{} took {} steps", literal, steps);
            // The same inside a document, where serde_json reads it first.
            if let Ok(Json::Array(items)) = parse(format!("[{literal}]").as_bytes()) {
                match items.first() {
                    Some(Json::Number(number)) => prop_assert_eq!(number.integer(), integer),
                    other => prop_assert!(false, "{:?}", other),
                }
            }
        }
    }

    #[test]
    fn hostile_literals_answer_at_once() {
        for (literal, expected) in [
            ("0e9000000000000000000", Some(0)),
            ("0e100000000", Some(0)),
            ("-0e999999999999999999999999", Some(0)),
            ("0.000e-99999999999", Some(0)),
            ("1e9000000000000000000", None),
            ("1e-9000000000000000000", None),
            ("-0", Some(0)),
            ("5e18", Some(5_000_000_000_000_000_000)),
            ("1e19", None),
            ("-9223372036854775808", Some(i64::MIN)),
            ("-9.223372036854775808e18", Some(i64::MIN)),
            ("9223372036854775807e0", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("1.7976931348623157e308", None),
            ("2147483647.0000000000000000000000000000001", None),
        ] {
            let mut steps = 0;
            assert_eq!(
                exact_integer_counted(literal.as_bytes(), &mut steps),
                expected,
                "{literal}"
            );
            assert!(steps <= literal.len() + 19, "{literal}: {steps}");
        }
        let long_zero = format!("0.{}e99999999999", "0".repeat(200_000));
        let mut steps = 0;
        assert_eq!(
            exact_integer_counted(long_zero.as_bytes(), &mut steps),
            Some(0)
        );
        assert!(steps <= long_zero.len());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes()).is_err());
    }
}
