//! The JSON Schema of a stored person item of a dialect, generated from its field table and
//! the table's layout: what another system may write for the function to PATCH it, and what
//! the function leaves there. An item is described as plain JSON (DynamoDB strings as strings,
//! numbers as numbers, booleans, maps as objects), as `person-patch-admin get-person` prints it.
//! `schemas/person-item.<dialect>.schema.json` hold the generated documents.

use serde_json::{json, Map, Value as Json};

use super::{Dialect, IdFormat};
use crate::engine::{Clear, Kind};
use crate::table::person::{CREATED_AT, LAST_WRITE_ID, UPDATED_AT, UPDATED_BY, VERSION};
use crate::table::{self, PARTITION_KEY, SORT_KEY};

/// A lowercase hyphenated UUID.
const UUID_PATTERN: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/// A positive int32 in decimal, no leading zero.
const INT32_PATTERN: &str = "[1-9][0-9]{0,9}";
/// RFC 3339 UTC with milliseconds, as the function writes `updatedAt`.
const TIMESTAMP_PATTERN: &str =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$";

/// The schema of a stored person of `dialect`.
pub fn item_schema(dialect: &Dialect) -> Json {
    let (id_pattern, id_schema) = match dialect.id_format {
        IdFormat::Uuid => (
            UUID_PATTERN,
            json!({"type": "string", "pattern": format!("^{UUID_PATTERN}$")}),
        ),
        IdFormat::PositiveInt32 => (
            INT32_PATTERN,
            json!({"type": "integer", "minimum": 1, "maximum": 2147483647}),
        ),
    };
    let mut properties = Map::new();
    properties.insert(
        PARTITION_KEY.into(),
        json!({"type": "string", "pattern": table::customer_key_pattern(), "description": "The customer's partition."}),
    );
    properties.insert(
        SORT_KEY.into(),
        json!({"type": "string", "pattern": table::person_key_pattern(id_pattern), "description": "The person, by its id."}),
    );
    properties.insert(dialect.id_attribute.into(), id_schema);
    for field in dialect.fields.fields {
        properties.insert(
            field.attribute.into(),
            stored_field(field.kind, field.clear),
        );
    }
    for (name, schema) in service_attributes() {
        properties.insert(name.into(), schema);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://person-patch.example/schemas/person-item.{}.schema.json", dialect.name),
        "title": format!("A stored {} person", dialect.name),
        "description": "A person item of the persons table as plain JSON. The caller's system writes the keys, the id and the fields; the function owns version, updatedAt, updatedBy and lastWriteId (the layout: src/table.rs). A field never set, or removed, is absent.",
        "type": "object",
        "required": [PARTITION_KEY, SORT_KEY, dialect.id_attribute],
        "properties": properties,
        "additionalProperties": false,
    })
}

/// A field's value as stored.
fn stored_field(kind: Kind, clear: Clear) -> Json {
    match kind {
        Kind::Text {
            min,
            max,
            multiline,
        } => json!({
            "type": "string",
            "minLength": if clear == Clear::NullOrEmpty { 1 } else { min.max(1) },
            "maxLength": max,
            "pattern": crate::engine::text::control_free_pattern(multiline),
        }),
        Kind::Email { max } => json!({"type": "string", "minLength": 1, "maxLength": max}),
        Kind::Boolean(_) => json!({"type": "boolean"}),
        Kind::Date => json!({"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}),
        Kind::Integer { min, max, .. } => {
            json!({"type": "integer", "minimum": min, "maximum": max})
        }
        Kind::CustomFields => json!({
            "type": "object",
            "description": "Custom field values by definition id.",
            "propertyNames": {"pattern": "^-?[0-9]{1,19}$"},
            "additionalProperties": {"type": "string"},
        }),
    }
}

/// The attributes the function maintains (and `createdAt`, which it never touches).
fn service_attributes() -> [(&'static str, Json); 5] {
    [
        (
            CREATED_AT,
            json!({"type": "string", "pattern": TIMESTAMP_PATTERN, "description": "When the person was created (the caller's system writes it)."}),
        ),
        (
            UPDATED_AT,
            json!({"type": "string", "pattern": TIMESTAMP_PATTERN, "description": "When the function last updated the person."}),
        ),
        (
            VERSION,
            json!({"type": "integer", "minimum": 0, "description": "Raised by one on every update; the ETag."}),
        ),
        (
            UPDATED_BY,
            json!({"type": "string", "minLength": 1, "description": "The API client that made the last update."}),
        ),
        (
            LAST_WRITE_ID,
            json!({"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "The request that made the last update."}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::DIALECTS;

    #[test]
    fn every_field_and_service_attribute_is_described() {
        for dialect in DIALECTS {
            let schema = item_schema(dialect);
            let properties = schema["properties"].as_object().unwrap();
            for field in dialect.fields.fields {
                assert!(
                    properties.contains_key(field.attribute),
                    "{}",
                    field.attribute
                );
            }
            for name in crate::table::SERVICE_ATTRIBUTES {
                assert!(properties.contains_key(*name), "{name}");
            }
        }
    }
}
