//! The Lambda entry point: configuration and the DynamoDB client are built once per
//! container, then every event goes to [`person_patch::http::entry::invoke`].

#![recursion_limit = "256"]

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{service_fn, Error, LambdaEvent, Runtime};
use person_patch::auth::{AuthPolicy, Authenticator, LOG_FINGERPRINT_KEY_ENV};
use person_patch::http::app::App;
use person_patch::http::entry::{invoke, AfterResponseLayer};
use person_patch::ops::aws::SdkSettings;
use person_patch::ops::config::Config;
use person_patch::ops::telemetry::MetricsSink;
use person_patch::store::clients::ClientDirectory;
use person_patch::store::dynamo::DynamoPersonStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    person_patch::ops::telemetry::init_logging();
    let config = Config::from_env()?;
    let policy = AuthPolicy::from_env()?;
    let sdk_config = SdkSettings::default().load().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk_config);
    let directory = ClientDirectory::new(client.clone(), config.clients_table);
    if config.preconnect {
        directory.preconnect().await;
    }
    let app = App::new(
        DynamoPersonStore::new(client, config.persons_table),
        Authenticator::new(directory)
            .with_policy(policy)
            .with_log_key(&std::env::var(LOG_FINGERPRINT_KEY_ENV).unwrap_or_default()),
    )
    .with_metrics(MetricsSink::Stdout);
    let app = &app;
    // The event is taken as JSON text, so that header contents the HTTP types refuse become
    // a 400 from the function instead of a failed invocation.
    // Outermost, after the response is posted: each invocation's pending answer is saved.
    Runtime::new(service_fn(
        move |event: LambdaEvent<Box<serde_json::value::RawValue>>| async move {
            Ok::<_, Error>(invoke(app, event).await)
        },
    ))
    .layer(TracingLayer::new())
    .layer(AfterResponseLayer(app))
    .run()
    .await
}
