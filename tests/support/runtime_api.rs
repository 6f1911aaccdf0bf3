//! A Lambda Runtime API stand-in on 127.0.0.1 that hands out as many events at once as the
//! function asks for, as Lambda Managed Instances do: each event with a request id, trace id
//! and deadline of its own, each answer returned to the caller that sent the event. It counts
//! the invocations open at once, so a test can tell that they ran side by side.
//!
//! Self-contained (tokio and serde_json only), so benchmarks take it in too.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

/// One event to hand out.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The Lambda request id (`Lambda-Runtime-Aws-Request-Id`).
    pub id: String,
    /// The X-Ray trace header (`Lambda-Runtime-Trace-Id`).
    pub trace_id: String,
    /// How long the invocation may run (`Lambda-Runtime-Deadline-Ms`, from when it is handed out).
    pub timeout: Duration,
    /// The event, as JSON.
    pub event: Json,
}

impl Invocation {
    /// An invocation of `event` with the id `id`, a trace id made from it and 30 s to run.
    pub fn new(id: &str, event: Json) -> Invocation {
        Invocation {
            id: id.to_owned(),
            trace_id: trace_id_of(id),
            timeout: Duration::from_secs(30),
            event,
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Invocation {
        self.timeout = timeout;
        self
    }
}

/// An X-Ray trace header that names `id`, so a log line's trace id is traced to its invocation.
pub fn trace_id_of(id: &str) -> String {
    let digits: String = id
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .chain(std::iter::repeat('0'))
        .take(24)
        .collect();
    format!("Root=1-00000000-{digits};Parent=0000000000000001;Sampled=0")
}

/// What the function posted for an invocation.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `/response`: the function's result, as JSON.
    Response(Json),
    /// `/error`: the error it reported.
    Error(Json),
}

impl Answer {
    /// The response, or a panic naming the error reported instead.
    pub fn response(self) -> Json {
        match self {
            Answer::Response(json) => json,
            Answer::Error(error) => panic!("the invocation reported an error: {error}"),
        }
    }
}

#[derive(Default)]
struct State {
    queue: Mutex<VecDeque<Invocation>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    open: AtomicUsize,
    peak: AtomicUsize,
    nexts: AtomicUsize,
    /// How many of the next `/response` posts fail: the answer is taken, and the connection
    /// closed without a reply, so the function's runtime client sees its post fail.
    failing_posts: AtomicUsize,
}

/// The stand-in. The function reaches it at [`RuntimeApi::address`]
/// (`AWS_LAMBDA_RUNTIME_API`).
pub struct RuntimeApi {
    pub address: String,
    state: Arc<State>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API stand-in");
        let address = listener.local_addr().expect("its address").to_string();
        let state = Arc::new(State::default());
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let _ = serve(stream, state).await;
                });
            }
        });
        RuntimeApi { address, state }
    }

    /// Hands out `invocation` to the next `/next` and waits for what the function posts for it.
    pub async fn invoke(&self, invocation: Invocation) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.state
            .waiting
            .lock()
            .expect("stand-in state")
            .insert(invocation.id.clone(), tx);
        self.state
            .queue
            .lock()
            .expect("stand-in state")
            .push_back(invocation);
        self.state.queued.notify_one();
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answered within 60 s")
            .expect("the stand-in is running")
    }

    /// The most invocations open at once since the last [`RuntimeApi::reset_peak`].
    pub fn peak_open(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    pub fn reset_peak(&self) {
        self.state
            .peak
            .store(self.state.open.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    /// Fails the next `n` `/response` posts (see `State::failing_posts`).
    pub fn fail_response_posts(&self, n: usize) {
        self.state.failing_posts.store(n, Ordering::SeqCst);
    }

    /// How many `/next` requests the function has sent.
    pub fn nexts(&self) -> usize {
        self.state.nexts.load(Ordering::SeqCst)
    }
}

/// Takes the next queued invocation, waiting for one.
async fn next_invocation(state: &State) -> Invocation {
    loop {
        let notified = state.queued.notified();
        if let Some(invocation) = state.queue.lock().expect("stand-in state").pop_front() {
            return invocation;
        }
        notified.await;
    }
}

/// Reads one HTTP/1.1 request of the runtime client's: its path and body; `None` once the
/// connection is closed.
pub async fn read_request(
    stream: &mut BufReader<TcpStream>,
) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut request_line = String::new();
    if stream.read_line(&mut request_line).await? == 0 {
        return Ok(None);
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    Ok(Some((path.to_owned(), body)))
}

/// One connection of the function's runtime client: requests one after another.
async fn serve(stream: TcpStream, state: Arc<State>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut stream).await? {
        if path.ends_with("/invocation/next") {
            state.nexts.fetch_add(1, Ordering::SeqCst);
            let invocation = next_invocation(&state).await;
            let open = state.open.fetch_add(1, Ordering::SeqCst) + 1;
            state.peak.fetch_max(open, Ordering::SeqCst);
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                + invocation.timeout;
            let event = invocation.event.to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:person-patch\r\n\
                 Lambda-Runtime-Trace-Id: {}\r\nContent-Length: {}\r\n\r\n",
                invocation.id,
                deadline.as_millis(),
                invocation.trace_id,
                event.len()
            );
            stream.get_mut().write_all(head.as_bytes()).await?;
            stream.get_mut().write_all(event.as_bytes()).await?;
            stream.get_mut().flush().await?;
        } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let json = serde_json::from_slice(&body).unwrap_or(Json::Null);
            let answer = if kind == "response" {
                Answer::Response(json)
            } else {
                Answer::Error(json)
            };
            state.open.fetch_sub(1, Ordering::SeqCst);
            if let Some(tx) = state.waiting.lock().expect("stand-in state").remove(id) {
                let _ = tx.send(answer);
            }
            let fail = kind == "response"
                && state
                    .failing_posts
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if fail {
                return Ok(());
            }
            stream
                .get_mut()
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                .await?;
        } else {
            stream
                .get_mut()
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .await?;
        }
    }
    Ok(())
}
