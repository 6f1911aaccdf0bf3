//! Writes that survive retries, deadlines and foreign data (docs/API.md §7a): a write DynamoDB
//! committed is the success it was even when its reply was lost, late or unreadable and the
//! SDK sent it again; every request ends before its invocation's deadline; attributes another
//! tool wrote in other types answer a defined problem, or are repaired without loss.
//!
//! Faults are injected by a proxy between the function and DynamoDB Local, after DynamoDB Local
//! has carried the request out. Each test checks the stored item afterwards.

mod support;

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::ops::aws::SdkSettings;
use serde_json::{json, Value as Json};
use support::fault_proxy::Fault;
use support::*;

/// The production retry settings with a short attempt timeout, so late replies stay quick.
fn settings() -> SdkSettings {
    SdkSettings {
        attempt_timeout: Duration::from_millis(400),
        operation_timeout: Duration::from_millis(2500),
        ..SdkSettings::default()
    }
}

/// The faults that leave a committed write without a readable reply.
fn lost_reply_faults() -> [(&'static str, Fault); 3] {
    [
        ("reply lost", Fault::LoseReply),
        (
            "reply later than the attempt timeout",
            Fault::DelayReply(settings().attempt_timeout + Duration::from_millis(300)),
        ),
        ("reply truncated", Fault::Truncate),
    ]
}

#[tokio::test]
async fn v1_a_committed_write_whose_reply_is_lost_is_the_success_it_was() {
    for (label, fault) in lost_reply_faults() {
        for if_match in [None, Some("\"1\"")] {
            let (env, proxy) = TestEnv::with_faults(settings()).await;
            proxy.inject("UpdateItem", fault, Some(1));
            let mut event = Event::v1(Shape::HttpApi).json_body(&json!({"position": "Retried"}));
            if let Some(tag) = if_match {
                event = event.header("If-Match", tag);
            }
            let reply = env.send(&event).await;
            let label = format!("{label}, If-Match {if_match:?}");
            assert_eq!(reply.status, 204, "{label}: {:?}", reply.body);
            assert_eq!(reply.header("etag"), Some("\"2\""), "{label}");
            assert!(
                proxy.seen("UpdateItem") >= 2,
                "{label}: the SDK sent it again"
            );
            let stored = env.demo_v1().await;
            assert_eq!(
                n(&stored, "version").as_deref(),
                Some("2"),
                "{label}: raised once"
            );
            assert_eq!(
                s(&stored, "position").as_deref(),
                Some("Retried"),
                "{label}"
            );
            assert_eq!(
                s(&stored, "updatedBy").as_deref(),
                Some("beqa4api"),
                "{label}"
            );
        }
    }
}

#[tokio::test]
async fn v2_a_committed_write_whose_reply_is_lost_answers_the_record_it_wrote() {
    for (label, fault) in lost_reply_faults() {
        for if_match in [None, Some("\"1\"")] {
            let (env, proxy) = TestEnv::with_faults(settings()).await;
            proxy.inject("UpdateItem", fault, Some(1));
            let mut event = Event::v2(Shape::RestApi)
                .json_body(&json!({"FirstName": "Retried", "HomeSiteID": 77}));
            if let Some(tag) = if_match {
                event = event.header("If-Match", tag);
            }
            let reply = env.send(&event).await;
            let label = format!("{label}, If-Match {if_match:?}");
            assert_eq!(reply.status, 200, "{label}: {:?}", reply.body);
            assert_eq!(reply.header("etag"), Some("\"2\""), "{label}");
            let body: Json = serde_json::from_str(reply.body.as_deref().unwrap_or("")).unwrap();
            assert_eq!(body["FirstName"], "Retried", "{label}");
            assert_eq!(body["HomeSiteID"], "77", "{label}");
            assert_eq!(body["ID"], 16, "{label}");
            assert!(body.get("lastWriteId").is_none() && body.get("updatedBy").is_none());
            let stored = env.demo_v2().await;
            assert_eq!(
                n(&stored, "version").as_deref(),
                Some("2"),
                "{label}: raised once"
            );
            assert_eq!(
                s(&stored, "FirstName").as_deref(),
                Some("Retried"),
                "{label}"
            );
        }
    }
}

#[tokio::test]
async fn custom_fields_on_a_legacy_record_survive_a_lost_reply_of_either_plan() {
    let body = json!({"customFields": [{"definitionId": 1001, "value": "kept"}], "position": "P"});
    // The first UpdateItem (the plan) fails as a missing map; the lost reply is the
    // fallback's, which created the map (pass 1), or the plan's own on a record with the map.
    for (label, pass, legacy) in [("fallback", 1, true), ("plan", 0, false)] {
        for if_match in [None, Some("\"1\"")] {
            let (env, proxy) = TestEnv::with_faults(settings()).await;
            if legacy {
                env.put_legacy_v1_person().await;
            }
            proxy.inject_after("UpdateItem", pass, Fault::LoseReply, Some(1));
            let mut event = Event::v1(Shape::HttpApi).json_body(&body);
            if let Some(tag) = if_match {
                event = event.header("If-Match", tag);
            }
            let reply = env.send(&event).await;
            let label = format!("{label}, If-Match {if_match:?}");
            assert_eq!(reply.status, 204, "{label}: {:?}", reply.body);
            assert_eq!(reply.header("etag"), Some("\"2\""), "{label}");
            let stored = env.demo_v1().await;
            assert_eq!(n(&stored, "version").as_deref(), Some("2"), "{label}");
            assert_eq!(s(&stored, "position").as_deref(), Some("P"), "{label}");
            let Some(AttributeValue::M(map)) = stored.get("customFields") else {
                panic!("{label}: no map: {stored:?}")
            };
            assert_eq!(
                map.get("1001"),
                Some(&AttributeValue::S("kept".into())),
                "{label}"
            );
        }
    }
}

#[tokio::test]
async fn another_writer_between_the_attempts_is_still_a_412_not_a_false_success() {
    // The first attempt commits and its reply is lost; before the SDK's retry, another
    // request writes. The retry must not claim the other write as its own.
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    let delay = settings().attempt_timeout + Duration::from_millis(300);
    proxy.inject("UpdateItem", Fault::DelayReply(delay), Some(1));
    let first = Event::v1(Shape::HttpApi)
        .json_body(&json!({"position": "First"}))
        .header("If-Match", "\"1\"");
    let second = Event::v1(Shape::HttpApi).json_body(&json!({"department": "Second"}));
    let env = &env;
    let (first_reply, second_reply) = tokio::join!(env.send(&first), async {
        // Let the first reach DynamoDB Local, then write before its retry.
        tokio::time::sleep(Duration::from_millis(150)).await;
        env.send(&second).await
    });
    assert_eq!(second_reply.status, 204);
    let stored = env.demo_v1().await;
    assert_eq!(s(&stored, "position").as_deref(), Some("First"));
    assert_eq!(s(&stored, "department").as_deref(), Some("Second"));
    assert_eq!(n(&stored, "version").as_deref(), Some("3"));
    // The first request's write is version 2, now superseded: its retry finds version 3 and
    // another write id. 412 is the honest answer for If-Match "1" at that point.
    assert_eq!(first_reply.status, 412, "{:?}", first_reply.body);
    assert_eq!(first_reply.header("etag"), Some("\"3\""));
}

#[tokio::test]
async fn a_request_answers_503_a_second_before_its_invocation_deadline() {
    // SDK timeouts far longer than the invocation: only the request's deadline can end it.
    let patient = SdkSettings {
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(30),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(patient).await;
    let before = env.demo_v1().await;
    proxy.inject("UpdateItem", Fault::Hang, None);
    let invocation_ms = 2500;
    let started = Instant::now();
    let reply = env
        .send_with_context(
            &Event::v1(Shape::HttpApi).json_body(&json!({"position": "Late"})),
            context_with_deadline(invocation_ms),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert!(
        took < Duration::from_millis(invocation_ms),
        "answered after the invocation's deadline: {took:?}"
    );
    assert!(proxy.seen("UpdateItem") >= 1);
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn the_deadline_is_shared_by_every_call_of_the_request() {
    // The clients read hangs: the same deadline ends it, and nothing else is attempted.
    let patient = SdkSettings {
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(30),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(patient).await;
    proxy.inject("GetItem", Fault::Hang, None);
    let started = Instant::now();
    let reply = env
        .send_with_context(&Event::v2(Shape::HttpApi), context_with_deadline(2000))
        .await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert!(started.elapsed() < Duration::from_millis(2000));
    assert_eq!(proxy.seen("UpdateItem"), 0);

    // A deadline already within the margin: 503 before any DynamoDB call.
    let (env, proxy) = TestEnv::with_faults(patient).await;
    let reply = env
        .send_with_context(&Event::v2(Shape::HttpApi), context_with_deadline(500))
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(proxy.seen("GetItem") + proxy.seen("UpdateItem"), 0);
}

fn custom_field_patch() -> Event {
    Event::v1(Shape::HttpApi).json_body(
        &json!({"customFields": [{"definitionId": 1001, "value": "v"}], "position": "P"}),
    )
}

#[tokio::test]
async fn a_null_custom_fields_attribute_is_replaced_by_the_map_without_loss() {
    let env = TestEnv::new().await;
    let mut item = support::demo_v1_item();
    item.insert("customFields".into(), AttributeValue::Null(true));
    env.put_item(item).await;
    let before = env.demo_v1().await;
    let reply = env.send(&custom_field_patch()).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let after = env.demo_v1().await;
    let Some(AttributeValue::M(map)) = after.get("customFields") else {
        panic!("no map: {after:?}")
    };
    assert_eq!(map.len(), 1);
    assert_eq!(map.get("1001"), Some(&AttributeValue::S("v".into())));
    assert_eq!(
        changed_attributes(&before, &after),
        [
            "customFields",
            "lastWriteId",
            "position",
            "updatedAt",
            "updatedBy",
            "version"
        ]
    );
}

#[tokio::test]
async fn foreign_types_answer_409_and_nothing_is_written() {
    let cases: [(&str, &str, AttributeValue); 4] = [
        (
            "customFields",
            "a string",
            AttributeValue::S("legacy".into()),
        ),
        (
            "customFields",
            "a list",
            AttributeValue::L(vec![AttributeValue::S("x".into())]),
        ),
        ("version", "a string", AttributeValue::S("7".into())),
        ("version", "NULL", AttributeValue::Null(true)),
    ];
    for (attribute, kind, value) in cases {
        // An If-Match naming the stored version (a foreign version is refused even so).
        let current = if attribute == "version" {
            "\"7\""
        } else {
            "\"1\""
        };
        for if_match in [None, Some(current)] {
            let env = TestEnv::new().await;
            let mut item = support::demo_v1_item();
            item.insert(attribute.into(), value.clone());
            env.put_item(item).await;
            let before = env.demo_v1().await;
            let mut event = custom_field_patch();
            if let Some(tag) = if_match {
                event = event.header("If-Match", tag);
            }
            let reply = env.send(&event).await;
            let label = format!("{attribute} as {kind}, If-Match {if_match:?}");
            assert_eq!(reply.status, 409, "{label}: {:?}", reply.body);
            let problem = reply.problem();
            assert_eq!(
                problem["type"], "urn:person-patch:problem:stored-record-conflict",
                "{label}"
            );
            assert!(
                problem["detail"].as_str().unwrap().contains(attribute),
                "{label}"
            );
            assert_eq!(env.demo_v1().await, before, "{label}: nothing written");
        }
    }
}

#[tokio::test]
async fn v2_answers_a_foreign_version_in_its_own_shape_and_keeps_other_foreign_data() {
    let env = TestEnv::new().await;
    let mut person = env.demo_v2().await;
    // A customFields string does not stop a v2 update, which never touches it.
    person.insert("customFields".into(), AttributeValue::S("legacy".into()));
    env.put_item(person.clone()).await;
    let reply = env.send(&Event::v2(Shape::HttpApi)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        env.demo_v2().await.get("customFields"),
        Some(&AttributeValue::S("legacy".into()))
    );

    person.insert("version".into(), AttributeValue::S("x".into()));
    env.put_item(person).await;
    let before = env.demo_v2().await;
    let reply = env.send(&Event::v2(Shape::HttpApi)).await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    assert_eq!(
        reply.problem()["type"],
        "https://tools.ietf.org/html/rfc9110#section-15.5.10"
    );
    assert_eq!(env.demo_v2().await, before);
}
