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
    /// For a block scalar (`|`, `>`): the empty lines before its first content line, which
    /// are part of its value but not of where it is marked.
    pub leading_breaks: usize,
}

impl Span {
    /// Maps a (line, column) inside this scalar's text to a position in the file.
    ///
    /// A block scalar is marked at its first content character, and every content line starts
    /// at that column (deeper indentation is part of the text). Folded (`>`) and multi-line
    /// flow scalars join lines, so positions past their first line are approximate.
    pub fn inner(&self, line: usize, column: usize) -> (usize, usize) {
        match self.style {
            Style::Block => (
                self.line + line.saturating_sub(1 + self.leading_breaks),
                self.column + column.saturating_sub(1),
            ),
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
                        leading_breaks: 0,
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
                    // yaml-rust2 marks a block mapping at the ':' after its first key; the
                    // mapping starts at that key.
                    if let Some(span) = self.nodes.get_mut(path.as_str()) {
                        let key_pos = (mark.line(), mark.col() + 1);
                        if key_pos < (span.line, span.column) {
                            if (span.key_line, span.key_column) == (span.line, span.column) {
                                (span.key_line, span.key_column) = key_pos;
                            }
                            (span.line, span.column) = key_pos;
                        }
                    }
                    None
                }
            },
        }
    }

    fn record(&mut self, path: &str, mark: Marker, key_mark: Marker, style: Style, breaks: usize) {
        self.nodes.insert(
            path.to_string(),
            Span {
                line: mark.line(),
                column: mark.col() + 1,
                style,
                key_line: key_mark.line(),
                key_column: key_mark.col() + 1,
                leading_breaks: breaks,
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
                    let breaks = if style == Style::Block {
                        value.chars().take_while(|c| *c == '\n').count()
                    } else {
                        0
                    };
                    self.record(&path, mark, key_mark, style, breaks);
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let is_map = matches!(ev, Event::MappingStart(..));
                let (path, key_mark) = self
                    .node_path(None, mark)
                    .unwrap_or_else(|| ("?".to_string(), mark));
                self.record(&path, mark, key_mark, Style::Container, 0);
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
        // A missing node resolves to its nearest ancestor: the block mapping under `with:`
        // (line 5), which starts at its first key (line 6).
        let with = spans.find("steps[0].with.missing");
        assert_eq!((with.key_line, with.line), (5, 6));
    }

    #[test]
    fn a_block_mapping_starts_at_its_first_key() {
        let text = "name: x\nsteps:\n  - id: a\n    with:\n      method: POST\n";
        let spans = Spans::index(text);
        let with = spans.get("steps[0].with").unwrap();
        assert_eq!((with.line, with.column), (5, 7));
        assert_eq!((with.key_line, with.key_column), (4, 5));
        let step = spans.get("steps[0]").unwrap();
        assert_eq!((step.line, step.column), (3, 5));
    }

    #[test]
    fn positions_inside_a_literal_block_map_to_the_file() {
        let text = "steps:\n  - code: |\n\n      let a = 1;\n        a +* 2\n";
        let spans = Spans::index(text);
        let code = spans.get("steps[0].code").unwrap();
        assert_eq!(code.style, Style::Block);
        // The value is "\nlet a = 1;\n  a +* 2\n": its line 3, column 6 is the '*'.
        assert_eq!(code.inner(3, 6), (5, 12));
        assert_eq!(code.inner(2, 1), (4, 7));
    }
}
