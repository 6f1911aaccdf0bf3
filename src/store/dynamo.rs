//! The persons table in DynamoDB: the store the function runs with. Each kind of item's
//! calls are in its own file; this one holds the client and answers the trait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client;

use super::definitions::DefinitionsCache;
use super::idempotency::{RecordKey, RecordedAnswer};
use super::{Claim, ClaimRequest, PersonKey, PersonStore, Returning, StoreError, Updated};
use crate::engine::record::Record;
use crate::engine::{Definitions, UpdatePlan};
use crate::table::CustomerId;

/// The DynamoDB persons table.
#[derive(Debug, Clone)]
pub struct DynamoPersonStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) definitions: Arc<DefinitionsCache>,
}

impl DynamoPersonStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPersonStore {
            client,
            table: table.into(),
            definitions: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl PersonStore for DynamoPersonStore {
    async fn update_person(
        &self,
        key: &PersonKey,
        plan: UpdatePlan,
        returning: Returning,
    ) -> Result<Updated, StoreError> {
        self.update(key, plan, returning).await
    }

    async fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> Result<Arc<Definitions>, StoreError> {
        self.cached_definitions(customer).await
    }

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        self.claim_key(request).await
    }

    async fn finish(
        &self,
        record: &RecordKey,
        claim_id: &str,
        answer: Option<&RecordedAnswer>,
    ) -> Result<(), StoreError> {
        self.finish_record(record, claim_id, answer).await
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
        self.read(key).await
    }
}
