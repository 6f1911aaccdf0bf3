//! Getting persons in and out: `import` reads JSON Lines in a dialect's own field names,
//! checks each line with the same field tables and custom field definitions a PATCH uses, and
//! creates the persons (never overwriting by default); `export` writes a customer's persons as
//! JSON Lines in a dialect's answer form. Both stream: memory stays flat whatever the size.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value as Json};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::dialect::{Dialect, PersonId, DIALECTS};
use crate::engine::json::{self, Json as Document};
use crate::engine::record::{Record, Stored};
use crate::engine::{
    build_update, Definitions, Kind, Op, Patch, Precondition, Stamp, Target, Value,
};
use crate::store::dynamo::DynamoPersonStore;
use crate::store::item::Attributes;
use crate::store::tables::Tables;
use crate::store::{DefinitionStore, PersonKey, PersonStore, Returning, StoreError};
use crate::table::person::{CREATED_AT, LAST_WRITE_ID, UPDATED_AT, UPDATED_BY, VERSION};
use crate::table::{self, CustomerId, SORT_KEY};

use super::AdminError;

/// What an existing person gets from an import line with its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Left as it is (the default: an import never overwrites).
    Skip,
    /// The line is rejected.
    Fail,
    /// The line is applied as a PATCH would apply it (`version` + 1).
    Update,
}

/// The principal stamped as `updatedBy` on what an import writes.
pub const IMPORT_PRINCIPAL: &str = "person-patch-admin import";

/// How an import ended, line by line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub created: usize,
    pub skipped: usize,
    pub updated: usize,
    pub rejected: usize,
}

impl Tally {
    pub fn lines(&self) -> usize {
        self.created + self.skipped + self.updated + self.rejected
    }
}

/// A line that was not imported: where, which person, and every error as a PATCH would
/// report it (`{"<property>": ["message", …]}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub line: usize,
    pub id: Option<String>,
    pub errors: Json,
}

impl Rejected {
    pub fn to_json(&self) -> Json {
        json!({"line": self.line, "id": self.id, "errors": self.errors})
    }
}

/// What the import is asked to do.
pub struct Import {
    pub customer: CustomerId,
    pub dialect: &'static Dialect,
    pub existing: Existing,
    /// Writes in flight at once.
    pub concurrency: usize,
}

/// How one line ended.
enum Outcome {
    Created,
    Skipped,
    Updated,
    Rejected(Rejected),
}

/// Imports every line of `lines`. `progress` is told the tally after each line, `rejected`
/// each refused line. A line that cannot be imported never stops the run; a table that cannot
/// be reached, or credentials that are refused, stop it at once.
pub async fn import(
    tables: &Tables,
    request: &Import,
    lines: impl BufRead,
    mut progress: impl FnMut(&Tally),
    mut rejected: impl FnMut(&Rejected),
) -> Result<Tally, AdminError> {
    let store = tables.persons();
    // Reading the definitions first also proves the table and the credentials.
    let definitions = store
        .field_definitions(request.customer)
        .await
        .map_err(|e| {
            format!(
                "cannot read the persons table {}: {e}",
                tables.persons_table()
            )
        })?;
    let context = Arc::new(LineContext {
        store,
        customer: request.customer,
        dialect: request.dialect,
        existing: request.existing,
        definitions,
        today: OffsetDateTime::now_utc(),
    });
    let mut tally = Tally::default();
    let mut running: JoinSet<Result<Outcome, AdminError>> = JoinSet::new();
    let mut record = |outcome: Outcome, tally: &mut Tally| {
        match outcome {
            Outcome::Created => tally.created += 1,
            Outcome::Skipped => tally.skipped += 1,
            Outcome::Updated => tally.updated += 1,
            Outcome::Rejected(line) => {
                tally.rejected += 1;
                rejected(&line);
            }
        }
        progress(tally);
    };
    for (index, line) in lines.lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read line {}: {e}", index + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        while running.len() >= request.concurrency.max(1) {
            if let Some(done) = running.join_next().await {
                record(done.map_err(|e| e.to_string())??, &mut tally);
            }
        }
        let context = Arc::clone(&context);
        running.spawn(async move { context.import_line(index + 1, &line).await });
    }
    while let Some(done) = running.join_next().await {
        record(done.map_err(|e| e.to_string())??, &mut tally);
    }
    Ok(tally)
}

/// What every line of one import shares.
struct LineContext {
    store: DynamoPersonStore,
    customer: CustomerId,
    dialect: &'static Dialect,
    existing: Existing,
    definitions: Arc<Definitions>,
    today: OffsetDateTime,
}

impl LineContext {
    async fn import_line(&self, line: usize, text: &str) -> Result<Outcome, AdminError> {
        let (person, patch) = match self.parse_line(text) {
            Ok(parsed) => parsed,
            Err((id, errors)) => return Ok(Outcome::Rejected(Rejected { line, id, errors })),
        };
        let key = PersonKey::new(self.customer, person);
        if self.create(&key, &patch).await? {
            return Ok(Outcome::Created);
        }
        match self.existing {
            Existing::Skip => Ok(Outcome::Skipped),
            Existing::Fail => Ok(Outcome::Rejected(Rejected {
                line,
                id: Some(person.to_string()),
                errors: error_at(self.dialect.id_attribute, "A person with this id exists."),
            })),
            Existing::Update => self.update(line, &key, &patch).await,
        }
    }

    /// The line's person id and its fields as a patch, or its id (if readable) and errors.
    fn parse_line(&self, text: &str) -> Result<(PersonId, Patch), (Option<String>, Json)> {
        let document = json::parse(text.as_bytes()).map_err(|e| {
            (
                None,
                error_at("$", &format!("The line is not valid JSON: {e}.")),
            )
        })?;
        let Document::Object(mut members) = document else {
            return Err((None, error_at("$", "The line must be a JSON object.")));
        };
        let id_name = self.dialect.id_attribute;
        let position = members
            .iter()
            .position(|(name, _)| name.eq_ignore_ascii_case(id_name));
        let id_value = position.map(|at| members.remove(at).1);
        let id_text = match &id_value {
            Some(Document::String(s)) => Some(s.clone()),
            Some(Document::Number(n)) => n.integer().map(|n| n.to_string()),
            _ => None,
        };
        let person = id_text
            .as_deref()
            .and_then(|id| self.dialect.id_format.parse(id).ok())
            .ok_or_else(|| {
                let message = match self.dialect.id_format {
                    crate::dialect::IdFormat::Uuid => "The id is required: a UUID.",
                    crate::dialect::IdFormat::PositiveInt32 => {
                        "The ID is required: an integer from 1 to 2147483647."
                    }
                };
                (id_text.clone(), error_at(id_name, message))
            })?;
        let id = Some(person.to_string());
        let body = Document::Object(members);
        crate::engine::validate(&self.dialect.fields, &body, self.today.date())
            .and_then(|draft| draft.finish(&self.definitions))
            .map(|patch| (person, patch))
            .map_err(|rejection| (id, rejection_errors(&rejection)))
    }

    /// Puts the person if there is none with its id; `false` when there is one.
    async fn create(&self, key: &PersonKey, patch: &Patch) -> Result<bool, AdminError> {
        let write_id = uuid::Uuid::new_v4().simple().to_string();
        let attributes = new_person(self.dialect, key, patch, self.today, &write_id);
        self.store
            .create_person(key, attributes)
            .await
            .map_err(|e| format!("writing a person failed: {e}").into())
    }

    /// The line applied to the existing person as a PATCH would apply it.
    async fn update(
        &self,
        line: usize,
        key: &PersonKey,
        patch: &Patch,
    ) -> Result<Outcome, AdminError> {
        let updated_at = table::timestamp(OffsetDateTime::now_utc());
        let write_id = uuid::Uuid::new_v4().simple().to_string();
        let stamp = Stamp {
            updated_at: &updated_at,
            updated_by: IMPORT_PRINCIPAL,
            write_id: &write_id,
        };
        let plan = build_update(patch, &stamp, &Precondition::Exists);
        match self
            .store
            .update_person(key, plan, Returning::Changes)
            .await
        {
            Ok(_) => Ok(Outcome::Updated),
            Err(StoreError::ForeignType(attribute)) => Ok(Outcome::Rejected(Rejected {
                line,
                id: Some(key.person.to_string()),
                errors: error_at(
                    attribute,
                    "The stored attribute has a type this tool cannot update.",
                ),
            })),
            Err(StoreError::RecordTooLarge) => Ok(Outcome::Rejected(Rejected {
                line,
                id: Some(key.person.to_string()),
                errors: error_at("$", "The person would exceed DynamoDB's 400 KB item size."),
            })),
            Err(error) => Err(format!("updating person {} failed: {error}", key.person).into()),
        }
    }
}

/// One error at `property`, as a PATCH reports errors.
fn error_at(property: &str, message: &str) -> Json {
    let mut errors = Map::new();
    errors.insert(property.to_owned(), json!([message]));
    Json::Object(errors)
}

/// A rejection's errors as a PATCH reports them: property → messages.
fn rejection_errors(rejection: &crate::engine::Rejection) -> Json {
    let mut errors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for error in &rejection.errors {
        errors
            .entry(error.property.as_str())
            .or_default()
            .push(error.message.as_str());
    }
    json!(errors)
}

/// A new person's attributes: id, the patch's values, and the attributes the function keeps.
fn new_person(
    dialect: &Dialect,
    key: &PersonKey,
    patch: &Patch,
    now: OffsetDateTime,
    write_id: &str,
) -> Attributes {
    let s = |v: &str| Value::S(v.to_owned());
    let id = match dialect.id_format {
        crate::dialect::IdFormat::Uuid => s(&key.person),
        crate::dialect::IdFormat::PositiveInt32 => Value::N(key.person.clone()),
    };
    let stamp = table::timestamp(now);
    let mut attributes = Attributes::from([
        (dialect.id_attribute.to_owned(), id),
        (CREATED_AT.to_owned(), s(&stamp)),
        (UPDATED_AT.to_owned(), s(&stamp)),
        (UPDATED_BY.to_owned(), s(IMPORT_PRINCIPAL)),
        (LAST_WRITE_ID.to_owned(), s(write_id)),
        (VERSION.to_owned(), Value::N("1".into())),
    ]);
    let mut maps: HashMap<&str, BTreeMap<String, Value>> = HashMap::new();
    for change in patch.changes() {
        match (&change.target, &change.op) {
            (Target::Attribute(name), Op::Set(value)) => {
                attributes.insert((*name).to_owned(), value.clone());
            }
            (Target::MapEntry { map, key }, Op::Set(value)) => {
                maps.entry(map)
                    .or_default()
                    .insert(key.to_string(), value.clone());
            }
            (_, Op::Remove) => {}
        }
    }
    for field in dialect.fields.fields {
        if let Kind::CustomFields = field.kind {
            let entries = maps.remove(field.attribute).unwrap_or_default();
            attributes.insert(
                field.attribute.to_owned(),
                Value::Map(entries.into_iter().collect()),
            );
        }
    }
    attributes
}

/// Exports `customer`'s persons (of `dialect` only, if given) to `out` as JSON Lines, in sort
/// key order; `progress` is told the count after each. Returns how many were written.
pub async fn export(
    tables: &Tables,
    customer: CustomerId,
    dialect: Option<&'static Dialect>,
    mut out: impl Write,
    mut progress: impl FnMut(usize),
) -> Result<usize, AdminError> {
    let store = tables.persons();
    let mut written = 0;
    let mut start = None;
    loop {
        let page = store.persons_page(customer, start).await.map_err(|e| {
            format!(
                "cannot read the persons table {}: {e}",
                tables.persons_table()
            )
        })?;
        for record in &page.records {
            if let Some(line) = export_line(record, dialect) {
                writeln!(out, "{line}")?;
                written += 1;
                progress(written);
            }
        }
        match page.next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// One stored person as its dialect's line: Persons v2 as its `200` answer, Contacts v1 as the
/// fields a PATCH takes (absent ones left out; custom fields as `{definitionId, value}` in
/// id order). `None` for an item of another dialect, or one whose keys are not a person's.
fn export_line(record: &Record, only: Option<&Dialect>) -> Option<Json> {
    let sk = match record.get(SORT_KEY) {
        Some(Stored::Value(Value::S(sk))) => sk,
        _ => return None,
    };
    let id_text = table::parse_person_key(sk)?;
    let (dialect, person) = DIALECTS
        .iter()
        .find_map(|d| d.id_format.parse(id_text).ok().map(|id| (*d, id)))?;
    if only.is_some_and(|o| o.name != dialect.name) {
        return None;
    }
    if let crate::dialect::Success::Record = dialect.success {
        return Some(dialect.render_record(person, record));
    }
    let mut line = Map::new();
    line.insert(dialect.id_attribute.into(), json!(person.to_string()));
    for field in dialect.fields.fields {
        let Some(stored) = record.get(field.attribute) else {
            continue;
        };
        let value = match (field.kind, stored) {
            (Kind::CustomFields, Stored::Map(entries)) => custom_entries(entries),
            (Kind::CustomFields, _) => continue,
            (kind, stored) => dialect.render_stored(kind, stored),
        };
        line.insert(field.name.into(), value);
    }
    Some(Json::Object(line))
}

/// A stored custom fields map as the entries a PATCH sends, by definition id.
fn custom_entries(entries: &BTreeMap<String, Stored>) -> Json {
    let mut sorted: Vec<(i64, Json)> = entries
        .iter()
        .filter_map(|(id, stored)| {
            let id = id.parse::<i64>().ok()?;
            match stored {
                Stored::Value(Value::S(s)) => Some((id, json!(s))),
                _ => None,
            }
        })
        .collect();
    sorted.sort_by_key(|(id, _)| *id);
    Json::Array(
        sorted
            .into_iter()
            .map(|(id, value)| json!({"definitionId": id, "value": value}))
            .collect(),
    )
}

/// How often plain progress lines are written when the output is not a terminal.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(2);

/// Progress as people expect it: a bar with counts, rate and ETA on a terminal, a plain line
/// every [`PROGRESS_INTERVAL`] otherwise; one summary line at the end either way.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    label: &'static str,
    started: std::time::Instant,
    last_line: std::time::Instant,
}

impl Progress {
    /// A display for work of `total` units (bytes of the input, say), or of unknown size.
    pub fn new(label: &'static str, total: Option<u64>) -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total).with_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {percent}% {per_sec} eta {eta} {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                ),
                None => indicatif::ProgressBar::new_spinner().with_style(
                    indicatif::ProgressStyle::with_template("{prefix} {spinner} {elapsed} {msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                ),
            };
            bar.set_prefix(label);
            bar
        });
        let now = std::time::Instant::now();
        Progress {
            bar,
            label,
            started: now,
            last_line: now,
        }
    }

    /// `done` units so far, and what to say of them (counts, never values).
    pub fn update(&mut self, done: u64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(message.to_owned());
            }
            None if self.last_line.elapsed() >= PROGRESS_INTERVAL => {
                self.last_line = std::time::Instant::now();
                eprintln!(
                    "{}: {message} ({:.0} s)",
                    self.label,
                    self.started.elapsed().as_secs_f64()
                );
            }
            None => {}
        }
    }

    /// Clears the bar and prints the summary line.
    pub fn finish(self, summary: &str) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        println!(
            "{}: {summary} in {:.1} s",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
    }
}

/// A reader that counts the bytes read through it (for the progress of a streamed file).
pub struct Counting<R> {
    inner: R,
    read: Arc<std::sync::atomic::AtomicU64>,
}

impl<R> Counting<R> {
    pub fn new(inner: R) -> (Counting<R>, Arc<std::sync::atomic::AtomicU64>) {
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        (
            Counting {
                inner,
                read: Arc::clone(&read),
            },
            read,
        )
    }
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// The tally as a progress message and a summary.
pub fn describe(tally: &Tally) -> String {
    format!(
        "{} lines: {} created, {} skipped, {} updated, {} rejected",
        tally.lines(),
        tally.created,
        tally.skipped,
        tally.updated,
        tally.rejected
    )
}
