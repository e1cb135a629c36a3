//! `imports:` in `roster.yaml`: named CSV import profiles. A profile says which source the rows
//! are observations of, how columns map onto Person fields (with simple transforms), which
//! column is the key, what the status column's values mean, and how big a file may be.
//! `imports::Profile` compiles a checked profile into what the importer runs.
//!
//! ```yaml
//! imports:
//!   hr:
//!     source: hr
//!     key: Employee ID
//!     columns:
//!       Employee ID: { field: employee_id, required: true }
//!       First Name:  { field: given_name, required: true, case: title, pattern: "^[\\p{L}' -]+$" }
//!       Start Date:  { field: start_date, date_formats: ["%m/%d/%Y"] }
//!       Status:      { field: status }
//!     status: { active: [Active, On Leave], terminated: [Terminated] }
//!     defaults: { org_unit: /Staff }
//! ```

use std::collections::BTreeMap;

use chrono::format::{Item, StrftimeItems};
use serde::Deserialize;

use super::{from_yaml_tree, Yaml};

/// The default `max_bytes`: 20 MiB, about 100,000 rows of a typical HR export.
pub const DEFAULT_MAX_BYTES: u64 = 20 * 1024 * 1024;
/// The default `max_rows`.
pub const DEFAULT_MAX_ROWS: u64 = 100_000;

/// The Person fields a column may map to (plus `custom.<name>`).
pub const PERSON_FIELDS: &[&str] = crate::person::FIELDS;

/// One import profile, `imports.<name>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportProfile {
    /// The source the rows are observations of (`person.joined: { source: hr }` matches it).
    /// Default: the profile's name.
    #[serde(default)]
    pub source: Option<String>,
    /// The column whose value is the person's stable id (`person.id`) in this source.
    pub key: String,
    /// Column header → how its cells become a Person field. Columns of the file that are not
    /// listed here are ignored. Headers match ignoring case and surrounding spaces.
    pub columns: BTreeMap<String, ColumnSpec>,
    /// Constant values for Person fields that no column (or an empty cell) sets,
    /// e.g. `org_unit: /Staff`.
    #[serde(default)]
    pub defaults: BTreeMap<String, String>,
    /// What the values of the column mapped to `status` mean. Default: the words `active`,
    /// `suspended` and `terminated`. Matched ignoring case; an empty cell means active.
    #[serde(default)]
    pub status: Option<StatusValues>,
    /// The field separator, one ASCII character: `","` (default), `";"`, `"\t"`, `"|"`.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// The largest file accepted, in bytes; a larger upload is refused (413) and nothing is
    /// stored. Default: 20 MiB.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// The most data rows accepted (the header not counted); more is refused (413) and
    /// nothing is stored. Default: 100,000.
    #[serde(default = "default_max_rows")]
    pub max_rows: u64,
    /// What a cell that fails its checks does to its row: `reject` (default) reports the row
    /// and imports nothing of it; `keep` imports the row with the cell's value as written, so
    /// that the playbook's `validate` step parks the person for review with the reason (a
    /// key cell that fails still rejects the row: without a key there is no person).
    #[serde(default)]
    pub invalid_cells: InvalidCells,
}

/// `imports.<name>.invalid_cells`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidCells {
    #[default]
    Reject,
    Keep,
}

/// How one column becomes a Person field. Transforms apply in this order: trim, case, map,
/// default; then the checks: required, one_of, pattern, and the field's own type (dates,
/// e-mail addresses, status values).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// The Person field: one of `id`, `primary_email`, `personal_email`, `given_name`,
    /// `family_name`, `full_name`, `department`, `title`, `manager_email`, `employee_id`,
    /// `org_unit`, `location`, `start_date`, `end_date`, `status`, or `custom.<name>`.
    pub field: String,
    /// The column must be in the file (else the whole file is refused) and its cells must not
    /// be empty (else that row is invalid).
    #[serde(default)]
    pub required: bool,
    /// Remove spaces around the value (default true).
    #[serde(default = "yes")]
    pub trim: bool,
    /// Change the case: `lower`, `upper` or `title` ("mary-jane o'neil" → "Mary-Jane O'Neil").
    #[serde(default)]
    pub case: Option<Case>,
    /// Replace values, matched ignoring case: `{ NYC: New York, "SF": San Francisco }`.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// The value of an empty cell.
    #[serde(default)]
    pub default: Option<String>,
    /// The only values accepted (after the map), compared exactly.
    #[serde(default)]
    pub one_of: Vec<String>,
    /// A regular expression the whole value must match (anchor it with `^…$`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// chrono formats the dates of this column are written in, tried in order, e.g.
    /// `["%m/%d/%Y", "%d.%m.%Y"]`; the value is stored as `YYYY-MM-DD`. Default for
    /// `start_date` and `end_date`: `["%Y-%m-%d"]`.
    #[serde(default)]
    pub date_formats: Vec<String>,
}

/// A case transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    Lower,
    Upper,
    Title,
}

/// The status column's vocabulary: which cell values mean which status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusValues {
    #[serde(default)]
    pub active: Vec<String>,
    #[serde(default)]
    pub suspended: Vec<String>,
    #[serde(default)]
    pub terminated: Vec<String>,
}

fn default_delimiter() -> String {
    ",".into()
}
fn default_max_bytes() -> u64 {
    DEFAULT_MAX_BYTES
}
fn default_max_rows() -> u64 {
    DEFAULT_MAX_ROWS
}
fn yes() -> bool {
    true
}

impl ImportProfile {
    /// Types one `imports.<name>` entry and checks it; every problem at once, one a line,
    /// each naming its key.
    pub fn parse(value: Yaml) -> Result<ImportProfile, String> {
        let profile: ImportProfile = from_yaml_tree(value).map_err(|e| e.to_string())?;
        let problems = profile.problems();
        if problems.is_empty() {
            Ok(profile)
        } else {
            Err(problems.join("\n"))
        }
    }

    /// The source name observations are recorded under.
    pub fn source_name<'a>(&'a self, profile: &'a str) -> &'a str {
        self.source.as_deref().unwrap_or(profile)
    }

    /// The delimiter as the byte the CSV reader takes.
    pub fn delimiter_byte(&self) -> Option<u8> {
        match self.delimiter.as_bytes() {
            [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => Some(*b),
            _ => None,
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.delimiter_byte().is_none() {
            out.push(format!(
                "delimiter: '{}' is not one ASCII character (other than a quote or a line break)",
                self.delimiter.escape_debug()
            ));
        }
        if self.max_bytes == 0 || self.max_rows == 0 {
            out.push("max_bytes and max_rows must be above 0".into());
        }
        if !self
            .columns
            .keys()
            .any(|c| c.trim().eq_ignore_ascii_case(self.key.trim()))
        {
            out.push(format!(
                "key: '{}' is not one of the columns listed under columns:",
                self.key
            ));
        }
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (column, spec) in &self.columns {
            let at = format!("columns.\"{column}\"");
            if let Err(e) = check_field(&spec.field) {
                out.push(format!("{at}.field: {e}"));
            }
            if spec.field == "id" && !column.trim().eq_ignore_ascii_case(self.key.trim()) {
                out.push(format!(
                    "{at}.field: id is set by the key column \"{}\"; map this column to \
                     another field or make it the key",
                    self.key
                ));
            }
            if let Some(first) = seen.insert(spec.field.clone(), column) {
                out.push(format!(
                    "{at}.field: '{}' is also set by column \"{first}\"",
                    spec.field
                ));
            }
            if let Some(p) = &spec.pattern {
                if let Err(e) = regex::Regex::new(p) {
                    out.push(format!("{at}.pattern: {e}"));
                }
            }
            for f in &spec.date_formats {
                if let Err(e) = check_date_format(f) {
                    out.push(format!("{at}.date_formats: {e}"));
                }
            }
        }
        for field in self.defaults.keys() {
            if let Err(e) = check_field(field) {
                out.push(format!("defaults.{field}: {e}"));
            }
        }
        out
    }
}

/// A Person field name, or `custom.<name>`.
pub fn check_field(field: &str) -> Result<(), String> {
    if PERSON_FIELDS.contains(&field) {
        return Ok(());
    }
    match field.strip_prefix("custom.") {
        Some(name) if !name.is_empty() && !name.contains('.') => Ok(()),
        _ => Err(format!(
            "'{field}' is not a Person field; expected one of {} or custom.<name>",
            PERSON_FIELDS.join(", ")
        )),
    }
}

/// A chrono format that can read a whole date (year, month and day).
fn check_date_format(format: &str) -> Result<(), String> {
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "'{format}' is not a valid date format (chrono strftime syntax, e.g. %m/%d/%Y)"
        ));
    }
    let has = |specs: &[&str]| specs.iter().any(|s| format.contains(s));
    if !(has(&["%Y", "%y", "%F", "%D"])
        && (has(&["%m", "%b", "%B", "%F", "%D"]) || has(&["%j"]))
        && (has(&["%d", "%e", "%F", "%D", "%j"])))
    {
        return Err(format!(
            "'{format}' does not read a whole date: it needs a year, a month and a day"
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ImportProfile, String> {
        ImportProfile::parse(crate::config::from_yaml(text).unwrap())
    }

    #[test]
    fn defaults_are_sound() {
        let p = parse("key: ID\ncolumns:\n  ID: { field: employee_id }\n").unwrap();
        assert_eq!(p.delimiter_byte(), Some(b','));
        assert_eq!(p.max_bytes, DEFAULT_MAX_BYTES);
        assert_eq!(p.max_rows, DEFAULT_MAX_ROWS);
        assert!(p.columns["ID"].trim);
        assert_eq!(p.source_name("hr"), "hr");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let e = parse(
            "key: Nope\ndelimiter: ';;'\ncolumns:\n  A: { field: givn_name }\n  B: { field: start_date, date_formats: ['%m/%Y'], pattern: '(' }\ndefaults: { custom.: x }\n",
        )
        .unwrap_err();
        for expected in [
            "delimiter:",
            "key: 'Nope'",
            "columns.\"A\".field: 'givn_name' is not a Person field",
            "columns.\"B\".pattern:",
            "columns.\"B\".date_formats: '%m/%Y' does not read a whole date",
            "defaults.custom.:",
        ] {
            assert!(e.contains(expected), "missing {expected:?} in:\n{e}");
        }
        let e = parse("key: A\ncolumns:\n  A: { field: id, colour: red }\n").unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn tab_delimiter_is_accepted() {
        let p = parse("key: A\ndelimiter: \"\\t\"\ncolumns:\n  A: { field: id }\n").unwrap();
        assert_eq!(p.delimiter_byte(), Some(b'\t'));
    }
}
