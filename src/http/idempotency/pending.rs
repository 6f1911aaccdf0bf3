//! How a keyed request ends ([`Ending`]), and the work that ending leaves for after the
//! response ([`PendingAnswer`]), owned by the invocation that made it.

use crate::http::deadline::{Deadline, Expired};
use crate::store::{EntryKey, Finished, KeyStore, SavedAnswer};

/// How a keyed request that held the claim ends (when each applies: [`super`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Its answer is saved: every later use of the key replays it.
    Save(SavedAnswer),
    /// The key is freed for the same request, carried out again under a new write id: only
    /// where the release rule of [`super`] allows.
    Release,
    /// The claim is left to lapse with its lock, and the retry that takes it over settles it.
    Lapse,
}

/// What a keyed request leaves to do once its response is posted: save its answer, release
/// the key, or leave the claim to lapse. The caller gets its answer one round trip sooner; the
/// entry is finished right after, before the invocation's worker takes another event. It
/// belongs to the invocation that made it: the event adapter hands it back beside the
/// response, and whoever posts the response runs [`PendingAnswer::finish`] (the Lambda entry
/// point's outermost layer, [`crate::http::entry::InvocationLayer`]).
#[derive(Debug)]
#[must_use = "a pending answer is lost unless it is finished"]
pub struct PendingAnswer {
    entry: EntryKey,
    claim_id: String,
    ending: Ending,
    deadline: Deadline,
    dialect: &'static str,
}

impl PendingAnswer {
    /// The work `ending` leaves, finished under `deadline`.
    pub(super) fn of(
        ending: Ending,
        entry: EntryKey,
        claim_id: String,
        deadline: Deadline,
        dialect: &'static str,
    ) -> PendingAnswer {
        PendingAnswer {
            entry,
            claim_id,
            ending,
            deadline,
            dialect,
        }
    }

    /// How the request ended.
    pub fn ending(&self) -> &Ending {
        &self.ending
    }

    /// Saves the answer (or releases the key), sent twice at most under its deadline; an
    /// entry left unfinished lapses with its lock, and its write id settles it then. Why an
    /// entry was not finished is logged (never a value).
    pub async fn finish<K: KeyStore>(self, store: &K) {
        let action = match &self.ending {
            Ending::Save(_) => "save",
            Ending::Release => "release",
            Ending::Lapse => {
                tracing::warn!(
                    dialect = self.dialect,
                    "a keyed write's outcome is unknown; its claim is left to lapse"
                );
                return;
            }
        };
        let mut reason = "";
        for _ in 0..2 {
            let finished = match &self.ending {
                Ending::Save(answer) => {
                    let saving = store.save_answer(&self.entry, &self.claim_id, answer);
                    self.deadline.run(saving).await
                }
                _ => {
                    let releasing = store.release(&self.entry, &self.claim_id);
                    self.deadline.run(releasing).await
                }
            };
            reason = match finished {
                Ok(Ok(Finished::Now | Finished::Already)) => return,
                Ok(Ok(Finished::Superseded)) => {
                    tracing::warn!(
                        dialect = self.dialect,
                        action,
                        reason = "superseded",
                        "the Idempotency-Key entry was not finished: another claim holds it"
                    );
                    return;
                }
                Ok(Err(error)) => error.kind(),
                Err(Expired) => "deadline",
            };
        }
        tracing::warn!(
            dialect = self.dialect,
            action,
            reason,
            "the Idempotency-Key entry could not be finished; it is settled when its lock lapses"
        );
    }
}
