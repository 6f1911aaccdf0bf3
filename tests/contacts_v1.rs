//! Contacts v1 (`PATCH /v1/persons/{personId}`) through real API Gateway events against
//! DynamoDB Local, asserting the answer and the stored item afterwards.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use support::*;

#[tokio::test]
async fn fixture_as_generated_updates_the_named_fields_only() {
    for shape in SHAPES {
        let env = TestEnv::new().await;
        let before = env.demo_v1().await;
        // The fixture body, base64-encoded as `sam local generate-event` writes it:
        // {"forename":"Augusta","title":null}
        let reply = env.send(&Event::v1(shape)).await;
        assert_eq!(reply.status, 204, "{shape:?}: {:?}", reply.body);
        assert_eq!(reply.body, None);
        assert_eq!(reply.header("etag"), Some("\"2\""));

        let after = env.demo_v1().await;
        assert_eq!(s(&after, "forename").as_deref(), Some("Augusta"));
        assert!(!after.contains_key("title"), "null removes the attribute");
        assert_eq!(n(&after, "version").as_deref(), Some("2"));
        assert_eq!(
            changed_attributes(&before, &after),
            [
                "forename",
                "lastWriteId",
                "title",
                "updatedAt",
                "updatedBy",
                "version"
            ]
        );
        let stamp = s(&after, "updatedAt").unwrap();
        assert!(
            time::OffsetDateTime::parse(&stamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{stamp}"
        );
        assert_ne!(s(&before, "updatedAt"), Some(stamp));
    }
}

#[tokio::test]
async fn every_field_can_be_set() {
    let env = TestEnv::new().await;
    let body = json!({
        "title": "Dr",
        "forename": "Zoë",
        "surname": "Ångström-O'Neil",
        "email": "zoe@example.org",
        "mobile": "+44 7700 900000",
        "landline": "+44 20 7946 0000",
        "extension": "0042",
        "position": "Chief Engineer",
        "department": "Research & Development",
        "isOptedOut": true
    });
    let reply = env.send(&Event::v1(Shape::HttpApi).json_body(&body)).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let after = env.demo_v1().await;
    for (name, value) in body.as_object().unwrap() {
        match value {
            serde_json::Value::String(text) => {
                assert_eq!(s(&after, name).as_deref(), Some(text.as_str()), "{name}")
            }
            serde_json::Value::Bool(b) => {
                assert_eq!(after.get(name), Some(&AttributeValue::Bool(*b)), "{name}")
            }
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn property_names_match_case_insensitively_and_strings_are_kept_verbatim() {
    let env = TestEnv::new().await;
    let reply = env
        .send(&Event::v1(Shape::RestApi).body(r#"{"ForeName": "  Ada  ", "ISOPTEDOUT": true}"#))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let after = env.demo_v1().await;
    assert_eq!(s(&after, "forename").as_deref(), Some("  Ada  "));
    assert_eq!(after.get("isOptedOut"), Some(&AttributeValue::Bool(true)));
    assert!(!after.contains_key("ForeName"));
}

#[tokio::test]
async fn null_and_empty_string_remove_nullable_fields() {
    let env = TestEnv::new().await;
    let reply = env
        .send(&Event::v1(Shape::HttpApi).json_body(&json!({
            "title": null, "mobile": "", "landline": null, "extension": "",
            "position": null, "department": ""
        })))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    let after = env.demo_v1().await;
    for &name in V1_NULLABLE {
        assert!(!after.contains_key(name), "{name} should be removed");
    }
    assert_eq!(s(&after, "forename").as_deref(), Some("Ada"));

    // Removing what is already absent is not an error, and still counts as an update.
    let again = env
        .send(&Event::v1(Shape::HttpApi).json_body(&json!({"title": null})))
        .await;
    assert_eq!(again.status, 204);
    assert_eq!(again.header("etag"), Some("\"3\""));
}

#[tokio::test]
async fn versions_count_updates() {
    let env = TestEnv::new().await;
    for expected in 2..=4 {
        let reply = env
            .send(
                &Event::v1(Shape::HttpApi).json_body(&json!({"position": format!("P{expected}")})),
            )
            .await;
        assert_eq!(
            reply.header("etag"),
            Some(format!("\"{expected}\"").as_str())
        );
    }
    assert_eq!(n(&env.demo_v1().await, "version").as_deref(), Some("4"));
}

#[tokio::test]
async fn a_missing_person_is_404_and_nothing_is_created() {
    let env = TestEnv::new().await;
    let items = env.item_count().await;
    let missing = "00000000-0000-4000-8000-000000000001";
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .person(missing)
                .json_body(&json!({"forename": "X"})),
        )
        .await;
    assert_eq!(reply.status, 404);
    let problem = reply.problem();
    assert_eq!(problem["type"], "urn:person-patch:problem:person-not-found");
    assert_eq!(problem["instance"], format!("/v1/persons/{missing}"));
    assert!(env.stored(14532, missing).await.is_none());
    assert_eq!(env.item_count().await, items);
}

#[tokio::test]
async fn uppercase_uuid_addresses_the_same_person() {
    let env = TestEnv::new().await;
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .person(&DEMO_V1.to_uppercase())
                .json_body(&json!({"surname": "Byron"})),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(s(&env.demo_v1().await, "surname").as_deref(), Some("Byron"));
}

#[tokio::test]
async fn stage_prefixed_and_catch_all_routes() {
    let env = TestEnv::new().await;
    // REST API behind a `/{proxy+}` resource: the proxy parameter instead of personId.
    let mut event = Event::v1(Shape::RestApi).json_body(&json!({"department": "Ops"}));
    event.json["resource"] = json!("/{proxy+}");
    event.json["pathParameters"] = json!({ "proxy": format!("v1/persons/{DEMO_V1}") });
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);

    // HTTP API on a named stage: the stage is part of rawPath.
    let mut event = Event::v1(Shape::HttpApi).json_body(&json!({"department": "Sales"}));
    event.json["requestContext"]["stage"] = json!("live");
    event.json["rawPath"] = json!(format!("/live/v1/persons/{DEMO_V1}"));
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);

    // A function URL / `cargo lambda watch` event: no pathParameters at all.
    let event = Event::v1(Shape::HttpApi)
        .without_path_parameters()
        .json_body(&json!({"department": "Support"}));
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(
        s(&env.demo_v1().await, "department").as_deref(),
        Some("Support")
    );
}

/// One 4xx case: the event, the status and problem type expected, and (for field errors)
/// the `errors` keys.
struct Case {
    name: &'static str,
    event: Event,
    status: u16,
    problem: &'static str,
    error_keys: &'static [&'static str],
}

fn case(name: &'static str, event: Event, status: u16, problem: &'static str) -> Case {
    Case {
        name,
        event,
        status,
        problem,
        error_keys: &[],
    }
}

fn field_case(
    name: &'static str,
    shape: Shape,
    body: &str,
    status: u16,
    error_keys: &'static [&'static str],
) -> Case {
    let problem = if status == 422 {
        "validation-failed"
    } else {
        "malformed-body"
    };
    Case {
        name,
        event: Event::v1(shape).body(body),
        status,
        problem,
        error_keys,
    }
}

fn error_cases(shape: Shape) -> Vec<Case> {
    let v1 = || Event::v1(shape);
    let big = format!(r#"{{"position": "{}"}}"#, "x".repeat(256 * 1024));
    vec![
        case(
            "unknown path",
            v1().path("/v1/people/x"),
            404,
            "route-not-found",
        ),
        case(
            "trailing slash",
            v1().path(&format!("/v1/persons/{DEMO_V1}/")),
            404,
            "route-not-found",
        ),
        case("GET", v1().method("GET"), 405, "method-not-allowed"),
        case("PUT", v1().method("PUT"), 405, "method-not-allowed"),
        case(
            "no Customer-Id",
            v1().without_header("Customer-Id"),
            400,
            "bad-request",
        ),
        case(
            "Customer-Id not a number",
            v1().header("Customer-Id", "acme"),
            400,
            "bad-request",
        ),
        case(
            "Customer-Id zero",
            v1().header("Customer-Id", "0"),
            400,
            "bad-request",
        ),
        case(
            "Customer-Id negative",
            v1().header("Customer-Id", "-14532"),
            400,
            "bad-request",
        ),
        case(
            "Customer-Id over int64",
            v1().header("Customer-Id", "9223372036854775808"),
            400,
            "bad-request",
        ),
        case(
            "Customer-Id twice",
            v1().headers("Customer-Id", &["14532", "14533"]),
            400,
            "bad-request",
        ),
        case("id not a UUID", v1().person("16"), 400, "bad-request"),
        case(
            "id braced",
            v1().person(&format!("{{{DEMO_V1}}}")),
            400,
            "bad-request",
        ),
        case(
            "id with encoded slash",
            v1().person("3f2b8c1e%2F8a4d"),
            400,
            "bad-request",
        ),
        case(
            "id with dot-dot (resolves to /v1/)",
            v1().person(".."),
            404,
            "route-not-found",
        ),
        case(
            "id overlong",
            v1().person(&"a".repeat(5000)),
            400,
            "bad-request",
        ),
        case(
            "id with look-alike digits",
            v1().person("３f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c"),
            400,
            "bad-request",
        ),
        case(
            "no Content-Type",
            v1().without_header("Content-Type"),
            415,
            "unsupported-media-type",
        ),
        case(
            "text/plain",
            v1().header("Content-Type", "text/plain"),
            415,
            "unsupported-media-type",
        ),
        case(
            "form",
            v1().header("Content-Type", "application/x-www-form-urlencoded"),
            415,
            "unsupported-media-type",
        ),
        case(
            "latin-1 JSON",
            v1().header("Content-Type", "application/json; charset=iso-8859-1"),
            415,
            "unsupported-media-type",
        ),
        case(
            "body over 256 KiB",
            v1().body(&big),
            413,
            "payload-too-large",
        ),
        case("no body", v1().no_body(), 400, "malformed-body"),
        case("blank body", v1().body("  \n"), 400, "malformed-body"),
        case("not JSON", v1().body("forename=Ada"), 400, "malformed-body"),
        case(
            "truncated JSON",
            v1().body(r#"{"forename": "Ada""#),
            400,
            "malformed-body",
        ),
        case(
            "trailing garbage",
            v1().body(r#"{"forename": "Ada"} x"#),
            400,
            "malformed-body",
        ),
        case(
            "duplicate key",
            v1().body(r#"{"forename": "A", "forename": "B"}"#),
            400,
            "malformed-body",
        ),
        case(
            "duplicate key by case",
            v1().body(r#"{"forename": "A", "Forename": "B"}"#),
            400,
            "malformed-body",
        ),
        case(
            "invalid base64",
            v1().raw_body("%%%not base64%%%", true),
            400,
            "malformed-body",
        ),
        case(
            "invalid UTF-8",
            v1().base64_body(b"{\"forename\": \"\xff\xfe\"}"),
            400,
            "malformed-body",
        ),
        case(
            "deep nesting",
            v1().body(&format!("{}{}", "[".repeat(5000), "]".repeat(5000))),
            400,
            "malformed-body",
        ),
        field_case("array body", shape, "[]", 400, &["$"]),
        field_case("string body", shape, "\"forename\"", 400, &["$"]),
        field_case("null body", shape, "null", 400, &["$"]),
        field_case(
            "forename a number",
            shape,
            r#"{"forename": 5}"#,
            400,
            &["forename"],
        ),
        field_case(
            "isOptedOut a string",
            shape,
            r#"{"isOptedOut": "true"}"#,
            400,
            &["isOptedOut"],
        ),
        field_case(
            "title an object",
            shape,
            r#"{"title": {"a": 1}}"#,
            400,
            &["title"],
        ),
        field_case(
            "wrong type beside a rule violation",
            shape,
            r#"{"forename": [], "surname": ""}"#,
            400,
            &["forename"],
        ),
        field_case("empty object", shape, "{}", 422, &["$"]),
        field_case(
            "unknown property",
            shape,
            r#"{"nickname": "Ada"}"#,
            422,
            &["nickname"],
        ),
        field_case("read-only property", shape, r#"{"id": "x"}"#, 422, &["id"]),
        field_case(
            "forename null",
            shape,
            r#"{"forename": null}"#,
            422,
            &["forename"],
        ),
        field_case(
            "forename empty",
            shape,
            r#"{"forename": ""}"#,
            422,
            &["forename"],
        ),
        field_case(
            "surname over 100",
            shape,
            &format!(r#"{{"surname": "{}"}}"#, "é".repeat(101)),
            422,
            &["surname"],
        ),
        field_case(
            "title over 20",
            shape,
            &format!(r#"{{"title": "{}"}}"#, "x".repeat(21)),
            422,
            &["title"],
        ),
        field_case(
            "extension over 10",
            shape,
            r#"{"extension": "12345678901"}"#,
            422,
            &["extension"],
        ),
        field_case("email null", shape, r#"{"email": null}"#, 422, &["email"]),
        field_case(
            "email invalid",
            shape,
            r#"{"email": "ada at example.com"}"#,
            422,
            &["email"],
        ),
        field_case(
            "email over 254",
            shape,
            &format!(r#"{{"email": "a@{}"}}"#, vec!["b".repeat(63); 4].join(".")),
            422,
            &["email"],
        ),
        field_case(
            "isOptedOut null",
            shape,
            r#"{"isOptedOut": null}"#,
            422,
            &["isOptedOut"],
        ),
        field_case(
            "NUL in forename",
            shape,
            r#"{"forename": "A\u0000da"}"#,
            422,
            &["forename"],
        ),
        field_case(
            "newline in surname",
            shape,
            r#"{"surname": "Love\nlace"}"#,
            422,
            &["surname"],
        ),
        field_case(
            "DEL in position",
            shape,
            r#"{"position": "a\u007fb"}"#,
            422,
            &["position"],
        ),
        field_case(
            "unknown custom field definition",
            shape,
            r#"{"customFields": [{"definitionId": 9999, "value": "x"}]}"#,
            422,
            &["customFields[0].definitionId"],
        ),
        field_case(
            "several errors at once",
            shape,
            r#"{"forename": "", "email": "x", "nickname": 1}"#,
            422,
            &["forename", "email", "nickname"],
        ),
    ]
}

#[tokio::test]
async fn every_error_is_a_problem_and_writes_nothing() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    let items = env.item_count().await;
    for shape in SHAPES {
        for case in error_cases(shape) {
            let reply = env.send(&case.event).await;
            let label = format!("{shape:?} / {}", case.name);
            assert_eq!(reply.status, case.status, "{label}: {:?}", reply.body);
            let problem = reply.problem();
            assert_eq!(
                problem["type"],
                format!("urn:person-patch:problem:{}", case.problem),
                "{label}"
            );
            assert_eq!(problem["requestId"], case.event.request_id(), "{label}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.len() > 15,
                "{label}: a detail that says what to fix: {detail}"
            );
            if !case.error_keys.is_empty() {
                let errors = problem["errors"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{label}: no errors"));
                let mut keys: Vec<&str> = errors.keys().map(String::as_str).collect();
                keys.sort();
                let mut expected = case.error_keys.to_vec();
                expected.sort();
                assert_eq!(keys, expected, "{label}");
                for messages in errors.values() {
                    assert!(!messages.as_array().unwrap().is_empty(), "{label}");
                }
            }
            match case.status {
                405 => assert_eq!(reply.header("allow"), Some("PATCH"), "{label}"),
                _ => assert_eq!(reply.header("allow"), None, "{label}"),
            }
            assert_eq!(reply.header("etag"), None, "{label}");
            assert_eq!(
                env.demo_v1().await,
                before,
                "{label} changed the stored person"
            );
            assert_eq!(env.item_count().await, items, "{label} created an item");
        }
    }
}

#[tokio::test]
async fn accepted_json_media_types() {
    let env = TestEnv::new().await;
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON;CHARSET=UTF-8",
        "text/json",
        "application/merge-patch+json",
    ] {
        let reply = env
            .send(
                &Event::v1(Shape::HttpApi)
                    .header("Content-Type", content_type)
                    .json_body(&json!({"position": content_type})),
            )
            .await;
        assert_eq!(reply.status, 204, "{content_type}: {:?}", reply.body);
        assert_eq!(
            s(&env.demo_v1().await, "position").as_deref(),
            Some(content_type)
        );
    }
}

#[tokio::test]
async fn field_limits_count_characters_not_bytes() {
    let env = TestEnv::new().await;
    // 100 two-byte characters: 200 bytes, within the 100-character limit.
    let name = "é".repeat(100);
    let reply = env
        .send(&Event::v1(Shape::HttpApi).json_body(&json!({"forename": name})))
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(s(&env.demo_v1().await, "forename"), Some(name));
}

#[tokio::test]
async fn validation_errors_list_every_problem_with_camel_case_paths() {
    let env = TestEnv::new().await;
    let reply = env
        .send(&Event::v1(Shape::HttpApi).json_body(&json!({
            "Forename": "", "EMAIL": "nope", "title": "x".repeat(21), "nickname": "A"
        })))
        .await;
    assert_eq!(reply.status, 422);
    let problem = reply.problem();
    let errors = problem["errors"].as_object().unwrap();
    assert_eq!(errors["forename"][0], "The value must not be empty.");
    assert_eq!(
        errors["email"][0],
        "The value must be a valid email address."
    );
    assert_eq!(
        errors["title"][0],
        "The value must be at most 20 characters long."
    );
    assert_eq!(errors["nickname"][0], "Unknown property.");
}
