//! The worker: claims ready runs under a lease and executes them, up to a concurrency limit.
//!
//! Idle costs nothing: the worker sleeps until this process submits or finishes work (an
//! in-process notification), until the next durable timer is due, or until another process
//! changes the database (SQLite: a cheap `PRAGMA data_version` check every `idle_check`;
//! PostgreSQL: a `NOTIFY` from any process, at once). A heartbeat
//! keeps the leases of the runs in flight; a worker that dies stops renewing them, and once they
//! expire any worker resumes those runs at the step that was in flight.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{executor, Engine, EngineError};
use crate::clock::now_ms;
use crate::store::StepWriter;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Runs executed at once by this worker.
    pub concurrency: usize,
    /// How long a claim lasts without a heartbeat; a dead worker's runs resume after it.
    pub lease: Duration,
    /// How often the leases are renewed (shorter than the lease).
    pub heartbeat: Duration,
    /// How often an idle worker looks for changes made by other processes.
    pub idle_check: Duration,
    /// Execute only this run (used by `roster run`).
    pub only_run: Option<String>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            concurrency: 64,
            lease: crate::config::DEFAULT_LEASE,
            heartbeat: crate::config::DEFAULT_LEASE / 3,
            idle_check: Duration::from_millis(500),
            only_run: None,
        }
    }
}

/// What the run tasks of one worker share.
pub(super) struct Shared {
    pub engine: Arc<Engine>,
    pub writer: StepWriter,
    pub owner: Arc<str>,
    /// Set at shutdown: run tasks stop at the next step boundary.
    pub stopping: AtomicBool,
}

/// A worker bound to an engine.
pub struct Worker {
    engine: Arc<Engine>,
    options: WorkerOptions,
    owner: Arc<str>,
}

impl Worker {
    pub fn new(engine: Arc<Engine>, options: WorkerOptions) -> Worker {
        let owner: Arc<str> = format!("{}/{}", std::process::id(), Uuid::now_v7()).into();
        Worker {
            engine,
            options,
            owner,
        }
    }

    /// This worker's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Executes runs until `shutdown` turns true, then lets in-flight steps finish and hands
    /// back the runs it still holds.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), EngineError> {
        let store = self.engine.store().clone();
        let writer = StepWriter::start(&store).await?;
        let shared = Arc::new(Shared {
            engine: self.engine.clone(),
            writer,
            owner: self.owner.clone(),
            stopping: AtomicBool::new(false),
        });
        let lease_ms = self.options.lease.as_millis() as i64;
        let heartbeat = tokio::spawn(heartbeat(
            store.clone(),
            self.owner.clone(),
            self.options.lease,
            self.options.heartbeat.min(self.options.lease / 2),
        ));
        let mut watcher = store.watcher().await?;
        let mut tasks = JoinSet::new();
        let capacity = self.options.concurrency.max(1);
        // Claim in batches under load: every claim is a write transaction of its own.
        let batch = (capacity / 8).max(1);
        // Since when new work may be ready (start-up, a submission, another process's change).
        let mut wanted: Option<Instant> = Some(Instant::now());
        let mut timers = NextWake::default();
        loop {
            if *shutdown.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let free = capacity - tasks.len().min(capacity);
            let mut ready_more = false;
            // A busy worker with a few free slots waits a moment for more to free: under load
            // every finishing run notifies every worker, and a claim per notification would
            // take one run at a time.
            let claim_now = free >= batch
                || tasks.is_empty()
                || wanted.is_some_and(|t| t.elapsed() >= CLAIM_DELAY);
            if free > 0 && claim_now {
                let now = now_ms();
                match shared
                    .writer
                    .claim(
                        self.owner.clone(),
                        free,
                        now,
                        lease_ms,
                        self.options.only_run.as_deref(),
                    )
                    .await
                {
                    Ok(claimed) => {
                        ready_more = claimed.len() == free;
                        for c in claimed {
                            tasks.spawn(executor::drive(shared.clone(), c, now));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "claiming runs failed; trying again shortly");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                wanted = None;
            }
            if ready_more {
                // More may be ready; come back as soon as a slot frees.
                tokio::select! {
                    _ = tasks.join_next(), if !tasks.is_empty() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let now = now_ms();
            let next = timers
                .get(
                    &store,
                    &self.owner,
                    now,
                    !tasks.is_empty(),
                    self.options.idle_check,
                )
                .await;
            let until_timer = next.map(|t| Duration::from_millis((t - now).max(1) as u64));
            let mut nap =
                until_timer.map_or(self.options.idle_check, |t| t.min(self.options.idle_check));
            // (With no slot free, a finishing run wakes the loop anyway.)
            if let Some(t) = wanted.filter(|_| tasks.len() < capacity) {
                nap = nap.min(
                    CLAIM_DELAY
                        .saturating_sub(t.elapsed())
                        .max(Duration::from_millis(1)),
                );
            }
            let want = Some(wanted.unwrap_or_else(Instant::now));
            tokio::select! {
                _ = tasks.join_next(), if !tasks.is_empty() => {}
                _ = self.engine.wake.notified() => { wanted = want; }
                _ = tokio::time::sleep(nap) => {
                    if until_timer.is_some_and(|t| t <= nap) {
                        wanted = want;
                    } else if wanted.is_none() && watcher.changed().await {
                        // Only another process can have made work ready: look before claiming.
                        wanted = want;
                    }
                }
                _ = watcher.notified() => { wanted = want; }
                _ = shutdown.changed() => {}
            }
        }
        shared.stopping.store(true, Ordering::Relaxed);
        while tasks.join_next().await.is_some() {}
        heartbeat.abort();
        let released = store.release(&self.owner, now_ms()).await?;
        if released > 0 {
            tracing::info!(runs = released, "handed back runs at shutdown");
        }
        Ok(())
    }
}

/// How long a busy worker with fewer than a batch of free slots waits before it claims
/// the work it was told about.
const CLAIM_DELAY: Duration = Duration::from_millis(10);

/// The earliest moment something becomes ready by itself (`Store::next_wake`), looked up again
/// whenever the worker is idle and at most once per `idle_check` while it is busy: a busy
/// worker wakes for every finished run, and the look-up reads every running run. A busy worker
/// claims often, and a claim takes due timers anyway.
#[derive(Default)]
struct NextWake {
    at: Option<i64>,
    looked: Option<Instant>,
}

impl NextWake {
    async fn get(
        &mut self,
        store: &crate::store::Store,
        owner: &str,
        now: i64,
        busy: bool,
        every: Duration,
    ) -> Option<i64> {
        // A moment that has passed was claimed already, or is about to be.
        let fresh =
            self.looked.is_some_and(|t| t.elapsed() < every) && self.at.is_none_or(|t| t > now);
        if !busy || !fresh {
            self.at = store.next_wake(owner, now).await.unwrap_or(None);
            self.looked = Some(Instant::now());
        }
        self.at
    }
}

async fn heartbeat(store: crate::store::Store, owner: Arc<str>, lease: Duration, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = store
            .heartbeat(&owner, now_ms() + lease.as_millis() as i64)
            .await
        {
            tracing::warn!(error = %e, "lease heartbeat failed");
        }
    }
}
