//! Reproducibility: the same inputs give the same bytes whatever the machine, directory, umask,
//! locale or input metadata.

use super::*;

/// Inputs touching every kind of entry, with the given args syntax.
pub(crate) fn repro_inputs(fx: &Fx, dir: &str) -> PathBuf {
    fx.write(&format!("{dir}/kernel"), &kernel());
    fx.write(&format!("{dir}/app/etc/conf"), b"a=1\n");
    let run = fx.write(&format!("{dir}/app/bin/run"), b"#!/bin/sh\n");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod");
    fx.dir(&format!("{dir}/app/empty"));
    symlink("../etc/conf", fx.path(&format!("{dir}/app/bin/conf"))).expect("symlink");
    let mut v = base_args();
    v["files"] = json!({ "./kernel": "/boot/kernel", "./app": "/app" });
    v["env"] = json!({ "B": "2", "A": "1" });
    v["labels"] = json!({ "z": "last", "a": "first" });
    v["workingDir"] = json!("/app");
    fx.args(&format!("{dir}/args.json"), &v).0
}

/// Builds into a fresh directory; returns the archive's bytes.
pub(crate) fn build_bytes(b: Bx, args: &Path) -> Vec<u8> {
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("image.tar");
    b.arg("build").arg(args).arg("-o").arg(&target).run().ok();
    fs::read(&target).expect("output")
}

fn reference_build(fx: &Fx) -> (PathBuf, Vec<u8>) {
    let args = repro_inputs(fx, "in");
    let bytes = build_bytes(bx(fx.tmp.path()), &args);
    (args, bytes)
}

#[test]
fn repro_the_same_inputs_built_twice_are_identical() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_a_different_working_directory_changes_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    assert_eq!(build_bytes(bx(Path::new("/")), &args), first);
    let in_dir = fx.path("in");
    let relative = bx(&in_dir).arg("build").arg("args.json").arg("-o").arg(fx.path("rel.tar")).run();
    relative.ok();
    assert_eq!(fs::read(fx.path("rel.tar")).expect("output"), first);
}

#[test]
fn repro_a_different_location_of_the_inputs_changes_nothing() {
    let fx = Fx::new();
    let (_, first) = reference_build(&fx);
    let other = Fx::new();
    let deeper = other.dir("a/much/deeper/place");
    sh("cp", &["-a", fx.path("in").to_str().expect("utf-8"), deeper.join("moved").to_str().expect("utf-8")]);
    assert_eq!(build_bytes(bx(other.tmp.path()), &deeper.join("moved/args.json")), first);
}

#[test]
fn repro_the_umask_changes_nothing() {
    let fx = Fx::new();
    let (args, _) = reference_build(&fx);
    let a = build_bytes(bx(fx.tmp.path()).umask(0o022), &args);
    let b = build_bytes(bx(fx.tmp.path()).umask(0o077), &args);
    assert_eq!(a, b);
}

#[test]
fn repro_time_zone_and_locale_change_nothing() {
    let fx = Fx::new();
    let (args, _) = reference_build(&fx);
    let a = build_bytes(bx(fx.tmp.path()).env("TZ", "UTC").env("LC_ALL", "C"), &args);
    let b = build_bytes(
        bx(fx.tmp.path()).env("TZ", "Pacific/Chatham").env("LC_ALL", "C.UTF-8").env("LANG", "de_DE.UTF-8"),
        &args,
    );
    assert_eq!(a, b);
}

#[test]
fn repro_input_mtimes_change_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    let root = fx.path("in");
    sh("sh", &["-c", "find \"$1\" -exec touch -h -d '2001-02-03 04:05:06' {} +", "sh", root.to_str().expect("utf-8")]);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_group_and_other_permission_bits_change_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    let root = fx.path("in");
    let set =
        |rel: &str, mode: u32| fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).expect("chmod");
    set("kernel", 0o600);
    set("app/etc/conf", 0o666);
    set("app/bin/run", 0o700);
    set("app/empty", 0o700);
    set("app/etc", 0o775);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_only_the_executable_bit_counts() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    fs::set_permissions(fx.path("in/kernel"), fs::Permissions::from_mode(0o744)).expect("chmod");
    let second = build_bytes(bx(fx.tmp.path()), &args);
    assert_ne!(second, first, "making a file executable must change the image");
    let img = Image::from_tar(&second);
    assert_eq!(img.entry("boot/kernel").mode, 0o755);
}

#[test]
fn repro_owners_change_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    if !privileged() {
        eprintln!(
            "note: not root, so the inputs cannot be given to another owner; owner independence is not tested here"
        );
        return;
    }
    sh("chown", &["-R", "-h", "12345:54321", fx.path("in").to_str().expect("utf-8")]);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_nix_and_json_args_give_the_same_image() {
    let fx = Fx::new();
    let (json_args, first) = reference_build(&fx);
    let v: Value = parse(&fs::read(&json_args).expect("args"), "args");
    let (nix_args, _) = fx.args("in/args.nix", &v);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &nix_args), first);
}

#[test]
fn repro_nix_language_features_give_the_same_image() {
    let fx = Fx::new();
    let json_args = fx.standard(&base_args());
    let first = build_bytes(bx(fx.tmp.path()), &json_args);
    let nix = r#"# The same image as base_args(), written the way people write Nix.
let
  dir = "/boot";
  kernel = "${dir}/kernel"; /* a block comment */
in {
  name = "hello";
  tag = ''v1'';
  files."./kernel" = kernel;
  annotations.unikernelType = "linux";
  annotations.hypervisor = "qemu";
  annotations = { binary = kernel; };
  annotations.cmdline = "console=ttyS0 quiet";
}
"#;
    let nix_args = fx.write("in/args.nix", nix.as_bytes());
    assert_eq!(build_bytes(bx(fx.tmp.path()), &nix_args), first);
}

#[test]
fn repro_stdout_gets_the_same_bytes_as_a_file() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    let cwd = fx.dir("cwd");
    let run = bx(&cwd).arg("build").arg(&args).args(["-o", "-"]).run();
    run.ok();
    assert!(run.stdout == first, "-o - wrote {} bytes that differ from the file's {}", run.stdout.len(), first.len());
    assert!(listing(&cwd).is_empty(), "-o - left files behind: {:?}", listing(&cwd));
}
