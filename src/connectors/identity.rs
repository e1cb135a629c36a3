//! `identity.*`: actions that span directories. `identity.free_address` picks a corporate
//! address free in every directory it checks (Entra and Google), so a joiner's mailbox never
//! collides with someone else's account or alias in either; the address already held by the
//! same person (same employee id) is theirs and is returned as it is, which keeps a re-run from
//! handing them a second address.

use serde_json::{json, Value};

use super::args::ArgMap;
use super::Connections;
use crate::actions::ActionError;

pub const ACTIONS: &[(&str, &[(&str, bool)])] = &[(
    "identity.free_address",
    &[
        ("local", true),
        ("domain", true),
        ("employee_id", false),
        ("check", false),
    ],
)];

/// Candidates tried before giving up (`jane.doe`, `jane.doe2`, … `jane.doe50`).
const MAX_CANDIDATES: usize = 50;

pub async fn execute(
    connections: &Connections,
    name: &str,
    args: &ArgMap,
) -> Result<Value, ActionError> {
    match name {
        "identity.free_address" => free_address(connections, args).await,
        other => Err(ActionError::permanent(format!(
            "unknown identity action '{other}'"
        ))),
    }
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
