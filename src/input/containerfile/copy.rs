//! COPY and ADD: sources from the build context (wildcards expanded) or,
//! with `--from`, from an earlier stage's image; a destination that ends
//! in `/` is a directory; `--chmod` sets a file's mode. ADD copies local
//! files only: it downloads nothing and unpacks nothing.

use std::ffi::OsString;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::lines::{Char, Instruction};
use super::words::{split_raw, text, words};
use super::{Reader, Source};
use crate::input::context;
use crate::input::foreign::image_path;
use crate::model::fstree::Node;
use crate::model::spec::FileSpec;
use crate::model::value::Pos;
use crate::rules::suggest::did_you_mean;

/// The flags of COPY and ADD.
#[derive(Default)]
struct Flags {
    chmod: Option<u32>,
    from: Option<(String, Pos)>,
}

/// One source found: its path (on the host, or in an image with
/// `--from`), the name it goes by in a destination directory, and whether
/// it is a directory.
struct Found {
    source: PathBuf,
    name: OsString,
    is_dir: bool,
}

/// Where the sources of one COPY come from: the context, or an image (with
/// the architecture its stage's `FROM --platform` chose).
enum From {
    Context,
    Image(PathBuf, Option<String>),
}

impl Reader {
    pub(super) fn copy(&mut self, ins: &Instruction, add: bool) {
        let kw = ins.keyword.clone();
        if let Some(pos) = ins.heredoc {
            return self.err(
                pos,
                &kw,
                "heredocs are not supported; put the text in a file in the build context and COPY it",
            );
        }
        let raw = split_raw(&ins.args, self.escape);
        let mut n = 0;
        let mut flags = Flags::default();
        while let Some(word) = raw.get(n).filter(|w| text(w).starts_with("--")) {
            if !self.flag(&kw, word, &mut flags) {
                return;
            }
            n += 1;
        }
        let Some(items) = self.items(&kw, &ins.args, &raw[n..]) else { return };
        if items.len() < 2 {
            return self.err(ins.pos, &kw, "write COPY <source>... <destination>");
        }
        let (dst, dst_pos) = items[items.len() - 1].clone();
        let dir = dst.ends_with('/') || dst == "." || dst.ends_with("/.");
        let workdir = self.image.working_dir.clone().unwrap_or_else(|| "/".into());
        let dst = image_path(&workdir, &dst);
        let sources = &items[..items.len() - 1];
        if sources.len() > 1 && !dir {
            return self.err(
                dst_pos,
                &kw,
                format_args!("with several sources the destination must be a directory ending in /, not {dst}"),
            );
        }
        let from = match &flags.from {
            None => From::Context,
            Some((name, pos)) => match self.source(name, *pos, &kw) {
                Some(Source::Archive(path, platform)) => From::Image(path, platform.map(|(arch, _)| arch)),
                Some(Source::Scratch) => {
                    return self.err(
                        *pos,
                        &kw,
                        format_args!("--from={name} is FROM scratch: it holds nothing to copy"),
                    );
                }
                None => return,
            },
        };
        for (src, pos) in sources {
            let found = match &from {
                From::Context => self.context_sources(&kw, src, *pos, add),
                From::Image(image, arch) => {
                    self.image_source(&kw, (image, arch.as_deref()), src, *pos).map(|f| vec![f])
                }
            };
            for found in found.unwrap_or_default() {
                self.add_copy(&kw, &from, found, (&dst, dir), flags.chmod, (src, *pos));
            }
        }
    }

    /// Adds one files entry: `found` is the source, `dst` the destination
    /// and whether it names a directory, `written` the source as written
    /// and where.
    fn add_copy(
        &mut self,
        kw: &str,
        from: &From,
        found: Found,
        dst: (&str, bool),
        chmod: Option<u32>,
        written: (&str, Pos),
    ) {
        let Found { source, name, is_dir } = found;
        let (dst, dst_is_dir) = dst;
        if is_dir && chmod.is_some() {
            return self.err(written.1, kw, "--chmod applies to files here: the files in a copied directory get 0644 or 0755 by their executable bit");
        }
        let target = match (dst_is_dir && !is_dir, name.to_str()) {
            (false, _) => dst.to_string(),
            (true, Some(name)) => image_path(dst, name),
            (true, None) => {
                let msg = format!(
                    "{} matches {}, whose name is not UTF-8, so it cannot be named under {dst}; \
                     COPY it to a target of its own, or COPY its directory",
                    written.0,
                    source.display()
                );
                return self.err(written.1, kw, msg);
            }
        };
        let key = format!("files[{}]", self.image.files.len());
        self.loc.keys.insert(key.clone(), written.1);
        self.loc.names.insert(key.clone(), format!("{kw} {}", written.0));
        let (from_image, architecture) = match from {
            From::Context => (None, None),
            From::Image(image, arch) => (Some(image.clone()), arch.clone()),
        };
        self.image.files.push(FileSpec { source, from_image, architecture, target, mode: chmod, key });
    }

    /// Reads one `--name=value` flag; false after an error.
    fn flag(&mut self, kw: &str, word: &[Char], flags: &mut Flags) -> bool {
        let raw = text(word);
        let (name, value) = match raw.split_once('=') {
            Some((n, _)) => (n.to_string(), Some(&word[n.chars().count() + 1..])),
            None => (raw.clone(), None),
        };
        let lookup = self.vars();
        let value = match value.map(|v| super::words::word(v, self.escape, &lookup, &self.budget)).transpose() {
            Ok(v) => v,
            Err((pos, msg)) => {
                self.err(pos, kw, msg);
                return false;
            }
        };
        let pos = word[0].1;
        let known: &[&str] =
            if kw == "ADD" { &["--chmod", "--chown", "--link"] } else { &["--chmod", "--chown", "--link", "--from"] };
        match (name.as_str(), value) {
            ("--chmod", Some(v)) if known.contains(&"--chmod") => match crate::input::octal_mode(&v) {
                Some(m) => flags.chmod = Some(m),
                None => {
                    self.err(pos, kw, format_args!("--chmod={v}: bimanix takes an octal mode such as 755 or 0644"));
                    return false;
                }
            },
            ("--chown", Some(v)) => {
                if !["0", "0:0", "root", "root:root", "0:root", "root:0"].contains(&v.as_str()) {
                    self.err(
                        pos,
                        kw,
                        format_args!("--chown={v}: bimanix writes every file owned by root (0:0); remove --chown"),
                    );
                    return false;
                }
            }
            ("--link", _) => {}
            ("--from", Some(v)) if kw == "COPY" => flags.from = Some((v, pos)),
            ("--checksum" | "--keep-git-dir" | "--unpack", _) if kw == "ADD" => {
                self.err(
                    pos,
                    kw,
                    format_args!("{name}: ADD here copies local files only; it downloads and unpacks nothing"),
                );
                return false;
            }
            _ => {
                let hint = did_you_mean(&name, known)
                    .map_or_else(|| format!("{kw} takes {}", known.join(", ")), |s| format!("did you mean {s}?"));
                self.err(pos, kw, format_args!("unknown flag {raw}; {hint}"));
                return false;
            }
        }
        true
    }

    /// The sources and destination, expanded, each with its position: the
    /// JSON form `["a", "b", "/dst/"]` or words.
    fn items(&mut self, kw: &str, all: &[Char], raw: &[&[Char]]) -> Option<Vec<(String, Pos)>> {
        let first = raw.first()?;
        let start = super::instructions::offset(all, first);
        let rest = &all[start..];
        let lookup = self.vars();
        if text(rest).starts_with('[') {
            let Ok(list) = serde_json::from_str::<Vec<String>>(&text(rest)) else {
                self.err(first[0].1, kw, "the JSON form must be an array of strings");
                return None;
            };
            let mut out = Vec::new();
            for item in list {
                let chars: Vec<Char> = item.chars().map(|c| (c, first[0].1)).collect();
                // Quotes were JSON's; only variables are expanded.
                let escaped: Vec<Char> = chars
                    .iter()
                    .flat_map(|&(c, p)| {
                        if matches!(c, '\'' | '"' | '\\') { vec![(self.escape, p), (c, p)] } else { vec![(c, p)] }
                    })
                    .collect();
                match super::words::word(&escaped, self.escape, &lookup, &self.budget) {
                    Ok(w) => out.push((w, first[0].1)),
                    Err((pos, msg)) => {
                        self.err(pos, kw, msg);
                        return None;
                    }
                }
            }
            return Some(out);
        }
        let mut out = Vec::new();
        for word in raw {
            match words(word, self.escape, &lookup, &self.budget) {
                Ok(ws) => out.extend(ws.into_iter().map(|w| (w, word[0].1))),
                Err((pos, msg)) => {
                    self.err(pos, kw, msg);
                    return None;
                }
            }
        }
        Some(out)
    }

    /// A source in the build context: its host paths (a wildcard may match
    /// several), each resolved inside the context (see `input::context`),
    /// with the name it was matched as and whether it is a directory.
    fn context_sources(&mut self, kw: &str, src: &str, pos: Pos, add: bool) -> Option<Vec<Found>> {
        if add && (src.contains("://") || src.starts_with("git@")) {
            self.err(
                pos,
                kw,
                format_args!("{src}: bimanix downloads nothing; fetch it into the build context first and COPY it"),
            );
            return None;
        }
        if context::climbs_out(src) {
            let context = self.context.display().to_string();
            self.err(pos, kw, format_args!("{src} is outside the build context {context}"));
            return None;
        }
        let rel = image_path("/", src);
        let resolved = if src.contains(['*', '?', '[']) {
            context::glob(&self.context, &rel).inspect(|matches| {
                if matches.is_empty() {
                    self.err(pos, kw, format_args!("{src}: no file in the build context matches"));
                }
            })
        } else {
            let name = OsString::from(rel.rsplit('/').next().unwrap_or_default());
            context::resolve(&self.context, Path::new(&rel)).map(|r| vec![(r, name)])
        };
        let resolved = match resolved {
            Ok(r) => r,
            Err(e) => {
                self.err(pos, kw, format_args!("{src}: {e}"));
                return None;
            }
        };
        let mut out = Vec::new();
        for (r, name) in resolved {
            let Ok(meta) = std::fs::metadata(&r.host) else {
                self.err(pos, kw, r.missing(src));
                continue;
            };
            if add && meta.is_file() && is_archive(&r.host) {
                self.err(pos, kw, format_args!("{src} is an archive, which ADD would unpack; bimanix unpacks nothing: unpack it into a directory and COPY that, or COPY the archive as it is"));
                continue;
            }
            out.push(Found { source: r.host, name, is_dir: meta.is_dir() });
        }
        Some(out)
    }

    /// A source in an image (`--from`): its path there, and whether it is
    /// a directory (links followed).
    fn image_source(&mut self, kw: &str, image: (&Path, Option<&str>), src: &str, pos: Pos) -> Option<Found> {
        let (image, arch) = image;
        if src.contains(['*', '?', '[']) {
            self.err(pos, kw, "wildcards are not supported with --from; name each path");
            return None;
        }
        let path = image_path("/", src);
        let listing = match self.listing(image, arch) {
            Ok(l) => l,
            Err(e) => {
                self.err(pos, kw, e);
                return None;
            }
        };
        match crate::imageread::extract::resolve(listing, &path) {
            Ok(resolved) => {
                let is_dir = resolved.is_empty() || matches!(listing.get(&resolved), Some(Node::Dir { .. }));
                let name = OsString::from(path.rsplit('/').next().unwrap_or_default());
                Some(Found { source: PathBuf::from(path), name, is_dir })
            }
            Err(e) => {
                self.err(pos, kw, format_args!("{path} in image {}: {e:#}", image.display()));
                None
            }
        }
    }
}

/// Whether a local file is an archive that ADD would unpack: a tar, or a
/// gzip, bzip2, xz or zstd stream.
fn is_archive(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let Ok(mut file) = crate::model::hostfile::open_regular(path) else { return false };
    let Ok(n) = file.read(&mut head) else { return false };
    let head = &head[..n];
    let tar = n >= 262 && &head[257..262] == b"ustar";
    let compressed = [&b"\x1f\x8b"[..], b"BZh", b"\xfd7zXZ\0", b"\x28\xb5\x2f\xfd"].iter().any(|m| head.starts_with(m));
    tar || compressed
}
