//! In-process cost of the events function per stream batch: read Lambda's DynamoDB event (100
//! MODIFY records of a full Persons v2 record, one field changed) and build the 100
//! `PersonUpdated` entries, beside `serde_json::from_str` of the same event text (the floor:
//! reading the event at all). With and without values.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use person_patch::events::publish::{EntryResult, PublishError};
use person_patch::events::{EventsApp, PersonUpdated, Publisher, Values};
use person_patch::table::{customer_key, CustomerId};
use serde_json::{json, Map, Value as Json};

struct Nowhere;

impl Publisher for Nowhere {
    async fn put(&self, entries: &[PersonUpdated]) -> Result<Vec<EntryResult>, PublishError> {
        Ok(vec![EntryResult::Sent; entries.len()])
    }
}

fn v2_image(first_name: &str, version: u32) -> Json {
    let mut image = Map::new();
    let s = |v: &str| json!({ "S": v });
    image.insert("pk".into(), s(&customer_key(CustomerId(14532))));
    image.insert("sk".into(), s("PERSON#16"));
    image.insert("ID".into(), json!({"N": "16"}));
    for name in [
        "LastName",
        "NameOnID",
        "Prefix",
        "Suffix",
        "Gender",
        "JobTitle",
        "Phone1",
        "Phone2",
        "Address",
        "City",
        "StateProvince",
        "PostalCode",
        "Country",
        "CompanyName",
        "CorporateID",
        "UserRole",
        "Email",
    ] {
        image.insert(name.into(), s("some stored text value"));
    }
    image.insert("FirstName".into(), s(first_name));
    image.insert("DateOfBirth".into(), s("1997-12-16"));
    image.insert("HomeSiteID".into(), json!({"N": "5"}));
    image.insert("Biography".into(), s(&"<p>biography</p>".repeat(20)));
    for flag in ["IsActive", "IsUser", "IsSpeaker"] {
        image.insert(flag.into(), json!({"BOOL": true}));
    }
    image.insert("version".into(), json!({"N": version.to_string()}));
    image.insert("updatedAt".into(), s("2026-11-24T10:00:00.000Z"));
    image.insert("updatedBy".into(), s("beqa4api"));
    image.insert("lastWriteId".into(), s("0f2b8c1e8a4d4e7b9c6a1d2e3f4a5b6c"));
    Json::Object(image)
}

fn stream_event(records: u32) -> String {
    let records: Vec<Json> = (0..records)
        .map(|i| {
            json!({
                "eventID": format!("event-{i}"),
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": customer_key(CustomerId(14532))}, "sk": {"S": "PERSON#16"}},
                    "OldImage": v2_image(&format!("Name {i}"), i + 1),
                    "NewImage": v2_image(&format!("Name {}", i + 1), i + 2),
                    "SequenceNumber": format!("{}", 1_000_000 + i),
                    "SizeBytes": 2048,
                    "StreamViewType": "NEW_AND_OLD_IMAGES"
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/Persons/stream/2026-11-24T00:00:00.000"
            })
        })
        .collect();
    json!({ "Records": records }).to_string()
}

fn events(c: &mut Criterion) {
    let text = stream_event(100);
    let mut group = c.benchmark_group("events/100-records");
    group.throughput(Throughput::Elements(100));
    group.bench_function("floor: serde_json::from_str", |b| {
        b.iter(|| black_box(serde_json::from_str::<Json>(black_box(&text)).expect("JSON")))
    });
    for (label, values) in [
        ("names only", Values::Omit),
        ("with values", Values::Include),
    ] {
        let app = EventsApp::new(Nowhere, values);
        group.bench_function(format!("read + build entries ({label})"), |b| {
            b.iter(|| {
                let event: Json = serde_json::from_str(black_box(&text)).expect("JSON");
                let (built, _) = app.events(&event);
                assert_eq!(built.len(), 100);
                black_box(built)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, events);
criterion_main!(benches);
