//! YAML into the value tree, with the line and column of every key and
//! value, using saphyr's event parser. Every scalar is a string (as
//! bunny's Go decoder reads `version: 0.1` into a string field) except the
//! plain null forms (`~`, `null`, nothing). A key given twice is an error,
//! as it is for bunny; aliases take a copy of their anchor's value.

use std::collections::BTreeMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::model::value::{Field, Kind, Pos, Value};

/// How deep mappings and lists may nest. A bunnyfile needs three levels;
/// the bound keeps the value tree shallow enough for the recursion that
/// reads and drops it (a 100000-deep `- - - x` overflowed the stack).
const MAX_NESTING: usize = 100;

/// A container being read.
enum Frame {
    List(Vec<Value>, Pos, usize),
    Map(BTreeMap<String, Field>, Pos, usize, Option<(String, Pos)>),
}

/// Parses one YAML document; an error is `(position, message)`.
pub(super) fn parse(text: &str) -> Result<Value, (Pos, String)> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: BTreeMap<usize, Value> = BTreeMap::new();
    let mut root: Option<Value> = None;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            (Pos { line: m.line() as u32, col: m.col() as u32 + 1 }, e.info().to_string())
        })?;
        let pos = pos(&span);
        let value = match event {
            Event::DocumentStart(_) if root.is_some() => {
                return Err((pos, "the file holds more than one YAML document; a bunnyfile is one".into()));
            }
            Event::MappingStart(..) | Event::SequenceStart(..) if stack.len() >= MAX_NESTING => {
                return Err((pos, format!("mappings and lists are nested more than {MAX_NESTING} levels deep")));
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map(BTreeMap::new(), pos, anchor, None));
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::List(Vec::new(), pos, anchor));
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Frame::Map(map, at, anchor, _)) => {
                    anchored(&mut anchors, anchor, Value { kind: Kind::Attrs(map), pos: Some(at) })
                }
                Some(Frame::List(items, at, anchor)) => {
                    anchored(&mut anchors, anchor, Value { kind: Kind::List(items), pos: Some(at) })
                }
                None => continue,
            },
            Event::Scalar(text, style, anchor, _) => {
                let null = style == ScalarStyle::Plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                let kind = if null { Kind::Null } else { Kind::Str(text.into_owned()) };
                anchored(&mut anchors, anchor, Value { kind, pos: Some(pos) })
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(v) => Value { kind: v.kind.clone(), pos: Some(pos) },
                None => return Err((pos, "alias of an unknown anchor".into())),
            },
            _ => continue,
        };
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::List(items, ..)) => items.push(value),
            Some(Frame::Map(map, _, _, pending)) => match pending.take() {
                None => match value.kind {
                    Kind::Str(key) => *pending = Some((key, pos)),
                    Kind::Null => *pending = Some((String::new(), pos)),
                    _ => return Err((pos, "a key must be a plain string".into())),
                },
                Some((key, key_pos)) => {
                    if map.contains_key(&key) {
                        return Err((key_pos, format!("`{key}` is given twice")));
                    }
                    map.insert(key, Field { key_pos: Some(key_pos), value });
                }
            },
        }
    }
    Ok(root.unwrap_or(Value { kind: Kind::Null, pos: Some(Pos { line: 1, col: 1 }) }))
}

fn anchored(anchors: &mut BTreeMap<usize, Value>, anchor: usize, value: Value) -> Value {
    if anchor > 0 {
        anchors.insert(anchor, value.clone());
    }
    value
}

fn pos(span: &Span) -> Pos {
    Pos { line: span.start.line() as u32, col: span.start.col() as u32 + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(v: &'a Value, key: &str) -> &'a Field {
        let Kind::Attrs(m) = &v.kind else { panic!("not a map") };
        &m[key]
    }

    #[test]
    fn positions_of_keys_and_values() {
        let v = parse("#syntax=x\nversion: 0.1\nplatforms:\n  framework: linux\ncmd: [\"a\", 'b']\nnone:\n").unwrap();
        let version = get(&v, "version");
        assert_eq!(version.key_pos, Some(Pos { line: 2, col: 1 }));
        assert_eq!(version.value, Value { kind: Kind::Str("0.1".into()), pos: Some(Pos { line: 2, col: 10 }) });
        let fw = get(&get(&v, "platforms").value, "framework");
        assert_eq!(fw.key_pos, Some(Pos { line: 4, col: 3 }));
        let Kind::List(items) = &get(&v, "cmd").value.kind else { panic!() };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].pos, Some(Pos { line: 5, col: 12 }));
        assert_eq!(get(&v, "none").value.kind, Kind::Null);
    }

    #[test]
    fn errors_have_positions() {
        let (pos, msg) = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!((pos, msg.as_str()), (Pos { line: 2, col: 1 }, "`a` is given twice"));
        let (pos, _) = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(pos.line >= 2);
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_at_the_level_too_deep() {
        let (pos, msg) = parse(&"- ".repeat(100_000)).unwrap_err();
        assert_eq!(pos, Pos { line: 1, col: 2 * MAX_NESTING as u32 + 1 }, "{msg}");
        assert!(msg.contains("nested more than 100 levels"), "{msg}");
        assert!(parse(&format!("{}x", "- ".repeat(MAX_NESTING))).is_ok());
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let v = parse("a: &x [1]\nb: *x\n").unwrap();
        assert_eq!(get(&v, "a").value.kind, get(&v, "b").value.kind);
    }
}
