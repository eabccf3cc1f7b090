//! The JSON documents of an image as other tools write them: OCI index
//! and manifest descriptors, Docker's `manifest.json`, and the config.

use std::collections::BTreeMap;

use super::{Config, Platform, join_clean};
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use serde_json::Value;

#[derive(Clone, Debug, Deserialize)]
pub(super) struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub(super) media_type: Option<String>,
    pub(super) digest: String,
    #[serde(default)]
    pub(super) size: Option<u64>,
    #[serde(default)]
    pub(super) annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) platform: Option<Platform>,
    /// Set on an artifact (an SBOM, a signature), which is no image.
    #[serde(rename = "artifactType", default)]
    pub(super) artifact_type: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct IndexJson {
    #[serde(default)]
    pub(super) manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
pub(super) struct ManifestJson {
    pub(super) config: Descriptor,
    #[serde(default)]
    pub(super) layers: Vec<Descriptor>,
    #[serde(default)]
    pub(super) annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
pub(super) struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub(super) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(super) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub(super) layers: Vec<String>,
}

/// The name of a blob in an OCI layout.
pub(super) fn blob_name(digest: &str) -> Result<String> {
    let Some(hex) = digest.strip_prefix("sha256:") else {
        bail!("digest {digest:?} is not a sha256 digest (only sha256 is supported)");
    };
    if !is_sha256_hex(hex) {
        bail!("digest {digest:?} does not have 64 lowercase hex digits after sha256:");
    }
    Ok(format!("blobs/sha256/{hex}"))
}

pub(super) fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The digest a docker-archive file name implies: `blobs/sha256/<hex>`
/// (Docker 25+) or a config named `<hex>.json` (older Docker).
pub(super) fn digest_of_name(name: &str) -> Option<String> {
    let hex = name.strip_prefix("blobs/sha256/").or_else(|| name.strip_suffix(".json").filter(|s| !s.contains('/')))?;
    is_sha256_hex(hex).then(|| format!("sha256:{hex}"))
}

/// A docker-archive path from manifest.json, checked to stay inside the archive.
pub(super) fn archive_path(raw: &str, what: &str) -> Result<String> {
    match join_clean("", raw) {
        Some(clean) if !raw.split('/').any(|p| p == "..") => Ok(clean),
        _ => bail!("manifest.json: {what} path {raw:?} is not a relative path inside the archive"),
    }
}

/// The image names an index.json descriptor carries.
pub(super) fn names_of(desc: &Descriptor) -> Vec<String> {
    let Some(annotations) = &desc.annotations else {
        return Vec::new();
    };
    ["io.containerd.image.name", "org.opencontainers.image.ref.name"]
        .iter()
        .filter_map(|key| annotations.get(*key).cloned())
        .collect()
}

/// Whether image reference `name` is what the user asked for with `tag`.
pub(super) fn same_reference(name: &str, tag: &str) -> bool {
    fn normal(r: &str) -> String {
        let r = r.strip_prefix("docker.io/").unwrap_or(r);
        let r = r.strip_prefix("library/").unwrap_or(r);
        let last = r.rsplit('/').next().unwrap_or(r);
        if last.contains(':') || last.contains('@') { r.to_string() } else { format!("{r}:latest") }
    }
    name == tag || normal(name) == normal(tag)
}

/// The fields of a config, decoded with errors that name the field.
pub(super) struct ParsedConfig {
    pub(super) config: Config,
    pub(super) json: Value,
    pub(super) diff_ids: Vec<String>,
}

pub(super) fn parse_config(bytes: &[u8], name: &str) -> Result<ParsedConfig> {
    let json: Value = serde_json::from_slice(bytes).with_context(|| format!("config {name} is not valid JSON"))?;
    if !json.is_object() {
        bail!("config {name} is not a JSON object");
    }
    let at = |field: &str| format!("config {name}: {field}");
    let inner = json.get("config").cloned().unwrap_or(Value::Null);
    if !(inner.is_object() || inner.is_null()) {
        bail!("{} must be an object", at("config"));
    }
    let config = Config {
        architecture: opt_string(&json, "architecture", &at("architecture"))?.unwrap_or_default(),
        os: opt_string(&json, "os", &at("os"))?.unwrap_or_default(),
        variant: opt_string(&json, "variant", &at("variant"))?.filter(|v| !v.is_empty()),
        created: opt_string(&json, "created", &at("created"))?,
        entrypoint: opt_strings(&inner, "Entrypoint", &at("config.Entrypoint"))?,
        cmd: opt_strings(&inner, "Cmd", &at("config.Cmd"))?,
        env: opt_strings(&inner, "Env", &at("config.Env"))?.unwrap_or_default(),
        working_dir: opt_string(&inner, "WorkingDir", &at("config.WorkingDir"))?.filter(|w| !w.is_empty()),
        labels: string_map(&inner, "Labels", &at("config.Labels"))?,
    };
    let rootfs = json.get("rootfs").cloned().unwrap_or(Value::Null);
    let diff_ids = opt_strings(&rootfs, "diff_ids", &at("rootfs.diff_ids"))?
        .ok_or_else(|| anyhow!("{} is missing; every consumer needs it", at("rootfs.diff_ids")))?;
    Ok(ParsedConfig { config, json, diff_ids })
}

pub(super) fn opt_string(obj: &Value, key: &str, what: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("{what} must be a string, not {other}"),
    }
}

pub(super) fn opt_strings(obj: &Value, key: &str, what: &str) -> Result<Option<Vec<String>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => bail!("{what} must be a list of strings, but holds {other}"),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => bail!("{what} must be a list of strings, not {other}"),
    }
}

pub(super) fn string_map(obj: &Value, key: &str, what: &str) -> Result<BTreeMap<String, String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => bail!("{what}: {k} must be a string, not {other}"),
            })
            .collect(),
        Some(other) => bail!("{what} must be an object of strings, not {other}"),
    }
}
