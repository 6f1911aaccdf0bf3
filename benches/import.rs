//! Importing persons, beside its floor, in one run against DynamoDB Local
//! (`AWS_ENDPOINT_URL_DYNAMODB`, as `make bench-import` provides):
//! - the release `person-patch-admin import` of IMPORT_PERSONS (default 100,000) Persons v2
//!   lines from a file, with 16 writes in flight: wall time, persons a second, and its peak
//!   RSS (sampled from /proc while it runs);
//! - the floor: the same items sent with `BatchWriteItem`, 25 a request, by 16 tasks, from
//!   this process (no validation, no conditions, no per-person round trip): the first
//!   FLOOR_PERSONS of them (default 20,000), sent first, since DynamoDB Local's
//!   `BatchWriteItem` slows down as its database grows (2,000 items: 1.4 s; 20,000: 57 s;
//!   20,000 after the 100,000-person import: stopped after 8 minutes), and rates (persons a
//!   second) are compared.
//!
//! Prints progress lines and one summary line, and writes target/bench/import.md.

use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use person_patch::admin;
use person_patch::store::tables::Tables;
use serde_json::json;

mod harness;

use harness::proc::rss_kib;
use harness::*;

const TASKS: usize = 16;

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs benchmarks without it,
    // and this one needs the release admin tool and minutes: it measures only under
    // `make bench-import`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("import benchmark: run with `make bench-import`");
        return;
    }
    let persons = env_usize("IMPORT_PERSONS", 100_000);
    let floor_persons = env_usize("FLOOR_PERSONS", 20_000).min(persons);
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("AWS_ENDPOINT_URL_DYNAMODB (make bench-import)");
    let client = local_tables(&endpoint).await;
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let input = dir.join("import-persons.jsonl");
    write_lines(&input, persons);
    eprintln!("import: {persons} lines written to {}", input.display());

    // The floor first, while DynamoDB Local is empty: its BatchWriteItem slows down as the
    // database grows.
    let floor_table = format!("{PERSONS_TABLE}-floor");
    let floor_tables = Tables::new(
        client.clone(),
        &floor_table,
        format!("{CLIENTS_TABLE}-floor"),
    );
    admin::create_tables(&floor_tables)
        .await
        .expect("floor tables");
    // The admin tool runs with the SDK's defaults (no operation timeout); so does the floor,
    // not with the function's 4 s budget, which 25-item batches under load exceed.
    let floor_client = aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .timeout_config(aws_config::timeout::TimeoutConfig::disabled())
            .build(),
    );
    let floor_seconds = batch_floor(&floor_client, &floor_table, floor_persons).await;
    let floor_count = count(&floor_client, &floor_table).await;
    assert_eq!(floor_count, floor_persons, "the floor wrote every person");
    eprintln!("import: the BatchWriteItem floor took {floor_seconds:.1} s for {floor_persons}");

    let (import_seconds, peak_kib) = run_import(&input, &endpoint);
    eprintln!("import: the admin tool took {import_seconds:.1} s, peak RSS {peak_kib} KiB");
    // The two demo persons are there too.
    assert_eq!(
        count(&floor_client, PERSONS_TABLE).await,
        persons + 2,
        "the import wrote every person"
    );
    let import_rate = persons as f64 / import_seconds;
    let floor_rate = floor_persons as f64 / floor_seconds;
    let report = format!(
        "| Persons v2 persons, {TASKS} in flight | persons | wall time | persons/s | peak RSS |\n\
         |---|---|---|---|---|\n\
         | `person-patch-admin import` (validated, conditional put per person) | {persons} | {import_seconds:.1} s | {import_rate:.0} | {:.1} MiB |\n\
         | floor: `BatchWriteItem`, 25 a request, unconditioned | {floor_persons} | {floor_seconds:.1} s | {floor_rate:.0} | (in the bench process) |\n\
         | import rate / floor rate | | | {:.2}× | |\n",
        peak_kib as f64 / 1024.0,
        import_rate / floor_rate,
    );
    println!("\n{report}");
    std::fs::write(dir.join("import.md"), &report).expect("report");
    println!(
        "import bench: {persons} persons in {import_seconds:.1} s ({import_rate:.0}/s) against a floor of {floor_persons} in {floor_seconds:.1} s ({floor_rate:.0}/s); peak RSS {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
}

/// `persons` Persons v2 lines, ids 100,001 upwards.
fn write_lines(path: &std::path::Path, persons: usize) {
    let file = std::fs::File::create(path).expect("input file");
    let mut out = std::io::BufWriter::new(file);
    for i in 0..persons {
        let line = json!({
            "ID": 100_001 + i,
            "FirstName": format!("First{i}"),
            "LastName": "Imported",
            "Email": format!("person{i}@example.org"),
            "City": "Lyon",
            "HomeSiteID": (i % 50).to_string(),
            "IsActive": "true",
        });
        writeln!(out, "{line}").expect("a line");
    }
    out.flush().expect("flush");
}

/// Runs the release admin tool; its wall time and its peak RSS (KiB).
fn run_import(input: &std::path::Path, endpoint: &str) -> (f64, u64) {
    let binary = root().join("target/release/person-patch-admin");
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .args(["import", "--customer", "14532", "--dialect", "persons-v2"])
        .args(["--concurrency", &TASKS.to_string()])
        .arg(input)
        .env("PERSONS_TABLE", PERSONS_TABLE)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} (make bench-import builds it): {e}",
                binary.display()
            )
        });
    let mut peak = 0;
    loop {
        peak = peak.max(rss_kib(child.id(), "VmHWM:"));
        if let Some(status) = child.try_wait().expect("the import's status") {
            assert!(status.success(), "the import failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (started.elapsed().as_secs_f64(), peak)
}

/// The same persons as items, sent with `BatchWriteItem` by [`TASKS`] tasks.
async fn batch_floor(client: &aws_sdk_dynamodb::Client, table: &str, persons: usize) -> f64 {
    let s = |v: String| AttributeValue::S(v);
    let items: Vec<WriteRequest> = (0..persons)
        .map(|i| {
            let id = 100_001 + i;
            let item = [
                (
                    "pk",
                    s(person_patch::table::customer_key(
                        person_patch::table::CustomerId(14532),
                    )),
                ),
                ("sk", s(format!("PERSON#{id}"))),
                ("ID", AttributeValue::N(id.to_string())),
                ("FirstName", s(format!("First{i}"))),
                ("LastName", s("Imported".into())),
                ("Email", s(format!("person{i}@example.org"))),
                ("City", s("Lyon".into())),
                ("HomeSiteID", AttributeValue::N((i % 50).to_string())),
                ("IsActive", AttributeValue::Bool(true)),
                ("version", AttributeValue::N("1".into())),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put"),
                )
                .build()
        })
        .collect();
    let batches: Vec<Vec<WriteRequest>> = items.chunks(25).map(<[_]>::to_vec).collect();
    let queue = Arc::new(std::sync::Mutex::new(batches));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (client, table, queue) = (client.clone(), table.to_owned(), Arc::clone(&queue));
        tasks.spawn(async move {
            loop {
                let Some(mut batch) = queue.lock().expect("queue").pop() else {
                    return;
                };
                // Unprocessed items are sent again until none is left.
                while !batch.is_empty() {
                    let output = client
                        .batch_write_item()
                        .request_items(&table, batch)
                        .send()
                        .await
                        .expect("BatchWriteItem");
                    batch = output
                        .unprocessed_items
                        .and_then(|mut left| left.remove(&table))
                        .unwrap_or_default();
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a floor task");
    }
    started.elapsed().as_secs_f64()
}

/// How many persons `table` holds for the customer.
async fn count(client: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    let mut total = 0;
    let mut start = None;
    loop {
        let page = client
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(person_patch::table::customer_key(
                    person_patch::table::CustomerId(14532),
                )),
            )
            .expression_attribute_values(":p", AttributeValue::S("PERSON#".into()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("count");
        total += page.count() as usize;
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return total,
        }
    }
}
