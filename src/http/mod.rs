//! HTTP at the edge: the Lambda event adapter ([`entry`]), the handler taking the API's order
//! of checks ([`handler`]) over steps both the plain and the keyed path run ([`execute`]),
//! `Idempotency-Key` ([`idempotency`]), routing, conditional requests, the request deadline,
//! the one place failures become problem answers ([`problem`]); and the OpenAPI description of
//! it all, generated from the field tables.

pub mod app;
pub mod conditional;
pub mod deadline;
pub mod entry;
pub mod execute;
pub mod handler;
pub mod headers;
pub mod idempotency;
pub mod openapi;
pub mod problem;
pub mod routing;
