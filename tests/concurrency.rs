//! One environment serving many invocations at once, as on Lambda Managed Instances
//! (`AWS_LAMBDA_MAX_CONCURRENCY` above 1): the function's own runtime wiring
//! ([`person_patch::http::entry::serve`]) runs in this process on a two-thread scheduler (so
//! invocations also run on two threads at once), fed by a Runtime API stand-in that hands out
//! events side by side, against DynamoDB Local.
//! Everything that belongs to a request stays with it: its answer, its ids in every log line
//! and metrics line, its deadline, its Idempotency-Key answer and its panic; callers of one
//! client share one clients-table lookup.
//!
//! The runtime reads its settings from the process environment and the log subscriber is
//! process-wide, so this file holds a single #[test] that runs every scenario in turn.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use person_patch::auth::{Authenticator, WRITE_SCOPE};
use person_patch::http::app::App;
use person_patch::ops::aws::SdkSettings;
use person_patch::ops::telemetry::MetricsSink;
use person_patch::store::clients::ClientDirectory;
use person_patch::store::dynamo::{traced_client, DynamoPersonStore};
use person_patch::store::{ApiClient, ClientLookup, DirectoryError};
use serde_json::{json, Value as Json};
use support::fault_proxy::FaultProxy;
use support::runtime_api::{trace_id_of, Answer, Invocation, RuntimeApi};
use support::*;

/// How many invocations the environment serves at once.
const CONCURRENCY: usize = 8;

/// The clients table as the function reads it, with lookups counted per id; a lookup of
/// `panicking-client` panics, and one of a `slow-` or `flight-` id takes a while first.
struct Watched {
    inner: ClientDirectory,
    lookups: Arc<Mutex<HashMap<String, usize>>>,
}

impl ClientLookup for Watched {
    async fn find(&self, id: &str) -> Result<Option<ApiClient>, DirectoryError> {
        *self
            .lookups
            .lock()
            .unwrap()
            .entry(id.to_owned())
            .or_default() += 1;
        if id == "panicking-client" {
            panic!("a defect met while looking up a client");
        }
        if id.starts_with("slow-") {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        } else if id.starts_with("flight-") {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        self.inner.find(id).await
    }
}

struct World {
    env: TestEnv,
    api: RuntimeApi,
    proxy: FaultProxy,
    logs: CapturedLogs,
    metrics: Arc<Mutex<Vec<String>>>,
    lookups: Arc<Mutex<HashMap<String, usize>>>,
    /// A generated secret every client made here shares.
    secret: String,
}

impl World {
    /// Sends `event` as invocation `id` and returns the reply API Gateway would get.
    async fn invoke(&self, invocation: Invocation) -> Reply {
        match self.api.invoke(invocation).await {
            Answer::Response(json) => Reply::from_wire(json),
            Answer::Error(error) => panic!("the invocation failed: {error}"),
        }
    }

    async fn client(&self, id: &str) {
        self.env
            .create_client(id, &self.secret, &[14532], &[WRITE_SCOPE])
            .await;
    }

    fn metrics_lines(&self) -> Vec<Json> {
        std::mem::take(&mut *self.metrics.lock().unwrap())
            .iter()
            .map(|line| serde_json::from_str(line).expect("an EMF line is JSON"))
            .collect()
    }
}

#[test]
fn invocations_served_at_once_keep_what_is_theirs() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // A main thread's stack, where main.rs runs its one scheduler thread (a debug
        // build's futures are many times a release build's).
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .expect("a scheduler");
    runtime.block_on(async {
        let world = start().await;
        answers_and_ids_stay_with_their_invocation(&world).await;
        one_key_sent_at_once_is_applied_once(&world).await;
        deadlines_are_each_invocations_own(&world).await;
        callers_of_one_client_share_one_lookup(&world).await;
        a_panic_answers_500_for_its_own_request_alone(&world).await;
        failed_response_posts_leave_every_worker_serving(&world).await;
    });
}

/// The function's runtime wiring in this process, `CONCURRENCY` workers, logging JSON at INFO.
async fn start() -> World {
    let api = RuntimeApi::start().await;
    for (name, value) in [
        ("AWS_LAMBDA_RUNTIME_API", api.address.as_str()),
        ("AWS_LAMBDA_MAX_CONCURRENCY", &CONCURRENCY.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "person-patch"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2048"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ] {
        std::env::set_var(name, value);
    }
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    person_patch::ops::telemetry::init_logging_with_writer(move || writer.clone());
    person_patch::ops::telemetry::log_panics();
    // The function's hook logs a panic without its message; a failed assertion of this test
    // is printed too.
    let logged = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        logged(info);
        eprintln!("{info}");
    }));

    let env = TestEnv::new().await;
    let metrics = Arc::new(Mutex::new(Vec::new()));
    let lookups = Arc::new(Mutex::new(HashMap::new()));
    // The function's client, as main.rs builds it, through a proxy that records trace headers.
    let proxy = FaultProxy::start(endpoint()).await;
    let client = traced_client(config_for(&proxy.endpoint, &SdkSettings::default()));
    let directory = Watched {
        inner: ClientDirectory::new(client.clone(), env.clients_table.clone()),
        lookups: Arc::clone(&lookups),
    };
    let app = App::new(
        DynamoPersonStore::new(client, env.persons_table.clone()),
        Authenticator::new(directory),
    )
    .with_metrics(MetricsSink::Memory(Arc::clone(&metrics)));
    let app: &'static App<DynamoPersonStore, Watched> = Box::leak(Box::new(app));
    // As main.rs does, the runtime's own loop is blocked on, here on a thread of its own; the
    // workers it spawns run on the scheduler's two threads.
    let scheduler = tokio::runtime::Handle::current();
    std::thread::spawn(move || scheduler.block_on(person_patch::http::entry::serve(app)));
    let world = World {
        env,
        api,
        proxy,
        logs,
        metrics,
        lookups,
        secret: person_patch::auth::secrets::generate(),
    };
    for id in [
        "slow-a",
        "slow-b",
        "flight-client",
        "panicking-client",
        "steady",
    ] {
        world.client(id).await;
    }
    wait_for_every_worker(&world.api).await;
    world.logs.take();
    world
}

/// Waits until every worker of the function asks for an event.
async fn wait_for_every_worker(api: &RuntimeApi) {
    let until = Instant::now() + Duration::from_secs(30);
    while api.nexts() < CONCURRENCY {
        assert!(
            Instant::now() < until,
            "only {} of {CONCURRENCY} workers asked for an event",
            api.nexts()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A Persons v2 event of person 16 setting `City` to `city`, with API Gateway's request id
/// `gateway_id`.
fn v2_city(city: &str, gateway_id: &str) -> Json {
    let mut event = Event::v2(Shape::HttpApi).json_body(&json!({ "City": city }));
    event.json["requestContext"]["requestId"] = json!(gateway_id);
    event.json
}

/// A Contacts v1 event of the demo person setting `position`.
fn v1_position(position: &str, gateway_id: &str) -> Json {
    let mut event = Event::v1(Shape::RestApi).json_body(&json!({ "position": position }));
    event.json["requestContext"]["requestId"] = json!(gateway_id);
    event.json
}

fn record(reply: &Reply) -> Json {
    serde_json::from_str(reply.body.as_deref().expect("a record")).expect("a JSON record")
}

async fn answers_and_ids_stay_with_their_invocation(world: &World) {
    let v1_before = world.env.demo_v1().await;
    let v2_before = world.env.demo_v2().await;
    world.api.reset_peak();
    world.proxy.take_traces("UpdateItem");
    let sent = (0..2 * CONCURRENCY).map(|i| {
        let (id, gateway) = (format!("lambda-{i}"), format!("gateway-{i}"));
        let event = if i % 2 == 0 {
            v2_city(&format!("City{i}"), &gateway)
        } else {
            v1_position(&format!("Position{i}"), &gateway)
        };
        world.invoke(Invocation::new(&id, event))
    });
    let replies = join_all(sent).await;
    assert_eq!(
        world.api.peak_open(),
        CONCURRENCY,
        "the environment held {CONCURRENCY} invocations at once"
    );
    for (i, reply) in replies.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(reply.status, 200, "{i}: {:?}", reply.body);
            assert_eq!(record(reply)["City"], json!(format!("City{i}")), "{i}");
        } else {
            assert_eq!(reply.status, 204, "{i}: {:?}", reply.body);
        }
    }
    // Every write applied, each once.
    let version = |item: &HashMap<_, _>| n(item, "version").unwrap().parse::<u64>().unwrap();
    let v2_after = world.env.demo_v2().await;
    let v1_after = world.env.demo_v1().await;
    assert_eq!(version(&v2_after), version(&v2_before) + CONCURRENCY as u64);
    assert_eq!(version(&v1_after), version(&v1_before) + CONCURRENCY as u64);

    // Each update named its own invocation's trace to DynamoDB.
    let traces = world.proxy.take_traces("UpdateItem");
    let expected: BTreeSet<String> = (0..2 * CONCURRENCY)
        .map(|i| trace_id_of(&format!("lambda-{i}")))
        .collect();
    let sent: BTreeSet<String> = traces.iter().flatten().cloned().collect();
    assert_eq!(traces.len(), 2 * CONCURRENCY, "{traces:#?}");
    assert_eq!(
        sent, expected,
        "every update carries its invocation's trace header"
    );

    // Each summary line is in its own invocation's span: API Gateway's request id i goes with
    // Lambda's request id i and trace id i, and no line carries another invocation's ids.
    let lines = world.logs.take();
    let mut summaries = 0;
    for line in &lines {
        let Some(span) = invocation_span(line) else {
            continue;
        };
        let lambda_id = span["requestId"].as_str().expect("a request id");
        assert_eq!(
            span["traceId"],
            json!(trace_id_of(lambda_id)),
            "a line whose trace id is another invocation's: {line}"
        );
        if let Some(gateway) = line.get("request_id").and_then(Json::as_str) {
            assert_eq!(
                gateway.strip_prefix("gateway-"),
                lambda_id.strip_prefix("lambda-"),
                "a summary line in another invocation's span: {line}"
            );
            summaries += 1;
        }
    }
    assert_eq!(
        summaries,
        2 * CONCURRENCY,
        "one summary line each: {lines:#?}"
    );

    // One metrics line per invocation, each naming its own.
    let metrics = world.metrics_lines();
    let named: BTreeMap<String, String> = metrics
        .iter()
        .map(|m| {
            (
                m["requestId"].as_str().expect("requestId").to_owned(),
                m["traceId"].as_str().expect("traceId").to_owned(),
            )
        })
        .collect();
    assert_eq!(named.len(), 2 * CONCURRENCY, "{metrics:#?}");
    for (lambda_id, trace_id) in named {
        assert!(lambda_id.starts_with("lambda-"), "{lambda_id}");
        assert_eq!(trace_id, trace_id_of(&lambda_id));
    }
}

/// The invocation span a JSON log line was written in, if any.
fn invocation_span(line: &Json) -> Option<&Json> {
    line["spans"]
        .as_array()?
        .iter()
        .find(|span| span["name"] == "invocation")
}

async fn one_key_sent_at_once_is_applied_once(world: &World) {
    let before = world.env.demo_v2().await;
    let mut event = Event::v2(Shape::RestApi)
        .json_body(&json!({"City": "Keyed"}))
        .header("Idempotency-Key", "\"many-callers\"");
    event.json["requestContext"]["requestId"] = json!("gateway-keyed");
    let callers = (0..CONCURRENCY).map(|caller| {
        let event = event.json.clone();
        async move {
            // Each caller sends until it has an answer that is not "in flight", waiting as
            // Retry-After says, as a client does.
            for attempt in 0..20 {
                let id = format!("keyed-{caller}-{attempt}");
                let reply = world.invoke(Invocation::new(&id, event.clone())).await;
                if reply.status != 409 {
                    return reply;
                }
                let wait: u64 = reply
                    .header("retry-after")
                    .and_then(|s| s.parse().ok())
                    .expect("an in-flight 409 says when to retry");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            panic!("caller {caller} never had an answer");
        }
    });
    let replies = join_all(callers).await;
    let first = &replies[0];
    assert_eq!(first.status, 200, "{:?}", first.body);
    for reply in &replies {
        assert_eq!(reply.status, first.status);
        assert_eq!(reply.header("etag"), first.header("etag"));
        assert_eq!(record(reply), record(first));
    }
    let after = world.env.demo_v2().await;
    assert_eq!(
        n(&after, "version").unwrap().parse::<u64>().unwrap(),
        n(&before, "version").unwrap().parse::<u64>().unwrap() + 1,
        "the keyed update was applied once"
    );
    assert_eq!(s(&after, "City").as_deref(), Some("Keyed"));
    world.logs.take();
    world.metrics_lines();
}

async fn deadlines_are_each_invocations_own(world: &World) {
    let started = Instant::now();
    // Lambda stops A 1.3 s after handing it out; its clients-table lookup takes 1.5 s.
    let short = async {
        let event = Event::v1(Shape::HttpApi)
            .json_body(&json!({"position": "Short"}))
            .basic("slow-a", &world.secret);
        let invocation =
            Invocation::new("deadline-short", event.json).timeout(Duration::from_millis(1300));
        (world.invoke(invocation).await, started.elapsed())
    };
    // B's lookup takes as long, and B has 30 s.
    let long = async {
        let event = Event::v1(Shape::HttpApi)
            .json_body(&json!({"position": "Long"}))
            .basic("slow-b", &world.secret);
        let invocation = Invocation::new("deadline-long", event.json);
        (world.invoke(invocation).await, started.elapsed())
    };
    // C is quick.
    let quick = async {
        let event = Event::v1(Shape::HttpApi)
            .json_body(&json!({"department": "Quick"}))
            .basic("steady", &world.secret);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let invocation = Invocation::new("deadline-quick", event.json);
        (world.invoke(invocation).await, started.elapsed())
    };
    let ((a, a_took), (b, b_took), (c, c_took)) = tokio::join!(short, long, quick);
    assert_eq!(a.status, 503, "A's deadline passed: {:?}", a.body);
    assert!(
        a_took < Duration::from_millis(1300),
        "A ended at {a_took:?}"
    );
    assert_eq!(b.status, 204, "B had time: {:?}", b.body);
    assert!(
        b_took >= Duration::from_millis(1500),
        "B ended at {b_took:?}"
    );
    assert_eq!(c.status, 204, "{:?}", c.body);
    assert!(c_took < a_took, "C waited for A ({c_took:?} / {a_took:?})");
    let stored = world.env.demo_v1().await;
    assert_eq!(s(&stored, "position").as_deref(), Some("Long"));
    assert_eq!(s(&stored, "department").as_deref(), Some("Quick"));
    world.logs.take();
    world.metrics_lines();
}

async fn callers_of_one_client_share_one_lookup(world: &World) {
    let sent = (0..CONCURRENCY).map(|i| {
        let event = Event::v1(Shape::HttpApi)
            .json_body(&json!({"position": format!("Flight{i}")}))
            .basic("flight-client", &world.secret);
        world.invoke(Invocation::new(&format!("flight-{i}"), event.json))
    });
    for reply in join_all(sent).await {
        assert_eq!(reply.status, 204, "{:?}", reply.body);
    }
    assert_eq!(
        world.lookups.lock().unwrap().get("flight-client"),
        Some(&1),
        "{CONCURRENCY} first requests of one client made one clients-table lookup"
    );
    world.logs.take();
    world.metrics_lines();
}

async fn a_panic_answers_500_for_its_own_request_alone(world: &World) {
    let before = world.env.demo_v1().await;
    world.api.reset_peak();
    let mut panicking = Event::v1(Shape::RestApi)
        .json_body(&json!({"position": "Never"}))
        .basic("panicking-client", &world.secret);
    panicking.json["requestContext"]["requestId"] = json!("gateway-panic");
    let panics = world.invoke(Invocation::new("lambda-panic", panicking.json));
    let others = join_all((0..CONCURRENCY - 1).map(|i| {
        let event = v2_city(&format!("Beside{i}"), &format!("gateway-beside-{i}"));
        world.invoke(Invocation::new(&format!("beside-{i}"), event))
    }));
    let (panicked, others) = tokio::join!(panics, others);

    assert_eq!(panicked.status, 500);
    assert!(
        panicked.wire.get("multiValueHeaders").is_some(),
        "a REST API answer"
    );
    let problem = panicked.problem();
    assert_eq!(problem["requestId"], "gateway-panic");
    for (i, reply) in others.iter().enumerate() {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(record(reply)["City"], json!(format!("Beside{i}")));
    }
    // Counted as a 5xx of its route, under its own ids.
    let metrics = world.metrics_lines();
    let counted: Vec<&Json> = metrics
        .iter()
        .filter(|m| m["requestId"] == "lambda-panic")
        .collect();
    assert_eq!(counted.len(), 1, "{metrics:#?}");
    assert_eq!(counted[0]["Status5xx"], 1);
    assert_eq!(counted[0]["Route"], "contacts-v1");
    let after = world.env.demo_v1().await;
    assert_eq!(
        changed_attributes(&before, &after),
        Vec::<String>::new(),
        "the panicking request wrote nothing"
    );
    // The panic is logged, in its own invocation's span, without its message.
    let lines = world.logs.take();
    let panic_lines: Vec<&Json> = lines
        .iter()
        .filter(|l| l["message"] == "panic" || l["fields"]["message"] == "panic")
        .collect();
    assert_eq!(panic_lines.len(), 1, "{lines:#?}");
    let span = invocation_span(panic_lines[0]).expect("the panic is in its invocation's span");
    assert_eq!(span["requestId"], "lambda-panic");
    assert!(!lines
        .iter()
        .any(|l| l.to_string().contains("a defect met while looking up")));

    // Every worker still serves.
    world.api.reset_peak();
    let again = join_all((0..CONCURRENCY).map(|i| {
        let event = v2_city(&format!("After{i}"), &format!("gateway-after-{i}"));
        world.invoke(Invocation::new(&format!("after-{i}"), event))
    }))
    .await;
    assert!(again.iter().all(|r| r.status == 200));
    assert_eq!(world.api.peak_open(), CONCURRENCY);
    let metrics = world.metrics_lines();
    let ids: BTreeSet<&str> = metrics
        .iter()
        .filter_map(|m| m["requestId"].as_str())
        .collect();
    assert!(ids.contains("after-0"), "{metrics:#?}");
}

/// What the function logs when processing an invocation failed after its handler ran.
const POST_FAILED: &str = "processing the invocation failed; its worker goes on";

/// Every worker's response post fails (the connection closes unanswered): each failure is
/// logged in its invocation's span, and every worker goes on serving.
async fn failed_response_posts_leave_every_worker_serving(world: &World) {
    world.logs.take();
    world.api.fail_response_posts(CONCURRENCY);
    let lost = join_all((0..CONCURRENCY).map(|i| {
        let event = v2_city(&format!("Lost{i}"), &format!("gateway-lost-{i}"));
        world.invoke(Invocation::new(&format!("lost-post-{i}"), event))
    }))
    .await;
    assert!(lost.iter().all(|r| r.status == 200));
    world.api.reset_peak();
    let again = join_all((0..2 * CONCURRENCY).map(|i| {
        let event = v2_city(&format!("Posted{i}"), &format!("gateway-posted-{i}"));
        world.invoke(Invocation::new(&format!("posted-{i}"), event))
    }))
    .await;
    assert!(again.iter().all(|r| r.status == 200));
    assert_eq!(
        world.api.peak_open(),
        CONCURRENCY,
        "every worker still serves"
    );
    let lines = world.logs.take();
    let failures: Vec<&Json> = lines
        .iter()
        .filter(|l| {
            [&l["message"], &l["fields"]["message"]]
                .iter()
                .any(|m| m.as_str() == Some(POST_FAILED))
        })
        .collect();
    assert_eq!(failures.len(), CONCURRENCY, "{lines:#?}");
    for line in failures {
        let span = invocation_span(line).expect("in its invocation's span");
        assert!(span["requestId"]
            .as_str()
            .is_some_and(|id| id.starts_with("lost-post-")));
    }
}
