//! The Lambda entry point: configuration and the DynamoDB client are built once per
//! environment, then [`person_patch::http::entry::serve`] hands every event to
//! [`person_patch::http::entry::invoke`].

#![recursion_limit = "256"]

use lambda_runtime::Error;
use person_patch::auth::{AuthPolicy, Authenticator, LOG_FINGERPRINT_KEY_ENV};
use person_patch::http::app::App;
use person_patch::http::entry::serve;
use person_patch::ops::aws::SdkSettings;
use person_patch::ops::config::Config;
use person_patch::ops::telemetry::MetricsSink;
use person_patch::store::clients::ClientDirectory;
use person_patch::store::dynamo::{traced_client, DynamoPersonStore};

/// One scheduler thread, whether it serves one invocation at a time or many at once: an
/// environment on Lambda Managed Instances has one vCPU (template.yaml; DECISIONS.md, "Many
/// invocations at once").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run().await
}

async fn run() -> Result<(), Error> {
    person_patch::ops::telemetry::init_logging();
    person_patch::ops::telemetry::log_panics();
    let config = Config::from_env()?;
    let policy = AuthPolicy::from_env()?;
    let sdk_config = SdkSettings::default().load().await;
    let client = traced_client(aws_sdk_dynamodb::config::Builder::from(&sdk_config));
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
    // Built once, served for as long as the environment runs.
    serve(Box::leak(Box::new(app))).await
}
