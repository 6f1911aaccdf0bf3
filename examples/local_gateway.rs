//! A local stand-in for API Gateway's HTTP API, for contract tests: HTTP/1.1 on 127.0.0.1 →
//! an HTTP API (payload 2.0) event → the function's own event adapter and handler (against
//! DynamoDB Local, from the standard AWS configuration) → the HTTP response.
//!
//! Unlike `cargo lambda watch`, it hands every body to the function base64-encoded, as API
//! Gateway does with binary payloads, so a body that is not UTF-8 reaches the function (which
//! answers 400) instead of failing in the emulator. Usage:
//! `cargo run --example local_gateway -- 127.0.0.1:9123`.

use std::sync::Arc;

use base64::Engine;
use lambda_http::request::LambdaRequest;
use lambda_http::Context;
use person_patch::auth::Authenticator;
use person_patch::clients::ClientDirectory;
use person_patch::config::Config;
use person_patch::entry::handle_event;
use person_patch::handler::App;
use person_patch::sdk::SdkSettings;
use person_patch::store::DynamoPersonStore;
use serde_json::{json, Map, Value as Json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const MAX_BODY: usize = 10 * 1024 * 1024;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9123".into());
    let config = Config::from_env()?;
    let sdk = SdkSettings::default().load().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let app = Arc::new(App::new(
        DynamoPersonStore::new(client.clone(), config.persons_table),
        Authenticator::new(ClientDirectory::new(client, config.clients_table)),
    ));
    let listener = TcpListener::bind(&address).await?;
    eprintln!("local gateway on http://{address}");
    let mut sequence = 0u64;
    loop {
        let (stream, _) = listener.accept().await?;
        sequence += 1;
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let _ = serve(stream, app, sequence).await;
        });
    }
}

async fn serve(
    stream: TcpStream,
    app: Arc<App<DynamoPersonStore>>,
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
        let response = match serde_json::from_value::<LambdaRequest>(event) {
            Ok(event) => {
                let mut context = Context::default();
                context.request_id = request_id;
                serde_json::to_value(handle_event(&*app, event, context).await)
                    .unwrap_or(Json::Null)
            }
            // API Gateway itself refuses what cannot form an event (e.g. a header it cannot
            // carry).
            Err(_) => {
                json!({"statusCode": 400, "headers": {"content-type": "text/plain"}, "body": "Bad Request"})
            }
        };
        write_response(stream.get_mut(), &response).await?;
    }
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
