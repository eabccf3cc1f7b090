//! The JSON the Nix side writes for an image (`--args-from-env`), which
//! may carry where each value stood in the args.nix it came from: a
//! `__positions` object `{ "file": "/…/args.nix", "keys": { "key.path":
//! [line, column] }, "names": { "files[0]": "files.\"./kernel\"" } }`
//! (nix/positions.nix, from `builtins.unsafeGetAttrPos`). The positions
//! are put on the value tree before it is read, so every message points
//! at `file:line:col` as the CLI's reading of that args.nix does.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::reader::join;
use super::{parse_json, to_spec};
use crate::model::spec::Spec;
use crate::model::value::{Kind, Pos, Value};

/// The key under which the positions come.
const KEY: &str = "__positions";

#[derive(Deserialize)]
struct Positions {
    file: String,
    keys: BTreeMap<String, (u32, u32)>,
    #[serde(default)]
    names: BTreeMap<String, String>,
}

/// Reads the JSON args file `path` (`shown` in messages when it carries
/// no positions).
pub fn read_nix_json(path: &Path, shown: String) -> Result<Spec> {
    let bytes = crate::model::hostfile::read_regular(path, crate::input::MAX_ARGS_FILE, "args files")
        .with_context(|| format!("cannot read {shown}"))?;
    let mut value = parse_json(&bytes, &shown)?;
    let base = std::path::absolute(path)?.parent().map_or_else(|| "/".into(), Path::to_path_buf);
    let Kind::Attrs(top) = &mut value.kind else { return to_spec(&value, shown, &base) };
    if top.remove(KEY).is_none() {
        return to_spec(&value, shown, &base);
    }
    let raw: serde_json::Value = serde_json::from_slice(&bytes).with_context(|| shown.clone())?;
    let positions: Positions =
        serde_json::from_value(raw[KEY].clone()).with_context(|| format!("{shown}: {KEY} is malformed"))?;
    place(&mut value, "", &positions.keys);
    let mut spec = to_spec(&value, positions.file, &base)?;
    spec.locations.names.extend(positions.names);
    Ok(spec)
}

/// Sets the position of every attribute name and list item of `value`
/// (at key path `prefix`) that `keys` knows.
fn place(value: &mut Value, prefix: &str, keys: &BTreeMap<String, (u32, u32)>) {
    let at = |path: &str| keys.get(path).map(|&(line, col)| Pos { line, col });
    match &mut value.kind {
        Kind::Attrs(attrs) => {
            for (k, field) in attrs.iter_mut() {
                let path = join(prefix, k);
                field.key_pos = field.key_pos.or(at(&path));
                place(&mut field.value, &path, keys);
            }
        }
        Kind::List(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let path = format!("{prefix}[{i}]");
                item.pos = item.pos.or(at(&path));
                place(item, &path, keys);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_point_into_the_args_file_the_positions_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("args.json");
        let json = r#"{"name": "x", "tag": "", "files": [{"source": "/k", "target": "/k", "mode": "9"}],
            "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/k"},
            "__positions": {"file": "/src/args.nix", "keys": {"files[0]": [3, 13], "files[0].mode": [3, 40]},
                            "names": {"files[0]": "files.\"./k\""}}}"#;
        std::fs::write(&path, json).unwrap();
        let err = format!("{:#}", read_nix_json(&path, "mkUruncImage arguments".into()).unwrap_err());
        assert!(err.contains("/src/args.nix:3:40: files[0].mode"), "{err}");
        std::fs::write(&path, json.replace("\"9\"", "\"0644\"")).unwrap();
        let spec = read_nix_json(&path, "mkUruncImage arguments".into()).unwrap();
        assert_eq!(spec.locations.at("files[0]"), "/src/args.nix:3:13: files.\"./k\"");
    }

    #[test]
    fn without_positions_messages_name_the_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("args.json");
        std::fs::write(&path, r#"{"name": "x", "annotations": {"unikernelType": 3}}"#).unwrap();
        let err = format!("{:#}", read_nix_json(&path, "mkUruncImage arguments".into()).unwrap_err());
        assert!(err.contains("mkUruncImage arguments: annotations.unikernelType"), "{err}");
    }
}
