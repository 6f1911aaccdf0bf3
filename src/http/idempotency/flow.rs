//! Steps 6–9 under an `Idempotency-Key`, as the module doc ([`super`]) lays out: claim the
//! key, answer as its earlier use says or carry the request out with the plain path's one
//! update stamped with the claim's write id, and end with the answer to save, the key
//! released, or the claim left to lapse.

use std::time::Duration;

use time::OffsetDateTime;

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};

use super::answer::{is_saved, replay, saved};
use super::key::{entry_key, fingerprint, IdempotencyKey};
use super::pending::{Ending, PendingAnswer};
use super::settle::{settle, AsRead, Settled};
use crate::http::app::App;
use crate::http::deadline::GRACE;
use crate::http::execute::{
    call, call_by, execute, success_response, CallFailure, Executed, Prepared, StoreUse, WriteTerms,
};
use crate::http::headers::body_bytes;
use crate::http::problem::{ApiError, RequestMeta};
use crate::store::idempotency::LOCK;
use crate::store::{
    Claim, ClaimRequest, ClientLookup, EntryKey, KeyedWrite, SavedAnswer, Store, StoreError,
};

/// What became of a keyed request, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The claim itself failed (the store, or the deadline): nothing was carried out.
    Unclaimed,
    /// The request was carried out under this claim.
    First,
    /// The key's saved answer was replayed.
    Replayed,
    /// The key was used for another request.
    Reused,
    /// The same request was still running elsewhere.
    InFlight,
    /// A taken-over claim's earlier write was found applied, and answered.
    Recovered,
    /// A taken-over claim's earlier write may have been applied and was written over since.
    OutcomeUnknown,
    /// A taken-over claim's earlier write could not be settled (the person could not be read).
    Unsettled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Unclaimed => "unclaimed",
            Outcome::First => "first",
            Outcome::Replayed => "replayed",
            Outcome::Reused => "reused",
            Outcome::InFlight => "in-flight",
            Outcome::Recovered => "recovered",
            Outcome::OutcomeUnknown => "outcome-unknown",
            Outcome::Unsettled => "unsettled",
        }
    }
}

/// A keyed request's end: what it answers, what became of the key, and the work it leaves for
/// after the response.
pub struct Keyed {
    pub executed: Executed,
    pub outcome: Outcome,
    pub pending: Option<PendingAnswer>,
}

/// Who claims the key: where its entry is, and this request's claim id.
struct Claimant {
    entry: EntryKey,
    claim_id: String,
}

impl Claimant {
    /// The work `ending` leaves for after the response.
    fn pending(self, ending: Ending, prepared: &Prepared) -> PendingAnswer {
        PendingAnswer::of(
            ending,
            self.entry,
            self.claim_id,
            prepared.deadline.with_grace(GRACE),
            prepared.dialect.name,
        )
    }
}

/// The write a claim gave this request: its write id and claim time, whether it was inherited
/// from an earlier claimant, and when this claim's lock ends (the write's fence).
struct Held {
    write: KeyedWrite,
    inherited: bool,
    lock_end: OffsetDateTime,
}

/// A keyed request, from the claim to its ending.
pub async fn serve<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    key: &IdempotencyKey,
    meta: &RequestMeta,
) -> Keyed {
    let claimant = Claimant {
        entry: entry_key(prepared.customer, &prepared.principal.id, key),
        claim_id: uuid::Uuid::new_v4().simple().to_string(),
    };
    let (claimed, mut store) = claim(app, request, prepared, &claimant).await;
    let answered = |result, store, outcome| Keyed {
        executed: Executed::answered(result, store),
        outcome,
        pending: None,
    };
    let lock_end = |at: OffsetDateTime| at + LOCK;
    let (held, read) = match claimed {
        Err(error) => return answered(Err(error), store, Outcome::Unclaimed),
        Ok((Claim::Replay(answer), _)) => {
            return answered(Ok(replay(&answer)), store, Outcome::Replayed)
        }
        Ok((Claim::Reused, _)) => {
            return answered(Err(ApiError::IdempotencyKeyReused), store, Outcome::Reused)
        }
        // The lock bounds how long the first may run; most finish far sooner, so the retry
        // is asked to come back in a second.
        Ok((Claim::InFlight, _)) => {
            let error = ApiError::IdempotencyKeyInFlight {
                retry_after_seconds: 1,
            };
            return answered(Err(error), store, Outcome::InFlight);
        }
        Ok((Claim::Fresh(write), at)) => {
            let held = Held {
                write,
                inherited: false,
                lock_end: lock_end(at),
            };
            (held, None)
        }
        Ok((Claim::TakenOver(write), at)) => {
            let (taken_over, used) = take_over(app, prepared, &write, meta).await;
            store.add(used);
            match taken_over {
                TakeOver::CarryOut(read) => {
                    let held = Held {
                        write,
                        inherited: true,
                        lock_end: lock_end(at),
                    };
                    (held, Some(read))
                }
                TakeOver::Answered(result, ending, outcome) => {
                    return Keyed {
                        executed: Executed::answered(*result, store),
                        outcome,
                        pending: Some(claimant.pending(ending, prepared)),
                    };
                }
            }
        }
    };
    let terms = WriteTerms {
        write_id: &held.write.write_id,
        fence: Some(held.lock_end),
        read,
    };
    let mut executed = execute(app, request, prepared, &terms).await;
    executed.store.add(store);
    let ending = conclude(app, prepared, &held, &mut executed, meta).await;
    Keyed {
        executed,
        outcome: Outcome::First,
        pending: Some(claimant.pending(ending, prepared)),
    }
}

/// How long, step by step, a request waits for the same request running elsewhere before it
/// answers 409: the first saves its answer right after posting its response, so a retry sent
/// at once usually meets it still running for a few milliseconds.
const IN_FLIGHT_WAITS: [Duration; 4] = [
    Duration::from_millis(20),
    Duration::from_millis(40),
    Duration::from_millis(80),
    Duration::from_millis(160),
];

/// Claims the key; while the same request runs elsewhere, waits a little for its answer. The
/// claim, and the time it was made at.
async fn claim<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    claimant: &Claimant,
) -> (Result<(Claim, OffsetDateTime), ApiError>, StoreUse) {
    let if_match: Vec<&[u8]> = request
        .headers()
        .get_all(header::IF_MATCH)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    let fingerprint = fingerprint(
        request.method().as_str(),
        request.uri().path(),
        &if_match,
        body_bytes(request),
    );
    let mut store = StoreUse::default();
    let mut waits = IN_FLIGHT_WAITS.iter();
    loop {
        let now = (app.clock)();
        let claiming = app.store.claim(ClaimRequest {
            entry: &claimant.entry,
            fingerprint: &fingerprint,
            claim_id: &claimant.claim_id,
            now,
        });
        let (claimed, used) = call(prepared, "claim", claiming).await;
        store.add(used);
        match (claimed, waits.next()) {
            (Ok(Claim::InFlight), Some(wait)) if prepared.deadline.allows(*wait) => {
                tokio::time::sleep(*wait).await;
            }
            (claimed, _) => return (claimed.map(|claim| (claim, now)), store),
        }
    }
}

/// What a taken-over claim's earlier write calls for.
enum TakeOver {
    /// It was not applied: this request is carried out, requiring the person as read.
    CarryOut(AsRead),
    /// The request is answered without an update: the answer, how the key ends, the outcome.
    Answered(Box<Result<Response<Body>, ApiError>>, Ending, Outcome),
}

/// A claim taken over from a claimant that never finished, settled from the person as the
/// module doc ([`super`]) says.
async fn take_over<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    earlier: &KeyedWrite,
    meta: &RequestMeta,
) -> (TakeOver, StoreUse) {
    let key = prepared.person_key();
    let (read, store) = call(prepared, "read", app.store.read_person(&key)).await;
    let person = match read {
        Ok(person) => person,
        Err(error) => {
            return (
                TakeOver::Answered(Box::new(Err(error)), Ending::Lapse, Outcome::Unsettled),
                store,
            )
        }
    };
    let taken_over = match settle(person.as_ref(), earlier) {
        Settled::NotApplied(read) => TakeOver::CarryOut(read),
        Settled::Applied(updated) => {
            let answer = saved(&success_response(
                prepared.dialect,
                prepared.person,
                &updated,
            ));
            let replayed = replay(&answer);
            TakeOver::Answered(
                Box::new(Ok(replayed)),
                Ending::Save(answer),
                Outcome::Recovered,
            )
        }
        Settled::Unknown => {
            let (error, answer) = outcome_unknown(prepared, meta);
            TakeOver::Answered(
                Box::new(Err(error)),
                Ending::Save(answer),
                Outcome::OutcomeUnknown,
            )
        }
    };
    (taken_over, store)
}

/// The 409 of a write that may have been applied and was written over since, and its answer
/// to save.
fn outcome_unknown(prepared: &Prepared, meta: &RequestMeta) -> (ApiError, SavedAnswer) {
    tracing::warn!(
        dialect = prepared.dialect.name,
        "a keyed write's outcome cannot be told"
    );
    let error = ApiError::IdempotencyOutcomeUnknown;
    let answer = saved(&error.to_response(prepared.dialect.problems, meta));
    (error, answer)
}

/// What the store's answer to an update says of whether it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum UpdateFate {
    /// Applied, refused by its condition or its size, or never sent.
    Known,
    /// Answered throttled: that sending was refused, but an earlier one may have landed (the
    /// store sends a keyed update again only after a throttled answer, and a store that broke
    /// that promise would make a release apply it twice).
    Throttled,
    /// A taken-over write refused because the person was written after the read that settled
    /// it: perhaps by the earlier sending, then by another writer.
    WrittenSinceRead,
    /// Perhaps applied (no reply, an unreadable one, a server error, the deadline), and perhaps
    /// still to be applied by the sending in flight.
    InDoubt,
}

impl UpdateFate {
    fn of(failed_update: Option<&CallFailure>, prepared: &Prepared, held: &Held) -> UpdateFate {
        match failed_update {
            Some(CallFailure::Store(StoreError::VersionMismatch { current }))
                if held.inherited
                    && current.is_none_or(|version| prepared.precondition.allows(version)) =>
            {
                UpdateFate::WrittenSinceRead
            }
            None
            | Some(CallFailure::Store(
                StoreError::NotFound
                | StoreError::VersionMismatch { .. }
                | StoreError::RecordTooLarge
                | StoreError::ForeignType(_),
            )) => UpdateFate::Known,
            Some(CallFailure::Store(StoreError::Throttled)) => UpdateFate::Throttled,
            Some(CallFailure::Store(StoreError::Unavailable(_) | StoreError::Failed(_)))
            | Some(CallFailure::Expired) => UpdateFate::InDoubt,
        }
    }
}

/// After the request ran: how the key ends, by the rules of the module doc ([`super`]). An
/// update in doubt is settled from the person, read within the grace after the deadline.
async fn conclude<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    held: &Held,
    executed: &mut Executed,
    meta: &RequestMeta,
) -> Ending {
    match UpdateFate::of(executed.failed_update.as_ref(), prepared, held) {
        UpdateFate::Known => {}
        UpdateFate::WrittenSinceRead => {
            let (error, answer) = outcome_unknown(prepared, meta);
            executed.result = Err(error);
            return Ending::Save(answer);
        }
        fate @ (UpdateFate::Throttled | UpdateFate::InDoubt) => {
            let key = prepared.person_key();
            let deadline = prepared.deadline.with_grace(GRACE);
            let reading = app.store.read_person(&key);
            let (read, used) = call_by(deadline, prepared, "read", reading).await;
            executed.store.add(used);
            match read.map(|person| settle(person.as_ref(), &held.write)) {
                Ok(Settled::Applied(updated)) => {
                    executed.result = Ok(success_response(
                        prepared.dialect,
                        prepared.person,
                        &updated,
                    ));
                }
                // Refused, and the person shows no sending landed: as any refusal.
                Ok(Settled::NotApplied(_)) if fate == UpdateFate::Throttled => {}
                _ => return Ending::Lapse,
            }
        }
    }
    match &executed.result {
        Ok(response) => Ending::Save(saved(response)),
        Err(error) => {
            let response = error.to_response(prepared.dialect.problems, meta);
            if is_saved(response.status().as_u16()) {
                Ending::Save(saved(&response))
            } else if held.inherited {
                Ending::Lapse
            } else {
                Ending::Release
            }
        }
    }
}
