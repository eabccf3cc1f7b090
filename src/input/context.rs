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
            let message = format!("{written}: {} does not exist in the build context", self.host.display());
            match crate::rules::suggest::near_file(&self.host) {
                Some(help) => format!("{message}; {help}"),
                None => message,
            }
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
///
/// A missing component is taken as written, as BuildKit takes it, and so
/// are those after it: none of them exists, so none is a link. A `..` that
/// climbs back above the missing one returns to directories that exist,
/// whose links are followed (within the context) again.
pub fn resolve(context: &Path, rel: &Path) -> io::Result<Resolved> {
    let mut done: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = Vec::new();
    push_components(&mut pending, rel);
    let mut links = 0;
    // How many components of `done` exist, once one is missing.
    let mut missing_at: Option<usize> = None;
    while let Some(c) = pending.pop() {
        if c == ".." {
            done.pop();
            if missing_at.is_some_and(|at| done.len() <= at) {
                missing_at = None;
            }
            continue;
        }
        if missing_at.is_some() {
            done.push(c);
            continue;
        }
        let candidate = join(context, &done).join(&c);
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
                missing_at = Some(done.len());
                done.push(c);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Resolved { host: join(context, &done), via_link: links > 0 })
}

/// The paths inside `context` that `pattern` (relative to the context, `/`
/// separated, lexically clean, with `*`, `?` and `[...]` wildcards)
/// matches, sorted, each with the name it matched as.
///
/// As in BuildKit, the part before the first wildcard is resolved as
/// [`resolve`] does, and the rest is matched against the tree as it is:
/// a symbolic link to a directory is not descended into (which also keeps
/// a link to `.` from multiplying the matches), though a link that is the
/// match itself is followed. A name that is not UTF-8 is matched as its
/// lossy text and kept as it is.
pub fn glob(context: &Path, pattern: &str) -> io::Result<Vec<(Resolved, OsString)>> {
    let parts: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    // Each candidate: the path relative to the context, the name it matched as, links followed.
    let mut found: Vec<(PathBuf, OsString, bool)> = vec![(PathBuf::new(), OsString::new(), false)];
    let mut walking = false;
    for (i, part) in parts.iter().enumerate() {
        let wild = part.contains(['*', '?', '[']);
        walking |= wild;
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for (dir, _, via) in &found {
            let names = if wild { matching(&context.join(dir), part)? } else { vec![OsString::from(part)] };
            for name in names {
                let rel = dir.join(&name);
                if walking && !last {
                    if std::fs::symlink_metadata(context.join(&rel)).is_ok_and(|m| m.is_dir()) {
                        next.push((rel, name, *via));
                    }
                    continue;
                }
                let r = resolve(context, &rel)?;
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

/// The names in `dir` that the wildcard `part` matches, sorted (none when
/// `dir` is not a directory).
fn matching(dir: &Path, part: &str) -> io::Result<Vec<OsString>> {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let pat = glob::Pattern::new(part).map_err(|e| io::Error::other(format!("bad wildcard {part}: {e}")))?;
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut names: Vec<OsString> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| pat.matches_with(&n.to_string_lossy(), opts))
        .collect();
    names.sort();
    Ok(names)
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
    fn a_missing_directory_and_dotdot_do_not_skip_the_link_check() {
        let (tmp, ctx) = context();
        symlink(tmp.path().join("secret"), ctx.join("out")).unwrap();
        symlink("nothere/../out", ctx.join("a")).unwrap();
        std::fs::write(ctx.join("file"), b"f").unwrap();
        let r = |p: &str| resolve(&ctx, Path::new(p)).unwrap();
        for path in ["nothere/../out", "a", "x/y/../../out", "file/x/../../out", "nothere/deeper/../../a"] {
            let got = r(path);
            assert!(got.host.starts_with(&ctx) && got.via_link && !got.host.exists(), "{path}: {got:?}");
        }
        // Climbing back to a directory that exists is resolution as usual.
        assert_eq!(r("nothere/../sub/deep/k"), Resolved { host: ctx.join("sub/deep/k"), via_link: false });
        // Not climbing back keeps the rest as written.
        assert_eq!(r("nothere/x/../out").host, ctx.join("nothere/out"));
    }

    #[test]
    fn wildcards_match_inside_the_context_only() {
        let (tmp, ctx) = context();
        std::fs::write(ctx.join("a.conf"), b"a").unwrap();
        std::fs::write(ctx.join("b.conf"), b"b").unwrap();
        symlink(tmp.path(), ctx.join("host")).unwrap();
        let names = |p: &str| -> Vec<(PathBuf, OsString)> {
            glob(&ctx, p).unwrap().into_iter().map(|(r, n)| (r.host, n)).collect()
        };
        assert_eq!(names("*.conf"), [(ctx.join("a.conf"), "a.conf".into()), (ctx.join("b.conf"), "b.conf".into())]);
        assert_eq!(names("s*/*/k"), [(ctx.join("sub/deep/k"), "k".into())]);
        // `host` names the context's own copy of the temporary directory's path, which it lacks.
        assert!(names("host/secre?").is_empty());
        assert!(names("host/ctx/*.conf").is_empty());
    }

    #[test]
    fn wildcards_do_not_descend_through_links() {
        let (_tmp, ctx) = context();
        for i in 0..10 {
            symlink(".", ctx.join(format!("l{i}"))).unwrap();
        }
        symlink("sub", ctx.join("subl")).unwrap();
        symlink("sub/deep/k", ctx.join("kl")).unwrap();
        let names = |p: &str| -> Vec<(PathBuf, OsString)> {
            glob(&ctx, p).unwrap().into_iter().map(|(r, n)| (r.host, n)).collect()
        };
        // Through real directories only: `subl` and `l0`..`l9` are links.
        assert_eq!(names("*/*/k"), [(ctx.join("sub/deep/k"), "k".into())]);
        assert!(names("*/*/*/*/*/*/*/*/k").is_empty());
        assert!(names("s*/deep/k").len() == 1);
        // A link that is the match itself is followed (inside the context).
        assert_eq!(names("k*"), [(ctx.join("sub/deep/k"), "kl".into())]);
        // Before the first wildcard, links are followed as `resolve` does.
        assert_eq!(names("subl/*/k"), [(ctx.join("sub/deep/k"), "k".into())]);
        assert_eq!(names("l3/sub/d*/k"), [(ctx.join("sub/deep/k"), "k".into())]);
    }

    #[test]
    fn wildcards_match_names_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let (_tmp, ctx) = context();
        let name = std::ffi::OsStr::from_bytes(b"n\xffb");
        std::fs::write(ctx.join(name), b"n").unwrap();
        let found = glob(&ctx, "n*").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.host, ctx.join(name));
        assert_eq!(found[0].1, name);
    }

    #[test]
    fn climbing_out_is_told_by_the_text() {
        assert!(climbs_out("../x"));
        assert!(climbs_out("a/../../x"));
        assert!(!climbs_out("a/../x"));
        assert!(!climbs_out("/x/./y"));
    }
}
