//! Where a finished image goes, without ever destroying what is there.
//!
//! - An output that is, or is inside, one of the build's inputs (compared
//!   by device and inode, so links and `..` do not hide it) is refused
//!   before anything is written: [`refuse_inputs`].
//! - An archive for a regular file (or a path that does not exist yet) is
//!   written into an unnamed temporary file beside it and put in place at
//!   the end (see `temp`): a failure or a signal leaves nothing behind, and
//!   a symlink is written through, not replaced.
//! - An archive for a character device or a FIFO (or a symlink to one), or
//!   for standard output, is written into them: the writer seeks back to
//!   fill in headers, so it is built in an unnamed file first and copied.
//!   A directory, block device or socket is refused.
//! - An OCI layout is built in a directory beside its target and swapped
//!   in. An existing target is replaced only when it is a layout bimanix
//!   wrote; a failed replacement leaves it as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{Access, CWD, RenameFlags};
use rustix::io::Errno;

use crate::image::temp::{self, Named, OutputFile};
use crate::model::oci;

/// Where the output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A file or directory path.
    Path(PathBuf),
    /// Standard output (tar formats only).
    Stdout,
    /// Nowhere: everything is built, and the bytes are thrown away
    /// (`check`).
    Discard,
}

impl Output {
    /// The output an `-o` argument names: `-`, `/dev/stdout`, `/dev/fd/1`
    /// and `/proc/self/fd/1` are standard output.
    pub fn named(arg: &str) -> Output {
        match arg {
            "-" | "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => Output::Stdout,
            path => Output::Path(PathBuf::from(path)),
        }
    }
}

/// An input of the build, which the output must not be or be inside.
#[derive(Clone, Debug)]
pub struct Protected {
    /// The file or directory as the build reads it.
    pub path: PathBuf,
    /// What it is, for messages: `the args file`, `files."./kernel"`, ...
    pub what: String,
}

/// Refuses an output that is an input, is inside an input directory, or
/// (an existing directory) holds an input. Inputs that cannot be read are
/// skipped: validation reports them.
pub fn refuse_inputs(out: &Output, inputs: &[Protected]) -> Result<()> {
    let ids: Vec<(Id, &Protected)> =
        inputs.iter().flat_map(|i| identities(&i.path).into_iter().map(move |id| (id, i))).collect();
    let find = |id: Id| ids.iter().find(|(known, _)| *known == id).map(|(_, input)| *input);
    let path = match out {
        Output::Discard => return Ok(()),
        Output::Stdout => {
            // A shell redirection onto an input would be read while written.
            let stdout = rustix::fs::fstat(io::stdout())
                .ok()
                .filter(|s| rustix::fs::FileType::from_raw_mode(s.st_mode) == rustix::fs::FileType::RegularFile);
            if let Some(input) = stdout.and_then(|s| find(Id { dev: s.st_dev, ino: s.st_ino })) {
                bail!(
                    "standard output is {} ({}), an input of this command; send the output elsewhere",
                    input.what,
                    input.path.display()
                );
            }
            return Ok(());
        }
        Output::Path(path) => path,
    };
    for id in identities(path) {
        if let Some(input) = find(id) {
            bail!(
                "the output {} is {} ({}), an input of this command; choose another output path",
                path.display(),
                input.what,
                input.path.display()
            );
        }
    }
    for dir in enclosing_dirs(path) {
        if let Some(input) = fs::metadata(&dir).ok().and_then(|m| find(Id::of(&m))) {
            bail!(
                "the output {} would be inside {} ({}), an input of this command; choose a path outside it",
                path.display(),
                input.what,
                input.path.display()
            );
        }
    }
    if let Ok(meta) = fs::metadata(path)
        && meta.is_dir()
    {
        let out_id = Id::of(&meta);
        for input in inputs {
            if enclosing_dirs(&input.path).iter().any(|d| fs::metadata(d).is_ok_and(|m| Id::of(&m) == out_id)) {
                bail!(
                    "the output {} holds {} ({}), an input of this command; choose another output path",
                    path.display(),
                    input.what,
                    input.path.display()
                );
            }
        }
    }
    Ok(())
}

/// A file's identity: device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Id {
    dev: u64,
    ino: u64,
}

impl Id {
    fn of(meta: &fs::Metadata) -> Id {
        Id { dev: meta.dev(), ino: meta.ino() }
    }
}

/// The identities a path has: the link itself and what it leads to.
fn identities(path: &Path) -> Vec<Id> {
    let mut ids: Vec<Id> =
        [fs::symlink_metadata(path), fs::metadata(path)].into_iter().flatten().map(|m| Id::of(&m)).collect();
    ids.dedup();
    ids
}

/// The directories `path` is in, innermost first, with symlinks and `..`
/// resolved (empty when its directory does not exist).
fn enclosing_dirs(path: &Path) -> Vec<PathBuf> {
    match fs::canonicalize(parent_dir(path)) {
        Ok(real) => real.ancestors().map(Path::to_path_buf).collect(),
        Err(_) => Vec::new(),
    }
}

/// Refuses, before anything is built, an output that [`file()`] (or, for a
/// layout, [`directory`]) would refuse, or one in a directory that does
/// not exist or cannot be written.
pub fn precheck(out: &Output, layout: bool) -> Result<()> {
    match (out, layout) {
        (Output::Stdout | Output::Discard, _) => Ok(()),
        (Output::Path(dir), true) => writable_dir(&parent_dir(&layout_target(dir)?.0)),
        (Output::Path(path), false) => match destination(path)? {
            Destination::Device => Ok(()),
            Destination::Replace(real) => writable_dir(&parent_dir(&real)),
        },
    }
}

/// Refuses a directory that an output cannot be created in: missing, not
/// a directory, or not writable (a read-only file system, say).
fn writable_dir(dir: &Path) -> Result<()> {
    rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK)
        .map_err(io::Error::from)
        .with_context(|| format!("cannot write into the directory {}", dir.display()))
}

/// Writes a one-file output: `write` fills a seekable, empty file, which
/// then becomes `out`.
pub fn file<T>(out: &Output, write: impl FnOnce(&mut File) -> Result<T>) -> Result<T> {
    let path = match out {
        Output::Stdout => return stream(write, &mut io::stdout().lock(), "standard output"),
        Output::Discard => {
            // /dev/null takes writes and seeks and keeps nothing.
            let mut null = OpenOptions::new().write(true).open("/dev/null").context("cannot open /dev/null")?;
            return write(&mut null);
        }
        Output::Path(path) => path,
    };
    match destination(path)? {
        Destination::Device => {
            let built = built_in_temp(write)?;
            let mut device = OpenOptions::new()
                .write(true)
                .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
                .open(path)
                .with_context(|| format!("cannot open {} for writing", path.display()))?;
            copy_out(built, &mut device, &path.display().to_string())
        }
        Destination::Replace(real) => {
            let mut tmp = OutputFile::new_in(&parent_dir(&real))?;
            let written = write(tmp.file_mut()).with_context(|| format!("writing {}", path.display()))?;
            tmp.persist(&real)?;
            Ok(written)
        }
    }
}

/// Where a one-file output at a path lands.
#[derive(Debug)]
enum Destination {
    /// A character device or a FIFO: written into.
    Device,
    /// A regular file, or nothing yet, at this path (symlinks resolved):
    /// replaced.
    Replace(PathBuf),
}

fn destination(path: &Path) -> Result<Destination> {
    let shown = path.display();
    if path.as_os_str().is_empty() {
        bail!("the output path is empty; name a file, or use - for standard output");
    }
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if fs::symlink_metadata(path).is_ok() {
                bail!("{shown} is a symbolic link to a file that does not exist; refusing to write through it");
            }
            return Ok(Destination::Replace(path.to_path_buf()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot look at {shown}")),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        let real = fs::canonicalize(path).with_context(|| format!("cannot resolve {shown}"))?;
        Ok(Destination::Replace(real))
    } else if kind.is_char_device() || kind.is_fifo() {
        Ok(Destination::Device)
    } else if kind.is_dir() {
        bail!("{shown} is a directory; name a file in it")
    } else if kind.is_block_device() {
        bail!("{shown} is a block device; bimanix writes to files, character devices and pipes only")
    } else {
        bail!("{shown} is a socket; bimanix writes to files, character devices and pipes only")
    }
}

/// Builds an archive in an unnamed temporary file, then copies it to `to`.
fn stream<T>(write: impl FnOnce(&mut File) -> Result<T>, to: &mut dyn Write, shown: &str) -> Result<T> {
    let built = built_in_temp(write)?;
    copy_out(built, to, shown)
}

fn built_in_temp<T>(write: impl FnOnce(&mut File) -> Result<T>) -> Result<(File, T)> {
    let mut tmp = tempfile::tempfile().context("cannot create a temporary file (check TMPDIR)")?;
    let written = write(&mut tmp)?;
    Ok((tmp, written))
}

fn copy_out<T>((mut built, written): (File, T), to: &mut dyn Write, shown: &str) -> Result<T> {
    built.seek(SeekFrom::Start(0))?;
    io::copy(&mut built, to).with_context(|| format!("writing to {shown}"))?;
    to.flush().with_context(|| format!("writing to {shown}"))?;
    Ok(written)
}

/// Writes an OCI layout directory: `write` fills an empty directory built
/// beside `dir`, which then takes the place of `dir`. An existing `dir` is
/// replaced only when it is a layout bimanix wrote.
pub fn directory<T>(dir: &Path, write: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let (target, existed) = layout_target(dir)?;
    let tmp = temp::dir_in(&parent_dir(&target), "layout")?;
    let written = write(tmp.path())?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
    let shown = dir.display();
    let _commit = temp::commit();
    if existed {
        check_replaceable(&target).with_context(|| format!("refusing to replace {shown}"))?;
        swap(&tmp, &target).with_context(|| format!("cannot move the finished layout to {shown}"))?;
        // `tmp` now holds the old layout, and dropping it removes it.
    } else {
        rename_new(tmp, &target).with_context(|| format!("cannot move the finished layout to {shown}"))?;
    }
    Ok(written)
}

/// Where a layout at `dir` goes (symlinks resolved), and whether it
/// replaces one.
fn layout_target(dir: &Path) -> Result<(PathBuf, bool)> {
    if dir.as_os_str().is_empty() {
        bail!("the output path is empty; name the layout directory");
    }
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let real = fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
            check_replaceable(&real).with_context(|| format!("refusing to replace {}", dir.display()))?;
            Ok((real, true))
        }
        Ok(_) => bail!("{} exists and is not a directory; an OCI layout is a directory", dir.display()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if fs::symlink_metadata(dir).is_ok() {
                bail!("{} is a symbolic link to nothing; refusing to write through it", dir.display());
            }
            Ok((dir.to_path_buf(), false))
        }
        Err(e) => Err(e).with_context(|| format!("cannot look at {}", dir.display())),
    }
}

/// Why `dir` is not an OCI layout as bimanix writes one: `oci-layout`,
/// `index.json` and `blobs/sha256/<64 hex digits>`, all regular files,
/// and nothing else.
fn check_replaceable(dir: &Path) -> Result<()> {
    let not_ours = |what: String| anyhow::anyhow!("it is not an OCI layout that bimanix wrote: {what}");
    let mut seen = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        let expected = match name.to_str() {
            Some("oci-layout" | "index.json") => kind.is_file(),
            Some("blobs") => kind.is_dir(),
            _ => false,
        };
        if !expected {
            return Err(not_ours(format!("it holds {:?}", name)));
        }
        seen.push(name);
    }
    if seen.len() != 3 {
        return Err(not_ours("it lacks oci-layout, index.json or blobs".to_string()));
    }
    if fs::read(dir.join("oci-layout"))? != oci::OCI_LAYOUT {
        return Err(not_ours("its oci-layout file is not the one bimanix writes".to_string()));
    }
    let blobs = dir.join("blobs");
    for entry in fs::read_dir(&blobs)? {
        let entry = entry?;
        if entry.file_name() != "sha256" || !entry.file_type()?.is_dir() {
            return Err(not_ours(format!("blobs/ holds {:?}", entry.file_name())));
        }
    }
    for entry in fs::read_dir(blobs.join("sha256"))? {
        let entry = entry?;
        let name = entry.file_name();
        let hex = name.to_str().is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        if !hex || !entry.file_type()?.is_file() {
            return Err(not_ours(format!("blobs/sha256/ holds {name:?}")));
        }
    }
    Ok(())
}

/// Exchanges the new layout with the old one in one step where the file
/// system allows; otherwise moves the old one aside, the new one in, and
/// the old one back if that fails.
fn swap(new: &Named, old: &Path) -> Result<()> {
    match rustix::fs::renameat_with(CWD, new.path(), CWD, old, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => swap_by_renames(new.path(), old),
        Err(e) => Err(io::Error::from(e).into()),
    }
}

/// The two-rename swap: afterwards `new` holds the old layout.
fn swap_by_renames(new: &Path, old: &Path) -> Result<()> {
    let aside = temp::fresh_name(&parent_dir(old), "old");
    fs::rename(old, &aside).context("cannot move the old layout aside")?;
    if let Err(e) = fs::rename(new, old) {
        fs::rename(&aside, old).context("cannot move the old layout back")?;
        return Err(e.into());
    }
    fs::rename(&aside, new).context("cannot move the old layout away")?;
    Ok(())
}

/// Moves a new layout to a path that holds nothing, never onto something
/// that appeared meanwhile.
fn rename_new(new: Named, target: &Path) -> Result<()> {
    match rustix::fs::renameat_with(CWD, new.path(), CWD, target, RenameFlags::NOREPLACE) {
        Ok(()) => {}
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
            if fs::symlink_metadata(target).is_ok() {
                bail!("{} appeared while the layout was written", target.display());
            }
            fs::rename(new.path(), target)?;
        }
        Err(Errno::EXIST) => bail!("{} appeared while the layout was written", target.display()),
        Err(e) => return Err(io::Error::from(e).into()),
    }
    new.release();
    Ok(())
}

/// The directory a path is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path) {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), oci::OCI_LAYOUT).unwrap();
        fs::write(dir.join("index.json"), b"{}").unwrap();
        fs::write(dir.join("blobs/sha256").join("a".repeat(64)), b"old").unwrap();
    }

    fn input(path: &Path) -> Protected {
        Protected { path: path.to_path_buf(), what: "files.\"./src\"".to_string() }
    }

    #[test]
    fn an_output_on_or_inside_an_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), b"f").unwrap();
        let inputs = [input(&src)];
        for out in [src.clone(), src.join("new.tar"), src.join("sub/f"), src.join("sub/../sub/new")] {
            let err = refuse_inputs(&Output::Path(out.clone()), &inputs).unwrap_err().to_string();
            assert!(err.contains("files.\"./src\""), "{}: {err}", out.display());
        }
        // A hard link is the same file under another name.
        let file = dir.path().join("kernel");
        fs::write(&file, b"k").unwrap();
        fs::hard_link(&file, dir.path().join("alias")).unwrap();
        std::os::unix::fs::symlink("src", dir.path().join("link")).unwrap();
        let inputs = [input(&file), input(&src)];
        assert!(refuse_inputs(&Output::Path(dir.path().join("alias")), &inputs).is_err());
        assert!(refuse_inputs(&Output::Path(dir.path().join("link/x.tar")), &inputs).is_err());
        // A directory holding an input.
        assert!(refuse_inputs(&Output::Path(dir.path().to_path_buf()), &inputs).is_err());
        refuse_inputs(&Output::Path(dir.path().join("image.tar")), &inputs).unwrap();
    }

    #[test]
    fn only_a_layout_bimanix_wrote_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        layout(&ours);
        check_replaceable(&ours).unwrap();
        for stray in ["notes.txt", "blobs/README", "blobs/sha256/layer.partial"] {
            let theirs = dir.path().join("theirs");
            layout(&theirs);
            fs::write(theirs.join(stray), b"mine").unwrap();
            let err = directory(&theirs, |_| Ok(())).unwrap_err();
            assert!(format!("{err:#}").contains("not an OCI layout that bimanix wrote"), "{err:#}");
            assert_eq!(fs::read(theirs.join(stray)).unwrap(), b"mine");
            fs::remove_dir_all(&theirs).unwrap();
        }
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(directory(&empty, |_| Ok(())).is_err());
    }

    #[test]
    fn a_layout_is_replaced_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("layout");
        layout(&out);
        let failed: Result<()> = directory(&out, |tmp| {
            fs::write(tmp.join("oci-layout"), b"half")?;
            bail!("the build failed")
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(out.join("blobs/sha256").join("a".repeat(64))).unwrap(), b"old");
        directory(&out, |tmp| {
            fs::write(tmp.join("new"), b"new")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read(out.join("new")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["layout"], "temporaries were left behind");
    }

    #[test]
    fn a_failed_swap_puts_the_old_layout_back() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("layout");
        layout(&out);
        // The new layout has vanished: the second rename fails.
        assert!(swap_by_renames(&dir.path().join("gone"), &out).is_err());
        check_replaceable(&out).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["layout"]);
        let new = dir.path().join("new");
        fs::create_dir(&new).unwrap();
        swap_by_renames(&new, &out).unwrap();
        assert!(out.read_dir().unwrap().next().is_none(), "the new layout is in place");
        check_replaceable(&new).unwrap();
    }

    #[test]
    fn devices_fifos_and_directories_are_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(destination(Path::new("/dev/null")).unwrap(), Destination::Device));
        assert!(destination(dir.path()).unwrap_err().to_string().contains("is a directory"));
        assert!(destination(Path::new("")).unwrap_err().to_string().contains("empty"));
        std::os::unix::fs::symlink("missing", dir.path().join("dangling")).unwrap();
        assert!(destination(&dir.path().join("dangling")).is_err());
        let real = dir.path().join("real.tar");
        fs::write(&real, b"old").unwrap();
        std::os::unix::fs::symlink("real.tar", dir.path().join("link.tar")).unwrap();
        file(&Output::Path(dir.path().join("link.tar")), |f| Ok(f.write_all(b"new")?)).unwrap();
        assert_eq!(fs::read(&real).unwrap(), b"new");
        assert!(fs::symlink_metadata(dir.path().join("link.tar")).unwrap().file_type().is_symlink());
        file(&Output::Path(PathBuf::from("/dev/null")), |f| Ok(f.write_all(b"gone")?)).unwrap();
        assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    }
}
