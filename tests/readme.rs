//! The examples of README.md and docs/ and the repository's args.nix pass
//! `bimanix check`, for the default urunc target and for `--urunc 0.6-main`.
//!
//! Every ```nix block of README.md and of the pages in docs/ that is a whole
//! args file (a set with a top-level `name`) is extracted and checked with
//! the files it names made up here; an example without such files fails the
//! test until it gets them below.

use std::fs;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// README.md, then the pages of docs/ in name order.
fn documentation() -> String {
    let mut pages: Vec<_> = fs::read_dir(Path::new(REPO).join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    pages.insert(0, Path::new(REPO).join("README.md"));
    pages.iter().map(|page| fs::read_to_string(page).expect("documentation page")).collect::<Vec<_>>().join("\n")
}

/// The ```nix blocks of README.md and docs/ that are whole args files, with
/// the value of their top-level `name`.
fn readme_args() -> Vec<(String, String)> {
    let readme = documentation();
    let mut blocks = Vec::new();
    let mut block: Option<String> = None;
    for line in readme.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```nix") => block = Some(String::new()),
            (Some(text), "```") => {
                blocks.push(std::mem::take(text));
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
        .into_iter()
        .filter(|text| text.lines().find(|l| !l.trim().is_empty() && !l.starts_with('#')) == Some("{"))
        .filter_map(|text| {
            let name = text.lines().find_map(|l| l.strip_prefix("  name = \""))?;
            Some((name.split('"').next()?.to_string(), text))
        })
        .collect()
}

/// Runs bimanix in `dir`, returning whether it succeeded and its stderr.
fn bimanix(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).env_remove("SOURCE_DATE_EPOCH").output().expect("bimanix");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A 64-byte x86-64 ELF header: what a Solo5 unikernel starts with.
fn elf() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[16] = 2;
    h[18] = 62;
    h[20] = 1;
    h
}

/// Builds a small image archive at `dir/name` holding `file` as `target`,
/// to stand in for a base image an example names.
fn base_image(dir: &Path, name: &str, target: &str) {
    let work = dir.join(format!("{name}.d"));
    fs::create_dir_all(&work).expect("mkdir");
    fs::write(work.join("kernel"), elf()).expect("write");
    let args = format!(
        "{{ name = \"base\"; files = {{ \"./kernel\" = \"{target}\"; }}; \
         annotations = {{ unikernelType = \"unikraft\"; hypervisor = \"qemu\"; binary = \"{target}\"; }}; }}"
    );
    fs::write(work.join("args.nix"), args).expect("write");
    let out = dir.join(name);
    let (ok, stderr) = bimanix(&work, &["build", "args.nix", "-o", out.to_str().expect("utf-8")]);
    assert!(ok, "building the stand-in {name}: {stderr}");
}

/// Makes the files the README example `name` refers to, in `dir`.
fn fixtures(name: &str, dir: &Path) {
    match name {
        "hello-rumprun" | "hello-everywhere" => fs::write(dir.join("hello.hvt"), elf()).expect("write"),
        "redis-linux" => {
            fs::copy(Path::new(REPO).join("example/hello/hello.bzImage"), dir.join("vmlinuz")).expect("copy");
            base_image(dir, "redis.tar", "/usr/local/bin/redis-server");
        }
        "nginx-unikraft" => {
            fs::write(dir.join("nginx.conf"), "worker_processes 1;\n").expect("write");
            base_image(dir, "nginx-catalog.tar", "/unikraft/bin/kernel");
        }
        other => panic!("README's example `{other}` has no fixtures in tests/readme.rs: add them"),
    }
}

#[test]
fn every_readme_example_passes_check_for_the_default_and_0_6_to_main() {
    let examples = readme_args();
    let names: Vec<&str> = examples.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["hello-rumprun", "redis-linux", "nginx-unikraft", "hello-everywhere"]);
    for (name, text) in &examples {
        let dir = tempfile::tempdir().expect("tempdir");
        fixtures(name, dir.path());
        fs::write(dir.path().join("args.nix"), text).expect("write");
        for extra in [&[][..], &["--urunc", "0.6-main"]] {
            let mut args = vec!["check", "args.nix"];
            args.extend_from_slice(extra);
            let (ok, stderr) = bimanix(dir.path(), &args);
            assert!(ok, "{name}: bimanix {args:?} failed:\n{stderr}\n{text}");
            assert!(stderr.contains("is valid"), "{name}: {stderr}");
        }
    }
}

#[test]
fn the_repository_args_nix_passes_check_for_the_default_and_0_6_to_main() {
    for extra in [&[][..], &["--urunc", "0.6-main"]] {
        let mut args = vec!["check", "args.nix"];
        args.extend_from_slice(extra);
        let (ok, stderr) = bimanix(Path::new(REPO), &args);
        assert!(ok, "bimanix {args:?} failed:\n{stderr}");
        let targets = if extra.is_empty() { "urunc 0.8" } else { "urunc 0.6-main" };
        assert!(stderr.contains(&format!("is valid: bimanix-hello:latest for linux/amd64, {targets}")), "{stderr}");
    }
}
