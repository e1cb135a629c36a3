//! The variables an evaluation sees ([`Context`]) and the per-context cache
//! of their Rhai forms.
//!
//! Converting a JSON tree into a Rhai value allocates, so a context converts
//! each root variable at most once, the first time a script that reads it is
//! evaluated, and later evaluations against the same context reuse it. Plain
//! paths never convert anything: they read the JSON directly.

use std::cell::OnceCell;
use std::fmt;

use rhai::Dynamic;
use serde_json::Value;

use super::convert::to_dynamic;

/// The JSON null that roots without a value resolve to.
static NULL: Value = Value::Null;

/// Names of the root variables every script may use. The first five are
/// fields of [`Context`]; the others come from [`Context::extra`] and are
/// `()` when a context does not supply them.
pub const BUILTIN_VARIABLES: [&str; 7] =
    ["person", "event", "vars", "steps", "run", "error", "item"];

/// A root variable a compiled script reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Root {
    Person,
    Event,
    Vars,
    Steps,
    Run,
    Extra(Box<str>),
}

impl Root {
    pub(crate) fn from_name(name: &str) -> Root {
        match name {
            "person" => Root::Person,
            "event" => Root::Event,
            "vars" => Root::Vars,
            "steps" => Root::Steps,
            "run" => Root::Run,
            other => Root::Extra(other.into()),
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Root::Person => "person",
            Root::Event => "event",
            Root::Vars => "vars",
            Root::Steps => "steps",
            Root::Run => "run",
            Root::Extra(name) => name,
        }
    }
}

/// One cached conversion, remembered together with the address of the JSON
/// value it came from, so that a field reassigned after the first
/// evaluation is never served a stale conversion.
type Slot = OnceCell<(usize, Dynamic)>;

#[derive(Default)]
struct Cache {
    fixed: [Slot; 5],
    extra: OnceCell<Vec<Slot>>,
}

/// The variables visible to expressions, templates and blocks.
///
/// Build it with [`Context::new`] (and [`Context::with_extra`] for names
/// such as `error` or `item`). A context is meant for one step of one run:
/// it caches the Rhai form of each root it converts, so evaluating many
/// expressions against the same context is cheaper than building a new
/// context for each.
pub struct Context<'a> {
    pub person: &'a Value,
    pub event: &'a Value,
    pub vars: &'a Value,
    pub steps: &'a Value,
    pub run: &'a Value,
    /// Additional named roots, e.g. `("error", …)` in `on_failure` steps or
    /// `("item", …)` in loops. Their names must be known to the
    /// [`Scripting`](super::Scripting) engine when scripts are compiled.
    pub extra: &'a [(&'a str, &'a Value)],
    cache: Cache,
}

impl<'a> Context<'a> {
    pub fn new(
        person: &'a Value,
        event: &'a Value,
        vars: &'a Value,
        steps: &'a Value,
        run: &'a Value,
    ) -> Self {
        Context {
            person,
            event,
            vars,
            steps,
            run,
            extra: &[],
            cache: Cache::default(),
        }
    }

    /// The same context with additional named roots.
    pub fn with_extra(self, extra: &'a [(&'a str, &'a Value)]) -> Self {
        Context {
            extra,
            cache: Cache::default(),
            ..self
        }
    }

    /// A context in which every root is null; handy for constant templates
    /// and for tests.
    pub fn empty() -> Context<'static> {
        Context::new(&NULL, &NULL, &NULL, &NULL, &NULL)
    }

    /// The JSON value of a root; null when an extra root is not supplied.
    pub(crate) fn value(&self, root: &Root) -> &'a Value {
        match root {
            Root::Person => self.person,
            Root::Event => self.event,
            Root::Vars => self.vars,
            Root::Steps => self.steps,
            Root::Run => self.run,
            Root::Extra(name) => self
                .extra
                .iter()
                .find(|(n, _)| *n == &**name)
                .map_or(&NULL, |(_, v)| *v),
        }
    }

    /// The Rhai form of a root, converted at most once per context.
    pub(crate) fn dynamic(&self, root: &Root) -> Dynamic {
        let value = self.value(root);
        let slot = match root {
            Root::Person => Some(&self.cache.fixed[0]),
            Root::Event => Some(&self.cache.fixed[1]),
            Root::Vars => Some(&self.cache.fixed[2]),
            Root::Steps => Some(&self.cache.fixed[3]),
            Root::Run => Some(&self.cache.fixed[4]),
            Root::Extra(name) => self
                .extra
                .iter()
                .position(|(n, _)| *n == &**name)
                .and_then(|i| {
                    self.cache
                        .extra
                        .get_or_init(|| (0..self.extra.len()).map(|_| Slot::new()).collect())
                        .get(i)
                }),
        };
        let Some(slot) = slot else {
            return to_dynamic(value);
        };
        let address = value as *const Value as usize;
        let (cached_for, dynamic) = slot.get_or_init(|| (address, to_dynamic(value)));
        if *cached_for == address {
            dynamic.clone()
        } else {
            to_dynamic(value)
        }
    }
}

impl fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("person", self.person)
            .field("event", self.event)
            .field("vars", self.vars)
            .field("steps", self.steps)
            .field("run", self.run)
            .field("extra", &self.extra)
            .finish()
    }
}
