//! Steps 6–9 under an `Idempotency-Key` (docs/API.md §7a): claim the key, answer as the key
//! was used before, or carry the request out with the plain path's one update, stamped with
//! the claim's write id, and record its answer. Nothing is conditioned on a version read
//! before, so a busy person costs a keyed request no more than a plain one.
//!
//! What a claimant did that never recorded its answer (it crashed, or lost every reply) is
//! told by its write id: the person carries it while that write is the last. A claimant that
//! takes the claim over keeps the write id, and settles the earlier write before anything else.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;

use crate::engine::record::{version_of, Record, Stored};
use crate::engine::Value;
use crate::http::deadline::Deadline;
use crate::http::handler::{
    call, execute, success_response, App, Executed, Prepared, StoreUse, Write,
};
use crate::http::headers::body_bytes;
use crate::http::idempotency::key::{self as idempotency, IdempotencyKey};
use crate::http::problem::{ApiError, RequestMeta};
use crate::store::idempotency::{RecordKey, RecordedAnswer};
use crate::store::ClientLookup;
use crate::store::{Claim, ClaimRequest, KeyedWrite, PersonStore, Updated};
use crate::table::{self, person};

/// Where a keyed request records its answer, and the write it makes.
struct Recording {
    record: RecordKey,
    claim_id: String,
    write: KeyedWrite,
}

impl Recording {
    /// Whether the claim was taken over from a claimant that never finished it.
    fn took_over(&self) -> bool {
        self.write.write_id != self.claim_id
    }
}

/// How far clocks of the function's containers may disagree: a person last written this long
/// before a claim may still have been written after it.
const CLOCK_MARGIN: Duration = Duration::from_secs(1);

/// A keyed request: what it came to, and what became of the key (for the log).
pub(crate) async fn serve<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    key: &IdempotencyKey,
    meta: &RequestMeta,
) -> (Executed, &'static str) {
    let (claimed, mut store) = claim(app, request, prepared, key).await;
    let (claim, record, claim_id) = match claimed {
        Ok(claimed) => claimed,
        Err(error) => return (Executed::refused(error, store), ""),
    };
    let answered = |result, store, outcome| {
        let executed = Executed {
            result,
            fields: Vec::new(),
            store,
            write: Write::NotSent,
        };
        (executed, outcome)
    };
    let write = match claim {
        Claim::Replay(answer) => {
            return answered(Ok(idempotency::replay(&answer)), store, "replayed")
        }
        Claim::Reused => return answered(Err(ApiError::IdempotencyKeyReused), store, "reused"),
        // The lock bounds how long the first may run; most finish far sooner, so the retry
        // is asked to come back in a second.
        Claim::InFlight => {
            let error = ApiError::IdempotencyKeyInFlight {
                retry_after_seconds: 1,
            };
            return answered(Err(error), store, "in-flight");
        }
        Claim::Claimed(write) => write,
    };
    let recording = Recording {
        record,
        claim_id,
        write,
    };
    if recording.took_over() {
        let (settled, used) = settle_abandoned(app, prepared, &recording, meta).await;
        store.add(used);
        if let Some((result, outcome)) = settled {
            return answered(result, store, outcome);
        }
    }
    let mut executed = execute(app, request, prepared, &recording.write.write_id).await;
    executed.store.add(store);
    (
        conclude(app, prepared, &recording, executed, meta).await,
        "first",
    )
}

/// How long, step by step, a request waits for the same request running elsewhere before it
/// answers 409: the first records its answer right after posting its response, so a retry
/// sent at once usually meets it still running for a few milliseconds.
const IN_FLIGHT_WAITS: [Duration; 4] = [
    Duration::from_millis(20),
    Duration::from_millis(40),
    Duration::from_millis(80),
    Duration::from_millis(160),
];

/// Claims the key; while the same request runs elsewhere, waits a little for its answer.
async fn claim<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    key: &IdempotencyKey,
) -> (Result<(Claim, RecordKey, String), ApiError>, StoreUse) {
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
    let mut store = StoreUse::default();
    let mut waits = IN_FLIGHT_WAITS.iter();
    loop {
        let claiming = app.store.claim(ClaimRequest {
            record: &record,
            fingerprint: &fingerprint,
            claim_id: &claim_id,
            now: SystemTime::now(),
        });
        let (claimed, used) = call(prepared, "claim", claiming).await;
        store.add(used);
        match (&claimed, waits.next()) {
            (Ok(Claim::InFlight), Some(wait)) if prepared.deadline.allows(*wait) => {
                tokio::time::sleep(*wait).await;
            }
            _ => return (claimed.map(|claim| (claim, record, claim_id)), store),
        }
    }
}

/// A claim taken over from a claimant that never finished: its write, when the person shows
/// it was applied, is answered (and recorded) as the success it was; when the person shows it
/// was not, the request goes on (`None`); otherwise the outcome is unknown, and that is the
/// answer. A failed read leaves the claim for a later retry to settle.
async fn settle_abandoned<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    recording: &Recording,
    meta: &RequestMeta,
) -> (
    Option<(Result<Response<Body>, ApiError>, &'static str)>,
    StoreUse,
) {
    let key = prepared.person_key();
    let (read, store) = call(prepared, "read", app.store.read_person(&key)).await;
    let person = match read {
        Ok(person) => person,
        Err(error) => return (Some((Err(error), "unsettled")), store),
    };
    let (result, outcome) = match earlier_write(person.as_ref(), &recording.write) {
        Earlier::NotApplied => return (None, store),
        Earlier::Applied(updated) => {
            let response = success_response(prepared.dialect, prepared.person, &updated);
            let answer = idempotency::recorded(&response);
            let replayed = idempotency::replay(&answer);
            record_answer(app, prepared, recording, Some(answer));
            (Ok(replayed), "recovered")
        }
        Earlier::Unknown => {
            tracing::warn!(
                dialect = prepared.dialect.name,
                "an abandoned keyed request's outcome cannot be told"
            );
            let error = ApiError::IdempotencyOutcomeUnknown;
            let response = error.to_response(prepared.dialect.problems, meta);
            record_answer(
                app,
                prepared,
                recording,
                Some(idempotency::recorded(&response)),
            );
            (Err(error), "outcome-unknown")
        }
    };
    (Some((result, outcome)), store)
}

/// After the request ran: records its answer (a success, or a refusal it will always get), or
/// releases the key when nothing was written, once the response is posted. When the update's fate is unknown, the person
/// tells whether it was applied; if it cannot tell, the claim is left to lapse, and the retry
/// that takes it over settles it.
async fn conclude<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    recording: &Recording,
    mut executed: Executed,
    meta: &RequestMeta,
) -> Executed {
    if let (Err(_), Write::Throttled | Write::Unknown) = (&executed.result, executed.write) {
        let key = prepared.person_key();
        let (read, used) = call(prepared, "read", app.store.read_person(&key)).await;
        executed.store.add(used);
        let applied = read.map(|person| {
            person
                .as_ref()
                .and_then(|person| carried(person, &recording.write.write_id))
        });
        match applied {
            Ok(Some(updated)) => {
                executed.result = Ok(success_response(
                    prepared.dialect,
                    prepared.person,
                    &updated,
                ));
            }
            // Throttled at its last sending, and no earlier sending applied: nothing written.
            Ok(None) if executed.write == Write::Throttled => {}
            _ => {
                tracing::warn!(
                    dialect = prepared.dialect.name,
                    "a keyed update's outcome is unknown; its claim is left to lapse"
                );
                return executed;
            }
        }
    }
    let answer = match &executed.result {
        Ok(response) => Some(idempotency::recorded(response)),
        Err(error) => {
            let response = error.to_response(prepared.dialect.problems, meta);
            idempotency::is_recorded(response.status().as_u16())
                .then(|| idempotency::recorded(&response))
        }
    };
    record_answer(app, prepared, recording, answer);
    executed
}

/// Finishes the record with the answer, or released (`None`), once the response is posted
/// (see [`App::after_response`]).
fn record_answer<S: PersonStore, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    recording: &Recording,
    answer: Option<RecordedAnswer>,
) {
    app.unrecorded.push(Finishing {
        record: recording.record.clone(),
        claim_id: recording.claim_id.clone(),
        answer,
        deadline: prepared.deadline,
        dialect: prepared.dialect.name,
    });
}

/// Records of keyed requests still to finish: the caller gets its answer one round trip
/// sooner, and the record is finished right after, before the container takes another event.
#[derive(Debug, Default)]
pub struct Unrecorded(Mutex<Vec<Finishing>>);

/// One record to finish.
#[derive(Debug)]
pub struct Finishing {
    record: RecordKey,
    claim_id: String,
    answer: Option<RecordedAnswer>,
    deadline: Deadline,
    dialect: &'static str,
}

impl Unrecorded {
    fn push(&self, finishing: Finishing) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(finishing);
    }

    /// Finishes every record pushed so far, each sent twice at most under its request's
    /// deadline; one left unfinished lapses with its lock, and its write id settles it then.
    pub(crate) async fn finish_all<S: PersonStore>(&self, store: &S) {
        let pending = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for finishing in pending {
            let mut finished = false;
            for _ in 0..2 {
                let finish = store.finish(
                    &finishing.record,
                    &finishing.claim_id,
                    finishing.answer.as_ref(),
                );
                if let Ok(Ok(())) = finishing.deadline.run(finish).await {
                    finished = true;
                    break;
                }
            }
            if !finished {
                tracing::warn!(
                    dialect = finishing.dialect,
                    "the idempotency record could not be finished; it is settled when its lock lapses"
                );
            }
        }
    }
}

/// What an earlier claimant's write did, as the person shows it.
#[derive(Debug, PartialEq)]
enum Earlier {
    /// Applied, and still the person's last write: this is what it left.
    Applied(Updated),
    /// Not applied: the person was not written since the claim (or is gone).
    NotApplied,
    /// Perhaps applied, then written over.
    Unknown,
}

/// What `write` did to `person`: the person carries its write id while it is the last write;
/// a person whose `updatedAt` is older than the claim (less the clocks' margin), or who has
/// none (every update stamps one), was not written since. A missing person was not updated (a
/// PATCH never creates one).
fn earlier_write(person: Option<&Record>, write: &KeyedWrite) -> Earlier {
    let Some(person) = person else {
        return Earlier::NotApplied;
    };
    if let Some(updated) = carried(person, &write.write_id) {
        return Earlier::Applied(updated);
    }
    let claimed = OffsetDateTime::from(write.claimed_at) - CLOCK_MARGIN;
    match person.get(person::UPDATED_AT) {
        None => Earlier::NotApplied,
        Some(Stored::Value(Value::S(at)))
            if table::is_timestamp(at) && *at < table::timestamp(claimed) =>
        {
            Earlier::NotApplied
        }
        Some(_) => Earlier::Unknown,
    }
}

/// The update `write_id` made, when it is the person's last write.
fn carried(person: &Record, write_id: &str) -> Option<Updated> {
    match person.get(person::WRITE_ID) {
        Some(Stored::Value(Value::S(id))) if id == write_id => Some(Updated {
            version: version_of(person)?,
            record: person.clone(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn person(write_id: &str, updated_at: &str) -> Record {
        let text = |v: &str| Stored::Value(Value::S(v.into()));
        Record::from([
            (
                person::VERSION.to_owned(),
                Stored::Value(Value::N("7".into())),
            ),
            (person::WRITE_ID.to_owned(), text(write_id)),
            (person::UPDATED_AT.to_owned(), text(updated_at)),
        ])
    }

    /// A write claimed at 2026-11-23T10:00:10.000Z.
    fn write() -> KeyedWrite {
        KeyedWrite {
            write_id: "w1".into(),
            claimed_at: UNIX_EPOCH + Duration::from_millis(1_795_428_010_000),
        }
    }

    #[test]
    fn the_write_id_tells_an_applied_write() {
        let stored = person("w1", "2026-11-23T10:00:10.500Z");
        let Earlier::Applied(updated) = earlier_write(Some(&stored), &write()) else {
            panic!("not recognised")
        };
        assert_eq!(updated.version, 7);
        assert_eq!(updated.record, stored);
    }

    #[test]
    fn a_person_not_written_since_the_claim_was_not_applied() {
        let stored = person("other", "2026-11-23T10:00:08.999Z");
        assert_eq!(earlier_write(Some(&stored), &write()), Earlier::NotApplied);
        assert_eq!(earlier_write(None, &write()), Earlier::NotApplied);
        let mut never_updated = stored;
        never_updated.remove(person::UPDATED_AT);
        assert_eq!(
            earlier_write(Some(&never_updated), &write()),
            Earlier::NotApplied
        );
    }

    #[test]
    fn a_person_written_since_the_claim_by_another_is_unknown() {
        for at in [
            "2026-11-23T10:00:09.000Z",
            "2026-11-23T10:00:10.001Z",
            "2026-11-24T00:00:00.000Z",
            "not a time",
        ] {
            let stored = person("other", at);
            assert_eq!(
                earlier_write(Some(&stored), &write()),
                Earlier::Unknown,
                "{at}"
            );
        }
    }
}
