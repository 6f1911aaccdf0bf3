//! A recording EventBridge on 127.0.0.1: it speaks `PutEvents` in EventBridge's JSON protocol
//! (`application/x-amz-json-1.1`, `X-Amz-Target: AWSEvents.PutEvents`), keeps every request's
//! entries, and answers as a test decides: every entry taken, some entries refused with an
//! error code, or the whole request failed with a 500.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value as Json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::fault_proxy::{header, read_message};

#[derive(Default)]
struct State {
    /// The entries of every request taken, request by request.
    requests: Vec<Vec<Json>>,
    /// Entries (counted over all requests, from 0) refused with `InternalFailure`.
    refuse: HashSet<usize>,
    /// Requests (counted from 0) answered 500 as a whole.
    fail_requests: HashSet<usize>,
    entries_seen: usize,
    requests_seen: usize,
    /// Requests that did not name PutEvents (there should be none).
    other: Vec<String>,
}

#[derive(Clone)]
pub struct RecordingEventBridge {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl RecordingEventBridge {
    pub async fn start() -> RecordingEventBridge {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the recording EventBridge");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let mut socket = BufReader::new(socket);
                    while let Ok(Some((head, body))) = read_message(&mut socket).await {
                        let (status, reply) = answer(&state, &head, &body);
                        let text = reply.to_string();
                        let response = format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: recording-eventbridge\r\nContent-Length: {}\r\n\r\n{text}",
                            text.len()
                        );
                        if socket
                            .get_mut()
                            .write_all(response.as_bytes())
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        RecordingEventBridge {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// Refuses the entries at these positions, counted over every entry sent from now on.
    pub fn refuse_entries(&self, positions: &[usize]) {
        let mut state = self.state.lock().unwrap();
        let base = state.entries_seen;
        state.refuse = positions.iter().map(|p| base + p).collect();
    }

    /// Fails the next `count` requests with a 500.
    pub fn fail_next_requests(&self, count: usize) {
        let mut state = self.state.lock().unwrap();
        let base = state.requests_seen;
        state.fail_requests = (base..base + count).collect();
    }

    /// The entries of every request that was answered 200, request by request.
    pub fn requests(&self) -> Vec<Vec<Json>> {
        let state = self.state.lock().unwrap();
        assert!(state.other.is_empty(), "not PutEvents: {:?}", state.other);
        state.requests.clone()
    }

    /// Every entry taken (not refused), in order.
    pub fn taken(&self) -> Vec<Json> {
        self.requests()
            .into_iter()
            .flatten()
            .filter(|e| e.get("refused").is_none())
            .collect()
    }

    pub fn requests_seen(&self) -> usize {
        self.state.lock().unwrap().requests_seen
    }
}

fn answer(state: &Mutex<State>, head: &str, body: &[u8]) -> (&'static str, Json) {
    let mut state = state.lock().unwrap();
    let target = header(head, "x-amz-target").unwrap_or("-").to_owned();
    if target != "AWSEvents.PutEvents" {
        state.other.push(target);
        return (
            "400 Bad Request",
            json!({"__type": "UnknownOperationException"}),
        );
    }
    let request_number = state.requests_seen;
    state.requests_seen += 1;
    if state.fail_requests.contains(&request_number) {
        return (
            "500 Internal Server Error",
            json!({"__type": "InternalException", "message": "recording EventBridge: failed"}),
        );
    }
    let request: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    let mut results = Vec::new();
    let mut recorded = Vec::new();
    let mut failed = 0;
    for mut entry in entries {
        let position = state.entries_seen;
        state.entries_seen += 1;
        if state.refuse.contains(&position) {
            failed += 1;
            results.push(json!({"ErrorCode": "InternalFailure", "ErrorMessage": "refused"}));
            entry["refused"] = json!(true);
        } else {
            results.push(json!({"EventId": format!("event-{position}")}));
        }
        recorded.push(entry);
    }
    state.requests.push(recorded);
    (
        "200 OK",
        json!({"FailedEntryCount": failed, "Entries": results}),
    )
}
