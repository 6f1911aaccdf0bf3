//! The PATCH handler: a plain async function from `lambda_http::Request` to a response,
//! taking the checks in the API's order (docs/API.md §1).

use std::time::{Duration, Instant, SystemTime};

use lambda_http::http::{header, HeaderMap, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use crate::auth::clients::{ClientDirectory, ClientLookup};
use crate::auth::{AuthError, Authenticator, Principal, Source, WRITE_SCOPE};
use crate::dialect::PersonId;
use crate::dialect::{CustomerHeader, Dialect, ProblemStyle, Success};
use crate::engine::expression::apply_patch;
use crate::engine::json::Printable;
use crate::engine::record::{map_holding, MapHolding, Record, Stored};
use crate::engine::{self, build_update, json, Definitions, Stamp};
use crate::engine::{Precondition, Value};
use crate::http::conditional;
use crate::http::deadline::{Deadline, Expired};
use crate::http::idempotency;
use crate::http::problem::{ApiError, RequestMeta};
use crate::http::routing::{self, NoRoute};
use crate::ops::telemetry::{Metrics, MetricsSink, RequestMetrics};
use crate::store::idempotency::{RecordKey, RecordedAnswer};
use crate::store::{
    Claim, ClaimRequest, PersonKey, PersonStore, RecordedUpdateError, Returning, StoreError,
    Updated,
};
use crate::table::person::VERSION;
use crate::table::CustomerId;

/// The largest body accepted, in bytes (docs/API.md §1).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The header naming the tenant.
pub const CUSTOMER_ID_HEADER: &str = "customer-id";

/// Marks a request whose body was flagged base64 but did not decode; set only by the event
/// adapter, never from anything a caller sends.
#[derive(Debug, Clone, Copy)]
pub struct UndecodableBody;

/// Marks a request from which the event adapter took a header HTTP does not allow (a control
/// character in its value, say), naming it; answered with a 400.
#[derive(Debug, Clone)]
pub struct InvalidHeader(pub String);

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
    /// What a refused Basic login presented as its client id: the id when the clients table
    /// knows it, else a fingerprint (see [`crate::auth::PresentedId`]).
    presented_id: Option<String>,
    /// A hash of the Idempotency-Key (never the key), and what became of it.
    idempotency_key: Option<String>,
    idempotency: &'static str,
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
    let result = process(app, &request, &mut summary, &mut style, &meta).await;
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
        presented_id = summary.presented_id.as_deref().unwrap_or("-"),
        idempotency = if summary.idempotency.is_empty() { "-" } else { summary.idempotency },
        idempotency_key = summary.idempotency_key.as_deref().unwrap_or("-"),
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

/// What steps 1–5 establish about a request.
struct Prepared {
    dialect: &'static Dialect,
    principal: Principal,
    customer: CustomerId,
    person: PersonId,
    precondition: Precondition,
    deadline: Deadline,
}

/// Where a keyed request records its answer.
struct Recording {
    record: RecordKey,
    claim_id: String,
    /// The person as read beside the claim (the two calls are independent, so they run
    /// together); `None` when that read failed and the update must read again.
    prefetched: Option<Option<Record>>,
}

async fn process<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    summary: &mut Summary,
    style: &mut ProblemStyle,
    meta: &RequestMeta,
) -> Result<Response<Body>, ApiError> {
    let prepared = prepare(app, request, summary, style).await?;
    let headers = request.headers();
    let key = idempotency::parse_key(headers).map_err(|why| ApiError::BadRequest(why.into()))?;
    let Some(key) = key else {
        return execute(app, request, summary, &prepared, None).await;
    };

    // An Idempotency-Key: claim it, or answer as it was used before.
    summary.idempotency_key = Some(key.log_hash());
    let record = idempotency::record_key(prepared.customer, &prepared.principal.id, &key);
    let if_match: Vec<&[u8]> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let fingerprint = idempotency::fingerprint(
        request.method().as_str(),
        request.uri().path(),
        &if_match,
        body_bytes(request),
    );
    let claim_id = uuid::Uuid::new_v4().simple().to_string();
    let person_key = PersonKey {
        customer: prepared.customer,
        person: prepared.person,
    };
    // The claim and the read of the person the update needs are independent: one round trip.
    let (claimed, prefetched) = tokio::join!(
        prepared.deadline.run(app.store.claim(ClaimRequest {
            record: &record,
            fingerprint: &fingerprint,
            claim_id: &claim_id,
            now: SystemTime::now(),
        })),
        prepared.deadline.run(app.store.read_person(&person_key)),
    );
    let prefetched = match prefetched {
        Ok(Ok(person)) => Some(person),
        _ => None,
    };
    let claimed = claimed
        .map_err(|Expired| past_deadline(prepared.dialect, "claim"))?
        .map_err(|error| store_error(error, summary, prepared.dialect))?;
    match claimed {
        Claim::Replay(answer) => {
            summary.idempotency = "replayed";
            Ok(idempotency::replay(&answer))
        }
        Claim::Reused => {
            summary.idempotency = "reused";
            Err(ApiError::IdempotencyKeyReused)
        }
        Claim::InFlight { retry_after } => {
            summary.idempotency = "in-flight";
            Err(ApiError::IdempotencyKeyInFlight {
                retry_after_seconds: retry_after.as_secs().max(1),
            })
        }
        Claim::Claimed => {
            summary.idempotency = "first";
            let recording = Recording {
                record,
                claim_id,
                prefetched,
            };
            let result = execute(app, request, summary, &prepared, Some(&recording)).await;
            // A success was recorded with its update; record a refusal the request will always
            // get, release the key after a failure worth retrying.
            if let Err(error) = &result {
                let response = error.to_response(*style, meta);
                let answer = idempotency::is_recorded(response.status().as_u16())
                    .then(|| idempotency::recorded(&response));
                let finished = prepared
                    .deadline
                    .run(
                        app.store
                            .finish(&recording.record, &recording.claim_id, answer.as_ref()),
                    )
                    .await;
                if !matches!(finished, Ok(Ok(()))) {
                    tracing::warn!(
                        dialect = prepared.dialect.name,
                        "the idempotency record could not be finished; it expires with its lock"
                    );
                }
            }
            result
        }
    }
}

/// The request's body bytes (empty when there is none).
fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// Steps 1–5: route, authenticate, scope, customer, path id and `If-Match`.
async fn prepare<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    summary: &mut Summary,
    style: &mut ProblemStyle,
) -> Result<Prepared, ApiError> {
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
    if let Some(InvalidHeader(name)) = request.extensions().get::<InvalidHeader>() {
        return Err(ApiError::BadRequest(format!(
            "The {name} header holds characters HTTP does not allow in a header (control characters); send it without them."
        )));
    }

    // One deadline for every DynamoDB call of the request, from the invocation's.
    let deadline =
        Deadline::from_invocation(request.lambda_context_ref().map_or(0, |c| c.deadline));

    // 2-3. Authenticate, then the scope.
    let headers = request.headers();
    let authenticated = deadline
        .run(
            app.authenticator
                .authenticate(headers, request.request_context_ref()),
        )
        .await
        .map_err(|Expired| past_deadline(dialect, "authenticate"))?;
    let (principal, source) = match authenticated {
        Ok(found) => found,
        Err(AuthError::Refused { reason, presented }) => {
            summary.presented_id = presented.map(|id| Printable(&id.to_string()).to_string());
            return Err(ApiError::Unauthenticated(reason));
        }
        Err(AuthError::Unavailable) => return Err(ApiError::Unavailable),
        Err(AuthError::Failed) => return Err(ApiError::Internal),
    };
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
    Ok(Prepared {
        dialect,
        principal,
        customer,
        person,
        precondition,
        deadline,
    })
}

/// Steps 6–9: media type, size, JSON, field rules, and the update (recorded with its answer
/// under an idempotency key when there is one).
async fn execute<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    summary: &mut Summary,
    prepared: &Prepared,
    recording: Option<&Recording>,
) -> Result<Response<Body>, ApiError> {
    let Prepared {
        dialect,
        ref principal,
        customer,
        person,
        ref precondition,
        deadline,
    } = *prepared;
    let headers = request.headers();

    // 6. Media type and size.
    check_content_type(headers)?;
    if request.extensions().get::<UndecodableBody>().is_some() {
        return Err(ApiError::MalformedBody(
            "The body is marked base64-encoded but is not valid base64.".into(),
        ));
    }
    let body = body_bytes(request);
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
    let plan = build_update(&patch, &stamp, precondition);
    let key = PersonKey { customer, person };
    if let Some(recording) = recording {
        let update_started = Instant::now();
        let result = update_recorded(
            app, &key, &patch, plan, &stamp, prepared, recording, summary,
        )
        .await;
        summary.add_store_time(update_started.elapsed());
        return result;
    }
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
    Ok(success_response(dialect, person, &updated))
}

/// How many times a keyed update reads again when the person changed between its read and
/// its transaction.
const RECORDED_UPDATE_ATTEMPTS: usize = 3;

/// The update of a keyed request: read the person, work out the answer the update will give,
/// then apply the update and record that answer in one transaction (which returns no values,
/// hence the read). The read also tells 404, 412 and foreign types before anything is sent.
#[allow(clippy::too_many_arguments)]
async fn update_recorded<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    key: &PersonKey,
    patch: &engine::Patch,
    plan: engine::UpdatePlan,
    stamp: &Stamp<'_>,
    prepared: &Prepared,
    recording: &Recording,
    summary: &mut Summary,
) -> Result<Response<Body>, ApiError> {
    let dialect = prepared.dialect;
    let deadline = prepared.deadline;
    let mut prefetched = recording.prefetched.clone();
    for _ in 0..RECORDED_UPDATE_ATTEMPTS {
        let old = match prefetched.take() {
            Some(person) => person,
            None => deadline
                .run(app.store.read_person(key))
                .await
                .map_err(|Expired| past_deadline(dialect, "read"))?
                .map_err(|error| store_error(error, summary, dialect))?,
        }
        .ok_or(ApiError::PersonNotFound)?;
        let version = match old.get(VERSION) {
            None => None,
            Some(Stored::Value(Value::N(n))) => Some(
                n.parse::<u64>()
                    .map_err(|_| ApiError::StoredRecordConflict(VERSION))?,
            ),
            Some(_) => return Err(ApiError::StoredRecordConflict(VERSION)),
        };
        if let Precondition::VersionIn(allowed) = &prepared.precondition {
            if !version.is_some_and(|v| allowed.contains(&v)) {
                return Err(ApiError::PreconditionFailed {
                    current_version: version,
                });
            }
        }
        // A map the patch writes into that the record lacks (or holds as NULL) is created
        // whole; one of another type cannot be updated.
        let mut chosen = &plan;
        if let Some(fallback) = plan.fallback.as_deref() {
            for map in &fallback.creates_maps {
                match map_holding(&old, map) {
                    MapHolding::Missing => chosen = fallback,
                    MapHolding::Present => {}
                    MapHolding::Foreign => return Err(ApiError::StoredRecordConflict(map)),
                }
            }
        }
        let new_version = version.unwrap_or(0) + 1;
        let record = apply_patch(&old, patch, stamp, new_version);
        let response = success_response(
            dialect,
            prepared.person,
            &Updated {
                version: new_version,
                record,
            },
        );
        let answer: RecordedAnswer = idempotency::recorded(&response);
        let applied = deadline
            .run(app.store.update_recorded(
                key,
                chosen,
                version,
                &recording.record,
                &recording.claim_id,
                &answer,
            ))
            .await
            .map_err(|Expired| past_deadline(dialect, "update"))?;
        match applied {
            Ok(()) => return Ok(response),
            Err(RecordedUpdateError::PersonChanged) => continue,
            Err(RecordedUpdateError::ClaimLost) => {
                tracing::warn!(
                    dialect = dialect.name,
                    "idempotency claim lost to another request"
                );
                return Err(ApiError::Unavailable);
            }
            Err(RecordedUpdateError::Store(error)) => {
                return Err(store_error(error, summary, dialect))
            }
        }
    }
    tracing::warn!(
        dialect = dialect.name,
        "the person kept changing under a keyed update"
    );
    Err(ApiError::Unavailable)
}

/// The success answer of a dialect for an update.
fn success_response(dialect: &Dialect, person: PersonId, updated: &Updated) -> Response<Body> {
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
    response
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
