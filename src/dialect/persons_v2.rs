//! Persons v2: `PATCH /api/v2/persons/{personId}` (docs/API.md §6), an ASP.NET Core API's
//! dialect: PascalCase names, lenient booleans and ids, `200` with the updated record.

use super::{CustomerHeader, Dialect, IdFormat, ProblemStyle, Success};
use crate::engine::{BoolForms, Clear, Field, FieldTable, Kind};

const fn flag(name: &'static str) -> Field {
    Field {
        name,
        attribute: name,
        kind: Kind::Boolean(BoolForms::JsonOrText),
        clear: Clear::NullOrEmpty,
    }
}

/// In the order of the seed's sample payload, which is also the record's order.
const FIELDS: &[Field] = &[
    Field::required_text("FirstName", 100),
    Field::required_text("LastName", 100),
    Field::text("NameOnID", 200),
    Field::text("Prefix", 200),
    Field::text("Suffix", 200),
    Field::text("Gender", 200),
    Field::text("JobTitle", 200),
    Field {
        name: "DateOfBirth",
        attribute: "DateOfBirth",
        kind: Kind::Date,
        clear: Clear::NullOrEmpty,
    },
    Field::text("Phone1", 200),
    Field::text("Phone2", 200),
    Field::text("Address", 200),
    Field::text("City", 200),
    Field::text("StateProvince", 200),
    Field::text("PostalCode", 200),
    Field::text("Country", 200),
    Field::text("CompanyName", 200),
    Field::text("CorporateID", 200),
    Field {
        name: "HomeSiteID",
        attribute: "HomeSiteID",
        kind: Kind::Integer {
            min: 0,
            max: 2_147_483_647,
            digit_string: true,
        },
        clear: Clear::NullOrEmpty,
    },
    Field::text("UserRole", 200),
    Field {
        name: "Biography",
        attribute: "Biography",
        kind: Kind::Text {
            min: 0,
            max: 50_000,
            multiline: true,
        },
        clear: Clear::NullOrEmpty,
    },
    flag("IsActive"),
    flag("IsUser"),
    flag("IsSpeaker"),
    Field {
        name: "Email",
        attribute: "Email",
        kind: Kind::Email { max: 254 },
        clear: Clear::NullOrEmpty,
    },
];

pub static DIALECT: Dialect = Dialect {
    name: "persons-v2",
    route: &["api", "v2", "persons"],
    id_format: IdFormat::PositiveInt32,
    id_attribute: "ID",
    fields: FieldTable {
        fields: FIELDS,
        read_only: &[
            "ID",
            "ProfilePicture",
            "ProfilePictureUrl",
            "ProfilePicturePreviewUrl",
            "IsExternal",
        ],
    },
    customer_header: CustomerHeader::OptionalForSingleCustomer,
    success: Success::Record,
    problems: ProblemStyle::AspNetCore,
};
