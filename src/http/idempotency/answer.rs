//! The answers an `Idempotency-Key` replays: which are saved, what of them, and the replay.

use lambda_http::http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::{Body, Response};

use crate::store::SavedAnswer;

/// The response header marking a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// The headers worth replaying.
const RECORDED_HEADERS: &[&str] = &[
    "content-type",
    "etag",
    "allow",
    "accept-patch",
    "www-authenticate",
];

/// The answer as it is saved, to be replayed.
pub fn saved(response: &Response<Body>) -> SavedAnswer {
    let headers = RECORDED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let body = match response.body() {
        Body::Text(text) => Some(text.clone()),
        Body::Binary(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        _ => None,
    };
    SavedAnswer {
        status: response.status().as_u16(),
        headers,
        body,
    }
}

/// A saved answer again, marked as a replay.
pub fn replay(answer: &SavedAnswer) -> Response<Body> {
    let body = match &answer.body {
        Some(text) => Body::Text(text.clone()),
        None => Body::Empty,
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// Whether an answer is saved for replay: every answer to the request as the fingerprint
/// knows it (successes, and the refusals it will always get: 4xx), not failures worth retrying
/// (5xx), and not a 415: it follows from `Content-Type`, which the fingerprint leaves out, so
/// the corrected request under the same key is carried out instead of refused again.
pub fn is_saved(status: u16) -> bool {
    (200..500).contains(&status) && status != 415
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_replay_with_the_marker() {
        let mut response = Response::new(Body::Text("{\"a\":1}".into()));
        *response.status_mut() = StatusCode::OK;
        response
            .headers_mut()
            .insert("etag", HeaderValue::from_static("\"2\""));
        response
            .headers_mut()
            .insert("x-other", HeaderValue::from_static("no"));
        let replayed = replay(&saved(&response));
        assert_eq!(replayed.status(), StatusCode::OK);
        assert_eq!(replayed.headers()["etag"], "\"2\"");
        assert_eq!(replayed.headers()[REPLAYED_HEADER], "true");
        assert!(replayed.headers().get("x-other").is_none());
        assert!(is_saved(204) && is_saved(422) && is_saved(412));
        assert!(!is_saved(503) && !is_saved(500));
    }
}
