//! Contacts v1 custom fields: `customFields: [{definitionId, value}]`, checked first for shape
//! (no store needed), then against the customer's typed definitions.

use std::collections::HashMap;

use time::{macros::format_description, Date, Time};

use super::error_class::ErrorClass;
use super::json::{Json, Printable};
use super::patch::{Change, Op, Target, Value};
use super::text::{char_len, has_forbidden_control};

/// The most entries one request may send.
pub const MAX_ENTRIES: usize = 100;
/// The longest text or note value, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// A custom field definition's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomKind {
    Boolean,
    Integer,
    Decimal,
    Text,
    List,
    Statement,
    Date,
    Note,
    Time,
    SystemList,
    /// A type this service does not know; such fields cannot be set.
    Unknown(String),
}

impl CustomKind {
    pub fn parse(name: &str) -> CustomKind {
        match name {
            "boolean" => CustomKind::Boolean,
            "integer" => CustomKind::Integer,
            "decimal" => CustomKind::Decimal,
            "text" => CustomKind::Text,
            "list" => CustomKind::List,
            "statement" => CustomKind::Statement,
            "date" => CustomKind::Date,
            "note" => CustomKind::Note,
            "time" => CustomKind::Time,
            "systemList" => CustomKind::SystemList,
            other => CustomKind::Unknown(other.to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            CustomKind::Boolean => "boolean",
            CustomKind::Integer => "integer",
            CustomKind::Decimal => "decimal",
            CustomKind::Text => "text",
            CustomKind::List => "list",
            CustomKind::Statement => "statement",
            CustomKind::Date => "date",
            CustomKind::Note => "note",
            CustomKind::Time => "time",
            CustomKind::SystemList => "systemList",
            CustomKind::Unknown(name) => name,
        }
    }
}

/// One custom field definition of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDefinition {
    pub kind: CustomKind,
    /// The allowed values of a `list` field.
    pub options: Vec<String>,
    pub read_only: bool,
}

/// A customer's definitions by id.
pub type Definitions = HashMap<i64, FieldDefinition>;

/// One well-shaped entry of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomEntry {
    /// Its position in the request's array, for error paths.
    pub index: usize,
    pub definition_id: i64,
    /// `None` unsets the field.
    pub value: Option<String>,
}

/// An error at a property path such as `customFields[2].value`.
pub type PathError = (String, ErrorClass, String);

/// Phase one: the array's shape. Returns its entries, or every shape error found.
pub fn parse_entries(name: &str, value: &Json) -> Result<Vec<CustomEntry>, Vec<PathError>> {
    let items = entry_array(name, value)?;
    let mut errors = Vec::new();
    let mut entries: Vec<CustomEntry> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some((definition_id, value)) = parse_entry(name, index, item, &mut errors) else {
            continue;
        };
        // At most MAX_ENTRIES entries: the scan stays small.
        if entries.iter().any(|e| e.definition_id == definition_id) {
            errors.push((
                format!("{name}[{index}].definitionId"),
                ErrorClass::Invalid,
                "This definition id is given more than once.".into(),
            ));
            continue;
        }
        entries.push(CustomEntry {
            index,
            definition_id,
            value,
        });
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// The entries' array: not null, an array, and at most [`MAX_ENTRIES`] long (checked before
/// any entry is read).
fn entry_array<'a>(name: &str, value: &'a Json) -> Result<&'a [Json], Vec<PathError>> {
    let refused = |class, message: String| Err(vec![(name.to_owned(), class, message)]);
    match value {
        Json::Array(items) if items.len() > MAX_ENTRIES => refused(
            ErrorClass::Invalid,
            format!("At most {MAX_ENTRIES} custom fields may be sent at once."),
        ),
        Json::Array(items) => Ok(items),
        Json::Null => refused(
            ErrorClass::Invalid,
            "The value must not be null; send [] or leave it out to keep the custom fields.".into(),
        ),
        other => refused(
            ErrorClass::Malformed,
            format!("The value must be an array, not {}.", other.type_name()),
        ),
    }
}

/// One entry: its definition id and value (`None`: unset), or `None` with its errors added to
/// `errors`.
fn parse_entry(
    name: &str,
    index: usize,
    item: &Json,
    errors: &mut Vec<PathError>,
) -> Option<(i64, Option<String>)> {
    let at = |member: &str| format!("{name}[{index}]{member}");
    let Json::Object(members) = item else {
        errors.push((
            at(""),
            ErrorClass::Malformed,
            format!(
                "Each custom field must be an object, not {}.",
                item.type_name()
            ),
        ));
        return None;
    };
    let mut definition_id = None;
    let mut value = None;
    let mut complete = true;
    for (key, member) in members {
        let found = if key.eq_ignore_ascii_case("definitionId") {
            definition_id_of(member)
                .map(|id| definition_id = Some(id))
                .map_err(|(class, message)| (at(".definitionId"), class, message))
        } else if key.eq_ignore_ascii_case("value") {
            value_of(member)
                .map(|v| value = Some(v))
                .map_err(|(class, message)| (at(".value"), class, message))
        } else {
            Err((
                format!("{name}[{index}].{}", Printable(key)),
                ErrorClass::Invalid,
                "Unknown property.".into(),
            ))
        };
        if let Err(error) = found {
            complete = false;
            errors.push(error);
        }
    }
    if !complete {
        return None;
    }
    let Some(definition_id) = definition_id else {
        errors.push((
            at(".definitionId"),
            ErrorClass::Invalid,
            "The definition id is required.".into(),
        ));
        return None;
    };
    let Some(value) = value else {
        errors.push((
            at(".value"),
            ErrorClass::Invalid,
            "The value is required (send null to unset the field).".into(),
        ));
        return None;
    };
    Some((definition_id, value))
}

/// A `definitionId` member: a whole number within `i64`, however written.
fn definition_id_of(member: &Json) -> Result<i64, (ErrorClass, String)> {
    match member {
        Json::Number(n) => n.integer().ok_or((
            ErrorClass::Malformed,
            "The definition id must be a 64-bit integer.".into(),
        )),
        other => Err((
            ErrorClass::Malformed,
            format!(
                "The definition id must be an integer, not {}.",
                other.type_name()
            ),
        )),
    }
}

/// A `value` member: a string, or null to unset the field.
fn value_of(member: &Json) -> Result<Option<String>, (ErrorClass, String)> {
    match member {
        Json::String(s) => Ok(Some(s.clone())),
        Json::Null => Ok(None),
        other => Err((
            ErrorClass::Malformed,
            format!(
                "The value must be a string or null, not {}.",
                other.type_name()
            ),
        )),
    }
}

/// Phase two: each entry against its definition → one change in the map attribute `map`.
/// An unknown definition (including another customer's) is refused like a missing one.
pub fn resolve(
    name: &str,
    map: &'static str,
    entries: &[CustomEntry],
    definitions: &Definitions,
) -> Result<Vec<Change>, Vec<PathError>> {
    let mut errors = Vec::new();
    let mut changes = Vec::with_capacity(entries.len());
    for entry in entries {
        let at = |member: &str| format!("{name}[{}]{member}", entry.index);
        let Some(definition) = definitions.get(&entry.definition_id) else {
            errors.push((
                at(".definitionId"),
                ErrorClass::Invalid,
                "No custom field definition with this id exists for this customer.".into(),
            ));
            continue;
        };
        if definition.read_only || definition.kind == CustomKind::Statement {
            errors.push((
                at(".definitionId"),
                ErrorClass::Invalid,
                "This custom field is read-only.".into(),
            ));
            continue;
        }
        let op = match entry.value.as_deref() {
            None | Some("") => Op::Remove,
            Some(text) => match check_value(definition, text) {
                Ok(()) => Op::Set(Value::S(text.to_owned())),
                Err(message) => {
                    errors.push((at(".value"), ErrorClass::Invalid, message));
                    continue;
                }
            },
        };
        changes.push(Change {
            target: Target::MapEntry {
                map,
                key: entry.definition_id,
            },
            op,
        });
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

/// Whether `text` is a valid value for the definition; the error says what would be.
fn check_value(definition: &FieldDefinition, text: &str) -> Result<(), String> {
    let multiline = definition.kind == CustomKind::Note;
    if has_forbidden_control(text, multiline) {
        return Err(if multiline {
            "The value must not contain control characters other than line breaks and tabs.".into()
        } else {
            "The value must not contain control characters or line breaks.".into()
        });
    }
    let ok = match &definition.kind {
        CustomKind::Boolean => text == "true" || text == "false",
        CustomKind::Integer => is_integer(text),
        CustomKind::Decimal => is_decimal(text),
        CustomKind::Text | CustomKind::Note => char_len(text) <= MAX_TEXT_CHARS,
        CustomKind::List => definition.options.iter().any(|o| o == text),
        CustomKind::Date => {
            text.len() == 10
                && Date::parse(text, format_description!("[year]-[month]-[day]")).is_ok()
        }
        CustomKind::Time => {
            text.len() == 5 && Time::parse(text, format_description!("[hour]:[minute]")).is_ok()
        }
        CustomKind::SystemList => {
            text.bytes().all(|b| b.is_ascii_digit())
                && !text.starts_with('0')
                && text.parse::<i64>().is_ok_and(|n| n >= 1)
        }
        CustomKind::Statement | CustomKind::Unknown(_) => false,
    };
    if ok {
        return Ok(());
    }
    Err(match &definition.kind {
        CustomKind::Boolean => "The value must be \"true\" or \"false\".".into(),
        CustomKind::Integer => "The value must be a whole number such as -12 or 42.".into(),
        CustomKind::Decimal => "The value must be a decimal number such as 3.25.".into(),
        CustomKind::Text | CustomKind::Note => {
            format!("The value must be at most {MAX_TEXT_CHARS} characters long.")
        }
        CustomKind::List => {
            let shown: Vec<&str> = definition
                .options
                .iter()
                .take(20)
                .map(String::as_str)
                .collect();
            format!("The value must be one of: {}.", shown.join(", "))
        }
        CustomKind::Date => "The value must be a real date written YYYY-MM-DD.".into(),
        CustomKind::Time => "The value must be a time written HH:mm (00:00 to 23:59).".into(),
        CustomKind::SystemList => "The value must be a positive integer id.".into(),
        CustomKind::Statement | CustomKind::Unknown(_) => "This custom field cannot be set.".into(),
    })
}

fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && text.parse::<i64>().is_ok()
}

fn is_decimal(text: &str) -> bool {
    const MAX_DIGITS: usize = 38;
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole)
        && fraction.is_none_or(all_digits)
        && whole.len() + fraction.map_or(0, str::len) <= MAX_DIGITS
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;

    fn definition(kind: &str) -> FieldDefinition {
        FieldDefinition {
            kind: CustomKind::parse(kind),
            options: vec!["Gold".into(), "Silver".into(), "Bronze".into()],
            read_only: false,
        }
    }

    fn shape(body: &str) -> Result<Vec<CustomEntry>, Vec<PathError>> {
        parse_entries("customFields", &parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn shapes() {
        assert_eq!(shape("[]").unwrap(), vec![]);
        let entries = shape(
            r#"[{"definitionId": 1001, "value": "x"}, {"DefinitionID": 1002, "Value": null}]"#,
        )
        .unwrap();
        assert_eq!(entries[1].value, None);
        assert_eq!(entries[1].index, 1);
        // A whole number written with a fraction is that number (as for every integer field).
        let entries = shape(r#"[{"definitionId": 1001.0, "value": "x"}]"#).unwrap();
        assert_eq!(entries[0].definition_id, 1001);
        let paths = |body: &str| -> Vec<(String, ErrorClass)> {
            shape(body)
                .unwrap_err()
                .into_iter()
                .map(|(p, c, _)| (p, c))
                .collect()
        };
        assert_eq!(
            paths("{}"),
            [("customFields".into(), ErrorClass::Malformed)]
        );
        assert_eq!(
            paths("null"),
            [("customFields".into(), ErrorClass::Invalid)]
        );
        assert_eq!(
            paths("[5]"),
            [("customFields[0]".into(), ErrorClass::Malformed)]
        );
        assert_eq!(
            paths(r#"[{"definitionId": "1001", "value": "x"}]"#),
            [("customFields[0].definitionId".into(), ErrorClass::Malformed)]
        );
        assert_eq!(
            paths(r#"[{"definitionId": 1.5, "value": "x"}]"#),
            [("customFields[0].definitionId".into(), ErrorClass::Malformed)]
        );
        assert_eq!(
            paths(r#"[{"definitionId": 1, "value": 5}]"#),
            [("customFields[0].value".into(), ErrorClass::Malformed)]
        );
        assert_eq!(
            paths(r#"[{"definitionId": 1}]"#),
            [("customFields[0].value".into(), ErrorClass::Invalid)]
        );
        assert_eq!(
            paths(r#"[{"value": "x"}]"#),
            [("customFields[0].definitionId".into(), ErrorClass::Invalid)]
        );
        assert_eq!(
            paths(r#"[{"definitionId": 1, "value": "x", "extra": 1}]"#),
            [("customFields[0].extra".into(), ErrorClass::Invalid)]
        );
        assert_eq!(
            paths(r#"[{"definitionId": 1, "value": "a"}, {"definitionId": 1, "value": "b"}]"#),
            [("customFields[1].definitionId".into(), ErrorClass::Invalid)]
        );
        let many = format!(
            "[{}]",
            vec![r#"{"definitionId": 1, "value": null}"#; 101].join(",")
        );
        assert_eq!(paths(&many), [("customFields".into(), ErrorClass::Invalid)]);
    }

    #[test]
    fn values_by_type() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("boolean", &["true", "false"], &["True", "yes", "1"]),
            (
                "integer",
                &["0", "-12", "9223372036854775807"],
                &["1.0", "+1", "9223372036854775808", "1e3", "-"],
            ),
            (
                "decimal",
                &["3.25", "-0.5", "10"],
                &["3.", ".5", "1,5", "1e3", "abc"],
            ),
            ("text", &["anything", "Zoë"], &["a\nb", "a\u{0}b"]),
            ("note", &["line\nbreaks\tand\rtabs"], &["bell\u{7}"]),
            ("list", &["Gold", "Bronze"], &["gold", "Platinum"]),
            (
                "date",
                &["2024-02-29", "1999-12-31"],
                &["2023-02-29", "24-02-29", "2024-2-29"],
            ),
            (
                "time",
                &["00:00", "23:59", "09:05"],
                &["24:00", "9:05", "12:60", "12:00:00"],
            ),
            ("systemList", &["1", "42"], &["0", "-1", "007", "x"]),
        ];
        for (kind, good, bad) in cases {
            let def = definition(kind);
            for v in *good {
                assert!(check_value(&def, v).is_ok(), "{kind} {v:?}");
            }
            for v in *bad {
                assert!(check_value(&def, v).is_err(), "{kind} {v:?}");
            }
        }
        let long = "x".repeat(MAX_TEXT_CHARS);
        assert!(check_value(&definition("text"), &long).is_ok());
        assert!(check_value(&definition("text"), &format!("{long}x")).is_err());
        assert!(check_value(&definition("statement"), "x").is_err());
        assert!(check_value(&definition("mystery"), "x").is_err());
    }

    #[test]
    fn resolution() {
        let definitions = Definitions::from([
            (1001, definition("text")),
            (
                1005,
                FieldDefinition {
                    kind: CustomKind::Statement,
                    options: vec![],
                    read_only: true,
                },
            ),
            (
                1006,
                FieldDefinition {
                    kind: CustomKind::Text,
                    options: vec![],
                    read_only: true,
                },
            ),
        ]);
        let entries = |id: i64, value: Option<&str>| {
            vec![CustomEntry {
                index: 0,
                definition_id: id,
                value: value.map(str::to_owned),
            }]
        };
        let changes = resolve(
            "customFields",
            "customFields",
            &entries(1001, Some("x")),
            &definitions,
        )
        .unwrap();
        assert_eq!(
            changes[0].target,
            Target::MapEntry {
                map: "customFields",
                key: 1001
            }
        );
        assert_eq!(changes[0].op, Op::Set(Value::S("x".into())));
        for value in [None, Some("")] {
            let changes = resolve(
                "customFields",
                "customFields",
                &entries(1001, value),
                &definitions,
            )
            .unwrap();
            assert_eq!(changes[0].op, Op::Remove);
        }
        for id in [1005, 1006, 999] {
            let errors = resolve(
                "customFields",
                "customFields",
                &entries(id, Some("x")),
                &definitions,
            )
            .unwrap_err();
            assert_eq!(errors[0].0, "customFields[0].definitionId", "{id}");
        }
    }
}
