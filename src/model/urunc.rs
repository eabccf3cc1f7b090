//! urunc's annotation keys and the two forms an image carries them in:
//! plain text in the config Labels and manifest annotations ([`labels`]),
//! and base64-encoded in `/urunc.json` for runtimes that do not pass
//! annotations on ([`urunc_json`], read back by [`parse_urunc_json`]).
//!
//! Maps of keys throughout use the short key (`binary`) for urunc's keys and
//! keep any other key as written. Keys urunc takes only from the runtime
//! are named by [`runtime_only`]. The rules about the values are in
//! `rules::urunc`; which urunc version reads which key, in
//! `rules::versions`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde_json::Value;

/// The prefix of every urunc annotation key.
pub const PREFIX: &str = "com.urunc.unikernel.";

/// Short keys in the order urunc documents them.
pub const KEYS: &[&str] = &[
    "unikernelType",
    "hypervisor",
    "binary",
    "cmdline",
    "unikernelVersion",
    "initrd",
    "block",
    "blkMntPoint",
    "useDMBlock",
    "mountRootfs",
    "solo5NetDev",
    "solo5BlkDev",
];

/// Keys urunc takes only from the runtime, never from an image, and why an
/// image must not carry them (short key, reason).
const RUNTIME_ONLY: &[(&str, &str)] = &[
    (
        "vAccel",
        "is runtime-only: urunc never takes it from urunc.json (`json:\"-\"`), and from 0.8 its shim would copy \
         it from the image's labels and annotations into the spec, turning on vAccel on hosts that lack it; set \
         it as a pod or runtime annotation on hosts that have vAccel",
    ),
    (
        "RPCAddress",
        "is runtime-only: urunc never takes it from urunc.json (`json:\"-\"`); it is the vAccel agent's address \
         on one host, and set in an image it breaks hosts without vAccel; set it as a pod or runtime annotation",
    ),
];

/// Go's `base64.StdEncoding` as urunc decodes with it: padding required,
/// non-zero trailing bits ignored.
const GO_STD_ENCODING: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));

/// The short key for `key`, given either short (`binary`) or full
/// (`com.urunc.unikernel.binary`); `None` for a key urunc does not know.
pub fn short_key(key: &str) -> Option<&'static str> {
    let short = key.strip_prefix(PREFIX).unwrap_or(key);
    KEYS.iter().copied().find(|&k| k == short)
}

/// Why `key` (short or full) must not be set in an image, when it is one of
/// urunc's runtime-only keys.
pub fn runtime_only(key: &str) -> Option<&'static str> {
    let short = key.strip_prefix(PREFIX).unwrap_or(key);
    RUNTIME_ONLY.iter().find(|(k, _)| *k == short).map(|(_, why)| *why)
}

/// The full annotation name of a short key.
pub fn full_key(short: &str) -> String {
    format!("{PREFIX}{short}")
}

/// The name a key has in an image: the full annotation name for urunc's
/// short keys, any other key as it is.
fn image_key(key: &str) -> String {
    if KEYS.contains(&key) { full_key(key) } else { key.to_string() }
}

/// The contents of `/urunc.json` for `annotations` (short key -> plain value).
///
/// Canonical: one compact JSON object with the full key names in sorted
/// order, each value base64-encoded (standard alphabet, padded), then a
/// newline. Keys that are not urunc's short keys are written as they are.
pub fn urunc_json(annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let encoded: BTreeMap<String, String> =
        annotations.iter().map(|(key, value)| (image_key(key), STANDARD.encode(value))).collect();
    // Built from a sorted map, so the order is sorted whether serde_json's
    // map keeps keys sorted or in insertion order.
    let object: serde_json::Map<String, Value> =
        encoded.into_iter().map(|(key, value)| (key, Value::String(value))).collect();
    let mut bytes = Value::Object(object).to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Reads a `/urunc.json` into short key -> plain value (other keys keep their
/// full name).
///
/// Strict where urunc is: a file that is not a JSON object, or a urunc key
/// whose value is not a string of valid base64, makes urunc fall back to
/// runc, and is an error here naming the key. Other keys, which urunc
/// ignores, must still be base64 strings, and every value must decode to
/// UTF-8 text. A null value counts as unset, as it does for urunc.
pub fn parse_urunc_json(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    const FALLBACK: &str = "urunc would fall back to runc";
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("urunc.json is not valid JSON ({e}); {FALLBACK}"))?;
    let Value::Object(object) = value else {
        return Err(format!("urunc.json is {}, not a JSON object; {FALLBACK}", json_kind(&value)));
    };
    let mut annotations = BTreeMap::new();
    for (key, value) in object {
        let short = key.strip_prefix(PREFIX).and_then(short_key);
        let consequence =
            if short.is_some() { FALLBACK } else { "urunc ignores this key, but its value should still be base64" };
        let encoded = match value {
            // Go decodes null into a string as "unset".
            Value::Null => continue,
            Value::String(encoded) => encoded,
            value => {
                return Err(format!(
                    "urunc.json: `{key}` is {}, not a base64 string; {consequence}",
                    json_kind(&value)
                ));
            }
        };
        // Go's decoder skips line breaks.
        let encoded = encoded.replace(['\r', '\n'], "");
        let decoded = GO_STD_ENCODING.decode(&encoded).map_err(|e| {
            format!(
                "urunc.json: `{key}` is not valid base64 (standard alphabet, padded): {e}; \
                 {consequence}"
            )
        })?;
        let plain = String::from_utf8(decoded).map_err(|_| {
            format!(
                "urunc.json: `{key}` does not decode to UTF-8 text \
                     (plain text where base64 belongs?)"
            )
        })?;
        let name = match short {
            Some(short) => short.to_string(),
            None if KEYS.contains(&key.as_str()) => {
                return Err(format!(
                    "urunc.json: `{key}` lacks the `{PREFIX}` prefix, so urunc ignores it; \
                     write `{}`",
                    full_key(&key)
                ));
            }
            None => key,
        };
        annotations.insert(name, plain);
    }
    Ok(annotations)
}

/// "an array", "a number", ... for error messages (never the value).
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The config Labels (and manifest annotations) for `annotations`: full key
/// names, plain values. Keys that are not urunc's short keys are kept as
/// they are.
pub fn labels(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    annotations.iter().map(|(key, value)| (image_key(key), value.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map of short keys to plain values.
    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn key_names() {
        assert_eq!(short_key("binary"), Some("binary"));
        assert_eq!(short_key("com.urunc.unikernel.binary"), Some("binary"));
        assert_eq!(short_key("com.urunc.unikernel.blkMntPoint"), Some("blkMntPoint"));
        assert_eq!(short_key("Binary"), None);
        assert_eq!(short_key("com.urunc.unikernel.foo"), None);
        assert_eq!(short_key("org.example.binary"), None);
        assert_eq!(short_key(""), None);
        assert_eq!(full_key("binary"), "com.urunc.unikernel.binary");
        assert_eq!(full_key("mountRootfs"), "com.urunc.unikernel.mountRootfs");
        assert_eq!(KEYS.len(), 12);
        assert_eq!(short_key("com.urunc.unikernel.solo5BlkDev"), Some("solo5BlkDev"));
        assert_eq!(short_key("vAccel"), None);
        assert!(runtime_only("com.urunc.unikernel.vAccel").is_some_and(|why| why.contains("runtime-only")));
        assert!(runtime_only("RPCAddress").is_some_and(|why| why.contains("vAccel")));
        assert_eq!(runtime_only("binary"), None);
        assert_eq!(KEYS[0], "unikernelType");
    }

    #[test]
    fn urunc_json_is_canonical() {
        let json =
            urunc_json(&ann(&[("unikernelType", "unikraft"), ("hypervisor", "qemu"), ("binary", "/unikernel/kernel")]));
        let want = concat!(
            r#"{"com.urunc.unikernel.binary":"L3VuaWtlcm5lbC9rZXJuZWw=","#,
            r#""com.urunc.unikernel.hypervisor":"cWVtdQ==","#,
            r#""com.urunc.unikernel.unikernelType":"dW5pa3JhZnQ="}"#,
            "\n"
        );
        assert_eq!(String::from_utf8_lossy(&json), want);
        assert_eq!(urunc_json(&BTreeMap::new()), b"{}\n");

        // Keys sort by their full name; other keys keep theirs.
        let json = urunc_json(&ann(&[("cmdline", "a \"b\" ünï"), ("zz.other", "x"), ("a.other", "v")]));
        let want = concat!(
            r#"{"a.other":"dg==","#,
            r#""com.urunc.unikernel.cmdline":"YSAiYiIgw7xuw68=","#,
            r#""zz.other":"eA=="}"#,
            "\n"
        );
        assert_eq!(String::from_utf8_lossy(&json), want);
    }

    #[test]
    fn urunc_json_round_trips() {
        let annotations = ann(&[
            ("unikernelType", "linux"),
            ("hypervisor", "qemu"),
            ("binary", "/unikernel/kernel"),
            ("cmdline", "/bin/sh -c 'echo \"hi\"' ünï"),
            ("blkMntPoint", "/"),
            ("org.example.x", ""),
        ]);
        assert_eq!(parse_urunc_json(&urunc_json(&annotations)), Ok(annotations));
    }

    /// The error parsing `json` gives, which must mention every one of `words`.
    fn json_error(json: &str, words: &[&str]) {
        match parse_urunc_json(json.as_bytes()) {
            Ok(map) => panic!("{json} parsed as {map:?}"),
            Err(e) => {
                for word in words {
                    assert!(e.contains(word), "{json}: {e:?} lacks {word:?}");
                }
            }
        }
    }

    #[test]
    fn urunc_json_refused() {
        json_error("[]", &["an array", "not a JSON object", "fall back to runc"]);
        json_error("{", &["not valid JSON", "fall back to runc"]);
        json_error("", &["not valid JSON"]);
        json_error(
            r#"{"com.urunc.unikernel.binary": 5}"#,
            &["`com.urunc.unikernel.binary`", "a number", "fall back to runc"],
        );
        json_error(r#"{"com.urunc.unikernel.hypervisor": ["cWVtdQ=="]}"#, &["an array", "fall back to runc"]);
        json_error(
            r#"{"com.urunc.unikernel.hypervisor": "cWVtdQ"}"#,
            &["`com.urunc.unikernel.hypervisor`", "not valid base64", "fall back to runc"],
        );
        json_error(r#"{"com.urunc.unikernel.hypervisor": "qemu!"}"#, &["not valid base64"]);
        json_error(
            r#"{"com.urunc.unikernel.hypervisor": "qemu"}"#,
            &["`com.urunc.unikernel.hypervisor`", "UTF-8", "plain text"],
        );
        json_error(r#"{"org.example.x": 1}"#, &["`org.example.x`", "urunc ignores"]);
        json_error(r#"{"binary": "L2E="}"#, &["prefix", "`com.urunc.unikernel.binary`"]);
    }

    #[test]
    fn urunc_json_read_like_go() {
        // Go ignores line breaks and non-zero trailing bits, and reads null
        // as unset.
        let parsed = parse_urunc_json(
            br#"{"com.urunc.unikernel.hypervisor": "cWVt\ndQ==",
                 "com.urunc.unikernel.unikernelType": "bWV3eh==",
                 "com.urunc.unikernel.initrd": null,
                 "com.urunc.unikernel.cmdline": ""}"#,
        );
        let want = ann(&[("hypervisor", "qemu"), ("unikernelType", "mewz"), ("cmdline", "")]);
        assert_eq!(parsed, Ok(want));
        // Unknown urunc keys are kept under their full name.
        let parsed = parse_urunc_json(br#"{"com.urunc.unikernel.future": "L2RhdGE="}"#);
        assert_eq!(parsed, Ok(ann(&[("com.urunc.unikernel.future", "/data")])));
    }

    #[test]
    fn labels_are_plain() {
        let got = labels(&ann(&[("hypervisor", "qemu"), ("binary", "/unikernel/kernel"), ("org.example.x", "y")]));
        let want = ann(&[
            ("com.urunc.unikernel.hypervisor", "qemu"),
            ("com.urunc.unikernel.binary", "/unikernel/kernel"),
            ("org.example.x", "y"),
        ]);
        assert_eq!(got, want);
    }
}
