//! What `build` writes: the archive, its config and layer, and what the args file sets.

use super::*;

#[test]
fn build_writes_a_consistent_docker_archive() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let (bytes, img) = build(&fx, &args, &[]);
    assert_hygienic(&bytes, 0, &[]);
    img.assert_layers_hygienic(0, &[]);
    let names: BTreeSet<&str> = img.files.keys().map(String::as_str).collect();
    assert!(
        names.contains("manifest.json") && names.contains("index.json") && names.contains("oci-layout"),
        "{names:?}"
    );
    assert_eq!(img.docker_manifest.as_ref().expect("manifest.json")[0]["RepoTags"], json!(["hello:v1"]));
    let desc = &img.index["manifests"][0];
    assert_eq!(desc["annotations"]["io.containerd.image.name"], "docker.io/library/hello:v1");
    assert_eq!(desc["annotations"]["org.opencontainers.image.ref.name"], "v1");
    assert_eq!(img.config["os"], "linux");
    assert_eq!(img.config["architecture"], "amd64", "the example kernel is an x86 bzImage");
    assert_eq!(img.paths(), ["boot", "boot/kernel", "urunc.json"]);
    assert_eq!(
        img.leaves(),
        [vec!["boot/kernel"], vec!["urunc.json"]],
        "the kernel in a layer of its own, then the rest"
    );
    assert_eq!(img.layers[0].paths(), ["boot", "boot/kernel"], "an artifact's layer holds its parent directories");
    assert_eq!(img.entry("boot/kernel").data, kernel());
    assert_eq!(img.entry("boot/kernel").mode, 0o644);
    assert_eq!(img.entry("boot").kind, b'5');
}

#[test]
fn layer_entries_are_sorted_with_each_parent_once_before_its_children() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    fx.write("in/d/z", b"z");
    fx.write("in/d/a-b", b"ab");
    fx.write("in/d/a/c", b"c");
    fx.write("in/x", b"x");
    let mut v = base_args();
    v["files"] = json!({ "./kernel": "/boot/kernel", "./d": "/opt/d", "./x": "/opt/d2/x" });
    let (path, _) = fx.args("in/args.json", &v);
    let (_, img) = build(&fx, &path, &[]);
    assert_eq!(img.layers.len(), 2, "the kernel's layer and the top layer");
    for layer in &img.layers {
        let paths = layer.paths();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "layer entries are not sorted");
        for (i, p) in paths.iter().enumerate() {
            if let Some((parent, _)) = p.rsplit_once('/') {
                let at = paths.iter().position(|q| q == parent).unwrap_or_else(|| panic!("parent of {p} is missing"));
                assert!(at < i, "{parent} comes after {p}");
            }
        }
    }
    assert_eq!(img.layers[1].paths().iter().filter(|p| *p == "opt").count(), 1);
}

#[test]
fn urunc_json_is_base64_of_the_set_annotations() {
    let fx = Fx::new();
    fx.write("in/initrd", b"070701 not a real cpio");
    let mut v = base_args();
    v["files"]["./initrd"] = json!("/boot/initrd");
    v["annotations"]["initrd"] = json!("/boot/initrd");
    v["annotations"]["cmdline"] = json!("console=ttyS0 'two words' qemu");
    v["annotations"]["unikernelVersion"] = json!("");
    v["annotations"]["mountRootfs"] = json!("false");
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    let want: BTreeMap<String, String> = [
        ("unikernelType", "linux"),
        ("hypervisor", "qemu"),
        ("binary", "/boot/kernel"),
        ("cmdline", "console=ttyS0 'two words' qemu"),
        ("initrd", "/boot/initrd"),
        ("mountRootfs", "false"),
    ]
    .iter()
    .map(|(k, v)| (full(k), v.to_string()))
    .collect();
    assert_eq!(img.urunc_json(), want, "/urunc.json must hold exactly the set keys, base64-encoded");
    let raw = parse(&img.entry("urunc.json").data, "/urunc.json");
    assert_eq!(raw[full("hypervisor")], "cWVtdQ==", "standard base64 with padding");
    assert_eq!(img.entry("urunc.json").mode, 0o644);
}

#[test]
fn labels_and_manifest_annotations_are_plain_text() {
    let fx = Fx::new();
    let mut v = base_args();
    v["labels"] = json!({ "org.opencontainers.image.source": "https://example.org/hello", "team": "unikernels" });
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    let mut urunc: BTreeMap<String, String> = BTreeMap::new();
    for (k, val) in [
        ("unikernelType", "linux"),
        ("hypervisor", "qemu"),
        ("binary", "/boot/kernel"),
        ("cmdline", "console=ttyS0 quiet"),
    ] {
        urunc.insert(full(k), val.to_string());
    }
    let mut labels = urunc.clone();
    labels.insert("org.opencontainers.image.source".into(), "https://example.org/hello".into());
    labels.insert("team".into(), "unikernels".into());
    assert_eq!(img.labels(), labels, "Labels: the urunc keys in plain text plus the given labels, nothing else");
    let mut annotations = urunc;
    annotations.insert(CREATED.into(), "1970-01-01T00:00:00Z".into());
    annotations.insert("org.opencontainers.image.source".into(), "https://example.org/hello".into());
    assert_eq!(
        img.annotations(),
        annotations,
        "manifest annotations: the urunc keys, the OCI keys among the labels and the creation time"
    );
}

#[test]
fn full_annotation_keys_give_the_same_image_as_short_ones() {
    let fx = Fx::new();
    let short = fx.standard(&base_args());
    let mut v = base_args();
    let ann = v["annotations"].as_object().expect("annotations").clone();
    v["annotations"] = Value::Object(ann.into_iter().map(|(k, val)| (full(&k), val)).collect());
    let (long, _) = fx.args("in/long.json", &v);
    assert_eq!(build(&fx, &short, &[]).0, build(&fx, &long, &[]).0);
}

#[test]
fn cmd_is_split_from_cmdline_like_a_shell() {
    let fx = Fx::new();
    let mut v = base_args();
    // A unikernel: a Linux guest would refuse the `'` (urunc issue 897).
    v["annotations"]["unikernelType"] = json!("unikraft");
    v["annotations"]["cmdline"] = json!(r#"console=ttyS0 'two words' "dq x" back\ slash "it's" 'say "hi"'"#);
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(
        img.config["config"]["Cmd"],
        json!(["console=ttyS0", "two words", "dq x", "back slash", "it's", "say \"hi\""])
    );
    assert!(img.config["config"].get("Entrypoint").is_none());
    assert_eq!(
        img.labels()[&full("cmdline")],
        v["annotations"]["cmdline"].as_str().expect("cmdline"),
        "the label keeps the line as written"
    );
}

#[test]
fn entrypoint_cmd_env_working_dir_labels_and_created_as_given() {
    let fx = Fx::new();
    let mut v = base_args();
    v["entrypoint"] = json!(["/bin/app", "--flag"]);
    v["cmd"] = json!(["a b", "c"]);
    v["env"] = json!({ "PATH": "/bin", "GREETING": "hello world" });
    v["workingDir"] = json!("/srv/app");
    v["labels"] = json!({ "x": "y" });
    v["created"] = json!("2024-01-02T03:04:05Z");
    let args = fx.standard(&v);
    let (bytes, img) = build(&fx, &args, &[]);
    let c = &img.config["config"];
    assert_eq!(c["Entrypoint"], json!(["/bin/app", "--flag"]));
    assert_eq!(c["Cmd"], json!(["a b", "c"]), "cmd wins over cmdline");
    let env: BTreeSet<&str> = c["Env"].as_array().expect("Env").iter().map(|e| e.as_str().expect("str")).collect();
    assert_eq!(env, BTreeSet::from(["PATH=/bin", "GREETING=hello world"]));
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(img.labels()["x"], "y");
    assert_eq!(img.config["created"], "2024-01-02T03:04:05Z");
    assert_eq!(img.annotations()[CREATED], "2024-01-02T03:04:05Z");
    assert_hygienic(&bytes, 1704164645, &[]);
    img.assert_layers_hygienic(1704164645, &[]);
}

#[test]
fn env_as_a_list_keeps_its_order() {
    let fx = Fx::new();
    let mut v = base_args();
    v["env"] = json!(["Z=1", "A=two words", "EMPTY="]);
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    // Docker's default PATH comes first, as Docker and BuildKit write it.
    assert_eq!(img.config["config"]["Env"], json!([DEFAULT_PATH, "Z=1", "A=two words", "EMPTY="]));
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[test]
fn an_env_without_path_gets_dockers_default_path() {
    let fx = Fx::new();
    let env = |v: &Value| {
        let args = fx.standard(v);
        build(&fx, &args, &[]).1.config["config"].get("Env").cloned()
    };
    let mut v = base_args();
    assert_eq!(env(&v), None, "no env: containerd adds its PATH to an empty Env");
    v["env"] = json!({ "GREETING": "hi" });
    assert_eq!(env(&v), Some(json!([DEFAULT_PATH, "GREETING=hi"])));
    v["env"] = json!({ "GREETING": "hi", "PATH": "/opt/bin" });
    assert_eq!(env(&v), Some(json!(["GREETING=hi", "PATH=/opt/bin"])), "the user's PATH wins");
}

#[test]
fn a_base_images_path_wins_over_the_default() {
    let fx = Fx::new();
    let mut base = base_args();
    base["name"] = json!("base");
    base["env"] = json!(["PATH=/base/bin", "FROM_BASE=1"]);
    let base_args_path = fx.standard(&base);
    let base_tar = fx.path("base.tar");
    bx(fx.tmp.path()).arg("build").arg(&base_args_path).arg("-o").arg(&base_tar).run().ok();
    let mut top = base_args();
    top["fromImage"] = json!(base_tar.to_str().expect("utf-8"));
    top["env"] = json!({ "OURS": "2" });
    let args = fx.args("in/top.json", &top).0;
    let out = fx.path("top.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let report = bx(fx.tmp.path()).arg("inspect").arg("--json").arg(&out).run();
    let report = parse(&report.ok().stdout, "inspect --json");
    assert_eq!(report["env"], json!(["PATH=/base/bin", "FROM_BASE=1", "OURS=2"]));
}

#[test]
fn source_date_epoch_sets_created_and_every_mtime() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.dir("out").join("x.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).env("SOURCE_DATE_EPOCH", "1700000000").run().ok();
    let bytes = fs::read(&out).expect("output");
    let img = Image::from_tar(&bytes);
    assert_eq!(img.config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(img.annotations()[CREATED], "2023-11-14T22:13:20Z");
    assert_hygienic(&bytes, 1700000000, &[]);
    img.assert_layers_hygienic(1700000000, &[]);
}

#[test]
fn created_field_wins_over_source_date_epoch() {
    let fx = Fx::new();
    let mut v = base_args();
    v["created"] = json!("2020-02-29T12:00:00Z");
    let args = fx.standard(&v);
    let out = fx.dir("out").join("x.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).env("SOURCE_DATE_EPOCH", "1700000000").run().ok();
    let img = Image::from_tar(&fs::read(&out).expect("output"));
    assert_eq!(img.config["created"], "2020-02-29T12:00:00Z");
}

#[test]
fn created_defaults_to_the_epoch() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(img.config["created"], "1970-01-01T00:00:00Z");
}

#[test]
fn relative_sources_resolve_against_the_args_file_not_the_cwd() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    // A decoy with the same relative name in the working directory.
    let cwd = fx.dir("elsewhere");
    fx.write("elsewhere/kernel", b"decoy: the wrong file");
    let out = fx.path("out.tar");
    bx(&cwd).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let img = Image::from_tar(&fs::read(&out).expect("output"));
    assert_eq!(img.entry("boot/kernel").data, kernel());
    // And with a relative path to the args file, from a sibling directory.
    let out2 = fx.path("out2.tar");
    bx(&cwd).args(["build", "../in/args.json", "-o"]).arg(&out2).run().ok();
    assert_eq!(fs::read(&out2).expect("output"), fs::read(&out).expect("output"));
}

#[test]
fn a_directory_source_is_copied_recursively_with_symlinks_kept() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    fx.write("in/tree/etc/conf", b"key=value\n");
    let run = fx.write("in/tree/bin/run", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod");
    fx.dir("in/tree/empty");
    symlink("../etc/conf", fx.path("in/tree/bin/conf-link")).expect("symlink");
    symlink("/etc/absolute", fx.path("in/tree/abs-link")).expect("symlink");
    symlink("missing-target", fx.path("in/tree/dangling")).expect("symlink");
    let mut v = base_args();
    v["files"]["./tree"] = json!("/opt/tree");
    let (args, _) = fx.args("in/args.json", &v);
    let (_, img) = build(&fx, &args, &[]);
    for d in ["opt", "opt/tree", "opt/tree/bin", "opt/tree/etc", "opt/tree/empty"] {
        let e = img.entry(d);
        assert_eq!((e.kind, e.mode), (b'5', 0o755), "{d}");
    }
    assert_eq!(img.entry("opt/tree/etc/conf").data, b"key=value\n");
    assert_eq!(img.entry("opt/tree/etc/conf").mode, 0o644);
    assert_eq!(img.entry("opt/tree/bin/run").mode, 0o755);
    for (p, target) in [
        ("opt/tree/bin/conf-link", "../etc/conf"),
        ("opt/tree/abs-link", "/etc/absolute"),
        ("opt/tree/dangling", "missing-target"),
    ] {
        let e = img.entry(p);
        assert_eq!(e.kind, b'2', "{p} must stay a symlink");
        assert_eq!(e.link.as_deref(), Some(target), "{p}");
    }
}

#[test]
fn a_symlink_named_in_files_is_followed_like_cp() {
    let fx = Fx::new();
    fx.write("in/real-kernel", &kernel());
    symlink("real-kernel", fx.path("in/kernel")).expect("symlink");
    let (args, _) = fx.args("in/args.json", &base_args());
    let (_, img) = build(&fx, &args, &[]);
    let e = img.entry("boot/kernel");
    assert_eq!(e.kind, b'0', "a source named in files is copied as the file it points to");
    assert_eq!(e.data, kernel());
}

#[test]
fn long_paths_survive_the_tar_format() {
    let fx = Fx::new();
    let deep = format!("/{}/{}/{}", "d".repeat(90), "e".repeat(90), "f".repeat(99));
    fx.write("in/data", b"deep");
    let long_link = "x".repeat(150);
    fx.dir("in/links");
    symlink(&long_link, fx.path("in/links/far")).expect("symlink");
    let mut v = base_args();
    v["files"]["./data"] = json!(deep.clone());
    v["files"]["./links"] = json!("/links");
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(img.entry(&deep[1..]).data, b"deep");
    assert_eq!(img.entry("links/far").link.as_deref(), Some(long_link.as_str()));
}

#[test]
fn a_target_may_carry_a_mode() {
    let fx = Fx::new();
    fx.write("in/tool", b"tool");
    fx.write("in/secret", b"s");
    let mut v = base_args();
    v["files"]["./tool"] = json!({ "target": "/bin/tool", "mode": "0755" });
    v["files"]["./secret"] = json!({ "target": "/etc/secret", "mode": "0600" });
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(img.entry("bin/tool").mode, 0o755);
    assert_eq!(img.entry("etc/secret").mode, 0o600);
    assert_eq!(img.entry("etc/secret").data, b"s");
    img.assert_layers_hygienic(0, &[("etc/secret", 0o600)]);
}

#[test]
fn files_may_be_a_list_of_source_target_sets() {
    let fx = Fx::new();
    let as_attrs = fx.standard(&base_args());
    let mut v = base_args();
    v["files"] = json!([{ "source": "./kernel", "target": "/boot/kernel" }]);
    let (as_list, _) = fx.args("in/list.json", &v);
    assert_eq!(build(&fx, &as_attrs, &[]).0, build(&fx, &as_list, &[]).0);
}

#[test]
fn the_pair_check_can_be_turned_off() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("rumprun");
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &["--no-pair-check"]);
    assert_eq!(img.labels()[&full("unikernelType")], "rumprun");
    bx(fx.tmp.path()).arg("check").arg(&args).arg("--no-pair-check").run().ok();
}
