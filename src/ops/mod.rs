//! What the function runs on: configuration, logs and metrics.

pub mod config;
pub mod telemetry;
