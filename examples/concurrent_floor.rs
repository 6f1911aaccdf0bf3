//! The floor of `make bench-concurrent`: the `UpdateItem` a Contacts v1 PATCH sends, sent
//! directly with the function's SDK settings (with `FLOOR_KIND=keyed`, the three calls of an
//! `Idempotency-Key` PATCH: the claim, that `UpdateItem` and saving the answer, through the
//! store as the function makes them) by `FLOOR_CONCURRENCY` tasks at once on one
//! scheduler thread (as the function runs on one vCPU), each on its own person
//! (`FLOOR_PERSONS`, comma-separated ids of the demo customer), for `FLOOR_SECONDS`. Its first
//! line, `ready`, says its set-up is done; it starts on the next line read on stdin and ends
//! with one JSON line: the requests sent and each one's milliseconds.

use std::io::BufRead;
use std::rc::Rc;
use std::time::{Duration, Instant};

use person_patch::admin;
use person_patch::dialect::contacts_v1;
use person_patch::engine::{build_update, json, validate, Definitions, Precondition, Stamp};
use person_patch::ops::aws::SdkSettings;
use person_patch::store::dynamo::DynamoPersonStore;
use person_patch::store::{Claim, ClaimRequest, EntryKey, KeyStore, PersonKey, SavedAnswer};

#[path = "../benches/harness/floor.rs"]
mod floor;
#[path = "../benches/harness/proc.rs"]
mod proc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("PERSONS_TABLE")?;
    let concurrency: usize = std::env::var("FLOOR_CONCURRENCY")?.parse()?;
    let seconds: u64 = std::env::var("FLOOR_SECONDS")?.parse()?;
    let warm_up: u64 = std::env::var("FLOOR_WARMUP_MS")?.parse()?;
    let keyed = std::env::var("FLOOR_KIND").is_ok_and(|k| k == "keyed");
    let persons: Vec<String> = std::env::var("FLOOR_PERSONS")?
        .split(',')
        .map(str::to_owned)
        .collect();
    let config = SdkSettings::default().load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let document = json::parse(br#"{"position":"Floor"}"#)?;
    let patch = Rc::new(
        validate(
            &contacts_v1::DIALECT.fields,
            &document,
            time::OffsetDateTime::now_utc().date(),
        )
        .and_then(|d| d.finish(&Definitions::new()))
        .map_err(|_| "the body is valid")?,
    );
    println!("ready");
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;
    let counted_from = Instant::now() + Duration::from_millis(warm_up);
    let until = counted_from + Duration::from_secs(seconds);
    let local = tokio::task::LocalSet::new();
    let mut tasks = Vec::new();
    for slot in 0..concurrency {
        let person = persons[slot % persons.len()].clone();
        let key = PersonKey::new(
            person_patch::dialect::demo::DEMO_CUSTOMER,
            admin::parse_person_id(&person).ok_or("a person id")?,
        );
        let (client, table, patch) = (client.clone(), table.clone(), Rc::clone(&patch));
        let store = DynamoPersonStore::new(client.clone(), table.clone());
        tasks.push(local.spawn_local(async move {
            let mut millis = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let claim_id = uuid::Uuid::new_v4().simple().to_string();
                let entry = EntryKey::new(
                    person_patch::dialect::demo::DEMO_CUSTOMER,
                    &uuid::Uuid::new_v4().simple().to_string(),
                );
                let mut write_id = uuid::Uuid::new_v4().simple().to_string();
                if keyed {
                    let claim = store
                        .claim(ClaimRequest {
                            entry: &entry,
                            fingerprint: "floor",
                            claim_id: &claim_id,
                            now: time::OffsetDateTime::now_utc(),
                        })
                        .await;
                    match claim {
                        Ok(Claim::Fresh(write)) => write_id = write.write_id,
                        _ => continue,
                    }
                }
                let plan = build_update(
                    &patch,
                    &Stamp {
                        updated_at: "2026-11-23T10:00:00.000Z",
                        updated_by: "bench",
                        write_id: &write_id,
                    },
                    &Precondition::Exists,
                );
                let mut sent = floor::send_plan(&client, &table, &key, plan).await;
                if keyed && sent.is_ok() {
                    let answer = SavedAnswer {
                        status: 204,
                        headers: Default::default(),
                        body: None,
                    };
                    if store.save_answer(&entry, &claim_id, &answer).await.is_err() {
                        sent = Err("save".into());
                    }
                }
                if sent.is_ok() && started >= counted_from {
                    millis.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            millis
        }));
    }
    let (all, cpu_at_start) = local
        .run_until(async move {
            tokio::time::sleep_until(counted_from.into()).await;
            let cpu_at_start = proc::cpu_seconds("self");
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.unwrap_or_default());
            }
            (all, cpu_at_start)
        })
        .await;
    let peak_rss_kib = proc::rss_kib("self", "VmHWM:");
    println!(
        "{}",
        serde_json::json!({
            "millis": all,
            "cpu_seconds": proc::cpu_seconds("self") - cpu_at_start,
            "peak_rss_kib": peak_rss_kib,
        })
    );
    Ok(())
}
