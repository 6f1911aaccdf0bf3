//! The persons table's stream, read with the SDK from DynamoDB Local and turned into the event
//! Lambda hands the events function (DynamoDB JSON images, `SequenceNumber` as the batch item
//! identifier). `make run`'s stream follower (examples/stream_follower.rs) uses it too.

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use base64::Engine;
use serde_json::{json, Map, Value as Json};

/// A reader of one table's stream, from its beginning, keeping its place in every shard.
pub struct StreamReader {
    client: Client,
    stream_arn: String,
    /// Shard id → the iterator to continue with (`None`: the shard is closed and read).
    positions: Vec<(String, Option<String>)>,
}

impl StreamReader {
    pub fn new(client: Client, stream_arn: impl Into<String>) -> StreamReader {
        StreamReader {
            client,
            stream_arn: stream_arn.into(),
            positions: Vec::new(),
        }
    }

    /// Every record written since the last call, as Lambda's stream event records, in order.
    pub async fn read(&mut self) -> Result<Vec<Json>, aws_sdk_dynamodbstreams::Error> {
        let description = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await?;
        let shards: Vec<String> = description
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for shard in shards {
            if !self.positions.iter().any(|(id, _)| *id == shard) {
                let iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(&shard)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await?;
                self.positions
                    .push((shard, iterator.shard_iterator().map(str::to_owned)));
            }
        }
        let mut records = Vec::new();
        for (_, position) in &mut self.positions {
            while let Some(iterator) = position.clone() {
                let page = self
                    .client
                    .get_records()
                    .shard_iterator(iterator)
                    .send()
                    .await?;
                *position = page.next_shard_iterator().map(str::to_owned);
                if page.records().is_empty() {
                    break;
                }
                records.extend(
                    page.records()
                        .iter()
                        .map(|r| lambda_record(r, &self.stream_arn)),
                );
            }
        }
        Ok(records)
    }
}

/// A stream record as Lambda delivers it.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Json {
    let data = record.dynamodb();
    let image = |item: Option<&std::collections::HashMap<String, AttributeValue>>| {
        item.map(|m| {
            Json::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), dynamodb_json(v)))
                    .collect::<Map<_, _>>(),
            )
        })
    };
    let mut dynamodb = Map::new();
    if let Some(data) = data {
        if let Some(time) = data.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(time.secs()));
        }
        if let Some(keys) = image(data.keys.as_ref()) {
            dynamodb.insert("Keys".into(), keys);
        }
        if let Some(new) = image(data.new_image.as_ref()) {
            dynamodb.insert("NewImage".into(), new);
        }
        if let Some(old) = image(data.old_image.as_ref()) {
            dynamodb.insert("OldImage".into(), old);
        }
        dynamodb.insert("SequenceNumber".into(), json!(data.sequence_number()));
        dynamodb.insert("SizeBytes".into(), json!(data.size_bytes()));
        dynamodb.insert(
            "StreamViewType".into(),
            json!(data.stream_view_type().map(|v| v.as_str())),
        );
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region(),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

/// Lambda's stream event around `records`.
pub fn lambda_event(records: Vec<Json>) -> Json {
    json!({ "Records": records })
}

/// An attribute value in DynamoDB JSON.
pub fn dynamodb_json(value: &AttributeValue) -> Json {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(_) => json!({ "NULL": true }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({
            "M": m.iter().map(|(k, v)| (k.clone(), dynamodb_json(v))).collect::<Map<_, _>>()
        }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(dynamodb_json).collect::<Vec<_>>() }),
        _ => json!({ "NULL": true }),
    }
}
