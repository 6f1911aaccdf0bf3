//! Running it: configuration, logs and metrics, and the admin tool's operations.

pub mod admin;
pub mod config;
pub mod telemetry;
