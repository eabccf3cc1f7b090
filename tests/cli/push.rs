//! `push`: what is settled before the network.

use super::*;

/// A registry port that records whether anything connected to it: push
/// must refuse before it asks.
struct Unasked(std::net::TcpListener);

impl Unasked {
    fn new() -> Unasked {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        Unasked(listener)
    }

    fn reference(&self) -> String {
        format!("127.0.0.1:{}/test/hello:1", self.0.local_addr().expect("address").port())
    }

    /// Whether a connection came in (the kernel queues one even though
    /// nothing accepted it).
    fn asked(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// Pushes `image` to a port nobody may ask with `extra` options; expects
/// exit `code` with a message naming each of `what`, and the fixture unchanged.
fn refused_push(fx: &Fx, image: &Path, extra: &[&str], code: i32, what: &[&str]) {
    let registry = Unasked::new();
    let before = snapshot(fx.tmp.path());
    let run = bx(fx.tmp.path()).arg("push").arg(image).arg(registry.reference()).arg("--plain-http").args(extra).run();
    assert_eq!(run.code, Some(code), "push {extra:?} must be refused; stderr:\n{}", run.stderr);
    for w in what {
        assert!(run.stderr.contains(w), "push {extra:?}: the message does not name {w}:\n{}", run.stderr);
    }
    assert!(!registry.asked(), "push {extra:?} connected to the registry before refusing");
    assert_eq!(snapshot(fx.tmp.path()), before, "push {extra:?} changed a file");
}

/// The image the push tests push: `image.tar`, built from the standard args.
fn image_to_push(fx: &Fx) -> (PathBuf, PathBuf) {
    let args = fx.standard(&base_args());
    let image = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&image).run().ok();
    (args, image)
}

#[test]
fn push_refuses_a_digest_file_that_is_or_is_inside_the_image_before_any_network_use() {
    let fx = Fx::new();
    let (args, image) = image_to_push(&fx);
    let layout = fx.path("layout");
    bx(fx.tmp.path()).arg("build").arg(&args).args(["--format", "oci-layout", "-o"]).arg(&layout).run().ok();
    fs::hard_link(&image, fx.path("alias.tar")).expect("hard link");
    symlink("image.tar", fx.path("link.tar")).expect("symlink");
    for digestfile in ["image.tar", "alias.tar", "link.tar", "in/../image.tar"] {
        refused_push(&fx, &image, &["--digestfile", digestfile], 1, &["--digestfile", "the image to push"]);
    }
    for digestfile in ["layout/index.json", "layout/digest", "layout/blobs/sha256/new"] {
        refused_push(&fx, &layout, &["--digestfile", digestfile], 1, &["--digestfile", "the image to push"]);
    }
}

#[test]
fn push_checks_the_password_and_the_digest_file_before_any_network_use() {
    let fx = Fx::new();
    let (_, image) = image_to_push(&fx);
    fx.dir("dir");
    // Standard input is empty.
    refused_push(&fx, &image, &["--creds", "alice", "--password-stdin"], 2, &["--password-stdin", "no password"]);
    refused_push(&fx, &image, &["--digestfile", "missing/digest"], 1, &["--digestfile", "missing", "No such file"]);
    refused_push(&fx, &image, &["--digestfile", "dir"], 1, &["--digestfile", "is a directory"]);
    refused_push(&fx, &image, &["--digestfile", "image.tar/digest"], 1, &["--digestfile", "Not a directory"]);
    // A line break alone is no password either.
    let registry = Unasked::new();
    let out = Command::new("sh")
        .arg("-c")
        .arg("printf '\\n' | \"$0\" push \"$1\" \"$2\" --plain-http --creds alice --password-stdin")
        .args([BIN.as_ref(), image.as_os_str(), registry.reference().as_ref()])
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!registry.asked());
}

#[test]
fn list_form_files_entries_are_reported_at_their_position() {
    let fx = Fx::new();
    let (args, _) = fx.args("in/args.nix", &base_args());
    fx.write("in/kernel", &kernel());
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("in/amd.tar")).run().ok();
    let entry = |fields: &str| {
        format!(
            "{{\n  name = \"t\";\n  files = [\n    {{ source = ./kernel; target = \"/boot/kernel\"; }}\n    {{\n{fields}    }}\n  ];\n  annotations = {{ unikernelType = \"linux\"; hypervisor = \"qemu\"; binary = \"/boot/kernel\"; }};\n}}\n"
        )
    };
    let cases = [
        // An architecture the archive does not hold: the entry's own `architecture`, line 9.
        (
            "      fromImage = ./amd.tar;\n      source = \"/boot/kernel\";\n      target = \"/k\";\n      architecture = \"arm64\";\n",
            "e.nix:9:7: files[1].architecture: cannot read image",
        ),
        // A source that cannot be read: the entry, line 5.
        ("      source = ./nothere;\n      target = \"/n\";\n", "e.nix:5:5: files[1]: source"),
        // A path missing from the image: the entry.
        (
            "      fromImage = ./amd.tar;\n      source = \"/nothere\";\n      target = \"/n\";\n",
            "e.nix:5:5: files[1]: /nothere in image",
        ),
    ];
    for (fields, message) in cases {
        fx.write("in/e.nix", entry(fields).as_bytes());
        let run = bx(&fx.path("in")).args(["check", "e.nix"]).run();
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains(message), "want {message:?} in:\n{}", run.stderr);
    }
}
