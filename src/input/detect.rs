//! Which reader a file needs: told by its name (`Containerfile`,
//! `Dockerfile`, `*.Containerfile`, `bunnyfile`, `*.bunnyfile`, `*.nix`,
//! `*.json`) or, failing that, by its content; and reading it with that
//! reader.

use std::path::Path;

use anyhow::Result;

use super::args::{self, Syntax};
use super::foreign::{Options, Read};

/// A flag that does not fit the kind of input file (`--build-arg` with a
/// bunnyfile, `--base` with an args file): a usage error, which `main`
/// reports with exit status 2.
#[derive(Debug)]
pub struct Misfit(pub String);

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Misfit {}

/// The kinds of input file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// args.nix: the data subset of Nix.
    Nix,
    /// The args fields as JSON.
    Json,
    /// A Containerfile or Dockerfile (bima, pun, bunny, Docker).
    Containerfile,
    /// bunny's YAML bunnyfile.
    Bunnyfile,
}

impl Kind {
    /// The kind by name, else by content; a file that says nothing is args.nix.
    pub fn of(path: &Path) -> Kind {
        // Read without blocking on a FIFO; what cannot be read is left to
        // the args.nix reader to report.
        Kind::by_name(path).unwrap_or_else(|| {
            match crate::model::hostfile::read_regular(path, crate::input::MAX_ARGS_FILE, "input files") {
                Ok(bytes) => Kind::by_content(&String::from_utf8_lossy(&bytes)),
                Err(_) => Kind::Nix,
            }
        })
    }

    /// The kind a file name says, if it says one.
    pub fn by_name(path: &Path) -> Option<Kind> {
        let name = path.file_name()?.to_string_lossy().to_string();
        let lower = name.to_ascii_lowercase();
        let stem_or_suffix = |word: &str| {
            lower == word || lower.ends_with(&format!(".{word}")) || lower.starts_with(&format!("{word}."))
        };
        if lower.ends_with(".nix") {
            Some(Kind::Nix)
        } else if lower.ends_with(".json") {
            Some(Kind::Json)
        } else if stem_or_suffix("containerfile") || stem_or_suffix("dockerfile") {
            Some(Kind::Containerfile)
        } else if stem_or_suffix("bunnyfile") {
            Some(Kind::Bunnyfile)
        } else {
            None
        }
    }

    /// The kind the text says (past a byte order mark): a Containerfile
    /// instruction on the first line that is neither blank nor a comment; a bunnyfile when that line
    /// is a YAML key, or when a `#syntax=` line names bunny and no
    /// instruction follows; otherwise args.nix.
    pub fn by_content(text: &str) -> Kind {
        let text = text.strip_prefix(super::foreign::BOM).unwrap_or(text);
        let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
        let word = first.and_then(|l| l.split_whitespace().next()).unwrap_or("");
        const INSTRUCTIONS: &[&str] = &["FROM", "ARG", "COPY", "ADD", "LABEL"];
        if INSTRUCTIONS.iter().any(|i| word.eq_ignore_ascii_case(i)) && first.is_some_and(|l| l.len() > word.len()) {
            return Kind::Containerfile;
        }
        let yaml_key =
            first.is_some_and(|l| l.starts_with("version:") || l.split_once(':').is_some_and(|(k, _)| is_bunny_key(k)));
        let names_bunny = text.lines().next().is_some_and(|l| {
            let l = l.trim_start_matches('#').trim_start().to_ascii_lowercase();
            l.starts_with("syntax=") && l.contains("bunny")
        });
        if yaml_key || names_bunny { Kind::Bunnyfile } else { Kind::Nix }
    }

    /// The name users pass to `--input-format`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nix => "nix",
            Kind::Json => "json",
            Kind::Containerfile => "containerfile",
            Kind::Bunnyfile => "bunnyfile",
        }
    }
}

fn is_bunny_key(k: &str) -> bool {
    ["version", "platforms", "rootfs", "kernel", "cmd", "cmdline", "entrypoint", "envs"].contains(&k.trim())
}

/// Reads `path` as `kind`; relative paths in a Containerfile or bunnyfile
/// resolve against `context` (default: the file's directory). `--tag`
/// overrides an args file's name and tag; `--base` and a context directory
/// apply to Containerfiles and bunnyfiles only, `--build-arg` to
/// Containerfiles only; given with another kind they are a [`Misfit`].
pub fn read(path: &Path, context: Option<&Path>, kind: Kind, opts: &Options) -> Result<Read> {
    misfits(kind, &path.display().to_string(), context.is_some(), opts)?;
    match kind {
        Kind::Nix | Kind::Json => {
            let syntax = if kind == Kind::Json { Syntax::Json } else { Syntax::Nix };
            Ok(tagged(args::read(path, syntax)?, opts))
        }
        Kind::Containerfile => super::containerfile::read(path, context, opts),
        Kind::Bunnyfile => super::bunnyfile::read(path, context, opts),
    }
}

/// Reads an input file given on standard input (`build -`), as [`read`]
/// reads one on disk; its kind is `kind`, else told by content. Relative
/// paths resolve against `context`, else the current directory (where a
/// user who typed `bimanix build - < dir/args.nix` stands).
pub fn read_stdin(bytes: Vec<u8>, context: Option<&Path>, kind: Option<Kind>, opts: &Options) -> Result<Read> {
    let shown = crate::input::STDIN;
    let dir = std::path::absolute(context.unwrap_or(Path::new(".")))
        .map_err(|e| anyhow::anyhow!("cannot tell the current directory: {e}"))?;
    let kind = kind.unwrap_or_else(|| match Kind::by_content(&String::from_utf8_lossy(&bytes)) {
        // JSON says nothing of itself but its syntax.
        Kind::Nix if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() => Kind::Json,
        other => other,
    });
    misfits(kind, shown, context.is_some(), opts)?;
    let spec = match kind {
        Kind::Json => args::to_spec(&args::parse_json(&bytes, shown)?, shown.to_string(), &dir)?,
        Kind::Nix => {
            let text = crate::input::text(bytes, shown)?;
            args::to_spec(&crate::input::nixeval::eval_str(&text, shown, &dir)?, shown.to_string(), &dir)?
        }
        Kind::Containerfile | Kind::Bunnyfile => {
            let text = crate::input::text(bytes, shown)?;
            let text = text.strip_prefix(super::foreign::BOM).unwrap_or(&text);
            return if kind == Kind::Containerfile {
                super::containerfile::read_text(text, shown, &dir, opts)
            } else {
                super::bunnyfile::read_text(text, shown, &dir, opts)
            };
        }
    };
    Ok(tagged(spec, opts))
}

/// Refuses the flags that do not fit `kind` (of the input named `file`).
fn misfits(kind: Kind, file: &str, context: bool, opts: &Options) -> Result<()> {
    let misfit = |msg: String| Err(Misfit(msg).into());
    match kind {
        Kind::Nix | Kind::Json => {
            if context {
                return misfit(format!(
                    "a build context directory (with -f) applies to Containerfiles and bunnyfiles; {file} is an \
                     args file, whose paths are relative to itself, so name it alone"
                ));
            }
            if !opts.bases.is_empty() {
                return misfit(format!("--base applies to Containerfiles and bunnyfiles; {file} is an args file"));
            }
            if !opts.build_args.is_empty() {
                return misfit(format!("--build-arg applies to Containerfiles only; {file} is an args file"));
            }
        }
        Kind::Bunnyfile => {
            if let Some((name, _)) = opts.build_args.first() {
                return misfit(format!(
                    "--build-arg {name}: --build-arg applies to Containerfiles (their ARG lines); {file} is a \
                     bunnyfile, which has no variables"
                ));
            }
        }
        Kind::Containerfile => {}
    }
    Ok(())
}

/// An args file's spec with `--tag` applied.
fn tagged(mut spec: crate::model::spec::Spec, opts: &Options) -> Read {
    if let Some((name, tag)) = &opts.tag {
        spec.name = name.clone();
        spec.tag = tag.clone();
        for key in ["name", "tag"] {
            spec.locations.keys.remove(key);
            spec.locations.names.insert(key.into(), "--tag".into());
        }
    }
    Read { spec, warnings: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, kind) in [
            ("Containerfile", Kind::Containerfile),
            ("Dockerfile", Kind::Containerfile),
            ("redis.Containerfile", Kind::Containerfile),
            ("Dockerfile.dev", Kind::Containerfile),
            ("bunnyfile", Kind::Bunnyfile),
            ("nginx.bunnyfile", Kind::Bunnyfile),
            ("args.nix", Kind::Nix),
            ("x.json", Kind::Json),
        ] {
            assert_eq!(Kind::by_name(Path::new(name)), Some(kind), "{name}");
        }
        assert_eq!(Kind::by_name(Path::new("build.txt")), None);
    }

    #[test]
    fn contents() {
        assert_eq!(Kind::by_content("# comment\n\nFROM scratch\n"), Kind::Containerfile);
        assert_eq!(
            Kind::by_content("#syntax=harbor.nbfc.io/nubificus/bunny:latest\nFROM scratch\n"),
            Kind::Containerfile
        );
        assert_eq!(Kind::by_content("#syntax=harbor.nbfc.io/nubificus/bunny:latest\nversion: v0.1\n"), Kind::Bunnyfile);
        assert_eq!(Kind::by_content("version: v0.1\nplatforms:\n"), Kind::Bunnyfile);
        assert_eq!(Kind::by_content("#syntax=harbor.nbfc.io/nubificus/bunny:latest\n"), Kind::Bunnyfile);
        assert_eq!(Kind::by_content("{ name = \"x\"; }"), Kind::Nix);
        assert_eq!(Kind::by_content("\u{feff}FROM scratch\n"), Kind::Containerfile);
        assert_eq!(Kind::by_content("\u{feff}version: v0.1\n"), Kind::Bunnyfile);
    }
}
