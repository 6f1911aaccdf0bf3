//! Steps 6–9 under an `Idempotency-Key` (docs/API.md §7a): claim the key (the person is read
//! beside the claim), answer as the key was used before, or carry the request out and record
//! its answer: a success with its update, in one transaction; a refusal it will always get
//! after it; a failure worth retrying releases the key.

use std::time::{Instant, SystemTime};

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};

use crate::auth::clients::ClientLookup;
use crate::engine::expression::apply_patch;
use crate::engine::record::{stored_version, Record};
use crate::engine::{build_update, Patch, Precondition, Stamp, UpdatePlan};
use crate::http::deadline::Expired;
use crate::http::handler::{
    call, execute, past_deadline, store_error, success_response, App, Executed, Prepared, StoreUse,
};
use crate::http::headers::body_bytes;
use crate::http::idempotency::{self, IdempotencyKey};
use crate::http::problem::{ApiError, RequestMeta};
use crate::store::idempotency::RecordKey;
use crate::store::{
    Claim, ClaimRequest, PersonStore, RecordedUpdate, RecordedUpdateError, Updated,
};

/// Where a keyed request records its answer.
pub(super) struct Recording {
    record: RecordKey,
    claim_id: String,
    /// The person as read beside the claim (the two calls are independent, so they run
    /// together); `None` when that read failed and the update must read again.
    prefetched: Option<Option<Record>>,
}

/// How many times a keyed update reads again when the person changed between its read and
/// its transaction.
const RECORDED_UPDATE_ATTEMPTS: usize = 3;

/// A keyed request: what it came to, and what became of the key (for the log).
pub(super) async fn serve<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    key: &IdempotencyKey,
    meta: &RequestMeta,
) -> (Executed, &'static str) {
    let (claimed, store) = claim(app, request, prepared, key).await;
    let (claim, recording) = match claimed {
        Ok(claimed) => claimed,
        Err(error) => return (Executed::refused(error, store), ""),
    };
    let answered = |result, outcome| {
        let executed = Executed {
            result,
            fields: Vec::new(),
            store,
        };
        (executed, outcome)
    };
    match claim {
        Claim::Replay(answer) => answered(Ok(idempotency::replay(&answer)), "replayed"),
        Claim::Reused => answered(Err(ApiError::IdempotencyKeyReused), "reused"),
        Claim::InFlight { retry_after } => answered(
            Err(ApiError::IdempotencyKeyInFlight {
                retry_after_seconds: retry_after.as_secs().max(1),
            }),
            "in-flight",
        ),
        Claim::Claimed => {
            let mut executed = execute(app, request, prepared, Some(&recording)).await;
            if let Err(error) = &executed.result {
                finish(app, prepared, &recording, error, meta).await;
            }
            executed.store.add(store);
            (executed, "first")
        }
    }
}

/// Claims the key, reading the person beside the claim (one round trip for both).
async fn claim<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    key: &IdempotencyKey,
) -> (Result<(Claim, Recording), ApiError>, StoreUse) {
    let record = idempotency::record_key(prepared.customer, &prepared.principal.id, key);
    let if_match: Vec<&[u8]> = request
        .headers()
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
    let person = prepared.person_key();
    let claiming = app.store.claim(ClaimRequest {
        record: &record,
        fingerprint: &fingerprint,
        claim_id: &claim_id,
        now: SystemTime::now(),
    });
    let ((claimed, store), prefetched) = tokio::join!(
        call(prepared, "claim", claiming),
        prepared.deadline.run(app.store.read_person(&person)),
    );
    let recording = Recording {
        record,
        claim_id,
        prefetched: match prefetched {
            Ok(Ok(person)) => Some(person),
            _ => None,
        },
    };
    (claimed.map(|claim| (claim, recording)), store)
}

/// After a refusal or a failure: records a refusal the request will always get, releases the
/// key after a failure worth retrying (best effort: an unfinished claim lapses with its lock).
async fn finish<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    recording: &Recording,
    error: &ApiError,
    meta: &RequestMeta,
) {
    let response = error.to_response(prepared.dialect.problems, meta);
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

/// The update of a keyed request: read the person, work out the answer the update will give,
/// then apply the update and record that answer in one transaction (which returns no values,
/// hence the read). The read also tells 404, 412 and foreign types before anything is sent.
pub(super) async fn update<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    recording: &Recording,
    patch: &Patch,
    stamp: &Stamp<'_>,
) -> (Result<Response<Body>, ApiError>, StoreUse) {
    let plan = build_update(patch, stamp, &prepared.precondition);
    let key = prepared.person_key();
    let mut store = StoreUse::default();
    let mut prefetched = recording.prefetched.clone();
    for _ in 0..RECORDED_UPDATE_ATTEMPTS {
        let old = match prefetched.take() {
            Some(person) => Ok(person),
            None => {
                let (read, used) = call(prepared, "read", app.store.read_person(&key)).await;
                store.add(used);
                read
            }
        };
        let attempt = match old.and_then(|old| answer_from(prepared, &old, patch, stamp, &plan)) {
            Ok(attempt) => attempt,
            Err(error) => return (Err(error), store),
        };
        let answer = idempotency::recorded(&attempt.response);
        let started = Instant::now();
        let applied = prepared
            .deadline
            .run(app.store.update_recorded(RecordedUpdate {
                key: &key,
                plan: attempt.plan,
                expected_version: attempt.version,
                record: &recording.record,
                claim_id: &recording.claim_id,
                answer: &answer,
            }))
            .await;
        let failure = match &applied {
            Ok(Err(RecordedUpdateError::Store(error))) => Some(error),
            _ => None,
        };
        store.add(StoreUse::took(started.elapsed(), failure));
        match applied {
            Err(Expired) => return (Err(past_deadline(prepared.dialect, "update")), store),
            Ok(Ok(())) => return (Ok(attempt.response), store),
            Ok(Err(RecordedUpdateError::PersonChanged)) => continue,
            Ok(Err(RecordedUpdateError::ClaimLost)) => {
                tracing::warn!(
                    dialect = prepared.dialect.name,
                    "idempotency claim lost to another request"
                );
                return (Err(ApiError::Unavailable), store);
            }
            Ok(Err(RecordedUpdateError::Store(error))) => {
                return (Err(store_error(error, prepared.dialect)), store)
            }
        }
    }
    tracing::warn!(
        dialect = prepared.dialect.name,
        "the person kept changing under a keyed update"
    );
    (Err(ApiError::Unavailable), store)
}

/// One attempt of a keyed update: the version it is conditioned on, the plan that applies to
/// the record as read, and the answer the update gives.
struct Attempt<'a> {
    version: Option<u64>,
    plan: &'a UpdatePlan,
    response: Response<Body>,
}

/// What `plan` will do to `old` (the person as read; `None`: there is none): refused for 404,
/// 412 and foreign types, else the version to condition on, the plan and the answer.
fn answer_from<'a>(
    prepared: &Prepared,
    old: &Option<Record>,
    patch: &Patch,
    stamp: &Stamp<'_>,
    plan: &'a UpdatePlan,
) -> Result<Attempt<'a>, ApiError> {
    let old = old.as_ref().ok_or(ApiError::PersonNotFound)?;
    let version = stored_version(old).map_err(ApiError::StoredRecordConflict)?;
    if let Precondition::VersionIn(allowed) = &prepared.precondition {
        if !version.is_some_and(|v| allowed.contains(&v)) {
            return Err(ApiError::PreconditionFailed {
                current_version: version,
            });
        }
    }
    let plan = plan
        .for_record(old)
        .map_err(ApiError::StoredRecordConflict)?;
    let new_version = version.unwrap_or(0) + 1;
    let updated = Updated {
        version: new_version,
        record: apply_patch(old, patch, stamp, new_version),
    };
    Ok(Attempt {
        version,
        plan,
        response: success_response(prepared.dialect, prepared.person, &updated),
    })
}
