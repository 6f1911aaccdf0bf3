//! Custom field definitions: one query per customer, kept in the warm container for
//! [`DEFINITIONS_TTL`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::DynamoPersonStore;
use super::item::Item;
use super::sdk::classify_other;
use super::{DefinitionStore, StoreError};
use crate::engine::{CustomKind, Definitions, FieldDefinition};
use crate::table::{self, CustomerId, PARTITION_KEY, SORT_KEY};

/// How long a customer's custom field definitions are reused in a warm container.
pub const DEFINITIONS_TTL: Duration = Duration::from_secs(30);

/// The most pages of definitions read for one customer (each up to 1 MB).
const MAX_DEFINITION_PAGES: usize = 10;

impl DefinitionStore for DynamoPersonStore {
    /// A customer's definitions, from the cache while they are fresh.
    async fn field_definitions(
        &self,
        customer: CustomerId,
    ) -> Result<Arc<Definitions>, StoreError> {
        let now = Instant::now();
        if let Ok(cache) = self.definitions.lock() {
            if let Some((expires, definitions)) = cache.get(&customer) {
                if *expires > now {
                    return Ok(Arc::clone(definitions));
                }
            }
        }
        let definitions = Arc::new(self.query_definitions(customer).await?);
        if let Ok(mut cache) = self.definitions.lock() {
            cache.retain(|_, (expires, _)| *expires > now);
            cache.insert(customer, (now + DEFINITIONS_TTL, Arc::clone(&definitions)));
        }
        Ok(definitions)
    }
}

impl DynamoPersonStore {
    async fn query_definitions(&self, customer: CustomerId) -> Result<Definitions, StoreError> {
        let mut definitions = Definitions::new();
        let mut start = None;
        for _ in 0..MAX_DEFINITION_PAGES {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PARTITION_KEY)
                .expression_attribute_names("#sk", SORT_KEY)
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(table::customer_key(customer)),
                )
                .expression_attribute_values(
                    ":prefix",
                    AttributeValue::S(table::definition_key_prefix().into()),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| classify_other(&e))?;
            for item in output.items.unwrap_or_default() {
                if let Some((id, definition)) = definition_of(&item) {
                    definitions.insert(id, definition);
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(definitions),
            }
        }
        Ok(definitions)
    }
}

/// A custom field definition as the admin tool writes it.
impl DynamoPersonStore {
    /// Creates or replaces `customer`'s definition `id`. A `statement` is always read-only.
    pub async fn put_definition(
        &self,
        customer: CustomerId,
        id: i64,
        kind: &str,
        options: &[String],
        read_only: bool,
    ) -> Result<(), StoreError> {
        let s = |value: &str| AttributeValue::S(value.to_owned());
        let mut item = HashMap::from([
            (PARTITION_KEY.to_owned(), s(&table::customer_key(customer))),
            (SORT_KEY.to_owned(), s(&table::definition_key(id))),
            (table::definition::TYPE.to_owned(), s(kind)),
            (
                table::definition::READ_ONLY.to_owned(),
                AttributeValue::Bool(read_only || kind == "statement"),
            ),
        ]);
        if !options.is_empty() {
            item.insert(
                table::definition::OPTIONS.to_owned(),
                AttributeValue::L(options.iter().map(|o| s(o)).collect()),
            );
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| classify_other(&e))?;
        Ok(())
    }
}

/// One field-definition item as a definition; `None` for an item that is not one.
fn definition_of(item: &Item) -> Option<(i64, FieldDefinition)> {
    let id = match item.get(SORT_KEY) {
        Some(AttributeValue::S(sk)) => table::parse_definition_key(sk)?,
        _ => return None,
    };
    let kind = match item.get(table::definition::TYPE) {
        Some(AttributeValue::S(name)) => CustomKind::parse(name),
        _ => CustomKind::Unknown(String::new()),
    };
    let options = match item.get(table::definition::OPTIONS) {
        Some(AttributeValue::L(list)) => list
            .iter()
            .filter_map(|v| match v {
                AttributeValue::S(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        Some(AttributeValue::Ss(set)) => set.clone(),
        _ => Vec::new(),
    };
    let read_only = matches!(
        item.get(table::definition::READ_ONLY),
        Some(AttributeValue::Bool(true))
    );
    Some((
        id,
        FieldDefinition {
            kind,
            options,
            read_only,
        },
    ))
}
