//! Where bimanix has seen blobs: which repositories of which registries
//! held which blobs after its pushes, so that a push to another repository
//! of the same registry can mount them instead of uploading them again;
//! and what the layers push encoded became (the layer's digest as stored
//! and the compression, to the encoded blob's digest and size), so that a
//! later push names an encoded layer without encoding it again, and encodes
//! it only when a registry must be sent its bytes.
//! The record is a small JSON file in the user's cache directory
//! (`$XDG_CACHE_HOME/bimanix/blobs.json`, else `~/.cache/bimanix/`): safe
//! to delete (a push then uploads, as the first time), bounded (the newest
//! [`MAX_RECORDS`] records of each kind are kept), read with a cap, written
//! whole to a temporary file that replaces it. A wrong blob record costs one
//! refused mount; a wrong encoding is found when the layer is encoded for an
//! upload, and fails that push before anything is uploaded.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::reference::check_name;

/// The most records kept of each kind (about 150 and 250 bytes each).
pub const MAX_RECORDS: usize = 4096;
/// The largest file read.
const MAX_FILE: u64 = 4 << 20;
/// The file's version, so that a later format is not misread.
const VERSION: u32 = 1;

/// One blob seen in one repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    /// `host[:port]`, as references name the registry.
    registry: String,
    repository: String,
    digest: String,
}

/// One layer encoded by a push: the layer as the image stores it, the
/// compression, and the blob that came out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoding {
    /// The layer's digest as stored in the image.
    pub source: String,
    /// `gzip` or `zstd` ([`Compression::name`](crate::imageread::Compression::name)).
    pub compression: String,
    /// The encoded blob's digest.
    pub digest: String,
    /// The encoded blob's size.
    pub size: u64,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    /// Oldest first.
    blobs: Vec<Record>,
    /// Oldest first; absent from the files of bimanix before it remembered encodings.
    #[serde(default)]
    encoded: Vec<Encoding>,
}

/// The blobs seen and the layers encoded, oldest first, and where they are kept.
#[derive(Debug, Default)]
pub struct Seen {
    path: Option<PathBuf>,
    records: Vec<Record>,
    encodings: Vec<Encoding>,
    changed: bool,
}

/// `$XDG_CACHE_HOME/bimanix/blobs.json`, else `$HOME/.cache/bimanix/blobs.json`.
pub fn default_path() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let base = std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| std::env::var_os("HOME").and_then(absolute).map(|h| h.join(".cache")))?;
    Some(base.join("bimanix").join("blobs.json"))
}

impl Seen {
    /// Reads the record at `path` (none yet is an empty record). A file
    /// that cannot be read is set aside with the reason (a warning for the
    /// caller) and replaced when the push saves.
    pub fn load(path: Option<PathBuf>) -> (Seen, Option<String>) {
        let Some(at) = path.clone() else { return (Seen::default(), None) };
        match read(&at) {
            Ok((records, encodings)) => (Seen { path, records, encodings, changed: false }, None),
            Err(e) => (Seen { path, ..Seen::default() }, Some(format!("{e:#}"))),
        }
    }

    /// Where the record is kept.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The repositories of `registry` where `digest` was seen, the newest first.
    pub fn sources(&self, registry: &str, digest: &str) -> Vec<String> {
        let found = self.records.iter().rev().filter(|r| r.registry == registry && r.digest == digest);
        found.map(|r| r.repository.clone()).collect()
    }

    /// Notes that `repository` of `registry` holds `digest` (as the newest record).
    pub fn record(&mut self, registry: &str, repository: &str, digest: &str) {
        let record = Record { registry: registry.into(), repository: repository.into(), digest: digest.into() };
        if self.records.last() == Some(&record) {
            return;
        }
        newest(&mut self.records, record);
        self.changed = true;
    }

    /// What the layer stored as `source` became when encoded with `compression` (a name).
    pub fn encoding(&self, source: &str, compression: &str) -> Option<&Encoding> {
        self.encodings.iter().rev().find(|e| e.source == source && e.compression == compression)
    }

    /// Notes what a layer became when encoded (as the newest record).
    pub fn remember(&mut self, encoding: Encoding) {
        if self.encodings.last() == Some(&encoding) {
            return;
        }
        self.encodings.retain(|e| !(e.source == encoding.source && e.compression == encoding.compression));
        newest(&mut self.encodings, encoding);
        self.changed = true;
    }

    /// Drops what the record says the layer stored as `source` becomes
    /// with `compression` (found wrong).
    pub fn forget(&mut self, source: &str, compression: &str) {
        let before = self.encodings.len();
        self.encodings.retain(|e| !(e.source == source && e.compression == compression));
        self.changed |= self.encodings.len() != before;
    }

    /// Writes the record back, when it changed: a temporary file in the
    /// same directory (mode 0600, the directory 0700), renamed over it.
    pub fn save(&self) -> Result<()> {
        let (Some(path), true) = (&self.path, self.changed) else { return Ok(()) };
        let dir = path.parent().context("the cache file has no directory")?;
        create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let file = File { version: VERSION, blobs: self.records.clone(), encoded: self.encodings.clone() };
        let mut temp = tempfile::Builder::new()
            .prefix(".blobs-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write into {}", dir.display()))?;
        serde_json::to_writer(&mut temp, &file)?;
        temp.write_all(b"\n")?;
        temp.as_file().sync_all()?;
        temp.persist(path).with_context(|| format!("cannot replace {}", path.display()))?;
        Ok(())
    }
}

/// Appends `item` to `list` (oldest first), keeping the newest [`MAX_RECORDS`].
fn newest<T: PartialEq>(list: &mut Vec<T>, item: T) {
    list.retain(|i| *i != item);
    list.push(item);
    list.drain(..list.len().saturating_sub(MAX_RECORDS));
}

/// The records and encodings of the file at `path`, those that make
/// sense; none when there is no file yet.
fn read(path: &Path) -> Result<(Vec<Record>, Vec<Encoding>)> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    if !file.metadata()?.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let mut text = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        bail!("{} is larger than {} MiB; it is not what bimanix writes", path.display(), MAX_FILE >> 20);
    }
    let file: File = serde_json::from_slice(&text).with_context(|| format!("{} is not a blob record", path.display()))?;
    if file.version != VERSION {
        bail!("{} is of version {}, not {VERSION}", path.display(), file.version);
    }
    let mut records: Vec<Record> = file.blobs.into_iter().filter(sensible).collect();
    records.drain(..records.len().saturating_sub(MAX_RECORDS));
    let mut encodings: Vec<Encoding> = file.encoded.into_iter().filter(sensible_encoding).collect();
    encodings.drain(..encodings.len().saturating_sub(MAX_RECORDS));
    Ok((records, encodings))
}

/// Whether `digest` is a sha256 digest, as push names blobs.
fn is_digest(digest: &str) -> bool {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether an encoding is one a push could have written: two sha256
/// digests and a compression that encodes.
fn sensible_encoding(e: &Encoding) -> bool {
    is_digest(&e.source) && is_digest(&e.digest) && ["gzip", "zstd"].contains(&e.compression.as_str())
}

/// Whether a record names a blob as a push could have: a sha256 digest, a
/// repository by Docker's rules, a host.
fn sensible(r: &Record) -> bool {
    is_digest(&r.digest)
        && check_name(&r.repository).is_ok()
        && !r.registry.is_empty()
        && r.registry.len() <= 255
        && !r.registry.contains(['/', ' '])
}

/// Creates `dir` (and its parents), the last one readable by its owner alone.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: usize) -> String {
        format!("sha256:{n:064x}")
    }

    #[test]
    fn remembers_where_blobs_are_newest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/bimanix/blobs.json");
        let (mut seen, warning) = Seen::load(Some(path.clone()));
        assert!(warning.is_none() && seen.sources("r:5000", &digest(1)).is_empty());
        seen.record("r:5000", "a/x", &digest(1));
        seen.record("r:5000", "b/x", &digest(1));
        seen.record("other", "c/x", &digest(1));
        seen.save().unwrap();
        let (mut seen, _) = Seen::load(Some(path.clone()));
        assert_eq!(seen.sources("r:5000", &digest(1)), ["b/x", "a/x"]);
        seen.record("r:5000", "a/x", &digest(1));
        assert_eq!(seen.sources("r:5000", &digest(1)), ["a/x", "b/x"]);
        for n in 0..MAX_RECORDS + 10 {
            seen.record("r:5000", "a/x", &digest(100 + n));
        }
        seen.save().unwrap();
        let (seen, _) = Seen::load(Some(path.clone()));
        assert_eq!(seen.records.len(), MAX_RECORDS);
        assert!(seen.sources("r:5000", &digest(1)).is_empty(), "the oldest records went");
        assert_eq!(seen.sources("r:5000", &digest(100 + MAX_RECORDS + 9)), ["a/x"]);
        assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn a_broken_file_is_set_aside_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blobs.json");
        std::fs::write(&path, "{not json").unwrap();
        let (mut seen, warning) = Seen::load(Some(path.clone()));
        assert!(warning.unwrap().contains("is not a blob record"));
        seen.record("r", "a/x", &digest(1));
        seen.save().unwrap();
        assert_eq!(Seen::load(Some(path.clone())).0.sources("r", &digest(1)), ["a/x"]);
        let junk = r#"{"version":1,"blobs":[{"registry":"r","repository":"Bad Name","digest":"sha256:00"},
            {"registry":"r","repository":"a/x","digest":"md5:1"}]}"#;
        std::fs::write(&path, junk).unwrap();
        let (seen, warning) = Seen::load(Some(path));
        assert!(warning.is_none() && seen.records.is_empty());
    }

    fn encoding(n: usize, compression: &str) -> Encoding {
        Encoding { source: digest(n), compression: compression.into(), digest: digest(n + 1), size: n as u64 }
    }

    #[test]
    fn remembers_encodings_newest_first_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blobs.json");
        let (mut seen, _) = Seen::load(Some(path.clone()));
        seen.remember(encoding(1, "gzip"));
        seen.remember(encoding(1, "zstd"));
        seen.record("r", "a/x", &digest(2));
        seen.save().unwrap();
        let (mut seen, warning) = Seen::load(Some(path.clone()));
        assert!(warning.is_none());
        assert_eq!(seen.encoding(&digest(1), "gzip"), Some(&encoding(1, "gzip")));
        assert_eq!(seen.encoding(&digest(1), "zstd"), Some(&encoding(1, "zstd")));
        assert_eq!(seen.encoding(&digest(2), "gzip"), None);
        assert_eq!(seen.sources("r", &digest(2)), ["a/x"], "the blob records are kept beside");
        // A layer encoded again replaces what was remembered of it.
        seen.remember(Encoding { size: 7, ..encoding(1, "gzip") });
        assert_eq!(seen.encoding(&digest(1), "gzip").map(|e| e.size), Some(7));
        for n in 0..MAX_RECORDS + 10 {
            seen.remember(encoding(100 + n, "gzip"));
        }
        seen.save().unwrap();
        let (seen, _) = Seen::load(Some(path.clone()));
        assert_eq!(seen.encodings.len(), MAX_RECORDS);
        assert_eq!(seen.encoding(&digest(1), "zstd"), None, "the oldest encodings went");
        assert!(seen.encoding(&digest(100 + MAX_RECORDS + 9), "gzip").is_some());
        assert_eq!(seen.sources("r", &digest(2)), ["a/x"], "the blob records are bounded on their own");
        assert!(std::fs::metadata(&path).unwrap().len() < MAX_FILE);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn a_file_without_encodings_loads_and_a_stale_one_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blobs.json");
        let old =
            format!(r#"{{"version":1,"blobs":[{{"registry":"r","repository":"a/x","digest":"{}"}}]}}"#, digest(1));
        std::fs::write(&path, old).unwrap();
        let (mut seen, warning) = Seen::load(Some(path.clone()));
        assert!(warning.is_none() && seen.encodings.is_empty());
        assert_eq!(seen.sources("r", &digest(1)), ["a/x"]);
        seen.remember(encoding(3, "gzip"));
        seen.save().unwrap();
        let (mut seen, _) = Seen::load(Some(path.clone()));
        seen.forget(&digest(3), "zstd");
        assert!(!seen.changed, "nothing to forget");
        seen.forget(&digest(3), "gzip");
        seen.save().unwrap();
        let (seen, _) = Seen::load(Some(path.clone()));
        assert_eq!((seen.encoding(&digest(3), "gzip"), seen.sources("r", &digest(1)).len()), (None, 1));
        let junk = format!(
            r#"{{"version":1,"blobs":[],"encoded":[{{"source":"{0}","compression":"none","digest":"{0}","size":1}},
               {{"source":"sha256:1","compression":"gzip","digest":"{0}","size":1}}]}}"#,
            digest(1)
        );
        std::fs::write(&path, junk).unwrap();
        let (seen, warning) = Seen::load(Some(path));
        assert!(warning.is_none() && seen.encodings.is_empty(), "encodings that make no sense are dropped");
    }
}
