//! Operations behind `person-patch-admin`: creating the tables, seeding the demo data
//! (docs/API.md §8), reading a stored person. They work against DynamoDB Local or AWS alike.

pub mod transfer;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;
use serde_json::{json, Map, Value as JsonValue};

use crate::auth::clients::hash_secret;
use crate::auth::WRITE_SCOPE;
use crate::dialect::demo::{DEMO_CUSTOMER, DEMO_V1_PERSON, DEMO_V2_PERSON};
use crate::dialect::{contacts_v1::CUSTOM_FIELDS_ATTRIBUTE, PersonId};
use crate::store::clients::{ClientDirectory, CLIENT_ID_ATTRIBUTE};
use crate::store::ApiClient;
use crate::store::PersonKey;
use crate::table::person::{CREATED_AT, UPDATED_AT, VERSION};
use crate::table::{self, CustomerId, PARTITION_KEY, SORT_KEY};

/// The demo API client and its secret (the seed's example credentials).
pub const DEMO_CLIENT_ID: &str = "beqa4api";
pub const DEMO_CLIENT_SECRET: &str = "beqa4api";
/// The demo client whose secret is generated (a SHA-256-stored `ppsk_…` secret) at seeding.
pub const DEMO_GENERATED_CLIENT_ID: &str = "demo-generated";

pub type AdminError = Box<dyn std::error::Error + Send + Sync>;

/// Creates the persons table (`pk`, `sk`, with a `NEW_AND_OLD_IMAGES` stream) and the clients
/// table (`clientId`), on-demand.
/// A table that already exists is left as it is.
pub async fn create_tables(
    client: &Client,
    persons: &str,
    clients: &str,
) -> Result<(), AdminError> {
    // The persons table's stream feeds person-events (as template.yaml's does).
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()?;
    create_table(
        client,
        persons,
        &[(PARTITION_KEY, KeyType::Hash), (SORT_KEY, KeyType::Range)],
        Some(stream),
    )
    .await?;
    create_table(
        client,
        clients,
        &[(CLIENT_ID_ATTRIBUTE, KeyType::Hash)],
        None,
    )
    .await?;
    Ok(())
}

async fn create_table(
    client: &Client,
    name: &str,
    keys: &[(&str, KeyType)],
    stream: Option<StreamSpecification>,
) -> Result<(), AdminError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_stream_specification(stream);
    for (attribute, key_type) in keys {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*attribute)
                    .key_type(key_type.clone())
                    .build()?,
            );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("ResourceInUseException") => Ok(()),
        Err(error) => Err(Box::new(error.into_service_error())),
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// The demo Contacts v1 person as stored.
pub fn demo_v1_person() -> HashMap<String, AttributeValue> {
    let key = PersonKey::new(DEMO_CUSTOMER, DEMO_V1_PERSON);
    HashMap::from([
        (PARTITION_KEY.into(), s(&key.partition_key())),
        (SORT_KEY.into(), s(&key.sort_key())),
        ("id".into(), s(DEMO_V1_PERSON)),
        ("title".into(), s("Ms")),
        ("forename".into(), s("Ada")),
        ("surname".into(), s("Lovelace")),
        ("email".into(), s("ada.lovelace@example.com")),
        ("mobile".into(), s("07700 900123")),
        ("landline".into(), s("020 7946 0018")),
        ("extension".into(), s("12")),
        ("position".into(), s("Analyst")),
        ("department".into(), s("Engineering")),
        ("isOptedOut".into(), AttributeValue::Bool(false)),
        (
            CUSTOM_FIELDS_ATTRIBUTE.into(),
            AttributeValue::M(HashMap::new()),
        ),
        (CREATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (UPDATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (VERSION.into(), AttributeValue::N("1".into())),
    ])
}

/// The demo Persons v2 person as stored.
pub fn demo_v2_person() -> HashMap<String, AttributeValue> {
    let key = PersonKey::new(DEMO_CUSTOMER, PersonId::Int(DEMO_V2_PERSON));
    HashMap::from([
        (PARTITION_KEY.into(), s(&key.partition_key())),
        (SORT_KEY.into(), s(&key.sort_key())),
        ("ID".into(), AttributeValue::N(DEMO_V2_PERSON.to_string())),
        ("FirstName".into(), s("Grace")),
        ("LastName".into(), s("Hopper")),
        ("Email".into(), s("grace.hopper@example.com")),
        ("JobTitle".into(), s("Rear Admiral")),
        ("City".into(), s("Arlington")),
        ("Country".into(), s("USA")),
        ("HomeSiteID".into(), AttributeValue::N("1".into())),
        ("IsActive".into(), AttributeValue::Bool(true)),
        ("IsUser".into(), AttributeValue::Bool(false)),
        ("IsSpeaker".into(), AttributeValue::Bool(true)),
        (CREATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (UPDATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (VERSION.into(), AttributeValue::N("1".into())),
    ])
}

/// Creates (or replaces) an enabled API client whose secret is stored only as its argon2id
/// hash.
pub async fn create_client(
    client: &Client,
    clients: &str,
    id: &str,
    secret: &str,
    customers: &[CustomerId],
    scopes: &[String],
) -> Result<(), AdminError> {
    if id.is_empty()
        || id.contains(':')
        || id.chars().count() > crate::auth::clients::MAX_CLIENT_ID_CHARS
    {
        return Err("a client id must be 1 to 128 characters without ':'".into());
    }
    if id.starts_with(crate::auth::secrets::PREFIX) {
        // Refused logins log known ids in clear; an id must never look like a secret.
        return Err(format!(
            "a client id must not start with '{}', which marks generated secrets",
            crate::auth::secrets::PREFIX
        )
        .into());
    }
    if customers.is_empty() {
        return Err("a client needs at least one customer".into());
    }
    let record = ApiClient {
        id: id.to_owned(),
        secret_hash: Some(hash_secret(secret).map_err(|e| e.to_string())?),
        scopes: scopes.to_vec(),
        customers: customers.to_vec(),
        enabled: true,
    };
    ClientDirectory::new(client.clone(), clients)
        .put(&record)
        .await?;
    Ok(())
}

/// Disables an API client; its cached verifications lapse within the cache's lifetime.
pub async fn disable_client(client: &Client, clients: &str, id: &str) -> Result<(), AdminError> {
    if ClientDirectory::new(client.clone(), clients)
        .disable(id)
        .await?
    {
        Ok(())
    } else {
        Err(format!("no client {id}").into())
    }
}

/// Creates or replaces a customer's custom field definition.
pub async fn put_field_definition(
    client: &Client,
    persons: &str,
    customer: CustomerId,
    id: i64,
    kind: &str,
    options: &[String],
    read_only: bool,
) -> Result<(), AdminError> {
    if let crate::engine::CustomKind::Unknown(_) = crate::engine::CustomKind::parse(kind) {
        return Err(format!(
            "unknown type {kind}: use boolean, integer, decimal, text, list, statement, date, note, time or systemList"
        )
        .into());
    }
    if kind == "list" && options.is_empty() {
        return Err("a list definition needs at least one --option".into());
    }
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
    put_item(client, persons, item).await
}

/// Writes one item, replacing any with the same key.
pub async fn put_item(
    client: &Client,
    table: &str,
    item: HashMap<String, AttributeValue>,
) -> Result<(), AdminError> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| e.into_service_error())?;
    Ok(())
}

/// The demo custom field definitions of customer 14532 (docs/API.md §8).
pub const DEMO_FIELD_DEFINITIONS: &[(i64, &str, &[&str])] = &[
    (1001, "text", &[]),
    (1002, "boolean", &[]),
    (1003, "date", &[]),
    (1004, "list", &["Gold", "Silver", "Bronze"]),
    (1005, "statement", &[]),
];

/// Writes the demo records (docs/API.md §8), replacing earlier copies; returns the secret
/// generated for [`DEMO_GENERATED_CLIENT_ID`].
pub async fn seed_demo(
    client: &Client,
    persons: &str,
    clients: &str,
) -> Result<String, AdminError> {
    create_client(
        client,
        clients,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        &[DEMO_CUSTOMER],
        &[WRITE_SCOPE.to_owned()],
    )
    .await?;
    let generated = crate::auth::clients::generate_secret();
    create_client(
        client,
        clients,
        DEMO_GENERATED_CLIENT_ID,
        &generated,
        &[DEMO_CUSTOMER],
        &[WRITE_SCOPE.to_owned()],
    )
    .await?;
    for (id, kind, options) in DEMO_FIELD_DEFINITIONS {
        let options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
        put_field_definition(client, persons, DEMO_CUSTOMER, *id, kind, &options, false).await?;
    }
    for item in [demo_v1_person(), demo_v2_person()] {
        put_item(client, persons, item).await?;
    }
    Ok(generated)
}

/// Parses a person id as either dialect writes it: a UUID, or a positive int32.
pub fn parse_person_id(text: &str) -> Option<PersonId> {
    crate::dialect::IdFormat::Uuid
        .parse(text)
        .or_else(|_| crate::dialect::IdFormat::PositiveInt32.parse(text))
        .ok()
}

/// Reads one stored person; `None` when there is none.
pub async fn get_person(
    client: &Client,
    persons: &str,
    key: &PersonKey,
) -> Result<Option<HashMap<String, AttributeValue>>, AdminError> {
    let output = client
        .get_item()
        .table_name(persons)
        .key(PARTITION_KEY, s(&key.partition_key()))
        .key(SORT_KEY, s(&key.sort_key()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| e.into_service_error())?;
    Ok(output.item)
}

/// A stored item as plain JSON (numbers as JSON numbers where they fit, sets as arrays).
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> JsonValue {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    let mut object = Map::new();
    for name in names {
        if let Some(value) = item.get(name) {
            object.insert(name.clone(), attribute_to_json(value));
        }
    }
    JsonValue::Object(object)
}

fn number_to_json(n: &str) -> JsonValue {
    serde_json::from_str::<serde_json::Number>(n)
        .map(JsonValue::Number)
        .unwrap_or_else(|_| json!(n))
}

fn attribute_to_json(value: &AttributeValue) -> JsonValue {
    match value {
        AttributeValue::S(s) => json!(s),
        AttributeValue::N(n) => number_to_json(n),
        AttributeValue::Bool(b) => json!(b),
        AttributeValue::Null(_) => JsonValue::Null,
        AttributeValue::M(m) => item_to_json(m),
        AttributeValue::L(l) => JsonValue::Array(l.iter().map(attribute_to_json).collect()),
        AttributeValue::Ss(v) => json!(v),
        AttributeValue::Ns(v) => JsonValue::Array(v.iter().map(|n| number_to_json(n)).collect()),
        _ => json!("<binary>"),
    }
}
