//! The groups side of the Entra poller: `/groups/delta` with members, the groups kept in
//! `trigger_state` (`group:<id>` → name and member ids), and which users a group change
//! concerns; and the scope (the configured groups) a user is in or out of.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Budget, PollError, PollReport, Poller, GROUPS_LINK};
use crate::engine::EngineError;

pub(super) const GROUP_PREFIX: &str = "group:";
/// Set while a full groups round is under way: the group state is partial until it ends, so
/// memberships are not re-evaluated before.
pub(super) const GROUPS_FULL: &str = "groups.full";

/// A group as the poller remembers it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct GroupState {
    name: String,
    members: BTreeSet<String>,
}

impl Poller {
    pub(super) async fn groups(&self) -> Result<BTreeMap<String, GroupState>, PollError> {
        let rows = self
            .engine
            .store()
            .trigger_states(&self.key, GROUP_PREFIX)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| {
                let id = k.strip_prefix(GROUP_PREFIX)?.to_string();
                serde_json::from_str(&v).ok().map(|g| (id, g))
            })
            .collect())
    }

    /// Groups: membership state, and the users whose groups changed. `true` when the round
    /// reached its delta link.
    pub(super) async fn groups_round(
        &self,
        report: &mut PollReport,
        budget: &mut Budget,
        touched: &mut BTreeSet<String>,
    ) -> Result<bool, PollError> {
        let first = "/groups/delta?$select=displayName,mail,securityEnabled,members";
        loop {
            if !budget.take() {
                return Ok(false);
            }
            let (link, page) = self.page(GROUPS_LINK, first, report).await?;
            if link == first {
                // A full round restates every group: start from nothing, and re-evaluate the
                // members of the groups forgotten.
                for (_, g) in self.groups().await? {
                    touched.extend(g.members);
                }
                self.engine
                    .store()
                    .clear_trigger_states(&self.key, GROUP_PREFIX)
                    .await?;
                self.set_state(GROUPS_FULL, "1").await?;
            }
            report.pages += 1;
            let mut groups = self.groups().await?;
            for item in &page.items {
                let Some(id) = item.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let key = format!("{GROUP_PREFIX}{id}");
                if item.get("@removed").is_some() {
                    if let Some(g) = groups.remove(id) {
                        touched.extend(g.members);
                    }
                    self.engine
                        .store()
                        .clear_trigger_states(&self.key, &key)
                        .await?;
                    continue;
                }
                let g = groups.entry(id.to_string()).or_default();
                if let Some(name) = item.get("displayName").and_then(Value::as_str) {
                    if g.name != name {
                        touched.extend(g.members.iter().cloned());
                        g.name = name.to_string();
                    }
                }
                for m in item
                    .get("members@delta")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let Some(mid) = m.get("id").and_then(Value::as_str) else {
                        continue;
                    };
                    let changed = if m.get("@removed").is_some() {
                        g.members.remove(mid)
                    } else {
                        g.members.insert(mid.to_string())
                    };
                    if changed {
                        touched.insert(mid.to_string());
                    }
                }
                let text = serde_json::to_string(&*g).unwrap_or_default();
                self.set_state(&key, &text).await?;
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => self.set_state(GROUPS_LINK, &next).await?,
                (None, Some(delta)) => {
                    self.set_state(GROUPS_LINK, &delta).await?;
                    if self.state(GROUPS_FULL).await?.is_some() {
                        // Memberships are whole again: everyone is re-evaluated against them.
                        for (_, g) in self.groups().await? {
                            touched.extend(g.members);
                        }
                        let known = self
                            .engine
                            .store()
                            .subjects(&self.settings.source)
                            .await
                            .map_err(EngineError::from)?;
                        touched.extend(known.into_iter().map(|(id, _)| id));
                        self.engine
                            .store()
                            .clear_trigger_states(&self.key, GROUPS_FULL)
                            .await?;
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

    /// Whether a user with these groups is in scope, and the names of their groups.
    pub(super) fn scope(
        &self,
        groups: &BTreeMap<String, GroupState>,
        user: &str,
    ) -> (bool, Vec<String>) {
        let mine: Vec<(&String, &GroupState)> = groups
            .iter()
            .filter(|(_, g)| g.members.contains(user))
            .collect();
        let mut names: Vec<String> = mine.iter().map(|(_, g)| g.name.clone()).collect();
        names.sort();
        names.dedup();
        let wanted = &self.settings.groups;
        let in_scope = wanted.is_empty()
            || mine.iter().any(|(id, g)| {
                wanted
                    .iter()
                    .any(|w| w.eq_ignore_ascii_case(id) || w.eq_ignore_ascii_case(&g.name))
            });
        (in_scope, names)
    }
}
