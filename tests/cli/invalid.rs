//! Invalid input: each rule is an error that names the file and key (with line:col for Nix), exits
//! 1 and leaves nothing behind.

use super::*;

#[derive(Clone, Copy, PartialEq)]
enum Syntax {
    Json,
    Nix,
}

pub(crate) type Edit = Box<dyn Fn(&mut Value)>;
type Setup = Box<dyn Fn(&Fx)>;

/// One invalid input.
struct Case {
    edit: Edit,
    setup: Setup,
    /// The message must contain one of each group.
    must: Vec<Vec<&'static str>>,
    /// For Nix: the error's line is the line of one of these texts.
    at: Vec<&'static str>,
    /// For Nix: a missing key may be named without a position.
    position_optional: bool,
}

fn case(edit: impl Fn(&mut Value) + 'static) -> Case {
    Case { edit: Box::new(edit), setup: Box::new(|_| {}), must: Vec::new(), at: Vec::new(), position_optional: false }
}

impl Case {
    fn setup(mut self, f: impl Fn(&Fx) + 'static) -> Case {
        self.setup = Box::new(f);
        self
    }

    /// The message must name one of `any`.
    fn names(mut self, any: &[&'static str]) -> Case {
        self.must.push(any.to_vec());
        self
    }

    /// A missing key has no place in the file: naming it is enough.
    fn missing(mut self) -> Case {
        self.position_optional = true;
        self
    }

    /// In Nix, the position must be on the line holding one of `texts`.
    fn at(mut self, texts: &[&'static str]) -> Case {
        self.at = texts.to_vec();
        self
    }
}

fn ann(v: &mut Value, key: &str, val: Value) {
    v["annotations"][key] = val;
}

/// `file:line:col` positions in `msg` for the file named `file`.
pub(crate) fn positions(msg: &str, file: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let pat = format!("{file}:");
    let mut rest = msg;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[line.len()..];
        if let Some(c) = after.strip_prefix(':') {
            let col: String = c.chars().take_while(char::is_ascii_digit).collect();
            if let (Ok(l), Ok(c)) = (line.parse(), col.parse()) {
                out.push((l, c));
            }
        }
    }
    out
}

fn expect_invalid(c: Case, syntax: Syntax) {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    (c.setup)(&fx);
    let mut v = base_args();
    (c.edit)(&mut v);
    let file = if syntax == Syntax::Json { "args.json" } else { "args.nix" };
    let (args, text) = fx.args(&format!("in/{file}"), &v);
    let out = fx.dir("out");
    let cwd = fx.dir("cwd");
    let inputs = snapshot(&fx.path("in"));

    let build = bx(&cwd).arg("build").arg(&args).arg("-o").arg(out.join("image.tar")).run();
    let default_out = bx(&cwd).arg("build").arg(&args).run();
    let check = bx(&cwd).arg("check").arg(&args).run();
    for (what, run) in [("build -o", &build), ("build", &default_out), ("check", &check)] {
        assert_eq!(run.code, Some(1), "{what} must exit 1 on invalid input; stderr:\n{}\nargs:\n{text}", run.stderr);
        assert!(run.stderr.contains(file), "{what}: the message does not name {file}:\n{}", run.stderr);
        for group in &c.must {
            assert!(
                group.iter().any(|w| run.stderr.contains(w)),
                "{what}: the message names none of {group:?}:\n{}\nargs:\n{text}",
                run.stderr
            );
        }
        if syntax == Syntax::Nix && !c.position_optional {
            let found = positions(&run.stderr, file);
            assert!(!found.is_empty(), "{what}: no {file}:line:col in:\n{}", run.stderr);
            let lines: Vec<usize> =
                c.at.iter()
                    .map(|t| {
                        text.lines()
                            .position(|l| l.contains(t))
                            .unwrap_or_else(|| panic!("test bug: {t:?} is not in:\n{text}"))
                            + 1
                    })
                    .collect();
            assert!(
                lines.is_empty() || found.iter().any(|(l, _)| lines.contains(l)),
                "{what}: expected a position on line {lines:?}, got {found:?}:\n{}\nargs:\n{text}",
                run.stderr
            );
        }
    }
    assert!(listing(&out).is_empty(), "build -o left {:?} in the output directory", listing(&out));
    assert!(listing(&cwd).is_empty(), "build left {:?} in the working directory", listing(&cwd));
    assert_eq!(snapshot(&fx.path("in")), inputs, "the input directory changed");
}

macro_rules! invalid_cases {
    ($($name:ident => $case:expr;)*) => {
        mod invalid_json {
            use super::*;
            $( #[test] fn $name() { expect_invalid($case, Syntax::Json) } )*
        }
        mod invalid_nix {
            use super::*;
            $( #[test] fn $name() { expect_invalid($case, Syntax::Nix) } )*
        }
    };
}

invalid_cases! {
    // Required keys.
    missing_name => case(|v| { v.as_object_mut().expect("obj").remove("name"); }).names(&["name"]);
    missing_annotations => case(|v| { v.as_object_mut().expect("obj").remove("annotations"); }).names(&["annotations"]);
    missing_unikernel_type => case(|v| { v["annotations"].as_object_mut().expect("obj").remove("unikernelType"); }).names(&["unikernelType"]).missing();
    missing_hypervisor => case(|v| { v["annotations"].as_object_mut().expect("obj").remove("hypervisor"); }).names(&["hypervisor"]).missing();
    missing_binary => case(|v| { v["annotations"].as_object_mut().expect("obj").remove("binary"); }).names(&["binary"]).missing();
    empty_binary_is_missing => case(|v| ann(v, "binary", json!(""))).names(&["binary"]);

    // Unknown keys, with a suggestion.
    unknown_top_level_key => case(|v| v["nmae"] = json!("x")).names(&["nmae"]).names(&["did you mean"]).names(&["\"name\""]).at(&["nmae ="]);
    unknown_annotation => case(|v| ann(v, "hypervisr", json!("qemu"))).names(&["hypervisr"]).names(&["did you mean"]).names(&["\"hypervisor\""]).at(&["hypervisr ="]);
    unknown_key_in_a_target_set => case(|v| v["files"]["./kernel"] = json!({ "target": "/boot/kernel", "mod": "0755" }))
        .names(&["mod"]).names(&["did you mean"]).names(&["\"mode\""]).at(&["mod ="]);

    // Wrong value types.
    name_not_a_string => case(|v| v["name"] = json!(42)).names(&["name"]).at(&["name ="]);
    files_not_a_set => case(|v| v["files"] = json!("./kernel")).names(&["files"]).at(&["files ="]);
    cmd_not_a_list => case(|v| v["cmd"] = json!("run me")).names(&["cmd"]).at(&["cmd ="]);
    entrypoint_item_not_a_string => case(|v| v["entrypoint"] = json!(["/bin/app", 1])).names(&["entrypoint"]).at(&["entrypoint ="]);
    env_item_not_key_value => case(|v| v["env"] = json!(["NOEQUALS"])).names(&["env"]).names(&["NOEQUALS"]).at(&["env ="]);
    env_value_not_a_string => case(|v| v["env"] = json!({ "A": true })).names(&["env"]).at(&["A = true"]);
    annotation_not_a_string => case(|v| ann(v, "hypervisor", json!(1))).names(&["hypervisor"]).at(&["hypervisor ="]);
    labels_not_strings => case(|v| v["labels"] = json!({ "a": 1 })).names(&["labels"]).at(&["a = 1"]);
    working_dir_not_a_string => case(|v| v["workingDir"] = json!(["/app"])).names(&["workingDir"]).at(&["workingDir ="]);
    mode_not_octal => case(|v| v["files"]["./kernel"] = json!({ "target": "/boot/kernel", "mode": "0999" })).names(&["mode"]).at(&["mode ="]);
    created_not_rfc3339 => case(|v| v["created"] = json!("yesterday")).names(&["created"]).at(&["created ="]);
    args_not_a_set => case(|v| *v = json!(["name", "hello"])).names(&["attribute set", "object"]);

    // Unknown type or monitor, and pairs urunc does not run.
    unknown_unikernel_type => case(|v| ann(v, "unikernelType", json!("linuxx"))).names(&["unikernelType"]).names(&["linuxx"]).at(&["unikernelType ="]);
    unknown_hypervisor => case(|v| ann(v, "hypervisor", json!("qemuu"))).names(&["hypervisor"]).names(&["qemuu"]).at(&["hypervisor ="]);
    unsupported_pair => case(|v| ann(v, "unikernelType", json!("rumprun"))).names(&["rumprun"]).names(&["qemu"]).names(&["--no-pair-check"]).at(&["unikernelType =", "hypervisor ="]);

    // binary, initrd, block must be files of the image.
    binary_not_in_files => case(|v| ann(v, "binary", json!("/boot/other"))).names(&["binary"]).names(&["/boot/other"]).at(&["binary ="]);
    binary_is_a_directory => case(|v| { v["files"]["./dir"] = json!("/boot/dir"); ann(v, "binary", json!("/boot/dir")); })
        .setup(|fx| { fx.dir("in/dir"); }).names(&["binary"]).at(&["binary ="]);
    initrd_not_in_files => case(|v| ann(v, "initrd", json!("/boot/initrd"))).names(&["initrd"]).names(&["/boot/initrd"]).at(&["initrd ="]);
    block_not_in_files => case(|v| { ann(v, "block", json!("/disk.img")); ann(v, "blkMntPoint", json!("/")); })
        .names(&["block"]).names(&["/disk.img"]).at(&["block ="]);
    block_without_blkmntpoint => case(|v| { v["files"]["./disk.img"] = json!("/disk.img"); ann(v, "block", json!("/disk.img")); })
        .setup(|fx| { fx.write("in/disk.img", &[0; 1024]); }).names(&["blkMntPoint"]).at(&["block ="]);

    // urunc's path rules.
    binary_relative => case(|v| ann(v, "binary", json!("boot/kernel"))).names(&["binary"]).at(&["binary ="]);
    binary_with_a_space => case(|v| { v["files"] = json!({ "./kernel": "/boot/my kernel" }); ann(v, "binary", json!("/boot/my kernel")); })
        .names(&["binary"]).at(&["binary ="]);
    binary_not_clean => case(|v| ann(v, "binary", json!("/boot/../boot/kernel"))).names(&["binary"]).at(&["binary ="]);
    binary_is_the_root => case(|v| ann(v, "binary", json!("/"))).names(&["binary"]).at(&["binary ="]);
    initrd_with_a_shell_character => case(|v| { v["files"]["./initrd"] = json!("/boot/initrd$x"); ann(v, "initrd", json!("/boot/initrd$x")); })
        .setup(|fx| { fx.write("in/initrd", b"cpio"); }).names(&["initrd"]).at(&["initrd ="]);
    blkmntpoint_relative => case(|v| { v["files"]["./disk.img"] = json!("/disk.img"); ann(v, "block", json!("/disk.img")); ann(v, "blkMntPoint", json!("data")); })
        .setup(|fx| { fx.write("in/disk.img", &[0; 1024]); }).names(&["blkMntPoint"]).at(&["blkMntPoint ="]);

    // Targets.
    target_relative => case(|v| { v["files"]["./kernel"] = json!("boot/kernel"); ann(v, "binary", json!("/boot/kernel")); })
        .names(&["boot/kernel"]).names(&["./kernel"]).at(&["\"./kernel\" ="]);
    target_escaping_the_root => case(|v| v["files"]["./other"] = json!("/../etc/passwd"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/../etc/passwd"]).at(&["\"./other\" ="]);
    target_is_the_root => case(|v| v["files"]["./other"] = json!("/")).setup(|fx| { fx.write("in/other", b"x"); }).names(&["./other"]).at(&["\"./other\" ="]);
    targets_colliding => case(|v| v["files"]["./other"] = json!("/boot/kernel"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/boot/kernel"]).names(&["./other"]).at(&["\"./other\" =", "\"./kernel\" ="]);
    // The next two are found when the sources are walked (plan), which
    // `check` does too.
    target_colliding_with_a_file_in_a_copied_directory => case(|v| { v["files"]["./dir"] = json!("/boot"); })
        .setup(|fx| { fx.write("in/dir/kernel", &kernel()); }).names(&["/boot/kernel"]).at(&["\"./dir\" =", "\"./kernel\" ="]);
    target_under_a_file => case(|v| v["files"]["./other"] = json!("/boot/kernel/x"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/boot/kernel"]).at(&["\"./other\" =", "\"./kernel\" ="]);
    target_is_urunc_json => case(|v| v["files"]["./other"] = json!("/urunc.json"))
        .setup(|fx| { fx.write("in/other", b"{}"); }).names(&["/urunc.json"]).at(&["\"./other\" ="]);
    working_dir_relative => case(|v| v["workingDir"] = json!("app")).names(&["workingDir"]).at(&["workingDir ="]);

    // Sources.
    missing_source => case(|v| v["files"]["./nope"] = json!("/nope")).names(&["nope"]).at(&["\"./nope\" ="]);
    dangling_symlink_source => case(|v| v["files"]["./dangling"] = json!("/d"))
        .setup(|fx| symlink("nowhere", fx.path("in/dangling")).expect("symlink")).names(&["dangling"]).at(&["\"./dangling\" ="]);
    fifo_source => case(|v| v["files"]["./fifo"] = json!("/fifo"))
        .setup(|fx| sh("mkfifo", &[fx.path("in/fifo").to_str().expect("utf-8")])).names(&["fifo"]).at(&["\"./fifo\" ="]);
    fifo_inside_a_directory_source => case(|v| v["files"]["./dir"] = json!("/dir"))
        .setup(|fx| { fx.dir("in/dir"); sh("mkfifo", &[fx.path("in/dir/fifo").to_str().expect("utf-8")]); }).names(&["fifo"]).at(&["\"./dir\" ="]);

    // Boolean strings.
    use_dm_block_not_boolean => case(|v| ann(v, "useDMBlock", json!("yes"))).names(&["useDMBlock"]).at(&["useDMBlock ="]);
    mount_rootfs_not_boolean => case(|v| ann(v, "mountRootfs", json!("1"))).names(&["mountRootfs"]).at(&["mountRootfs ="]);

    // Names and tags Docker refuses.
    name_with_uppercase => case(|v| v["name"] = json!("Hello")).names(&["name"]).names(&["Hello"]).at(&["name ="]);
    name_with_a_space => case(|v| v["name"] = json!("my image")).names(&["name"]).at(&["name ="]);
    tag_starting_with_a_dot => case(|v| v["tag"] = json!(".v1")).names(&["tag"]).at(&["tag ="]);
    tag_with_a_colon => case(|v| v["tag"] = json!("v1:2")).names(&["tag"]).at(&["tag ="]);

    // Arguments and architecture.
    // urunc versions.
    urunc_unknown_version => case(|v| v["urunc"] = json!("0.9")).names(&["urunc"]).names(&["0.9"]).names(&["0.5-main"]).at(&["urunc ="]);
    urunc_not_a_string => case(|v| v["urunc"] = json!(8)).names(&["urunc"]).at(&["urunc ="]);
    guest_newer_than_the_target => case(|v| { v["urunc"] = json!("0.6-0.7"); ann(v, "unikernelType", json!("hermit")); ann(v, "initrd", json!("/boot/kernel")); })
        .names(&["urunc 0.6-0.7"]).names(&["hermit"]).names(&["since 0.8"]).at(&["unikernelType ="]);
    hypervisor_newer_than_the_target => case(|v| { v["urunc"] = json!("0.7"); ann(v, "hypervisor", json!("cloud-hypervisor")); })
        .names(&["urunc 0.7"]).names(&["cloud-hypervisor"]).at(&["hypervisor ="]);
    block_without_blkmntpoint_on_0_6 => case(|v| { v["urunc"] = json!("0.6"); v["files"]["./disk.img"] = json!("/disk.img"); ann(v, "block", json!("/disk.img")); })
        .setup(|fx| { fx.write("in/disk.img", &[0; 1024]); }).names(&["urunc 0.6"]).names(&["blkMntPoint"]).at(&["block ="]);
    runtime_only_vaccel => case(|v| ann(v, "vAccel", json!("vsock"))).names(&["vAccel"]).names(&["runtime-only"]).at(&["vAccel ="]);
    runtime_only_rpc_address => case(|v| ann(v, "com.urunc.unikernel.RPCAddress", json!("tcp://1.2.3.4:1"))).names(&["RPCAddress"]).names(&["runtime-only"]).at(&["RPCAddress\" ="]);
    solo5_device_name => case(|v| ann(v, "solo5BlkDev", json!("disk-0"))).names(&["solo5BlkDev"]).names(&["A-Za-z0-9"]).at(&["solo5BlkDev ="]);
    hermit_with_a_generated_initrd => case(|v| { ann(v, "unikernelType", json!("hermit")); v["rootfs"] = json!({ "type": "initrd", "files": { "./kernel": "/app" } }); })
        .names(&["Hermit's initrd is the application"]).at(&["type = \"initrd\""]);
    freebsd_with_a_generated_initrd => case(|v| { v["urunc"] = json!("main"); ann(v, "unikernelType", json!("freebsd")); v["rootfs"] = json!({ "type": "initrd", "files": { "./kernel": "/app" } }); })
        .names(&["freebsd on qemu cannot use an initrd"]).at(&["type = \"initrd\""]);
    quote_in_a_linux_argument => case(|v| v["cmd"] = json!(["/init", "it's"])).names(&["it's"]).names(&["897"]).at(&["cmd ="]);
    arguments_differing_between_targets => case(|v| { v["urunc"] = json!("0.5,0.8"); ann(v, "unikernelType", json!("rumprun")); ann(v, "hypervisor", json!("hvt")); v["cmd"] = json!(["other"]); })
        .names(&["differ"]).names(&["urunc 0.5 gives `console=ttyS0 quiet`"]).at(&["cmdline ="]);

    cmdline_with_an_unterminated_quote => case(|v| ann(v, "cmdline", json!("hello 'world"))).names(&["cmdline"]).names(&["quote"]).at(&["cmdline ="]);
    architecture_cannot_be_told => case(|_| {}).setup(|fx| { fx.write("in/kernel", b"no known format"); })
        .names(&["architecture"]).names(&["binary", "/boot/kernel"]).at(&["binary ="]);
    architecture_contradicting_the_binary => case(|v| v["architecture"] = json!("arm64")).names(&["architecture"]).names(&["amd64"]).at(&["architecture ="]);
    architecture_unknown => case(|v| v["architecture"] = json!("amd46")).names(&["architecture"]).names(&["amd46"]).at(&["architecture ="]);

    // Accepted though broken, once (issue 8).
    binary_empty => case(|_| {}).setup(|fx| { fx.write("in/kernel", b""); })
        .names(&["/boot/kernel"]).names(&["empty"]).at(&["binary ="]);
    binary_through_an_absolute_symlink_in_a_copied_directory => case(|v| {
        v["files"] = json!({ "./tree": "/t" });
        ann(v, "binary", json!("/t/boot/kernel"));
    })
    .setup(|fx| {
        fx.dir("in/tree");
        // In the image /t/boot leads to /host-boot, which the image lacks; on
        // this machine it leads to a real kernel.
        fx.write("host-boot/kernel", &kernel());
        symlink(fx.path("host-boot"), fx.path("in/tree/boot")).expect("symlink");
    })
    .names(&["/t/boot/kernel"]).names(&["regular file"]).at(&["binary ="]);
    target_with_a_whiteout_name => case(|v| v["files"]["./other"] = json!("/etc/.wh.passwd"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&[".wh.passwd"]).names(&["whiteout"]).at(&["\"./other\" ="]);
    target_with_a_name_over_255_bytes => case(|v| v["files"]["./other"] = json!(format!("/{}", "n".repeat(256))))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["255"]).at(&["\"./other\" ="]);
    target_under_urunc_json => case(|v| v["files"]["./other"] = json!("/urunc.json/x"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/urunc.json"]).at(&["\"./other\" ="]);
    mode_with_a_sign => case(|v| v["files"]["./kernel"] = json!({ "target": "/boot/kernel", "mode": "+755" }))
        .names(&["+755"]).at(&["mode ="]);
    annotation_longer_than_urunc_reads => case(|v| ann(v, "cmdline", json!("x".repeat(5000))))
        .names(&["cmdline"]).names(&["4096"]).at(&["cmdline ="]);
    label_longer_than_urunc_reads => case(|v| v["labels"] = json!({ "note": "y".repeat(5000) }))
        .names(&["note"]).names(&["4096"]).at(&["note ="]);
    fifo_as_binary => case(|v| { v["files"]["./fifo"] = json!("/fifo"); ann(v, "binary", json!("/fifo")); })
        .setup(|fx| sh("mkfifo", &[fx.path("in/fifo").to_str().expect("utf-8")])).names(&["fifo"]).at(&["\"./fifo\" ="]);

    // How the image is written.
    layers_unknown => case(|v| v["layers"] = json!("double")).names(&["layers"]).names(&["\"auto\""]).names(&["\"single\""]).at(&["layers ="]);
    layers_misspelt => case(|v| v["layers"] = json!("singel")).names(&["did you mean"]).names(&["\"single\""]).at(&["layers ="]);
    compression_unknown => case(|v| v["compression"] = json!("xz")).names(&["compression"]).names(&["\"gzip\""]).names(&["\"zstd\""]).at(&["compression ="]);
    compression_not_a_string => case(|v| v["compression"] = json!(true)).names(&["compression"]).at(&["compression ="]);
}

#[test]
fn invalid_json_is_reported_at_line_and_column() {
    let fx = Fx::new();
    let args = fx.write("in/args.json", b"{\n  \"name\": \"hello\",\n  \"tag\": \n}\n");
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    assert!(positions(&run.stderr, "args.json").iter().any(|(l, _)| *l == 4), "{}", run.stderr);
}

#[test]
fn nix_syntax_errors_are_reported_at_line_and_column() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    let args = fx.write("in/args.nix", b"{\n  name = \"hello\";\n  tag = \"v1\"\n  files = {};\n}\n");
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    let found = positions(&run.stderr, "args.nix");
    assert!(found.iter().any(|(l, _)| *l == 3 || *l == 4), "{}", run.stderr);
}

#[test]
fn nix_beyond_the_data_subset_is_refused_at_its_position() {
    for (construct, text) in [
        ("import", "{\n  name = \"hello\";\n  annotations = import ./ann.nix;\n}\n"),
        ("function call", "{\n  name = \"hello\";\n  annotations = builtins.fromJSON \"{}\";\n}\n"),
        ("with", "{\n  name = \"hello\";\n  annotations = with { a = 1; }; { };\n}\n"),
        ("arithmetic", "{\n  name = \"hello\";\n  annotations = { x = 1 + 2; };\n}\n"),
    ] {
        let fx = Fx::new();
        fx.write("in/ann.nix", b"{ }");
        let args = fx.write("in/args.nix", text.as_bytes());
        let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
        assert_eq!(run.code, Some(1), "{construct}");
        assert!(
            positions(&run.stderr, "args.nix").iter().any(|(l, _)| *l == 3),
            "{construct}: no args.nix:3:col in {}",
            run.stderr
        );
        assert!(
            run.stderr.to_lowercase().contains("nix"),
            "{construct}: the message should point to the Nix function: {}",
            run.stderr
        );
    }
}

#[test]
fn all_problems_are_reported_together() {
    let fx = Fx::new();
    let mut v = base_args();
    v["nmae"] = json!("x");
    v["cmd"] = json!("not a list");
    v["files"]["./nope"] = json!("/nope");
    let args = fx.standard(&v);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    for w in ["nmae", "cmd"] {
        assert!(run.stderr.contains(w), "{w} is not reported:\n{}", run.stderr);
    }
}
