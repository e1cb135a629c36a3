//! `validate`: checks the person's fields before anything is provisioned.
//!
//! Every failing rule is reported with its field and reason. `on_invalid: review` (the default)
//! parks the run for a person, who corrects the fields (the step then validates again) or
//! approves the record as it is, or rejects it; `on_invalid: fail` ends the run.

use regex::Regex;
use serde_json::{json, Value};

use super::{ActionError, Outcome, Park, StepContext};
use crate::engine::status::StepStatus;
use crate::playbook::args::Args;

#[derive(Debug)]
pub struct Validate {
    rules: Vec<Rule>,
    review: bool,
}

/// The checks on one field; all that are set must hold.
#[derive(Debug, Default)]
struct Rule {
    /// A person field, `custom.<name>` for custom attributes.
    field: String,
    required: bool,
    /// The whole value must match (the pattern is anchored); kept with the text written.
    pattern: Option<(Regex, String)>,
    one_of: Option<Vec<String>>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    email: bool,
    /// `true` for ISO dates (YYYY-MM-DD), or a chrono format such as `%d.%m.%Y`.
    date: Option<String>,
    /// Replaces the generated reason when a value is present but fails a check; a missing
    /// required value always says "is required", which is what the reviewer must act on.
    message: Option<String>,
}

const RULE_KEYS: &str =
    "field, required, pattern, one_of, min_length, max_length, email, date, message";

impl Validate {
    pub fn compile(args: &mut Args<'_, '_>) -> Option<Validate> {
        let mode = args.choice("on_invalid", &["review", "fail"], "review");
        let raw = args.raw("rules", true)?;
        let Value::Array(items) = raw else {
            args.error(
                "rules",
                "'rules' must be a list of { field: …, required: true, … }",
            );
            return None;
        };
        let mut rules = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match rule(item) {
                Ok(r) => rules.push(r),
                Err(problems) => {
                    for (key, e) in problems {
                        let at = match key {
                            Some(k) => format!("rules[{i}].{k}"),
                            None => format!("rules[{i}]"),
                        };
                        args.error(&at, format!("rule {}: {e}", i + 1));
                    }
                    ok = false;
                }
            }
        }
        ok.then_some(Validate {
            rules,
            review: mode == "review",
        })
    }

    pub fn execute(&self, cx: &StepContext<'_>) -> Result<Outcome, ActionError> {
        let earlier = cx.previous.filter(|p| p.status == StepStatus::Review);
        let decision = earlier.and_then(|p| p.decision());
        if let Some(decision) = decision {
            // Approved as it is: the reviewer vouches for the record.
            if decision.get("corrected").and_then(Value::as_bool) != Some(true) {
                return Ok(Outcome::Done(
                    json!({ "valid": false, "overridden": true, "decision": decision }),
                ));
            }
        }
        let errors: Vec<Value> = self
            .rules
            .iter()
            .flat_map(|r| r.check(cx.vars.person))
            .map(|(field, reason)| json!({ "field": field, "reason": reason }))
            .collect();
        if errors.is_empty() {
            // Corrected by a reviewer: the decision stays on the record with the result.
            return Ok(Outcome::Done(match decision {
                Some(d) => json!({ "valid": true, "decision": d }),
                None => json!({ "valid": true }),
            }));
        }
        if self.review {
            // Still invalid after a correction: parked again, the last decision kept with it.
            let mut outputs = json!({ "valid": false, "errors": errors });
            if let Some(d) = decision {
                outputs["previous_decision"] = d.clone();
            }
            return Ok(Outcome::Park(Park::Review { outputs }));
        }
        let list: Vec<String> = errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["field"].as_str().unwrap_or(""),
                    e["reason"].as_str().unwrap_or("")
                )
            })
            .collect();
        Err(ActionError::permanent(format!(
            "validation failed: {}",
            list.join("; ")
        )))
    }
}

/// One rule, or every problem with it, each with the key it is about.
fn rule(v: &Value) -> Result<Rule, Vec<(Option<String>, String)>> {
    let Value::Object(m) = v else {
        return Err(vec![(
            None,
            "must be a map like { field: given_name, required: true }".into(),
        )]);
    };
    let mut r = Rule::default();
    let mut problems = Vec::new();
    for (k, v) in m {
        if let Err(e) = set(&mut r, k, v) {
            problems.push((Some(k.clone()), e));
        }
    }
    if r.field.is_empty() && !m.contains_key("field") {
        problems.push((None, "'field' is missing".into()));
    }
    if problems.is_empty() {
        Ok(r)
    } else {
        Err(problems)
    }
}

/// The one-line reason of a regex error (its text also draws the pattern with a caret).
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(&text)
        .trim()
        .to_string()
}

fn set(r: &mut Rule, k: &str, v: &Value) -> Result<(), String> {
    match k {
        "field" => {
            r.field = v
                .as_str()
                .ok_or("'field' must be a field name")?
                .to_string()
        }
        "required" => r.required = v.as_bool().ok_or("'required' must be true or false")?,
        "email" => r.email = v.as_bool().ok_or("'email' must be true or false")?,
        "pattern" => {
            let p = v
                .as_str()
                .ok_or("'pattern' must be a regular expression string")?;
            // Checked as written first, so that the error is about what the user wrote.
            Regex::new(p).map_err(|e| {
                format!(
                    "'{p}' is not a valid regular expression: {}",
                    regex_problem(&e)
                )
            })?;
            let anchored = format!("^(?:{})$", p.trim_start_matches('^').trim_end_matches('$'));
            let regex = Regex::new(&anchored).map_err(|e| {
                format!(
                    "'{p}' is not a valid regular expression: {}",
                    regex_problem(&e)
                )
            })?;
            r.pattern = Some((regex, p.to_string()));
        }
        "one_of" => {
            let items = v.as_array().ok_or("'one_of' must be a list")?;
            r.one_of = Some(
                items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect(),
            );
        }
        "min_length" => {
            r.min_length = Some(v.as_u64().ok_or("'min_length' must be a number")? as usize)
        }
        "max_length" => {
            r.max_length = Some(v.as_u64().ok_or("'max_length' must be a number")? as usize)
        }
        "date" => {
            r.date = match v {
                Value::Bool(true) => Some("%Y-%m-%d".into()),
                Value::Bool(false) => None,
                Value::String(f) => Some(f.clone()),
                _ => return Err("'date' must be true or a date format like %d.%m.%Y".into()),
            }
        }
        "message" => r.message = Some(v.as_str().ok_or("'message' must be a string")?.to_string()),
        other => {
            let hint = crate::playbook::diagnostic::did_you_mean(other, RULE_KEYS.split(", "));
            return Err(format!(
                "unknown key '{other}'{hint}; a rule takes {RULE_KEYS}"
            ));
        }
    }
    Ok(())
}

/// A field of the person as text; `custom.x` reads a custom attribute. Missing, null and
/// empty-after-trim all count as absent.
fn field_text(person: &Value, field: &str) -> Option<String> {
    let mut v = person;
    for part in field.split('.') {
        v = v.get(part)?;
    }
    let s = match v {
        Value::Null => return None,
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    (!s.is_empty()).then_some(s)
}

impl Rule {
    fn check(&self, person: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(text) = field_text(person, &self.field) else {
            if self.required {
                out.push((self.field.clone(), "is required".into()));
            }
            return out;
        };
        let mut fail = |reason: String| {
            out.push((self.field.clone(), self.message.clone().unwrap_or(reason)));
        };
        if let Some((p, written)) = &self.pattern {
            if !p.is_match(&text) {
                fail(format!("'{text}' does not match the pattern {written}"));
            }
        }
        if let Some(options) = &self.one_of {
            if !options.iter().any(|o| o == &text) {
                fail(format!("'{text}' is not one of: {}", options.join(", ")));
            }
        }
        let chars = text.chars().count();
        if let Some(min) = self.min_length {
            if chars < min {
                fail(format!("is {chars} characters; at least {min} required"));
            }
        }
        if let Some(max) = self.max_length {
            if chars > max {
                fail(format!("is {chars} characters; at most {max} allowed"));
            }
        }
        if self.email && !is_email(&text) {
            fail(format!("'{text}' is not an email address"));
        }
        if let Some(format) = &self.date {
            if chrono::NaiveDate::parse_from_str(&text, format).is_err() {
                fail(format!("'{text}' is not a date in the format {format}"));
            }
        }
        out
    }
}

/// A deliberately plain check: one '@', a non-empty local part, a dotted domain, no spaces.
fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check_accepts_plain_addresses_only() {
        assert!(is_email("jane.doe@contoso.com"));
        assert!(!is_email("jane.doe@contoso"));
        assert!(!is_email("jane doe@contoso.com"));
        assert!(!is_email("@contoso.com"));
    }

    #[test]
    fn every_failing_rule_is_reported() {
        let r = rule(&json!({"field": "given_name", "pattern": "[\\p{L}' -]+", "max_length": 3}))
            .unwrap_or_default();
        let errs = r.check(&json!({"given_name": "J0hnny"}));
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
