//! Attribute sets, `let` and selection: bindings are gathered (merging
//! `a.b = ...;` paths as Nix does) before anything is evaluated, and `let`
//! bindings are evaluated lazily, on first use.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::btree_map;

use anyhow::Result;
use rnix::ast::{self, HasEntry, InterpolPart};
use rowan::ast::AstNode;

use super::Eval;
use super::strings::string_parts;
use crate::model::value::{Field, Kind, Pos, Value};

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
pub(super) struct Scope<'p> {
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

impl Eval<'_> {
    /// Looks a name up in the `let` scopes, innermost first.
    pub(super) fn var(&self, name: &str, pos: Pos, scope: Option<&Scope>) -> Result<Value> {
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

    /// A (non-recursive) attribute set literal.
    pub(super) fn attr_set(&self, set: &ast::AttrSet, pos: Pos, scope: &Scope) -> Result<Value> {
        if set.rec_token().is_some() {
            return Err(self.outside(pos, "recursive sets (`rec { ... }`) are"));
        }
        let mut defs = Defs::new(pos);
        self.gather(&mut defs, set.entries(), "")?;
        self.defs_value(&defs, scope)
    }

    pub(super) fn let_in(&self, let_in: &ast::LetIn, pos: Pos, scope: &Scope) -> Result<Value> {
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

    pub(super) fn select(&self, select: &ast::Select, scope: &Scope) -> Result<Value> {
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

fn field(key_pos: Pos, value: Value) -> Field {
    Field { key_pos: Some(key_pos), value }
}

/// `a.b` from the path `a` and the name `b`.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}
