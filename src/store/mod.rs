//! The person store: one conditional `UpdateItem` per PATCH, behind a narrow trait.

pub mod memory;
pub mod sdk;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;

use crate::dialect::PersonId;
use crate::engine::{CustomKind, Definitions, FieldDefinition, UpdatePlan, Value};
use crate::http::idempotency::{RecordKey, RecordedAnswer, LOCK, RETENTION};
use crate::table::person::{VERSION, WRITE_ID};
use crate::table::{self, CustomerId, PARTITION_KEY, SORT_KEY};

/// How long a customer's custom field definitions are reused in a warm container.
pub const DEFINITIONS_TTL: Duration = Duration::from_secs(30);

/// The most pages of definitions read for one customer (each up to 1 MB).
const MAX_DEFINITION_PAGES: usize = 10;

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

pub use crate::engine::record::{Record, Stored};

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
    /// The key is this request's to carry out.
    Claimed,
    /// The same request was answered before: this answer.
    Replay(RecordedAnswer),
    /// The key was used for another request.
    Reused,
    /// The same request is being carried out now; its lock ends in this long.
    InFlight { retry_after: Duration },
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

/// Why an update recorded with its idempotency key did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedUpdateError {
    /// The person is not as it was read (another writer, or gone): read again.
    PersonChanged,
    /// The claim was taken over (it outlived its lock).
    ClaimLost,
    Store(StoreError),
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
    /// may be used again.
    fn finish(
        &self,
        record: &RecordKey,
        claim_id: &str,
        answer: Option<&RecordedAnswer>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The person as stored, read consistently.
    fn read_person(
        &self,
        key: &PersonKey,
    ) -> impl Future<Output = Result<Option<Record>, StoreError>> + Send;

    /// Applies `plan` if the person is still at `expected_version` (`None`: has none), and
    /// records `answer` under the claimed key, in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn update_recorded(
        &self,
        key: &PersonKey,
        plan: &UpdatePlan,
        expected_version: Option<u64>,
        record: &RecordKey,
        claim_id: &str,
        answer: &RecordedAnswer,
    ) -> impl Future<Output = Result<(), RecordedUpdateError>> + Send;
}

type DefinitionsCache = Mutex<HashMap<CustomerId, (Instant, Arc<Definitions>)>>;

/// The DynamoDB persons table.
#[derive(Debug, Clone)]
pub struct DynamoPersonStore {
    client: Client,
    table: String,
    definitions: Arc<DefinitionsCache>,
}

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
            Attempt::ConditionFailed(Some(item)) if matches!(item.get(WRITE_ID), Some(Stored::Value(Value::S(id))) if *id == plan.write_id) => {
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

impl DynamoPersonStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPersonStore {
            client,
            table: table.into(),
            definitions: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// One update, sent once more when its reply cannot be read: the write id makes the second
    /// sending recognise a first one that was applied.
    async fn attempt(&self, key: &PersonKey, plan: &UpdatePlan, returning: Returning) -> Attempt {
        match self.send_update(key, plan, returning).await {
            Attempt::Unreadable(_) => match self.send_update(key, plan, returning).await {
                Attempt::Unreadable(why) => Attempt::Failed(StoreError::Unavailable(why)),
                other => other,
            },
            other => other,
        }
    }

    async fn send_update(
        &self,
        key: &PersonKey,
        plan: &UpdatePlan,
        returning: Returning,
    ) -> Attempt {
        let names: HashMap<String, String> = plan.names.iter().cloned().collect();
        let values: HashMap<String, AttributeValue> = plan
            .values
            .iter()
            .map(|(placeholder, value)| (placeholder.clone(), to_attribute(value.clone())))
            .collect();
        let result = self
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
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
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

    async fn query_definitions(&self, customer: CustomerId) -> Result<Definitions, StoreError> {
        let mut definitions = Definitions::new();
        let mut start = None;
        for _ in 0..MAX_DEFINITION_PAGES {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(table::customer_key(customer)),
                )
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(table::definition_key_prefix().into()),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify_other(&e))?;
            for item in output.items.unwrap_or_default() {
                if let Some((id, definition)) = definition_of(&item) {
                    definitions.insert(id, definition);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(definitions),
            }
        }
        Ok(definitions)
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

    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = epoch_seconds(request.now);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: u64| AttributeValue::N(v.to_string());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(&request.record.partition_key))
            .item(SORT_KEY, s(&request.record.sort_key))
            .item(RECORD_STATE, s(RUNNING))
            .item(RECORD_FINGERPRINT, s(request.fingerprint))
            .item(RECORD_CLAIM, s(request.claim_id))
            .item(RECORD_LOCKED_UNTIL, n(now + LOCK.as_secs()))
            .item(RECORD_EXPIRES, n(now + RETENTION.as_secs()))
            // Free, expired, or (for the same request) released or left by a crashed claimant.
            .condition_expression(
                "attribute_not_exists(#pk) OR #expires < :now OR (#fp = :fp AND \
                 (#state = :released OR (#state = :running AND #locked < :now)))",
            )
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#expires", RECORD_EXPIRES)
            .expression_attribute_names("#fp", RECORD_FINGERPRINT)
            .expression_attribute_names("#state", RECORD_STATE)
            .expression_attribute_names("#locked", RECORD_LOCKED_UNTIL)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":fp", s(request.fingerprint))
            .expression_attribute_values(":released", s(RELEASED))
            .expression_attribute_values(":running", s(RUNNING))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(Claim::Claimed),
            Err(error) => error,
        };
        let old = match error.as_service_error() {
            Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                failed,
            )) => failed.item().cloned().unwrap_or_default(),
            _ => return Err(classify_other(&error)),
        };
        let text = |name: &str| match old.get(name) {
            Some(AttributeValue::S(v)) => Some(v.as_str()),
            _ => None,
        };
        if text(RECORD_FINGERPRINT) != Some(request.fingerprint) {
            return Ok(Claim::Reused);
        }
        if text(RECORD_STATE) == Some(DONE) {
            return Ok(match answer_of(&old) {
                Some(answer) => Claim::Replay(answer),
                // A record we cannot read back: treat the request as still running.
                None => Claim::InFlight {
                    retry_after: Duration::from_secs(1),
                },
            });
        }
        let locked_until = match old.get(RECORD_LOCKED_UNTIL) {
            Some(AttributeValue::N(v)) => v.parse::<u64>().unwrap_or(now),
            _ => now,
        };
        Ok(Claim::InFlight {
            retry_after: Duration::from_secs(locked_until.saturating_sub(now).max(1)),
        })
    }

    async fn finish(
        &self,
        record: &RecordKey,
        claim_id: &str,
        answer: Option<&RecordedAnswer>,
    ) -> Result<(), StoreError> {
        let update = finish_update(&self.table, record, claim_id, answer)
            .build()
            .map_err(|_| StoreError::Failed("an incomplete record update".into()))?;
        let result = self
            .client
            .update_item()
            .table_name(update.table_name)
            .set_key(Some(update.key))
            .update_expression(update.update_expression)
            .set_condition_expression(update.condition_expression)
            .set_expression_attribute_names(update.expression_attribute_names)
            .set_expression_attribute_values(update.expression_attribute_values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The claim was taken over meanwhile: the record is someone else's now.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(classify_other(&e)),
        }
    }

    async fn read_person(&self, key: &PersonKey) -> Result<Option<Record>, StoreError> {
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
        Ok(output.item.map(|item| to_record(&item)))
    }

    async fn update_recorded(
        &self,
        key: &PersonKey,
        plan: &UpdatePlan,
        expected_version: Option<u64>,
        record: &RecordKey,
        claim_id: &str,
        answer: &RecordedAnswer,
    ) -> Result<(), RecordedUpdateError> {
        let mut names: HashMap<String, String> = plan.names.iter().cloned().collect();
        let mut values: HashMap<String, AttributeValue> = plan
            .values
            .iter()
            .map(|(placeholder, value)| (placeholder.clone(), to_attribute(value.clone())))
            .collect();
        names.insert("#version".into(), VERSION.into());
        let condition = match expected_version {
            Some(version) => {
                values.insert(
                    ":readVersion".into(),
                    AttributeValue::N(version.to_string()),
                );
                format!(
                    "({}) AND #version = :readVersion",
                    plan.condition_expression
                )
            }
            None => format!(
                "({}) AND attribute_not_exists(#version)",
                plan.condition_expression
            ),
        };
        let person = Update::builder()
            .table_name(&self.table)
            .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
            .key(SORT_KEY, AttributeValue::S(key.sort_key()))
            .update_expression(&plan.update_expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|_| {
                RecordedUpdateError::Store(StoreError::Failed("an incomplete update".into()))
            })?;
        let finish = finish_update(&self.table, record, claim_id, Some(answer))
            .build()
            .map_err(|_| {
                RecordedUpdateError::Store(StoreError::Failed("an incomplete update".into()))
            })?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(person).build())
            .transact_items(TransactWriteItem::builder().update(finish).build())
            // DynamoDB recognises a retried transaction by its token for ten minutes.
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        match error.as_service_error() {
            Some(E::TransactionCanceledException(cancelled)) => {
                let code = |i: usize| {
                    cancelled
                        .cancellation_reasons()
                        .get(i)
                        .and_then(|r| r.code())
                        .unwrap_or("None")
                };
                let message = |i: usize| {
                    cancelled
                        .cancellation_reasons()
                        .get(i)
                        .and_then(|r| r.message())
                        .unwrap_or("")
                };
                match (code(0), code(1)) {
                    ("ValidationError", _) if message(0).contains(ITEM_TOO_LARGE) => {
                        Err(RecordedUpdateError::Store(StoreError::RecordTooLarge))
                    }
                    (_, "ConditionalCheckFailed") => Err(RecordedUpdateError::ClaimLost),
                    ("ConditionalCheckFailed" | "TransactionConflict", _) => {
                        Err(RecordedUpdateError::PersonChanged)
                    }
                    ("ThrottlingError" | "ProvisionedThroughputExceeded", _) => {
                        Err(RecordedUpdateError::Store(StoreError::Throttled))
                    }
                    ("ValidationError", _) => Err(RecordedUpdateError::Store(StoreError::Failed(
                        format!("transaction refused: {}", describe_sdk_error(&error)),
                    ))),
                    _ => Err(RecordedUpdateError::Store(StoreError::Unavailable(
                        describe_sdk_error(&error),
                    ))),
                }
            }
            _ => Err(RecordedUpdateError::Store(classify_other(&error))),
        }
    }

    async fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> Result<Arc<Definitions>, StoreError> {
        let now = Instant::now();
        if let Ok(cache) = self.definitions.lock() {
            if let Some((expires, definitions)) = cache.get(&customer) {
                if *expires > now {
                    return Ok(Arc::clone(definitions));
                }
            }
        }
        let definitions = Arc::new(self.query_definitions(customer).await?);
        if let Ok(mut cache) = self.definitions.lock() {
            cache.retain(|_, (expires, _)| *expires > now);
            cache.insert(customer, (now + DEFINITIONS_TTL, Arc::clone(&definitions)));
        }
        Ok(definitions)
    }
}

/// What DynamoDB says, in an update's `ValidationException` or a transaction's cancellation
/// reason, when the update would take the item past 400 KB.
const ITEM_TOO_LARGE: &str = "Item size to update has exceeded";

use crate::table::idempotency::{
    BODY as RECORD_BODY, CLAIM as RECORD_CLAIM, DONE, FINGERPRINT as RECORD_FINGERPRINT,
    HEADERS as RECORD_HEADERS, LOCKED_UNTIL as RECORD_LOCKED_UNTIL, RELEASED, RUNNING,
    STATE as RECORD_STATE, STATUS as RECORD_STATUS,
};
use crate::table::EXPIRES_AT as RECORD_EXPIRES;

fn epoch_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The update that finishes a claimed record, with an answer or released.
fn finish_update(
    table: &str,
    record: &RecordKey,
    claim_id: &str,
    answer: Option<&RecordedAnswer>,
) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
    let builder = Update::builder()
        .table_name(table)
        .key(
            PARTITION_KEY,
            AttributeValue::S(record.partition_key.clone()),
        )
        .key(SORT_KEY, AttributeValue::S(record.sort_key.clone()))
        // Only this claim, and only while it runs: a record already done (say, by a
        // transaction that committed while every reply to it was lost) keeps its answer.
        .condition_expression("#claim = :claim AND #state = :running")
        .expression_attribute_names("#claim", RECORD_CLAIM)
        .expression_attribute_names("#state", RECORD_STATE)
        .expression_attribute_values(":claim", AttributeValue::S(claim_id.to_owned()))
        .expression_attribute_values(":running", AttributeValue::S(RUNNING.into()));
    match answer {
        None => builder
            .update_expression("SET #state = :released")
            .expression_attribute_values(":released", AttributeValue::S(RELEASED.into())),
        Some(answer) => {
            let headers = answer
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect();
            let builder = builder
                .expression_attribute_names("#status", RECORD_STATUS)
                .expression_attribute_names("#headers", RECORD_HEADERS)
                .expression_attribute_values(":done", AttributeValue::S(DONE.into()))
                .expression_attribute_values(
                    ":status",
                    AttributeValue::N(answer.status.to_string()),
                )
                .expression_attribute_values(":headers", AttributeValue::M(headers));
            match &answer.body {
                Some(body) => builder
                    .update_expression(
                        "SET #state = :done, #status = :status, #headers = :headers, #body = :body",
                    )
                    .expression_attribute_names("#body", RECORD_BODY)
                    .expression_attribute_values(":body", AttributeValue::S(body.clone())),
                None => builder.update_expression(
                    "SET #state = :done, #status = :status, #headers = :headers",
                ),
            }
        }
    }
}

/// The recorded answer of a `done` record.
fn answer_of(item: &HashMap<String, AttributeValue>) -> Option<RecordedAnswer> {
    let status = match item.get(RECORD_STATUS) {
        Some(AttributeValue::N(n)) => n.parse().ok()?,
        _ => return None,
    };
    let headers = match item.get(RECORD_HEADERS) {
        Some(AttributeValue::M(map)) => map
            .iter()
            .filter_map(|(k, v)| match v {
                AttributeValue::S(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let body = match item.get(RECORD_BODY) {
        Some(AttributeValue::S(body)) => Some(body.clone()),
        _ => None,
    };
    Some(RecordedAnswer {
        status,
        headers,
        body,
    })
}

/// Any other operation's failure, by its error code.
fn classify_other<E, R>(error: &SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata,
    SdkError<E, R>: RequestId,
{
    let text = describe_sdk_error(error);
    match error.code() {
        Some(
            "ProvisionedThroughputExceededException"
            | "RequestLimitExceeded"
            | "ThrottlingException",
        ) => StoreError::Throttled,
        Some("InternalServerError" | "TransactionConflictException") => {
            StoreError::Unavailable(text)
        }
        _ if error.as_service_error().is_none() => StoreError::Unavailable(text),
        _ => StoreError::Failed(text),
    }
}

/// One field-definition item as a definition; `None` for an item that is not one.
fn definition_of(item: &HashMap<String, AttributeValue>) -> Option<(i64, FieldDefinition)> {
    let id = match item.get(SORT_KEY) {
        Some(AttributeValue::S(sk)) => table::parse_definition_key(sk)?,
        _ => return None,
    };
    let kind = match item.get(table::definition::TYPE) {
        Some(AttributeValue::S(name)) => CustomKind::parse(name),
        _ => CustomKind::Unknown(String::new()),
    };
    let options = match item.get(table::definition::OPTIONS) {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| match v {
                AttributeValue::S(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        Some(AttributeValue::Ss(set)) => set.clone(),
        _ => Vec::new(),
    };
    let read_only = matches!(
        item.get(table::definition::READ_ONLY),
        Some(AttributeValue::Bool(true))
    );
    Some((
        id,
        FieldDefinition {
            kind,
            options,
            read_only,
        },
    ))
}

/// An SDK error as the logs may show it: its kind, the service's error code and the request
/// id. Never the message or a `Debug` rendering, which can hold a reply body (a record's
/// names, emails and phones when a reply cannot be parsed).
pub fn describe_sdk_error<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata,
    SdkError<E, R>: RequestId,
{
    let kind = match error {
        SdkError::ConstructionFailure(_) => "construction",
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "dispatch-timeout",
        SdkError::DispatchFailure(failure) if failure.is_io() => "dispatch-io",
        SdkError::DispatchFailure(_) => "dispatch",
        SdkError::ResponseError(_) => "unreadable-response",
        SdkError::ServiceError(_) => "service",
        _ => "other",
    };
    format!(
        "kind={kind} code={} aws_request_id={}",
        error.code().unwrap_or("-"),
        error.request_id().unwrap_or("-")
    )
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

/// Sends `plan` for `key` as a bare `UpdateItem` (new values returned), outside the handler:
/// the floor the benchmarks measure the function against.
pub async fn send_plan(
    client: &Client,
    table: &str,
    key: &PersonKey,
    plan: UpdatePlan,
) -> Result<(), StoreError> {
    client
        .update_item()
        .table_name(table)
        .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
        .key(SORT_KEY, AttributeValue::S(key.sort_key()))
        .update_expression(plan.update_expression)
        .condition_expression(plan.condition_expression)
        .set_expression_attribute_names(Some(plan.names.into_iter().collect()))
        .set_expression_attribute_values(Some(
            plan.values
                .into_iter()
                .map(|(k, v)| (k, to_attribute(v)))
                .collect(),
        ))
        .return_values(ReturnValue::UpdatedNew)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify_other(&e))
}

pub fn to_attribute(value: Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s),
        Value::N(n) => AttributeValue::N(n),
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Map(entries) => AttributeValue::M(
            entries
                .into_iter()
                .map(|(k, v)| (k, to_attribute(v)))
                .collect(),
        ),
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
        AttributeValue::Null(_) => Stored::Null,
        _ => Stored::Other,
    }
}

/// How a stored record holds a map an update writes entries into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapHolding {
    /// Absent, or `NULL` (which holds nothing): the update creates the map whole.
    Missing,
    Present,
    /// Another type, written by another tool: updating it would lose data.
    Foreign,
}

pub fn map_holding(record: &Record, map: &str) -> MapHolding {
    match record.get(map) {
        None | Some(Stored::Null) => MapHolding::Missing,
        Some(Stored::Map(_)) => MapHolding::Present,
        Some(_) => MapHolding::Foreign,
    }
}

fn version_of(record: &Record) -> Option<u64> {
    match record.get(VERSION) {
        Some(Stored::Value(Value::N(n))) => n.parse().ok(),
        _ => None,
    }
}
