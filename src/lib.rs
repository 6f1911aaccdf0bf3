//! person-patch: partial updates of person records in DynamoDB, behind API Gateway.
//!
//! The modules, by concern:
//! - [`http`]: the Lambda event adapter ([`entry`]) → the handler, taking the contract's order
//!   of checks ([`handler`]) → [`routing`]; conditional requests, `Idempotency-Key`, the
//!   request deadline; [`problem::ApiError`], mapped to HTTP in one place.
//! - [`auth`]: Basic credentials (generated secrets and argon2id), gateway-verified JWTs, the
//!   clients table ([`clients`]).
//! - [`dialect`]: which API is spoken (Contacts v1, Persons v2), as field tables.
//! - [`engine`]: field tables → a validated patch → one DynamoDB update, pure.
//! - [`store`]: the persons table (one conditional `UpdateItem`, or a transaction with an
//!   idempotency record), the SDK's settings ([`sdk`]), in-memory stand-ins ([`memory`]).
//! - [`events`]: the `person-events` function: the table's stream → `PersonUpdated` events.
//! - [`ops`]: configuration, logs and metrics, the admin tool, the OpenAPI description.
//!
//! The crate root re-exports each module under its old flat name (`person_patch::handler`,
//! `person_patch::clients`, …), which the binaries, tests and benchmarks use.

pub mod auth;
pub mod dialect;
pub mod engine;
pub mod events;
pub mod http;
pub mod ops;
pub mod store;

pub use auth::{clients, secrets};
pub use http::{conditional, deadline, entry, handler, idempotency, problem, routing};
pub use ops::{admin, config, openapi, telemetry};
pub use store::{memory, sdk};
