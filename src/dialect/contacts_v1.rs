//! Contacts v1: `PATCH /v1/persons/{personId}` (docs/API.md §5).

use super::{CustomerHeader, Dialect, IdFormat, ProblemStyle, Success};
use crate::engine::{BoolForms, Clear, Field, FieldTable, Kind};

/// The stored attribute holding custom field values, a map keyed by definition id.
pub const CUSTOM_FIELDS_ATTRIBUTE: &str = "customFields";

const FIELDS: &[Field] = &[
    Field::text("title", 20),
    Field::required_text("forename", 100),
    Field::required_text("surname", 100),
    Field {
        name: "email",
        attribute: "email",
        kind: Kind::Email { max: 254 },
        clear: Clear::Never,
    },
    Field::text("mobile", 30),
    Field::text("landline", 30),
    Field::text("extension", 10),
    Field::text("position", 100),
    Field::text("department", 100),
    Field {
        name: "isOptedOut",
        attribute: "isOptedOut",
        kind: Kind::Boolean(BoolForms::Json),
        clear: Clear::Never,
    },
    Field {
        name: "customFields",
        attribute: CUSTOM_FIELDS_ATTRIBUTE,
        kind: Kind::CustomFields,
        clear: Clear::Never,
    },
];

pub static DIALECT: Dialect = Dialect {
    name: "contacts-v1",
    route: &["v1", "persons"],
    id_format: IdFormat::Uuid,
    id_attribute: "id",
    fields: FieldTable {
        fields: FIELDS,
        read_only: &["id", "createdAt", "updatedAt", "version"],
    },
    customer_header: CustomerHeader::Required,
    success: Success::NoContent,
    problems: ProblemStyle::Rfc9457,
};
