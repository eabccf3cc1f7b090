//! Where a finished image goes. An archive is written into a temporary file
//! beside its target and renamed into place at the end; standard output gets
//! a copy of a finished temporary file (the writer seeks back to fill in
//! headers); an OCI layout is built in a temporary directory beside its
//! target, which then replaces an existing layout. A failure leaves nothing
//! behind.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A file or directory path.
    Path(PathBuf),
    /// Standard output (tar formats only).
    Stdout,
}

/// Writes a one-file output: `write` fills a seekable, empty file, which
/// then becomes `out`.
pub fn file<T>(out: &Output, write: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    match out {
        Output::Path(path) => {
            let dir = parent_dir(path);
            let mut tmp = tempfile::Builder::new()
                .prefix(".bimanix-")
                .tempfile_in(&dir)
                .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
            let written = write(tmp.as_file_mut()).with_context(|| format!("writing {}", path.display()))?;
            // Temporary files are private; the finished archive is an ordinary file.
            tmp.as_file().set_permissions(fs::Permissions::from_mode(0o644))?;
            tmp.persist(path).with_context(|| format!("cannot move the finished archive to {}", path.display()))?;
            Ok(written)
        }
        Output::Stdout => {
            let mut tmp = tempfile::tempfile().context("cannot create a temporary file (check TMPDIR)")?;
            let written = write(&mut tmp)?;
            tmp.seek(SeekFrom::Start(0))?;
            let stdout = io::stdout();
            let mut lock = stdout.lock();
            io::copy(&mut tmp, &mut lock).context("writing to standard output")?;
            lock.flush().context("writing to standard output")?;
            Ok(written)
        }
    }
}

/// Writes an OCI layout directory: `write` fills an empty directory built
/// beside `dir`, which then replaces `dir`. An existing OCI layout at `dir`
/// is replaced; anything else there is refused.
pub fn directory<T>(dir: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    if dir.exists() && !dir.join("oci-layout").is_file() {
        bail!("{} exists and is not an OCI layout; refusing to replace it", dir.display());
    }
    let parent = parent_dir(dir);
    let tmp = tempfile::Builder::new()
        .prefix(".bimanix-")
        .tempdir_in(&parent)
        .with_context(|| format!("cannot create a temporary directory in {}", parent.display()))?;
    let written = write(tmp.path())?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    let kept = tmp.keep();
    fs::rename(&kept, dir).with_context(|| format!("cannot move the finished layout to {}", dir.display()))?;
    Ok(written)
}

/// The directory a path is in (`.` for a bare name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
