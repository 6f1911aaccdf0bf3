//! How a keyed request ends ([`Ending`]), and the work that ending leaves for after the
//! response ([`PendingAnswer`]), owned by the invocation that made it.

use crate::http::deadline::Deadline;
use crate::store::{EntryKey, KeyStore, SavedAnswer};

/// How a keyed request that held the claim ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Its answer is saved: every later use of the key replays it.
    Save(SavedAnswer),
    /// Nothing was written and a retry may succeed: the key is freed for the same request.
    Release,
    /// Whether its update was applied cannot be told now: the claim is left to lapse with its
    /// lock, and the retry that takes it over settles it.
    Lapse,
}

/// What a keyed request leaves to do once its response is posted: save its answer, or release
/// the key. The caller gets its answer one round trip sooner; the entry is finished right
/// after, before the invocation's worker takes another event. It belongs to the invocation
/// that made it: the event adapter hands it back beside the response, and whoever posts the
/// response runs [`PendingAnswer::finish`] (the Lambda entry point's outermost layer,
/// [`crate::http::entry::InvocationLayer`]).
#[derive(Debug)]
#[must_use = "a pending answer is lost unless it is finished"]
pub struct PendingAnswer {
    entry: EntryKey,
    claim_id: String,
    save: Option<SavedAnswer>,
    deadline: Deadline,
    dialect: &'static str,
}

impl PendingAnswer {
    /// The work `ending` leaves: none for a lapse.
    pub(super) fn of(
        ending: Ending,
        entry: EntryKey,
        claim_id: String,
        deadline: Deadline,
        dialect: &'static str,
    ) -> Option<PendingAnswer> {
        let save = match ending {
            Ending::Save(answer) => Some(answer),
            Ending::Release => None,
            Ending::Lapse => {
                tracing::warn!(
                    dialect,
                    "a keyed update's outcome is unknown; its claim is left to lapse"
                );
                return None;
            }
        };
        Some(PendingAnswer {
            entry,
            claim_id,
            save,
            deadline,
            dialect,
        })
    }

    /// Saves the answer (or releases the key), sent twice at most under the request's deadline;
    /// an entry left unfinished lapses with its lock, and its write id settles it then.
    pub async fn finish<K: KeyStore>(self, store: &K) {
        for _ in 0..2 {
            let finished = match &self.save {
                Some(answer) => {
                    let saving = store.save_answer(&self.entry, &self.claim_id, answer);
                    self.deadline.run(saving).await
                }
                None => {
                    let releasing = store.release(&self.entry, &self.claim_id);
                    self.deadline.run(releasing).await
                }
            };
            if let Ok(Ok(())) = finished {
                return;
            }
        }
        tracing::warn!(
            dialect = self.dialect,
            "the Idempotency-Key entry could not be finished; it is settled when its lock lapses"
        );
    }
}
