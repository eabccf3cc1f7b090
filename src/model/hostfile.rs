//! Opening the user's files without hanging: every input bimanix reads
//! (args files, sources, the binary, images to inspect) is opened with
//! `O_NONBLOCK` and checked to be a regular file before a byte is read, so
//! a FIFO, a terminal or `/dev/zero` is refused with a message instead of
//! blocking forever or reading without end; and reads of whole files are
//! bounded. Standard input, when it stands for a file (`build -`,
//! `--password-stdin`), is read with the same bound.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rustix::fs::OFlags;

/// Opens `path` (symlinks followed) for reading when it is a regular file.
/// Opening never blocks: a FIFO without a writer is refused like any other
/// file that is not regular.
pub fn open_regular(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::NONBLOCK | OFlags::NOCTTY).bits() as i32)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let kind = file.metadata().with_context(|| format!("cannot read {}", path.display()))?.file_type();
    if !kind.is_file() {
        bail!("{} is {}, not a regular file", path.display(), kind_name(kind));
    }
    refuse_pseudo(rustix::fs::fstatfs(&file), path)?;
    // O_NONBLOCK means nothing for a regular file; reads wait for the disk as usual.
    Ok(file)
}

/// Reads the whole regular file at `path`, refusing one of more than `max`
/// bytes (`what` names the kind of file in that message).
pub fn read_regular(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let size = file.metadata().with_context(|| format!("cannot read {}", path.display()))?.len();
    if size > max {
        bail!("{} is {size} bytes; {what} of more than {max} bytes are not read", path.display());
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // The file may grow while it is read: never read past the bound.
    file.take(max + 1).read_to_end(&mut bytes).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > max {
        bail!("{} grew past {max} bytes while it was read", path.display());
    }
    Ok(bytes)
}

/// Reads standard input as a bounded file: at most `max` bytes (more is
/// an error naming `what`), a terminal refused (it would wait for typing
/// nobody was asked for). With `line`, reading stops at the first line
/// break, so that a writer that stays open after it does not stall the
/// read; with `deadline`, input that neither ends nor gives a line in
/// time is an error. No message quotes what was read.
pub fn read_stdin(max: u64, what: &str, line: bool, deadline: Option<Duration>) -> Result<Vec<u8>> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        bail!("standard input is a terminal; pipe {what} in");
    }
    if let Ok(stat) = rustix::fs::fstat(std::io::stdin())
        && rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory
    {
        bail!("standard input is a directory, not {what}; redirect a file into it");
    }
    let read = move || -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        let mut stdin = std::io::stdin().lock().take(max + 1);
        if line {
            stdin.read_until(b'\n', &mut bytes)?
        } else {
            stdin.read_to_end(&mut bytes)?
        };
        Ok(bytes)
    };
    let bytes = match deadline {
        None => read(),
        Some(deadline) => {
            let (tx, rx) = std::sync::mpsc::channel();
            // On a timeout the thread stays blocked on the read until bimanix exits.
            std::thread::spawn(move || tx.send(read()));
            rx.recv_timeout(deadline).map_err(|_| {
                anyhow::anyhow!(
                    "standard input gave no {} within {} s",
                    if line { "line" } else { "end" },
                    deadline.as_secs()
                )
            })?
        }
    }
    .context("cannot read standard input")?;
    if bytes.len() as u64 > max {
        bail!("standard input holds more than {max} bytes; {what} is not that large");
    }
    Ok(bytes)
}

/// Refuses a path on a pseudo file system (/proc, /sys and the like):
/// their files say they are empty (or 4096 bytes) whatever they hold, so
/// they would be packed wrong. For directories before they are listed;
/// files are checked as they are opened.
pub fn refuse_pseudo_dir(dir: &Path) -> Result<()> {
    refuse_pseudo(rustix::fs::statfs(dir), dir)
}

fn refuse_pseudo(stat: rustix::io::Result<rustix::fs::StatFs>, path: &Path) -> Result<()> {
    // The magic numbers of linux/magic.h.
    const PSEUDO: &[(u64, &str)] = &[
        (0x9fa0, "procfs (/proc)"),
        (0x6265_6572, "sysfs (/sys)"),
        (0x6462_6720, "debugfs"),
        (0x7472_6163, "tracefs"),
        (0x7363_6673, "securityfs"),
        (0x0027_e0eb, "cgroupfs"),
        (0x6367_7270, "cgroup2fs"),
        (0x6265_6570, "configfs"),
        (0xde5e_81e4, "efivarfs"),
        (0x6165_676c, "pstore"),
        (0xcafe_4a11, "bpffs"),
    ];
    let Ok(stat) = stat else { return Ok(()) };
    #[allow(clippy::unnecessary_cast)] // c_long or u32, by target
    let magic = (stat.f_type as u64) & 0xffff_ffff;
    if let Some((_, name)) = PSEUDO.iter().find(|(m, _)| *m == magic) {
        bail!(
            "{} is on {name}, whose files do not say their true size; copy what it holds into a regular file \
             first (cat it into one)",
            path.display()
        );
    }
    Ok(())
}

/// A file type as a user would say it.
pub fn kind_name(kind: fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from(0o600), 0)
            .unwrap();
        // Opening a FIFO without O_NONBLOCK would wait for a writer forever.
        let err = open_regular(&fifo).unwrap_err().to_string();
        assert!(err.ends_with("is a FIFO, not a regular file"), "{err}");
        let err = read_regular(Path::new("/dev/zero"), 1 << 20, "args files").unwrap_err().to_string();
        assert!(err.ends_with("is a character device, not a regular file"), "{err}");
        assert!(open_regular(dir.path()).unwrap_err().to_string().contains("a directory"));
        assert_eq!(kind_name(fs::metadata(&fifo).unwrap().file_type()), "a FIFO");
        assert_eq!(kind_name(fs::metadata(dir.path()).unwrap().file_type()), "a directory");
    }

    #[test]
    fn pseudo_files_are_refused_not_read_as_empty() {
        // /proc files say they are empty.
        assert_eq!(fs::metadata("/proc/self/status").unwrap().len(), 0);
        let err = open_regular(Path::new("/proc/self/status")).unwrap_err().to_string();
        assert!(
            err.contains("/proc/self/status is on procfs (/proc), whose files do not say their true size"),
            "{err}"
        );
        assert!(refuse_pseudo_dir(Path::new("/proc/self")).is_err());
        refuse_pseudo_dir(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    }

    #[test]
    fn whole_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"12345").unwrap();
        assert_eq!(read_regular(&file, 5, "things").unwrap(), b"12345");
        let err = read_regular(&file, 4, "things").unwrap_err().to_string();
        assert!(err.ends_with("is 5 bytes; things of more than 4 bytes are not read"), "{err}");
    }
}
