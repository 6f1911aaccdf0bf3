//! The one rule that tells what a keyed request's write did, from the person as stored: used
//! when a claim is taken over (the earlier claimant's write) and when a request's own update
//! failed without a clear answer.

use std::time::Duration;

use crate::engine::record::{version_of, Record, Stored};
use crate::engine::Value;
use crate::store::{KeyedWrite, Updated};
use crate::table::{self, person};

/// How far clocks of the function's containers may disagree: a person last written this long
/// before a claim may still have been written after it.
const CLOCK_MARGIN: Duration = Duration::from_secs(1);

/// What a keyed write did, as the person shows it.
#[derive(Debug, PartialEq)]
pub enum Settled {
    /// Applied, and still the person's last write: this is what it left.
    Applied(Updated),
    /// Not applied so far: the person was not written since the claim (or is gone). The
    /// person as read, which a carry-out then requires: a sending still in flight that lands
    /// after the read refuses it.
    NotApplied(AsRead),
    /// Perhaps applied, then written over.
    Unknown,
}

/// The person as the read that settled a write found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsRead {
    Absent,
    /// Stored without a numeric `version` (by another tool).
    Unversioned,
    Version(u64),
}

/// What `write` did to `person`: the person carries its write id while it is the last write;
/// a person whose `updatedAt` is older than the claim (less the clocks' margin), or who has
/// none (every update stamps one), was not written since. A missing person was not updated (a
/// PATCH never creates one).
pub fn settle(person: Option<&Record>, write: &KeyedWrite) -> Settled {
    let Some(person) = person else {
        return Settled::NotApplied(AsRead::Absent);
    };
    if let Some(updated) = carried(person, &write.write_id) {
        return Settled::Applied(updated);
    }
    let claimed = write.claimed_at - CLOCK_MARGIN;
    let not_applied =
        Settled::NotApplied(version_of(person).map_or(AsRead::Unversioned, AsRead::Version));
    match person.get(person::UPDATED_AT) {
        None => not_applied,
        Some(Stored::Value(Value::S(at)))
            if table::is_timestamp(at) && *at < table::timestamp(claimed) =>
        {
            not_applied
        }
        Some(_) => Settled::Unknown,
    }
}

/// The update `write_id` made, when it is the person's last write.
pub fn carried(person: &Record, write_id: &str) -> Option<Updated> {
    match person.get(person::LAST_WRITE_ID) {
        Some(Stored::Value(Value::S(id))) if id == write_id => Some(Updated {
            version: version_of(person)?,
            record: person.clone(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(write_id: &str, updated_at: &str) -> Record {
        let text = |v: &str| Stored::Value(Value::S(v.into()));
        Record::from([
            (
                person::VERSION.to_owned(),
                Stored::Value(Value::N("7".into())),
            ),
            (person::LAST_WRITE_ID.to_owned(), text(write_id)),
            (person::UPDATED_AT.to_owned(), text(updated_at)),
        ])
    }

    /// A write claimed at 2026-11-23T10:00:10.000Z.
    fn write() -> KeyedWrite {
        KeyedWrite {
            write_id: "w1".into(),
            claimed_at: time::macros::datetime!(2026-11-23 10:00:10.000 UTC),
        }
    }

    #[test]
    fn the_write_id_tells_an_applied_write() {
        let stored = person("w1", "2026-11-23T10:00:10.500Z");
        let Settled::Applied(updated) = settle(Some(&stored), &write()) else {
            panic!("not recognised")
        };
        assert_eq!(updated.version, 7);
        assert_eq!(updated.record, stored);
    }

    #[test]
    fn a_person_not_written_since_the_claim_was_not_applied() {
        let stored = person("other", "2026-11-23T10:00:08.999Z");
        let at_7 = Settled::NotApplied(AsRead::Version(7));
        assert_eq!(settle(Some(&stored), &write()), at_7);
        assert_eq!(settle(None, &write()), Settled::NotApplied(AsRead::Absent));
        let mut never_updated = stored;
        never_updated.remove(person::UPDATED_AT);
        assert_eq!(settle(Some(&never_updated), &write()), at_7);
        never_updated.remove(person::VERSION);
        assert_eq!(
            settle(Some(&never_updated), &write()),
            Settled::NotApplied(AsRead::Unversioned)
        );
    }

    #[test]
    fn a_person_written_since_the_claim_by_another_is_unknown() {
        for at in [
            "2026-11-23T10:00:09.000Z",
            "2026-11-23T10:00:10.001Z",
            "2026-11-24T00:00:00.000Z",
            "not a time",
        ] {
            let stored = person("other", at);
            assert_eq!(settle(Some(&stored), &write()), Settled::Unknown, "{at}");
        }
    }
}
