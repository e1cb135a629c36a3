//! The durable engine: turns events into runs and executes them step by step.
//!
//! `Engine` holds the store, the one scripting engine, the HTTP client and a cache of compiled
//! playbook versions. `dispatch` decides which playbooks an event starts (evaluating `vars`,
//! `where` and `concurrency` once, at submission); `worker` claims ready runs under a lease and
//! hands each to `executor`, which executes its steps and commits each step's result and the
//! run's next position in one transaction through the store's group-commit writer.

pub mod dispatch;
mod executor;
pub mod metrics;
pub mod retry;
pub mod status;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, Notify};

pub use worker::{Worker, WorkerOptions};

use crate::clock::now_ms;
use crate::connectors::Connections;
use crate::observation::{diff, Diff};
use crate::playbook::{self, Playbook};
use crate::script::Scripting;
use crate::secret::SecretBox;
use crate::store::{
    Dispatch, NewEvent, ObservationOutcome, ObservationRecord, ObserveMode, Observed,
    PlaybookVersion, Store, StoreError,
};
use status::RunStatus;

/// A failed engine operation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored playbook version {hash} no longer compiles:\n{diagnostics}")]
    Playbook {
        hash: String,
        diagnostics: playbook::Diagnostics,
    },
    #[error("{0}")]
    Invalid(String),
}

/// A run's status changed (sent after the change is committed).
#[derive(Debug, Clone)]
pub struct RunChange {
    pub run_id: String,
    pub status: RunStatus,
}

/// The engine shared by workers, the CLI and (later) the API.
pub struct Engine {
    store: Store,
    connections: Arc<Connections>,
    /// Seals secret step outputs before they are stored.
    secrets: SecretBox,
    scripting: Arc<Scripting>,
    http: reqwest::Client,
    versions: Mutex<HashMap<String, Arc<Playbook>>>,
    /// Wakes the workers of this process when work becomes ready.
    wake: Arc<Notify>,
    changes: broadcast::Sender<RunChange>,
    metrics: metrics::Metrics,
    /// Wakes the `person.date` timer task when an observation armed, moved or dropped a timer.
    date_timers: Arc<Notify>,
    /// `person.date` timers armed further in the past than this are skipped, not fired.
    date_catch_up_ms: i64,
}

impl Engine {
    pub fn new(store: Store) -> Engine {
        let http = reqwest::Client::builder()
            .user_agent(concat!("roster/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(256)
            .build()
            .unwrap_or_default();
        let (changes, _) = broadcast::channel(4096);
        Engine {
            store,
            connections: Arc::new(Connections::default()),
            secrets: SecretBox::ephemeral(),
            scripting: Arc::new(Scripting::new()),
            http,
            versions: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            changes,
            metrics: metrics::Metrics::default(),
            date_timers: Arc::new(Notify::new()),
            date_catch_up_ms: 7 * 86_400_000,
        }
    }

    /// The connections connector actions use (from `roster.yaml`).
    pub fn with_connections(mut self, connections: Connections) -> Engine {
        self.connections = Arc::new(connections);
        self
    }

    /// The key that seals secret outputs (without one, a key that lives only as long as this
    /// process: secrets stay sealed at rest but a resumed run cannot open them).
    pub fn with_secrets(mut self, secrets: SecretBox) -> Engine {
        self.secrets = secrets;
        self
    }

    /// How far in the past a newly armed `person.date` timer may be and still fire
    /// (`triggers.dates.catch_up`, default 7 days).
    pub fn with_date_catch_up(mut self, catch_up: Duration) -> Engine {
        self.date_catch_up_ms = catch_up.as_millis().min(i64::MAX as u128) as i64;
        self
    }

    /// The HTTP client shared by `http.request` and the connectors.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The live connections (the Google triggers use the `google` client).
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Notified when an observation armed, moved or dropped a `person.date` timer.
    pub fn date_timers_changed(&self) -> Arc<Notify> {
        self.date_timers.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn scripting(&self) -> &Scripting {
        &self.scripting
    }

    /// Step latencies and external calls measured by this process's workers.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Run status changes committed by this process's workers.
    pub fn subscribe(&self) -> broadcast::Receiver<RunChange> {
        self.changes.subscribe()
    }

    fn notify_change(&self, run_id: &str, status: RunStatus) {
        let _ = self.changes.send(RunChange {
            run_id: run_id.to_string(),
            status,
        });
    }

    /// Wakes this process's workers: new work may be ready.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stores a playbook's text as a version runs can pin, and caches its compiled form.
    pub async fn register(&self, pb: Playbook) -> Result<Arc<Playbook>, EngineError> {
        let version = PlaybookVersion {
            hash: pb.hash.clone(),
            name: pb.name.clone(),
            path: pb.path.clone(),
            source: pb.source.clone(),
        };
        self.store.put_playbook_version(&version, now_ms()).await?;
        let pb = Arc::new(pb);
        if let Ok(mut v) = self.versions.lock() {
            v.insert(pb.hash.clone(), pb.clone());
        }
        Ok(pb)
    }

    /// The compiled playbook version a run pinned.
    pub async fn version(&self, hash: &str) -> Result<Arc<Playbook>, EngineError> {
        if let Some(p) = self.versions.lock().ok().and_then(|v| v.get(hash).cloned()) {
            return Ok(p);
        }
        let v = self.store.playbook_version(hash).await?;
        let pb =
            playbook::load_text(&v.path, &v.source, &self.scripting).map_err(|diagnostics| {
                EngineError::Playbook {
                    hash: hash.to_string(),
                    diagnostics,
                }
            })?;
        let pb = Arc::new(pb);
        if let Ok(mut cache) = self.versions.lock() {
            cache.insert(hash.to_string(), pb.clone());
        }
        Ok(pb)
    }

    /// Starts `pb` for `person` by hand (`manual` event). Returns the run id, or `None` when
    /// the idempotency key was used before or the playbook's `where:` filtered it out.
    pub async fn start(
        &self,
        pb: &Playbook,
        person: Value,
        idempotency_key: Option<String>,
    ) -> Result<Option<String>, EngineError> {
        let ids = self.start_many(pb, vec![(person, idempotency_key)]).await?;
        Ok(ids.into_iter().next().flatten())
    }

    /// Starts `pb` for many people in one transaction (a bulk import).
    pub async fn start_many(
        &self,
        pb: &Playbook,
        people: Vec<(Value, Option<String>)>,
    ) -> Result<Vec<Option<String>>, EngineError> {
        let now = now_ms();
        let entries: Vec<(NewEvent, Vec<Dispatch>)> = people
            .into_iter()
            .map(|(person, key)| {
                let event = dispatch::manual_event(&person, key, now);
                let d = dispatch::plan(&self.scripting, pb, &event, &person);
                (event, vec![d])
            })
            .collect();
        let results = self.store.submit(entries, now).await?;
        self.wake();
        Ok(results
            .into_iter()
            .map(|r| r.and_then(|runs| runs.into_iter().next()))
            .collect())
    }

    /// Records what `source` says about a person now and starts the playbooks the resulting
    /// event triggers, all in one transaction (with the person's `person.date` timers).
    pub async fn observe(
        &self,
        playbooks: &[Arc<Playbook>],
        source: &str,
        person: Value,
    ) -> Result<ObservationOutcome, EngineError> {
        self.observe_as(playbooks, source, person, false).await
    }

    /// Records what `source` says about a person as the base later observations are diffed
    /// against, firing nothing (the first poll of an existing directory). Date timers are
    /// still kept.
    pub async fn observe_baseline(
        &self,
        playbooks: &[Arc<Playbook>],
        source: &str,
        person: Value,
    ) -> Result<ObservationOutcome, EngineError> {
        self.observe_as(playbooks, source, person, true).await
    }

    async fn observe_as(
        &self,
        playbooks: &[Arc<Playbook>],
        source: &str,
        person: Value,
        baseline: bool,
    ) -> Result<ObservationOutcome, EngineError> {
        let records = self
            .observe_batch(
                playbooks,
                source,
                vec![person],
                ObserveMode::Apply,
                baseline,
            )
            .await?;
        Ok(records
            .into_iter()
            .next()
            .map_or(ObservationOutcome::Unchanged, |r| r.outcome))
    }

    /// Many observations from one source in one transaction (an import's batch), each exactly
    /// as `observe` records it: the subject, its event, the runs it starts and its date
    /// timers. With `ObserveMode::Plan` nothing is written and the records are the plan.
    pub async fn observe_many(
        &self,
        playbooks: &[Arc<Playbook>],
        source: &str,
        people: Vec<Value>,
        mode: ObserveMode,
    ) -> Result<Vec<ObservationRecord>, EngineError> {
        self.observe_batch(playbooks, source, people, mode, false)
            .await
    }

    /// Like `observe_many` (applied), or as the baseline (`observe_baseline`) for all of
    /// them: a poller's page of observations in one transaction.
    pub async fn observe_batch_as(
        &self,
        playbooks: &[Arc<Playbook>],
        source: &str,
        people: Vec<Value>,
        baseline: bool,
    ) -> Result<Vec<ObservationRecord>, EngineError> {
        self.observe_batch(playbooks, source, people, ObserveMode::Apply, baseline)
            .await
    }

    async fn observe_batch(
        &self,
        playbooks: &[Arc<Playbook>],
        source: &str,
        people: Vec<Value>,
        mode: ObserveMode,
        baseline: bool,
    ) -> Result<Vec<ObservationRecord>, EngineError> {
        let now = now_ms();
        let items = people
            .into_iter()
            .map(|person| {
                let subject = person.get("id").and_then(Value::as_str).ok_or_else(|| {
                    EngineError::Invalid(format!("an observation from '{source}' has no person id"))
                })?;
                let timers =
                    crate::triggers::dates::plans(playbooks, &person, now - self.date_catch_up_ms);
                Ok((subject.to_string(), person, timers))
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let scripting = self.scripting.clone();
        let playbooks = playbooks.to_vec();
        let source_name = source.to_string();
        let records = self
            .store
            .observe_many(
                source.to_string(),
                items,
                now,
                mode,
                move |subject, previous, person| match diff(previous, person) {
                    Diff::Unchanged => Observed::Unchanged,
                    Diff::Baseline => Observed::Baseline,
                    Diff::Event(_) if baseline => Observed::Baseline,
                    Diff::Event(change) => {
                        let event = dispatch::change_event(
                            &source_name,
                            subject,
                            previous,
                            person,
                            &change,
                            now,
                        );
                        let dispatches = dispatch::plan_all(&scripting, &playbooks, &event, person);
                        Observed::Event(event, dispatches)
                    }
                },
            )
            .await?;
        if records.iter().any(|r| r.timers_changed) {
            self.date_timers.notify_one();
        }
        if mode == ObserveMode::Apply {
            self.wake();
        }
        Ok(records)
    }

    /// Approves a run parked for review or approval. `corrections` (person fields) make a
    /// parked `validate` check again, and the `vars` are evaluated again from the corrected
    /// person (they derive names and addresses from it); without corrections the record is
    /// accepted as it is.
    pub async fn approve(
        &self,
        run_id: &str,
        by: &str,
        comment: Option<&str>,
        corrections: Map<String, Value>,
    ) -> Result<(), EngineError> {
        let run = self.store.run(run_id).await?;
        let person = if corrections.is_empty() {
            None
        } else {
            let mut p = run.person.clone();
            let Some(obj) = p.as_object_mut() else {
                return Err(EngineError::Invalid(format!(
                    "run {run_id} has no person to correct"
                )));
            };
            for (k, v) in &corrections {
                match k.strip_prefix("custom.") {
                    Some(c) => {
                        let custom = obj.entry("custom").or_insert_with(|| json!({}));
                        if let Some(m) = custom.as_object_mut() {
                            m.insert(c.to_string(), v.clone());
                        }
                    }
                    None => {
                        obj.insert(k.clone(), v.clone());
                    }
                }
            }
            Some(p)
        };
        let vars = match &person {
            Some(p) => {
                let pb = self.version(&run.playbook_hash).await?;
                let run_info = json!({ "id": run.id, "attempt": run.attempt, "playbook": pb.name });
                let vars = dispatch::eval_vars(&self.scripting, &pb, p, &run.event, &run_info)
                    .map_err(|(_, e)| {
                        EngineError::Invalid(format!(
                            "the corrections were not applied: with them, {e}"
                        ))
                    })?;
                Some(vars)
            }
            None => None,
        };
        let decision = json!({
            "by": by,
            "comment": comment,
            "at": crate::clock::rfc3339(now_ms()),
            "corrected": person.is_some(),
            "corrections": corrections,
        });
        self.store
            .approve(run_id, &decision, person.as_ref(), vars.as_ref(), now_ms())
            .await?;
        self.wake();
        Ok(())
    }

    pub async fn reject(
        &self,
        run_id: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Result<(), EngineError> {
        let why = match reason {
            Some(r) => format!("rejected by {by}: {r}"),
            None => format!("rejected by {by}"),
        };
        self.store.reject(run_id, &why, now_ms()).await?;
        self.wake();
        Ok(())
    }

    pub async fn cancel(&self, run_id: &str) -> Result<(), EngineError> {
        self.store.cancel(run_id, now_ms()).await?;
        self.wake();
        Ok(())
    }

    pub async fn retry(&self, run_id: &str) -> Result<(), EngineError> {
        self.store.retry(run_id, now_ms()).await?;
        self.wake();
        Ok(())
    }
}
