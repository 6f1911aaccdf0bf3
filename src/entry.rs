//! The Lambda event boundary: API Gateway (HTTP API v2, REST v1) and function URL events in,
//! their response shapes out.
//!
//! `lambda_http`'s own adapter decodes a base64 body with a panic on failure, so a caller could
//! turn a malformed body into a 502. This adapter decodes it first and, when it does not
//! decode, hands the handler a request marked [`UndecodableBody`]: the answer is then a 400 at
//! its place in the order of checks (after authentication), like every other body error.

use base64::Engine;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::{self, HeaderMap, HeaderValue};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Context, Request, RequestExt, Response};
use serde::Serialize;

use crate::handler::{handle, App, UndecodableBody};
use crate::store::PersonStore;

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

/// Handles one raw Lambda event.
pub async fn handle_event<S: PersonStore>(
    app: &App<S>,
    mut event: LambdaRequest,
    context: Context,
) -> EventResponse {
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
            (
                Origin::RestApi,
                take_undecodable(&mut e.body, &mut e.is_base64_encoded),
            )
        }
        LambdaRequest::ApiGatewayV2(e) => (
            Origin::HttpApi,
            take_undecodable(&mut e.body, &mut e.is_base64_encoded),
        ),
        // Only the two API Gateway features are compiled in; any other shape is answered in
        // the HTTP API shape, which function URLs share.
        _ => (Origin::HttpApi, false),
    };
    let mut request: Request = event.into();
    if undecodable {
        request.extensions_mut().insert(UndecodableBody);
    }
    if let Some(trace_id) = context.xray_trace_id.as_deref() {
        if let Ok(value) = HeaderValue::from_str(trace_id) {
            request.headers_mut().insert("x-amzn-trace-id", value);
        }
    }
    let request = request.with_lambda_context(context);
    let response = handle(app, request).await;
    to_lambda_response(origin, response)
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
