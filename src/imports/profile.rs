//! A checked import profile (`config::ImportProfile`) compiled into what the importer runs:
//! typed Person fields, compiled patterns, the status vocabulary, the delimiter byte.

use regex::Regex;

use crate::config::{Case, ImportProfile};
use crate::person::{Person, PersonStatus};

/// A Person field a column writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Id,
    PrimaryEmail,
    PersonalEmail,
    GivenName,
    FamilyName,
    FullName,
    Department,
    Title,
    ManagerEmail,
    EmployeeId,
    OrgUnit,
    Location,
    StartDate,
    EndDate,
    Status,
    Custom(String),
}

/// What a field's values must look like, beyond the column's own checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Email,
    Date,
    Status,
}

impl Field {
    pub fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "id" => Field::Id,
            "primary_email" => Field::PrimaryEmail,
            "personal_email" => Field::PersonalEmail,
            "given_name" => Field::GivenName,
            "family_name" => Field::FamilyName,
            "full_name" => Field::FullName,
            "department" => Field::Department,
            "title" => Field::Title,
            "manager_email" => Field::ManagerEmail,
            "employee_id" => Field::EmployeeId,
            "org_unit" => Field::OrgUnit,
            "location" => Field::Location,
            "start_date" => Field::StartDate,
            "end_date" => Field::EndDate,
            "status" => Field::Status,
            other => match other.strip_prefix("custom.") {
                Some(name) if !name.is_empty() => Field::Custom(name.to_string()),
                _ => return None,
            },
        })
    }

    pub fn kind(&self) -> Kind {
        match self {
            Field::PrimaryEmail | Field::PersonalEmail | Field::ManagerEmail => Kind::Email,
            Field::StartDate | Field::EndDate => Kind::Date,
            Field::Status => Kind::Status,
            _ => Kind::Text,
        }
    }

    /// Whether the person already has a value for this field.
    pub fn is_set(&self, p: &Person) -> bool {
        match self {
            Field::Status => false,
            Field::Custom(name) => p.custom.contains_key(name),
            other => other.slot(p).is_some_and(|v| v.is_some()),
        }
    }

    fn slot<'a>(&self, p: &'a Person) -> Option<&'a Option<String>> {
        Some(match self {
            Field::Id => &p.id,
            Field::PrimaryEmail => &p.primary_email,
            Field::PersonalEmail => &p.personal_email,
            Field::GivenName => &p.given_name,
            Field::FamilyName => &p.family_name,
            Field::FullName => &p.full_name,
            Field::Department => &p.department,
            Field::Title => &p.title,
            Field::ManagerEmail => &p.manager_email,
            Field::EmployeeId => &p.employee_id,
            Field::OrgUnit => &p.org_unit,
            Field::Location => &p.location,
            Field::StartDate => &p.start_date,
            Field::EndDate => &p.end_date,
            Field::Status | Field::Custom(_) => return None,
        })
    }

    /// Writes a text value (status is set with `PersonStatus`, not here).
    pub fn set(&self, p: &mut Person, value: String) {
        let slot = match self {
            Field::Id => &mut p.id,
            Field::PrimaryEmail => &mut p.primary_email,
            Field::PersonalEmail => &mut p.personal_email,
            Field::GivenName => &mut p.given_name,
            Field::FamilyName => &mut p.family_name,
            Field::FullName => &mut p.full_name,
            Field::Department => &mut p.department,
            Field::Title => &mut p.title,
            Field::ManagerEmail => &mut p.manager_email,
            Field::EmployeeId => &mut p.employee_id,
            Field::OrgUnit => &mut p.org_unit,
            Field::Location => &mut p.location,
            Field::StartDate => &mut p.start_date,
            Field::EndDate => &mut p.end_date,
            Field::Status => return,
            Field::Custom(name) => {
                p.custom
                    .insert(name.clone(), serde_json::Value::String(value));
                return;
            }
        };
        *slot = Some(value);
    }
}

/// One mapped column.
#[derive(Debug, Clone)]
pub struct Column {
    /// The header as the profile spells it.
    pub header: String,
    pub field: Field,
    pub required: bool,
    /// This column's value is the person's id.
    pub is_key: bool,
    pub trim: bool,
    pub case: Option<Case>,
    /// `(lower-cased from, to)`.
    pub map: Vec<(String, String)>,
    pub default: Option<String>,
    pub one_of: Vec<String>,
    pub pattern: Option<(String, Regex)>,
    pub date_formats: Vec<String>,
}

/// A profile ready to run.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub source: String,
    pub key: String,
    pub columns: Vec<Column>,
    pub defaults: Vec<(Field, String)>,
    /// `(lower-cased value, status)`.
    pub statuses: Vec<(String, PersonStatus)>,
    pub delimiter: u8,
    pub max_bytes: u64,
    pub max_rows: u64,
    /// Import a row whose cells fail their checks, with the values as written (`keep`).
    pub keep_invalid: bool,
}

impl Profile {
    /// Compiles a profile the config loader has checked; a problem found here anyway names the
    /// profile and the key.
    pub fn compile(name: &str, p: &ImportProfile) -> Result<Profile, String> {
        let at = |key: &str| format!("imports.{name}.{key}");
        let delimiter = p
            .delimiter_byte()
            .ok_or_else(|| format!("{}: not one ASCII character", at("delimiter")))?;
        let mut columns = Vec::new();
        for (header, spec) in &p.columns {
            let key = format!("columns.\"{header}\"");
            let field = Field::parse(&spec.field)
                .ok_or_else(|| format!("{}: '{}' is not a Person field", at(&key), spec.field))?;
            let pattern = match &spec.pattern {
                Some(src) => Some((
                    src.clone(),
                    Regex::new(src).map_err(|e| format!("{}.pattern: {e}", at(&key)))?,
                )),
                None => None,
            };
            let mut date_formats = spec.date_formats.clone();
            if date_formats.is_empty() && field.kind() == Kind::Date {
                date_formats.push("%Y-%m-%d".into());
            }
            columns.push(Column {
                header: header.trim().to_string(),
                is_key: header.trim().eq_ignore_ascii_case(p.key.trim()),
                field,
                required: spec.required,
                trim: spec.trim,
                case: spec.case,
                map: spec
                    .map
                    .iter()
                    .map(|(from, to)| (from.to_lowercase(), to.clone()))
                    .collect(),
                default: spec.default.clone(),
                one_of: spec.one_of.clone(),
                pattern,
                date_formats,
            });
        }
        let mut defaults = Vec::new();
        for (field, value) in &p.defaults {
            let f = Field::parse(field)
                .ok_or_else(|| format!("{}: '{field}' is not a Person field", at("defaults")))?;
            defaults.push((f, value.clone()));
        }
        let statuses = match &p.status {
            None => vec![
                ("active".into(), PersonStatus::Active),
                ("suspended".into(), PersonStatus::Suspended),
                ("terminated".into(), PersonStatus::Terminated),
            ],
            Some(s) => [
                (&s.active, PersonStatus::Active),
                (&s.suspended, PersonStatus::Suspended),
                (&s.terminated, PersonStatus::Terminated),
            ]
            .into_iter()
            .flat_map(|(values, status)| {
                values
                    .iter()
                    .map(move |v| (v.trim().to_lowercase(), status))
            })
            .collect(),
        };
        Ok(Profile {
            name: name.to_string(),
            source: p.source_name(name).to_string(),
            key: p.key.trim().to_string(),
            columns,
            defaults,
            statuses,
            delimiter,
            max_bytes: p.max_bytes,
            max_rows: p.max_rows,
            keep_invalid: p.invalid_cells == crate::config::InvalidCells::Keep,
        })
    }

    /// The status a cell's value means, if it is one of the profile's values.
    pub fn status(&self, value: &str) -> Option<PersonStatus> {
        let v = value.trim().to_lowercase();
        self.statuses
            .iter()
            .find(|(s, _)| *s == v)
            .map(|(_, status)| *status)
    }

    /// The status values, for error messages.
    pub fn status_values(&self) -> Vec<&str> {
        self.statuses.iter().map(|(s, _)| s.as_str()).collect()
    }
}
