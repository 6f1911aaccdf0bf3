//! A local stand-in for API Gateway's HTTP API: HTTP/1.1 on 127.0.0.1 at the published paths
//! (`/v1/persons/{id}`, `/api/v2/persons/{id}`) → an HTTP API (payload 2.0) event → the
//! function → the HTTP response.
//!
//! Two ways to reach the function:
//! - in process (the contract test): the function's own event adapter and handler, against
//!   DynamoDB Local from the standard AWS configuration;
//! - `--forward URL` (`make run`): the event is invoked on `cargo lambda watch` at URL, which
//!   rebuilds the function when the code changes; requests for `/lambda-url/…` and the
//!   invoke API (`/2015-03-31/…`) are passed to it as they are, so function-URL requests and
//!   `cargo lambda invoke` (`make invoke`) keep working on the same port.
//!
//! Unlike `cargo lambda watch`'s own HTTP front, it hands every body to the function
//! base64-encoded, as API Gateway does with binary payloads, so a body that is not UTF-8
//! reaches the function (which answers 400) instead of failing in the emulator. Usage:
//! `cargo run --example local_gateway -- 127.0.0.1:9123 [--forward http://127.0.0.1:9001]`.

// The handler's future, spawned per connection, nests deeper than the default limit lets
// the compiler lay out (as in src/main.rs).
#![recursion_limit = "256"]

use std::sync::Arc;

use base64::Engine;
use lambda_http::Context;
use person_patch::auth::Authenticator;
use person_patch::http::app::App;
use person_patch::http::entry::handle_raw_event;
use person_patch::ops::aws::SdkSettings;
use person_patch::ops::config::Config;
use person_patch::store::clients::ClientDirectory;
use person_patch::store::dynamo::DynamoPersonStore;
use serde_json::{json, Map, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const MAX_BODY: usize = 10 * 1024 * 1024;

/// Where events go.
enum Target {
    InProcess(Box<App<DynamoPersonStore>>),
    /// `host:port` of `cargo lambda watch`.
    Forward(String),
}

/// The function's name in `cargo lambda watch`.
const FUNCTION: &str = "person-patch";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9123".into());
    let forward = args
        .iter()
        .position(|a| a == "--forward")
        .and_then(|i| args.get(i + 1))
        .map(|url| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        });
    let target = match forward {
        Some(upstream) => Target::Forward(upstream),
        None => {
            let config = Config::from_env()?;
            let sdk = SdkSettings::default().load().await;
            let client = aws_sdk_dynamodb::Client::new(&sdk);
            Target::InProcess(Box::new(App::new(
                DynamoPersonStore::new(client.clone(), config.persons_table),
                Authenticator::new(ClientDirectory::new(client, config.clients_table)),
            )))
        }
    };
    let target = Arc::new(target);
    let listener = TcpListener::bind(&address).await?;
    eprintln!("local gateway on http://{address}");
    let mut sequence = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        sequence += 1;
        let target = Arc::clone(&target);
        tokio::spawn(async move {
            let _ = serve(stream, target, sequence).await;
        });
    }
}

/// One HTTP/1.1 exchange with `host:port`, the connection closed after it: the status line's
/// code, the headers and the body.
async fn exchange(
    upstream: &str,
    request: &[u8],
) -> std::io::Result<(u16, Vec<(String, String)>, Vec<u8>)> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.write_all(request).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(502);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body);
    }
    Ok((status, headers, body))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = data.get(end + 2 + size + 2..).unwrap_or_default();
    }
}

/// Invokes the function on `cargo lambda watch` with `event`; its response object.
async fn invoke(upstream: &str, event: &Json) -> Json {
    let body = event.to_string();
    let request = format!(
        "POST /2015-03-31/functions/{FUNCTION}/invocations HTTP/1.1\r\nhost: {upstream}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    match exchange(upstream, request.as_bytes()).await {
        Ok((200, _, body)) => serde_json::from_slice(&body).unwrap_or(Json::Null),
        Ok((status, _, body)) => json!({
            "statusCode": 502,
            "headers": {"content-type": "text/plain"},
            "body": format!("the function could not be invoked ({status}): {}", String::from_utf8_lossy(&body)),
        }),
        Err(error) => json!({
            "statusCode": 502,
            "headers": {"content-type": "text/plain"},
            "body": format!("cargo lambda watch is not answering on {upstream} ({error}); is it still building?"),
        }),
    }
}

async fn serve(
    stream: TcpStream,
    destination: Arc<Target>,
    connection: u64,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let mut count = 0u64;
    loop {
        let mut request_line = String::new();
        if stream.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            return Ok(());
        };
        let (method, target) = (method.to_owned(), target.to_owned());
        let mut headers: Map<String, Json> = Map::new();
        let mut length = 0usize;
        loop {
            let mut raw = Vec::new();
            stream.read_until(b'\n', &mut raw).await?;
            let line = String::from_utf8_lossy(&raw).trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().to_owned();
                if name == "content-length" {
                    length = value.parse().unwrap_or(0).min(MAX_BODY);
                }
                // HTTP APIs join repeated headers with commas.
                let joined = match headers.get(&name).and_then(Json::as_str) {
                    Some(existing) => format!("{existing},{value}"),
                    None => value,
                };
                headers.insert(name, json!(joined));
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        count += 1;

        // Function-URL requests and the invoke API go to `cargo lambda watch` as they are.
        if let Target::Forward(upstream) = &*destination {
            if target_is_passed_through(&target_path(&request_line)) {
                let mut raw = format!("{method} {} HTTP/1.1\r\n", request_target(&request_line));
                for (name, value) in &headers {
                    if name != "connection" {
                        raw.push_str(&format!("{name}: {}\r\n", value.as_str().unwrap_or("")));
                    }
                }
                raw.push_str("connection: close\r\n\r\n");
                let mut message = raw.into_bytes();
                message.extend_from_slice(&body);
                let (status, response_headers, response_body) =
                    match exchange(upstream, &message).await {
                        Ok(answer) => answer,
                        Err(_) => (
                            502,
                            Vec::new(),
                            b"cargo lambda watch is not answering".to_vec(),
                        ),
                    };
                let response = json!({
                    "statusCode": status,
                    "headers": response_headers
                        .into_iter()
                        .filter(|(k, _)| k != "content-length" && k != "transfer-encoding" && k != "connection")
                        .map(|(k, v)| (k, Json::String(v)))
                        .collect::<Map<String, Json>>(),
                    "body": base64::engine::general_purpose::STANDARD.encode(&response_body),
                    "isBase64Encoded": true,
                });
                write_response(stream.get_mut(), &response).await?;
                continue;
            }
        }

        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let request_id = format!("local-{connection}-{count}");
        let event = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "domainName": "127.0.0.1",
                "domainPrefix": "local",
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
                "requestId": request_id,
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Jan/2026:00:00:00 +0000",
                "timeEpoch": 0
            },
            "body": base64::engine::general_purpose::STANDARD.encode(&body),
            "isBase64Encoded": true
        });
        let response = match &*destination {
            Target::InProcess(app) => {
                let mut context = Context::default();
                context.request_id = request_id;
                let handled = handle_raw_event(app, &event.to_string(), context).await;
                // What the Lambda runtime does once the response is posted.
                if let Some(pending) = handled.pending {
                    pending.finish(&app.store).await;
                }
                serde_json::to_value(handled.response).unwrap_or(Json::Null)
            }
            Target::Forward(upstream) => invoke(upstream, &event).await,
        };
        write_response(stream.get_mut(), &response).await?;
    }
}

/// The path of a request line's target.
fn target_path(request_line: &str) -> String {
    let target = request_target(request_line);
    target.split('?').next().unwrap_or("").to_owned()
}

fn request_target(request_line: &str) -> &str {
    request_line.split_whitespace().nth(1).unwrap_or("/")
}

fn target_is_passed_through(path: &str) -> bool {
    path.starts_with("/lambda-url/") || path.starts_with("/2015-03-31/")
}

async fn write_response(stream: &mut TcpStream, response: &Json) -> std::io::Result<()> {
    let status = response["statusCode"].as_u64().unwrap_or(502);
    let body = match (
        response["body"].as_str(),
        response["isBase64Encoded"].as_bool(),
    ) {
        (Some(text), Some(true)) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default(),
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, _) => Vec::new(),
    };
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    let mut add = |name: &str, value: &str| head.push_str(&format!("{name}: {value}\r\n"));
    if let Some(map) = response["headers"].as_object() {
        for (name, value) in map {
            if let Some(value) = value.as_str() {
                add(name, value);
            }
        }
    }
    if let Some(map) = response["multiValueHeaders"].as_object() {
        for (name, values) in map {
            for value in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
            {
                add(name, value);
            }
        }
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut message = head.into_bytes();
    message.extend_from_slice(&body);
    stream.write_all(&message).await
}

fn reason(status: u64) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
