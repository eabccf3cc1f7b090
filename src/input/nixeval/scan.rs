//! A first pass over args.nix source, before rnix parses it, that refuses
//! what rnix would crash on, take quadratic time over, or report as a bare
//! token dump:
//!
//! - bytes no Nix file holds: a byte order mark, a NUL, control characters
//!   outside strings;
//! - nesting deeper than [`MAX_NESTING`]: rnix recurses once per level of
//!   brackets, `let`, unary operators and function application (lists and
//!   operator chains without a limit of its own, so a million `[` overflow
//!   any stack), and its syntax tree costs time quadratic in the depth;
//! - long runs of name characters (`a.b.c...`, `1+1+...`) outside strings:
//!   rnix's tokenizer rescans the rest of such a run at every token in it.
//!
//! The pass is a small lexer: it tells strings, comments and code apart
//! and counts levels conservatively. Real args files nest a few levels and
//! are far from every bound.

/// How deeply brackets, `let` bodies, operators and applications may nest.
/// rnix gives up at 512 levels of some of them, with no position; Nix's
/// own parser stops at 10000.
pub(super) const MAX_NESTING: usize = 500;

/// The longest run of name characters (`[A-Za-z0-9_.+-]`) outside strings.
pub(crate) const MAX_RUN: usize = 1024;

/// What rnix's tokenizer may spend rescanning runs, in characters.
const RUN_BUDGET: u64 = 1 << 26;

/// A problem and the byte offset it is at.
pub(super) type Found = (usize, String);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Top,
    /// `{`, `[`, `(`, or `${` (in code or in a string).
    Open(u8),
    /// `let` bindings, up to `in`.
    LetBindings,
    /// `with ...;` or `assert ...;`, up to the `;`.
    Head,
    /// The body of a `let`, `with` or `assert`: ends where the expression
    /// around it ends.
    Body,
    /// A `"..."` string.
    Str,
    /// A `''...''` string.
    IndStr,
}

struct Frame {
    kind: Kind,
    /// Operators and applications in the current expression of this frame.
    chain: usize,
    /// Whether the last thing seen in this frame was an operand.
    after_operand: bool,
}

struct Scan<'s> {
    src: &'s [u8],
    at: usize,
    frames: Vec<Frame>,
    depth: usize,
    run_cost: u64,
}

/// Checks `src`; the error is the offset of the first problem and what it is.
pub(super) fn scan(src: &str) -> Result<(), Found> {
    if src.starts_with('\u{feff}') {
        return Err((
            0,
            "the file starts with a byte order mark (bytes EF BB BF), which Nix does not read; remove it".to_string(),
        ));
    }
    if let Some(at) = src.bytes().position(|b| b == 0) {
        return Err((at, "a NUL byte (0x00): an args file is text".to_string()));
    }
    let mut s = Scan { src: src.as_bytes(), at: 0, frames: Vec::new(), depth: 0, run_cost: 0 };
    s.frames.push(Frame { kind: Kind::Top, chain: 0, after_operand: false });
    while s.at < s.src.len() {
        match s.top() {
            Kind::Str => s.string()?,
            Kind::IndStr => s.indented_string()?,
            _ => s.code()?,
        }
    }
    Ok(())
}

impl Scan<'_> {
    fn top(&self) -> Kind {
        self.frames.last().map_or(Kind::Top, |f| f.kind)
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.src.get(self.at + ahead).copied().unwrap_or(0)
    }

    fn too_deep(&self) -> Found {
        (
            self.at,
            format!(
                "expressions are nested more than {MAX_NESTING} levels deep (brackets, `let`, operators, \
                 attribute paths); args files need a few"
            ),
        )
    }

    fn push(&mut self, kind: Kind) -> Result<(), Found> {
        self.frames.push(Frame { kind, chain: 0, after_operand: false });
        self.depth += 1;
        if self.depth > MAX_NESTING { Err(self.too_deep()) } else { Ok(()) }
    }

    fn pop(&mut self) {
        if self.frames.len() > 1
            && let Some(frame) = self.frames.pop()
        {
            self.depth -= 1 + frame.chain;
        }
    }

    /// One more operator or application in the current expression.
    fn chain(&mut self) -> Result<(), Found> {
        if let Some(frame) = self.frames.last_mut() {
            frame.chain += 1;
            self.depth += 1;
        }
        if self.depth > MAX_NESTING { Err(self.too_deep()) } else { Ok(()) }
    }

    /// An operand starts here: after another one (outside a list) that is
    /// a function application.
    fn operand(&mut self) -> Result<(), Found> {
        let Some(frame) = self.frames.last_mut() else { return Ok(()) };
        let applied = frame.after_operand && frame.kind != Kind::Open(b'[');
        frame.after_operand = true;
        if applied { self.chain() } else { Ok(()) }
    }

    /// The current expression ends (`;`, `=`, `in`, ...).
    fn end_expression(&mut self) {
        if let Some(frame) = self.frames.last_mut() {
            self.depth -= frame.chain;
            frame.chain = 0;
            frame.after_operand = false;
        }
    }

    /// `in` after `let` bindings, `;` after `with` or `assert`: the body
    /// follows, nested in this frame.
    fn open_body(&mut self, from: Kind) {
        if let Some(frame) = self.frames.last_mut()
            && frame.kind == from
        {
            frame.kind = Kind::Body;
        }
    }

    fn close_bodies(&mut self) {
        while self.top() == Kind::Body {
            self.pop();
        }
    }

    fn code(&mut self) -> Result<(), Found> {
        let c = self.peek(0);
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => self.at += 1,
            b'#' => self.skip_to(b"\n"),
            b'/' if self.peek(1) == b'*' => self.skip_to(b"*/"),
            b'"' => {
                self.operand()?;
                self.push(Kind::Str)?;
                self.at += 1;
            }
            b'\'' if self.peek(1) == b'\'' => {
                self.operand()?;
                self.push(Kind::IndStr)?;
                self.at += 2;
            }
            b'{' | b'[' | b'(' => {
                self.operand()?;
                self.push(Kind::Open(c))?;
                self.at += 1;
            }
            b'$' if self.peek(1) == b'{' => {
                self.push(Kind::Open(b'$'))?;
                self.at += 2;
            }
            b'}' | b']' | b')' => {
                self.close_bodies();
                if matches!(self.top(), Kind::Open(_)) {
                    self.pop();
                }
                self.at += 1;
            }
            b';' => {
                self.close_bodies();
                self.end_expression();
                self.open_body(Kind::Head);
                self.at += 1;
            }
            b'=' | b',' => {
                self.end_expression();
                self.at += 1;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'+' | b'-' => self.run()?,
            0x01..=0x1f | 0x7f => {
                return Err((self.at, format!("a control character (byte 0x{c:02X}) outside a string")));
            }
            _ => {
                // Other operators count as nesting; other characters are
                // rnix's to report.
                if b"!*<>&|?:@/".contains(&c) {
                    self.chain()?;
                    if let Some(frame) = self.frames.last_mut() {
                        frame.after_operand = false;
                    }
                }
                self.at += utf8_len(c);
            }
        }
        Ok(())
    }

    /// A run of name characters: a name, a number, a keyword, an attribute
    /// path or a chain such as `1+1`.
    fn run(&mut self) -> Result<(), Found> {
        let start = self.at;
        self.run_at(start).map_err(|(_, msg)| (start, msg))
    }

    fn run_at(&mut self, start: usize) -> Result<(), Found> {
        let len = self.src[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-' | b'\''))
            .count();
        let run = &self.src[start..start + len];
        if len > MAX_RUN {
            return Err((
                start,
                format!("{len} name characters in a row outside a string (at most {MAX_RUN}); put spaces between them"),
            ));
        }
        let marks = run.iter().filter(|b| matches!(b, b'.' | b'+' | b'-')).count() as u64;
        self.run_cost += (marks + 1) * len as u64;
        if self.run_cost > RUN_BUDGET {
            return Err((start, "too many long runs of name characters outside strings".to_string()));
        }
        self.at += len;
        match run {
            b"let" => self.push(Kind::LetBindings),
            b"with" | b"assert" => self.push(Kind::Head),
            b"in" => {
                self.open_body(Kind::LetBindings);
                self.end_expression();
                Ok(())
            }
            b"then" | b"else" => {
                self.end_expression();
                Ok(())
            }
            b"if" | b"or" => self.chain(),
            _ => {
                if run.starts_with(b".") {
                    // `a . b`: one more name in an attribute path.
                    self.chain()?;
                    if let Some(frame) = self.frames.last_mut() {
                        frame.after_operand = false;
                    }
                } else {
                    self.operand()?;
                }
                // Operators inside the run (`1+1-1`) nest like any others.
                for _ in run.iter().skip(1).filter(|b| matches!(b, b'+' | b'-')) {
                    self.chain()?;
                }
                Ok(())
            }
        }
    }

    fn skip_to(&mut self, end: &[u8]) {
        match self.src[self.at..].windows(end.len()).position(|w| w == end) {
            Some(i) => self.at += i + end.len(),
            None => self.at = self.src.len(),
        }
    }

    fn string(&mut self) -> Result<(), Found> {
        match (self.peek(0), self.peek(1)) {
            (b'\\', _) => self.at += 2,
            (b'$', b'$') => self.at += 2,
            (b'$', b'{') => {
                self.push(Kind::Open(b'$'))?;
                self.at += 2;
            }
            (b'"', _) => {
                self.at += 1;
                self.pop();
            }
            _ => self.at += 1,
        }
        Ok(())
    }

    fn indented_string(&mut self) -> Result<(), Found> {
        match (self.peek(0), self.peek(1), self.peek(2)) {
            (b'\'', b'\'', b'$' | b'\'') => self.at += 3,
            (b'\'', b'\'', b'\\') => self.at += 4,
            (b'\'', b'\'', _) => {
                self.at += 2;
                self.pop();
            }
            (b'$', b'$', _) => self.at += 2,
            (b'$', b'{', _) => {
                self.push(Kind::Open(b'$'))?;
                self.at += 2;
            }
            _ => self.at += 1,
        }
        Ok(())
    }
}

/// The length of the UTF-8 character that starts with byte `first`.
fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused(src: &str, at: usize, what: &str) {
        match scan(src) {
            Ok(()) => panic!("{:.80?} passed", src),
            Err((offset, msg)) => {
                assert!(msg.contains(what), "{msg}");
                assert_eq!(offset, at, "{msg}");
            }
        }
    }

    #[test]
    fn ordinary_files_pass() {
        for src in [
            "{ a = [ 1 2 3 ]; b = \"x ${y} \\\" }\"; c = ''\n  ''${z} '''\n''; d.e.f = -1; }",
            "let a = 1; b = { c = [ (-2) ]; }; in { inherit a b; p = ./x/y.tar; q = a.b or 3; }",
            "# comment {{{{\n/* [[[[ */ { }",
        ] {
            scan(src).unwrap();
        }
        let flat_list = format!("[ {} ]", "1 ".repeat(100_000));
        scan(&flat_list).unwrap();
        let many: String = (0..10_000).map(|i| format!("a{i} = let x = -{i}; in x;\n")).collect();
        scan(&format!("{{ {many} }}")).unwrap();
    }

    #[test]
    fn bytes_no_nix_file_holds() {
        refused("\u{feff}{ }", 0, "byte order mark");
        refused("{ a = \"x\0\"; }", 8, "NUL");
        refused("{ a = 1;\x01 }", 8, "control character (byte 0x01)");
    }

    #[test]
    fn deep_nesting() {
        let n = MAX_NESTING + 1;
        refused(&"[ ".repeat(1_000_000), 2 * (n - 1), "nested more than");
        // The first `-` is an operand; each one after it nests one more.
        refused(&format!("{}1", "- ".repeat(1000)), 2 * n, "nested more than");
        refused(&format!("{}1", "-".repeat(1000)), 0, "nested more than");
        refused(&format!("f{}", " a".repeat(1000)), 2 * n, "nested more than");
        refused(&"let a = 1; in ".repeat(1000), 14 * (n - 1), "nested more than");
        refused(&"{ a = ".repeat(1000), 6 * (n - 1), "nested more than");
        refused(&"\"${".repeat(1000), 3 * (n - 1) / 2, "nested more than");
        scan(&format!("{}{}", "[ ".repeat(MAX_NESTING - 1), " ]".repeat(MAX_NESTING - 1))).unwrap();
    }

    #[test]
    fn long_runs() {
        let path = vec!["a"; 60_000].join(".");
        refused(&format!("{{ {path} = 1; }}"), 2, "name characters in a row");
        let spaced = vec!["a"; 60_000].join(" . ");
        refused(&format!("{{ {spaced} = 1; }}"), 4 * MAX_NESTING, "nested more than");
        let run = format!("{} ", "a.".repeat(500));
        let fit = RUN_BUDGET / (501 * 1000);
        refused(&run.repeat(200), fit as usize * run.len(), "too many long runs");
    }
}
