//! DynamoDB misbehaving: throttling, 5xx, hung and dropped connections, injected by a proxy in
//! front of DynamoDB Local. Asserts the answer, how many attempts the SDK made, and the stored
//! item afterwards.

mod support;

use std::time::{Duration, Instant};

use person_patch::ops::aws::SdkSettings;
use serde_json::json;
use support::fault_proxy::Fault;
use support::*;

/// The production settings with shorter timeouts, so hung-connection tests stay quick.
fn settings() -> SdkSettings {
    SdkSettings {
        attempt_timeout: Duration::from_millis(300),
        operation_timeout: Duration::from_millis(1200),
        ..SdkSettings::default()
    }
}

fn patch() -> Event {
    Event::v1(Shape::HttpApi).json_body(&json!({"position": "Faulty"}))
}

/// Asserts a 503 problem with `Retry-After`.
fn assert_unavailable(reply: &Reply, label: &str) {
    assert_eq!(reply.status, 503, "{label}: {:?}", reply.body);
    assert_eq!(reply.header("retry-after"), Some("1"), "{label}");
    let problem = reply.problem();
    assert_eq!(
        problem["type"], "urn:person-patch:problem:service-unavailable",
        "{label}"
    );
    let text = problem.to_string().to_lowercase();
    for leak in ["throughput", "exception", "dynamodb", "persons-"] {
        assert!(!text.contains(leak), "{label}: the problem leaks {leak}");
    }
}

#[tokio::test]
async fn persistent_throttling_is_503_after_the_configured_attempts() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    let before = env.demo_v1().await;
    proxy.inject("UpdateItem", Fault::Throttle, None);
    let reply = env.send(&patch()).await;
    assert_unavailable(&reply, "throttled");
    assert_eq!(proxy.seen("UpdateItem"), settings().max_attempts as usize);
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn passing_throttling_is_absorbed_by_retries() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    proxy.inject("UpdateItem", Fault::Throttle, Some(2));
    let reply = env.send(&patch()).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(proxy.seen("UpdateItem"), 3);
    let after = env.demo_v1().await;
    assert_eq!(s(&after, "position").as_deref(), Some("Faulty"));
    assert_eq!(
        n(&after, "version").as_deref(),
        Some("2"),
        "applied exactly once"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_503() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    let before = env.demo_v1().await;
    proxy.inject("UpdateItem", Fault::ServerError, None);
    let reply = env.send(&patch()).await;
    assert_unavailable(&reply, "500s");
    assert_eq!(proxy.seen("UpdateItem"), 3);
    assert_eq!(env.demo_v1().await, before);

    proxy.inject("UpdateItem", Fault::ServerError, Some(1));
    let reply = env.send(&patch()).await;
    assert_eq!(reply.status, 204, "one 500, then success");
}

#[tokio::test]
async fn a_hung_connection_times_out_as_503_within_the_operation_timeout() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    let before = env.demo_v1().await;
    proxy.inject("UpdateItem", Fault::Hang, None);
    let started = Instant::now();
    let reply = env.send(&patch()).await;
    let took = started.elapsed();
    assert_unavailable(&reply, "hung");
    assert!(
        took < settings().operation_timeout + Duration::from_millis(800),
        "took {took:?}: the operation timeout must bound the invocation"
    );
    assert!(proxy.seen("UpdateItem") >= 1);
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn dropped_connections_are_retried_then_503() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    let before = env.demo_v1().await;
    proxy.inject("UpdateItem", Fault::Drop, None);
    let reply = env.send(&patch()).await;
    assert_unavailable(&reply, "dropped");
    assert!(
        proxy.seen("UpdateItem") >= 2,
        "retried: {}",
        proxy.seen("UpdateItem")
    );
    assert_eq!(env.demo_v1().await, before);

    proxy.inject("UpdateItem", Fault::Drop, Some(1));
    let reply = env.send(&patch()).await;
    assert_eq!(reply.status, 204, "one drop, then success");
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("2"));
}

#[tokio::test]
async fn a_throttled_clients_table_is_503_not_401() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    proxy.inject("GetItem", Fault::Throttle, None);
    let reply = env.send(&patch()).await;
    assert_unavailable(&reply, "clients table throttled");
    assert_eq!(
        proxy.seen("UpdateItem"),
        0,
        "nothing is written unauthenticated"
    );
}

#[tokio::test]
async fn an_unavailable_definitions_read_is_503() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    let before = env.demo_v1().await;
    proxy.inject("Query", Fault::ServerError, None);
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .json_body(&json!({"customFields": [{"definitionId": 1001, "value": "x"}]})),
        )
        .await;
    assert_unavailable(&reply, "definitions unavailable");
    assert_eq!(proxy.seen("UpdateItem"), 0);
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn v2_answers_503_in_its_own_shape() {
    let (env, proxy) = TestEnv::with_faults(settings()).await;
    proxy.inject("UpdateItem", Fault::Throttle, None);
    let reply = env.send(&Event::v2(Shape::RestApi)).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(
        reply.problem()["type"],
        "https://tools.ietf.org/html/rfc9110#section-15.6.4"
    );
}

#[tokio::test]
async fn preconnect_reads_once_and_a_hung_dynamodb_cannot_hold_init() {
    use person_patch::store::clients::ClientDirectory;
    let (env, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    let faulty = client_for(&proxy.endpoint, &SdkSettings::default());
    let directory = ClientDirectory::new(faulty.clone(), env.clients_table.clone());
    directory.preconnect().await;
    assert_eq!(proxy.seen("GetItem"), 1, "one read opens the connection");

    proxy.inject("GetItem", Fault::Hang, None);
    let hung = ClientDirectory::new(
        client_for(&proxy.endpoint, &SdkSettings::default()),
        env.clients_table.clone(),
    );
    let started = Instant::now();
    hung.preconnect().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "preconnect waited {:?}",
        started.elapsed()
    );
}
