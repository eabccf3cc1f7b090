//! Sets `BIMANIX_VERSION`, what `bimanix --version` prints after the name:
//! the package version and the commit, `0.1.0 (commit 0123456789ab)`. The
//! commit is `BIMANIX_COMMIT` when set (the Nix package sets it, as its
//! source has no .git), else `git rev-parse HEAD` in a git checkout, else
//! left out: the build never fails for want of git.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-env-changed=BIMANIX_COMMIT");
    let commit = std::env::var("BIMANIX_COMMIT").ok().filter(|c| !c.is_empty()).or_else(from_git);
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let version = match commit {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version,
    };
    println!("cargo::rustc-env=BIMANIX_VERSION={version}");
}

/// The checkout's commit (12 hex digits), watching the files that change
/// with it so that a new commit rebuilds the version string.
fn from_git() -> Option<String> {
    if !Path::new(".git").exists() {
        return None;
    }
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| text.trim().to_string())
    };
    let mut watched: Vec<String> =
        ["HEAD", "packed-refs"].iter().filter_map(|f| git(&["rev-parse", "--git-path", f])).collect();
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.extend(git(&["rev-parse", "--git-path", &branch]));
    }
    if watched.is_empty() {
        // git cannot answer here (not on PATH, or the checkout not trusted):
        // watch the checkout itself, so that a build where it can does not
        // keep a version without the commit.
        watched.push(".git".to_string());
    }
    for path in watched {
        println!("cargo::rerun-if-changed={path}");
    }
    git(&["rev-parse", "--short=12", "HEAD"]).filter(|c| c.bytes().all(|b| b.is_ascii_hexdigit()) && !c.is_empty())
}
