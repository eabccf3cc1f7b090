//! The args.nix reader: evaluates the data subset of Nix into a [`Value`] tree.
//!
//! The subset is what an args file needs to hold data: attribute sets (with
//! `a.b.c = ...;` paths and `inherit`), lists, strings (plain and indented,
//! with interpolation), integers, booleans, `null`, path literals, `let`
//! bindings, attribute selection (`a.b`, `a.b or d`) and parentheses.
//! Everything that computes (functions, operators, `if`, `with`, `import`,
//! builtins) is refused with the position of the construct, so that a file
//! this reader accepts means the same here as it does in Nix.
//!
//! `let` is lazy and recursive as in Nix, with one simplification: a binding
//! is evaluated as a whole before anything is selected from it, so a set that
//! selects from itself (`let a = { x = 1; y = a.x; }; in a`) is reported as
//! a cycle although Nix accepts it.

mod bindings;
mod expr;
mod scan;
mod strings;
mod syntax;

pub(crate) use scan::MAX_RUN;

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rnix::{ParseError, SyntaxNode, TextSize};
use rowan::ast::AstNode;

use crate::model::diagnostic::{Diagnostic, Diagnostics};
use crate::model::value::{Pos, Value};

use bindings::Scope;

/// How deeply expressions and bindings may nest before evaluation stops,
/// so that a long chain of bindings cannot overflow the stack.
const MAX_DEPTH: u32 = 1000;

/// The stack of the thread that parses and evaluates (reserved, not used,
/// unless the input nests deeply).
const STACK_SIZE: usize = 64 << 20;

/// Reads and evaluates an args.nix file.
///
/// Relative path literals resolve against the file's directory. Errors start
/// with the path as given, then `:line:col: `.
pub fn eval_file(path: &Path) -> Result<Value> {
    let file_name = path.display().to_string();
    let bytes = crate::model::hostfile::read_regular(path, crate::input::MAX_ARGS_FILE, "args files")
        .with_context(|| format!("cannot read {file_name}"))?;
    let src = match String::from_utf8(bytes) {
        Ok(src) => src,
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let pos = Lines::new(&String::from_utf8_lossy(valid)).end();
            bail!("{file_name}:{pos}: the file is not valid UTF-8 (byte 0x{:02X})", err.as_bytes()[valid.len()]);
        }
    };
    let absolute = std::path::absolute(path).with_context(|| format!("cannot make {file_name} absolute"))?;
    let base_dir = absolute.parent().unwrap_or(Path::new("/"));
    eval_str(&src, &file_name, base_dir)
}

/// Evaluates args.nix source text.
///
/// `file_name` starts every error message; relative path literals resolve
/// against `base_dir` (itself made absolute against the current directory).
pub fn eval_str(src: &str, file_name: &str, base_dir: &Path) -> Result<Value> {
    let base_dir =
        std::path::absolute(base_dir).with_context(|| format!("cannot make {} absolute", base_dir.display()))?;
    // rnix's parser recurses once per level of nesting, with no limit for
    // lists, so deeply nested input needs more stack than a thread may have.
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("nixeval".to_string())
            .stack_size(STACK_SIZE)
            .spawn_scoped(scope, || parse_and_eval(src, file_name, base_dir))
            .with_context(|| format!("cannot start a thread to evaluate {file_name}"))?;
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn parse_and_eval(src: &str, file_name: &str, base_dir: PathBuf) -> Result<Value> {
    let eval = Eval { file_name, lines: Lines::new(src), base_dir, depth: Cell::new(0) };
    if let Err((offset, msg)) = scan::scan(src) {
        return Err(eval.error(eval.lines.pos(offset), msg));
    }
    let parse = rnix::Root::parse(src);
    if let Some(err) = parse.errors().first() {
        return Err(eval.syntax_error(err, src));
    }
    let root = parse.tree();
    let expr = eval.child(root.expr(), root.syntax())?;
    eval.expr(&expr, &Scope::default())
}

/// Turns byte offsets into 1-based lines and character columns, in time
/// that does not grow with the length of the line.
struct Lines<'s> {
    src: &'s str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
    /// How many characters precede each multiple of `STRIDE` bytes.
    chars: Vec<usize>,
}

/// The distance between the character counts `Lines` keeps, in bytes.
const STRIDE: usize = 64;

impl<'s> Lines<'s> {
    fn new(src: &'s str) -> Self {
        let starts = std::iter::once(0).chain(src.match_indices('\n').map(|(i, _)| i + 1)).collect();
        let mut chars = vec![0];
        for chunk in src.as_bytes().chunks(STRIDE) {
            chars.push(chars[chars.len() - 1] + char_starts(chunk));
        }
        Lines { src, starts, chars }
    }

    /// The number of characters before byte `offset`.
    fn chars_before(&self, offset: usize) -> usize {
        let offset = offset.min(self.src.len());
        let base = offset / STRIDE;
        self.chars[base] + char_starts(&self.src.as_bytes()[base * STRIDE..offset])
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = self.chars_before(offset) - self.chars_before(start);
        Pos { line: u32::try_from(line).unwrap_or(u32::MAX), col: u32::try_from(col + 1).unwrap_or(u32::MAX) }
    }

    fn end(&self) -> Pos {
        self.pos(self.src.len())
    }
}

/// The characters that start in `bytes` (of UTF-8 text).
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b & 0xc0) != 0x80).count()
}

/// One evaluation of one file.
struct Eval<'s> {
    file_name: &'s str,
    lines: Lines<'s>,
    base_dir: PathBuf,
    depth: Cell<u32>,
}

impl Eval<'_> {
    fn pos(&self, node: &SyntaxNode) -> Pos {
        self.at(node.text_range().start())
    }

    fn at(&self, offset: TextSize) -> Pos {
        self.lines.pos(usize::from(offset))
    }

    fn error(&self, pos: Pos, msg: impl fmt::Display) -> anyhow::Error {
        Diagnostics(vec![Diagnostic::new(self.file_name, Some(pos), msg)]).into()
    }

    /// The error for a construct outside the data subset; `what` ends with
    /// its verb ("function calls are").
    fn outside(&self, pos: Pos, what: &str) -> anyhow::Error {
        self.error(
            pos,
            format!(
                "{what} outside the data subset of Nix that bimanix reads; use the Nix \
                 function mkUruncImage (see docs/nix.md) to evaluate full Nix"
            ),
        )
    }

    /// A part of the syntax tree that rnix leaves out only when it also
    /// reports a syntax error, which has been reported before evaluation.
    fn child<T>(&self, child: Option<T>, parent: &SyntaxNode) -> Result<T> {
        child.ok_or_else(|| self.error(self.pos(parent), "syntax error: incomplete expression"))
    }

    fn syntax_error(&self, err: &ParseError, src: &str) -> anyhow::Error {
        let (offset, msg) = syntax::describe(err, src);
        self.error(self.at(offset), format!("syntax error: {msg}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::value::{Field, Kind};
    use serde_json::json;

    fn eval(src: &str) -> Result<Value> {
        eval_str(src, "args.nix", Path::new("/base/dir"))
    }

    /// The value without positions, paths written as strings.
    fn plain(value: &Value) -> serde_json::Value {
        match &value.kind {
            Kind::Null => serde_json::Value::Null,
            Kind::Bool(b) => json!(b),
            Kind::Int(i) => json!(i),
            Kind::Str(s) => json!(s),
            Kind::Path(p) => json!(format!("path:{}", p.display())),
            Kind::List(items) => items.iter().map(plain).collect(),
            Kind::Attrs(attrs) => attrs
                .iter()
                .map(|(name, field)| (name.clone(), plain(&field.value)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    #[track_caller]
    fn check(src: &str, expected: serde_json::Value) {
        match eval(src) {
            Ok(value) => assert_eq!(plain(&value), expected, "for {src:?}"),
            Err(err) => panic!("{src:?} failed: {err}"),
        }
    }

    #[track_caller]
    fn check_err(src: &str, expected: &str) {
        match eval(src) {
            Ok(value) => panic!("{src:?} evaluated to {:?}", plain(&value)),
            Err(err) => assert_eq!(err.to_string(), expected, "for {src:?}"),
        }
    }

    fn pos(line: u32, col: u32) -> Option<Pos> {
        Some(Pos { line, col })
    }

    fn attr<'v>(value: &'v Value, name: &str) -> &'v Field {
        match &value.kind {
            Kind::Attrs(attrs) => &attrs[name],
            other => panic!("{other:?} is not a set"),
        }
    }

    #[test]
    fn readme_example() {
        let src = r#"{
  name = "hello-rumprun";
  tag = "latest";
  files = {
    "./hello1.hvt" = "/unikernel/hello.hvt";
  };
  annotations = {
    unikernelType = "rumprun";
    hypervisor = "hvt";
    binary = "/unikernel/hello.hvt";
    cmdline = "hello";
    unikernelVersion = "";
    initrd = "";
    block = "";
    blkMntPoint = "";
  };
}
"#;
        check(
            src,
            json!({
                "name": "hello-rumprun",
                "tag": "latest",
                "files": { "./hello1.hvt": "/unikernel/hello.hvt" },
                "annotations": {
                    "unikernelType": "rumprun",
                    "hypervisor": "hvt",
                    "binary": "/unikernel/hello.hvt",
                    "cmdline": "hello",
                    "unikernelVersion": "",
                    "initrd": "",
                    "block": "",
                    "blkMntPoint": "",
                },
            }),
        );
        let value = eval(src).unwrap();
        let files = attr(&value, "files");
        assert_eq!(files.key_pos, pos(4, 3));
        assert_eq!(files.value.pos, pos(4, 11));
        let file = attr(&files.value, "./hello1.hvt");
        assert_eq!(file.key_pos, pos(5, 5));
        assert_eq!(file.value.pos, pos(5, 22));
    }

    #[test]
    fn scalars_and_lists() {
        check(
            "[ 1 (-2) (- 3) 007 true false null [ ] [ [ 1 ] ] { } ]",
            json!([1, -2, -3, 7, true, false, null, [], [[1]], {}]),
        );
        check("[ 9223372036854775807 (-9223372036854775807) ]", json!([i64::MAX, -i64::MAX]));
        check("( ( 1 ) )", json!(1));
        check("/* a */ { # b\n a = /* c */ 1; # d\n}", json!({"a": 1}));
    }

    #[test]
    fn positions_count_characters() {
        let src = "{\n  # é\n  \"é\" = 1;\n  \"ü\" = [ \"x\" ];\n}";
        let value = eval(src).unwrap();
        assert_eq!(value.pos, pos(1, 1));
        let e = attr(&value, "é");
        assert_eq!(e.key_pos, pos(3, 3));
        assert_eq!(e.value.pos, pos(3, 9));
        let u = attr(&value, "ü");
        assert_eq!(u.value.pos, pos(4, 9));
        let Kind::List(items) = &u.value.kind else { panic!("not a list") };
        assert_eq!(items[0].pos, pos(4, 11));
        check_err("{\n  \"é\" = 1;\n  \"ä\" = 1.5;\n}", &outside_msg(3, 9, "floating-point numbers are"));
    }

    #[test]
    fn attribute_paths_merge_like_nix() {
        check(
            r#"{ a.b.c = 1; a.d = 2; "b c" = 3; "" = 4; "x\ny" = 5; or = 6; ${"e"} = 7; }"#,
            json!({"a": {"b": {"c": 1}, "d": 2}, "b c": 3, "": 4, "x\ny": 5, "or": 6, "e": 7}),
        );
        // Each of these evaluates so in Nix 2.8.
        check("{ a.b = 1; a = { c = 2; }; }", json!({"a": {"b": 1, "c": 2}}));
        check("{ a = { c = 2; }; a.b = 1; }", json!({"a": {"b": 1, "c": 2}}));
        check("{ a = { b = 1; }; a = { c = 2; }; }", json!({"a": {"b": 1, "c": 2}}));
        check("{ a = { b.c = 1; }; a.b.d = 2; }", json!({"a": {"b": {"c": 1, "d": 2}}}));
        let value = eval("{\n  a.b = 1;\n  a.c = 2;\n}").unwrap();
        let a = attr(&value, "a");
        assert_eq!(a.key_pos, pos(2, 3));
        assert_eq!(attr(&a.value, "c").key_pos, pos(3, 5));
    }

    #[test]
    fn duplicate_attributes() {
        check_err("{\n  a = 1;\n  a = 2;\n}", "args.nix:3:3: attribute 'a' already defined at 2:3");
        check_err("{ a.b = 1; a.b = 2; }", "args.nix:1:14: attribute 'a.b' already defined at 1:5");
        check_err("{ a = 1; a.b = 2; }", "args.nix:1:10: attribute 'a' already defined at 1:3");
        check_err("{ \"a\" = 1; a = 2; }", "args.nix:1:12: attribute 'a' already defined at 1:3");
        // Nix merges a literal set into a.b's set one level deep only.
        check_err("{ a.b.d = 2; a = { b.c = 1; }; }", "args.nix:1:20: attribute 'a.b' already defined at 1:5");
        check_err("let a = 1; in { inherit a; a = 2; }", "args.nix:1:28: attribute 'a' already defined at 1:25");
        check_err(
            "let x = \"a\"; in { a.b = 1; ${x}.c = 2; }",
            "args.nix:1:28: dynamic attribute 'a' already defined at 1:19",
        );
    }

    #[test]
    fn interpolated_attribute_names() {
        check(
            "let x = \"k\"; s = { n = \"m\"; }; in { \"${x}\" = 1; \"${x}2\".a = 2; ${s.n} = 3; }",
            json!({"k": 1, "k2": {"a": 2}, "m": 3}),
        );
        check_err("let x = 1; in { ${x} = 2; }", "args.nix:1:17: an attribute name must be a string, not an integer");
        check_err("let ${\"a\"} = 1; ${b} = 2; in a", "args.nix:1:17: dynamic attribute names are not allowed in let");
    }

    #[test]
    fn inherit() {
        check(
            "let a = 1; s = { b = 2; c = 3; }; in { inherit a; inherit (s) b c; d = { inherit a; }; }",
            json!({"a": 1, "b": 2, "c": 3, "d": {"a": 1}}),
        );
        // `let inherit` takes the name from around the let; `inherit (s)` in a let sees the let.
        check("let a = 1; in let inherit a; in a", json!(1));
        check("let inherit (s) a; s = { a = 5; }; in a", json!(5));
        check_err("let s = { }; in { inherit (s) a; }", "args.nix:1:31: attribute 'a' missing");
        check_err("{ inherit (1) a; }", "args.nix:1:15: cannot inherit 'a' from an integer");
        check_err(
            "{ inherit x; }",
            &outside_msg(1, 11, "'x' is not bound by a `let`; other names (such as `builtins`) are"),
        );
    }

    #[test]
    fn plain_strings() {
        check(
            r#"[ "a\nb\tc\rd\\e\"f\$g\${h}\qi" "$${x} $ \\" "" ]"#,
            json!(["a\nb\tc\rd\\e\"f$g${h}qi", "$${x} $ \\", ""]),
        );
        check("\"a\r\nb\rc\nd\"", json!("a\nb\nc\nd"));
        check(r#"let x = "X"; s = { y = "Y"; }; p = ./f; in "a${x}b${s.y}c${"d"}${p}""#, json!("aXbYcd/base/dir/f"));
        check_err(
            "{\n  x = \"a ${1} b\";\n}",
            "args.nix:2:12: cannot coerce an integer to a string (only strings and paths can \
             be interpolated)",
        );
    }

    #[test]
    fn indented_strings() {
        // Expected values are what `nix-instantiate --eval --strict --json` (Nix 2.8) prints.
        let cases = [
            ("''\n  x\n    y\n  ''", "x\n  y\n"),
            ("''\n  x\n    y\n   z''", "x\n  y\n z"),
            ("''  \n  x\n''", "x\n"),
            ("'' a\n  x\n''", "a\n x\n"),
            ("''\n\tx\n  y\n''", "\tx\n  y\n"),
            ("''\n    x\n  \n    y\n''", "x\n\ny\n"),
            ("''\n  ''$x ''' ''\\n ''\\t ''\\r ''\\\\ ''\\q\n''", "$x '' \n\t \r \\ q\n"),
            ("''\n  ''\\n  x\n  y\n''", "\nx\ny\n"),
            ("''\n    ${\"a\"}\n  b ${\"c\"}\n  ''", "  a\nb c\n"),
            ("''\n  a\n   ${\"x\"}  \n  ''", "a\n x  \n"),
            ("''\n  a\n  ''$\n  ''", "a\n$\n"),
            ("''$${x} $ ' a''", "$${x} $ ' a"),
            ("''\n  x ''${y}\n''", "x ${y}\n"),
            ("''\n  a\r\n  b\r\n  ''", "a\r\nb\r\n"),
            ("''\n  \u{e9}\n   x\n''", "\u{e9}\n x\n"),
            ("''\n    \n  \n''", "\n\n"),
            ("''''", ""),
            ("''\n''", ""),
        ];
        for (src, expected) in cases {
            check(src, json!(expected));
        }
    }

    #[test]
    fn paths() {
        check(
            "[ ./x/../y/./z ../a/b a/b ./. /abs/../x/. /.. ../../../../.. ]",
            json!([
                "path:/base/dir/y/z",
                "path:/base/a/b",
                "path:/base/dir/a/b",
                "path:/base/dir",
                "path:/x",
                "path:/",
                "path:/",
            ]),
        );
        check_err("[\n  <nixpkgs>\n]", &outside_msg(2, 3, "search paths (`<...>`) are"));
        check_err("[ ~/x ]", &outside_msg(1, 3, "home paths (`~/...`) are"));
        check_err("let x = \"a\"; in ./${x}", &outside_msg(1, 17, "interpolated paths are"));
    }

    #[test]
    fn lets_and_selection() {
        check("let a = c; b = 1; c = b; in [ a b c ]", json!([1, 1, 1]));
        check("let a = 1; in let a = 2; b = a; in b", json!(2));
        check("let a.b = 1; a.c = 2; in a", json!({"b": 1, "c": 2}));
        check("let a = b; b = a; in 1", json!(1));
        check("let true = 1; in true", json!(1));
        check("let s = { a.b = 1; \"x y\" = 2; }; k = \"a\"; in [ s.a.b s.\"x y\" s.${k}.b ]", json!([1, 2, 1]));
        check("let s = { a = 1; }; in [ (s.b or 2) (s.a.c or 3) ({ }.x.y or 4) s.a or 5 ]", json!([2, 3, 4, 1]));
        check_err("let s = { a = 1; }; in s.b", "args.nix:1:26: attribute 'b' missing");
        check_err("let s = { a = 1; }; in s.a.b", "args.nix:1:28: cannot select 'b' from an integer");
        check_err(
            "let\n  a = b;\n  b = [ a ];\nin a",
            "args.nix:3:9: 'a' is used while it is being defined (a cycle of bindings)",
        );
        // Like Nix, a let binding is only evaluated if used.
        check("let f = x: x; in 1", json!(1));
    }

    #[test]
    fn value_positions_follow_bindings() {
        let value = eval("let\n  v = \"x\";\nin {\n  a = v;\n}").unwrap();
        let a = attr(&value, "a");
        assert_eq!(a.key_pos, pos(4, 3));
        assert_eq!(a.value.pos, pos(2, 7));
    }

    fn outside_msg(line: u32, col: u32, what: &str) -> String {
        format!(
            "args.nix:{line}:{col}: {what} outside the data subset of Nix that bimanix reads; use \
             the Nix function mkUruncImage (see docs/nix.md) to evaluate full Nix"
        )
    }

    #[test]
    fn constructs_outside_the_subset() {
        let cases = [
            ("{\n  a = 1;\n  b = f 1;\n}", 3, 7, "function calls are"),
            ("{ a = import ./x.nix; }", 1, 7, "`import` is"),
            ("{ a = x: x; }", 1, 7, "function definitions are"),
            ("{ a = { x }: x; }", 1, 7, "function definitions are"),
            ("{ a = with s; x; }", 1, 7, "`with` expressions are"),
            ("{ a = assert true; 1; }", 1, 7, "`assert` expressions are"),
            ("{ a = if true then 1 else 2; }", 1, 7, "`if` expressions are"),
            ("{ a = 1 + 2; }", 1, 9, "the `+` operator is"),
            ("{ a = { } // { }; }", 1, 11, "the `//` operator is"),
            ("{ a = [ ] ++ [ ]; }", 1, 11, "the `++` operator is"),
            ("{ a = 1 == 1; }", 1, 9, "the `==` operator is"),
            ("{ a = { } ? x; }", 1, 11, "the `?` operator is"),
            ("{ a = !true; }", 1, 7, "the `!` operator is"),
            ("let x = 1; in -x", 1, 15, "the `-` operator is"),
            ("{ a = builtins.map; }", 1, 7, "'builtins' is not bound by a `let`; other names (such as `builtins`) are"),
            ("{ a = b; }", 1, 7, "'b' is not bound by a `let`; other names (such as `builtins`) are"),
            ("{ a = rec { b = 1; }; }", 1, 7, "recursive sets (`rec { ... }`) are"),
            ("{ a = 1.5; }", 1, 7, "floating-point numbers are"),
            ("{ a = -1.5; }", 1, 7, "the `-` operator is"),
            ("{ a = http://x.org; }", 1, 7, "unquoted URLs are"),
            ("let { body = 1; }", 1, 1, "`let { ... }` sets are"),
            ("{ a = __curPos; }", 1, 7, "`__curPos` is"),
            ("{ a = \"${f 1}\"; }", 1, 10, "function calls are"),
        ];
        for (src, line, col, what) in cases {
            check_err(src, &outside_msg(line, col, what));
        }
    }

    #[test]
    fn integer_too_large() {
        check_err("[ 9223372036854775808 ]", "args.nix:1:3: integer 9223372036854775808 is too large");
    }

    #[test]
    fn syntax_errors() {
        check_err("{\n  a = 1\n  b = 2;\n}", "args.nix:3:5: syntax error: unexpected `=`, expected `;`");
        check_err("{ a = 1; ", "args.nix:1:10: syntax error: unexpected end of file");
        check_err("", "args.nix:1:1: syntax error: unexpected end of file");
        check_err("{ } }", "args.nix:1:5: syntax error: unexpected `}` after the expression");
        check_err(
            "{\n  é = 1; }",
            "args.nix:2:3: syntax error: unexpected character 'é' (U+00E9), expected a name, `or` or `__curPos`",
        );
        check_err(
            "{ a = [ 1 2 ; }",
            "args.nix:1:13: syntax error: unexpected `;`, expected `(`, `rec`, `{`, `[`, a string or a name",
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // Deeper than a test thread's stack allows rnix to parse.
        let deep = format!("{}{}", "[ ".repeat(1_000_000), "]".repeat(1_000_000));
        let err = eval(&deep).unwrap_err().to_string();
        assert!(err.starts_with("args.nix:1:1001: expressions are nested more than 500 levels deep"), "{err}");
        let mut chain: String = (0..5000).map(|i| format!("a{i} = a{};\n", i + 1)).collect();
        chain = format!("let\n{chain}a5000 = 1;\nin a0");
        let err = eval(&chain).unwrap_err().to_string();
        assert!(err.contains("nested too deeply"), "{err}");
        // A chain well below the limit evaluates.
        let short: String = (0..200).map(|i| format!("a{i} = a{};\n", i + 1)).collect();
        check(&format!("let\n{short}a200 = 1;\nin a0"), json!(1));
    }

    #[test]
    fn files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("args.nix");
        std::fs::write(&file, "{\n  src = ./bin/../hello;\n  bad = \"\u{e9}").unwrap();
        let err = eval_file(&file).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:3:", file.display())), "{err}");

        std::fs::write(&file, "{ src = ./bin/../hello; }").unwrap();
        let value = eval_file(&file).unwrap();
        let expected = format!("path:{}", dir.path().join("hello").display());
        assert_eq!(plain(&value), json!({ "src": expected }));

        let mut bytes = b"{\n  a = \"".to_vec();
        bytes.extend([0xff, b'"', b';', b'}']);
        std::fs::write(&file, bytes).unwrap();
        let err = eval_file(&file).unwrap_err().to_string();
        assert_eq!(err, format!("{}:2:8: the file is not valid UTF-8 (byte 0xFF)", file.display()));

        let missing = dir.path().join("missing.nix");
        let err = format!("{:#}", eval_file(&missing).unwrap_err());
        assert!(err.starts_with(&format!("cannot read {}", missing.display())), "{err}");
    }
}
