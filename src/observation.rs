//! Observations → events: what a new sighting of a person means against the last one.
//!
//! One vocabulary for all sources: `person.joined`, `person.changed` (with
//! `changes: {field: {from, to}}`), `person.left` (suspended or terminated), `person.returned`.

use serde_json::{json, Map, Value};

use crate::person::PersonStatus;

/// The meaning of an observation.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Joined,
    Changed(Map<String, Value>),
    Left,
    Returned,
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Joined => "person.joined",
            Change::Changed(_) => "person.changed",
            Change::Left => "person.left",
            Change::Returned => "person.returned",
        }
    }

    /// `changes` of the event: the changed fields for `person.changed`, empty otherwise.
    pub fn changes(&self) -> Map<String, Value> {
        match self {
            Change::Changed(c) => c.clone(),
            _ => Map::new(),
        }
    }
}

/// What the diff found.
#[derive(Debug, Clone, PartialEq)]
pub enum Diff {
    Unchanged,
    /// First sighting of someone who is already gone: remember, fire nothing.
    Baseline,
    Event(Change),
}

fn status(p: &Value) -> PersonStatus {
    p.get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default()
}

/// Compares the previous observation (if any) with the new one.
pub fn diff(previous: Option<&Value>, current: &Value) -> Diff {
    let Some(prev) = previous else {
        return if status(current).is_gone() {
            Diff::Baseline
        } else {
            Diff::Event(Change::Joined)
        };
    };
    match (status(prev).is_gone(), status(current).is_gone()) {
        (false, true) => return Diff::Event(Change::Left),
        (true, false) => return Diff::Event(Change::Returned),
        _ => {}
    }
    let mut changes = Map::new();
    field_changes("", prev, current, &mut changes);
    changes.remove("status");
    if changes.is_empty() {
        Diff::Unchanged
    } else {
        Diff::Event(Change::Changed(changes))
    }
}

/// Records `{from, to}` for every leaf that differs; `custom` fields as `custom.<name>`.
fn field_changes(prefix: &str, a: &Value, b: &Value, out: &mut Map<String, Value>) {
    let empty = Map::new();
    let (am, bm) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = am.keys().chain(bm.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (x, y) = (
            am.get(k).unwrap_or(&Value::Null),
            bm.get(k).unwrap_or(&Value::Null),
        );
        if x == y {
            continue;
        }
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if x.is_object() && y.is_object() && prefix.is_empty() {
            field_changes(&name, x, y, out);
        } else {
            out.insert(name, json!({ "from": x, "to": y }));
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn first_sighting_joins_unless_already_gone() {
        assert_eq!(
            diff(None, &json!({"status": "active"})),
            Diff::Event(Change::Joined)
        );
        assert_eq!(diff(None, &json!({"status": "terminated"})), Diff::Baseline);
    }

    #[test]
    fn status_transitions_are_left_and_returned() {
        let a = json!({"status": "active", "department": "X"});
        let s = json!({"status": "suspended", "department": "X"});
        assert_eq!(diff(Some(&a), &s), Diff::Event(Change::Left));
        assert_eq!(diff(Some(&s), &a), Diff::Event(Change::Returned));
    }

    #[test]
    fn field_changes_carry_from_and_to() {
        let a = json!({"status": "active", "department": "Sales", "custom": {"cc": "1"}});
        let b = json!({"status": "active", "department": "Finance", "custom": {"cc": "2"}});
        let Diff::Event(Change::Changed(c)) = diff(Some(&a), &b) else {
            panic!("expected a change")
        };
        assert_eq!(c["department"], json!({"from": "Sales", "to": "Finance"}));
        assert_eq!(c["custom.cc"], json!({"from": "1", "to": "2"}));
        assert_eq!(diff(Some(&a), &a), Diff::Unchanged);
    }
}
