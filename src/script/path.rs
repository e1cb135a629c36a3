//! Load-time analysis of script sources and the fast path for plain paths.
//!
//! From the token stream of a source this finds the root variables it
//! reads, the `steps.<id>` / `steps["<id>"]` references it makes, and
//! whether the whole source is a plain path such as
//! `steps.create.body.id`. Plain paths are by far the most common
//! expressions in playbooks, and resolving them directly on the JSON values
//! avoids Rhai and every conversion on the hot path.

use serde_json::Value;

use super::context::{Context, Root};
use super::lex::{is_variable_use, tokens, Tok, Token};
use super::StepRef;

static NULL: Value = Value::Null;

/// What the analysis of one source found; positions are relative to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Analysis {
    pub roots: Vec<Root>,
    pub step_refs: Vec<StepRef>,
    pub fast: Option<FastPath>,
}

/// One step of a plain path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A plain path over a root variable, resolvable without Rhai.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FastPath {
    root: Root,
    segments: Vec<Segment>,
}

impl FastPath {
    /// Resolves the path on the context's JSON. `None` means the fast path
    /// cannot decide the way Rhai would (a property of a string, an index
    /// out of bounds, …), and the caller must ask Rhai, so that the result
    /// never depends on which path was taken.
    pub(crate) fn resolve<'v>(&self, cx: &Context<'v>) -> Option<&'v Value> {
        let mut current = cx.value(&self.root);
        for segment in &self.segments {
            current = match (current, segment) {
                (Value::Object(map), Segment::Key(key)) => map.get(key).unwrap_or(&NULL),
                // The engine registers indexers on `()` that yield `()`, so
                // Rhai too reads any path through a missing value as `()`.
                (Value::Null, _) => &NULL,
                (Value::Array(items), Segment::Index(i)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(current)
    }
}

/// Analyses a source that Rhai has already compiled with the given known
/// variable names.
pub(crate) fn analyse(src: &str, known: &[String]) -> Analysis {
    let toks = tokens(src);
    let mut analysis = Analysis::default();
    for (i, token) in toks.iter().enumerate() {
        let Tok::Ident(name) = &token.tok else {
            continue;
        };
        if !known.iter().any(|k| k == name) || !is_variable_use(&toks, i) {
            continue;
        }
        let root = Root::from_name(name);
        if !analysis.roots.contains(&root) {
            analysis.roots.push(root);
        }
        if name == "steps" {
            if let Some(id) = step_id(&toks[i + 1..]) {
                analysis.step_refs.push(StepRef {
                    id,
                    line: token.line,
                    column: token.column,
                });
            }
        }
    }
    analysis.fast = fast_path(&toks, known);
    analysis
}

/// The step id in the tokens following `steps`: `.id`, `?.id`, `["id"]`
/// or `?["id"]`.
fn step_id(rest: &[Token]) -> Option<String> {
    let rest = match rest.first().map(|t| &t.tok) {
        Some(Tok::Punct('?')) => &rest[1..],
        _ => rest,
    };
    match (rest.first().map(|t| &t.tok), rest.get(1).map(|t| &t.tok)) {
        (Some(Tok::Punct('.')), Some(Tok::Ident(id))) => Some(id.clone()),
        (Some(Tok::Punct('[')), Some(Tok::Str(Some(id)))) => Some(id.clone()),
        _ => None,
    }
}

/// Recognises a source made only of a known root and `.key`, `["key"]`
/// and `[n]` segments.
fn fast_path(toks: &[Token], known: &[String]) -> Option<FastPath> {
    let (first, mut rest) = toks.split_first()?;
    let Tok::Ident(name) = &first.tok else {
        return None;
    };
    if !known.iter().any(|k| k == name) {
        return None;
    }
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let kinds: Vec<&Tok> = rest.iter().take(3).map(|t| &t.tok).collect();
        match kinds.as_slice() {
            [Tok::Punct('.'), Tok::Ident(key), ..] => {
                segments.push(Segment::Key(key.clone()));
                rest = &rest[2..];
            }
            [Tok::Punct('['), Tok::Str(Some(key)), Tok::Punct(']')] => {
                segments.push(Segment::Key(key.clone()));
                rest = &rest[3..];
            }
            [Tok::Punct('['), Tok::Int(i), Tok::Punct(']')] => {
                segments.push(Segment::Index(*i));
                rest = &rest[3..];
            }
            _ => return None,
        }
    }
    Some(FastPath {
        root: Root::from_name(name),
        segments,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::script::BUILTIN_VARIABLES;

    fn known() -> Vec<String> {
        BUILTIN_VARIABLES.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn plain_paths_are_recognised_and_anything_else_is_not() {
        for src in [
            "steps.create.body.id",
            "person",
            "steps[\"create\"].id",
            "vars.groups[1]",
        ] {
            assert!(analyse(src, &known()).fast.is_some(), "{src}");
        }
        for src in [
            "steps.create.body.id + 1",
            "foo.bar",
            "steps[\"a\\\"b\"]",
            "vars.x[-1]",
            "vars?.x",
        ] {
            assert!(analyse(src, &known()).fast.is_none(), "{src}");
        }
    }

    #[test]
    fn roots_are_variable_uses_only() {
        let a = analyse("#{ vars: 1 }.vars + person.steps + `${run}`", &known());
        assert_eq!(a.roots, vec![Root::Person, Root::Run]);
    }
}
