//! `/users/delta` and `/groups/delta`: change tracking (Graph's delta query, documented at
//! learn.microsoft.com/graph/delta-query-overview, user-delta and group-delta; not part of the
//! OpenAPI subset in `shared/specs`).
//!
//! A round starts without a token (every current object) or from a `$deltatoken` (what changed
//! since that token was issued). Its answer is cut into pages: each page but the last carries
//! an `@odata.nextLink` with an opaque `$skiptoken`, the last an `@odata.deltaLink` with a fresh
//! `$deltatoken`. The sandbox keeps, per delta token, a snapshot of the directory at the time it
//! was issued and diffs the current state against it, so every write path is tracked without
//! each one having to log its change. Changed objects come back whole (the selected
//! properties); objects gone since the token come back as `{id, "@removed": {reason}}`
//! (`changed` for a soft-deleted user, which can be restored, `deleted` otherwise). A group's
//! membership changes come as `members@delta` when `members` is selected: added members as
//! `{"@odata.type", id}`, removed ones with `"@removed": {"reason": "deleted"}`.
//!
//! An unknown token (never issued, or forgotten because `reset` rebuilt the tenant, or expired
//! with `expire_delta_tokens`) is answered with `400 syncStateNotFound` and the message Graph
//! sends for an expired identity delta token: the client must start a full round again.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::errors::{GraphError, GraphResult};
use super::model::Entra;
use super::query;
use super::users;
use super::Ctx;
use crate::sandbox::ids;
use crate::sandbox::reply::Reply;

/// Page size without `Prefer: odata.maxpagesize`.
const DEFAULT_PAGE: usize = 100;

/// Properties a group delta returns without `$select`.
const GROUP_DEFAULT: &[&str] = &[
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    Users,
    Groups,
}

impl Tracked {
    fn path(self) -> &'static str {
        match self {
            Tracked::Users => "users",
            Tracked::Groups => "groups",
        }
    }
}

/// One object as a snapshot remembers it: its properties and (groups) its member ids.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    props: Map<String, Value>,
    members: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Snapshot {
    tracked: Tracked,
    select: Option<Vec<String>>,
    objects: BTreeMap<String, Seen>,
}

/// The rest of a round's answer, waiting for its `$skiptoken`.
#[derive(Debug, Clone)]
struct Pending {
    tracked: Tracked,
    items: Vec<Value>,
    delta_token: String,
}

/// The tenant's delta-query state: snapshots by delta token, pending pages by skip token.
#[derive(Debug, Default)]
pub struct DeltaState {
    snapshots: HashMap<String, Snapshot>,
    pending: HashMap<String, Pending>,
}

impl DeltaState {
    /// Forgets every token, as Graph does after seven days: the next use of one fails with
    /// `syncStateNotFound`.
    pub fn expire_all(&mut self) {
        self.snapshots.clear();
        self.pending.clear();
    }
}

fn sync_state_not_found() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

fn current(entra: &Entra, tracked: Tracked, now: std::time::Instant) -> BTreeMap<String, Seen> {
    match tracked {
        Tracked::Users => entra
            .users
            .values()
            .filter(|u| u.visible_at <= now)
            .map(|u| {
                (
                    u.id.clone(),
                    Seen {
                        props: u.props.clone(),
                        members: BTreeSet::new(),
                    },
                )
            })
            .collect(),
        Tracked::Groups => entra
            .groups
            .values()
            .filter(|g| g.visible_at <= now)
            .map(|g| {
                (
                    g.id.clone(),
                    Seen {
                        props: g.props.clone(),
                        members: g.members.iter().cloned().collect(),
                    },
                )
            })
            .collect(),
    }
}

fn member_ref(entra: &Entra, id: &str) -> Value {
    let kind = if entra.groups.contains_key(id) {
        "#microsoft.graph.group"
    } else {
        "#microsoft.graph.user"
    };
    json!({"@odata.type": kind, "id": id})
}

/// What changed between `before` and `after`, rendered as delta items.
fn changes(
    entra: &Entra,
    tracked: Tracked,
    select: Option<&[String]>,
    before: &BTreeMap<String, Seen>,
    after: &BTreeMap<String, Seen>,
) -> Vec<Value> {
    let with_members = tracked == Tracked::Groups
        && select.is_some_and(|s| s.iter().any(|p| p.eq_ignore_ascii_case("members")));
    let mut out = Vec::new();
    for (id, seen) in after {
        let old = before.get(id);
        if old == Some(seen) {
            continue;
        }
        let mut item = match tracked {
            Tracked::Users => {
                let mut m = query::project(&seen.props, select, users::DEFAULT);
                if m.get("businessPhones") == Some(&Value::Null) {
                    m.insert("businessPhones".into(), json!([]));
                }
                m
            }
            Tracked::Groups => {
                let names: Option<Vec<String>> = select.map(|s| {
                    s.iter()
                        .filter(|p| !p.eq_ignore_ascii_case("members"))
                        .cloned()
                        .collect()
                });
                query::project(&seen.props, names.as_deref(), GROUP_DEFAULT)
            }
        };
        item.insert("id".into(), json!(id));
        if with_members {
            let empty = BTreeSet::new();
            let was = old.map_or(&empty, |o| &o.members);
            let mut delta: Vec<Value> = seen
                .members
                .difference(was)
                .map(|m| member_ref(entra, m))
                .collect();
            for gone in was.difference(&seen.members) {
                let mut r = member_ref(entra, gone);
                r["@removed"] = json!({"reason": "deleted"});
                delta.push(r);
            }
            item.insert("members@delta".into(), Value::Array(delta));
        }
        out.push(Value::Object(item));
    }
    for id in before.keys().filter(|id| !after.contains_key(*id)) {
        let reason = if tracked == Tracked::Users && entra.deleted.contains_key(id) {
            "changed"
        } else {
            "deleted"
        };
        out.push(json!({"id": id, "@removed": {"reason": reason}}));
    }
    out
}

fn page_size(ctx: &Ctx) -> usize {
    ctx.call
        .header("prefer")
        .and_then(|p| {
            p.split(',')
                .filter_map(|part| part.trim().strip_prefix("odata.maxpagesize="))
                .find_map(|n| n.trim().parse::<usize>().ok())
        })
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PAGE)
}

fn select(ctx: &Ctx) -> Option<Vec<String>> {
    ctx.call.query("$select").map(|s| {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

/// `GET /users/delta` or `GET /groups/delta`.
pub fn delta(ctx: &Ctx, tracked: Tracked) -> GraphResult {
    let max = page_size(ctx);
    let base = format!("{}/v1.0/{}/delta", ctx.world.base_url, tracked.path());
    let context = users::context(
        ctx,
        match tracked {
            Tracked::Users => "users",
            Tracked::Groups => "groups",
        },
    );
    let mut st = ctx.world.lock();
    let entra = &mut st.entra;
    let pending = if let Some(skip) = ctx.call.query("$skiptoken") {
        // A page link can be followed again (a client that crashed before storing its answer).
        match entra.delta.pending.get(skip).cloned() {
            Some(p) if p.tracked == tracked => p,
            _ => return Err(sync_state_not_found()),
        }
    } else {
        let (before, select) = match ctx.call.query("$deltatoken") {
            Some(token) => match entra.delta.snapshots.get(token) {
                Some(s) if s.tracked == tracked => (s.objects.clone(), s.select.clone()),
                _ => return Err(sync_state_not_found()),
            },
            None => (BTreeMap::new(), select(ctx)),
        };
        let after = current(entra, tracked, ctx.now);
        let items = changes(entra, tracked, select.as_deref(), &before, &after);
        let delta_token = ids::opaque(24);
        entra.delta.snapshots.insert(
            delta_token.clone(),
            Snapshot {
                tracked,
                select,
                objects: after,
            },
        );
        Pending {
            tracked,
            items,
            delta_token,
        }
    };
    let Pending {
        tracked,
        mut items,
        delta_token,
    } = pending;
    let rest = if items.len() > max {
        items.split_off(max)
    } else {
        Vec::new()
    };
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(context));
    if rest.is_empty() {
        body.insert(
            "@odata.deltaLink".into(),
            json!(format!("{base}?$deltatoken={delta_token}")),
        );
    } else {
        let skip = ids::opaque(24);
        entra.delta.pending.insert(
            skip.clone(),
            Pending {
                tracked,
                items: rest,
                delta_token,
            },
        );
        body.insert(
            "@odata.nextLink".into(),
            json!(format!("{base}?$skiptoken={skip}")),
        );
    }
    body.insert("value".into(), Value::Array(items));
    Ok(Reply::ok(Value::Object(body)))
}
