//! person-patch: partial updates of person records in DynamoDB, behind API Gateway.
//!
//! The modules, by concern:
//! - [`http`]: the Lambda event adapter ([`http::entry`]) → the handler, taking the API's order
//!   of checks ([`http::handler`]) → [`http::routing`]; conditional requests, `Idempotency-Key`, the
//!   request deadline; [`http::problem::ApiError`], mapped to HTTP in one place; the OpenAPI
//!   description.
//! - [`auth`]: Basic credentials (generated secrets and argon2id), gateway-verified JWTs, the
//!   clients table ([`auth::clients`]).
//! - [`dialect`]: which API is spoken (Contacts v1, Persons v2), as field tables.
//! - [`engine`]: field tables → a validated patch → one DynamoDB update, pure.
//! - [`store`]: every DynamoDB call: the persons table (one conditional `UpdateItem`;
//!   idempotency entries beside the persons; definitions; the tables themselves) and the clients
//!   table; in-memory stand-ins ([`store::memory`]).
//! - [`events`]: the `person-events` function: the table's stream → `PersonUpdated` events.
//! - [`ops`]: what the functions run on: configuration, the AWS SDK's settings
//!   ([`ops::aws`]), logs and metrics.
//! - [`admin`]: the admin tool's application (tables, demo data, clients, import and export).
//! - [`table`]: the persons table's layout: key formats and the attributes the function owns.

pub mod admin;
pub mod auth;
pub mod dialect;
pub mod engine;
pub mod events;
pub mod http;
pub mod ops;
pub mod store;
pub mod table;
