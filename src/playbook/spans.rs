//! Where each node of a YAML document stands, by path (`steps[2].with.url`).
//!
//! serde_yaml reports positions only for its own errors, so semantic errors found later (an
//! unknown action, a bad reference) look their node up here. The index is built from the
//! event stream of yaml-rust2's parser, which marks every node with its line and column.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// How a scalar was written, which decides where its text starts relative to its mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Quoted,
    Block,
    Container,
}

/// The position of one node (1-based line and column of its first character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub style: Style,
    /// Where the key of a mapping entry stands (the node itself for sequence items).
    pub key_line: usize,
    pub key_column: usize,
}

impl Span {
    /// Maps a (line, column) inside this scalar's text to a position in the file.
    pub fn inner(&self, line: usize, column: usize) -> (usize, usize) {
        match self.style {
            Style::Block => (self.line + line, column + self.key_column + 1),
            Style::Quoted if line <= 1 => (self.line, self.column + column),
            Style::Plain | Style::Container if line <= 1 => (self.line, self.column + column - 1),
            _ => (self.line + line - 1, column),
        }
    }
}

/// Path → position of every node of a document.
#[derive(Debug, Default)]
pub struct Spans {
    nodes: HashMap<String, Span>,
}

impl Spans {
    /// Indexes `text`; a document yaml-rust2 cannot parse yields an empty index (serde_yaml
    /// reports the syntax error itself).
    pub fn index(text: &str) -> Spans {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return Spans::default();
        }
        Spans {
            nodes: builder.nodes,
        }
    }

    pub fn get(&self, path: &str) -> Option<Span> {
        self.nodes.get(path).copied()
    }

    /// The node at `path`, or the nearest ancestor that exists (a missing argument is reported
    /// at its step), or the top of the file.
    pub fn find(&self, path: &str) -> Span {
        let mut p = path.to_string();
        loop {
            if let Some(s) = self.nodes.get(&p) {
                return *s;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => {
                    return self.nodes.get("").copied().unwrap_or(Span {
                        line: 1,
                        column: 1,
                        style: Style::Container,
                        key_line: 1,
                        key_column: 1,
                    })
                }
            }
        }
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Marker)>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    nodes: HashMap<String, Span>,
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// Returns the path of a value node starting now, or `None` when the node is a mapping key.
    fn node_path(&mut self, scalar: Option<&str>, mark: Marker) -> Option<(String, Marker)> {
        match self.stack.last_mut() {
            None => Some((String::new(), mark)),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some((p, mark))
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some((k, key_mark)) => Some((child(path, &k), key_mark)),
                None => {
                    // A key: remember it for the value that follows.
                    *key = Some((scalar.unwrap_or("?").to_string(), mark));
                    None
                }
            },
        }
    }

    fn record(&mut self, path: &str, mark: Marker, key_mark: Marker, style: Style) {
        self.nodes.insert(
            path.to_string(),
            Span {
                line: mark.line(),
                column: mark.col() + 1,
                style,
                key_line: key_mark.line(),
                key_column: key_mark.col() + 1,
            },
        );
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, style, _, _) => {
                if let Some((path, key_mark)) = self.node_path(Some(&value), mark) {
                    let style = match style {
                        TScalarStyle::Plain => Style::Plain,
                        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
                        TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
                    };
                    self.record(&path, mark, key_mark, style);
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                let (path, key_mark) = self
                    .node_path(None, mark)
                    .unwrap_or_else(|| ("?".to_string(), mark));
                self.record(&path, mark, key_mark, Style::Container);
                self.stack.push(if is_map {
                    Frame::Map { path, key: None }
                } else {
                    Frame::Seq { path, index: 0 }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                let _ = self.node_path(None, mark);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_paths_with_lines_and_columns() {
        let text = "name: x\nsteps:\n  - id: a\n    uses: fail\n    with:\n      message: \"hi\"\n";
        let spans = Spans::index(text);
        let uses = spans.get("steps[0].uses").unwrap();
        assert_eq!((uses.line, uses.column), (4, 11));
        assert_eq!((uses.key_line, uses.key_column), (4, 5));
        let msg = spans.get("steps[0].with.message").unwrap();
        assert_eq!((msg.line, msg.column, msg.style), (6, 16, Style::Quoted));
        // A block mapping starts at its first key; a missing argument is reported at `with:` itself.
        assert_eq!(spans.find("steps[0].with.missing").key_line, 5);
    }
}
