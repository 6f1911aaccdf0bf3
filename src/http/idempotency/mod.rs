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
//!   not applied → the request runs, stamping the same write id and requiring the person as
//!   the read found it (its `version`, or no `version`), so that a sending of the earlier
//!   claimant that lands after the read refuses it; unknown (the person was written over
//!   since) → 409 `idempotency-outcome-unknown`, saved.
//! - `Replay`: the saved answer, with `Idempotent-Replayed: true`.
//! - `Reused`: the key was used for another request: 422 `idempotency-key-reused`.
//! - `InFlight`: the same request runs elsewhere. The request waits for its answer up to
//!   300 ms (20, 40, 80, 160 ms), then answers 409 `idempotency-key-in-flight` with
//!   `Retry-After: 1`.
//!
//! **The keyed update** is sent once: the store sends it again only after DynamoDB answered
//! it throttled, and never after a lost or late reply. It is fenced at its claim's lock end
//! ([`crate::engine::UpdatePlan::fenced`]): a sending that lands after anyone wrote the person
//! at or past that time applies nothing. Its write id refuses it where the same write already
//! stands.
//!
//! **The settle rule** ([`settle`]), one for every place a write's fate is in doubt: the person
//! carries the write id → applied (it is still the last write); its `updatedAt` is older than
//! the claim less one second (the clocks' margin), or absent, or there is no person → not
//! applied; otherwise unknown. Every timestamp compared comes from one clock,
//! [`crate::http::app::App::clock`]. The read runs under the request's deadline plus
//! [`crate::http::deadline::GRACE`], so an update the deadline cut off is still settled.
//!
//! **The ending** ([`pending::Ending`]) of a request that held the claim. This is the rule that
//! keeps a keyed request applied at most once: **a key is released only when its update was
//! never sent, was refused by its condition or size, or was answered throttled and the read
//! that settles it shows it not applied; and never by a request that took the claim over.**
//! - `Save`: a success (an update in doubt or throttled that the read shows applied is one),
//!   or a refusal the request will always get (4xx but 415; see [`answer::is_saved`]); and
//!   409 `idempotency-outcome-unknown` for a taken-over write whose update found the person
//!   written since the read that settled it.
//! - `Release`: a failure worth retrying (5xx) of a fresh claim, under the rule above.
//! - `Lapse`: everything else that failed: an update whose fate is in doubt (no reply, an
//!   unreadable one, a server error, the deadline) that the read does not show applied, a
//!   throttled one the read cannot show not applied, any failure of a taken-over claim. A
//!   sending may still land, so the key stays claimed until its lock lapses, and the retry
//!   that takes the claim over settles it.
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
