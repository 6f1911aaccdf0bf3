//! A stored record as the service reads it back: plain attributes (strings, numbers, booleans
//! and maps of them), what the dialects render and the store returns.

use std::collections::BTreeMap;

use super::patch::Value;
use crate::table::person::VERSION;

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

/// How a stored record holds a map an update writes entries into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapHolding {
    /// Absent, or `NULL` (which holds nothing): the update creates the map whole.
    Missing,
    Present,
    /// Another type, written by another tool: updating it would lose data.
    Foreign,
}

/// How `record` holds `map`.
pub fn map_holding(record: &Record, map: &str) -> MapHolding {
    match record.get(map) {
        None | Some(Stored::Null) => MapHolding::Missing,
        Some(Stored::Map(_)) => MapHolding::Present,
        Some(_) => MapHolding::Foreign,
    }
}

/// The record's version, when it holds a numeric one.
pub fn version_of(record: &Record) -> Option<u64> {
    stored_version(record).ok().flatten()
}

/// The record's version as a conditional write must name it: `Ok(None)` when it has none
/// (written by another tool; its first update makes it 1), `Err` naming the attribute when
/// it holds one that is not a whole number.
pub fn stored_version(record: &Record) -> Result<Option<u64>, &'static str> {
    match record.get(VERSION) {
        None => Ok(None),
        Some(Stored::Value(Value::N(n))) => n.parse::<u64>().map(Some).map_err(|_| VERSION),
        Some(_) => Err(VERSION),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_and_versions_as_stored() {
        let record: Record = BTreeMap::from([
            ("version".into(), Stored::Value(Value::N("7".into()))),
            ("customFields".into(), Stored::Map(BTreeMap::new())),
            ("nulled".into(), Stored::Null),
            ("listed".into(), Stored::Other),
        ]);
        assert_eq!(version_of(&record), Some(7));
        assert_eq!(map_holding(&record, "customFields"), MapHolding::Present);
        assert_eq!(map_holding(&record, "nulled"), MapHolding::Missing);
        assert_eq!(map_holding(&record, "absent"), MapHolding::Missing);
        assert_eq!(map_holding(&record, "listed"), MapHolding::Foreign);
        let foreign: Record =
            BTreeMap::from([("version".into(), Stored::Value(Value::S("7".into())))]);
        assert_eq!(version_of(&foreign), None);
        assert_eq!(stored_version(&foreign), Err("version"));
        assert_eq!(stored_version(&record), Ok(Some(7)));
        assert_eq!(stored_version(&Record::new()), Ok(None));
    }
}
