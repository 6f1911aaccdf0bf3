//! Running it: configuration, logs and metrics, the admin tool's operations, and getting
//! persons in and out (import and export).

pub mod admin;
pub mod config;
pub mod telemetry;
pub mod transfer;
