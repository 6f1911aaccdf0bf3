//! What the functions run on: configuration, the AWS SDK's settings, logs and metrics.

pub mod aws;
pub mod config;
pub mod telemetry;
