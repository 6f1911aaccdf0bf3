//! Steps 6–9 under an `Idempotency-Key`, as the module doc ([`super`]) lays out: claim the
//! key, answer as its earlier use says or carry the request out with the plain path's one
//! update stamped with the claim's write id, and end with the answer to save, the key
//! released, or the claim left to lapse.

use std::time::Duration;

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};

use super::answer::{is_saved, replay, saved};
use super::key::{entry_key, fingerprint, IdempotencyKey};
use super::pending::{Ending, PendingAnswer};
use super::settle::{settle, Settled};
use crate::http::app::App;
use crate::http::execute::{
    call, execute, success_response, CallFailure, Executed, Prepared, StoreUse,
};
use crate::http::headers::body_bytes;
use crate::http::problem::{ApiError, RequestMeta};
use crate::store::{Claim, ClaimRequest, ClientLookup, EntryKey, KeyedWrite, Store, StoreError};

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
    fn pending(self, ending: Ending, prepared: &Prepared) -> Option<PendingAnswer> {
        PendingAnswer::of(
            ending,
            self.entry,
            self.claim_id,
            prepared.deadline,
            prepared.dialect.name,
        )
    }
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
    let write = match claimed {
        Err(error) => return answered(Err(error), store, Outcome::Unclaimed),
        Ok(Claim::Replay(answer)) => {
            return answered(Ok(replay(&answer)), store, Outcome::Replayed)
        }
        Ok(Claim::Reused) => {
            return answered(Err(ApiError::IdempotencyKeyReused), store, Outcome::Reused)
        }
        // The lock bounds how long the first may run; most finish far sooner, so the retry
        // is asked to come back in a second.
        Ok(Claim::InFlight) => {
            let error = ApiError::IdempotencyKeyInFlight {
                retry_after_seconds: 1,
            };
            return answered(Err(error), store, Outcome::InFlight);
        }
        Ok(Claim::Fresh(write)) => write,
        Ok(Claim::TakenOver(write)) => {
            let (taken_over, used) = take_over(app, prepared, &write, meta).await;
            store.add(used);
            match taken_over {
                TakeOver::CarryOut => write,
                TakeOver::Answered(result, ending, outcome) => {
                    return Keyed {
                        executed: Executed::answered(*result, store),
                        outcome,
                        pending: claimant.pending(ending, prepared),
                    };
                }
            }
        }
    };
    let mut executed = execute(app, request, prepared, &write.write_id).await;
    executed.store.add(store);
    let ending = conclude(app, prepared, &write, &mut executed, meta).await;
    Keyed {
        executed,
        outcome: Outcome::First,
        pending: claimant.pending(ending, prepared),
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

/// Claims the key; while the same request runs elsewhere, waits a little for its answer.
async fn claim<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    request: &Request,
    prepared: &Prepared,
    claimant: &Claimant,
) -> (Result<Claim, ApiError>, StoreUse) {
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
        let claiming = app.store.claim(ClaimRequest {
            entry: &claimant.entry,
            fingerprint: &fingerprint,
            claim_id: &claimant.claim_id,
            now: (app.clock)(),
        });
        let (claimed, used) = call(prepared, "claim", claiming).await;
        store.add(used);
        match (&claimed, waits.next()) {
            (Ok(Claim::InFlight), Some(wait)) if prepared.deadline.allows(*wait) => {
                tokio::time::sleep(*wait).await;
            }
            _ => return (claimed, store),
        }
    }
}

/// What a taken-over claim's earlier write calls for.
enum TakeOver {
    /// It was not applied: this request is carried out.
    CarryOut,
    /// The request is answered without an update: the answer, how the key ends, the outcome.
    Answered(Box<Result<Response<Body>, ApiError>>, Ending, Outcome),
}

/// A claim taken over from a claimant that never finished: its write, when the person shows it
/// was applied, is answered (and saved) as the success it was; when it shows it was not, the
/// request is carried out; otherwise the outcome is unknown, and that is the answer. A failed
/// read leaves the claim for a later retry to settle.
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
        Settled::NotApplied => TakeOver::CarryOut,
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
            tracing::warn!(
                dialect = prepared.dialect.name,
                "an abandoned keyed request's outcome cannot be told"
            );
            let error = ApiError::IdempotencyOutcomeUnknown;
            let answer = saved(&error.to_response(prepared.dialect.problems, meta));
            TakeOver::Answered(
                Box::new(Err(error)),
                Ending::Save(answer),
                Outcome::OutcomeUnknown,
            )
        }
    };
    (taken_over, store)
}

/// What the store's answer to an update says of whether it was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpdateFate {
    /// Applied, refused with nothing written, or never sent.
    Known,
    /// Throttled at its last sending: not applied, unless an earlier sending was (the person
    /// then carries its write id).
    Throttled,
    /// Perhaps applied (no reply, an unreadable one, a server error, the deadline), and perhaps
    /// still to be applied by a sending in flight.
    Unknown,
}

impl UpdateFate {
    fn of(failed_update: Option<&CallFailure>) -> UpdateFate {
        match failed_update {
            None
            | Some(CallFailure::Store(
                StoreError::NotFound
                | StoreError::VersionMismatch { .. }
                | StoreError::RecordTooLarge
                | StoreError::ForeignType(_),
            )) => UpdateFate::Known,
            Some(CallFailure::Store(StoreError::Throttled)) => UpdateFate::Throttled,
            Some(CallFailure::Store(StoreError::Unavailable(_) | StoreError::Failed(_)))
            | Some(CallFailure::Expired) => UpdateFate::Unknown,
        }
    }
}

/// After the request ran: how the key ends. An update whose fate is unknown is settled from
/// the person: applied, it is answered as the success it was; throttled at its last sending
/// and not applied, the key is released; otherwise the claim is left to lapse. A known answer
/// is saved when it is one the request will always get (see [`is_saved`]), else the key is
/// released.
async fn conclude<S: Store, D: ClientLookup>(
    app: &App<S, D>,
    prepared: &Prepared,
    write: &KeyedWrite,
    executed: &mut Executed,
    meta: &RequestMeta,
) -> Ending {
    let fate = UpdateFate::of(executed.failed_update.as_ref());
    if fate != UpdateFate::Known {
        let key = prepared.person_key();
        let (read, used) = call(prepared, "read", app.store.read_person(&key)).await;
        executed.store.add(used);
        match read.map(|person| settle(person.as_ref(), write)) {
            Ok(Settled::Applied(updated)) => {
                executed.result = Ok(success_response(
                    prepared.dialect,
                    prepared.person,
                    &updated,
                ));
            }
            Ok(_) if fate == UpdateFate::Throttled => return Ending::Release,
            _ => return Ending::Lapse,
        }
    }
    match &executed.result {
        Ok(response) => Ending::Save(saved(response)),
        Err(error) => {
            let response = error.to_response(prepared.dialect.problems, meta);
            if is_saved(response.status().as_u16()) {
                Ending::Save(saved(&response))
            } else {
                Ending::Release
            }
        }
    }
}
