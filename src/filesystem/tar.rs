//! A deterministic tar writer.
//!
//! Every header field is set here, from the entry alone: uid/gid 0, empty
//! user and group names, one fixed mtime, no PAX records. Names that do not
//! fit ustar's name/prefix fields use GNU long-name entries, which are
//! deterministic and which every consumer we target reads.

use std::io::Write;

use anyhow::{Context, Result};

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
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.headers(&format!("{path}/"), EntryType::Dir, mode, 0, "")
    }

    /// Writes a symbolic link entry.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.headers(path, EntryType::Symlink, 0o777, 0, target)
    }

    /// Writes a regular file whose bytes are in memory.
    pub fn file_bytes(&mut self, path: &str, mode: u32, data: &[u8]) -> Result<()> {
        self.headers(path, EntryType::File, mode, data.len() as u64, "")?;
        self.raw(data)?;
        self.pad(data.len() as u64)
    }

    /// Writes a regular file of a tree, streaming its content; a host file
    /// whose size changed since the tree was made is an error.
    pub fn file(&mut self, path: &str, mode: u32, size: u64, content: &Content) -> Result<()> {
        self.headers(path, EntryType::File, mode, size, "")?;
        if self.buf.is_empty() {
            self.buf = vec![0; COPY_BUFFER];
        }
        content.copy_to(size, path, &mut self.out, &mut self.buf)?;
        self.written += size;
        self.pad(size)
    }

    /// Writes a regular file entry whose `size` bytes `body` puts straight
    /// into the underlying writer, for writers that move file contents
    /// faster than through a buffer. `body` must write exactly `size` bytes.
    pub fn file_with(
        &mut self,
        path: &str,
        mode: u32,
        size: u64,
        body: impl FnOnce(&mut W) -> Result<()>,
    ) -> Result<()> {
        self.headers(path, EntryType::File, mode, size, "")?;
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
    fn headers(&mut self, path: &str, kind: EntryType, mode: u32, size: u64, link: &str) -> Result<()> {
        if link.len() > 100 {
            self.long_entry(b'K', link)?;
        }
        let split = split_name(path);
        if split.is_none() {
            self.long_entry(b'L', path)?;
        }
        let (prefix, name) = split.unwrap_or(("", truncate(path, 100)));
        let header = header(name, prefix, kind, mode, size, truncate(link, 100), self.mtime);
        self.raw(&header)
    }

    fn long_entry(&mut self, flag: u8, value: &str) -> Result<()> {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        let mut h = header("././@LongLink", "", EntryType::File, 0o644, data.len() as u64, "", 0);
        h[156] = flag;
        set_checksum(&mut h);
        self.raw(&h)?;
        self.raw(&data)?;
        self.pad(data.len() as u64)
    }
}

/// Splits `path` into ustar's prefix (up to 155 bytes) and name (up to
/// 100 bytes) at a `/`, or returns `None` when it cannot be split.
fn split_name(path: &str) -> Option<(&str, &str)> {
    if path.len() <= 100 {
        return Some(("", path));
    }
    // The name part may end in '/' for directories, so never split there.
    let search_end = path.len().saturating_sub(1);
    path[..search_end]
        .match_indices('/')
        .map(|(i, _)| i)
        .filter(|&i| i <= 155 && path.len() - i - 1 <= 100)
        .map(|i| (&path[..i], &path[i + 1..]))
        .next()
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Builds one 512-byte ustar header with every field fixed.
pub fn header(name: &str, prefix: &str, kind: EntryType, mode: u32, size: u64, link: &str, mtime: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    numeric(&mut h[124..136], size);
    numeric(&mut h[136..148], mtime);
    h[156] = match kind {
        EntryType::File => b'0',
        EntryType::Dir => b'5',
        EntryType::Symlink => b'2',
    };
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
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
