//! Contacts v1 custom fields against typed definitions, through real events against DynamoDB
//! Local, checking the stored `customFields` map after every answer.

mod support;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::admin;
use person_patch::table::CustomerId;
use serde_json::{json, Value as Json};
use support::*;

fn custom(entries: Json) -> Event {
    Event::v1(Shape::HttpApi).json_body(&json!({ "customFields": entries }))
}

fn custom_map(item: &HashMap<String, AttributeValue>) -> HashMap<String, String> {
    match item.get("customFields") {
        Some(AttributeValue::M(map)) => map
            .iter()
            .map(|(k, v)| match v {
                AttributeValue::S(s) => (k.clone(), s.clone()),
                other => panic!("custom field {k} stored as {other:?}"),
            })
            .collect(),
        other => panic!("customFields stored as {other:?}"),
    }
}

async fn define(env: &TestEnv, customer: i64, id: i64, kind: &str, options: &[&str]) {
    let options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
    admin::put_field_definition(
        &env.tables(),
        CustomerId(customer),
        id,
        kind,
        &options,
        false,
    )
    .await
    .expect("put-field-definition");
}

/// Sends one value for a definition and returns the status (and the 422's error keys).
async fn try_value(env: &TestEnv, id: i64, value: &str) -> (u16, Vec<String>) {
    let reply = env
        .send(&custom(json!([{ "definitionId": id, "value": value }])))
        .await;
    let keys = if reply.status >= 400 {
        reply.problem()["errors"]
            .as_object()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    (reply.status, keys)
}

#[tokio::test]
async fn every_type_accepts_and_rejects_as_defined() {
    let env = TestEnv::new().await;
    for (id, kind) in [
        (2001, "integer"),
        (2002, "decimal"),
        (2003, "note"),
        (2004, "time"),
        (2005, "systemList"),
    ] {
        define(&env, 14532, id, kind, &[]).await;
    }
    let long_text = "é".repeat(4000);
    let too_long = "é".repeat(4001);
    let cases: Vec<(i64, Vec<&str>, Vec<&str>)> = vec![
        (
            1001,
            vec!["plain text", long_text.as_str(), "  spaced  "],
            vec![too_long.as_str(), "line\nbreak", "nul\u{0}"],
        ),
        (1002, vec!["true", "false"], vec!["yes", "TRUE", "1"]),
        (
            1003,
            vec!["2024-02-29", "1850-06-01"],
            vec!["2023-02-29", "29/02/2024", "2024-02-29T00:00:00"],
        ),
        (
            1004,
            vec!["Gold", "Silver", "Bronze"],
            vec!["gold", "Platinum", " Gold"],
        ),
        (
            2001,
            vec!["42", "-7", "0"],
            vec!["4.2", "forty", "99999999999999999999"],
        ),
        (2002, vec!["3.14", "-0.5", "12"], vec!["3,14", "1e5", ".5"]),
        (
            2003,
            vec!["multi\nline\twith tabs\r\n"],
            vec!["bell\u{7}", too_long.as_str()],
        ),
        (
            2004,
            vec!["00:00", "23:59", "07:30"],
            vec!["24:00", "7:30", "07:30:00"],
        ),
        (2005, vec!["1", "123456"], vec!["0", "-3", "abc"]),
    ];
    for (id, good, bad) in cases {
        for value in good {
            let (status, _) = try_value(&env, id, value).await;
            assert_eq!(status, 204, "{id} should accept {value:?}");
            let stored = custom_map(&env.demo_v1().await);
            assert_eq!(
                stored.get(&id.to_string()).map(String::as_str),
                Some(value),
                "{id}"
            );
        }
        let before = env.demo_v1().await;
        for value in bad {
            let (status, keys) = try_value(&env, id, value).await;
            assert_eq!(status, 422, "{id} should refuse {value:?}");
            assert_eq!(keys, ["customFields[0].value"], "{id} {value:?}");
        }
        assert_eq!(env.demo_v1().await, before, "{id}: a refusal wrote");
    }
}

#[tokio::test]
async fn read_only_unknown_and_foreign_definitions_are_422_on_the_id() {
    let env = TestEnv::new().await;
    define(&env, 99999, 3001, "text", &[]).await;
    let before = env.demo_v1().await;
    for (id, label) in [
        (1005, "statement"),
        (9999, "unknown"),
        (3001, "another customer's"),
    ] {
        let (status, keys) = try_value(&env, id, "x").await;
        assert_eq!(status, 422, "{label}");
        assert_eq!(keys, ["customFields[0].definitionId"], "{label}");
    }
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn shape_errors() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    let cases: Vec<(Json, u16, &[&str])> = vec![
        (json!("1001=x"), 400, &["customFields"]),
        (
            json!({"definitionId": 1001, "value": "x"}),
            400,
            &["customFields"],
        ),
        (json!([1001]), 400, &["customFields[0]"]),
        (
            json!([{"definitionId": "1001", "value": "x"}]),
            400,
            &["customFields[0].definitionId"],
        ),
        (
            json!([{"definitionId": 1001, "value": 5}]),
            400,
            &["customFields[0].value"],
        ),
        (
            json!([{"definitionId": 1001, "value": true}]),
            400,
            &["customFields[0].value"],
        ),
        (
            json!([{"definitionId": 1001}]),
            422,
            &["customFields[0].value"],
        ),
        (
            json!([{"value": "x"}]),
            422,
            &["customFields[0].definitionId"],
        ),
        (
            json!([{"definitionId": 1001, "value": "x", "label": "y"}]),
            422,
            &["customFields[0].label"],
        ),
        (
            json!([{"definitionId": 1001, "value": "a"}, {"definitionId": 1001, "value": "b"}]),
            422,
            &["customFields[1].definitionId"],
        ),
        (json!(null), 422, &["customFields"]),
        (json!([]), 422, &["$"]),
    ];
    for (entries, status, keys) in cases {
        let reply = env.send(&custom(entries.clone())).await;
        assert_eq!(reply.status, status, "{entries}: {:?}", reply.body);
        let problem = reply.problem();
        let mut got: Vec<&str> = problem["errors"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        got.sort();
        assert_eq!(got, keys, "{entries}");
    }
    let too_many: Vec<Json> = (0..101)
        .map(|i| json!({"definitionId": i, "value": null}))
        .collect();
    let reply = env.send(&custom(Json::Array(too_many))).await;
    assert_eq!(reply.status, 422);
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn the_seed_body_with_custom_fields_changes_exactly_the_named_fields() {
    let env = TestEnv::new().await;
    // Give the person values in three custom fields first.
    let reply = env
        .send(&custom(json!([
            {"definitionId": 1001, "value": "keep me"},
            {"definitionId": 1002, "value": "true"},
            {"definitionId": 1003, "value": "2020-01-01"}
        ])))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let before = env.demo_v1().await;

    let reply = env
        .send(&Event::v1(Shape::RestApi).json_body(&json!({
            "forename": "Augusta",
            "customFields": [
                {"definitionId": 1004, "value": "Gold"},
                {"definitionId": 1002, "value": null}
            ]
        })))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let after = env.demo_v1().await;
    let mut changed = changed_attributes(&before, &after);
    changed.retain(|name| !STAMPED.contains(&name.as_str()));
    assert_eq!(changed, ["customFields", "forename", "version"]);
    let map = custom_map(&after);
    assert_eq!(
        map,
        HashMap::from([
            ("1001".to_owned(), "keep me".to_owned()),
            ("1003".to_owned(), "2020-01-01".to_owned()),
            ("1004".to_owned(), "Gold".to_owned()),
        ])
    );
}

#[tokio::test]
async fn an_empty_string_unsets_like_null() {
    let env = TestEnv::new().await;
    assert_eq!(try_value(&env, 1001, "x").await.0, 204);
    assert_eq!(try_value(&env, 1001, "").await.0, 204);
    assert!(custom_map(&env.demo_v1().await).is_empty());
}

#[tokio::test]
async fn a_hundred_custom_fields_at_once() {
    let env = TestEnv::new().await;
    for i in 0..100 {
        define(&env, 14532, 5000 + i, "text", &[]).await;
    }
    let entries: Vec<Json> = (0..100)
        .map(|i| json!({"definitionId": 5000 + i, "value": format!("value {i}")}))
        .collect();
    let reply = env.send(&custom(Json::Array(entries))).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let map = custom_map(&env.demo_v1().await);
    assert_eq!(map.len(), 100);
    assert_eq!(map["5042"], "value 42");

    // And unset them all in one request.
    let entries: Vec<Json> = (0..100)
        .map(|i| json!({"definitionId": 5000 + i, "value": null}))
        .collect();
    let reply = env.send(&custom(Json::Array(entries))).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert!(custom_map(&env.demo_v1().await).is_empty());
}

/// The demo v1 person as another tool might have written it: no customFields map.
#[tokio::test]
async fn a_legacy_item_without_the_container_still_updates() {
    let env = TestEnv::new().await;
    env.put_legacy_v1_person().await;

    let reply = env
        .send(&Event::v1(Shape::HttpApi).json_body(&json!({
            "surname": "Byron",
            "customFields": [
                {"definitionId": 1001, "value": "first"},
                {"definitionId": 1002, "value": null}
            ]
        })))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    let after = env.demo_v1().await;
    assert_eq!(s(&after, "surname").as_deref(), Some("Byron"));
    assert_eq!(
        custom_map(&after),
        HashMap::from([("1001".to_owned(), "first".to_owned())])
    );
    assert_eq!(n(&after, "version").as_deref(), Some("2"));

    // With the container now present, the next update takes the ordinary path.
    assert_eq!(try_value(&env, 1004, "Silver").await.0, 204);
    assert_eq!(custom_map(&env.demo_v1().await).len(), 2);

    // A stale If-Match on a legacy item is still a 412, not a second write.
    env.put_legacy_v1_person().await;
    let reply = env
        .send(&custom(json!([{"definitionId": 1001, "value": "x"}])).header("If-Match", "\"7\""))
        .await;
    assert_eq!(reply.status, 412);
    assert!(!env.demo_v1().await.contains_key("customFields"));
}

#[tokio::test]
async fn the_v2_dialect_has_no_custom_fields() {
    let env = TestEnv::new().await;
    let reply = env
        .send(
            &Event::v2(Shape::HttpApi)
                .json_body(&json!({"customFields": [{"definitionId": 1001, "value": "x"}]})),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.problem()["errors"].get("customFields").is_some());
}
