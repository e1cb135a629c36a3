//! JSON → Person: a webhook's `mapping:` compiled once, applied to each body. Errors name the
//! JSON path and the Person field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::json_path::JsonPath;
use crate::config::{FieldMapping, FieldRule};
use crate::person::Person;

/// A body that does not map onto a Person.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path} → {field}: {message}")]
pub struct MappingError {
    /// The JSON path (`$.employee.start`), or `$` for the body as a whole.
    pub path: String,
    pub field: String,
    pub message: String,
}

struct Rule {
    field: String,
    path: JsonPath,
    rule: FieldRule,
}

/// A compiled mapping.
pub struct PersonMapping {
    rules: Vec<Rule>,
}

impl PersonMapping {
    pub fn compile(mapping: &BTreeMap<String, FieldMapping>) -> Result<PersonMapping, String> {
        let rules = mapping
            .iter()
            .map(|(field, m)| {
                let rule = m.rule();
                let path = JsonPath::parse(&rule.path).map_err(|e| format!("{field}: {e}"))?;
                Ok(Rule {
                    field: field.clone(),
                    path,
                    rule,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(PersonMapping { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The Person (as JSON) a body describes.
    pub fn apply(&self, body: &Value) -> Result<Value, MappingError> {
        let mut out = Map::new();
        let mut custom = Map::new();
        for r in &self.rules {
            let err = |message: String| MappingError {
                path: r.path.as_str().to_string(),
                field: r.field.clone(),
                message,
            };
            let Some(v) = r.value(body).map_err(err)? else {
                continue;
            };
            match r.field.strip_prefix("custom.") {
                Some(c) => {
                    custom.insert(c.to_string(), v);
                }
                None => {
                    out.insert(r.field.clone(), v);
                }
            }
        }
        if !custom.is_empty() {
            out.insert("custom".into(), Value::Object(custom));
        }
        let mut person: Person =
            serde_json::from_value(Value::Object(out)).map_err(|e| MappingError {
                path: "$".into(),
                field: "person".into(),
                message: e.to_string(),
            })?;
        person.fill_derived();
        if person.id.is_none() {
            return Err(MappingError {
                path: "$".into(),
                field: "id".into(),
                message: "the body gives no id: map `id`, `employee_id` or `primary_email`".into(),
            });
        }
        Ok(person.to_value())
    }
}

impl Rule {
    /// The field's value, `None` when absent (and neither required nor defaulted).
    fn value(&self, body: &Value) -> Result<Option<Value>, String> {
        let raw = self
            .path
            .get(body)
            .filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()));
        let Some(raw) = raw else {
            return match (&self.rule.default, self.rule.required) {
                (Some(d), _) => Ok(Some(d.clone())),
                (None, true) => Err("required, but missing or empty".into()),
                (None, false) => Ok(None),
            };
        };
        let custom = self.field.starts_with("custom.");
        let mut s = match raw {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => raw.to_string(),
            _ if custom && self.rule.values.is_none() => return Ok(Some(raw.clone())),
            _ => return Err(format!("expected a text value, found {raw}")),
        };
        if self.rule.trim {
            s = s.trim().to_string();
        }
        if let Some(values) = &self.rule.values {
            s = values.get(&s).cloned().ok_or_else(|| {
                format!(
                    "'{s}' is not one of the mapped values ({})",
                    values.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })?;
        }
        s = match self.rule.case.as_deref() {
            Some("lower") => s.to_lowercase(),
            Some("upper") => s.to_uppercase(),
            Some("title") => title(&s),
            _ => s,
        };
        if let Some(fmt) = &self.rule.date_format {
            let d = chrono::NaiveDate::parse_from_str(&s, fmt)
                .map_err(|e| format!("'{s}' is not a date in the format {fmt}: {e}"))?;
            s = d.format("%Y-%m-%d").to_string();
        }
        if self.field == "status" && !matches!(s.as_str(), "active" | "suspended" | "terminated") {
            return Err(format!(
                "'{s}' is not a status (active, suspended, terminated); map source values with `values:`"
            ));
        }
        Ok(Some(Value::String(s)))
    }
}

fn title(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(c.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(yaml: &str) -> PersonMapping {
        let m: BTreeMap<String, FieldMapping> = crate::config::from_yaml(yaml).unwrap();
        PersonMapping::compile(&m).unwrap()
    }

    #[test]
    fn paths_and_transforms_build_a_person() {
        let m = mapping(
            "id: $.e.id\ngiven_name: { path: $.e.first, case: title }\n\
             start_date: { path: $.e.start, date_format: '%d/%m/%Y' }\n\
             status: { path: $.e.state, values: { hired: active, gone: terminated } }\n\
             custom.cc: $.e.cc\n",
        );
        let p = m
            .apply(&json!({"e": {"id": 7, "first": " aDA ", "start": "05/01/2026", "state": "gone", "cc": "42"}}))
            .unwrap();
        assert_eq!(p["id"], "7");
        assert_eq!(p["given_name"], "Ada");
        assert_eq!(p["start_date"], "2026-01-05");
        assert_eq!(p["status"], "terminated");
        assert_eq!(p["custom"]["cc"], "42");
    }

    #[test]
    fn errors_name_the_json_path_and_field() {
        let m = mapping("id: $.e.id\nstart_date: { path: $.e.start, date_format: '%d/%m/%Y' }\n");
        let e = m
            .apply(&json!({"e": {"id": "1", "start": "2026-13-01"}}))
            .unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.field.as_str()),
            ("$.e.start", "start_date")
        );
        let m = mapping("id: { path: $.e.id, required: true }\n");
        let e = m.apply(&json!({"e": {}})).unwrap_err();
        assert_eq!(e.path, "$.e.id");
        let m = mapping("id: $.id\nstatus: $.s\n");
        let e = m.apply(&json!({"id": "1", "s": "fired"})).unwrap_err();
        assert_eq!(e.path, "$.s", "{e}");
    }
}
