//! CSV imports: an HR export in, observations out. Each valid row is an observation of a
//! person from the profile's source (`Engine::observe_many`, in batches), so the `subjects`
//! diff turns it into `person.joined`/`changed`/`left`/`returned` or nothing, and matching
//! playbooks start; the same file twice starts nothing twice.
//!
//! The steps, one file each: `profile` (the `imports:` config compiled), `parse` (CSV bytes →
//! rows with spreadsheet row numbers), `transform` (a row → a Person, or every error with its
//! column), `apply` (batches through the engine, or a dry run's plan, and the stored report),
//! `report` (counts, rows, the CSV export) and `routes` (`POST /api/v1/imports`,
//! `GET /api/v1/imports/{id}`). `roster import` and the API call the same `prepare` →
//! `begin` → `execute`.

mod apply;
mod parse;
mod profile;
mod report;
mod routes;
mod transform;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

pub use profile::Profile;
pub use report::{
    neutralise, CellError, Counts, Outcome, PlaybookOutcome, Report, RowReport, Status,
};
pub use routes::{router, start, Started};

use crate::config::Config;
use crate::engine::{Engine, EngineError};
use crate::playbook::Playbook;
use crate::store::StoreError;

/// What the importer needs: the engine (and its store), the config with the profiles, and the
/// loaded playbooks whose triggers the rows' events are matched against.
#[derive(Clone)]
pub struct ImportDeps {
    pub engine: Arc<Engine>,
    pub config: Arc<Config>,
    pub playbooks: Arc<Vec<Arc<Playbook>>>,
}

/// A failed import, or a file refused as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("no import profile '{name}' in the config (imports:); configured: {known}")]
    UnknownProfile { name: String, known: String },
    #[error("{0}")]
    Profile(String),
    #[error(
        "the file is larger than {limit} bytes, the most profile '{profile}' accepts (max_bytes); \
         split it or raise the limit"
    )]
    TooLarge { profile: String, limit: u64 },
    #[error(
        "the file has more than {limit} rows, the most profile '{profile}' accepts (max_rows); \
         split it or raise the limit"
    )]
    TooManyRows { profile: String, limit: u64 },
    /// The file as a whole cannot be imported (no header, a required column missing); nothing
    /// was stored. Correct the file and upload it again.
    #[error("{message}")]
    File { message: String, details: Value },
    /// The database failed; the rows before the failure are imported and importing the file
    /// again is safe (retrying may help).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The task that parsed or applied the file stopped (a bug, logged); retrying may help.
    #[error("the import task failed: {0}")]
    Task(String),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> ImportError {
        ImportError::Engine(EngineError::Store(e))
    }
}

impl ImportError {
    pub(crate) fn file(message: impl Into<String>, details: Value) -> ImportError {
        ImportError::File {
            message: message.into(),
            details,
        }
    }

    /// Whether the same request may succeed later (a database problem), rather than needing a
    /// different file or config.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ImportError::Engine(_) | ImportError::Task(_))
    }
}

/// What was uploaded, and how.
#[derive(Debug, Clone)]
pub struct Upload {
    pub profile: String,
    pub file_name: Option<String>,
    /// Report what would happen; store nothing.
    pub dry_run: bool,
}

/// A file read and checked, ready to apply: nothing is stored yet.
#[derive(Debug)]
pub struct Prepared {
    pub id: String,
    pub profile: Profile,
    pub file_name: Option<String>,
    pub dry_run: bool,
    pub created_at: i64,
    rows: Vec<PreparedRow>,
}

impl Prepared {
    /// Data rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows.len() as u64
    }

    /// The rows, for a caller that observes them itself (`roster plan --csv`).
    pub fn into_rows(self) -> Vec<PreparedRow> {
        self.rows
    }
}

/// A data row: its spreadsheet row number, its key, and the person or the row's errors.
#[derive(Debug)]
pub struct PreparedRow {
    pub number: u64,
    pub id: Option<String>,
    pub person: Result<Value, Vec<CellError>>,
}

/// The named profile, compiled.
pub fn profile(config: &Config, name: &str) -> Result<Profile, ImportError> {
    let p = config
        .imports
        .get(name)
        .ok_or_else(|| ImportError::UnknownProfile {
            name: name.to_string(),
            known: if config.imports.is_empty() {
                "none".into()
            } else {
                config
                    .imports
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
    Profile::compile(name, p).map_err(ImportError::Profile)
}

/// Reads and checks the file: its size and row count against the profile's limits, its
/// header, and every row (a person, or the row's errors). Stores nothing.
pub fn prepare(profile: Profile, upload: &Upload, bytes: &[u8]) -> Result<Prepared, ImportError> {
    if bytes.len() as u64 > profile.max_bytes {
        return Err(ImportError::TooLarge {
            profile: profile.name.clone(),
            limit: profile.max_bytes,
        });
    }
    let table = parse::read(&profile, bytes)?;
    let key = profile.columns.iter().position(|c| c.is_key);
    let key_position = key.and_then(|k| table.positions[k]);
    let mut first_row: HashMap<String, u64> = HashMap::new();
    let rows = table
        .rows
        .into_iter()
        .map(|raw| {
            let cells = match raw.cells {
                Ok(cells) => cells,
                Err(errors) => {
                    return PreparedRow {
                        number: raw.number,
                        id: None,
                        person: Err(errors),
                    }
                }
            };
            let id = key_position
                .and_then(|i| cells.get(i))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty());
            let person = transform::person(&profile, &table.positions, &cells)
                .and_then(|p| duplicate_check(&profile, &mut first_row, raw.number, p));
            PreparedRow {
                number: raw.number,
                id: match &person {
                    Ok(p) => p.get("id").and_then(Value::as_str).map(String::from),
                    Err(_) => id,
                },
                person,
            }
        })
        .collect();
    Ok(Prepared {
        id: uuid::Uuid::now_v7().to_string(),
        profile,
        file_name: upload.file_name.clone(),
        dry_run: upload.dry_run,
        created_at: crate::clock::now_ms(),
        rows,
    })
}

/// A person appears once per file: a second row with the same key is an error of that row.
fn duplicate_check(
    profile: &Profile,
    first_row: &mut HashMap<String, u64>,
    row: u64,
    person: crate::person::Person,
) -> Result<Value, Vec<CellError>> {
    let id = person.id.clone().unwrap_or_default();
    if let Some(first) = first_row.get(&id) {
        return Err(vec![CellError::column(
            &profile.key,
            format!("'{id}' is also the key of row {first}; a person appears once per file"),
        )]);
    }
    first_row.insert(id, row);
    Ok(person.to_value())
}

/// Records the import as running (a dry run records nothing), so its report can be read while
/// `execute` works through it.
pub async fn begin(engine: &Engine, prepared: &Prepared) -> Result<(), ImportError> {
    apply::begin(engine, prepared).await
}

/// Applies the rows in batches (or plans them, in a dry run) and returns the final report.
/// `progress` sees the running counts after every batch.
pub async fn execute(
    engine: &Engine,
    playbooks: &[Arc<Playbook>],
    prepared: Prepared,
    progress: &(dyn Fn(&Counts) + Send + Sync),
) -> Result<Report, ImportError> {
    apply::execute(engine, playbooks, prepared, progress).await
}

/// `prepare`, `begin` and `execute` in one: what `roster import` and a waiting upload do.
pub async fn import(
    deps: &ImportDeps,
    upload: &Upload,
    bytes: &[u8],
    progress: &(dyn Fn(&Counts) + Send + Sync),
) -> Result<Report, ImportError> {
    let profile = profile(&deps.config, &upload.profile)?;
    let prepared = prepare(profile, upload, bytes)?;
    begin(&deps.engine, &prepared).await?;
    execute(&deps.engine, &deps.playbooks, prepared, progress).await
}

/// A stored import's report as it stands (running counts while it progresses).
pub async fn load(engine: &Engine, id: &str) -> Result<Option<Report>, ImportError> {
    let found = engine.store().import(id).await?;
    Ok(found.map(|(import, rows)| Report::from_records(import, rows)))
}
