//! The service as Lambda scales it out (`make load`, and its short form in `tests/load.rs`):
//! function processes, one request at a time each behind its own Runtime API stand-in, PATCH
//! the persons of one customer in fresh tables of DynamoDB Local, most requests on two hot
//! persons, both dialects, plain writes, writes with `If-Match` and writes with an
//! `Idempotency-Key` (each key sent again a little later, to any process), Basic callers with
//! generated secrets and gateway-verified JWT callers. Afterwards it checks, from what every
//! caller saw and what is stored, that no write was lost, doubled or misreported.
//!
//! Everything talks to 127.0.0.1 only: the stand-ins and DynamoDB Local.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use person_patch::admin;
use person_patch::engine::Value;
use person_patch::store::tables::Tables;
use serde_json::{json, Value as Json};

use super::{spawn_with, Launch, RuntimeApi};

/// What a run is.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// The `person-patch` binary.
    pub binary: PathBuf,
    /// DynamoDB Local's endpoint (`http://127.0.0.1:<port>`).
    pub endpoint: String,
    pub processes: usize,
    pub duration: Duration,
    /// Prefix of the run's own tables.
    pub tables: String,
}

/// What a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Plain,
    IfMatch,
    Keyed,
    /// The same keyed request sent again.
    Replay,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Plain, Kind::IfMatch, Kind::Keyed, Kind::Replay];

    pub fn label(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::IfMatch => "If-Match",
            Kind::Keyed => "Idempotency-Key, first send",
            Kind::Replay => "the same key sent again",
        }
    }
}

/// One answer as a caller saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub kind: Kind,
    person: usize,
    pub status: u16,
    etag: Option<u64>,
    if_match: Option<u64>,
    /// The stored attribute the request set, and the value.
    field: (&'static str, String),
    body: Option<String>,
    replayed: bool,
    /// For a replay: the first send's answer.
    first: Option<Box<Seen>>,
    pub millis: f64,
}

/// A run's answers and what its checks found.
#[derive(Debug)]
pub struct LoadReport {
    pub seen: Vec<Seen>,
    pub elapsed: Duration,
    /// Every check that failed, in words; empty when all passed.
    pub failures: Vec<String>,
}

impl LoadReport {
    /// Status counts per kind.
    pub fn status_mix(&self) -> BTreeMap<Kind, BTreeMap<u16, usize>> {
        let mut mix: BTreeMap<Kind, BTreeMap<u16, usize>> = BTreeMap::new();
        for seen in &self.seen {
            *mix.entry(seen.kind)
                .or_default()
                .entry(seen.status)
                .or_default() += 1;
        }
        mix
    }

    /// Latencies of one kind, in milliseconds.
    pub fn millis(&self, kind: Kind) -> Vec<f64> {
        self.seen
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.millis)
            .collect()
    }
}

/// A person of the run: its dialect, path id, key and the two attributes requests set.
#[derive(Debug, Clone)]
struct Person {
    v2: bool,
    id: String,
    sort_key: String,
    fields: [&'static str; 2],
}

/// Who sends a request: a Basic client with a generated secret, or a JWT `client_id`.
#[derive(Debug, Clone)]
enum Caller {
    Basic { id: String, secret: String },
    Jwt { id: String },
}

/// The run's tables, persons and callers.
struct Setup {
    client: aws_sdk_dynamodb::Client,
    persons_table: String,
    clients_table: String,
    persons: Vec<Person>,
    callers: Vec<Caller>,
}

const HOT: [usize; 2] = [0, 4];
const PERSONS: usize = 8;

/// Runs the load and its checks.
pub async fn run(settings: &LoadSettings) -> LoadReport {
    let setup = Arc::new(setup(settings).await);
    let replays = Arc::new(Mutex::new(VecDeque::new()));
    let latest = Arc::new(Mutex::new(vec![1u64; PERSONS]));
    let count = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + settings.duration;
    let mut processes = Vec::new();
    let mut apis = Vec::new();
    let mut workers = Vec::new();
    for worker in 0..settings.processes {
        let api = RuntimeApi::start().await;
        let launch = Launch {
            endpoint: Some(settings.endpoint.clone()),
            env: vec![
                ("PERSONS_TABLE".into(), setup.persons_table.clone()),
                ("CLIENTS_TABLE".into(), setup.clients_table.clone()),
            ],
            cgroup: None,
        };
        processes.push(spawn_with(&settings.binary, api.port, &launch));
        apis.push(Arc::clone(&api));
        let context = Worker {
            number: worker,
            api,
            setup: Arc::clone(&setup),
            replays: Arc::clone(&replays),
            latest: Arc::clone(&latest),
            count: Arc::clone(&count),
            until,
        };
        workers.push(tokio::spawn(context.run()));
    }
    let progress = tokio::spawn(progress(Arc::clone(&count), started, settings.duration));
    let mut seen = Vec::new();
    for worker in workers {
        seen.extend(worker.await.expect("a load worker"));
    }
    progress.abort();
    let elapsed = started.elapsed();
    // Stopped while their stand-ins still hold the next event open.
    for mut process in processes {
        let _ = process.kill();
        let _ = process.wait();
    }
    drop(apis);
    let failures = check(&setup, &seen).await;
    LoadReport {
        seen,
        elapsed,
        failures,
    }
}

/// Fresh tables with the demo data, six more persons and two more generated-secret clients.
async fn setup(settings: &LoadSettings) -> Setup {
    let client = super::local_client(&settings.endpoint);
    let persons_table = format!("{}-persons", settings.tables);
    let clients_table = format!("{}-clients", settings.tables);
    let tables = Tables::new(client.clone(), &persons_table, &clients_table);
    admin::create_tables(&tables).await.expect("tables");
    let generated = admin::seed_demo(&tables).await.expect("demo data");
    let mut callers = vec![
        Caller::Basic {
            id: admin::DEMO_GENERATED_CLIENT_ID.into(),
            secret: generated,
        },
        Caller::Jwt {
            id: admin::DEMO_CLIENT_ID.into(),
        },
    ];
    for n in 0..2 {
        let id = format!("load-client-{n}");
        let secret = person_patch::auth::clients::generate_secret();
        admin::create_client(
            &tables,
            &id,
            &secret,
            &[person_patch::dialect::demo::DEMO_CUSTOMER],
            &[person_patch::auth::WRITE_SCOPE.to_owned()],
        )
        .await
        .expect("a load client");
        callers.push(Caller::Basic {
            id: id.clone(),
            secret,
        });
        callers.push(Caller::Jwt { id });
    }
    let persons = add_persons(&tables).await;
    Setup {
        client,
        persons_table,
        clients_table,
        persons,
        callers,
    }
}

/// The demo persons and three more of each dialect, stored.
async fn add_persons(tables: &Tables) -> Vec<Person> {
    let mut persons = Vec::new();
    for n in 0..PERSONS / 2 {
        let id = if n == 0 {
            person_patch::dialect::demo::DEMO_V1_PERSON.to_owned()
        } else {
            uuid::Uuid::from_u128(0x1000 + n as u128).to_string()
        };
        persons.push(Person {
            v2: false,
            sort_key: person_patch::table::person_key(&id),
            id,
            fields: ["position", "department"],
        });
    }
    for n in 0..PERSONS / 2 {
        let id = (person_patch::dialect::demo::DEMO_V2_PERSON + n as i32).to_string();
        persons.push(Person {
            v2: true,
            sort_key: person_patch::table::person_key(&id),
            id,
            fields: ["City", "JobTitle"],
        });
    }
    let store = tables.persons();
    for person in &persons {
        let ((mut key, mut attributes), id) = if person.v2 {
            (admin::demo_v2_person(), Value::N(person.id.clone()))
        } else {
            (admin::demo_v1_person(), Value::S(person.id.clone()))
        };
        let id_attribute = if person.v2 { "ID" } else { "id" };
        attributes.insert(id_attribute.into(), id);
        key.person = person.id.clone();
        store
            .put_person(&key, attributes)
            .await
            .expect("a load person");
    }
    persons
}

/// A keyed request to send again, once due.
struct Replay {
    event: Json,
    first: Seen,
    due: Instant,
}

/// One caller bound to one function process.
struct Worker {
    number: usize,
    api: Arc<RuntimeApi>,
    setup: Arc<Setup>,
    replays: Arc<Mutex<VecDeque<Replay>>>,
    /// The newest version any caller saw of each person (what `If-Match` sends).
    latest: Arc<Mutex<Vec<u64>>>,
    count: Arc<AtomicUsize>,
    until: Instant,
}

impl Worker {
    async fn run(self) -> Vec<Seen> {
        let mut random = Random(0x9E37_79B9_7F4A_7C15 ^ ((self.number as u64 + 1) * 0x2545_F491));
        let mut seen = Vec::new();
        let mut sequence = 0usize;
        while Instant::now() < self.until {
            sequence += 1;
            let request_id = format!("load-{}-{sequence}", self.number);
            let due = {
                let mut queue = self.replays.lock().expect("replays");
                match queue.front() {
                    Some(replay) if replay.due <= Instant::now() => queue.pop_front(),
                    _ => None,
                }
            };
            let answer = match due {
                Some(replay) => {
                    let mut event = replay.event;
                    set_request_id(&mut event, &request_id);
                    let mut answer = self.send(&request_id, &event, replay.first.clone()).await;
                    answer.kind = Kind::Replay;
                    answer.first = Some(Box::new(replay.first));
                    answer
                }
                None => {
                    let (event, kind, first) = self.request(&mut random, &request_id, sequence);
                    let answer = self.send(&request_id, &event, first).await;
                    if kind == Kind::Keyed {
                        self.replays.lock().expect("replays").push_back(Replay {
                            event,
                            first: answer.clone(),
                            due: Instant::now() + Duration::from_millis(20),
                        });
                    }
                    answer
                }
            };
            if let Some(version) = answer.etag {
                let mut latest = self.latest.lock().expect("latest");
                latest[answer.person] = latest[answer.person].max(version);
            }
            self.count.fetch_add(1, Ordering::Relaxed);
            seen.push(answer);
        }
        // The process finishes its last answer's record before it asks for the next event.
        let _ = tokio::time::timeout(Duration::from_secs(10), self.api.first_next()).await;
        seen
    }

    /// A new request: the event, its kind, and what is known of it before it is sent.
    fn request(
        &self,
        random: &mut Random,
        request_id: &str,
        sequence: usize,
    ) -> (Json, Kind, Seen) {
        let person = if random.below(10) < 8 {
            HOT[random.below(2)]
        } else {
            random.below(PERSONS)
        };
        let kind = match random.below(4) {
            0 | 1 => Kind::Plain,
            2 => Kind::IfMatch,
            _ => Kind::Keyed,
        };
        let target = &self.setup.persons[person];
        let field = target.fields[random.below(2)];
        let value = format!("w{}-{sequence}", self.number);
        let caller = &self.setup.callers[random.below(self.setup.callers.len())];
        let mut event = base_event(target, caller, request_id);
        let body = json!({ field: value }).to_string();
        event["body"] = json!(body);
        let if_match = (kind == Kind::IfMatch).then(|| self.latest.lock().expect("latest")[person]);
        if let Some(version) = if_match {
            set_header(&mut event, "If-Match", &format!("\"{version}\""));
        }
        if kind == Kind::Keyed {
            set_header(
                &mut event,
                "Idempotency-Key",
                &format!("\"load-{}-{sequence}\"", self.number),
            );
        }
        let sent = Seen {
            kind,
            person,
            status: 0,
            etag: None,
            if_match,
            field: (field, value),
            body: None,
            replayed: false,
            first: None,
            millis: 0.0,
        };
        (event, kind, sent)
    }

    /// Sends one event to this worker's process and reads its answer into `sent`.
    async fn send(&self, request_id: &str, event: &Json, mut sent: Seen) -> Seen {
        let bytes = serde_json::to_vec(event).expect("event");
        let handed = self.api.invoke(request_id, &bytes).await;
        let (at, body) = self.api.response(request_id).await;
        let reply: Json = serde_json::from_slice(&body).expect("response JSON");
        // A REST API response may carry its headers in `multiValueHeaders` only.
        let header = |name: &str| {
            let find = |headers: &Json| {
                headers
                    .as_object()
                    .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                    .map(|(_, v)| v.clone())
            };
            match find(&reply["headers"]).or_else(|| find(&reply["multiValueHeaders"])) {
                Some(Json::String(value)) => Some(value),
                Some(Json::Array(values)) => {
                    values.first().and_then(|v| v.as_str()).map(str::to_owned)
                }
                _ => None,
            }
        };
        sent.status = reply["statusCode"].as_u64().unwrap_or(0) as u16;
        sent.etag = header("etag").and_then(|e| e.trim_matches('"').parse().ok());
        sent.replayed = header("idempotent-replayed").as_deref() == Some("true");
        sent.body = (sent.status == 200).then(|| reply["body"].as_str().unwrap_or("").to_owned());
        sent.millis = (at - handed).as_secs_f64() * 1000.0;
        sent
    }
}

/// The event a caller's request arrives as: Contacts v1 through an HTTP API, Persons v2
/// through a REST API.
fn base_event(person: &Person, caller: &Caller, request_id: &str) -> Json {
    let mut event = if person.v2 {
        let path = format!("/api/v2/persons/{}", person.id);
        json!({
            "resource": "/api/v2/persons/{personId}",
            "path": path,
            "httpMethod": "PATCH",
            "headers": {"Content-Type": "application/json", "Host": "id.execute-api.us-east-1.amazonaws.com"},
            "multiValueHeaders": {"Content-Type": ["application/json"], "Host": ["id.execute-api.us-east-1.amazonaws.com"]},
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null,
            "pathParameters": {"personId": person.id},
            "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "resourceId": "r1", "stage": "prod",
                "requestId": request_id, "path": format!("/prod{path}"),
                "resourcePath": "/api/v2/persons/{personId}", "httpMethod": "PATCH",
                "apiId": "api-id", "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "127.0.0.1"}
            }
        })
    } else {
        let path = format!("/v1/persons/{}", person.id);
        json!({
            "version": "2.0",
            "routeKey": "PATCH /v1/persons/{personId}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": "application/json", "customer-id": person_patch::dialect::demo::DEMO_CUSTOMER.0.to_string(), "host": "id.execute-api.us-east-1.amazonaws.com"},
            "pathParameters": {"personId": person.id},
            "isBase64Encoded": false,
            "requestContext": {
                "accountId": "123456789012", "apiId": "api-id",
                "domainName": "id.execute-api.us-east-1.amazonaws.com", "domainPrefix": "id",
                "http": {"method": "PATCH", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "load"},
                "requestId": request_id, "routeKey": "PATCH /v1/persons/{personId}",
                "stage": "$default", "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 1795900000000u64
            }
        })
    };
    match caller {
        Caller::Basic { id, secret } => {
            use base64::Engine;
            let credential =
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            set_header(&mut event, "Authorization", &format!("Basic {credential}"));
        }
        Caller::Jwt { id } => {
            if person.v2 {
                event["requestContext"]["authorizer"] =
                    json!({"claims": {"client_id": id, "scope": person_patch::auth::WRITE_SCOPE}});
            } else {
                event["requestContext"]["authorizer"] = json!({"jwt": {"claims": {"client_id": id}, "scopes": [person_patch::auth::WRITE_SCOPE]}});
            }
            set_header(
                &mut event,
                "Authorization",
                "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
            );
        }
    }
    event
}

fn set_header(event: &mut Json, name: &str, value: &str) {
    let name = if event.get("version").is_some() {
        name.to_ascii_lowercase()
    } else {
        name.to_owned()
    };
    event["headers"][&name] = json!(value);
    if event.get("multiValueHeaders").is_some() {
        event["multiValueHeaders"][&name] = json!([value]);
    }
}

fn set_request_id(event: &mut Json, request_id: &str) {
    event["requestContext"]["requestId"] = json!(request_id);
}

/// A progress line each second: a bar on a terminal, plain lines otherwise.
async fn progress(count: Arc<AtomicUsize>, started: Instant, duration: Duration) {
    let terminal = std::io::stderr().is_terminal();
    let total = duration.as_secs_f64().max(1.0);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let elapsed = started.elapsed().as_secs_f64().min(total);
        let done = count.load(Ordering::Relaxed);
        let filled = ((elapsed / total) * 30.0) as usize;
        let line = format!(
            "load [{}{}] {:>4.0} s / {:.0} s, {done} requests, {:.0}/s",
            "#".repeat(filled),
            " ".repeat(30 - filled.min(30)),
            elapsed,
            total,
            done as f64 / elapsed.max(0.001)
        );
        if terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
    }
}

/// What the answers and the table must agree on; each failure in words.
async fn check(setup: &Setup, seen: &[Seen]) -> Vec<String> {
    let mut failures = Vec::new();
    let server_errors = seen.iter().filter(|s| s.status >= 500).count();
    if server_errors > 0 {
        failures.push(format!("{server_errors} answers were 5xx"));
    }
    // Writes: successes of first sends, and of replays that were not replays.
    let mut writes: Vec<Vec<&Seen>> = vec![Vec::new(); PERSONS];
    for s in seen {
        let wrote = (200..300).contains(&s.status) && !(s.kind == Kind::Replay && s.replayed);
        if wrote {
            writes[s.person].push(s);
        }
        if s.kind == Kind::Replay {
            check_replay(s, &mut failures);
        }
        if s.status == 412 {
            match (s.etag, s.if_match) {
                (Some(current), Some(sent)) if current >= sent => {}
                other => failures.push(format!("a 412 named {other:?} (current, sent)")),
            }
        }
    }
    for (index, person) in setup.persons.iter().enumerate() {
        let stored = stored_person(setup, person).await;
        check_person(person, &stored, &writes[index], &mut failures);
    }
    let unfinished = unfinished_records(setup).await;
    if unfinished > 0 {
        failures.push(format!("{unfinished} idempotency records left unfinished"));
    }
    failures
}

fn check_replay(replay: &Seen, failures: &mut Vec<String>) {
    let Some(first) = replay.first.as_deref() else {
        return;
    };
    let same = replay.status == first.status
        && replay.etag == first.etag
        && replay.body == first.body
        && replay.replayed;
    if !same {
        failures.push(format!(
            "a replay answered {} {:?} (replayed: {}) where the first answered {} {:?}",
            replay.status, replay.etag, replay.replayed, first.status, first.etag
        ));
    }
}

fn check_person(
    person: &Person,
    stored: &HashMap<String, AttributeValue>,
    writes: &[&Seen],
    failures: &mut Vec<String>,
) {
    let mut versions: Vec<u64> = writes.iter().filter_map(|w| w.etag).collect();
    versions.sort_unstable();
    let unique = versions.windows(2).all(|w| w[0] != w[1]);
    if !unique {
        failures.push(format!(
            "person {}: two successes share a version",
            person.id
        ));
    }
    let stored_version = match stored.get("version") {
        Some(AttributeValue::N(n)) => n.parse::<u64>().unwrap_or(0),
        _ => 0,
    };
    let expected: Vec<u64> = (2..=stored_version).collect();
    if versions != expected {
        failures.push(format!(
            "person {}: stored version {stored_version}, {} successes (versions must be 2..={stored_version} without gaps)",
            person.id,
            versions.len()
        ));
    }
    for field in person.fields {
        let last = writes
            .iter()
            .filter(|w| w.field.0 == field)
            .max_by_key(|w| w.etag);
        if let Some(last) = last {
            let value = match stored.get(field) {
                Some(AttributeValue::S(v)) => v.as_str(),
                _ => "",
            };
            if value != last.field.1 {
                failures.push(format!(
                    "person {}: {field} holds {value:?}, the last success set {:?}",
                    person.id, last.field.1
                ));
            }
        }
    }
}

async fn stored_person(setup: &Setup, person: &Person) -> HashMap<String, AttributeValue> {
    setup
        .client
        .get_item()
        .table_name(&setup.persons_table)
        .key(
            "pk",
            AttributeValue::S(person_patch::table::customer_key(
                person_patch::dialect::demo::DEMO_CUSTOMER,
            )),
        )
        .key("sk", AttributeValue::S(person.sort_key.clone()))
        .consistent_read(true)
        .send()
        .await
        .expect("read a person")
        .item
        .unwrap_or_default()
}

/// Idempotency records not `done`.
async fn unfinished_records(setup: &Setup) -> usize {
    let mut unfinished = 0;
    let mut start = None;
    loop {
        let page = setup
            .client
            .query()
            .table_name(&setup.persons_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(person_patch::table::customer_key(
                    person_patch::dialect::demo::DEMO_CUSTOMER,
                )),
            )
            .expression_attribute_values(":prefix", AttributeValue::S("IDEMPOTENCY#".into()))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .expect("query records");
        unfinished += page
            .items()
            .iter()
            .filter(|item| item.get("state") != Some(&AttributeValue::S("done".into())))
            .count();
        start = page.last_evaluated_key;
        if start.is_none() {
            return unfinished;
        }
    }
}

/// A small deterministic generator (xorshift64*), one per worker.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}
