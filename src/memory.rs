//! In-memory stand-ins for the two tables, for fuzzing and in-process benchmarks: the handler
//! runs end to end without DynamoDB. They are not models of DynamoDB (the integration tests use
//! DynamoDB Local for that): the person store knows which persons exist and counts versions,
//! and does not keep field values.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::clients::{ApiClient, ClientLookup, DirectoryError};
use crate::engine::{Definitions, Precondition, UpdatePlan};
use crate::store::{CustomerId, PersonKey, PersonStore, Returning, StoreError, Updated};

/// Persons that exist, by key, with their versions; and each customer's definitions.
#[derive(Debug, Default)]
pub struct MemoryStore {
    versions: Mutex<HashMap<(i64, String), u64>>,
    definitions: HashMap<CustomerId, Arc<Definitions>>,
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
}

/// API clients by id.
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
