//! In-memory stand-ins for the persons and clients tables, for fuzzing: with them the handler
//! runs end to end without DynamoDB. It is not a model of DynamoDB (the integration tests use
//! DynamoDB Local for that): it knows which persons exist and counts versions, and does not
//! keep field values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::record::{Record, Stored};
use crate::engine::{Definitions, Precondition, UpdatePlan};
use crate::store::{
    ApiClient, Claim, ClaimRequest, ClientLookup, DefinitionStore, DirectoryError, EntryKey,
    KeyStore, KeyedWrite, PersonKey, PersonStore, Returning, SavedAnswer, StoreError, Updated,
};
use crate::table::CustomerId;

/// `Idempotency-Key` entries by key: the fingerprint and, once saved, the answer.
type Entries = HashMap<String, (String, Option<SavedAnswer>)>;

/// Persons that exist, by key, with their versions; and each customer's definitions.
#[derive(Debug, Default)]
pub struct MemoryStore {
    versions: Mutex<HashMap<(i64, String), u64>>,
    definitions: HashMap<CustomerId, Arc<Definitions>>,
    entries: Mutex<Entries>,
}

impl MemoryStore {
    /// A store holding these persons (at version 1) and definitions.
    pub fn new(persons: &[PersonKey], definitions: HashMap<CustomerId, Definitions>) -> Self {
        MemoryStore {
            versions: Mutex::new(
                persons
                    .iter()
                    .map(|k| ((k.customer.0, k.person.clone()), 1))
                    .collect(),
            ),
            definitions: definitions
                .into_iter()
                .map(|(customer, defs)| (customer, Arc::new(defs)))
                .collect(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Applies an update's existence and version conditions, as `precondition` states them.
    pub fn update(
        &self,
        key: &PersonKey,
        precondition: &Precondition,
    ) -> Result<Updated, StoreError> {
        let mut versions = self
            .versions
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))?;
        let version = versions
            .get_mut(&(key.customer.0, key.person.clone()))
            .ok_or(StoreError::NotFound)?;
        if let Precondition::VersionIn(allowed) = precondition {
            if !allowed.contains(version) {
                return Err(StoreError::VersionMismatch {
                    current: Some(*version),
                });
            }
        }
        *version += 1;
        Ok(Updated {
            version: *version,
            record: Default::default(),
        })
    }
}

impl PersonStore for MemoryStore {
    async fn update_person(
        &self,
        key: &PersonKey,
        plan: UpdatePlan,
        _returning: Returning,
    ) -> Result<Updated, StoreError> {
        // The plan's condition names the versions If-Match allowed, as `:m<i>` values.
        let allowed: Vec<u64> = plan
            .values
            .iter()
            .filter(|(placeholder, _)| placeholder.starts_with(":m"))
            .filter_map(|(_, value)| match value {
                crate::engine::Value::N(n) => n.parse().ok(),
                _ => None,
            })
            .collect();
        let precondition = if allowed.is_empty() {
            Precondition::Exists
        } else {
            Precondition::VersionIn(allowed)
        };
        self.update(key, &precondition)
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
        let versions = self
            .versions
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))?;
        Ok(versions
            .get(&(key.customer.0, key.person.clone()))
            .map(|version| {
                Record::from([(
                    crate::table::person::VERSION.to_owned(),
                    Stored::Value(crate::engine::Value::N(version.to_string())),
                )])
            }))
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

impl KeyStore for MemoryStore {
    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let mut entries = self.entries()?;
        let id = entry_id(request.entry);
        match entries.get(&id) {
            None => {
                entries.insert(id, (request.fingerprint.to_owned(), None));
                Ok(Claim::Fresh(KeyedWrite {
                    write_id: request.claim_id.to_owned(),
                    claimed_at: request.now,
                }))
            }
            Some((fingerprint, _)) if fingerprint != request.fingerprint => Ok(Claim::Reused),
            Some((_, Some(answer))) => Ok(Claim::Replay(answer.clone())),
            Some((_, None)) => Ok(Claim::InFlight),
        }
    }

    async fn save_answer(
        &self,
        entry: &EntryKey,
        _claim_id: &str,
        answer: &SavedAnswer,
    ) -> Result<(), StoreError> {
        // As in DynamoDB: only a running entry is finished; a done one keeps its answer.
        if let Some((_, saved @ None)) = self.entries()?.get_mut(&entry_id(entry)) {
            *saved = Some(answer.clone());
        }
        Ok(())
    }

    async fn release(&self, entry: &EntryKey, _claim_id: &str) -> Result<(), StoreError> {
        let mut entries = self.entries()?;
        let id = entry_id(entry);
        if entries.get(&id).is_some_and(|(_, saved)| saved.is_none()) {
            entries.remove(&id);
        }
        Ok(())
    }
}

impl MemoryStore {
    fn entries(&self) -> Result<std::sync::MutexGuard<'_, Entries>, StoreError> {
        self.entries
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))
    }
}

fn entry_id(entry: &EntryKey) -> String {
    format!("{}/{}", entry.partition_key, entry.sort_key)
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
