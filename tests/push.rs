//! Integration tests of `bimanix push` that need no registry: what is
//! refused before any network use (usage errors exit 2, an image or a
//! pinned digest that cannot be pushed exit 1), checked by pointing the push
//! at an address where nothing listens, so that reaching the network would
//! show up as a different error. Pushes to real registries are in
//! tests/registry.sh.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");

fn run(args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(BIN)
        .args(args)
        .env("HOME", "/nonexistent")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `127.0.0.1:PORT` where nothing listens (the port was just free).
fn nowhere() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("127.0.0.1:{port}")
}

/// Builds the example-like image into `dir`, returning its path and manifest digest.
fn image(dir: &Path) -> (String, String) {
    std::fs::copy(KERNEL, dir.join("kernel")).unwrap();
    std::fs::write(
        dir.join("args.json"),
        r#"{"name": "hello", "files": {"./kernel": "/boot/kernel"},
            "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel"}}"#,
    )
    .unwrap();
    let out = dir.join("hello.tar");
    let args = dir.join("args.json");
    let (code, _, stderr) = run(&["build", args.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let digest = stderr.split("(manifest ").nth(1).unwrap().trim_end().trim_end_matches(')').to_string();
    (out.to_str().unwrap().to_string(), digest)
}

#[test]
fn usage_errors_exit_2_before_anything_else() {
    let to = format!("{}/x/hello:1", nowhere());
    for (args, said) in [
        (vec!["push", "missing.tar", "127.0.0.1:5000/Me/Hello"], "must be lowercase"),
        (vec!["push", "missing.tar", "docker://"], "the reference is empty"),
        (vec!["push", "missing.tar", "hello@sha256:abc"], "64 lowercase hex digits"),
        (vec!["push", "missing.tar", &to, "--creds", "alice"], "needs the password"),
        (vec!["push", "missing.tar", &to, "--creds", ":pw"], "needs a user name"),
        (vec!["push", "missing.tar", &to, "--creds", "a:b", "--password-stdin"], "user name only"),
        (vec!["push", "missing.tar", &to, "--password-stdin"], "--creds"),
        (vec!["push", "missing.tar", &to, "--plain-http", "--cert-dir", "/tmp"], "cannot be used with"),
        (vec!["push", "missing.tar", &to, "--tls-verify", "false"], "unexpected argument"),
        (vec!["push", "missing.tar", &to, "--compression", "lz4"], "possible values: none, gzip, zstd"),
        (vec!["push", "missing.tar", &to, "--jobs", "33"], "--jobs"),
        (vec!["push", "missing.tar", &to, "--chunk-size", "512K"], "between 1M and 4G"),
        (vec!["push", "missing.tar", &to, "--chunk-size", "3T"], "not a unit of size"),
        (vec!["push", "missing.tar", &to, "--mount-from", "Team/Base"], "must be lowercase"),
        (vec!["push", "missing.tar", &to, "--mount-from", "localhost:5000/x"], "names a registry"),
        (vec!["push", "missing.tar", &to, "127.0.0.1:5000/Bad"], "must be lowercase"),
        (vec!["push", "missing.tar", &to, "other.example/x:1", "--creds", "u:p"], "credentials of one registry"),
    ] {
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}

#[test]
fn an_image_that_cannot_be_pushed_fails_before_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let (image, digest) = image(dir.path());
    let to = format!("{}/x/hello:1", nowhere());

    let (code, _, stderr) = run(&["push", "missing.tar", &to]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot read image missing.tar"), "{stderr}");

    let other = format!("{to}@sha256:{}", "0".repeat(64));
    let (code, _, stderr) = run(&["push", &image, &other, "--compression", "none"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("pins digest sha256:{}, but the image's manifest is {digest}", "0".repeat(64))),
        "{stderr}"
    );
    // By default the uncompressed layer is gzipped, so the local digest is not the pushed one.
    let local = format!("{to}@{digest}");
    let (code, _, stderr) = run(&["push", &image, &local]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("pins digest {digest}, but the image's manifest is sha256:"))
            && stderr.contains("the local image's is the pinned one: --compression none keeps it"),
        "{stderr}"
    );

    std::fs::write(dir.path().join("not-an-image"), "hello").unwrap();
    let (code, _, stderr) = run(&["push", dir.path().join("not-an-image").to_str().unwrap(), &to]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a tar archive"), "{stderr}");
}

#[test]
fn the_right_digest_gets_as_far_as_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let (image, digest) = image(dir.path());
    let to = nowhere();
    let digestfile = dir.path().join("digest");
    let reference = format!("docker://{to}/x/hello@{digest}");
    let (code, stdout, stderr) =
        run(&["push", &image, &reference, "--compression", "none", "--digestfile", digestfile.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("cannot connect to {to}: connection refused")), "{stderr}");
    assert!(stdout.is_empty() && !digestfile.exists(), "{stdout}");
}

#[test]
fn help_lists_every_flag() {
    let (code, stdout, _) = run(&["push", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--creds",
        "--password-stdin",
        "--cert-dir",
        "--tls-verify",
        "--plain-http",
        "--compression",
        "--digestfile",
        "--timeout",
        "--jobs",
        "--mount-from",
        "--chunk-size",
    ] {
        assert!(stdout.contains(flag), "{flag}: {stdout}");
    }
}

/// Runs bimanix with `env` set and `stdin` piped in; (code, stdout + stderr).
fn run_with(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> (i32, String) {
    use std::io::Write;
    let mut command = Command::new(BIN);
    command.args(args).env("HOME", "/nonexistent").env_remove("REGISTRY_AUTH_FILE").env_remove("XDG_RUNTIME_DIR");
    command.env_remove("DOCKER_CONFIG").envs(env.iter().copied());
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    // bimanix may stop reading early (a cap), which ends the write.
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Issue 16, rule 6: an auth file or docker config in use is never the
/// digest file, whichever name reaches it.
#[test]
fn the_digest_file_is_never_a_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = image(dir.path());
    let to = format!("{}/x/hello:1", nowhere());
    let docker = dir.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    let config = docker.join("config.json");
    std::fs::write(&config, r#"{"auths": {}}"#).unwrap();
    std::os::unix::fs::symlink(&config, dir.path().join("link")).unwrap();
    let auth = dir.path().join("auth.json");
    std::fs::write(&auth, "{}").unwrap();
    let env = [("DOCKER_CONFIG", docker.to_str().unwrap()), ("REGISTRY_AUTH_FILE", auth.to_str().unwrap())];
    for target in [config.clone(), dir.path().join("link"), auth.clone()] {
        let (code, out) = run_with(&["push", &image, &to, "--digestfile", target.to_str().unwrap()], &env, b"");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("is an auth file") && !out.contains("cannot connect"), "{out}");
    }
    // With --creds too: the files are still the user's credentials.
    let (code, out) =
        run_with(&["push", &image, &to, "--creds", "u:p", "--digestfile", config.to_str().unwrap()], &env, b"");
    assert!(code == 1 && out.contains("is an auth file"), "{out}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), r#"{"auths": {}}"#);
    assert_eq!(std::fs::read_to_string(&auth).unwrap(), "{}");
}

/// Issue 16, rule 2: a secret planted in a malformed auth file or helper
/// answer never reaches a message.
#[test]
fn no_message_holds_a_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = image(dir.path());
    let registry = nowhere();
    let to = format!("{registry}/x/hello:1");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-leaky");
    std::fs::write(&helper, "#!/bin/sh\necho PLANTED-H1; echo PLANTED-H2 >&2; exit 1\n").unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cases = [
        format!(r#"{{"auths": {{"{registry}": {{"auth": "PLANTED-1!!"}}}}}}"#),
        format!(r#"{{"auths": {{"{registry}": {{"auth": "UExBTlRFRC0y"}}}}}}"#), // base64 "PLANTED-2"
        format!(r#"{{"auths": {{"{registry}": "PLANTED-3"}}}}"#),
        format!(r#"{{"auths": {{"{registry}": {{"identitytoken": ["PLANTED-4"]}}}}}}"#),
        format!(r#"{{"auths": {{"{registry}": {{"auth": "PLANTED-5"#),
        format!(r#"{{"credHelpers": {{"{registry}": "leaky"}}}}"#),
    ];
    let path = format!("{}:/usr/bin:/bin", bin.display());
    for (i, text) in cases.iter().enumerate() {
        let auth = dir.path().join(format!("auth{i}.json"));
        std::fs::write(&auth, text).unwrap();
        let env = [("REGISTRY_AUTH_FILE", auth.to_str().unwrap()), ("PATH", path.as_str())];
        let (code, out) = run_with(&["push", &image, &to], &env, b"");
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("auth{i}.json")), "case {i}: {out}");
        assert!(!out.contains("PLANTED") && !out.contains("UExBTlRFRC0y"), "case {i}: {out}");
    }
}

/// Issue 16, rule 3: --password-stdin reads one bounded line; bad bytes
/// are named, not shown.
#[test]
fn password_stdin_is_bounded_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = image(dir.path());
    let to = format!("{}/x/hello:1", nowhere());
    let push = ["push", &image, &to, "--creds", "u", "--password-stdin"];
    let (code, out) = run_with(&push, &[], &vec![b'P'; 1 << 20]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than 65536 bytes") && !out.contains("PPPP"), "{out}");
    let (code, out) = run_with(&push, &[], b"PLANTED\xff\xfe\n");
    assert!(code == 1 && out.contains("the password is not UTF-8 text") && !out.contains("PLANTED"), "{out}");
    // The first line is the password; what follows is not read as part of it.
    let (code, out) = run_with(&push, &[], b"PLANTED-pw\nmore\n");
    assert!(code == 1 && out.contains("cannot connect") && !out.contains("PLANTED"), "{out}");
}

/// A layer that goes uncompressed because it is pushed as built (here, with
/// documents attached) gets a note when it is big, before the network; one
/// the user asked to keep uncompressed does not.
#[test]
fn a_big_layer_pushed_uncompressed_gets_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(KERNEL, dir.path().join("kernel")).unwrap();
    std::fs::File::create(dir.path().join("disk.img")).unwrap().set_len(65 << 20).unwrap();
    std::fs::write(
        dir.path().join("args.json"),
        r#"{"name": "hello", "files": {"./kernel": "/boot/kernel", "./disk.img": "/disk.img"},
            "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel"}}"#,
    )
    .unwrap();
    let out = dir.path().join("hello.tar");
    let (out, args) = (out.to_str().unwrap(), dir.path().join("args.json"));
    let (code, _, stderr) =
        run(&["build", args.to_str().unwrap(), "--format", "oci-archive", "--sbom", "cyclonedx", "-o", out]);
    assert_eq!(code, 0, "{stderr}");
    let to = format!("{}/x/hello:1", nowhere());
    let (code, _, stderr) = run(&["push", out, &to, "--plain-http", "--timeout", "5s"]);
    assert_eq!(code, 1, "{stderr}");
    let notes: Vec<&str> = stderr.lines().filter(|l| l.contains("note: ")).collect();
    assert_eq!(notes.len(), 1, "{stderr}");
    assert!(notes[0].contains("goes uncompressed, as built (65.00 MiB): every node pulls all of it"), "{stderr}");
    let (code, _, stderr) = run(&["push", out, &to, "--plain-http", "--timeout", "5s", "--compression", "none"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains("note: "), "{stderr}");
}
