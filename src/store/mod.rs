//! The person store: what the PATCH path needs of the persons table, as one trait and its
//! types. The DynamoDB implementation sits beside it, one file per kind of item it stores
//! ([`persons`], [`idempotency`] records, field [`definitions`]), over the one item conversion
//! ([`item`]) and the SDK's settings and error classification ([`sdk`]); [`memory`] is an
//! in-memory stand-in. Where each item lives and what its attributes are called is
//! [`crate::table`]'s.

pub mod clients;
pub mod definitions;
pub mod dynamo;
pub mod idempotency;
pub mod item;
pub mod memory;
pub mod persons;
pub mod sdk;

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use crate::dialect::PersonId;
use crate::engine::record::Record;
use crate::engine::{Definitions, UpdatePlan};
use crate::table::{self, CustomerId};
use idempotency::{RecordKey, RecordedAnswer};

/// Where one person is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonKey {
    pub customer: CustomerId,
    pub person: PersonId,
}

impl PersonKey {
    pub fn partition_key(&self) -> String {
        table::customer_key(self.customer)
    }

    pub fn sort_key(&self) -> String {
        table::person_key(self.person)
    }
}

/// How much of the record an update returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returning {
    /// Only what the update wrote (enough for the new version).
    Changes,
    /// The whole record after the update.
    Record,
}

/// A successful update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    /// The record's version after the update.
    pub version: u64,
    /// The returned attributes (see [`Returning`]).
    pub record: Record,
}

/// Why an update did not happen. Only [`StoreError::Failed`] carries internals, for the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no such person")]
    NotFound,
    #[error("version mismatch")]
    VersionMismatch { current: Option<u64> },
    #[error("throttled")]
    Throttled,
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("the record would exceed the item size limit")]
    RecordTooLarge,
    /// The stored item holds an attribute of a type this service cannot update in place
    /// (written by another tool): a `customFields` that is not a map, a `version` that is not
    /// a number. Nothing was written.
    #[error("the stored {0} attribute has a foreign type")]
    ForeignType(&'static str),
    #[error("store failure: {0}")]
    Failed(String),
}

/// How claiming an idempotency key ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's to carry out, with this write.
    Claimed(KeyedWrite),
    /// The same request was answered before: this answer.
    Replay(RecordedAnswer),
    /// The key was used for another request.
    Reused,
    /// The same request is being carried out now.
    InFlight,
}

/// The write a claimed key's request makes: the write id its update stamps, and when the
/// claim that drew that id was taken. A claimant that took over an abandoned claim keeps both
/// (its `write_id` is then not its own claim id): the abandoned claimant may have written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedWrite {
    pub write_id: String,
    pub claimed_at: SystemTime,
}

/// A claim on an idempotency key.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub record: &'a RecordKey,
    pub fingerprint: &'a str,
    /// Random, per request: only the claimant finishes the record.
    pub claim_id: &'a str,
    pub now: SystemTime,
}

/// What the PATCH path needs of its store.
pub trait PersonStore: Send + Sync {
    /// Applies one update, conditioned as the plan says; never creates a record.
    fn update_person(
        &self,
        key: &PersonKey,
        plan: UpdatePlan,
        returning: Returning,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send;

    /// A customer's custom field definitions.
    fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Result<Arc<Definitions>, StoreError>> + Send;

    /// Claims an idempotency key for a request, or tells how it was used before.
    fn claim(
        &self,
        request: ClaimRequest<'_>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Finishes a claimed record: with the answer to replay, or released (`None`) so the key
    /// may be used again (only when the request's update is known not to have been applied).
    fn finish(
        &self,
        record: &RecordKey,
        claim_id: &str,
        answer: Option<&RecordedAnswer>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The person as stored, read consistently (to tell whether a keyed write was applied).
    fn read_person(
        &self,
        key: &PersonKey,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;
}

/// One API client as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: String,
    /// `$sha256$…` for a generated secret ([`crate::auth::secrets`]), a PHC-format argon2id hash for
    /// one a person chose; `None` for clients that authenticate only by token.
    pub secret_hash: Option<String>,
    pub scopes: Vec<String>,
    pub customers: Vec<CustomerId>,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("the clients table is throttling or unavailable: {0}")]
    Unavailable(String),
    #[error("clients table failure: {0}")]
    Failed(String),
}

/// What authentication needs of the clients table: a client by id, and replacing a verified
/// secret's hash by one with the deployment's parameters.
pub trait ClientLookup: Send + Sync {
    fn find(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<ApiClient>, DirectoryError>> + Send;

    /// Replaces the client's hash `old` by `new`; nothing happens if it has changed meanwhile.
    fn replace_hash(
        &self,
        id: &str,
        old: &str,
        new: &str,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send {
        let _ = (id, old, new);
        async { Ok(()) }
    }
}
