//! Persons v2 (`PATCH /api/v2/persons/{personId}`) through real events against DynamoDB
//! Local: the seed's own request, every coercion and every 400, checked in the answer and in
//! the stored item.

mod support;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value as Json};
use support::*;

const VALIDATION_TYPE: &str = "https://tools.ietf.org/html/rfc9110#section-15.5.1";
const VALIDATION_TITLE: &str = "One or more validation errors occurred.";

fn v2(shape: Shape) -> Event {
    Event::v2(shape)
}

fn record(reply: &Reply) -> Json {
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8"),
        "{reply:?}"
    );
    serde_json::from_str(reply.body.as_deref().expect("a record")).expect("JSON record")
}

#[tokio::test]
async fn the_seed_curl_answers_200_with_exactly_its_values() {
    for shape in SHAPES {
        let env = TestEnv::new().await;
        let event = v2(shape);
        let sent: Json = serde_json::from_str(&event.body_text()).unwrap();
        let reply = env.send(&event).await;
        assert_eq!(reply.status, 200, "{shape:?}: {:?}", reply.body);
        assert_eq!(reply.header("etag"), Some("\"2\""));
        let body = record(&reply);

        let expected = json!({
            "ID": 16,
            "FirstName": "2", "LastName": "2", "NameOnID": "2", "Prefix": null, "Suffix": "2",
            "Gender": "Unspecified", "JobTitle": "2", "DateOfBirth": "1997-12-16",
            "Phone1": "2", "Phone2": "2", "Address": "2", "City": "2", "StateProvince": "2",
            "PostalCode": "2", "Country": "USA222", "CompanyName": "2", "CorporateID": "2",
            "HomeSiteID": "5", "UserRole": "Acct Team lead ", "Biography": "<html></html> ",
            "IsActive": "false", "IsUser": "true", "IsSpeaker": "true",
            "Email": "grace.hopper@example.com"
        });
        assert_eq!(body, expected, "{shape:?}");
        // Every sent property is answered ("" clears Prefix, so it comes back null).
        for name in sent.as_object().unwrap().keys() {
            assert!(body.get(name).is_some(), "{name}");
        }

        let stored = env.demo_v2().await;
        assert_eq!(s(&stored, "UserRole").as_deref(), Some("Acct Team lead "));
        assert_eq!(s(&stored, "DateOfBirth").as_deref(), Some("1997-12-16"));
        assert_eq!(n(&stored, "HomeSiteID").as_deref(), Some("5"));
        assert_eq!(stored.get("IsActive"), Some(&AttributeValue::Bool(false)));
        assert_eq!(stored.get("IsUser"), Some(&AttributeValue::Bool(true)));
        assert!(!stored.contains_key("Prefix"));
        assert_eq!(n(&stored, "version").as_deref(), Some("2"));
    }
}

#[tokio::test]
async fn a_one_field_patch_leaves_every_other_attribute_untouched() {
    let env = TestEnv::new().await;
    // Fill all 23 fields first, then change one.
    assert_eq!(env.send(&v2(Shape::HttpApi)).await.status, 200);
    let before = env.demo_v2().await;
    let reply = env
        .send(&v2(Shape::HttpApi).json_body(&json!({"City": "Boston"})))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let after = env.demo_v2().await;
    // updatedAt changes too, unless both updates fell in the same millisecond.
    let mut changed = changed_attributes(&before, &after);
    changed.retain(|name| !STAMPED.contains(&name.as_str()));
    assert_eq!(changed, ["City", "version"]);
    let body = record(&reply);
    assert_eq!(body["City"], "Boston");
    assert_eq!(body["FirstName"], "2");
}

#[tokio::test]
async fn coercions() {
    let env = TestEnv::new().await;
    let cases = [
        (
            json!({"HomeSiteID": 7}),
            "HomeSiteID",
            AttributeValue::N("7".into()),
            json!("7"),
        ),
        (
            json!({"HomeSiteID": "0"}),
            "HomeSiteID",
            AttributeValue::N("0".into()),
            json!("0"),
        ),
        (
            json!({"HomeSiteID": 2147483647}),
            "HomeSiteID",
            AttributeValue::N("2147483647".into()),
            json!("2147483647"),
        ),
        (
            json!({"IsActive": true}),
            "IsActive",
            AttributeValue::Bool(true),
            json!("true"),
        ),
        (
            json!({"IsActive": "F"}),
            "IsActive",
            AttributeValue::Bool(false),
            json!("false"),
        ),
        (
            json!({"IsUser": "TRUE"}),
            "IsUser",
            AttributeValue::Bool(true),
            json!("true"),
        ),
        (
            json!({"IsSpeaker": "False"}),
            "IsSpeaker",
            AttributeValue::Bool(false),
            json!("false"),
        ),
        (
            json!({"IsSpeaker": "t"}),
            "IsSpeaker",
            AttributeValue::Bool(true),
            json!("true"),
        ),
        (
            json!({"DateOfBirth": "2000-02-29T00:00:00"}),
            "DateOfBirth",
            AttributeValue::S("2000-02-29".into()),
            json!("2000-02-29"),
        ),
        (
            json!({"DateOfBirth": "1900-01-01"}),
            "DateOfBirth",
            AttributeValue::S("1900-01-01".into()),
            json!("1900-01-01"),
        ),
        (
            json!({"Biography": "<p>Line one\nLine\ttwo</p>\r\n"}),
            "Biography",
            AttributeValue::S("<p>Line one\nLine\ttwo</p>\r\n".into()),
            json!("<p>Line one\nLine\ttwo</p>\r\n"),
        ),
        (
            json!({"email": "g@example.com"}),
            "Email",
            AttributeValue::S("g@example.com".into()),
            json!("g@example.com"),
        ),
        (
            json!({"firstname": "Grace"}),
            "FirstName",
            AttributeValue::S("Grace".into()),
            json!("Grace"),
        ),
    ];
    for (body, attribute, stored, answered) in cases {
        let reply = env.send(&v2(Shape::HttpApi).json_body(&body)).await;
        assert_eq!(reply.status, 200, "{body}: {:?}", reply.body);
        assert_eq!(record(&reply)[attribute], answered, "{body}");
        assert_eq!(env.demo_v2().await.get(attribute), Some(&stored), "{body}");
    }
}

#[tokio::test]
async fn empty_string_and_null_clear_optional_fields() {
    let env = TestEnv::new().await;
    let reply = env
        .send(&v2(Shape::RestApi).json_body(&json!({
            "JobTitle": "", "City": null, "HomeSiteID": "", "IsActive": null,
            "Email": "", "DateOfBirth": null
        })))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let body = record(&reply);
    let stored = env.demo_v2().await;
    for name in [
        "JobTitle",
        "City",
        "HomeSiteID",
        "IsActive",
        "Email",
        "DateOfBirth",
    ] {
        assert!(!stored.contains_key(name), "{name} still stored");
        assert_eq!(body[name], Json::Null, "{name}");
    }
    assert_eq!(body["FirstName"], "Grace");
}

#[tokio::test]
async fn every_field_error_is_a_validation_problem_with_its_key() {
    let env = TestEnv::new().await;
    let before = env.demo_v2().await;
    let long_text = "x".repeat(201);
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "FirstName null",
            r#"{"FirstName": null}"#.into(),
            &["FirstName"],
        ),
        (
            "FirstName empty",
            r#"{"FirstName": ""}"#.into(),
            &["FirstName"],
        ),
        (
            "LastName over 100",
            format!(r#"{{"LastName": "{}"}}"#, "é".repeat(101)),
            &["LastName"],
        ),
        (
            "City over 200",
            format!(r#"{{"City": "{long_text}"}}"#),
            &["City"],
        ),
        (
            "Biography over 50000",
            format!(r#"{{"Biography": "{}"}}"#, "b".repeat(50_001)),
            &["Biography"],
        ),
        (
            "HomeSiteID a fraction that rounds to an integer",
            r#"{"HomeSiteID": 2147483646.9999999}"#.into(),
            &["HomeSiteID"],
        ),
        (
            "control character",
            r#"{"Address": "a\u0007b"}"#.into(),
            &["Address"],
        ),
        (
            "newline outside Biography",
            r#"{"Address": "a\nb"}"#.into(),
            &["Address"],
        ),
        (
            "Email invalid",
            r#"{"Email": "not-an-email"}"#.into(),
            &["Email"],
        ),
        (
            "DateOfBirth not a date",
            r#"{"DateOfBirth": "16/12/1997"}"#.into(),
            &["DateOfBirth"],
        ),
        (
            "DateOfBirth impossible",
            r#"{"DateOfBirth": "1997-02-30"}"#.into(),
            &["DateOfBirth"],
        ),
        (
            "DateOfBirth in the future",
            r#"{"DateOfBirth": "2999-01-01"}"#.into(),
            &["DateOfBirth"],
        ),
        (
            "DateOfBirth before 1900",
            r#"{"DateOfBirth": "1899-12-31"}"#.into(),
            &["DateOfBirth"],
        ),
        (
            "DateOfBirth with a time",
            r#"{"DateOfBirth": "1997-12-16T10:30:00"}"#.into(),
            &["DateOfBirth"],
        ),
        (
            "HomeSiteID negative",
            r#"{"HomeSiteID": -1}"#.into(),
            &["HomeSiteID"],
        ),
        (
            "HomeSiteID over int32",
            r#"{"HomeSiteID": "2147483648"}"#.into(),
            &["HomeSiteID"],
        ),
        (
            "HomeSiteID fractional",
            r#"{"HomeSiteID": 5.5}"#.into(),
            &["HomeSiteID"],
        ),
        (
            "HomeSiteID letters",
            r#"{"HomeSiteID": "5a"}"#.into(),
            &["HomeSiteID"],
        ),
        (
            "HomeSiteID boolean",
            r#"{"HomeSiteID": true}"#.into(),
            &["HomeSiteID"],
        ),
        (
            "IsActive yes",
            r#"{"IsActive": "yes"}"#.into(),
            &["IsActive"],
        ),
        (
            "IsActive number",
            r#"{"IsActive": 1}"#.into(),
            &["IsActive"],
        ),
        (
            "FirstName a number",
            r#"{"FirstName": 2}"#.into(),
            &["FirstName"],
        ),
        ("read-only ID", r#"{"ID": 17}"#.into(), &["ID"]),
        (
            "read-only ProfilePicture",
            r#"{"ProfilePicture": "x"}"#.into(),
            &["ProfilePicture"],
        ),
        (
            "read-only ProfilePictureUrl",
            r#"{"profilepictureurl": "x"}"#.into(),
            &["profilepictureurl"],
        ),
        (
            "read-only ProfilePicturePreviewUrl",
            r#"{"ProfilePicturePreviewUrl": "x"}"#.into(),
            &["ProfilePicturePreviewUrl"],
        ),
        (
            "read-only IsExternal",
            r#"{"IsExternal": true}"#.into(),
            &["IsExternal"],
        ),
        (
            "unknown property",
            r#"{"MiddleName": "x"}"#.into(),
            &["MiddleName"],
        ),
        (
            "a v1 property",
            r#"{"forename": "x"}"#.into(),
            &["forename"],
        ),
        ("empty object", "{}".into(), &["$"]),
        ("array", "[]".into(), &["$"]),
        ("malformed JSON", r#"{"FirstName": "#.into(), &["$"]),
        (
            "duplicate by case",
            r#"{"FirstName": "a", "firstName": "b"}"#.into(),
            &["$"],
        ),
        ("empty body", "".into(), &["$"]),
        (
            "all at once",
            r#"{"FirstName": "", "Email": "x", "HomeSiteID": "x", "ID": 1}"#.into(),
            &["FirstName", "Email", "HomeSiteID", "ID"],
        ),
    ];
    for (label, body, keys) in cases {
        for shape in SHAPES {
            let reply = env.send(&v2(shape).body(&body)).await;
            assert_eq!(reply.status, 400, "{label}: {:?}", reply.body);
            let problem = reply.problem();
            assert_eq!(problem["type"], VALIDATION_TYPE, "{label}");
            assert_eq!(problem["title"], VALIDATION_TITLE, "{label}");
            assert_eq!(problem["traceId"], problem["requestId"], "{label}");
            let errors = problem["errors"]
                .as_object()
                .unwrap_or_else(|| panic!("{label}"));
            let mut got: Vec<&str> = errors.keys().map(String::as_str).collect();
            got.sort();
            let mut want = keys.to_vec();
            want.sort();
            assert_eq!(got, want, "{label}");
        }
    }
    assert_eq!(env.demo_v2().await, before, "a 400 wrote");
}

#[tokio::test]
async fn media_types_and_ids() {
    let env = TestEnv::new().await;
    for content_type in [
        "text/json",
        "application/json; charset=utf-8",
        "application/vnd.persons+json",
    ] {
        let reply = env
            .send(
                &v2(Shape::HttpApi)
                    .header("Content-Type", content_type)
                    .json_body(&json!({"City": content_type})),
            )
            .await;
        assert_eq!(reply.status, 200, "{content_type}");
    }
    for content_type in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        let reply = env
            .send(&v2(Shape::HttpApi).header("Content-Type", content_type))
            .await;
        assert_eq!(reply.status, 415, "{content_type}");
        assert_eq!(
            reply.problem()["type"],
            "https://tools.ietf.org/html/rfc9110#section-15.5.16"
        );
    }
    for id in ["0", "-1", "2147483648", "abc", "16.0", "1e3"] {
        let reply = env.send(&v2(Shape::HttpApi).v2_person(id)).await;
        assert_eq!(reply.status, 400, "{id}");
        assert!(reply.problem()["detail"]
            .as_str()
            .unwrap()
            .contains("1 to 2147483647"));
    }
    let reply = env.send(&v2(Shape::HttpApi).v2_person("2147483647")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.problem()["type"],
        "https://tools.ietf.org/html/rfc9110#section-15.5.5"
    );
}

#[tokio::test]
async fn customer_id_is_optional_for_a_single_customer_client() {
    let env = TestEnv::new().await;
    // The demo client has one customer: no header needed.
    let reply = env
        .send(
            &v2(Shape::HttpApi)
                .without_header("Customer-Id")
                .json_body(&json!({"City": "Paris"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    env.create_client("multi", "pw", &[14532, 777], &["contacts:persons:write"])
        .await;
    let multi = v2(Shape::HttpApi)
        .basic("multi", "pw")
        .json_body(&json!({"City": "Rome"}));
    let reply = env.send(&multi).await;
    assert_eq!(reply.status, 400, "several customers and no header");
    assert!(reply.problem()["detail"]
        .as_str()
        .unwrap()
        .contains("Customer-Id"));
    let reply = env
        .send(&multi.clone().header("Customer-Id", "14532"))
        .await;
    assert_eq!(reply.status, 200);
    let reply = env.send(&multi.header("Customer-Id", "888")).await;
    assert_eq!(reply.status, 403);
    assert_eq!(s(&env.demo_v2().await, "City").as_deref(), Some("Rome"));
}

#[tokio::test]
async fn unauthenticated_v2_is_401_with_the_challenge() {
    let env = TestEnv::new().await;
    let reply = env
        .send(&v2(Shape::RestApi).without_header("Authorization"))
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Basic realm=\"persons\", charset=\"UTF-8\"")
    );
    let problem = reply.problem();
    assert_eq!(
        problem["type"],
        "https://tools.ietf.org/html/rfc9110#section-15.5.2"
    );
    assert_eq!(problem["title"], "Unauthorized");
}

#[tokio::test]
async fn v1_and_v2_persons_of_one_customer_never_see_each_other() {
    let env = TestEnv::new().await;
    let v1_before = env.demo_v1().await;
    let items = env.item_count().await;
    // The v2 route cannot name a v1 person, nor the v1 route a v2 one.
    let reply = env.send(&v2(Shape::HttpApi).v2_person(DEMO_V1)).await;
    assert_eq!(reply.status, 400);
    let reply = env.send(&Event::v1(Shape::HttpApi).person("16")).await;
    assert_eq!(reply.status, 400);
    // A v2 update touches only the v2 record, and a v1 update only the v1 record.
    assert_eq!(env.send(&v2(Shape::HttpApi)).await.status, 200);
    assert_eq!(env.demo_v1().await, v1_before);
    let v2_after = env.demo_v2().await;
    assert_eq!(env.send(&Event::v1(Shape::HttpApi)).await.status, 204);
    assert_eq!(env.demo_v2().await, v2_after);
    assert_eq!(env.item_count().await, items);
}
