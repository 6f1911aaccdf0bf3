//! The init-phase rehearsal: before the first event, one Contacts v1 request (a verified-token
//! caller, through an HTTP API event) and one Persons v2 request (a Basic caller, through a
//! REST API event) run through the real event adapter, handler and store, so the code and data
//! a first request needs are loaded and set up while init still has a full core (on-demand
//! Lambda holds a function to its memory size's CPU share only from its first invocation).
//!
//! The rehearsal writes nothing: its caller exists only in a cache of its own (no credential
//! anyone can send reaches it), it acts for customer 9223372036854775807 on a person id no
//! request creates (the nil UUID, and 2147483647), and it sends `If-Match: "0"`, a version the
//! service never stores; the update's condition fails and the store answers 404. Its requests are neither logged nor
//! counted. What it costs DynamoDB: two failed conditional writes (1 WCU each) per container.

use lambda_http::Context;
use serde_json::json;

use crate::auth::clients::ClientLookup;
use crate::auth::{Principal, WRITE_SCOPE};
use crate::http::entry::handle_raw_event;
use crate::http::handler::App;
use crate::ops::telemetry::{Metrics, MetricsSink};
use crate::store::PersonStore;
use crate::table::CustomerId;

/// The rehearsal's caller: an id the admin tool refuses to create (the `ppsk_` prefix is kept
/// for generated secrets), acting for the largest customer id only.
const CALLER: &str = "ppsk_rehearsal";
const CUSTOMER: CustomerId = CustomerId(i64::MAX);

/// Runs the rehearsal on a copy of `app` that shares its store and clients table.
pub async fn rehearse<S, D>(app: &App<S, D>)
where
    S: PersonStore + Clone,
    D: ClientLookup + Clone,
{
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let principal = Principal {
        id: CALLER.to_owned(),
        scopes: vec![WRITE_SCOPE.to_owned()],
        customers: vec![CUSTOMER],
    };
    let stage = App {
        store: app.store.clone(),
        authenticator: app.authenticator.for_rehearsal(&principal, &secret),
        clock: app.clock,
        metrics: Metrics::new(MetricsSink::Off),
        unrecorded: Default::default(),
        quiet: true,
    };
    for event in [contacts_v1_event(), persons_v2_event(&secret)] {
        let _ = handle_raw_event(&stage, &event, Context::default()).await;
        stage.after_response().await;
    }
}

fn contacts_v1_event() -> String {
    let person = uuid::Uuid::nil().to_string();
    let path = format!("/v1/persons/{person}");
    json!({
        "version": "2.0",
        "routeKey": "PATCH /v1/persons/{personId}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "customer-id": CUSTOMER.0.to_string(),
            "if-match": "\"0\"",
            "authorization": "Bearer rehearsal",
        },
        "pathParameters": {"personId": person},
        "isBase64Encoded": false,
        "body": r#"{"forename":"Rehearsal","email":"rehearsal@example.com","isOptedOut":false}"#,
        "requestContext": {
            "http": {"method": "PATCH", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "rehearsal"},
            "requestId": "rehearsal-v1",
            "routeKey": "PATCH /v1/persons/{personId}",
            "stage": "$default",
            "authorizer": {"jwt": {"claims": {"client_id": CALLER}, "scopes": [WRITE_SCOPE]}}
        }
    })
    .to_string()
}

fn persons_v2_event(secret: &str) -> String {
    use base64::Engine;
    let credential = base64::engine::general_purpose::STANDARD.encode(format!("{CALLER}:{secret}"));
    let path = format!("/api/v2/persons/{}", i32::MAX);
    json!({
        "resource": "/api/v2/persons/{personId}",
        "path": path,
        "httpMethod": "PATCH",
        "headers": {
            "Content-Type": "application/json",
            "Customer-Id": CUSTOMER.0.to_string(),
            "If-Match": "\"0\"",
            "Authorization": format!("Basic {credential}"),
        },
        "multiValueHeaders": {},
        "pathParameters": {"personId": i32::MAX.to_string()},
        "isBase64Encoded": false,
        "body": r#"{"FirstName":"Rehearsal","DateOfBirth":"1990-01-01","HomeSiteID":"1","IsActive":"t"}"#,
        "requestContext": {
            "requestId": "rehearsal-v2",
            "resourcePath": "/api/v2/persons/{personId}",
            "httpMethod": "PATCH",
            "stage": "prod",
            "identity": {"sourceIp": "127.0.0.1"}
        }
    })
    .to_string()
}
