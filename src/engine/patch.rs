//! A validated partial update: which stored attributes to set or remove.

/// A value as DynamoDB stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string (`S`).
    S(String),
    /// A number (`N`), in canonical decimal form.
    N(String),
    /// A boolean (`BOOL`).
    Bool(bool),
    /// A map (`M`), in key order.
    Map(Vec<(String, Value)>),
}

/// What a change writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A top-level attribute named by a field table.
    Attribute(&'static str),
    /// One entry of a map attribute (a custom field inside its container), keyed by a
    /// validated definition id.
    MapEntry { map: &'static str, key: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Set(Value),
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub target: Target,
    pub op: Op,
}

/// A non-empty list of changes, one per target, in the dialect's canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    changes: Vec<Change>,
}

impl Patch {
    /// Builds a patch; `None` when the list is empty or names a target twice, the two things
    /// a single DynamoDB update cannot express.
    pub fn new(changes: Vec<Change>) -> Option<Patch> {
        if changes.is_empty() {
            return None;
        }
        for (i, a) in changes.iter().enumerate() {
            if changes[i + 1..].iter().any(|b| a.target == b.target) {
                return None;
            }
        }
        Some(Patch { changes })
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Stored attribute names this patch touches, for logs (names only, never values).
    pub fn touched_attributes(&self) -> impl Iterator<Item = String> + '_ {
        self.changes.iter().map(|c| match &c.target {
            Target::Attribute(name) => (*name).to_owned(),
            Target::MapEntry { map, key } => format!("{map}.{key}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_and_repeated_targets() {
        assert!(Patch::new(vec![]).is_none());
        let c = Change {
            target: Target::Attribute("title"),
            op: Op::Remove,
        };
        assert!(Patch::new(vec![c.clone(), c.clone()]).is_none());
        assert!(Patch::new(vec![c]).is_some());
    }
}
