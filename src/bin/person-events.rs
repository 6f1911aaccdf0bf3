//! The `person-events` entry point: the persons table's stream → EventBridge. Configuration
//! and the EventBridge client are built once per container; every batch goes to
//! [`person_patch::events::EventsApp::handle`].

use lambda_runtime::{service_fn, Error, LambdaEvent};
use person_patch::events::{
    EventBridgePublisher, EventsApp, Values, EVENT_BUS_ENV, FIELD_VALUES_ENV,
};
use person_patch::ops::aws::SdkSettings;
use person_patch::ops::telemetry::MetricsSink;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    person_patch::ops::telemetry::init_logging();
    let bus = std::env::var(EVENT_BUS_ENV)
        .ok()
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| format!("environment variable {EVENT_BUS_ENV} must name an event bus"))?;
    let values = Values::parse(std::env::var(FIELD_VALUES_ENV).ok().as_deref())?;
    let sdk_config = SdkSettings::events().load().await;
    let client = aws_sdk_eventbridge::Client::new(&sdk_config);
    let app = EventsApp::new(EventBridgePublisher::new(client, bus), values)
        .with_metrics(MetricsSink::Stdout);
    let app = &app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(app.handle(&event.payload).await)
        },
    ))
    .await
}
