//! `check`, `inspect`, usage errors and help, and the old bimanix README's own example.

use super::*;

#[test]
fn check_accepts_valid_args_and_writes_nothing() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let cwd = fx.dir("cwd");
    let before = snapshot(fx.tmp.path());
    let run = bx(&cwd).arg("check").arg(&args).run();
    run.ok();
    assert!(!String::from_utf8_lossy(&run.stdout).contains("ustar"), "check printed an archive");
    assert_eq!(snapshot(fx.tmp.path()), before, "check changed the filesystem");
}

#[test]
fn inspect_accepts_a_built_image() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let text = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    text.ok();
    let shown = String::from_utf8_lossy(&text.stdout);
    for want in ["hello", "v1", "amd64", "qemu", "/boot/kernel"] {
        assert!(shown.contains(want), "inspect does not show {want}:\n{shown}");
    }
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    parse(&js.stdout, "inspect --json");
}

#[test]
fn inspect_fails_on_a_corrupted_blob() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let mut bytes = fs::read(&out).expect("output");
    // Flip a byte of the kernel inside the layer blob.
    let k = kernel();
    let at = bytes.windows(64).position(|w| w == &k[512..576]).expect("kernel bytes in the archive");
    bytes[at] ^= 0xff;
    fs::write(&out, &bytes).expect("write");
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    assert_eq!(
        run.code,
        Some(1),
        "inspect must reject a blob whose digest is wrong:\n{}",
        String::from_utf8_lossy(&run.stdout)
    );
}

#[test]
fn usage_errors_exit_2() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let cwd = fx.dir("cwd");
    for argv in [
        vec![],
        vec!["frobnicate"],
        vec!["build", "--no-such-flag"],
        vec!["build", "--format", "zip"],
        vec!["build", "-o"],
        vec!["check", "a.nix", "b.nix"],
        vec!["check", "--urunc", "0.4"],
        vec!["build", "--urunc", "main-0.5"],
        vec!["inspect"],
    ] {
        let run = bx(&cwd).args(argv.iter().copied()).run();
        assert_eq!(run.code, Some(2), "{argv:?}: {}", run.stderr);
        assert!(!run.stderr.is_empty(), "{argv:?} says nothing");
    }
    let run = bx(&cwd).arg("build").arg(&args).args(["--args-from-env", "X"]).run();
    assert_eq!(run.code, Some(2), "an args file and --args-from-env together: {}", run.stderr);
    assert!(listing(&cwd).is_empty());
}

#[test]
fn help_on_each_command_and_version() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let help = |argv: &[&str]| {
        let run = bx(cwd.path()).args(argv.iter().copied()).run();
        assert_eq!(run.code, Some(0), "{argv:?}: {}", run.stderr);
        String::from_utf8_lossy(&run.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for c in ["build", "check", "inspect"] {
        assert!(top.contains(c), "--help does not list {c}:\n{top}");
    }
    let b = help(&["build", "--help"]);
    for o in [
        "--output",
        "--format",
        "docker-archive",
        "oci-archive",
        "oci-layout",
        "--no-pair-check",
        "--args-from-env",
        "FILE",
        "--urunc",
        "0.6-main",
    ] {
        assert!(b.contains(o), "build --help does not explain {o}:\n{b}");
    }
    let c = help(&["check", "--help"]);
    for o in ["--no-pair-check", "--args-from-env", "FILE", "--urunc"] {
        assert!(c.contains(o), "check --help does not explain {o}:\n{c}");
    }
    let i = help(&["inspect", "--help"]);
    for o in ["--json", "IMAGE", "--urunc", "--no-pair-check"] {
        assert!(i.contains(o), "inspect --help does not explain {o}:\n{i}");
    }
    assert_eq!(help(&["help", "build"]), b);
    // tests/conventions.rs checks the commit that follows.
    assert!(help(&["--version"]).starts_with(&format!("bimanix {}", env!("CARGO_PKG_VERSION"))));
}

// The bimanix README's own example

/// args.nix exactly as the bimanix README shows it.
const README_ARGS: &str = r#"{
  name = "hello-rumprun";
  tag = "latest";
  files = {
    "./hello1.hvt" = "/unikernel/hello.hvt";
  };
  annotations = {
    unikernelType = "rumprun";
    hypervisor = "hvt";
    binary = "/unikernel/hello.hvt";
    cmdline = "hello";
    unikernelVersion = "";
    initrd = "";
    block = "";
    blkMntPoint = "";
  };
}
"#;

fn check_readme_image(bytes: &[u8]) {
    let img = Image::from_tar(bytes);
    assert_eq!(img.docker_manifest.as_ref().expect("manifest.json")[0]["RepoTags"], json!(["hello-rumprun:latest"]));
    assert_eq!(img.config["architecture"], "amd64");
    assert_eq!(img.entry("unikernel/hello.hvt").data, fake_hvt_elf());
    let want: BTreeMap<String, String> =
        [("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/unikernel/hello.hvt"), ("cmdline", "hello")]
            .iter()
            .map(|(k, v)| (full(k), v.to_string()))
            .collect();
    assert_eq!(img.labels(), want, "empty strings are unset");
    assert_eq!(img.urunc_json(), want);
    assert_eq!(img.config["config"]["Cmd"], json!(["hello"]));
}

#[test]
fn the_bimanix_readme_example_builds_unchanged_and_passes_inspect() {
    let fx = Fx::new();
    fx.write("readme/hello1.hvt", &fake_hvt_elf());
    fx.write("readme/args.nix", README_ARGS.as_bytes());
    let dir = fx.path("readme");
    bx(&dir).arg("build").run().ok();
    let out = dir.join("hello-rumprun-latest.tar");
    check_readme_image(&fs::read(&out).expect("hello-rumprun-latest.tar"));
    let run = bx(&dir).arg("inspect").arg(&out).run();
    assert_eq!(
        run.code,
        Some(0),
        "inspect rejects the README example:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        run.stderr
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("hello-rumprun"), "inspect does not name the image");
}

#[test]
fn the_bimanix_readme_example_as_json_builds() {
    let fx = Fx::new();
    fx.write("readme/hello.hvt", &fake_hvt_elf());
    let v = json!({
        "name": "hello-rumprun", "tag": "latest",
        "files": { "./hello.hvt": "/unikernel/hello.hvt" },
        "annotations": { "unikernelType": "rumprun", "hypervisor": "hvt", "binary": "/unikernel/hello.hvt", "cmdline": "hello",
                         "unikernelVersion": "", "initrd": "", "block": "", "blkMntPoint": "" },
    });
    let (args, _) = fx.args("readme/args.json", &v);
    let cwd = fx.dir("cwd");
    bx(&cwd).arg("build").arg(&args).run().ok();
    check_readme_image(&fs::read(cwd.join("hello-rumprun-latest.tar")).expect("output"));
}
