//! Reading layers: verifying every digest, size and diff_id by hashing
//! streams, and flattening the layers into one filesystem.

use std::collections::BTreeMap;
use std::io::{self, Read};

use anyhow::{Context, Result, anyhow, bail};
use bstr::{BStr, BString, ByteSlice, ByteVec};
use tar::EntryType;

use super::{Compression, Flattened, Image, Layer, decompress};
use crate::model::fstree::{Content, Node, Tree};
use crate::model::oci::Hashing;

/// What [`Image::flatten`] calls for each regular file: its clean relative
/// path, a reader of exactly its size, and the size; it returns the content
/// to record in the tree.
pub type FileStore<'a> = dyn FnMut(&BStr, &mut dyn Read, u64) -> Result<Content> + 'a;

/// The digest and size of everything `reader` gives.
pub(super) fn hash_stream(reader: impl Read) -> io::Result<(String, u64)> {
    let mut hashing = Hashing::new(reader);
    io::copy(&mut hashing, &mut io::sink())?;
    let size = hashing.size();
    Ok((hashing.finish().0, size))
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
        // A blob listed as several layers is hashed once.
        let mut hashed: BTreeMap<&str, Result<LayerHashes, String>> = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let what = self.layer_label(i);
            if !hashed.contains_key(layer.name.as_str()) {
                hashed.insert(&layer.name, self.hash_layer(layer)?);
            }
            match &hashed[layer.name.as_str()] {
                Ok(h) => {
                    check_blob(&mut problems, &what, layer.digest.as_deref(), layer.declared_size, &h.blob, h.len);
                    if h.diff_id != layer.diff_id {
                        problems.push(format!(
                            "{what}: its uncompressed tar hashes to {}, but the config's diff_id is {} \
                             (docker load refuses this)",
                            h.diff_id, layer.diff_id
                        ));
                    }
                }
                Err(e) => problems.push(format!("{what}: {e}")),
            }
        }
        Ok(problems)
    }

    /// Hashes a layer's blob and, decompressed, its tar, streaming.
    fn hash_layer(&self, layer: &Layer) -> Result<Result<LayerHashes, String>> {
        let (raw, size) = self.source.open(&layer.name)?;
        let mut stored = Hashing::new(raw);
        let plain = match layer.compression {
            // An uncompressed blob is its own tar: one hash serves both checks.
            Compression::None => Ok(None),
            _ => decompress(&mut stored, size).and_then(|(_, plain)| hash_stream(plain)).map(Some),
        };
        // Hash whatever the decompressor left unread, so that the blob digest covers every byte.
        let drained = io::copy(&mut stored, &mut io::sink());
        Ok(match (plain, drained) {
            (Ok(plain), Ok(_)) => {
                let len = stored.size();
                let blob = stored.finish().0;
                let diff_id = plain.map_or_else(|| blob.clone(), |(diff_id, _)| diff_id);
                Ok(LayerHashes { blob, len, diff_id })
            }
            (Err(e), _) | (_, Err(e)) => Err(match layer.compression {
                Compression::None => format!("cannot be read: {e}"),
                other => format!("cannot be decompressed as {}: {e}", other.name()),
            }),
        })
    }

    /// The decompressed tar stream of layer `i` (0-based).
    pub fn layer_reader(&self, i: usize) -> Result<Box<dyn Read + '_>> {
        let layer = self.layers.get(i).ok_or_else(|| anyhow!("the image has no layer {}", i + 1))?;
        let (raw, size) = self.source.open(&layer.name)?;
        let (_, plain) = decompress(raw, size).with_context(|| format!("cannot read {}", self.layer_label(i)))?;
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
    /// (`.wh..wh..opq`) hide what lower layers hold; a hard link to a file
    /// shares its [`Link`](crate::model::fstree::Link) (so writers store it
    /// once); device nodes and fifos are skipped and
    /// listed. Files and directories keep the layer's permission bits;
    /// symlinks keep their target as written.
    ///
    /// For each regular file, `store(path, reader, size)` is called with the
    /// clean relative path (`usr/bin/x`, bytes as the layer holds them), a
    /// reader of exactly `size` bytes and the size, and returns the
    /// `Content` to record in the tree. A file that a later layer replaces
    /// or hides has still been stored once.
    ///
    /// Entries go into the tree as they are read, so memory holds the tree
    /// and nothing per entry besides; a layer listed again right after
    /// itself is not read again (it would change nothing).
    pub fn flatten(&self, store: &mut FileStore) -> Result<Flattened> {
        let mut tree = Tree::new();
        let mut skipped = Vec::new();
        let mut layer_entries: Vec<usize> = Vec::new();
        let mut layer_of = BTreeMap::new();
        for i in 0..self.layers.len() {
            if i > 0 && self.layers[i].name == self.layers[i - 1].name {
                layer_entries.push(layer_entries[i - 1]);
                continue;
            }
            let label = self.layer_label(i);
            let entries = self
                .apply_layer(i, &mut tree, store, &mut skipped, &mut layer_of)
                .with_context(|| format!("image {}: {label}", self.path.display()))?;
            layer_entries.push(entries);
        }
        if skipped.len() > MAX_SKIPPED_SHOWN {
            let more = skipped.len() - MAX_SKIPPED_SHOWN;
            skipped.truncate(MAX_SKIPPED_SHOWN);
            skipped.push(format!("and {more} more"));
        }
        // For each layer, the last of the run of copies of it that follow
        // it directly, which is the layer whose entries the tree shows.
        let mut shown_as: Vec<usize> = (0..self.layers.len()).collect();
        for j in (1..self.layers.len()).rev() {
            if self.layers[j - 1].name == self.layers[j].name {
                shown_as[j - 1] = shown_as[j];
            }
        }
        layer_of.retain(|path, _| tree.get(path).is_some());
        for layer in layer_of.values_mut() {
            *layer = shown_as[*layer];
        }
        let first_layer = shown_as.first().copied().unwrap_or(0);
        Ok(Flattened { tree, skipped, layer_entries, layer_of, first_layer })
    }

    /// Applies layer `i` to `tree` and gives the number of its entries.
    /// Whiteouts hide only what lower layers hold, wherever they stand in
    /// the tar, so a first pass applies them and a second adds the rest.
    /// Paths that layers after the first write go into `layer_of`.
    fn apply_layer(
        &self,
        i: usize,
        tree: &mut Tree,
        store: &mut FileStore,
        skipped: &mut Vec<String>,
        layer_of: &mut BTreeMap<BString, usize>,
    ) -> Result<usize> {
        self.each_entry(i, &mut |path, _| {
            match whiteout(&path) {
                Some(Whiteout::Opaque(b"")) => *tree = Tree::new(),
                Some(Whiteout::Opaque(dir)) => tree.remove_children(dir),
                Some(Whiteout::Hides(hidden)) => tree.remove(&hidden),
                Some(Whiteout::Ignored) | None => {}
            }
            Ok(())
        })?;
        self.each_entry(i, &mut |path, entry| {
            if whiteout(&path).is_none()
                && let Some(node) = layer_node(path.as_bstr(), entry, tree, store, i, skipped)?
            {
                if i > 0 {
                    // Parents a layer implies without entries of their own come from it too.
                    for (at, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
                        if tree.get(&path[..at]).is_none() {
                            layer_of.insert(BString::from(&path[..at]), i);
                        }
                    }
                    layer_of.insert(path.clone(), i);
                }
                tree.replace(&path, node)?;
            }
            Ok(())
        })
    }

    /// Calls `each` with every entry of layer `i` that names a path (clean,
    /// relative), and gives the number of entries.
    fn each_entry(&self, i: usize, each: &mut EntryFn) -> Result<usize> {
        let mut count = 0;
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
            count += 1;
            let raw = entry.path_bytes().into_owned();
            let Some(path) = layer_path(&raw).with_context(|| format!("entry \"{}\"", raw.escape_bytes()))? else {
                continue;
            };
            each(path, &mut entry).with_context(|| format!("entry /{}", raw.escape_bytes()))?;
        }
        Ok(count)
    }
}

/// A layer blob's digest and size, and its tar's digest.
struct LayerHashes {
    blob: String,
    len: u64,
    diff_id: String,
}

/// What [`Image::each_entry`] calls for each entry.
type EntryFn<'a> = dyn FnMut(BString, &mut tar::Entry<'_, Box<dyn Read + '_>>) -> Result<()> + 'a;

/// How many skipped entries `flatten` lists one by one.
const MAX_SKIPPED_SHOWN: usize = 1000;

/// What a whiteout entry hides.
enum Whiteout<'p> {
    /// `.wh..wh..opq`: what lower layers hold in this directory.
    Opaque(&'p [u8]),
    /// `.wh.NAME`: NAME in lower layers.
    Hides(BString),
    /// `.wh..wh.*` other than the opaque marker: nothing.
    Ignored,
}

fn whiteout(path: &[u8]) -> Option<Whiteout<'_>> {
    let (dir, base) = match path.rfind_byte(b'/') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => (&b""[..], path),
    };
    let hidden = base.strip_prefix(b".wh.")?;
    if hidden == b".wh..opq" {
        return Some(Whiteout::Opaque(dir));
    }
    if hidden.is_empty() || hidden.starts_with(b".wh.") {
        return Some(Whiteout::Ignored);
    }
    let mut hides = BString::from(dir);
    if !dir.is_empty() {
        hides.push(b'/');
    }
    hides.push_str(hidden);
    Some(Whiteout::Hides(hides))
}

/// The node a layer entry adds at `path`, or `None` for a device or fifo
/// (listed in `skipped`). A hard link to a file shares its inode (see
/// [`Tree::link_to`]).
fn layer_node(
    path: &BStr,
    entry: &mut tar::Entry<'_, Box<dyn Read + '_>>,
    tree: &mut Tree,
    store: &mut FileStore,
    layer: usize,
    skipped: &mut Vec<String>,
) -> Result<Option<Node>> {
    let kind = entry.header().entry_type();
    let mode = entry.header().mode().context("bad mode field")? & 0o7777;
    let node = match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let size = entry.size();
            let content = store(path, entry, size)?;
            Node::File { content, size, mode, link: None }
        }
        EntryType::Directory => Node::Dir { mode },
        EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .map(|t| BString::from(t.into_owned()))
                .filter(|t| !t.is_empty())
                .ok_or_else(|| anyhow!("the symlink target is empty"))?;
            Node::Symlink { target }
        }
        EntryType::Link => {
            let raw_target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            let target = link_path(&raw_target).context("hard link")?;
            tree.link_to(&target)
                .ok_or_else(|| anyhow!("hard link to /{}, which no layer so far holds", target.escape_bytes()))?
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let what = match kind {
                EntryType::Char => "character device",
                EntryType::Block => "block device",
                _ => "fifo",
            };
            skipped.push(format!("/{} ({what}, layer {})", path.escape_bytes(), layer + 1));
            return Ok(None);
        }
        other => bail!("unsupported tar entry type {other:?}"),
    };
    Ok(Some(node))
}

/// A layer entry's path, clean and relative; `None` for the root itself.
/// Names are bytes: a layer may hold names that are not UTF-8.
pub(super) fn layer_path(raw: &[u8]) -> Result<Option<BString>> {
    let mut clean = BString::from("");
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => bail!("the path contains `..`, which would leave the image root"),
            name => {
                if !clean.is_empty() {
                    clean.push(b'/');
                }
                clean.push_str(name);
            }
        }
    }
    Ok((!clean.is_empty()).then_some(clean))
}

/// A hard link's target: relative to the image root, like entry paths.
pub(super) fn link_path(raw: &[u8]) -> Result<BString> {
    let shown = raw.escape_bytes();
    if raw.starts_with(b"/") {
        bail!("the link target \"{shown}\" is absolute; hard link targets must be relative to the image root");
    }
    layer_path(raw)
        .with_context(|| format!("link target \"{shown}\""))?
        .ok_or_else(|| anyhow!("the link target \"{shown}\" is empty or the root"))
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
