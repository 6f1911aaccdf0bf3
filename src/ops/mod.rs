//! Running it: configuration, logs and metrics, the admin tool's operations, and the API
//! description generated from the field tables.

pub mod admin;
pub mod config;
pub mod openapi;
pub mod telemetry;
