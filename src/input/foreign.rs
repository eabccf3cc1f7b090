//! What the readers of other tools' files (Containerfiles, bunnyfiles)
//! share: the command-line settings their files do not carry (`--tag`,
//! `--base`, `--build-arg`), the name an image gets without `--tag`, and
//! how an image reference becomes a local archive. bimanix never pulls: a
//! reference must be given an archive with `--base REFERENCE=ARCHIVE`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::model::reference;

/// Settings from the command line (or the Nix function) for a file that
/// carries no name, tag or base images of its own.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--tag NAME[:TAG]`, split.
    pub tag: Option<(String, String)>,
    /// `--base REFERENCE=ARCHIVE`, with the archive made absolute.
    pub bases: Vec<(String, PathBuf)>,
    /// `--build-arg NAME=VALUE` (or `NAME`, its value from the environment;
    /// `None` when the environment has none, and the ARG default applies).
    pub build_args: Vec<(String, Option<String>)>,
}

/// A spec read from another tool's file, with what the reader noticed.
#[derive(Debug)]
pub struct Read {
    /// The input model.
    pub spec: crate::model::spec::Spec,
    /// Things that do not stop the build (an ignored instruction, a
    /// `--base` no reference used).
    pub warnings: Vec<String>,
}

/// A Containerfile or bunnyfile read from disk, with its build context.
#[derive(Debug)]
pub struct Text {
    /// The text, without a leading byte order mark (Windows editors write
    /// one; BuildKit drops it too).
    pub text: String,
    /// The file as the user named it, for messages.
    pub shown: String,
    /// The build context, absolute: `context`, else the file's directory.
    pub context: PathBuf,
}

/// Reads the Containerfile or bunnyfile at `path` and settles its build
/// context: `context` when given, else the file's directory.
pub fn read_file(path: &Path, context: Option<&Path>) -> Result<Text> {
    let shown = path.display().to_string();
    let text = crate::input::read_text(path, &shown)?;
    let context = match context {
        Some(dir) => std::path::absolute(dir),
        None => std::path::absolute(path).map(|p| p.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf)),
    }
    .with_context(|| format!("{shown}: cannot make the path absolute"))?;
    let text = match text.strip_prefix(BOM) {
        Some(rest) => rest.to_string(),
        None => text,
    };
    Ok(Text { text, shown, context })
}

/// The UTF-8 byte order mark.
pub const BOM: char = '\u{feff}';

/// Splits `NAME[:TAG]` as Docker does: a `:` after the last `/` starts the
/// tag (so `localhost:5000/app` has none); the tag defaults to `latest`.
pub fn parse_tag(text: &str) -> Result<(String, String)> {
    let slash = text.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match text[slash..].rfind(':') {
        Some(i) => (&text[..slash + i], &text[slash + i + 1..]),
        None => (text, "latest"),
    };
    if let Err(e) = reference::check(name, tag) {
        bail!("--tag {text:?}: {e}");
    }
    Ok((name.to_string(), tag.to_string()))
}

/// Splits `REFERENCE=ARCHIVE`; the archive is relative to the working
/// directory.
pub fn parse_base(text: &str) -> Result<(String, PathBuf)> {
    let Some((reference, archive)) = text.split_once('=').filter(|(r, a)| !r.is_empty() && !a.is_empty()) else {
        bail!("--base {text:?}: write REFERENCE=ARCHIVE, e.g. --base redis:alpine=redis.tar");
    };
    Ok((reference.to_string(), std::path::absolute(archive)?))
}

/// Splits `NAME=VALUE`; a bare `NAME` takes its value from the environment,
/// as `docker build --build-arg NAME` does, and stays unset (so the ARG
/// default applies) when the environment has no such variable.
pub fn parse_build_arg(text: &str) -> Result<(String, Option<String>)> {
    let (name, value) = match text.split_once('=') {
        Some((n, v)) => (n, Some(v.to_string())),
        None => (text, std::env::var(text).ok()),
    };
    if name.is_empty() {
        bail!("--build-arg {text:?}: write NAME=VALUE");
    }
    Ok((name.to_string(), value))
}

/// Refuses two `--base` values for one image reference (after Docker's
/// normalisation): which archive was meant cannot be told.
pub fn check_bases(bases: &[(String, PathBuf)]) -> Result<()> {
    for (i, (reference, _)) in bases.iter().enumerate() {
        let wanted = normalize(reference);
        if let Some((other, _)) = bases[..i].iter().find(|(r, _)| normalize(r) == wanted) {
            let same = if other == reference { String::new() } else { format!(" (as {other})") };
            bail!("--base {reference} is given twice{same}: both name {wanted}; give one archive for it");
        }
    }
    Ok(())
}

/// The name and tag: `--tag`, or the build context directory's name made
/// into a valid image name, with tag `latest` (and a warning saying so).
pub fn name_and_tag(opts: &Options, context: &Path, warnings: &mut Vec<String>) -> (String, String) {
    if let Some((name, tag)) = &opts.tag {
        return (name.clone(), tag.clone());
    }
    let dir = context.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    let mut name = String::new();
    for c in dir.chars() {
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit();
        if keep {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    let name = name.trim_end_matches('-').to_string();
    let name = if name.is_empty() { "image".to_string() } else { name };
    warnings.push(format!("no --tag given: the image is named {name}:latest after its build context directory"));
    (name, "latest".to_string())
}

/// Image references, resolved to the archives `--base` gives them.
pub struct Bases {
    given: Vec<(String, PathBuf)>,
    used: BTreeSet<usize>,
}

impl Bases {
    /// The `--base` pairs of `opts`.
    pub fn new(opts: &Options) -> Bases {
        Bases { given: opts.bases.clone(), used: BTreeSet::new() }
    }

    /// The archive for `reference`, matched after normalising both sides
    /// (`redis` is `docker.io/library/redis:latest`); an error that shows
    /// the flag when none is given.
    pub fn archive(&mut self, reference: &str) -> Result<PathBuf, String> {
        let wanted = normalize(reference);
        if let Some(i) = self.given.iter().position(|(r, _)| normalize(r) == wanted) {
            self.used.insert(i);
            return Ok(self.given[i].1.clone());
        }
        let file = archive_name(reference);
        Err(format!(
            "{reference} is an image reference, and bimanix never pulls images (a build touches no registry); \
             save it as an archive and name it with --base, e.g.\n  \
             skopeo copy docker://{reference} docker-archive:{file}:{reference}\n  \
             bimanix build ... --base {reference}={file}"
        ))
    }

    /// Warnings for `--base` pairs no reference used.
    pub fn unused(&self) -> Vec<String> {
        (0..self.given.len())
            .filter(|i| !self.used.contains(i))
            .map(|i| format!("--base {}: no FROM or from: names this image", self.given[i].0))
            .collect()
    }
}

/// The OCI name of an architecture as other tools write it: bima's and
/// bunny's `x86`/`x86_64` are `amd64`, `aarch64` is `arm64`; other names
/// are kept (and checked by the rules).
pub fn oci_arch(arch: &str) -> String {
    match arch {
        "x86" | "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        other => other.to_string(),
    }
}

/// An absolute, clean path in the image: `path` relative to `dir` unless
/// absolute; `.` and `..` resolved, no trailing `/`.
pub fn image_path(dir: &str, path: &str) -> String {
    let joined = if path.starts_with('/') { path.to_string() } else { format!("{dir}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `name:tag` (or `name@digest`) with Docker's defaults filled in.
pub fn normalize(reference: &str) -> String {
    let (name, suffix) = match reference.split_once('@') {
        Some((n, d)) => (n, format!("@{d}")),
        None => {
            let slash = reference.rfind('/').map_or(0, |i| i + 1);
            match reference[slash..].rfind(':') {
                Some(i) => (&reference[..slash + i], format!(":{}", &reference[slash + i + 1..])),
                None => (reference, ":latest".to_string()),
            }
        }
    };
    format!("{}{suffix}", reference::qualified(name))
}

/// A file name for the archive of `reference`: `redis:alpine` -> `redis-alpine.tar`.
fn archive_name(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let stem: String = last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '-' }).collect();
    format!("{stem}.tar")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_after_the_last_slash() {
        assert_eq!(parse_tag("hello").unwrap(), ("hello".into(), "latest".into()));
        assert_eq!(parse_tag("hello:1.0").unwrap(), ("hello".into(), "1.0".into()));
        assert_eq!(parse_tag("localhost:5000/app").unwrap(), ("localhost:5000/app".into(), "latest".into()));
        assert_eq!(parse_tag("localhost:5000/app:v2").unwrap(), ("localhost:5000/app".into(), "v2".into()));
        assert!(parse_tag("Hello").is_err());
        assert!(parse_tag("hello:").is_err());
    }

    #[test]
    fn a_build_arg_without_a_value_takes_the_environment_or_stays_unset() {
        assert_eq!(parse_build_arg("A=1").unwrap(), ("A".into(), Some("1".into())));
        assert_eq!(parse_build_arg("A=").unwrap(), ("A".into(), Some(String::new())));
        assert_eq!(parse_build_arg("PATH").unwrap().1, std::env::var("PATH").ok());
        assert_eq!(parse_build_arg("BIMANIX_SURELY_UNSET_VARIABLE").unwrap().1, None);
        assert!(parse_build_arg("=1").is_err());
    }

    #[test]
    fn two_bases_for_one_reference_are_refused() {
        let bases = |refs: &[&str]| -> Vec<(String, PathBuf)> {
            refs.iter().enumerate().map(|(i, r)| (r.to_string(), PathBuf::from(format!("/{i}.tar")))).collect()
        };
        assert!(check_bases(&bases(&["redis", "redis:alpine", "me/redis"])).is_ok());
        let e = check_bases(&bases(&["redis", "docker.io/library/redis:latest"])).unwrap_err().to_string();
        assert!(e.contains("--base docker.io/library/redis:latest is given twice (as redis)"), "{e}");
        assert!(check_bases(&bases(&["a:1", "a:1"])).is_err());
    }

    #[test]
    fn references_match_after_normalising() {
        assert_eq!(normalize("redis"), "docker.io/library/redis:latest");
        assert_eq!(normalize("redis:alpine"), normalize("docker.io/library/redis:alpine"));
        assert_eq!(normalize("harbor.nbfc.io/nubificus/urunit:latest"), "harbor.nbfc.io/nubificus/urunit:latest");
        assert_eq!(normalize("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(normalize("me/app@sha256:ab"), "docker.io/me/app@sha256:ab");
    }

    #[test]
    fn a_reference_without_an_archive_shows_the_flag() {
        let mut bases = Bases::new(&Options::default());
        let e = bases.archive("redis:alpine").unwrap_err();
        assert!(e.contains("--base redis:alpine=redis-alpine.tar"), "{e}");
        assert!(e.contains("never pulls"), "{e}");
    }

    #[test]
    fn image_paths_resolve_against_the_working_directory() {
        assert_eq!(image_path("/", "a"), "/a");
        assert_eq!(image_path("/app", "b/../c/"), "/app/c");
        assert_eq!(image_path("/app", "/abs/."), "/abs");
        assert_eq!(image_path("/app", "."), "/app");
        assert_eq!(image_path("/", ".."), "/");
    }

    #[test]
    fn default_names_come_from_the_directory() {
        let mut w = Vec::new();
        assert_eq!(name_and_tag(&Options::default(), Path::new("/x/My App_2"), &mut w).0, "my-app-2");
        assert_eq!(name_and_tag(&Options::default(), Path::new("/"), &mut w).0, "image");
        assert_eq!(w.len(), 2);
    }
}
