//! person-patch: partial updates of person records in DynamoDB, behind API Gateway.
//!
//! The request path: [`entry`] (Lambda event in, response shape out) → [`handler`] (the
//! contract's order of checks) → [`routing`] and [`dialect`] (which API is spoken) →
//! [`engine`] (field tables, validation, the update expression) → [`store`] (one conditional
//! `UpdateItem`). Failures are [`problem::ApiError`] values, mapped to HTTP in one place.

pub mod admin;
pub mod auth;
pub mod clients;
pub mod conditional;
pub mod config;
pub mod deadline;
pub mod dialect;
pub mod engine;
pub mod entry;
pub mod handler;
pub mod idempotency;
pub mod memory;
pub mod openapi;
pub mod problem;
pub mod routing;
pub mod sdk;
pub mod secrets;
pub mod store;
pub mod telemetry;
