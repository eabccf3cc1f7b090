//! Evaluating expressions: literals, strings, paths, lists, and the
//! refusal of every construct outside the data subset. Sets, `let` and
//! selection are in `bindings`.

use std::path::{Component, PathBuf};

use anyhow::Result;
use rnix::SyntaxKind;
use rnix::SyntaxNode;
use rnix::ast::{self, AstToken, InterpolPart, LiteralKind, UnaryOpKind};
use rowan::ast::AstNode;

use super::bindings::Scope;
use super::strings::string_parts;
use super::{Eval, MAX_DEPTH};
use crate::model::value::{Kind, Pos, Value};

impl Eval<'_> {
    pub(super) fn expr(&self, expr: &ast::Expr, scope: &Scope) -> Result<Value> {
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
            ast::Expr::Literal(literal) => self.literal(literal, pos)?,
            ast::Expr::UnaryOp(op) => match negated_integer(op) {
                Some(int) => Kind::Int(-self.integer(&int, pos)?),
                None => return Err(self.operator_outside(node)),
            },
            ast::Expr::Str(s) => Kind::Str(self.string(s, scope)?),
            ast::Expr::PathAbs(path) => Kind::Path(self.path(path.parts(), pos)?),
            ast::Expr::PathRel(path) => Kind::Path(self.path(path.parts(), pos)?),
            ast::Expr::List(list) => {
                Kind::List(list.items().map(|item| self.expr(&item, scope)).collect::<Result<_>>()?)
            }
            ast::Expr::AttrSet(set) => return self.attr_set(set, pos, scope),
            ast::Expr::LetIn(let_in) => return self.let_in(let_in, pos, scope),
            ast::Expr::Ident(ident) => {
                return self.var(&ident.syntax().text().to_string(), pos, Some(scope));
            }
            ast::Expr::Select(select) => return self.select(select, scope),
            ast::Expr::Paren(paren) => return self.expr(&self.child(paren.expr(), node)?, scope),
            ast::Expr::Root(root) => return self.expr(&self.child(root.expr(), node)?, scope),
            other => return Err(self.refused(other, pos)),
        };
        Ok(Value { kind, pos: Some(pos) })
    }

    /// An integer literal; floats and unquoted URLs are outside the subset.
    fn literal(&self, literal: &ast::Literal, pos: Pos) -> Result<Kind> {
        match literal.kind() {
            LiteralKind::Integer(int) => Ok(Kind::Int(self.integer(&int, pos)?)),
            LiteralKind::Float(_) => Err(self.outside(pos, "floating-point numbers are")),
            LiteralKind::Uri(_) => Err(self.outside(pos, "unquoted URLs are")),
        }
    }

    /// The error for an expression outside the data subset, naming it.
    fn refused(&self, expr: &ast::Expr, pos: Pos) -> anyhow::Error {
        let what = match expr {
            ast::Expr::PathHome(_) => "home paths (`~/...`) are",
            ast::Expr::PathSearch(_) => "search paths (`<...>`) are",
            ast::Expr::Apply(apply) => {
                let is_import = matches!(apply.lambda(),
                    Some(ast::Expr::Ident(f)) if f.syntax().text() == "import");
                if is_import { "`import` is" } else { "function calls are" }
            }
            ast::Expr::Lambda(_) => "function definitions are",
            ast::Expr::BinOp(_) | ast::Expr::HasAttr(_) => {
                return self.operator_outside(expr.syntax());
            }
            ast::Expr::IfElse(_) => "`if` expressions are",
            ast::Expr::With(_) => "`with` expressions are",
            ast::Expr::Assert(_) => "`assert` expressions are",
            ast::Expr::LegacyLet(_) => "`let { ... }` sets are",
            ast::Expr::CurPos(_) => "`__curPos` is",
            _ => return self.error(pos, "syntax error"),
        };
        self.outside(pos, what)
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

    pub(super) fn string(&self, s: &ast::Str, scope: &Scope) -> Result<String> {
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
