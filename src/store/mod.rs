//! The store: what the function needs of its two DynamoDB tables, as traits and their types,
//! one trait per kind of item. Each is implemented for DynamoDB in the file that makes its
//! calls: [`persons`] ([`PersonStore`]), [`definitions`] ([`DefinitionStore`]),
//! [`idempotency`] ([`KeyStore`]: `Idempotency-Key` entries), [`clients`] ([`ClientLookup`]).
//! They share the client in [`dynamo`], the item conversion in [`item`] and the error
//! classification in [`sdk`]; [`memory`] holds in-memory stand-ins for fuzzing.
//! Where each item lives and what its attributes are called is [`crate::table`]'s.

pub mod clients;
pub mod definitions;
pub mod dynamo;
pub mod idempotency;
pub mod item;
pub mod memory;
pub mod persons;
pub mod sdk;
pub mod tables;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::engine::record::Record;
use crate::engine::{Definitions, UpdatePlan};
use crate::table::{self, CustomerId};

/// Where one person is stored: its customer, and its id as the dialect writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonKey {
    pub customer: CustomerId,
    pub person: String,
}

impl PersonKey {
    pub fn new(customer: CustomerId, person: impl fmt::Display) -> PersonKey {
        PersonKey {
            customer,
            person: person.to_string(),
        }
    }

    pub fn partition_key(&self) -> String {
        table::customer_key(self.customer)
    }

    pub fn sort_key(&self) -> String {
        table::person_key(&self.person)
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

impl StoreError {
    /// The error's kind, for a log line (never its details).
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::NotFound => "not-found",
            StoreError::VersionMismatch { .. } => "version-mismatch",
            StoreError::Throttled => "throttled",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::RecordTooLarge => "record-too-large",
            StoreError::ForeignType(_) => "foreign-type",
            StoreError::Failed(_) => "failed",
        }
    }
}

/// What finishing a claim (saving its answer, or releasing the key) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The claim was running, and is finished now.
    Now,
    /// This claim had finished it already (a sending whose reply was lost).
    Already,
    /// Another claim holds the entry (it took it over once the lock lapsed), or it is gone.
    Superseded,
}

/// Where an `Idempotency-Key`'s entry is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKey {
    pub partition_key: String,
    pub sort_key: String,
}

impl EntryKey {
    /// The entry of a key in `customer`'s partition; `scoped_hash` identifies the key and the
    /// principal that sent it (hex).
    pub fn new(customer: CustomerId, scoped_hash: &str) -> EntryKey {
        EntryKey {
            partition_key: table::customer_key(customer),
            sort_key: table::idempotency_key(scoped_hash),
        }
    }
}

/// An answer as saved and replayed: status, the headers that describe it, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedAnswer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

/// A claim on an `Idempotency-Key` for a request.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub entry: &'a EntryKey,
    pub fingerprint: &'a str,
    /// Random, per request: only the claimant finishes the entry.
    pub claim_id: &'a str,
    pub now: OffsetDateTime,
}

/// What a claim found: the key is this request's to carry out ([`Claim::Fresh`],
/// [`Claim::TakenOver`]), or it answers as the key's earlier use says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (or released): this request carries it out, stamping a write id of
    /// its own.
    Fresh(KeyedWrite),
    /// The key's earlier claimant never finished and its lock lapsed: this request carries it
    /// out, keeping that claimant's write id and claim time (its write may have been applied).
    TakenOver(KeyedWrite),
    /// The same request was answered before: this answer.
    Replay(SavedAnswer),
    /// The key was used for another request.
    Reused,
    /// The same request is being carried out now.
    InFlight,
}

/// The write a claimed key's request makes: the write id its update stamps, and when the claim
/// that drew that id was taken (no write of it can be older).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedWrite {
    pub write_id: String,
    pub claimed_at: OffsetDateTime,
}

/// What the PATCH needs of persons.
pub trait PersonStore: Send + Sync {
    /// Applies one update, conditioned as the plan says; never creates a record.
    fn update_person(
        &self,
        key: &PersonKey,
        plan: UpdatePlan,
        returning: Returning,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send;

    /// The person as stored, read consistently (to tell whether a keyed write was applied).
    fn read_person(
        &self,
        key: &PersonKey,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;
}

/// What the PATCH needs of custom field definitions.
pub trait DefinitionStore: Send + Sync {
    /// A customer's custom field definitions.
    fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Result<Arc<Definitions>, StoreError>> + Send;
}

/// What a keyed request needs of its `Idempotency-Key` entry.
pub trait KeyStore: Send + Sync {
    /// Claims the key for a request, or tells how it was used before.
    fn claim(
        &self,
        request: ClaimRequest<'_>,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Finishes the running claim with the answer every later use of the key replays.
    /// Finishing a claim that is finished already, or was taken over, changes nothing.
    fn save_answer(
        &self,
        entry: &EntryKey,
        claim_id: &str,
        answer: &SavedAnswer,
    ) -> impl Future<Output = Result<Finished, StoreError>> + Send;

    /// Frees the key for the same request to be carried out again, under a new write id (when
    /// that is allowed: [`crate::http::idempotency`]).
    fn release(
        &self,
        entry: &EntryKey,
        claim_id: &str,
    ) -> impl Future<Output = Result<Finished, StoreError>> + Send;
}

/// Everything a PATCH needs of the persons table.
pub trait Store: PersonStore + DefinitionStore + KeyStore {}

impl<T: PersonStore + DefinitionStore + KeyStore> Store for T {}

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

#[derive(Debug, Clone, thiserror::Error)]
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
