//! `PersonUpdated` events (docs/API.md §7b) end to end: PATCHes through real events against
//! DynamoDB Local, the table's stream read back with the SDK and handed to the events function
//! as Lambda would, and the events function's `PutEvents` requests sent to a recording
//! EventBridge (tests/support/eventbridge.rs) whose answers the tests choose.

mod support;

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::events::stream::BatchResponse;
use person_patch::events::{EventBridgePublisher, EventsApp, Values};
use person_patch::ops::telemetry::MetricsSink;
use serde_json::{json, Value as Json};
use support::eventbridge::RecordingEventBridge;
use support::streams::{lambda_event, StreamReader};
use support::*;

const BUS: &str = "persons-test-bus";

struct Fixture {
    env: TestEnv,
    reader: StreamReader,
    bridge: RecordingEventBridge,
    app: EventsApp<EventBridgePublisher>,
    metrics: Arc<Mutex<Vec<String>>>,
}

impl Fixture {
    /// Fresh tables and demo data; the seeding's own records are read off the stream.
    async fn new(values: Values) -> Fixture {
        let env = TestEnv::new().await;
        let mut reader = env.stream_reader().await;
        let seeded = reader
            .read()
            .await
            .expect("read the seeding's stream records");
        assert!(!seeded.is_empty(), "the seeding shows on the stream");
        let bridge = RecordingEventBridge::start().await;
        let metrics = Arc::new(Mutex::new(Vec::new()));
        let app = EventsApp::new(
            EventBridgePublisher::new(eventbridge_client(&bridge.endpoint), BUS),
            values,
        )
        .with_metrics(MetricsSink::Memory(metrics.clone()));
        Fixture {
            env,
            reader,
            bridge,
            app,
            metrics,
        }
    }

    /// The stream records written since the last read, as Lambda's event.
    async fn stream_records(&mut self) -> Vec<Json> {
        self.reader.read().await.expect("read the stream")
    }

    async fn deliver(&self, records: Vec<Json>) -> BatchResponse {
        self.app.handle(&lambda_event(records)).await
    }

    /// The metrics of the last invocation.
    fn last_metrics(&self) -> Json {
        let lines = self.metrics.lock().unwrap();
        serde_json::from_str(lines.last().expect("an EMF line")).unwrap()
    }
}

fn detail(entry: &Json) -> Json {
    serde_json::from_str(entry["Detail"].as_str().expect("a Detail string")).expect("JSON detail")
}

fn schema() -> jsonschema::Validator {
    let path = repo_root().join("schemas/person-updated.schema.json");
    let text = std::fs::read_to_string(&path).expect("the event schema");
    let schema: Json = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid JSON Schema")
}

fn assert_valid(detail: &Json) {
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(detail)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{detail}: {errors:?}");
}

fn sequence_numbers(records: &[Json]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned())
        .collect()
}

fn failures(response: &BatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn v2_city(city: &str) -> Event {
    Event::v2(Shape::HttpApi).json_body(&json!({ "City": city }))
}

#[tokio::test]
async fn a_v1_patch_sends_one_event_with_names_and_no_values() {
    let mut fx = Fixture::new(Values::Omit).await;
    let body = json!({
        "forename": "Quintessa",
        "title": null,
        "email": "quintessa.unique@example.org",
        "surname": "Lovelace",
        "customFields": [{"definitionId": 1001, "value": "Secret-Text-77"}]
    });
    let reply = fx
        .env
        .send(&Event::v1(Shape::HttpApi).json_body(&body))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);

    let records = fx.stream_records().await;
    assert_eq!(records.len(), 1, "one MODIFY: {records:?}");
    let response = fx.deliver(records).await;
    assert_eq!(response, BatchResponse::default());

    let requests = fx.bridge.requests();
    assert_eq!(requests.len(), 1);
    let entry = &requests[0][0];
    assert_eq!(entry["Source"], "person-patch");
    assert_eq!(entry["DetailType"], "PersonUpdated");
    assert_eq!(entry["EventBusName"], BUS);
    let stored = fx.env.demo_v1().await;
    let detail = detail(entry);
    assert_valid(&detail);
    assert_eq!(
        detail,
        json!({
            "customerId": "14532",
            "personId": DEMO_V1,
            "dialect": "contacts-v1",
            "version": n(&stored, "version").unwrap().parse::<i64>().unwrap(),
            "updatedAt": s(&stored, "updatedAt").unwrap(),
            "updatedBy": "beqa4api",
            // surname was sent with the value it had: not a change.
            "changedFields": ["title", "forename", "email", "customFields.1001"]
        })
    );
    assert_eq!(s(&stored, "updatedBy").as_deref(), Some("beqa4api"));
    assert!(entry.get("Time").is_some(), "{entry}");
    // No value, old or new, of a personal field is in what was sent.
    let sent = entry.to_string();
    for value in [
        "Quintessa",
        "quintessa.unique@example.org",
        "Secret-Text-77",
        "Lovelace",
        "Ada",
        "ada.lovelace@example.com",
    ] {
        assert!(!sent.contains(value), "{value} in {sent}");
    }
    let metrics = fx.last_metrics();
    assert_eq!(metrics["EventsPublished"], 1);
    assert_eq!(metrics["EventsFailed"], 0);
    assert_eq!(metrics["RecordsSkipped"], 0);
}

#[tokio::test]
async fn a_v2_patch_with_values_asked_for_carries_the_new_values_as_v2_answers_them() {
    let mut fx = Fixture::new(Values::Include).await;
    let body = json!({"FirstName": "Amazing", "IsActive": "f", "HomeSiteID": 5, "City": "", "Country": "USA"});
    let reply = fx
        .env
        .send(&Event::v2(Shape::RestApi).json_body(&body))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let answered: Json = serde_json::from_str(reply.body.as_deref().unwrap()).unwrap();

    let records = fx.stream_records().await;
    let response = fx.deliver(records).await;
    assert!(response.batch_item_failures.is_empty());
    let taken = fx.bridge.taken();
    assert_eq!(taken.len(), 1);
    let detail = detail(&taken[0]);
    assert_valid(&detail);
    assert_eq!(detail["dialect"], "persons-v2");
    assert_eq!(detail["personId"], "16");
    assert_eq!(detail["version"], 2);
    assert_eq!(detail["updatedBy"], "beqa4api");
    // Country was sent unchanged.
    assert_eq!(
        detail["changedFields"],
        json!(["FirstName", "City", "HomeSiteID", "IsActive"])
    );
    for name in detail["changedFields"].as_array().unwrap() {
        let name = name.as_str().unwrap();
        assert_eq!(detail["values"][name], answered[name], "{name}");
    }
    assert_eq!(detail["values"]["City"], Json::Null);
    assert_eq!(detail["values"]["IsActive"], "false");
}

#[tokio::test]
async fn events_go_out_ten_to_a_request_in_stream_order() {
    let mut fx = Fixture::new(Values::Omit).await;
    for i in 0..23 {
        let reply = fx.env.send(&v2_city(&format!("City {i}"))).await;
        assert_eq!(reply.status, 200);
    }
    let records = fx.stream_records().await;
    assert_eq!(records.len(), 23);
    let response = fx.deliver(records).await;
    assert!(response.batch_item_failures.is_empty());
    let sizes: Vec<usize> = fx.bridge.requests().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 3]);
    let versions: Vec<i64> = fx
        .bridge
        .taken()
        .iter()
        .map(|e| detail(e)["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (2..=24).collect::<Vec<_>>());
}

#[tokio::test]
async fn entries_eventbridge_refuses_are_reported_and_nothing_after_them_is_sent() {
    let mut fx = Fixture::new(Values::Omit).await;
    for i in 0..12 {
        assert_eq!(fx.env.send(&v2_city(&format!("C{i}"))).await.status, 200);
    }
    let records = fx.stream_records().await;
    let sequence = sequence_numbers(&records);
    fx.bridge.refuse_entries(&[3]);
    let response = fx.deliver(records.clone()).await;
    // The refused entry, and the second request's two, which were not sent.
    assert_eq!(
        failures(&response),
        vec![
            sequence[3].clone(),
            sequence[10].clone(),
            sequence[11].clone()
        ]
    );
    assert_eq!(fx.bridge.requests_seen(), 1);
    let metrics = fx.last_metrics();
    assert_eq!(metrics["EventsPublished"], 9);
    assert_eq!(metrics["EventsFailed"], 3);

    // Lambda resumes the shard from the first failure; this time EventBridge takes them.
    fx.bridge.refuse_entries(&[]);
    let response = fx.deliver(records[3..].to_vec()).await;
    assert!(response.batch_item_failures.is_empty());
    // Every version arrived; those sent twice carry the same version (a consumer drops them).
    let mut versions: Vec<i64> = fx
        .bridge
        .taken()
        .iter()
        .map(|e| detail(e)["version"].as_i64().unwrap())
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions, (2..=13).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_failed_request_reports_every_record_and_a_later_delivery_sends_them() {
    let mut fx = Fixture::new(Values::Omit).await;
    for i in 0..3 {
        assert_eq!(fx.env.send(&v2_city(&format!("F{i}"))).await.status, 200);
    }
    let records = fx.stream_records().await;
    // The SDK's two attempts both fail.
    fx.bridge.fail_next_requests(2);
    let response = fx.deliver(records.clone()).await;
    assert_eq!(failures(&response), sequence_numbers(&records));
    assert!(fx.bridge.taken().is_empty());
    assert_eq!(fx.bridge.requests_seen(), 2);

    let response = fx.deliver(records).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(fx.bridge.taken().len(), 3);
}

#[tokio::test]
async fn items_that_are_not_modified_persons_are_skipped_and_counted() {
    let mut fx = Fixture::new(Values::Omit).await;
    // A field definition changes.
    fx.env
        .client
        .update_item()
        .table_name(&fx.env.persons_table)
        .key(
            "pk",
            AttributeValue::S(person_patch::table::customer_key(
                person_patch::table::CustomerId(14532),
            )),
        )
        .key("sk", AttributeValue::S("FIELDDEF#1004".into()))
        .update_expression("SET #o = :o")
        .expression_attribute_names("#o", "options")
        .expression_attribute_values(
            ":o",
            AttributeValue::L(vec![AttributeValue::S("Platinum".into())]),
        )
        .send()
        .await
        .expect("update a field definition");
    // A keyed PATCH: its idempotency record is created, then completed with the update.
    let keyed = v2_city("Keyed").header("Idempotency-Key", "\"events-test-key\"");
    assert_eq!(fx.env.send(&keyed).await.status, 200);
    // A person is created by another tool, another deleted.
    fx.env
        .put_v1_person(14532, "0f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c")
        .await;
    fx.env
        .client
        .delete_item()
        .table_name(&fx.env.persons_table)
        .key(
            "pk",
            AttributeValue::S(person_patch::table::customer_key(
                person_patch::table::CustomerId(14532),
            )),
        )
        .key("sk", AttributeValue::S(format!("PERSON#{DEMO_V1}")))
        .send()
        .await
        .expect("delete a person");

    let mut records = fx.stream_records().await;
    assert_eq!(records.len(), 6, "{records:?}");
    records.push(json!({"eventID": "not-a-record", "eventName": "MODIFY"}));
    let response = fx.deliver(records).await;
    assert!(response.batch_item_failures.is_empty());

    let taken = fx.bridge.taken();
    assert_eq!(taken.len(), 1, "only the person's MODIFY: {taken:?}");
    assert_eq!(detail(&taken[0])["changedFields"], json!(["City"]));
    let metrics = fx.last_metrics();
    assert_eq!(metrics["StreamRecords"], 7);
    assert_eq!(metrics["EventsPublished"], 1);
    assert_eq!(metrics["SkippedNotPersons"], 3, "{metrics}");
    assert_eq!(metrics["SkippedInserts"], 1);
    assert_eq!(metrics["SkippedRemoves"], 1);
    assert_eq!(metrics["SkippedUnreadable"], 1);
    assert_eq!(metrics["RecordsSkipped"], 6);
    assert_eq!(metrics["Function"], "person-events");
}

#[tokio::test]
async fn the_schema_refuses_what_an_event_must_not_hold() {
    let good = json!({
        "customerId": "14532", "personId": "16", "dialect": "persons-v2", "version": 3,
        "updatedAt": "2026-11-24T10:00:00.000Z", "updatedBy": "beqa4api",
        "changedFields": ["City"]
    });
    assert_valid(&good);
    let validator = schema();
    for bad in [
        json!({"personId": "16"}),
        {
            let mut d = good.clone();
            d["dialect"] = json!("v3");
            d
        },
        {
            let mut d = good.clone();
            d["changedFields"] = json!(["City", "City"]);
            d
        },
        {
            let mut d = good.clone();
            d["email"] = json!("x@example.com");
            d
        },
        {
            let mut d = good.clone();
            d["values"] = json!({"City": {"nested": 1}});
            d
        },
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

#[tokio::test]
async fn the_stream_fixture_sends_one_event_per_modified_person() {
    let bridge = RecordingEventBridge::start().await;
    let app = EventsApp::new(
        EventBridgePublisher::new(eventbridge_client(&bridge.endpoint), BUS),
        Values::Omit,
    );
    let event = load_fixture("stream/dynamodb-modify.json");
    let response = app.handle(&event).await;
    assert!(response.batch_item_failures.is_empty());
    let details: Vec<Json> = bridge.taken().iter().map(detail).collect();
    for detail in &details {
        assert_valid(detail);
    }
    let summary: Vec<(Json, Json)> = details
        .iter()
        .map(|d| (d["personId"].clone(), d["changedFields"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                json!(DEMO_V1),
                json!(["title", "forename", "customFields.1001"])
            ),
            (json!("16"), json!(["City", "IsActive"])),
        ]
    );
    assert_eq!(details[1]["updatedBy"], "demo-generated");
    let sent = serde_json::to_string(&bridge.taken()).unwrap();
    for value in ["Augusta", "Analytical Engine", "Boston", "Ada"] {
        assert!(!sent.contains(value), "{value}");
    }
}
