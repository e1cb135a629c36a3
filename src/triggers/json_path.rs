//! The small JSON path language webhook mappings use: `$.employee.name`, `emails[0].address`
//! (the leading `$.` is optional). Enough to point at one value; no wildcards or filters.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    segments: Vec<Segment>,
    text: String,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let t = text.trim();
        let rest = t
            .strip_prefix("$.")
            .or_else(|| t.strip_prefix('$'))
            .unwrap_or(t);
        let mut segments = Vec::new();
        if rest.is_empty() {
            return Err(format!("JSON path '{text}' names no value"));
        }
        for part in rest.split('.') {
            let (key, mut indexes) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() && indexes.is_empty() {
                return Err(format!("JSON path '{text}' has an empty segment"));
            }
            if !key.is_empty() {
                segments.push(Segment::Key(key.to_string()));
            }
            while !indexes.is_empty() {
                let close = indexes
                    .find(']')
                    .ok_or_else(|| format!("JSON path '{text}': '[' without ']'"))?;
                let n = indexes[1..close]
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("JSON path '{text}': an index is a number, like [0]"))?;
                segments.push(Segment::Index(n));
                indexes = &indexes[close + 1..];
                if !indexes.is_empty() && !indexes.starts_with('[') {
                    return Err(format!("JSON path '{text}': unexpected '{indexes}'"));
                }
            }
        }
        Ok(JsonPath {
            segments,
            text: format!("$.{rest}"),
        })
    }

    /// The path as `$.a.b[0]`, for messages.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at the path, if every step exists.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.segments.iter().try_fold(root, |v, s| match s {
            Segment::Key(k) => v.get(k),
            Segment::Index(i) => v.get(i),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_find_keys_and_indexes() {
        let v = json!({"employee": {"emails": [{"address": "a@x"}, {"address": "b@x"}]}});
        let p = JsonPath::parse("$.employee.emails[1].address").unwrap();
        assert_eq!(p.get(&v), Some(&json!("b@x")));
        assert_eq!(
            JsonPath::parse("employee.emails[0].address")
                .unwrap()
                .get(&v),
            Some(&json!("a@x"))
        );
        assert_eq!(JsonPath::parse("$.employee.nope").unwrap().get(&v), None);
        assert!(JsonPath::parse("$.a[x]").is_err());
        assert!(JsonPath::parse("$.a..b").is_err());
        assert!(JsonPath::parse("$").is_err());
    }
}
