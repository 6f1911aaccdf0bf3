//! Test harness: AWS's DynamoDB Local, fresh tables per test, and real API Gateway events
//! (the fixtures under `events/`, made with `sam local generate-event`) sent through the
//! function's own event adapter.
//!
//! DynamoDB Local is the one named by `AWS_ENDPOINT_URL_DYNAMODB` when set (as `make test`
//! does), else one this harness starts on a free 127.0.0.1 port for the test binary. A test
//! that cannot reach it fails with the reason; none is ever skipped.

#![allow(dead_code)]

pub mod eventbridge;
pub mod fault_proxy;
pub mod runtime_api;
pub mod streams;

use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use base64::Engine;
use lambda_http::Context;
use person_patch::admin;
use person_patch::auth::Authenticator;
use person_patch::http::app::App;
use person_patch::http::entry::handle_raw_event;
use person_patch::http::idempotency::pending::PendingAnswer;
use person_patch::ops::aws::SdkSettings;
use person_patch::store::clients::ClientDirectory;
use person_patch::store::dynamo::DynamoPersonStore;
use person_patch::store::item::person_item;
use person_patch::store::tables::Tables;
use person_patch::store::PersonKey;
use person_patch::table::CustomerId;
use serde_json::{json, Value as Json};

pub const DEMO_V1: &str = person_patch::dialect::demo::DEMO_V1_PERSON;
/// The Contacts v1 fields that null or "" unsets (docs/API.md §5), stated here independently of
/// the field table the code uses.
pub const V1_NULLABLE: &[&str] = &[
    "title",
    "mobile",
    "landline",
    "extension",
    "position",
    "department",
];

/// The attributes every update stamps besides the fields it was given (the time, the
/// principal and the request's write id).
pub const STAMPED: &[&str] = &["updatedAt", "updatedBy", "lastWriteId"];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The DynamoDB Local endpoint, started on first use.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(url) if !url.is_empty() => url,
        _ => start_dynamodb_local(),
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port for DynamoDB Local")
}

/// Starts DynamoDB Local for this test process. The launcher shell waits on a pipe from this
/// process and stops Java when the pipe closes, i.e. when the tests end, however they end.
fn start_dynamodb_local() -> String {
    let port = free_port();
    let log_path = repo_root()
        .join("target")
        .join(format!("dynamodb-local-{port}.log"));
    let log = std::fs::File::create(&log_path).expect("cannot create the DynamoDB Local log");
    let script = repo_root().join("scripts").join("dynamodb-local");
    let child = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" "$1" & pid=$!; trap 'kill $pid 2>/dev/null' EXIT; read -r _ || true"#)
        .arg(&script)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", script.display()));
    // Keep the pipe (and so DynamoDB Local) open for the life of the test process.
    Box::leak(Box::new(child));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let mut text = String::new();
            let _ = std::fs::File::open(&log_path).and_then(|mut f| f.read_to_string(&mut text));
            panic!(
                "DynamoDB Local did not start on 127.0.0.1:{port} within 60 s \
                 (is `make tools` done?). Its log, {}:\n{text}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

/// A DynamoDB client for DynamoDB Local (its access key id may hold only letters and digits).
pub fn client() -> Client {
    client_for(endpoint(), &SdkSettings::default())
}

/// A client for `endpoint` with the function's retry and timeout settings.
pub fn client_for(endpoint: &str, settings: &SdkSettings) -> Client {
    Client::from_conf(config_for(endpoint, settings).build())
}

/// The configuration of [`client_for`], to build on.
pub fn config_for(endpoint: &str, settings: &SdkSettings) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .endpoint_url(endpoint)
        .retry_config(settings.retry_config())
        .timeout_config(settings.timeout_config())
}

static TABLE_SEQUENCE: AtomicUsize = AtomicUsize::new(0);

/// Fresh tables with the demo data, and the function's app over them.
pub struct TestEnv {
    pub client: Client,
    pub persons_table: String,
    pub clients_table: String,
    pub app: App<DynamoPersonStore>,
}

/// An invocation context whose deadline is `in_ms` from now.
pub fn context_with_deadline(in_ms: u64) -> Context {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut context = Context::default();
    context.deadline = now + in_ms;
    context.request_id = "deadline-test".into();
    context
}

/// One event through the function's event adapter, as JSON text, as the runtime hands it
/// over: the reply, and the answer the request left to save once the reply is posted.
async fn send_to(
    app: &App<DynamoPersonStore>,
    event: &Event,
    context: Context,
) -> (Reply, Option<PendingAnswer>) {
    let text = serde_json::to_string(&event.json).expect("the event serializes");
    // On the heap, as the runtime spawns it: a test's own future stays small on its stack.
    let handled = Box::pin(handle_raw_event(app, &text, context)).await;
    let reply =
        Reply::from_wire(serde_json::to_value(handled.response).expect("response serializes"));
    (reply, handled.pending)
}

/// Finishes what a request left for after its response, as the runtime's outermost layer does.
pub async fn after_response(app: &App<DynamoPersonStore>, pending: Option<PendingAnswer>) {
    if let Some(pending) = pending {
        pending.finish(&app.store).await;
    }
}

impl TestEnv {
    pub async fn new() -> TestEnv {
        TestEnv::build(client()).await
    }

    /// An environment whose function reaches DynamoDB Local through a fault-injecting proxy
    /// with these SDK settings; set-up and inspection go direct.
    pub async fn with_faults(settings: SdkSettings) -> (TestEnv, fault_proxy::FaultProxy) {
        let proxy = fault_proxy::FaultProxy::start(endpoint()).await;
        let mut env = TestEnv::build(client()).await;
        let faulty = client_for(&proxy.endpoint, &settings);
        env.app = App::new(
            DynamoPersonStore::new(faulty.clone(), env.persons_table.clone()),
            Authenticator::new(ClientDirectory::new(faulty, env.clients_table.clone())),
        );
        (env, proxy)
    }

    async fn build(client: Client) -> TestEnv {
        let n = TABLE_SEQUENCE.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}-{n}", std::process::id());
        let persons_table = format!("persons-{tag}");
        let clients_table = format!("clients-{tag}");
        let tables = Tables::new(client.clone(), &persons_table, &clients_table);
        admin::create_tables(&tables).await.unwrap_or_else(|e| {
            panic!(
                "cannot create tables on DynamoDB Local at {}: {e}",
                endpoint()
            )
        });
        admin::seed_demo(&tables)
            .await
            .expect("cannot seed the demo data");
        let app = App::new(
            DynamoPersonStore::new(client.clone(), persons_table.clone()),
            Authenticator::new(ClientDirectory::new(client.clone(), clients_table.clone())),
        );
        TestEnv {
            client,
            persons_table,
            clients_table,
            app,
        }
    }

    /// This environment's two tables, as the admin tool takes them.
    pub fn tables(&self) -> Tables {
        Tables::new(
            self.client.clone(),
            &self.persons_table,
            &self.clients_table,
        )
    }

    /// A reader of the persons table's stream, from its beginning.
    pub async fn stream_reader(&self) -> streams::StreamReader {
        let table = self
            .client
            .describe_table()
            .table_name(&self.persons_table)
            .send()
            .await
            .expect("describe the persons table");
        let arn = table
            .table()
            .and_then(|t| t.latest_stream_arn())
            .expect("the persons table has a stream")
            .to_owned();
        let config = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
                "local", "local", None, None, "tests",
            ))
            .endpoint_url(streams_endpoint().await)
            .build();
        streams::StreamReader::new(aws_sdk_dynamodbstreams::Client::from_conf(config), arn)
    }

    /// Sends a raw event through the function's event adapter, as the Lambda runtime would.
    pub async fn send(&self, event: &Event) -> Reply {
        self.send_with_context(event, Context::default()).await
    }

    /// Sends a raw event with an invocation context (its deadline, request id), as JSON text,
    /// the way the function's runtime loop hands it over.
    pub async fn send_with_context(&self, event: &Event, context: Context) -> Reply {
        let (reply, pending) = send_to(&self.app, event, context).await;
        // As the runtime does once the response is posted.
        after_response(&self.app, pending).await;
        reply
    }

    /// The answer alone, as the caller has it once the runtime posted it, and the work it left
    /// for after the response (see [`after_response`]), which is the test's to run.
    pub async fn answer_only(&self, event: &Event) -> (Reply, Option<PendingAnswer>) {
        send_to(&self.app, event, Context::default()).await
    }

    /// Another container of the function on the same tables (straight to DynamoDB Local).
    pub fn another_container(&self) -> App<DynamoPersonStore> {
        App::new(
            DynamoPersonStore::new(self.client.clone(), self.persons_table.clone()),
            Authenticator::new(ClientDirectory::new(
                self.client.clone(),
                self.clients_table.clone(),
            )),
        )
    }

    /// Sends an event to `container`, then its work after the response.
    pub async fn send_to_container(
        &self,
        container: &App<DynamoPersonStore>,
        event: &Event,
    ) -> Reply {
        let (reply, pending) = send_to(container, event, Context::default()).await;
        after_response(container, pending).await;
        reply
    }

    /// The stored person, read consistently.
    pub async fn stored(
        &self,
        customer: i64,
        person: &str,
    ) -> Option<HashMap<String, AttributeValue>> {
        let key = PersonKey::new(
            CustomerId(customer),
            admin::parse_person_id(person).expect("a valid person id"),
        );
        self.tables()
            .persons()
            .stored_item(&key)
            .await
            .expect("get-person")
    }

    pub async fn demo_v2(&self) -> HashMap<String, AttributeValue> {
        self.stored(14532, "16")
            .await
            .expect("the demo v2 person exists")
    }

    pub async fn demo_v1(&self) -> HashMap<String, AttributeValue> {
        self.stored(14532, DEMO_V1)
            .await
            .expect("the demo person exists")
    }

    /// Creates an API client in this environment's clients table.
    pub async fn create_client(&self, id: &str, secret: &str, customers: &[i64], scopes: &[&str]) {
        let customers: Vec<CustomerId> = customers.iter().copied().map(CustomerId).collect();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        admin::create_client(&self.tables(), id, secret, &customers, &scopes)
            .await
            .expect("create-client");
    }

    pub async fn disable_client(&self, id: &str) {
        admin::disable_client(&self.tables(), id)
            .await
            .expect("disable-client");
    }

    /// Writes one item into the persons table.
    pub async fn put_item(&self, item: HashMap<String, AttributeValue>) {
        self.client
            .put_item()
            .table_name(&self.persons_table)
            .set_item(Some(item))
            .send()
            .await
            .expect("put item");
    }

    /// Writes the demo v1 person as another tool would: without the `customFields` map.
    pub async fn put_legacy_v1_person(&self) {
        let mut legacy = demo_v1_item();
        legacy.remove("customFields");
        self.put_item(legacy).await;
    }

    /// Writes a copy of the demo v1 person under another customer and id.
    pub async fn put_v1_person(&self, customer: i64, id: &str) {
        let mut item = demo_v1_item();
        item.insert(
            "pk".into(),
            AttributeValue::S(person_patch::table::customer_key(CustomerId(customer))),
        );
        item.insert(
            "sk".into(),
            AttributeValue::S(person_patch::table::person_key(id)),
        );
        item.insert("id".into(), AttributeValue::S(id.into()));
        self.put_item(item).await;
    }

    /// How many items the persons table holds.
    pub async fn item_count(&self) -> usize {
        let out = self
            .client
            .scan()
            .table_name(&self.persons_table)
            .consistent_read(true)
            .send()
            .await
            .expect("scan");
        out.items.unwrap_or_default().len()
    }
}

/// The response as API Gateway would receive it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names lowercased; repeated headers joined with ", ".
    pub headers: HashMap<String, String>,
    pub body: Option<String>,
    pub wire: Json,
}

impl Reply {
    pub fn from_wire(wire: Json) -> Reply {
        let status = wire["statusCode"].as_u64().expect("statusCode") as u16;
        let mut headers = HashMap::new();
        if let Some(map) = wire["headers"].as_object() {
            for (name, value) in map {
                headers.insert(
                    name.to_ascii_lowercase(),
                    value.as_str().unwrap_or("").to_owned(),
                );
            }
        }
        if let Some(map) = wire["multiValueHeaders"].as_object() {
            for (name, values) in map {
                let joined: Vec<&str> = values
                    .as_array()
                    .map(|v| v.iter().filter_map(Json::as_str).collect())
                    .unwrap_or_default();
                headers.insert(name.to_ascii_lowercase(), joined.join(", "));
            }
        }
        assert_ne!(wire["isBase64Encoded"], json!(true), "responses are text");
        let body = wire["body"].as_str().map(str::to_owned);
        Reply {
            status,
            headers,
            body,
            wire,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The problem+json body, checked for the members every problem carries.
    pub fn problem(&self) -> Json {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "not a problem: {self:?}"
        );
        let body: Json = serde_json::from_str(self.body.as_deref().expect("a problem has a body"))
            .expect("problem body is JSON");
        for member in ["type", "title", "status", "detail", "instance", "requestId"] {
            assert!(body.get(member).is_some(), "problem lacks {member}: {body}");
        }
        assert_eq!(body["status"], json!(self.status));
        body
    }
}

/// Which API Gateway payload a fixture is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    HttpApi,
    RestApi,
}

pub const SHAPES: [Shape; 2] = [Shape::HttpApi, Shape::RestApi];

/// An API Gateway event, loaded from a fixture and adjusted by the test.
#[derive(Debug, Clone)]
pub struct Event {
    pub json: Json,
    pub shape: Shape,
}

pub fn load_fixture(relative: &str) -> Json {
    let path = repo_root().join("events").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

impl Event {
    /// The Contacts v1 fixture of this shape: PATCH of the demo person for customer 14532.
    pub fn v1(shape: Shape) -> Event {
        let file = match shape {
            Shape::HttpApi => "v1/http-api-patch.json",
            Shape::RestApi => "v1/rest-api-patch.json",
        };
        Event {
            json: load_fixture(file),
            shape,
        }
    }

    /// The Persons v2 fixture of this shape: the seed 003 curl (all 23 fields) for person 16.
    pub fn v2(shape: Shape) -> Event {
        let file = match shape {
            Shape::HttpApi => "v2/http-api-patch.json",
            Shape::RestApi => "v2/rest-api-patch.json",
        };
        Event {
            json: load_fixture(file),
            shape,
        }
    }

    /// The body as the fixture carries it, decoded.
    pub fn body_text(&self) -> String {
        let raw = self.json["body"].as_str().unwrap_or("");
        if self.json["isBase64Encoded"] == json!(true) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .expect("base64");
            String::from_utf8(bytes).expect("UTF-8")
        } else {
            raw.to_owned()
        }
    }

    pub fn v2_person(self, id: &str) -> Event {
        self.path(&format!("/api/v2/persons/{id}"))
    }

    /// Sets the path (without a stage) and, consistently, the `personId` path parameter
    /// when the path has the route's shape.
    pub fn path(mut self, path: &str) -> Event {
        let id = path.rsplit('/').next().unwrap_or("").to_owned();
        match self.shape {
            Shape::HttpApi => {
                self.json["rawPath"] = json!(path);
                self.json["requestContext"]["http"]["path"] = json!(path);
            }
            Shape::RestApi => {
                self.json["path"] = json!(path);
                let stage = self.json["requestContext"]["stage"]
                    .as_str()
                    .unwrap_or("prod")
                    .to_owned();
                self.json["requestContext"]["path"] = json!(format!("/{stage}{path}"));
            }
        }
        self.json["pathParameters"] = json!({ "personId": id });
        self
    }

    pub fn person(self, id: &str) -> Event {
        self.path(&format!("/v1/persons/{id}"))
    }

    pub fn without_path_parameters(mut self) -> Event {
        self.json["pathParameters"] = Json::Null;
        self
    }

    pub fn method(mut self, method: &str) -> Event {
        match self.shape {
            Shape::HttpApi => self.json["requestContext"]["http"]["method"] = json!(method),
            Shape::RestApi => {
                self.json["httpMethod"] = json!(method);
                self.json["requestContext"]["httpMethod"] = json!(method);
            }
        }
        self
    }

    /// A plain-text body.
    pub fn body(mut self, text: &str) -> Event {
        self.json["body"] = json!(text);
        self.json["isBase64Encoded"] = json!(false);
        self
    }

    pub fn json_body(self, body: &Json) -> Event {
        self.body(&body.to_string())
    }

    /// A body as API Gateway sends binary media: base64 with the flag set.
    pub fn base64_body(mut self, bytes: &[u8]) -> Event {
        self.json["body"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.json["isBase64Encoded"] = json!(true);
        self
    }

    /// A body field as sent, flag and all (for bodies that are not valid base64).
    pub fn raw_body(mut self, body: &str, is_base64_encoded: bool) -> Event {
        self.json["body"] = json!(body);
        self.json["isBase64Encoded"] = json!(is_base64_encoded);
        self
    }

    pub fn no_body(mut self) -> Event {
        self.json["body"] = Json::Null;
        self.json["isBase64Encoded"] = json!(false);
        self
    }

    /// Replaces a header (matched case-insensitively).
    pub fn header(self, name: &str, value: &str) -> Event {
        self.headers(name, &[value])
    }

    /// Sets a header to several values (REST APIs keep them apart; HTTP APIs join them).
    pub fn headers(mut self, name: &str, values: &[&str]) -> Event {
        self = self.without_header(name);
        match self.shape {
            Shape::HttpApi => {
                self.json["headers"][name.to_ascii_lowercase()] = json!(values.join(","));
            }
            Shape::RestApi => {
                if let Some(last) = values.last() {
                    self.json["headers"][name] = json!(last);
                }
                self.json["multiValueHeaders"][name] = json!(values);
            }
        }
        self
    }

    pub fn without_header(mut self, name: &str) -> Event {
        for map in ["headers", "multiValueHeaders"] {
            if let Some(object) = self.json[map].as_object_mut() {
                object.retain(|k, _| !k.eq_ignore_ascii_case(name));
            }
        }
        self
    }

    /// Basic credentials for `client_id:secret`.
    pub fn basic(self, client_id: &str, secret: &str) -> Event {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
        self.header("Authorization", &format!("Basic {token}"))
    }

    /// An API Gateway JWT authorizer context: `jwt.claims` / `jwt.scopes` for HTTP APIs,
    /// `authorizer.claims` (with a space-separated `scope` claim) for REST APIs.
    pub fn verified_jwt(mut self, claims: Json, scopes: &[&str]) -> Event {
        self = self.header("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
        match self.shape {
            Shape::HttpApi => {
                self.json["requestContext"]["authorizer"] = json!({
                    "jwt": { "claims": claims, "scopes": scopes }
                });
            }
            Shape::RestApi => {
                let mut claims = claims;
                if !scopes.is_empty() {
                    claims["scope"] = json!(scopes.join(" "));
                }
                self.json["requestContext"]["authorizer"] = json!({ "claims": claims });
            }
        }
        self
    }

    pub fn request_id(&self) -> &str {
        self.json["requestContext"]["requestId"]
            .as_str()
            .unwrap_or("")
    }
}

/// The attributes of `after` that differ from `before` (added, changed or removed).
pub fn changed_attributes(
    before: &HashMap<String, AttributeValue>,
    after: &HashMap<String, AttributeValue>,
) -> Vec<String> {
    let mut names: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    names.sort();
    names.dedup();
    names
}

pub fn s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

pub fn n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => Some(n.clone()),
        _ => None,
    }
}

/// DynamoDB Local's Streams API, through a proxy that mends its empty-collection images (see
/// [`fault_proxy::Fault::MendEmptyCollections`]).
pub async fn streams_endpoint() -> String {
    let proxy = fault_proxy::FaultProxy::start(endpoint()).await;
    proxy.inject("GetRecords", fault_proxy::Fault::MendEmptyCollections, None);
    proxy.endpoint
}

/// An EventBridge client for `endpoint` (a local stand-in), retrying quickly.
pub fn eventbridge_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let settings = SdkSettings {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(10),
        ..SdkSettings::events()
    };
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "local", "local", None, None, "tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(settings.retry_config())
        .timeout_config(settings.timeout_config())
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// The demo Contacts v1 person's item as the seed writes it.
pub fn demo_v1_item() -> HashMap<String, AttributeValue> {
    let (key, attributes) = admin::demo_v1_person();
    person_item(&key, attributes)
}

/// The demo Persons v2 person's item as the seed writes it.
pub fn demo_v2_item() -> HashMap<String, AttributeValue> {
    let (key, attributes) = admin::demo_v2_person();
    person_item(&key, attributes)
}

/// Text custom field definitions `ids` for the demo customer, and a v1 body setting each of
/// them to 4,000 four-byte characters: 15 of them are about 240 KB of body and of item, so two
/// such bodies take a person past DynamoDB's 400 KB item limit.
pub async fn big_custom_fields(env: &TestEnv, ids: std::ops::Range<i64>) {
    for id in ids {
        admin::put_field_definition(&env.tables(), CustomerId(14532), id, "text", &[], false)
            .await
            .unwrap();
    }
}

/// A v1 event setting the custom fields `ids` to 4,000 four-byte characters each.
pub fn big_values(ids: std::ops::Range<i64>) -> Event {
    let big = "😀".repeat(4000);
    let entries: Vec<Json> = ids
        .map(|id| json!({"definitionId": id, "value": big}))
        .collect();
    Event::v1(Shape::HttpApi).json_body(&json!({ "customFields": entries }))
}

/// Log output, shared with the log subscriber (`init_logging_with_writer`).
#[derive(Clone, Default)]
pub struct CapturedLogs(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Every JSON line written since the last call.
    pub fn take(&self) -> Vec<Json> {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap());
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}
