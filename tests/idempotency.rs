//! `Idempotency-Key` (docs/API.md §7a) through real events against DynamoDB Local: the first
//! request with a key is carried out and its answer recorded with the update; the same request
//! again replays that answer and writes nothing; another request with the key is a 422; the same
//! request while the first runs is a 409; keys are scoped to the principal; a failure worth
//! retrying releases the key; a claim whose request never finished is settled by the retry
//! that takes it over, from the write id the person carries (faults injected between the
//! function and DynamoDB Local, before and after DynamoDB committed).

mod support;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::ops::aws::SdkSettings;
use serde_json::{json, Value as Json};
use support::fault_proxy::Fault;
use support::*;

fn keyed(event: Event, key: &str) -> Event {
    event.header("Idempotency-Key", &format!("\"{key}\""))
}

fn v1(body: Json) -> Event {
    Event::v1(Shape::HttpApi).json_body(&body)
}

fn v2(body: Json) -> Event {
    Event::v2(Shape::RestApi).json_body(&body)
}

/// The idempotency records of the demo customer.
async fn records(env: &TestEnv) -> Vec<HashMap<String, AttributeValue>> {
    env.client
        .query()
        .table_name(&env.persons_table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
        .expression_attribute_values(
            ":pk",
            AttributeValue::S(person_patch::table::customer_key(
                person_patch::table::CustomerId(14532),
            )),
        )
        .expression_attribute_values(":prefix", AttributeValue::S("IDEMPOTENCY#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("query records")
        .items
        .unwrap_or_default()
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn a_replay_after_success_answers_the_same_and_writes_nothing() {
    for (label, event, status) in [
        ("v1", v1(json!({"position": "Keyed"})), 204),
        (
            "v2",
            v2(json!({"FirstName": "Keyed", "HomeSiteID": 9})),
            200,
        ),
    ] {
        let env = TestEnv::new().await;
        let event = keyed(event, "order-1");
        let first = env.send(&event).await;
        assert_eq!(first.status, status, "{label}: {:?}", first.body);
        assert_eq!(first.header("etag"), Some("\"2\""), "{label}");
        assert_eq!(first.header("idempotent-replayed"), None, "{label}");
        let after_first = (env.demo_v1().await, env.demo_v2().await);

        let again = env.send(&event).await;
        assert_eq!(again.status, status, "{label}");
        assert_eq!(again.header("etag"), Some("\"2\""), "{label}");
        assert_eq!(again.header("idempotent-replayed"), Some("true"), "{label}");
        assert_eq!(again.body, first.body, "{label}: the same body");
        assert_eq!(
            again.header("content-type"),
            first.header("content-type"),
            "{label}"
        );
        assert_eq!(
            (env.demo_v1().await, env.demo_v2().await),
            after_first,
            "{label}: nothing written"
        );

        // The record expires through the table's TTL attribute, 24 hours on.
        let records = records(&env).await;
        assert_eq!(records.len(), 1, "{label}");
        let Some(AttributeValue::N(expires)) = records[0].get("expiresAt") else {
            panic!("{label}: no TTL attribute: {:?}", records[0])
        };
        let expires: u64 = expires.parse().unwrap();
        let day = 24 * 3600;
        assert!((now_seconds() + day - 60..=now_seconds() + day + 5).contains(&expires));
        // Nothing of the key itself is stored, only its hash.
        assert!(!format!("{records:?}").contains("order-1"));
    }
}

#[tokio::test]
async fn the_v2_record_answered_is_the_stored_one() {
    let env = TestEnv::new().await;
    let plain = env
        .send(&v2(json!({"City": "Lyon", "IsActive": "f"})))
        .await;
    let keyed_reply = env
        .send(&keyed(v2(json!({"City": "Lyon", "IsActive": "f"})), "k"))
        .await;
    let body =
        |reply: &Reply| -> Json { serde_json::from_str(reply.body.as_deref().unwrap()).unwrap() };
    assert_eq!(plain.status, 200);
    assert_eq!(keyed_reply.status, 200);
    // The keyed answer is what the update's ALL_NEW gave, as for a plain request.
    assert_eq!(body(&keyed_reply), body(&plain));
    assert_eq!(keyed_reply.header("etag"), Some("\"3\""));
    let again = env
        .send(&v2(json!({"City": "Lyon", "IsActive": "f"})))
        .await;
    assert_eq!(body(&again), body(&keyed_reply));
}

#[tokio::test]
async fn a_replay_after_a_refusal_answers_the_same_refusal() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    let event = keyed(v1(json!({"email": "not an address"})), "refused");
    let first = env.send(&event).await;
    assert_eq!(first.status, 422, "{:?}", first.body);
    let again = env.send(&event).await;
    assert_eq!(again.status, 422);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(env.demo_v1().await, before);

    // 404 and 412 are recorded too.
    for (label, event, status) in [
        (
            "404",
            keyed(
                v1(json!({"position": "x"})).person("00000000-0000-4000-8000-000000000000"),
                "missing",
            ),
            404,
        ),
        (
            "412",
            keyed(
                v1(json!({"position": "x"})).header("If-Match", "\"7\""),
                "stale",
            ),
            412,
        ),
    ] {
        assert_eq!(env.send(&event).await.status, status, "{label}");
        let again = env.send(&event).await;
        assert_eq!(again.status, status, "{label}");
        assert_eq!(again.header("idempotent-replayed"), Some("true"), "{label}");
    }
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn the_same_key_for_another_request_is_a_422() {
    let env = TestEnv::new().await;
    assert_eq!(
        env.send(&keyed(v1(json!({"position": "A"})), "k"))
            .await
            .status,
        204
    );
    let after = env.demo_v1().await;
    for (label, event) in [
        ("another body", keyed(v1(json!({"position": "B"})), "k")),
        (
            "another If-Match",
            keyed(v1(json!({"position": "A"})), "k").header("If-Match", "\"2\""),
        ),
    ] {
        let reply = env.send(&event).await;
        assert_eq!(reply.status, 422, "{label}: {:?}", reply.body);
        assert_eq!(
            reply.problem()["type"],
            "urn:person-patch:problem:idempotency-key-reused",
            "{label}"
        );
        assert_eq!(env.demo_v1().await, after, "{label}: nothing written");
    }
    // v2 answers it in its own shape.
    assert_eq!(
        env.send(&keyed(v2(json!({"City": "A"})), "k2"))
            .await
            .status,
        200
    );
    let reply = env.send(&keyed(v2(json!({"City": "B"})), "k2")).await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.problem()["type"],
        "https://tools.ietf.org/html/rfc4918#section-11.2"
    );
}

#[tokio::test]
async fn keys_are_scoped_to_the_principal() {
    let env = TestEnv::new().await;
    env.create_client(
        "second",
        "second-secret",
        &[14532],
        &["contacts:persons:write"],
    )
    .await;
    let first = keyed(v1(json!({"position": "same"})), "shared");
    assert_eq!(env.send(&first).await.status, 204);
    let other = first.clone().basic("second", "second-secret");
    let reply = env.send(&other).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(
        reply.header("idempotent-replayed"),
        None,
        "carried out again"
    );
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("3"));
    assert_eq!(records(&env).await.len(), 2);
}

#[tokio::test]
async fn malformed_keys_are_400_naming_the_header() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    let long = format!("\"{}\"", "k".repeat(256));
    for value in ["unquoted", "\"\"", long.as_str(), "\"a\\b\""] {
        let event = v1(json!({"position": "x"})).header("Idempotency-Key", value);
        let reply = env.send(&event).await;
        assert_eq!(reply.status, 400, "{value:?}");
        assert!(reply.problem()["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key"));
    }
    assert_eq!(env.demo_v1().await, before);
    assert!(records(&env).await.is_empty());
}

#[tokio::test]
async fn concurrent_first_requests_carry_it_out_once() {
    let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    // The first request's update is slow; the second arrives meanwhile.
    proxy.inject(
        "UpdateItem:person",
        Fault::DelayRequest(Duration::from_millis(800)),
        Some(1),
    );
    let event = keyed(v1(json!({"position": "once"})), "race");
    let env = &env;
    let (a, b) = tokio::join!(env.send(&event), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.send(&event).await
    });
    assert_eq!(a.status, 204, "{:?}", a.body);
    assert_eq!(b.status, 409, "{:?}", b.body);
    assert_eq!(
        b.problem()["type"],
        "urn:person-patch:problem:idempotency-key-in-flight"
    );
    let retry_after: u64 = b.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=15).contains(&retry_after));
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
    // Once the first is done, the same request replays it.
    let c = env.send(&event).await;
    assert_eq!(c.status, 204);
    assert_eq!(c.header("idempotent-replayed"), Some("true"));
    assert_eq!(proxy.seen("UpdateItem:person"), 1);
}

#[tokio::test]
async fn a_retry_that_arrives_before_the_answer_is_recorded_waits_for_it() {
    let env = TestEnv::new().await;
    let event = keyed(v1(json!({"position": "quick retry"})), "quick");
    // The first container has posted its answer; it records it only after that.
    let (first, pending) = env.answer_only(&event).await;
    assert_eq!(first.status, 204, "{:?}", first.body);
    assert_eq!(text(&records(&env).await[0], "state"), Some("running"));
    // The same request reaches another container meanwhile; the first records its answer
    // 60 ms later.
    let other = env.another_container();
    let (retry, ()) = tokio::join!(env.send_to_container(&other, &event), async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        after_response(&env.app, pending).await;
    });
    assert_eq!(retry.status, 204, "{:?}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.header("etag"), first.header("etag"));
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
}

#[tokio::test]
async fn a_committed_update_whose_reply_was_lost_is_recorded_once() {
    // Its reply is lost, or heard as throttled: either way the read settles it.
    for fault in [Fault::LoseReply, Fault::CommitThenThrottle] {
        let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
        proxy.inject("UpdateItem:person", fault, Some(1));
        let event = keyed(v1(json!({"position": "lost reply"})), "lost");
        let reply = env.send(&event).await;
        assert_eq!(reply.status, 204, "{fault:?}: {:?}", reply.body);
        assert_eq!(reply.header("etag"), Some("\"2\""), "{fault:?}");
        assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
        let again = env.send(&event).await;
        assert_eq!(
            again.header("idempotent-replayed"),
            Some("true"),
            "{fault:?}"
        );
        assert_eq!(again.header("etag"), Some("\"2\""), "{fault:?}");
        // A keyed update is not sent again after a lost reply: the read settles it. After a
        // throttled answer it is, and its write id recognises it as applied.
        let sendings = if fault == Fault::LoseReply { 1 } else { 2 };
        assert_eq!(proxy.seen("UpdateItem:person"), sendings, "{fault:?}");
    }
}

#[tokio::test]
async fn a_failure_worth_retrying_releases_the_key() {
    let fast = SdkSettings {
        attempt_timeout: Duration::from_millis(300),
        operation_timeout: Duration::from_millis(1200),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(fast).await;
    proxy.inject("UpdateItem:person", Fault::Throttle, None);
    let event = keyed(v1(json!({"position": "after 503"})), "retry-me");
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("1"));
    assert_eq!(text(&records(&env).await[0], "state"), Some("released"));
    proxy.inject("UpdateItem:person", Fault::Pass, None);
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "the key was released: {:?}", reply.body);
    assert_eq!(reply.header("idempotent-replayed"), None);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
}

/// The record of `key` (sent by the demo client) as a crashed claimant leaves it once its
/// lock has lapsed: the lock is moved into the past.
async fn lapse_lock(env: &TestEnv, key: &str) {
    let record = person_patch::http::idempotency::key::entry_key(
        person_patch::table::CustomerId(14532),
        "beqa4api",
        &person_patch::http::idempotency::key::parse_key(&{
            let mut h = lambda_http::http::HeaderMap::new();
            h.insert("idempotency-key", format!("\"{key}\"").parse().unwrap());
            h
        })
        .unwrap()
        .unwrap(),
    );
    env.client
        .update_item()
        .table_name(&env.persons_table)
        .key("pk", AttributeValue::S(record.partition_key.clone()))
        .key("sk", AttributeValue::S(record.sort_key.clone()))
        .update_expression("SET lockedUntil = :past")
        .condition_expression("#state = :running")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":past", AttributeValue::N((now_seconds() - 1).to_string()))
        .expression_attribute_values(":running", AttributeValue::S("running".into()))
        .send()
        .await
        .expect("age the lock of a running claim");
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

#[tokio::test]
async fn a_claim_left_before_its_write_is_carried_out_by_the_retry_that_takes_it_over() {
    // The invocation runs out of time while its update hangs (nothing is written) and cannot
    // release its claim: as if it had crashed.
    let patient = SdkSettings {
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(30),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(patient).await;
    proxy.inject("UpdateItem:person", Fault::Hang, None);
    let event = keyed(v1(json!({"position": "after a crash"})), "crash");
    let reply = env
        .send_with_context(&event, context_with_deadline(2000))
        .await;
    assert_eq!(reply.status, 503, "{:?}", reply.body);
    proxy.inject("UpdateItem:person", Fault::Pass, None);

    // Within the lock, the same request is told to wait.
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("1"));

    // Once the lock has lapsed, the person shows the write never happened (not written
    // since the claim): the request is carried out.
    lapse_lock(&env, "crash").await;
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.header("idempotent-replayed"), None);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
    assert_eq!(
        env.send(&event).await.header("idempotent-replayed"),
        Some("true")
    );
}

#[tokio::test]
async fn a_write_whose_answer_was_never_recorded_is_replayed_from_the_person() {
    let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    // The claim passes; every attempt to record the answer fails, after DynamoDB committed
    // the update.
    proxy.inject_after("UpdateItem:record", 1, Fault::ServerError, None);
    let event = keyed(v2(json!({"FirstName": "Unrecorded"})), "unrecorded");
    let first = env.send(&event).await;
    assert_eq!(
        first.status, 200,
        "its own write is a success: {:?}",
        first.body
    );
    assert_eq!(first.header("etag"), Some("\"2\""));
    assert_eq!(text(&records(&env).await[0], "state"), Some("running"));
    proxy.inject("UpdateItem:record", Fault::Pass, None);

    assert_eq!(env.send(&event).await.status, 409);
    lapse_lock(&env, "unrecorded").await;
    let again = env.send(&event).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("etag"), Some("\"2\""));
    assert_eq!(again.body, first.body);
    assert_eq!(n(&env.demo_v2().await, "version").as_deref(), Some("2"));
    assert_eq!(text(&records(&env).await[0], "state"), Some("done"));
    // From now on, the recorded answer.
    let later = env.send(&event).await;
    assert_eq!(later.body, first.body);
    assert_eq!(later.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn an_unrecorded_write_written_over_since_is_an_unknown_outcome_never_applied_again() {
    let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    proxy.inject_after("UpdateItem:record", 1, Fault::ServerError, None);
    let event = keyed(v1(json!({"position": "written over"})), "written-over");
    assert_eq!(env.send(&event).await.status, 204);
    proxy.inject("UpdateItem:record", Fault::Pass, None);
    // Another writer changes the person before the retry.
    let other = env.send(&v1(json!({"department": "Other"}))).await;
    assert_eq!(other.status, 204);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("3"));

    lapse_lock(&env, "written-over").await;
    let retry = env.send(&event).await;
    assert_eq!(retry.status, 409, "{:?}", retry.body);
    assert_eq!(
        retry.problem()["type"],
        "urn:person-patch:problem:idempotency-outcome-unknown"
    );
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("3"));
    // The answer is recorded: the key stays spent.
    let again = env.send(&event).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("3"));
}

#[tokio::test]
async fn custom_fields_on_a_legacy_record_with_a_key() {
    let env = TestEnv::new().await;
    env.put_legacy_v1_person().await;
    let event = keyed(
        v1(json!({"customFields": [{"definitionId": 1001, "value": "kept"}]})),
        "legacy",
    );
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let stored = env.demo_v1().await;
    let Some(AttributeValue::M(map)) = stored.get("customFields") else {
        panic!("no map: {stored:?}")
    };
    assert_eq!(map.get("1001"), Some(&AttributeValue::S("kept".into())));
    assert_eq!(n(&stored, "version").as_deref(), Some("2"));
}

#[tokio::test]
async fn an_update_that_committed_while_every_reply_was_lost_is_never_applied_twice() {
    let fast = SdkSettings {
        attempt_timeout: Duration::from_millis(300),
        operation_timeout: Duration::from_millis(1200),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(fast).await;
    // The update commits; neither its reply nor any retry's reaches the function. The person
    // then carries the request's write id: the function reads it and answers the success.
    proxy.inject("UpdateItem:person", Fault::LoseReply, None);
    let event = keyed(v1(json!({"position": "committed, unheard"})), "unheard");
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
    assert_eq!(proxy.seen("UpdateItem:person"), 1);
    proxy.inject("UpdateItem:person", Fault::Pass, None);
    let again = env.send(&event).await;
    assert_eq!(again.status, 204, "{:?}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("etag"), Some("\"2\""));
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
}

#[tokio::test]
async fn an_update_of_unknown_fate_leaves_the_claim_for_the_retry_to_settle() {
    let fast = SdkSettings {
        attempt_timeout: Duration::from_millis(300),
        operation_timeout: Duration::from_millis(1200),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(fast).await;
    // Every sending fails with a server error: nothing is written, but a server error does
    // not say so, so the key is not released.
    proxy.inject("UpdateItem:person", Fault::ServerError, None);
    let event = keyed(v1(json!({"position": "unknown fate"})), "fate");
    assert_eq!(env.send(&event).await.status, 503);
    assert_eq!(text(&records(&env).await[0], "state"), Some("running"));
    proxy.inject("UpdateItem:person", Fault::Pass, None);
    assert_eq!(env.send(&event).await.status, 409);
    lapse_lock(&env, "fate").await;
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
}

#[tokio::test]
async fn a_keyed_update_past_the_item_size_limit_is_413_like_a_plain_one() {
    let env = TestEnv::new().await;
    big_custom_fields(&env, 7000..7030).await;
    let request = big_values;
    let first = env.send(&keyed(request(7000..7015), "first")).await;
    assert_eq!(first.status, 204, "{:?}", first.body);
    let before = env.demo_v1().await;
    let event = keyed(request(7015..7030), "too-large");
    let second = env.send(&event).await;
    assert_eq!(second.status, 413, "{:?}", second.body);
    assert_eq!(
        second.problem()["type"],
        "urn:person-patch:problem:record-too-large"
    );
    // A refusal the request will always get: recorded and replayed.
    let again = env.send(&event).await;
    assert_eq!(again.status, 413);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn a_refusal_that_follows_from_a_header_outside_the_fingerprint_is_not_replayed() {
    let env = TestEnv::new().await;
    let body = json!({"position": "typed right"});
    let wrong = keyed(v1(body.clone()), "media").header("Content-Type", "text/plain");
    let reply = env.send(&wrong).await;
    assert_eq!(reply.status, 415, "{:?}", reply.body);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("1"));
    // The corrected request, same key and body: carried out, not answered 415 again.
    let right = keyed(v1(body), "media");
    let reply = env.send(&right).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.header("idempotent-replayed"), None);
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
    let again = env.send(&right).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn persons_v2_409s_say_which_conflict_they_are_in_the_code_member() {
    let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    // In flight: the first request's update is slow, the second meets its claim.
    proxy.inject(
        "UpdateItem:person",
        Fault::DelayRequest(Duration::from_millis(800)),
        Some(1),
    );
    let event = keyed(v2(json!({"City": "Racing"})), "v2-race");
    let env = &env;
    let (first, in_flight) = tokio::join!(env.send(&event), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.send(&event).await
    });
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(in_flight.status, 409, "{:?}", in_flight.body);
    assert_eq!(in_flight.problem()["code"], "idempotency-key-in-flight");

    // Outcome unknown: the answer of a committed write is never saved, and another writer
    // changes the person before the retry.
    proxy.inject_after("UpdateItem:record", 1, Fault::ServerError, None);
    let lost = keyed(v2(json!({"City": "Written over"})), "v2-written-over");
    assert_eq!(env.send(&lost).await.status, 200);
    proxy.inject("UpdateItem:record", Fault::Pass, None);
    assert_eq!(
        env.send(&v2(json!({"JobTitle": "Other"}))).await.status,
        200
    );
    let version = n(&env.demo_v2().await, "version");
    lapse_lock(env, "v2-written-over").await;
    let unknown = env.send(&lost).await;
    assert_eq!(unknown.status, 409, "{:?}", unknown.body);
    assert_eq!(unknown.problem()["code"], "idempotency-outcome-unknown");
    assert_eq!(
        n(&env.demo_v2().await, "version"),
        version,
        "never applied again"
    );

    // The two share the ASP.NET Core 409 shape; only the code tells them apart.
    assert_eq!(unknown.problem()["type"], in_flight.problem()["type"]);
    assert_eq!(unknown.problem()["title"], in_flight.problem()["title"]);
    assert_eq!(unknown.problem()["status"], 409);
}

/// Whether a problem's body names `slug` (as its `type`, or its `code`).
fn mentions(reply: &Reply, slug: &str) -> bool {
    reply
        .body
        .as_deref()
        .is_some_and(|body| body.contains(slug))
}

#[tokio::test]
async fn a_committed_update_overwritten_before_it_is_settled_is_never_applied_twice() {
    // The first sending commits; its reply is lost, or the store hears it throttled (as a
    // client that sent it again would).
    let cases = [Fault::LoseReply, Fault::CommitThenThrottle]
        .into_iter()
        .flat_map(|fault| [("v1", fault), ("v2", fault)]);
    for (label, first_fault) in cases {
        let (event, other) = if label == "v1" {
            (
                v1(json!({"position": "keyed, unheard"})),
                v1(json!({"surname": "Other writer"})),
            )
        } else {
            (
                v2(json!({"FirstName": "Keyed, unheard"})),
                v2(json!({"LastName": "Other writer"})),
            )
        };
        let label = format!("{label}, {first_fault:?}");
        let label = label.as_str();
        let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
        let stored = || async {
            let item = if label.starts_with("v1") {
                env.demo_v1().await
            } else {
                env.demo_v2().await
            };
            n(&item, "version")
        };
        // The keyed update commits and its reply is lost, or it and every later sending of it
        // are answered throttled (the later ones refused by its write id). The read that
        // settles it is held back while another writer changes the same person.
        let (count, sendings) = if first_fault == Fault::LoseReply {
            (Some(1), 1)
        } else {
            (None, 3)
        };
        proxy.inject("UpdateItem:person", first_fault, count);
        proxy.inject(
            "GetItem:person",
            Fault::DelayRequest(Duration::from_millis(1500)),
            Some(1),
        );
        let keyed_event = keyed(event, "overwritten");
        let first = env.send(&keyed_event);
        let other_writer = async {
            // Once the settling read is on its way, the update has committed. (A function
            // that never reads goes on after 5 s, and the checks below tell what it did.)
            for _ in 0..1000 {
                if proxy.seen("GetItem:person") > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            proxy.inject("UpdateItem:person", Fault::Throttle, None);
            // The other writer goes straight to DynamoDB Local.
            env.send_to_container(&env.another_container(), &other)
                .await
        };
        let (first, other) = tokio::join!(first, other_writer);
        assert_eq!(other.status / 100, 2, "{label}: {:?}", other.body);
        assert_eq!(first.status, 503, "{label}: {:?}", first.body);
        assert_eq!(stored().await.as_deref(), Some("3"), "{label}");
        // The write cannot be told applied, so the key is not freed.
        assert_eq!(proxy.seen("UpdateItem:person"), sendings, "{label}");
        assert_eq!(text(&records(&env).await[0], "state"), Some("running"));
        proxy.inject("UpdateItem:person", Fault::Pass, None);
        let retry = env.send(&keyed_event).await;
        assert_eq!(retry.status, 409, "{label}: {:?}", retry.body);
        assert!(
            mentions(&retry, "idempotency-key-in-flight"),
            "{label}: {:?}",
            retry.body
        );
        // Once the lock has lapsed, the retry that takes the claim over finds the person
        // written since the claim by someone else: the outcome is unknown, and said so.
        lapse_lock(&env, "overwritten").await;
        let retry = env.send(&keyed_event).await;
        assert_eq!(retry.status, 409, "{label}: {:?}", retry.body);
        assert!(
            mentions(&retry, "idempotency-outcome-unknown"),
            "{label}: {:?}",
            retry.body
        );
        assert_eq!(
            stored().await.as_deref(),
            Some("3"),
            "{label}: applied once"
        );
        let again = env.send(&keyed_event).await;
        assert_eq!(again.header("idempotent-replayed"), Some("true"), "{label}");
        assert_eq!(stored().await.as_deref(), Some("3"), "{label}");
    }
}

#[tokio::test]
async fn an_update_that_commits_past_the_deadline_is_answered_as_the_success_it_was() {
    for (label, event, status) in [
        ("v1", v1(json!({"position": "past the deadline"})), 204),
        ("v2", v2(json!({"FirstName": "Past the deadline"})), 200),
    ] {
        let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
        // The update commits; its reply comes after the request's deadline (the invocation's,
        // less the margin), so the request stops waiting for it.
        proxy.inject(
            "UpdateItem:person",
            Fault::DelayReply(Duration::from_secs(4)),
            Some(1),
        );
        let keyed_event = keyed(event, "late");
        let reply = env
            .send_with_context(&keyed_event, context_with_deadline(2500))
            .await;
        assert_eq!(reply.status, status, "{label}: {:?}", reply.body);
        assert_eq!(reply.header("etag"), Some("\"2\""), "{label}");
        assert_eq!(
            text(&records(&env).await[0], "state"),
            Some("done"),
            "{label}"
        );
        let again = env.send(&keyed_event).await;
        assert_eq!(again.status, status, "{label}");
        assert_eq!(again.header("idempotent-replayed"), Some("true"), "{label}");
        assert_eq!(again.header("etag"), Some("\"2\""), "{label}");
    }
}
