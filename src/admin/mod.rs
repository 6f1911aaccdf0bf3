//! Operations behind `person-patch-admin`: creating the tables, seeding the demo data
//! (docs/API.md §8), reading a stored person. They work against DynamoDB Local or AWS alike.

pub mod transfer;

use serde_json::Value as Json;

use crate::auth::clients::hash_secret;
use crate::auth::WRITE_SCOPE;
use crate::dialect::demo::{DEMO_CUSTOMER, DEMO_V1_PERSON, DEMO_V2_PERSON};
use crate::dialect::{contacts_v1::CUSTOM_FIELDS_ATTRIBUTE, PersonId};
use crate::engine::Value;
use crate::store::item::{to_plain_json, Attributes};
use crate::store::tables::Tables;
use crate::store::ApiClient;
use crate::store::PersonKey;
use crate::table::person::{CREATED_AT, UPDATED_AT, VERSION};
use crate::table::CustomerId;

/// The demo API client and its secret (the seed's example credentials).
pub const DEMO_CLIENT_ID: &str = "beqa4api";
pub const DEMO_CLIENT_SECRET: &str = "beqa4api";
/// The demo client whose secret is generated (a SHA-256-stored `ppsk_…` secret) at seeding.
pub const DEMO_GENERATED_CLIENT_ID: &str = "demo-generated";

pub type AdminError = Box<dyn std::error::Error + Send + Sync>;

/// Creates the persons table and the clients table ([`Tables::create`]).
pub async fn create_tables(tables: &Tables) -> Result<(), AdminError> {
    Ok(tables.create().await?)
}

fn s(value: &str) -> Value {
    Value::S(value.to_owned())
}

fn n(value: impl std::fmt::Display) -> Value {
    Value::N(value.to_string())
}

/// The demo Contacts v1 person: its key and its attributes as stored.
pub fn demo_v1_person() -> (PersonKey, Attributes) {
    let key = PersonKey::new(DEMO_CUSTOMER, DEMO_V1_PERSON);
    let attributes = Attributes::from([
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
        ("isOptedOut".into(), Value::Bool(false)),
        (CUSTOM_FIELDS_ATTRIBUTE.into(), Value::Map(Vec::new())),
        (CREATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (UPDATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (VERSION.into(), n(1)),
    ]);
    (key, attributes)
}

/// The demo Persons v2 person: its key and its attributes as stored.
pub fn demo_v2_person() -> (PersonKey, Attributes) {
    let key = PersonKey::new(DEMO_CUSTOMER, PersonId::Int(DEMO_V2_PERSON));
    let attributes = Attributes::from([
        ("ID".into(), n(DEMO_V2_PERSON)),
        ("FirstName".into(), s("Grace")),
        ("LastName".into(), s("Hopper")),
        ("Email".into(), s("grace.hopper@example.com")),
        ("JobTitle".into(), s("Rear Admiral")),
        ("City".into(), s("Arlington")),
        ("Country".into(), s("USA")),
        ("HomeSiteID".into(), n(1)),
        ("IsActive".into(), Value::Bool(true)),
        ("IsUser".into(), Value::Bool(false)),
        ("IsSpeaker".into(), Value::Bool(true)),
        (CREATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (UPDATED_AT.into(), s("2026-01-01T00:00:00.000Z")),
        (VERSION.into(), n(1)),
    ]);
    (key, attributes)
}

/// Creates (or replaces) an enabled API client whose secret is stored only as its argon2id
/// hash.
pub async fn create_client(
    tables: &Tables,
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
    tables.clients().put(&record).await?;
    Ok(())
}

/// Disables an API client; its cached verifications lapse within the cache's lifetime.
pub async fn disable_client(tables: &Tables, id: &str) -> Result<(), AdminError> {
    if tables.clients().disable(id).await? {
        Ok(())
    } else {
        Err(format!("no client {id}").into())
    }
}

/// Creates or replaces a customer's custom field definition.
pub async fn put_field_definition(
    tables: &Tables,
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
    Ok(tables
        .persons()
        .put_definition(customer, id, kind, options, read_only)
        .await?)
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
pub async fn seed_demo(tables: &Tables) -> Result<String, AdminError> {
    let scopes = [WRITE_SCOPE.to_owned()];
    create_client(
        tables,
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        &[DEMO_CUSTOMER],
        &scopes,
    )
    .await?;
    let generated = crate::auth::clients::generate_secret();
    create_client(
        tables,
        DEMO_GENERATED_CLIENT_ID,
        &generated,
        &[DEMO_CUSTOMER],
        &scopes,
    )
    .await?;
    for (id, kind, options) in DEMO_FIELD_DEFINITIONS {
        let options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
        put_field_definition(tables, DEMO_CUSTOMER, *id, kind, &options, false).await?;
    }
    let persons = tables.persons();
    for (key, attributes) in [demo_v1_person(), demo_v2_person()] {
        persons.put_person(&key, attributes).await?;
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

/// One stored person as plain JSON (every attribute, names sorted); `None` when there is
/// none.
pub async fn get_person(tables: &Tables, key: &PersonKey) -> Result<Option<Json>, AdminError> {
    let item = tables.persons().stored_item(key).await?;
    Ok(item.as_ref().map(to_plain_json))
}
