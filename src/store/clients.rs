//! The API clients table: who may call, with which scopes, for which customers.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{ApiClient, ClientLookup, DirectoryError};
use crate::ops::aws::describe_sdk_error;
use crate::table::CustomerId;

/// The clients table's key.
pub const CLIENT_ID_ATTRIBUTE: &str = "clientId";
const SECRET_HASH_ATTRIBUTE: &str = "secretHash";
const SCOPES_ATTRIBUTE: &str = "scopes";
const CUSTOMERS_ATTRIBUTE: &str = "customers";
const ENABLED_ATTRIBUTE: &str = "enabled";

impl ClientLookup for ClientDirectory {
    async fn find(&self, id: &str) -> Result<Option<ApiClient>, DirectoryError> {
        ClientDirectory::find(self, id).await
    }

    async fn replace_hash(&self, id: &str, old: &str, new: &str) -> Result<(), DirectoryError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(CLIENT_ID_ATTRIBUTE, AttributeValue::S(id.to_owned()))
            .update_expression("SET #hash = :new")
            .condition_expression("#hash = :old")
            .expression_attribute_names("#hash", SECRET_HASH_ATTRIBUTE)
            .expression_attribute_values(":new", AttributeValue::S(new.to_owned()))
            .expression_attribute_values(":old", AttributeValue::S(old.to_owned()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(DirectoryError::Failed(describe_sdk_error(&e))),
        }
    }
}

/// The clients table.
#[derive(Debug, Clone)]
pub struct ClientDirectory {
    client: Client,
    table: String,
}

impl ClientDirectory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        ClientDirectory {
            client,
            table: table.into(),
        }
    }

    /// Opens the connection to DynamoDB ahead of the first request (TCP and TLS handshakes,
    /// the SDK's first-use set-up) with a read of a client id that cannot exist. Called during
    /// the Lambda init phase, where a function is commonly given a full core, instead of in
    /// the first request at its memory's share; a failure only means the first request
    /// connects itself.
    pub async fn preconnect(&self) {
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                CLIENT_ID_ATTRIBUTE,
                AttributeValue::S("\u{0}preconnect".to_owned()),
            )
            .send();
        match tokio::time::timeout(std::time::Duration::from_secs(2), read).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(reason = %describe_sdk_error(&error), "preconnect failed")
            }
            Err(_) => tracing::warn!("preconnect timed out"),
        }
    }

    /// The client with this id, if there is one.
    pub async fn find(&self, id: &str) -> Result<Option<ApiClient>, DirectoryError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(CLIENT_ID_ATTRIBUTE, AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| {
                let retryable = matches!(
                    error.code(),
                    Some(
                        "ProvisionedThroughputExceededException"
                            | "RequestLimitExceeded"
                            | "ThrottlingException"
                            | "InternalServerError"
                    )
                ) || error.as_service_error().is_none();
                let text = describe_sdk_error(&error);
                if retryable {
                    DirectoryError::Unavailable(text)
                } else {
                    DirectoryError::Failed(text)
                }
            })?;
        Ok(output.item.map(|item| from_item(id, &item)))
    }

    /// Writes a client, replacing any with the same id.
    pub async fn put(&self, client: &ApiClient) -> Result<(), DirectoryError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(client)))
            .send()
            .await
            .map_err(|e| DirectoryError::Failed(describe_sdk_error(&e)))?;
        Ok(())
    }

    /// Disables a client; `false` when there is no such client.
    pub async fn disable(&self, id: &str) -> Result<bool, DirectoryError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(CLIENT_ID_ATTRIBUTE, AttributeValue::S(id.to_owned()))
            .update_expression("SET #enabled = :false")
            .condition_expression("attribute_exists(#id)")
            .expression_attribute_names("#enabled", ENABLED_ATTRIBUTE)
            .expression_attribute_names("#id", CLIENT_ID_ATTRIBUTE)
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(DirectoryError::Failed(describe_sdk_error(&e))),
        }
    }
}

/// Reads a stored client leniently: a missing or mistyped attribute makes the client
/// unusable (no secret, no scopes, no customers, disabled), never an error.
fn from_item(id: &str, item: &HashMap<String, AttributeValue>) -> ApiClient {
    let secret_hash = match item.get(SECRET_HASH_ATTRIBUTE) {
        Some(AttributeValue::S(hash)) => Some(hash.clone()),
        _ => None,
    };
    let scopes = match item.get(SCOPES_ATTRIBUTE) {
        Some(AttributeValue::Ss(scopes)) => scopes.clone(),
        _ => Vec::new(),
    };
    let customers = match item.get(CUSTOMERS_ATTRIBUTE) {
        Some(AttributeValue::Ns(numbers)) => numbers
            .iter()
            .filter_map(|n| n.parse::<i64>().ok())
            .map(CustomerId)
            .collect(),
        _ => Vec::new(),
    };
    let enabled = matches!(
        item.get(ENABLED_ATTRIBUTE),
        Some(AttributeValue::Bool(true))
    );
    ApiClient {
        id: id.to_owned(),
        secret_hash,
        scopes,
        customers,
        enabled,
    }
}

fn to_item(client: &ApiClient) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (
            CLIENT_ID_ATTRIBUTE.to_owned(),
            AttributeValue::S(client.id.clone()),
        ),
        (
            ENABLED_ATTRIBUTE.to_owned(),
            AttributeValue::Bool(client.enabled),
        ),
    ]);
    if let Some(hash) = &client.secret_hash {
        item.insert(
            SECRET_HASH_ATTRIBUTE.to_owned(),
            AttributeValue::S(hash.clone()),
        );
    }
    // DynamoDB sets may not be empty: an absent attribute means none.
    if !client.scopes.is_empty() {
        item.insert(
            SCOPES_ATTRIBUTE.to_owned(),
            AttributeValue::Ss(client.scopes.clone()),
        );
    }
    if !client.customers.is_empty() {
        let mut numbers: Vec<String> = client.customers.iter().map(|c| c.0.to_string()).collect();
        numbers.sort();
        numbers.dedup();
        item.insert(CUSTOMERS_ATTRIBUTE.to_owned(), AttributeValue::Ns(numbers));
    }
    item
}

/// The update's condition was not met (the one way a conditional failure is recognised: the
/// SDK's typed variant).
fn is_conditional_failure<R>(error: &SdkError<UpdateItemError, R>) -> bool {
    matches!(
        error.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let client = ApiClient {
            id: "c1".into(),
            secret_hash: Some("$argon2id$x".into()),
            scopes: vec!["a".into(), "b".into()],
            customers: vec![CustomerId(2), CustomerId(1)],
            enabled: true,
        };
        let back = from_item("c1", &to_item(&client));
        assert_eq!(back.customers, vec![CustomerId(1), CustomerId(2)]);
        assert_eq!(back.scopes, client.scopes);
        assert!(back.enabled);
    }

    #[test]
    fn mistyped_items_are_unusable_not_errors() {
        let item = HashMap::from([
            ("enabled".to_owned(), AttributeValue::S("true".into())),
            ("customers".to_owned(), AttributeValue::S("14532".into())),
        ]);
        let client = from_item("c", &item);
        assert!(!client.enabled);
        assert!(client.customers.is_empty());
        assert!(client.secret_hash.is_none());
    }
}
