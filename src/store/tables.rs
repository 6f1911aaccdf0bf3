//! The two tables as the admin tool sees them: created with their keys and stream, and the
//! stores over each ([`DynamoPersonStore`], [`ClientDirectory`]).

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;

use super::clients::{ClientDirectory, CLIENT_ID_ATTRIBUTE};
use super::dynamo::DynamoPersonStore;
use super::sdk::classify_other;
use super::StoreError;
use crate::table::{PARTITION_KEY, SORT_KEY};

/// The persons table and the clients table, by name, over one client.
#[derive(Debug, Clone)]
pub struct Tables {
    client: Client,
    persons: String,
    clients: String,
}

impl Tables {
    pub fn new(client: Client, persons: impl Into<String>, clients: impl Into<String>) -> Self {
        Tables {
            client,
            persons: persons.into(),
            clients: clients.into(),
        }
    }

    pub fn persons_table(&self) -> &str {
        &self.persons
    }

    /// The persons table's store.
    pub fn persons(&self) -> DynamoPersonStore {
        DynamoPersonStore::new(self.client.clone(), &self.persons)
    }

    /// The clients table's store.
    pub fn clients(&self) -> ClientDirectory {
        ClientDirectory::new(self.client.clone(), &self.clients)
    }

    /// Creates the persons table (`pk`, `sk`, with a `NEW_AND_OLD_IMAGES` stream, which feeds
    /// person-events as template.yaml's does) and the clients table (`clientId`), on-demand.
    /// A table that already exists is left as it is.
    pub async fn create(&self) -> Result<(), StoreError> {
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewAndOldImages)
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        self.create_table(
            &self.persons,
            &[(PARTITION_KEY, KeyType::Hash), (SORT_KEY, KeyType::Range)],
            Some(stream),
        )
        .await?;
        self.create_table(&self.clients, &[(CLIENT_ID_ATTRIBUTE, KeyType::Hash)], None)
            .await
    }

    async fn create_table(
        &self,
        name: &str,
        keys: &[(&str, KeyType)],
        stream: Option<StreamSpecification>,
    ) -> Result<(), StoreError> {
        let mut request = self
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_stream_specification(stream);
        for (attribute, key_type) in keys {
            let definition = AttributeDefinition::builder()
                .attribute_name(*attribute)
                .attribute_type(ScalarAttributeType::S)
                .build();
            let key = KeySchemaElement::builder()
                .attribute_name(*attribute)
                .key_type(key_type.clone())
                .build();
            match (definition, key) {
                (Ok(definition), Ok(key)) => {
                    request = request.attribute_definitions(definition).key_schema(key)
                }
                (Err(e), _) | (_, Err(e)) => return Err(StoreError::Failed(e.to_string())),
            }
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("ResourceInUseException") => Ok(()),
            Err(error) => Err(classify_other(&error)),
        }
    }
}
