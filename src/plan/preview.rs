//! What a write would do, as a connector's preview finds it with reads only: the effect, a line
//! for people, the field changes, and outputs shaped like the real action's so that later steps'
//! templates still render. The connectors implement their previews next to their actions
//! (`entra/preview.rs`, `google/preview.rs`, `hr.rs`, `mail.rs`), reusing the same look-ups.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

/// The id a planned object has until it exists: later steps see it in `steps.<id>.id`.
pub const NEW_ID: &str = "(new)";

/// What one step would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// A new object (an account).
    Create,
    /// Fields of an existing object change.
    Change,
    /// Something is added to an object (a license, group memberships).
    Add,
    /// Something is removed or deleted.
    Remove,
    /// A write whose result is already there (an existing account adopted, a member already).
    Unchanged,
    /// A message goes out (`email.send`).
    Send,
    /// A write the plan cannot look into (`http.request` POST, an action without a preview).
    Call,
    /// Only reads or computes (`validate`, `script`, `entra.find_user`, a GET).
    Read,
    /// The run would park on a timer, then go on.
    Wait,
    /// The run would ask a person to approve (the plan goes on as if approved).
    Approval,
    /// The run would park for review with the reasons; the plan for the person stops.
    Review,
    /// The step's `if:` is false.
    Skipped,
    /// The run would fail here (its `on_failure` steps are planned next).
    Fail,
    /// The plan could not find out (a read failed in a way a run would retry).
    Error,
}

impl Effect {
    /// The sign at the start of the step's line.
    pub fn sign(self) -> &'static str {
        match self {
            Effect::Create | Effect::Add => "+",
            Effect::Change => "~",
            Effect::Remove => "-",
            Effect::Unchanged => "=",
            Effect::Send | Effect::Call => ">",
            Effect::Read => " ",
            Effect::Wait => "…",
            Effect::Approval | Effect::Review => "?",
            Effect::Skipped => "·",
            Effect::Fail | Effect::Error => "!",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Create => "create",
            Effect::Change => "change",
            Effect::Add => "add",
            Effect::Remove => "remove",
            Effect::Unchanged => "unchanged",
            Effect::Send => "send",
            Effect::Call => "call",
            Effect::Read => "read",
            Effect::Wait => "wait",
            Effect::Approval => "approval",
            Effect::Review => "review",
            Effect::Skipped => "skipped",
            Effect::Fail => "fail",
            Effect::Error => "error",
        }
    }

    /// Whether a real run would execute the step (everything but a false `if:`).
    pub fn executes(self) -> bool {
        self != Effect::Skipped
    }
}

/// One field that would change: `from` is null when it is not set now (or the object is new).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

/// A connector write, previewed.
#[derive(Debug, Clone)]
pub struct Preview {
    pub effect: Effect,
    /// One line: "create user jane.doe@contoso.com", "add to All Staff (already in Sales)".
    pub summary: String,
    /// The object written: a UPN, a user id, an employee id, a recipient.
    pub target: Option<String>,
    pub changes: Vec<FieldChange>,
    /// Action-specific structure for `--json` (the groups to add, the SKU, …).
    pub detail: Value,
    /// What later steps see as `steps.<id>`: the real action's outputs, as far as they can be
    /// known (`NEW_ID` for the id of an object not created yet; secrets masked).
    pub outputs: Value,
    /// Keys of objects this write would create (their id and name), for `Planned`.
    pub creates: Vec<String>,
}

impl Preview {
    pub fn new(effect: Effect, summary: impl Into<String>, outputs: Value) -> Preview {
        Preview {
            effect,
            summary: summary.into(),
            target: None,
            changes: Vec::new(),
            detail: Value::Null,
            outputs,
            creates: Vec::new(),
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Preview {
        self.target = Some(target.into());
        self
    }

    pub fn changes(mut self, changes: Vec<FieldChange>) -> Preview {
        self.changes = changes;
        self
    }

    pub fn detail(mut self, detail: Value) -> Preview {
        self.detail = detail;
        self
    }
}

/// The objects earlier steps of the same plan would create: a later step that names one (by
/// `NEW_ID` or by its name) cannot read it yet, and its preview says so instead of calling.
#[derive(Debug, Default, Clone)]
pub struct Planned {
    keys: HashSet<String>,
    /// The name of the last object planned: what `NEW_ID` stands for in lines.
    last: Option<String>,
}

impl Planned {
    /// An object a step would create, by its name (a UPN).
    pub fn add(&mut self, name: &str) {
        self.keys.insert(name.to_lowercase());
        self.last = Some(name.to_string());
    }

    /// Whether `key` names an object that does not exist yet.
    pub fn contains(&self, key: &str) -> bool {
        key == NEW_ID || self.keys.contains(&key.to_lowercase())
    }

    /// The name of the planned object `key` stands for.
    pub fn label(&self, key: &str) -> Option<String> {
        if key == NEW_ID {
            self.last.clone()
        } else {
            self.contains(key).then(|| key.to_string())
        }
    }
}

tokio::task_local! {
    static RESERVED: Arc<HashSet<String>>;
}

/// Runs `f` with `addresses` (lower case) reserved: the accounts earlier people of the same
/// plan would create. The look-ups that pick a free address (`entra.create_user`'s next free
/// UPN, `identity.free_address`) pass over them as taken, as the runs would find them once
/// those earlier runs have created their accounts.
pub async fn reserving<F: Future>(addresses: Arc<HashSet<String>>, f: F) -> F::Output {
    RESERVED.scope(addresses, f).await
}

/// Whether an earlier person of the plan being made would take `address`.
pub fn is_reserved(address: &str) -> bool {
    RESERVED
        .try_with(|r| r.contains(&address.to_lowercase()))
        .unwrap_or(false)
}

/// Field changes from `current` (an object's properties) to the `wanted` values; the unchanged
/// ones left out.
pub fn field_changes<'a>(
    current: &Value,
    wanted: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> Vec<FieldChange> {
    wanted
        .into_iter()
        .filter_map(|(field, to)| {
            let from = current.get(field).cloned().unwrap_or(Value::Null);
            (from != *to).then(|| FieldChange {
                field: field.clone(),
                from,
                to: to.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_differing_fields_are_changes() {
        let current = json!({ "department": "Sales", "jobTitle": "Rep" });
        let wanted = json!({ "department": "Sales", "jobTitle": "Lead", "city": "Berlin" });
        let changes = field_changes(&current, wanted.as_object().into_iter().flatten());
        assert_eq!(
            changes,
            vec![
                FieldChange {
                    field: "jobTitle".into(),
                    from: json!("Rep"),
                    to: json!("Lead")
                },
                FieldChange {
                    field: "city".into(),
                    from: Value::Null,
                    to: json!("Berlin")
                },
            ]
        );
    }

    #[test]
    fn planned_objects_are_known_by_new_id_and_name_in_any_case() {
        let mut p = Planned::default();
        assert!(p.contains(NEW_ID));
        assert_eq!(p.label(NEW_ID), None);
        p.add("Jane.Doe@contoso.com");
        assert!(p.contains("jane.doe@contoso.com"));
        assert_eq!(p.label(NEW_ID).as_deref(), Some("Jane.Doe@contoso.com"));
        assert!(!p.contains("john@contoso.com"));
    }
}
