//! The Person: the normalised record of one human, whatever the source.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fields a source may set (besides `custom.<name>`), as `Person` names them.
pub const FIELDS: &[&str] = &[
    "id",
    "primary_email",
    "personal_email",
    "given_name",
    "family_name",
    "full_name",
    "department",
    "title",
    "manager_email",
    "employee_id",
    "org_unit",
    "location",
    "start_date",
    "end_date",
    "status",
];

/// One person as playbooks see it (`person.<field>`). Sources map their fields onto these;
/// anything else goes into `custom`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Person {
    /// The source's stable key for this person.
    pub id: Option<String>,
    pub primary_email: Option<String>,
    pub personal_email: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub full_name: Option<String>,
    pub department: Option<String>,
    pub title: Option<String>,
    pub manager_email: Option<String>,
    pub employee_id: Option<String>,
    pub org_unit: Option<String>,
    pub location: Option<String>,
    /// `YYYY-MM-DD`.
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    #[serde(default)]
    pub status: PersonStatus,
    #[serde(default)]
    pub custom: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersonStatus {
    #[default]
    Active,
    Suspended,
    Terminated,
}

impl PersonStatus {
    /// Suspended and terminated people have left.
    pub fn is_gone(self) -> bool {
        !matches!(self, PersonStatus::Active)
    }
}

/// A person document that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {message}")]
pub struct PersonError {
    pub place: String,
    pub message: String,
}

impl Person {
    /// Reads a person from JSON text; errors name `file:line:column`.
    pub fn from_json(file: &str, text: &str) -> Result<Person, PersonError> {
        let mut p: Person = serde_json::from_str(text).map_err(|e| PersonError {
            place: format!("{file}:{}:{}", e.line(), e.column()),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or_default()
                .to_string(),
        })?;
        p.fill_derived();
        Ok(p)
    }

    /// Fills what can be derived: `full_name` from the parts, `id` from the email.
    pub fn fill_derived(&mut self) {
        if self.full_name.is_none() {
            let parts: Vec<&str> = [self.given_name.as_deref(), self.family_name.as_deref()]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect();
            if !parts.is_empty() {
                self.full_name = Some(parts.join(" "));
            }
        }
        if self.id.is_none() {
            self.id = self
                .employee_id
                .clone()
                .or_else(|| self.primary_email.clone())
                .or_else(|| self.personal_email.clone());
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_errors_that_name_the_place() {
        let e = Person::from_json(
            "p.json",
            "{\n  \"given_name\": \"A\",\n  \"departmnt\": \"X\"\n}",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("p.json:3:"), "{e}");
        assert!(e.to_string().contains("departmnt"), "{e}");
    }

    #[test]
    fn derives_full_name_and_id() {
        let p = Person::from_json(
            "p",
            r#"{"given_name":"Ada","family_name":"Lovelace","employee_id":"E1"}"#,
        )
        .unwrap();
        assert_eq!(p.full_name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(p.id.as_deref(), Some("E1"));
    }
}
