//! What the end-to-end benchmarks share: a Lambda Runtime API stand-in on 127.0.0.1, the
//! release binaries it runs, the events they are fed, the direct `UpdateItem` floor, and the
//! statistics.

#![allow(dead_code)]

pub mod floor;
pub mod load;
pub mod proc;
#[path = "../../tests/support/runtime_api.rs"]
pub mod runtime_api;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use person_patch::admin;
use person_patch::dialect::contacts_v1;
use person_patch::engine::{build_update, json, validate, Definitions, Precondition, Stamp};
use person_patch::store::tables::Tables;
use person_patch::store::PersonKey;
use serde_json::{json, Value as Json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};

pub const PERSONS_TABLE: &str = "bench-persons";
pub const CLIENTS_TABLE: &str = "bench-clients";
pub const BODY: &str = r#"{"forename":"Augusta","title":null}"#;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- Runtime API stand-in

/// What the stand-in saw, with when.
#[derive(Debug)]
pub enum Seen {
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

pub struct RuntimeApi {
    pub port: u16,
    events: mpsc::Sender<(String, Vec<u8>, tokio::sync::oneshot::Sender<Instant>)>,
    seen: Mutex<mpsc::UnboundedReceiver<Seen>>,
}

impl RuntimeApi {
    pub async fn start() -> Arc<RuntimeApi> {
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
    pub async fn invoke(&self, id: &str, event: &[u8]) -> Instant {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.events
            .send((id.to_owned(), event.to_vec(), tx))
            .await
            .expect("the stand-in is running");
        rx.await.expect("handed out")
    }

    pub async fn next_seen(&self) -> Seen {
        tokio::time::timeout(Duration::from_secs(60), self.seen.lock().await.recv())
            .await
            .expect("the function answered within 60 s")
            .expect("the stand-in is running")
    }

    /// Waits for the response to `id`; returns when it arrived.
    pub async fn response(&self, id: &str) -> (Instant, Vec<u8>) {
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

    /// Waits for the function's next call to `/next` (its first, or the one after an answer:
    /// the function is idle from then on); returns when it came.
    pub async fn first_next(&self) -> Instant {
        loop {
            if let Seen::Next(at) = self.next_seen().await {
                return at;
            }
        }
    }
}

pub type Events =
    Arc<Mutex<mpsc::Receiver<(String, Vec<u8>, tokio::sync::oneshot::Sender<Instant>)>>>;

pub async fn serve(
    stream: TcpStream,
    events: Events,
    seen: mpsc::UnboundedSender<Seen>,
) -> std::io::Result<()> {
    // As the real Runtime API does: no Nagle delay on small writes.
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    while let Some((path, body)) = runtime_api::read_request(&mut stream).await? {
        if path.ends_with("/invocation/next") {
            let _ = seen.send(Seen::Next(Instant::now()));
            // No more events once the stand-in is dropped: the process is about to be stopped.
            let Some((id, event, handed)) = events.lock().await.recv().await else {
                return Ok(());
            };
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
    Ok(())
}

pub fn spawn_function(binary: &Path, port: u16) -> Child {
    spawn_with(binary, port, &Launch::default())
}

/// How a function process is started beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// The DynamoDB endpoint (default: `AWS_ENDPOINT_URL_DYNAMODB`).
    pub endpoint: Option<String>,
    /// More environment variables (e.g. `SSL_CERT_FILE`).
    pub env: Vec<(String, String)>,
    /// A cgroup v1 `cpu` directory the process joins before it runs.
    pub cgroup: Option<PathBuf>,
}

pub fn spawn_with(binary: &Path, port: u16, launch: &Launch) -> Child {
    let endpoint = launch.endpoint.clone().unwrap_or_else(|| {
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB")
    });
    let mut command = Command::new(binary);
    if let Some(cgroup) = launch.cgroup.clone() {
        use std::os::unix::process::CommandExt;
        let procs = cgroup.join("cgroup.procs");
        // SAFETY: runs in the child between fork and exec; it only writes the child's own
        // pid to a file, and reports failure as an error instead of unwinding.
        unsafe {
            command.pre_exec(move || std::fs::write(&procs, std::process::id().to_string()));
        }
    }
    command.env_clear();
    // An empty endpoint: none set, as deployed (the SDK resolves AWS's own).
    if !endpoint.is_empty() {
        command.env("AWS_ENDPOINT_URL_DYNAMODB", endpoint);
    }
    command
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
        .env("PERSONS_TABLE", PERSONS_TABLE)
        .env("CLIENTS_TABLE", CLIENTS_TABLE)
        .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()))
}

/// A DynamoDB client for DynamoDB Local at `endpoint` with the function's SDK settings, and
/// the benchmark's tables with the demo data in them.
pub async fn local_tables(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let client = local_client(endpoint);
    let tables = Tables::new(client.clone(), PERSONS_TABLE, CLIENTS_TABLE);
    admin::create_tables(&tables).await.expect("tables");
    admin::seed_demo(&tables).await.expect("demo data");
    client
}

/// A DynamoDB client for DynamoDB Local at `endpoint` with the function's SDK settings.
pub fn local_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let settings = person_patch::ops::aws::SdkSettings::default();
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
            .endpoint_url(endpoint)
            .retry_config(settings.retry_config())
            .timeout_config(settings.timeout_config())
            .build(),
    )
}

// ---------------------------------------------------------------- measurements

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn summary(mut samples: Vec<f64>) -> Json {
    samples.sort_by(|a, b| a.total_cmp(b));
    json!({
        "n": samples.len(),
        "p50_ms": round(percentile(&samples, 50.0)),
        "p90_ms": round(percentile(&samples, 90.0)),
        "p99_ms": round(percentile(&samples, 99.0)),
        "mean_ms": round(samples.iter().sum::<f64>() / samples.len().max(1) as f64),
    })
}

pub fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn event(id: usize) -> Vec<u8> {
    let path = root().join("events/v1/http-api-patch.json");
    let mut event: Json =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    event["requestContext"]["requestId"] = json!(format!("bench-{id}"));
    event["body"] = json!(BODY);
    event["isBase64Encoded"] = json!(false);
    serde_json::to_vec(&event).expect("event")
}

/// The same PATCH with a fresh `Idempotency-Key`.
pub fn keyed_event(id: usize) -> Vec<u8> {
    let mut event: Json = serde_json::from_slice(&event(id)).expect("event");
    event["headers"]["idempotency-key"] = json!(format!("\"bench-key-{id}\""));
    serde_json::to_vec(&event).expect("event")
}

/// Warm latencies, interleaved so all see the same DynamoDB Local: a PATCH through the
/// runtime loop, the same PATCH with a fresh `Idempotency-Key`, then the same `UpdateItem`
/// sent directly with the SDK. Returns (patch, keyed patch, direct) samples.
pub struct DirectUpdate {
    patch: person_patch::engine::Patch,
    key: PersonKey,
}

impl DirectUpdate {
    pub fn new() -> Self {
        let document = json::parse(BODY.as_bytes()).expect("body");
        let patch = validate(
            &contacts_v1::DIALECT.fields,
            &document,
            time::OffsetDateTime::now_utc().date(),
        )
        .and_then(|d| d.finish(&Definitions::new()))
        .expect("valid");
        let key = PersonKey::new(
            person_patch::dialect::demo::DEMO_CUSTOMER,
            admin::parse_person_id(person_patch::dialect::demo::DEMO_V1_PERSON).expect("id"),
        );
        DirectUpdate { patch, key }
    }

    /// Sends it; the milliseconds the SDK call took.
    pub async fn send(&self, client: &aws_sdk_dynamodb::Client) -> f64 {
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
        floor::send_plan(client, PERSONS_TABLE, &self.key, plan)
            .await
            .expect("direct UpdateItem");
        started.elapsed().as_secs_f64() * 1000.0
    }
}
