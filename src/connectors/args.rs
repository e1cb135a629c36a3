//! Reading a connector step's rendered arguments: each accessor names the argument in its error.

use serde_json::{Map, Value};

use crate::actions::ActionError;

/// The rendered `with:` of one connector step.
#[derive(Debug, Clone, Default)]
pub struct ArgMap(pub Map<String, Value>);

fn wrong(name: &str, want: &str, got: &Value) -> ActionError {
    ActionError::permanent(format!(
        "argument '{name}' must be {want}, but rendered to {got}"
    ))
}

impl ArgMap {
    /// A value that was given and is not null.
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<&str, ActionError> {
        self.opt_str(name)?
            .ok_or_else(|| ActionError::permanent(format!("argument '{name}' is empty")))
    }

    /// A string, or `None` when absent, null or empty.
    pub fn opt_str(&self, name: &str) -> Result<Option<&str>, ActionError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim())),
            Some(other) => Err(wrong(name, "a string", other)),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ActionError> {
        match self.value(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" => Ok(true),
            Some(Value::String(s)) if s == "false" => Ok(false),
            Some(other) => Err(wrong(name, "true or false", other)),
        }
    }

    /// A list of strings; a single string counts as a list of one.
    pub fn str_list(&self, name: &str) -> Result<Vec<String>, ActionError> {
        match self.value(name) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.trim().to_string()]),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|v| !v.is_null())
                .map(|v| match v {
                    Value::String(s) => Ok(s.trim().to_string()),
                    other => Err(wrong(name, "a list of strings", other)),
                })
                .filter(|r| !matches!(r, Ok(s) if s.is_empty()))
                .collect(),
            Some(other) => Err(wrong(name, "a list of strings", other)),
        }
    }

    pub fn map(&self, name: &str) -> Result<Map<String, Value>, ActionError> {
        match self.value(name) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(other) => Err(wrong(name, "a map", other)),
        }
    }

    pub fn list(&self, name: &str) -> Result<Vec<Value>, ActionError> {
        match self.value(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(other) => Err(wrong(name, "a list", other)),
        }
    }
}
