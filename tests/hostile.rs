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
                "a Host whose last label is a number but that is no IPv4 address",
                Event::v1(shape).header("Host", "id.ex2.0"),
                204,
            ),
            (
                "a bracketed Host that is no IPv6 address",
                Event::v1(shape).header("Host", "[::::]"),
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

    // The domain name API Gateway reports goes into the URI too (found by `make fuzz`).
    let mut event = Event::v1(Shape::HttpApi).json_body(&json!({"position": "numbered host"}));
    event.json["requestContext"]["domainName"] = json!("id.ex2.0");
    event.json["headers"]
        .as_object_mut()
        .unwrap()
        .retain(|k, _| !k.eq_ignore_ascii_case("host"));
    let reply = env.send(&event).await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);

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

/// Sends `event`, failing (instead of hanging the run) if no answer comes within a minute: a
/// guard against work that grows with what a request says, not a measure of speed.
async fn answered(env: &TestEnv, event: &Event) -> Reply {
    tokio::time::timeout(std::time::Duration::from_secs(60), env.send(event))
        .await
        .expect("an answer, not a request that runs until the function's timeout")
}

/// Number literals whose value would cost work if it were computed digit by digit: each gets
/// the answer its tame twin (the same number written plainly, or 0) gets, in both dialects,
/// under a known or an unknown property, inside custom fields, and nothing is written.
#[tokio::test]
async fn number_literals_cost_their_length_not_their_value() {
    let env = TestEnv::new().await;
    let before_v1 = env.demo_v1().await;
    let before_v2 = env.demo_v2().await;
    let hostile = [
        "0e9000000000000000000",
        "-0E+9000000000000000000",
        "0.0000e-9000000000000000000",
        "1e9000000000000000000",
        "1e-9000000000000000000",
        "-0",
        "2147483648",
        "9223372036854775808",
        "1.7976931348623157e308",
        "123456789012345678901234567890e-30",
    ];
    for literal in hostile {
        for (label, event, tame) in [
            (
                "v1 known",
                Event::v1(Shape::HttpApi).body(&format!(r#"{{"forename":{literal}}}"#)),
                Event::v1(Shape::HttpApi).body(r#"{"forename":0}"#),
            ),
            (
                "v1 unknown",
                Event::v1(Shape::HttpApi).body(&format!(r#"{{"nickname":{literal}}}"#)),
                Event::v1(Shape::HttpApi).body(r#"{"nickname":0}"#),
            ),
            (
                "v2 known",
                Event::v2(Shape::RestApi).body(&format!(r#"{{"FirstName":{literal}}}"#)),
                Event::v2(Shape::RestApi).body(r#"{"FirstName":0}"#),
            ),
            (
                "v2 unknown",
                Event::v2(Shape::RestApi).body(&format!(r#"{{"Nickname":[{literal}]}}"#)),
                Event::v2(Shape::RestApi).body(r#"{"Nickname":[0]}"#),
            ),
        ] {
            let reply = answered(&env, &event).await;
            let expected = answered(&env, &tame).await.status;
            // A literal serde_json cannot hold as a number (past f64) is a malformed body.
            let out_of_range = literal.starts_with("1e9");
            assert!(
                reply.status == expected || (out_of_range && reply.status == 400),
                "{label} {literal}: {} (the tame twin gets {expected}): {:?}",
                reply.status,
                reply.body
            );
            assert!((400..500).contains(&reply.status), "{label} {literal}");
        }
    }
    // Where a whole number is wanted, the literal's exact value decides, however written.
    for (literal, status) in [
        ("1001", 204),
        ("1001e0", 204),
        ("1.001e3", 204),
        ("100100000e-5", 204),
        ("1001.000000000000000000000000000000", 204),
        ("1001e-9000000000000000000", 400),
        ("0e9000000000000000000", 422),
        ("1001e9000000000000000000", 400),
        ("1001.0000000000000000000000000001", 400),
    ] {
        let event = Event::v1(Shape::HttpApi).body(&format!(
            r#"{{"customFields":[{{"definitionId":{literal},"value":"x"}}]}}"#
        ));
        let reply = answered(&env, &event).await;
        assert_eq!(reply.status, status, "{literal}: {:?}", reply.body);
    }
    let after_v1 = env.demo_v1().await;
    assert_eq!(env.demo_v2().await, before_v2);
    // Only the valid custom field writes above changed the v1 person.
    let changed = changed_attributes(&before_v1, &after_v1);
    assert!(
        changed.iter().all(|a| [
            "customFields",
            "version",
            "updatedAt",
            "updatedBy",
            "lastWriteId"
        ]
        .contains(&a.as_str())),
        "{changed:?}"
    );
}
