//! The two kinds of field error.

/// Which kind of rule an error broke. Contacts v1 answers the two differently (400 and 422);
/// Persons v2 answers both with its 400 ValidationProblemDetails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The JSON does not have the shape the field takes: a wrong JSON type, a number out of
    /// the field's range, a non-object body.
    Malformed,
    /// Well-formed JSON breaking a rule of the field: too long, not an email, null where a
    /// value is required, an unknown or read-only property, an empty patch.
    Invalid,
}
