//! The person store: one conditional `UpdateItem` per PATCH, behind a narrow trait.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;

use crate::dialect::PersonId;
use crate::engine::expression::{PARTITION_KEY, SORT_KEY, VERSION};
use crate::engine::{UpdatePlan, Value};

/// A tenant's id, from the `Customer-Id` header or the principal's only customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerId(pub i64);

/// Where one person is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonKey {
    pub customer: CustomerId,
    pub person: PersonId,
}

impl PersonKey {
    /// `CUSTOMER#<customerId>`
    pub fn partition_key(&self) -> String {
        format!("CUSTOMER#{}", self.customer.0)
    }

    /// `PERSON#<personId>`
    pub fn sort_key(&self) -> String {
        format!("PERSON#{}", self.person)
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

/// A stored record's plain attributes (strings, numbers, booleans and maps of them).
pub type Record = BTreeMap<String, Stored>;

/// A stored attribute value as the service reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Value(Value),
    Map(BTreeMap<String, Stored>),
    /// A type the service never writes (sets, lists, binary, null), kept opaque.
    Other,
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
    #[error("store failure: {0}")]
    Failed(String),
}

/// The one operation the PATCH path needs of its store.
pub trait PersonStore: Send + Sync {
    fn update_person(
        &self,
        key: &PersonKey,
        plan: UpdatePlan,
        returning: Returning,
    ) -> impl Future<Output = Result<Updated, StoreError>> + Send;
}

/// The DynamoDB persons table.
#[derive(Debug, Clone)]
pub struct DynamoPersonStore {
    client: Client,
    table: String,
}

impl DynamoPersonStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPersonStore {
            client,
            table: table.into(),
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
        let names: HashMap<String, String> = plan.names.into_iter().collect();
        let values: HashMap<String, AttributeValue> = plan
            .values
            .into_iter()
            .map(|(placeholder, value)| (placeholder, to_attribute(value)))
            .collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
            .key(SORT_KEY, AttributeValue::S(key.sort_key()))
            .update_expression(plan.update_expression)
            .condition_expression(plan.condition_expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(match returning {
                Returning::Changes => ReturnValue::UpdatedNew,
                Returning::Record => ReturnValue::AllNew,
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => {
                let record = output
                    .attributes
                    .map(|attributes| to_record(&attributes))
                    .unwrap_or_default();
                let version = version_of(&record).ok_or_else(|| {
                    StoreError::Failed("the update returned no numeric version".into())
                })?;
                Ok(Updated { version, record })
            }
            Err(error) => Err(classify(error)),
        }
    }
}

/// Maps an `UpdateItem` failure to what the caller is told. A failed condition on a missing
/// item carries no item: that is a 404; with the current item it is a version mismatch.
fn classify<R>(error: SdkError<UpdateItemError, R>) -> StoreError
where
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let error = service.into_err();
            match &error {
                UpdateItemError::ConditionalCheckFailedException(failed) => match failed.item() {
                    None => StoreError::NotFound,
                    Some(item) => StoreError::VersionMismatch {
                        current: version_of(&to_record(item)),
                    },
                },
                UpdateItemError::ProvisionedThroughputExceededException(_)
                | UpdateItemError::RequestLimitExceeded(_)
                | UpdateItemError::ThrottlingException(_) => StoreError::Throttled,
                UpdateItemError::InternalServerError(_)
                | UpdateItemError::TransactionConflictException(_)
                | UpdateItemError::ReplicatedWriteConflictException(_) => {
                    StoreError::Unavailable(describe(&error))
                }
                other
                    if other.code() == Some("ValidationException")
                        && other
                            .message()
                            .is_some_and(|m| m.contains("Item size to update has exceeded")) =>
                {
                    StoreError::RecordTooLarge
                }
                other => StoreError::Failed(describe(other)),
            }
        }
        SdkError::TimeoutError(_) => StoreError::Unavailable("timed out".into()),
        SdkError::DispatchFailure(failure) => {
            StoreError::Unavailable(format!("dispatch failure: {failure:?}"))
        }
        SdkError::ResponseError(response) => {
            StoreError::Unavailable(format!("unreadable response: {response:?}"))
        }
        other => StoreError::Failed(format!("{other:?}")),
    }
}

fn describe(error: &UpdateItemError) -> String {
    format!(
        "{}: {}",
        error.code().unwrap_or("unknown"),
        error.message().unwrap_or("")
    )
}

pub fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s),
        Value::N(n) => AttributeValue::N(n),
        Value::Bool(b) => AttributeValue::Bool(b),
    }
}

pub fn to_record(item: &HashMap<String, AttributeValue>) -> Record {
    item.iter()
        .map(|(name, value)| (name.clone(), to_stored(value)))
        .collect()
}

fn to_stored(value: &AttributeValue) -> Stored {
    match value {
        AttributeValue::S(s) => Stored::Value(Value::S(s.clone())),
        AttributeValue::N(n) => Stored::Value(Value::N(n.clone())),
        AttributeValue::Bool(b) => Stored::Value(Value::Bool(*b)),
        AttributeValue::M(m) => Stored::Map(
            m.iter()
                .map(|(name, value)| (name.clone(), to_stored(value)))
                .collect(),
        ),
        _ => Stored::Other,
    }
}

fn version_of(record: &Record) -> Option<u64> {
    match record.get(VERSION) {
        Some(Stored::Value(Value::N(n))) => n.parse().ok(),
        _ => None,
    }
}
