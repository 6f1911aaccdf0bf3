//! Change events: the persons table's stream → one EventBridge `PersonUpdated` event per
//! modified person (docs/API.md §7b). The `person-events` function.
//!
//! - [`stream`]: the Lambda DynamoDB stream event and the partial batch response.
//! - [`change`]: one stream record → an event or the reason it is skipped; pure.
//! - [`publish`]: `PutEvents` requests within EventBridge's limits, in order, and what to
//!   retry.

pub mod change;
pub mod publish;
pub mod stream;

pub use change::{person_updated, PersonUpdated, Skip, Values};
pub use publish::{EventBridgePublisher, EventsApp, Publisher};

/// The environment variable naming the event bus.
pub const EVENT_BUS_ENV: &str = "EVENT_BUS_NAME";
/// The environment variable choosing whether events carry values (`omit`, `include`).
pub const FIELD_VALUES_ENV: &str = "EVENT_FIELD_VALUES";
