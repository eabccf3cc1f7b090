//! YAML into the value tree, with the line and column of every key and
//! value, using saphyr's event parser. Every scalar is a string (as
//! bunny's Go decoder reads `version: 0.1` into a string field) except the
//! plain null forms (`~`, `null`, nothing). A key given twice is an error,
//! as it is for bunny; aliases take a copy of their anchor's value, and
//! the copies are bounded (`COPY_VALUES`, `COPY_BYTES`), so that a
//! "billion laughs" file of aliases of aliases, or of aliases of long
//! strings, fails instead of filling the memory.

use std::collections::BTreeMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::model::value::{Field, Kind, Pos, Value};

/// The most values, and the most bytes of text, that anchors and aliases
/// may copy in one file, in all. A bunnyfile has a few dozen short values;
/// a file of aliases of aliases grows with every line.
const COPY_VALUES: usize = 100_000;
const COPY_BYTES: usize = 16 << 20;

/// How deep mappings and lists may nest. A bunnyfile needs three levels;
/// the bound keeps the value tree shallow enough for the recursion that
/// reads and drops it (a 100000-deep `- - - x` overflowed the stack).
const MAX_NESTING: usize = 100;

/// A container being read.
enum Frame {
    List(Vec<Value>, Pos, usize),
    Map(BTreeMap<String, Field>, Pos, usize, Option<(String, Pos)>),
}

/// What copying a value costs: the values in it (itself included) and the
/// bytes of their text.
#[derive(Clone, Copy, Default)]
struct Size {
    values: usize,
    bytes: usize,
}

impl Size {
    fn of_scalar(text: &str) -> Size {
        Size { values: 1, bytes: text.len() }
    }

    fn add(&mut self, other: Size) {
        self.values += other.values;
        self.bytes += other.bytes;
    }
}

/// A container being read, with the size of what it holds so far.
struct Open {
    frame: Frame,
    size: Size,
}

/// The anchored values, each with its size, and what copies may still take.
struct Anchors {
    values: BTreeMap<usize, (Value, Size)>,
    left: Size,
}

impl Anchors {
    /// Records `value` (of `size`) under `anchor`, if it has one.
    fn record(&mut self, anchor: usize, value: &Value, size: Size, pos: Pos) -> Result<(), (Pos, String)> {
        if anchor > 0 {
            self.spend(size, pos)?;
            self.values.insert(anchor, (value.clone(), size));
        }
        Ok(())
    }

    /// A copy of the value anchored as `id`, and its size.
    fn copy(&mut self, id: usize, pos: Pos) -> Result<(Value, Size), (Pos, String)> {
        let Some(&(_, size)) = self.values.get(&id) else {
            return Err((pos, "alias of an unknown anchor".into()));
        };
        self.spend(size, pos)?;
        let (value, _) = &self.values[&id];
        Ok((Value { kind: value.kind.clone(), pos: Some(pos) }, size))
    }

    fn spend(&mut self, size: Size, pos: Pos) -> Result<(), (Pos, String)> {
        let values = self.left.values.checked_sub(size.values);
        let bytes = self.left.bytes.checked_sub(size.bytes);
        match values.zip(bytes) {
            Some((values, bytes)) => {
                self.left = Size { values, bytes };
                Ok(())
            }
            None => Err((
                pos,
                format!(
                    "anchors and aliases copy more than {COPY_VALUES} values or {} MiB in this file; a \
                     bunnyfile needs far less (are aliases nested in aliases?)",
                    COPY_BYTES >> 20
                ),
            )),
        }
    }
}

/// Parses one YAML document; an error is `(position, message)`.
pub(super) fn parse(text: &str) -> Result<Value, (Pos, String)> {
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors = Anchors { values: BTreeMap::new(), left: Size { values: COPY_VALUES, bytes: COPY_BYTES } };
    let mut root: Option<Value> = None;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            (Pos { line: m.line() as u32, col: m.col() as u32 + 1 }, e.info().to_string())
        })?;
        let pos = pos(&span);
        let (value, size) = match event {
            Event::DocumentStart(_) if root.is_some() => {
                return Err((pos, "the file holds more than one YAML document; a bunnyfile is one".into()));
            }
            Event::MappingStart(..) | Event::SequenceStart(..) if stack.len() >= MAX_NESTING => {
                return Err((pos, format!("mappings and lists are nested more than {MAX_NESTING} levels deep")));
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open {
                    frame: Frame::Map(BTreeMap::new(), pos, anchor, None),
                    size: Size { values: 1, bytes: 0 },
                });
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                stack.push(Open { frame: Frame::List(Vec::new(), pos, anchor), size: Size { values: 1, bytes: 0 } });
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(Open { frame, size }) = stack.pop() else { continue };
                let (kind, at, anchor) = match frame {
                    Frame::Map(map, at, anchor, _) => (Kind::Attrs(map), at, anchor),
                    Frame::List(items, at, anchor) => (Kind::List(items), at, anchor),
                };
                let value = Value { kind, pos: Some(at) };
                anchors.record(anchor, &value, size, at)?;
                (value, size)
            }
            Event::Scalar(text, style, anchor, _) => {
                let null = style == ScalarStyle::Plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                let size = Size::of_scalar(&text);
                let kind = if null { Kind::Null } else { Kind::Str(text.into_owned()) };
                let value = Value { kind, pos: Some(pos) };
                anchors.record(anchor, &value, size, pos)?;
                (value, size)
            }
            Event::Alias(id) => anchors.copy(id, pos)?,
            _ => continue,
        };
        let Some(open) = stack.last_mut() else {
            root = Some(value);
            continue;
        };
        open.size.add(size);
        add(&mut open.frame, value, pos)?;
    }
    Ok(root.unwrap_or(Value { kind: Kind::Null, pos: Some(Pos { line: 1, col: 1 }) }))
}

/// Adds a finished value to the container being read: an item, a key, or
/// the value of the pending key.
fn add(frame: &mut Frame, value: Value, pos: Pos) -> Result<(), (Pos, String)> {
    match frame {
        Frame::List(items, ..) => items.push(value),
        Frame::Map(map, _, _, pending) => match pending.take() {
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
    Ok(())
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

    #[test]
    fn aliases_of_aliases_stop_at_the_copy_limit() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let (pos, msg) = parse(&text).unwrap_err();
        assert!(msg.contains("more than 100000 values or 16 MiB"), "{msg}");
        assert!(pos.line > 3 && pos.line <= 7, "stops within a few lines: {pos:?}");
        // Anchoring is charged too, so nested anchors around one big value stop as well.
        let big = vec!["x"; 60_000].join(", ");
        assert!(parse(&format!("a: &a [&b [{big}]]\n")).is_err());
        assert!(parse(&format!("a: &a [{big}]\nb: *a\n")).is_err());
        assert!(parse(&format!("a: [{big}]\n")).is_ok(), "plain values cost nothing");
        // Few values but long ones: the bytes are counted too.
        let long = "x".repeat(1 << 20);
        let text = format!("a: &a [\"{long}\", \"{long}\", \"{long}\"]\nb: [{}]\n", vec!["*a"; 3000].join(", "));
        let (pos, msg) = parse(&text).unwrap_err();
        assert_eq!(pos.line, 2, "{msg}");
        assert!(parse(&format!("a: &a [\"{long}\"]\nb: [*a, *a]\n")).is_ok(), "a few copies of a long value are fine");
    }
}
