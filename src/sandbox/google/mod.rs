//! The Google Admin SDK Directory API emulator (CONTRACT §1–§5): bearer token (401), faults,
//! scope (403 `insufficientPermissions`) and admin (403 `forbidden`) checks, then one `match`
//! over the operation. Resource modules: `users`, `aliases`, `groups`, `watch`; `query` is the users
//! search syntax, `errors` the error envelope, `model` the customer's state.

mod aliases;
pub mod errors;
mod groups;
pub mod model;
mod query;
mod users;
mod watch;

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

use errors::{GoogleError, GoogleResult};

use super::dispatch::Call;
use super::faults::Fault;
use super::reply::Reply;
use super::routes::Op;
use super::world::World;

const AUTH: &str = "https://www.googleapis.com/auth/";

/// The scopes (after `https://www.googleapis.com/auth/`) of which a call needs one, as listed
/// per method in the discovery document.
fn scopes(op: Op) -> &'static [&'static str] {
    match op {
        Op::GoogleListUsers => &[
            "admin.directory.user",
            "admin.directory.user.readonly",
            "cloud-platform",
        ],
        Op::GoogleGetUser | Op::GoogleWatchUsers => &[
            "admin.directory.user",
            "admin.directory.user.readonly",
            "cloud-platform",
        ],
        Op::GoogleListAliases => &[
            "admin.directory.user",
            "admin.directory.user.alias",
            "admin.directory.user.alias.readonly",
            "admin.directory.user.readonly",
        ],
        Op::GoogleInsertAlias | Op::GoogleDeleteAlias => {
            &["admin.directory.user", "admin.directory.user.alias"]
        }
        Op::GoogleStopChannel => &[
            "admin.directory.user",
            "admin.directory.user.alias",
            "admin.directory.user.alias.readonly",
            "admin.directory.user.readonly",
            "cloud-platform",
        ],
        Op::GoogleListGroups | Op::GoogleGetGroup => {
            &["admin.directory.group", "admin.directory.group.readonly"]
        }
        Op::GoogleListMembers | Op::GoogleGetMember | Op::GoogleHasMember => &[
            "admin.directory.group",
            "admin.directory.group.member",
            "admin.directory.group.member.readonly",
            "admin.directory.group.readonly",
        ],
        Op::GoogleInsertMember | Op::GoogleDeleteMember => {
            &["admin.directory.group", "admin.directory.group.member"]
        }
        Op::GoogleInsertGroup => &["admin.directory.group"],
        _ => &["admin.directory.user"],
    }
}

pub struct Ctx<'a> {
    pub world: &'a Arc<World>,
    pub call: &'a Call,
    pub now: Instant,
}

pub async fn handle(world: &Arc<World>, op: Op, call: &Call) -> Reply {
    let result = match authorize(world, op, call).await {
        Ok(()) => {
            let ctx = Ctx {
                world,
                call,
                now: Instant::now(),
            };
            execute(&ctx, op)
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(reply) => match (call.query("fields"), reply.json_body()) {
            (Some(fields), Some(body)) => Reply {
                body: super::reply::Body::Json(partial(body, fields)),
                ..reply
            },
            _ => reply,
        },
        Err(e) => e.reply(),
    }
}

/// Bearer token (header or `access_token` query parameter), faults, scope, then admin rights.
async fn authorize(world: &World, op: Op, call: &Call) -> Result<(), GoogleError> {
    let token = call.bearer().or_else(|| call.query("access_token"));
    let grant = world
        .lock()
        .tokens
        .google(token, Instant::now())
        .map_err(|_| GoogleError::unauthenticated())?;
    let (latency, fault) = world.draw_fault();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        Some(Fault::Throttle { retry_after_s }) => {
            return Err(GoogleError::rate_limited(retry_after_s))
        }
        Some(Fault::ServerError {
            status,
            retry_after_s,
        }) => return Err(GoogleError::server_error(status, retry_after_s)),
        None => {}
    }
    let allowed = scopes(op);
    if !grant
        .scopes
        .iter()
        .any(|s| s.strip_prefix(AUTH).is_some_and(|s| allowed.contains(&s)))
    {
        return Err(GoogleError::insufficient_scope());
    }
    let is_admin = grant.subject.as_deref().is_some_and(|sub| {
        let st = world.lock();
        st.google
            .find_user_index(sub)
            .is_some_and(|i| st.google.users[i].is_admin)
    });
    if !is_admin {
        return Err(GoogleError::forbidden());
    }
    Ok(())
}

fn execute(ctx: &Ctx, op: Op) -> GoogleResult {
    match op {
        Op::GoogleListUsers => users::list(ctx),
        Op::GoogleInsertUser => users::insert(ctx),
        Op::GoogleGetUser => users::get(ctx),
        Op::GooglePatchUser | Op::GoogleUpdateUser => users::patch(ctx),
        Op::GoogleDeleteUser => users::delete(ctx),
        Op::GoogleUndeleteUser => users::undelete(ctx),
        Op::GoogleMakeAdmin => users::make_admin(ctx),
        Op::GoogleListAliases => aliases::list(ctx),
        Op::GoogleInsertAlias => aliases::insert(ctx),
        Op::GoogleDeleteAlias => aliases::delete(ctx),
        Op::GoogleWatchUsers => watch::watch(ctx),
        Op::GoogleStopChannel => watch::stop(ctx),
        Op::GoogleListGroups => groups::list(ctx),
        Op::GoogleInsertGroup => groups::insert(ctx),
        Op::GoogleGetGroup => groups::get(ctx),
        Op::GoogleListMembers => groups::list_members(ctx),
        Op::GoogleInsertMember => groups::insert_member(ctx),
        Op::GoogleGetMember => groups::get_member(ctx),
        Op::GoogleDeleteMember => groups::delete_member(ctx),
        Op::GoogleHasMember => groups::has_member(ctx),
        _ => Err(GoogleError::new(
            501,
            "notImplemented",
            "Not implemented by the sandbox.",
        )),
    }
}

/// The `fields` partial response: `a,b(c,d),e/f` keeps those keys (into arrays, too).
pub fn partial(v: &Value, fields: &str) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| partial(x, fields)).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for spec in split_top(fields) {
                let (name, sub) = match (spec.find('('), spec.find('/')) {
                    (Some(p), _) if spec.ends_with(')') => {
                        (&spec[..p], Some(spec[p + 1..spec.len() - 1].to_string()))
                    }
                    (None, Some(s)) => (&spec[..s], Some(spec[s + 1..].to_string())),
                    _ => (spec.as_str(), None),
                };
                if let Some(val) = m.get(name) {
                    let kept = match &sub {
                        Some(sub) => partial(val, sub),
                        None => val.clone(),
                    };
                    match (out.get_mut(name), kept) {
                        (Some(Value::Object(existing)), Value::Object(more)) => {
                            existing.extend(more)
                        }
                        (_, kept) => {
                            out.insert(name.to_string(), kept);
                        }
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Splits at commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_responses_keep_the_named_fields() {
        let v = json!({"kind": "k", "users": [{"id": "1", "primaryEmail": "a@x", "name": {"givenName": "A", "familyName": "B"}}], "nextPageToken": "t"});
        let p = partial(&v, "users(id,name/givenName),nextPageToken");
        assert_eq!(
            p,
            json!({"users": [{"id": "1", "name": {"givenName": "A"}}], "nextPageToken": "t"})
        );
    }
}
