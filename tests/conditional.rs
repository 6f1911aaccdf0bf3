//! Conditional requests and concurrent writers (docs/API.md §7), both dialects, against
//! DynamoDB Local.

mod support;

use std::sync::Arc;

use serde_json::json;
use support::*;

/// One dialect's view for these tests: its fixture, a way to read its demo record, and the
/// eight distinct fields the concurrency tests write.
#[derive(Clone, Copy)]
struct Dialect {
    name: &'static str,
    event: fn(Shape) -> Event,
    person: &'static str,
    missing_path: &'static str,
    fields: [&'static str; 8],
    problem_412: &'static str,
}

const V1: Dialect = Dialect {
    name: "v1",
    event: Event::v1,
    person: DEMO_V1,
    missing_path: "/v1/persons/00000000-0000-4000-8000-0000000000aa",
    fields: [
        "title",
        "forename",
        "surname",
        "mobile",
        "landline",
        "extension",
        "position",
        "department",
    ],
    problem_412: "urn:person-patch:problem:precondition-failed",
};

const V2: Dialect = Dialect {
    name: "v2",
    event: Event::v2,
    person: "16",
    missing_path: "/api/v2/persons/999",
    fields: [
        "FirstName",
        "LastName",
        "NameOnID",
        "Prefix",
        "Suffix",
        "Gender",
        "JobTitle",
        "City",
    ],
    problem_412: "https://tools.ietf.org/html/rfc9110#section-15.5.13",
};

const DIALECTS: [Dialect; 2] = [V1, V2];

impl Dialect {
    fn patch(&self, field: &str, value: &str) -> Event {
        (self.event)(Shape::HttpApi).json_body(&json!({ field: value }))
    }

    async fn stored(
        &self,
        env: &TestEnv,
    ) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        env.stored(14532, self.person).await.expect("demo person")
    }
}

#[tokio::test]
async fn if_match_current_stale_star_and_lists() {
    for d in DIALECTS {
        let env = TestEnv::new().await;
        let field = d.fields[2];

        let reply = env
            .send(&d.patch(field, "a").header("If-Match", "\"1\""))
            .await;
        assert!(reply.status < 300, "{}: {:?}", d.name, reply.body);
        assert_eq!(reply.header("etag"), Some("\"2\""));

        // Stale: 412 with the current ETag, nothing written.
        let before = d.stored(&env).await;
        let reply = env
            .send(&d.patch(field, "b").header("If-Match", "\"1\""))
            .await;
        assert_eq!(reply.status, 412, "{}", d.name);
        assert_eq!(reply.header("etag"), Some("\"2\""), "{}", d.name);
        assert_eq!(reply.problem()["type"], d.problem_412, "{}", d.name);
        assert_eq!(d.stored(&env).await, before, "{}: a 412 wrote", d.name);

        // A list holding the current version, and `*`.
        let reply = env
            .send(&d.patch(field, "c").header("If-Match", "\"7\", \"2\""))
            .await;
        assert!(reply.status < 300, "{}", d.name);
        assert_eq!(reply.header("etag"), Some("\"3\""));
        let reply = env.send(&d.patch(field, "d").header("If-Match", "*")).await;
        assert!(reply.status < 300, "{}", d.name);
        assert_eq!(s(&d.stored(&env).await, field).as_deref(), Some("d"));
    }
}

#[tokio::test]
async fn a_missing_person_is_404_whatever_if_match_says() {
    for d in DIALECTS {
        let env = TestEnv::new().await;
        let items = env.item_count().await;
        for if_match in ["*", "\"1\""] {
            let reply = env
                .send(
                    &d.patch(d.fields[0], "x")
                        .path(d.missing_path)
                        .header("If-Match", if_match),
                )
                .await;
            assert_eq!(reply.status, 404, "{} {if_match}", d.name);
        }
        assert_eq!(env.item_count().await, items);
    }
}

#[tokio::test]
async fn weak_or_malformed_if_match_is_400() {
    for d in DIALECTS {
        let env = TestEnv::new().await;
        let before = d.stored(&env).await;
        for bad in ["W/\"1\"", "1", "\"one\"", "*, \"1\"", "\"1"] {
            let reply = env
                .send(&d.patch(d.fields[0], "x").header("If-Match", bad))
                .await;
            assert_eq!(reply.status, 400, "{} {bad}", d.name);
            assert!(reply.problem()["detail"]
                .as_str()
                .unwrap()
                .contains("If-Match"));
        }
        assert_eq!(d.stored(&env).await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_of_different_fields_both_persist() {
    for d in DIALECTS {
        let env = Arc::new(TestEnv::new().await);
        let (left, right) = (d.patch(d.fields[3], "left"), d.patch(d.fields[4], "right"));
        let (a, b) = tokio::join!(env.send(&left), env.send(&right));
        assert!(a.status < 300 && b.status < 300, "{}", d.name);
        let stored = d.stored(&env).await;
        assert_eq!(s(&stored, d.fields[3]).as_deref(), Some("left"));
        assert_eq!(s(&stored, d.fields[4]).as_deref(), Some("right"));
        assert_eq!(n(&stored, "version").as_deref(), Some("3"));
        let mut etags = [
            a.header("etag").unwrap().to_owned(),
            b.header("etag").unwrap().to_owned(),
        ];
        etags.sort();
        assert_eq!(etags, ["\"2\"", "\"3\""], "each writer saw its own version");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_writers_with_the_same_if_match_exactly_one_wins() {
    for d in DIALECTS {
        for _round in 0..5 {
            let env = Arc::new(TestEnv::new().await);
            let field = d.fields[5];
            let first = d.patch(field, "one").header("If-Match", "\"1\"");
            let second = d.patch(field, "two").header("If-Match", "\"1\"");
            let (a, b) = tokio::join!(env.send(&first), env.send(&second));
            let mut statuses = [a.status, b.status];
            statuses.sort();
            assert!(
                statuses[0] < 300 && statuses[1] == 412,
                "{}: {statuses:?}",
                d.name
            );
            let (winner_value, winner, loser) = if a.status < 300 {
                ("one", a, b)
            } else {
                ("two", b, a)
            };
            assert_eq!(winner.header("etag"), Some("\"2\""));
            assert_eq!(
                loser.header("etag"),
                Some("\"2\""),
                "the 412 names the current version"
            );
            let stored = d.stored(&env).await;
            assert_eq!(n(&stored, "version").as_deref(), Some("2"));
            assert_eq!(
                s(&stored, field).as_deref(),
                Some(winner_value),
                "{}",
                d.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_patches_from_eight_tasks_lose_nothing() {
    const TASKS: usize = 8;
    const PER_TASK: usize = 25;
    for d in DIALECTS {
        let env = Arc::new(TestEnv::new().await);
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let env = Arc::clone(&env);
            handles.push(tokio::spawn(async move {
                let field = d.fields[task];
                let mut acknowledged = 0usize;
                let mut last = None;
                for i in 0..PER_TASK {
                    let value = format!("t{task}-{i}");
                    let reply = env.send(&d.patch(field, &value)).await;
                    if reply.status < 300 {
                        acknowledged += 1;
                        last = Some(value);
                    } else {
                        // Only a retryable answer is acceptable under contention.
                        assert_eq!(reply.status, 503, "{}: {:?}", d.name, reply.body);
                    }
                }
                (field, acknowledged, last)
            }));
        }
        let mut total = 0;
        let mut expected = Vec::new();
        for handle in handles {
            let (field, acknowledged, last) = handle.await.expect("task");
            total += acknowledged;
            expected.push((field, last));
        }
        let stored = d.stored(&env).await;
        assert_eq!(
            n(&stored, "version"),
            Some((1 + total).to_string()),
            "{}",
            d.name
        );
        for (field, last) in expected {
            assert_eq!(s(&stored, field), last, "{}: {field}", d.name);
        }
        assert!(total > 0);
    }
}
