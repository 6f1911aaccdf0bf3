//! The floor of the Lambda-model benchmark (`make bench-cold`): the `UpdateItem` a PATCH of
//! `{"forename":"Augusta","title":null}` sends, sent directly with the function's SDK settings
//! from a process held to the same CPU share as the function. For each line read on stdin it
//! sends one and prints the milliseconds it took; its first line, `ready`, says its set-up (the
//! function's init) is done. Table and endpoint come from the environment (`PERSONS_TABLE`,
//! `AWS_ENDPOINT_URL_DYNAMODB`, `SSL_CERT_FILE`), as for the function.

use std::io::BufRead;
use std::time::Instant;

use person_patch::admin;
use person_patch::dialect::contacts_v1;
use person_patch::engine::{build_update, json, validate, Definitions, Precondition, Stamp};
use person_patch::ops::aws::SdkSettings;
use person_patch::store::PersonKey;

#[path = "../benches/harness/floor.rs"]
mod floor;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = std::env::var("PERSONS_TABLE")?;
    let config = SdkSettings::default().load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let document = json::parse(br#"{"forename":"Augusta","title":null}"#)?;
    let patch = validate(
        &contacts_v1::DIALECT.fields,
        &document,
        time::OffsetDateTime::now_utc().date(),
    )
    .and_then(|d| d.finish(&Definitions::new()))
    .map_err(|_| "the body is valid")?;
    let key = PersonKey::new(
        person_patch::dialect::demo::DEMO_CUSTOMER,
        admin::parse_person_id(person_patch::dialect::demo::DEMO_V1_PERSON).ok_or("id")?,
    );
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        line?;
        let write_id = uuid::Uuid::new_v4().simple().to_string();
        let plan = build_update(
            &patch,
            &Stamp {
                updated_at: "2026-11-23T10:00:00.000Z",
                updated_by: "beqa4api",
                write_id: &write_id,
            },
            &Precondition::Exists,
        );
        let started = Instant::now();
        floor::send_plan(&client, &table, &key, plan).await?;
        println!("{}", started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(())
}
