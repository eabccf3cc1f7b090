//! JSON args files: parsed into the value tree that args.nix evaluates to,
//! as strictly as Nix reads a set. A key given twice is an error (Nix
//! refuses duplicate attributes, where a plain JSON parser keeps the last),
//! and so is a number that is not a whole one; both at `file:line:col`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::input::line_col;
use crate::model::value::{Field, Kind, Value};

/// Reads the JSON args file at `path`, named `shown` in messages.
pub(super) fn read(path: &Path, shown: &str) -> Result<Value> {
    let bytes = crate::model::hostfile::read_regular(path, crate::input::MAX_ARGS_FILE, "args files")
        .with_context(|| format!("cannot read {shown}"))?;
    super::parse_json(&bytes, shown)
}

/// Parses JSON text; errors start with `line:col: `.
pub(super) fn parse(bytes: &[u8]) -> Result<Value, String> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let (line, col) = line_col(&bytes[..e.valid_up_to()]);
        return Err(format!("{line}:{col}: the file is not valid UTF-8 (byte 0x{:02X})", bytes[e.valid_up_to()]));
    }
    if let Some(nul) = bytes.iter().position(|b| *b == 0) {
        let (line, col) = line_col(&bytes[..nul]);
        return Err(format!("{line}:{col}: a NUL byte (0x00); the file must be text"));
    }
    if bytes.starts_with("\u{feff}".as_bytes()) {
        return Err(
            "1:1: the file starts with a byte order mark (EF BB BF), which JSON does not allow; remove it".to_string()
        );
    }
    serde_json::from_slice::<Json>(bytes).map(|j| j.0).map_err(|e| {
        let what = if e.is_data() { "" } else { "invalid JSON: " };
        let msg = e.to_string();
        // serde_json ends its messages with " at line L column C".
        let msg = msg.rsplit_once(" at line ").map_or(msg.as_str(), |(m, _)| m);
        format!("{}:{}: {what}{msg}", e.line(), e.column())
    })
}

/// A JSON value read into the value tree (without positions).
struct Json(Value);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

fn json(kind: Kind) -> Json {
    Json(Value { kind, pos: None })
}

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(json(Kind::Null))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(json(Kind::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Json, E> {
        Ok(json(Kind::Int(i)))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Json, E> {
        match i64::try_from(u) {
            Ok(i) => Ok(json(Kind::Int(i))),
            Err(_) => Err(E::custom(format!("the integer {u} is too large (at most {})", i64::MAX))),
        }
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Json, E> {
        Err(E::custom(format!(
            "{f} is a floating-point number; args files take integers (write 42, not 42.0 or 4.2e1), as the \
             Nix side does"
        )))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(json(Kind::Str(s.to_string())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Json, E> {
        Ok(json(Kind::Str(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(Json(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(json(Kind::List(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut attrs = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if attrs.contains_key(&key) {
                return Err(de::Error::custom(format!("the key {key:?} is given twice in this object")));
            }
            let Json(value) = map.next_value()?;
            attrs.insert(key, Field { key_pos: None, value });
        }
        Ok(json(Kind::Attrs(attrs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let v = parse(br#"{"a": [1, -2, true, null, "s"], "b": {}}"#).unwrap();
        let Kind::Attrs(attrs) = v.kind else { panic!("not a set") };
        let Kind::List(items) = &attrs["a"].value.kind else { panic!("not a list") };
        let kinds: Vec<&Kind> = items.iter().map(|v| &v.kind).collect();
        assert_eq!(kinds, [&Kind::Int(1), &Kind::Int(-2), &Kind::Bool(true), &Kind::Null, &Kind::Str("s".into())]);
    }

    #[test]
    fn strict_where_nix_is() {
        let cases: &[(&[u8], &str)] = &[
            (b"{\n  \"a\": 1,\n  \"a\": 2\n}", "3:5: the key \"a\" is given twice in this object"),
            (b"{\"x\": {\"k\": 1, \"k\": 1}}", "1:18: the key \"k\" is given twice in this object"),
            (b"{\n  \"size\": 1.5\n}", "2:13: 1.5 is a floating-point number"),
            (b"[1e3]", "1:4: 1000 is a floating-point number"),
            (b"[18446744073709551615]", "1:21: the integer 18446744073709551615 is too large"),
            (b"{\"a\": \"\xff\"}", "1:8: the file is not valid UTF-8 (byte 0xFF)"),
            (b"\xef\xbb\xbf{}", "1:1: the file starts with a byte order mark"),
            (b"{\"a\": 1,}", "1:9: invalid JSON: trailing comma"),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.starts_with(expected), "{:?}: {err}", String::from_utf8_lossy(text));
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).unwrap_err().contains("recursion limit exceeded"));
    }
}
