//! A small, forgiving lexer for Rhai source text.
//!
//! Rhai only exposes its own tokenizer and AST walker under the `internals`
//! feature, which this crate does not enable. Yet at load time Roster needs
//! to know three things about every compiled script that only the token
//! stream tells: which root variables it reads (so evaluation converts only
//! those), which `steps.<id>` it references (so the loader can check the ids
//! and order steps), and whether it is a plain path (so the fast path can
//! skip Rhai entirely). The same scanner also finds where a `${{ … }}`
//! template part ends, because a naive search for `}}` would stop inside a
//! nested map literal or a string.
//!
//! The lexer never fails: every source it sees has been or will be compiled
//! by Rhai, which is the authority on syntax. It only needs to be right about
//! strings, comments and nesting so that identifiers are not found inside
//! them.

/// What kind of token was seen; only the kinds the analyses need are told apart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A double-quoted string literal; `None` when it contains escapes,
    /// because then its value is not simply its text.
    Str(Option<String>),
    /// An integer literal made only of decimal digits.
    Int(usize),
    /// Any other number literal.
    Number,
    /// A single punctuation character.
    Punct(char),
    /// Literal text of a back-tick string or a character literal.
    Literal,
}

/// A token with its 1-based line and column (in characters, as Rhai counts).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub line: usize,
    pub column: usize,
}

/// Where the lexer stops.
#[derive(Clone, Copy, PartialEq)]
enum Stop {
    /// At the end of the input.
    Eof,
    /// At a `}` that closes a `${` interpolation inside a back-tick string.
    Brace,
    /// At a `}}` at nesting depth zero, the end of a template part.
    DoubleBrace,
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    column: usize,
    out: Vec<Token>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, pos: usize, line: usize, column: usize) -> Self {
        Lexer {
            src,
            pos,
            line,
            column,
            out: Vec::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn push(&mut self, tok: Tok, line: usize, column: usize) {
        self.out.push(Token { tok, line, column });
    }

    /// Lexes code until `stop`; returns false when the input ended first.
    fn code(&mut self, stop: Stop) -> bool {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            let (line, column) = (self.line, self.column);
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '/' if self.peek_at(1) == Some('/') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                '/' if self.peek_at(1) == Some('*') => self.block_comment(),
                '"' => {
                    let s = self.quoted();
                    self.push(Tok::Str(s), line, column);
                }
                '#' if matches!(self.peek_at(1), Some('"' | '#')) => {
                    self.raw_string();
                    self.push(Tok::Literal, line, column);
                }
                '`' => {
                    self.bump();
                    self.backtick();
                    self.push(Tok::Literal, line, column);
                }
                '\'' => {
                    self.char_literal();
                    self.push(Tok::Literal, line, column);
                }
                c if c.is_ascii_alphabetic() || c == '_' => {
                    let start = self.pos;
                    while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
                        self.bump();
                    }
                    let word = self.src[start..self.pos].to_string();
                    self.push(Tok::Ident(word), line, column);
                }
                c if c.is_ascii_digit() => {
                    let tok = self.number();
                    self.push(tok, line, column);
                }
                '{' => {
                    depth += 1;
                    self.bump();
                    self.push(Tok::Punct('{'), line, column);
                }
                '}' => {
                    if depth == 0 {
                        match stop {
                            Stop::Brace => {
                                self.bump();
                                return true;
                            }
                            Stop::DoubleBrace if self.peek_at(1) == Some('}') => return true,
                            _ => {}
                        }
                    }
                    depth = depth.saturating_sub(1);
                    self.bump();
                    self.push(Tok::Punct('}'), line, column);
                }
                c => {
                    self.bump();
                    self.push(Tok::Punct(c), line, column);
                }
            }
        }
        stop == Stop::Eof
    }

    /// Skips a (possibly nested) block comment, as Rhai allows nesting.
    fn block_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if c == '/' && self.peek_at(1) == Some('*') {
                self.bump();
                self.bump();
                depth += 1;
            } else if c == '*' && self.peek_at(1) == Some('/') {
                self.bump();
                self.bump();
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return;
                }
            } else {
                self.bump();
            }
        }
    }

    /// Reads a double-quoted string; returns its text when it has no escapes.
    fn quoted(&mut self) -> Option<String> {
        self.bump();
        let start = self.pos;
        let mut plain = true;
        while let Some(c) = self.peek() {
            match c {
                '\\' => {
                    plain = false;
                    self.bump();
                    self.bump();
                }
                '"' => {
                    let text = self.src[start..self.pos].to_string();
                    self.bump();
                    return plain.then_some(text);
                }
                _ => {
                    self.bump();
                }
            }
        }
        None
    }

    /// Skips a raw string `#"…"#` (any number of `#`).
    fn raw_string(&mut self) {
        let mut hashes = 0usize;
        while self.peek() == Some('#') {
            self.bump();
            hashes += 1;
        }
        if self.peek() != Some('"') {
            return;
        }
        self.bump();
        while let Some(c) = self.bump() {
            if c == '"' && (0..hashes).all(|i| self.peek_at(i) == Some('#')) {
                for _ in 0..hashes {
                    self.bump();
                }
                return;
            }
        }
    }

    /// Skips a back-tick string, lexing the code inside its `${ … }` parts.
    fn backtick(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                '`' => {
                    self.bump();
                    return;
                }
                '$' if self.peek_at(1) == Some('{') => {
                    self.bump();
                    self.bump();
                    if !self.code(Stop::Brace) {
                        return;
                    }
                }
                _ => {
                    self.bump();
                }
            }
        }
    }

    fn char_literal(&mut self) {
        self.bump();
        if self.peek() == Some('\\') {
            self.bump();
        }
        self.bump();
        while let Some(c) = self.peek() {
            self.bump();
            if c == '\'' || c == '\n' {
                return;
            }
        }
    }

    fn number(&mut self) -> Tok {
        let start = self.pos;
        let mut digits_only = true;
        let mut seen_dot = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                digits_only &= c.is_ascii_digit();
                self.bump();
            } else if c == '.'
                && !seen_dot
                && matches!(self.peek_at(1), Some(d) if d.is_ascii_digit())
            {
                seen_dot = true;
                digits_only = false;
                self.bump();
            } else {
                break;
            }
        }
        match self.src[start..self.pos].parse::<usize>() {
            Ok(n) if digits_only => Tok::Int(n),
            _ => Tok::Number,
        }
    }
}

/// Lexes a whole source string.
pub(crate) fn tokens(src: &str) -> Vec<Token> {
    let mut lx = Lexer::new(src, 0, 1, 1);
    lx.code(Stop::Eof);
    lx.out
}

/// Finds the end of a template part whose code starts at byte `start`
/// (just after `${{`), at the given line and column. Returns the byte
/// offset of the closing `}}`, or `None` when the part is never closed.
pub(crate) fn template_part_end(
    src: &str,
    start: usize,
    line: usize,
    column: usize,
) -> Option<usize> {
    let mut lx = Lexer::new(src, start, line, column);
    lx.code(Stop::DoubleBrace).then_some(lx.pos)
}

/// True when token `i` is a use of a variable, not a property name after a
/// dot nor a key in a map literal (`#{ steps: 1 }`).
pub(crate) fn is_variable_use(toks: &[Token], i: usize) -> bool {
    let after_dot = i > 0 && toks[i - 1].tok == Tok::Punct('.');
    let is_key = matches!(toks.get(i + 1), Some(t) if t.tok == Tok::Punct(':'))
        && !matches!(toks.get(i + 2), Some(t) if t.tok == Tok::Punct(':'));
    !after_dot && !is_key
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        tokens(src)
            .into_iter()
            .filter_map(|t| match t.tok {
                Tok::Ident(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn identifiers_inside_strings_and_comments_are_ignored() {
        let ids = idents(
            r##"a + "steps.x" // steps.y
            /* steps /* nested */ z */ b + 'c' + #"raw steps"#"##,
        );
        assert_eq!(ids, vec!["a", "b"]);
    }

    #[test]
    fn backtick_interpolations_are_lexed_as_code() {
        assert_eq!(
            idents("`hi ${person.name} and ${ #{a: vars}.a }`"),
            vec!["person", "name", "a", "vars", "a"]
        );
    }

    #[test]
    fn template_end_skips_nested_braces_and_strings() {
        let src = "${{ #{a: #{b: \"}}\"}} }} tail";
        let end = template_part_end(src, 3, 1, 4).unwrap();
        assert_eq!(&src[end..], "}} tail");
        assert_eq!(template_part_end("${{ a + ", 3, 1, 4), None);
    }

    #[test]
    fn positions_count_characters_and_lines() {
        let t = tokens("\"é\" +\n  steps");
        let last = t.last().unwrap();
        assert_eq!((last.line, last.column), (2, 3));
        let t = tokens("\"é\" + x");
        assert_eq!((t[2].line, t[2].column), (1, 7));
    }
}
