//! The OpenAPI 3.1 description of both routes, generated from the same dialect tables the
//! engine validates with, so the document cannot drift from the code. `person-patch-admin
//! openapi` prints it; `openapi.yaml` is the committed copy, and a test fails when they differ.
//!
//! Where JSON Schema cannot say what the engine checks (names matched case-insensitively,
//! dates no later than today, custom field values against their definitions), the schema is
//! the stricter or the looser side as noted, and the description says the rule.

use serde_json::{json, Map, Value as Json};

use crate::auth::WRITE_SCOPE;
use crate::dialect::demo::{DEMO_CUSTOMER, DEMO_V1_PERSON, DEMO_V2_PERSON};
use crate::dialect::{
    contacts_v1, persons_v2, CustomerHeader, Dialect, IdFormat, ProblemStyle, Success,
};
use crate::engine::custom_fields::{MAX_ENTRIES, MAX_TEXT_CHARS};
use crate::engine::{BoolForms, Clear, Field, Kind};
use crate::http::execute::MAX_BODY_BYTES;
use crate::http::problem::{ACCEPT_PATCH, BASIC_CHALLENGE, CODE_MEMBER};

/// Exactly the real calendar dates 1900-01-01..2099-12-31 (month lengths and leap years), with
/// an optional `T00:00:00`, or `""`.
const DATE_PATTERN: &str = concat!(
    "^(((19|20)\\d{2}-((0[1-9]|1[0-2])-(0[1-9]|1\\d|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31)",
    "|(19(0[48]|[2468][048]|[13579][26])|20([02468][048]|[13579][26]))-02-29)(T00:00:00)?)?$"
);

const BOOL_TEXT: &str = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Tt]|[Ff])?$";

/// The request schema of one field.
fn field_schema(field: &Field, dialect: &Dialect) -> Json {
    let clearable = field.clear == Clear::NullOrEmpty;
    let mut schema = match field.kind {
        Kind::Text {
            min,
            max,
            multiline,
        } => json!({
            "type": "string",
            "minLength": if clearable { 0 } else { min },
            "maxLength": max,
            "pattern": crate::engine::text::control_free_pattern(multiline),
        }),
        Kind::Email { max } => {
            let email = json!({"type": "string", "format": "email", "maxLength": max});
            if clearable {
                // "" clears: a string branch generated clients read (not a `const`).
                json!({"anyOf": [email, {"type": "string", "maxLength": 0}]})
            } else {
                email
            }
        }
        Kind::Boolean(BoolForms::Json) => json!({"type": "boolean"}),
        // The empty string (which clears) sits inside the string branch's pattern, a form
        // generated clients read; a `const: ""` branch is one some of them mishandle.
        Kind::Boolean(BoolForms::JsonOrText) => json!({
            "anyOf": [
                {"type": "boolean"},
                {"type": "string", "pattern": BOOL_TEXT}
            ]
        }),
        Kind::Date => json!({
            "type": "string",
            "pattern": DATE_PATTERN,
            "description": "A real calendar date from 1900-01-01 to today, YYYY-MM-DD (a T00:00:00 time part is accepted); \"\" or null unsets it. The pattern admits exactly the real dates of 1900-2099; a date after today is refused too. Stored as YYYY-MM-DD."
        }),
        Kind::Integer {
            min,
            max,
            digit_string,
        } => {
            let number = json!({"type": "integer", "minimum": min, "maximum": max});
            if digit_string {
                json!({"anyOf": [number, {"type": "string", "pattern": "^([0-9]{1,10})?$"}],
                       "description": format!("An integer from {min} to {max}, as a number or a string of digits.")})
            } else {
                number
            }
        }
        Kind::CustomFields => json!({
            "type": "array",
            "maxItems": MAX_ENTRIES,
            "items": {"$ref": "#/components/schemas/CustomFieldValue"},
            "description": "Custom field values to set (a string) or unset (null or \"\"). An empty list changes nothing. Each definitionId must be one of the customer's writable custom field definitions, at most once, and each value must fit the definition's type."
        }),
    };
    if clearable {
        allow_null(&mut schema);
    }
    describe_clearing(&mut schema, field, dialect);
    schema
}

/// Lets a schema take `null` too: a type list, or one more `anyOf` branch.
fn allow_null(schema: &mut Json) {
    let Json::Object(object) = schema else {
        return;
    };
    match object.get_mut("type") {
        Some(kind @ Json::String(_)) => {
            let t = kind.clone();
            *kind = json!([t, "null"]);
        }
        _ => {
            if let Some(Json::Array(any)) = object.get_mut("anyOf") {
                any.push(json!({"type": "null"}));
            }
        }
    }
}

/// Adds to the description what null (and `""`) do to the field.
fn describe_clearing(schema: &mut Json, field: &Field, dialect: &Dialect) {
    let note = match (field.clear, dialect.problems) {
        (Clear::NullOrEmpty, _) => "null or \"\" removes the stored value.",
        (Clear::Never, _) if matches!(field.kind, Kind::CustomFields) => "",
        (Clear::Never, _) => "Required if present: null is refused.",
    };
    if note.is_empty() {
        return;
    }
    if let Json::Object(object) = schema {
        let text = match object.get("description").and_then(Json::as_str) {
            Some(existing) => format!("{existing} {note}"),
            None => note.to_owned(),
        };
        object.insert("description".into(), json!(text));
    }
}

fn request_schema(dialect: &Dialect) -> Json {
    let mut properties = Map::new();
    let mut patterns = Map::new();
    let mut lists = Vec::new();
    for field in dialect.fields.fields {
        properties.insert(field.name.to_owned(), field_schema(field, dialect));
        patterns.insert(any_case(field.name), field_schema(field, dialect));
        if matches!(field.kind, Kind::CustomFields) {
            lists.push(field.name);
        }
    }
    // The canonical names for generated clients; every spelling in any case, with the same
    // schema, for what the function accepts.
    let mut schema = json!({
        "type": "object",
        "properties": properties,
        "patternProperties": patterns,
        "additionalProperties": false,
        "minProperties": 1,
        "description": format!(
            "Only the properties sent are changed. Names are matched case-insensitively (ASCII), as patternProperties says; a name sent twice (in any case), an unknown name and a read-only one ({}) are refused.",
            dialect.fields.read_only.join(", ")
        ),
    });
    // At least one field, and an empty list alone changes nothing: refused as no field.
    for list in lists {
        schema["not"] = json!({
            "minProperties": 1,
            "maxProperties": 1,
            "propertyNames": {"pattern": any_case(list)},
            "additionalProperties": {"type": "array", "maxItems": 0}
        });
    }
    schema
}

/// A pattern matching `name` in any ASCII case, letter by letter (`^[Cc][Ii][Tt][Yy]$`).
fn any_case(name: &str) -> String {
    let mut pattern = String::from("^");
    for c in name.chars() {
        if c.is_ascii_alphabetic() {
            pattern.push('[');
            pattern.push(c.to_ascii_uppercase());
            pattern.push(c.to_ascii_lowercase());
            pattern.push(']');
        } else {
            pattern.push(c);
        }
    }
    pattern.push('$');
    pattern
}

/// The 200 record of a dialect that answers with one.
fn record_schema(dialect: &Dialect) -> Json {
    let mut properties = Map::new();
    properties.insert(
        dialect.id_attribute.to_owned(),
        json!({"type": "integer", "format": "int32"}),
    );
    for field in dialect.fields.fields {
        let schema = match field.kind {
            Kind::Boolean(BoolForms::JsonOrText) => json!({"enum": ["true", "false", null]}),
            Kind::Boolean(BoolForms::Json) => json!({"type": ["boolean", "null"]}),
            Kind::Integer {
                digit_string: true, ..
            } => {
                json!({"type": ["string", "null"], "pattern": "^[0-9]+$"})
            }
            Kind::Integer { .. } => json!({"type": ["integer", "null"]}),
            _ => json!({"type": ["string", "null"]}),
        };
        properties.insert(field.name.to_owned(), schema);
    }
    let mut required: Vec<&str> = vec![dialect.id_attribute];
    required.extend(dialect.fields.fields.iter().map(|f| f.name));
    json!({"type": "object", "properties": properties, "required": required})
}

fn header(description: &str, schema: Json) -> Json {
    json!({"description": description, "schema": schema})
}

fn problem_response(
    description: &str,
    style: ProblemStyle,
    validation: bool,
    headers: Json,
) -> Json {
    let schema = match (style, validation) {
        (ProblemStyle::Rfc9457, false) => "Problem",
        (ProblemStyle::Rfc9457, true) => "ValidationProblem",
        (ProblemStyle::AspNetCore, false) => "AspNetProblem",
        (ProblemStyle::AspNetCore, true) => "AspNetValidationProblem",
    };
    let mut response = json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    });
    if headers.as_object().is_some_and(|h| !h.is_empty()) {
        response["headers"] = headers;
    }
    response
}

fn operation(dialect: &Dialect) -> Json {
    let v1 = dialect.problems == ProblemStyle::Rfc9457;
    let security = match dialect.customer_header {
        CustomerHeader::Required => json!([{"basicAuth": []}, {"oauth2": [WRITE_SCOPE]}]),
        CustomerHeader::OptionalForSingleCustomer => json!([{"basicAuth": []}]),
    };
    let media = json!({"schema": {"$ref": format!("#/components/schemas/{}Patch", schema_prefix(dialect))}});
    json!({
        "patch": {
            "operationId": format!("patch{}Person", schema_prefix(dialect)),
            "summary": match dialect.success {
                Success::NoContent => "Update a person (Contacts v1)",
                Success::Record => "Partially update a person (Persons v2)",
            },
            "tags": [if v1 { "Contacts v1" } else { "Persons v2" }],
            "parameters": parameters(dialect),
            "requestBody": {
                "required": true,
                "content": {"application/json": media.clone(), "text/json": media.clone(), "application/merge-patch+json": media}
            },
            "responses": responses(dialect),
            "security": security,
        }
    })
}

/// The operation's parameters: the path id, and the headers it reads.
fn parameters(dialect: &Dialect) -> Json {
    let (id_schema, id_example) = match dialect.id_format {
        IdFormat::Uuid => (
            json!({"type": "string", "format": "uuid"}),
            json!(DEMO_V1_PERSON),
        ),
        IdFormat::PositiveInt32 => (
            json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 2147483647}),
            json!(DEMO_V2_PERSON),
        ),
    };
    let customer_required = dialect.customer_header == CustomerHeader::Required;
    json!([
        {"name": "personId", "in": "path", "required": true, "schema": id_schema, "example": id_example},
        {"name": "Customer-Id", "in": "header", "required": customer_required,
         "description": if customer_required { "The customer acted for." } else { "The customer acted for; optional when the credentials may act for exactly one customer." },
         "schema": {"type": "string", "pattern": "^[ \\t]*0*([1-9][0-9]{0,17}|[1-8][0-9]{18})[ \\t]*$",
                    "description": "A positive 64-bit integer in decimal digits; leading zeros and surrounding spaces are allowed. The function accepts up to 9223372036854775807; the pattern, which cannot say that exactly, stops at 8999999999999999999."},
         "example": DEMO_CUSTOMER.0.to_string()},
        {"name": "If-Match", "in": "header", "required": false,
         "description": "* or a list of up to 100 ETags from earlier answers: update only if the record is still at one of those versions (else 412).",
         "schema": {"type": "string", "pattern": "^[ \\t]*(\\*|\"[0-9]{1,19}\"([ \\t]*,[ \\t]*\"[0-9]{1,19}\"){0,99})[ \\t]*$"}},
        {"name": "Idempotency-Key", "in": "header", "required": false,
         "description": "A key of the client's choosing, as a quoted string (RFC 8941) of 1 to 255 printable ASCII characters, scoped to the credentials and customer. Within 24 hours, the same request (method, path, If-Match and body) with the same key answers what the first one answered, with Idempotent-Replayed: true, and writes nothing; another request with the key is a 422; while the first is still being carried out, a 409 with Retry-After. A keyed request is applied at most once. Answers of 5xx are not kept: the retry carries the request out, or, when the first may have written, waits out its 15-second lock (409 with Retry-After) and then answers its success, carries it out, or answers 409 idempotency-outcome-unknown when that cannot be told. The rules in full: docs/API.md, section 7a.",
         "schema": {"type": "string", "pattern": "^\"([\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]|\\\\[\"\\\\]){1,255}\"$"},
         "example": "\"8e03978e-40d5-43e8-bc93-6894a57f9324\""},
    ])
}

/// Every answer the operation gives, by status.
fn responses(dialect: &Dialect) -> Map<String, Json> {
    let style = dialect.problems;
    let etag = header(
        "The record's version; send it back in If-Match to update only that version.",
        json!({"type": "string", "pattern": "^\"[0-9]+\"$"}),
    );
    let replayed = header(
        "true when this is the recorded answer to an earlier request with the same Idempotency-Key.",
        json!({"type": "string", "const": "true"}),
    );
    let success = match dialect.success {
        Success::NoContent => {
            json!({"204": {"description": "Updated.", "headers": {"ETag": etag, "Idempotent-Replayed": replayed}}})
        }
        Success::Record => json!({"200": {
            "description": "Updated; the record as stored now.",
            "headers": {"ETag": etag, "Idempotent-Replayed": replayed},
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}Record", schema_prefix(dialect))}}}
        }}),
    };
    let mut responses = success.as_object().cloned().unwrap_or_default();
    let v1 = style == ProblemStyle::Rfc9457;
    let entries = [
        ("400", problem_response(
            if v1 { "A malformed header, id or body, or JSON of the wrong types." } else { "A malformed header or id, or a body that breaks the field rules (every error listed under errors)." },
            style, !v1, json!({}))),
        ("401", problem_response("No credentials, or credentials not accepted.", style, false,
            json!({"WWW-Authenticate": header("The challenge.", json!({"type": "string", "const": BASIC_CHALLENGE}))}))),
        ("403", problem_response("The credentials lack the scope, or may not act for the customer.", style, false, json!({}))),
        ("404", problem_response("No such person for this customer.", style, false, json!({}))),
        ("409", problem_response("The first request with this Idempotency-Key is still being carried out (retry after Retry-After), or it died after it may have written and the person changed since, so its outcome cannot be told (nothing is written; send further changes with a new key), or the stored record holds an attribute another tool wrote in a type this service cannot update without losing data (customFields not a map, version not a number); nothing was written.", style, false,
            json!({"Retry-After": header("Seconds to wait (with an Idempotency-Key in flight).", json!({"type": "integer"}))}))),
        ("412", problem_response("If-Match did not match; the current ETag is given.", style, false,
            json!({"ETag": header("The current version.", json!({"type": "string"}))}))),
        ("413", problem_response(&format!("The body is larger than {MAX_BODY_BYTES} bytes, or the record would exceed the store's item size."), style, false, json!({}))),
        ("415", problem_response("The body is not sent as JSON.", style, false,
            json!({"Accept-Patch": header("The patch document types accepted.", json!({"type": "string", "const": ACCEPT_PATCH}))}))),
        ("500", problem_response("An unexpected error; quote the requestId.", style, false, json!({}))),
        ("503", problem_response("The store is busy or unavailable, or the request's deadline passed; retry after Retry-After.", style, false,
            json!({"Retry-After": header("Seconds to wait.", json!({"type": "integer"}))}))),
    ];
    for (status, response) in entries {
        responses.insert(status.into(), response);
    }
    if v1 {
        let mut response = problem_response(
            "The body breaks the field rules (every error listed under errors), or the Idempotency-Key was used for another request.",
            style,
            true,
            json!({}),
        );
        response["content"]["application/problem+json"]["schema"] = json!({"anyOf": [
            {"$ref": "#/components/schemas/ValidationProblem"},
            {"$ref": "#/components/schemas/Problem"}
        ]});
        responses.insert("422".into(), response);
    } else {
        responses.insert(
            "422".into(),
            problem_response(
                "The Idempotency-Key was used for another request.",
                style,
                false,
                json!({}),
            ),
        );
    }
    responses
}

fn schema_prefix(dialect: &Dialect) -> &'static str {
    match dialect.problems {
        ProblemStyle::Rfc9457 => "ContactsV1",
        ProblemStyle::AspNetCore => "PersonsV2",
    }
}

fn path_of(dialect: &Dialect) -> String {
    format!("/{}/{{personId}}", dialect.route.join("/"))
}

/// The whole document.
pub fn document() -> Json {
    let problem_properties = json!({
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "requestId": {"type": "string"}
    });
    let required = json!(["type", "title", "status", "detail", "instance", "requestId"]);
    let errors = json!({
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "description": "Messages by property path (camelCase for Contacts v1, e.g. customFields[2].value; PascalCase for Persons v2; $ for the body as a whole)."
    });
    let with = |extra: Json| {
        let mut properties = problem_properties.clone();
        if let (Json::Object(p), Json::Object(e)) = (&mut properties, extra) {
            p.extend(e);
        }
        properties
    };
    let v1 = &contacts_v1::DIALECT;
    let v2 = &persons_v2::DIALECT;
    let mut paths = Map::new();
    paths.insert(path_of(v1), operation(v1));
    paths.insert(path_of(v2), operation(v2));
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "person-patch",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Partial updates of person records: Contacts v1 (PATCH /v1/persons/{personId}, 204) and Persons v2 (PATCH /api/v2/persons/{personId}, 200 with the record). Generated from the field tables the function validates with (person-patch-admin openapi).",
        },
        "servers": [{"url": "/", "description": "The API's base URL (the ApiUrl output of the stack)."}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "An API client id and secret."},
                "oauth2": {
                    "type": "oauth2",
                    "description": "Bearer tokens verified by the API gateway's JWT authorizer (Contacts v1 route, when configured).",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {WRITE_SCOPE: "Update persons."}}}
                }
            },
            "schemas": {
                "CustomFieldValue": {
                    "type": "object",
                    "properties": {
                        "definitionId": {"type": "integer", "format": "int64"},
                        "value": {
                            "type": ["string", "null"],
                            "maxLength": MAX_TEXT_CHARS,
                            "pattern": crate::engine::text::control_free_pattern(true),
                            "description": "The value as text, fitting the definition's type: true or false (boolean), an integer, a decimal, YYYY-MM-DD (date), HH:mm (time), one of the options (list), a positive integer id (systemList), any text (text: one line; note: tab, line feed and carriage return allowed). null or \"\" unsets the field."
                        }
                    },
                    "required": ["definitionId", "value"],
                    "additionalProperties": false
                },
                "ContactsV1Patch": request_schema(v1),
                "PersonsV2Patch": request_schema(v2),
                "PersonsV2Record": record_schema(v2),
                "Problem": {"type": "object", "properties": problem_properties, "required": required},
                "ValidationProblem": {"type": "object", "properties": with(json!({"errors": errors})), "required": required},
                "AspNetProblem": {"type": "object", "properties": with(json!({"traceId": {"type": "string"}, CODE_MEMBER: {"type": "string", "enum": ["idempotency-key-in-flight", "idempotency-outcome-unknown", "stored-record-conflict"], "description": "On a 409 only: which conflict it is (type and title are ASP.NET Core's for the status). idempotency-key-in-flight: retry after Retry-After to get the first answer; idempotency-outcome-unknown: read the person and send any change still wanted with a new key; stored-record-conflict: the stored record needs repair."}})), "required": required},
                "AspNetValidationProblem": {"type": "object", "properties": with(json!({"traceId": {"type": "string"}, "errors": errors})), "required": required},
            }
        }
    })
}

/// YAML for a JSON value: block mappings and sequences, scalars as JSON (which YAML reads
/// as the same values).
pub fn to_yaml(value: &Json) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    out
}

fn write_yaml(value: &Json, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                out.push_str(&pad);
                out.push_str(&yaml_key(key));
                out.push(':');
                write_child(child, indent, out);
            }
        }
        Json::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                write_child(item, indent, out);
            }
        }
        scalar => {
            out.push_str(&pad);
            out.push_str(&scalar.to_string());
            out.push('\n');
        }
    }
}

/// A mapping key: bare when YAML reads it back as that same string, else quoted.
fn yaml_key(key: &str) -> String {
    const SPECIAL: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    let bare = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/{}.".contains(c))
        && !SPECIAL.contains(&key.to_ascii_lowercase().as_str());
    if bare && !key.starts_with('{') {
        key.to_owned()
    } else {
        Json::String(key.to_owned()).to_string()
    }
}

fn write_child(child: &Json, indent: usize, out: &mut String) {
    match child {
        Json::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_yaml(child, indent + 2, out);
        }
        Json::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_yaml(child, indent + 2, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar.to_string());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_of_every_dialect_is_described() {
        let doc = document();
        for (dialect, schema) in [
            (&contacts_v1::DIALECT, "ContactsV1Patch"),
            (&persons_v2::DIALECT, "PersonsV2Patch"),
        ] {
            let properties = &doc["components"]["schemas"][schema]["properties"];
            for field in dialect.fields.fields {
                assert!(
                    properties.get(field.name).is_some(),
                    "{schema} lacks {}",
                    field.name
                );
            }
        }
    }

    #[test]
    fn yaml_scalars_are_json() {
        let yaml = to_yaml(&json!({"a": {"b": [1, "x: y", null, {}]}, "c": []}));
        assert_eq!(
            yaml,
            "a:\n  b:\n    - 1\n    - \"x: y\"\n    - null\n    - {}\nc: []\n"
        );
        assert_eq!(yaml_key("200"), "\"200\"");
        assert_eq!(yaml_key("on"), "\"on\"");
        assert_eq!(yaml_key("/v1/persons/{personId}"), "/v1/persons/{personId}");
        assert_eq!(
            yaml_key("contacts:persons:write"),
            "\"contacts:persons:write\""
        );
        assert_eq!(yaml_key("$ref"), "\"$ref\"");
    }
}
