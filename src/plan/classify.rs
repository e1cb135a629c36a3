//! The one table that decides what a plan does with each connector action: a read is executed
//! for real (its answer is what later steps need); a write is previewed by its connector with
//! reads only. An action missing here is treated as a write, and one without a preview is
//! reported as the call it would be: a new action can never write during a plan.

/// How a plan treats a connector action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Changes nothing: executed as in a run (under the read-only guard all the same).
    Read,
    /// Changes something: previewed.
    Write,
}

const ACTIONS: &[(&str, Treatment)] = &[
    ("entra.create_user", Treatment::Write),
    ("entra.find_user", Treatment::Read),
    ("entra.update_user", Treatment::Write),
    ("entra.assign_license", Treatment::Write),
    ("entra.remove_license", Treatment::Write),
    ("entra.add_to_groups", Treatment::Write),
    ("entra.remove_from_groups", Treatment::Write),
    ("entra.list_groups", Treatment::Read),
    ("entra.list_group_members", Treatment::Read),
    ("entra.remove_from_all_groups", Treatment::Write),
    ("entra.remove_all_licenses", Treatment::Write),
    ("entra.add_group_members", Treatment::Write),
    ("entra.remove_group_members", Treatment::Write),
    ("entra.disable_user", Treatment::Write),
    ("entra.enable_user", Treatment::Write),
    ("entra.revoke_sessions", Treatment::Write),
    ("entra.delete_user", Treatment::Write),
    ("entra.bulk_upload", Treatment::Write),
    ("google.get_user", Treatment::Read),
    ("google.update_user", Treatment::Write),
    ("google.suspend_user", Treatment::Write),
    ("google.list_group_members", Treatment::Read),
    ("google.create_user", Treatment::Write),
    ("google.unsuspend_user", Treatment::Write),
    ("google.delete_user", Treatment::Write),
    ("google.ensure_group", Treatment::Write),
    ("google.add_member", Treatment::Write),
    ("google.remove_member", Treatment::Write),
    ("identity.free_address", Treatment::Read),
    ("identity.google_user", Treatment::Read),
    ("identity.google_groups", Treatment::Read),
    ("entra.read_groups", Treatment::Read),
    ("scim.ensure_user", Treatment::Write),
    ("scim.deactivate_user", Treatment::Write),
    ("scim.delete_user", Treatment::Write),
    ("scim.ensure_group", Treatment::Write),
    ("scim.add_to_group", Treatment::Write),
    ("scim.remove_from_group", Treatment::Write),
    ("hr.update_employee", Treatment::Write),
    ("email.send", Treatment::Write),
];

/// How a plan treats the connector action `name`; a write unless the table says otherwise.
pub fn treatment(name: &str) -> Treatment {
    ACTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(Treatment::Write, |(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adding a connector action means deciding here whether a plan may execute it.
    #[test]
    fn every_connector_action_is_classified() {
        for (name, _) in crate::actions::connector::specs() {
            assert!(
                ACTIONS.iter().any(|(n, _)| n == name),
                "{name} is not in plan::classify::ACTIONS: is it a read or a write?"
            );
        }
        assert_eq!(treatment("entra.find_user"), Treatment::Read);
        assert_eq!(treatment("some.new_action"), Treatment::Write);
    }
}
