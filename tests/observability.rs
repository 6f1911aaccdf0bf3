//! What operators see: the logs never hold personal data or secrets, at any level, on any
//! path; and every request emits one valid CloudWatch Embedded Metric Format line.
//!
//! One test function installs the process-wide log subscriber (the function's own set-up, at
//! TRACE, JSON), so this file holds a single #[test] that runs every scenario.

mod support;

use std::sync::{Arc, Mutex};

use person_patch::ops::aws::SdkSettings;
use person_patch::ops::telemetry::{Metrics, MetricsSink};
use serde_json::{json, Value as Json};
use support::fault_proxy::Fault;
use support::*;

const SENTINELS: &[&str] = &[
    "Xanthippe7Q",              // a first name
    "Quillfeather9Z",           // a last name
    "sentinel.q7z@example.org", // an email
    "+44 7700 900457",          // a phone number
    "S3cr3t-Sentinel-Pass",     // a client secret
    "Biography-Sentinel-HTML",  // free text
    "CustomValue-Sentinel",     // a custom field value
];

/// A generated secret, made once per run: it must appear nowhere in the logs, nor any long
/// part of it.
fn generated_secret() -> String {
    static SECRET: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SECRET
        .get_or_init(person_patch::auth::secrets::generate)
        .clone()
}

fn basic_with_secret(event: Event) -> Event {
    event.basic("beqa4api", "S3cr3t-Sentinel-Pass")
}

#[test]
fn logs_hold_no_personal_data_and_metrics_follow_emf() {
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "trace");
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    person_patch::ops::telemetry::init_logging_with_writer(move || writer.clone());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let emf = Arc::new(Mutex::new(Vec::new()));
    let (statuses, metered) = runtime.block_on(scenarios(Arc::clone(&emf)));

    // 1. No sentinel anywhere in the logs, whatever the path.
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).expect("UTF-8 logs");
    assert!(
        text.lines().count() >= statuses.len(),
        "the logs were captured: {text}"
    );
    for sentinel in SENTINELS {
        assert!(!text.contains(sentinel), "the logs hold {sentinel:?}");
    }
    assert!(
        !text.contains("YmVxYTRhcGk6"),
        "an Authorization header was logged"
    );
    assert!(!text.to_lowercase().contains("authorization: basic"));

    // 2. One JSON summary line per request, with the names that tell its story.
    let summaries: Vec<Json> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|l| l["message"] == "request")
        .collect();
    assert_eq!(summaries.len(), statuses.len(), "one summary per request");
    for (summary, status) in summaries.iter().zip(&statuses) {
        for field in [
            "request_id",
            "route",
            "dialect",
            "principal",
            "customer",
            "status",
            "problem",
            "fields",
            "duration_ms",
            "dynamodb_ms",
        ] {
            assert!(
                summary.get(field).is_some(),
                "summary lacks {field}: {summary}"
            );
        }
        assert_eq!(summary["status"], json!(status));
    }
    let secret = generated_secret();
    for start in 0..=(secret.len() - 16) {
        let part = &secret[start..start + 16];
        assert!(
            !text.contains(part),
            "the logs hold part of a generated secret"
        );
    }
    // A refused Basic login names the id it presented when it is a known client, and a
    // fingerprint of it otherwise (never the value, never the secret).
    let refused: Vec<String> = summaries
        .iter()
        .filter(|s| s["status"] == 401)
        .map(|s| s["presented_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(refused.len(), 6, "{refused:?}");
    assert_eq!(refused[..2], ["beqa4api", "beqa4api"]);
    for print in &refused[2..] {
        assert!(
            print.len() == 11
                && print.starts_with("fp:")
                && print[3..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{print}"
        );
    }
    assert_ne!(refused[2], refused[3]);
    assert_ne!(refused[3], refused[4]);
    assert_eq!(refused[4], refused[5], "one id, one fingerprint");
    let first = &summaries[0];
    assert_eq!(first["route"], "PATCH /v1/persons/{personId}");
    assert_eq!(first["fields"], "forename,surname,email,mobile");
    assert_eq!(first["principal"], "beqa4api");
    assert_eq!(first["customer"], 14532);

    // 3. One EMF line per request of the metered environment, each valid.
    let lines = emf.lock().unwrap().clone();
    assert_eq!(lines.len(), metered);
    for (line, status) in lines.iter().zip(&statuses) {
        let document: Json = serde_json::from_str(line).expect("an EMF line is JSON");
        check_emf(&document);
        let class = format!("Status{}xx", status / 100);
        assert_eq!(document[class.as_str()], 1, "{line}");
        for sentinel in SENTINELS {
            assert!(!line.contains(sentinel));
        }
    }
    let at = |i: usize| serde_json::from_str::<Json>(&lines[i]).unwrap();
    assert_eq!(at(0)["ColdStart"], 1);
    assert_eq!(at(1)["ColdStart"], 0);
    assert!(at(0)["DynamoDBLatency"].as_f64().unwrap() > 0.0);
}

/// Every path a request can take, with sentinel values. Returns the statuses in order, and
/// how many of the first requests went through the environment whose metrics are kept.
async fn scenarios(emf: Arc<Mutex<Vec<String>>>) -> (Vec<u16>, usize) {
    let mut env = TestEnv::new().await;
    env.app.metrics = Metrics::new(MetricsSink::Memory(emf));
    let mut statuses = Vec::new();
    let v1 = || Event::v1(Shape::HttpApi);
    let v2 = || Event::v2(Shape::RestApi);
    let events = vec![
        (v1().json_body(&json!({"forename": "Xanthippe7Q", "surname": "Quillfeather9Z", "email": "sentinel.q7z@example.org", "mobile": "+44 7700 900457"})), 204),
        (v1().json_body(&json!({"email": "Xanthippe7Q at nowhere", "surname": "Quillfeather9Z".repeat(10)})), 422),
        (v1().body(r#"{"forename": "Xanthippe7Q", "#), 400),
        (v1().json_body(&json!({"nickname": "Xanthippe7Q"})), 422),
        (v1().json_body(&json!({"forename": 5, "surname": "Quillfeather9Z"})), 400),
        (v1().json_body(&json!({"customFields": [{"definitionId": 1001, "value": "CustomValue-Sentinel"}]})), 204),
        (v1().json_body(&json!({"customFields": [{"definitionId": 1004, "value": "CustomValue-Sentinel"}]})), 422),
        (basic_with_secret(v1()).json_body(&json!({"forename": "Xanthippe7Q"})), 401),
        (v1().json_body(&json!({"forename": "Xanthippe7Q"})).header("Customer-Id", "99999"), 403),
        (v1().person("00000000-0000-4000-8000-000000000000").json_body(&json!({"forename": "Xanthippe7Q"})), 404),
        (v1().json_body(&json!({"forename": "Xanthippe7Q"})).header("If-Match", "\"99\""), 412),
        (v2().json_body(&json!({"FirstName": "Xanthippe7Q", "Email": "sentinel.q7z@example.org", "Phone1": "+44 7700 900457", "Biography": "<b>Biography-Sentinel-HTML</b>"})), 200),
        (v2().json_body(&json!({"FirstName": "", "Email": "Quillfeather9Z", "Biography": 7})), 400),
        (basic_with_secret(v2()), 401),
        // Refused logins whose id is not a known client: id and secret swapped (a generated
        // secret in the id), a secret typed into the id, an unknown id twice.
        (v1().json_body(&json!({"forename": "Xanthippe7Q"})).basic(&generated_secret(), ""), 401),
        (v2().json_body(&json!({"FirstName": "Xanthippe7Q"})).basic("S3cr3t-Sentinel-Pass", "beqa4api"), 401),
        (v1().json_body(&json!({"forename": "Xanthippe7Q"})).basic("no-such-client", "S3cr3t-Sentinel-Pass"), 401),
        (v1().json_body(&json!({"forename": "Xanthippe7Q"})).basic("no-such-client", "other"), 401),
    ];
    for (event, status) in events {
        let reply = env.send(&event).await;
        assert_eq!(reply.status, status, "{:?}", reply.body);
        statuses.push(status);
    }

    let metered = statuses.len();

    // A failing store: its warnings are logged too.
    let (mut faulty, proxy) = TestEnv::with_faults(SdkSettings::default()).await;
    faulty.app.metrics = Metrics::new(MetricsSink::Off);
    proxy.inject("UpdateItem", Fault::ServerError, None);
    let reply =
        faulty
            .send(&v1().json_body(
                &json!({"forename": "Xanthippe7Q", "email": "sentinel.q7z@example.org"}),
            ))
            .await;
    assert_eq!(reply.status, 503);
    statuses.push(503);
    proxy.inject("UpdateItem", Fault::Throttle, None);
    let reply = faulty
        .send(&v2().json_body(&json!({"FirstName": "Xanthippe7Q"})))
        .await;
    assert_eq!(reply.status, 503);
    statuses.push(503);
    // Replies that cannot be read, holding the record (ALL_NEW, then the ALL_OLD of the failed
    // condition of the second sending): the errors are logged without them.
    proxy.inject("UpdateItem", Fault::Truncate, None);
    let reply = faulty
        .send(&v2().json_body(&json!({"FirstName": "Xanthippe7Q", "LastName": "Quillfeather9Z", "Email": "sentinel.q7z@example.org", "Phone1": "+44 7700 900457"})))
        .await;
    assert_eq!(reply.status, 503);
    statuses.push(503);
    (statuses, metered)
}

/// The EMF specification's rules for one document.
fn check_emf(document: &Json) {
    const UNITS: &[&str] = &[
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];
    let aws = document["_aws"].as_object().expect("_aws is an object");
    assert!(
        aws["Timestamp"]
            .as_u64()
            .is_some_and(|t| t > 1_600_000_000_000),
        "Timestamp in ms"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics is an array");
    assert!(!directives.is_empty());
    for directive in directives {
        let namespace = directive["Namespace"].as_str().expect("Namespace");
        assert!(!namespace.is_empty() && namespace.len() <= 1024);
        for set in directive["Dimensions"].as_array().expect("Dimensions") {
            let keys = set.as_array().expect("a dimension set is an array");
            assert!(keys.len() <= 30);
            for key in keys {
                let key = key.as_str().expect("dimension keys are strings");
                assert!(
                    document[key].is_string(),
                    "dimension {key} is a string member"
                );
            }
        }
        let metrics = directive["Metrics"].as_array().expect("Metrics");
        assert!(!metrics.is_empty() && metrics.len() <= 100);
        for metric in metrics {
            let name = metric["Name"].as_str().expect("Name");
            assert!(!name.is_empty() && name.len() <= 1024);
            let unit = metric["Unit"].as_str().unwrap_or("None");
            assert!(UNITS.contains(&unit), "unit {unit}");
            assert!(
                document[name].is_number(),
                "metric {name} is a number member"
            );
        }
    }
}
