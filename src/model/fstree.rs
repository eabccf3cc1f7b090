//! The filesystem that goes into an image layer, an initrd or a block image.
//!
//! A `Tree` is a sorted map from clean relative paths (`"unikernel/hello"`,
//! never a leading or trailing `/`) to nodes. Paths and symlink targets are
//! byte strings, as Linux file names are: a name that is not UTF-8 is
//! carried as it is, and shown escaped (`caf\xE9`). Every parent directory of an
//! entry is itself an entry, so walking the map in order visits parents
//! before their children. Owners are always root and times are always the
//! image's one fixed time, so neither is stored.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};
use bstr::{BStr, BString, ByteSlice};

/// Where a regular file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A file on the host, read when the output is written.
    Host(PathBuf),
    /// Bytes held in memory (small generated files such as `/urunc.json`).
    Inline(Vec<u8>),
    /// The bytes at `offset` of a file bimanix made and holds open: an
    /// unnamed temporary file with a generated rootfs, or with the files
    /// taken from a base image, which vanishes with the process.
    Range { file: SharedFile, offset: u64 },
}

/// An open file shared by the tree entries whose bytes it holds; two are
/// equal when they are the same open file.
#[derive(Clone, Debug)]
pub struct SharedFile(pub Arc<File>);

impl PartialEq for SharedFile {
    fn eq(&self, other: &SharedFile) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedFile {}

/// The buffer size the writers stream file contents through.
pub const COPY_BUFFER: usize = 256 * 1024;

impl Content {
    /// Streams exactly `size` bytes of this content to `out` through `buf`,
    /// failing when there are more or fewer (a host file that changed since
    /// the tree was made). `path` is the entry's tree path, for messages.
    pub fn copy_to<W: Write + ?Sized>(
        &self,
        size: u64,
        path: impl fmt::Display,
        out: &mut W,
        buf: &mut [u8],
    ) -> Result<()> {
        match self {
            Content::Inline(bytes) => {
                if bytes.len() as u64 != size {
                    bail!("internal: /{path} holds {} bytes but is recorded as {size}", bytes.len());
                }
                out.write_all(bytes).with_context(|| format!("writing /{path}"))
            }
            Content::Range { file, offset } => {
                let mut at = *offset;
                let end = offset + size;
                while at < end {
                    let want = usize::try_from(end - at).unwrap_or(usize::MAX).min(buf.len());
                    let n = file.0.read_at(&mut buf[..want], at).with_context(|| format!("reading /{path}"))?;
                    if n == 0 {
                        bail!("internal: /{path} ends {} bytes early in its temporary file", end - at);
                    }
                    out.write_all(&buf[..n]).with_context(|| format!("writing /{path}"))?;
                    at += n as u64;
                }
                Ok(())
            }
            Content::Host(host) => {
                let mut file = crate::model::hostfile::open_regular(host).with_context(|| format!("for /{path}"))?;
                let mut copied = 0u64;
                loop {
                    let n = file.read(buf).with_context(|| format!("reading {} for /{path}", host.display()))?;
                    if n == 0 {
                        break;
                    }
                    copied += n as u64;
                    if copied > size {
                        break;
                    }
                    out.write_all(&buf[..n]).with_context(|| format!("writing /{path}"))?;
                }
                if copied != size {
                    bail!(
                        "{} changed while reading: it was {size} bytes when listed, {}{copied} bytes now",
                        host.display(),
                        if copied > size { "at least " } else { "" }
                    );
                }
                Ok(())
            }
        }
    }
}

/// The identity of a file that several paths share (hard links): the
/// regular files of a tree that carry the same `Link` and the same mode are
/// one inode, which the cpio and ext writers store once. The value is
/// unique in the process and never written: writers number inodes by path
/// order, so the output depends on which paths share a `Link`, not on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link(u64);

impl Link {
    /// A link identity no other file has.
    #[allow(clippy::new_without_default)] // a default that is always fresh would surprise
    pub fn new() -> Link {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Link(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// One entry of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A directory with its permission bits (normally 0o755).
    Dir { mode: u32 },
    /// A regular file: its content, its size in bytes and permission bits,
    /// and, when other paths are hard links to the same file, the identity
    /// they share (they also share content, size and mode).
    File { content: Content, size: u64, mode: u32, link: Option<Link> },
    /// A symbolic link and its target, kept as written.
    Symlink { target: BString },
}

/// The mode of a directory.
pub const DIR_MODE: u32 = 0o755;
/// The mode of a regular file without the executable bit.
pub const FILE_MODE: u32 = 0o644;
/// The mode of a regular file with the executable bit.
pub const EXEC_MODE: u32 = 0o755;

/// The tree path of an absolute image path: `/unikernel/app` is
/// `unikernel/app`.
pub fn rel(target: &str) -> &str {
    target.trim_start_matches('/')
}

/// The longest file name Linux file systems hold, in bytes.
pub const NAME_MAX: usize = 255;

/// Checks one name of a path in an image: 1 to 255 bytes without `/` or
/// NUL, and not `.` or `..`.
pub fn check_name(name: &[u8]) -> Result<()> {
    let shown = name.escape_bytes();
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0) {
        bail!("\"{shown}\" is not a file name");
    }
    if name.len() > NAME_MAX {
        bail!("the name \"{shown}\" is {} bytes; Linux file names are at most {NAME_MAX} bytes", name.len());
    }
    Ok(())
}

/// Refuses a name that is a whiteout in an image layer: container runtimes
/// read a `.wh.NAME` entry as "delete NAME" (and `.wh..wh..opq` as "hide
/// what lower layers hold here") when they unpack a layer. (In an initrd or
/// a block image such names are ordinary.)
pub fn check_layer_name(name: &[u8]) -> Result<()> {
    if name.starts_with(b".wh.") {
        bail!(
            "the name \"{}\" starts with .wh., which marks a whiteout in an image layer: container runtimes \
             would delete files instead of creating it; rename it",
            name.escape_bytes()
        );
    }
    Ok(())
}

/// The hard-link groups of a tree: the paths of each file that two or more
/// paths share, in path order.
#[derive(Debug, Default)]
pub struct HardLinks<'t> {
    groups: HashMap<(Link, u32), Vec<&'t BStr>>,
}

impl<'t> HardLinks<'t> {
    /// The paths that share the inode of `node` (itself among them), in
    /// path order, when there are two or more.
    pub fn of(&self, node: &Node) -> Option<&[&'t BStr]> {
        match node {
            Node::File { link: Some(link), mode, .. } => self.groups.get(&(*link, *mode)).map(Vec::as_slice),
            _ => None,
        }
    }
}

/// A whole filesystem, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// Boxed rather than `BString`: a million entries are 8 MB smaller.
    entries: BTreeMap<Box<[u8]>, Node>,
}

impl Tree {
    /// An empty tree (the root directory itself is implicit).
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds `node` at `path` (relative, clean), creating missing parent
    /// directories with mode 0o755. Fails when `path` already holds
    /// something other than a directory being re-added as a directory, or
    /// when a parent is not a directory.
    pub fn insert(&mut self, path: &(impl AsRef<[u8]> + ?Sized), node: Node) -> Result<()> {
        let path = path.as_ref().as_bstr();
        if path.is_empty() || path.starts_with(b"/") || path.ends_with(b"/") {
            bail!("internal: tree path \"{}\" is not clean and relative", path.escape_bytes());
        }
        let shown = path.escape_bytes();
        for (i, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let parent = path[..i].as_bstr();
            match self.entries.get(parent.as_bytes()) {
                None => {
                    self.entries.insert(parent.as_bytes().into(), Node::Dir { mode: DIR_MODE });
                }
                Some(Node::Dir { .. }) => {}
                Some(Node::Symlink { target }) => bail!(
                    "/{} is a symlink to {}, but /{shown} needs it to be a directory; use the link's target",
                    parent.escape_bytes(),
                    target.escape_bytes()
                ),
                Some(_) => bail!("/{} is not a directory, but /{shown} needs it to be one", parent.escape_bytes()),
            }
        }
        match (self.entries.get(path.as_bytes()), &node) {
            (None, _) => {}
            (Some(Node::Dir { .. }), Node::Dir { .. }) => {}
            (Some(_), _) => bail!("/{shown} is given twice"),
        }
        self.entries.insert(path.as_bytes().into(), node);
        Ok(())
    }

    /// Adds `node` at `path`, replacing whatever is there, and when `node`
    /// is not a directory, dropping everything below `path`. Used when
    /// layering one filesystem over another.
    pub fn replace(&mut self, path: &(impl AsRef<[u8]> + ?Sized), node: Node) -> Result<()> {
        let path = path.as_ref();
        match self.entries.get(path) {
            None => {}
            Some(Node::Dir { .. }) if !matches!(node, Node::Dir { .. }) => self.remove(path),
            Some(_) => {
                self.entries.remove(path);
            }
        }
        self.insert(path, node)
    }

    /// Lays `top` over this tree: its entries replace what is at their
    /// paths, directories merge, as container layers do.
    pub fn overlay(&mut self, top: &Tree) -> Result<()> {
        for (path, node) in top.iter() {
            self.replace(path, node.clone())?;
        }
        Ok(())
    }

    /// Removes `path` and everything below it.
    pub fn remove(&mut self, path: &(impl AsRef<[u8]> + ?Sized)) {
        let path = path.as_ref();
        self.entries.remove(path);
        self.remove_children(path);
    }

    /// Removes everything below `path`, keeping `path` itself.
    pub fn remove_children(&mut self, path: &(impl AsRef<[u8]> + ?Sized)) {
        let prefix: Box<[u8]> = [path.as_ref(), b"/"].concat().into();
        let doomed: Vec<Box<[u8]>> = self
            .entries
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// A node for a new hard link to what `target` holds, or `None` when
    /// nothing is there. For a regular file it is the file itself, with the
    /// [`Link`] that `target` now shares with it (given to `target` when it
    /// had none); a hard link to anything else (tar allows one to a symlink)
    /// is a copy of it.
    pub fn link_to(&mut self, target: &(impl AsRef<[u8]> + ?Sized)) -> Option<Node> {
        let node = self.entries.get_mut(target.as_ref())?;
        if let Node::File { link, .. } = node {
            link.get_or_insert_with(Link::new);
        }
        Some(node.clone())
    }

    /// The node at `path`, if any.
    pub fn get(&self, path: &(impl AsRef<[u8]> + ?Sized)) -> Option<&Node> {
        self.entries.get(path.as_ref())
    }

    /// Refuses a tree that is to be an image layer and holds a whiteout
    /// name (see [`check_layer_name`]).
    pub fn check_layer_names(&self) -> Result<()> {
        for (path, _) in self.iter() {
            let name = path.rfind_byte(b'/').map_or(path.as_bytes(), |at| &path[at + 1..]);
            check_layer_name(name).with_context(|| format!("/{}", path.escape_bytes()))?;
        }
        Ok(())
    }

    /// All entries in order: each directory before what it holds.
    pub fn iter(&self) -> impl Iterator<Item = (&BStr, &Node)> {
        self.entries.iter().map(|(k, v)| (k.as_bstr(), v))
    }

    /// The files that share an inode with other paths (see [`Link`]).
    pub fn hard_links(&self) -> HardLinks<'_> {
        let mut groups: HashMap<(Link, u32), Vec<&BStr>> = HashMap::new();
        for (path, node) in self.iter() {
            if let Node::File { link: Some(link), mode, .. } = node {
                groups.entry((*link, *mode)).or_default().push(path);
            }
        }
        groups.retain(|_, paths| paths.len() > 1);
        HardLinks { groups }
    }

    /// The number of entries, not counting the implicit root.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree holds nothing but the implicit root.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
