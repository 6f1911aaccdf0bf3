//! Delivery: events packed into `PutEvents` requests within EventBridge's limits, sent in
//! stream order, and the records whose events were not accepted reported back to Lambda.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::Range;

use serde_json::{json, Value as Json};

use super::change::{
    person_updated, PersonUpdated, Skip, Values, DETAIL_TYPE, MAX_REQUEST_BYTES, SOURCE,
};
use super::stream::{self, BatchResponse, ItemFailure, StreamRecord};
use crate::ops::telemetry::{emf_document, MetricsSink};

/// The most entries one `PutEvents` request takes.
pub const MAX_ENTRIES: usize = 10;

/// What became of one entry of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryResult {
    Sent,
    /// EventBridge refused the entry; the code it gave (never its message, which may quote
    /// the entry).
    Failed {
        code: String,
    },
}

/// A request that failed as a whole (after the SDK's retries): kind and code only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents failed: {0}")]
pub struct PublishError(pub String);

/// Where events go: EventBridge, or a stand-in.
pub trait Publisher: Send + Sync {
    /// Sends one request's entries (at most [`MAX_ENTRIES`], within [`MAX_REQUEST_BYTES`]);
    /// answers one result per entry, in order.
    fn put(
        &self,
        entries: &[PersonUpdated],
    ) -> impl Future<Output = Result<Vec<EntryResult>, PublishError>> + Send;
}

/// Consecutive runs of `events` that each fit one `PutEvents` request, in order.
pub fn batches(events: &[PersonUpdated]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, event) in events.iter().enumerate() {
        let size = event.size();
        if i > start && (i - start == MAX_ENTRIES || bytes + size > MAX_REQUEST_BYTES) {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < events.len() {
        ranges.push(start..events.len());
    }
    ranges
}

/// The events function: a stream batch in, `PersonUpdated` events out.
pub struct EventsApp<P> {
    publisher: P,
    values: Values,
    metrics: MetricsSink,
}

/// What one invocation did, for its log line and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub records: usize,
    pub published: usize,
    pub failed: usize,
    pub skipped: BTreeMap<Skip, usize>,
}

impl<P: Publisher> EventsApp<P> {
    pub fn new(publisher: P, values: Values) -> Self {
        EventsApp {
            publisher,
            values,
            metrics: MetricsSink::Off,
        }
    }

    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// The events a stream batch sends, in stream order, and what is skipped (the same code
    /// `make run` prints events with).
    pub fn events(&self, event: &Json) -> (Vec<PersonUpdated>, BTreeMap<Skip, usize>) {
        let mut events = Vec::new();
        let mut skipped = BTreeMap::new();
        for raw in stream::records(event) {
            let outcome = StreamRecord::from_json(raw)
                .ok_or(Skip::Unreadable)
                .and_then(|record| person_updated(&record, self.values));
            match outcome {
                Ok(event) => events.push(event),
                Err(skip) => {
                    if skip == Skip::Unreadable {
                        tracing::warn!(
                            event_id = raw.get("eventID").and_then(Json::as_str).unwrap_or("-"),
                            "stream record skipped: not a DynamoDB record with both images"
                        );
                    }
                    *skipped.entry(skip).or_insert(0) += 1;
                }
            }
        }
        (events, skipped)
    }

    /// Handles one Lambda DynamoDB stream event. Requests go out in stream order; after the
    /// first entry EventBridge does not take, nothing more is sent, and that record and every
    /// later one are reported as batch item failures: Lambda resumes the shard from the first
    /// of them, so events of one person are never sent out of order.
    pub async fn handle(&self, event: &Json) -> BatchResponse {
        let (events, skipped) = self.events(event);
        let mut tally = Tally {
            records: stream::records(event).len(),
            skipped,
            ..Tally::default()
        };
        let mut failures = Vec::new();
        let mut stopped = false;
        for range in batches(&events) {
            let batch = events.get(range).unwrap_or_default();
            if stopped {
                failures.extend(batch.iter().map(|e| e.sequence_number.clone()));
                continue;
            }
            match self.publisher.put(batch).await {
                Ok(results) => {
                    for (i, event) in batch.iter().enumerate() {
                        match results.get(i) {
                            Some(EntryResult::Sent) => tally.published += 1,
                            failed => {
                                let code = match failed {
                                    Some(EntryResult::Failed { code }) => code.as_str(),
                                    _ => "no-result",
                                };
                                tracing::warn!(
                                    code,
                                    sequence_number = %event.sequence_number,
                                    dialect = event.dialect,
                                    "EventBridge did not take an event"
                                );
                                stopped = true;
                                failures.push(event.sequence_number.clone());
                            }
                        }
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, entries = batch.len(), "PutEvents failed");
                    stopped = true;
                    failures.extend(batch.iter().map(|e| e.sequence_number.clone()));
                }
            }
        }
        tally.failed = failures.len();
        tracing::info!(
            records = tally.records,
            published = tally.published,
            failed = tally.failed,
            skipped = tally.skipped.values().sum::<usize>(),
            "stream batch handled"
        );
        self.metrics.write(&tally_emf(&tally).to_string());
        BatchResponse {
            batch_item_failures: failures
                .into_iter()
                .map(|item_identifier| ItemFailure { item_identifier })
                .collect(),
        }
    }
}

/// One invocation's EMF document, dimensioned by `Function`.
pub fn tally_emf(tally: &Tally) -> Json {
    let mut metrics = vec![
        ("StreamRecords", json!(tally.records)),
        ("EventsPublished", json!(tally.published)),
        ("EventsFailed", json!(tally.failed)),
        (
            "RecordsSkipped",
            json!(tally.skipped.values().sum::<usize>()),
        ),
    ];
    for skip in Skip::ALL {
        metrics.push((
            skip.metric(),
            json!(tally.skipped.get(&skip).copied().unwrap_or(0)),
        ));
    }
    let metrics: Vec<(&str, &str, Json)> = metrics
        .into_iter()
        .map(|(name, value)| (name, "Count", value))
        .collect();
    emf_document(("Function", "person-events"), &metrics)
}

/// EventBridge's `PutEvents`, on one bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus: bus.into(),
        }
    }
}

impl Publisher for EventBridgePublisher {
    async fn put(&self, entries: &[PersonUpdated]) -> Result<Vec<EntryResult>, PublishError> {
        use aws_sdk_eventbridge::primitives::{DateTime, DateTimeFormat};
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;

        let request = entries
            .iter()
            .fold(self.client.put_events(), |request, event| {
                let time = event
                    .time
                    .as_deref()
                    .and_then(|t| DateTime::from_str(t, DateTimeFormat::DateTime).ok());
                request.entries(
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(DETAIL_TYPE)
                        .detail(&event.detail)
                        .set_time(time)
                        .build(),
                )
            });
        let output = request
            .send()
            .await
            .map_err(|e| PublishError(crate::ops::aws::describe_sdk_error(&e)))?;
        Ok(output
            .entries()
            .iter()
            .map(|entry| match entry.error_code() {
                Some(code) => EntryResult::Failed {
                    code: code.to_owned(),
                },
                None => EntryResult::Sent,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bytes: usize) -> PersonUpdated {
        PersonUpdated {
            detail: "x".repeat(bytes),
            time: None,
            sequence_number: "1".into(),
            dialect: "persons-v2",
            changed: 0,
        }
    }

    proptest::proptest! {
        /// Any run of entries is cut into consecutive requests that keep the order, hold 1 to
        /// 10 entries each and stay within the size limit.
        #[test]
        fn batches_cover_every_entry_in_order_within_the_limits(
            sizes in proptest::collection::vec(0usize..120_000, 0..40)
        ) {
            let events: Vec<_> = sizes.iter().map(|&n| event(n)).collect();
            let ranges = batches(&events);
            let mut next = 0;
            for range in ranges {
                proptest::prop_assert_eq!(range.start, next);
                proptest::prop_assert!(!range.is_empty() && range.len() <= MAX_ENTRIES);
                let total: usize = events[range.clone()].iter().map(PersonUpdated::size).sum();
                proptest::prop_assert!(total <= MAX_REQUEST_BYTES);
                next = range.end;
            }
            proptest::prop_assert_eq!(next, events.len());
        }
    }

    #[test]
    fn batches_hold_ten_entries_and_stay_under_the_size_limit() {
        let small: Vec<_> = (0..23).map(|_| event(100)).collect();
        assert_eq!(batches(&small), vec![0..10, 10..20, 20..23]);
        assert!(batches(&[]).is_empty());
        let large: Vec<_> = (0..5).map(|_| event(100_000)).collect();
        let ranges = batches(&large);
        assert_eq!(ranges, vec![0..2, 2..4, 4..5]);
        for range in ranges {
            let total: usize = large[range].iter().map(PersonUpdated::size).sum();
            assert!(total <= MAX_REQUEST_BYTES);
        }
    }
}
