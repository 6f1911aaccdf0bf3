//! The DynamoDB stream event Lambda delivers, as this function reads it, and the partial batch
//! response it answers with.
//!
//! Records are read one by one from JSON: a record this function cannot read is skipped (and
//! counted) on its own, never a failed batch that Lambda would retry forever. Attribute values
//! stay in DynamoDB's JSON form (`{"S": "…"}`), which compares exactly.

use serde::Serialize;
use serde_json::{Map, Value as Json};

/// An item image in DynamoDB JSON: attribute name → `{"S": …}`, `{"N": …}`, `{"M": …}`, ….
pub type Image = Map<String, Json>;

/// What happened to the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

/// One stream record, the parts this function uses, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamRecord<'a> {
    pub event_name: EventName,
    /// The record's position in its shard: the identifier of a batch item failure.
    pub sequence_number: &'a str,
    pub keys: &'a Image,
    pub old_image: Option<&'a Image>,
    pub new_image: Option<&'a Image>,
}

impl<'a> StreamRecord<'a> {
    /// Reads one element of the event's `Records`; `None` when it is not a DynamoDB stream
    /// record this function can use.
    pub fn from_json(record: &'a Json) -> Option<StreamRecord<'a>> {
        let event_name = match record.get("eventName")?.as_str()? {
            "INSERT" => EventName::Insert,
            "MODIFY" => EventName::Modify,
            "REMOVE" => EventName::Remove,
            _ => return None,
        };
        let dynamodb = record.get("dynamodb")?;
        let image = |name: &str| dynamodb.get(name).and_then(Json::as_object);
        Some(StreamRecord {
            event_name,
            sequence_number: dynamodb.get("SequenceNumber")?.as_str()?,
            keys: image("Keys")?,
            old_image: image("OldImage"),
            new_image: image("NewImage"),
        })
    }
}

/// The records of a Lambda DynamoDB stream event, as JSON; an event without `Records` has
/// none.
pub fn records(event: &Json) -> &[Json] {
    event
        .get("Records")
        .and_then(Json::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Lambda's partial batch response (`ReportBatchItemFailures`): the sequence numbers of the
/// records to deliver again. Lambda resumes the shard from the lowest of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The string of an `S` attribute.
pub fn string<'a>(image: &'a Image, name: &str) -> Option<&'a str> {
    image.get(name)?.get("S")?.as_str()
}

/// The text of an `N` attribute.
pub fn number<'a>(image: &'a Image, name: &str) -> Option<&'a str> {
    image.get(name)?.get("N")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_record_and_refuses_what_is_not_one() {
        let record = json!({
            "eventName": "MODIFY",
            "dynamodb": {
                "Keys": {"pk": {"S": "p1"}, "sk": {"S": "s2"}},
                "OldImage": {"pk": {"S": "p1"}},
                "NewImage": {"pk": {"S": "p1"}},
                "SequenceNumber": "100"
            }
        });
        let read = StreamRecord::from_json(&record).unwrap();
        assert_eq!(read.event_name, EventName::Modify);
        assert_eq!(read.sequence_number, "100");
        assert_eq!(string(read.keys, "sk"), Some("s2"));
        for bad in [
            json!(null),
            json!({"eventName": "MODIFY"}),
            json!({"eventName": "UPDATE", "dynamodb": {"Keys": {}, "SequenceNumber": "1"}}),
            json!({"eventName": "MODIFY", "dynamodb": {"Keys": {}, "SequenceNumber": 1}}),
            json!({"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "1"}}),
        ] {
            assert_eq!(StreamRecord::from_json(&bad), None, "{bad}");
        }
        assert!(records(&json!({})).is_empty());
        assert!(records(&json!({"Records": 5})).is_empty());
    }

    #[test]
    fn the_batch_response_has_lambdas_names() {
        let response = BatchResponse {
            batch_item_failures: vec![ItemFailure {
                item_identifier: "7".into(),
            }],
        };
        assert_eq!(
            serde_json::to_value(response).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "7"}]})
        );
    }
}
