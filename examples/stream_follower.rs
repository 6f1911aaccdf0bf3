//! `make run`'s view of change events: follows the persons table's stream on DynamoDB Local and
//! hands each batch of records, as Lambda would, to the events function's own code
//! ([`EventsApp::handle`]), whose publisher here prints every `PersonUpdated` entry as it would
//! be sent to EventBridge instead of sending it.
//!
//! Usage (the standard AWS settings name DynamoDB Local): `PERSONS_TABLE=Persons
//! cargo run --example stream_follower`. `EVENT_FIELD_VALUES=include` adds values, as the
//! deployed setting does.

#[allow(dead_code)]
#[path = "../tests/support/fault_proxy.rs"]
mod fault_proxy;
#[allow(dead_code)]
#[path = "../tests/support/streams.rs"]
mod streams;

use std::io::Write;
use std::time::Duration;

use person_patch::events::publish::{EntryResult, PublishError};
use person_patch::events::{EventsApp, PersonUpdated, Publisher, Values, FIELD_VALUES_ENV};
use person_patch::ops::aws::SdkSettings;
use serde_json::{json, Value as Json};

/// Prints entries instead of sending them.
struct PrintPublisher;

impl Publisher for PrintPublisher {
    async fn put(&self, entries: &[PersonUpdated]) -> Result<Vec<EntryResult>, PublishError> {
        let mut out = std::io::stdout().lock();
        for entry in entries {
            let detail: Json = serde_json::from_str(&entry.detail).unwrap_or(Json::Null);
            let shown = json!({
                "Source": person_patch::events::change::SOURCE,
                "DetailType": person_patch::events::change::DETAIL_TYPE,
                "Time": entry.time,
                "Detail": detail,
            });
            let text = serde_json::to_string_pretty(&shown).unwrap_or_default();
            let _ = writeln!(
                out,
                "\nPersonUpdated event (as person-events would put it on EventBridge):\n{text}"
            );
        }
        Ok(vec![EntryResult::Sent; entries.len()])
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("PERSONS_TABLE").unwrap_or_else(|_| "Persons".into());
    let values = Values::parse(std::env::var(FIELD_VALUES_ENV).ok().as_deref())?;
    let sdk = SdkSettings::default().load().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let described = dynamodb.describe_table().table_name(&table).send().await?;
    let arn = described
        .table()
        .and_then(|t| t.latest_stream_arn())
        .ok_or("the persons table has no stream (create it with person-patch-admin create-tables)")?
        .to_owned();
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .map_err(|_| "set AWS_ENDPOINT_URL_DYNAMODB to DynamoDB Local")?;
    // DynamoDB Local 3.x leaves the type off empty maps in stream images; this proxy mends them.
    let proxy = fault_proxy::FaultProxy::start(&endpoint).await;
    proxy.inject("GetRecords", fault_proxy::Fault::MendEmptyCollections, None);
    let config = aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
        .endpoint_url(&proxy.endpoint)
        .build();
    let mut reader =
        streams::StreamReader::new(aws_sdk_dynamodbstreams::Client::from_conf(config), arn);
    let app = EventsApp::new(PrintPublisher, values);
    eprintln!("stream follower: PersonUpdated events of table {table} are printed here");
    loop {
        match reader.read().await {
            Ok(records) if !records.is_empty() => {
                app.handle(&streams::lambda_event(records)).await;
            }
            Ok(_) => {}
            Err(error) => eprintln!("stream follower: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
