//! `identity.*`: actions that span directories. `identity.free_address` picks a corporate
//! address free in every directory it checks (Entra and Google), so a joiner's mailbox never
//! collides with someone else's account or alias in either; the address already held by the
//! same person (same employee id) is theirs and is returned as it is, which keeps a re-run from
//! handing them a second address.
//!
//! `identity.google_user` and `identity.google_groups` apply the Entra → Google mapping of
//! `identity.google` in `roster.yaml` (`google_address`): a user's Google address (or why it has
//! none: a skipped guest, or a reason for the review queue, where the step parks), and the
//! Google address and mapped members of each group, with colliding groups reported as
//! conflicts.

use serde_json::{json, Value};

use super::args::ArgMap;
use super::google_address::{self, SourceGroup, SourceUser, UserAddress};
use super::Connections;
use crate::actions::ActionError;

pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[
    (
        "identity.free_address",
        &[
            ("local", true),
            ("domain", true),
            ("employee_id", false),
            ("check", false),
        ],
    ),
    (
        "identity.google_user",
        &[
            ("upn", true),
            ("mail", false),
            ("user_type", false),
            ("address", false),
            ("on_unusable", false),
        ],
    ),
    ("identity.google_groups", &[("groups", true)]),
];

/// Candidates tried before giving up (`jane.doe`, `jane.doe2`, … `jane.doe50`).
const MAX_CANDIDATES: usize = 50;

pub async fn execute(
    connections: &Connections,
    name: &str,
    args: &ArgMap,
) -> Result<Value, ActionError> {
    match name {
        "identity.free_address" => free_address(connections, args).await,
        "identity.google_user" => google_user(connections, args),
        "identity.google_groups" => google_groups(connections, args),
        other => Err(ActionError::permanent(format!(
            "unknown identity action '{other}'"
        ))),
    }
}

/// `identity.google_user` → `outcome` (`provision` | `skip` | `review`), `address`, `reason`.
/// `address` (say a reviewer's correction, `person.custom.google_address`) overrides the
/// mapping when it is a routable address. With `on_unusable: review` (the default) a `review`
/// outcome parks the step in the review queue (`actions::connector`); `report` only reports it
/// (a leaver without an address has nothing to review).
fn google_user(connections: &Connections, args: &ArgMap) -> Result<Value, ActionError> {
    let m = connections.mapping();
    let report = match args.opt_str("on_unusable")? {
        None | Some("review") => false,
        Some("report") => true,
        Some(other) => {
            return Err(ActionError::permanent(format!(
                "on_unusable '{other}': use review or report"
            )))
        }
    };
    let mut out = google_user_address(m, args)?;
    out["park"] = json!(!report && out["outcome"] == "review");
    Ok(out)
}

fn google_user_address(
    m: &crate::config::GoogleMapping,
    args: &ArgMap,
) -> Result<Value, ActionError> {
    if let Some(a) = args
        .opt_str("address")?
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let forced = google_address::user(
            m,
            &SourceUser {
                upn: a,
                mail: None,
                user_type: None,
            },
        );
        if let UserAddress::Provision(_) = forced {
            return Ok(forced.to_json());
        }
    }
    let mapped = google_address::user(
        m,
        &SourceUser {
            upn: args.str("upn")?,
            mail: args.opt_str("mail")?,
            user_type: args.opt_str("user_type")?,
        },
    );
    Ok(mapped.to_json())
}

/// `identity.google_groups` (`groups`: `[{id, display_name, mail, security_enabled, members:
/// [{user_principal_name, mail, user_type}]}]`, as `entra.read_groups` gives them) →
/// `mirrors: {google address: [member addresses]}`, `names: {google address: display name}`,
/// `groups: [{id, name, address}]`, `conflicts`, `skipped: [{id, reason}]` and
/// `unmapped_members: [{group, user, outcome, reason}]`.
fn google_groups(connections: &Connections, args: &ArgMap) -> Result<Value, ActionError> {
    let m = connections.mapping();
    let input = args.list("groups")?;
    let text = |v: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(String::from)
    };
    let mut sources = Vec::new();
    for (i, g) in input.iter().enumerate() {
        let id = text(g, &["id"])
            .ok_or_else(|| ActionError::permanent(format!("groups[{i}] has no id: {g}")))?;
        sources.push(SourceGroup {
            name: text(g, &["display_name", "displayName"]).unwrap_or_else(|| id.clone()),
            id,
            mail: text(g, &["mail"]),
            security_enabled: ["security_enabled", "securityEnabled"]
                .iter()
                .any(|k| g.get(*k) == Some(&Value::Bool(true))),
        });
    }
    let plan = google_address::groups(m, &sources);
    let (mut mirrors, mut names) = (serde_json::Map::new(), serde_json::Map::new());
    let mut unmapped = Vec::new();
    let mut mapped = Vec::new();
    for (id, name, address) in &plan.mapped {
        let members = input
            .iter()
            .find(|g| g.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .and_then(|g| g.get("members"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut wanted: Vec<Value> = Vec::new();
        for u in &members {
            let upn = text(u, &["user_principal_name", "userPrincipalName"]).unwrap_or_default();
            let mail = text(u, &["mail"]);
            let user_type = text(u, &["user_type", "userType"]);
            match google_address::user(
                m,
                &SourceUser {
                    upn: &upn,
                    mail: mail.as_deref(),
                    user_type: user_type.as_deref(),
                },
            ) {
                UserAddress::Provision(a) => {
                    if !wanted.contains(&json!(a)) {
                        wanted.push(json!(a));
                    }
                }
                other => {
                    let o = other.to_json();
                    unmapped.push(json!({"group": address, "user": upn,
                        "outcome": o["outcome"], "reason": o["reason"]}));
                }
            }
        }
        mirrors.insert(address.clone(), Value::Array(wanted));
        names.insert(address.clone(), json!(name));
        mapped.push(json!({"id": id, "name": name, "address": address}));
    }
    let skipped: Vec<Value> = plan
        .skipped
        .iter()
        .map(|(id, reason)| json!({"id": id, "reason": reason}))
        .collect();
    Ok(json!({
        "mirrors": mirrors,
        "names": names,
        "groups": mapped,
        "conflicts": plan.conflicts,
        "skipped": skipped,
        "unmapped_members": unmapped,
    }))
}

/// Who holds an address in one directory.
enum Holder {
    Nobody,
    SamePerson,
    Other(String),
}

async fn free_address(connections: &Connections, args: &ArgMap) -> Result<Value, ActionError> {
    let local = args.str("local")?.trim().to_lowercase();
    let domain = args.str("domain")?.trim().to_lowercase();
    if local.is_empty() || local.contains('@') || domain.is_empty() || domain.contains('@') {
        return Err(ActionError::permanent(format!(
            "identity.free_address: '{local}' and '{domain}' do not make an address"
        )));
    }
    let employee_id = args.opt_str("employee_id")?.filter(|e| !e.is_empty());
    let mut check = args.str_list("check")?;
    if check.is_empty() {
        check = vec!["entra".into(), "google".into()];
    }
    let mut taken = Vec::new();
    for n in 1..=MAX_CANDIDATES {
        let candidate = match n {
            1 => format!("{local}@{domain}"),
            n => format!("{local}{n}@{domain}"),
        };
        // Planning: an earlier person of the plan would have taken it by then.
        if crate::plan::preview::is_reserved(&candidate) {
            taken.push(json!({ "address": candidate, "in": "plan", "by": "an earlier person" }));
            continue;
        }
        let mut mine = false;
        let mut free = true;
        for conn in &check {
            match holder(connections, conn, &candidate, employee_id).await? {
                Holder::Nobody => {}
                Holder::SamePerson => mine = true,
                Holder::Other(who) => {
                    taken.push(json!({ "address": candidate, "in": conn, "by": who }));
                    free = false;
                    break;
                }
            }
        }
        if free {
            return Ok(json!({
                "address": candidate,
                "local_part": candidate.split('@').next().unwrap_or_default(),
                "existing": mine,
                "taken": taken,
            }));
        }
    }
    Err(ActionError::permanent(format!(
        "no free address among {local}@{domain} … {local}{MAX_CANDIDATES}@{domain}"
    )))
}

async fn holder(
    connections: &Connections,
    conn: &str,
    address: &str,
    employee_id: Option<&str>,
) -> Result<Holder, ActionError> {
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    if let Ok(entra) = connections.entra(conn) {
        return Ok(match entra.user_by_address(address).await? {
            None => Holder::Nobody,
            Some(u)
                if employee_id.is_some() && field(&u, "employeeId").as_deref() == employee_id =>
            {
                Holder::SamePerson
            }
            Some(u) => Holder::Other(field(&u, "id").unwrap_or_default()),
        });
    }
    let google = connections.google(conn)?;
    match google
        .get_user(address, "basic")
        .await
        .map_err(|e| e.into_action())?
    {
        None => Ok(Holder::Nobody),
        Some(u) => {
            let same = employee_id.is_some_and(|e| {
                u.get("externalIds")
                    .and_then(Value::as_array)
                    .is_some_and(|ids| {
                        ids.iter()
                            .any(|i| i.get("value").and_then(Value::as_str) == Some(e))
                    })
            });
            Ok(if same {
                Holder::SamePerson
            } else {
                Holder::Other(field(&u, "id").unwrap_or_default())
            })
        }
    }
}
