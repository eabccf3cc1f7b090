//! Copying files out of an image onto the host, as `COPY --from` does: a
//! path in the flattened image, symbolic links on the way followed
//! ([`resolve`]), is written to a scratch directory as a file or as a
//! directory tree ([`Image::extract`]).

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use bstr::{BString, ByteSlice};

use super::Image;
use crate::model::fstree::{Content, EXEC_MODE, FILE_MODE, Node, Tree};

/// How many symbolic links resolving one path may follow (Linux's limit).
const MAX_LINKS: usize = 40;

/// One path copied out of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    /// Where it is on the host: a file or a directory.
    pub host: PathBuf,
    /// A file's permission bits in the image; `None` for a directory.
    pub mode: Option<u32>,
}

impl Image {
    /// The flattened filesystem without contents, for [`resolve`].
    pub fn listing(&self) -> Result<Tree> {
        Ok(self.flatten(&mut |_, _, _| Ok(Content::Inline(Vec::new())))?.tree)
    }

    /// Copies each of `resolved` (tree paths that [`resolve`] gave; `""` is
    /// the root) into `dest`, an empty directory, and says where each went.
    /// Links inside a copied directory stay links. Files on the host get
    /// mode 0644 or 0755 by their executable bit; a file's own bits are
    /// returned.
    pub fn extract(&self, resolved: &[BString], dest: &Path) -> Result<Vec<Extracted>> {
        let wanted = |path: &[u8]| {
            resolved.iter().any(|r| {
                r.is_empty()
                    || path == r.as_slice()
                    || path.strip_prefix(r.as_slice()).is_some_and(|t| t.starts_with(b"/"))
            })
        };
        let mut count = 0u64;
        let flat = self.flatten(&mut |path, reader, _| {
            if !wanted(path) {
                io::copy(reader, &mut io::sink())?;
                return Ok(Content::Inline(Vec::new()));
            }
            count += 1;
            let file = dest.join(format!("f{count}"));
            let mut out = fs::File::create(&file).with_context(|| format!("cannot create {}", file.display()))?;
            io::copy(reader, &mut out).with_context(|| format!("cannot write {}", file.display()))?;
            Ok(Content::Host(file))
        })?;
        let mut out = Vec::new();
        for (i, path) in resolved.iter().enumerate() {
            out.push(place(&flat.tree, path, &dest.join(format!("d{i}")))?);
        }
        Ok(out)
    }
}

/// Makes the extracted `path` of `tree` (a file, a directory or the root)
/// a host file or directory.
fn place(tree: &Tree, path: &BString, dir: &Path) -> Result<Extracted> {
    if let Some(Node::File { content, mode, .. }) = tree.get(path) {
        let Content::Host(file) = content else { bail!("internal: /{} was not extracted", path.escape_bytes()) };
        set_mode(file, *mode)?;
        return Ok(Extracted { host: file.clone(), mode: Some(*mode) });
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let prefix = if path.is_empty() { Vec::new() } else { [path.as_slice(), b"/"].concat() };
    for (p, node) in tree.iter() {
        let Some(rest) = p.strip_prefix(prefix.as_slice()) else { continue };
        let host = dir.join(OsStr::from_bytes(rest));
        match node {
            Node::Dir { .. } => fs::create_dir_all(&host),
            Node::File { content: Content::Host(file), mode, .. } => {
                set_mode(file, *mode)?;
                fs::hard_link(file, &host)
            }
            Node::File { .. } => bail!("internal: /{} was not extracted", p.escape_bytes()),
            Node::Symlink { target } => symlink(OsStr::from_bytes(target), &host),
        }
        .with_context(|| format!("cannot create {}", host.display()))?;
    }
    Ok(Extracted { host: dir.to_path_buf(), mode: None })
}

/// Host permissions: only the executable bit of the image's mode counts.
fn set_mode(file: &Path, mode: u32) -> Result<()> {
    let host = if mode & 0o111 != 0 { EXEC_MODE } else { FILE_MODE };
    fs::set_permissions(file, fs::Permissions::from_mode(host))
        .with_context(|| format!("cannot chmod {}", file.display()))
}

/// The tree path that `path` (absolute, in the image whose listing is
/// `tree`) stands for, with every symbolic link on the way followed, as
/// `COPY --from` follows them; fails when nothing is there.
pub fn resolve(tree: &Tree, path: &str) -> Result<BString> {
    let mut todo: Vec<Vec<u8>> = components(path.as_bytes()).into_iter().rev().collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == b".." {
            done.pop();
            continue;
        }
        done.push(c);
        let here = BString::from(bstr::join("/", &done));
        match tree.get(&here) {
            None => bail!("is not in the image (no /{})", here.escape_bytes()),
            Some(Node::Symlink { target }) => {
                links += 1;
                if links > MAX_LINKS {
                    bail!("has more than {MAX_LINKS} levels of symbolic links");
                }
                done.pop();
                if target.starts_with(b"/") {
                    done.clear();
                }
                todo.extend(components(target).into_iter().rev());
            }
            Some(Node::File { .. }) if !todo.is_empty() => bail!("/{} is a file, not a directory", here.escape_bytes()),
            Some(_) => {}
        }
    }
    Ok(bstr::join("/", &done).into())
}

/// The components of a path (names are bytes), without empty ones and `.`.
fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Tree {
        let mut t = Tree::new();
        let file = Node::File { content: Content::Inline(Vec::new()), size: 0, mode: 0o644, link: None };
        t.insert("usr/lib/a", file.clone()).unwrap();
        t.insert("lib", Node::Symlink { target: "usr/lib".into() }).unwrap();
        t.insert("abs", Node::Symlink { target: "/usr/lib/a".into() }).unwrap();
        t.insert("usr/up", Node::Symlink { target: "../lib/a".into() }).unwrap();
        t.insert("loop", Node::Symlink { target: "loop".into() }).unwrap();
        t
    }

    #[test]
    fn resolves_links_on_the_way_and_at_the_end() {
        let t = tree();
        assert_eq!(resolve(&t, "/usr/lib/a").unwrap(), "usr/lib/a");
        assert_eq!(resolve(&t, "/lib/a").unwrap(), "usr/lib/a");
        assert_eq!(resolve(&t, "/abs").unwrap(), "usr/lib/a");
        assert_eq!(resolve(&t, "/usr/up").unwrap(), "usr/lib/a");
        assert_eq!(resolve(&t, "/").unwrap(), "");
    }

    #[test]
    fn refuses_what_is_not_there() {
        let t = tree();
        assert!(resolve(&t, "/nope").unwrap_err().to_string().contains("no /nope"));
        assert!(resolve(&t, "/usr/lib/a/b").unwrap_err().to_string().contains("is a file"));
        assert!(resolve(&t, "/loop").unwrap_err().to_string().contains("levels of symbolic links"));
    }
}
