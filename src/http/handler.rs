//! The PATCH handler: a plain async function from `lambda_http::Request` to a response,
//! taking the checks in the API's order (docs/API.md §1) as named steps. Steps 1–5 prepare
//! the request; steps 6–9 ([`crate::http::execute`]) run plainly, or under an
//! `Idempotency-Key` ([`crate::http::idempotency`]). Each step returns what it found out;
//! [`serve`] alone puts that into the request's log line.

use std::time::{Duration, Instant};

use lambda_http::{Body, Request, RequestExt, Response};

use crate::auth::{AuthError, Principal, Source, WRITE_SCOPE};
use crate::dialect::{Dialect, PersonId, ProblemStyle};
use crate::engine::json::Printable;
use crate::engine::Precondition;
use crate::http::app::App;
use crate::http::conditional;
use crate::http::deadline::{Deadline, Expired};
use crate::http::execute::{execute, past_deadline, Prepared, StoreUse, WriteTerms};
use crate::http::headers::{customer_of, request_id, InvalidHeader};
use crate::http::idempotency::flow::{self, Outcome};
use crate::http::idempotency::key::parse_key;
use crate::http::idempotency::pending::PendingAnswer;
use crate::http::problem::{ApiError, RequestMeta};
use crate::http::routing::{self, NoRoute, Route};
use crate::ops::telemetry::RequestMetrics;
use crate::store::{ClientLookup, Store};

/// A request's response, and the `Idempotency-Key` answer it leaves to save once the response
/// is posted (see [`PendingAnswer`]).
#[derive(Debug)]
pub struct Handled<R> {
    pub response: R,
    pub pending: Option<PendingAnswer>,
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
    idempotency: Option<Outcome>,
}

/// Handles one request. Never panics on input and never answers 500 for a caller's mistake.
pub async fn handle<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    request: Request,
) -> Handled<Response<Body>> {
    let started = Instant::now();
    let meta = RequestMeta {
        request_id: request_id(&request),
        instance: request.uri().path().to_owned(),
    };
    let (result, style, log, pending) = serve(app, &request, &meta).await;
    let request_ids = request
        .lambda_context_ref()
        .map(|c| (c.request_id.clone(), c.xray_trace_id.clone()));
    let (response, problem) = match result {
        Ok(response) => (response, None),
        Err(error) => (error.to_response(style, &meta), Some(error)),
    };
    report(
        app,
        &meta,
        &response,
        problem.as_ref(),
        &log,
        started.elapsed(),
        request_ids,
    );
    Handled { response, pending }
}

/// The summary log line and the metrics of one answered request (`request_ids`: the Lambda
/// invocation's request id and trace id, for the metrics line).
fn report<S, D>(
    app: &App<S, D>,
    meta: &RequestMeta,
    response: &Response<Body>,
    problem: Option<&ApiError>,
    log: &RequestLog,
    latency: Duration,
    request_ids: Option<(String, Option<String>)>,
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
        idempotency = log.idempotency.map_or("-", Outcome::as_str),
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
        invocation: request_ids,
    });
}

/// The route as API Gateway names it, e.g. `PATCH /v1/persons/{personId}`.
fn route_template(dialect: &Dialect) -> String {
    format!("PATCH /{}/{{personId}}", dialect.route.join("/"))
}

/// The steps in order, each one's findings written into the log as they come: the answer
/// (or the refusal), the problem style it is rendered in, and the log.
async fn serve<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    meta: &RequestMeta,
) -> (
    Result<Response<Body>, ApiError>,
    ProblemStyle,
    RequestLog,
    Option<PendingAnswer>,
) {
    let mut log = RequestLog::default();
    let mut pending = None;
    // 1. Route.
    let route = match route(request) {
        Ok(route) => route,
        Err((error, style)) => return (Err(error), style, log, None),
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
        let key = parse_key(request.headers()).map_err(|why| ApiError::BadRequest(why.into()))?;
        let executed = match key {
            None => {
                // The write id is the same for every attempt the SDK makes of this update,
                // and new for every request.
                let write_id = uuid::Uuid::new_v4().simple().to_string();
                execute(app, request, &prepared, &WriteTerms::plain(&write_id)).await
            }
            Some(key) => {
                log.idempotency_key = Some(key.log_hash());
                let keyed = flow::serve(app, request, &prepared, &key, meta).await;
                log.idempotency = Some(keyed.outcome);
                pending = keyed.pending;
                keyed.executed
            }
        };
        log.fields = executed.fields;
        log.store.add(executed.store);
        executed.result
    }
    .await;
    (result, dialect.problems, log, pending)
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
async fn authenticate<S: Store, D: ClientLookup>(
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
