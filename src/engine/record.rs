//! A stored record as the service reads it back: plain attributes (strings, numbers, booleans
//! and maps of them), what the dialects render and the store returns.

use std::collections::BTreeMap;

use super::patch::Value;

/// A stored record's plain attributes (strings, numbers, booleans and maps of them).
pub type Record = BTreeMap<String, Stored>;

/// A stored attribute value as the service reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Value(Value),
    Map(BTreeMap<String, Stored>),
    /// DynamoDB's `NULL` (what boto3 writes for Python's `None`).
    Null,
    /// A type the service never writes (sets, lists, binary), kept opaque.
    Other,
}
