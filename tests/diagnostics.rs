//! Errors as rustc shows them: every error of one run, each with its
//! `file:line:col` line first, the source line, a caret under the
//! offending text and a `help:` line; clap's usage errors in the same
//! form; colour on a terminal only, never with NO_COLOR; and the sample
//! error of docs/command-line.md is what the tool prints.

use std::fs;
use std::path::Path;
use std::process::Command;

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const REPO: &str = env!("CARGO_MANIFEST_DIR");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");

/// Runs bimanix in `dir` with standard error piped: its status and stderr.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("NO_COLOR")
        .output()
        .expect("bimanix");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A directory with the example kernel as `hello.bzImage` and `args.nix`.
fn dir_with(args: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(KERNEL, dir.path().join("hello.bzImage")).unwrap();
    fs::write(dir.path().join("args.nix"), args).unwrap();
    dir
}

#[test]
fn two_misspelt_keys_give_two_errors_each_with_line_caret_and_help() {
    let dir = dir_with(
        "{\n  name = \"x\";\n  tga = \"1\";\n  files = { \"./hello.bzImage\" = \"/kernel\"; };\n  annotations = {\n    unikernelType = \"linux\";\n    hypervsor = \"qemu\";\n    binary = \"/kernel\";\n  };\n}\n",
    );
    let (code, err) = run(dir.path(), &["check", "args.nix"]);
    assert_eq!(code, Some(1), "{err}");
    let expected = "\
bimanix: error: args.nix:3:3: tga: unknown key
  |
3 |   tga = \"1\";
  |   ^^^
  |
  = help: did you mean \"tag\"?
bimanix: error: args.nix:7:5: annotations.hypervsor: unknown urunc annotation
  |
7 |     hypervsor = \"qemu\";
  |     ^^^^^^^^^
  |
  = help: did you mean \"hypervisor\"?
";
    assert_eq!(err, expected);
}

#[test]
fn a_misspelt_key_does_not_hide_the_rules_errors() {
    let dir = dir_with(
        "{\n  name = \"x\";\n  tga = \"1\";\n  files = { \"./hello.bzImage\" = \"/kernel\"; };\n  annotations = {\n    unikernelType = \"linux\";\n    hypervisor = \"qemuu\";\n    binary = \"/kernel\";\n  };\n}\n",
    );
    let (code, err) = run(dir.path(), &["check", "args.nix"]);
    assert_eq!(code, Some(1), "{err}");
    let firsts: Vec<&str> = err.lines().filter(|l| l.starts_with("bimanix: error: ")).collect();
    assert_eq!(firsts.len(), 2, "{err}");
    assert_eq!(firsts[0], "bimanix: error: args.nix:3:3: tga: unknown key");
    assert!(firsts[1].starts_with("bimanix: error: args.nix:7:5: annotations.hypervisor: unknown `qemuu`"), "{err}");
    // convert reads without the rules, and refuses the key all the same.
    fs::write(
        dir.path().join("args.json"),
        r#"{"name": "x", "tga": "1", "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/k"}}"#,
    )
    .unwrap();
    let (code, err) = run(dir.path(), &["convert", "args.json"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.starts_with("bimanix: error: args.json: tga: unknown key\n"), "{err}");
}

#[test]
fn reader_and_rule_errors_of_one_file_are_all_reported() {
    let dir = dir_with(
        "{\n  name = \"x\";\n  files = {\n    \"./hello.bzImag\" = \"/kernel\";\n    \"./hello.bzImage\" = \"/k2\";\n  };\n  annotations = {\n    unikernelType = \"linux\";\n    hypervisor = \"qemuu\";\n    binary = \"/k2\";\n  };\n  architecture = \"amd65\";\n}\n",
    );
    let (code, err) = run(dir.path(), &["check", "args.nix"]);
    assert_eq!(code, Some(1), "{err}");
    let firsts: Vec<&str> = err.lines().filter(|l| l.starts_with("bimanix: error: ")).collect();
    assert!(firsts.len() >= 3, "{err}");
    // The wrong source path suggests the file next to it.
    assert!(err.contains("args.nix:4:5: files.\"./hello.bzImag\": source "), "{err}");
    assert!(err.contains("= help: did you mean `hello.bzImage`?"), "{err}");
    assert!(err.contains("args.nix:9:5: annotations.hypervisor: unknown `qemuu`"), "{err}");
    assert!(err.contains("= help: did you mean `qemu`?"), "{err}");
    assert!(err.contains("args.nix:12:3: architecture: \"amd65\" is not an OCI architecture"), "{err}");
    assert!(err.contains("= help: did you mean \"amd64\"?"), "{err}");
    // Every line is an error line or part of a rendered snippet.
    for line in err.lines() {
        assert!(
            line.starts_with("bimanix: error: ") || line.trim_start().starts_with(['|', '=']) || line.contains(" | "),
            "a line outside the form: {line:?} in\n{err}"
        );
    }
}

#[test]
fn a_containerfile_with_two_bad_instructions_gives_two_errors() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(KERNEL, dir.path().join("hello.bzImage")).unwrap();
    fs::write(
        dir.path().join("Containerfile"),
        "FROM scratch\nCOPY hello.bzImag /kernel\nLABEL com.urunc.unikernel.hypervisor=qemu\nRUNN echo\nLABEL com.urunc.unikernel.binary=/kernel\n",
    )
    .unwrap();
    let (code, err) = run(dir.path(), &["check", "Containerfile"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("bimanix: error: Containerfile:2:"), "{err}");
    assert!(err.contains("= help: did you mean `hello.bzImage`?"), "{err}");
    assert!(err.contains("bimanix: error: Containerfile:4:1: RUNN: "), "{err}");
    assert!(err.contains("4 | RUNN echo\n  | ^^^^"), "{err}");
}

#[test]
fn usage_errors_have_the_same_form() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = run(dir.path(), &["build", "--zzz", "x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.starts_with("bimanix: error: unexpected argument '--zzz' found\n"), "{err}");
    assert!(err.contains("= usage: bimanix build [OPTIONS] [FILE]"), "{err}");
    let (code, err) = run(dir.path(), &["push"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("bimanix: error: the following required arguments were not provided: <IMAGE>, <REFERENCE>...\n"),
        "{err}"
    );
    for line in err.lines() {
        assert!(
            line.starts_with("bimanix: error: ") || line.trim_start().starts_with(['|', '=']),
            "{line:?} in\n{err}"
        );
    }
    // Help still goes to standard output with status 0.
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: bimanix"));
}

/// Runs `bimanix check args.nix` in `dir` on a pseudo-terminal (util-linux
/// `script`), with `NO_COLOR` as given: what the terminal received.
fn on_terminal(dir: &Path, no_colour: Option<&str>) -> String {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{BIN} check args.nix"), "/dev/null"]).current_dir(dir).env("TERM", "xterm");
    match no_colour {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let out = cmd.output().expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_only_and_never_with_no_colour() {
    let dir = dir_with("{ nmae = \"x\"; }\n");
    let coloured = on_terminal(dir.path(), None);
    assert!(coloured.contains("\x1b["), "no colour on a terminal: {coloured:?}");
    assert!(coloured.contains("nmae: unknown key"), "{coloured:?}");
    for value in ["1", ""] {
        let plain = on_terminal(dir.path(), Some(value));
        assert!(!plain.contains("\x1b["), "colour with NO_COLOR={value:?}: {plain:?}");
        assert!(plain.contains("nmae: unknown key"), "{plain:?}");
    }
    let (_, piped) = run(dir.path(), &["check", "args.nix"]);
    assert!(!piped.contains('\x1b'), "{piped:?}");
}

#[test]
fn the_build_of_a_nix_image_names_the_args_file_positions() {
    let dir = tempfile::tempdir().unwrap();
    fs::copy(KERNEL, dir.path().join("kernel")).unwrap();
    let kernel = dir.path().join("kernel");
    let args = serde_json::json!({
        "name": "x",
        "files": [{"source": kernel, "target": "/kernel"}],
        "annotations": {"unikernelType": "linux", "hypervisor": "qemuu", "binary": "/kernel"},
        // As nix/positions.nix writes them.
        "__positions": {"file": "images.nix", "keys": {"annotations.hypervisor": [12, 7], "name": [9, 5]}},
    });
    fs::write(dir.path().join("args.json"), args.to_string()).unwrap();
    let out = Command::new(BIN)
        .args(["check", "--args-from-env", "A"])
        .env("A", dir.path().join("args.json"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("bimanix: error: images.nix:12:7: annotations.hypervisor: unknown `qemuu`"), "{err}");
    assert!(err.contains("= help: did you mean `qemu`?"), "{err}");
}

/// The ``` block after the `<!-- sample error -->` line of `page`.
fn sample(page: &str) -> String {
    let text = fs::read_to_string(Path::new(REPO).join(page)).expect(page);
    let after = text.split("<!-- sample error -->").nth(1).expect("a <!-- sample error --> marker");
    let block = after.split("```\n").nth(1).expect("a ``` block after the marker");
    block.to_string()
}

#[test]
fn the_documented_sample_error_is_what_bimanix_prints() {
    // The example of docs/args-nix.md, its hypervisor misspelt.
    let page = fs::read_to_string(Path::new(REPO).join("docs/args-nix.md")).unwrap();
    let example = page
        .split("```nix\n")
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("name = \"hello-rumprun\""))
        .expect("the hello-rumprun example");
    assert!(example.contains("hypervisor = \"hvt\";"));
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("args.nix"), example.replace("hypervisor = \"hvt\";", "hypervisor = \"qemuu\";"))
        .unwrap();
    fs::copy(KERNEL, dir.path().join("hello.hvt")).unwrap();
    let (code, err) = run(dir.path(), &["check", "args.nix"]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err, sample("docs/command-line.md"));
}
