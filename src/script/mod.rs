//! The one sandboxed Rhai engine of Roster: compiling and evaluating the
//! expressions (`where:`, `if:`, `concurrency:`, `vars:` values), templates
//! (`"${{ vars.local_part }}@contoso.com"`) and `script` blocks of playbooks.
//!
//! Everything is compiled once, when a playbook is loaded, so that syntax
//! errors, typos in variable names (strict-variables mode) and the
//! `steps.<id>` a script references are known before any run starts. Every
//! error carries a line and column relative to the source string handed to
//! [`Scripting::expr`], [`Scripting::template`] or [`Scripting::block`],
//! which the playbook loader turns into a file position.
//!
//! Evaluation is on the hot path of every step, so it is kept cheap: literal
//! strings and constant `with:` subtrees never touch Rhai, plain paths such
//! as `steps.create.body.id` are read straight from the JSON values, and
//! other scripts get only the root variables they actually read, each
//! converted at most once per [`Context`].
//!
//! Sandbox: Rhai itself has no file, network or process access, and this
//! crate builds it with `no_module`, so scripts cannot import anything. On
//! top of that the engine caps operations (1,000,000), wall-clock time
//! (1 s per evaluation), call depth (32), expression nesting (64, and 32
//! inside functions), string size (1 MiB) and array and map sizes (100,000
//! items); `eval` is disabled, and `print`/`debug` go to `tracing` at debug
//! level instead of stdout.

mod context;
mod convert;
mod helpers;
mod lex;
mod path;
mod template;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_helpers;
#[cfg(test)]
mod tests_sandbox;

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, EvalAltResult, ParseError, ParseErrorType, Position, Scope, AST};
use serde_json::Value;

pub use context::{Context, BUILTIN_VARIABLES};
pub use template::{Template, TemplateError, ValueTemplate};
// The CSV importer's `case: title` is the same as the `title_case` helper.
pub(crate) use helpers::{slug, title_case};

use context::Root;
use convert::to_value;
use path::{analyse, FastPath};

/// Most operations one evaluation may perform.
pub const MAX_OPERATIONS: u64 = 1_000_000;
/// Longest one evaluation may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(1);
/// Deepest function-call nesting.
pub const MAX_CALL_LEVELS: usize = 32;
/// Largest string a script may build, in bytes.
pub const MAX_STRING_SIZE: usize = 1 << 20;
/// Largest array or map a script may build, in items.
pub const MAX_COLLECTION_SIZE: usize = 100_000;

/// Why compiling or evaluating a script failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptError {
    /// The source does not compile; the position is 1-based and relative
    /// to the source string that was compiled.
    #[error("{message} (line {line}, column {column})")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    /// Evaluation failed: a type error, a helper's error, a `throw`, …
    #[error("{0}")]
    Runtime(String),
    /// A sandbox limit was hit; the message says which.
    #[error("{0}")]
    Limit(String),
}

/// A reference to a step's results, `steps.<id>` or `steps["<id>"]`, at a
/// 1-based position (of the word `steps`) within the compiled source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRef {
    pub id: String,
    pub line: usize,
    pub column: usize,
}

/// Where a compiled fragment starts within the string the caller compiled:
/// (1, 1) for a whole source, elsewhere for a part of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub line: usize,
    pub column: usize,
}

impl Origin {
    pub(crate) const START: Origin = Origin { line: 1, column: 1 };

    /// Turns a position within the fragment into one within the caller's string.
    pub(crate) fn translate(self, line: usize, column: usize) -> (usize, usize) {
        if line <= 1 {
            (self.line, self.column + column.saturating_sub(1))
        } else {
            (self.line + line - 1, column)
        }
    }

    fn translate_rhai(self, pos: Position) -> (usize, usize) {
        self.translate(pos.line().unwrap_or(1), pos.position().unwrap_or(1))
    }
}

/// What a compiled expression or block holds; shared so cloning is cheap.
#[derive(Debug)]
struct Compiled {
    source: String,
    ast: AST,
    roots: Vec<Root>,
    step_refs: Vec<StepRef>,
    fast: Option<FastPath>,
    origin: Origin,
}

/// One compiled expression.
#[derive(Debug, Clone)]
pub struct Expr(Arc<Compiled>);

/// One compiled multi-statement script; its value is its last statement's.
#[derive(Debug, Clone)]
pub struct ScriptBlock(Arc<Compiled>);

impl Expr {
    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// Steps referenced, in order of appearance, positioned within the
    /// string that was compiled (the whole template for a template part).
    pub fn step_refs(&self) -> Vec<StepRef> {
        self.0.step_refs.clone()
    }

    /// The root variables the expression reads (e.g. to check that `error`
    /// is only used where a context supplies it).
    pub fn variables(&self) -> Vec<&str> {
        self.0.roots.iter().map(Root::name).collect()
    }

    /// True when the expression is a plain path evaluated without Rhai.
    pub fn is_plain_path(&self) -> bool {
        self.0.fast.is_some()
    }
}

impl ScriptBlock {
    pub fn source(&self) -> &str {
        &self.0.source
    }

    /// Steps referenced, in order of appearance.
    pub fn step_refs(&self) -> Vec<StepRef> {
        self.0.step_refs.clone()
    }

    /// The root variables the block reads.
    pub fn variables(&self) -> Vec<&str> {
        self.0.roots.iter().map(Root::name).collect()
    }
}

thread_local! {
    /// When the evaluation running on this thread must stop. The engine is
    /// shared between threads and Rhai's progress callback gets no context,
    /// so the deadline of the current evaluation lives here.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Operations of the current evaluation, counted here rather than by
    /// Rhai: Rhai counts the operations of a closure called by a native
    /// function (`map`, `filter`, `reduce`, …) on a copy of its state and
    /// drops the count, so such closures would escape both limits.
    static OPERATIONS: Cell<u64> = const { Cell::new(0) };
}

/// What the progress callback stops an evaluation with.
const STOPPED_BY_TIME: &str = "time limit";
const STOPPED_BY_OPERATIONS: &str = "operations limit";

/// Arms the wall-clock and operation limits for one evaluation and restores
/// the previous ones when dropped.
struct DeadlineGuard(Option<Instant>, u64);

impl DeadlineGuard {
    fn arm() -> Self {
        DeadlineGuard(
            DEADLINE.replace(Some(Instant::now() + TIME_LIMIT)),
            OPERATIONS.replace(0),
        )
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.set(self.0);
        OPERATIONS.set(self.1);
    }
}

/// The sandboxed Rhai engine plus the names of the root variables scripts
/// may use. `Send + Sync`; build one and share it through an `Arc`.
pub struct Scripting {
    engine: Engine,
    names: Vec<String>,
}

impl Default for Scripting {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Scripting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripting")
            .field("variables", &self.names)
            .finish_non_exhaustive()
    }
}

impl Scripting {
    /// The sandboxed engine with the built-in variables and all helpers.
    pub fn new() -> Self {
        Self::with_variables(&[])
    }

    /// Like [`Scripting::new`], with more root variable names that contexts
    /// may supply through [`Context::extra`].
    pub fn with_variables(extra: &[&str]) -> Self {
        let mut engine = Engine::new();
        engine
            .set_max_operations(MAX_OPERATIONS)
            .set_max_call_levels(MAX_CALL_LEVELS)
            .set_max_expr_depths(64, 32)
            .set_max_string_size(MAX_STRING_SIZE)
            .set_max_array_size(MAX_COLLECTION_SIZE)
            .set_max_map_size(MAX_COLLECTION_SIZE)
            .set_strict_variables(true)
            .disable_symbol("eval");
        engine.on_progress(|_| {
            let ops = OPERATIONS.get() + 1;
            OPERATIONS.set(ops);
            if ops > MAX_OPERATIONS {
                return Some(Dynamic::from(STOPPED_BY_OPERATIONS));
            }
            // Reading the clock on every operation would cost more than the
            // operation itself; every 256th is precise enough for a 1 s limit.
            if ops % 256 != 0 {
                return None;
            }
            match DEADLINE.get() {
                Some(deadline) if Instant::now() > deadline => Some(Dynamic::from(STOPPED_BY_TIME)),
                _ => None,
            }
        });
        engine.on_print(|text| tracing::debug!(target: "roster::script", "print: {text}"));
        engine.on_debug(
            |text, _, pos| tracing::debug!(target: "roster::script", "debug at {pos}: {text}"),
        );
        helpers::register(&mut engine);
        let mut names: Vec<String> = BUILTIN_VARIABLES.iter().map(|s| s.to_string()).collect();
        for name in extra {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        Scripting { engine, names }
    }

    /// The root variable names scripts may use.
    pub fn variables(&self) -> &[String] {
        &self.names
    }

    /// Compiles one expression.
    pub fn expr(&self, src: &str) -> Result<Expr, ScriptError> {
        self.expr_at(src, Origin::START)
    }

    /// Compiles a multi-statement script.
    pub fn block(&self, src: &str) -> Result<ScriptBlock, ScriptError> {
        let ast = self
            .engine
            .compile_with_scope(&self.compile_scope(), src)
            .map_err(|e| self.syntax_error(e, Origin::START))?;
        let mut compiled = self.compiled(src, ast, Origin::START);
        compiled.fast = None;
        Ok(ScriptBlock(Arc::new(compiled)))
    }

    /// Compiles an expression that starts at `origin` within the caller's
    /// string, so that every position it reports is relative to that string.
    pub(crate) fn expr_at(&self, src: &str, origin: Origin) -> Result<Expr, ScriptError> {
        if src.trim().is_empty() {
            return Err(ScriptError::Syntax {
                message: "empty expression".into(),
                line: origin.line,
                column: origin.column,
            });
        }
        let ast = self
            .engine
            .compile_expression_with_scope(&self.compile_scope(), src)
            .map_err(|e| self.syntax_error(e, origin))?;
        Ok(Expr(Arc::new(self.compiled(src, ast, origin))))
    }

    fn compiled(&self, src: &str, ast: AST, origin: Origin) -> Compiled {
        let analysis = analyse(src, &self.names);
        let step_refs = analysis
            .step_refs
            .into_iter()
            .map(|r| {
                let (line, column) = origin.translate(r.line, r.column);
                StepRef {
                    id: r.id,
                    line,
                    column,
                }
            })
            .collect();
        Compiled {
            source: src.to_string(),
            ast,
            roots: analysis.roots,
            step_refs,
            fast: analysis.fast,
            origin,
        }
    }

    /// The scope scripts are compiled against: every known root, as a
    /// variable (not a constant, which the optimiser would inline).
    fn compile_scope(&self) -> Scope<'static> {
        let mut scope = Scope::with_capacity(self.names.len());
        for name in &self.names {
            scope.push_dynamic(name.as_str(), Dynamic::UNIT);
        }
        scope
    }

    fn syntax_error(&self, err: ParseError, origin: Origin) -> ScriptError {
        let (line, column) = origin.translate_rhai(err.1);
        let message = match *err.0 {
            ParseErrorType::VariableUndefined(name) => {
                format!(
                    "unknown variable '{name}' (known: {})",
                    self.names.join(", ")
                )
            }
            ParseErrorType::ExprTooDeep => {
                "expression is nested too deeply (sandbox limit)".to_string()
            }
            other => other.to_string(),
        };
        ScriptError::Syntax {
            message,
            line,
            column,
        }
    }

    /// Evaluates an expression to JSON.
    pub fn eval(&self, e: &Expr, cx: &Context) -> Result<Value, ScriptError> {
        if let Some(value) = e.0.fast.as_ref().and_then(|f| f.resolve(cx)) {
            return Ok(value.clone());
        }
        let result = self.run(&e.0, cx)?;
        to_value(result).map_err(|m| runtime(m, &e.0))
    }

    /// Evaluates a condition: `true`/`false`, with `()` (a missing property)
    /// counting as false; any other type is an error naming it.
    pub fn eval_bool(&self, e: &Expr, cx: &Context) -> Result<bool, ScriptError> {
        if let Some(value) = e.0.fast.as_ref().and_then(|f| f.resolve(cx)) {
            return match value {
                Value::Bool(b) => Ok(*b),
                Value::Null => Ok(false),
                other => Err(not_a_bool(
                    json_type_name(other),
                    &other.to_string(),
                    e.source(),
                )),
            };
        }
        let result = self.run(&e.0, cx)?;
        if result.is_unit() {
            return Ok(false);
        }
        match result.as_bool() {
            Ok(b) => Ok(b),
            Err(type_name) => {
                let shown = to_value(result).map(|v| v.to_string()).unwrap_or_default();
                Err(not_a_bool(rhai_type_name(type_name), &shown, e.source()))
            }
        }
    }

    /// Runs a block and returns its last value as JSON.
    pub fn run_block(&self, b: &ScriptBlock, cx: &Context) -> Result<Value, ScriptError> {
        let result = self.run(&b.0, cx)?;
        to_value(result).map_err(|m| runtime(m, &b.0))
    }

    /// Evaluates through Rhai, with only the roots the script reads in scope.
    fn run(&self, c: &Compiled, cx: &Context) -> Result<Dynamic, ScriptError> {
        let mut scope = Scope::with_capacity(c.roots.len());
        for root in &c.roots {
            // Constants, so that a script cannot believe it changed a root.
            scope.push_constant_dynamic(root.name(), cx.dynamic(root));
        }
        let _deadline = DeadlineGuard::arm();
        self.engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &c.ast)
            .map_err(|e| eval_error(*e, c.origin))
    }
}

/// Maps a Rhai evaluation error to a [`ScriptError`], telling sandbox
/// limits apart and placing the position relative to the caller's string.
fn eval_error(mut err: EvalAltResult, origin: Origin) -> ScriptError {
    let limit = match err.unwrap_inner() {
        EvalAltResult::ErrorTooManyOperations(..) => {
            Some(format!("script exceeded {MAX_OPERATIONS} operations (infinite loop?)"))
        }
        EvalAltResult::ErrorTerminated(why, _)
            if why.clone().into_string().ok().as_deref() == Some(STOPPED_BY_OPERATIONS) =>
        {
            Some(format!("script exceeded {MAX_OPERATIONS} operations (infinite loop?)"))
        }
        EvalAltResult::ErrorTerminated(..) => Some(format!(
            "script exceeded the time limit of {} s (infinite loop?)",
            TIME_LIMIT.as_secs()
        )),
        EvalAltResult::ErrorStackOverflow(..) => Some(format!(
            "script exceeded the maximum call depth of {MAX_CALL_LEVELS} (runaway recursion?)"
        )),
        EvalAltResult::ErrorDataTooLarge(what, ..) => Some(format!(
            "script exceeded a size limit: {what} too large (strings up to {} MiB, arrays and maps up to {MAX_COLLECTION_SIZE} items)",
            MAX_STRING_SIZE >> 20
        )),
        EvalAltResult::ErrorTooManyVariables(..) => {
            Some("script defined too many variables".to_string())
        }
        _ => None,
    };
    if let Some(message) = limit {
        return ScriptError::Limit(message);
    }
    let pos = err.take_position();
    let message = match &err {
        // Errors raised by helpers and by `throw` carry a message of their
        // own; Rhai's "Runtime error: " prefix adds nothing to it.
        EvalAltResult::ErrorRuntime(value, _) if !value.is_unit() => value.to_string(),
        other => other.to_string(),
    };
    if pos.is_none() {
        return ScriptError::Runtime(message);
    }
    let (line, column) = origin.translate_rhai(pos);
    ScriptError::Runtime(format!("{message} (line {line}, column {column})"))
}

fn runtime(message: String, c: &Compiled) -> ScriptError {
    ScriptError::Runtime(format!("{message} (in '{}')", c.source.trim()))
}

fn not_a_bool(type_name: &str, shown: &str, source: &str) -> ScriptError {
    let mut shown = shown.to_string();
    if shown.chars().count() > 60 {
        shown = shown.chars().take(57).collect::<String>() + "...";
    }
    ScriptError::Runtime(format!(
        "condition '{}' must be true or false, but it is {type_name} {shown}",
        source.trim()
    ))
}

/// Names a JSON value's type the way error messages name Rhai's.
fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "()",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() => "an integer",
        Value::Number(_) => "a float",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a map",
    }
}

fn rhai_type_name(t: &str) -> &str {
    match t {
        "i64" | "i32" => "an integer",
        "f64" | "f32" => "a float",
        "string" | "ImmutableString" => "a string",
        "char" => "a character",
        "array" => "an array",
        "map" => "a map",
        other => other,
    }
}
