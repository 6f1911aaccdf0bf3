//! In-memory stand-ins for the persons and clients tables: with them the handler runs end to
//! end without DynamoDB, for fuzzing and for the keyed protocol's simulation
//! (`tests/simulation.rs`). The persons table is modelled as far as the PATCH depends on it:
//! every condition the function's writes carry is evaluated as DynamoDB evaluates it (the
//! person exists, its version, its write id, a keyed write's fence; an `Idempotency-Key`
//! entry's states, lock and expiry), the stamps and top-level fields are written, and custom
//! fields (map entries) are not kept. The integration tests check the same behaviour of the
//! DynamoDB implementation against DynamoDB Local.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use super::idempotency::{LOCK, RETENTION};
use crate::engine::record::{version_of, Record, Stored};
use crate::engine::{Definitions, UpdatePlan, Value};
use crate::store::{
    ApiClient, Claim, ClaimRequest, ClientLookup, DefinitionStore, DirectoryError, EntryKey,
    Finished, KeyStore, KeyedWrite, PersonKey, PersonStore, Returning, SavedAnswer, StoreError,
    Updated,
};
use crate::table::idempotency::EntryState;
use crate::table::person::{LAST_WRITE_ID, UPDATED_AT, VERSION};
use crate::table::CustomerId;

/// An `Idempotency-Key` entry, as its attributes hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEntry {
    pub state: EntryState,
    pub fingerprint: String,
    pub claim: String,
    /// Epoch seconds.
    pub locked_until: i64,
    pub expires_at: i64,
    pub write_id: Option<String>,
    pub claimed_at: Option<OffsetDateTime>,
    pub answer: Option<SavedAnswer>,
}

/// Persons by key, and `Idempotency-Key` entries by their key; each customer's definitions.
#[derive(Debug, Default)]
pub struct MemoryStore {
    persons: Mutex<BTreeMap<(i64, String), Record>>,
    definitions: HashMap<CustomerId, Arc<Definitions>>,
    entries: Mutex<BTreeMap<(String, String), MemoryEntry>>,
}

impl MemoryStore {
    /// A store holding these persons (at version 1, no other attribute) and definitions.
    pub fn new(persons: &[PersonKey], definitions: HashMap<CustomerId, Definitions>) -> Self {
        let version_1 = Record::from([(VERSION.to_owned(), Stored::Value(Value::N("1".into())))]);
        MemoryStore {
            persons: Mutex::new(
                persons
                    .iter()
                    .map(|k| ((k.customer.0, k.person.clone()), version_1.clone()))
                    .collect(),
            ),
            definitions: definitions
                .into_iter()
                .map(|(customer, defs)| (customer, Arc::new(defs)))
                .collect(),
            entries: Mutex::new(BTreeMap::new()),
        }
    }

    /// The person as stored.
    pub fn person(&self, key: &PersonKey) -> Option<Record> {
        lock(&self.persons).ok()?.get(&person_id(key)).cloned()
    }

    /// Stores `record` as the person of `key`, as another tool might have.
    pub fn put_person(&self, key: &PersonKey, record: Record) {
        if let Ok(mut persons) = lock(&self.persons) {
            persons.insert(person_id(key), record);
        }
    }

    /// The entry of `key`, as stored.
    pub fn entry(&self, key: &EntryKey) -> Option<MemoryEntry> {
        lock(&self.entries).ok()?.get(&entry_id(key)).cloned()
    }

    /// Applies `plan` to the person as DynamoDB would: its condition (exists, the versions
    /// `If-Match` allows, not carrying the plan's write id yet, below its fence), then its
    /// `SET`s of top-level attributes and `REMOVE`s. A refusal on a person that carries the
    /// plan's write id answers as that write did (see [`crate::store::persons`]).
    pub fn apply(&self, key: &PersonKey, plan: &UpdatePlan) -> Result<Updated, StoreError> {
        let mut persons = lock(&self.persons)?;
        let person = persons
            .get_mut(&person_id(key))
            .ok_or(StoreError::NotFound)?;
        let version = version_of(person);
        let carries = text(person, LAST_WRITE_ID) == Some(plan.write_id.as_str());
        if carries || !meets(person, version, plan) {
            return match (carries, version) {
                (true, Some(version)) => Ok(Updated {
                    version,
                    record: person.clone(),
                }),
                _ => Err(StoreError::VersionMismatch { current: version }),
            };
        }
        let next = version.unwrap_or(0) + 1;
        for (name, value) in assignments(plan) {
            person.insert(name, Stored::Value(value));
        }
        for name in removals(plan) {
            person.remove(&name);
        }
        person.insert(
            VERSION.to_owned(),
            Stored::Value(Value::N(next.to_string())),
        );
        Ok(Updated {
            version: next,
            record: person.clone(),
        })
    }
}

/// Whether the person meets the plan's condition, but for its write id.
fn meets(person: &Record, version: Option<u64>, plan: &UpdatePlan) -> bool {
    let allowed: Vec<u64> = placeholders(plan, ":m")
        .filter_map(|value| match value {
            Value::N(n) => n.parse().ok(),
            _ => None,
        })
        .collect();
    let version_ok = if plan
        .condition_expression
        .contains("attribute_not_exists(#version)")
    {
        version.is_none()
    } else {
        allowed.is_empty() || version.is_some_and(|v| allowed.contains(&v))
    };
    let below_fence = match (&plan.fence, text(person, UPDATED_AT)) {
        (Some(fence), Some(at)) => at < fence.as_str(),
        _ => true,
    };
    version_ok && below_fence
}

/// The values of the plan's placeholders that begin with `prefix`.
fn placeholders<'a>(plan: &'a UpdatePlan, prefix: &'a str) -> impl Iterator<Item = &'a Value> {
    plan.values
        .iter()
        .filter(move |(placeholder, _)| placeholder.starts_with(prefix))
        .map(|(_, value)| value)
}

/// The plan's `SET #name = :value` of top-level attributes (`version` is raised apart).
fn assignments(plan: &UpdatePlan) -> Vec<(String, Value)> {
    let sets = plan
        .update_expression
        .strip_prefix("SET ")
        .unwrap_or("")
        .split(" REMOVE ")
        .next()
        .unwrap_or("");
    sets.split(", ")
        .filter_map(|clause| {
            let (path, value) = clause.split_once(" = ")?;
            let name = name_of(plan, path)?;
            let value = plan
                .values
                .iter()
                .find(|(placeholder, _)| placeholder == value)?;
            (name != VERSION).then(|| (name, value.1.clone()))
        })
        .collect()
}

/// The plan's `REMOVE #name` of top-level attributes.
fn removals(plan: &UpdatePlan) -> Vec<String> {
    plan.update_expression
        .split_once(" REMOVE ")
        .map(|(_, removes)| {
            removes
                .split(", ")
                .filter_map(|path| name_of(plan, path))
                .collect()
        })
        .unwrap_or_default()
}

/// The attribute a top-level `#placeholder` path names (`None` for a map entry's path).
fn name_of(plan: &UpdatePlan, path: &str) -> Option<String> {
    if path.contains('.') {
        return None;
    }
    plan.names
        .iter()
        .find(|(placeholder, _)| placeholder == path)
        .map(|(_, name)| name.clone())
}

fn text<'a>(record: &'a Record, name: &str) -> Option<&'a str> {
    match record.get(name) {
        Some(Stored::Value(Value::S(text))) => Some(text),
        _ => None,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> Result<MutexGuard<'_, T>, StoreError> {
    mutex
        .lock()
        .map_err(|_| StoreError::Failed("poisoned".into()))
}

fn person_id(key: &PersonKey) -> (i64, String) {
    (key.customer.0, key.person.clone())
}

fn entry_id(key: &EntryKey) -> (String, String) {
    (key.partition_key.clone(), key.sort_key.clone())
}

impl PersonStore for MemoryStore {
    async fn update_person(
        &self,
        key: &PersonKey,
        plan: UpdatePlan,
        _returning: Returning,
    ) -> Result<Updated, StoreError> {
        self.apply(key, &plan)
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
        Ok(lock(&self.persons)?.get(&person_id(key)).cloned())
    }
}

impl DefinitionStore for MemoryStore {
    async fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> Result<Arc<Definitions>, StoreError> {
        Ok(self.definitions.get(&customer).cloned().unwrap_or_default())
    }
}

/// As the DynamoDB implementation ([`crate::store::idempotency`]) does it, one step each.
impl KeyStore for MemoryStore {
    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let mut entries = lock(&self.entries)?;
        let now = request.now.unix_timestamp();
        let id = entry_id(request.entry);
        let fresh = MemoryEntry {
            state: EntryState::Running,
            fingerprint: request.fingerprint.to_owned(),
            claim: request.claim_id.to_owned(),
            locked_until: now + LOCK.as_secs() as i64,
            expires_at: now + RETENTION.as_secs() as i64,
            write_id: Some(request.claim_id.to_owned()),
            claimed_at: Some(request.now),
            answer: None,
        };
        let old = match entries.get(&id) {
            Some(old) if old.expires_at >= now => old.clone(),
            // Free, or expired (past its retention, not yet deleted).
            _ => {
                entries.insert(id, fresh);
                return Ok(Claim::Fresh(KeyedWrite {
                    write_id: request.claim_id.to_owned(),
                    claimed_at: request.now,
                }));
            }
        };
        let claimable = old.fingerprint == request.fingerprint
            && (old.state == EntryState::Released
                || (old.state == EntryState::Running && old.locked_until < now));
        if claimable {
            let entry = MemoryEntry {
                write_id: old.write_id.clone().or(fresh.write_id.clone()),
                claimed_at: old.claimed_at.or(fresh.claimed_at),
                ..fresh
            };
            let claim = claimed(&entry, &request);
            entries.insert(id, entry);
            return Ok(claim);
        }
        Ok(if old.claim == request.claim_id {
            claimed(&old, &request)
        } else if old.fingerprint != request.fingerprint {
            Claim::Reused
        } else {
            match (old.state, old.answer) {
                (EntryState::Done, Some(answer)) => Claim::Replay(answer),
                _ => Claim::InFlight,
            }
        })
    }

    async fn save_answer(
        &self,
        entry: &EntryKey,
        claim_id: &str,
        answer: &SavedAnswer,
    ) -> Result<Finished, StoreError> {
        self.finish(entry, claim_id, |stored| {
            stored.state = EntryState::Done;
            stored.answer = Some(answer.clone());
        })
    }

    async fn release(&self, entry: &EntryKey, claim_id: &str) -> Result<Finished, StoreError> {
        self.finish(entry, claim_id, |stored| {
            stored.state = EntryState::Released;
            stored.write_id = None;
            stored.claimed_at = None;
        })
    }
}

impl MemoryStore {
    /// Ends the running claim `claim_id` with `end`.
    fn finish(
        &self,
        entry: &EntryKey,
        claim_id: &str,
        end: impl FnOnce(&mut MemoryEntry),
    ) -> Result<Finished, StoreError> {
        let mut entries = lock(&self.entries)?;
        Ok(match entries.get_mut(&entry_id(entry)) {
            Some(stored) if stored.claim == claim_id && stored.state == EntryState::Running => {
                end(stored);
                Finished::Now
            }
            Some(stored) if stored.claim == claim_id => Finished::Already,
            _ => Finished::Superseded,
        })
    }
}

/// The write of a claimed entry: inherited when its write id is not the claim's own.
fn claimed(entry: &MemoryEntry, request: &ClaimRequest<'_>) -> Claim {
    let write = KeyedWrite {
        write_id: entry
            .write_id
            .clone()
            .unwrap_or_else(|| request.claim_id.to_owned()),
        claimed_at: entry.claimed_at.unwrap_or(request.now),
    };
    if write.write_id == request.claim_id {
        Claim::Fresh(write)
    } else {
        Claim::TakenOver(write)
    }
}

/// The clients table in memory, for fuzzing and in-process benchmarks.
#[derive(Debug, Default, Clone)]
pub struct MemoryClients {
    clients: HashMap<String, ApiClient>,
}

impl MemoryClients {
    pub fn new(clients: impl IntoIterator<Item = ApiClient>) -> Self {
        MemoryClients {
            clients: clients.into_iter().map(|c| (c.id.clone(), c)).collect(),
        }
    }
}

impl ClientLookup for MemoryClients {
    async fn find(&self, id: &str) -> Result<Option<ApiClient>, DirectoryError> {
        Ok(self.clients.get(id).cloned())
    }
}
