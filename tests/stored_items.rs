//! The persons table as a documented contract: the stored-item JSON Schemas in `schemas/` are
//! the ones the field tables generate, and every item the function writes (both dialects,
//! plain and keyed, values set and cleared, custom fields) validates against its dialect's.

mod support;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::dialect::item::item_schema;
use person_patch::dialect::{contacts_v1, persons_v2, Dialect, DIALECTS};
use serde_json::{json, Value as Json};
use support::*;

fn committed(dialect: &Dialect) -> Json {
    let path = repo_root().join(format!("schemas/person-item.{}.schema.json", dialect.name));
    let text = std::fs::read_to_string(&path).expect("the stored-item schema");
    serde_json::from_str(&text).expect("the schema is JSON")
}

fn validator(dialect: &Dialect) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(&committed(dialect))
        .expect("a valid JSON Schema")
}

fn errors(dialect: &Dialect, item: &HashMap<String, AttributeValue>) -> Vec<String> {
    let json = person_patch::store::item::to_plain_json(item);
    validator(dialect)
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schemas_are_the_generated_ones() {
    for dialect in DIALECTS {
        assert_eq!(
            committed(dialect),
            item_schema(dialect),
            "schemas/person-item.{}.schema.json is stale: run make openapi",
            dialect.name
        );
    }
}

#[tokio::test]
async fn every_item_the_function_writes_validates() {
    let env = TestEnv::new().await;
    let v1 = &contacts_v1::DIALECT;
    let v2 = &persons_v2::DIALECT;
    // As seeded (the items another system would write).
    assert_eq!(errors(v1, &env.demo_v1().await), Vec::<String>::new());
    assert_eq!(errors(v2, &env.demo_v2().await), Vec::<String>::new());

    let v1_bodies = [
        json!({"title": "Dr", "forename": "Augusta", "surname": "King", "email": "a@example.org",
               "mobile": "+44 7700 900457", "landline": null, "extension": "", "position": "CTO",
               "department": "R&D", "isOptedOut": true,
               "customFields": [{"definitionId": 1001, "value": "text"},
                                {"definitionId": 1002, "value": "true"},
                                {"definitionId": 1003, "value": "2026-11-30"},
                                {"definitionId": 1004, "value": "Gold"}]}),
        json!({"customFields": [{"definitionId": 1001, "value": null}], "title": null}),
    ];
    for (i, body) in v1_bodies.iter().enumerate() {
        let mut event = Event::v1(Shape::HttpApi).json_body(body);
        if i == 1 {
            event = event.header("Idempotency-Key", "\"stored-items\"");
        }
        let reply = env.send(&event).await;
        assert_eq!(reply.status, 204, "{:?}", reply.body);
        assert_eq!(
            errors(v1, &env.demo_v1().await),
            Vec::<String>::new(),
            "{body}"
        );
    }

    let v2_bodies = [
        json!({"FirstName": "Ada", "LastName": "Byron", "NameOnID": "A. Byron", "Prefix": "",
               "Suffix": "Jr", "Gender": "F", "JobTitle": "Analyst", "DateOfBirth": "1815-12-10",
               "Phone1": "1", "Phone2": null, "Address": "St James's Square", "City": "London",
               "StateProvince": "", "PostalCode": "SW1", "Country": "UK", "CompanyName": "X",
               "CorporateID": "9", "HomeSiteID": "5", "UserRole": "Admin",
               "Biography": "<p>line\nbreak</p>", "IsActive": "t", "IsUser": false,
               "IsSpeaker": "FALSE", "Email": "ada@example.org"}),
        json!({"Email": "", "HomeSiteID": 2147483647, "DateOfBirth": "1999-01-02T00:00:00"}),
    ];
    for (i, body) in v2_bodies.iter().enumerate() {
        let mut event = Event::v2(Shape::RestApi).json_body(body);
        if i == 1 {
            event = event.header("Idempotency-Key", "\"stored-items-v2\"");
        }
        let reply = env.send(&event).await;
        // 1815 is before 1900: the first body is refused whole and nothing is written.
        let expected = if i == 0 { 400 } else { 200 };
        assert_eq!(reply.status, expected, "{:?}", reply.body);
        assert_eq!(
            errors(v2, &env.demo_v2().await),
            Vec::<String>::new(),
            "{body}"
        );
    }
    let mut fixed = v2_bodies[0].clone();
    fixed["DateOfBirth"] = json!("1915-12-10");
    let reply = env.send(&Event::v2(Shape::RestApi).json_body(&fixed)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let stored = env.demo_v2().await;
    assert_eq!(errors(v2, &stored), Vec::<String>::new());
    assert_eq!(stored.get("IsSpeaker"), Some(&AttributeValue::Bool(false)));
    assert_eq!(
        stored.get("HomeSiteID"),
        Some(&AttributeValue::N("5".into()))
    );
}

#[test]
fn items_outside_the_layout_do_not_validate() {
    let v1 = &contacts_v1::DIALECT;
    let good = support::demo_v1_item();
    assert_eq!(errors(v1, &good), Vec::<String>::new());
    let broken = |name: &str, value: Option<AttributeValue>| {
        let mut item = good.clone();
        match value {
            Some(value) => item.insert(name.into(), value),
            None => item.remove(name),
        };
        item
    };
    for (label, item) in [
        ("no sk", broken("sk", None)),
        (
            "foreign partition",
            broken("pk", Some(AttributeValue::S("TENANT#1".into()))),
        ),
        (
            "numeric forename",
            broken("forename", Some(AttributeValue::N("5".into()))),
        ),
        (
            "version as text",
            broken("version", Some(AttributeValue::S("1".into()))),
        ),
        (
            "an unknown attribute",
            broken("nickname", Some(AttributeValue::S("x".into()))),
        ),
        (
            "a v2 field",
            broken("FirstName", Some(AttributeValue::S("x".into()))),
        ),
        (
            "a numeric custom value",
            broken(
                "customFields",
                Some(AttributeValue::M(HashMap::from([(
                    "1001".into(),
                    AttributeValue::N("1".into()),
                )]))),
            ),
        ),
    ] {
        assert!(!errors(v1, &item).is_empty(), "{label} validated");
    }
    assert!(!errors(&persons_v2::DIALECT, &good).is_empty());
}
