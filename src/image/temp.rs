//! Temporary files and directories that never outlive bimanix.
//!
//! A finished archive is written into an unnamed file (`O_TMPFILE`) in the
//! directory of its target and linked into place at the end, so that not
//! even SIGKILL leaves a partial file behind. Where the file system has no
//! unnamed files, and for the directory an OCI layout is built in, the
//! temporary gets a `.bimanix-` name that is registered here: dropping it
//! removes it, and so does a SIGINT, SIGTERM or SIGHUP once
//! [`remove_on_signals`] is installed. Moves into place run under
//! [`commit`], which a signal waits for, so that an interrupted replacement
//! never leaves a half-moved output.
//!
//! Named temporaries carry the process id (`.bimanix-layout-PID-...`), so
//! that one left by a process killed with SIGKILL is recognised and removed
//! by the next bimanix that writes into the same directory.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use anyhow::{Context, Result};
use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

/// Named temporaries that exist now, removed by the signal handler.
static NAMED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Held while a temporary is moved into place; a signal waits for it.
static COMMIT: Mutex<()> = Mutex::new(());

/// Makes the names of temporaries this process links into place unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Removes every named temporary on SIGINT, SIGTERM or SIGHUP, then ends
/// the process as the signal would have. Call once, before writing.
pub fn remove_on_signals() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]).context("cannot install signal handlers")?;
    std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Never unlocked: the process ends while holding both.
                let _commit = COMMIT.lock().unwrap_or_else(PoisonError::into_inner);
                let named = NAMED.lock().unwrap_or_else(PoisonError::into_inner);
                for path in named.iter() {
                    remove(path);
                }
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// Holds off signal cleanup while temporaries are moved into place.
pub fn commit() -> MutexGuard<'static, ()> {
    COMMIT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A named temporary file or directory: removed when dropped and on a
/// signal, unless released.
#[derive(Debug)]
pub struct Named {
    path: PathBuf,
}

impl Named {
    /// Registers `path`, which this process has just created.
    pub fn register(path: PathBuf) -> Named {
        NAMED.lock().unwrap_or_else(PoisonError::into_inner).push(path.clone());
        Named { path }
    }

    /// The temporary's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Forgets the temporary once it has been moved into place.
    pub fn release(self) {
        unregister(&self.path);
        std::mem::forget(self);
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        unregister(&self.path);
        remove(&self.path);
    }
}

fn unregister(path: &Path) {
    NAMED.lock().unwrap_or_else(PoisonError::into_inner).retain(|p| p != path);
}

fn remove(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

/// A fresh `.bimanix-` name in `dir` (not created).
pub fn fresh_name(dir: &Path, what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".bimanix-{what}-{}-{n}", std::process::id()))
}

/// Removes the named temporaries in `dir` that a bimanix process which no
/// longer exists left behind.
pub fn sweep(dir: &Path) {
    // Without /proc every process would look gone.
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner) else { continue };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            remove(&entry.path());
        }
    }
}

/// The process id in a temporary's name `.bimanix-KIND-PID-...`.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".bimanix-")?;
    let (kind, rest) = rest.split_once('-')?;
    let (pid, _) = rest.split_once('-')?;
    matches!(kind, "layout" | "out" | "old" | "extract").then(|| pid.parse().ok()).flatten()
}

/// A directory for `kind` of temporary (`layout`: an output built beside
/// where it goes; `extract`: files copied out of images) in `parent`.
pub fn dir_in(parent: &Path, kind: &str) -> Result<Named> {
    sweep(parent);
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".bimanix-{kind}-{}-", std::process::id()))
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a temporary directory in {}", parent.display()))?;
    let named = Named::register(tmp.path().to_path_buf());
    // From here on `named` removes it.
    let _ = tmp.keep();
    Ok(named)
}

/// The file a one-file output is written into, in the directory of its
/// target.
#[derive(Debug)]
pub struct OutputFile {
    file: File,
    /// Set when the file system gave no unnamed file.
    named: Option<Named>,
}

impl OutputFile {
    /// An empty file in `dir`: unnamed where the file system allows.
    pub fn new_in(dir: &Path) -> Result<OutputFile> {
        let cannot = || format!("cannot create a temporary file in {}", dir.display());
        let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
        match rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o600)) {
            Ok(fd) => Ok(OutputFile { file: File::from(fd), named: None }),
            // No O_TMPFILE in this kernel or file system.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => {
                sweep(dir);
                let tmp = named_file(dir).with_context(cannot)?;
                let (file, path) = tmp.keep().with_context(cannot)?;
                Ok(OutputFile { file, named: Some(Named::register(path)) })
            }
            Err(e) => Err(io::Error::from(e)).with_context(cannot),
        }
    }

    /// The file, to write.
    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the finished file the usual mode of an output and puts it at
    /// `path`, replacing the regular file there, if any.
    pub fn persist(mut self, path: &Path) -> Result<()> {
        self.file.set_permissions(fs::Permissions::from_mode(0o644))?;
        let dir = super::output::parent_dir(path);
        let _commit = commit();
        let named = match self.named.take() {
            Some(named) => named,
            None => self.link_in(&dir)?,
        };
        fs::rename(named.path(), path)
            .with_context(|| format!("cannot move the finished archive to {}", path.display()))?;
        named.release();
        Ok(())
    }

    /// Gives the unnamed file a temporary name in `dir`.
    fn link_in(&mut self, dir: &Path) -> Result<Named> {
        let name = fresh_name(dir, "out");
        let proc_fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let linked = rustix::fs::linkat(CWD, proc_fd.as_str(), CWD, &name, AtFlags::SYMLINK_FOLLOW)
            .or_else(|_| rustix::fs::linkat(&self.file, "", CWD, &name, AtFlags::EMPTY_PATH));
        if linked.is_ok() {
            return Ok(Named::register(name));
        }
        // Neither /proc nor the privilege to link by descriptor: copy.
        let tmp = named_file(dir).with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let (mut copy, path) = tmp.keep()?;
        let named = Named::register(path);
        self.file.seek(SeekFrom::Start(0))?;
        io::copy(&mut self.file, &mut copy).context("copying the finished archive")?;
        copy.set_permissions(fs::Permissions::from_mode(0o644))?;
        Ok(named)
    }
}

fn named_file(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new().prefix(&format!(".bimanix-out-{}-", std::process::id())).tempfile_in(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn an_output_file_is_unnamed_until_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = OutputFile::new_in(dir.path()).unwrap();
        out.file_mut().write_all(b"archive").unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "a temporary is visible");
        let target = dir.path().join("image.tar");
        out.persist(&target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"archive");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["image.tar"]);
        assert_eq!(fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn a_dropped_output_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = OutputFile::new_in(dir.path()).unwrap();
        out.file_mut().write_all(b"partial").unwrap();
        drop(out);
        let named = dir_in(dir.path(), "layout").unwrap();
        fs::write(named.path().join("x"), b"x").unwrap();
        drop(named);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn temporaries_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        // Process ids never go this high (pid_max is at most 2^22).
        let stale = dir.path().join(".bimanix-layout-99999999-abc");
        fs::create_dir_all(stale.join("blobs")).unwrap();
        let live = dir.path().join(format!(".bimanix-layout-{}-abc", std::process::id()));
        fs::create_dir(&live).unwrap();
        let theirs = dir.path().join(".bimanix-notes-99999999-x");
        fs::write(&theirs, b"x").unwrap();
        sweep(dir.path());
        assert!(!stale.exists());
        assert!(live.exists() && theirs.exists());
    }
}
