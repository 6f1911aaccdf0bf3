//! Steps 6–9 of a request, below both the plain and the keyed path: what steps 1–5 prepared,
//! the body read and checked, the one conditional `UpdateItem` stamped with a write id, and the
//! success answer; each persons-table call under the request's deadline, timed, its failure
//! turned into the answer it calls for.

use std::future::Future;
use std::time::{Duration, Instant};

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::auth::Principal;
use crate::dialect::{Dialect, PersonId, Success};
use crate::engine::{self, build_update, json, Definitions, Patch, Precondition, Stamp};
use crate::http::app::App;
use crate::http::conditional;
use crate::http::deadline::{Deadline, Expired};
use crate::http::headers::{body_bytes, check_content_type};
use crate::http::idempotency::settle::AsRead;
use crate::http::problem::ApiError;
use crate::store::{ClientLookup, PersonKey, Returning, Store, StoreError, Updated};
use crate::table::{self, CustomerId};

/// The largest body accepted, in bytes (docs/API.md §1).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Marks a request whose body was flagged base64 but did not decode; set only by the event
/// adapter, never from anything a caller sends.
#[derive(Debug, Clone, Copy)]
pub struct UndecodableBody;

/// The persons-table time a step spent, and whether DynamoDB throttled it.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreUse {
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

/// How steps 6–9 ended: the answer, the fields the patch names (for the log), what they spent
/// in the store, and, when the update was sent and did not succeed, how it failed.
pub struct Executed {
    pub result: Result<Response<Body>, ApiError>,
    pub fields: Vec<String>,
    pub store: StoreUse,
    pub failed_update: Option<CallFailure>,
}

impl Executed {
    /// A request answered without an update.
    pub fn answered(result: Result<Response<Body>, ApiError>, store: StoreUse) -> Executed {
        Executed {
            result,
            fields: Vec::new(),
            store,
            failed_update: None,
        }
    }
}

/// How a persons-table call failed: the store's error, or the request's deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    Store(StoreError),
    Expired,
}

/// What steps 1–5 establish about a request.
pub struct Prepared {
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
        PersonKey::new(self.customer, self.person)
    }
}

/// The terms of the one update a request sends.
#[derive(Debug, Clone, Copy)]
pub struct WriteTerms<'a> {
    /// Stamped as the person's `lastWriteId`: the same for every sending of the update.
    pub write_id: &'a str,
    /// A keyed write's fence (see [`crate::engine::UpdatePlan::fenced`]).
    pub fence: Option<OffsetDateTime>,
    /// A taken-over write carried out: the person as the read that settled it found it, which
    /// the update then requires (see [`crate::http::idempotency`]).
    pub read: Option<AsRead>,
}

impl<'a> WriteTerms<'a> {
    /// A plain request's update: its write id alone.
    pub fn plain(write_id: &'a str) -> WriteTerms<'a> {
        WriteTerms {
            write_id,
            fence: None,
            read: None,
        }
    }
}

/// Steps 6–9: media type, size, JSON, field rules, and the update, on `terms`.
pub async fn execute<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    terms: &WriteTerms<'_>,
) -> Executed {
    let now = (app.clock)();
    let (patch, mut store) = match read_patch(app, request, prepared, now).await {
        (Ok(patch), store) => (patch, store),
        (Err(error), store) => return Executed::answered(Err(error), store),
    };
    let fields = patch.touched_attributes().collect();
    // 9. Store.
    let updated_at = table::timestamp(now);
    let stamp = Stamp {
        updated_at: &updated_at,
        updated_by: &prepared.principal.id,
        write_id: terms.write_id,
    };
    let (result, used, failed_update) = update(app, prepared, &patch, &stamp, terms).await;
    store.add(used);
    Executed {
        result,
        fields,
        store,
        failed_update,
    }
}

/// Steps 6–8: the body, read, parsed and checked against the field rules (and the customer's
/// custom field definitions, when the body sets custom fields).
async fn read_patch<S: Store, D: ClientLookup>(
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

/// Step 9: one conditional `UpdateItem`. A taken-over write whose person as read `If-Match`
/// refuses is refused as the update would be, without sending it.
async fn update<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    patch: &Patch,
    stamp: &Stamp<'_>,
    terms: &WriteTerms<'_>,
) -> (
    Result<Response<Body>, ApiError>,
    StoreUse,
    Option<CallFailure>,
) {
    let precondition = match required(&prepared.precondition, terms.read) {
        Ok(precondition) => precondition,
        Err(refusal) => {
            let error = store_error(refusal, prepared.dialect);
            return (Err(error), StoreUse::default(), None);
        }
    };
    let mut plan = build_update(patch, stamp, &precondition);
    if let Some(fence) = terms.fence {
        plan = plan.fenced(&table::timestamp(fence));
    }
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
    let failed_update = match &outcome {
        Ok(Ok(_)) => None,
        Ok(Err(error)) => Some(CallFailure::Store(error.clone())),
        Err(Expired) => Some(CallFailure::Expired),
    };
    let (updated, store) = answer_of_call(prepared, "update", outcome, started.elapsed());
    let response =
        updated.map(|updated| success_response(prepared.dialect, prepared.person, &updated));
    (response, store, failed_update)
}

/// What the update requires of the person: the request's precondition, narrowed for a
/// taken-over write to the person as read (so that a sending of the earlier claimant that
/// lands after the read refuses it), or the refusal `If-Match` gives the person as read.
fn required(precondition: &Precondition, read: Option<AsRead>) -> Result<Precondition, StoreError> {
    match read {
        None | Some(AsRead::Absent) => Ok(precondition.clone()),
        Some(AsRead::Version(version)) if precondition.allows(version) => {
            Ok(Precondition::VersionIn(vec![version]))
        }
        Some(AsRead::Unversioned) if *precondition == Precondition::Exists => {
            Ok(Precondition::Unversioned)
        }
        Some(AsRead::Version(version)) => Err(StoreError::VersionMismatch {
            current: Some(version),
        }),
        Some(AsRead::Unversioned) => Err(StoreError::VersionMismatch { current: None }),
    }
}

/// One persons-table call under the request's deadline, timed, its failure turned into the
/// answer it calls for.
pub async fn call<T>(
    prepared: &Prepared,
    during: &'static str,
    store_call: impl Future<Output = Result<T, StoreError>>,
) -> (Result<T, ApiError>, StoreUse) {
    call_by(prepared.deadline, prepared, during, store_call).await
}

/// [`call`] under another deadline than the request's (see [`Deadline::with_grace`]).
pub async fn call_by<T>(
    deadline: Deadline,
    prepared: &Prepared,
    during: &'static str,
    store_call: impl Future<Output = Result<T, StoreError>>,
) -> (Result<T, ApiError>, StoreUse) {
    let started = Instant::now();
    let outcome = deadline.run(store_call).await;
    answer_of_call(prepared, during, outcome, started.elapsed())
}

/// A call's outcome as the answer it calls for, and what it spent.
fn answer_of_call<T>(
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
pub fn success_response(dialect: &Dialect, person: PersonId, updated: &Updated) -> Response<Body> {
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
pub fn past_deadline(dialect: &Dialect, during: &'static str) -> ApiError {
    tracing::warn!(dialect = dialect.name, during, "request deadline reached");
    ApiError::Unavailable
}

/// The answer a store failure calls for; what went wrong is logged, by kind only.
pub fn store_error(error: StoreError, dialect: &Dialect) -> ApiError {
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
