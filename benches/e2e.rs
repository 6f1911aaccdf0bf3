//! End-to-end benchmark through the real runtime loop: a Lambda Runtime API stand-in on
//! 127.0.0.1 feeds API Gateway events to the release `bootstrap` (target/release/person-patch)
//! against DynamoDB Local (`AWS_ENDPOINT_URL_DYNAMODB`, as `make bench` provides), and
//! measures, each beside its floor:
//! - warm latency of a PATCH (event handed out → response posted) beside the same
//!   `UpdateItem` sent directly with the SDK;
//! - cold start (spawn → first `next`, spawn → first response) beside a hello-world
//!   `lambda_http` binary built with the same profile;
//! - peak RSS over 10,000 invocations, and its growth;
//! - binary sizes, stripped and zipped.
//!
//! It writes target/bench/e2e.json, then target/bench/report.{json,md} with the criterion
//! results of the other benchmarks beside these. Sample sizes can be lowered for a quick look
//! with E2E_REQUESTS and E2E_RSS_INVOCATIONS.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value as Json};

mod harness;

use harness::proc::rss_kib;
use harness::*;

async fn warm(
    binary: &Path,
    client: &aws_sdk_dynamodb::Client,
    requests: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let api = RuntimeApi::start().await;
    let mut child = spawn_function(binary, api.port);
    let mut patch = Vec::with_capacity(requests);
    let mut keyed = Vec::with_capacity(requests);
    let mut keyed_invocation = Vec::with_capacity(requests);
    let mut direct = Vec::with_capacity(requests);
    let update = DirectUpdate::new();
    for i in 0..(requests + 50) {
        let id = format!("warm-{i}");
        let handed = api.invoke(&id, &event(i)).await;
        let (at, body) = api.response(&id).await;
        let reply: Json = serde_json::from_slice(&body).expect("response JSON");
        assert_eq!(reply["statusCode"], 204, "{reply}");
        let id = format!("keyed-{i}");
        let keyed_handed = api.invoke(&id, &keyed_event(i)).await;
        let (keyed_at, body) = api.response(&id).await;
        let reply: Json = serde_json::from_slice(&body).expect("response JSON");
        assert_eq!(reply["statusCode"], 204, "{reply}");
        // The invocation ends when the function asks for the next event: after the response,
        // it records the key's answer. The floor is sent only then, on an idle DynamoDB.
        let keyed_done = api.first_next().await;
        let took = update.send(client).await;
        if i >= 50 {
            patch.push((at - handed).as_secs_f64() * 1000.0);
            keyed.push((keyed_at - keyed_handed).as_secs_f64() * 1000.0);
            keyed_invocation.push((keyed_done - keyed_handed).as_secs_f64() * 1000.0);
            direct.push(took);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (patch, keyed, keyed_invocation, direct)
}

/// The runtime loop alone: the hello-world function's warm round trip.
async fn warm_hello(binary: &Path, requests: usize) -> Vec<f64> {
    let api = RuntimeApi::start().await;
    let mut child = spawn_function(binary, api.port);
    let mut samples = Vec::with_capacity(requests);
    for i in 0..(requests + 50) {
        let id = format!("hello-{i}");
        let handed = api.invoke(&id, &event(i)).await;
        let (at, _) = api.response(&id).await;
        if i >= 50 {
            samples.push((at - handed).as_secs_f64() * 1000.0);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    samples
}

/// The `UpdateItem` a PATCH of [`BODY`] sends, ready to send directly with the SDK.
/// Spawn → first `next`, spawn → first response, over `runs` fresh processes.
async fn cold_start(binary: &Path, runs: usize) -> (Vec<f64>, Vec<f64>) {
    let mut to_next = Vec::new();
    let mut to_response = Vec::new();
    for run in 0..runs {
        // A fresh stand-in per process: a killed process's pending `next` must not take
        // the next event.
        let api = RuntimeApi::start().await;
        let spawned = Instant::now();
        let mut child = spawn_function(binary, api.port);
        let next = api.first_next().await;
        let id = format!("cold-{run}");
        api.invoke(&id, &event(run)).await;
        let (at, _) = api.response(&id).await;
        to_next.push((next - spawned).as_secs_f64() * 1000.0);
        to_response.push((at - spawned).as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    (to_next, to_response)
}

/// RSS samples every 1,000 invocations, and the peak.
async fn memory(binary: &Path, invocations: usize) -> Json {
    let api = RuntimeApi::start().await;
    let mut child = spawn_function(binary, api.port);
    let pid = child.id();
    let mut samples = Vec::new();
    for i in 0..invocations {
        let id = format!("rss-{i}");
        api.invoke(&id, &event(i)).await;
        api.response(&id).await;
        if (i + 1) % 1000 == 0 {
            samples.push(json!({"invocations": i + 1, "rss_kib": rss_kib(pid, "VmRSS:")}));
        }
    }
    let peak = rss_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();
    let first = samples
        .first()
        .and_then(|s| s["rss_kib"].as_u64())
        .unwrap_or(0);
    let last = samples
        .last()
        .and_then(|s| s["rss_kib"].as_u64())
        .unwrap_or(0);
    json!({
        "invocations": invocations,
        "peak_rss_kib": peak,
        "rss_after_first_1000_kib": first,
        "rss_at_end_kib": last,
        "growth_kib": last as i64 - first as i64,
        "samples": samples,
    })
}

fn zipped_size(path: &Path) -> Option<u64> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import io,sys,zipfile\nb=io.BytesIO()\nz=zipfile.ZipFile(b,'w',zipfile.ZIP_DEFLATED,compresslevel=9)\nz.write(sys.argv[1],'bootstrap')\nz.close()\nprint(len(b.getvalue()))",
        )
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn sizes() -> Json {
    let mut out = serde_json::Map::new();
    for (name, path) in [
        (
            "person-patch x86_64 (target/release)",
            root().join("target/release/person-patch"),
        ),
        (
            "hello-world x86_64 (target/release/examples)",
            root().join("target/release/examples/hello_lambda"),
        ),
        (
            "person-patch arm64 bootstrap (make build)",
            root().join("target/lambda/person-patch/bootstrap"),
        ),
    ] {
        if let Ok(meta) = std::fs::metadata(&path) {
            out.insert(
                name.into(),
                json!({"bytes": meta.len(), "zipped_bytes": zipped_size(&path)}),
            );
        }
    }
    Json::Object(out)
}

// ---------------------------------------------------------------- report

/// Criterion's median estimates, by "group/function".
fn criterion_results() -> Vec<(String, f64)> {
    let mut results = Vec::new();
    let Ok(groups) = std::fs::read_dir(root().join("target/criterion")) else {
        return results;
    };
    for group in groups.flatten() {
        let Ok(functions) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for function in functions.flatten() {
            let dir = function.path().join("new");
            let (Ok(bench), Ok(estimates)) = (
                std::fs::read_to_string(dir.join("benchmark.json")),
                std::fs::read_to_string(dir.join("estimates.json")),
            ) else {
                continue;
            };
            let (Ok(bench), Ok(estimates)) = (
                serde_json::from_str::<Json>(&bench),
                serde_json::from_str::<Json>(&estimates),
            ) else {
                continue;
            };
            if let (Some(id), Some(ns)) = (
                bench["full_id"].as_str(),
                estimates["median"]["point_estimate"].as_f64(),
            ) {
                results.push((id.to_owned(), ns));
            }
        }
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}

fn human_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn write_report(e2e: &Json) {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let criterion: Vec<(String, f64)> = criterion_results();
    let report = json!({
        "criterion_median_ns": criterion.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "end_to_end": e2e,
    });
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report).expect("JSON"),
    )
    .expect("write");

    let mut md = String::from("# person-patch benchmark report\n\n");
    md.push_str("Generated by `make bench`; every figure measured in the same run.\n\n");
    md.push_str("## In process (criterion, median)\n\n| benchmark | median |\n|---|---|\n");
    for (id, ns) in &criterion {
        md.push_str(&format!("| {id} | {} |\n", human_ns(*ns)));
    }
    let w = &e2e["warm"];
    md.push_str(&format!(
        "\n## Warm latency ({} requests each)\n\n| | p50 | p90 | p99 |\n|---|---|---|---|\n\
         | PATCH through the runtime loop | {} ms | {} ms | {} ms |\n\
         | the same UpdateItem with the SDK (floor) | {} ms | {} ms | {} ms |\n\
         | hello-world round trip (the runtime loop alone) | {} ms | {} ms | {} ms |\n\
         | the same PATCH with a fresh Idempotency-Key (event handed out → response posted) | {} ms | {} ms | {} ms |\n\
         | the keyed invocation to its end (its answer recorded, the next event asked for) | {} ms | {} ms | {} ms |\n\n\
         Handler overhead over the floor at p50: {} ms ({}%; target ≤ 10%). \
         Keyed PATCH p50 / PATCH p50: {}× (target ≤ 2×).\n",
        w["patch"]["n"],
        w["patch"]["p50_ms"],
        w["patch"]["p90_ms"],
        w["patch"]["p99_ms"],
        w["direct_sdk"]["p50_ms"],
        w["direct_sdk"]["p90_ms"],
        w["direct_sdk"]["p99_ms"],
        w["hello_world_round_trip"]["p50_ms"],
        w["hello_world_round_trip"]["p90_ms"],
        w["hello_world_round_trip"]["p99_ms"],
        w["keyed_patch"]["p50_ms"],
        w["keyed_patch"]["p90_ms"],
        w["keyed_patch"]["p99_ms"],
        w["keyed_invocation"]["p50_ms"],
        w["keyed_invocation"]["p90_ms"],
        w["keyed_invocation"]["p99_ms"],
        w["overhead_p50_ms"],
        w["overhead_p50_percent"],
        w["keyed_p50_ratio"],
    ));
    let c = &e2e["cold_start"];
    md.push_str(&format!(
        "\n## Cold start (median of {} fresh processes)\n\n| | spawn → first next | spawn → first response |\n|---|---|---|\n\
         | person-patch | {} ms | {} ms |\n| hello-world lambda_http | {} ms | {} ms |\n\n\
         Init ratio (spawn → first next): {}× (target ≤ 1.5×).\n",
        c["runs"],
        c["person_patch"]["to_next"]["p50_ms"], c["person_patch"]["to_response"]["p50_ms"],
        c["hello_world"]["to_next"]["p50_ms"], c["hello_world"]["to_response"]["p50_ms"],
        c["init_ratio"],
    ));
    let m = &e2e["memory"];
    md.push_str(&format!(
        "\n## Memory ({} invocations)\n\nPeak RSS: {} KiB (target ≤ 32 MiB). RSS after 1,000: {} KiB; at the end: {} KiB (growth {} KiB).\n",
        m["invocations"], m["peak_rss_kib"], m["rss_after_first_1000_kib"], m["rss_at_end_kib"], m["growth_kib"],
    ));
    md.push_str("\n## Binary size\n\n| binary | bytes | zipped |\n|---|---|---|\n");
    if let Some(sizes) = e2e["sizes"].as_object() {
        for (name, size) in sizes {
            md.push_str(&format!(
                "| {name} | {} | {} |\n",
                size["bytes"], size["zipped_bytes"]
            ));
        }
    }
    std::fs::write(dir.join("report.md"), &md).expect("write");
    println!("{md}");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs benchmarks without it,
    // and this one needs release binaries and minutes: it measures only under `make bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("e2e benchmark: run with `make bench`");
        return;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect(
        "run through `make bench`, which starts DynamoDB Local and sets AWS_ENDPOINT_URL_DYNAMODB",
    );
    let binary = root().join("target/release/person-patch");
    let hello = root().join("target/release/examples/hello_lambda");
    for b in [&binary, &hello] {
        assert!(
            b.exists(),
            "{} is missing: `make bench` builds it",
            b.display()
        );
    }
    let requests = env_usize("E2E_REQUESTS", 2000);
    let rss_invocations = env_usize("E2E_RSS_INVOCATIONS", 10_000);
    let cold_runs = env_usize("E2E_COLD_RUNS", 15);

    let client = local_tables(&endpoint).await;

    eprintln!(
        "warm: {requests} PATCHes through the runtime loop, alternating with direct UpdateItems"
    );
    let (patch, keyed, keyed_invocation, direct) = warm(&binary, &client, requests).await;
    let keyed_summary = summary(keyed);
    let hello_warm = summary(warm_hello(&hello, requests).await);
    let patch_summary = summary(patch);
    let direct_summary = summary(direct);
    let p50 = patch_summary["p50_ms"].as_f64().unwrap_or(0.0);
    let floor = direct_summary["p50_ms"].as_f64().unwrap_or(0.0);

    eprintln!("cold start: {cold_runs} runs each");
    let (pp_next, pp_resp) = cold_start(&binary, cold_runs).await;
    let (hw_next, hw_resp) = cold_start(&hello, cold_runs).await;
    let pp_next = summary(pp_next);
    let hw_next = summary(hw_next);
    let ratio = pp_next["p50_ms"].as_f64().unwrap_or(0.0)
        / hw_next["p50_ms"].as_f64().unwrap_or(1.0).max(1e-9);

    eprintln!("memory: {rss_invocations} invocations");
    let memory = memory(&binary, rss_invocations).await;

    let e2e = json!({
        "warm": {
            "patch": patch_summary,
            "direct_sdk": direct_summary,
            "hello_world_round_trip": hello_warm,
            "overhead_p50_ms": round(p50 - floor),
            "overhead_p50_percent": round(100.0 * (p50 - floor) / floor.max(1e-9)),
            "keyed_patch": keyed_summary,
            "keyed_invocation": summary(keyed_invocation),
            "keyed_p50_ratio": round(keyed_summary["p50_ms"].as_f64().unwrap_or(0.0) / p50.max(1e-9)),
        },
        "cold_start": {
            "runs": cold_runs,
            "person_patch": {"to_next": pp_next, "to_response": summary(pp_resp)},
            "hello_world": {"to_next": hw_next, "to_response": summary(hw_resp)},
            "init_ratio": round(ratio),
        },
        "memory": memory,
        "sizes": sizes(),
    });
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(
        dir.join("e2e.json"),
        serde_json::to_string_pretty(&e2e).expect("JSON"),
    )
    .expect("write");
    write_report(&e2e);
}
