//! `make bench-concurrent`: one environment serving many requests at once, as on Lambda
//! Managed Instances. One release `person-patch` process at `AWS_LAMBDA_MAX_CONCURRENCY` = 1,
//! 8, 32 and 64, held to one core (a cgroup v1 CPU quota of one period per period), fed by a
//! Runtime API stand-in (`tests/support/runtime_api.rs`) that keeps that many invocations
//! open, against DynamoDB Local; plain, `If-Match` and `Idempotency-Key` PATCHes in both
//! dialects, each in-flight slot on a person of its own. Beside each level, in the same run:
//! its floor, one process on the same core sending the same `UpdateItem` with the function's
//! SDK settings at the same concurrency (`examples/concurrent_floor`); and at the end, 12
//! one-at-a-time processes on that core, as on-demand Lambda scales out.
//!
//! Reports requests/s on the core, p50 and p99, CPU milliseconds per request and peak RSS,
//! each against its target; writes target/bench/concurrent.md and concurrent.json; exits
//! non-zero when an answer is not the one expected (a 5xx, an error).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use person_patch::admin;
use person_patch::engine::Value;
use person_patch::store::tables::Tables;
use serde_json::{json, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod harness;

use harness::proc::{cpu_seconds, rss_kib};
use harness::runtime_api::{Answer, Invocation, RuntimeApi};
use harness::{env_usize, local_client, percentile, root, round, spawn_with, Launch};

const LEVELS: [usize; 4] = [1, 8, 32, 64];
/// On-demand Lambda's way: this many processes, one request at a time each.
const SEQUENTIAL_PROCESSES: usize = 12;
/// Persons per dialect: one per in-flight slot at the highest level.
const PERSONS: usize = 64;
const CGROUP: &str = "/sys/fs/cgroup/cpu/person-patch-concurrent";
const PERIOD_US: u64 = 100_000;
/// Requests answered in this first part of each run are not counted (connections, caches).
const WARM_UP: Duration = Duration::from_millis(1000);

/// Numbers every request of the whole run: invocation ids and `Idempotency-Key`s are unique.
static SEQUENCE: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Plain,
    IfMatch,
    Keyed,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Plain, Kind::IfMatch, Kind::Keyed];

    fn label(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::IfMatch => "If-Match",
            Kind::Keyed => "Idempotency-Key",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dialect {
    V1,
    V2,
}

impl Dialect {
    const ALL: [Dialect; 2] = [Dialect::V1, Dialect::V2];

    fn label(self) -> &'static str {
        match self {
            Dialect::V1 => "Contacts v1",
            Dialect::V2 => "Persons v2",
        }
    }
}

/// The run's tables, persons and caller.
struct Setup {
    endpoint: String,
    persons_table: String,
    clients_table: String,
    v1: Vec<String>,
    v2: Vec<String>,
    authorization: String,
    events: [Json; 2],
    cgroup: Option<PathBuf>,
    seconds: u64,
}

/// One measured run.
#[derive(Debug, Clone, Default)]
struct Measured {
    requests: usize,
    seconds: f64,
    cpu_seconds: f64,
    millis: Vec<f64>,
    peak_rss_kib: u64,
    statuses: BTreeMap<u16, usize>,
    failures: usize,
    /// Refused logins sent beside the callers ([`Noise`]): their times and answers.
    refusal_millis: Vec<f64>,
    refusal_statuses: BTreeMap<u16, usize>,
}

/// What an unauthenticated caller sends beside the measured callers: Basic credentials that
/// are refused, at a steady rate.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Noise {
    per_second: f64,
    refusal: Refusal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Made-up ids and passwords.
    MadeUpIds,
    /// A real client's id (an argon2id hash) with wrong passwords.
    WrongPasswords,
}

impl Refusal {
    const ALL: [Refusal; 2] = [Refusal::MadeUpIds, Refusal::WrongPasswords];

    fn label(self) -> &'static str {
        match self {
            Refusal::MadeUpIds => "made-up ids",
            Refusal::WrongPasswords => "a real client's wrong passwords",
        }
    }

    fn credentials(self, n: usize) -> String {
        let pair = match self {
            Refusal::MadeUpIds => format!("guess-{n}:password-{n}"),
            Refusal::WrongPasswords => format!("{}:wrong-{n}", admin::DEMO_CLIENT_ID),
        };
        format!(
            "Basic {}",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
        )
    }
}

/// In flight, callers and rates of the rows beside refused logins.
const NOISE_LEVEL: usize = 32;
const NOISE_CALLERS: usize = 16;
const NOISE_RATES: [f64; 2] = [4.0, 20.0];

impl Measured {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds.max(0.001)
    }

    fn p(&self, p: f64) -> f64 {
        let mut sorted = self.millis.clone();
        sorted.sort_by(f64::total_cmp);
        round(percentile(&sorted, p))
    }

    /// Two runs of the same thing taken together.
    fn and(mut self, other: Measured) -> Measured {
        self.requests += other.requests;
        self.seconds += other.seconds;
        self.cpu_seconds += other.cpu_seconds;
        self.millis.extend(other.millis);
        self.peak_rss_kib = self.peak_rss_kib.max(other.peak_rss_kib);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.failures += other.failures;
        self
    }

    fn cpu_ms_per_request(&self) -> f64 {
        round(self.cpu_seconds * 1000.0 / self.requests.max(1) as f64)
    }
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs benchmarks without --bench: this one measures only
    // under `make bench-concurrent`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("concurrent benchmark: run with `make bench-concurrent`");
        return;
    }
    let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB");
    let setup = Arc::new(setup(endpoint, env_usize("CONCURRENT_SECONDS", 5) as u64).await);
    if setup.cgroup.is_none() {
        eprintln!(
            "concurrent: the cpu cgroup cannot be written: processes are NOT held to one core"
        );
    }
    // DynamoDB Local's JVM compiles its hot paths during the first seconds of load: warm it
    // before anything is measured.
    let _ = floor(&setup, 8, false).await;
    let mut floors = BTreeMap::new();
    let mut runs = BTreeMap::new();
    // `CONCURRENT_REFUSALS_ONLY=1`: only the rows beside refused logins.
    let refusals_only = std::env::var_os("CONCURRENT_REFUSALS_ONLY").is_some();
    let refusal_runs = 2 + NOISE_RATES.len() * Refusal::ALL.len();
    let total = if refusals_only {
        refusal_runs
    } else {
        LEVELS.len() * (4 + Kind::ALL.len() * Dialect::ALL.len())
            + Kind::ALL.len() * Dialect::ALL.len()
            + refusal_runs
    };
    let mut done = 0;
    let levels: &[usize] = if refusals_only { &[] } else { &LEVELS };
    for &level in levels {
        // The floor is measured before and after the level's runs and taken together, so
        // DynamoDB Local's drift over the run weighs on both sides alike.
        let mut before = BTreeMap::new();
        for keyed in [false, true] {
            let measured = floor(&setup, level, keyed).await;
            done += 1;
            let what = format!("floor at {level}{}", if keyed { ", keyed" } else { "" });
            progress(done, total, &what, &measured);
            before.insert(keyed, measured);
        }
        for dialect in Dialect::ALL {
            for kind in Kind::ALL {
                let measured = function(&setup, level, 1, dialect, kind, None).await;
                done += 1;
                let what = format!("{level} at once, {} {}", dialect.label(), kind.label());
                progress(done, total, &what, &measured);
                runs.insert((level, dialect, kind), measured);
            }
        }
        for keyed in [false, true] {
            let after = floor(&setup, level, keyed).await;
            done += 1;
            let what = format!(
                "floor at {level} again{}",
                if keyed { ", keyed" } else { "" }
            );
            progress(done, total, &what, &after);
            let first = before.remove(&keyed).unwrap_or_default();
            floors.insert((level, keyed), first.and(after));
        }
    }
    let mut sequential = BTreeMap::new();
    let dialects: &[Dialect] = if refusals_only { &[] } else { &Dialect::ALL };
    for &dialect in dialects {
        for kind in Kind::ALL {
            let measured = function(&setup, 1, SEQUENTIAL_PROCESSES, dialect, kind, None).await;
            done += 1;
            let what = format!(
                "{SEQUENTIAL_PROCESSES} processes, {} {}",
                dialect.label(),
                kind.label()
            );
            progress(done, total, &what, &measured);
            sequential.insert((dialect, kind), measured);
        }
    }
    let beside = beside_refusals(&setup, &mut done, total).await;
    let (mut md, mut report, failures) = if refusals_only {
        (String::new(), json!({}), 0)
    } else {
        report(&setup, &floors, &runs, &sequential)
    };
    let (refusals_md, refusals_json) = refusals_report(&beside);
    md.push_str(&refusals_md);
    report["beside_refused_logins"] = refusals_json;
    println!("{md}");
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(dir.join("concurrent.md"), &md).expect("concurrent.md");
    std::fs::write(
        dir.join("concurrent.json"),
        serde_json::to_string_pretty(&report).expect("JSON"),
    )
    .expect("concurrent.json");
    eprintln!(
        "concurrent: {} runs, {}",
        done,
        if failures == 0 {
            "every answer as expected".to_owned()
        } else {
            format!("{failures} answers FAILED (5xx or errors)")
        }
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

/// 16 callers' plain PATCHes at 32 in flight: quiet (before and after, taken together), and
/// beside each rate and kind of refused logins.
async fn beside_refusals(
    setup: &Arc<Setup>,
    done: &mut usize,
    total: usize,
) -> Vec<(Option<Noise>, Measured)> {
    let run = |noise: Option<Noise>| {
        let setup = Arc::clone(setup);
        async move {
            let beside = Some((NOISE_CALLERS, noise));
            function(&setup, NOISE_LEVEL, 1, Dialect::V1, Kind::Plain, beside).await
        }
    };
    let quiet = run(None).await;
    *done += 1;
    progress(*done, total, "quiet, 16 callers at 32", &quiet);
    let mut rows = Vec::new();
    for per_second in NOISE_RATES {
        for refusal in Refusal::ALL {
            let noise = Noise {
                per_second,
                refusal,
            };
            let measured = run(Some(noise)).await;
            *done += 1;
            let what = format!("beside {per_second}/s refused, {}", refusal.label());
            progress(*done, total, &what, &measured);
            rows.push((Some(noise), measured));
        }
    }
    let again = run(None).await;
    *done += 1;
    progress(*done, total, "quiet again", &again);
    rows.insert(0, (None, quiet.and(again)));
    rows
}

/// The rows beside refused logins, each against the quiet row and its targets.
fn refusals_report(rows: &[(Option<Noise>, Measured)]) -> (String, Json) {
    let Some((_, quiet)) = rows.iter().find(|(noise, _)| noise.is_none()) else {
        return (String::new(), json!([]));
    };
    let mut md = format!(
        "\n## Beside refused logins\n\n{NOISE_CALLERS} callers' plain PATCHes (Contacts v1, generated \
         secrets) at {NOISE_LEVEL} in flight in one process on one core, beside an \
         unauthenticated caller sending Basic credentials that are refused. Targets: the \
         callers' p99 ≤ 2× quiet + 25 ms, and their requests/s ≥ 0.7× quiet.\n\n\
         | beside | callers' req/s | × quiet | p99 | target p99 | refusals | refusal p50 | met |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    let mut json_rows = Vec::new();
    for (noise, m) in rows {
        let ratio = m.per_second() / quiet.per_second().max(0.001);
        let target_p99 = 2.0 * quiet.p(99.0) + 25.0;
        let refusal_p50 = Measured {
            millis: m.refusal_millis.clone(),
            ..Measured::default()
        }
        .p(50.0);
        let answers = m
            .refusal_statuses
            .iter()
            .map(|(s, c)| format!("{c} × {s}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (label, met) = match noise {
            None => ("quiet".to_owned(), String::new()),
            Some(noise) => (
                format!("{}/s, {}", noise.per_second, noise.refusal.label()),
                if ratio >= 0.7 && m.p(99.0) <= target_p99 {
                    "met".to_owned()
                } else {
                    "**not met**".to_owned()
                },
            ),
        };
        md.push_str(&format!(
            "| {label} | {:.0} | {ratio:.2}× | {} ms | ≤ {target_p99:.0} ms | {answers} | {refusal_p50} ms | {met} |\n",
            m.per_second(),
            m.p(99.0),
        ));
        json_rows.push(json!({
            "beside": label, "per_second": round(m.per_second()), "p99_ms": m.p(99.0),
            "ratio_to_quiet": round(ratio), "refusal_statuses": m.refusal_statuses,
            "refusal_p50_ms": refusal_p50,
        }));
    }
    (md, json!(json_rows))
}

fn progress(done: usize, total: usize, what: &str, measured: &Measured) {
    let filled = done * 30 / total.max(1);
    let line = format!(
        "concurrent [{}{}] {done}/{total} {what}: {:.0}/s, p99 {} ms",
        "#".repeat(filled),
        " ".repeat(30 - filled.min(30)),
        measured.per_second(),
        measured.p(99.0)
    );
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{line}");
        if done == total {
            eprintln!();
        }
    } else {
        eprintln!("{line}");
    }
}

/// Fresh tables, the demo data, and `PERSONS` persons of each dialect.
async fn setup(endpoint: String, seconds: u64) -> Setup {
    let client = local_client(&endpoint);
    let prefix = format!("concurrent-{}", std::process::id());
    let persons_table = format!("{prefix}-persons");
    let clients_table = format!("{prefix}-clients");
    let tables = Tables::new(client, &persons_table, &clients_table);
    admin::create_tables(&tables).await.expect("tables");
    let secret = admin::seed_demo(&tables).await.expect("demo data");
    let v1: Vec<String> = (0..PERSONS)
        .map(|n| uuid::Uuid::from_u128(0x2000 + n as u128).to_string())
        .collect();
    let v2: Vec<String> = (0..PERSONS).map(|n| (1000 + n).to_string()).collect();
    let store = tables.persons();
    for id in &v1 {
        let (mut key, mut attributes) = admin::demo_v1_person();
        attributes.insert("id".into(), Value::S(id.clone()));
        key.person = id.clone();
        store.put_person(&key, attributes).await.expect("a person");
    }
    for id in &v2 {
        let (mut key, mut attributes) = admin::demo_v2_person();
        attributes.insert("ID".into(), Value::N(id.clone()));
        key.person = id.clone();
        store.put_person(&key, attributes).await.expect("a person");
    }
    let credentials = format!("{}:{secret}", admin::DEMO_GENERATED_CLIENT_ID);
    let authorization = format!(
        "Basic {}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, credentials)
    );
    let fixture = |path: &str| -> Json {
        let text = std::fs::read_to_string(root().join("events").join(path)).expect("fixture");
        serde_json::from_str(&text).expect("JSON")
    };
    Setup {
        endpoint,
        persons_table,
        clients_table,
        v1,
        v2,
        authorization,
        events: [
            fixture("v1/http-api-patch.json"),
            fixture("v2/http-api-patch.json"),
        ],
        cgroup: one_core(),
        seconds,
    }
}

/// A cpu cgroup held to one core, when the controller can be written.
fn one_core() -> Option<PathBuf> {
    let dir = PathBuf::from(CGROUP);
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()).ok()?;
    std::fs::write(dir.join("cpu.cfs_quota_us"), PERIOD_US.to_string()).ok()?;
    Some(dir)
}

/// The floor at `level`: `examples/concurrent_floor` on the same core; `keyed`: the three calls
/// of a keyed PATCH.
async fn floor(setup: &Setup, level: usize, keyed: bool) -> Measured {
    let binary = root().join("target/release/examples/concurrent_floor");
    let mut command = tokio::process::Command::new(&binary);
    command
        .env_clear()
        .env("PERSONS_TABLE", &setup.persons_table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &setup.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("FLOOR_CONCURRENCY", level.to_string())
        .env("FLOOR_SECONDS", setup.seconds.to_string())
        .env("FLOOR_PERSONS", setup.v1.join(","))
        .env("FLOOR_WARMUP_MS", WARM_UP.as_millis().to_string())
        .env("FLOOR_KIND", if keyed { "keyed" } else { "plain" })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let pid = child.id().expect("a pid");
    if let Some(cgroup) = &setup.cgroup {
        std::fs::write(cgroup.join("cgroup.procs"), pid.to_string()).expect("join the cgroup");
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = lines.next_line().await.expect("the floor starts");
    assert_eq!(ready.as_deref(), Some("ready"));
    stdin.write_all(b"go\n").await.expect("start the floor");
    let line = lines
        .next_line()
        .await
        .expect("the floor's result")
        .expect("a line");
    let _ = child.wait().await;
    let result: Json = serde_json::from_str(&line).expect("JSON");
    let millis: Vec<f64> = result["millis"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_f64).collect())
        .unwrap_or_default();
    Measured {
        requests: millis.len(),
        seconds: setup.seconds as f64,
        cpu_seconds: result["cpu_seconds"].as_f64().unwrap_or(0.0),
        millis,
        peak_rss_kib: result["peak_rss_kib"].as_u64().unwrap_or(0),
        ..Measured::default()
    }
}

/// `processes` function processes, each serving `level` at once, on one core; as many
/// callers as there are open invocations, each on a person of its own.
async fn function(
    setup: &Arc<Setup>,
    level: usize,
    processes: usize,
    dialect: Dialect,
    kind: Kind,
    beside: Option<(usize, Option<Noise>)>,
) -> Measured {
    let api = Arc::new(RuntimeApi::start().await);
    let port: u16 = api
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let mut env = vec![
        ("PERSONS_TABLE".to_owned(), setup.persons_table.clone()),
        ("CLIENTS_TABLE".to_owned(), setup.clients_table.clone()),
    ];
    if processes == 1 {
        env.push(("AWS_LAMBDA_MAX_CONCURRENCY".into(), level.to_string()));
    }
    let launch = Launch {
        endpoint: Some(setup.endpoint.clone()),
        env,
        cgroup: setup.cgroup.clone(),
    };
    let binary = root().join("target/release/person-patch");
    let children: Vec<Child> = (0..processes)
        .map(|_| spawn_with(&binary, port, &launch))
        .collect();
    let slots = level * processes;
    let until = Instant::now() + Duration::from_secs(30);
    while api.nexts() < slots {
        assert!(
            Instant::now() < until,
            "the function did not ask for {slots} events"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let counted_from = Instant::now() + WARM_UP;
    let ends = counted_from + Duration::from_secs(setup.seconds);
    let pids: Vec<u32> = children.iter().map(Child::id).collect();
    let noise = beside.and_then(|(_, noise)| noise).map(|noise| {
        let (api, setup) = (Arc::clone(&api), Arc::clone(setup));
        tokio::spawn(refuse(api, setup, noise, counted_from, ends))
    });
    let callers_count = beside.map_or(slots, |(callers, _)| callers);
    let mut callers = Vec::new();
    for slot in 0..callers_count {
        let (api, setup) = (Arc::clone(&api), Arc::clone(setup));
        callers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut etag: Option<String> = None;
            while Instant::now() < ends {
                let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
                let event = event(&setup, dialect, kind, slot, n, etag.as_deref());
                let sent = Instant::now();
                let answer = api.invoke(Invocation::new(&format!("c{n}"), event)).await;
                let took = sent.elapsed().as_secs_f64() * 1000.0;
                let (status, new_etag) = match answer {
                    Answer::Response(reply) => (
                        reply["statusCode"].as_u64().unwrap_or(0) as u16,
                        reply["headers"]["etag"]
                            .as_str()
                            .or_else(|| reply["multiValueHeaders"]["etag"][0].as_str())
                            .map(str::to_owned),
                    ),
                    Answer::Error(_) => (0, None),
                };
                if new_etag.is_some() {
                    etag = new_etag;
                }
                if sent >= counted_from {
                    seen.push((status, took));
                }
            }
            seen
        }));
    }
    // The CPU baseline once the warm-up ends.
    tokio::time::sleep_until(counted_from.into()).await;
    let cpu_then: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    let mut measured = Measured::default();
    for caller in callers {
        for (status, took) in caller.await.expect("a caller") {
            *measured.statuses.entry(status).or_default() += 1;
            measured.millis.push(took);
            let expected = (200..300).contains(&status) || status == 412;
            if !expected {
                measured.failures += 1;
            }
        }
    }
    if let Some(noise) = noise {
        for (status, took) in noise.await.expect("the refused caller") {
            *measured.refusal_statuses.entry(status).or_default() += 1;
            measured.refusal_millis.push(took);
        }
    }
    measured.requests = measured.millis.len();
    // Callers send until `ends` and wait for their last answers: never less than planned.
    measured.seconds = counted_from.elapsed().as_secs_f64();
    let cpu_now: f64 = pids.iter().map(|p| cpu_seconds(*p)).sum();
    measured.cpu_seconds = cpu_now - cpu_then;
    measured.peak_rss_kib = pids.iter().map(|p| rss_kib(*p, "VmHWM:")).sum();
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    measured
}

/// Sends refused logins at `noise`'s rate from `counted_from` to `ends`, each without waiting
/// for the one before; their statuses and times.
async fn refuse(
    api: Arc<RuntimeApi>,
    setup: Arc<Setup>,
    noise: Noise,
    counted_from: Instant,
    ends: Instant,
) -> Vec<(u16, f64)> {
    tokio::time::sleep_until(counted_from.into()).await;
    let every = Duration::from_secs_f64(1.0 / noise.per_second);
    let mut sent = Vec::new();
    let mut at = counted_from;
    while at < ends {
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let mut event = event(&setup, Dialect::V1, Kind::Plain, n % PERSONS, n, None);
        event["headers"]["authorization"] = json!(noise.refusal.credentials(n));
        let api = Arc::clone(&api);
        sent.push(tokio::spawn(async move {
            let started = Instant::now();
            let answer = api.invoke(Invocation::new(&format!("r{n}"), event)).await;
            let status = match answer {
                Answer::Response(reply) => reply["statusCode"].as_u64().unwrap_or(0) as u16,
                Answer::Error(_) => 0,
            };
            (status, started.elapsed().as_secs_f64() * 1000.0)
        }));
        at += every;
        tokio::time::sleep_until(at.into()).await;
    }
    let mut answers = Vec::new();
    for refusal in sent {
        answers.extend(refusal.await.ok());
    }
    answers
}

/// The event of request `n` from in-flight slot `slot`: its own person, a value of its own.
fn event(
    setup: &Setup,
    dialect: Dialect,
    kind: Kind,
    slot: usize,
    n: usize,
    etag: Option<&str>,
) -> Json {
    let (mut event, path, body) = match dialect {
        Dialect::V1 => {
            let id = &setup.v1[slot % PERSONS];
            (
                setup.events[0].clone(),
                format!("/v1/persons/{id}"),
                json!({ "position": format!("P{n}") }),
            )
        }
        Dialect::V2 => {
            let id = &setup.v2[slot % PERSONS];
            (
                setup.events[1].clone(),
                format!("/api/v2/persons/{id}"),
                json!({ "City": format!("C{n}") }),
            )
        }
    };
    let id = path.rsplit('/').next().unwrap_or("").to_owned();
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["requestId"] = json!(format!("bench-{n}"));
    event["pathParameters"] = json!({ "personId": id });
    event["headers"]["authorization"] = json!(setup.authorization);
    event["body"] = json!(body.to_string());
    event["isBase64Encoded"] = json!(false);
    match kind {
        Kind::Plain => {}
        Kind::IfMatch => {
            if let Some(etag) = etag {
                event["headers"]["if-match"] = json!(etag);
            }
        }
        Kind::Keyed => {
            event["headers"]["idempotency-key"] =
                json!(format!("\"k-{}-{n}\"", std::process::id()));
        }
    }
    event
}

/// The report: a table per level, the sequential processes, and the targets.
fn report(
    setup: &Setup,
    floors: &BTreeMap<(usize, bool), Measured>,
    runs: &BTreeMap<(usize, Dialect, Kind), Measured>,
    sequential: &BTreeMap<(Dialect, Kind), Measured>,
) -> (String, Json, usize) {
    let held = if setup.cgroup.is_some() {
        "held to one core (cgroup CPU quota)"
    } else {
        "NOT held to one core (the cpu cgroup could not be written)"
    };
    let mut md = format!(
        "# Many at once in one environment (`make bench-concurrent`)\n\n\
         One `person-patch` process {held}, DynamoDB Local on 127.0.0.1, {} s a run after a \
         {} ms warm-up; each in-flight slot PATCHes a person of its own. Floor: the same \
         `UpdateItem` sent directly at the same concurrency from one process on the same core \
         (for keyed requests their three calls: the claim, the `UpdateItem`, saving the answer), \
         measured before and after the level's runs and taken together. CPU ms / request is what \
         bounds a core where DynamoDB is not the bottleneck, as it is here.\n\n\
         | in flight | requests | req/s on the core | × floor | p50 | p99 | p99 ÷ floor's | CPU ms / request | peak RSS | answers |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        setup.seconds,
        WARM_UP.as_millis()
    );
    let mut json_runs = Vec::new();
    let row = |label: String, m: &Measured, floor: Option<&Measured>| {
        let ratio = floor.map_or("".to_owned(), |f| {
            format!("{:.2}×", m.per_second() / f.per_second().max(0.001))
        });
        let p99_ratio = floor.map_or("".to_owned(), |f| {
            format!("{:.2}", m.p(99.0) / f.p(99.0).max(0.001))
        });
        let answers = m
            .statuses
            .iter()
            .map(|(s, c)| format!("{c} × {s}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "| {label} | {} | {:.0} | {ratio} | {} ms | {} ms | {p99_ratio} | {} | {:.1} MiB | {answers} |\n",
            m.requests,
            m.per_second(),
            m.p(50.0),
            m.p(99.0),
            m.cpu_ms_per_request(),
            m.peak_rss_kib as f64 / 1024.0
        )
    };
    let summary = |m: &Measured| {
        json!({
            "requests": m.requests, "per_second": round(m.per_second()),
            "p50_ms": m.p(50.0), "p99_ms": m.p(99.0),
            "cpu_ms_per_request": m.cpu_ms_per_request(),
            "peak_rss_mib": round(m.peak_rss_kib as f64 / 1024.0),
            "statuses": m.statuses,
        })
    };
    for level in LEVELS {
        for keyed in [false, true] {
            let floor = &floors[&(level, keyed)];
            let label = if keyed { "floor, keyed" } else { "floor" };
            md.push_str(&row(format!("**{level}: {label}**"), floor, None));
            let mut floor_json = summary(floor);
            floor_json["level"] = json!(level);
            floor_json["what"] = json!(label);
            json_runs.push(floor_json);
        }
        for dialect in Dialect::ALL {
            for kind in Kind::ALL {
                let m = &runs[&(level, dialect, kind)];
                md.push_str(&row(
                    format!("{level}: {} {}", dialect.label(), kind.label()),
                    m,
                    Some(&floors[&(level, kind == Kind::Keyed)]),
                ));
                let mut entry = summary(m);
                entry["level"] = json!(level);
                entry["dialect"] = json!(dialect.label());
                entry["kind"] = json!(kind.label());
                json_runs.push(entry);
            }
        }
    }
    md.push_str(&format!(
        "\nOn-demand Lambda's way on the same core: {SEQUENTIAL_PROCESSES} processes, one request at a time each (RSS summed over the processes).\n\n\
         | processes | requests | req/s on the core | × the floor at 8 | p50 | p99 | | CPU ms / request | peak RSS | answers |\n|---|---|---|---|---|---|---|---|---|---|\n"
    ));
    for ((dialect, kind), m) in sequential {
        md.push_str(&row(
            format!(
                "{SEQUENTIAL_PROCESSES}: {} {}",
                dialect.label(),
                kind.label()
            ),
            m,
            floors.get(&(8, *kind == Kind::Keyed)),
        ));
        let mut entry = summary(m);
        entry["processes"] = json!(SEQUENTIAL_PROCESSES);
        entry["dialect"] = json!(dialect.label());
        entry["kind"] = json!(kind.label());
        json_runs.push(entry);
    }
    // The targets.
    let mut targets = Vec::new();
    for dialect in Dialect::ALL {
        for kind in Kind::ALL {
            let floor_32 = &floors[&(32, kind == Kind::Keyed)];
            let m = &runs[&(32, dialect, kind)];
            let ratio = m.per_second() / floor_32.per_second().max(0.001);
            let p99 = m.p(99.0) / floor_32.p(99.0).max(0.001);
            targets.push(format!(
                "| {} {} at 32 | {ratio:.2}× the floor's requests/s (≥ 0.8×) | {} | p99 {p99:.2}× the floor's (≤ 3×) | {} |\n",
                dialect.label(),
                kind.label(),
                if ratio >= 0.8 { "met" } else { "not met" },
                if p99 <= 3.0 { "met" } else { "not met" },
            ));
        }
    }
    let peak_64 = Dialect::ALL
        .iter()
        .flat_map(|d| Kind::ALL.iter().map(move |k| (*d, *k)))
        .map(|(d, k)| runs[&(64, d, k)].peak_rss_kib)
        .max()
        .unwrap_or(0) as f64
        / 1024.0;
    md.push_str(&format!(
        "\nTargets (each kind against its floor at 32: one `UpdateItem`, or for keyed requests the claim, the `UpdateItem` and saving the answer):\n\n\
         | what | throughput | | latency | |\n|---|---|---|---|---|\n{}\
         \nPeak RSS at 64 in flight: {peak_64:.1} MiB (target ≤ 64 MiB): {}.\n",
        targets.concat(),
        if peak_64 <= 64.0 { "met" } else { "not met" }
    ));
    let failures: usize = runs
        .values()
        .chain(sequential.values())
        .map(|m| m.failures)
        .sum();
    let report = json!({
        "seconds": setup.seconds,
        "held_to_one_core": setup.cgroup.is_some(),
        "runs": json_runs,
        "peak_rss_mib_at_64": round(peak_64),
    });
    (md, report, failures)
}
