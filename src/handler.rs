//! The PATCH handler: a plain async function from `lambda_http::Request` to a response,
//! taking the checks in the contract's order (CONTRACT §1).

use std::time::{Duration, Instant};

use lambda_http::http::{header, HeaderMap, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use crate::auth::{Authenticator, Principal, Source, WRITE_SCOPE};
use crate::clients::{ClientDirectory, ClientLookup};
use crate::conditional;
use crate::deadline::{Deadline, Expired};
use crate::dialect::{CustomerHeader, Dialect, ProblemStyle, Success};
use crate::engine::{self, build_update, json, Definitions, Stamp};
use crate::problem::{ApiError, RequestMeta};
use crate::routing::{self, NoRoute};
use crate::store::{CustomerId, PersonKey, PersonStore, Returning, StoreError};
use crate::telemetry::{Metrics, MetricsSink, RequestMetrics};

/// The largest body accepted, in bytes (CONTRACT §1).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The header naming the tenant.
pub const CUSTOMER_ID_HEADER: &str = "customer-id";

/// Marks a request whose body was flagged base64 but did not decode; set only by the event
/// adapter, never from anything a caller sends.
#[derive(Debug, Clone, Copy)]
pub struct UndecodableBody;

/// Everything a request needs that outlives it: built once per container.
pub struct App<S, D = ClientDirectory> {
    pub store: S,
    pub authenticator: Authenticator<D>,
    /// The current time; a function so tests can pin it.
    pub clock: fn() -> OffsetDateTime,
    pub metrics: Metrics,
}

impl<S: PersonStore, D: ClientLookup> App<S, D> {
    pub fn new(store: S, authenticator: Authenticator<D>) -> Self {
        App {
            store,
            authenticator,
            clock: OffsetDateTime::now_utc,
            metrics: Metrics::new(MetricsSink::Off),
        }
    }

    /// Sends one EMF metrics line per request to `sink`.
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = Metrics::new(sink);
        self
    }
}

/// What the summary log line says of a request. Names only: never a value.
#[derive(Debug, Default)]
struct Summary {
    dialect: Option<&'static Dialect>,
    principal: Option<String>,
    auth: Option<Source>,
    customer: Option<i64>,
    fields: Vec<String>,
    /// Time spent in persons-table calls (definitions, update).
    store: Option<Duration>,
    throttled: bool,
}

impl Summary {
    fn add_store_time(&mut self, took: Duration) {
        self.store = Some(self.store.unwrap_or_default() + took);
    }
}

/// Handles one request. Never panics on input and never answers 500 for a caller's mistake.
pub async fn handle<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: Request,
) -> Response<Body> {
    let started = Instant::now();
    let meta = RequestMeta {
        request_id: request_id(&request),
        instance: request.uri().path().to_owned(),
    };
    let mut summary = Summary::default();
    let mut style = ProblemStyle::Rfc9457;
    let result = process(app, &request, &mut summary, &mut style).await;
    let (response, problem) = match result {
        Ok(response) => (response, None),
        Err(error) => (error.to_response(style, &meta), Some(error)),
    };
    let latency = started.elapsed();
    let status = response.status().as_u16();
    let route = summary.dialect.map(route_template);
    tracing::info!(
        request_id = %meta.request_id,
        route = route.as_deref().unwrap_or("-"),
        dialect = summary.dialect.map_or("-", |d| d.name),
        principal = summary.principal.as_deref().unwrap_or("-"),
        auth = match summary.auth {
            Some(Source::Cache) => "cached",
            Some(Source::Verified) => "verified",
            None => "-",
        },
        customer = summary.customer.unwrap_or(0),
        status,
        problem = problem.as_ref().map_or("-", ApiError::slug),
        fields = %summary.fields.join(","),
        duration_ms = latency.as_secs_f64() * 1000.0,
        dynamodb_ms = summary.store.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        "request"
    );
    app.metrics.record(&RequestMetrics {
        route: summary.dialect.map_or("unmatched", |d| d.name),
        status,
        latency_ms: latency.as_secs_f64() * 1000.0,
        store_latency_ms: summary.store.map(|d| d.as_secs_f64() * 1000.0),
        auth_failed: matches!(
            problem,
            Some(ApiError::Unauthenticated(_) | ApiError::Forbidden(_))
        ),
        validation_failed: matches!(
            problem,
            Some(ApiError::Rejected(_) | ApiError::MalformedBody(_))
        ),
        throttled: summary.throttled,
    });
    response
}

/// The route as API Gateway names it, e.g. `PATCH /v1/persons/{personId}`.
fn route_template(dialect: &Dialect) -> String {
    format!("PATCH /{}/{{personId}}", dialect.route.join("/"))
}

async fn process<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    summary: &mut Summary,
    style: &mut ProblemStyle,
) -> Result<Response<Body>, ApiError> {
    // 1. Route.
    let parameters = request.path_parameters_ref();
    let route = routing::route(request.method().as_str(), request.uri().path(), |name| {
        parameters.and_then(|p| p.first(name))
    });
    let route = match route {
        Ok(route) => route,
        Err(NoRoute::NotFound) => return Err(ApiError::RouteNotFound),
        Err(NoRoute::MethodNotAllowed(dialect)) => {
            *style = dialect.problems;
            return Err(ApiError::MethodNotAllowed);
        }
    };
    let dialect: &'static Dialect = route.dialect;
    *style = dialect.problems;
    summary.dialect = Some(dialect);

    // One deadline for every DynamoDB call of the request, from the invocation's.
    let deadline =
        Deadline::from_invocation(request.lambda_context_ref().map_or(0, |c| c.deadline));

    // 2-3. Authenticate, then the scope.
    let headers = request.headers();
    let (principal, source) = deadline
        .run(
            app.authenticator
                .authenticate(headers, request.request_context_ref()),
        )
        .await
        .map_err(|Expired| past_deadline(dialect, "authenticate"))??;
    summary.principal = Some(principal.id.clone());
    summary.auth = Some(source);
    if !principal.has_scope(WRITE_SCOPE) {
        return Err(ApiError::Forbidden(
            "Your credentials lack the contacts:persons:write scope.",
        ));
    }

    // 4. Customer.
    let customer = customer_of(headers, dialect.customer_header, &principal)?;
    summary.customer = Some(customer.0);

    // 5. Path id.
    let person = dialect
        .id_format
        .parse(&route.person_id)
        .map_err(|why| ApiError::BadRequest(why.to_owned()))?;
    let precondition =
        conditional::precondition(headers).map_err(|why| ApiError::BadRequest(why.to_owned()))?;

    // 6. Media type and size.
    check_content_type(headers)?;
    if request.extensions().get::<UndecodableBody>().is_some() {
        return Err(ApiError::MalformedBody(
            "The body is marked base64-encoded but is not valid base64.".into(),
        ));
    }
    let body: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit_bytes: MAX_BODY_BYTES,
        });
    }

    // 7-8. JSON, then the field rules.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody(
            "The body is empty; send a JSON object with the fields to change.".into(),
        ));
    }
    let document = json::parse(body)
        .map_err(|e| ApiError::MalformedBody(format!("The body is not valid JSON: {e}.")))?;
    let now = (app.clock)();
    let draft =
        engine::validate(&dialect.fields, &document, now.date()).map_err(ApiError::Rejected)?;
    let patch = if draft.needs_definitions() {
        let read_started = Instant::now();
        let definitions = deadline.run(app.store.field_definitions(customer)).await;
        summary.add_store_time(read_started.elapsed());
        let definitions = definitions
            .map_err(|Expired| past_deadline(dialect, "definitions"))?
            .map_err(|error| store_error(error, summary, dialect))?;
        draft.finish(&definitions)
    } else {
        draft.finish(&Definitions::new())
    }
    .map_err(ApiError::Rejected)?;
    summary.fields = patch.touched_attributes().collect();

    // 9. Store. The write id is the same for every attempt the SDK makes of this update, and
    // new for every request.
    let updated_at = rfc3339(now);
    let write_id = uuid::Uuid::new_v4().simple().to_string();
    let stamp = Stamp {
        updated_at: &updated_at,
        updated_by: &principal.id,
        write_id: &write_id,
    };
    let plan = build_update(&patch, &stamp, &precondition);
    let key = PersonKey { customer, person };
    let returning = match dialect.success {
        Success::NoContent => Returning::Changes,
        Success::Record => Returning::Record,
    };
    let update_started = Instant::now();
    let updated = deadline
        .run(app.store.update_person(&key, plan, returning))
        .await;
    summary.add_store_time(update_started.elapsed());
    let updated = updated
        .map_err(|Expired| past_deadline(dialect, "update"))?
        .map_err(|error| store_error(error, summary, dialect))?;

    let mut response = match dialect.success {
        Success::NoContent => {
            let mut response = Response::new(Body::Empty);
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        Success::Record => {
            let body = dialect.render_record(person, &updated.record);
            let mut response = Response::new(Body::Text(body.to_string()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            );
            response
        }
    };
    if let Ok(etag) = HeaderValue::from_str(&conditional::etag(updated.version)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

/// The request's deadline passed during a DynamoDB call (which may still commit: a retry with
/// an `Idempotency-Key`, or with `If-Match` and a fresh read, is safe).
fn past_deadline(dialect: &Dialect, during: &'static str) -> ApiError {
    tracing::warn!(dialect = dialect.name, during, "request deadline reached");
    ApiError::Unavailable
}

fn store_error(error: StoreError, summary: &mut Summary, dialect: &Dialect) -> ApiError {
    if error == StoreError::Throttled {
        summary.throttled = true;
    }
    match error {
        StoreError::NotFound => ApiError::PersonNotFound,
        StoreError::VersionMismatch { current } => ApiError::PreconditionFailed {
            current_version: current,
        },
        StoreError::Throttled => {
            tracing::warn!(dialect = dialect.name, "store throttled the update");
            ApiError::Unavailable
        }
        StoreError::Unavailable(why) => {
            tracing::warn!(dialect = dialect.name, reason = %why, "store unavailable");
            ApiError::Unavailable
        }
        StoreError::RecordTooLarge => ApiError::RecordTooLarge,
        StoreError::ForeignType(attribute) => {
            tracing::warn!(
                dialect = dialect.name,
                attribute,
                "stored attribute of a foreign type"
            );
            ApiError::StoredRecordConflict(attribute)
        }
        StoreError::Failed(why) => {
            tracing::error!(dialect = dialect.name, reason = %why, "store failure");
            ApiError::Internal
        }
    }
}

/// The tenant: the `Customer-Id` header, or the principal's only customer where the dialect
/// allows leaving the header out.
fn customer_of(
    headers: &HeaderMap,
    rule: CustomerHeader,
    principal: &Principal,
) -> Result<CustomerId, ApiError> {
    if principal.customers.is_empty() {
        return Err(ApiError::Forbidden(
            "Your credentials are not allowed to act for any customer.",
        ));
    }
    let mut values = headers.get_all(CUSTOMER_ID_HEADER).iter();
    let customer = match (values.next(), values.next()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "Send the Customer-Id header once.".into(),
            ))
        }
        (Some(value), None) => parse_customer_id(value)?,
        (None, _) => match (rule, principal.only_customer()) {
            (CustomerHeader::OptionalForSingleCustomer, Some(only)) => only,
            (CustomerHeader::OptionalForSingleCustomer, None) => return Err(ApiError::BadRequest(
                "Send the Customer-Id header: your credentials may act for more than one customer."
                    .into(),
            )),
            (CustomerHeader::Required, _) => {
                return Err(ApiError::BadRequest(
                    "The Customer-Id header is required.".into(),
                ))
            }
        },
    };
    if principal.may_act_for(customer) {
        Ok(customer)
    } else {
        Err(ApiError::Forbidden(
            "Your credentials may not act for this customer.",
        ))
    }
}

fn parse_customer_id(value: &HeaderValue) -> Result<CustomerId, ApiError> {
    let malformed =
        || ApiError::BadRequest("The Customer-Id header must be a positive 64-bit integer.".into());
    let text = value.to_str().map_err(|_| malformed())?;
    let digits = text.trim_matches(|c| c == ' ' || c == '\t');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    // Leading zeros are allowed, however many: only the significant digits must fit.
    let significant = digits.trim_start_matches('0');
    let digits = if significant.is_empty() {
        "0"
    } else {
        significant
    };
    if digits.len() > 19 {
        return Err(malformed());
    }
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .map(CustomerId)
        .ok_or_else(malformed)
}

/// JSON media types: `application/json`, `text/json`, `application/*+json`, with parameters;
/// a charset, if named, must be UTF-8 (JSON's only encoding, RFC 8259).
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut values = headers.get_all(header::CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ApiError::UnsupportedMediaType);
    };
    let text = value.to_str().map_err(|_| ApiError::UnsupportedMediaType)?;
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let json = essence == "application/json"
        || essence == "text/json"
        || essence
            .strip_prefix("application/")
            .and_then(|subtype| subtype.strip_suffix("+json"))
            .is_some_and(|stem| !stem.is_empty() && !stem.contains('/'));
    let charset_ok = parts.all(|parameter| match parameter.split_once('=') {
        Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
            let charset = value.trim().trim_matches('"');
            charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    if json && charset_ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The request id callers and logs share: API Gateway's, else the Lambda invocation's.
fn request_id(request: &Request) -> String {
    let gateway = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        _ => None,
    };
    gateway
        .filter(|id| !id.is_empty())
        .or_else(|| request.lambda_context_ref().map(|c| c.request_id.clone()))
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-23T10:00:00.123Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                lambda_http::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn json_media_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "text/json",
            "application/merge-patch+json",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert!(
                check_content_type(&headers(&[("content-type", ok)])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "",
            "text/plain",
            "application/xml",
            "application/+json",
            "application/json; charset=latin1",
            "multipart/form-data",
        ] {
            assert!(
                check_content_type(&headers(&[("content-type", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(check_content_type(&headers(&[])).is_err());
        assert!(check_content_type(&headers(&[
            ("content-type", "application/json"),
            ("content-type", "application/json")
        ]))
        .is_err());
    }

    #[test]
    fn customer_ids() {
        for (raw, expected) in [
            ("14532", Some(14532)),
            (" 14532 ", Some(14532)),
            ("9223372036854775807", Some(i64::MAX)),
            ("00014532", Some(14532)),
            ("0000000000000000000000000014532", Some(14532)),
            ("00000000000000000009223372036854775807", Some(i64::MAX)),
            ("000", None),
            ("0", None),
            ("-5", None),
            ("+5", None),
            ("1.0", None),
            ("9223372036854775808", None),
            ("abc", None),
            ("", None),
        ] {
            let got = parse_customer_id(&HeaderValue::from_str(raw).unwrap()).ok();
            assert_eq!(got, expected.map(CustomerId), "{raw:?}");
        }
    }

    #[test]
    fn timestamps() {
        let at = time::macros::datetime!(2026-11-23 09:08:07.123 UTC);
        assert_eq!(rfc3339(at), "2026-11-23T09:08:07.123Z");
    }
}
