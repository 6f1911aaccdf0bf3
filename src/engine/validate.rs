//! Body → [`Patch`]: one pass over the request's properties against a field table, collecting
//! every error before answering.

use time::{macros::format_description, Date};

use super::custom_fields::{self, CustomEntry, Definitions};
use super::field::{BoolForms, Clear, Field, FieldTable, Kind};
use super::json::{Json, Printable};
use super::patch::{Change, Op, Patch, Target, Value};
use super::text::{char_len, has_forbidden_control, is_valid_email};

/// At most this many errors are reported; a hostile body with thousands of bad properties
/// gets a bounded answer.
pub const MAX_REPORTED_ERRORS: usize = 50;

/// The property path errors about the body as a whole are keyed by.
pub const BODY_PATH: &str = "$";

pub use super::error_class::ErrorClass;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The property path: the field's canonical name for known fields, the name as sent for
    /// unknown ones, [`BODY_PATH`] for the body as a whole.
    pub property: String,
    pub message: String,
    pub class: ErrorClass,
}

/// Why a body was refused: at least one error, at most [`MAX_REPORTED_ERRORS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub errors: Vec<FieldError>,
    /// How many errors there were beyond those listed.
    pub omitted: usize,
}

impl Rejection {
    /// The error class that decides the answer: malformed input outranks rule violations.
    pub fn class(&self) -> ErrorClass {
        if self.errors.iter().any(|e| e.class == ErrorClass::Malformed) {
            ErrorClass::Malformed
        } else {
            ErrorClass::Invalid
        }
    }
}

#[derive(Default)]
struct Errors {
    list: Vec<FieldError>,
    omitted: usize,
}

impl Errors {
    fn push(&mut self, property: impl Into<String>, class: ErrorClass, message: impl Into<String>) {
        if self.list.len() < MAX_REPORTED_ERRORS {
            self.list.push(FieldError {
                property: property.into(),
                message: message.into(),
                class,
            });
        } else {
            self.omitted += 1;
        }
    }
}

/// A body that passed every check that needs no store: its plain changes, and the custom
/// field entries still to be checked against the customer's definitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    changes: Vec<Change>,
    custom: Option<CustomInput>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CustomInput {
    name: &'static str,
    map: &'static str,
    entries: Vec<CustomEntry>,
}

impl Draft {
    /// Whether [`Draft::finish`] needs the customer's custom field definitions.
    pub fn needs_definitions(&self) -> bool {
        self.custom.is_some()
    }

    /// Checks the custom field entries against `definitions` and yields the patch.
    pub fn finish(self, definitions: &Definitions) -> Result<Patch, Rejection> {
        let mut changes = self.changes;
        if let Some(custom) = self.custom {
            match custom_fields::resolve(custom.name, custom.map, &custom.entries, definitions) {
                Ok(more) => changes.extend(more),
                Err(path_errors) => {
                    let mut errors = Errors::default();
                    for (path, class, message) in path_errors {
                        errors.push(path, class, message);
                    }
                    return Err(reject(errors));
                }
            }
        }
        Patch::new(changes).ok_or_else(empty_patch)
    }
}

fn empty_patch() -> Rejection {
    let mut errors = Errors::default();
    errors.push(
        BODY_PATH,
        ErrorClass::Invalid,
        "At least one field must be supplied.",
    );
    reject(errors)
}

/// Validates a parsed body against a field table. `today` bounds date fields.
pub fn validate(table: &FieldTable, body: &Json, today: Date) -> Result<Draft, Rejection> {
    let mut errors = Errors::default();
    let Json::Object(members) = body else {
        errors.push(
            BODY_PATH,
            ErrorClass::Malformed,
            format!("The body must be a JSON object, not {}.", body.type_name()),
        );
        return Err(reject(errors));
    };

    let mut ordered: Vec<(usize, Change)> = Vec::with_capacity(members.len());
    let mut custom = None;
    for (property, value) in members {
        let Some((position, field)) = table.lookup(property) else {
            let message = if table.is_read_only(property) {
                "The property is read-only and cannot be changed."
            } else {
                "Unknown property."
            };
            errors.push(
                Printable(property).to_string(),
                ErrorClass::Invalid,
                message,
            );
            continue;
        };
        if let Kind::CustomFields = field.kind {
            match custom_fields::parse_entries(field.name, value) {
                Ok(entries) if entries.is_empty() => {}
                Ok(entries) => {
                    custom = Some(CustomInput {
                        name: field.name,
                        map: field.attribute,
                        entries,
                    })
                }
                Err(path_errors) => {
                    for (path, class, message) in path_errors {
                        errors.push(path, class, message);
                    }
                }
            }
            continue;
        }
        match check_field(field, value, today) {
            Ok(Some(op)) => ordered.push((
                position,
                Change {
                    target: Target::Attribute(field.attribute),
                    op,
                },
            )),
            Ok(None) => {}
            Err((class, message)) => errors.push(field.name, class, message),
        }
    }

    if !errors.list.is_empty() {
        return Err(reject(errors));
    }
    ordered.sort_by_key(|(position, _)| *position);
    let changes: Vec<Change> = ordered.into_iter().map(|(_, change)| change).collect();
    if changes.is_empty() && custom.is_none() {
        return Err(empty_patch());
    }
    Ok(Draft { changes, custom })
}

fn reject(errors: Errors) -> Rejection {
    Rejection {
        errors: errors.list,
        omitted: errors.omitted,
    }
}

type Check = Result<Option<Op>, (ErrorClass, String)>;

fn malformed(message: impl Into<String>) -> (ErrorClass, String) {
    (ErrorClass::Malformed, message.into())
}

fn invalid(message: impl Into<String>) -> (ErrorClass, String) {
    (ErrorClass::Invalid, message.into())
}

/// One field's value → the operation it asks for (`None`: no change).
fn check_field(field: &Field, value: &Json, today: Date) -> Check {
    let clearable = field.clear == Clear::NullOrEmpty;
    match value {
        Json::Null if clearable => return Ok(Some(Op::Remove)),
        Json::Null => return Err(invalid("The value must not be null.")),
        Json::String(s) if s.is_empty() && clearable && accepts_strings(field.kind) => {
            return Ok(Some(Op::Remove))
        }
        _ => {}
    }
    let set = |v: Value| Ok(Some(Op::Set(v)));
    match field.kind {
        Kind::Text {
            min,
            max,
            multiline,
        } => {
            let s = expect_string(value)?;
            check_text(s, min, max, multiline)?;
            set(Value::S(s.to_owned()))
        }
        Kind::Email { max } => {
            let s = expect_string(value)?;
            if has_forbidden_control(s, false) || !is_valid_email(s) {
                return Err(invalid("The value must be a valid email address."));
            }
            if char_len(s) > max {
                return Err(invalid(format!(
                    "The value must be at most {max} characters long."
                )));
            }
            set(Value::S(s.to_owned()))
        }
        Kind::Boolean(forms) => set(Value::Bool(check_boolean(value, forms)?)),
        Kind::Date => {
            let date = check_date(value, today)?;
            set(Value::S(date))
        }
        Kind::Integer {
            min,
            max,
            digit_string,
        } => {
            let n = check_integer(value, min, max, digit_string)?;
            set(Value::N(n.to_string()))
        }
        // Checked by `custom_fields::parse_entries` before this is reached.
        Kind::CustomFields => Err(invalid("The value must be a list of custom fields.")),
    }
}

fn accepts_strings(kind: Kind) -> bool {
    match kind {
        Kind::Text { .. } | Kind::Email { .. } | Kind::Date => true,
        Kind::Integer { digit_string, .. } => digit_string,
        Kind::Boolean(forms) => forms == BoolForms::JsonOrText,
        Kind::CustomFields => false,
    }
}

fn expect_string(value: &Json) -> Result<&str, (ErrorClass, String)> {
    match value {
        Json::String(s) => Ok(s),
        other => Err(malformed(format!(
            "The value must be a string, not {}.",
            other.type_name()
        ))),
    }
}

fn check_text(
    s: &str,
    min: usize,
    max: usize,
    multiline: bool,
) -> Result<(), (ErrorClass, String)> {
    let len = char_len(s);
    if len < min {
        return Err(invalid(if min == 1 {
            "The value must not be empty.".to_owned()
        } else {
            format!("The value must be at least {min} characters long.")
        }));
    }
    if len > max {
        return Err(invalid(format!(
            "The value must be at most {max} characters long."
        )));
    }
    if has_forbidden_control(s, multiline) {
        return Err(invalid(if multiline {
            "The value must not contain control characters other than line breaks and tabs."
        } else {
            "The value must not contain control characters or line breaks."
        }));
    }
    Ok(())
}

fn check_boolean(value: &Json, forms: BoolForms) -> Result<bool, (ErrorClass, String)> {
    match (value, forms) {
        (Json::Bool(b), _) => Ok(*b),
        (Json::String(s), BoolForms::JsonOrText) => {
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("t") {
                Ok(true)
            } else if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("f") {
                Ok(false)
            } else {
                Err(invalid(
                    "The value must be true or false (or \"true\", \"false\", \"t\", \"f\").",
                ))
            }
        }
        (other, BoolForms::JsonOrText) => Err(malformed(format!(
            "The value must be a boolean or one of \"true\", \"false\", \"t\", \"f\", not {}.",
            other.type_name()
        ))),
        (other, BoolForms::Json) => Err(malformed(format!(
            "The value must be a boolean, not {}.",
            other.type_name()
        ))),
    }
}

fn check_date(value: &Json, today: Date) -> Result<String, (ErrorClass, String)> {
    let s = expect_string(value)?;
    let date_part = s.strip_suffix("T00:00:00").unwrap_or(s);
    let format = format_description!("[year]-[month]-[day]");
    let shape_ok = date_part.len() == 10 && date_part.is_ascii();
    let date = shape_ok
        .then(|| Date::parse(date_part, &format).ok())
        .flatten()
        .ok_or_else(|| invalid("The value must be a real date written YYYY-MM-DD."))?;
    let earliest = time::macros::date!(1900 - 01 - 01);
    if date < earliest || date > today {
        return Err(invalid(format!(
            "The date must be between 1900-01-01 and today ({today})."
        )));
    }
    Ok(date_part.to_owned())
}

fn check_integer(
    value: &Json,
    min: i64,
    max: i64,
    digit_string: bool,
) -> Result<i64, (ErrorClass, String)> {
    let range = || malformed(format!("The value must be an integer from {min} to {max}."));
    match value {
        Json::Number(n) => n
            .integer()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(range),
        Json::String(s) if digit_string => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(
                    "The value must be a whole number written in digits.",
                ));
            }
            s.parse::<i64>()
                .ok()
                .filter(|v| (min..=max).contains(v))
                .ok_or_else(range)
        }
        other => Err(malformed(format!(
            "The value must be an integer{}, not {}.",
            if digit_string {
                " or a string of digits"
            } else {
                ""
            },
            other.type_name()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::parse;
    use super::*;

    const FIELDS: &[Field] = &[
        Field {
            name: "title",
            attribute: "title",
            kind: Kind::Text {
                min: 0,
                max: 5,
                multiline: false,
            },
            clear: Clear::NullOrEmpty,
        },
        Field {
            name: "forename",
            attribute: "forename",
            kind: Kind::Text {
                min: 1,
                max: 10,
                multiline: false,
            },
            clear: Clear::Never,
        },
        Field {
            name: "bio",
            attribute: "Bio",
            kind: Kind::Text {
                min: 0,
                max: 100,
                multiline: true,
            },
            clear: Clear::NullOrEmpty,
        },
        Field {
            name: "email",
            attribute: "email",
            kind: Kind::Email { max: 254 },
            clear: Clear::Never,
        },
        Field {
            name: "flag",
            attribute: "flag",
            kind: Kind::Boolean(BoolForms::Json),
            clear: Clear::Never,
        },
        Field {
            name: "active",
            attribute: "active",
            kind: Kind::Boolean(BoolForms::JsonOrText),
            clear: Clear::NullOrEmpty,
        },
        Field {
            name: "born",
            attribute: "born",
            kind: Kind::Date,
            clear: Clear::NullOrEmpty,
        },
        Field {
            name: "site",
            attribute: "site",
            kind: Kind::Integer {
                min: 0,
                max: 2_147_483_647,
                digit_string: true,
            },
            clear: Clear::NullOrEmpty,
        },
    ];
    const TABLE: FieldTable = FieldTable {
        fields: FIELDS,
        read_only: &["id"],
    };

    fn today() -> Date {
        time::macros::date!(2026 - 11 - 23)
    }

    fn run(body: &str) -> Result<Patch, Rejection> {
        validate(&TABLE, &parse(body.as_bytes()).unwrap(), today())
            .and_then(|draft| draft.finish(&Definitions::new()))
    }

    fn ops(body: &str) -> Vec<(String, Op)> {
        run(body)
            .unwrap()
            .changes()
            .iter()
            .map(|c| match &c.target {
                Target::Attribute(a) => ((*a).to_owned(), c.op.clone()),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn errors(body: &str) -> Vec<(String, ErrorClass)> {
        run(body)
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| (e.property, e.class))
            .collect()
    }

    #[test]
    fn sets_in_table_order_whatever_the_body_order() {
        assert_eq!(
            ops(r#"{"FLAG": true, "Title": "Dr", "forename": "Zoë"}"#),
            vec![
                ("title".into(), Op::Set(Value::S("Dr".into()))),
                ("forename".into(), Op::Set(Value::S("Zoë".into()))),
                ("flag".into(), Op::Set(Value::Bool(true))),
            ]
        );
    }

    #[test]
    fn null_and_empty_clear_only_clearable_fields() {
        assert_eq!(
            ops(r#"{"title": null, "bio": ""}"#),
            vec![("title".into(), Op::Remove), ("Bio".into(), Op::Remove)]
        );
        assert_eq!(
            errors(r#"{"forename": null, "email": "", "flag": null}"#),
            vec![
                ("forename".into(), ErrorClass::Invalid),
                ("email".into(), ErrorClass::Invalid),
                ("flag".into(), ErrorClass::Invalid),
            ]
        );
        assert_eq!(
            errors(r#"{"forename": ""}"#),
            vec![("forename".into(), ErrorClass::Invalid)]
        );
    }

    #[test]
    fn wrong_json_types_are_malformed() {
        let got = errors(r#"{"forename": 5, "flag": "true", "title": "ok"}"#);
        assert_eq!(
            got,
            vec![
                ("forename".into(), ErrorClass::Malformed),
                ("flag".into(), ErrorClass::Malformed),
            ]
        );
        assert_eq!(run("[1]").unwrap_err().class(), ErrorClass::Malformed);
        assert_eq!(run("\"x\"").unwrap_err().errors[0].property, BODY_PATH);
    }

    #[test]
    fn lengths_and_control_characters() {
        assert!(run(r#"{"forename": "ÅÅÅÅÅÅÅÅÅÅ"}"#).is_ok());
        assert_eq!(errors(r#"{"forename": "ÅÅÅÅÅÅÅÅÅÅÅ"}"#).len(), 1);
        assert_eq!(errors(r#"{"forename": "a\u0000b"}"#).len(), 1);
        assert_eq!(errors(r#"{"forename": "a\nb"}"#).len(), 1);
        assert!(run(r#"{"bio": "a\nb\tc\r"}"#).is_ok());
        assert_eq!(errors(r#"{"bio": "a\u001bb"}"#).len(), 1);
        // Strings are stored exactly as sent, spaces included.
        assert_eq!(
            ops(r#"{"forename": " x "}"#),
            vec![("forename".into(), Op::Set(Value::S(" x ".into())))]
        );
    }

    #[test]
    fn unknown_and_read_only_properties() {
        let rejection = run(r#"{"nickname": "x", "ID": 5}"#).unwrap_err();
        assert_eq!(rejection.errors[0].property, "nickname");
        assert_eq!(rejection.errors[0].message, "Unknown property.");
        assert!(rejection.errors[1].message.contains("read-only"));
    }

    #[test]
    fn empty_patch_is_refused() {
        assert_eq!(errors("{}"), vec![(BODY_PATH.into(), ErrorClass::Invalid)]);
    }

    #[test]
    fn booleans_in_text_forms() {
        assert_eq!(
            ops(r#"{"active": "T"}"#),
            vec![("active".into(), Op::Set(Value::Bool(true)))]
        );
        assert_eq!(
            ops(r#"{"active": "False"}"#),
            vec![("active".into(), Op::Set(Value::Bool(false)))]
        );
        assert_eq!(
            errors(r#"{"active": "yes"}"#),
            vec![("active".into(), ErrorClass::Invalid)]
        );
        assert_eq!(
            errors(r#"{"active": 1}"#),
            vec![("active".into(), ErrorClass::Malformed)]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            ops(r#"{"born": "1997-12-16T00:00:00"}"#),
            vec![("born".into(), Op::Set(Value::S("1997-12-16".into())))]
        );
        assert!(run(r#"{"born": "2026-11-23"}"#).is_ok());
        for bad in [
            "2026-11-24",
            "1899-12-31",
            "2023-02-29",
            "1997-12-16T10:00:00",
            "97-12-16",
            "1997-1-16",
            "+1997-12-16",
        ] {
            assert_eq!(
                errors(&format!(r#"{{"born": "{bad}"}}"#)),
                vec![("born".into(), ErrorClass::Invalid)],
                "{bad}"
            );
        }
    }

    #[test]
    fn integers_as_numbers_or_digit_strings() {
        assert_eq!(
            ops(r#"{"site": "5"}"#),
            vec![("site".into(), Op::Set(Value::N("5".into())))]
        );
        assert_eq!(
            ops(r#"{"site": 2147483647}"#),
            vec![("site".into(), Op::Set(Value::N("2147483647".into())))]
        );
        assert_eq!(
            ops(r#"{"site": 5.0}"#),
            vec![("site".into(), Op::Set(Value::N("5".into())))]
        );
        for (bad, class) in [
            ("2147483648", ErrorClass::Malformed),
            ("-1", ErrorClass::Malformed),
            ("5.5", ErrorClass::Malformed),
            ("1e400", ErrorClass::Malformed),
            ("\"99999999999\"", ErrorClass::Malformed),
            ("\"5a\"", ErrorClass::Invalid),
            ("\" 5\"", ErrorClass::Invalid),
            ("true", ErrorClass::Malformed),
        ] {
            let body = format!(r#"{{"site": {bad}}}"#);
            match parse(body.as_bytes()) {
                Ok(json) => assert_eq!(
                    validate(&TABLE, &json, today())
                        .and_then(|draft| draft.finish(&Definitions::new()))
                        .unwrap_err()
                        .errors
                        .into_iter()
                        .map(|e| (e.property, e.class))
                        .collect::<Vec<_>>(),
                    vec![("site".to_owned(), class)],
                    "{bad}"
                ),
                Err(_) => assert_eq!(bad, "1e400"),
            }
        }
    }

    #[test]
    fn error_count_is_bounded() {
        let body = format!(
            "{{{}}}",
            (0..500)
                .map(|i| format!("\"u{i}\":1"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let rejection = run(&body).unwrap_err();
        assert_eq!(rejection.errors.len(), MAX_REPORTED_ERRORS);
        assert_eq!(rejection.omitted, 500 - MAX_REPORTED_ERRORS);
    }
}
