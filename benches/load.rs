//! `make load`: LOAD_PROCESSES (default 12) release function processes, one request at a time
//! each behind its own Runtime API stand-in, for LOAD_SECONDS (default 20) against DynamoDB
//! Local (`AWS_ENDPOINT_URL_DYNAMODB`, as `make load` provides), with the mix and checks of
//! `harness/load.rs`; then the floor in the same run: as many processes sending the plain
//! `UpdateItem` of a PATCH directly with the SDK (`examples/direct_update`) for as long, on one
//! hot person. Prints a progress line, the table, and one summary line; writes
//! target/bench/load.md and load.json; exits non-zero when a check fails.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod harness;

use harness::load::{self, Kind, LoadSettings};
use harness::*;

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs benchmarks without --bench: this one measures only
    // under `make load`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("load benchmark: run with `make load`");
        return;
    }
    let processes = env_usize("LOAD_PROCESSES", 12).max(1);
    let seconds = env_usize("LOAD_SECONDS", 20).max(1);
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "the load run talks to 127.0.0.1 only, not {endpoint}"
    );
    let settings = LoadSettings {
        binary: root().join("target/release/person-patch"),
        endpoint: endpoint.clone(),
        processes,
        duration: Duration::from_secs(seconds as u64),
        tables: format!("load-{}", std::process::id()),
    };
    eprintln!("load: {processes} function processes for {seconds} s");
    let report = load::run(&settings).await;
    eprintln!();
    eprintln!("floor: {processes} processes sending the UpdateItem directly for {seconds} s");
    let (floor_count, floor_millis) =
        floor(&settings, &format!("{}-persons", settings.tables)).await;

    let total = report.seen.len();
    let rate = total as f64 / report.elapsed.as_secs_f64();
    let floor_rate = floor_count as f64 / settings.duration.as_secs_f64();
    let floor_summary = summary(floor_millis);
    let (md, kinds) = markdown(&report, &settings, floor_count, &floor_summary);
    println!("{md}");
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(dir.join("load.md"), &md).expect("load.md");
    let report_json = json!({
        "processes": processes, "seconds": seconds, "requests": total, "per_second": round(rate),
        "kinds": kinds,
        "floor": {"requests": floor_count, "per_second": round(floor_rate), "latency": floor_summary},
        "failures": report.failures,
    });
    std::fs::write(
        dir.join("load.json"),
        serde_json::to_string_pretty(&report_json).expect("JSON"),
    )
    .expect("load.json");
    eprintln!(
        "load: {total} requests in {:.1} s ({rate:.0}/s; floor {floor_rate:.0}/s), {}",
        report.elapsed.as_secs_f64(),
        if report.failures.is_empty() {
            "all checks passed".to_owned()
        } else {
            format!("{} checks FAILED", report.failures.len())
        }
    );
    if !report.failures.is_empty() {
        std::process::exit(1);
    }
}

/// The report's table and checks, and the per-kind figures for load.json.
fn markdown(
    report: &load::LoadReport,
    settings: &LoadSettings,
    floor_count: usize,
    floor_summary: &serde_json::Value,
) -> (String, serde_json::Value) {
    let processes = settings.processes;
    let seconds = settings.duration.as_secs();
    let total = report.seen.len();
    let rate = total as f64 / report.elapsed.as_secs_f64();
    let floor_rate = floor_count as f64 / settings.duration.as_secs_f64();
    let mix = report.status_mix();
    let mut md = format!(
        "# Load (`make load`)\n\n{processes} function processes, {seconds} s, DynamoDB Local on 127.0.0.1.\n\n\
         | kind | requests | p50 | p99 | answers |\n|---|---|---|---|---|\n"
    );
    let mut kinds = json!({});
    for kind in Kind::ALL {
        let millis = report.millis(kind);
        let n = millis.len();
        let s = summary(millis);
        let statuses = mix
            .get(&kind)
            .map(|m| {
                m.iter()
                    .map(|(status, count)| format!("{count} × {status}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        md.push_str(&format!(
            "| {} | {n} | {} ms | {} ms | {statuses} |\n",
            kind.label(),
            s["p50_ms"],
            s["p99_ms"]
        ));
        kinds[kind.label()] = json!({"latency": s, "statuses": mix.get(&kind)});
    }
    md.push_str(&format!(
        "| **all, through the function** | {total} ({rate:.0}/s) | | | |\n\
         | floor: the `UpdateItem` sent directly, {processes} processes | {floor_count} ({floor_rate:.0}/s) | {} ms | {} ms | |\n\n",
        floor_summary["p50_ms"], floor_summary["p99_ms"]
    ));
    if report.failures.is_empty() {
        md.push_str("Checks: all passed (no 5xx; versions unique and without gaps; each field holds its last success; 412s name a newer ETag; replays repeat; every key record finished).\n");
    } else {
        md.push_str("Checks FAILED:\n");
        for failure in &report.failures {
            md.push_str(&format!("- {failure}\n"));
        }
    }
    (md, kinds)
}

/// The floor: `processes` copies of `examples/direct_update`, each sending the `UpdateItem`
/// one after another for the run's duration. Returns how many were sent and their latencies.
async fn floor(settings: &LoadSettings, persons_table: &str) -> (usize, Vec<f64>) {
    let binary = root().join("target/release/examples/direct_update");
    let until = Instant::now() + settings.duration;
    let mut tasks = Vec::new();
    for _ in 0..settings.processes {
        let mut child = tokio::process::Command::new(&binary)
            .env_clear()
            .env("PERSONS_TABLE", persons_table)
            .env("AWS_ENDPOINT_URL_DYNAMODB", &settings.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        tasks.push(tokio::spawn(async move {
            let mut stdin = child.stdin.take().expect("stdin");
            let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
            let mut millis = Vec::new();
            let ready = lines.next_line().await.expect("the floor process starts");
            assert_eq!(ready.as_deref(), Some("ready"));
            while Instant::now() < until {
                stdin.write_all(b"\n").await.expect("send a line");
                stdin.flush().await.expect("flush");
                match lines.next_line().await {
                    Ok(Some(line)) => millis.push(line.trim().parse::<f64>().unwrap_or(0.0)),
                    _ => panic!("the floor process stopped"),
                }
            }
            drop(stdin);
            let _ = child.wait().await;
            millis
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a floor task"));
    }
    (all.len(), all)
}
