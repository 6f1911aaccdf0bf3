//! The dialect-independent engine: a field table turns a JSON body into a validated [`Patch`],
//! and a pure builder turns a patch into one DynamoDB update.

pub mod custom_fields;
pub mod error_class;
pub mod expression;
pub mod field;
pub mod json;
pub mod patch;
pub mod record;
pub mod text;
pub mod validate;

pub use custom_fields::{CustomKind, Definitions, FieldDefinition};
pub use expression::{build_update, Precondition, Stamp, UpdatePlan};
pub use field::{BoolForms, Clear, Field, FieldTable, Kind};
pub use patch::{Change, Op, Patch, Target, Value};
pub use validate::{validate, Draft, ErrorClass, FieldError, Rejection};
