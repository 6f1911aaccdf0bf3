//! Raw Lambda event bytes → the function's response, with the in-memory stores. Properties:
//! no panic; every answer is a valid HTTP response (status 200..599, never 500 for anything a
//! caller sends); every 4xx/5xx is a problem+json body whose `status` matches; a 204 has no
//! body, a 200 a JSON object. `make fuzz` runs it with a per-input time limit, so an input
//! whose cost grows with what it says (not its size) is reported as a finding.
//!
//! The demo client authenticates with a generated secret (one SHA-256) and argon2id is off:
//! the demo credentials in the seed events are swapped for that secret, so inputs reach the
//! body without paying for a password hash, and a refused login costs microseconds.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use lambda_http::Context;
use libfuzzer_sys::fuzz_target;
use person_patch::store::memory::MemoryClients;
use person_patch::store::ApiClient;
use person_patch::auth::secrets;
use person_patch::auth::{AuthPolicy, Authenticator, WRITE_SCOPE};
use person_patch::dialect::PersonId;
use person_patch::engine::{CustomKind, Definitions, FieldDefinition};
use person_patch::http::entry::handle_raw_event;
use person_patch::http::app::App;
use person_patch::admin::{parse_person_id, DEMO_CLIENT_ID};
use person_patch::dialect::demo::{DEMO_CUSTOMER, DEMO_V1_PERSON, DEMO_V2_PERSON};
use person_patch::store::memory::MemoryStore;
use person_patch::store::PersonKey;
use serde_json::Value;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
});

/// The demo client's generated secret, and the Authorization value the seed events carry.
static SECRET: LazyLock<String> = LazyLock::new(secrets::generate);
const DEMO_AUTHORIZATION: &str = "Basic YmVxYTRhcGk6YmVxYTRhcGk=";
static AUTHORIZATION: LazyLock<String> = LazyLock::new(|| {
    let credentials = format!("{DEMO_CLIENT_ID}:{}", *SECRET);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
});

static APP: LazyLock<App<MemoryStore, MemoryClients>> = LazyLock::new(|| {
    let v1 = parse_person_id(DEMO_V1_PERSON).expect("the demo id parses");
    let persons = [
        PersonKey::new(DEMO_CUSTOMER, v1),
        PersonKey::new(DEMO_CUSTOMER, PersonId::Int(DEMO_V2_PERSON)),
    ];
    let mut definitions = Definitions::new();
    for (id, kind) in [
        (1001, "text"),
        (1002, "boolean"),
        (1003, "date"),
        (1004, "list"),
        (1005, "statement"),
    ] {
        definitions.insert(
            id,
            FieldDefinition {
                kind: CustomKind::parse(kind),
                options: vec!["Gold".into(), "Silver".into(), "Bronze".into()],
                read_only: kind == "statement",
            },
        );
    }
    let store = MemoryStore::new(&persons, HashMap::from([(DEMO_CUSTOMER, definitions)]));
    let clients = MemoryClients::new([ApiClient {
        id: DEMO_CLIENT_ID.into(),
        secret_hash: Some(secrets::hash(&SECRET)),
        scopes: vec![WRITE_SCOPE.into()],
        customers: vec![DEMO_CUSTOMER],
        enabled: true,
    }]);
    let policy = AuthPolicy {
        accept_passwords: false,
    };
    App::new(store, Authenticator::new(clients).with_policy(policy))
});

fn header<'a>(wire: &'a Value, name: &str) -> Option<&'a str> {
    let single = wire["headers"].as_object().and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    });
    single.or_else(|| {
        wire["multiValueHeaders"].as_object().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.get(0))
                .and_then(Value::as_str)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    // The function takes events as JSON text; anything that is not JSON never reaches it.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if serde_json::from_str::<serde_json::Value>(text).is_err() {
        return;
    }
    let text = text.replace(DEMO_AUTHORIZATION, &AUTHORIZATION);
    let handled = RUNTIME.block_on(async {
        let handled = handle_raw_event(&*APP, &text, Context::default()).await;
        let response = handled.response;
        if let Some(pending) = handled.pending {
            pending.finish(&APP.store).await;
        }
        response
    });
    let wire = serde_json::to_value(&handled).expect("a response serializes");
    let status = wire["statusCode"].as_u64().expect("a status code");
    assert!((200..600).contains(&status), "status {status}");
    assert_ne!(status, 500, "input produced a 500: {wire}");
    let body = wire["body"].as_str();
    match status {
        204 => assert!(body.is_none(), "204 with a body"),
        200 => {
            let record: Value = serde_json::from_str(body.expect("200 has a body")).expect("JSON");
            assert!(record.is_object());
        }
        _ => {
            assert_eq!(
                header(&wire, "content-type"),
                Some("application/problem+json"),
                "{wire}"
            );
            let problem: Value = serde_json::from_str(body.expect("a problem body")).expect("JSON");
            assert_eq!(problem["status"].as_u64(), Some(status));
            for member in ["type", "title", "detail", "instance", "requestId"] {
                assert!(problem.get(member).is_some(), "problem lacks {member}");
            }
        }
    }
});
