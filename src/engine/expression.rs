//! Patch → one DynamoDB `UpdateItem`'s expressions, as a pure function.
//!
//! Every attribute name goes through a `#name` placeholder and every value through a `:value`
//! placeholder, so no reserved word or user-supplied text ever lands in an expression. The
//! output is deterministic: the same patch gives the same strings, placeholder for placeholder.

use super::patch::{Change, Op, Patch, Target, Value};
use crate::table::person::{LAST_WRITE_ID, UPDATED_AT, UPDATED_BY, VERSION};
use crate::table::PARTITION_KEY;

/// What every update stamps on the record besides the patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp<'a> {
    /// RFC 3339 UTC time of the update.
    pub updated_at: &'a str,
    /// The principal making it.
    pub updated_by: &'a str,
    /// The request's write id: unique per request, the same for every attempt of it.
    pub write_id: &'a str,
}

/// The most versions one `If-Match` may list (DynamoDB's `IN` takes at most 100 operands).
pub const MAX_MATCHED_VERSIONS: usize = 100;

/// What must hold of the stored item for the update to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The item exists (a patch never creates a record).
    Exists,
    /// The item exists and its `version` is one of these (`If-Match`); 1 to
    /// [`MAX_MATCHED_VERSIONS`] of them.
    VersionIn(Vec<u64>),
    /// The item exists and has no `version` (it was stored by another tool).
    Unversioned,
}

impl Precondition {
    /// Whether a record at `version` meets it.
    pub fn allows(&self, version: u64) -> bool {
        match self {
            Precondition::Exists => true,
            Precondition::VersionIn(versions) => versions.contains(&version),
            Precondition::Unversioned => false,
        }
    }
}

/// The expressions and placeholder maps of one `UpdateItem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    pub update_expression: String,
    pub condition_expression: String,
    /// `#placeholder` → attribute name, in placeholder order.
    pub names: Vec<(String, String)>,
    /// `:placeholder` → value, in placeholder order.
    pub values: Vec<(String, Value)>,
    /// The plan to apply instead when a map this one writes entries into is missing from the
    /// item (a record written by another tool): it creates those maps whole. `None` when the
    /// patch writes no map entries.
    pub fallback: Option<Box<UpdatePlan>>,
    /// The maps this plan creates whole (set on fallback plans only).
    pub creates_maps: Vec<&'static str>,
    /// The write id the plan stamps (see [`LAST_WRITE_ID`]).
    pub write_id: String,
    /// The fence of a keyed write ([`UpdatePlan::fenced`]): the update applies only while the
    /// item's `updatedAt` is older than it. A fenced update is sent again only after DynamoDB
    /// answered that it applied nothing (see [`crate::store::persons`]).
    pub fence: Option<String>,
}

impl UpdatePlan {
    /// The plan (and its fallback), applying only while the item's `updatedAt` is older than
    /// `fence`: a sending that lands after anyone wrote the item at or past the fence applies
    /// nothing. Keyed writes are fenced at their claim's lock end (the rules are
    /// [`crate::http::idempotency`]'s). An `updatedAt` of another type than text never
    /// compares, so it does not fence.
    pub fn fenced(mut self, fence: &str) -> UpdatePlan {
        if !self
            .names
            .iter()
            .any(|(placeholder, _)| placeholder == "#updatedAt")
        {
            self.names.push(("#updatedAt".into(), UPDATED_AT.into()));
        }
        self.values
            .push((":fence".into(), Value::S(fence.to_owned())));
        self.condition_expression
            .push_str(" AND NOT (#updatedAt >= :fence)");
        self.fence = Some(fence.to_owned());
        self.fallback = self.fallback.map(|f| Box::new(f.fenced(fence)));
        self
    }
}

/// Builds the update for `patch`: stamps `updatedAt`, `updatedBy` and the write id, raises
/// `version`, and applies only if the item exists, meets `precondition` and does not already
/// carry this write id (a retry of an attempt that committed fails that condition, and the
/// store tells it from a real conflict by the id on the item).
pub fn build_update(patch: &Patch, stamp: &Stamp<'_>, precondition: &Precondition) -> UpdatePlan {
    let mut plan = build(patch.changes(), stamp, precondition, &[]);
    let maps = maps_written(patch.changes());
    if !maps.is_empty() {
        let mut fallback_changes: Vec<Change> = patch
            .changes()
            .iter()
            .filter(|c| matches!(c.target, Target::Attribute(_)))
            .cloned()
            .collect();
        for map in &maps {
            let entries: Vec<(String, Value)> = patch
                .changes()
                .iter()
                .filter_map(|c| match (&c.target, &c.op) {
                    (Target::MapEntry { map: m, key }, Op::Set(value)) if m == map => {
                        Some((key.to_string(), value.clone()))
                    }
                    _ => None,
                })
                .collect();
            fallback_changes.push(Change {
                target: Target::Attribute(map),
                op: Op::Set(Value::Map(entries)),
            });
        }
        plan.fallback = Some(Box::new(build(
            &fallback_changes,
            stamp,
            precondition,
            &maps,
        )));
    }
    plan
}

/// The map attributes a list of changes writes entries into, in first-use order.
fn maps_written(changes: &[Change]) -> Vec<&'static str> {
    let mut maps: Vec<&'static str> = Vec::new();
    for change in changes {
        if let Target::MapEntry { map, .. } = change.target {
            if !maps.contains(&map) {
                maps.push(map);
            }
        }
    }
    maps
}

/// One plan: `creates_maps` are maps set whole, which must be missing or `NULL` (a `NULL`
/// holds no data, so replacing it loses nothing; boto3 writes Python's `None` so).
fn build(
    changes: &[Change],
    stamp: &Stamp<'_>,
    precondition: &Precondition,
    creates_maps: &[&'static str],
) -> UpdatePlan {
    let mut parts = Parts::default();
    for (i, change) in changes.iter().enumerate() {
        parts.change(i, change);
    }
    parts.stamp(stamp);
    let update_expression = parts.update_expression();
    let condition_expression = parts.condition_expression(precondition, creates_maps);
    UpdatePlan {
        update_expression,
        condition_expression,
        names: parts.names,
        values: parts.values,
        fallback: None,
        creates_maps: creates_maps.to_vec(),
        write_id: stamp.write_id.to_owned(),
        fence: None,
    }
}

/// An update's expressions as they are built: placeholders in order of first use, `SET` and
/// `REMOVE` clauses.
#[derive(Default)]
struct Parts {
    names: Vec<(String, String)>,
    values: Vec<(String, Value)>,
    sets: Vec<String>,
    removes: Vec<String>,
    /// The maps written into, in first-use order (`#m0`, `#m1`, …).
    maps: Vec<&'static str>,
}

impl Parts {
    /// The clause of change `i`.
    fn change(&mut self, i: usize, change: &Change) {
        let path = match &change.target {
            Target::Attribute(attribute) => {
                let name = format!("#a{i}");
                self.names.push((name.clone(), (*attribute).to_owned()));
                name
            }
            Target::MapEntry { map, key } => {
                let map_index = match self.maps.iter().position(|m| m == map) {
                    Some(index) => index,
                    None => {
                        self.maps.push(map);
                        let index = self.maps.len() - 1;
                        self.names.push((format!("#m{index}"), (*map).to_owned()));
                        index
                    }
                };
                let key_name = format!("#k{i}");
                self.names.push((key_name.clone(), key.to_string()));
                format!("#m{map_index}.{key_name}")
            }
        };
        match &change.op {
            Op::Set(value) => {
                let placeholder = format!(":a{i}");
                self.sets.push(format!("{path} = {placeholder}"));
                self.values.push((placeholder, value.clone()));
            }
            Op::Remove => self.removes.push(path),
        }
    }

    /// What every update sets besides the patch: `updatedAt`, `updatedBy`, the write id, and
    /// `version` raised by one.
    fn stamp(&mut self, stamp: &Stamp<'_>) {
        for (placeholder, attribute, value) in [
            ("updatedAt", UPDATED_AT, stamp.updated_at),
            ("updatedBy", UPDATED_BY, stamp.updated_by),
            ("writeId", LAST_WRITE_ID, stamp.write_id),
        ] {
            self.names
                .push((format!("#{placeholder}"), attribute.into()));
            self.values
                .push((format!(":{placeholder}"), Value::S(value.to_owned())));
            self.sets.push(format!("#{placeholder} = :{placeholder}"));
        }
        self.names.push(("#version".into(), VERSION.into()));
        self.values.push((":zero".into(), Value::N("0".into())));
        self.values.push((":one".into(), Value::N("1".into())));
        self.sets
            .push("#version = if_not_exists(#version, :zero) + :one".into());
    }

    fn update_expression(&self) -> String {
        let mut expression = format!("SET {}", self.sets.join(", "));
        if !self.removes.is_empty() {
            expression.push_str(" REMOVE ");
            expression.push_str(&self.removes.join(", "));
        }
        expression
    }

    /// The item exists, meets `precondition`, does not carry this write id yet, and holds
    /// none of `creates_maps` (or holds them as `NULL`).
    fn condition_expression(
        &mut self,
        precondition: &Precondition,
        creates_maps: &[&'static str],
    ) -> String {
        self.names.push(("#pk".into(), PARTITION_KEY.into()));
        let mut condition = match precondition {
            Precondition::VersionIn(versions) if !versions.is_empty() => {
                let mut placeholders = Vec::with_capacity(versions.len());
                for (i, version) in versions.iter().take(MAX_MATCHED_VERSIONS).enumerate() {
                    let placeholder = format!(":m{i}");
                    self.values
                        .push((placeholder.clone(), Value::N(version.to_string())));
                    placeholders.push(placeholder);
                }
                match placeholders.as_slice() {
                    [one] => format!("attribute_exists(#pk) AND #version = {one}"),
                    many => format!(
                        "attribute_exists(#pk) AND #version IN ({})",
                        many.join(", ")
                    ),
                }
            }
            Precondition::Unversioned => {
                "attribute_exists(#pk) AND attribute_not_exists(#version)".to_owned()
            }
            _ => "attribute_exists(#pk)".to_owned(),
        };
        condition.push_str(" AND (attribute_not_exists(#writeId) OR #writeId <> :writeId)");
        let mut null_type = false;
        for map in creates_maps {
            // The map is also set in this expression, under the name its change was given.
            if let Some((placeholder, _)) = self.names.iter().find(|(_, name)| name == map) {
                condition.push_str(&format!(
                    " AND (attribute_not_exists({placeholder}) OR attribute_type({placeholder}, :null))"
                ));
                null_type = true;
            }
        }
        if null_type {
            self.values.push((":null".into(), Value::S("NULL".into())));
        }
        condition
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STAMP: Stamp<'static> = Stamp {
        updated_at: "2026-11-23T10:00:00Z",
        updated_by: "client",
        write_id: "w1",
    };

    fn set(attribute: &'static str, v: &str) -> Change {
        Change {
            target: Target::Attribute(attribute),
            op: Op::Set(Value::S(v.into())),
        }
    }

    fn remove(attribute: &'static str) -> Change {
        Change {
            target: Target::Attribute(attribute),
            op: Op::Remove,
        }
    }

    #[test]
    fn a_fenced_plan_applies_only_below_its_fence() {
        let patch = Patch::new(vec![set("forename", "Ada")]).unwrap();
        let plan = build_update(&patch, &STAMP, &Precondition::Exists).fenced("F");
        assert_eq!(
            plan.condition_expression,
            "attribute_exists(#pk) AND (attribute_not_exists(#writeId) OR #writeId <> :writeId) \
             AND NOT (#updatedAt >= :fence)"
        );
        assert_eq!(plan.fence.as_deref(), Some("F"));
        assert_eq!(
            plan.values.last(),
            Some(&(":fence".to_owned(), Value::S("F".into())))
        );
        let unfenced = build_update(&patch, &STAMP, &Precondition::Exists);
        assert_eq!(unfenced.fence, None);
        assert!(!unfenced.condition_expression.contains(":fence"));
    }

    #[test]
    fn sets_removes_stamps_and_conditions() {
        let patch = Patch::new(vec![set("forename", "Ada"), remove("title")]).unwrap();
        let plan = build_update(&patch, &STAMP, &Precondition::Exists);
        assert_eq!(
            plan.update_expression,
            "SET #a0 = :a0, #updatedAt = :updatedAt, #updatedBy = :updatedBy, \
             #writeId = :writeId, #version = if_not_exists(#version, :zero) + :one REMOVE #a1"
        );
        assert_eq!(
            plan.condition_expression,
            "attribute_exists(#pk) AND (attribute_not_exists(#writeId) OR #writeId <> :writeId)"
        );
        assert_eq!(
            plan.names,
            [
                ("#a0", "forename"),
                ("#a1", "title"),
                ("#updatedAt", "updatedAt"),
                ("#updatedBy", "updatedBy"),
                ("#writeId", "lastWriteId"),
                ("#version", "version"),
                ("#pk", "pk")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        assert_eq!(
            plan.values,
            vec![
                (":a0".to_owned(), Value::S("Ada".into())),
                (
                    ":updatedAt".to_owned(),
                    Value::S("2026-11-23T10:00:00Z".into())
                ),
                (":updatedBy".to_owned(), Value::S("client".into())),
                (":writeId".to_owned(), Value::S("w1".into())),
                (":zero".to_owned(), Value::N("0".into())),
                (":one".to_owned(), Value::N("1".into())),
            ]
        );
    }

    #[test]
    fn version_precondition() {
        let patch = Patch::new(vec![remove("title")]).unwrap();
        let plan = build_update(&patch, &STAMP, &Precondition::VersionIn(vec![7]));
        assert_eq!(
            plan.condition_expression,
            "attribute_exists(#pk) AND #version = :m0 \
             AND (attribute_not_exists(#writeId) OR #writeId <> :writeId)"
        );
        assert!(plan
            .values
            .contains(&(":m0".to_owned(), Value::N("7".into()))));
        let plan = build_update(&patch, &STAMP, &Precondition::VersionIn(vec![7, 9]));
        assert_eq!(
            plan.condition_expression,
            "attribute_exists(#pk) AND #version IN (:m0, :m1) \
             AND (attribute_not_exists(#writeId) OR #writeId <> :writeId)"
        );
    }

    #[test]
    fn unversioned_precondition() {
        let patch = Patch::new(vec![remove("title")]).unwrap();
        let plan = build_update(&patch, &STAMP, &Precondition::Unversioned);
        assert_eq!(
            plan.condition_expression,
            "attribute_exists(#pk) AND attribute_not_exists(#version) \
             AND (attribute_not_exists(#writeId) OR #writeId <> :writeId)"
        );
        assert!(!Precondition::Unversioned.allows(1));
    }

    #[test]
    fn map_entries_share_one_map_name() {
        let patch = Patch::new(vec![
            Change {
                target: Target::MapEntry {
                    map: "customFields",
                    key: 1001,
                },
                op: Op::Set(Value::S("x".into())),
            },
            Change {
                target: Target::MapEntry {
                    map: "customFields",
                    key: 1002,
                },
                op: Op::Remove,
            },
        ])
        .unwrap();
        let plan = build_update(&patch, &STAMP, &Precondition::Exists);
        assert!(plan.update_expression.starts_with("SET #m0.#k0 = :a0,"));
        assert!(plan.update_expression.ends_with("REMOVE #m0.#k1"));
        assert_eq!(
            plan.names
                .iter()
                .filter(|(_, n)| n == "customFields")
                .count(),
            1
        );
        // For an item without the map: create it whole, holding only the set entries, and
        // only if it is still missing (or NULL, which holds nothing).
        let fallback = plan.fallback.expect("a fallback");
        assert_eq!(fallback.creates_maps, vec!["customFields"]);
        assert!(fallback.update_expression.starts_with("SET #a0 = :a0,"));
        assert!(!fallback.update_expression.contains("REMOVE"));
        assert_eq!(
            fallback.condition_expression,
            "attribute_exists(#pk) \
             AND (attribute_not_exists(#writeId) OR #writeId <> :writeId) \
             AND (attribute_not_exists(#a0) OR attribute_type(#a0, :null))"
        );
        assert_eq!(
            fallback.values[0],
            (
                ":a0".to_owned(),
                Value::Map(vec![("1001".to_owned(), Value::S("x".into()))])
            )
        );
    }

    const ATTRIBUTES: &[&str] = &[
        "title",
        "forename",
        "surname",
        "email",
        "mobile",
        "landline",
        "extension",
        "position",
    ];

    fn arb_change() -> impl Strategy<Value = Change> {
        let target = prop_oneof![
            (0..ATTRIBUTES.len()).prop_map(|i| Target::Attribute(ATTRIBUTES[i])),
            (1i64..20).prop_map(|key| Target::MapEntry {
                map: "customFields",
                key
            }),
        ];
        let op = prop_oneof![
            ".{0,8}".prop_map(|s| Op::Set(Value::S(s))),
            any::<i32>().prop_map(|n| Op::Set(Value::N(n.to_string()))),
            any::<bool>().prop_map(|b| Op::Set(Value::Bool(b))),
            Just(Op::Remove),
        ];
        (target, op).prop_map(|(target, op)| Change { target, op })
    }

    fn arb_patch() -> impl Strategy<Value = Patch> {
        proptest::collection::vec(arb_change(), 1..30).prop_filter_map("unique targets", |mut v| {
            let mut seen = Vec::new();
            v.retain(|c| {
                let fresh = !seen.contains(&c.target);
                seen.push(c.target.clone());
                fresh
            });
            Patch::new(v)
        })
    }

    /// The document paths an update expression writes, with placeholders resolved.
    fn written_paths(plan: &UpdatePlan) -> Vec<Vec<String>> {
        let resolve = |token: &str| -> String {
            plan.names
                .iter()
                .find(|(p, _)| p == token)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| panic!("unaliased name {token}"))
        };
        let (set_part, remove_part) = match plan.update_expression.split_once(" REMOVE ") {
            Some((s, r)) => (s, Some(r)),
            None => (plan.update_expression.as_str(), None),
        };
        let set_part = set_part.strip_prefix("SET #").unwrap();
        let mut paths = Vec::new();
        // Every clause starts with a name placeholder; `, ` alone also occurs inside
        // `if_not_exists(...)`.
        for clause in set_part.split(", #") {
            let (lhs, _) = clause.split_once(" = ").unwrap();
            let lhs = format!("#{lhs}");
            paths.push(lhs.split('.').map(resolve).collect());
        }
        for path in remove_part.into_iter().flat_map(|r| r.split(", ")) {
            assert!(path.starts_with('#'), "unaliased path {path}");
            paths.push(path.split('.').map(resolve).collect());
        }
        paths
    }

    proptest! {
        #[test]
        fn one_clause_per_change_and_no_overlaps(patch in arb_patch()) {
            let plan = build_update(&patch, &STAMP, &Precondition::Exists);
            let paths = written_paths(&plan);
            // Every change, plus updatedAt, updatedBy, the write id and version.
            prop_assert_eq!(paths.len(), patch.changes().len() + 4);
            for (i, a) in paths.iter().enumerate() {
                for b in &paths[i + 1..] {
                    let overlap = a.iter().zip(b.iter()).all(|(x, y)| x == y);
                    prop_assert!(!overlap, "{:?} overlaps {:?}", a, b);
                }
            }
        }

        #[test]
        fn every_placeholder_is_defined_and_used(
            patch in arb_patch(),
            versions in proptest::option::of(proptest::collection::vec(0u64..1000, 1..5)),
        ) {
            let precondition = versions.map_or(Precondition::Exists, Precondition::VersionIn);
            let plan = build_update(&patch, &STAMP, &precondition);
            let text = format!("{} {}", plan.update_expression, plan.condition_expression);
            let tokens: Vec<&str> = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '#' || c == ':' || c == '_'))
                .filter(|t| t.starts_with('#') || t.starts_with(':'))
                .collect();
            for token in &tokens {
                let defined = plan.names.iter().any(|(p, _)| p == token)
                    || plan.values.iter().any(|(p, _)| p == token);
                prop_assert!(defined, "{} is not defined", token);
            }
            let declared = plan
                .names
                .iter()
                .map(|(p, _)| p.as_str())
                .chain(plan.values.iter().map(|(p, _)| p.as_str()));
            for p in declared {
                prop_assert!(tokens.contains(&p), "{} is declared but unused", p);
            }
        }

        #[test]
        fn deterministic(patch in arb_patch()) {
            prop_assert_eq!(
                build_update(&patch, &STAMP, &Precondition::Exists),
                build_update(&patch, &STAMP, &Precondition::Exists)
            );
        }
    }
}
