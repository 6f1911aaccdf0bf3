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

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use person_patch::admin;
use person_patch::dialect::contacts_v1;
use person_patch::engine::{build_update, json, validate, Definitions, Precondition, Stamp};
use person_patch::sdk::SdkSettings;
use person_patch::store::{to_attribute, PersonKey};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

const PERSONS_TABLE: &str = "bench-persons";
const CLIENTS_TABLE: &str = "bench-clients";
const BODY: &str = r#"{"forename":"Augusta","title":null}"#;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- Runtime API stand-in

/// What the stand-in saw, with when.
#[derive(Debug)]
enum Seen {
    Next(Instant),
    Response {
        id: String,
        at: Instant,
        body: Vec<u8>,
    },
    Error {
        id: String,
        body: Vec<u8>,
    },
}

struct RuntimeApi {
    port: u16,
    events: mpsc::Sender<(String, Vec<u8>, tokio::sync::oneshot::Sender<Instant>)>,
    seen: Mutex<mpsc::UnboundedReceiver<Seen>>,
}

impl RuntimeApi {
    async fn start() -> Arc<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (events_tx, events_rx) = mpsc::channel(1);
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let events_rx = Arc::new(Mutex::new(events_rx));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let events = Arc::clone(&events_rx);
                let seen = seen_tx.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, events, seen).await;
                });
            }
        });
        Arc::new(RuntimeApi {
            port,
            events: events_tx,
            seen: Mutex::new(seen_rx),
        })
    }

    /// Hands out one event; returns when it was handed out.
    async fn invoke(&self, id: &str, event: &[u8]) -> Instant {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.events
            .send((id.to_owned(), event.to_vec(), tx))
            .await
            .expect("the stand-in is running");
        rx.await.expect("handed out")
    }

    async fn next_seen(&self) -> Seen {
        tokio::time::timeout(Duration::from_secs(60), self.seen.lock().await.recv())
            .await
            .expect("the function answered within 60 s")
            .expect("the stand-in is running")
    }

    /// Waits for the response to `id`; returns when it arrived.
    async fn response(&self, id: &str) -> (Instant, Vec<u8>) {
        loop {
            match self.next_seen().await {
                Seen::Response { id: got, at, body } if got == id => return (at, body),
                Seen::Error { id: got, body } if got == id => {
                    panic!("invocation error: {}", String::from_utf8_lossy(&body))
                }
                _ => {}
            }
        }
    }

    async fn first_next(&self) -> Instant {
        loop {
            if let Seen::Next(at) = self.next_seen().await {
                return at;
            }
        }
    }
}

type Events = Arc<Mutex<mpsc::Receiver<(String, Vec<u8>, tokio::sync::oneshot::Sender<Instant>)>>>;

async fn serve(
    stream: TcpStream,
    events: Events,
    seen: mpsc::UnboundedSender<Seen>,
) -> std::io::Result<()> {
    // As the real Runtime API does: no Nagle delay on small writes.
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        if path.ends_with("/invocation/next") {
            let _ = seen.send(Seen::Next(Instant::now()));
            let (id, event, handed) = events.lock().await.recv().await.expect("events");
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + Duration::from_secs(30);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {id}\r\n\
                 Lambda-Runtime-Deadline-Ms: {}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:person-patch\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0\r\n\
                 Content-Length: {}\r\n\r\n",
                deadline.as_millis(),
                event.len()
            );
            let mut message = head.into_bytes();
            message.extend_from_slice(&event);
            stream.get_mut().write_all(&message).await?;
            stream.get_mut().flush().await?;
            let _ = handed.send(Instant::now());
        } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
            let at = Instant::now();
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let _ = seen.send(if kind == "response" {
                Seen::Response {
                    id: id.to_owned(),
                    at,
                    body,
                }
            } else {
                Seen::Error {
                    id: id.to_owned(),
                    body,
                }
            });
            stream
                .get_mut()
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                .await?;
        } else {
            let _ = seen.send(Seen::Error {
                id: String::new(),
                body,
            });
            stream
                .get_mut()
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await?;
        }
    }
}

fn spawn_function(binary: &Path, port: u16) -> Child {
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB");
    Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "person-patch")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/person-patch")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env("PERSONS_TABLE", PERSONS_TABLE)
        .env("CLIENTS_TABLE", CLIENTS_TABLE)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------- measurements

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn summary(mut samples: Vec<f64>) -> Json {
    samples.sort_by(|a, b| a.total_cmp(b));
    json!({
        "n": samples.len(),
        "p50_ms": round(percentile(&samples, 50.0)),
        "p90_ms": round(percentile(&samples, 90.0)),
        "p99_ms": round(percentile(&samples, 99.0)),
        "mean_ms": round(samples.iter().sum::<f64>() / samples.len().max(1) as f64),
    })
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn event(id: usize) -> Vec<u8> {
    let path = root().join("events/v1/http-api-patch.json");
    let mut event: Json =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    event["requestContext"]["requestId"] = json!(format!("bench-{id}"));
    event["body"] = json!(BODY);
    event["isBase64Encoded"] = json!(false);
    serde_json::to_vec(&event).expect("event")
}

/// The same PATCH with a fresh `Idempotency-Key`.
fn keyed_event(id: usize) -> Vec<u8> {
    let mut event: Json = serde_json::from_slice(&event(id)).expect("event");
    event["headers"]["idempotency-key"] = json!(format!("\"bench-key-{id}\""));
    serde_json::to_vec(&event).expect("event")
}

/// Warm latencies, interleaved so all see the same DynamoDB Local: a PATCH through the
/// runtime loop, the same PATCH with a fresh `Idempotency-Key`, then the same `UpdateItem`
/// sent directly with the SDK. Returns (patch, keyed patch, direct) samples.
async fn warm(
    binary: &Path,
    client: &aws_sdk_dynamodb::Client,
    requests: usize,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let api = RuntimeApi::start().await;
    let mut child = spawn_function(binary, api.port);
    let mut patch = Vec::with_capacity(requests);
    let mut keyed = Vec::with_capacity(requests);
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
        let took = update.send(client).await;
        if i >= 50 {
            patch.push((at - handed).as_secs_f64() * 1000.0);
            keyed.push((keyed_at - keyed_handed).as_secs_f64() * 1000.0);
            direct.push(took);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (patch, keyed, direct)
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
struct DirectUpdate {
    patch: person_patch::engine::Patch,
    key: PersonKey,
}

impl DirectUpdate {
    fn new() -> Self {
        let document = json::parse(BODY.as_bytes()).expect("body");
        let patch = validate(
            &contacts_v1::DIALECT.fields,
            &document,
            time::OffsetDateTime::now_utc().date(),
        )
        .and_then(|d| d.finish(&Definitions::new()))
        .expect("valid");
        let key = PersonKey {
            customer: admin::DEMO_CUSTOMER,
            person: admin::parse_person_id(admin::DEMO_V1_PERSON).expect("id"),
        };
        DirectUpdate { patch, key }
    }

    /// Sends it; the milliseconds the SDK call took.
    async fn send(&self, client: &aws_sdk_dynamodb::Client) -> f64 {
        // A new write id per request, as the function stamps (a repeated one would fail the
        // condition that recognises a retried write).
        let write_id = uuid::Uuid::new_v4().simple().to_string();
        let plan = build_update(
            &self.patch,
            &Stamp {
                updated_at: "2026-11-23T10:00:00.000Z",
                updated_by: "beqa4api",
                write_id: &write_id,
            },
            &Precondition::Exists,
        );
        let started = Instant::now();
        client
            .update_item()
            .table_name(PERSONS_TABLE)
            .key("pk", AttributeValue::S(self.key.partition_key()))
            .key("sk", AttributeValue::S(self.key.sort_key()))
            .update_expression(plan.update_expression)
            .condition_expression(plan.condition_expression)
            .set_expression_attribute_names(Some(plan.names.into_iter().collect()))
            .set_expression_attribute_values(Some(
                plan.values
                    .into_iter()
                    .map(|(k, v)| (k, to_attribute(v)))
                    .collect(),
            ))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await
            .expect("direct UpdateItem");
        started.elapsed().as_secs_f64() * 1000.0
    }
}

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
         | the same PATCH with a fresh Idempotency-Key | {} ms | {} ms | {} ms |\n\n\
         Handler overhead over the floor at p50: {} ms ({}%; target ≤ 10%). \
         Keyed PATCH p50 / PATCH p50: {}× (target ≤ 1.5×).\n",
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

    let settings = SdkSettings::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
            .endpoint_url(&endpoint)
            .retry_config(settings.retry_config())
            .timeout_config(settings.timeout_config())
            .build(),
    );
    admin::create_tables(&client, PERSONS_TABLE, CLIENTS_TABLE)
        .await
        .expect("tables");
    admin::seed_demo(&client, PERSONS_TABLE, CLIENTS_TABLE)
        .await
        .expect("demo data");

    eprintln!(
        "warm: {requests} PATCHes through the runtime loop, alternating with direct UpdateItems"
    );
    let (patch, keyed, direct) = warm(&binary, &client, requests).await;
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
