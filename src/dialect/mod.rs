//! The client dialects: each is data (route, id format, field table, answer shapes) over the
//! one engine.

pub mod contacts_v1;
pub mod demo;
pub mod item;
pub mod persons_v2;

use std::fmt;

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::engine::record::{Record, Stored};
use crate::engine::{BoolForms, FieldTable, Kind, Value};

/// A client dialect of the service.
#[derive(Debug)]
pub struct Dialect {
    /// A short stable name, used in logs.
    pub name: &'static str,
    /// The literal path segments before `{personId}`.
    pub route: &'static [&'static str],
    pub id_format: IdFormat,
    /// The attribute a person's id is stored under (besides the sort key).
    pub id_attribute: &'static str,
    pub fields: FieldTable,
    pub customer_header: CustomerHeader,
    pub success: Success,
    pub problems: ProblemStyle,
}

impl Dialect {
    /// The body of a [`Success::Record`] answer: the id, then every field in table order as
    /// the dialect writes it; a field the record lacks is `null`.
    pub fn render_record(&self, id: PersonId, record: &Record) -> Json {
        let mut body = Map::new();
        let id = match id {
            PersonId::Int(n) => Json::from(n),
            PersonId::Uuid(u) => Json::from(u.hyphenated().to_string()),
        };
        body.insert(self.id_attribute.to_owned(), id);
        for field in self.fields.fields {
            let value = record
                .get(field.attribute)
                .map_or(Json::Null, |stored| render_value(field.kind, stored));
            body.insert(field.name.to_owned(), value);
        }
        Json::Object(body)
    }

    /// One stored value as a field of `kind` is written in this dialect's answers.
    pub fn render_stored(&self, kind: Kind, stored: &Stored) -> Json {
        render_value(kind, stored)
    }
}

/// One stored value as a field of this kind is written in answers. Values of an unexpected
/// type (written by another tool) are rendered as faithfully as JSON allows, never refused.
fn render_value(kind: Kind, stored: &Stored) -> Json {
    match (kind, stored) {
        (Kind::Boolean(BoolForms::JsonOrText), Stored::Value(Value::Bool(b))) => {
            Json::from(if *b { "true" } else { "false" })
        }
        (
            Kind::Integer {
                digit_string: true, ..
            },
            Stored::Value(Value::N(n)),
        ) => Json::from(n.as_str()),
        (_, Stored::Value(Value::S(s))) => Json::from(s.as_str()),
        (_, Stored::Value(Value::Bool(b))) => Json::from(*b),
        (_, Stored::Value(Value::Map(entries))) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        render_value(Kind::CustomFields, &Stored::Value(v.clone())),
                    )
                })
                .collect(),
        ),
        (_, Stored::Value(Value::N(n))) => serde_json::from_str::<serde_json::Number>(n)
            .map(Json::Number)
            .unwrap_or_else(|_| Json::from(n.as_str())),
        (_, Stored::Map(entries)) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), render_value(Kind::CustomFields, v)))
                .collect(),
        ),
        (_, Stored::Null | Stored::Other) => Json::Null,
    }
}

/// Dialects are statics: two are equal when they are the same one.
impl PartialEq for Dialect {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Dialect {}

/// How `{personId}` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFormat {
    /// A hyphenated UUID, any case; stored lowercase.
    Uuid,
    /// A decimal int32 from 1 to 2147483647.
    PositiveInt32,
}

/// A parsed `{personId}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonId {
    Uuid(Uuid),
    Int(i32),
}

impl fmt::Display for PersonId {
    /// The canonical form used in keys: lowercase hyphenated UUID, or plain decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersonId::Uuid(u) => write!(f, "{}", u.hyphenated()),
            PersonId::Int(n) => write!(f, "{n}"),
        }
    }
}

impl IdFormat {
    /// Parses a path segment (already percent-decoded). The error tells the caller what a
    /// valid id looks like.
    pub fn parse(self, segment: &str) -> Result<PersonId, &'static str> {
        match self {
            IdFormat::Uuid => {
                // Only the 36-character hyphenated form: braced, URN and bare-hex forms are
                // refused so that one person has one URL.
                if segment.len() != 36 {
                    return Err("The person id must be a UUID such as 3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c.");
                }
                Uuid::try_parse(segment).map(PersonId::Uuid).map_err(|_| {
                    "The person id must be a UUID such as 3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c."
                })
            }
            IdFormat::PositiveInt32 => {
                let digits = !segment.is_empty()
                    && segment.len() <= 10
                    && segment.bytes().all(|b| b.is_ascii_digit());
                digits
                    .then(|| segment.parse::<i32>().ok())
                    .flatten()
                    .filter(|n| *n >= 1)
                    .map(PersonId::Int)
                    .ok_or("The person id must be an integer from 1 to 2147483647.")
            }
        }
    }
}

/// Whether the `Customer-Id` header must be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerHeader {
    /// Always required.
    Required,
    /// Optional when the principal is allowed exactly one customer.
    OptionalForSingleCustomer,
}

/// What a successful PATCH answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    /// `204 No Content`.
    NoContent,
    /// `200 OK` with the updated record.
    Record,
}

/// How errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemStyle {
    /// RFC 9457 problem details; field errors as 422 with camelCase `errors`.
    Rfc9457,
    /// ASP.NET Core's ProblemDetails / ValidationProblemDetails, field errors as 400.
    AspNetCore,
}

/// Every dialect the function serves.
pub static DIALECTS: &[&Dialect] = &[&contacts_v1::DIALECT, &persons_v2::DIALECT];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::SERVICE_ATTRIBUTES;

    #[test]
    fn uuid_ids() {
        let id = IdFormat::Uuid
            .parse("3F2B8C1E-8A4D-4E7B-9C6A-1D2E3F4A5B6C")
            .unwrap();
        assert_eq!(id.to_string(), "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c");
        for bad in [
            "",
            "x",
            "3f2b8c1e8a4d4e7b9c6a1d2e3f4a5b6c",
            "{3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c}",
            "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6g",
            "3f2b8c1e-8a4d-4e7b-9c6a_1d2e3f4a5b6c",
        ] {
            assert!(IdFormat::Uuid.parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn int_ids() {
        assert_eq!(IdFormat::PositiveInt32.parse("16"), Ok(PersonId::Int(16)));
        assert_eq!(
            IdFormat::PositiveInt32.parse("2147483647"),
            Ok(PersonId::Int(i32::MAX))
        );
        for bad in [
            "0",
            "-1",
            "+1",
            "2147483648",
            "1e3",
            "",
            " 1",
            "99999999999",
        ] {
            assert!(IdFormat::PositiveInt32.parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_tables_never_name_service_attributes_or_repeat_themselves() {
        for dialect in DIALECTS {
            let fields = dialect.fields.fields;
            for (i, field) in fields.iter().enumerate() {
                assert!(!SERVICE_ATTRIBUTES.contains(&field.attribute));
                assert_ne!(field.attribute, dialect.id_attribute);
                for other in &fields[i + 1..] {
                    assert!(!field.name.eq_ignore_ascii_case(other.name));
                    assert_ne!(field.attribute, other.attribute);
                }
            }
        }
    }
}
