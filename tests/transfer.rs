//! Import and export against DynamoDB Local: valid and invalid lines, every `--existing`
//! choice, custom fields, a re-run, throttling and lost replies through the fault proxy
//! (nothing lost, nothing doubled), the command line's exit status and rejected-lines file,
//! and the round trip (an export imported into an empty table exports the same file).

mod support;

use std::io::Cursor;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::admin;
use person_patch::admin::transfer::{export, import, Existing, Import, Rejected, Tally};
use person_patch::dialect::{contacts_v1, persons_v2};
use person_patch::ops::aws::SdkSettings;
use person_patch::store::tables::Tables;
use person_patch::table::CustomerId;
use serde_json::{json, Value as Json};
use support::fault_proxy::Fault;
use support::*;

const CUSTOMER: CustomerId = CustomerId(14532);
const NEW_V1: &str = "0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b60";

fn request(dialect: &'static person_patch::dialect::Dialect, existing: Existing) -> Import {
    Import {
        customer: CUSTOMER,
        dialect,
        existing,
        concurrency: 4,
    }
}

async fn run(tables: &Tables, request: &Import, lines: &[Json]) -> (Tally, Vec<Rejected>) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let mut rejected = Vec::new();
    let tally = import(
        tables,
        request,
        Cursor::new(text),
        |_| {},
        |line| rejected.push(line.clone()),
    )
    .await
    .expect("the import runs");
    rejected.sort_by_key(|r| r.line);
    (tally, rejected)
}

async fn exported(
    tables: &Tables,
    dialect: Option<&'static person_patch::dialect::Dialect>,
) -> String {
    let mut out = Vec::new();
    export(tables, CUSTOMER, dialect, &mut out, |_| {})
        .await
        .expect("the export runs");
    String::from_utf8(out).expect("UTF-8")
}

#[tokio::test]
async fn valid_lines_are_created_and_invalid_ones_reported_as_a_patch_would() {
    let env = TestEnv::new().await;
    let lines = [
        json!({"id": NEW_V1, "forename": "Ada", "surname": "King", "email": "ada@example.org",
               "customFields": [{"definitionId": 1001, "value": "imported"}, {"definitionId": 1004, "value": "Gold"}]}),
        json!({"id": "0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b61", "email": "not an address"}),
        json!({"forename": "No Id"}),
        json!({"id": "0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b62", "nickname": "x", "forename": 5}),
        json!({"id": "0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b63", "customFields": [{"definitionId": 9999, "value": "x"}]}),
    ];
    let (tally, rejected) = run(
        &env.tables(),
        &request(&contacts_v1::DIALECT, Existing::Skip),
        &lines,
    )
    .await;
    assert_eq!(
        tally,
        Tally {
            created: 1,
            skipped: 0,
            updated: 0,
            rejected: 4
        }
    );
    assert_eq!(
        rejected.iter().map(|r| r.line).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert!(rejected[0].errors["email"].is_array(), "{:?}", rejected[0]);
    assert_eq!(
        rejected[0].id.as_deref(),
        Some("0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b61")
    );
    assert!(rejected[1].errors["id"].is_array());
    assert!(rejected[2].errors["nickname"].is_array() && rejected[2].errors["forename"].is_array());
    assert!(rejected[3].errors["customFields[0].definitionId"].is_array());
    let stored = env.stored(14532, NEW_V1).await.expect("created");
    assert_eq!(s(&stored, "forename").as_deref(), Some("Ada"));
    assert_eq!(n(&stored, "version").as_deref(), Some("1"));
    assert_eq!(
        stored.get("customFields"),
        Some(&AttributeValue::M(
            [
                ("1001".to_owned(), AttributeValue::S("imported".into())),
                ("1004".to_owned(), AttributeValue::S("Gold".into()))
            ]
            .into()
        ))
    );
    // A PATCH works on it as on any person.
    let reply = env
        .send(
            &Event::v1(Shape::HttpApi)
                .person(NEW_V1)
                .json_body(&json!({"position": "CTO"})),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.header("etag"), Some("\"2\""));
    // None of the rejected lines wrote anything.
    for id in [
        "0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b61",
        "0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5b62",
    ] {
        assert!(env.stored(14532, id).await.is_none());
    }
}

#[tokio::test]
async fn existing_persons_are_skipped_refused_or_updated_as_asked() {
    let env = TestEnv::new().await;
    let before = env.demo_v2().await;
    let line = [json!({"ID": 16, "City": "Paris"})];
    let tables = env.tables();
    let (tally, _) = run(
        &tables,
        &request(&persons_v2::DIALECT, Existing::Skip),
        &line,
    )
    .await;
    assert_eq!((tally.skipped, tally.lines()), (1, 1));
    assert_eq!(env.demo_v2().await, before);
    let (tally, rejected) = run(
        &tables,
        &request(&persons_v2::DIALECT, Existing::Fail),
        &line,
    )
    .await;
    assert_eq!((tally.rejected, tally.lines()), (1, 1));
    assert!(rejected[0].errors["ID"].is_array());
    assert_eq!(env.demo_v2().await, before);
    let (tally, _) = run(
        &tables,
        &request(&persons_v2::DIALECT, Existing::Update),
        &line,
    )
    .await;
    assert_eq!((tally.updated, tally.lines()), (1, 1));
    let after = env.demo_v2().await;
    assert_eq!(s(&after, "City").as_deref(), Some("Paris"));
    assert_eq!(n(&after, "version").as_deref(), Some("2"));
    assert_eq!(s(&after, "FirstName"), s(&before, "FirstName"));
}

#[tokio::test]
async fn running_the_same_file_twice_changes_nothing_the_second_time() {
    let env = TestEnv::new().await;
    let lines: Vec<Json> = (0..20)
        .map(|i| json!({"ID": 1000 + i, "FirstName": format!("P{i}"), "LastName": "L", "IsActive": "t"}))
        .collect();
    let request = request(&persons_v2::DIALECT, Existing::Skip);
    let (first, _) = run(&env.tables(), &request, &lines).await;
    assert_eq!(first.created, 20);
    let snapshot = exported(&env.tables(), None).await;
    let (second, _) = run(&env.tables(), &request, &lines).await;
    assert_eq!((second.created, second.skipped), (0, 20));
    assert_eq!(exported(&env.tables(), None).await, snapshot);
}

#[tokio::test]
async fn throttling_and_lost_replies_lose_nothing_and_double_nothing() {
    let settings = SdkSettings {
        attempt_timeout: Duration::from_millis(500),
        operation_timeout: Duration::from_secs(3),
        ..SdkSettings::default()
    };
    let (env, proxy) = TestEnv::with_faults(settings).await;
    let faulty = client_for(&proxy.endpoint, &settings);
    let lines: Vec<Json> = (0..10)
        .map(|i| json!({"ID": 2000 + i, "FirstName": "F", "LastName": "L"}))
        .collect();
    let mut request = request(&persons_v2::DIALECT, Existing::Skip);
    request.concurrency = 1;
    // The first two puts are throttled (the SDK retries them).
    proxy.inject("PutItem", Fault::Throttle, Some(2));
    let faulty_tables = Tables::new(faulty.clone(), &env.persons_table, &env.clients_table);
    let (tally, rejected) = run(&faulty_tables, &request, &lines[..5]).await;
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!(tally.created, 5);
    assert_eq!(proxy.seen("PutItem"), 7);
    // The third put of the next run commits, but its reply is lost: the SDK's retry finds the
    // person there with its own write id, and counts it created, once.
    proxy.inject_after("PutItem", 2, Fault::LoseReply, Some(1));
    let (tally, rejected) = run(&faulty_tables, &request, &lines[5..]).await;
    assert!(rejected.is_empty(), "{rejected:?}");
    assert_eq!((tally.created, tally.skipped), (5, 0));
    assert_eq!(proxy.seen("PutItem"), 13);
    let text = exported(&env.tables(), Some(&persons_v2::DIALECT)).await;
    // Ten new persons, once each, at version 1, beside the demo person.
    assert_eq!(text.lines().count(), 11);
    for i in 0..10 {
        let stored = env
            .stored(14532, &(2000 + i).to_string())
            .await
            .expect("imported");
        assert_eq!(n(&stored, "version").as_deref(), Some("1"));
    }
}

#[tokio::test]
async fn an_export_imported_into_an_empty_table_exports_the_same_file() {
    let env = TestEnv::new().await;
    // More persons of both dialects, with custom fields and cleared values.
    let v1_lines: Vec<Json> = (0..5)
        .map(|i| json!({"id": format!("0b8f6a52-3f0a-4c1b-9f7e-2d7c1a4e5c{i:02}"), "forename": "F", "surname": "S",
                        "email": "f@example.org", "title": null,
                        "customFields": [{"definitionId": 1003, "value": "2026-01-0{}".replace("{}", &(i + 1).to_string())}]}))
        .collect();
    run(
        &env.tables(),
        &request(&contacts_v1::DIALECT, Existing::Skip),
        &v1_lines,
    )
    .await;
    let v2_lines: Vec<Json> = (0..5)
        .map(|i| json!({"ID": 3000 + i, "FirstName": "F", "LastName": "L", "HomeSiteID": i, "Biography": "<p>a\nb</p>"}))
        .collect();
    run(
        &env.tables(),
        &request(&persons_v2::DIALECT, Existing::Skip),
        &v2_lines,
    )
    .await;
    let v1_text = exported(&env.tables(), Some(&contacts_v1::DIALECT)).await;
    let v2_text = exported(&env.tables(), Some(&persons_v2::DIALECT)).await;
    assert_eq!(v1_text.lines().count(), 6);
    assert_eq!(v2_text.lines().count(), 6);

    // An empty table with the customer's definitions only.
    let empty = format!("{}-empty", env.persons_table);
    let clients = format!("{}-empty", env.clients_table);
    let empty_tables = Tables::new(env.client.clone(), &empty, &clients);
    admin::create_tables(&empty_tables).await.expect("tables");
    for (id, kind, options) in admin::DEMO_FIELD_DEFINITIONS {
        let options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
        admin::put_field_definition(&empty_tables, CUSTOMER, *id, kind, &options, false)
            .await
            .expect("definition");
    }
    for (dialect, text) in [
        (&contacts_v1::DIALECT, &v1_text),
        (&persons_v2::DIALECT, &v2_text),
    ] {
        let lines: Vec<Json> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let (tally, rejected) = run(&empty_tables, &request(dialect, Existing::Skip), &lines).await;
        assert!(rejected.is_empty(), "{rejected:?}");
        assert_eq!(tally.created, 6);
    }
    assert_eq!(
        exported(&empty_tables, Some(&contacts_v1::DIALECT)).await,
        v1_text
    );
    assert_eq!(
        exported(&empty_tables, Some(&persons_v2::DIALECT)).await,
        v2_text
    );
}

/// The admin tool's `import` of a Persons v2 file into `table` on DynamoDB Local.
fn import_file(input: &std::path::Path, table: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_person-patch-admin"))
        .args(["import", "--customer", "14532", "--dialect", "persons-v2"])
        .arg(input)
        .env("PERSONS_TABLE", table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .expect("the admin tool runs")
}

#[tokio::test]
async fn the_command_line_reports_rejected_lines_beside_the_input_and_fails() {
    let env = TestEnv::new().await;
    let dir = std::env::temp_dir().join(format!("person-patch-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("persons.jsonl");
    std::fs::write(
        &input,
        format!(
            "{}\n{}\nnot json\n",
            json!({"ID": 4000, "FirstName": "A", "LastName": "B"}),
            json!({"ID": 4001, "FirstName": ""})
        ),
    )
    .unwrap();
    let output = import_file(&input, &env.persons_table);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(
        stdout.contains("3 lines: 1 created, 0 skipped, 0 updated, 2 rejected"),
        "{stdout}"
    );
    let rejected = std::fs::read_to_string(dir.join("persons.jsonl.rejected.jsonl")).unwrap();
    let lines: Vec<Json> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[0]["id"], "4001");
    assert!(lines[0]["errors"]["FirstName"].is_array());
    assert_eq!(lines[1]["line"], 3);
    assert!(env.stored(14532, "4000").await.is_some());
    // A table that is not there stops the run at once, with a clear message.
    let output = import_file(&input, "no-such-table");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-table"));
    let _ = std::fs::remove_dir_all(&dir);
}
