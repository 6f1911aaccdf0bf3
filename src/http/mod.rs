//! HTTP at the edge: the Lambda event adapter, the handler taking the API's order of
//! checks, routing, conditional requests, idempotency keys, the request deadline, and the one
//! place failures become problem answers; and the OpenAPI description of it all, generated
//! from the field tables.

pub mod conditional;
pub mod deadline;
pub mod entry;
pub mod handler;
pub mod headers;
pub mod idempotency;
pub mod openapi;
pub mod problem;
pub mod routing;
