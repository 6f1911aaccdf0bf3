//! An in-memory stand-in for the persons table, for fuzzing and in-process benchmarks: with
//! the in-memory clients table (`MemoryClients`, beside the clients table), the handler runs
//! end to end without DynamoDB. It is not a model of DynamoDB (the integration tests use
//! DynamoDB Local for that): it knows which persons exist and counts versions, and does not
//! keep field values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::record::{Record, Stored};
use crate::engine::{Definitions, Precondition, UpdatePlan};
use crate::store::idempotency::{RecordKey, RecordedAnswer};
use crate::store::{
    ApiClient, Claim, ClaimRequest, ClientLookup, DirectoryError, KeyedWrite, PersonKey,
    PersonStore, Returning, StoreError, Updated,
};
use crate::table::CustomerId;

/// Persons that exist, by key, with their versions; and each customer's definitions.
#[derive(Debug, Default)]
pub struct MemoryStore {
    versions: Mutex<HashMap<(i64, String), u64>>,
    definitions: HashMap<CustomerId, Arc<Definitions>>,
    /// Idempotency records: fingerprint and, once finished, the answer.
    records: Mutex<HashMap<String, (String, Option<RecordedAnswer>)>>,
}

impl MemoryStore {
    /// A store holding these persons (at version 1) and definitions.
    pub fn new(persons: &[PersonKey], definitions: HashMap<CustomerId, Definitions>) -> Self {
        MemoryStore {
            versions: Mutex::new(
                persons
                    .iter()
                    .map(|k| ((k.customer.0, k.person.to_string()), 1))
                    .collect(),
            ),
            definitions: definitions
                .into_iter()
                .map(|(customer, defs)| (customer, Arc::new(defs)))
                .collect(),
            records: Mutex::new(HashMap::new()),
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
            .get_mut(&(key.customer.0, key.person.to_string()))
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

    async fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> Result<Arc<Definitions>, StoreError> {
        Ok(self.definitions.get(&customer).cloned().unwrap_or_default())
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))?;
        let id = format!(
            "{}/{}",
            request.record.partition_key, request.record.sort_key
        );
        match records.get(&id) {
            None => {
                records.insert(id, (request.fingerprint.to_owned(), None));
                Ok(Claim::Claimed(KeyedWrite {
                    write_id: request.claim_id.to_owned(),
                    claimed_at: request.now,
                }))
            }
            Some((fingerprint, _)) if fingerprint != request.fingerprint => Ok(Claim::Reused),
            Some((_, Some(answer))) => Ok(Claim::Replay(answer.clone())),
            Some((_, None)) => Ok(Claim::InFlight),
        }
    }

    async fn finish(
        &self,
        record: &RecordKey,
        _claim_id: &str,
        answer: Option<&RecordedAnswer>,
    ) -> Result<(), StoreError> {
        let mut records = self
            .records
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))?;
        let id = format!("{}/{}", record.partition_key, record.sort_key);
        // As in DynamoDB: only a running record is finished; a done one keeps its answer.
        let running = records.get(&id).is_some_and(|entry| entry.1.is_none());
        match answer {
            Some(answer) if running => {
                if let Some(entry) = records.get_mut(&id) {
                    entry.1 = Some(answer.clone());
                }
            }
            None if running => {
                records.remove(&id);
            }
            _ => {}
        }
        Ok(())
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
        let versions = self
            .versions
            .lock()
            .map_err(|_| StoreError::Failed("poisoned".into()))?;
        Ok(versions
            .get(&(key.customer.0, key.person.to_string()))
            .map(|version| {
                Record::from([(
                    crate::table::person::VERSION.to_owned(),
                    Stored::Value(crate::engine::Value::N(version.to_string())),
                )])
            }))
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
