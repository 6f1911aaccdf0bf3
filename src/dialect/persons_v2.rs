//! Persons v2: `PATCH /api/v2/persons/{personId}` (CONTRACT §6), an ASP.NET Core API's
//! dialect: PascalCase names, lenient booleans and ids, `200` with the updated record.

use super::{CustomerHeader, Dialect, IdFormat, ProblemStyle, Success};
use crate::engine::{BoolForms, Clear, Field, FieldTable, Kind};

const fn text(name: &'static str, max: usize) -> Field {
    Field {
        name,
        attribute: name,
        kind: Kind::Text {
            min: 0,
            max,
            multiline: false,
        },
        clear: Clear::NullOrEmpty,
    }
}

const fn required_text(name: &'static str, max: usize) -> Field {
    Field {
        name,
        attribute: name,
        kind: Kind::Text {
            min: 1,
            max,
            multiline: false,
        },
        clear: Clear::Never,
    }
}

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
    required_text("FirstName", 100),
    required_text("LastName", 100),
    text("NameOnID", 200),
    text("Prefix", 200),
    text("Suffix", 200),
    text("Gender", 200),
    text("JobTitle", 200),
    Field {
        name: "DateOfBirth",
        attribute: "DateOfBirth",
        kind: Kind::Date,
        clear: Clear::NullOrEmpty,
    },
    text("Phone1", 200),
    text("Phone2", 200),
    text("Address", 200),
    text("City", 200),
    text("StateProvince", 200),
    text("PostalCode", 200),
    text("Country", 200),
    text("CompanyName", 200),
    text("CorporateID", 200),
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
    text("UserRole", 200),
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
