//! The conventions users of cargo, ripgrep, skopeo and docker buildx
//! expect: completions and a manual page, `--version` with the commit,
//! examples in every `--help`, `-q`/`-v`, progress bars on a terminal and
//! nothing in a log, `--platform`, `build --metadata-file` and
//! `--digestfile`, no archive written to a terminal, default output names
//! that image transports can address, and push's hints. Terminal behaviour
//! runs the program under `script` (util-linux), which gives it a pty.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const COMMANDS: &[&str] = &["build", "check", "convert", "inspect", "index", "push", "completions", "manpage"];

/// Runs bimanix in `dir` with no terminal: (status, stdout, stderr).
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).current_dir(dir).stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs bimanix in `dir` on a terminal (a pty `script` makes): its status
/// and everything the terminal showed.
fn on_terminal(dir: &Path, args: &str, one_core: bool) -> (i32, String) {
    let command = if one_core { format!("taskset -c 0 {BIN} {args}") } else { format!("{BIN} {args}") };
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into())
}

/// A directory with the example kernel and an args file `args.json` for an
/// image named `name`, tag `tag`, holding `extra` files too.
fn project(name: &str, tag: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(KERNEL, dir.path().join("kernel")).unwrap();
    let mut files = serde_json::json!({ "./kernel": "/kernel" });
    for (source, target) in extra {
        files[*source] = Value::from(*target);
    }
    let args = serde_json::json!({
        "name": name, "tag": tag, "files": files,
        "annotations": { "unikernelType": "linux", "hypervisor": "qemu", "binary": "/kernel", "cmdline": "/init" },
    });
    std::fs::write(dir.path().join("args.json"), args.to_string()).unwrap();
    dir
}

/// The entries of a tar archive: name and size.
fn tar_entries(path: &Path) -> Vec<(String, u64)> {
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), e.header().size().unwrap())
        })
        .collect()
}

#[test]
fn completions_for_every_shell_complete_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = run(dir.path(), &["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        for word in ["bimanix", "build", "metadata-file", "platform"] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, _, err) = run(dir.path(), &["completions", "tcsh"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("possible values"), "{err}");
    // Bash itself completes `bimanix bu` and `bimanix build --meta`.
    let (_, script, _) = run(dir.path(), &["completions", "bash"]);
    std::fs::write(dir.path().join("bimanix.bash"), script).unwrap();
    let complete = |words: &str| {
        let cword = words.split(' ').count() - 1;
        let cmd = format!(
            "source ./bimanix.bash; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
             COMP_POINT=${{#COMP_LINE}}; _bimanix bimanix; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = Command::new("bash").args(["-c", &cmd]).current_dir(dir.path()).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(complete("bimanix bu").lines().any(|l| l == "build"), "{}", complete("bimanix bu"));
    assert!(complete("bimanix build --meta").contains("--metadata-file"), "{}", complete("bimanix build --meta"));
}

#[test]
fn the_manual_page_covers_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let (code, page, err) = run(dir.path(), &["manpage"]);
    assert_eq!(code, 0, "{err}");
    assert!(page.lines().any(|l| l.starts_with(".TH bimanix 1")), "{page}");
    for command in COMMANDS {
        assert!(page.contains(&format!("bimanix\\-{command}(1)")), "the page does not name bimanix-{command}(1)");
    }
    let (code, _, err) = run(dir.path(), &["manpage", "--dir", "."]);
    assert_eq!(code, 0, "{err}");
    for command in COMMANDS {
        let sub = std::fs::read_to_string(dir.path().join(format!("bimanix-{command}.1"))).unwrap();
        assert!(sub.lines().any(|l| l.starts_with(&format!(".TH bimanix-{command} 1"))), "{sub}");
    }
    let build = std::fs::read_to_string(dir.path().join("bimanix-build.1")).unwrap();
    for option in ["metadata\\-file", "digestfile", "platform", "Examples:"] {
        assert!(build.contains(option), "bimanix-build.1 lacks {option}");
    }
    // man renders it, when man is there to try.
    if Command::new("man").arg("--version").output().is_ok() {
        let out = Command::new("man").args(["-l", "bimanix-build.1"]).current_dir(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &["--version"]);
    assert_eq!(code, 0);
    let head =
        Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(env!("CARGO_MANIFEST_DIR")).output();
    match head {
        // A checkout: the commit it was built from.
        Ok(head) if head.status.success() => {
            let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
            assert_eq!(out.trim(), format!("bimanix {} (commit {commit})", env!("CARGO_PKG_VERSION")));
        }
        // Built without git: the version alone, or the BIMANIX_COMMIT given.
        _ => assert!(out.starts_with(&format!("bimanix {}", env!("CARGO_PKG_VERSION"))), "{out}"),
    }
}

#[test]
fn every_help_ends_with_examples_of_its_command() {
    let dir = tempfile::tempdir().unwrap();
    for command in COMMANDS {
        for flag in ["-h", "--help"] {
            let (code, out, _) = run(dir.path(), &[command, flag]);
            assert_eq!(code, 0);
            let examples = out.split("Examples:\n").nth(1).unwrap_or_else(|| panic!("{command} {flag}: no examples"));
            assert!(examples.contains(&format!("bimanix {command}")), "{command} {flag}: {examples}");
        }
    }
    let (_, top, _) = run(dir.path(), &["--help"]);
    assert!(top.contains("Examples:") && top.contains("-q, --quiet") && top.contains("-v, --verbose"), "{top}");
}

#[test]
fn quiet_and_verbose_are_accepted_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    for command in COMMANDS {
        for args in [vec!["-q", command, "--help"], vec![command, "--verbose", "--help"]] {
            let (code, _, err) = run(dir.path(), &args);
            assert_eq!(code, 0, "{args:?}: {err}");
        }
    }
    let (code, _, err) = run(dir.path(), &["build", "-q", "-v"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn quiet_says_nothing_but_warnings_and_errors_and_verbose_logs_the_steps() {
    let p = project("hello", "1", &[]);
    let dir = p.path();
    // Without a terminal: the status line, no progress.
    let (code, _, err) = run(dir, &["build", "args.json", "-o", "a.tar"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("bimanix: wrote hello:1 to a.tar"), "{err}");
    assert!(!err.contains("layer"), "progress went to a log without -v: {err}");
    // -v: each step's start and end.
    let (code, _, err) = run(dir, &["build", "args.json", "-o", "b.tar", "-v", "--compression", "gzip"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("bimanix: compressing (gzip) layer 1/2") && err.contains(": done in "), "{err}");
    assert!(err.contains("bimanix: wrote hello:1 to b.tar"), "{err}");
    // -q: nothing at all for a clean build, for each command that writes.
    for args in [
        vec!["-q", "build", "args.json", "-o", "c.tar"],
        vec!["check", "args.json", "--quiet"],
        vec!["-q", "convert", "args.json", "-o", "args.nix"],
        vec!["-q", "index", "a.tar", "-o", "index.tar"],
    ] {
        let (code, _, err) = run(dir, &args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
    assert_eq!(std::fs::read(dir.join("a.tar")).unwrap(), std::fs::read(dir.join("c.tar")).unwrap());
    // Errors still show.
    let (code, _, err) = run(dir, &["-q", "build", "missing.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("bimanix: error:"), "{err}");
}

#[test]
fn a_long_step_shows_a_bar_on_a_terminal_only() {
    // 96 MiB of noise on one core: gzip takes seconds over it, past the bar's delay.
    let p = project("big", "1", &[("./noise", "/noise")]);
    let dir = p.path();
    let mut noise = vec![0u8; 96 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in noise.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(dir.join("noise"), noise).unwrap();
    let (code, shown) = on_terminal(dir, "build args.json -o a.tar --compression gzip", true);
    assert_eq!(code, 0, "{shown}");
    // The noise is a layer of its own (--layers auto).
    assert!(shown.contains("compressing (gzip) layer 2/3 ["), "no bar: {shown}");
    assert!(shown.contains("MiB/96.00 MiB"), "the bar counts no bytes: {shown}");
    assert!(shown.contains("bimanix: wrote big:1 to a.tar"), "{shown}");
    let (code, shown) = on_terminal(dir, "build args.json -o b.tar --compression gzip -q", false);
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("layer") && !shown.contains("wrote"), "-q on a terminal: {shown}");
    // The same build without a terminal: not a byte of progress.
    let (code, _, err) = run(dir, &["build", "args.json", "-o", "c.tar", "--compression", "gzip"]);
    assert_eq!(code, 0);
    assert!(!err.contains("layer") && !err.contains('\r'), "{err}");
}

#[test]
fn an_archive_is_never_written_to_a_terminal() {
    let p = project("hello", "1", &[]);
    for args in ["build args.json -o -", "build args.json -o /dev/stdout", "build args.json -o /dev/tty"] {
        let (code, shown) = on_terminal(p.path(), args, false);
        assert_eq!(code, 2, "{args}: {shown}");
        assert!(shown.contains("cowardly refusing to write an image archive to a terminal"), "{args}: {shown}");
        assert!(!shown.contains("manifest.json"), "{args}: the archive went to the terminal");
    }
    let (code, shown) = on_terminal(p.path(), "build args.json -o a.tar", false);
    assert_eq!(code, 0, "{shown}");
    let (code, shown) = on_terminal(p.path(), "index a.tar -o -", false);
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("cowardly refusing"), "{shown}");
    // A pipe is fine.
    let (code, out, err) = run(p.path(), &["build", "args.json", "-o", "-"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.len() > 1024);
}

#[test]
fn default_output_names_have_no_transport_separators() {
    let p = project("127.0.0.1:5000/team/app", "1.0", &[]);
    let (code, _, err) = run(p.path(), &["build", "args.json"]);
    assert_eq!(code, 0, "{err}");
    let name = "127.0.0.1-5000-team-app-1.0.tar";
    assert!(p.path().join(name).is_file(), "{err}");
    assert!(err.contains(&format!("to {name} ")), "{err}");
    let (code, _, err) = run(p.path(), &["build", "args.json", "--format", "oci-layout"]);
    assert_eq!(code, 0, "{err}");
    assert!(p.path().join("127.0.0.1-5000-team-app-1.0/index.json").is_file(), "{err}");
    let (code, _, err) = run(p.path(), &["index", name, "--tag", "2_b"]);
    assert_eq!(code, 0, "{err}");
    assert!(p.path().join("127.0.0.1-5000-team-app-2_b.tar").is_file(), "{err}");
    // skopeo reads it by the name, when skopeo is there to try.
    if Command::new("skopeo").arg("--version").output().is_ok() {
        let out = Command::new("skopeo")
            .args(["inspect", &format!("docker-archive:{name}")])
            .current_dir(p.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn platform_sets_the_architecture_the_kernel_must_agree_with() {
    let p = project("hello", "1", &[]);
    let dir = p.path();
    let (code, _, err) = run(dir, &["build", "args.json", "--platform", "linux/arm64", "-o", "a.tar"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--platform linux/arm64") && err.contains("built for amd64"), "{err}");
    assert!(!dir.join("a.tar").exists());
    for platform in ["linux/amd64", "linux/x86_64", "amd64"] {
        let (code, _, err) = run(dir, &["check", "args.json", "--platform", platform]);
        assert_eq!(code, 0, "{platform}: {err}");
        assert!(err.contains("for linux/amd64"), "{platform}: {err}");
    }
    for (platform, said) in [
        ("windows/amd64", "urunc images are linux/<arch>"),
        ("linux/amd63", "did you mean \"amd64\""),
        ("linux/arm64/v7", "whose variant is v8"),
        ("linux/amd64/v2", "amd64 has no variants"),
        ("linux/arm64/v8/x", "os/arch or os/arch/variant"),
    ] {
        let (code, _, err) = run(dir, &["build", "args.json", "--platform", platform]);
        assert_eq!(code, 2, "{platform}: {err}");
        assert!(err.contains(said), "{platform}: {err}");
    }
    // A binary whose architecture cannot be told takes the platform's.
    std::fs::write(dir.join("blob"), b"not a kernel").unwrap();
    let args = r#"{"name": "x", "files": {"./blob": "/unikernel"},
        "annotations": {"unikernelType": "unikraft", "hypervisor": "qemu", "binary": "/unikernel"}}"#;
    std::fs::write(dir.join("uk.json"), args).unwrap();
    let (code, _, err) = run(dir, &["check", "uk.json"]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(
        dir,
        &["build", "uk.json", "--platform", "linux/arm64/v8", "-o", "uk.tar", "--metadata-file", "uk.json.out"],
    );
    assert_eq!(code, 0, "{err}");
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("uk.json.out")).unwrap()).unwrap();
    assert_eq!(meta["platform"], serde_json::json!({ "os": "linux", "architecture": "arm64" }));
}

#[test]
fn metadata_and_digest_files_describe_the_archive() {
    let p = project("hello", "1", &[]);
    let dir = p.path();
    let (code, _, err) = run(
        dir,
        &[
            "build",
            "args.json",
            "-o",
            "a.tar",
            "--compression",
            "zstd",
            "--metadata-file",
            "m.json",
            "--digestfile",
            "d",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let digest = std::fs::read_to_string(dir.join("d")).unwrap();
    assert!(err.contains(&format!("(manifest {digest})")), "{digest} vs {err}");
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("m.json")).unwrap()).unwrap();
    assert_eq!(meta["containerimage.digest"], digest.as_str());
    assert_eq!(meta["manifest"]["digest"], digest.as_str());
    assert_eq!(meta["containerimage.descriptor"], meta["manifest"]);
    assert_eq!(meta["containerimage.config.digest"], meta["config"]["digest"]);
    assert_eq!(meta["image.name"], "docker.io/library/hello:1");
    assert_eq!((meta["name"].as_str(), &meta["tags"]), (Some("hello"), &serde_json::json!(["1"])));
    assert_eq!(meta["platform"]["architecture"], "amd64");
    // Every digest and size is the archive's.
    let entries = tar_entries(&dir.join("a.tar"));
    let blob = |d: &Value| {
        let hex = d["digest"].as_str().unwrap().strip_prefix("sha256:").unwrap();
        entries.iter().find(|(n, _)| *n == format!("blobs/sha256/{hex}")).map(|(_, size)| *size)
    };
    let layers = meta["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for d in layers.iter().chain([&meta["manifest"], &meta["config"]]) {
        assert_eq!(blob(d), d["size"].as_u64(), "{d}");
    }
    assert!(layers.iter().all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"));
    let manifest: Value = {
        let mut archive = tar::Archive::new(std::fs::File::open(dir.join("a.tar")).unwrap());
        let hex = digest.strip_prefix("sha256:").unwrap().to_string();
        let mut entry =
            archive.entries().unwrap().map(Result::unwrap).find(|e| e.path().unwrap().ends_with(&hex)).unwrap();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let strip =
        |l: &Value| serde_json::json!({ "mediaType": l["mediaType"], "digest": l["digest"], "size": l["size"] });
    assert_eq!(manifest["layers"], Value::from(layers.iter().map(strip).collect::<Vec<_>>()));
    // Standard output takes the metadata when the image goes to a file.
    let (code, out, err) = run(dir, &["build", "args.json", "-o", "b.tar", "--metadata-file", "-"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["name"], "hello");
}

#[test]
fn metadata_and_digest_files_never_replace_an_input_or_the_image() {
    let p = project("hello", "1", &[]);
    let dir = p.path();
    let args_before = std::fs::read(dir.join("args.json")).unwrap();
    for (flag, file, said) in [
        ("--metadata-file", "args.json", "an input of this command"),
        ("--digestfile", "kernel", "an input of this command"),
        ("--metadata-file", "a.tar", "also where the image goes"),
        ("--digestfile", "./a.tar", "also where the image goes"),
    ] {
        let (code, _, err) = run(dir, &["build", "args.json", "-o", "a.tar", flag, file]);
        assert_eq!(code, 1, "{flag} {file}: {err}");
        assert!(err.contains(flag) && err.contains(said), "{flag} {file}: {err}");
    }
    let (code, _, err) = run(dir, &["build", "args.json", "-o", "-", "--digestfile", "/dev/stdout"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(std::fs::read(dir.join("args.json")).unwrap(), args_before);
    std::fs::write(dir.join("old.json"), "mine").unwrap();
    // A failed build leaves the metadata file as it was, and nothing beside it.
    let (code, _, _) = run(dir, &["build", "missing.json", "--metadata-file", "old.json", "--digestfile", "new"]);
    assert_eq!(code, 1);
    assert_eq!(std::fs::read_to_string(dir.join("old.json")).unwrap(), "mine");
    assert!(!dir.join("new").exists() && !dir.join("a.tar").exists());
}

#[test]
fn push_hints_a_swapped_pair_or_a_local_reference() {
    let p = project("hello", "1", &[]);
    let dir = p.path();
    assert_eq!(run(dir, &["build", "args.json", "-o", "hello.tar"]).0, 0);
    for (args, said) in [
        (vec!["push", "localhost:5000/hello:1", "hello.tar"], "look swapped"),
        (vec!["push", "docker://hello", "hello.tar"], "bimanix push hello.tar docker://hello"),
        (vec!["push", "hello.tar", "hello.tar"], "is a local file, not a registry reference"),
        (vec!["push", "ghcr.io/me/hello", "nowhere"], "reads as a registry reference"),
    ] {
        let (code, _, err) = run(dir, &args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(said) && err.contains("bimanix push IMAGE REFERENCE"), "{args:?}: {err}");
    }
    // A name that is no file is no hint.
    let (code, _, err) = run(dir, &["push", "missing.tar", "127.0.0.1:1/hello"]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("IMAGE REFERENCE"), "{err}");
}

#[test]
fn push_asks_for_the_password_on_a_terminal_without_echo() {
    let p = project("hello", "1", &[]);
    let dir = p.path();
    assert_eq!(run(dir, &["build", "args.json", "-o", "hello.tar"]).0, 0);
    // Pinned to another digest, the push stops after the password, before the network.
    let reference = format!("127.0.0.1:1/hello@sha256:{}", "0".repeat(64));
    let (code, _, err) = run(dir, &["push", "hello.tar", &reference, "--creds", "alice"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("standard input is not a terminal") && err.contains("--password-stdin"), "{err}");
    let mut child = Command::new("script")
        .args(["-qec", &format!("{BIN} push hello.tar {reference} --creds alice"), "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // The password is typed once the prompt is there, and a person's
    // moment later: rpassword turns echo off just after printing it.
    while !String::from_utf8_lossy(&shown).contains("Password for alice at 127.0.0.1:1: ") {
        assert!(Instant::now() < deadline, "no prompt: {}", String::from_utf8_lossy(&shown));
        if let Ok(bytes) = rx.recv_timeout(Duration::from_millis(100)) {
            shown.extend(bytes);
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"s3cret-typed\n").unwrap();
    while let Ok(bytes) = rx.recv_timeout(Duration::from_secs(10)) {
        shown.extend(bytes);
    }
    let status = child.wait().unwrap();
    let shown = String::from_utf8_lossy(&shown);
    assert_eq!(status.code(), Some(1), "{shown}");
    assert!(shown.contains("pins digest"), "the push did not go on after the password: {shown}");
    assert!(!shown.contains("s3cret-typed"), "the password was echoed: {shown}");
}
