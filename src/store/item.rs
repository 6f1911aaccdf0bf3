//! Items as the SDK holds them ↔ the engine's records and plans: the one conversion every
//! kind of write and read goes through.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value as Json};

use super::PersonKey;
use crate::engine::record::{Record, Stored};
use crate::engine::{UpdatePlan, Value};
use crate::table::{PARTITION_KEY, SORT_KEY};

/// An item as the SDK reads and writes it.
pub type Item = HashMap<String, AttributeValue>;

/// A person's attributes as a whole item writes them, besides its keys.
pub type Attributes = BTreeMap<String, Value>;

/// A person's whole item: its keys and `attributes`.
pub fn person_item(key: &PersonKey, attributes: Attributes) -> Item {
    let mut item: Item = attributes
        .into_iter()
        .map(|(name, value)| (name, to_attribute(value)))
        .collect();
    item.insert(PARTITION_KEY.into(), AttributeValue::S(key.partition_key()));
    item.insert(SORT_KEY.into(), AttributeValue::S(key.sort_key()));
    item
}

/// A stored item as plain JSON, names sorted (numbers as JSON numbers where they fit, sets
/// as arrays, binary values as `"<binary>"`).
pub fn to_plain_json(item: &Item) -> Json {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    let mut object = Map::new();
    for name in names {
        if let Some(value) = item.get(name) {
            object.insert(name.clone(), attribute_to_json(value));
        }
    }
    Json::Object(object)
}

fn number_to_json(n: &str) -> Json {
    serde_json::from_str::<serde_json::Number>(n)
        .map(Json::Number)
        .unwrap_or_else(|_| json!(n))
}

fn attribute_to_json(value: &AttributeValue) -> Json {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => number_to_json(n),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => Json::Null,
        AttributeValue::M(m) => to_plain_json(m),
        AttributeValue::L(l) => Json::Array(l.iter().map(attribute_to_json).collect()),
        AttributeValue::Ss(v) => json!(v),
        AttributeValue::Ns(v) => Json::Array(v.iter().map(|n| number_to_json(n)).collect()),
        _ => json!("<binary>"),
    }
}

/// A value the engine writes, as DynamoDB takes it.
pub fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s),
        Value::N(n) => AttributeValue::N(n),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Map(entries) => AttributeValue::M(
            entries
                .into_iter()
                .map(|(k, v)| (k, to_attribute(v)))
                .collect(),
        ),
    }
}

/// A stored item as a record: the types the engine updates, and the rest marked foreign.
pub fn to_record(item: &Item) -> Record {
    item.iter()
        .map(|(name, value)| (name.clone(), to_stored(value)))
        .collect()
}

fn to_stored(value: &AttributeValue) -> Stored {
    match value {
        AttributeValue::S(s) => Stored::Value(Value::S(s.clone())),
        AttributeValue::N(n) => Stored::Value(Value::N(n.clone())),
        AttributeValue::Bool(b) => Stored::Value(Value::Bool(*b)),
        AttributeValue::M(m) => Stored::Map(
            m.iter()
                .map(|(name, value)| (name.clone(), to_stored(value)))
                .collect(),
        ),
        AttributeValue::Null(_) => Stored::Null,
        _ => Stored::Other,
    }
}

/// A plan's placeholder maps as an `UpdateItem` takes them:
/// `#name` → attribute name, `:value` → value.
pub fn expression_maps(plan: &UpdatePlan) -> (HashMap<String, String>, Item) {
    let names = plan.names.iter().cloned().collect();
    let values = plan
        .values
        .iter()
        .map(|(placeholder, value)| (placeholder.clone(), to_attribute(value.clone())))
        .collect();
    (names, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expression::{build_update, Precondition, Stamp};
    use crate::engine::{Change, Op, Patch, Target};

    #[test]
    fn items_become_records_and_back() {
        let item: Item = HashMap::from([
            ("forename".into(), AttributeValue::S("Ada".into())),
            ("version".into(), AttributeValue::N("7".into())),
            ("flag".into(), AttributeValue::Bool(true)),
            ("gone".into(), AttributeValue::Null(true)),
            ("tags".into(), AttributeValue::Ss(vec!["a".into()])),
            (
                "customFields".into(),
                AttributeValue::M(HashMap::from([(
                    "1001".into(),
                    AttributeValue::S("x".into()),
                )])),
            ),
        ]);
        let record = to_record(&item);
        assert_eq!(record["forename"], Stored::Value(Value::S("Ada".into())));
        assert_eq!(record["gone"], Stored::Null);
        assert_eq!(record["tags"], Stored::Other);
        assert!(matches!(&record["customFields"], Stored::Map(m) if m.len() == 1));
        assert_eq!(
            to_attribute(Value::Map(vec![("k".into(), Value::N("1".into()))])),
            AttributeValue::M(HashMap::from([("k".into(), AttributeValue::N("1".into()))]))
        );
    }

    #[test]
    fn a_plan_gives_every_placeholder_once() {
        let patch = Patch::new(vec![Change {
            target: Target::Attribute("forename"),
            op: Op::Set(Value::S("Ada".into())),
        }])
        .unwrap();
        let stamp = Stamp {
            updated_at: "2026-11-30T00:00:00.000Z",
            updated_by: "c",
            write_id: "w",
        };
        let plan = build_update(&patch, &stamp, &Precondition::Exists);
        let (names, values) = expression_maps(&plan);
        assert_eq!(names.len(), plan.names.len());
        assert_eq!(values.len(), plan.values.len());
        for name in names.keys() {
            assert!(
                plan.update_expression.contains(name.as_str())
                    || plan.condition_expression.contains(name.as_str()),
                "{name}"
            );
        }
    }
}
