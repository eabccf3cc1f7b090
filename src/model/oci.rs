//! The JSON documents of an image: config, OCI manifest and index, Docker's
//! `manifest.json` and the `oci-layout` marker.
//!
//! Every document is built as a `serde_json::Value`, whose maps are sorted,
//! and written compactly: the same inputs give the same bytes.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Media type of an OCI image manifest.
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of an OCI image config.
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of an uncompressed OCI layer.
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// Media type of a gzip-compressed OCI layer.
pub const LAYER_GZIP_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Media type of a zstd-compressed OCI layer.
pub const LAYER_ZSTD_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Media type of an OCI index.
pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The content of the `oci-layout` file.
pub const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;
/// The largest config consumers take: containerd refuses one over 4 MiB.
pub const MAX_CONFIG: usize = 4 << 20;

/// How a layer blob (or a whole archive) is compressed. The encoders are
/// in `image::compress`; readers tell it from the bytes with [`Compression::sniff`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Compression {
    /// Not compressed: a plain tar.
    #[default]
    None,
    /// gzip (magic `1f 8b`).
    Gzip,
    /// Zstandard (magic `28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Every compression, in the order they are documented.
    pub const ALL: [Compression; 3] = [Compression::None, Compression::Gzip, Compression::Zstd];

    /// `none`, `gzip` or `zstd`: the name in args files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The compression named `name` (`none`, `gzip`, `zstd`).
    pub fn parse(name: &str) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The OCI media type of a layer blob compressed this way.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => LAYER_TYPE,
            Compression::Gzip => LAYER_GZIP_TYPE,
            Compression::Zstd => LAYER_ZSTD_TYPE,
        }
    }

    /// The compression of a blob, told from its first bytes (at least 4).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A content-addressed blob as a descriptor names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Descriptor {
    /// The descriptor of in-memory bytes.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor { media_type: media_type.to_string(), digest: sha256_digest(bytes), size: bytes.len() as u64 }
    }

    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }

    fn to_json(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.size })
    }
}

impl AsRef<Descriptor> for Descriptor {
    fn as_ref(&self) -> &Descriptor {
        self
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader or writer that hashes (sha256) and counts the bytes passing
/// through it, for digests taken while the bytes stream.
pub struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    size: u64,
}

impl<T> Hashing<T> {
    /// Hashes what is read from or written to `inner`.
    pub fn new(inner: T) -> Hashing<T> {
        Hashing { inner, hasher: Sha256::new(), size: 0 }
    }

    /// How many bytes have passed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The `sha256:<hex>` digest of the bytes that passed, and the reader
    /// or writer they passed through.
    pub fn finish(self) -> (String, T) {
        (format!("sha256:{}", hex(&self.hasher.finalize())), self.inner)
    }

    fn count(&mut self, passed: &[u8]) {
        self.hasher.update(passed);
        self.size += passed.len() as u64;
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.count(&buf[..got]);
        Ok(got)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let wrote = self.inner.write(buf)?;
        self.count(&buf[..wrote]);
        Ok(wrote)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What goes into the image config besides the layers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConfigFields {
    /// OCI architecture.
    pub architecture: String,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Cmd.
    pub cmd: Option<Vec<String>>,
    /// Environment, `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// History entries of a base image, kept ahead of ours.
    pub base_history: Vec<Value>,
}

/// The image config, with one `diff_id` per layer in order.
pub fn config(f: &ConfigFields, diff_ids: &[String]) -> Vec<u8> {
    let mut cfg = serde_json::Map::new();
    if let Some(e) = &f.entrypoint {
        cfg.insert("Entrypoint".into(), json!(e));
    }
    if let Some(c) = &f.cmd {
        cfg.insert("Cmd".into(), json!(c));
    }
    if !f.env.is_empty() {
        cfg.insert("Env".into(), json!(f.env));
    }
    if let Some(w) = &f.working_dir {
        cfg.insert("WorkingDir".into(), json!(w));
    }
    if !f.labels.is_empty() {
        cfg.insert("Labels".into(), json!(f.labels));
    }
    let mut history = f.base_history.clone();
    history.push(json!({ "created": f.created, "created_by": "bimanix" }));
    to_bytes(&json!({
        "architecture": f.architecture,
        "config": cfg,
        "created": f.created,
        "history": history,
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
}

/// The OCI manifest.
pub fn manifest(config: &Descriptor, layers: &[Descriptor], annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": config.to_json(),
        "layers": layers.iter().map(Descriptor::to_json).collect::<Vec<_>>(),
    });
    if !annotations.is_empty() {
        m["annotations"] = json!(annotations);
    }
    to_bytes(&m)
}

/// The OCI index naming the manifest the way Docker 25+ and containerd do.
pub fn index(manifest: &Descriptor, qualified_name: &str, tag: &str) -> Vec<u8> {
    let mut d = manifest.to_json();
    d["annotations"] = json!({
        "io.containerd.image.name": format!("{qualified_name}:{tag}"),
        "org.opencontainers.image.ref.name": tag,
    });
    to_bytes(&json!({ "schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [d] }))
}

/// One manifest of a multi-platform image index, with its platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The image manifest.
    pub manifest: Descriptor,
    /// `linux` for urunc's images.
    pub os: String,
    /// OCI architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
    /// The architecture variant (`v8` for arm64), if any.
    pub variant: Option<String>,
}

/// An OCI image index: one manifest per platform, in the order given, and
/// the index's own annotations (sorted, as a map).
pub fn image_index(entries: &[IndexEntry], annotations: &BTreeMap<String, String>) -> Vec<u8> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut d = e.manifest.to_json();
            let mut platform = json!({ "architecture": e.architecture, "os": e.os });
            if let Some(variant) = &e.variant {
                platform["variant"] = json!(variant);
            }
            d["platform"] = platform;
            d
        })
        .collect();
    let mut index = json!({ "schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests });
    if !annotations.is_empty() {
        index["annotations"] = json!(annotations);
    }
    to_bytes(&index)
}

/// Reads an annotation given as `KEY=VALUE`. The key is a reverse-domain
/// name as the OCI spec recommends (letters, digits, `.`, `-`, `_`, `/`,
/// starting with a letter or digit); the value is any text without control
/// characters other than tab and newline.
pub fn parse_annotation(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "{text:?} is not KEY=VALUE; write e.g. org.opencontainers.image.description=\"A unikernel\""
        ));
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/');
    if !key.starts_with(|c: char| c.is_ascii_alphanumeric()) || !key.chars().all(allowed) {
        return Err(format!(
            "the key {key:?} is not an annotation key: use letters, digits, '.', '-', '_' and '/', starting with a \
             letter or digit, such as org.opencontainers.image.description"
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n')) {
        return Err(format!(
            "the value of {key} holds the control character U+{:04X}; only tab and newline are allowed",
            u32::from(c)
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// The variant an architecture has when its images do not say: `v8` for
/// arm64 and `v7` for arm, as containerd assumes; none for the others.
pub fn default_variant(architecture: &str) -> Option<&'static str> {
    match architecture {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    }
}

/// Docker's `manifest.json`.
pub fn docker_manifest(config: &Descriptor, layers: &[Descriptor], repo_tag: &str) -> Vec<u8> {
    to_bytes(&json!([{
        "Config": format!("blobs/sha256/{}", config.hex()),
        "RepoTags": [repo_tag],
        "Layers": layers.iter().map(|l| format!("blobs/sha256/{}", l.hex())).collect::<Vec<_>>(),
    }]))
}

fn to_bytes(v: &Value) -> Vec<u8> {
    // Serializing a Value to a Vec cannot fail: all keys are strings.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_digests_what_is_read_or_written() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut reader = Hashing::new(&bytes[..]);
        io::copy(&mut reader, &mut io::sink()).unwrap();
        assert_eq!(reader.size(), bytes.len() as u64);
        assert_eq!(reader.finish().0, sha256_digest(&bytes));
        let mut writer = Hashing::new(Vec::new());
        for chunk in bytes.chunks(777) {
            writer.write_all(chunk).unwrap();
        }
        assert_eq!(writer.size(), bytes.len() as u64);
        let (digest, written) = writer.finish();
        assert_eq!((digest, written), (sha256_digest(&bytes), bytes));
    }

    #[test]
    fn config_is_canonical_and_complete() {
        let f = ConfigFields {
            architecture: "amd64".into(),
            created: "1970-01-01T00:00:00Z".into(),
            cmd: Some(vec!["a b".into()]),
            labels: [("z".to_string(), "1".to_string()), ("a".to_string(), "2".to_string())].into(),
            ..Default::default()
        };
        let bytes = config(&f, &["sha256:00".into()]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"architecture":"amd64","config":{"Cmd":["a b"],"Labels":{"a":"2","z":"1"}}"#),
            "{text}"
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["os"], "linux");
        assert_eq!(v["rootfs"]["diff_ids"][0], "sha256:00");
        assert!(v["config"].get("Entrypoint").is_none());
        assert_eq!(config(&f, &["sha256:00".into()]), bytes);
    }

    #[test]
    fn manifest_and_index_reference_their_blobs() {
        let cfg = Descriptor::of(CONFIG_TYPE, b"{}");
        assert_eq!(cfg.digest, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        let m = manifest(&cfg, &[], &[("k".to_string(), "v".to_string())].into());
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["config"]["digest"], cfg.digest);
        assert_eq!(v["annotations"]["k"], "v");
        let md = Descriptor::of(MANIFEST_TYPE, &m);
        let i: Value = serde_json::from_slice(&index(&md, "docker.io/library/x", "t")).unwrap();
        assert_eq!(i["manifests"][0]["digest"], md.digest);
        assert_eq!(i["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "t");
        let d: Value = serde_json::from_slice(&docker_manifest(&cfg, &[], "x:t")).unwrap();
        assert_eq!(d[0]["Config"], format!("blobs/sha256/{}", cfg.hex()));
    }

    #[test]
    fn an_image_index_carries_its_annotations_sorted_and_none_when_empty() {
        let entry = IndexEntry {
            manifest: Descriptor::of(MANIFEST_TYPE, b"{}"),
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: Some("v8".into()),
        };
        let plain: Value = serde_json::from_slice(&image_index(std::slice::from_ref(&entry), &BTreeMap::new())).unwrap();
        assert!(plain.get("annotations").is_none());
        let annotations = [("z.b".to_string(), "2".to_string()), ("a.b".to_string(), "1\nline".to_string())].into();
        let bytes = image_index(&[entry], &annotations);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(r#"{"annotations":{"a.b":"1\nline","z.b":"2"},"manifests":"#), "{text}");
    }

    #[test]
    fn annotations_are_read_as_key_value_and_bad_ones_refused() {
        assert_eq!(
            parse_annotation("org.opencontainers.image.description=A = B"),
            Ok(("org.opencontainers.image.description".to_string(), "A = B".to_string()))
        );
        assert_eq!(parse_annotation("k="), Ok(("k".to_string(), String::new())));
        assert_eq!(parse_annotation("k=a\tb\nc"), Ok(("k".to_string(), "a\tb\nc".to_string())));
        assert!(parse_annotation("novalue").unwrap_err().contains("is not KEY=VALUE"));
        for key in ["", ".a", "a b", "a:b", "é"] {
            let err = parse_annotation(&format!("{key}=v")).unwrap_err();
            assert!(err.contains("is not an annotation key"), "{key:?}: {err}");
        }
        assert!(parse_annotation("k=a\u{1b}[31m").unwrap_err().contains("control character U+001B"));
    }
}
