//! `Idempotency-Key` entries in DynamoDB: the claim (one conditional `UpdateItem` that hands
//! out the write id the person's update stamps), and its end: the answer saved, or the key
//! released. What the states mean is [`crate::http::idempotency`]'s.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use time::OffsetDateTime;

use super::dynamo::DynamoPersonStore;
use super::item::Item;
use super::sdk::classify_other;
use super::{
    Claim, ClaimRequest, EntryKey, Finished, KeyStore, KeyedWrite, SavedAnswer, StoreError,
};
use crate::table::idempotency::{
    EntryState, BODY, CLAIM, CLAIMED_AT, CLAIM_WRITE_ID, DONE, FINGERPRINT, HEADERS, LOCKED_UNTIL,
    RELEASED, RUNNING, STATE, STATUS,
};
use crate::table::{EXPIRES_AT, PARTITION_KEY, SORT_KEY};

/// How long a key's answer is kept and replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// How long a claim blocks the key before another request may take it over: longer than the
/// function's timeout (10 s), so a live request is never overtaken.
pub const LOCK: Duration = Duration::from_secs(15);

impl KeyStore for DynamoPersonStore {
    /// A free key, or one the same request released or abandoned, is claimed with one
    /// `UpdateItem`; an expired entry is replaced by a fresh claim.
    async fn claim(&self, request: ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = epoch_seconds(request.now);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&request.entry.partition_key))
            .key(SORT_KEY, s(&request.entry.sort_key))
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
            .expression_attribute_names("#writeId", CLAIM_WRITE_ID)
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
        let old = StoredEntry::of(&old);
        if old.expires_at.is_some_and(|expires| expires < now) {
            return self.claim_expired(&request).await;
        }
        claim_refused(&old, &request)
    }

    async fn save_answer(
        &self,
        entry: &EntryKey,
        claim_id: &str,
        answer: &SavedAnswer,
    ) -> Result<Finished, StoreError> {
        let headers = answer
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), s(v)))
            .collect();
        let mut names = HashMap::from([
            ("#status".to_owned(), STATUS.to_owned()),
            ("#headers".to_owned(), HEADERS.to_owned()),
        ]);
        let mut values = HashMap::from([
            (":done".to_owned(), s(DONE)),
            (":status".to_owned(), n(u64::from(answer.status))),
            (":headers".to_owned(), AttributeValue::M(headers)),
        ]);
        let mut expression =
            String::from("SET #state = :done, #status = :status, #headers = :headers");
        if let Some(body) = &answer.body {
            names.insert("#body".to_owned(), BODY.to_owned());
            values.insert(":body".to_owned(), s(body));
            expression.push_str(", #body = :body");
        }
        self.finish(entry, claim_id, &expression, names, values)
            .await
    }

    /// A released key's next claim draws a new write id.
    async fn release(&self, entry: &EntryKey, claim_id: &str) -> Result<Finished, StoreError> {
        let names = HashMap::from([
            ("#writeId".to_owned(), CLAIM_WRITE_ID.to_owned()),
            ("#claimedAt".to_owned(), CLAIMED_AT.to_owned()),
        ]);
        let values = HashMap::from([(":released".to_owned(), s(RELEASED))]);
        let expression = "SET #state = :released REMOVE #writeId, #claimedAt";
        self.finish(entry, claim_id, expression, names, values)
            .await
    }
}

impl DynamoPersonStore {
    /// Replaces an expired entry (past its retention, not yet deleted by TTL) with a fresh
    /// claim, if it is still expired.
    async fn claim_expired(&self, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
        let now = epoch_seconds(request.now);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION_KEY, s(&request.entry.partition_key))
            .item(SORT_KEY, s(&request.entry.sort_key))
            .item(STATE, s(RUNNING))
            .item(FINGERPRINT, s(request.fingerprint))
            .item(CLAIM, s(request.claim_id))
            .item(LOCKED_UNTIL, n(now + LOCK.as_secs()))
            .item(EXPIRES_AT, n(now + RETENTION.as_secs()))
            .item(CLAIM_WRITE_ID, s(request.claim_id))
            .item(CLAIMED_AT, n(epoch_millis(request.now)))
            .condition_expression("#expires < :now")
            .expression_attribute_names("#expires", EXPIRES_AT)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Fresh(KeyedWrite {
                write_id: request.claim_id.to_owned(),
                claimed_at: request.now,
            })),
            Err(error) => match error.as_service_error() {
                // Another request renewed the entry first.
                Some(PutItemError::ConditionalCheckFailedException(_)) => Ok(Claim::InFlight),
                _ => Err(classify_other(&error)),
            },
        }
    }

    /// Ends a running claim with `expression`: only this claim, and only while it runs (an
    /// entry already done keeps its answer).
    async fn finish(
        &self,
        entry: &EntryKey,
        claim_id: &str,
        expression: &str,
        mut names: HashMap<String, String>,
        mut values: Item,
    ) -> Result<Finished, StoreError> {
        names.insert("#claim".to_owned(), CLAIM.to_owned());
        names.insert("#state".to_owned(), STATE.to_owned());
        values.insert(":claim".to_owned(), s(claim_id));
        values.insert(":running".to_owned(), s(RUNNING));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PARTITION_KEY, s(&entry.partition_key))
            .key(SORT_KEY, s(&entry.sort_key))
            .update_expression(expression)
            .condition_expression("#claim = :claim AND #state = :running")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Finished::Now),
            Err(error) => match error.as_service_error() {
                // Finished already by this claim (the SDK sent it again after a reply was
                // lost), or another claim's now.
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    let claim = failed.item().and_then(|old| text(old, CLAIM));
                    Ok(if claim == Some(claim_id) {
                        Finished::Already
                    } else {
                        Finished::Superseded
                    })
                }
                _ => Err(classify_other(&error)),
            },
        }
    }
}

/// What a claim reads of an entry, parsed once.
struct StoredEntry<'a> {
    item: &'a Item,
    state: Option<EntryState>,
    fingerprint: Option<&'a str>,
    claim: Option<&'a str>,
    expires_at: Option<u64>,
}

impl<'a> StoredEntry<'a> {
    fn of(item: &'a Item) -> StoredEntry<'a> {
        StoredEntry {
            item,
            state: text(item, STATE).and_then(EntryState::parse),
            fingerprint: text(item, FINGERPRINT),
            claim: text(item, CLAIM),
            expires_at: number(item, EXPIRES_AT),
        }
    }
}

/// What a refused claim meets, from the unexpired entry as it was (`ALL_OLD`).
fn claim_refused(old: &StoredEntry<'_>, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
    if old.claim == Some(request.claim_id) {
        // The SDK sent the claim again after its first sending committed unheard.
        return claimed(old.item, request);
    }
    if old.fingerprint != Some(request.fingerprint) {
        return Ok(Claim::Reused);
    }
    if old.state != Some(EntryState::Done) {
        return Ok(Claim::InFlight);
    }
    // An answer that cannot be read back (written by another tool) is not replayed: the key
    // answers as in flight until the entry expires.
    Ok(saved_answer(old.item).map_or(Claim::InFlight, Claim::Replay))
}

/// The write of a claimed entry (`ALL_NEW` of the claim): a write id other than this claim's
/// own was inherited from an abandoned claim, with its claim time.
fn claimed(item: &Item, request: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
    let Some(write_id) = text(item, CLAIM_WRITE_ID) else {
        return Err(StoreError::Failed("a claim without its write id".into()));
    };
    let claimed_at = number(item, CLAIMED_AT)
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .unwrap_or(request.now);
    let write = KeyedWrite {
        write_id: write_id.to_owned(),
        claimed_at,
    };
    Ok(if write_id == request.claim_id {
        Claim::Fresh(write)
    } else {
        Claim::TakenOver(write)
    })
}

/// The saved answer of a `done` entry.
fn saved_answer(item: &Item) -> Option<SavedAnswer> {
    let status = u16::try_from(number(item, STATUS)?).ok()?;
    let headers = match item.get(HEADERS) {
        Some(AttributeValue::M(map)) => map
            .iter()
            .filter_map(|(k, v)| match v {
                AttributeValue::S(s) => Some((k.clone(), s.clone())),
                _ => None,
            })
            .collect(),
        _ => Default::default(),
    };
    Some(SavedAnswer {
        status,
        headers,
        body: text(item, BODY).map(str::to_owned),
    })
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

fn number(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// A string attribute.
fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A number attribute.
fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn epoch_seconds(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

fn epoch_millis(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}
