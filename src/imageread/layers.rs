//! Reading layers: verifying every digest, size and diff_id by hashing
//! streams, and flattening the layers into one filesystem.

use std::collections::BTreeMap;
use std::io::{self, Read};

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use tar::EntryType;

use super::{Compression, Flattened, Image, decompress};
use crate::model::fstree::{Content, Node, Tree};
use crate::model::oci::hex;

/// Passes bytes through while hashing and counting them.
pub(super) struct Tee<R> {
    pub(super) inner: R,
    pub(super) hasher: Sha256,
    pub(super) len: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.hasher.update(&buf[..got]);
        self.len += got as u64;
        Ok(got)
    }
}

pub(super) fn hash_stream(reader: impl Read) -> io::Result<(String, u64)> {
    let mut tee = Tee { inner: reader, hasher: Sha256::new(), len: 0 };
    io::copy(&mut tee, &mut io::sink())?;
    Ok((format!("sha256:{}", hex(&tee.hasher.finalize())), tee.len))
}

// ---------------------------------------------------------------------------
// Reading layers.

impl Image {
    /// `layer N (digest)`, 1-based, for messages.
    pub fn layer_label(&self, i: usize) -> String {
        match self.layers.get(i) {
            Some(layer) => format!("layer {} ({})", i + 1, layer.digest.as_deref().unwrap_or(&layer.name)),
            None => format!("layer {}", i + 1),
        }
    }

    /// Checks every blob's sha256 and size against what the manifest
    /// declares and every layer's uncompressed sha256 against its diff_id,
    /// streaming. Returns the problems found, one sentence each (empty:
    /// everything matches).
    pub fn verify(&self) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for blob in &self.blobs {
            let (reader, _) = self.source.open(&blob.name)?;
            let (actual, len) = hash_stream(reader).with_context(|| format!("cannot read {}", blob.name))?;
            check_blob(&mut problems, &blob.what, blob.digest.as_deref(), blob.size, &actual, len);
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let what = self.layer_label(i);
            let (raw, _) = self.source.open(&layer.name)?;
            let mut tee = Tee { inner: raw, hasher: Sha256::new(), len: 0 };
            let plain = match layer.compression {
                // An uncompressed blob is its own tar: one hash serves both checks.
                Compression::None => Ok(None),
                _ => decompress(&mut tee).and_then(|(_, plain)| hash_stream(plain)).map(Some),
            };
            // Hash whatever the decompressor left unread, so that the blob digest covers every byte.
            let drained = io::copy(&mut tee, &mut io::sink());
            match (plain, drained) {
                (Ok(plain), Ok(_)) => {
                    let actual = format!("sha256:{}", hex(&tee.hasher.finalize()));
                    check_blob(&mut problems, &what, layer.digest.as_deref(), layer.declared_size, &actual, tee.len);
                    let diff_id = plain.map_or(actual, |(diff_id, _)| diff_id);
                    if diff_id != layer.diff_id {
                        problems.push(format!(
                            "{what}: its uncompressed tar hashes to {diff_id}, but the config's diff_id is {} \
                             (docker load refuses this)",
                            layer.diff_id
                        ));
                    }
                }
                (Err(e), _) | (_, Err(e)) => problems.push(match layer.compression {
                    Compression::None => format!("{what}: cannot be read: {e}"),
                    other => format!("{what}: cannot be decompressed as {}: {e}", other.name()),
                }),
            }
        }
        Ok(problems)
    }

    /// The decompressed tar stream of layer `i` (0-based).
    pub fn layer_reader(&self, i: usize) -> Result<Box<dyn Read + '_>> {
        let layer = self.layers.get(i).ok_or_else(|| anyhow!("the image has no layer {}", i + 1))?;
        let (raw, _) = self.source.open(&layer.name)?;
        let (_, plain) = decompress(raw).with_context(|| format!("cannot read {}", self.layer_label(i)))?;
        Ok(plain)
    }

    /// The stored bytes of layer `i` (0-based), compressed as they are,
    /// and their size.
    pub fn layer_blob(&self, i: usize) -> Result<(Box<dyn Read + '_>, u64)> {
        let layer = self.layers.get(i).ok_or_else(|| anyhow!("the image has no layer {}", i + 1))?;
        self.source.open(&layer.name)
    }

    /// The config as stored.
    pub fn config_bytes(&self) -> Result<Vec<u8>> {
        self.source.read_small(&self.config_name)
    }

    /// The OCI manifest as stored; `None` for a docker-archive from before
    /// Docker 25, which has none.
    pub fn manifest_bytes(&self) -> Result<Option<Vec<u8>>> {
        self.manifest_name.as_deref().map(|name| self.source.read_small(name)).transpose()
    }

    /// Applies the layers in order into one filesystem, as a container
    /// runtime would: whiteouts (`.wh.name`) and opaque directories
    /// (`.wh..wh..opq`) hide what lower layers hold; hard links become
    /// copies of their target; device nodes and fifos are skipped and
    /// listed. Files and directories keep the layer's permission bits;
    /// symlinks keep their target as written.
    ///
    /// For each regular file, `store(path, reader, size)` is called with the
    /// clean relative path (`usr/bin/x`), a reader of exactly `size` bytes
    /// and the size, and returns the `Content` to record in the tree. A file
    /// that a later layer replaces or hides has still been stored once.
    pub fn flatten(&self, store: &mut dyn FnMut(&str, &mut dyn Read, u64) -> Result<Content>) -> Result<Flattened> {
        let mut tree = Tree::new();
        let mut skipped = Vec::new();
        let mut layer_entries = Vec::new();
        let mut layer_of = BTreeMap::new();
        for i in 0..self.layers.len() {
            let label = self.layer_label(i);
            let changes = self
                .read_changes(i, &tree, store, &mut skipped)
                .with_context(|| format!("image {}: {label}", self.path.display()))?;
            layer_entries.push(changes.entries);
            for dir in &changes.opaque {
                if dir.is_empty() {
                    tree = Tree::new();
                } else {
                    tree.remove_children(dir);
                }
            }
            for path in &changes.whiteouts {
                tree.remove(path);
            }
            for (path, node) in changes.additions {
                tree.replace(&path, node)
                    .with_context(|| format!("image {}: {label}: cannot apply /{path}", self.path.display()))?;
                // Parents a layer implies without entries of their own come from it too.
                for (at, _) in path.match_indices('/') {
                    layer_of.entry(path[..at].to_string()).or_insert(i);
                }
                layer_of.insert(path, i);
            }
        }
        layer_of.retain(|path, _| tree.get(path).is_some());
        Ok(Flattened { tree, skipped, layer_entries, layer_of })
    }

    /// Reads layer `i` into the changes it makes. Whiteouts only hide what
    /// lower layers hold, so they are collected and applied before the
    /// layer's own entries, wherever they appear in the tar.
    pub(super) fn read_changes(
        &self,
        i: usize,
        lower: &Tree,
        store: &mut dyn FnMut(&str, &mut dyn Read, u64) -> Result<Content>,
        skipped: &mut Vec<String>,
    ) -> Result<Changes> {
        let mut changes = Changes::default();
        let mut latest: BTreeMap<String, usize> = BTreeMap::new();
        let mut archive = tar::Archive::new(self.layer_reader(i)?);
        for entry in archive.entries().context("cannot read it as a tar")? {
            let mut entry = entry.context("cannot read the next tar entry")?;
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink
            ) {
                continue;
            }
            changes.entries += 1;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let Some(path) = layer_path(&raw).with_context(|| format!("entry {shown:?}"))? else {
                continue;
            };
            let (dir, base) = match path.rfind('/') {
                Some(at) => (&path[..at], &path[at + 1..]),
                None => ("", path.as_str()),
            };
            if let Some(hidden) = base.strip_prefix(".wh.") {
                if hidden == ".wh..opq" {
                    changes.opaque.push(dir.to_string());
                } else if !hidden.is_empty() && !hidden.starts_with(".wh.") {
                    changes.whiteouts.push(if dir.is_empty() { hidden.to_string() } else { format!("{dir}/{hidden}") });
                }
                continue;
            }
            let mode = entry.header().mode().with_context(|| format!("entry /{path}: bad mode field"))? & 0o7777;
            let node = match kind {
                EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                    let size = entry.size();
                    let content = store(&path, &mut entry, size).with_context(|| format!("entry /{path}"))?;
                    Node::File { content, size, mode }
                }
                EntryType::Directory => Node::Dir { mode },
                EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .and_then(|t| String::from_utf8(t.into_owned()).ok())
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| anyhow!("entry /{path}: symlink target is empty or not UTF-8"))?;
                    Node::Symlink { target }
                }
                EntryType::Link => {
                    let raw_target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
                    let target = link_path(&raw_target).with_context(|| format!("entry /{path} (hard link)"))?;
                    let found = match latest.get(&target) {
                        Some(&at) => changes.additions.get(at).map(|(_, node)| node.clone()),
                        None => lower.get(&target).cloned(),
                    };
                    found
                        .ok_or_else(|| anyhow!("entry /{path}: hard link to /{target}, which no layer so far holds"))?
                }
                EntryType::Char | EntryType::Block | EntryType::Fifo => {
                    let what = match kind {
                        EntryType::Char => "character device",
                        EntryType::Block => "block device",
                        _ => "fifo",
                    };
                    skipped.push(format!("/{path} ({what}, layer {})", i + 1));
                    continue;
                }
                other => bail!("entry /{path}: unsupported tar entry type {other:?}"),
            };
            latest.insert(path.clone(), changes.additions.len());
            changes.additions.push((path, node));
        }
        Ok(changes)
    }
}

/// What one layer does to the layers below it.
#[derive(Default)]
pub(super) struct Changes {
    /// Directories whose lower contents are hidden (`""` is the root).
    pub(super) opaque: Vec<String>,
    /// Paths hidden by `.wh.` files.
    pub(super) whiteouts: Vec<String>,
    /// The layer's entries in tar order.
    pub(super) additions: Vec<(String, Node)>,
    pub(super) entries: usize,
}

/// A layer entry's path, clean and relative; `None` for the root itself.
pub(super) fn layer_path(raw: &[u8]) -> Result<Option<String>> {
    let text = std::str::from_utf8(raw).map_err(|_| anyhow!("the path is not UTF-8"))?;
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => bail!("the path contains `..`, which would leave the image root"),
            name => parts.push(name),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A hard link's target: relative to the image root, like entry paths.
pub(super) fn link_path(raw: &[u8]) -> Result<String> {
    let shown = String::from_utf8_lossy(raw);
    if raw.starts_with(b"/") {
        bail!("the link target {shown:?} is absolute; hard link targets must be relative to the image root");
    }
    layer_path(raw)
        .with_context(|| format!("link target {shown:?}"))?
        .ok_or_else(|| anyhow!("the link target {shown:?} is empty or the root"))
}

pub(super) fn check_blob(
    problems: &mut Vec<String>,
    what: &str,
    digest: Option<&str>,
    size: Option<u64>,
    actual: &str,
    len: u64,
) {
    if let Some(digest) = digest
        && digest != actual
    {
        problems.push(format!("{what}: the content hashes to {actual}, not to its digest (corrupted or edited)"));
    }
    if let Some(size) = size
        && size != len
    {
        problems.push(format!("{what}: the manifest says {size} bytes but it holds {len}"));
    }
}
