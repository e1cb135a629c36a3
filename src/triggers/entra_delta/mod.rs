//! The Entra ID poller: follows Microsoft Graph delta queries (`/groups/delta` with members,
//! then `/users/delta`) every `triggers.entra.interval` and observes each changed user as a
//! Person of source `triggers.entra.source` (default `entra`; `entra_user` maps it), so the
//! usual diff turns changes into `person.joined / changed / left / returned`. A group
//! membership change re-observes the members concerned: their `custom.groups` changes, which
//! is a `person.changed` a playbook can react to (`event.changes["custom.groups"]`).
//!
//! Durability: a page's observations are recorded in one transaction; after it the link to
//! request next (Graph's `@odata.nextLink` mid-round, its `@odata.deltaLink` between rounds)
//! is stored in `trigger_state`, with the groups seen, so a restart resumes at the page where
//! it stopped; a page that was observed but whose link was not stored yet is read again, which
//! the diff makes harmless (unchanged → no event). When
//! Graph no longer knows a token (`410 Gone` / `syncStateNotFound`) the poller forgets its
//! links and groups and starts a full round; users Roster knows that a completed full round no
//! longer lists are observed as gone.
//!
//! Scope: every user, or (`triggers.entra.groups`) the direct members of the given groups; a
//! user who leaves them all is observed as terminated (`person.left`), one who joins one as
//! `person.joined` (or `returned`). The first full round over a tenant Roster has never seen
//! is the baseline (nothing fires) unless `baseline: false`.
//!
//! `groups` owns the groups side (the group round, the remembered groups, the scope); this
//! module the users round, the observations and the loop.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::watch;

mod groups;

use super::entra_user;
use super::google_poll::terminated;
use crate::config::{Config, EntraTrigger};
use crate::connectors::entra::{DeltaFailure, DeltaPage};
use crate::engine::{Engine, EngineError};
use crate::playbook::Playbook;
use crate::store::ObservationOutcome;
use groups::{GroupState, GROUPS_FULL};

const GROUPS_LINK: &str = "groups.link";
const USERS_LINK: &str = "users.link";
/// Set while the first round over a new tenant (the baseline) is under way.
const BASELINE: &str = "users.baseline";

/// Why a poll stopped early (what was observed and stored before stays).
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("Entra connection '{0}': {1}")]
    Connection(String, String),
    #[error("reading Entra changes failed (resumed at the next interval): {0}")]
    Graph(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<crate::store::StoreError> for PollError {
    fn from(e: crate::store::StoreError) -> Self {
        PollError::Engine(EngineError::from(e))
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PollReport {
    /// Delta pages read (groups and users).
    pub pages: usize,
    /// Users observed.
    pub users: usize,
    /// Events recorded, by type, in order.
    pub events: Vec<String>,
    pub unchanged: usize,
    /// A token had expired and a full round was started.
    pub resynced: bool,
    /// Both rounds reached their delta link (false when `max_pages` stopped the poll).
    pub complete: bool,
}

pub struct Poller {
    engine: Arc<Engine>,
    playbooks: Arc<Vec<Arc<Playbook>>>,
    settings: EntraTrigger,
    interval: Duration,
    /// `trigger_state` key: `entra:<connection>`.
    key: String,
}

/// Pages left in this poll.
struct Budget(Option<u32>);

impl Budget {
    fn take(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }
}

impl Poller {
    /// The poller `triggers.entra` asks for, if any.
    pub fn from_config(
        engine: Arc<Engine>,
        config: &Config,
        playbooks: Arc<Vec<Arc<Playbook>>>,
    ) -> anyhow::Result<Option<Poller>> {
        match &config.triggers.entra {
            Some(e) => Ok(Some(Poller::new(engine, playbooks, e.clone())?)),
            None => Ok(None),
        }
    }

    pub fn new(
        engine: Arc<Engine>,
        playbooks: Arc<Vec<Arc<Playbook>>>,
        settings: EntraTrigger,
    ) -> anyhow::Result<Poller> {
        let interval = settings
            .interval()
            .map_err(|(k, m)| anyhow::anyhow!("{k}: {m}"))?;
        engine
            .connections()
            .entra(&settings.connection)
            .map_err(|e| anyhow::anyhow!("triggers.entra.connection: {e}"))?;
        let key = format!("entra:{}", settings.connection);
        Ok(Poller {
            engine,
            playbooks,
            settings,
            interval,
            key,
        })
    }

    fn client(&self) -> Result<&crate::connectors::entra::Client, PollError> {
        self.engine
            .connections()
            .entra(&self.settings.connection)
            .map_err(|e| PollError::Connection(self.settings.connection.clone(), e.to_string()))
    }

    async fn state(&self, key: &str) -> Result<Option<String>, PollError> {
        Ok(self.engine.store().trigger_state(&self.key, key).await?)
    }

    async fn set_state(&self, key: &str, value: &str) -> Result<(), PollError> {
        let now = crate::clock::now_ms();
        Ok(self
            .engine
            .store()
            .set_trigger_state(&self.key, key, value, now)
            .await?)
    }

    /// Reads what changed since the stored links and observes it.
    pub async fn poll_once(&self) -> Result<PollReport, PollError> {
        let mut report = PollReport::default();
        let mut budget = Budget(self.settings.max_pages);
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let users_started = self.state(USERS_LINK).await?.is_some();
        if !users_started && self.settings.baseline && self.state(BASELINE).await?.is_none() {
            // A first round over a tenant Roster has never seen is the baseline.
            let known = self
                .engine
                .store()
                .subjects(&self.settings.source)
                .await
                .map_err(EngineError::from)?;
            if known.is_empty() {
                self.set_state(BASELINE, "1").await?;
            }
        }
        let groups_done = self
            .groups_round(&mut report, &mut budget, &mut touched)
            .await?;
        let users_done = if groups_done {
            self.users_round(&mut report, &mut budget, &mut touched)
                .await?
        } else {
            false
        };
        // Members whose groups changed but whose user object did not. (Before the first users
        // round has begun there is nothing to compare with: that round lists everyone.)
        let partial = self.state(GROUPS_FULL).await?.is_some();
        if !touched.is_empty() && users_started && !partial {
            let groups = self.groups().await?;
            let baseline = self.state(BASELINE).await?.is_some();
            for id in touched {
                self.observe_member(&mut report, &groups, &id, baseline)
                    .await?;
            }
        }
        report.complete = groups_done && users_done;
        Ok(report)
    }

    async fn page(
        &self,
        link_key: &str,
        first: &str,
        report: &mut PollReport,
    ) -> Result<(String, DeltaPage), PollError> {
        let client = self.client()?;
        let link = self.state(link_key).await?;
        let link = link.unwrap_or_else(|| first.to_string());
        match client.delta_page(&link, self.settings.page_size).await {
            Ok(p) => Ok((link, p)),
            Err(DeltaFailure::Expired(e)) => {
                tracing::warn!("Entra delta token expired, starting a full round: {e}");
                report.resynced = true;
                self.engine
                    .store()
                    .clear_trigger_states(&self.key, link_key)
                    .await?;
                let p = client
                    .delta_page(first, self.settings.page_size)
                    .await
                    .map_err(|e| PollError::Graph(e.to_string()))?;
                Ok((first.to_string(), p))
            }
            Err(DeltaFailure::Failed(e)) => Err(PollError::Graph(e.to_string())),
        }
    }

    /// Users: every changed user observed. `true` when the round reached its delta link.
    async fn users_round(
        &self,
        report: &mut PollReport,
        budget: &mut Budget,
        touched: &mut BTreeSet<String>,
    ) -> Result<bool, PollError> {
        let first = format!("/users/delta?$select={}", entra_user::SELECT);
        let source = &self.settings.source;
        let groups = self.groups().await?;
        let mut seen: HashSet<String> = HashSet::new();
        // Whether this poll read the round from its first page (a full round).
        let mut from_start: Option<bool> = None;
        loop {
            if !budget.take() {
                return Ok(false);
            }
            let (link, page) = self.page(USERS_LINK, &first, report).await?;
            if link == first {
                from_start = Some(true);
                seen.clear();
            } else if from_start.is_none() {
                from_start = Some(false);
            }
            report.pages += 1;
            let baseline = self.state(BASELINE).await?.is_some();
            // The page's observations go in one transaction (one commit, not one per user).
            let mut batch = Vec::with_capacity(page.items.len());
            for item in &page.items {
                let Some(id) = item.get("id").and_then(Value::as_str) else {
                    continue;
                };
                touched.remove(id);
                seen.insert(id.to_string());
                let previous = self.engine.store().subject(source, id).await?;
                if item.get("@removed").is_some() {
                    if let Some(gone) = previous.and_then(|mut p| terminated(&mut p)) {
                        batch.push(gone);
                    }
                    continue;
                }
                let mut raw = previous.as_ref().map(entra_user::raw).unwrap_or_default();
                if let Some(obj) = item.as_object() {
                    for (k, v) in obj {
                        if !k.starts_with('@') && !k.contains("@odata") {
                            raw.insert(k.clone(), v.clone());
                        }
                    }
                }
                batch.extend(self.sighting(&groups, raw, previous.is_some()));
            }
            self.observe_all(report, batch, baseline).await?;
            match (page.next_link, page.delta_link) {
                (Some(next), _) => self.set_state(USERS_LINK, &next).await?,
                (None, Some(delta)) => {
                    self.set_state(USERS_LINK, &delta).await?;
                    self.engine
                        .store()
                        .clear_trigger_states(&self.key, BASELINE)
                        .await?;
                    if from_start == Some(true) {
                        self.gone_since_full_round(report, &seen).await?;
                    }
                    return Ok(true);
                }
                (None, None) => {
                    return Err(PollError::Graph(
                        "a delta page had neither @odata.nextLink nor @odata.deltaLink".into(),
                    ))
                }
            }
        }
    }

    /// After a full round read in one poll: users Roster follows that it no longer lists are
    /// gone. (A round resumed after a restart did not see the users of its earlier pages, so it
    /// concludes nothing.)
    async fn gone_since_full_round(
        &self,
        report: &mut PollReport,
        seen: &HashSet<String>,
    ) -> Result<(), PollError> {
        let known = self
            .engine
            .store()
            .subjects(&self.settings.source)
            .await
            .map_err(EngineError::from)?;
        let gone: Vec<Value> = known
            .into_iter()
            .filter(|(id, _)| !seen.contains(id))
            .filter_map(|(_, mut previous)| terminated(&mut previous))
            .collect();
        self.observe_all(report, gone, false).await
    }

    /// What to observe of a user, from its Graph properties: the person when in scope, the
    /// person as terminated when out of scope but followed until now (`known`), else nothing.
    fn sighting(
        &self,
        groups: &BTreeMap<String, GroupState>,
        raw: Map<String, Value>,
        known: bool,
    ) -> Option<Value> {
        let id = raw.get("id").and_then(Value::as_str).unwrap_or_default();
        let (in_scope, names) = self.scope(groups, id);
        let mut person = entra_user::person(&raw, &names)?;
        if in_scope {
            return Some(person);
        }
        // Out of scope: someone Roster followed has left it; anyone else is not observed.
        if known {
            return terminated(&mut person);
        }
        None
    }

    /// A user whose groups changed (their user object did not): observed again with the new
    /// groups, fetched first when Roster has not seen them yet.
    async fn observe_member(
        &self,
        report: &mut PollReport,
        groups: &BTreeMap<String, GroupState>,
        id: &str,
        baseline: bool,
    ) -> Result<(), PollError> {
        let previous = self
            .engine
            .store()
            .subject(&self.settings.source, id)
            .await?;
        let raw = match &previous {
            Some(p) => entra_user::raw(p),
            None => {
                if !self.scope(groups, id).0 {
                    return Ok(());
                }
                let fetched = self
                    .client()?
                    .user_properties(id, entra_user::SELECT)
                    .await
                    .map_err(|e| PollError::Graph(e.to_string()))?;
                match fetched {
                    Some(Value::Object(m)) => m,
                    _ => return Ok(()),
                }
            }
        };
        if raw.is_empty() {
            return Ok(());
        }
        let gone = previous
            .as_ref()
            .and_then(|p| p.get("status"))
            .is_some_and(|s| s == &json!("terminated"));
        let (in_scope, _) = self.scope(groups, id);
        if gone && !in_scope {
            return Ok(());
        }
        let batch: Vec<Value> = self
            .sighting(groups, raw, previous.is_some())
            .into_iter()
            .collect();
        self.observe_all(report, batch, baseline).await
    }

    /// Observes `people` from the source in one transaction and tallies the outcomes.
    async fn observe_all(
        &self,
        report: &mut PollReport,
        people: Vec<Value>,
        baseline: bool,
    ) -> Result<(), PollError> {
        if people.is_empty() {
            return Ok(());
        }
        let records = self
            .engine
            .observe_batch_as(&self.playbooks, &self.settings.source, people, baseline)
            .await?;
        for r in records {
            report.users += 1;
            match (r.outcome, r.event) {
                (ObservationOutcome::Recorded { .. }, Some((event, _))) => {
                    report.events.push(event.kind)
                }
                (ObservationOutcome::Unchanged, _) => report.unchanged += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// Polls now and then every interval until `shutdown` turns true. A failed poll is logged
    /// and resumed from the stored links at the next interval.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        while !*shutdown.borrow() {
            match self.poll_once().await {
                Ok(r) => tracing::info!(
                    pages = r.pages,
                    users = r.users,
                    events = r.events.len(),
                    resynced = r.resynced,
                    "Entra changes read"
                ),
                Err(e) => tracing::warn!("{e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.interval) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
        }
        Ok(())
    }
}
