//! Where blobs come from: a directory, a directory whose blobs are named
//! by path (an image described in the Nix store), or a tar indexed once by
//! entry name and then read by random access; and the decompressors (gzip,
//! multi-frame zstd) told from a blob's first bytes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Compression, MAX_ARCHIVE_ENTRIES, MAX_JSON, MAX_LINKS};
use anyhow::{Context, Result, anyhow, bail};
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use tar::EntryType;

/// A directory, or a tar file indexed by entry name.
#[derive(Debug)]
pub(super) enum Source {
    Dir(PathBuf),
    /// A layout directory some of whose files (by name) are elsewhere: the
    /// blobs of an image described in the store, at their store paths.
    Mapped {
        root: PathBuf,
        files: BTreeMap<String, PathBuf>,
    },
    Tar {
        file: File,
        entries: BTreeMap<String, TarItem>,
    },
}

#[derive(Clone, Debug)]
pub(super) enum TarItem {
    Data { offset: u64, size: u64 },
    Link(String),
}

impl Source {
    /// The OCI layout directory at `path`, by its canonical path: the
    /// directory its blobs must be inside.
    pub(super) fn dir(path: &Path) -> Result<Source> {
        let root = std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))?;
        Ok(Source::Dir(root))
    }

    /// The layout directory `path` whose files named in `files` are at
    /// the paths given there, which are trusted as they are.
    pub(super) fn mapped(path: &Path, files: BTreeMap<String, PathBuf>) -> Result<Source> {
        let root = std::fs::canonicalize(path).with_context(|| format!("cannot resolve {}", path.display()))?;
        Ok(Source::Mapped { root, files })
    }

    /// Indexes the tar at `path`, decompressing it first when the whole
    /// archive is compressed.
    pub(super) fn open_tar(path: &Path) -> Result<(Source, Compression)> {
        let file = crate::model::hostfile::open_regular(path)?;
        let mut head = [0u8; 4];
        let got = file.read_at(&mut head, 0).context("cannot read it")?;
        let compression = Compression::sniff(head.get(..got).unwrap_or_default());
        let file = if compression == Compression::None {
            file
        } else {
            let mut plain = tempfile::tempfile().context("cannot create a temporary file")?;
            let size = file.metadata().context("cannot read it")?.len();
            let mut decoder = decompressor(compression, BufReader::new(file), size);
            spool(&mut decoder, &mut plain)
                .with_context(|| format!("cannot decompress the {}-compressed archive", compression.name()))?;
            plain
        };
        let entries = index_tar(&file)?;
        Ok((Source::Tar { file, entries }, compression))
    }

    /// Another handle on the same directory or indexed tar.
    pub(super) fn try_clone(&self) -> Result<Source> {
        Ok(match self {
            Source::Dir(root) => Source::Dir(root.clone()),
            Source::Mapped { root, files } => Source::Mapped { root: root.clone(), files: files.clone() },
            Source::Tar { file, entries } => {
                Source::Tar { file: file.try_clone().context("cannot reopen the archive")?, entries: entries.clone() }
            }
        })
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        match self {
            Source::Dir(root) => root.join(name).is_file(),
            Source::Mapped { root, files } => files.contains_key(name) || root.join(name).is_file(),
            Source::Tar { entries, .. } => entries.contains_key(name),
        }
    }

    /// Opens the blob or file `name` (a clean relative path) and gives its size.
    pub(super) fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)> {
        match self {
            Source::Dir(root) | Source::Mapped { root, .. } => {
                let path = match self {
                    Source::Mapped { files, .. } if files.contains_key(name) => files[name].clone(),
                    _ => inside(root, name)?,
                };
                let file = crate::model::hostfile::open_regular(&path)
                    .with_context(|| format!("{name} is missing or unreadable"))?;
                let size = file.metadata().with_context(|| format!("cannot stat {name}"))?.len();
                Ok((Box::new(BufReader::with_capacity(1 << 16, file)), size))
            }
            Source::Tar { file, entries } => {
                let mut current = name.to_string();
                for _ in 0..MAX_LINKS {
                    match entries.get(&current) {
                        None if current == name => bail!("{name} is missing from the archive"),
                        None => bail!("{name} is a link to {current}, which is missing from the archive"),
                        Some(TarItem::Link(target)) => current = target.clone(),
                        Some(TarItem::Data { offset, size }) => {
                            let section = Section { file, pos: *offset, end: offset.saturating_add(*size) };
                            return Ok((Box::new(BufReader::with_capacity(1 << 16, section)), *size));
                        }
                    }
                }
                bail!("{name}: more than {MAX_LINKS} links to follow in the archive")
            }
        }
    }

    pub(super) fn size(&self, name: &str) -> Result<u64> {
        Ok(self.open(name)?.1)
    }

    /// Reads a small document (JSON) whole.
    pub(super) fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let (reader, size) = self.open(name)?;
        if size > MAX_JSON {
            bail!("{name} is {size} bytes, too large for a JSON document (at most {MAX_JSON})");
        }
        let mut bytes = Vec::new();
        reader.take(MAX_JSON).read_to_end(&mut bytes).with_context(|| format!("cannot read {name}"))?;
        Ok(bytes)
    }

    pub(super) fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.read_small(name)?;
        serde_json::from_slice(&bytes).with_context(|| format!("{name} is not the JSON document expected"))
    }
}

/// The path of `name` in the layout directory `root` (canonical), with
/// every link resolved: a link may point within the layout, but a blob
/// (or `blobs/sha256` itself) that leads out of it is refused, even when
/// what it points at has the right digest: a layout hands over its own
/// files and nothing else on the machine.
fn inside(root: &Path, name: &str) -> Result<PathBuf> {
    let path = root.join(name);
    let real = match std::fs::canonicalize(&path) {
        Ok(real) => real,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(path),
        Err(e) => return Err(e).with_context(|| format!("cannot resolve {name} in {}", root.display())),
    };
    if !real.starts_with(root) {
        bail!(
            "{name} leads out of the layout {} (to {}); a layout's files must be inside it",
            root.display(),
            real.display()
        );
    }
    Ok(real)
}

/// Decompresses a whole archive into the unnamed file `plain`, which it
/// reads by random access, without filling the file system `plain` is on
/// (TMPDIR): a few megabytes of gzip can hold gigabytes of zeros. The
/// decoder stops at its expansion bound; this stops at half the free space.
fn spool(decoder: &mut dyn Read, plain: &mut File) -> Result<()> {
    let stat = rustix::fs::fstatvfs(&*plain).context("cannot tell the free space in TMPDIR")?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let limit = free / 2;
    let copied = io::copy(&mut decoder.take(limit + 1), plain)?;
    if copied > limit {
        bail!(
            "it decompresses to more than the {} MiB that TMPDIR can spare (half its free space); decompress it \
             where there is room and use the plain archive",
            limit >> 20
        );
    }
    Ok(())
}

/// Scans a tar once, recording where each file's bytes are.
pub(super) fn index_tar(mut file: &File) -> Result<BTreeMap<String, TarItem>> {
    file.rewind()?;
    // The tar crate's own message quotes raw header bytes; say it plainly.
    let not_tar = |_| anyhow!("it is not a tar archive (nor an OCI layout directory)");
    let mut archive = tar::Archive::new(file);
    let mut entries = BTreeMap::new();
    for entry in archive.entries_with_seek().map_err(not_tar)? {
        let entry = entry.map_err(not_tar)?;
        if entries.len() >= MAX_ARCHIVE_ENTRIES {
            bail!("the archive holds more than {MAX_ARCHIVE_ENTRIES} entries; an image archive holds a few per layer");
        }
        let raw = entry.path_bytes();
        let Some(name) = std::str::from_utf8(&raw).ok().and_then(|p| join_clean("", p)) else {
            continue;
        };
        let link = || entry.link_name_bytes().and_then(|l| String::from_utf8(l.into_owned()).ok());
        let item = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => {
                TarItem::Data { offset: entry.raw_file_position(), size: entry.size() }
            }
            EntryType::Symlink => {
                let Some(target) = link() else { continue };
                let base = if target.starts_with('/') { "" } else { parent_of(&name) };
                let Some(target) = join_clean(base, &target) else {
                    continue;
                };
                TarItem::Link(target)
            }
            EntryType::Link => {
                let Some(target) = link().and_then(|t| join_clean("", &t)) else {
                    continue;
                };
                TarItem::Link(target)
            }
            _ => continue,
        };
        entries.insert(name, item);
    }
    Ok(entries)
}

/// `base/rel` with `.` and `..` resolved and no leading `/`; `None` when it
/// is empty or climbs above the root.
pub(super) fn join_clean(base: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            name => parts.push(name),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

pub(super) fn parent_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

/// A byte range of a shared file, read with `pread` so that several readers
/// can use one file at once.
pub(super) struct Section<'a> {
    pub(super) file: &'a File,
    pub(super) pos: u64,
    pub(super) end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..want], self.pos)?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive is truncated"));
        }
        self.pos += got as u64;
        Ok(got)
    }
}

// ---------------------------------------------------------------------------
// Decompression.

/// Tells the compression of `raw` (`size` bytes) from its first bytes and
/// decompresses it.
pub(super) fn decompress<'a>(mut raw: impl Read + 'a, size: u64) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let mut head = Vec::with_capacity(4);
    (&mut raw).take(4).read_to_end(&mut head)?;
    let compression = Compression::sniff(&head);
    let whole = io::Cursor::new(head).chain(raw);
    Ok((compression, decompressor(compression, whole, size)))
}

/// A decoder of `raw`, `size` bytes compressed with `compression`, which
/// fails once it has given more than [`expansion_limit`] bytes.
pub(super) fn decompressor<'a>(compression: Compression, raw: impl Read + 'a, size: u64) -> Box<dyn Read + 'a> {
    let decoder: Box<dyn Read + 'a> = match compression {
        Compression::None => return Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            Box::new(ZstdFrames { source: BufReader::new(raw), decoder: FrameDecoder::new(), in_frame: false })
        }
    };
    let (limit, ratio) = expansion_limit(size);
    Box::new(Bounded { inner: decoder, given: 0, limit, ratio, size })
}

/// How many times its compressed size a stream may expand, unless
/// `BIMANIX_MAX_EXPANSION` says otherwise: layers of real images expand 2
/// to 10 times, a file system image with room to spare perhaps 100 times;
/// a gzip bomb 1000 times, a zstd one without end.
pub const MAX_EXPANSION: u64 = 256;

/// Any stream may expand to this much, whatever its compressed size.
pub const EXPANSION_FLOOR: u64 = 1 << 30;

/// The most bytes a stream of `size` compressed bytes may give, and the
/// ratio in force: `BIMANIX_MAX_EXPANSION` (else [`MAX_EXPANSION`]) times
/// `size`, and at least [`EXPANSION_FLOOR`].
pub fn expansion_limit(size: u64) -> (u64, u64) {
    let ratio = std::env::var("BIMANIX_MAX_EXPANSION").ok().and_then(|r| r.parse().ok()).unwrap_or(MAX_EXPANSION);
    (size.saturating_mul(ratio).max(EXPANSION_FLOOR), ratio)
}

/// A decoder that fails once it has given more than `limit` bytes.
struct Bounded<'a> {
    inner: Box<dyn Read + 'a>,
    given: u64,
    limit: u64,
    ratio: u64,
    size: u64,
}

impl Read for Bounded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.given += got as u64;
        if self.given > self.limit {
            return Err(io::Error::other(format!(
                "it expands past {} MiB, the most bimanix decompresses from {} compressed bytes (the larger of {} \
                 MiB and {} times the compressed size): a decompression bomb? To allow more, set \
                 BIMANIX_MAX_EXPANSION to a larger ratio",
                self.limit >> 20,
                self.size,
                EXPANSION_FLOOR >> 20,
                self.ratio
            )));
        }
        Ok(got)
    }
}

/// A zstd stream of any number of frames, skipping skippable frames (as
/// zstd:chunked layers have); ruzstd's own reader stops after one frame.
pub(super) struct ZstdFrames<R: Read> {
    pub(super) source: BufReader<R>,
    pub(super) decoder: FrameDecoder,
    pub(super) in_frame: bool,
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                    self.decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(io::Error::other)?;
                }
                let got = self.decoder.read(buf)?;
                if got > 0 {
                    return Ok(got);
                }
                self.in_frame = false;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                    let skipped = io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated zstd skippable frame"));
                    }
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }
}
