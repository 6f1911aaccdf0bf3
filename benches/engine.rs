//! In-process cost of a PATCH before DynamoDB: parse + validate + build the `UpdateItem`
//! input, for the seed 003 full body, a one-field body, a v1 body with 100 custom fields and
//! the largest body accepted (64 custom text fields of 4,000 characters, just under 256 KiB),
//! each beside `serde_json::from_slice` of the same bytes (the floor: reading JSON at all).

use std::collections::HashMap;
use std::hint::black_box;

use aws_sdk_dynamodb::types::AttributeValue;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use person_patch::dialect::{contacts_v1, persons_v2, Dialect};
use person_patch::engine::{
    build_update, json, validate, CustomKind, Definitions, FieldDefinition, Precondition, Stamp,
};
use person_patch::store::item::to_attribute;
use time::macros::date;

const SEED_003: &str = r#"{ "FirstName": "2", "LastName": "2", "NameOnID": "2", "Prefix": "", "Suffix": "2", "Gender": "Unspecified", "JobTitle": "2", "DateOfBirth": "1997-12-16", "Phone1": "2", "Phone2": "2", "Address": "2", "City": "2", "StateProvince": "2", "PostalCode": "2", "Country": "USA222", "CompanyName": "2", "CorporateID": "2", "HomeSiteID": "5", "UserRole": "Acct Team lead ", "Biography": "<html></html> ", "IsActive": "f", "IsUser": "t", "IsSpeaker": "t" }"#;
const ONE_FIELD: &str = r#"{"City": "Boston"}"#;

fn custom_fields_body(count: i64, value_chars: usize) -> (String, Definitions) {
    let mut definitions = Definitions::new();
    let mut entries = Vec::new();
    for i in 0..count {
        let id = 5000 + i;
        definitions.insert(
            id,
            FieldDefinition {
                kind: CustomKind::Text,
                options: vec![],
                read_only: false,
            },
        );
        let value = if value_chars == 0 {
            format!("value number {i}")
        } else {
            "x".repeat(value_chars)
        };
        entries.push(format!(r#"{{"definitionId": {id}, "value": "{value}"}}"#));
    }
    (
        format!(
            r#"{{"forename": "Ada", "customFields": [{}]}}"#,
            entries.join(", ")
        ),
        definitions,
    )
}

/// Everything the handler does with a body before sending it: parse, validate, resolve
/// custom fields, build the expressions and the SDK's attribute maps.
fn prepare(dialect: &Dialect, body: &[u8], definitions: &Definitions) -> usize {
    let document = json::parse(body).expect("valid JSON");
    let patch = validate(&dialect.fields, &document, date!(2026 - 11 - 23))
        .and_then(|draft| draft.finish(definitions))
        .expect("valid body");
    let stamp = Stamp {
        updated_at: "2026-11-23T10:00:00.000Z",
        updated_by: "beqa4api",
        write_id: "0f8e2c5d7a9b4c1e8d3f6a2b5c7e9d1f",
    };
    let plan = build_update(&patch, &stamp, &Precondition::Exists);
    let names: HashMap<String, String> = plan.names.into_iter().collect();
    let values: HashMap<String, AttributeValue> = plan
        .values
        .into_iter()
        .map(|(k, v)| (k, to_attribute(v)))
        .collect();
    names.len() + values.len() + plan.update_expression.len()
}

fn bench(c: &mut Criterion) {
    let (custom, definitions) = custom_fields_body(100, 0);
    let (largest, largest_definitions) = custom_fields_body(64, 4000);
    assert!(largest.len() <= person_patch::http::execute::MAX_BODY_BYTES);
    let none = Definitions::new();
    let cases: [(&str, &Dialect, &str, &Definitions); 4] = [
        ("seed-003-full-body", &persons_v2::DIALECT, SEED_003, &none),
        ("one-field-body", &persons_v2::DIALECT, ONE_FIELD, &none),
        (
            "v1-100-custom-fields",
            &contacts_v1::DIALECT,
            &custom,
            &definitions,
        ),
        (
            "v1-largest-body",
            &contacts_v1::DIALECT,
            &largest,
            &largest_definitions,
        ),
    ];
    for (name, dialect, body, definitions) in cases {
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function("serde_json::from_slice (floor)", |b| {
            b.iter(|| {
                serde_json::from_slice::<serde_json::Value>(black_box(body.as_bytes()))
                    .expect("JSON")
            })
        });
        group.bench_function("parse + validate + build UpdateItem", |b| {
            b.iter(|| prepare(dialect, black_box(body.as_bytes()), definitions))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
