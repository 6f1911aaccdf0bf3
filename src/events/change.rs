//! One stream record → one `PersonUpdated` event, or the reason it is skipped. Pure: no I/O,
//! no Lambda or SDK types.
//!
//! The changed fields are the dialect's fields whose stored values differ between the old and
//! the new image, named as the dialect spells them; a custom field is named
//! `customFields.<definitionId>`. Service attributes (`version`, `updatedAt`, `updatedBy`, the
//! write id) and attributes no field table names are not fields. Values are left out unless
//! [`Values::Include`] is chosen: they are personal data.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

use super::stream::{number, string, EventName, Image, StreamRecord};
use crate::dialect::{Dialect, DIALECTS};
use crate::engine::record::Stored;
use crate::engine::{Kind, Value};
use crate::table::person::{UPDATED_AT, UPDATED_BY, VERSION};
use crate::table::{self, PARTITION_KEY, SORT_KEY};

/// The events' `source`.
pub const SOURCE: &str = "person-patch";
/// The events' `detail-type`.
pub const DETAIL_TYPE: &str = "PersonUpdated";
/// The largest `PutEvents` request EventBridge takes, counted its way (below 256 KiB).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024 - 1;
/// What EventBridge counts for an entry's `Time`.
const TIME_BYTES: usize = 14;

/// Whether events carry the new values of the changed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Values {
    /// Names only (the default: values are personal data).
    #[default]
    Omit,
    /// Names and new values, for buses whose consumers are entitled to them.
    Include,
}

impl Values {
    /// Reads the `EVENT_FIELD_VALUES` setting: `include` or `omit` (the default when unset).
    pub fn parse(setting: Option<&str>) -> Result<Values, String> {
        match setting.map(str::trim) {
            None | Some("") => Ok(Values::Omit),
            Some(v) if v.eq_ignore_ascii_case("omit") => Ok(Values::Omit),
            Some(v) if v.eq_ignore_ascii_case("include") => Ok(Values::Include),
            Some(other) => Err(format!(
                "EVENT_FIELD_VALUES must be `omit` or `include`, not `{other}`"
            )),
        }
    }
}

/// Why a stream record sends no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    /// An item was created (persons are created elsewhere; idempotency records here).
    Insert,
    /// An item was deleted (or expired by TTL).
    Remove,
    /// The item is not a person: a field definition, an idempotency record, anything else.
    NotAPerson,
    /// The record is not one this function can read.
    Unreadable,
}

impl Skip {
    pub const ALL: [Skip; 4] = [
        Skip::Insert,
        Skip::Remove,
        Skip::NotAPerson,
        Skip::Unreadable,
    ];

    /// The metric counting such skips.
    pub fn metric(self) -> &'static str {
        match self {
            Skip::Insert => "SkippedInserts",
            Skip::Remove => "SkippedRemoves",
            Skip::NotAPerson => "SkippedNotPersons",
            Skip::Unreadable => "SkippedUnreadable",
        }
    }
}

/// A `PersonUpdated` event, ready for `PutEvents`.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonUpdated {
    /// The `detail`, as JSON text.
    pub detail: String,
    /// The `time`: the update's `updatedAt` (RFC 3339), when the item carries one.
    pub time: Option<String>,
    /// The stream record's sequence number (what a batch item failure names).
    pub sequence_number: String,
    /// For logs: the dialect and the number of changed fields (never values).
    pub dialect: &'static str,
    pub changed: usize,
}

impl PersonUpdated {
    /// The entry's size as EventBridge counts it against the request limit.
    pub fn size(&self) -> usize {
        SOURCE.len()
            + DETAIL_TYPE.len()
            + self.detail.len()
            + if self.time.is_some() { TIME_BYTES } else { 0 }
    }
}

/// The event a stream record sends, or why it sends none.
pub fn person_updated(record: &StreamRecord, values: Values) -> Result<PersonUpdated, Skip> {
    let (customer, person, dialect) = person_key(record.keys).ok_or(Skip::NotAPerson)?;
    match record.event_name {
        EventName::Insert => return Err(Skip::Insert),
        EventName::Remove => return Err(Skip::Remove),
        EventName::Modify => {}
    }
    let (Some(old), Some(new)) = (record.old_image, record.new_image) else {
        // A stream without both images (another StreamViewType) cannot say what changed.
        return Err(Skip::Unreadable);
    };
    let changed = changed_fields(dialect, old, new);
    let mut detail = Map::new();
    detail.insert("customerId".into(), Json::from(customer));
    detail.insert("personId".into(), Json::from(person));
    detail.insert("dialect".into(), Json::from(dialect.name));
    detail.insert(
        "version".into(),
        number(new, VERSION)
            .and_then(|n| n.parse::<i64>().ok())
            .map_or(Json::Null, Json::from),
    );
    let updated_at = string(new, UPDATED_AT);
    detail.insert(
        "updatedAt".into(),
        updated_at.map_or(Json::Null, Json::from),
    );
    detail.insert(
        "updatedBy".into(),
        string(new, UPDATED_BY).map_or(Json::Null, Json::from),
    );
    detail.insert(
        "changedFields".into(),
        Json::Array(changed.iter().map(|c| Json::from(c.name())).collect()),
    );
    if values == Values::Include {
        let rendered: Map<String, Json> = changed
            .iter()
            .map(|c| (c.name(), c.new_value(dialect, new)))
            .collect();
        detail.insert("values".into(), Json::Object(rendered));
    }
    let mut event = PersonUpdated {
        detail: detail_text(&detail),
        time: updated_at.map(str::to_owned),
        sequence_number: record.sequence_number.to_owned(),
        dialect: dialect.name,
        changed: changed.len(),
    };
    if event.size() > MAX_REQUEST_BYTES && detail.remove("values").is_some() {
        // Too large for EventBridge with its values: sent with names only, and saying so.
        detail.insert("valuesOmitted".into(), Json::Bool(true));
        event.detail = detail_text(&detail);
    }
    Ok(event)
}

/// A person's keys → customer id, person id and the dialect whose id format the person id
/// has; `None` for any other item.
fn person_key(keys: &Image) -> Option<(String, String, &'static Dialect)> {
    let customer = table::parse_customer_key(string(keys, PARTITION_KEY)?)?;
    let person = table::parse_person_key(string(keys, SORT_KEY)?)?;
    DIALECTS.iter().find_map(|dialect| {
        let id = dialect.id_format.parse(person).ok()?;
        Some((customer.to_owned(), id.to_string(), *dialect))
    })
}

/// The detail as JSON text (a map of JSON values always serializes).
fn detail_text(detail: &Map<String, Json>) -> String {
    serde_json::to_string(detail).unwrap_or_default()
}

/// A field whose value changed.
#[derive(Debug, Clone)]
enum Changed {
    Field {
        name: &'static str,
        attribute: &'static str,
        kind: Kind,
    },
    Custom {
        name: &'static str,
        attribute: &'static str,
        key: String,
    },
}

impl Changed {
    fn name(&self) -> String {
        match self {
            Changed::Field { name, .. } => (*name).to_owned(),
            Changed::Custom { name, key, .. } => format!("{name}.{key}"),
        }
    }

    /// The new value as the dialect writes it in answers; `null` when the update removed it.
    fn new_value(&self, dialect: &Dialect, new: &Image) -> Json {
        match self {
            Changed::Field {
                attribute, kind, ..
            } => new
                .get(*attribute)
                .map_or(Json::Null, |v| dialect.render_stored(*kind, &stored(v))),
            Changed::Custom { attribute, key, .. } => map_entries(new, attribute)
                .and_then(|m| m.get(key))
                .map_or(Json::Null, |v| {
                    dialect.render_stored(Kind::CustomFields, &stored(v))
                }),
        }
    }
}

fn changed_fields(dialect: &Dialect, old: &Image, new: &Image) -> Vec<Changed> {
    let mut changed = Vec::new();
    for field in dialect.fields.fields {
        if matches!(field.kind, Kind::CustomFields) {
            let empty = Map::new();
            let before = map_entries(old, field.attribute).unwrap_or(&empty);
            let after = map_entries(new, field.attribute).unwrap_or(&empty);
            let mut keys: Vec<&String> = before
                .keys()
                .chain(after.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            // Definition ids in numeric order (keys are decimal; others after, by text).
            keys.sort_by_key(|k| (k.parse::<i64>().map_or((1, 0), |n| (0, n)), (*k).clone()));
            for key in keys {
                if before.get(key) != after.get(key) {
                    changed.push(Changed::Custom {
                        name: field.name,
                        attribute: field.attribute,
                        key: key.clone(),
                    });
                }
            }
        } else if old.get(field.attribute) != new.get(field.attribute) {
            changed.push(Changed::Field {
                name: field.name,
                attribute: field.attribute,
                kind: field.kind,
            });
        }
    }
    changed
}

/// The entries of a map attribute; `None` when it is missing or not a map.
fn map_entries<'a>(image: &'a Image, attribute: &str) -> Option<&'a Map<String, Json>> {
    image.get(attribute)?.get("M")?.as_object()
}

/// A DynamoDB JSON value as the service reads stored values.
fn stored(value: &Json) -> Stored {
    let Some((tag, inner)) = value.as_object().and_then(|o| {
        let mut entries = o.iter();
        let first = entries.next();
        first.filter(|_| entries.next().is_none())
    }) else {
        return Stored::Other;
    };
    match (tag.as_str(), inner) {
        ("S", Json::String(s)) => Stored::Value(Value::S(s.clone())),
        ("N", Json::String(n)) => Stored::Value(Value::N(n.clone())),
        ("BOOL", Json::Bool(b)) => Stored::Value(Value::Bool(*b)),
        ("NULL", _) => Stored::Null,
        ("M", Json::Object(entries)) => Stored::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), stored(v)))
                .collect(),
        ),
        _ => Stored::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(name: &str, sk: &str, old: Json, new: Json) -> Json {
        json!({
            "eventName": name,
            "dynamodb": {
                "Keys": {"pk": {"S": table::customer_key(crate::table::CustomerId(1001))}, "sk": {"S": sk}},
                "OldImage": old,
                "NewImage": new,
                "SequenceNumber": "42"
            }
        })
    }

    fn person_updated(record: &Json, values: Values) -> Result<PersonUpdated, Skip> {
        super::person_updated(&StreamRecord::from_json(record).unwrap(), values)
    }

    fn detail(event: &PersonUpdated) -> Json {
        serde_json::from_str(&event.detail).unwrap()
    }

    #[test]
    fn names_the_changed_fields_of_a_v2_person_without_values() {
        let old = json!({"FirstName": {"S": "Ann"}, "IsActive": {"BOOL": true}, "version": {"N": "3"}, "updatedAt": {"S": "2026-01-01T00:00:00Z"}});
        let new = json!({"FirstName": {"S": "Anna"}, "IsActive": {"BOOL": true}, "HomeSiteID": {"N": "5"},
            "version": {"N": "4"}, "updatedAt": {"S": "2026-11-24T10:00:00Z"}, "updatedBy": {"S": "client-a"}, "lastWriteId": {"S": "w"}});
        let event = person_updated(
            &record("MODIFY", &table::person_key("16"), old, new),
            Values::Omit,
        )
        .unwrap();
        assert_eq!(
            detail(&event),
            json!({"customerId": "1001", "personId": "16", "dialect": "persons-v2", "version": 4,
                "updatedAt": "2026-11-24T10:00:00Z", "updatedBy": "client-a",
                "changedFields": ["FirstName", "HomeSiteID"]})
        );
        assert!(!event.detail.contains("Anna"));
        assert_eq!(event.time.as_deref(), Some("2026-11-24T10:00:00Z"));
        assert_eq!(event.sequence_number, "42");
    }

    #[test]
    fn custom_fields_are_named_by_definition_and_values_rendered_when_asked() {
        let sk = &table::person_key("3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c");
        let old = json!({"title": {"S": "Dr"}, "customFields": {"M": {"1001": {"S": "a"}, "1010": {"S": "b"}}}});
        let new = json!({"customFields": {"M": {"1001": {"S": "a"}, "1002": {"S": "true"}, "1010": {"S": "c"}}},
            "isOptedOut": {"BOOL": false}});
        let event = person_updated(
            &record("MODIFY", sk, old.clone(), new.clone()),
            Values::Include,
        )
        .unwrap();
        let detail = detail(&event);
        assert_eq!(detail["dialect"], "contacts-v1");
        assert_eq!(detail["personId"], "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c");
        assert_eq!(
            detail["changedFields"],
            json!([
                "title",
                "isOptedOut",
                "customFields.1002",
                "customFields.1010"
            ])
        );
        assert_eq!(
            detail["values"],
            json!({"title": null, "isOptedOut": false, "customFields.1002": "true", "customFields.1010": "c"})
        );
        assert_eq!(detail["version"], Json::Null);
        assert_eq!(detail["updatedBy"], Json::Null);
        // A NULL map (written by another tool) counts as an empty one.
        let old = json!({"customFields": {"NULL": true}});
        let event = person_updated(&record("MODIFY", sk, old, new), Values::Omit).unwrap();
        assert_eq!(
            super::tests::detail(&event)["changedFields"],
            json!([
                "isOptedOut",
                "customFields.1001",
                "customFields.1002",
                "customFields.1010"
            ])
        );
    }

    #[test]
    fn v2_values_are_written_as_the_dialect_answers() {
        let old = json!({});
        let new = json!({"IsActive": {"BOOL": true}, "HomeSiteID": {"N": "7"}, "Biography": {"S": "<p>x</p>"}});
        let event = person_updated(
            &record("MODIFY", &table::person_key("16"), old, new),
            Values::Include,
        )
        .unwrap();
        assert_eq!(
            detail(&event)["values"],
            json!({"HomeSiteID": "7", "Biography": "<p>x</p>", "IsActive": "true"})
        );
    }

    #[test]
    fn too_large_with_values_is_sent_with_names_only() {
        let big = "x".repeat(60_000);
        let mut old = Map::new();
        let mut new = Map::new();
        let mut fields = Map::new();
        for id in 1..=10 {
            fields.insert(id.to_string(), json!({"S": big}));
        }
        old.insert("customFields".into(), json!({"M": {}}));
        new.insert("customFields".into(), json!({"M": fields}));
        let sk = &table::person_key("3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c");
        let event = person_updated(
            &record("MODIFY", sk, Json::Object(old), Json::Object(new)),
            Values::Include,
        )
        .unwrap();
        let detail = detail(&event);
        assert_eq!(detail["valuesOmitted"], true);
        assert!(detail.get("values").is_none());
        assert_eq!(detail["changedFields"].as_array().unwrap().len(), 10);
        assert!(event.size() < 1024);
    }

    #[test]
    fn skips_what_is_not_a_modified_person() {
        let v2 = &table::person_key("16");
        let images = || (json!({}), json!({}));
        let (o, n) = images();
        assert_eq!(
            person_updated(&record("INSERT", v2, o, n), Values::Omit),
            Err(Skip::Insert)
        );
        let (o, n) = images();
        assert_eq!(
            person_updated(&record("REMOVE", v2, o, n), Values::Omit),
            Err(Skip::Remove)
        );
        for sk in [
            &table::definition_key(1001),
            &table::idempotency_key("ab"),
            &table::person_key("0"),
            &table::person_key("x"),
            &table::person_key(""),
        ] {
            let (o, n) = images();
            assert_eq!(
                person_updated(&record("MODIFY", sk, o, n), Values::Omit),
                Err(Skip::NotAPerson),
                "{sk}"
            );
        }
        let mut without_old = record("MODIFY", v2, json!({}), json!({}));
        without_old["dynamodb"]
            .as_object_mut()
            .unwrap()
            .remove("OldImage");
        assert_eq!(
            person_updated(&without_old, Values::Omit),
            Err(Skip::Unreadable)
        );
    }

    #[test]
    fn the_values_setting() {
        assert_eq!(Values::parse(None), Ok(Values::Omit));
        assert_eq!(Values::parse(Some("INCLUDE")), Ok(Values::Include));
        assert_eq!(Values::parse(Some("omit")), Ok(Values::Omit));
        assert!(Values::parse(Some("yes")).is_err());
    }
}
