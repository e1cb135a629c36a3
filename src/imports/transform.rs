//! One row's cells → a Person: each mapped column's transforms (trim, case, map, default) and
//! checks (required, one_of, pattern, dates, e-mail addresses, status values). Every problem
//! of the row is reported, each with its column.

use chrono::NaiveDate;

use super::profile::{Column, Field, Kind, Profile};
use super::report::CellError;
use crate::config::Case;
use crate::person::{Person, PersonStatus};
use crate::script::title_case;

/// The person a row describes, or every reason it cannot.
pub fn person(
    profile: &Profile,
    positions: &[Option<usize>],
    cells: &[String],
) -> Result<Person, Vec<CellError>> {
    let mut p = Person::default();
    let mut errors = Vec::new();
    for (column, position) in profile.columns.iter().zip(positions) {
        let raw = position
            .and_then(|i| cells.get(i))
            .map(String::as_str)
            .unwrap_or_default();
        match value(profile, column, raw) {
            Ok(None) => {}
            Ok(Some(Value::Text(v))) => {
                if column.is_key {
                    p.id = Some(v.clone());
                }
                column.field.set(&mut p, v);
            }
            Ok(Some(Value::Status(s))) => p.status = s,
            // Kept as written for the playbook's `validate` to judge (and park for review).
            Err(_) if profile.keep_invalid && !column.is_key && column.field != Field::Status => {
                if !raw.trim().is_empty() {
                    column.field.set(&mut p, raw.trim().to_string());
                }
            }
            Err(reason) => errors.push(CellError::column(&column.header, reason)),
        }
    }
    for (field, v) in &profile.defaults {
        if !field.is_set(&p) {
            field.set(&mut p, v.clone());
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    p.fill_derived();
    Ok(p)
}

enum Value {
    Text(String),
    Status(PersonStatus),
}

fn value(profile: &Profile, column: &Column, raw: &str) -> Result<Option<Value>, String> {
    let mut v = if column.trim {
        raw.trim().to_string()
    } else {
        raw.to_string()
    };
    if let Some(case) = column.case {
        v = match case {
            Case::Lower => v.to_lowercase(),
            Case::Upper => v.to_uppercase(),
            Case::Title => title_case(&v),
        };
    }
    if let Some((_, to)) = column
        .map
        .iter()
        .find(|(from, _)| *from == v.to_lowercase())
    {
        v = to.clone();
    }
    if v.trim().is_empty() {
        match &column.default {
            Some(d) => v = d.clone(),
            None if column.required || column.is_key => {
                return Err(if column.is_key {
                    "empty: this is the key column, every row needs a value".into()
                } else {
                    "empty, but the column is required".into()
                })
            }
            None => return Ok(None),
        }
    }
    if !column.one_of.is_empty() && !column.one_of.contains(&v) {
        return Err(format!(
            "'{v}' is not one of the accepted values: {}",
            column.one_of.join(", ")
        ));
    }
    if let Some((source, re)) = &column.pattern {
        if !re.is_match(&v) {
            return Err(format!("'{v}' does not match the pattern {source}"));
        }
    }
    if column.field == Field::Status {
        return match profile.status(&v) {
            Some(s) => Ok(Some(Value::Status(s))),
            None => Err(format!(
                "'{v}' is not a status this profile knows; expected one of: {}",
                profile.status_values().join(", ")
            )),
        };
    }
    if !column.date_formats.is_empty() {
        v = date(&v, &column.date_formats)?;
    }
    if column.field.kind() == Kind::Email && !is_email(&v) {
        return Err(format!("'{v}' is not an e-mail address"));
    }
    Ok(Some(Value::Text(v)))
}

/// The date in `YYYY-MM-DD`, read with the first format that fits.
fn date(v: &str, formats: &[String]) -> Result<String, String> {
    formats
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(v, f).ok())
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| format!("'{v}' is not a date in the format {}", formats.join(" or ")))
}

/// A plausible address: one `@`, something before it, a dotted domain after it, no spaces.
fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !v.chars().any(char::is_whitespace)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::ImportProfile;

    fn profile() -> Profile {
        let text = r#"
key: ID
columns:
  ID: { field: employee_id }
  First: { field: given_name, required: true, case: title, pattern: "^[\\p{L}' -]+$" }
  Last: { field: family_name }
  Mail: { field: primary_email, case: lower }
  Start: { field: start_date, date_formats: ["%m/%d/%Y", "%Y-%m-%d"] }
  City: { field: location, map: { NYC: New York }, one_of: [New York, Berlin], default: Berlin }
  Status: { field: status }
  Cost Center: { field: custom.cost_center }
status: { active: [Active], terminated: [Terminated, Gone] }
defaults: { org_unit: /Staff }
"#;
        let p = ImportProfile::parse(crate::config::from_yaml(text).unwrap()).unwrap();
        Profile::compile("hr", &p).unwrap()
    }

    fn row(cells: &[&str]) -> Result<Person, Vec<CellError>> {
        let p = profile();
        // Columns compile in name order: City, Cost Center, First, ID, Last, Mail, Start, Status.
        let positions: Vec<Option<usize>> = (0..p.columns.len()).map(Some).collect();
        let cells: Vec<String> = cells.iter().map(|s| s.to_string()).collect();
        person(&p, &positions, &cells)
    }

    #[test]
    fn transforms_a_valid_row() {
        let p = row(&[
            " nyc ",
            "CC-1",
            "mary-jane",
            "E1",
            "O'Neil",
            "MJ@Example.COM",
            "03/01/2024",
            "gone",
        ])
        .unwrap();
        assert_eq!(p.id.as_deref(), Some("E1"));
        assert_eq!(p.employee_id.as_deref(), Some("E1"));
        assert_eq!(p.given_name.as_deref(), Some("Mary-Jane"));
        assert_eq!(p.full_name.as_deref(), Some("Mary-Jane O'Neil"));
        assert_eq!(p.primary_email.as_deref(), Some("mj@example.com"));
        assert_eq!(p.start_date.as_deref(), Some("2024-03-01"));
        assert_eq!(p.location.as_deref(), Some("New York"));
        assert_eq!(p.org_unit.as_deref(), Some("/Staff"));
        assert_eq!(p.status, PersonStatus::Terminated);
        assert_eq!(p.custom["cost_center"], "CC-1");
    }

    #[test]
    fn reports_every_problem_with_its_column() {
        let e = row(&[
            "Paris",
            "",
            "J0hn",
            "",
            "x",
            "not-an-email",
            "2024-13-45",
            "Retired",
        ])
        .unwrap_err();
        let columns: Vec<&str> = e.iter().filter_map(|e| e.column.as_deref()).collect();
        assert_eq!(columns, ["City", "First", "ID", "Mail", "Start", "Status"]);
        assert!(e[0].reason.contains("not one of the accepted values"));
        assert!(e[1].reason.contains("does not match the pattern"));
        assert!(e[2].reason.contains("key column"));
        assert!(e[4]
            .reason
            .contains("not a date in the format %m/%d/%Y or %Y-%m-%d"));
        assert!(e[5]
            .reason
            .contains("expected one of: active, terminated, gone"));
    }

    #[test]
    fn empty_cells_take_the_default_or_stay_unset() {
        let p = row(&["", "", "Ada", "E2", "", "", "", ""]).unwrap();
        assert_eq!(p.location.as_deref(), Some("Berlin"));
        assert_eq!(p.family_name, None);
        assert_eq!(p.status, PersonStatus::Active);
    }
}
