//! The Lambda event boundary: API Gateway (HTTP API v2, REST v1) and function URL events in,
//! their response shapes out.
//!
//! `lambda_http`'s own conversion from event to request panics on some input a caller controls,
//! which Lambda would answer with a 502:
//! - a body flagged base64 that does not decode: this adapter decodes it first and, when it
//!   does not decode, hands the handler a request marked [`UndecodableBody`], answered with a
//!   400 at its place in the order of checks (after authentication);
//! - a path, query string, `Host` or `X-Forwarded-Proto` that cannot form a URI (found by
//!   fuzzing): the adapter percent-encodes what a path or query cannot hold and drops a host,
//!   scheme or stage that is not valid, so the request routes (usually to a 404 or 400) instead.
//!
//! Should the conversion still panic on something unforeseen, the panic is caught and the
//! caller gets a 400 problem; a panic anywhere later in the request's handling is answered 500,
//! for that request alone ([`invoke`]).

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use base64::Engine;
use futures_util::FutureExt;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::{self, HeaderMap, HeaderValue};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Context, Request, RequestExt, Response};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{service_fn, LambdaEvent, LambdaInvocation, Runtime};
use serde::Serialize;
use serde_json::value::RawValue;
use tracing::Instrument;

use crate::dialect::ProblemStyle;
use crate::http::app::App;
use crate::http::execute::UndecodableBody;
use crate::http::handler::{handle, Handled};
use crate::http::headers::InvalidHeader;
use crate::http::idempotency::pending::PendingAnswer;
use crate::http::problem::{ApiError, RequestMeta};
use crate::http::routing::{route, NoRoute, Route};
use crate::ops::aws::traced;
use crate::ops::telemetry::{invocation_span, RequestMetrics};
use crate::store::{ClientLookup, Store};

/// Which response shape the event's source expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    RestApi,
    HttpApi,
}

/// The response in the shape the event's source expects.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EventResponse {
    /// REST API (payload format 1.0).
    RestApi(ApiGatewayProxyResponse),
    /// HTTP API (payload format 2.0) and function URLs.
    HttpApi(ApiGatewayV2httpResponse),
}

/// Handles one Lambda event as the runtime received it (JSON text). An event whose header
/// contents the HTTP types refuse (a control character in a value, a name that is not a
/// token) would fail to deserialize before any handler ran, and API Gateway would answer 502:
/// such headers are taken out and the request answered with a 400 naming the first.
pub async fn handle_raw_event<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    raw: &str,
    context: Context,
) -> Handled<EventResponse> {
    if let Ok(event) = serde_json::from_str::<LambdaRequest>(raw) {
        return handle_event(app, event, context).await;
    }
    let meta = RequestMeta {
        request_id: context.request_id.clone(),
        instance: String::new(),
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(raw) else {
        let error = ApiError::BadRequest("The event is not JSON.".into());
        return refused(
            Origin::HttpApi,
            error.to_response(ProblemStyle::Rfc9457, &meta),
        );
    };
    let origin = if value.get("httpMethod").is_some() {
        Origin::RestApi
    } else {
        Origin::HttpApi
    };
    let invalid = strip_invalid_headers(&mut value);
    match (serde_json::from_value::<LambdaRequest>(value), invalid) {
        (Ok(event), invalid) => handle_marked_event(app, event, context, invalid).await,
        (Err(_), _) => {
            tracing::warn!(request_id = %meta.request_id, "event is not an API Gateway request");
            let error = ApiError::BadRequest("The request could not be read as HTTP.".into());
            refused(origin, error.to_response(ProblemStyle::Rfc9457, &meta))
        }
    }
}

/// Removes headers whose name or value the HTTP types refuse from `headers` and
/// `multiValueHeaders`; the first such name (printable), if any.
fn strip_invalid_headers(event: &mut serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let mut first = None;
    for map in ["headers", "multiValueHeaders"] {
        let Some(Value::Object(headers)) = event.get_mut(map) else {
            continue;
        };
        headers.retain(|name, value| {
            let name_ok = http::HeaderName::from_bytes(name.as_bytes()).is_ok();
            let values_ok = match value {
                Value::String(text) => HeaderValue::from_str(text).is_ok(),
                Value::Array(items) => items.iter().all(|item| {
                    item.as_str()
                        .is_some_and(|t| HeaderValue::from_str(t).is_ok())
                }),
                Value::Null => true,
                _ => false,
            };
            let keep = name_ok && values_ok;
            if !keep && first.is_none() {
                first = Some(crate::engine::json::Printable(name).to_string());
            }
            keep
        });
    }
    first
}

/// Handles one parsed Lambda event.
pub async fn handle_event<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    event: LambdaRequest,
    context: Context,
) -> Handled<EventResponse> {
    handle_marked_event(app, event, context, None).await
}

async fn handle_marked_event<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    mut event: LambdaRequest,
    context: Context,
    invalid_header: Option<String>,
) -> Handled<EventResponse> {
    let (origin, undecodable) = match &mut event {
        LambdaRequest::ApiGatewayV1(e) => {
            // REST APIs send every header in `multiValueHeaders` and the last value of each in
            // `headers`; lambda_http lays the second over the first, which would hide a
            // repeated header. Keep the complete values.
            let shadowed: Vec<_> = e
                .headers
                .keys()
                .filter(|name| e.multi_value_headers.contains_key(*name))
                .cloned()
                .collect();
            for name in shadowed {
                e.headers.remove(&name);
            }
            sanitize_path(&mut e.path);
            sanitize_host(&mut e.headers, &mut e.request_context.domain_name);
            sanitize_host(&mut e.multi_value_headers, &mut None);
            sanitize_stage(&mut e.request_context.stage);
            (
                Origin::RestApi,
                take_undecodable(&mut e.body, &mut e.is_base64_encoded),
            )
        }
        LambdaRequest::ApiGatewayV2(e) => {
            sanitize_path(&mut e.raw_path);
            if let Some(query) = e.raw_query_string.as_mut() {
                *query = percent_encode_invalid(query, QUERY_EXTRA);
            }
            sanitize_host(&mut e.headers, &mut e.request_context.domain_name);
            sanitize_stage(&mut e.request_context.stage);
            (
                Origin::HttpApi,
                take_undecodable(&mut e.body, &mut e.is_base64_encoded),
            )
        }
        // Only the two API Gateway features are compiled in; any other shape is answered in
        // the HTTP API shape, which function URLs share.
        _ => (Origin::HttpApi, false),
    };
    let request_id = context.request_id.clone();
    let converted = catch_unwind(AssertUnwindSafe(|| Request::from(event)));
    let Ok(mut request) = converted else {
        tracing::warn!(request_id = %request_id, "event could not be converted to a request");
        let meta = RequestMeta {
            request_id,
            instance: String::new(),
        };
        let error =
            ApiError::BadRequest("The request target or its Host header is not valid HTTP.".into());
        return refused(origin, error.to_response(ProblemStyle::Rfc9457, &meta));
    };
    if undecodable {
        request.extensions_mut().insert(UndecodableBody);
    }
    if let Some(name) = invalid_header {
        request.extensions_mut().insert(InvalidHeader(name));
    }
    if let Some(trace_id) = context.xray_trace_id.as_deref() {
        if let Ok(value) = HeaderValue::from_str(trace_id) {
            request.headers_mut().insert("x-amzn-trace-id", value);
        }
    }
    let request = request.with_lambda_context(context);
    let handled = handle(app, request).await;
    Handled {
        response: to_lambda_response(origin, handled.response),
        pending: handled.pending,
    }
}

/// An event answered before it reached the handler.
fn refused(origin: Origin, response: Response<Body>) -> Handled<EventResponse> {
    Handled {
        response: to_lambda_response(origin, response),
        pending: None,
    }
}

/// Characters a path segment may hold besides unreserved ones (RFC 3986 `pchar`, `/`), and
/// `%` kept as it is: the router decodes escapes itself.
const PATH_EXTRA: &[u8] = b"!$&'()*+,;=:@/%";
/// The same for a query string, which may also hold `?`.
const QUERY_EXTRA: &[u8] = b"!$&'()*+,;=:@/%?";

/// Percent-encodes every byte that may not stand in a URI component as it is.
fn percent_encode_invalid(text: &str, extra: &[u8]) -> String {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b) || extra.contains(&b);
    if text.bytes().all(allowed) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for b in text.bytes() {
        if allowed(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path lambda_http can always turn into a URI: absolute, only URI characters.
fn sanitize_path(path: &mut Option<String>) {
    if let Some(p) = path.as_mut() {
        let encoded = percent_encode_invalid(p, PATH_EXTRA);
        *p = if encoded.starts_with('/') {
            encoded
        } else {
            format!("/{encoded}")
        };
    }
}

/// A host name or address, with an optional port, as a URI authority may hold it, and as the
/// URL parser lambda_http uses (WHATWG) reads it: a name whose last label is a number is read
/// as an IPv4 address, so it must be one; a bracketed one must be an IPv6 address.
fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, _)) if !name.ends_with(']') && name.contains(':') => (host, None),
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(address) => address.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !name.is_empty()
                && name.len() <= 253
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && (!ends_in_a_number(name) || name.parse::<std::net::Ipv4Addr>().is_ok())
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    name_ok && port_ok
}

/// WHATWG URL's "ends in a number": the last label (before an optional final dot) is digits,
/// or `0x` and hex digits; such a host is parsed as an IPv4 address.
fn ends_in_a_number(name: &str) -> bool {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let last = trimmed.rsplit('.').next().unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) || hex
}

/// Drops a `Host` header, domain name or `X-Forwarded-Proto` that cannot form a URI (the
/// function never uses them; lambda_http builds the request URI from them).
fn sanitize_host(headers: &mut HeaderMap, domain_name: &mut Option<String>) {
    let host_ok = headers
        .get_all(http::header::HOST)
        .iter()
        .all(|v| v.to_str().is_ok_and(is_valid_host));
    if !host_ok {
        headers.remove(http::header::HOST);
    }
    if domain_name.as_deref().is_some_and(|d| !is_valid_host(d)) {
        *domain_name = None;
    }
    let proto_ok = headers.get_all("x-forwarded-proto").iter().all(|v| {
        v.to_str()
            .is_ok_and(|p| p.eq_ignore_ascii_case("https") || p.eq_ignore_ascii_case("http"))
    });
    if !proto_ok {
        headers.remove("x-forwarded-proto");
    }
}

/// API Gateway stage names are letters, digits, `-`, `_` (and `$default`).
fn sanitize_stage(stage: &mut Option<String>) {
    let valid = |s: &str| {
        s == "$default"
            || (!s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    };
    if stage.as_deref().is_some_and(|s| !valid(s)) {
        *stage = None;
    }
}

/// When the body is flagged base64 but does not decode, drops it and reports so; otherwise
/// leaves the event as it is.
fn take_undecodable(body: &mut Option<String>, is_base64_encoded: &mut bool) -> bool {
    let Some(text) = body.as_deref() else {
        return false;
    };
    if !*is_base64_encoded
        || base64::engine::general_purpose::STANDARD
            .decode(text)
            .is_ok()
    {
        return false;
    }
    *body = None;
    *is_base64_encoded = false;
    true
}

fn to_lambda_response(origin: Origin, response: Response<Body>) -> EventResponse {
    let (parts, body) = response.into_parts();
    let (is_base64_encoded, body) = match body {
        Body::Empty => (false, None),
        text @ Body::Text(_) => (false, Some(text)),
        binary @ Body::Binary(_) => (true, Some(binary)),
        _ => (false, None),
    };
    let status_code = i64::from(parts.status.as_u16());
    match origin {
        Origin::RestApi => {
            let mut out = ApiGatewayProxyResponse::default();
            out.status_code = status_code;
            out.body = body;
            out.is_base64_encoded = is_base64_encoded;
            // REST APIs merge `headers` into `multiValueHeaders`; one of them is enough.
            out.headers = HeaderMap::new();
            out.multi_value_headers = parts.headers;
            EventResponse::RestApi(out)
        }
        Origin::HttpApi => {
            let mut out = ApiGatewayV2httpResponse::default();
            out.status_code = status_code;
            out.body = body;
            out.is_base64_encoded = is_base64_encoded;
            out.headers = parts.headers;
            out.multi_value_headers = http::HeaderMap::new();
            EventResponse::HttpApi(out)
        }
    }
}

tokio::task_local! {
    /// The pending answer of the invocation being served, kept for [`InvocationLayer`].
    static AFTER_RESPONSE: RefCell<Option<PendingAnswer>>;
}

/// The function's Lambda handler: one event as the runtime hands it over (JSON text). Its
/// pending answer is left to the invocation's [`InvocationLayer`]; run without one, it is
/// finished before the response is returned, so it is never lost. Should the handling panic,
/// this request alone is answered 500 ([`panicked`]); invocations served beside it go on.
pub async fn invoke<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    event: LambdaEvent<Box<RawValue>>,
) -> EventResponse {
    let raw = event.payload.get();
    let started = std::time::Instant::now();
    let ids = (
        event.context.request_id.clone(),
        event.context.xray_trace_id.clone(),
    );
    let handling = AssertUnwindSafe(handle_raw_event(app, raw, event.context)).catch_unwind();
    let Ok(handled) = handling.await else {
        let (response, route) = panicked(raw, ids.0.clone());
        app.metrics.record(&RequestMetrics {
            route,
            status: 500,
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            store_latency_ms: None,
            auth_failed: false,
            validation_failed: false,
            throttled: false,
            invocation: Some(ids),
        });
        return response;
    };
    let mut pending = handled.pending;
    if pending.is_some() {
        let _ = AFTER_RESPONSE.try_with(|slot| *slot.borrow_mut() = pending.take());
    }
    if let Some(pending) = pending {
        pending.finish(&app.store).await;
    }
    handled.response
}

/// Serves invocations from the Lambda Runtime API for as long as the environment runs: one at
/// a time, or, where Lambda sets `AWS_LAMBDA_MAX_CONCURRENCY` above 1 (Lambda Managed
/// Instances), that many at once, each worker of the runtime asking for its next event as soon
/// as its invocation is done. The event is taken as JSON text, so that header contents the
/// HTTP types refuse become a 400 from the function instead of a failed invocation.
pub async fn serve<S, D>(app: &'static App<S, D>) -> Result<(), lambda_runtime::Error>
where
    S: Store + 'static,
    D: ClientLookup + 'static,
{
    let handler = service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        Ok::<_, lambda_runtime::Error>(invoke(app, event).await)
    });
    Runtime::new(handler)
        .layer(InvocationLayer(app))
        .run_concurrent()
        .await
}

/// The answer to an event whose handling panicked: a 500 problem in the event's shape and in
/// its route's problem style, and the route's name for the metrics. Nothing of the request's
/// is kept: a keyed request's claim lapses with its lock, as after any answer whose outcome is
/// unknown.
fn panicked(raw: &str, lambda_request_id: String) -> (EventResponse, &'static str) {
    use serde_json::Value;
    let event: Value = serde_json::from_str(raw).unwrap_or_default();
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    let origin = if event.get("httpMethod").is_some() {
        Origin::RestApi
    } else {
        Origin::HttpApi
    };
    let path = text("/rawPath").or_else(|| text("/path")).unwrap_or("/");
    let (style, route_name) = match route("PATCH", path, |_| None) {
        Ok(Route { dialect, .. }) | Err(NoRoute::MethodNotAllowed(dialect)) => {
            (dialect.problems, dialect.name)
        }
        Err(NoRoute::NotFound) => (ProblemStyle::Rfc9457, "unmatched"),
    };
    let meta = RequestMeta {
        request_id: text("/requestContext/requestId").map_or(lambda_request_id, str::to_owned),
        instance: percent_encode_invalid(path, PATH_EXTRA),
    };
    let response = ApiError::Internal.to_response(style, &meta);
    (to_lambda_response(origin, response), route_name)
}

/// The runtime's outermost layer: each invocation runs in its own log span
/// ([`invocation_span`]) and X-Ray trace ([`traced`]), with a slot of its own for its pending
/// answer; once its response is posted, the answer is saved before this invocation's worker
/// asks for the next event. Lambda freezes an environment only when no invocation is open and it asks for the next
/// event, so this work runs, and is billed, inside the invocation; the caller has its answer
/// before it. Invocations served at once each finish their own answer: none waits for another.
/// A failure to post an invocation's response is logged and ends nothing: the worker serves on.
pub struct InvocationLayer<'a, S, D>(pub &'a App<S, D>);

impl<'a, Inner, S, D> Layer<Inner> for InvocationLayer<'a, S, D> {
    type Service = Invocation<'a, Inner, S, D>;

    fn layer(&self, inner: Inner) -> Self::Service {
        Invocation { inner, app: self.0 }
    }
}

/// See [`InvocationLayer`]. Cloned once per concurrent worker of the runtime.
pub struct Invocation<'a, Inner, S, D> {
    inner: Inner,
    app: &'a App<S, D>,
}

impl<Inner: Clone, S, D> Clone for Invocation<'_, Inner, S, D> {
    fn clone(&self) -> Self {
        Invocation {
            inner: self.inner.clone(),
            app: self.app,
        }
    }
}

impl<'a, Inner, S, D> Service<LambdaInvocation> for Invocation<'a, Inner, S, D>
where
    Inner: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
    Inner::Future: Send + 'a,
    S: Store,
    D: ClientLookup,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + Send + 'a>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let span = invocation_span(
            &invocation.context.request_id,
            invocation.context.xray_trace_id.as_deref(),
        );
        let trace_id = invocation.context.xray_trace_id.clone();
        let answered = {
            let _entered = span.enter();
            self.inner.call(invocation)
        };
        let app = self.app;
        let served = async move {
            let (result, pending) = AFTER_RESPONSE
                .scope(RefCell::new(None), async move {
                    let result = answered.await;
                    (result, AFTER_RESPONSE.with(|slot| slot.borrow_mut().take()))
                })
                .await;
            if let Some(pending) = pending {
                // A panic here must not end the worker, which serves the invocations after
                // this one: the entry is left to lapse with its lock.
                let _ = AssertUnwindSafe(pending.finish(&app.store))
                    .catch_unwind()
                    .await;
            }
            // An error here (posting the response failed) would end this worker for good in
            // the runtime's loop, and with it one of the environment's slots: it is logged,
            // and the worker goes on to the next event.
            if let Err(error) = result {
                tracing::error!(reason = %error, "processing the invocation failed; its worker goes on");
            }
            Ok(())
        };
        Box::pin(traced(trace_id, served).instrument(span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_become_uri_safe() {
        assert_eq!(
            percent_encode_invalid("/v1/persons/a b", PATH_EXTRA),
            "/v1/persons/a%20b"
        );
        assert_eq!(percent_encode_invalid("/ä?#", PATH_EXTRA), "/%C3%A4%3F%23");
        assert_eq!(percent_encode_invalid("/ok/%2F", PATH_EXTRA), "/ok/%2F");
        assert_eq!(
            percent_encode_invalid("a=1&b=c d", QUERY_EXTRA),
            "a=1&b=c%20d"
        );
        let mut path = Some("x".to_owned());
        sanitize_path(&mut path);
        assert_eq!(path.as_deref(), Some("/x"));
    }

    #[test]
    fn hosts() {
        for ok in [
            "example.com",
            "api.example.com:443",
            "127.0.0.1",
            "[::1]:8080",
            "localhost",
            "a.b2",
            "10.0.0.1:80",
        ] {
            assert!(is_valid_host(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "evil.com/x",
            "user@host",
            "host:port",
            "a\u{0}b",
            "[zz]",
            "ex ample:80",
            "id.ex2.0",
            "a.0x1",
            "300.1.1.1",
            "1.2.3",
            "[::::]",
            "[",
            "[]",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }
}
