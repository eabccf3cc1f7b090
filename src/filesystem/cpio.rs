//! Writes a tree as an uncompressed newc ("070701") cpio archive, the format
//! the Linux kernel unpacks as an initramfs.
//!
//! urunc appends its own cpio to a user initrd, so the archive must be clean:
//! every header and every body padded to 4 bytes, a `TRAILER!!!` entry, and the
//! whole archive padded with zeros to a multiple of 512 bytes as GNU cpio does.
//! The root directory comes first as `.` (as `find . | cpio -o` writes it), so
//! the kernel and `cpio -i` give the root its mode and time; the other names
//! have no leading `./`. Owners are 0:0, every time is the one given, and
//! inode numbers count up from 1 in archive order, so the output depends on the
//! tree and the time alone.
//!
//! Hard links (files of the tree sharing a `Link`) are one inode number with
//! their link count in every entry, and the data is stored once, with the last
//! of them, as GNU cpio writes newc: the kernel's unpacker links each later
//! entry to the first and writes the data when it comes, and `cpio -i` defers
//! the empty entries until the data arrives.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};

use anyhow::{Context, Result, bail};
use bstr::{BStr, ByteSlice};

use crate::model::fstree::{COPY_BUFFER, DIR_MODE, Node, Tree};

const MAGIC: &str = "070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Writes `tree` as a newc cpio archive to `out` and gives `out` back.
///
/// Every entry gets owner 0:0 and the time `mtime` (seconds since the epoch).
/// File contents are streamed, so memory does not grow with file sizes. Fails
/// when a file is 4 GiB or larger (newc sizes have 8 hex digits), when a host
/// file cannot be read or its size is not the size recorded in the tree.
pub fn write_newc<W: Write>(tree: &Tree, mtime: u32, out: W) -> Result<W> {
    let subdirs = count_subdirs(tree);
    let mut out = Archive { out: BufWriter::with_capacity(COPY_BUFFER, out), written: 0, next_ino: 1 };
    let mut buf = vec![0u8; COPY_BUFFER];
    let links = tree.hard_links();
    let mut shared: HashMap<&BStr, u32> = HashMap::new();

    let root_links = 2 + subdirs.get(b"".as_bstr()).copied().unwrap_or(0);
    out.header(b".".as_bstr(), S_IFDIR | DIR_MODE, root_links, mtime, 0)?;
    for (path, node) in tree.iter() {
        match node {
            Node::Dir { mode } => {
                let links = 2 + subdirs.get(path).copied().unwrap_or(0);
                out.header(path, S_IFDIR | (mode & 0o7777), links, mtime, 0)?;
            }
            Node::File { content, size, mode, .. } => {
                let Ok(size32) = u32::try_from(*size) else {
                    bail!("/{path} is {size} bytes; a newc cpio archive holds files under 4 GiB only");
                };
                let mode = S_IFREG | (mode & 0o7777);
                let Some(group) = links.of(node) else {
                    out.header(path, mode, 1, mtime, size32)?;
                    content.copy_to(*size, path, &mut out, &mut buf)?;
                    out.pad(4)?;
                    continue;
                };
                // One inode number for the group, taken at its first path;
                // the data goes with its last path, as GNU cpio writes it.
                let ino = *shared.entry(group[0]).or_insert_with(|| out.take_ino());
                let nlink = u32::try_from(group.len()).context("too many hard links for a cpio archive")?;
                if path == group[group.len() - 1] {
                    out.raw_header(path, ino, mode, nlink, mtime, size32)?;
                    content.copy_to(*size, path, &mut out, &mut buf)?;
                    out.pad(4)?;
                } else {
                    out.raw_header(path, ino, mode, nlink, mtime, 0)?;
                }
            }
            Node::Symlink { target } => {
                let Ok(len) = u32::try_from(target.len()) else {
                    bail!("the target of symlink /{path} is too long for a cpio archive");
                };
                out.header(path, S_IFLNK | 0o777, 1, mtime, len)?;
                out.write_all(target)?;
                out.pad(4)?;
            }
        }
    }
    out.trailer()?;
    out.pad(512)?;
    out.out.into_inner().map_err(|e| e.into_error()).context("writing the cpio archive")
}

/// Counts the direct subdirectories of each directory ("" is the root), for
/// the directories' link counts.
fn count_subdirs(tree: &Tree) -> BTreeMap<&BStr, u32> {
    let mut counts = BTreeMap::new();
    for (path, node) in tree.iter() {
        if matches!(node, Node::Dir { .. }) {
            let parent = path.rfind_byte(b'/').map_or(b"".as_bstr(), |at| path[..at].as_bstr());
            *counts.entry(parent).or_insert(0) += 1;
        }
    }
    counts
}

/// The output with a count of bytes written, for padding.
struct Archive<W: Write> {
    out: BufWriter<W>,
    written: u64,
    next_ino: u32,
}

impl<W: Write> Write for Archive<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl<W: Write> Archive<W> {
    /// Writes one entry's header and name, padded to 4 bytes.
    fn header(&mut self, name: &BStr, mode: u32, links: u32, mtime: u32, size: u32) -> Result<()> {
        let ino = self.take_ino();
        self.raw_header(name, ino, mode, links, mtime, size)
    }

    /// The next inode number.
    fn take_ino(&mut self) -> u32 {
        self.next_ino += 1;
        self.next_ino - 1
    }

    /// Writes the `TRAILER!!!` entry that ends the archive.
    fn trailer(&mut self) -> Result<()> {
        self.raw_header(TRAILER.as_bytes().as_bstr(), 0, 0, 1, 0, 0)
    }

    /// Writes one entry's header and name with the inode number given.
    fn raw_header(&mut self, name: &BStr, ino: u32, mode: u32, links: u32, mtime: u32, size: u32) -> Result<()> {
        if name.contains(&0) {
            bail!("the path {name:?} holds a NUL byte, which a cpio archive cannot store");
        }
        let name_size = name.len() + 1;
        let Ok(name_size32) = u32::try_from(name_size) else {
            bail!("the path {name:?} is too long for a cpio archive");
        };
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
        // rdevmajor, rdevminor, namesize, check
        let fields = [ino, mode, 0, 0, links, mtime, size, 0, 0, 0, 0, name_size32, 0];
        let mut header = Vec::with_capacity(HEADER_LEN + name_size + 3);
        header.extend_from_slice(MAGIC.as_bytes());
        for field in fields {
            header.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        header.extend_from_slice(name);
        header.push(0);
        self.write_all(&header).context("writing the cpio archive")?;
        self.pad(4)
    }

    /// Writes zeros up to the next multiple of `align` bytes.
    fn pad(&mut self, align: u64) -> Result<()> {
        let rem = self.written % align;
        if rem != 0 {
            let zeros = vec![0u8; (align - rem) as usize];
            self.write_all(&zeros).context("writing the cpio archive")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fstree::{Content, EXEC_MODE, FILE_MODE, Link};
    use std::fs::File;
    use std::path::Path;
    use std::process::Command;

    const MTIME: u32 = 1_700_000_000;

    fn sample_tree(dir: &Path) -> Tree {
        let host = dir.join("host-file");
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&host, &big).unwrap();
        let mut tree = Tree::new();
        tree.insert(
            "bin/tool",
            Node::File { content: Content::Host(host), size: big.len() as u64, mode: EXEC_MODE, link: None },
        )
        .unwrap();
        tree.insert(
            "etc/a",
            Node::File { content: Content::Inline(b"abc".to_vec()), size: 3, mode: FILE_MODE, link: None },
        )
        .unwrap();
        tree.insert(
            "etc/empty",
            Node::File { content: Content::Inline(Vec::new()), size: 0, mode: FILE_MODE, link: None },
        )
        .unwrap();
        tree.insert(
            "etc/sub/deeper/x",
            Node::File { content: Content::Inline(b"x\n".to_vec()), size: 2, mode: 0o600, link: None },
        )
        .unwrap();
        tree.insert("etc/sub2", Node::Dir { mode: 0o700 }).unwrap();
        tree.insert("link", Node::Symlink { target: "bin/tool".into() }).unwrap();
        tree.insert(
            "urunc.json",
            Node::File { content: Content::Inline(b"{}".to_vec()), size: 2, mode: FILE_MODE, link: None },
        )
        .unwrap();
        tree
    }

    fn hex(bytes: &[u8]) -> u32 {
        u32::from_str_radix(std::str::from_utf8(bytes).unwrap(), 16).unwrap()
    }

    struct Entry {
        name: String,
        mode: u32,
        nlink: u32,
        mtime: u32,
        data: Vec<u8>,
    }

    /// Walks the archive the way the kernel does, checking alignment.
    fn parse(archive: &[u8]) -> Vec<Entry> {
        let mut at = 0;
        let mut entries = Vec::new();
        loop {
            assert_eq!(at % 4, 0, "header at {at} is not 4-aligned");
            let h = &archive[at..at + HEADER_LEN];
            assert_eq!(&h[..6], b"070701");
            let field = |i: usize| hex(&h[6 + 8 * i..14 + 8 * i]);
            let (mode, uid, gid, nlink, mtime, size, namesize, check) =
                (field(1), field(2), field(3), field(4), field(5), field(6) as usize, field(11) as usize, field(12));
            assert_eq!((uid, gid, check), (0, 0, 0));
            let name_start = at + HEADER_LEN;
            let name = &archive[name_start..name_start + namesize];
            assert_eq!(name.last(), Some(&0), "name not NUL-terminated");
            let name = String::from_utf8(name[..namesize - 1].to_vec()).unwrap();
            let data_start = (name_start + namesize).next_multiple_of(4);
            assert!(archive[name_start + namesize..data_start].iter().all(|&b| b == 0));
            let data_end = data_start + size;
            at = data_end.next_multiple_of(4);
            assert!(archive[data_end..at].iter().all(|&b| b == 0));
            if name == "TRAILER!!!" {
                assert_eq!(archive.len() % 512, 0);
                assert!(archive[at..].iter().all(|&b| b == 0));
                return entries;
            }
            entries.push(Entry { name, mode, nlink, mtime, data: archive[data_start..data_end].to_vec() });
        }
    }

    #[test]
    fn headers_padding_and_link_counts() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path());
        let archive = write_newc(&tree, MTIME, Vec::new()).unwrap();
        let entries = parse(&archive);
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names[0], ".");
        assert_eq!(names.len(), tree.len() + 1);
        let dirs: Vec<&str> =
            entries.iter().filter(|e| e.mode & 0o170000 == 0o040000).map(|e| e.name.as_str()).collect();
        for e in &entries {
            assert_eq!(e.mtime, MTIME);
            if e.mode & 0o170000 == 0o040000 {
                let prefix = if e.name == "." { String::new() } else { format!("{}/", e.name) };
                let children = dirs
                    .iter()
                    .filter(|d| **d != "." && d.starts_with(&prefix) && !d[prefix.len()..].contains('/'))
                    .count() as u32;
                assert_eq!(e.nlink, 2 + children, "nlink of {}", e.name);
            } else {
                assert_eq!(e.nlink, 1);
            }
        }
        let by_name = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        assert_eq!(by_name(".").nlink, 4); // bin, etc and the root's own two
        assert_eq!(by_name("link").mode, 0o120777);
        assert_eq!(by_name("link").data, b"bin/tool");
        assert_eq!(by_name("etc/sub2").mode, 0o040700);
        assert_eq!(by_name("etc/sub/deeper/x").mode, 0o100600);
        assert_eq!(by_name("bin/tool").data.len(), 300_000);
        assert_eq!(by_name("etc/a").data, b"abc");
    }

    #[test]
    fn deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path());
        let a = write_newc(&tree, MTIME, Vec::new()).unwrap();
        let b = write_newc(&tree, MTIME, Vec::new()).unwrap();
        assert_eq!(a, b);
        let c = write_newc(&tree, MTIME + 1, Vec::new()).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn empty_tree_is_root_and_trailer() {
        let archive = write_newc(&Tree::new(), 0, Vec::new()).unwrap();
        assert_eq!(archive.len(), 512);
        let entries = parse(&archive);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].mode, 0o040755);
        assert_eq!(entries[0].nlink, 2);
    }

    #[test]
    fn host_file_that_changed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("f");
        std::fs::write(&host, b"12345").unwrap();
        for recorded in [4, 6] {
            let mut tree = Tree::new();
            tree.insert(
                "f",
                Node::File { content: Content::Host(host.clone()), size: recorded, mode: FILE_MODE, link: None },
            )
            .unwrap();
            let err = write_newc(&tree, 0, Vec::new()).unwrap_err();
            let msg = format!("{err:#}");
            assert!(msg.contains("changed while reading") && msg.contains(&host.display().to_string()), "{msg}");
        }
    }

    #[test]
    fn gnu_cpio_lists_and_extracts() {
        assert!(Command::new("cpio").arg("--version").output().is_ok(), "GNU cpio is needed: apt-get install cpio");
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path());
        let archive_path = dir.path().join("initrd.cpio");
        let file = write_newc(&tree, MTIME, File::create(&archive_path).unwrap()).unwrap();
        drop(file);

        let list = Command::new("cpio").args(["-itv", "--quiet", "-F"]).arg(&archive_path).output().unwrap();
        assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
        let listing = String::from_utf8(list.stdout).unwrap();
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), tree.len() + 1, "{listing}");
        assert!(lines.iter().any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with(" bin/tool")), "{listing}");
        assert!(lines.iter().any(|l| l.starts_with("lrwxrwxrwx") && l.ends_with("link -> bin/tool")), "{listing}");
        assert!(lines.iter().all(|l| l.contains(" root ") || l.contains(" 0 ")), "{listing}");

        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        let extract = Command::new("cpio")
            .args(["-idm", "--quiet", "--no-absolute-filenames", "-F"])
            .arg(&archive_path)
            .current_dir(&dest)
            .output()
            .unwrap();
        assert!(extract.status.success(), "{}", String::from_utf8_lossy(&extract.stderr));
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        assert_eq!(std::fs::read(dest.join("bin/tool")).unwrap(), std::fs::read(dir.path().join("host-file")).unwrap());
        assert_eq!(std::fs::read(dest.join("etc/a")).unwrap(), b"abc");
        assert_eq!(std::fs::read(dest.join("etc/empty")).unwrap(), b"");
        assert_eq!(std::fs::read_link(dest.join("link")).unwrap(), Path::new("bin/tool"));
        let tool = std::fs::metadata(dest.join("bin/tool")).unwrap();
        assert_eq!(tool.permissions().mode() & 0o7777, 0o755);
        assert_eq!(tool.mtime(), i64::from(MTIME));
        let sub2 = std::fs::metadata(dest.join("etc/sub2")).unwrap();
        assert!(sub2.is_dir());
        assert_eq!(sub2.permissions().mode() & 0o7777, 0o700);
    }

    /// A tree with `usr/bin/perl`, `usr/bin/perl5` and `zz` as one file of
    /// 5000 bytes, and `usr/bin/other` whose link is shared with no one.
    fn linked_tree() -> Tree {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
        let (shared, alone) = (Link::new(), Link::new());
        let file = |link| Node::File { content: Content::Inline(data.clone()), size: 5000, mode: EXEC_MODE, link };
        let mut tree = Tree::new();
        for path in ["usr/bin/perl", "usr/bin/perl5", "zz"] {
            tree.insert(path, file(Some(shared))).unwrap();
        }
        tree.insert("usr/bin/other", file(Some(alone))).unwrap();
        tree
    }

    fn ino(header: &[u8]) -> u32 {
        hex(&header[6..14])
    }

    #[test]
    fn hard_links_share_an_inode_and_store_the_data_once_with_the_last() {
        let tree = linked_tree();
        let archive = write_newc(&tree, MTIME, Vec::new()).unwrap();
        let entries = parse(&archive);
        let by_name = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
        for (name, nlink, len) in
            [("usr/bin/perl", 3, 0), ("usr/bin/perl5", 3, 0), ("zz", 3, 5000), ("usr/bin/other", 1, 5000)]
        {
            assert_eq!((by_name(name).nlink, by_name(name).data.len()), (nlink, len), "{name}");
        }
        let header_of = |name: &str| {
            let at = archive.windows(name.len() + 1).position(|w| w == [name.as_bytes(), b"\0"].concat()).unwrap();
            &archive[at - HEADER_LEN..at]
        };
        let perl = ino(header_of("usr/bin/perl"));
        assert_eq!(ino(header_of("usr/bin/perl5")), perl);
        assert_eq!(ino(header_of("zz")), perl);
        assert_ne!(ino(header_of("usr/bin/other")), perl);
        // The data once for the three links, once for `other`; copies would store it four times.
        let Some(Node::File { content: Content::Inline(data), .. }) = tree.get("zz").cloned() else { unreachable!() };
        let count = |archive: &[u8]| archive.windows(data.len()).filter(|w| *w == data.as_slice()).count();
        assert_eq!(count(&archive), 2);
        let mut copies = linked_tree();
        for path in ["usr/bin/perl", "usr/bin/perl5", "zz"] {
            copies
                .replace(
                    path,
                    Node::File { content: Content::Inline(data.clone()), size: 5000, mode: EXEC_MODE, link: None },
                )
                .unwrap();
        }
        assert_eq!(count(&write_newc(&copies, MTIME, Vec::new()).unwrap()), 4);
    }

    #[test]
    fn gnu_cpio_extracts_hard_links_as_one_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let archive_path = dir.path().join("initrd.cpio");
        drop(write_newc(&linked_tree(), MTIME, File::create(&archive_path).unwrap()).unwrap());
        let list = Command::new("cpio").args(["-itv", "--quiet", "-F"]).arg(&archive_path).output().unwrap();
        assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
        let listing = String::from_utf8(list.stdout).unwrap();
        let links_of = |name: &str| {
            let line = listing.lines().find(|l| l.ends_with(&format!(" {name}"))).unwrap();
            line.split_whitespace().nth(1).unwrap().to_string()
        };
        assert_eq!(links_of("usr/bin/perl"), "3", "{listing}");
        assert_eq!(links_of("zz"), "3", "{listing}");
        assert_eq!(links_of("usr/bin/other"), "1", "{listing}");

        let dest = dir.path().join("out");
        std::fs::create_dir(&dest).unwrap();
        let extract = Command::new("cpio")
            .args(["-idm", "--quiet", "-F"])
            .arg(&archive_path)
            .current_dir(&dest)
            .output()
            .unwrap();
        assert!(extract.status.success(), "{}", String::from_utf8_lossy(&extract.stderr));
        let meta = |p: &str| std::fs::metadata(dest.join(p)).unwrap();
        let perl = meta("usr/bin/perl");
        assert_eq!((perl.nlink(), perl.len()), (3, 5000));
        assert_eq!(meta("usr/bin/perl5").ino(), perl.ino());
        assert_eq!(meta("zz").ino(), perl.ino());
        assert_ne!(meta("usr/bin/other").ino(), perl.ino());
        let Some(Node::File { content: Content::Inline(data), .. }) = linked_tree().get("zz").cloned() else {
            unreachable!()
        };
        assert_eq!(std::fs::read(dest.join("usr/bin/perl5")).unwrap(), data);
    }
}
