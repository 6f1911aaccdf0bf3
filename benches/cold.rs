//! The cold start as a deployed Lambda meets it (`make bench-cold`): DynamoDB reached over TLS,
//! and each process held to its memory size's CPU share (one vCPU at 1,769 MB, so 128 MB is
//! 128/1769 of a core) by a cgroup v1 CFS quota.
//!
//! - TLS: a certificate authority and a server certificate are made at run time (openssl),
//!   a TLS terminator in this process (tokio-rustls) fronts DynamoDB Local, and the function
//!   reaches it at `https://localhost:<port>`, trusting the CA through `SSL_CERT_FILE`.
//! - CPU: `/sys/fs/cgroup/cpu/person-patch-bench/cpu.cfs_quota_us` = period × MB / 1769. Where
//!   no cpu controller can be written, the run says so and measures at a full core only.
//!
//! Two models, side by side in one run, medians over fresh processes (`COLD_RUNS`, default 7)
//! at each size:
//! - **on demand** (the headline): init at a full core, as on-demand Lambda runs it, and the
//!   process moved into the size's quota at its first `next`;
//! - **held from the start** (the worst case): the quota from the process's first instruction.
//!
//! In each: init (spawn → first `next`), first response (spawn → response; and from the event
//! handed out) and the second request, for a JWT-authorizer, a generated-secret Basic and an
//! argon2id Basic caller, beside a hello-world `lambda_http` and a process sending the same
//! `UpdateItem` directly (its first and second call after the same set-up); then warm PATCH
//! p50/p99 beside that direct `UpdateItem` over the same TLS path under the same quota. Writes
//! target/bench/cold.{json,md}.

mod harness;

use std::io::{BufRead, BufReader as StdBufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use harness::*;
use person_patch::admin;
use person_patch::store::tables::Tables;
use person_patch::table::CustomerId;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value as Json};
use tokio::net::{TcpListener, TcpStream};

/// The memory sizes of the power-tuning table, in MB.
const SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];
/// The first requests measured, by their caller.
const CALLERS: [&str; 3] = [
    "JWT authorizer context",
    "Basic, generated secret",
    "Basic, argon2id secret",
];
/// One vCPU's worth of memory.
const FULL_CORE_MB: u32 = 1769;
const PERIOD_US: u64 = 100_000;
const CGROUP: &str = "/sys/fs/cgroup/cpu/person-patch-bench";

/// Published on-demand prices (US East, N. Virginia, first tier), per GB-second and per
/// million requests, as of 2026-11-23.
const PRICE_X86_GB_S: f64 = 0.000_016_666_7;
const PRICE_ARM_GB_S: f64 = 0.000_013_333_4;
const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;

// ---------------------------------------------------------------- TLS in front of DynamoDB Local

/// Makes a CA and a `localhost` server certificate under `dir` with openssl; returns the CA
/// file (for `SSL_CERT_FILE`), the server chain and key.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).expect("certificate directory");
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl (make bench-cold installs it)");
        assert!(status.success(), "openssl {args:?}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=person-patch bench CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// Terminates TLS on a free 127.0.0.1 port and relays each connection to `upstream`; the port.
async fn tls_terminator(chain: &Path, key: &Path, upstream: String) -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain)
        .expect("server chain")
        .collect::<Result<_, _>>()
        .expect("server chain");
    let key = PrivateKeyDer::from_pem_file(key).expect("server key");
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

// ---------------------------------------------------------------- CPU share

/// The cgroup the measured processes join, if the cpu controller can be written.
fn cgroup() -> Option<PathBuf> {
    let dir = PathBuf::from(CGROUP);
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string()).ok()?;
    std::fs::write(dir.join("cpu.cfs_quota_us"), "-1").ok()?;
    Some(dir)
}

fn set_share(cgroup: &Path, memory_mb: u32) {
    let quota = PERIOD_US * u64::from(memory_mb) / u64::from(FULL_CORE_MB);
    std::fs::write(cgroup.join("cpu.cfs_quota_us"), quota.to_string()).expect("set the CPU quota");
}

// ---------------------------------------------------------------- events

fn fixture(relative: &str) -> Json {
    let path = root().join("events").join(relative);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

/// The v1 PATCH of [`harness::BODY`] with the given authentication.
fn event_with(auth: &Auth, id: usize) -> Vec<u8> {
    let mut event = match auth {
        Auth::Jwt => fixture("v1/http-api-jwt-authorizer.json"),
        Auth::Basic { .. } => fixture("v1/http-api-patch.json"),
    };
    event["requestContext"]["requestId"] = json!(format!("cold-{id}"));
    event["body"] = json!(BODY);
    event["isBase64Encoded"] = json!(false);
    if let Auth::Basic { id: client, secret } = auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{client}:{secret}"));
        event["headers"]["authorization"] = json!(format!("Basic {token}"));
    }
    serde_json::to_vec(&event).expect("event")
}

#[derive(Debug, Clone)]
enum Auth {
    Jwt,
    Basic { id: String, secret: String },
}

// ---------------------------------------------------------------- measurements

struct Bench {
    binary: PathBuf,
    hello: PathBuf,
    direct: PathBuf,
    launch: Launch,
    cgroup: Option<PathBuf>,
    runs: usize,
}

/// What one fresh process showed, in ms.
#[derive(Default)]
struct Cold {
    to_next: Vec<f64>,
    to_first: Vec<f64>,
    second: Vec<f64>,
    handed_to_first: Vec<f64>,
}

impl Bench {
    fn launch(&self, throttled_from_start: bool) -> Launch {
        Launch {
            cgroup: if throttled_from_start {
                self.cgroup.clone()
            } else {
                None
            },
            ..self.launch.clone()
        }
    }

    /// `runs` fresh processes of `binary`: spawn → next, spawn → first response, the second
    /// response's latency. With `late_quota` (on demand), init runs at a full core and the
    /// process joins the cgroup at its first `next`.
    async fn cold(&self, binary: &Path, auth: &Auth, late_quota: bool) -> Cold {
        let mut cold = Cold::default();
        for run in 0..self.runs {
            let api = RuntimeApi::start().await;
            let spawned = Instant::now();
            let mut child = spawn_with(binary, api.port, &self.launch(!late_quota));
            let next = api.first_next().await;
            if late_quota {
                if let Some(cgroup) = &self.cgroup {
                    std::fs::write(cgroup.join("cgroup.procs"), child.id().to_string())
                        .expect("join the cgroup");
                }
            }
            let id = format!("first-{run}");
            let handed = api.invoke(&id, &event_with(auth, run)).await;
            let (at, _) = api.response(&id).await;
            let id = format!("second-{run}");
            let second_handed = api.invoke(&id, &event_with(auth, run + 1000)).await;
            let (second_at, _) = api.response(&id).await;
            cold.to_next.push(ms(next - spawned));
            cold.to_first.push(ms(at - spawned));
            cold.handed_to_first.push(ms(at - handed));
            cold.second.push(ms(second_at - second_handed));
            let _ = child.kill();
            let _ = child.wait();
        }
        cold
    }

    /// The direct `UpdateItem` process started as the function is (init at a full core when
    /// `late_quota`, joining the quota once set up), its first and second call.
    fn direct_cold(&self, late_quota: bool) -> Cold {
        let mut cold = Cold::default();
        for _ in 0..self.runs {
            let spawned = Instant::now();
            let (mut child, mut to_direct, mut from_direct) = self.direct_process(!late_quota);
            let ready = ms(spawned.elapsed());
            if late_quota {
                if let Some(cgroup) = &self.cgroup {
                    std::fs::write(cgroup.join("cgroup.procs"), child.id().to_string())
                        .expect("join the cgroup");
                }
            }
            let mut call = || {
                writeln!(to_direct).expect("ask for a direct UpdateItem");
                let mut line = String::new();
                from_direct.read_line(&mut line).expect("its time");
                line.trim().parse::<f64>().unwrap_or(f64::NAN)
            };
            let first = call();
            let to_first = ms(spawned.elapsed());
            let second = call();
            cold.to_next.push(ready);
            cold.to_first.push(to_first);
            cold.handed_to_first.push(first);
            cold.second.push(second);
            drop(to_direct);
            let _ = child.kill();
            let _ = child.wait();
        }
        cold
    }

    /// The direct `UpdateItem` helper, set up (its `ready` line read): the process, its stdin
    /// and its stdout.
    fn direct_process(
        &self,
        throttled_from_start: bool,
    ) -> (
        std::process::Child,
        std::process::ChildStdin,
        StdBufReader<std::process::ChildStdout>,
    ) {
        let launch = self.launch(throttled_from_start);
        let mut direct = std::process::Command::new(&self.direct);
        direct
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env(
                "AWS_ENDPOINT_URL_DYNAMODB",
                launch.endpoint.clone().unwrap_or_default(),
            )
            .env("PERSONS_TABLE", PERSONS_TABLE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cgroup) = launch.cgroup.clone() {
            use std::os::unix::process::CommandExt;
            let procs = cgroup.join("cgroup.procs");
            // SAFETY: between fork and exec the child only writes its own pid to a file.
            unsafe {
                direct.pre_exec(move || std::fs::write(&procs, std::process::id().to_string()));
            }
        }
        let mut direct = direct.spawn().expect("the direct UpdateItem helper");
        let to_direct = direct.stdin.take().expect("stdin");
        let mut from_direct = StdBufReader::new(direct.stdout.take().expect("stdout"));
        let mut ready = String::new();
        from_direct
            .read_line(&mut ready)
            .expect("the helper starts");
        assert_eq!(ready.trim(), "ready");
        (direct, to_direct, from_direct)
    }

    /// Warm PATCH latencies, each followed by the same `UpdateItem` sent directly by a process
    /// under the same quota.
    async fn warm(&self, requests: usize) -> (Vec<f64>, Vec<f64>) {
        let api = RuntimeApi::start().await;
        let mut child = spawn_with(&self.binary, api.port, &self.launch(true));
        let (mut direct, mut to_direct, mut from_direct) = self.direct_process(true);
        let mut patch = Vec::new();
        let mut floor = Vec::new();
        let auth = Auth::Jwt;
        for i in 0..(requests + 20) {
            let id = format!("warm-{i}");
            let handed = api.invoke(&id, &event_with(&auth, i)).await;
            let (at, _) = api.response(&id).await;
            writeln!(to_direct).expect("ask for a direct UpdateItem");
            let mut line = String::new();
            from_direct.read_line(&mut line).expect("its time");
            if i >= 20 {
                patch.push(ms(at - handed));
                floor.push(line.trim().parse().unwrap_or(f64::NAN));
            }
        }
        drop(to_direct);
        let _ = direct.wait();
        let _ = child.kill();
        let _ = child.wait();
        (patch, floor)
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    round(percentile(&sorted, 50.0))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cold benchmark: run with `make bench-cold`");
        return;
    }
    let plain = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .expect("run through `make bench-cold`, which starts DynamoDB Local");
    let runs = env_usize("COLD_RUNS", 7);
    let warm_requests = env_usize("COLD_WARM_REQUESTS", 200);
    let label = std::env::var("COLD_LABEL").unwrap_or_else(|_| "current build".into());
    let sizes: Vec<u32> = std::env::var("COLD_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| SIZES.to_vec());

    let cases = callers(&plain).await;
    let launch = tls_launch(&plain).await;
    let cgroup = cgroup();
    if cgroup.is_none() {
        eprintln!(
            "NOTE: no cgroup cpu controller could be written at {CGROUP}: every figure below \
             is at a FULL CORE, not a Lambda CPU share."
        );
    }
    let mut bench = Bench {
        // COLD_BINARY: another build of the function (a lever measured beside the current one).
        binary: std::env::var("COLD_BINARY")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target/release/person-patch")),
        hello: root().join("target/release/examples/hello_lambda"),
        direct: root().join("target/release/examples/direct_update"),
        launch,
        cgroup: cgroup.clone(),
        runs,
    };
    for b in [&bench.binary, &bench.hello, &bench.direct] {
        assert!(
            b.exists(),
            "{} is missing: `make bench-cold` builds it",
            b.display()
        );
    }
    let mut rows = Vec::new();
    let sizes_measured: Vec<u32> = if cgroup.is_some() {
        sizes
    } else {
        vec![FULL_CORE_MB]
    };
    for memory in sizes_measured {
        if let Some(cgroup) = &cgroup {
            set_share(cgroup, memory);
        }
        eprintln!("{memory} MB: cold starts ({runs} each), then {warm_requests} warm requests");
        let row = measure_size(&bench, memory, &cases, warm_requests).await;
        rows.push(row);
    }
    if let Some(cgroup) = &cgroup {
        let _ = std::fs::write(cgroup.join("cpu.cfs_quota_us"), "-1");
    }
    bench.cgroup = None;
    eprintln!("init with each trust store, at a full core");
    let trust = trust_store_init(&bench).await;

    let report = json!({
        "label": label,
        "model": {
            "tls": "DynamoDB Local behind a TLS terminator (tokio-rustls), CA made at run time, trusted via SSL_CERT_FILE",
            "cpu": if cgroup.is_some() { "cgroup v1 CFS quota, period 100 ms, quota = period × MB / 1769" } else { "none: full core" },
            "runs_per_case": runs,
            "warm_requests": warm_requests,
        },
        "sizes": rows,
        "trust_store_init": trust,
    });
    write_report(&report);
}

/// The tables with the demo data and a generated-secret client, and the three callers.
async fn callers(plain: &str) -> [(&'static str, Auth); 3] {
    // Tables, demo data and a generated-secret client, written directly.
    let client = local_tables(plain).await;
    let generated = person_patch::auth::clients::generate_secret();
    admin::create_client(
        &Tables::new(client, PERSONS_TABLE, CLIENTS_TABLE),
        "bench-generated",
        &generated,
        &[CustomerId(14532)],
        &["contacts:persons:write".to_owned()],
    )
    .await
    .expect("generated client");

    [
        (CALLERS[0], Auth::Jwt),
        (
            CALLERS[1],
            Auth::Basic {
                id: "bench-generated".into(),
                secret: generated.clone(),
            },
        ),
        (
            CALLERS[2],
            Auth::Basic {
                id: admin::DEMO_CLIENT_ID.into(),
                secret: admin::DEMO_CLIENT_SECRET.into(),
            },
        ),
    ]
}

/// DynamoDB Local behind a TLS terminator, and how the measured processes reach it (with the
/// settings COLD_ENV adds: `K=V,K=V`, for a lever measured before and after in one build).
async fn tls_launch(plain: &str) -> Launch {
    let (ca, chain, key) = make_certificates(&root().join("target/bench/tls"));
    let upstream = plain.trim_start_matches("http://").to_owned();
    let tls_port = tls_terminator(&chain, &key, upstream).await;
    let mut env = vec![("SSL_CERT_FILE".to_owned(), ca.display().to_string())];
    env.extend(
        std::env::var("COLD_ENV")
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| {
                pair.split_once('=')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            }),
    );
    Launch {
        endpoint: Some(format!("https://localhost:{tls_port}")),
        env,
        cgroup: None,
    }
}

/// Init (spawn → first `next`, full core, no connection opened and no rehearsal) with the
/// system's CA bundle (an endpoint named, as for DynamoDB Local) and with the built-in Amazon
/// roots (no endpoint named, as deployed), medians of 3 × `runs` each, interleaved.
async fn trust_store_init(bench: &Bench) -> Json {
    let launch = |endpoint: &str| Launch {
        endpoint: Some(endpoint.to_owned()),
        env: vec![
            ("DYNAMODB_PRECONNECT".into(), "off".into()),
            ("INIT_REHEARSAL".into(), "off".into()),
        ],
        cgroup: None,
    };
    let cases = [
        (
            "system CA bundle",
            launch("https://dynamodb.us-east-1.amazonaws.com"),
        ),
        ("built-in Amazon roots", launch("")),
    ];
    let mut samples = vec![Vec::new(); cases.len()];
    for _ in 0..bench.runs * 3 {
        for (i, (_, launch)) in cases.iter().enumerate() {
            let api = RuntimeApi::start().await;
            let spawned = Instant::now();
            let mut child = spawn_with(&bench.binary, api.port, launch);
            let next = api.first_next().await;
            samples[i].push(ms(next - spawned));
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    let mut result = json!({});
    for ((name, _), samples) in cases.iter().zip(samples) {
        result[*name] = json!(median(&samples));
    }
    result
}

/// Both models at one memory size, and the warm figures.
async fn measure_size(
    bench: &Bench,
    memory: u32,
    cases: &[(&str, Auth)],
    warm_requests: usize,
) -> Json {
    let mut row = json!({
        "memory_mb": memory,
        "cpu_share": round(f64::from(memory) / f64::from(FULL_CORE_MB)),
    });
    for (model, late_quota) in [("on_demand", true), ("held_from_start", false)] {
        let hello = bench.cold(&bench.hello, &Auth::Jwt, late_quota).await;
        let direct = bench.direct_cold(late_quota);
        let mut figures = json!({
            "hello": cold_figures(&hello),
            "direct_update_item": cold_figures(&direct),
        });
        for (name, auth) in cases {
            let cold = bench.cold(&bench.binary, auth, late_quota).await;
            figures[name.to_string()] = cold_figures(&cold);
        }
        row[model] = figures;
    }
    let (patch, floor) = bench.warm(warm_requests).await;
    let patch = summary(patch);
    let floor = summary(floor);
    let p50 = patch["p50_ms"].as_f64().unwrap_or(0.0);
    let floor_p50 = floor["p50_ms"].as_f64().unwrap_or(0.0);
    row["warm_patch"] = patch;
    row["warm_direct_update_item"] = floor;
    row["warm_overhead_percent"] = json!(round(100.0 * (p50 - floor_p50) / floor_p50.max(1e-9)));
    // A million warm requests: billed duration (whole ms) × memory, plus the request fee.
    let gb_s = (p50.ceil() / 1000.0) * (f64::from(memory) / 1024.0) * 1e6;
    row["cost_per_million_usd"] = json!({
        "x86_64": round(gb_s * PRICE_X86_GB_S + PRICE_PER_MILLION_REQUESTS),
        "arm64": round(gb_s * PRICE_ARM_GB_S + PRICE_PER_MILLION_REQUESTS),
    });
    row
}

/// Medians of one case's fresh processes.
fn cold_figures(cold: &Cold) -> Json {
    json!({
        "init_ms": median(&cold.to_next),
        "first_response_ms": median(&cold.to_first),
        "handed_to_first_response_ms": median(&cold.handed_to_first),
        "second_request_ms": median(&cold.second),
    })
}

fn write_report(report: &Json) {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(
        dir.join("cold.json"),
        serde_json::to_string_pretty(report).expect("JSON"),
    )
    .expect("write");
    let mut md = format!(
        "# Cold start as a Lambda sees it ({})\n\nTLS to DynamoDB Local; CPU: {}. Medians of {} fresh processes; warm: {} requests.\n\n",
        report["label"].as_str().unwrap_or(""),
        report["model"]["cpu"].as_str().unwrap_or(""),
        report["model"]["runs_per_case"],
        report["model"]["warm_requests"],
    );
    for (model, title) in [
        (
            "on_demand",
            "On demand: init at a full core, the share from the first `next`",
        ),
        (
            "held_from_start",
            "Held to the share from the start (worst case)",
        ),
    ] {
        md.push_str(&model_table(report, model, title));
    }
    md.push_str("## Warm\n\n| MB | PATCH p50 / p99 | direct UpdateItem p50 / p99 | overhead | $ per 1M, x86 / arm64 |\n|---|---|---|---|---|\n");
    for row in report["sizes"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} / {} ms | {} / {} ms | {}% | {} / {} |\n",
            row["memory_mb"],
            row["warm_patch"]["p50_ms"],
            row["warm_patch"]["p99_ms"],
            row["warm_direct_update_item"]["p50_ms"],
            row["warm_direct_update_item"]["p99_ms"],
            row["warm_overhead_percent"],
            row["cost_per_million_usd"]["x86_64"],
            row["cost_per_million_usd"]["arm64"],
        ));
    }
    let trust = &report["trust_store_init"];
    md.push_str(&format!(
        "\n## Init by trust store (full core, no connection opened, no rehearsal)\n\n| system CA bundle | built-in Amazon roots |\n|---|---|\n| {} ms | {} ms |\n",
        trust["system CA bundle"], trust["built-in Amazon roots"]
    ));
    std::fs::write(dir.join("cold.md"), &md).expect("write");
    println!("{md}");
}

/// One model's table: per size, hello-world, the direct `UpdateItem`, and each caller's init,
/// first response (its ratio to the hello-world's; from the event handed out) and second
/// request.
fn model_table(report: &Json, model: &str, title: &str) -> String {
    let mut md = format!(
        "## {title}\n\n| MB | hello: init / first response | direct UpdateItem: first / second call | caller | init | first response (× hello; handed → response) | second request |\n|---|---|---|---|---|---|---|\n"
    );
    for row in report["sizes"].as_array().into_iter().flatten() {
        let figures = &row[model];
        let hello_first = figures["hello"]["first_response_ms"]
            .as_f64()
            .unwrap_or(f64::NAN);
        for (i, caller) in CALLERS.iter().enumerate() {
            let case = &figures[*caller];
            let first = case["first_response_ms"].as_f64().unwrap_or(f64::NAN);
            let (size, hello, direct) = if i == 0 {
                (
                    row["memory_mb"].to_string(),
                    format!(
                        "{} / {} ms",
                        figures["hello"]["init_ms"], figures["hello"]["first_response_ms"]
                    ),
                    format!(
                        "{} / {} ms",
                        figures["direct_update_item"]["handed_to_first_response_ms"],
                        figures["direct_update_item"]["second_request_ms"]
                    ),
                )
            } else {
                Default::default()
            };
            md.push_str(&format!(
                "| {size} | {hello} | {direct} | {caller} | {} ms | {} ms ({}×; {} ms) | {} ms |\n",
                case["init_ms"],
                case["first_response_ms"],
                round(first / hello_first),
                case["handed_to_first_response_ms"],
                case["second_request_ms"],
            ));
        }
    }
    md.push('\n');
    md
}
