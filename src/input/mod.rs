//! The input stage: readers of the formats an image is described in. An
//! args.nix file is evaluated by [`nixeval`] into a value tree (JSON is
//! parsed straight into one), and [`args`] checks its shape and types and
//! hands the rules stage a `model::spec::Spec`. Other tools' files are
//! read into the same spec: [`containerfile`] (bima, pun, bunny, Docker)
//! and [`bunnyfile`], with what they share in [`foreign`] and their build
//! context's paths resolved by [`context`]; [`detect`] tells which reader a
//! file needs. [`image_files`] extracts the files a spec
//! copies out of images, and [`nixwrite`] writes a spec back as args.nix.

pub mod args;
pub mod bunnyfile;
pub mod containerfile;
pub mod context;
pub mod detect;
pub mod foreign;
pub mod image_files;
pub mod nixeval;
pub mod nixwrite;

/// The largest args file read, in bytes: real ones are a few KiB, and
/// this keeps a wrong path (a disk image, a log) from filling memory.
pub const MAX_ARGS_FILE: u64 = 4 << 20;

/// The name standard input goes by in messages (`<stdin>:3:5: ...`).
pub const STDIN: &str = "<stdin>";

/// Reads a text input file (a Containerfile, a bunnyfile) of at most
/// [`MAX_ARGS_FILE`] bytes, refusing without blocking what is not a
/// regular file; `shown` names it in messages.
pub fn read_text(path: &std::path::Path, shown: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    let bytes = crate::model::hostfile::read_regular(path, MAX_ARGS_FILE, "input files")
        .with_context(|| format!("cannot read {shown}"))?;
    text(bytes, shown)
}

/// The text of an input file: UTF-8 without NUL bytes, else an error at
/// `shown:line:col` naming the byte.
pub fn text(bytes: Vec<u8>, shown: &str) -> anyhow::Result<String> {
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let (line, col) = line_col(&e.as_bytes()[..valid]);
        anyhow::anyhow!(
            "{shown}:{line}:{col}: byte 0x{:02X} is not valid UTF-8; the file must be text",
            e.as_bytes()[valid]
        )
    })?;
    if let Some(nul) = text.find('\0') {
        let (line, col) = line_col(&text.as_bytes()[..nul]);
        anyhow::bail!("{shown}:{line}:{col}: a NUL byte (0x00); the file must be text");
    }
    Ok(text)
}

/// The 1-based line and column (in characters) just after `before`.
pub fn line_col(before: &[u8]) -> (usize, usize) {
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    (line, String::from_utf8_lossy(&before[start..]).chars().count() + 1)
}

/// A file mode written in octal (`755`, `0644`), at most `0o7777`: digits
/// only, since `u32::from_str_radix` alone would take `+755`.
pub fn octal_mode(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| matches!(b, b'0'..=b'7')) {
        return None;
    }
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

#[cfg(test)]
mod tests {
    #[test]
    fn octal_modes_are_digits_only() {
        assert_eq!(super::octal_mode("0755"), Some(0o755));
        assert_eq!(super::octal_mode("7777"), Some(0o7777));
        for bad in ["", "+755", "-1", "8", "17777", "u+x"] {
            assert_eq!(super::octal_mode(bad), None, "{bad:?}");
        }
    }
}
