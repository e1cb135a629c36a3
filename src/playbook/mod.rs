//! Playbooks: YAML files of triggers and steps, parsed (`raw`), then checked and compiled
//! (`compile`, `args`) into the model the engine runs (`model`). Problems are `Diagnostic`s that
//! name file:line:column; loading reports all of them at once.

pub mod args;
mod compile;
pub mod diagnostic;
pub mod model;
pub mod raw;
pub mod spans;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::{EventMatch, Playbook, Step, Trigger};

use crate::script::Scripting;

/// Compiles a playbook from its text; `file` is how diagnostics name it.
pub fn load_text(file: &str, text: &str, scripting: &Scripting) -> Result<Playbook, Diagnostics> {
    let raw = raw::parse(text).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: file.to_string(),
            line: e.line,
            column: e.column,
            message: e.message,
        }])
    })?;
    compile::compile(raw, file, text, scripting)
}

/// Reads and compiles one playbook file.
pub fn load_file(path: &Path, scripting: &Scripting) -> Result<Playbook, Diagnostics> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics(vec![Diagnostic {
            file: file.clone(),
            line: 1,
            column: 1,
            message: format!("cannot read: {e}"),
        }])
    })?;
    load_text(&file, &text, scripting)
}

/// The `.yaml`/`.yml` files named, directories expanded (not recursively), sorted.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Diagnostics> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p).map_err(|e| {
                Diagnostics(vec![Diagnostic {
                    file: p.display().to_string(),
                    line: 1,
                    column: 1,
                    message: format!("cannot read directory: {e}"),
                }])
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Every playbook in `paths` (files or directories), or every diagnostic of every file.
/// Two playbooks with one name are an error too.
pub fn load_all(paths: &[PathBuf], scripting: &Scripting) -> Result<Vec<Playbook>, Diagnostics> {
    let mut loaded: Vec<Playbook> = Vec::new();
    let mut diags = Vec::new();
    for f in files(paths)? {
        match load_file(&f, scripting) {
            Ok(p) => {
                if let Some(other) = loaded.iter().find(|o| o.name == p.name) {
                    diags.push(Diagnostic {
                        file: p.path.clone(),
                        line: 1,
                        column: 1,
                        message: format!(
                            "playbook name '{}' is already used by {}",
                            p.name, other.path
                        ),
                    });
                } else {
                    loaded.push(p);
                }
            }
            Err(d) => diags.extend(d.0),
        }
    }
    if diags.is_empty() {
        Ok(loaded)
    } else {
        Err(Diagnostics(diags))
    }
}
