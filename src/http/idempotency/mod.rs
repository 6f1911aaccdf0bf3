//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header-06): a client-chosen key makes
//! a retried PATCH answer what the first one answered, and apply it at most once. This is the
//! one place that states the rules; docs/idempotency.md draws them.
//!
//! **The key and its entry** ([`key`]). A key is scoped to the customer and the authenticated
//! principal; "the same request" is the same method, path, `If-Match` and body bytes (the
//! fingerprint). Its entry lives in the persons table beside the customer's persons
//! ([`crate::table`] has the layout, [`crate::store::idempotency`] the DynamoDB calls), and is
//! `running` (claimed, locked for [`crate::store::idempotency::LOCK`]), `done` (an answer saved)
//! or `released`. It expires through the table's TTL after
//! [`crate::store::idempotency::RETENTION`]; an entry past its expiry counts as absent.
//!
//! **The claim** ([`flow`]): one conditional `UpdateItem` on the entry, which finds one of
//! [`crate::store::Claim`]:
//! - `Fresh`: the key was free or released. The request runs as a plain one, its single
//!   `UpdateItem` stamped with the claim's write id as the person's `lastWriteId`.
//! - `TakenOver`: an earlier claimant of the same request never finished and its lock lapsed.
//!   The entry keeps that claimant's write id and claim time, and the earlier write is settled
//!   first ([`settle`]): applied → its success is answered and saved (nothing written again);
//!   not applied → the request runs, stamping the same write id; unknown (the person was
//!   written over since) → 409 `idempotency-outcome-unknown`, saved.
//! - `Replay`: the saved answer, with `Idempotent-Replayed: true`.
//! - `Reused`: the key was used for another request: 422 `idempotency-key-reused`.
//! - `InFlight`: the same request runs elsewhere. The request waits for its answer up to
//!   300 ms (20, 40, 80, 160 ms), then answers 409 `idempotency-key-in-flight` with
//!   `Retry-After: 1`.
//!
//! **The settle rule** ([`settle`]), one for every place a write's fate is in doubt: the person
//! carries the write id → applied (it is still the last write); its `updatedAt` is older than
//! the claim less one second (the clocks' margin), or absent, or there is no person → not
//! applied; otherwise unknown. Every timestamp compared comes from one clock,
//! [`crate::http::app::App::clock`].
//!
//! **The ending** ([`pending::Ending`]) of a request that held the claim:
//! - `Save`: a success, or a refusal the request will always get (4xx but 415; see
//!   [`answer::is_saved`]).
//! - `Release`: a failure worth retrying (5xx) with nothing written, or an update throttled at
//!   its last sending that the person shows not applied.
//! - `Lapse`: an update whose fate is unknown (no reply, a server error, the deadline) and the
//!   person does not show it applied, or a taken-over claim the person could not be read for:
//!   a sending may still land, so the retry that takes the claim over settles it.
//!
//! **After the response** ([`pending::PendingAnswer`]): the answer is saved (or the key
//! released) once the response is posted, before the runtime asks for the next event; the
//! pending answer belongs to the invocation that made it. A retry sent at once meets the entry
//! still `running` for a few milliseconds, which the in-flight wait covers.

pub mod answer;
pub mod flow;
pub mod key;
pub mod pending;
pub mod settle;
