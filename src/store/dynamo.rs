//! The persons table in DynamoDB: the client and table name every kind of item's calls share
//! ([`super::persons`], [`super::definitions`], [`super::idempotency`] each implement their
//! trait for it), and the warm container's cache of custom field definitions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::time::Instant;

use aws_sdk_dynamodb::Client;

use crate::engine::Definitions;
use crate::ops::aws::InvocationTrace;
use crate::table::CustomerId;

/// Each customer's definitions, with the instant they expire ([`super::definitions`] fills
/// it).
pub(super) type DefinitionsCache = Mutex<HashMap<CustomerId, (Instant, Arc<Definitions>)>>;

/// The DynamoDB persons table.
#[derive(Debug, Clone)]
pub struct DynamoPersonStore {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) definitions: Arc<DefinitionsCache>,
}

/// The DynamoDB client the function runs on: `config`, and every call naming the trace of the
/// invocation it is made for ([`InvocationTrace`]).
pub fn traced_client(config: aws_sdk_dynamodb::config::Builder) -> Client {
    Client::from_conf(config.interceptor(InvocationTrace).build())
}

impl DynamoPersonStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPersonStore {
            client,
            table: table.into(),
            definitions: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}
