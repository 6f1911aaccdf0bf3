//! What must hold after every schedule: the rules of the keyed protocol
//! (`src/http/idempotency/mod.rs`) as checks on what happened. Each names the rule it checks.

use std::collections::BTreeMap;

use person_patch::store::memory::MemoryEntry;
use person_patch::store::SavedAnswer;
use person_patch::table::idempotency::EntryState;

use crate::world::{Answer, World};

const IN_FLIGHT: &str = "idempotency-key-in-flight";
const OUTCOME_UNKNOWN: &str = "idempotency-outcome-unknown";

fn says(answer: &Answer, slug: &str) -> bool {
    answer.status == 409 && answer.body.as_deref().is_some_and(|b| b.contains(slug))
}

/// An answer a client keeps: a success, or a refusal other than "in flight".
pub fn is_final(answer: &Answer) -> bool {
    answer.status / 100 == 2 || (answer.status / 100 == 4 && !says(answer, IN_FLIGHT))
}

/// What a schedule left, for the checks.
pub struct Outcome<'a> {
    pub world: &'a World,
    /// The simulated key's entry at the end, as stored.
    pub entry: Option<MemoryEntry>,
}

/// Every invariant, in order; the first broken one, said with what broke it.
pub fn check(outcome: &Outcome<'_>) -> Result<(), String> {
    no_write_id_applied_twice(outcome.world)?;
    applied_at_most_once(outcome.world)?;
    success_means_applied_once_with_its_etag(outcome.world)?;
    refusal_means_never_applied(outcome.world)?;
    replays_repeat_the_first_answer(outcome.world)?;
    own_write_never_reported_as_failure(outcome.world)?;
    entry_ends_in_a_named_state(outcome)?;
    Ok(())
}

fn applications_of(world: &World, tag: u32) -> Vec<&crate::world::Application> {
    world.applications.iter().filter(|a| a.tag == tag).collect()
}

fn no_write_id_applied_twice(world: &World) -> Result<(), String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for application in &world.applications {
        *seen.entry(&application.write_id).or_default() += 1;
    }
    match seen.iter().find(|(_, n)| **n > 1) {
        Some((id, n)) => Err(format!("write id {id} was applied {n} times")),
        None => Ok(()),
    }
}

fn applied_at_most_once(world: &World) -> Result<(), String> {
    let tags: Vec<u32> = world
        .answers
        .iter()
        .map(|a| a.tag)
        .filter(|t| *t > 0)
        .collect();
    for tag in tags {
        let n = applications_of(world, tag).len();
        if n > 1 {
            return Err(format!(
                "the keyed request (tag {tag}) was applied {n} times"
            ));
        }
    }
    Ok(())
}

fn success_means_applied_once_with_its_etag(world: &World) -> Result<(), String> {
    for answer in world
        .answers
        .iter()
        .filter(|a| a.tag > 0 && a.status / 100 == 2)
    {
        let applied = applications_of(world, answer.tag);
        let [application] = applied.as_slice() else {
            return Err(format!(
                "invocation {} answered {} but the request was applied {} times",
                answer.invocation,
                answer.status,
                applied.len()
            ));
        };
        let etag = format!("\"{}\"", application.version);
        if answer.etag.as_deref() != Some(&etag) {
            return Err(format!(
                "invocation {} answered ETag {:?}; its write made version {}",
                answer.invocation, answer.etag, application.version
            ));
        }
    }
    Ok(())
}

fn refusal_means_never_applied(world: &World) -> Result<(), String> {
    let refusals = world.answers.iter().filter(|a| {
        a.tag > 0 && a.status / 100 == 4 && !says(a, IN_FLIGHT) && !says(a, OUTCOME_UNKNOWN)
    });
    for answer in refusals {
        let n = applications_of(world, answer.tag).len();
        if n > 0 {
            return Err(format!(
                "invocation {} refused with {} but the request was applied",
                answer.invocation, answer.status
            ));
        }
    }
    Ok(())
}

/// At most one answer is saved for a request; it is the first final answer a client got that
/// told the outcome, or "outcome unknown" (the write may have been applied and was written
/// over before an answer could be saved). Every replay repeats that first answer, or the
/// saved "outcome unknown". ("Outcome unknown" is true of any outcome: an answer that tells
/// the outcome may follow it.)
fn replays_repeat_the_first_answer(world: &World) -> Result<(), String> {
    let mut saved: BTreeMap<u32, &SavedAnswer> = BTreeMap::new();
    for (tag, answer) in &world.saved {
        if saved.insert(*tag, answer).is_some() {
            return Err(format!("a second answer was saved for tag {tag}"));
        }
    }
    let same = |answer: &Answer, kept: &Answer| {
        answer.status == kept.status && answer.etag == kept.etag && answer.body == kept.body
    };
    let same_as_saved = |answer: &Answer, kept: &SavedAnswer| {
        answer.status == kept.status
            && answer.etag.as_ref() == kept.headers.get("etag")
            && answer.body.as_deref().unwrap_or("") == kept.body.as_deref().unwrap_or("")
    };
    let unknown = |kept: &SavedAnswer| {
        kept.status == 409
            && kept
                .body
                .as_deref()
                .is_some_and(|b| b.contains(OUTCOME_UNKNOWN))
    };
    let tags: std::collections::BTreeSet<u32> = world
        .answers
        .iter()
        .map(|a| a.tag)
        .filter(|t| *t > 0)
        .collect();
    for tag in tags {
        let answers: Vec<&Answer> = world.answers.iter().filter(|a| a.tag == tag).collect();
        // A taken-over write found applied is answered as a replay, and may be the first
        // answer that tells its request's outcome.
        let first = answers
            .iter()
            .find(|a| is_final(a) && !says(a, OUTCOME_UNKNOWN));
        let kept = saved.get(&tag).copied();
        if let (Some(kept), Some(first)) = (kept, first) {
            if !unknown(kept) && !same_as_saved(first, kept) {
                return Err(format!(
                    "invocation {} first answered {}, but {} was saved",
                    first.invocation, first.status, kept.status
                ));
            }
        }
        for answer in answers.iter().filter(|a| a.replayed) {
            let repeats = first.is_some_and(|first| same(answer, first))
                || kept.is_some_and(|kept| unknown(kept) && same_as_saved(answer, kept));
            if !repeats {
                return Err(format!(
                    "invocation {} replayed {} where the first answer was {:?}",
                    answer.invocation,
                    answer.status,
                    first.map(|a| a.status)
                ));
            }
        }
    }
    Ok(())
}

/// A request whose own write was applied, and still stood when it answered, answers it as the
/// success it was, unless the read that settles it failed or a sending held back landed
/// meanwhile (the read then cannot tell whose write it sees).
fn own_write_never_reported_as_failure(world: &World) -> Result<(), String> {
    for answer in world
        .answers
        .iter()
        .filter(|a| a.tag > 0 && a.status >= 500)
    {
        let applied_here = world
            .applications
            .iter()
            .any(|a| a.invocation == answer.invocation && a.at_call);
        let could_tell = !answer.saw_landing && !answer.settle_failed;
        if applied_here && answer.own_write_standing && could_tell {
            return Err(format!(
                "invocation {} answered {} while its own write stood applied",
                answer.invocation, answer.status
            ));
        }
    }
    Ok(())
}

fn entry_ends_in_a_named_state(outcome: &Outcome<'_>) -> Result<(), String> {
    let Some(entry) = &outcome.entry else {
        return Err("the key has no entry after the client's last retries".into());
    };
    let consistent = match entry.state {
        EntryState::Running => entry.write_id.is_some() && entry.answer.is_none(),
        EntryState::Done => entry.answer.is_some(),
        EntryState::Released => entry.write_id.is_none() && entry.answer.is_none(),
    };
    if !consistent {
        return Err(format!("the entry ends {entry:?}"));
    }
    let last = outcome.world.answers.iter().rev().find(|a| a.tag > 0);
    if entry.state != EntryState::Done || !last.is_some_and(is_final) {
        return Err(format!(
            "after retries past the lock the key is {:?} and the last answer {:?}",
            entry.state,
            last.map(|a| a.status)
        ));
    }
    Ok(())
}
