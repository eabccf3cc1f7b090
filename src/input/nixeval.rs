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

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::collections::btree_map;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use rnix::ast::{self, AstToken, HasEntry, InterpolPart, LiteralKind, UnaryOpKind};
use rnix::{ParseError, SyntaxKind, SyntaxNode, TextSize};
use rowan::ast::AstNode;

use crate::model::value::{Field, Kind, Pos, Value};

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
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {file_name}"))?;
    let src = match String::from_utf8(bytes) {
        Ok(src) => src,
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            let pos = Lines::new(&String::from_utf8_lossy(valid)).end();
            bail!("{file_name}:{pos}: the file is not valid UTF-8");
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
    let parse = rnix::Root::parse(src);
    if let Some(err) = parse.errors().first() {
        return Err(eval.syntax_error(err, src));
    }
    let root = parse.tree();
    let expr = eval.child(root.expr(), root.syntax())?;
    eval.expr(&expr, &Scope::default())
}

/// Turns byte offsets into 1-based lines and character columns.
struct Lines<'s> {
    src: &'s str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'s> Lines<'s> {
    fn new(src: &'s str) -> Self {
        let starts = std::iter::once(0).chain(src.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Lines { src, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let col = self.src.get(start..offset).map_or(0, |s| s.chars().count());
        Pos { line: u32::try_from(line).unwrap_or(u32::MAX), col: u32::try_from(col + 1).unwrap_or(u32::MAX) }
    }

    fn end(&self) -> Pos {
        self.pos(self.src.len())
    }
}

/// An attribute's definition, gathered from the bindings of a set or `let`
/// before anything is evaluated.
enum Def {
    /// `name = expr;`
    Expr(ast::Expr),
    /// `inherit name;` or `inherit (from) name;`, with the name's position.
    Inherit { name: String, from: Option<ast::Expr>, pos: Pos },
    /// A set written as a literal `{ ... }`, built from `name.x = ...;`
    /// paths, or both merged, as Nix merges them.
    Set(Defs),
}

/// The attributes of a set being gathered.
struct Defs {
    /// Where the set starts: its `{`, or the first name after the dot.
    pos: Pos,
    /// Attributes whose names are written out.
    fixed: BTreeMap<String, Bound>,
    /// Attributes whose names are interpolated; as in Nix, they are named
    /// only when the set is evaluated.
    dynamic: Vec<(ast::Attr, Bound)>,
}

/// A definition and where its name stood.
struct Bound {
    key_pos: Pos,
    def: Def,
}

/// The names bound by one `let`, and the scope around it.
#[derive(Default)]
struct Scope<'p> {
    bindings: BTreeMap<String, LetBinding>,
    parent: Option<&'p Scope<'p>>,
}

/// A `let` binding, evaluated the first time it is used.
struct LetBinding {
    def: Def,
    state: RefCell<State>,
}

enum State {
    Unevaluated,
    Evaluating,
    Done(Value),
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
        anyhow!("{}:{pos}: {msg}", self.file_name)
    }

    /// The error for a construct outside the data subset; `what` ends with
    /// its verb ("function calls are").
    fn outside(&self, pos: Pos, what: &str) -> anyhow::Error {
        self.error(
            pos,
            format!(
                "{what} outside the data subset of Nix that bimanix reads; use the Nix \
                 function mkUruncImage (see README, \"Nix\") to evaluate full Nix"
            ),
        )
    }

    /// A part of the syntax tree that rnix leaves out only when it also
    /// reports a syntax error, which has been reported before evaluation.
    fn child<T>(&self, child: Option<T>, parent: &SyntaxNode) -> Result<T> {
        child.ok_or_else(|| self.error(self.pos(parent), "syntax error: incomplete expression"))
    }

    fn syntax_error(&self, err: &ParseError, src: &str) -> anyhow::Error {
        let text = |range: &rnix::TextRange| {
            let bytes = usize::from(range.start())..usize::from(range.end());
            src.get(bytes).unwrap_or_default().to_string()
        };
        let (offset, msg) = match err {
            ParseError::Unexpected(range) => (range.start(), format!("unexpected `{}`", text(range))),
            ParseError::UnexpectedExtra(range) => {
                (range.start(), format!("unexpected `{}` after the expression", text(range)))
            }
            ParseError::UnexpectedWanted(got, range, wanted) => {
                (range.start(), format!("unexpected {got:?}, wanted any of {wanted:?}"))
            }
            ParseError::UnexpectedDoubleBind(range) => (range.start(), "unexpected double bind".to_string()),
            ParseError::DuplicatedArgs(range, name) => (range.start(), format!("argument `{name}` is duplicated")),
            other => (TextSize::of(src), other.to_string()),
        };
        self.error(self.at(offset), format!("syntax error: {msg}"))
    }

    fn expr(&self, expr: &ast::Expr, scope: &Scope) -> Result<Value> {
        let pos = self.pos(expr.syntax());
        let depth = self.depth.get() + 1;
        if depth > MAX_DEPTH {
            return Err(self.error(pos, "expressions or bindings are nested too deeply"));
        }
        self.depth.set(depth);
        let result = self.expr_kind(expr, pos, scope);
        self.depth.set(depth - 1);
        result
    }

    fn expr_kind(&self, expr: &ast::Expr, pos: Pos, scope: &Scope) -> Result<Value> {
        let node = expr.syntax();
        let kind = match expr {
            ast::Expr::Literal(literal) => match literal.kind() {
                LiteralKind::Integer(int) => Kind::Int(self.integer(&int, pos)?),
                LiteralKind::Float(_) => {
                    return Err(self.outside(pos, "floating-point numbers are"));
                }
                LiteralKind::Uri(_) => return Err(self.outside(pos, "unquoted URLs are")),
            },
            ast::Expr::UnaryOp(op) => match negated_integer(op) {
                Some(int) => Kind::Int(-self.integer(&int, pos)?),
                None => return Err(self.operator_outside(node)),
            },
            ast::Expr::Str(s) => Kind::Str(self.string(s, scope)?),
            ast::Expr::PathAbs(path) => Kind::Path(self.path(path.parts(), pos)?),
            ast::Expr::PathRel(path) => Kind::Path(self.path(path.parts(), pos)?),
            ast::Expr::PathHome(_) => return Err(self.outside(pos, "home paths (`~/...`) are")),
            ast::Expr::PathSearch(_) => {
                return Err(self.outside(pos, "search paths (`<...>`) are"));
            }
            ast::Expr::List(list) => {
                Kind::List(list.items().map(|item| self.expr(&item, scope)).collect::<Result<_>>()?)
            }
            ast::Expr::AttrSet(set) => {
                if set.rec_token().is_some() {
                    return Err(self.outside(pos, "recursive sets (`rec { ... }`) are"));
                }
                let mut defs = Defs::new(pos);
                self.gather(&mut defs, set.entries(), "")?;
                return self.defs_value(&defs, scope);
            }
            ast::Expr::LetIn(let_in) => return self.let_in(let_in, pos, scope),
            ast::Expr::Ident(ident) => {
                return self.var(&ident.syntax().text().to_string(), pos, Some(scope));
            }
            ast::Expr::Select(select) => return self.select(select, scope),
            ast::Expr::Paren(paren) => return self.expr(&self.child(paren.expr(), node)?, scope),
            ast::Expr::Root(root) => return self.expr(&self.child(root.expr(), node)?, scope),
            ast::Expr::Apply(apply) => {
                let is_import = matches!(apply.lambda(),
                    Some(ast::Expr::Ident(f)) if f.syntax().text() == "import");
                let what = if is_import { "`import` is" } else { "function calls are" };
                return Err(self.outside(pos, what));
            }
            ast::Expr::Lambda(_) => return Err(self.outside(pos, "function definitions are")),
            ast::Expr::BinOp(_) | ast::Expr::HasAttr(_) => {
                return Err(self.operator_outside(node));
            }
            ast::Expr::IfElse(_) => return Err(self.outside(pos, "`if` expressions are")),
            ast::Expr::With(_) => return Err(self.outside(pos, "`with` expressions are")),
            ast::Expr::Assert(_) => return Err(self.outside(pos, "`assert` expressions are")),
            ast::Expr::LegacyLet(_) => return Err(self.outside(pos, "`let { ... }` sets are")),
            ast::Expr::CurPos(_) => return Err(self.outside(pos, "`__curPos` is")),
            ast::Expr::Error(_) => return Err(self.error(pos, "syntax error")),
        };
        Ok(Value { kind, pos: Some(pos) })
    }

    /// The error for an operator, at the operator: the first token of an
    /// operator's node that is not whitespace or a comment.
    fn operator_outside(&self, node: &SyntaxNode) -> anyhow::Error {
        let operator = node
            .children_with_tokens()
            .filter_map(|child| child.into_token())
            .find(|token| !matches!(token.kind(), SyntaxKind::TOKEN_WHITESPACE | SyntaxKind::TOKEN_COMMENT));
        match operator {
            Some(token) => {
                self.outside(self.at(token.text_range().start()), &format!("the `{}` operator is", token.text()))
            }
            None => self.outside(self.pos(node), "operators are"),
        }
    }

    fn integer(&self, int: &ast::Integer, pos: Pos) -> Result<i64> {
        int.value().map_err(|_| self.error(pos, format!("integer {} is too large", int.syntax().text())))
    }

    fn string(&self, s: &ast::Str, scope: &Scope) -> Result<String> {
        let mut out = String::new();
        for part in string_parts(s) {
            match part {
                InterpolPart::Literal(text) => out.push_str(&text),
                InterpolPart::Interpolation(interpol) => {
                    let expr = self.child(interpol.expr(), interpol.syntax())?;
                    let pos = self.pos(expr.syntax());
                    match self.expr(&expr, scope)?.kind {
                        Kind::Str(s) => out.push_str(&s),
                        Kind::Path(path) => match path.to_str() {
                            Some(p) => out.push_str(p),
                            None => return Err(self.error(pos, "the path is not valid UTF-8")),
                        },
                        other => {
                            return Err(self.error(
                                pos,
                                format!(
                                    "cannot coerce {} to a string (only strings and paths \
                                     can be interpolated)",
                                    other.type_name()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// A path literal, made absolute against the file's directory and
    /// cleaned of `.` and `..`, as Nix does.
    fn path(&self, parts: Vec<InterpolPart<ast::PathContent>>, pos: Pos) -> Result<PathBuf> {
        let [InterpolPart::Literal(literal)] = parts.as_slice() else {
            return Err(self.outside(pos, "interpolated paths are"));
        };
        let mut clean = PathBuf::new();
        for component in self.base_dir.join(literal.text()).components() {
            match component {
                Component::CurDir => {}
                Component::ParentDir => {
                    clean.pop();
                }
                other => clean.push(other),
            }
        }
        Ok(clean)
    }

    /// Looks a name up in the `let` scopes, innermost first.
    fn var(&self, name: &str, pos: Pos, scope: Option<&Scope>) -> Result<Value> {
        let mut current = scope;
        while let Some(scope) = current {
            if let Some(binding) = scope.bindings.get(name) {
                return self.force(name, binding, scope, pos);
            }
            current = scope.parent;
        }
        let kind = match name {
            "true" => Kind::Bool(true),
            "false" => Kind::Bool(false),
            "null" => Kind::Null,
            _ => {
                return Err(self
                    .outside(pos, &format!("'{name}' is not bound by a `let`; other names (such as `builtins`) are")));
            }
        };
        Ok(Value { kind, pos: Some(pos) })
    }

    /// The value of a `let` binding, evaluating it on first use.
    fn force(&self, name: &str, binding: &LetBinding, scope: &Scope, pos: Pos) -> Result<Value> {
        match &*binding.state.borrow() {
            State::Done(value) => return Ok(value.clone()),
            State::Evaluating => {
                return Err(
                    self.error(pos, format!("'{name}' is used while it is being defined (a cycle of bindings)"))
                );
            }
            State::Unevaluated => {}
        }
        *binding.state.borrow_mut() = State::Evaluating;
        let value = match &binding.def {
            // `let inherit x;` takes x from around the `let`, not from itself.
            Def::Inherit { name, from: None, pos } => self.var(name, *pos, scope.parent)?,
            def => self.def_value(def, scope)?,
        };
        *binding.state.borrow_mut() = State::Done(value.clone());
        Ok(value)
    }

    fn let_in(&self, let_in: &ast::LetIn, pos: Pos, scope: &Scope) -> Result<Value> {
        let mut defs = Defs::new(pos);
        self.gather(&mut defs, let_in.entries(), "")?;
        if let Some((_, bound)) = defs.dynamic.first() {
            return Err(self.error(bound.key_pos, "dynamic attribute names are not allowed in let"));
        }
        let bindings = defs
            .fixed
            .into_iter()
            .map(|(name, bound)| {
                let state = RefCell::new(State::Unevaluated);
                (name, LetBinding { def: bound.def, state })
            })
            .collect();
        let inner = Scope { bindings, parent: Some(scope) };
        let body = self.child(let_in.body(), let_in.syntax())?;
        self.expr(&body, &inner)
    }

    fn select(&self, select: &ast::Select, scope: &Scope) -> Result<Value> {
        let node = select.syntax();
        let mut value = self.expr(&self.child(select.expr(), node)?, scope)?;
        for attr in self.child(select.attrpath(), node)?.attrs() {
            let (name, pos) = self.attr_name(&attr, scope)?;
            let found = match value.kind {
                Kind::Attrs(mut attrs) => attrs.remove(&name).map(|field| field.value),
                _ if select.default_expr().is_some() => None,
                other => {
                    return Err(self.error(pos, format!("cannot select '{name}' from {}", other.type_name())));
                }
            };
            value = match (found, select.default_expr()) {
                (Some(found), _) => found,
                (None, Some(default)) => return self.expr(&default, scope),
                (None, None) => {
                    return Err(self.error(pos, format!("attribute '{name}' missing")));
                }
            };
        }
        Ok(value)
    }

    /// Selects one attribute, for `inherit (from) name;`.
    fn select_name(&self, from: Value, name: &str, pos: Pos) -> Result<Value> {
        match from.kind {
            Kind::Attrs(mut attrs) => match attrs.remove(name) {
                Some(field) => Ok(field.value),
                None => Err(self.error(pos, format!("attribute '{name}' missing"))),
            },
            other => Err(self.error(pos, format!("cannot inherit '{name}' from {}", other.type_name()))),
        }
    }

    /// The name of an attribute written out in the source (`a`, `"a"`,
    /// `${"a"}`), or `None` for an interpolated one.
    fn fixed_name(&self, attr: &ast::Attr) -> Option<String> {
        let s = match attr {
            ast::Attr::Ident(ident) => return Some(ident.syntax().text().to_string()),
            ast::Attr::Str(s) => s.clone(),
            ast::Attr::Dynamic(dynamic) => match dynamic.expr() {
                Some(ast::Expr::Str(s)) => s,
                _ => return None,
            },
        };
        string_parts(&s)
            .into_iter()
            .map(|part| match part {
                InterpolPart::Literal(text) => Some(text),
                InterpolPart::Interpolation(_) => None,
            })
            .collect()
    }

    /// The name of an attribute, evaluating an interpolated one in `scope`.
    fn attr_name(&self, attr: &ast::Attr, scope: &Scope) -> Result<(String, Pos)> {
        let pos = self.pos(attr.syntax());
        if let Some(name) = self.fixed_name(attr) {
            return Ok((name, pos));
        }
        let name = match attr {
            ast::Attr::Str(s) => self.string(s, scope)?,
            ast::Attr::Dynamic(dynamic) => {
                let expr = self.child(dynamic.expr(), attr.syntax())?;
                match self.expr(&expr, scope)?.kind {
                    Kind::Str(name) => name,
                    other => {
                        return Err(
                            self.error(pos, format!("an attribute name must be a string, not {}", other.type_name()))
                        );
                    }
                }
            }
            ast::Attr::Ident(ident) => ident.syntax().text().to_string(),
        };
        Ok((name, pos))
    }

    /// Gathers the bindings of a set or `let` into `defs`; `prefix` is the
    /// attribute path of the set, for error messages.
    fn gather(&self, defs: &mut Defs, entries: impl Iterator<Item = ast::Entry>, prefix: &str) -> Result<()> {
        for entry in entries {
            match entry {
                ast::Entry::Inherit(inherit) => {
                    let from = match inherit.from() {
                        Some(from) => Some(self.child(from.expr(), from.syntax())?),
                        None => None,
                    };
                    for attr in inherit.attrs() {
                        let key_pos = self.pos(attr.syntax());
                        let Some(name) = self.fixed_name(&attr) else {
                            return Err(self.error(key_pos, "dynamic attributes are not allowed in inherit"));
                        };
                        let def = Def::Inherit { name: name.clone(), from: from.clone(), pos: key_pos };
                        self.insert_fixed(defs, name, Bound { key_pos, def }, prefix)?;
                    }
                }
                ast::Entry::AttrpathValue(binding) => {
                    let node = binding.syntax();
                    let path: Vec<ast::Attr> = self.child(binding.attrpath(), node)?.attrs().collect();
                    let value = self.child(binding.value(), node)?;
                    self.insert_path(defs, &path, value, prefix)?;
                }
            }
        }
        Ok(())
    }

    fn already_defined(&self, pos: Pos, name: &str, first: Pos) -> anyhow::Error {
        self.error(pos, format!("attribute '{name}' already defined at {first}"))
    }

    /// Adds `path = value;` to `defs`, walking into sets already defined.
    fn insert_path(&self, defs: &mut Defs, path: &[ast::Attr], value: ast::Expr, prefix: &str) -> Result<()> {
        let Some((first, rest)) = path.split_first() else {
            return Err(self.error(defs.pos, "syntax error: empty attribute path"));
        };
        let key_pos = self.pos(first.syntax());
        let Some(name) = self.fixed_name(first) else {
            let def = self.path_def(rest, value, prefix)?;
            defs.dynamic.push((first.clone(), Bound { key_pos, def }));
            return Ok(());
        };
        let full = join(prefix, &name);
        if !rest.is_empty()
            && let Some(existing) = defs.fixed.get_mut(&name)
        {
            return match &mut existing.def {
                Def::Set(inner) => self.insert_path(inner, rest, value, &full),
                _ => Err(self.already_defined(key_pos, &full, existing.key_pos)),
            };
        }
        let def = self.path_def(rest, value, &full)?;
        self.insert_fixed(defs, name, Bound { key_pos, def }, prefix)
    }

    /// The definition of the rest of an attribute path and its value.
    fn path_def(&self, rest: &[ast::Attr], value: ast::Expr, prefix: &str) -> Result<Def> {
        match rest.first() {
            Some(next) => {
                let mut inner = Defs::new(self.pos(next.syntax()));
                self.insert_path(&mut inner, rest, value, prefix)?;
                Ok(Def::Set(inner))
            }
            None => match value {
                ast::Expr::AttrSet(set) if set.rec_token().is_none() => {
                    let mut inner = Defs::new(self.pos(set.syntax()));
                    self.gather(&mut inner, set.entries(), prefix)?;
                    Ok(Def::Set(inner))
                }
                other => Ok(Def::Expr(other)),
            },
        }
    }

    /// Adds an attribute with a written-out name. Like Nix, two sets given
    /// for the same name merge, one level deep; anything else is a duplicate.
    fn insert_fixed(&self, defs: &mut Defs, name: String, bound: Bound, prefix: &str) -> Result<()> {
        let full = join(prefix, &name);
        let existing = match defs.fixed.entry(name) {
            btree_map::Entry::Vacant(vacant) => {
                vacant.insert(bound);
                return Ok(());
            }
            btree_map::Entry::Occupied(occupied) => occupied.into_mut(),
        };
        let (Def::Set(into), Def::Set(from)) = (&mut existing.def, bound.def) else {
            return Err(self.already_defined(bound.key_pos, &full, existing.key_pos));
        };
        for (name, inner) in from.fixed {
            if let Some(clash) = into.fixed.get(&name) {
                let full = join(&full, &name);
                return Err(self.already_defined(inner.key_pos, &full, clash.key_pos));
            }
            into.fixed.insert(name, inner);
        }
        into.dynamic.extend(from.dynamic);
        Ok(())
    }

    fn defs_value(&self, defs: &Defs, scope: &Scope) -> Result<Value> {
        let mut attrs = BTreeMap::new();
        for (name, bound) in &defs.fixed {
            let value = self.def_value(&bound.def, scope)?;
            attrs.insert(name.clone(), field(bound.key_pos, value));
        }
        for (attr, bound) in &defs.dynamic {
            let (name, _) = self.attr_name(attr, scope)?;
            if let Some(Field { key_pos: Some(clash), .. }) = attrs.get(&name) {
                return Err(self.error(bound.key_pos, format!("dynamic attribute '{name}' already defined at {clash}")));
            }
            let value = self.def_value(&bound.def, scope)?;
            attrs.insert(name, field(bound.key_pos, value));
        }
        Ok(Value { kind: Kind::Attrs(attrs), pos: Some(defs.pos) })
    }

    fn def_value(&self, def: &Def, scope: &Scope) -> Result<Value> {
        match def {
            Def::Expr(expr) => self.expr(expr, scope),
            Def::Inherit { name, from: None, pos } => self.var(name, *pos, Some(scope)),
            Def::Inherit { name, from: Some(from), pos } => self.select_name(self.expr(from, scope)?, name, *pos),
            Def::Set(defs) => self.defs_value(defs, scope),
        }
    }
}

impl Defs {
    fn new(pos: Pos) -> Self {
        Defs { pos, fixed: BTreeMap::new(), dynamic: Vec::new() }
    }
}

/// A piece of an indented string, as Nix's lexer splits it.
enum Piece {
    /// Text as written, which counts for indentation.
    Source(String),
    /// The text of an escape (`''$`, `'''`, `''\n`), which does not.
    Escape(String),
    Interpolation(ast::Interpol),
}

/// The text and interpolations of a string, with escapes undone and, for an
/// indented string, indentation stripped.
fn string_parts(s: &ast::Str) -> Vec<InterpolPart<String>> {
    let indented = s.syntax().first_token().is_some_and(|t| t.text() == "''");
    if indented {
        return strip_indentation(indented_pieces(s));
    }
    s.parts()
        .map(|part| match part {
            InterpolPart::Literal(text) => InterpolPart::Literal(unescape(text.syntax().text())),
            InterpolPart::Interpolation(interpol) => InterpolPart::Interpolation(interpol),
        })
        .collect()
}

/// Undoes the escapes of a `"..."` string.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            },
            // Nix reads a CR or CR LF written in a plain string as LF.
            '\r' => {
                out.push('\n');
                if chars.as_str().starts_with('\n') {
                    chars.next();
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Splits an indented string into source text, escapes and interpolations.
fn indented_pieces(s: &ast::Str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for (i, part) in s.parts().enumerate() {
        let literal = match part {
            InterpolPart::Literal(literal) => literal,
            InterpolPart::Interpolation(interpol) => {
                pieces.push(Piece::Interpolation(interpol));
                continue;
            }
        };
        let mut rest = literal.syntax().text();
        // Nix's lexer takes a first line of only spaces as part of the `''`.
        if i == 0
            && let Some(after) = rest.trim_start_matches(' ').strip_prefix('\n')
        {
            rest = after;
        }
        let mut source = String::new();
        while let Some(c) = rest.chars().next() {
            let (escaped, after) = if let Some(after) = rest.strip_prefix("'''") {
                ("''".to_string(), after)
            } else if let Some(after) = rest.strip_prefix("''$") {
                ("$".to_string(), after)
            } else if let Some(after) = rest.strip_prefix("''\\") {
                let mut chars = after.chars();
                let escaped = match chars.next() {
                    Some('n') => "\n".to_string(),
                    Some('t') => "\t".to_string(),
                    Some('r') => "\r".to_string(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                (escaped, chars.as_str())
            } else {
                source.push(c);
                rest = &rest[c.len_utf8()..];
                continue;
            };
            if !source.is_empty() {
                pieces.push(Piece::Source(std::mem::take(&mut source)));
            }
            pieces.push(Piece::Escape(escaped));
            rest = after;
        }
        if !source.is_empty() {
            pieces.push(Piece::Source(source));
        }
    }
    pieces
}

/// Strips the common indentation from an indented string the way Nix does:
/// only spaces count; lines of only spaces do not set the indentation;
/// escapes and interpolations end a line's indentation; a last line of only
/// spaces is dropped. As in Nix, an escaped newline (`''\n`) starts a line
/// whose indentation is stripped although it did not count.
fn strip_indentation(pieces: Vec<Piece>) -> Vec<InterpolPart<String>> {
    let mut at_line_start = true;
    let mut indent = 0;
    let mut min_indent = usize::MAX;
    for piece in &pieces {
        let Piece::Source(text) = piece else {
            if at_line_start {
                at_line_start = false;
                min_indent = min_indent.min(indent);
            }
            continue;
        };
        for c in text.chars() {
            match (at_line_start, c) {
                (true, ' ') => indent += 1,
                (true, '\n') => indent = 0,
                (true, _) => {
                    at_line_start = false;
                    min_indent = min_indent.min(indent);
                }
                (false, '\n') => {
                    at_line_start = true;
                    indent = 0;
                }
                (false, _) => {}
            }
        }
    }

    let mut parts = Vec::with_capacity(pieces.len());
    let last = pieces.len().saturating_sub(1);
    at_line_start = true;
    let mut dropped = 0;
    for (i, piece) in pieces.into_iter().enumerate() {
        let text = match piece {
            Piece::Source(text) | Piece::Escape(text) => text,
            Piece::Interpolation(interpol) => {
                at_line_start = false;
                dropped = 0;
                parts.push(InterpolPart::Interpolation(interpol));
                continue;
            }
        };
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if at_line_start && c == ' ' {
                if dropped >= min_indent {
                    out.push(c);
                }
                dropped += 1;
                continue;
            }
            if c == '\n' {
                dropped = 0;
            }
            at_line_start = c == '\n';
            out.push(c);
        }
        if i == last
            && let Some(newline) = out.rfind('\n')
            && out[newline + 1..].chars().all(|c| c == ' ')
        {
            out.truncate(newline + 1);
        }
        parts.push(InterpolPart::Literal(out));
    }
    parts
}

/// The integer of a negative integer literal such as `-1`, which Nix reads
/// as the `-` operator applied to `1`.
fn negated_integer(op: &ast::UnaryOp) -> Option<ast::Integer> {
    match (op.operator(), op.expr()) {
        (Some(UnaryOpKind::Negate), Some(ast::Expr::Literal(literal))) => match literal.kind() {
            LiteralKind::Integer(int) => Some(int),
            _ => None,
        },
        _ => None,
    }
}

fn field(key_pos: Pos, value: Value) -> Field {
    Field { key_pos: Some(key_pos), value }
}

/// `a.b` from the path `a` and the name `b`.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

#[cfg(test)]
mod tests {
    use super::*;
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
             the Nix function mkUruncImage (see README, \"Nix\") to evaluate full Nix"
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
        check_err(
            "{\n  a = 1\n  b = 2;\n}",
            "args.nix:3:5: syntax error: unexpected TOKEN_ASSIGN, wanted any of [TOKEN_SEMICOLON]",
        );
        check_err("{ a = 1; ", "args.nix:1:10: syntax error: unexpected end of file");
        check_err("", "args.nix:1:1: syntax error: unexpected end of file");
        check_err("{ } }", "args.nix:1:5: syntax error: unexpected `}` after the expression");
        let err = eval("{\n  é = 1; }").unwrap_err().to_string();
        assert!(err.starts_with("args.nix:2:3: syntax error: "), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        // Deeper than a test thread's stack allows rnix to parse.
        let deep = format!("{}{}", "[ ".repeat(20_000), "]".repeat(20_000));
        let err = eval(&deep).unwrap_err().to_string();
        assert_eq!(err, "args.nix:1:2001: expressions or bindings are nested too deeply");
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
        assert_eq!(err, format!("{}:2:8: the file is not valid UTF-8", file.display()));

        let missing = dir.path().join("missing.nix");
        let err = format!("{:#}", eval_file(&missing).unwrap_err());
        assert!(err.starts_with(&format!("cannot read {}", missing.display())), "{err}");
    }
}
