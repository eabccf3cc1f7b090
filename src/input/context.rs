//! The build context of a Containerfile or bunnyfile: source paths are
//! resolved inside it as BuildKit resolves them, so that nothing outside it
//! reaches an image. A symbolic link on the way is followed within the
//! context: an absolute target starts again at the context's root, and `..`
//! stops at the root. A link to `/etc/hostname` thus names the context's own
//! `etc/hostname`, as in `docker build`, and the result is the same whether
//! the context is a working copy or its copy in the Nix store.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The most symbolic links followed for one path (Linux's own limit).
const MAX_LINKS: usize = 40;

/// A path resolved inside the context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The host path: the context joined with components none of which is
    /// a symbolic link (those past a missing one are appended as written).
    pub host: PathBuf,
    /// Whether a symbolic link was followed on the way.
    pub via_link: bool,
}

impl Resolved {
    /// Why `written` is not there, for messages: a link that leads nowhere
    /// in the context is named as such.
    pub fn missing(&self, written: &str) -> String {
        if self.via_link {
            format!(
                "{written} leads through a symbolic link to {}, which does not exist in the build context \
                 (links resolve inside the context, as in docker build, so none leads out of it)",
                self.host.display()
            )
        } else {
            format!("{written}: {} does not exist in the build context", self.host.display())
        }
    }
}

/// Whether `written`, a path relative to the context, climbs out of it
/// with `..` before any link is looked at.
pub fn climbs_out(written: &str) -> bool {
    let mut depth = 0usize;
    for c in written.split('/') {
        match c {
            "" | "." => {}
            ".." if depth == 0 => return true,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    false
}

/// Resolves `rel` (relative to the context; a leading `/` is the context's
/// root) inside `context`, following every link, the last one too.
pub fn resolve(context: &Path, rel: &Path) -> io::Result<Resolved> {
    let mut done: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, rel);
    let mut links = 0;
    let mut missing = false;
    while let Some(c) = pending.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = join(context, &done).join(&c);
        if missing {
            done.push(c);
            continue;
        }
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::other(format!(
                        "{}: more than {MAX_LINKS} symbolic links on the way",
                        rel.display()
                    )));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    done.clear();
                }
                push_components(&mut pending, &target);
            }
            Ok(_) => done.push(c),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => {
                missing = true;
                done.push(c);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Resolved { host: join(context, &done), via_link: links > 0 })
}

/// The paths inside `context` that `pattern` (relative to the context, `/`
/// separated, with `*`, `?` and `[...]` wildcards) matches, sorted, each
/// with the name it matched as. A wildcard matches names in directories
/// reached inside the context only; what a match names is resolved as
/// [`resolve`] does.
pub fn glob(context: &Path, pattern: &str) -> io::Result<Vec<(Resolved, String)>> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    // Each candidate: the resolved path relative to the context, the name it matched as, links followed.
    let mut found: Vec<(PathBuf, String, bool)> = vec![(PathBuf::new(), String::new(), false)];
    for part in pattern.split('/').filter(|c| !c.is_empty() && *c != ".") {
        let mut next = Vec::new();
        for (dir, _, via) in &found {
            let names = if part.contains(['*', '?', '[']) {
                let pat =
                    glob::Pattern::new(part).map_err(|e| io::Error::other(format!("bad wildcard {part}: {e}")))?;
                let mut names: Vec<String> = match std::fs::read_dir(context.join(dir)) {
                    Ok(entries) => entries
                        .filter_map(|e| e.ok())
                        .filter_map(|e| e.file_name().into_string().ok())
                        .filter(|n| pat.matches_with(n, opts))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                names.sort();
                names
            } else {
                vec![part.to_string()]
            };
            for name in names {
                let r = resolve(context, &dir.join(&name))?;
                if std::fs::symlink_metadata(&r.host).is_ok() {
                    let rel = r.host.strip_prefix(context).map(Path::to_path_buf).unwrap_or_default();
                    next.push((rel, name, *via || r.via_link));
                }
            }
        }
        found = next;
    }
    Ok(found.into_iter().map(|(rel, name, via_link)| (Resolved { host: context.join(rel), via_link }, name)).collect())
}

/// Pushes the components of `path` onto `stack` so that the first pops first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let parts: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    stack.extend(parts.into_iter().rev());
}

fn join(context: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = context.to_path_buf();
    p.extend(parts);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn context() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        std::fs::create_dir_all(ctx.join("sub/deep")).unwrap();
        std::fs::write(ctx.join("sub/deep/k"), b"k").unwrap();
        std::fs::write(tmp.path().join("secret"), b"s").unwrap();
        (tmp, ctx)
    }

    #[test]
    fn links_resolve_inside_the_context() {
        let (tmp, ctx) = context();
        symlink("sub/deep/k", ctx.join("rel")).unwrap();
        symlink("/sub/deep", ctx.join("abs")).unwrap();
        symlink(tmp.path().join("secret"), ctx.join("out")).unwrap();
        symlink("../../../../secret", ctx.join("sub/up")).unwrap();
        std::fs::create_dir(ctx.join("d2")).unwrap();
        symlink("/etc", ctx.join("d2/etc")).unwrap();
        symlink("/etc", ctx.join("etc")).unwrap();
        symlink("loop", ctx.join("loop")).unwrap();
        let r = |p: &str| resolve(&ctx, Path::new(p)).unwrap();
        assert_eq!(r("sub/deep/k"), Resolved { host: ctx.join("sub/deep/k"), via_link: false });
        assert_eq!(r("/rel"), Resolved { host: ctx.join("sub/deep/k"), via_link: true });
        assert_eq!(r("abs/k").host, ctx.join("sub/deep/k"), "an absolute target starts at the context's root");
        // The host's files stay out of reach, whatever the link says.
        let out = r("out");
        assert!(out.host.starts_with(&ctx) && !out.host.exists(), "{out:?}");
        assert_eq!(r("sub/up").host, ctx.join("secret"), "`..` stops at the root");
        // `d2/etc` names the context's `etc`, which is a link to itself.
        assert!(resolve(&ctx, Path::new("d2/etc/hostname")).is_err());
        std::fs::remove_file(ctx.join("etc")).unwrap();
        let host = r("d2/etc/hostname");
        assert_eq!(host.host, ctx.join("etc/hostname"));
        assert!(host.via_link && !host.host.exists());
        assert!(resolve(&ctx, Path::new("loop")).is_err());
        assert_eq!(r("missing/x").host, ctx.join("missing/x"));
        assert!(r("out").missing("out").contains("leads through a symbolic link"));
    }

    #[test]
    fn wildcards_match_inside_the_context_only() {
        let (tmp, ctx) = context();
        std::fs::write(ctx.join("a.conf"), b"a").unwrap();
        std::fs::write(ctx.join("b.conf"), b"b").unwrap();
        symlink(tmp.path(), ctx.join("host")).unwrap();
        let names = |p: &str| -> Vec<(PathBuf, String)> {
            glob(&ctx, p).unwrap().into_iter().map(|(r, n)| (r.host, n)).collect()
        };
        assert_eq!(names("*.conf"), [(ctx.join("a.conf"), "a.conf".into()), (ctx.join("b.conf"), "b.conf".into())]);
        assert_eq!(names("s*/*/k"), [(ctx.join("sub/deep/k"), "k".into())]);
        // `host` names the context's own copy of the temporary directory's path, which it lacks.
        assert!(names("host/secre?").is_empty());
        assert!(names("host/ctx/*.conf").is_empty());
    }

    #[test]
    fn climbing_out_is_told_by_the_text() {
        assert!(climbs_out("../x"));
        assert!(climbs_out("a/../../x"));
        assert!(!climbs_out("a/../x"));
        assert!(!climbs_out("/x/./y"));
    }
}
