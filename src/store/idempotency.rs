//! `Idempotency-Key` records: the claim (which hands out the write id the person's update
//! stamps) and the finish (an answer recorded, or the key released).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, Update,
};

use super::dynamo::DynamoPersonStore;
use super::item::Item;
use super::sdk::classify_other;
use super::{Claim, ClaimRequest, KeyedWrite, StoreError};
use crate::table::idempotency::{
    BODY, CLAIM, CLAIMED_AT, DONE, FINGERPRINT, HEADERS, LOCKED_UNTIL, RELEASED, RUNNING, STATE,
    STATUS, WRITE_ID,
};
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
    /// Claims an idempotency key for a request, or tells how it was used before. A free key,
    /// or one the same request released or abandoned, is claimed with one `UpdateItem`; an
    /// expired record is replaced by a fresh claim.
    pub(super) async fn claim_key(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = epoch_seconds(request.now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&request.record.partition_key))
            .key(SORT_KEY, s(&request.record.sort_key))
            // An abandoned claim's write id and time are kept: its write may have happened.
            .update_expression(
                "SET #state = :running, #fp = :fp, #claim = :claim, #locked = :locked, \
                 #expires = :expires, #writeId = if_not_exists(#writeId, :claim), \
                 #claimedAt = if_not_exists(#claimedAt, :claimedAt)",
            )
            // Free, or (for the same request, unexpired) released or left by a crashed claimant.
            .condition_expression(
                "attribute_not_exists(#pk) OR (#expires >= :now AND #fp = :fp AND \
                 (#state = :released OR (#state = :running AND #locked < :now)))",
            )
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#state", STATE)
            .expression_attribute_names("#fp", FINGERPRINT)
            .expression_attribute_names("#claim", CLAIM)
            .expression_attribute_names("#locked", LOCKED_UNTIL)
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_names("#writeId", WRITE_ID)
            .expression_attribute_names("#claimedAt", CLAIMED_AT)
            .expression_attribute_values(":running", s(RUNNING))
            .expression_attribute_values(":released", s(RELEASED))
            .expression_attribute_values(":fp", s(request.fingerprint))
            .expression_attribute_values(":claim", s(request.claim_id))
            .expression_attribute_values(":locked", n(now + LOCK.as_secs()))
            .expression_attribute_values(":expires", n(now + RETENTION.as_secs()))
            .expression_attribute_values(":claimedAt", n(epoch_millis(request.now)))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(output) => return claimed(&output.attributes.unwrap_or_default(), &request),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item().cloned().unwrap_or_default()
                }
                _ => return Err(classify_other(&error)),
            },
        };
        match answer_for(&old, &request, now) {
            Some(claim) => Ok(claim),
            None => self.claim_expired(&request).await,
        }
    }

    /// Replaces an expired record (past its retention, not yet deleted by TTL) with a fresh
    /// claim, if it is still expired.
    async fn claim_expired(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = epoch_seconds(request.now);
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
            .item(WRITE_ID, s(request.claim_id))
            .item(CLAIMED_AT, n(epoch_millis(request.now)))
            .condition_expression("#expires < :now")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed(KeyedWrite {
                write_id: request.claim_id.to_owned(),
                claimed_at: request.now,
            })),
            // Another request renewed the record first.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(Claim::InFlight),
            Err(e) => Err(classify_other(&e)),
        }
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
            // Finished already (the SDK sent it again after a reply was lost), or taken over.
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(classify_other(&e)),
        }
    }
}

/// How a failed claim ends, from the record as it was (`ALL_OLD`): `None` when the record is
/// expired and may be replaced.
fn answer_for(old: &Item, request: &ClaimRequest<'_>, now: u64) -> Option<Claim> {
    let text = |name: &str| match old.get(name) {
        Some(AttributeValue::S(v)) => Some(v.as_str()),
        _ => None,
    };
    let number = |name: &str| match old.get(name) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().ok(),
        _ => None,
    };
    if number(EXPIRES_AT).is_some_and(|expires| expires < now) {
        return None;
    }
    if text(CLAIM) == Some(request.claim_id) {
        // The SDK sent the claim again after its first sending committed unheard.
        return Some(claimed(old, request).unwrap_or(Claim::InFlight));
    }
    if text(FINGERPRINT) != Some(request.fingerprint) {
        return Some(Claim::Reused);
    }
    if text(STATE) == Some(DONE) {
        return Some(match answer_of(old) {
            Some(answer) => Claim::Replay(answer),
            // A record we cannot read back: treat the request as still running.
            None => Claim::InFlight,
        });
    }
    Some(Claim::InFlight)
}

/// The write of a claimed record (`ALL_NEW` of the claim): its write id and claim time,
/// inherited from an abandoned claim or this claim's own.
fn claimed(item: &Item, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
    let write_id = match item.get(WRITE_ID) {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => return Err(StoreError::Failed("a claim without its write id".into())),
    };
    let claimed_at = match item.get(CLAIMED_AT) {
        Some(AttributeValue::N(ms)) => ms
            .parse::<u64>()
            .ok()
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        _ => None,
    };
    Ok(Claim::Claimed(KeyedWrite {
        write_id,
        claimed_at: claimed_at.unwrap_or(request.now),
    }))
}

/// A string attribute.
fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A number attribute.
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn epoch_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
        // Only this claim, and only while it runs: a record already done keeps its answer.
        .condition_expression("#claim = :claim AND #state = :running")
        .expression_attribute_names("#claim", CLAIM)
        .expression_attribute_names("#state", STATE)
        .expression_attribute_values(":claim", AttributeValue::S(claim_id.to_owned()))
        .expression_attribute_values(":running", AttributeValue::S(RUNNING.into()));
    match answer {
        // A released key's next claim draws a new write id: this one's update was not applied.
        None => builder
            .update_expression("SET #state = :released REMOVE #writeId, #claimedAt")
            .expression_attribute_names("#writeId", WRITE_ID)
            .expression_attribute_names("#claimedAt", CLAIMED_AT)
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
