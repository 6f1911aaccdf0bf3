//! Random sequences of Contacts v1 patches, valid and not, replayed against DynamoDB Local and
//! against a pure in-memory model of the contract; after every step the stored item must equal
//! the model. Also: an update past DynamoDB's 400 KB item limit is a 413, never a 500.

mod support;

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value as Json};
use support::*;

/// What a field of a step sends.
#[derive(Debug, Clone)]
enum Send {
    Text(String),
    Empty,
    Null,
    Bool(bool),
}

const NULLABLE: &[&str] = V1_NULLABLE;
const REQUIRED: &[&str] = &["forename", "surname"];
/// Demo definitions used: 1001 text, 1002 boolean, 1004 list.
const CUSTOM: &[(i64, &[&str])] = &[
    (1001, &["alpha", "Zoë", "multi word"]),
    (1002, &["true", "false"]),
    (1004, &["Gold", "Silver", "Bronze"]),
];

#[derive(Debug, Clone)]
struct Step {
    fields: Vec<(&'static str, Send)>,
    custom: Vec<(i64, Option<String>)>,
}

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Zé ]{1,8}"
}

fn step() -> impl Strategy<Value = Step> {
    let nullable = proptest::sample::subsequence(NULLABLE.to_vec(), 0..=3).prop_flat_map(|names| {
        let sends: Vec<_> = names
            .iter()
            .map(|_| {
                prop_oneof![
                    text().prop_map(Send::Text),
                    Just(Send::Empty),
                    Just(Send::Null)
                ]
            })
            .collect();
        (Just(names), sends)
    });
    let required = proptest::sample::subsequence(REQUIRED.to_vec(), 0..=2).prop_flat_map(|names| {
        // Mostly valid; sometimes an empty string, which must be refused.
        let sends: Vec<_> = names
            .iter()
            .map(|_| prop_oneof![4 => text().prop_map(Send::Text), 1 => Just(Send::Empty)])
            .collect();
        (Just(names), sends)
    });
    let opted_out = proptest::option::of(any::<bool>());
    let custom = proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3).prop_flat_map(|picks| {
        let values: Vec<_> = picks
            .iter()
            .map(|&i| {
                let options: Vec<String> = CUSTOM[i].1.iter().map(|s| (*s).to_owned()).collect();
                proptest::option::of(proptest::sample::select(options))
            })
            .collect();
        (Just(picks), values)
    });
    (nullable, required, opted_out, custom).prop_map(|((n, ns), (r, rs), opted, (c, cs))| {
        let mut fields: Vec<(&'static str, Send)> = n.into_iter().zip(ns).collect();
        fields.extend(r.into_iter().zip(rs));
        if let Some(b) = opted {
            fields.push(("isOptedOut", Send::Bool(b)));
        }
        let custom = c.into_iter().map(|i| CUSTOM[i].0).zip(cs).collect();
        Step { fields, custom }
    })
}

/// The contract applied to the model: `Some(next model)` when the step must succeed.
fn apply(
    model: &BTreeMap<String, AttributeValue>,
    step: &Step,
) -> Option<BTreeMap<String, AttributeValue>> {
    if step.fields.is_empty() && step.custom.is_empty() {
        return None; // at least one field
    }
    let mut next = model.clone();
    for (name, send) in &step.fields {
        let required = REQUIRED.contains(name);
        match send {
            Send::Text(t) => {
                next.insert((*name).to_owned(), AttributeValue::S(t.clone()));
            }
            Send::Bool(b) => {
                next.insert((*name).to_owned(), AttributeValue::Bool(*b));
            }
            Send::Empty | Send::Null if required => return None,
            Send::Empty | Send::Null => {
                next.remove(*name);
            }
        }
    }
    if !step.custom.is_empty() {
        let mut map = match next.get("customFields") {
            Some(AttributeValue::M(m)) => m.clone(),
            _ => Default::default(),
        };
        for (id, value) in &step.custom {
            match value {
                Some(v) => map.insert(id.to_string(), AttributeValue::S(v.clone())),
                None => map.remove(&id.to_string()),
            };
        }
        next.insert("customFields".into(), AttributeValue::M(map));
    }
    let version: u64 = match next.get("version") {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    };
    next.insert(
        "version".into(),
        AttributeValue::N((version + 1).to_string()),
    );
    Some(next)
}

fn body(step: &Step) -> Json {
    let mut object = Map::new();
    for (name, send) in &step.fields {
        let value = match send {
            Send::Text(t) => json!(t),
            Send::Empty => json!(""),
            Send::Null => Json::Null,
            Send::Bool(b) => json!(b),
        };
        object.insert((*name).to_owned(), value);
    }
    if !step.custom.is_empty() {
        let entries: Vec<Json> = step
            .custom
            .iter()
            .map(|(id, value)| json!({"definitionId": id, "value": value}))
            .collect();
        object.insert("customFields".into(), Json::Array(entries));
    }
    Json::Object(object)
}

/// The stored item without what the model does not predict (the update's time, principal
/// and write id).
fn comparable(
    item: std::collections::HashMap<String, AttributeValue>,
) -> BTreeMap<String, AttributeValue> {
    item.into_iter()
        .filter(|(k, _)| !STAMPED.contains(&k.as_str()))
        .collect()
}

#[test]
fn stored_item_follows_the_model_of_the_contract() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let sequences = proptest::collection::vec(step(), 1..12);
    runner
        .run(&sequences, |steps| {
            runtime.block_on(async {
                let env = TestEnv::new().await;
                let mut model = comparable(env.demo_v1().await);
                for (i, step) in steps.iter().enumerate() {
                    let reply = env
                        .send(&Event::v1(Shape::HttpApi).json_body(&body(step)))
                        .await;
                    match apply(&model, step) {
                        Some(next) => {
                            prop_assert_eq!(
                                reply.status,
                                204,
                                "step {} {:?}: {:?}",
                                i,
                                step,
                                reply.body
                            );
                            model = next;
                        }
                        None => prop_assert!(
                            reply.status == 422,
                            "step {} {:?} should be refused: {}",
                            i,
                            step,
                            reply.status
                        ),
                    }
                    let stored = comparable(env.demo_v1().await);
                    prop_assert_eq!(&stored, &model, "after step {}", i);
                }
                Ok(())
            })
        })
        .unwrap();
}

#[tokio::test]
async fn an_update_past_the_item_size_limit_is_413_and_writes_nothing() {
    let env = TestEnv::new().await;
    big_custom_fields(&env, 7000..7030).await;
    let request = big_values;
    let first = env.send(&request(7000..7015)).await;
    assert_eq!(first.status, 204, "{:?}", first.body);
    let before = env.demo_v1().await;
    let second = env.send(&request(7015..7030)).await;
    assert_eq!(second.status, 413, "{:?}", second.body);
    assert_eq!(
        second.problem()["type"],
        "urn:person-patch:problem:record-too-large"
    );
    assert_eq!(env.demo_v1().await, before);
}
