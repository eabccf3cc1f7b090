//! One layer blob, written at the output's cursor: the tar of a tree, or a
//! base image's layer, uncompressed or through an encoder, with its digest
//! and diff_id.
//!
//! Uncompressed, the blob is its own tar, so one hash gives both digests.
//! Compressed, the tar goes through a second sink into the encoder, which
//! hashes it (the diff_id), and the encoder's output is hashed by the
//! output's sink (the digest). Either way host files are read straight
//! into a sink's buffer and each hash runs on a thread of its own.

use std::fs::File;
use std::io::{self, Read};

use anyhow::{Context, Result, bail};
use bstr::BStr;

use crate::filesystem::tar::TarWriter;
use crate::image::compress::{self, Compression};
use crate::image::sink::{Sink, feed_hashed, write_hashed};
use crate::model::fstree::{Content, HardLinks, Node, Tree};
use crate::model::oci::Descriptor;

/// A layer as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerBlob {
    /// The blob: digest and size as stored, media type by compression.
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar.
    pub diff_id: String,
}

impl AsRef<Descriptor> for LayerBlob {
    fn as_ref(&self) -> &Descriptor {
        &self.descriptor
    }
}

/// Writes `tree` as a layer tar whose entries carry `mtime`, compressed
/// with `compression`, at the cursor of `file`.
pub fn write_tree(file: &File, tree: &Tree, mtime: u64, compression: Compression) -> Result<LayerBlob> {
    match compression {
        Compression::None => {
            let ((), hashed) = write_hashed(file, |sink| tar_fast(tree, mtime, sink))?;
            Ok(plain(hashed.digest, hashed.size))
        }
        _ => write_compressed(file, compression, |tar| tar_fast(tree, mtime, tar)),
    }
}

/// Writes the tar stream `reader` gives (a base image's layer, already
/// decompressed) as a layer compressed with `compression`.
pub fn write_stream(file: &File, reader: &mut dyn Read, compression: Compression) -> Result<LayerBlob> {
    match compression {
        Compression::None => {
            let (_, hashed) = write_hashed(file, |sink| Ok(io::copy(reader, sink)?))?;
            Ok(plain(hashed.digest, hashed.size))
        }
        _ => write_compressed(file, compression, |tar| {
            io::copy(reader, tar)?;
            Ok(())
        }),
    }
}

/// The descriptor of an uncompressed blob, its own diff_id.
fn plain(digest: String, size: u64) -> LayerBlob {
    let descriptor = Descriptor { media_type: Compression::None.layer_media_type().to_string(), digest, size };
    LayerBlob { diff_id: descriptor.digest.clone(), descriptor }
}

/// Runs `body` on a sink that feeds the tar to the encoder and hashes it
/// (the diff_id) on its own thread; the encoder writes into the output's
/// sink, which hashes the blob on another.
fn write_compressed(
    file: &File,
    compression: Compression,
    body: impl FnOnce(&mut Sink) -> Result<()>,
) -> Result<LayerBlob> {
    let (diff_id, hashed) = write_hashed(file, |sink| {
        let mut encoder = compress::encoder(compression, sink)?;
        let ((), tar) = feed_hashed(&mut encoder, body)?;
        encoder.finish().with_context(|| format!("finishing the {} stream", compression.name()))?;
        Ok(tar.digest)
    })?;
    let media_type = compression.layer_media_type().to_string();
    Ok(LayerBlob { descriptor: Descriptor { media_type, digest: hashed.digest, size: hashed.size }, diff_id })
}

/// Writes the tar of `tree` into the sink, reading host files and
/// temporary files (a generated rootfs) straight into the sink's buffer.
fn tar_fast(tree: &Tree, mtime: u64, sink: &mut Sink) -> Result<()> {
    let mut w = TarWriter::new(sink, mtime);
    let links = tree.hard_links();
    for (path, node) in tree.iter() {
        match node {
            Node::Dir { mode } => w.dir(path, *mode)?,
            Node::Symlink { target } => w.symlink(path, target)?,
            Node::File { mode, .. } if let Some(first) = earlier_link(&links, path, node) => {
                w.hard_link(path, *mode, first)?
            }
            Node::File { content: Content::Host(host), size, mode, .. } => {
                w.file_with(path, *mode, *size, |sink| copy_host(sink, host, *size, path))?
            }
            Node::File { content: Content::Range { file, offset }, size, mode, .. } => {
                w.file_with(path, *mode, *size, |sink| copy_range(sink, &file.0, *offset, *size, path))?
            }
            Node::File { content, size, mode, .. } => w.file(path, *mode, *size, content)?,
        }
    }
    w.finish()?;
    Ok(())
}

/// The first path of the file at `path` when it is a hard link to a path
/// written before it: tar stores the data with the first and links the rest.
fn earlier_link<'t>(links: &HardLinks<'t>, path: &BStr, node: &Node) -> Option<&'t BStr> {
    links.of(node).map(|group| group[0]).filter(|first| *first != path)
}

/// Copies the `size` bytes at `offset` of a temporary file into the sink.
fn copy_range(sink: &mut Sink, file: &File, offset: u64, size: u64, path: &bstr::BStr) -> Result<()> {
    let copied = sink.copy_file(file, offset, size).with_context(|| format!("reading /{path}"))?;
    if copied != size {
        bail!("internal: /{path} ends {} bytes early in its temporary file", size - copied);
    }
    Ok(())
}

/// Copies exactly `size` bytes of the host file `host` into the sink; a
/// file whose size changed since the tree was made is an error, and so is
/// one that is no longer a regular file (never opened blocking).
fn copy_host(sink: &mut Sink, host: &std::path::Path, size: u64, path: &bstr::BStr) -> Result<()> {
    let src = crate::model::hostfile::open_regular(host).with_context(|| format!("for /{path}"))?;
    let copied = sink.copy_file(&src, 0, size).with_context(|| format!("copying {} to /{path}", host.display()))?;
    let now = src.metadata().with_context(|| format!("reading {} for /{path}", host.display()))?.len();
    if copied != size || now != size {
        bail!("{} changed while reading: it was {size} bytes when listed, {now} bytes now", host.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::sha256_digest;
    use std::io::{Seek, SeekFrom, Write};

    /// The tar of `tree` through the tar writer's own buffer: what the
    /// sinks' fast path must match.
    fn tar_plain(tree: &Tree, mtime: u64, out: &mut dyn Write) -> Result<()> {
        let mut w = TarWriter::new(out, mtime);
        let links = tree.hard_links();
        for (path, node) in tree.iter() {
            match node {
                Node::Dir { mode } => w.dir(path, *mode)?,
                Node::Symlink { target } => w.symlink(path, target)?,
                Node::File { mode, .. } if let Some(first) = earlier_link(&links, path, node) => {
                    w.hard_link(path, *mode, first)?
                }
                Node::File { content, size, mode, .. } => w.file(path, *mode, *size, content)?,
            }
        }
        w.finish()?;
        Ok(())
    }

    fn tree_with_host_file(dir: &std::path::Path) -> Tree {
        let host = dir.join("kernel");
        std::fs::write(&host, vec![7u8; 5000]).unwrap();
        let mut tree = Tree::new();
        tree.insert("boot/kernel", Node::File { content: Content::Host(host), size: 5000, mode: 0o755, link: None })
            .unwrap();
        tree.insert(
            "urunc.json",
            Node::File { content: Content::Inline(b"{}".to_vec()), size: 2, mode: 0o644, link: None },
        )
        .unwrap();
        tree
    }

    fn read_all(mut file: &File) -> Vec<u8> {
        let mut all = Vec::new();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.read_to_end(&mut all).unwrap();
        all
    }

    #[test]
    fn the_fast_path_writes_the_same_tar_as_the_plain_writer() {
        let dir = tempfile::tempdir().unwrap();
        let tree = tree_with_host_file(dir.path());
        let mut expected = Vec::new();
        tar_plain(&tree, 42, &mut expected).unwrap();
        let out = tempfile::tempfile().unwrap();
        let blob = write_tree(&out, &tree, 42, Compression::None).unwrap();
        assert_eq!(read_all(&out), expected);
        assert_eq!(blob.descriptor.digest, sha256_digest(&expected));
        assert_eq!(blob.diff_id, blob.descriptor.digest);
        assert_eq!(blob.descriptor.size, expected.len() as u64);
        assert_eq!(blob.descriptor.media_type, "application/vnd.oci.image.layer.v1.tar");
    }

    #[test]
    fn compressed_layers_keep_the_uncompressed_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let tree = tree_with_host_file(dir.path());
        let mut tar = Vec::new();
        tar_plain(&tree, 42, &mut tar).unwrap();
        for compression in [Compression::Gzip, Compression::Zstd] {
            let out = tempfile::tempfile().unwrap();
            let blob = write_tree(&out, &tree, 42, compression).unwrap();
            let stored = read_all(&out);
            assert_eq!(blob.diff_id, sha256_digest(&tar));
            assert_eq!(blob.descriptor.digest, sha256_digest(&stored));
            assert_eq!(blob.descriptor.media_type, compression.layer_media_type());
            assert_eq!(Compression::sniff(&stored), compression);
            assert_eq!(stored, compress::compress(compression, &mut &tar[..], Vec::new()).unwrap());
        }
    }

    #[test]
    fn a_recompressed_stream_keeps_its_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut tar = Vec::new();
        tar_plain(&tree_with_host_file(dir.path()), 7, &mut tar).unwrap();
        for compression in Compression::ALL {
            let out = tempfile::tempfile().unwrap();
            let blob = write_stream(&out, &mut &tar[..], compression).unwrap();
            let stored = read_all(&out);
            assert_eq!(blob.diff_id, sha256_digest(&tar), "{}", compression.name());
            assert_eq!(blob.descriptor.digest, sha256_digest(&stored));
            assert_eq!(blob.descriptor.size, stored.len() as u64);
            assert_eq!(stored, compress::compress(compression, &mut &tar[..], Vec::new()).unwrap());
        }
    }

    #[test]
    fn a_host_file_that_changed_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = tree_with_host_file(dir.path());
        let host = dir.path().join("kernel");
        tree.replace(
            "boot/kernel",
            Node::File { content: Content::Host(host.clone()), size: 4000, mode: 0o755, link: None },
        )
        .unwrap();
        let out = tempfile::tempfile().unwrap();
        let err = write_tree(&out, &tree, 0, Compression::None).unwrap_err();
        assert!(format!("{err:#}").contains("changed while reading"), "{err:#}");
        tree.replace("boot/kernel", Node::File { content: Content::Host(host), size: 6000, mode: 0o755, link: None })
            .unwrap();
        let err = write_tree(&out, &tree, 0, Compression::None).unwrap_err();
        assert!(format!("{err:#}").contains("changed while reading"), "{err:#}");
    }
}
