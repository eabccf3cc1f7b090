//! Words of an instruction, as BuildKit's shell lexer reads them: split at
//! blanks outside quotes, then quotes removed and variables expanded
//! (`$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
//! `${NAME:+alt}`, `${NAME+alt}`, `${NAME:?message}`, `${NAME?message}`).
//! Single quotes keep everything literal; in double quotes the escape
//! character escapes only `"`, `$` and itself; outside quotes it makes the
//! next character literal. Nothing is run: there is no command
//! substitution.

use std::cell::Cell;

use super::lines::Char;
use crate::model::value::Pos;

/// A problem at a position.
pub(super) type Problem = (Pos, String);

/// The most bytes variable expansion may produce in one file, in all. A
/// file of at most 4 MiB (the most bimanix reads) that doubles a variable
/// line by line (`ENV A=$A$A`) would otherwise take time and memory
/// without bound; a real Containerfile expands a few KiB.
pub(super) const EXPANSION_LIMIT: usize = 16 << 20;

/// How deep `${A:-${B:-...}}` may nest: each level is a recursion, and a
/// real Containerfile nests two or three.
const MAX_NESTING: usize = 100;

/// What variable expansion may still produce in the file being read;
/// `None` once overdrawn.
#[derive(Debug)]
pub(super) struct Budget(Cell<Option<usize>>);

impl Budget {
    /// A budget of `limit` bytes.
    pub(super) fn new(limit: usize) -> Budget {
        Budget(Cell::new(Some(limit)))
    }

    /// Whether an expansion overdrew the budget: the reader stops there,
    /// rather than report the same error for every line after it.
    pub(super) fn overdrawn(&self) -> bool {
        self.0.get().is_none()
    }

    /// Takes `n` bytes from the budget, or says it is spent.
    fn spend(&self, n: usize) -> Result<(), String> {
        let left = self.0.get().and_then(|left| left.checked_sub(n));
        self.0.set(left);
        match left {
            Some(_) => Ok(()),
            None => Err(format!(
                "variables expand to more than {} MiB in this file, and bimanix stops there \
                 (is a variable doubled line by line, as in ENV A=$A$A?)",
                EXPANSION_LIMIT >> 20
            )),
        }
    }
}

/// Splits at blanks outside quotes, keeping quotes and escapes in place.
pub(super) fn split_raw(chars: &[Char], escape: char) -> Vec<&[Char]> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].0;
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => i += 1,
            Some(_) => {}
            None if c.is_whitespace() => {
                if let Some(s) = start.take() {
                    words.push(&chars[s..i]);
                }
            }
            None => {
                start.get_or_insert(i);
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape {
                    i += 1;
                }
            }
        }
        i += 1;
    }
    if let Some(s) = start {
        words.push(&chars[s..]);
    }
    words
}

/// Splits a raw word at its first `=` outside quotes: `(key, value)`.
pub(super) fn split_pair(word: &[Char], escape: char) -> Option<(&[Char], &[Char])> {
    let mut quote: Option<char> = None;
    let mut i = 0;
    while i < word.len() {
        let c = word[i].0;
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => i += 1,
            Some(_) => {}
            None if c == '=' => return Some((&word[..i], &word[i + 1..])),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == escape => i += 1,
            None => {}
        }
        i += 1;
    }
    None
}

/// The text of raw characters, as written.
pub(super) fn text(chars: &[Char]) -> String {
    chars.iter().map(|(c, _)| *c).collect()
}

/// Expands one raw word into one string (quotes removed, variables
/// expanded from `vars` within `budget`, nothing split).
pub(super) fn word(
    chars: &[Char],
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
    budget: &Budget,
) -> Result<String, Problem> {
    let mut lexer =
        Lexer { chars, at: 0, escape, vars, budget, depth: 0, split: false, words: Vec::new(), current: None };
    lexer.run(None)?;
    Ok(lexer.current.unwrap_or_default())
}

/// Expands one raw word into words: variables expanded outside quotes are
/// split at blanks, as BuildKit does for COPY and ADD.
pub(super) fn words(
    chars: &[Char],
    escape: char,
    vars: &dyn Fn(&str) -> Option<String>,
    budget: &Budget,
) -> Result<Vec<String>, Problem> {
    let mut lexer =
        Lexer { chars, at: 0, escape, vars, budget, depth: 0, split: true, words: Vec::new(), current: None };
    lexer.run(None)?;
    let mut out = lexer.words;
    out.extend(lexer.current);
    Ok(out)
}

struct Lexer<'a> {
    chars: &'a [Char],
    at: usize,
    escape: char,
    vars: &'a dyn Fn(&str) -> Option<String>,
    budget: &'a Budget,
    /// How many `${...}` operands this lexer is inside.
    depth: usize,
    /// Whether expanded text outside quotes splits into words.
    split: bool,
    words: Vec<String>,
    /// The word being built; `Some("")` after `""`, an empty word.
    current: Option<String>,
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        self.chars.get(self.at).or(self.chars.last()).map_or(Pos { line: 1, col: 1 }, |(_, p)| *p)
    }

    fn push(&mut self, c: char) {
        self.current.get_or_insert_with(String::new).push(c);
    }

    /// Adds expanded text: outside quotes, when splitting, blanks end words.
    fn push_expanded(&mut self, text: &str, quoted: bool) {
        if quoted || !self.split {
            self.current.get_or_insert_with(String::new).push_str(text);
            return;
        }
        for c in text.chars() {
            if c.is_whitespace() {
                if let Some(w) = self.current.take() {
                    self.words.push(w);
                }
            } else {
                self.push(c);
            }
        }
    }

    /// Reads until `stop` (a `}` ending a `${...}` default) or the end.
    fn run(&mut self, stop: Option<char>) -> Result<(), Problem> {
        while let Some(&(c, pos)) = self.chars.get(self.at) {
            if Some(c) == stop {
                return Ok(());
            }
            self.at += 1;
            match c {
                '\'' => self.single_quoted(pos)?,
                '"' => self.double_quoted(pos)?,
                '$' => {
                    let value = self.dollar(pos)?;
                    self.push_expanded(&value, false);
                }
                c if c == self.escape => match self.chars.get(self.at) {
                    Some(&(next, _)) => {
                        self.at += 1;
                        self.push(next);
                    }
                    None => self.push(c),
                },
                c if self.split && c.is_whitespace() => {
                    if let Some(w) = self.current.take() {
                        self.words.push(w);
                    }
                }
                c => self.push(c),
            }
        }
        match stop {
            Some(_) => Err((self.pos(), "unterminated ${...}: a `}` is missing".into())),
            None => Ok(()),
        }
    }

    fn single_quoted(&mut self, start: Pos) -> Result<(), Problem> {
        self.current.get_or_insert_with(String::new);
        while let Some(&(c, _)) = self.chars.get(self.at) {
            self.at += 1;
            if c == '\'' {
                return Ok(());
            }
            self.push(c);
        }
        Err((start, "unterminated single quote".into()))
    }

    fn double_quoted(&mut self, start: Pos) -> Result<(), Problem> {
        self.current.get_or_insert_with(String::new);
        while let Some(&(c, pos)) = self.chars.get(self.at) {
            self.at += 1;
            match c {
                '"' => return Ok(()),
                '$' => {
                    let value = self.dollar(pos)?;
                    self.push_expanded(&value, true);
                }
                c if c == self.escape => match self.chars.get(self.at) {
                    Some(&(next, _)) if next == '"' || next == '$' || next == self.escape => {
                        self.at += 1;
                        self.push(next);
                    }
                    _ => self.push(c),
                },
                c => self.push(c),
            }
        }
        Err((start, "unterminated double quote".into()))
    }

    /// After a `$`: the value of `$NAME` or `${...}`, or `$` itself, taken
    /// from the budget.
    fn dollar(&mut self, pos: Pos) -> Result<String, Problem> {
        let value = self.expansion(pos)?;
        self.budget.spend(value.len()).map_err(|e| (pos, e))?;
        Ok(value)
    }

    fn expansion(&mut self, pos: Pos) -> Result<String, Problem> {
        let braced = self.chars.get(self.at).is_some_and(|(c, _)| *c == '{');
        if braced {
            self.at += 1;
        }
        let name = self.name();
        if !braced {
            return Ok(if name.is_empty() { "$".into() } else { (self.vars)(&name).unwrap_or_default() });
        }
        if name.is_empty() {
            return Err((pos, "${...} must start with a variable name".into()));
        }
        let value = (self.vars)(&name);
        let Some(&(op, _)) = self.chars.get(self.at) else {
            return Err((pos, "unterminated ${...}: a `}` is missing".into()));
        };
        self.at += 1;
        if op == '}' {
            return Ok(value.unwrap_or_default());
        }
        let colon = op == ':';
        let op = if colon {
            let next = self.chars.get(self.at).map(|(c, _)| *c);
            self.at += 1;
            next
        } else {
            Some(op)
        };
        let word = self.operand()?;
        // With a colon, an empty value counts as unset.
        let set = value.as_deref().is_some_and(|v| !colon || !v.is_empty());
        match op {
            Some('-') => Ok(if set { value.unwrap_or_default() } else { word }),
            Some('+') => Ok(if set { word } else { String::new() }),
            Some('?') if set => Ok(value.unwrap_or_default()),
            Some('?') => {
                Err((pos, if word.is_empty() { format!("{name} is not set") } else { format!("{name}: {word}") }))
            }
            _ => Err((pos, format!("${{{name}...}}: bimanix knows the modifiers :- - :+ + :? ?"))),
        }
    }

    /// The word after a `${NAME:-` up to its `}`, itself expanded.
    fn operand(&mut self) -> Result<String, Problem> {
        if self.depth == MAX_NESTING {
            return Err((self.pos(), format!("variable expansions nest more than {MAX_NESTING} deep")));
        }
        let mut inner = Lexer {
            chars: self.chars,
            at: self.at,
            escape: self.escape,
            vars: self.vars,
            budget: self.budget,
            depth: self.depth + 1,
            split: false,
            words: Vec::new(),
            current: None,
        };
        inner.run(Some('}'))?;
        self.at = inner.at + 1;
        Ok(inner.current.unwrap_or_default())
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&(c, _)) = self.chars.get(self.at) {
            let ok = c == '_' || c.is_ascii_alphabetic() || (!name.is_empty() && c.is_ascii_digit());
            if !ok {
                break;
            }
            name.push(c);
            self.at += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<Char> {
        s.chars().enumerate().map(|(i, c)| (c, Pos { line: 1, col: i as u32 + 1 })).collect()
    }

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("x y".into()),
            "E" => Some(String::new()),
            _ => None,
        }
    }

    fn plenty() -> Budget {
        Budget::new(EXPANSION_LIMIT)
    }

    fn one(s: &str) -> String {
        word(&chars(s), '\\', &vars, &plenty()).unwrap()
    }

    #[test]
    fn quotes_are_removed_like_buildkit() {
        assert_eq!(one("plain"), "plain");
        assert_eq!(one("\"double quoted\""), "double quoted");
        assert_eq!(one("'single $A'"), "single $A");
        assert_eq!(one("\"a 'b c\""), "a 'b c");
        assert_eq!(one(r#""q\"d\\e\x""#), r#"q"d\e\x"#);
        assert_eq!(one(r"a\ b\$c"), "a b$c");
        assert_eq!(one("mixed'one'\"two\""), "mixedonetwo");
    }

    #[test]
    fn variables_expand() {
        assert_eq!(one("$A-${A}"), "x y-x y");
        assert_eq!(one("${NOPE:-d}${E:-e}${E-f}"), "de");
        assert_eq!(one("${A:+alt}${NOPE:+alt}${E+set}"), "altset");
        assert_eq!(one("\"$A\" and $ alone $"), "x y and $ alone $");
        assert_eq!(one("${NOPE:-'lit $A'}"), "lit $A");
        assert!(word(&chars("${NOPE:?need it}"), '\\', &vars, &plenty()).unwrap_err().1.contains("need it"));
        assert!(word(&chars("${A"), '\\', &vars, &plenty()).is_err());
        assert!(word(&chars("\"open"), '\\', &vars, &plenty()).is_err());
        assert!(word(&chars("'open"), '\\', &vars, &plenty()).is_err());
    }

    #[test]
    fn splitting_keeps_quoted_blanks_and_splits_expansions() {
        let c = chars(r#"a "b c" 'd e' f\ g"#);
        let raw: Vec<String> = split_raw(&c, '\\').iter().map(|w| text(w)).collect();
        assert_eq!(raw, ["a", "\"b c\"", "'d e'", "f\\ g"]);
        assert_eq!(words(&chars("$A"), '\\', &vars, &plenty()).unwrap(), ["x", "y"]);
        assert_eq!(words(&chars("\"$A\""), '\\', &vars, &plenty()).unwrap(), ["x y"]);
        assert_eq!(words(&chars("\"\""), '\\', &vars, &plenty()).unwrap(), [""]);
    }

    #[test]
    fn pairs_split_at_the_first_unquoted_equals() {
        let c = chars(r#""k=1"=v=w"#);
        let (k, v) = split_pair(&c, '\\').unwrap();
        assert_eq!((text(k), text(v)), ("\"k=1\"".to_string(), "v=w".to_string()));
        assert!(split_pair(&chars("novalue"), '\\').is_none());
    }

    #[test]
    fn expansion_stops_at_its_budget() {
        let budget = Budget::new(6);
        assert_eq!(word(&chars("$A$A"), '\\', &vars, &budget).unwrap(), "x yx y");
        let (pos, msg) = word(&chars("a $A"), '\\', &vars, &budget).unwrap_err();
        assert_eq!((pos.line, pos.col), (1, 3), "at the `$` that overdraws");
        assert!(msg.contains("more than 16 MiB"), "{msg}");
        assert!(budget.overdrawn());
        assert_eq!(word(&chars("no variables"), '\\', &vars, &budget).unwrap(), "no variables");
        assert!(word(&chars("$E"), '\\', &vars, &budget).is_err(), "an overdrawn budget stays overdrawn");
        let exact = Budget::new(3);
        assert_eq!(word(&chars("$A"), '\\', &vars, &exact).unwrap(), "x y");
        assert!(!exact.overdrawn(), "spending all of it is no overdraft");
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |n: usize| format!("{}x{}", "${A:-".repeat(n), "}".repeat(n));
        assert_eq!(one(&nested(MAX_NESTING)), "x y");
        assert_eq!(word(&chars(&nested(MAX_NESTING).replace('A', "NOPE")), '\\', &vars, &plenty()).unwrap(), "x");
        let (_, msg) = word(&chars(&nested(100_000).replace('A', "NOPE")), '\\', &vars, &plenty()).unwrap_err();
        assert!(msg.contains("nest more than 100 deep"), "{msg}");
    }
}
