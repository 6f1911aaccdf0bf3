//! Persons: the PATCH's one conditional `UpdateItem` (and the map fallback for records
//! written by other tools), and the consistent read that tells whether a keyed request's
//! update was applied; and the whole-person writes and reads of the admin tool (demo data,
//! import, export).

use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::dynamo::DynamoPersonStore;
use super::item::{expression_maps, person_item, to_record, Attributes, Item};
use super::sdk::{classify_other, ITEM_TOO_LARGE};
use super::{PersonKey, PersonStore, Returning, StoreError, Updated};
use crate::engine::record::{map_holding, version_of, MapHolding, Record, Stored};
use crate::engine::{UpdatePlan, Value};
use crate::ops::aws::describe_sdk_error;
use crate::table::person::{LAST_WRITE_ID, VERSION};
use crate::table::{self, CustomerId, PARTITION_KEY, SORT_KEY};

/// How many times a keyed update is sent while every answer is `Throttled`.
const FENCED_SENDINGS: u32 = 3;
/// The wait before a keyed update is sent again after `Throttled`; it doubles each time.
const FENCED_BACKOFF: Duration = Duration::from_millis(25);

/// How one `UpdateItem` attempt ended, before it is told to the caller.
enum Attempt {
    Done(Updated),
    /// The condition failed; the item as it was, when it exists.
    ConditionFailed(Option<Record>),
    /// The plan writes into a map the item does not have.
    MissingMap,
    /// A reply that could not be read (the SDK does not retry these): whether the update was
    /// applied is unknown.
    Unreadable(String),
    Failed(StoreError),
}

impl Attempt {
    /// A failed condition on an item that carries this plan's write id: an earlier attempt of
    /// the same request committed (its reply was lost and the SDK retried). The item as it is
    /// now is the one that write left (any later writer would have replaced the id), so it
    /// answers as the lost reply would have.
    fn recognise_own_write(self, plan: &UpdatePlan) -> Attempt {
        match self {
            Attempt::ConditionFailed(Some(item)) if matches!(item.get(LAST_WRITE_ID), Some(Stored::Value(Value::S(id))) if *id == plan.write_id) => {
                match version_of(&item) {
                    Some(version) => Attempt::Done(Updated {
                        version,
                        record: item,
                    }),
                    None => Attempt::Failed(StoreError::ForeignType(VERSION)),
                }
            }
            other => other,
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
        let mut outcome = self.attempt(key, &plan, returning).await;
        if let (Attempt::MissingMap, Some(fallback)) = (&outcome, plan.fallback.as_deref()) {
            // A record without the map (written by another tool, or holding NULL): create the
            // map whole, if it is still missing. Should another writer create it first, the
            // plan itself now applies; should the attribute hold another type, nothing is
            // written and the caller is told.
            outcome = match self.attempt(key, fallback, returning).await {
                Attempt::ConditionFailed(Some(item)) => {
                    let holding = |m: &&str| map_holding(&item, m);
                    let foreign = fallback
                        .creates_maps
                        .iter()
                        .find(|m| holding(m) == MapHolding::Foreign);
                    if let Some(map) = foreign {
                        Attempt::Failed(StoreError::ForeignType(map))
                    } else if fallback
                        .creates_maps
                        .iter()
                        .any(|m| holding(m) == MapHolding::Present)
                    {
                        self.attempt(key, &plan, returning).await
                    } else {
                        Attempt::ConditionFailed(Some(item))
                    }
                }
                other => other,
            };
        }
        match outcome {
            Attempt::Done(updated) => Ok(updated),
            Attempt::ConditionFailed(None) => Err(StoreError::NotFound),
            Attempt::ConditionFailed(Some(item)) => match item.get(VERSION) {
                None | Some(Stored::Value(Value::N(_))) => Err(StoreError::VersionMismatch {
                    current: version_of(&item),
                }),
                Some(_) => Err(StoreError::ForeignType(VERSION)),
            },
            Attempt::MissingMap => Err(StoreError::Failed(
                "the update writes into a missing map and has no fallback".into(),
            )),
            Attempt::Unreadable(why) => Err(StoreError::Unavailable(why)),
            Attempt::Failed(error) => Err(error),
        }
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
        Ok(self.stored_item(key).await?.map(|item| to_record(&item)))
    }
}

impl DynamoPersonStore {
    /// One update. A plain one is sent once more when its reply cannot be read: the write id
    /// makes the second sending recognise a first one that was applied.
    async fn attempt(&self, key: &PersonKey, plan: &UpdatePlan, returning: Returning) -> Attempt {
        if plan.fence.is_some() {
            return self.attempt_fenced(key, plan, returning).await;
        }
        match self.send_update(key, plan, returning).await {
            Attempt::Unreadable(_) => match self.send_update(key, plan, returning).await {
                Attempt::Unreadable(why) => Attempt::Failed(StoreError::Unavailable(why)),
                other => other,
            },
            other => other,
        }
    }

    /// A keyed request's update (see [`crate::http::idempotency`]): sent again only after an
    /// answer of `Throttled` (DynamoDB applies nothing it throttles), never after one whose
    /// fate is unknown (no reply, an unreadable one, a server error), so at most one sending
    /// of a keyed write is ever in doubt, and an answer of `Throttled` means nothing of it was
    /// applied. The SDK's own retries are off for it: they resend after timeouts, and a resend
    /// that lands after another writer's update would apply the write a second time.
    async fn attempt_fenced(
        &self,
        key: &PersonKey,
        plan: &UpdatePlan,
        returning: Returning,
    ) -> Attempt {
        let mut backoff = FENCED_BACKOFF;
        for sending in 1..=FENCED_SENDINGS {
            match self.send_update(key, plan, returning).await {
                Attempt::Failed(StoreError::Throttled) if sending < FENCED_SENDINGS => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Attempt::Unreadable(why) => return Attempt::Failed(StoreError::Unavailable(why)),
                other => return other,
            }
        }
        Attempt::Failed(StoreError::Throttled)
    }

    async fn send_update(
        &self,
        key: &PersonKey,
        plan: &UpdatePlan,
        returning: Returning,
    ) -> Attempt {
        let (names, values) = expression_maps(plan);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
            .key(SORT_KEY, AttributeValue::S(key.sort_key()))
            .update_expression(&plan.update_expression)
            .condition_expression(&plan.condition_expression)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(match returning {
                Returning::Changes => ReturnValue::UpdatedNew,
                Returning::Record => ReturnValue::AllNew,
            })
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let result = if plan.fence.is_some() {
            let once = aws_sdk_dynamodb::config::Builder::default()
                .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
            request.customize().config_override(once).send().await
        } else {
            request.send().await
        };
        match result {
            Ok(output) => {
                let record = output
                    .attributes
                    .map(|attributes| to_record(&attributes))
                    .unwrap_or_default();
                match version_of(&record) {
                    Some(version) => Attempt::Done(Updated { version, record }),
                    None => Attempt::Failed(StoreError::Failed(
                        "the update returned no numeric version".into(),
                    )),
                }
            }
            Err(error) => classify(error).recognise_own_write(plan),
        }
    }
}

/// Maps an `UpdateItem` failure. A failed condition on a missing item carries no item: that
/// is a 404; with the current item it is a version mismatch (or a map created meanwhile).
fn classify<R>(error: SdkError<UpdateItemError, R>) -> Attempt
where
    SdkError<UpdateItemError, R>: RequestId,
{
    let failed = |e| Attempt::Failed(e);
    let description = describe_sdk_error(&error);
    match error {
        SdkError::ServiceError(service) => {
            let error = service.into_err();
            match &error {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    Attempt::ConditionFailed(failed.item().map(to_record))
                }
                UpdateItemError::ProvisionedThroughputExceededException(_)
                | UpdateItemError::RequestLimitExceeded(_)
                | UpdateItemError::ThrottlingException(_) => failed(StoreError::Throttled),
                UpdateItemError::InternalServerError(_)
                | UpdateItemError::TransactionConflictException(_)
                | UpdateItemError::ReplicatedWriteConflictException(_) => {
                    failed(StoreError::Unavailable(description))
                }
                other if other.code() == Some("ValidationException") => {
                    let message = other.message().unwrap_or("");
                    if message.contains(ITEM_TOO_LARGE) {
                        failed(StoreError::RecordTooLarge)
                    } else if message
                        .contains("document path provided in the update expression is invalid")
                    {
                        Attempt::MissingMap
                    } else if message.contains("incorrect operand type")
                        || message.contains("incorrect data type")
                    {
                        // `version = if_not_exists(version, 0) + 1` on a version that is not
                        // a number: the only arithmetic an update does.
                        failed(StoreError::ForeignType(VERSION))
                    } else {
                        failed(StoreError::Failed(description))
                    }
                }
                // A reply the SDK could not deserialize comes back as an error without a code.
                other if other.code().is_none() => Attempt::Unreadable(description),
                _ => failed(StoreError::Failed(description)),
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            failed(StoreError::Unavailable(description))
        }
        _ => failed(StoreError::Failed(description)),
    }
}

/// One page of a customer's persons, and where the next begins.
pub struct PersonsPage {
    pub records: Vec<Record>,
    pub next: Option<PageStart>,
}

/// Where a page of [`DynamoPersonStore::persons_page`] begins: the last key of the one before.
pub struct PageStart(Item);

/// Whole persons, as the admin tool writes and reads them.
impl DynamoPersonStore {
    /// Writes a person whole, replacing any with the same key.
    pub async fn put_person(
        &self,
        key: &PersonKey,
        attributes: Attributes,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(person_item(key, attributes)))
            .send()
            .await
            .map_err(|e| classify_other(&e))?;
        Ok(())
    }

    /// Puts a person if there is none with its key: `true` when it was written, `false` when
    /// one exists. An existing person that carries these attributes' write id is this put's own
    /// (a retried put whose first attempt committed): `true`.
    pub async fn create_person(
        &self,
        key: &PersonKey,
        attributes: Attributes,
    ) -> Result<bool, StoreError> {
        let write_id = match attributes.get(LAST_WRITE_ID) {
            Some(Value::S(id)) => Some(AttributeValue::S(id.clone())),
            _ => None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(person_item(key, attributes)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let existing = failed.item().and_then(|old| old.get(LAST_WRITE_ID));
                    Ok(write_id.is_some() && existing == write_id.as_ref())
                }
                _ => Err(classify_other(&error)),
            },
        }
    }

    /// A person's item as stored (a consistent read); `None` when there is none.
    pub async fn stored_item(&self, key: &PersonKey) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
            .key(SORT_KEY, AttributeValue::S(key.sort_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify_other(&e))?;
        Ok(output.item)
    }

    /// One page of `customer`'s persons in sort key order (a consistent query), from `start`.
    pub async fn persons_page(
        &self,
        customer: CustomerId,
        start: Option<PageStart>,
    ) -> Result<PersonsPage, StoreError> {
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :person)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", AttributeValue::S(table::customer_key(customer)))
            .expression_attribute_values(":person", AttributeValue::S(table::person_key("")))
            .consistent_read(true)
            .set_exclusive_start_key(start.map(|s| s.0))
            .send()
            .await
            .map_err(|e| classify_other(&e))?;
        Ok(PersonsPage {
            records: page.items().iter().map(to_record).collect(),
            next: page
                .last_evaluated_key
                .filter(|key| !key.is_empty())
                .map(PageStart),
        })
    }
}
