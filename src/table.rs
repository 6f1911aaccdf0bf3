//! The persons table's layout: every key format and every attribute name the function owns,
//! in one place. Nothing else in the crate spells them.
//!
//! One table holds three kinds of item, each in its customer's partition:
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | a person | `CUSTOMER#<customerId>` | `PERSON#<personId>` (a UUID for Contacts v1, an int32 for Persons v2) |
//! | a custom field definition | `CUSTOMER#<customerId>` | `FIELDDEF#<definitionId>` |
//! | an `Idempotency-Key` record | `CUSTOMER#<customerId>` | `IDEMPOTENCY#<hex SHA-256 of principal and key>` |
//!
//! A person's other attributes are its id (Contacts v1 `id`, a string; Persons v2 `ID`, a
//! number), its dialect's fields (the field tables in [`crate::dialect`]; custom fields as the
//! map `customFields`) and the ones the function maintains ([`person`]). A definition's are in
//! [`definition`], an `Idempotency-Key` entry's in [`idempotency`]. As stored:
//!
//! ```json
//! {"pk": "CUSTOMER#14532", "sk": "PERSON#3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c",
//!  "id": "3f2b8c1e-8a4d-4e7b-9c6a-1d2e3f4a5b6c", "forename": "Ada", "surname": "Lovelace",
//!  "isOptedOut": false, "customFields": {"1001": "x"},
//!  "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
//!  "updatedBy": "beqa4api", "lastWriteId": "…", "version": 1}
//! {"pk": "CUSTOMER#14532", "sk": "FIELDDEF#1004", "type": "list",
//!  "options": ["Gold", "Silver", "Bronze"], "readOnly": false}
//! {"pk": "CUSTOMER#14532", "sk": "IDEMPOTENCY#9f2c…", "state": "done", "fingerprint": "4be1…",
//!  "claimId": "…", "writeId": "…", "claimedAt": 1796040000123, "lockedUntil": 1796040015,
//!  "expiresAt": 1796126400, "answerStatus": 204, "answerHeaders": {"etag": "\"2\""}}
//! ```
//!
//! A field left out, or removed, is absent. This module imports nothing from the crate: the
//! pure engine and every adapter build on it.

use std::fmt;

use time::OffsetDateTime;

/// A tenant's id: the `Customer-Id` header, or the principal's only customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerId(pub i64);

/// The partition key attribute.
pub const PARTITION_KEY: &str = "pk";
/// The sort key attribute.
pub const SORT_KEY: &str = "sk";

const CUSTOMER_PREFIX: &str = "CUSTOMER#";
const PERSON_PREFIX: &str = "PERSON#";
const DEFINITION_PREFIX: &str = "FIELDDEF#";
const IDEMPOTENCY_PREFIX: &str = "IDEMPOTENCY#";

/// `CUSTOMER#<customerId>`: the partition of everything a customer owns.
pub fn customer_key(customer: CustomerId) -> String {
    format!("{CUSTOMER_PREFIX}{}", customer.0)
}

/// The customer id of a partition key, as its digits (1 to 19 of them); `None` for anything
/// that is not one.
pub fn parse_customer_key(pk: &str) -> Option<&str> {
    let digits = pk.strip_prefix(CUSTOMER_PREFIX)?;
    (!digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

/// The pattern (a regular expression) of every partition key: `CUSTOMER#` and 1 to 19
/// digits, as [`parse_customer_key`] reads it.
pub fn customer_key_pattern() -> String {
    format!("^{CUSTOMER_PREFIX}[0-9]{{1,19}}$")
}

/// The pattern of a person's sort key whose id matches `id_pattern` (unanchored).
pub fn person_key_pattern(id_pattern: &str) -> String {
    format!("^{PERSON_PREFIX}{id_pattern}$")
}

/// `PERSON#<personId>`.
pub fn person_key(person: impl fmt::Display) -> String {
    format!("{PERSON_PREFIX}{person}")
}

/// The person id of a sort key, as written; `None` for another kind of item.
pub fn parse_person_key(sk: &str) -> Option<&str> {
    sk.strip_prefix(PERSON_PREFIX)
}

/// `FIELDDEF#<definitionId>`.
pub fn definition_key(definition: i64) -> String {
    format!("{DEFINITION_PREFIX}{definition}")
}

/// The prefix every definition's sort key starts with (for a `begins_with` query).
pub fn definition_key_prefix() -> &'static str {
    DEFINITION_PREFIX
}

/// The definition id of a sort key; `None` for another kind of item.
pub fn parse_definition_key(sk: &str) -> Option<i64> {
    sk.strip_prefix(DEFINITION_PREFIX)?.parse().ok()
}

/// `IDEMPOTENCY#<hash>`, `hash` being the hex SHA-256 of the principal and the key.
pub fn idempotency_key(hash: &str) -> String {
    format!("{IDEMPOTENCY_PREFIX}{hash}")
}

/// The prefix every idempotency record's sort key starts with.
pub fn idempotency_key_prefix() -> &'static str {
    IDEMPOTENCY_PREFIX
}

/// A person's attributes the function maintains. Another system writing persons may set
/// `createdAt`; the others are the function's alone.
pub mod person {
    /// RFC 3339 UTC time of the last update, set on every update.
    pub const UPDATED_AT: &str = "updatedAt";
    /// RFC 3339 UTC time the record was created; never touched by a patch.
    pub const CREATED_AT: &str = "createdAt";
    /// A counter raised by one on every update; the record's ETag.
    pub const VERSION: &str = "version";
    /// The principal (API client id) that made the last update.
    pub const UPDATED_BY: &str = "updatedBy";
    /// A random id of the request that made the last update: a retried `UpdateItem` whose
    /// first attempt committed finds its own id here and is known to be applied already.
    pub const LAST_WRITE_ID: &str = "lastWriteId";
}

/// Attributes the function maintains itself; a field table may never name one of them.
pub const SERVICE_ATTRIBUTES: &[&str] = &[
    PARTITION_KEY,
    SORT_KEY,
    person::UPDATED_AT,
    person::CREATED_AT,
    person::VERSION,
    person::UPDATED_BY,
    person::LAST_WRITE_ID,
];

/// How `updatedAt` (and `createdAt`) are written: RFC 3339 UTC with milliseconds, e.g.
/// `2026-11-23T10:00:00.123Z`, so two updates in one second still differ and text order is
/// time order.
pub fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Whether `text` has the shape [`timestamp`] writes (so its text order is time order).
pub fn is_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 24
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            23 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

/// A custom field definition's attributes.
pub mod definition {
    /// The field's type name (`text`, `list`, `boolean`, …).
    pub const TYPE: &str = "type";
    /// A `list` field's allowed values, a list (or string set) of strings.
    pub const OPTIONS: &str = "options";
    /// `true` when callers may not set the field.
    pub const READ_ONLY: &str = "readOnly";
}

/// An `Idempotency-Key` record's attributes and states.
pub mod idempotency {
    /// `running`, `done` or `released`.
    pub const STATE: &str = "state";
    /// What identifies the request the key was first used for.
    pub const FINGERPRINT: &str = "fingerprint";
    /// The claimant's random id: only it finishes the record.
    pub const CLAIM: &str = "claimId";
    /// Epoch seconds until which a running claim blocks the key.
    pub const LOCKED_UNTIL: &str = "lockedUntil";
    /// The write id the person's update under this key stamps (its `lastWriteId`): the first
    /// claimant's id, kept by a claimant that takes over an abandoned claim, so that either
    /// can recognise the other's write. Removed when the key is released.
    pub const CLAIM_WRITE_ID: &str = "writeId";
    /// Epoch milliseconds of the claim that drew [`CLAIM_WRITE_ID`]: no write of it can be
    /// older.
    pub const CLAIMED_AT: &str = "claimedAt";
    /// The recorded answer: status, replayed headers, body.
    pub const STATUS: &str = "answerStatus";
    pub const HEADERS: &str = "answerHeaders";
    pub const BODY: &str = "answerBody";

    pub const RUNNING: &str = "running";
    pub const DONE: &str = "done";
    pub const RELEASED: &str = "released";

    /// An entry's [`STATE`], parsed once where it is read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum EntryState {
        Running,
        Done,
        Released,
    }

    impl EntryState {
        /// The state a stored value names; `None` for anything else.
        pub fn parse(stored: &str) -> Option<EntryState> {
            match stored {
                RUNNING => Some(EntryState::Running),
                DONE => Some(EntryState::Done),
                RELEASED => Some(EntryState::Released),
                _ => None,
            }
        }

        /// The stored value.
        pub fn as_str(self) -> &'static str {
            match self {
                EntryState::Running => RUNNING,
                EntryState::Done => DONE,
                EntryState::Released => RELEASED,
            }
        }
    }
}

/// The table's TTL attribute (epoch seconds); only idempotency records carry it.
pub const EXPIRES_AT: &str = "expiresAt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(customer_key(CustomerId(14532)), "CUSTOMER#14532");
        assert_eq!(parse_customer_key("CUSTOMER#14532"), Some("14532"));
        assert_eq!(person_key(16), "PERSON#16");
        assert_eq!(parse_person_key("PERSON#16"), Some("16"));
        assert_eq!(definition_key(1001), "FIELDDEF#1001");
        assert_eq!(parse_definition_key("FIELDDEF#1001"), Some(1001));
        assert_eq!(idempotency_key("ab"), "IDEMPOTENCY#ab");
        assert!(idempotency_key("ab").starts_with(idempotency_key_prefix()));
        assert!(definition_key(7).starts_with(definition_key_prefix()));
    }

    #[test]
    fn timestamp_shape() {
        let at = time::macros::datetime!(2026-11-23 10:00:00.123 UTC);
        assert!(is_timestamp(&timestamp(at)));
        for not in [
            "",
            "2026-11-23T10:00:00Z",
            "2026-11-23 10:00:00.123Z",
            "2026-11-23T10:00:00.1234",
        ] {
            assert!(!is_timestamp(not), "{not}");
        }
    }

    #[test]
    fn timestamps() {
        let at = time::macros::datetime!(2026-11-23 09:08:07.123 UTC);
        assert_eq!(timestamp(at), "2026-11-23T09:08:07.123Z");
    }

    #[test]
    fn parsers_refuse_other_items() {
        for pk in [
            "CUSTOMER#",
            "CUSTOMER#x",
            "CUSTOMER#-1",
            "CUSTOMER#12345678901234567890",
            "PERSON#1",
        ] {
            assert_eq!(parse_customer_key(pk), None, "{pk}");
        }
        assert_eq!(parse_person_key("FIELDDEF#1"), None);
        assert_eq!(parse_definition_key("PERSON#1"), None);
        assert_eq!(parse_definition_key("FIELDDEF#x"), None);
    }
}
