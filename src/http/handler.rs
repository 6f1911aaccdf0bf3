//! The PATCH handler: a plain async function from `lambda_http::Request` to a response,
//! taking the checks in the API's order (docs/API.md §1) as named steps. Each step returns
//! what it found out; [`serve`] alone puts that into the request's log line.

use std::future::Future;
use std::time::{Duration, Instant};

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use time::OffsetDateTime;

use crate::auth::{AuthError, Authenticator, Principal, Source, WRITE_SCOPE};
use crate::dialect::{Dialect, PersonId, ProblemStyle, Success};
use crate::engine::json::Printable;
use crate::engine::{self, build_update, json, Definitions, Patch, Precondition, Stamp};
use crate::http::conditional;
use crate::http::deadline::{Deadline, Expired};
use crate::http::headers::{body_bytes, check_content_type, customer_of, request_id};
use crate::http::idempotency::{flow as keyed, key as idempotency};
use crate::http::problem::{ApiError, RequestMeta};
use crate::http::routing::{self, NoRoute, Route};
use crate::ops::telemetry::{Metrics, MetricsSink, RequestMetrics};
use crate::store::clients::ClientDirectory;
use crate::store::ClientLookup;
use crate::store::{PersonKey, PersonStore, Returning, StoreError, Updated};
use crate::table::{self, CustomerId};

/// The largest body accepted, in bytes (docs/API.md §1).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

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
    /// Idempotency records to finish once the response is posted.
    pub(crate) unrecorded: keyed::Unrecorded,
}

impl<S: PersonStore, D: ClientLookup> App<S, D> {
    pub fn new(store: S, authenticator: Authenticator<D>) -> Self {
        App {
            store,
            authenticator,
            clock: OffsetDateTime::now_utc,
            metrics: Metrics::new(MetricsSink::Off),
            unrecorded: keyed::Unrecorded::default(),
        }
    }

    /// The work an answer does not wait for: finishing the records of keyed requests. The
    /// Lambda entry point runs it after posting each response and before asking for the next
    /// event (Lambda freezes a container only then); every other caller of the handler runs it
    /// after each answer. The handler also runs it first, so nothing is ever left behind.
    pub async fn after_response(&self) {
        self.unrecorded.finish_all(&self.store).await;
    }

    /// Sends one EMF metrics line per request to `sink`.
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = Metrics::new(sink);
        self
    }
}

/// What the summary log line says of a request. Names only: never a value.
#[derive(Debug, Default)]
struct RequestLog {
    dialect: Option<&'static Dialect>,
    principal: Option<String>,
    auth: Option<Source>,
    customer: Option<i64>,
    fields: Vec<String>,
    store: StoreUse,
    /// What a refused Basic login presented as its client id: the id when the clients table
    /// knows it, else a fingerprint (see [`crate::auth::PresentedId`]).
    presented_id: Option<String>,
    /// A hash of the Idempotency-Key (never the key), and what became of it.
    idempotency_key: Option<String>,
    idempotency: &'static str,
}

/// The persons-table time a step spent, and whether DynamoDB throttled it.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StoreUse {
    pub time: Option<Duration>,
    pub throttled: bool,
}

impl StoreUse {
    pub fn add(&mut self, other: StoreUse) {
        self.time = match (self.time, other.time) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.throttled |= other.throttled;
    }

    /// A call that took `took`, and failed with `error` if it did.
    pub fn took(took: Duration, error: Option<&StoreError>) -> StoreUse {
        StoreUse {
            time: Some(took),
            throttled: error == Some(&StoreError::Throttled),
        }
    }
}

/// How a step that reaches the store ended: its answer, the fields it changed (for the log),
/// what it spent in the store, and what became of its update.
pub(crate) struct Executed {
    pub result: Result<Response<Body>, ApiError>,
    pub fields: Vec<String>,
    pub store: StoreUse,
    pub write: Write,
}

impl Executed {
    pub fn refused(error: ApiError, store: StoreUse) -> Executed {
        Executed {
            result: Err(error),
            fields: Vec::new(),
            store,
            write: Write::NotSent,
        }
    }
}

/// What became of a request's update, as far as the function can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    /// None was sent: the request was answered before it.
    NotSent,
    /// DynamoDB answered it: applied, or refused with nothing written.
    Answered,
    /// Throttled at its last attempt: not applied, unless an earlier attempt was (the person
    /// then carries its write id).
    Throttled,
    /// Perhaps applied (no reply, an unreadable one, a server error, the deadline), and perhaps
    /// still to be applied by a sending in flight.
    Unknown,
}

impl Write {
    fn of<T>(outcome: &Result<Result<T, StoreError>, Expired>) -> Write {
        match outcome {
            Ok(Ok(_))
            | Ok(Err(
                StoreError::NotFound
                | StoreError::VersionMismatch { .. }
                | StoreError::RecordTooLarge
                | StoreError::ForeignType(_),
            )) => Write::Answered,
            Ok(Err(StoreError::Throttled)) => Write::Throttled,
            Ok(Err(StoreError::Unavailable(_) | StoreError::Failed(_))) | Err(Expired) => {
                Write::Unknown
            }
        }
    }
}

/// Handles one request. Never panics on input and never answers 500 for a caller's mistake.
pub async fn handle<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: Request,
) -> Response<Body> {
    app.after_response().await;
    let started = Instant::now();
    let meta = RequestMeta {
        request_id: request_id(&request),
        instance: request.uri().path().to_owned(),
    };
    let (result, style, log) = serve(app, &request, &meta).await;
    let (response, problem) = match result {
        Ok(response) => (response, None),
        Err(error) => (error.to_response(style, &meta), Some(error)),
    };
    record(
        app,
        &meta,
        &response,
        problem.as_ref(),
        &log,
        started.elapsed(),
    );
    response
}

/// The summary log line and the metrics of one answered request.
fn record<S, D>(
    app: &App<S, D>,
    meta: &RequestMeta,
    response: &Response<Body>,
    problem: Option<&ApiError>,
    log: &RequestLog,
    latency: Duration,
) {
    let status = response.status().as_u16();
    let route = log.dialect.map(route_template);
    tracing::info!(
        request_id = %meta.request_id,
        route = route.as_deref().unwrap_or("-"),
        dialect = log.dialect.map_or("-", |d| d.name),
        principal = log.principal.as_deref().unwrap_or("-"),
        auth = match log.auth {
            Some(Source::Cache) => "cached",
            Some(Source::Verified) => "verified",
            None => "-",
        },
        customer = log.customer.unwrap_or(0),
        status,
        problem = problem.map_or("-", ApiError::slug),
        fields = %log.fields.join(","),
        duration_ms = latency.as_secs_f64() * 1000.0,
        dynamodb_ms = log.store.time.map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        presented_id = log.presented_id.as_deref().unwrap_or("-"),
        idempotency = if log.idempotency.is_empty() { "-" } else { log.idempotency },
        idempotency_key = log.idempotency_key.as_deref().unwrap_or("-"),
        "request"
    );
    app.metrics.record(&RequestMetrics {
        route: log.dialect.map_or("unmatched", |d| d.name),
        status,
        latency_ms: latency.as_secs_f64() * 1000.0,
        store_latency_ms: log.store.time.map(|d| d.as_secs_f64() * 1000.0),
        auth_failed: matches!(
            problem,
            Some(ApiError::Unauthenticated(_) | ApiError::Forbidden(_))
        ),
        validation_failed: matches!(
            problem,
            Some(ApiError::Rejected(_) | ApiError::MalformedBody(_))
        ),
        throttled: log.store.throttled,
    });
}

/// The route as API Gateway names it, e.g. `PATCH /v1/persons/{personId}`.
fn route_template(dialect: &Dialect) -> String {
    format!("PATCH /{}/{{personId}}", dialect.route.join("/"))
}

/// What steps 1–5 establish about a request.
pub(crate) struct Prepared {
    pub dialect: &'static Dialect,
    pub principal: Principal,
    pub customer: CustomerId,
    pub person: PersonId,
    pub precondition: Precondition,
    pub deadline: Deadline,
}

impl Prepared {
    /// Where the person is stored.
    pub fn person_key(&self) -> PersonKey {
        PersonKey {
            customer: self.customer,
            person: self.person,
        }
    }
}

/// The steps in order, each one's findings written into the log as they come: the answer
/// (or the refusal), the problem style it is rendered in, and the log.
async fn serve<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    meta: &RequestMeta,
) -> (Result<Response<Body>, ApiError>, ProblemStyle, RequestLog) {
    let mut log = RequestLog::default();
    // 1. Route.
    let route = match route(request) {
        Ok(route) => route,
        Err((error, style)) => return (Err(error), style, log),
    };
    let dialect = route.dialect;
    log.dialect = Some(dialect);
    let result = async {
        if let Some(InvalidHeader(name)) = request.extensions().get::<InvalidHeader>() {
            return Err(ApiError::BadRequest(format!(
                "The {name} header holds characters HTTP does not allow in a header (control characters); send it without them."
            )));
        }
        // One deadline for every DynamoDB call of the request, from the invocation's.
        let deadline =
            Deadline::from_invocation(request.lambda_context_ref().map_or(0, |c| c.deadline));
        // 2-3. Authenticate, then the scope.
        let (principal, source) = match authenticate(app, request, dialect, deadline).await {
            Ok(found) => found,
            Err((error, presented)) => {
                log.presented_id = presented;
                return Err(error);
            }
        };
        log.principal = Some(principal.id.clone());
        log.auth = Some(source);
        if !principal.has_scope(WRITE_SCOPE) {
            return Err(ApiError::Forbidden(
                "Your credentials lack the contacts:persons:write scope.",
            ));
        }
        // 4. Customer.
        let customer = customer_of(request.headers(), dialect.customer_header, &principal)?;
        log.customer = Some(customer.0);
        // 5. Path id and If-Match.
        let (person, precondition) = target(request, &route)?;
        let prepared = Prepared {
            dialect,
            principal,
            customer,
            person,
            precondition,
            deadline,
        };
        // With an Idempotency-Key, steps 6–9 run under a claim on it.
        let key = idempotency::parse_key(request.headers())
            .map_err(|why| ApiError::BadRequest(why.into()))?;
        let executed = match key {
            None => {
                // The write id is the same for every attempt the SDK makes of this update,
                // and new for every request.
                let write_id = uuid::Uuid::new_v4().simple().to_string();
                execute(app, request, &prepared, &write_id).await
            }
            Some(key) => {
                log.idempotency_key = Some(key.log_hash());
                let (executed, outcome) = keyed::serve(app, request, &prepared, &key, meta).await;
                log.idempotency = outcome;
                executed
            }
        };
        log.fields = executed.fields;
        log.store.add(executed.store);
        executed.result
    }
    .await;
    (result, dialect.problems, log)
}

/// Step 1: the dialect and person id the path names, or the refusal and its problem style.
fn route(request: &Request) -> Result<Route, (ApiError, ProblemStyle)> {
    let parameters = request.path_parameters_ref();
    let route = routing::route(request.method().as_str(), request.uri().path(), |name| {
        parameters.and_then(|p| p.first(name))
    });
    match route {
        Ok(route) => Ok(route),
        Err(NoRoute::NotFound) => Err((ApiError::RouteNotFound, ProblemStyle::Rfc9457)),
        Err(NoRoute::MethodNotAllowed(dialect)) => {
            Err((ApiError::MethodNotAllowed, dialect.problems))
        }
    }
}

/// Step 2: the principal, or the refusal and what the log may say of the id it presented.
async fn authenticate<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    dialect: &Dialect,
    deadline: Deadline,
) -> Result<(Principal, Source), (ApiError, Option<String>)> {
    let authenticated = deadline
        .run(
            app.authenticator
                .authenticate(request.headers(), request.request_context_ref()),
        )
        .await
        .map_err(|Expired| (past_deadline(dialect, "authenticate"), None))?;
    authenticated.map_err(|error| match error {
        AuthError::Refused { reason, presented } => (
            ApiError::Unauthenticated(reason),
            presented.map(|id| Printable(&id.to_string()).to_string()),
        ),
        AuthError::Unavailable => (ApiError::Unavailable, None),
        AuthError::Failed => (ApiError::Internal, None),
    })
}

/// Step 5: the person id in the path, and what `If-Match` asks.
fn target(request: &Request, route: &Route) -> Result<(PersonId, Precondition), ApiError> {
    let person = route
        .dialect
        .id_format
        .parse(&route.person_id)
        .map_err(|why| ApiError::BadRequest(why.to_owned()))?;
    let precondition = conditional::precondition(request.headers())
        .map_err(|why| ApiError::BadRequest(why.to_owned()))?;
    Ok((person, precondition))
}

/// Steps 6–9: media type, size, JSON, field rules, and the update, stamped with `write_id`.
pub(crate) async fn execute<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    write_id: &str,
) -> Executed {
    let now = (app.clock)();
    let (patch, mut store) = match read_patch(app, request, prepared, now).await {
        (Ok(patch), store) => (patch, store),
        (Err(error), store) => return Executed::refused(error, store),
    };
    let fields = patch.touched_attributes().collect();
    // 9. Store.
    let updated_at = table::timestamp(now);
    let stamp = Stamp {
        updated_at: &updated_at,
        updated_by: &prepared.principal.id,
        write_id,
    };
    let (result, used, write) = update(app, prepared, &patch, &stamp).await;
    store.add(used);
    Executed {
        result,
        fields,
        store,
        write,
    }
}

/// Steps 6–8: the body, read, parsed and checked against the field rules (and the customer's
/// custom field definitions, when the body sets custom fields).
async fn read_patch<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    now: OffsetDateTime,
) -> (Result<Patch, ApiError>, StoreUse) {
    let draft = match read_body(request).and_then(|body| {
        let document = json::parse(body)
            .map_err(|e| ApiError::MalformedBody(format!("The body is not valid JSON: {e}.")))?;
        engine::validate(&prepared.dialect.fields, &document, now.date())
            .map_err(ApiError::Rejected)
    }) {
        Ok(draft) => draft,
        Err(error) => return (Err(error), StoreUse::default()),
    };
    if !draft.needs_definitions() {
        let patch = draft
            .finish(&Definitions::new())
            .map_err(ApiError::Rejected);
        return (patch, StoreUse::default());
    }
    let (definitions, store) = call(
        prepared,
        "definitions",
        app.store.field_definitions(prepared.customer),
    )
    .await;
    let patch = definitions.and_then(|d| draft.finish(&d).map_err(ApiError::Rejected));
    (patch, store)
}

/// Steps 6–7 up to the JSON: the media type, the body's encoding and size, and that it is
/// not empty.
fn read_body(request: &Request) -> Result<&[u8], ApiError> {
    check_content_type(request.headers())?;
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
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MalformedBody(
            "The body is empty; send a JSON object with the fields to change.".into(),
        ));
    }
    Ok(body)
}

/// Step 9: one conditional `UpdateItem`.
async fn update<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    patch: &Patch,
    stamp: &Stamp<'_>,
) -> (Result<Response<Body>, ApiError>, StoreUse, Write) {
    let plan = build_update(patch, stamp, &prepared.precondition);
    let key = prepared.person_key();
    let returning = match prepared.dialect.success {
        Success::NoContent => Returning::Changes,
        Success::Record => Returning::Record,
    };
    let started = Instant::now();
    let outcome = prepared
        .deadline
        .run(app.store.update_person(&key, plan, returning))
        .await;
    let write = Write::of(&outcome);
    let (updated, store) = settle(prepared, "update", outcome, started.elapsed());
    let response =
        updated.map(|updated| success_response(prepared.dialect, prepared.person, &updated));
    (response, store, write)
}

/// One persons-table call under the request's deadline, timed, its failure turned into the
/// answer it calls for.
pub(crate) async fn call<T>(
    prepared: &Prepared,
    during: &'static str,
    store_call: impl Future<Output = Result<T, StoreError>>,
) -> (Result<T, ApiError>, StoreUse) {
    let started = Instant::now();
    let outcome = prepared.deadline.run(store_call).await;
    settle(prepared, during, outcome, started.elapsed())
}

/// A call's outcome as the answer it calls for, and what it spent.
fn settle<T>(
    prepared: &Prepared,
    during: &'static str,
    outcome: Result<Result<T, StoreError>, Expired>,
    took: Duration,
) -> (Result<T, ApiError>, StoreUse) {
    match outcome {
        Err(Expired) => (
            Err(past_deadline(prepared.dialect, during)),
            StoreUse::took(took, None),
        ),
        Ok(Ok(value)) => (Ok(value), StoreUse::took(took, None)),
        Ok(Err(error)) => {
            let used = StoreUse::took(took, Some(&error));
            (Err(store_error(error, prepared.dialect)), used)
        }
    }
}

/// The success answer of a dialect for an update.
pub(crate) fn success_response(
    dialect: &Dialect,
    person: PersonId,
    updated: &Updated,
) -> Response<Body> {
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
pub(crate) fn past_deadline(dialect: &Dialect, during: &'static str) -> ApiError {
    tracing::warn!(dialect = dialect.name, during, "request deadline reached");
    ApiError::Unavailable
}

/// The answer a store failure calls for; what went wrong is logged, by kind only.
pub(crate) fn store_error(error: StoreError, dialect: &Dialect) -> ApiError {
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
