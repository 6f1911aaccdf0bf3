//! Authentication, scopes and tenancy (docs/API.md §3) through real events against DynamoDB
//! Local: each 401, 403 and 404 path, the verification cache, and gateway-verified JWTs.

mod support;

use base64::Engine;
use serde_json::json;
use support::*;

const CHALLENGE: &str = "Basic realm=\"persons\", charset=\"UTF-8\"";
const OTHER_PERSON: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

fn basic_header(raw: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Asserts a 401 problem with the challenge, and that nothing was written.
async fn assert_unauthenticated(env: &TestEnv, event: &Event, label: &str) {
    let before = env.demo_v1().await;
    let reply = env.send(event).await;
    assert_eq!(reply.status, 401, "{label}: {:?}", reply.body);
    assert_eq!(reply.header("www-authenticate"), Some(CHALLENGE), "{label}");
    assert_eq!(
        reply.problem()["type"],
        "urn:person-patch:problem:unauthenticated",
        "{label}"
    );
    assert_eq!(env.demo_v1().await, before, "{label} wrote");
}

#[tokio::test]
async fn no_credentials_is_401_with_a_challenge_before_the_body_is_read() {
    let env = TestEnv::new().await;
    for shape in SHAPES {
        let event = Event::v1(shape).without_header("Authorization");
        assert_unauthenticated(&env, &event, "no header").await;
        // Not a word about the body, the customer or the id before authentication.
        let hostile = event
            .clone()
            .body("{ not json")
            .without_header("Customer-Id")
            .without_header("Content-Type")
            .person("not-a-uuid");
        assert_unauthenticated(&env, &hostile, "no header, bad everything").await;
        let big = event.clone().body(&"x".repeat(300 * 1024));
        assert_unauthenticated(&env, &big, "no header, huge body").await;
        let undecodable = event.clone().raw_body("***", true);
        assert_unauthenticated(&env, &undecodable, "no header, bad base64").await;
    }
}

#[tokio::test]
async fn malformed_authorization_headers_are_401_never_400_or_500() {
    let env = TestEnv::new().await;
    let cases = [
        ("empty Basic", "Basic".to_owned()),
        ("bad base64", "Basic %%%".to_owned()),
        ("no colon", basic_header(b"beqa4api")),
        ("not UTF-8", basic_header(b"beqa4api:\xff\xfe")),
        ("empty id", basic_header(b":beqa4api")),
        (
            "control character in id",
            basic_header(b"beq\x00a4api:beqa4api"),
        ),
        (
            "overlong id",
            basic_header(format!("{}:x", "a".repeat(500)).as_bytes()),
        ),
        ("other scheme", "Digest username=\"beqa4api\"".to_owned()),
        ("bare token", "YmVxYTRhcGk6YmVxYTRhcGk=".to_owned()),
        (
            "bearer without an authorizer",
            "Bearer eyJhbGciOiJub25lIn0.e30.".to_owned(),
        ),
    ];
    for shape in SHAPES {
        for (label, header) in &cases {
            let event = Event::v1(shape).header("Authorization", header);
            assert_unauthenticated(&env, &event, &format!("{shape:?} {label}")).await;
        }
        let twice = Event::v1(shape).headers(
            "Authorization",
            &[
                "Basic YmVxYTRhcGk6YmVxYTRhcGk=",
                "Basic YmVxYTRhcGk6YmVxYTRhcGk=",
            ],
        );
        assert_unauthenticated(&env, &twice, "two Authorization headers").await;
    }
}

#[tokio::test]
async fn wrong_secret_unknown_and_disabled_clients_are_401() {
    let env = TestEnv::new().await;
    env.create_client("off", "s3cret", &[14532], &["contacts:persons:write"])
        .await;
    env.disable_client("off").await;
    for (label, id, secret) in [
        ("wrong secret", "beqa4api", "nope"),
        ("empty secret", "beqa4api", ""),
        ("secret differing in case", "beqa4api", "BEQA4API"),
        ("unknown client", "nobody", "beqa4api"),
        ("client id differing in case", "BEQA4API", "beqa4api"),
        ("disabled client", "off", "s3cret"),
    ] {
        let event = Event::v1(Shape::HttpApi).basic(id, secret);
        assert_unauthenticated(&env, &event, label).await;
        let reply = env.send(&event).await;
        let detail = reply.problem()["detail"].as_str().unwrap().to_owned();
        assert_eq!(
            detail, "The credentials were not accepted.",
            "{label}: no enumeration"
        );
    }
}

#[tokio::test]
async fn a_client_without_the_write_scope_is_403() {
    let env = TestEnv::new().await;
    env.create_client("reader", "pw", &[14532], &["contacts:persons:read"])
        .await;
    let before = env.demo_v1().await;
    let reply = env
        .send(&Event::v1(Shape::RestApi).basic("reader", "pw"))
        .await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    assert_eq!(
        reply.problem()["type"],
        "urn:person-patch:problem:forbidden"
    );
    assert!(reply.problem()["detail"]
        .as_str()
        .unwrap()
        .contains("contacts:persons:write"));
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn a_client_of_customer_a_cannot_reach_customer_b() {
    let env = TestEnv::new().await;
    env.put_v1_person(99999, OTHER_PERSON).await;
    let theirs_before = env.stored(99999, OTHER_PERSON).await.unwrap();
    let items = env.item_count().await;

    // By header: naming customer B is refused outright.
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .header("Customer-Id", "99999")
                .person(OTHER_PERSON)
                .json_body(&json!({"forename": "Mallory"})),
        )
        .await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    assert_eq!(
        reply.problem()["type"],
        "urn:person-patch:problem:forbidden"
    );

    // By id: B's person under A's own customer does not exist, exactly like a missing one.
    let by_id = env
        .send(
            &Event::v1(Shape::HttpApi)
                .person(OTHER_PERSON)
                .json_body(&json!({"forename": "Mallory"})),
        )
        .await;
    let missing = env
        .send(
            &Event::v1(Shape::HttpApi)
                .person("00000000-0000-4000-8000-000000000000")
                .json_body(&json!({"forename": "Mallory"})),
        )
        .await;
    assert_eq!(by_id.status, 404);
    let (a, b) = (by_id.problem(), missing.problem());
    for member in ["type", "title", "status", "detail"] {
        assert_eq!(a[member], b[member], "{member} tells them apart");
    }

    assert_eq!(
        env.stored(99999, OTHER_PERSON).await.unwrap(),
        theirs_before
    );
    assert!(env.stored(14532, OTHER_PERSON).await.is_none());
    assert_eq!(env.item_count().await, items);
}

#[tokio::test]
async fn customer_id_is_required_for_v1_even_with_a_single_customer() {
    let env = TestEnv::new().await;
    let reply = env
        .send(&Event::v1(Shape::HttpApi).without_header("Customer-Id"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.problem()["detail"]
        .as_str()
        .unwrap()
        .contains("Customer-Id"));
}

#[tokio::test]
async fn a_client_with_several_customers_acts_for_each() {
    let env = TestEnv::new().await;
    env.create_client("multi", "pw", &[14532, 99999], &["contacts:persons:write"])
        .await;
    env.put_v1_person(99999, OTHER_PERSON).await;
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .basic("multi", "pw")
                .header("Customer-Id", "99999")
                .person(OTHER_PERSON)
                .json_body(&json!({"surname": "Second"})),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(
        s(&env.stored(99999, OTHER_PERSON).await.unwrap(), "surname").as_deref(),
        Some("Second")
    );
}

#[tokio::test]
async fn successful_verifications_are_cached_and_failures_are_not() {
    let env = TestEnv::new().await;
    env.create_client("cached", "first", &[14532], &["contacts:persons:write"])
        .await;
    let login = Event::v1(Shape::HttpApi)
        .basic("cached", "first")
        .json_body(&json!({"position": "one"}));
    assert_eq!(env.send(&login).await.status, 204);

    // Disabled in the table, but the warm container still holds the verification.
    env.disable_client("cached").await;
    let again = login.clone().json_body(&json!({"position": "two"}));
    assert_eq!(env.send(&again).await.status, 204, "a cache hit");
    assert_eq!(s(&env.demo_v1().await, "position").as_deref(), Some("two"));

    // A failure is not remembered: once the stored secret matches, the same header passes.
    let wrong = Event::v1(Shape::HttpApi)
        .basic("rotated", "new-secret")
        .json_body(&json!({"position": "three"}));
    assert_eq!(env.send(&wrong).await.status, 401);
    env.create_client(
        "rotated",
        "new-secret",
        &[14532],
        &["contacts:persons:write"],
    )
    .await;
    assert_eq!(
        env.send(&wrong).await.status,
        204,
        "the failure was not cached"
    );
}

#[tokio::test]
async fn a_fresh_container_sees_a_disabled_client_at_once() {
    let env = TestEnv::new().await;
    env.create_client("gone", "pw", &[14532], &["contacts:persons:write"])
        .await;
    env.disable_client("gone").await;
    let reply = env
        .send(&Event::v1(Shape::HttpApi).basic("gone", "pw"))
        .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn gateway_verified_jwts_for_both_event_versions() {
    let env = TestEnv::new().await;
    env.create_client("jwt-app", "unused", &[14532], &["contacts:persons:read"])
        .await;
    for shape in SHAPES {
        // The principal is client_id; the token's scopes count, not the table's.
        let reply = env
            .send(
                &Event::v1(shape)
                    .verified_jwt(
                        json!({"client_id": "jwt-app", "sub": "ignored"}),
                        &["openid", "contacts:persons:write"],
                    )
                    .json_body(&json!({"position": format!("jwt {shape:?}")})),
            )
            .await;
        assert_eq!(reply.status, 204, "{shape:?}: {:?}", reply.body);
        assert_eq!(
            s(&env.demo_v1().await, "position"),
            Some(format!("jwt {shape:?}"))
        );

        // `sub` when there is no client_id.
        let reply = env
            .send(
                &Event::v1(shape)
                    .verified_jwt(json!({"sub": "jwt-app"}), &["contacts:persons:write"]),
            )
            .await;
        assert_eq!(reply.status, 204, "{shape:?} sub: {:?}", reply.body);

        // A token without the scope.
        let reply = env
            .send(&Event::v1(shape).verified_jwt(json!({"client_id": "jwt-app"}), &["openid"]))
            .await;
        assert_eq!(reply.status, 403, "{shape:?}");

        // A token for a client the table does not know may act for no customer.
        let reply = env
            .send(&Event::v1(shape).verified_jwt(
                json!({"client_id": "stranger"}),
                &["contacts:persons:write"],
            ))
            .await;
        assert_eq!(reply.status, 403, "{shape:?}");

        // A token naming no client at all.
        let event = Event::v1(shape).verified_jwt(json!({"iss": "x"}), &["contacts:persons:write"]);
        let reply = env.send(&event).await;
        assert_eq!(reply.status, 401, "{shape:?}");
    }
}

#[tokio::test]
async fn the_demo_credentials_update_the_demo_person() {
    let env = TestEnv::new().await;
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .basic("beqa4api", "beqa4api")
                .json_body(&json!({"title": "Mx"})),
        )
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(s(&env.demo_v1().await, "title").as_deref(), Some("Mx"));
}

/// A client item written as another tool would: with its own hash.
async fn put_client_with_hash(env: &TestEnv, id: &str, hash: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    env.client
        .put_item()
        .table_name(&env.clients_table)
        .item("clientId", AttributeValue::S(id.into()))
        .item("secretHash", AttributeValue::S(hash.into()))
        .item("enabled", AttributeValue::Bool(true))
        .item(
            "scopes",
            AttributeValue::Ss(vec!["contacts:persons:write".into()]),
        )
        .item("customers", AttributeValue::Ns(vec!["14532".into()]))
        .send()
        .await
        .expect("put client");
}

async fn stored_hash(env: &TestEnv, id: &str) -> String {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = env
        .client
        .get_item()
        .table_name(&env.clients_table)
        .key("clientId", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get client")
        .item
        .expect("the client exists");
    match item.get("secretHash") {
        Some(AttributeValue::S(hash)) => hash.clone(),
        other => panic!("no hash: {other:?}"),
    }
}

#[tokio::test]
async fn generated_secrets_are_accepted_and_near_misses_refused_alike() {
    let env = TestEnv::new().await;
    let secret = person_patch::auth::clients::generate_secret();
    assert!(secret.starts_with("ppsk_"));
    env.create_client("gen", &secret, &[14532], &["contacts:persons:write"])
        .await;
    assert!(stored_hash(&env, "gen").await.starts_with("$sha256$"));
    let login = |s: &str| {
        Event::v1(Shape::HttpApi)
            .basic("gen", s)
            .json_body(&json!({"position": "generated"}))
    };
    // Every one-character change, at each end and in the middle, is refused; so is a secret
    // of the generated form that is not this client's, and a truncated one.
    let mut near_misses = Vec::new();
    for index in [5, 20, secret.len() - 1] {
        let mut chars: Vec<char> = secret.chars().collect();
        chars[index] = if chars[index] == 'a' { 'b' } else { 'a' };
        near_misses.push((
            format!("changed at {index}"),
            chars.into_iter().collect::<String>(),
        ));
    }
    near_misses.push((
        "another generated secret".into(),
        person_patch::auth::clients::generate_secret(),
    ));
    near_misses.push(("truncated".into(), secret[..secret.len() - 1].to_owned()));
    near_misses.push(("prefix only".into(), "ppsk_".into()));
    for (label, wrong) in &near_misses {
        assert_unauthenticated(&env, &login(wrong), label).await;
        let reply = env.send(&login(wrong)).await;
        assert_eq!(
            reply.problem()["detail"],
            "The credentials were not accepted.",
            "{label}"
        );
    }
    let reply = env.send(&login(&secret)).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(
        s(&env.demo_v1().await, "position").as_deref(),
        Some("generated")
    );
    assert_eq!(s(&env.demo_v1().await, "updatedBy").as_deref(), Some("gen"));
}

#[tokio::test]
async fn foreign_parameter_argon2id_hashes_are_accepted_then_rehashed() {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let env = TestEnv::new().await;
    // argon2-cffi's defaults (RFC 9106's second recommendation): m=64 MiB, t=3, p=4.
    let params = argon2::Params::new(64 * 1024, 3, 4, None).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let foreign = argon.hash_password(b"chosen", &salt).unwrap().to_string();
    assert!(foreign.contains("m=65536,t=3,p=4"));
    put_client_with_hash(&env, "imported", &foreign).await;

    let wrong = Event::v1(Shape::HttpApi)
        .basic("imported", "not it")
        .json_body(&json!({"position": "x"}));
    assert_unauthenticated(&env, &wrong, "wrong secret, foreign hash").await;
    assert_eq!(
        stored_hash(&env, "imported").await,
        foreign,
        "a refusal changes nothing"
    );

    let login = Event::v1(Shape::HttpApi)
        .basic("imported", "chosen")
        .json_body(&json!({"position": "imported"}));
    let reply = env.send(&login).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let rehashed = stored_hash(&env, "imported").await;
    assert!(rehashed.contains("m=19456,t=2,p=1"), "{rehashed}");

    // The new hash verifies the same secret in a fresh container.
    let fresh = TestEnv::new().await;
    put_client_with_hash(&fresh, "imported", &rehashed).await;
    assert_eq!(fresh.send(&login).await.status, 204);
}

#[tokio::test]
async fn a_deployment_can_refuse_argon2id_secrets_altogether() {
    use person_patch::auth::{AuthPolicy, Authenticator};
    use person_patch::store::clients::ClientDirectory;
    let mut env = TestEnv::new().await;
    env.app.authenticator = Authenticator::new(ClientDirectory::new(
        env.client.clone(),
        env.clients_table.clone(),
    ))
    .with_policy(AuthPolicy {
        accept_passwords: false,
    });
    let secret = person_patch::auth::clients::generate_secret();
    env.create_client("gen", &secret, &[14532], &["contacts:persons:write"])
        .await;
    let demo = Event::v1(Shape::HttpApi).basic("beqa4api", "beqa4api");
    assert_unauthenticated(&env, &demo, "argon2id secret refused by the setting").await;
    let generated = Event::v1(Shape::HttpApi)
        .basic("gen", &secret)
        .json_body(&json!({"position": "only generated"}));
    assert_eq!(env.send(&generated).await.status, 204);
}

#[tokio::test]
async fn one_cache_entry_per_credential_whatever_the_header_form() {
    let env = TestEnv::new().await;
    env.create_client("forms", "sec=ret", &[14532], &["contacts:persons:write"])
        .await;
    let token = base64::engine::general_purpose::STANDARD.encode("forms:sec=ret");
    let unpadded = token.trim_end_matches('=').to_owned();
    assert_ne!(token, unpadded, "the credential's base64 has padding");
    let first = Event::v1(Shape::HttpApi)
        .header("Authorization", &format!("Basic {token}"))
        .json_body(&json!({"position": "first"}));
    assert_eq!(env.send(&first).await.status, 204);
    // Disabled in the table: only a cache hit can still pass.
    env.disable_client("forms").await;
    for (i, form) in [
        format!("basic {token}"),
        format!("BASIC   {token}"),
        format!("Basic {unpadded}"),
        format!("  Basic {token}  "),
    ]
    .iter()
    .enumerate()
    {
        let event = Event::v1(Shape::HttpApi)
            .header("Authorization", form)
            .json_body(&json!({"position": format!("form {i}")}));
        let reply = env.send(&event).await;
        assert_eq!(
            reply.status, 204,
            "{form:?} was not a cache hit: {:?}",
            reply.body
        );
    }
    assert_eq!(
        s(&env.demo_v1().await, "position").as_deref(),
        Some("form 3")
    );
}
