//! What every request needs that outlives it, built once per container.

use time::OffsetDateTime;

use crate::auth::Authenticator;
use crate::ops::telemetry::{Metrics, MetricsSink};
use crate::store::clients::ClientDirectory;
use crate::store::{ClientLookup, Store};

/// The store, the authenticator, the clock and the metrics sink.
pub struct App<S, D = ClientDirectory> {
    pub store: S,
    pub authenticator: Authenticator<D>,
    /// The current time: every timestamp a request writes or compares (`updatedAt`, an
    /// `Idempotency-Key` claim and its lock) is read from it, so one clock decides.
    pub clock: fn() -> OffsetDateTime,
    pub metrics: Metrics,
}

impl<S: Store, D: ClientLookup> App<S, D> {
    pub fn new(store: S, authenticator: Authenticator<D>) -> Self {
        App {
            store,
            authenticator,
            clock: OffsetDateTime::now_utc,
            metrics: Metrics::new(MetricsSink::Off),
        }
    }

    /// Sends one EMF metrics line per request to `sink`.
    pub fn with_metrics(mut self, sink: MetricsSink) -> Self {
        self.metrics = Metrics::new(sink);
        self
    }
}
