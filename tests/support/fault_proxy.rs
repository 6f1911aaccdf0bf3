//! A fault-injecting HTTP/1.1 proxy in front of DynamoDB Local, on 127.0.0.1: the SDK talks
//! to it as to DynamoDB, and a test decides, per DynamoDB operation, whether requests pass,
//! are throttled, fail with a 500, hang, or lose their connection, and whether a request that
//! DynamoDB Local carried out gets its reply lost, late or truncated. It counts every attempt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What happens to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded to DynamoDB Local.
    Pass,
    /// Answered `400 ProvisionedThroughputExceededException`, never forwarded.
    Throttle,
    /// Answered `500 InternalServerError`, never forwarded.
    ServerError,
    /// Never forwarded nor answered; the connection is held open until the client gives up.
    Hang,
    /// Never forwarded; the connection is closed without an answer.
    Drop,
    /// Held this long, then forwarded and answered: a slow request.
    DelayRequest(Duration),
    /// Forwarded (DynamoDB Local carries it out), then the connection is closed without the
    /// reply: a write that committed and whose answer was lost.
    LoseReply,
    /// Forwarded (DynamoDB Local carries it out), and answered
    /// `ProvisionedThroughputExceededException` in place of its reply: what a client that
    /// sends a write again hears when its first sending committed and the next is throttled.
    CommitThenThrottle,
    /// Forwarded, and the reply held back this long before it is passed on (past the SDK's
    /// attempt timeout, the SDK has given up on it by then).
    DelayReply(Duration),
    /// Forwarded, and only the first half of the reply's body passed on, under a
    /// `Content-Length` saying so: an unparsable reply to a request that was carried out.
    Truncate,
    /// Forwarded, and in the reply's stream images every empty collection written as `{}` is
    /// given back its `M` type: DynamoDB Local 3.x leaves the type off empty maps and lists in
    /// `GetRecords` (awslabs/amazon-dynamodb-local-samples#37; DynamoDB itself keeps it), and
    /// the SDK cannot read such a reply. The service only writes empty maps, never lists.
    MendEmptyCollections,
}

/// The kind of item a request names: `person` or `record` (an `Idempotency-Key` record).
fn item_kind(body: &[u8]) -> Option<&'static str> {
    let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if has(b"IDEMPOTENCY#") {
        Some("record")
    } else if has(b"PERSON#") {
        Some("person")
    } else {
        None
    }
}

#[derive(Default)]
struct State {
    /// Per operation (`UpdateItem`, `GetItem`, `Query`, …), or per operation on one kind of
    /// item (`UpdateItem:person`, `UpdateItem:record`, see [`item_kind`]), which is looked up
    /// first: how many requests pass before the fault applies, the fault, and for how many
    /// requests (`None`: for all).
    rules: HashMap<String, (usize, Fault, Option<usize>)>,
    seen: HashMap<String, usize>,
    /// Each request's operation and `X-Amzn-Trace-Id`, in order.
    traces: Vec<(String, Option<String>)>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub endpoint: String,
    upstream: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:port`) on a free local port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let proxy = FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            upstream: upstream.trim_start_matches("http://").to_owned(),
            state: Arc::new(Mutex::new(State::default())),
        };
        let accepting = proxy.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let proxy = accepting.clone();
                tokio::spawn(async move {
                    let _ = proxy.serve(stream).await;
                });
            }
        });
        proxy
    }

    /// Applies `fault` to the next `count` requests of `operation` (all of them for `None`).
    pub fn inject(&self, operation: &str, fault: Fault, count: Option<usize>) {
        self.inject_after(operation, 0, fault, count);
    }

    /// Lets `pass` requests of `operation` through, then applies `fault` to `count` of them.
    pub fn inject_after(&self, operation: &str, pass: usize, fault: Fault, count: Option<usize>) {
        self.state
            .lock()
            .expect("proxy state")
            .rules
            .insert(operation.to_owned(), (pass, fault, count));
    }

    /// How many requests of `operation` reached the proxy.
    pub fn seen(&self, operation: &str) -> usize {
        *self
            .state
            .lock()
            .expect("proxy state")
            .seen
            .get(operation)
            .unwrap_or(&0)
    }

    /// The `X-Amzn-Trace-Id` of each request of `operation` since the last call, in order.
    pub fn take_traces(&self, operation: &str) -> Vec<Option<String>> {
        let mut state = self.state.lock().expect("proxy state");
        std::mem::take(&mut state.traces)
            .into_iter()
            .filter(|(op, _)| op == operation)
            .map(|(_, trace)| trace)
            .collect()
    }

    fn decide(&self, operation: &str, body: &[u8]) -> Fault {
        let mut state = self.state.lock().expect("proxy state");
        *state.seen.entry(operation.to_owned()).or_default() += 1;
        let mut rule_of = operation.to_owned();
        if let Some(kind) = item_kind(body) {
            let refined = format!("{operation}:{kind}");
            *state.seen.entry(refined.clone()).or_default() += 1;
            if state.rules.contains_key(&refined) {
                rule_of = refined;
            }
        }
        match state.rules.get_mut(&rule_of) {
            Some((pass, _, _)) if *pass > 0 => {
                *pass -= 1;
                Fault::Pass
            }
            Some((_, fault, None)) => *fault,
            Some((_, fault, Some(left))) if *left > 0 => {
                *left -= 1;
                *fault
            }
            _ => Fault::Pass,
        }
    }

    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut client = BufReader::new(stream);
        loop {
            let Some((head, body)) = read_message(&mut client).await? else {
                return Ok(());
            };
            let operation = header(&head, "x-amz-target")
                .and_then(|t| t.rsplit('.').next().map(str::to_owned))
                .unwrap_or_default();
            let trace = header(&head, "x-amzn-trace-id").map(str::to_owned);
            self.state
                .lock()
                .expect("proxy state")
                .traces
                .push((operation.clone(), trace));
            let fault = self.decide(&operation, &body);
            if let Fault::DelayRequest(delay) = fault {
                tokio::time::sleep(delay).await;
            }
            match fault {
                Fault::Pass
                | Fault::DelayRequest(_)
                | Fault::LoseReply
                | Fault::CommitThenThrottle
                | Fault::DelayReply(_)
                | Fault::Truncate
                | Fault::MendEmptyCollections => {
                    let mut upstream = BufReader::new(TcpStream::connect(&self.upstream).await?);
                    upstream.get_mut().write_all(head.as_bytes()).await?;
                    upstream.get_mut().write_all(&body).await?;
                    let Some((response_head, response_body)) = read_message(&mut upstream).await?
                    else {
                        return Ok(());
                    };
                    match fault {
                        Fault::LoseReply => return Ok(()),
                        Fault::CommitThenThrottle => {
                            throttled(client.get_mut()).await?;
                            continue;
                        }
                        Fault::DelayReply(delay) => tokio::time::sleep(delay).await,
                        Fault::Truncate => {
                            let half = &response_body[..response_body.len() / 2];
                            let head = with_content_length(&response_head, half.len());
                            client.get_mut().write_all(head.as_bytes()).await?;
                            client.get_mut().write_all(half).await?;
                            continue;
                        }
                        Fault::MendEmptyCollections => {
                            let mended = mend_empty_collections(&response_body);
                            let head = with_content_length(&response_head, mended.len());
                            client.get_mut().write_all(head.as_bytes()).await?;
                            client.get_mut().write_all(&mended).await?;
                            continue;
                        }
                        _ => {}
                    }
                    client.get_mut().write_all(response_head.as_bytes()).await?;
                    client.get_mut().write_all(&response_body).await?;
                }
                Fault::Throttle => throttled(client.get_mut()).await?,
                Fault::ServerError => {
                    respond(
                        client.get_mut(),
                        "500 Internal Server Error",
                        "InternalServerError",
                        "Internal server error",
                    )
                    .await?
                }
                Fault::Hang => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return Ok(());
                }
                Fault::Drop => return Ok(()),
            }
        }
    }
}

async fn throttled(stream: &mut TcpStream) -> std::io::Result<()> {
    respond(
        stream,
        "400 Bad Request",
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    )
    .await
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    message: &str,
) -> std::io::Result<()> {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{kind}","message":"{message}"}}"#);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: fault-proxy\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await
}

/// A `GetRecords` reply with `{}` attribute values written `{"M": {}}` (see
/// [`Fault::MendEmptyCollections`]); a body that is not JSON is passed on as it is.
fn mend_empty_collections(body: &[u8]) -> Vec<u8> {
    fn mend(value: &mut serde_json::Value) {
        let Some(object) = value.as_object_mut() else {
            return;
        };
        if object.is_empty() {
            object.insert("M".into(), serde_json::json!({}));
        } else if let Some(entries) = object.get_mut("M").and_then(|m| m.as_object_mut()) {
            entries.values_mut().for_each(mend);
        } else if let Some(items) = object.get_mut("L").and_then(|l| l.as_array_mut()) {
            items.iter_mut().for_each(mend);
        }
    }
    let Ok(mut reply) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.to_vec();
    };
    if let Some(records) = reply.get_mut("Records").and_then(|r| r.as_array_mut()) {
        for record in records {
            for image in ["Keys", "NewImage", "OldImage"] {
                if let Some(attributes) = record
                    .get_mut("dynamodb")
                    .and_then(|d| d.get_mut(image))
                    .and_then(|i| i.as_object_mut())
                {
                    attributes.values_mut().for_each(mend);
                }
            }
        }
    }
    serde_json::to_vec(&reply).unwrap_or_else(|_| body.to_vec())
}

/// A response head with its `Content-Length` (and any CRC32 checksum, which would no longer
/// match) replaced.
fn with_content_length(head: &str, length: usize) -> String {
    let mut lines: Vec<String> = head
        .split("\r\n")
        .filter(|line| {
            let name = line.split(':').next().unwrap_or("").trim();
            !name.eq_ignore_ascii_case("content-length")
                && !name.eq_ignore_ascii_case("x-amz-crc32")
        })
        .map(str::to_owned)
        .collect();
    // The head ends with an empty line (two empty elements after the split).
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.push(format!("Content-Length: {length}"));
    format!("{}\r\n\r\n", lines.join("\r\n"))
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// Reads one HTTP/1.1 message (head, and a `Content-Length` or chunked body, kept as sent);
/// `None` at the end of the stream.
pub async fn read_message(
    stream: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = Vec::new();
    if let Some(length) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(length, 0);
        stream.read_exact(&mut body).await?;
    } else if header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size_line = String::new();
            stream.read_line(&mut size_line).await?;
            body.extend_from_slice(size_line.as_bytes());
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk).await?;
            body.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    }
    Ok(Some((head, body)))
}
