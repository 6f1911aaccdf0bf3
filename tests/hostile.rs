//! Hostile requests at the event level: what lambda_http cannot turn into a request by itself,
//! and input that must never reach DynamoDB as an attribute name.

mod support;

use serde_json::json;
use support::*;

#[tokio::test]
async fn paths_queries_and_hosts_that_are_not_valid_uris_get_4xx_not_a_crash() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    for shape in SHAPES {
        let cases: Vec<(&str, Event, u16)> = vec![
            (
                "space in the id",
                Event::v1(shape).person("3f2b8c1e 8a4d"),
                400,
            ),
            (
                "non-ASCII in the route",
                Event::v1(shape).path("/v1/pérsons/x"),
                404,
            ),
            (
                "question mark in the id",
                Event::v1(shape).person("a?b"),
                400,
            ),
            ("relative path", Event::v1(shape).path("v1/persons/x"), 400),
            ("port-like path", Event::v1(shape).path(":abc"), 404),
            (
                "bad Host",
                Event::v1(shape).header("Host", "evil host/x"),
                204,
            ),
            (
                "bad X-Forwarded-Proto",
                Event::v1(shape).header("X-Forwarded-Proto", "ht tp"),
                204,
            ),
        ];
        for (label, event, status) in cases {
            let reply = env.send(&event).await;
            assert_eq!(reply.status, status, "{shape:?} {label}: {:?}", reply.body);
            if status >= 400 {
                reply.problem();
            }
        }
    }
    // The valid requests above (bad Host, bad proto) changed the person; nothing else did.
    let after = env.demo_v1().await;
    let mut changed = changed_attributes(&before, &after);
    changed.retain(|a| !STAMPED.contains(&a.as_str()));
    assert_eq!(changed, ["forename", "title", "version"]);

    let mut event = Event::v1(Shape::HttpApi);
    event.json["rawQueryString"] = json!("a=<script> b#c\u{7f}");
    let reply = env.send(&event).await;
    assert_eq!(
        reply.status, 204,
        "a query string is ignored, even a hostile one"
    );
}

#[tokio::test]
async fn property_names_never_become_attribute_names() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    for name in [
        "pk",
        "sk",
        "version",
        "updatedAt",
        "updatedBy",
        "lastWriteId",
        "createdAt",
        "id",
        "customFields.1001",
        "#a0",
        ":a0",
        "forename REMOVE surname",
    ] {
        let reply = env
            .send(&Event::v1(Shape::HttpApi).json_body(&json!({ name: "x" })))
            .await;
        assert!(
            reply.status == 422 || reply.status == 400,
            "{name}: {}",
            reply.status
        );
    }
    assert_eq!(env.demo_v1().await, before);
}

#[tokio::test]
async fn thousands_of_unknown_properties_get_a_bounded_answer() {
    let env = TestEnv::new().await;
    let body = format!(
        "{{{}}}",
        (0..20_000)
            .map(|i| format!("\"p{i}\":0"))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(body.len() < 256 * 1024);
    let reply = env.send(&Event::v1(Shape::HttpApi).body(&body)).await;
    assert_eq!(reply.status, 422);
    let problem = reply.problem();
    assert_eq!(problem["errors"].as_object().unwrap().len(), 50);
    assert!(problem["detail"].as_str().unwrap().contains("19950 more"));
    assert!(reply.body.unwrap().len() < 16 * 1024);
}

#[tokio::test]
async fn header_values_http_refuses_are_a_400_naming_the_header_not_a_failed_invocation() {
    let env = TestEnv::new().await;
    let before = env.demo_v1().await;
    for shape in SHAPES {
        for (name, value) in [
            ("X-Anything", "a\u{1}b"),
            ("X-Anything", "line\nbreak"),
            ("Authorization", "Basic \u{7f}"),
        ] {
            let event = Event::v1(shape)
                .json_body(&json!({"position": "x"}))
                .header(name, value);
            let reply = env.send(&event).await;
            assert_eq!(reply.status, 400, "{shape:?} {name}: {:?}", reply.body);
            let detail = reply.problem()["detail"].as_str().unwrap().to_owned();
            assert!(
                detail
                    .to_ascii_lowercase()
                    .contains(&name.to_ascii_lowercase()),
                "{detail}"
            );
        }
    }
    assert_eq!(env.demo_v1().await, before);
}
