//! A deterministic tar writer.
//!
//! Every header field is set here, from the entry alone: uid/gid 0, empty
//! user and group names, one fixed mtime, no PAX records. Names that do not
//! fit ustar's name/prefix fields use GNU long-name entries, which are
//! deterministic and which every consumer we target reads. Names and link
//! targets are bytes, as in a Linux file system: any of them goes in,
//! whatever its length or encoding (only NUL, which no file name holds, is
//! refused). A file of the tree that shares a `Link` with a path written
//! before it is a hard-link entry to that path, so its data is stored once.

use std::io::Write;

use anyhow::{Context, Result, bail};
use bstr::ByteSlice;

use crate::model::fstree::{COPY_BUFFER, Content};

/// The size of a tar block.
pub const BLOCK: u64 = 512;

/// The kind of a tar entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hard link to a file written earlier in the archive.
    HardLink,
}

/// Writes tar entries to `W`, counting the bytes written.
pub struct TarWriter<W: Write> {
    out: W,
    mtime: u64,
    written: u64,
    /// Reused for every streamed file; allocated on the first one.
    buf: Vec<u8>,
}

impl<W: Write> TarWriter<W> {
    /// A writer whose entries all carry `mtime` (seconds since the epoch).
    pub fn new(out: W, mtime: u64) -> TarWriter<W> {
        TarWriter { out, mtime, written: 0, buf: Vec::new() }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes a directory entry; `path` is relative, without a trailing `/`.
    pub fn dir(&mut self, path: &(impl AsRef<[u8]> + ?Sized), mode: u32) -> Result<()> {
        let mut name = path.as_ref().to_vec();
        name.push(b'/');
        self.headers(&name, EntryType::Dir, mode, 0, b"")
    }

    /// Writes a symbolic link entry.
    pub fn symlink(&mut self, path: &(impl AsRef<[u8]> + ?Sized), target: &(impl AsRef<[u8]> + ?Sized)) -> Result<()> {
        self.headers(path.as_ref(), EntryType::Symlink, 0o777, 0, target.as_ref())
    }

    /// Writes a hard link to `target`, a file written before it (both are
    /// relative paths); it carries the file's `mode`, and no data.
    pub fn hard_link(
        &mut self,
        path: &(impl AsRef<[u8]> + ?Sized),
        mode: u32,
        target: &(impl AsRef<[u8]> + ?Sized),
    ) -> Result<()> {
        self.headers(path.as_ref(), EntryType::HardLink, mode, 0, target.as_ref())
    }

    /// Writes a regular file whose bytes are in memory.
    pub fn file_bytes(&mut self, path: &(impl AsRef<[u8]> + ?Sized), mode: u32, data: &[u8]) -> Result<()> {
        self.headers(path.as_ref(), EntryType::File, mode, data.len() as u64, b"")?;
        self.raw(data)?;
        self.pad(data.len() as u64)
    }

    /// Writes a regular file of a tree, streaming its content; a host file
    /// whose size changed since the tree was made is an error.
    pub fn file(&mut self, path: &(impl AsRef<[u8]> + ?Sized), mode: u32, size: u64, content: &Content) -> Result<()> {
        let path = path.as_ref();
        self.headers(path, EntryType::File, mode, size, b"")?;
        if self.buf.is_empty() {
            self.buf = vec![0; COPY_BUFFER];
        }
        content.copy_to(size, path.as_bstr(), &mut self.out, &mut self.buf)?;
        self.written += size;
        self.pad(size)
    }

    /// Writes a regular file entry whose `size` bytes `body` puts straight
    /// into the underlying writer, for writers that move file contents
    /// faster than through a buffer. `body` must write exactly `size` bytes.
    pub fn file_with(
        &mut self,
        path: &(impl AsRef<[u8]> + ?Sized),
        mode: u32,
        size: u64,
        body: impl FnOnce(&mut W) -> Result<()>,
    ) -> Result<()> {
        self.headers(path.as_ref(), EntryType::File, mode, size, b"")?;
        body(&mut self.out)?;
        self.written += size;
        self.pad(size)
    }

    /// Ends the archive with two zero blocks and hands back the writer.
    pub fn finish(mut self) -> Result<W> {
        self.raw(&[0; 2 * BLOCK as usize])?;
        Ok(self.out)
    }

    /// Writes raw bytes (used for file data streamed by the caller).
    fn raw(&mut self, data: &[u8]) -> Result<()> {
        self.out.write_all(data).context("writing the tar stream")?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// Pads a data section of `size` bytes to the block size.
    fn pad(&mut self, size: u64) -> Result<()> {
        let rem = size % BLOCK;
        if rem != 0 {
            self.raw(&vec![0; (BLOCK - rem) as usize])?;
        }
        Ok(())
    }

    /// Writes the header for an entry, preceded by GNU long-name or
    /// long-link entries when the name or link target needs them.
    fn headers(&mut self, path: &[u8], kind: EntryType, mode: u32, size: u64, link: &[u8]) -> Result<()> {
        if path.contains(&0) || link.contains(&0) {
            bail!("{:?}: a NUL byte cannot be stored in a tar name", path.as_bstr());
        }
        if link.len() > 100 {
            self.long_entry(b'K', link)?;
        }
        let split = split_name(path);
        if split.is_none() {
            self.long_entry(b'L', path)?;
        }
        let (prefix, name) = split.unwrap_or((b"", &path[..path.len().min(100)]));
        let header = header(name, prefix, kind, mode, size, &link[..link.len().min(100)], self.mtime);
        self.raw(&header)
    }

    fn long_entry(&mut self, flag: u8, value: &[u8]) -> Result<()> {
        let mut data = value.to_vec();
        data.push(0);
        let mut h = header(b"././@LongLink", b"", EntryType::File, 0o644, data.len() as u64, b"", 0);
        h[156] = flag;
        set_checksum(&mut h);
        self.raw(&h)?;
        self.raw(&data)?;
        self.pad(data.len() as u64)
    }
}

/// Splits `path` into ustar's prefix (up to 155 bytes) and name (up to
/// 100 bytes) at a `/`, or returns `None` when it cannot be split. The
/// split is at a `/` byte, which never falls inside a UTF-8 character.
fn split_name(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= 100 {
        return Some((b"", path));
    }
    // The name part may end in '/' for directories, so never split there.
    let search_end = path.len() - 1;
    (0..search_end)
        .filter(|&i| path[i] == b'/')
        .filter(|&i| i <= 155 && path.len() - i - 1 <= 100)
        .map(|i| (&path[..i], &path[i + 1..]))
        .next()
}

/// Builds one 512-byte ustar header with every field fixed. `name` is at
/// most 100 bytes, `prefix` 155 and `link` 100.
pub fn header(
    name: &(impl AsRef<[u8]> + ?Sized),
    prefix: &(impl AsRef<[u8]> + ?Sized),
    kind: EntryType,
    mode: u32,
    size: u64,
    link: &(impl AsRef<[u8]> + ?Sized),
    mtime: u64,
) -> [u8; 512] {
    let (name, prefix, link) = (name.as_ref(), prefix.as_ref(), link.as_ref());
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    numeric(&mut h[124..136], size);
    numeric(&mut h[136..148], mtime);
    h[156] = match kind {
        EntryType::File => b'0',
        EntryType::Dir => b'5',
        EntryType::Symlink => b'2',
        EntryType::HardLink => b'1',
    };
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix);
    set_checksum(&mut h);
    h
}

/// Writes `v` as zero-padded octal with a NUL terminator.
fn octal(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    let s = format!("{v:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

/// Writes `v` in octal when it fits, else in GNU base-256 (for sizes of
/// 8 GiB and more, which block images can reach).
fn numeric(field: &mut [u8], v: u64) {
    let digits = field.len() - 1;
    if v < 1u64 << (3 * digits) {
        octal(field, v);
    } else {
        field.fill(0);
        field[0] = 0x80;
        let n = field.len();
        for (i, b) in v.to_be_bytes().iter().enumerate() {
            field[n - 8 + i] = *b;
        }
    }
}

fn set_checksum(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_back(bytes: &[u8]) -> Vec<(String, u8, u64, String, u32, u64)> {
        let mut ar = tar::Archive::new(bytes);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    h.entry_type().as_byte(),
                    h.size().unwrap(),
                    link,
                    h.mode().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn entries_read_back_with_fixed_fields() {
        let mut w = TarWriter::new(Vec::new(), 1700000000);
        w.dir("a", 0o755).unwrap();
        w.file_bytes("a/f", 0o644, b"hello").unwrap();
        w.symlink("a/l", "f").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 512, 0);
        let got = read_back(&bytes);
        assert_eq!(got[0], ("a/".into(), b'5', 0, String::new(), 0o755, 1700000000));
        assert_eq!(got[1], ("a/f".into(), b'0', 5, String::new(), 0o644, 1700000000));
        assert_eq!(got[2], ("a/l".into(), b'2', 0, "f".into(), 0o777, 1700000000));
        let mut ar = tar::Archive::new(&bytes[..]);
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!((e.header().uid().unwrap(), e.header().gid().unwrap()), (0, 0));
        }
    }

    #[test]
    fn long_names_and_targets() {
        let deep = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        let huge = "x/".repeat(150) + "end";
        let target = "t".repeat(150);
        let mut w = TarWriter::new(Vec::new(), 0);
        w.file_bytes(&deep, 0o755, b"1").unwrap();
        w.file_bytes(&huge, 0o644, b"22").unwrap();
        w.symlink("s", &target).unwrap();
        let got = read_back(&w.finish().unwrap());
        assert_eq!(got[0].0, deep);
        assert_eq!(got[1].0, huge);
        assert_eq!(got[1].2, 2);
        assert_eq!(got[2].3, target);
    }

    /// Writes every path as a directory, a file and a symlink to `target`,
    /// and checks that the `tar` crate reads each back as written.
    fn round_trip(paths: &[Vec<u8>], target: impl Fn(usize) -> Vec<u8>) {
        let mut w = TarWriter::new(Vec::new(), 0);
        for (i, p) in paths.iter().enumerate() {
            w.dir(p, 0o755).unwrap();
            w.file_bytes(p, 0o644, b"x").unwrap();
            w.symlink(p, &target(i)).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut ar = tar::Archive::new(&bytes[..]);
        let mut entries = ar.entries().unwrap();
        for (i, p) in paths.iter().enumerate() {
            let mut dir = p.clone();
            dir.push(b'/');
            for (want, link) in [(&dir, None), (p, None), (p, Some(target(i)))] {
                let e = entries.next().expect("an entry is missing").unwrap();
                assert_eq!(&e.path_bytes()[..], &want[..], "path {:?}", p.as_bstr());
                assert_eq!(e.link_name_bytes().map(|l| l.into_owned()), link, "link of {:?}", p.as_bstr());
            }
        }
        assert!(entries.next().is_none());
    }

    #[test]
    fn any_split_of_any_characters_round_trips() {
        // One- to four-byte characters and a byte that is not UTF-8, with
        // the `/` at every place, around the 100- and 155-byte fields.
        for unit in ["a", "é", "漢", "𝄞"].map(|u| u.as_bytes().to_vec()).into_iter().chain([vec![0xe9]]) {
            let mut paths = Vec::new();
            for n in 1..=90 {
                let whole: Vec<u8> = unit.repeat(n);
                paths.push(whole.clone());
                for at in 1..n {
                    paths.push([&whole[..at * unit.len()], b"/", &whole[at * unit.len()..]].concat());
                }
            }
            round_trip(&paths, |i| unit.repeat(i % 120 + 1));
        }
    }

    #[test]
    fn link_targets_of_every_length_round_trip() {
        let paths: Vec<Vec<u8>> = (1..=300).map(|n| format!("l{n}").into_bytes()).collect();
        round_trip(&paths, |i| "t".repeat(i + 1).into_bytes());
        round_trip(&paths, |i| "漢".repeat(i / 3 + 1).into_bytes());
    }

    #[test]
    fn random_linux_paths_round_trip() {
        // A deterministic generator: names of 1 to 255 bytes of anything but
        // NUL and `/`, up to 16 deep; targets of 1 to 4095 such bytes.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        let byte = |next: &mut dyn FnMut(usize) -> usize| match next(4) {
            0 => b'a' + next(26) as u8,
            1 => "é漢𝄞".as_bytes()[next(9)],
            _ => (next(254) + 1) as u8,
        };
        let mut paths = Vec::new();
        let mut targets = Vec::new();
        for _ in 0..400 {
            let depth = next(16) + 1;
            let mut path = Vec::new();
            for d in 0..depth {
                if d > 0 {
                    path.push(b'/');
                }
                let len = if next(4) == 0 { 255 } else { next(255) + 1 };
                path.extend((0..len).map(|_| byte(&mut next)).map(|b| if b == b'/' { b'_' } else { b }));
            }
            let len = next(4095) + 1;
            targets.push((0..len).map(|_| byte(&mut next)).collect::<Vec<u8>>());
            paths.push(path);
        }
        round_trip(&paths, |i| targets[i].clone());
    }

    #[test]
    fn nul_bytes_are_refused() {
        let mut w = TarWriter::new(Vec::new(), 0);
        assert!(w.file_bytes(b"a\0b", 0o644, b"").is_err());
        assert!(w.symlink("l", b"a\0b").is_err());
    }

    #[test]
    fn sizes_past_8_gib_use_base_256() {
        let mut f = [0u8; 12];
        numeric(&mut f, 9 << 30);
        assert_eq!(f[0], 0x80);
        assert_eq!(u64::from_be_bytes(f[4..].try_into().unwrap()), 9 << 30);
        numeric(&mut f, 0o77777777777);
        assert_eq!(&f, b"77777777777\0");
    }

    #[test]
    fn short_or_long_sources_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (short, long) = (dir.path().join("short"), dir.path().join("long"));
        std::fs::write(&short, b"short").unwrap();
        std::fs::write(&long, b"long").unwrap();
        let mut w = TarWriter::new(Vec::new(), 0);
        assert!(w.file("f", 0o644, 10, &Content::Host(short)).is_err());
        let mut w = TarWriter::new(Vec::new(), 0);
        assert!(w.file("f", 0o644, 2, &Content::Host(long)).is_err());
    }
}
