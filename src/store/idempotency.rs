//! `Idempotency-Key` records: the claim, the finish (an answer recorded, or the key
//! released), and the transaction that updates a person and records its answer together.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::RequestId;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::dynamo::DynamoPersonStore;
use super::item::{expression_maps, Item};
use super::sdk::{classify_other, describe_sdk_error, ITEM_TOO_LARGE};
use super::{Claim, ClaimRequest, PersonKey, RecordedUpdate, RecordedUpdateError, StoreError};
use crate::engine::UpdatePlan;
use crate::table::idempotency::{
    BODY, CLAIM, DONE, FINGERPRINT, HEADERS, LOCKED_UNTIL, RELEASED, RUNNING, STATE, STATUS,
};
use crate::table::person::VERSION;
use crate::table::{self, CustomerId, EXPIRES_AT, PARTITION_KEY, SORT_KEY};

/// How long a key's answer is kept and replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a claim blocks the key before another request may take it over: longer than the
/// function's timeout (10 s), so a live request is never overtaken.
pub const LOCK: Duration = Duration::from_secs(15);

/// Where a key's record is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordKey {
    pub partition_key: String,
    pub sort_key: String,
}

impl RecordKey {
    /// The record of a key in `customer`'s partition; `scoped_hash` identifies the key and
    /// the principal that sent it (hex).
    pub fn new(customer: CustomerId, scoped_hash: &str) -> RecordKey {
        RecordKey {
            partition_key: table::customer_key(customer),
            sort_key: table::idempotency_key(scoped_hash),
        }
    }
}

/// An answer as recorded and replayed: status, the headers that describe it, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAnswer {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
}

impl DynamoPersonStore {
    /// Claims an idempotency key for a request, or tells how it was used before.
    pub(super) async fn claim_key(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = epoch_seconds(request.now);
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: u64| AttributeValue::N(v.to_string());
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(&request.record.partition_key))
            .item(SORT_KEY, s(&request.record.sort_key))
            .item(STATE, s(RUNNING))
            .item(FINGERPRINT, s(request.fingerprint))
            .item(CLAIM, s(request.claim_id))
            .item(LOCKED_UNTIL, n(now + LOCK.as_secs()))
            .item(EXPIRES_AT, n(now + RETENTION.as_secs()))
            // Free, expired, or (for the same request) released or left by a crashed claimant.
            .condition_expression(
                "attribute_not_exists(#pk) OR #expires < :now OR (#fp = :fp AND \
                 (#state = :released OR (#state = :running AND #locked < :now)))",
            )
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#fp", FINGERPRINT)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#locked", LOCKED_UNTIL)
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
        if text(FINGERPRINT) != Some(request.fingerprint) {
            return Ok(Claim::Reused);
        }
        if text(STATE) == Some(DONE) {
            return Ok(match answer_of(&old) {
                Some(answer) => Claim::Replay(answer),
                // A record we cannot read back: treat the request as still running.
                None => Claim::InFlight {
                    retry_after: Duration::from_secs(1),
                },
            });
        }
        let locked_until = match old.get(LOCKED_UNTIL) {
            Some(AttributeValue::N(v)) => v.parse::<u64>().unwrap_or(now),
            _ => now,
        };
        Ok(Claim::InFlight {
            retry_after: Duration::from_secs(locked_until.saturating_sub(now).max(1)),
        })
    }

    /// Finishes a running claim: with the answer to replay, or released (`None`).
    pub(super) async fn finish_record(
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

    /// Applies the update if the person is still at the version read, and records the
    /// answer, in one transaction.
    pub(super) async fn update_and_record(
        &self,
        update: RecordedUpdate<'_>,
    ) -> Result<(), RecordedUpdateError> {
        let person = versioned_update(
            &self.table,
            update.key,
            update.plan,
            update.expected_version,
        )?;
        let finish = finish_update(
            &self.table,
            update.record,
            update.claim_id,
            Some(update.answer),
        )
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
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(transaction_error(&error)),
        }
    }
}

/// The person's update in a transaction: the plan, conditioned also on the version read.
fn versioned_update(
    table: &str,
    key: &PersonKey,
    plan: &UpdatePlan,
    expected_version: Option<u64>,
) -> Result<Update, RecordedUpdateError> {
    let (mut names, mut values) = expression_maps(plan);
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
    Update::builder()
        .table_name(table)
        .key(PARTITION_KEY, AttributeValue::S(key.partition_key()))
        .key(SORT_KEY, AttributeValue::S(key.sort_key()))
        .update_expression(&plan.update_expression)
        .condition_expression(condition)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|_| RecordedUpdateError::Store(StoreError::Failed("an incomplete update".into())))
}

/// Why the transaction did not happen, from its cancellation reasons (the person's update
/// first, the record's finish second).
fn transaction_error<R>(error: &SdkError<TransactWriteItemsError, R>) -> RecordedUpdateError
where
    SdkError<TransactWriteItemsError, R>: RequestId,
{
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return RecordedUpdateError::Store(classify_other(error));
    };
    let reason = |i: usize| cancelled.cancellation_reasons().get(i);
    let code = |i: usize| reason(i).and_then(|r| r.code()).unwrap_or("None");
    let message = |i: usize| reason(i).and_then(|r| r.message()).unwrap_or("");
    match (code(0), code(1)) {
        ("ValidationError", _) if message(0).contains(ITEM_TOO_LARGE) => {
            RecordedUpdateError::Store(StoreError::RecordTooLarge)
        }
        (_, "ConditionalCheckFailed") => RecordedUpdateError::ClaimLost,
        ("ConditionalCheckFailed" | "TransactionConflict", _) => RecordedUpdateError::PersonChanged,
        ("ThrottlingError" | "ProvisionedThroughputExceeded", _) => {
            RecordedUpdateError::Store(StoreError::Throttled)
        }
        ("ValidationError", _) => RecordedUpdateError::Store(StoreError::Failed(format!(
            "transaction refused: {}",
            describe_sdk_error(error)
        ))),
        _ => RecordedUpdateError::Store(StoreError::Unavailable(describe_sdk_error(error))),
    }
}

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
        .expression_attribute_names("#claim", CLAIM)
        .expression_attribute_names("#state", STATE)
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
                .expression_attribute_names("#status", STATUS)
                .expression_attribute_names("#headers", HEADERS)
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
                    .expression_attribute_names("#body", BODY)
                    .expression_attribute_values(":body", AttributeValue::S(body.clone())),
                None => builder.update_expression(
                    "SET #state = :done, #status = :status, #headers = :headers",
                ),
            }
        }
    }
}

/// The recorded answer of a `done` record.
fn answer_of(item: &Item) -> Option<RecordedAnswer> {
    let status = match item.get(STATUS) {
        Some(AttributeValue::N(n)) => n.parse().ok()?,
        _ => return None,
    };
    let headers = match item.get(HEADERS) {
        Some(AttributeValue::M(map)) => map
            .iter()
            .filter_map(|(k, v)| match v {
                AttributeValue::S(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let body = match item.get(BODY) {
        Some(AttributeValue::S(body)) => Some(body.clone()),
        _ => None,
    };
    Some(RecordedAnswer {
        status,
        headers,
        body,
    })
}
