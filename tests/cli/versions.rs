//! urunc versions: what each version gets, and inspect's compatibility table.

use super::*;

#[test]
fn the_legacy_cmdline_is_written_only_for_urunc_0_5() {
    let fx = Fx::new();
    fx.write("in/hello.hvt", &fake_hvt_elf());
    let v = json!({
        "name": "hello",
        "files": { "./hello.hvt": "/unikernel/hello.hvt" },
        "annotations": { "unikernelType": "rumprun", "hypervisor": "hvt", "binary": "/unikernel/hello.hvt" },
        "entrypoint": ["hello"],
        "cmd": ["a b", "c"],
    });
    let args = fx.args("in/args.json", &v).0;
    let (_, img) = build(&fx, &args, &[]);
    assert!(!img.labels().contains_key(&full("cmdline")), "urunc 0.8 reads Entrypoint + Cmd only");
    assert!(!img.urunc_json().contains_key(&full("cmdline")));
    let run = bx(fx.tmp.path()).arg("check").arg(&args).args(["--urunc", "0.5-main"]).run();
    run.ok();
    assert!(run.stderr.contains("urunc 0.5 reads the arguments only from `cmdline`"), "{}", run.stderr);
    assert!(run.stderr.contains("\"a b\" gets split there"), "{}", run.stderr);
    assert!(run.stderr.contains("is valid: hello:latest for linux/amd64, urunc 0.5-main"), "{}", run.stderr);
    let (_, img) = build(&fx, &args, &["--urunc", "0.5,0.8"]);
    assert_eq!(img.labels()[&full("cmdline")], "hello a b c");
    assert_eq!(img.urunc_json()[&full("cmdline")], "hello a b c");
    assert_eq!(img.annotations()[&full("cmdline")], "hello a b c");
    assert_eq!(img.config["config"]["Cmd"], json!(["a b", "c"]));
}

#[test]
fn the_args_file_names_the_versions_and_urunc_overrides_it() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["hypervisor"] = json!("cloud-hypervisor");
    v["urunc"] = json!("0.7");
    let args = fx.standard(&v);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("urunc 0.7: does not know hypervisor `cloud-hypervisor`"), "{}", run.stderr);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).args(["--urunc", "0.8-main"]).run();
    run.ok();
    assert!(run.stderr.contains("urunc 0.8-main"), "{}", run.stderr);
    // The field is not written into the image: two builds differ only by it.
    let (a, _) = build(&fx, &args, &["--urunc", "0.8"]);
    v.as_object_mut().expect("obj").remove("urunc");
    let plain = fx.args("in/plain.json", &v).0;
    assert_eq!(a, build(&fx, &plain, &[]).0);
}

#[test]
fn no_pair_check_turns_version_errors_into_warnings() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("freebsd");
    v["annotations"]["hypervisor"] = json!("firecracker");
    let args = fx.standard(&v);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("urunc 0.8: does not know unikernel type `freebsd` (urunc has it since main)"));
    assert!(run.stderr.contains("--no-pair-check"), "{}", run.stderr);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).arg("--no-pair-check").run();
    run.ok();
    assert!(run.stderr.contains("warning:") && run.stderr.contains("allowed by --no-pair-check"), "{}", run.stderr);
}

/// Builds `v` (with `in/kernel`) for `urunc` and returns the inspect
/// report of the image, as JSON.
fn build_and_inspect(fx: &Fx, v: &Value, urunc: &str) -> Value {
    let args = fx.standard(v);
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).args(["--urunc", urunc]).run().ok();
    let run = bx(fx.tmp.path()).args(["inspect", "--json", "--urunc", urunc]).arg(&out).run();
    parse(&run.ok().stdout, "inspect --json")
}

#[test]
fn freebsd_on_firecracker_builds_for_main_and_reads_back() {
    let fx = Fx::new();
    fx.write("in/disk.img", &[0; 4096]);
    let mut v = base_args();
    v["files"]["./disk.img"] = json!("/disk.img");
    for (k, val) in
        [("unikernelType", "freebsd"), ("hypervisor", "firecracker"), ("block", "/disk.img"), ("blkMntPoint", "/")]
    {
        v["annotations"][k] = json!(val);
    }
    let report = build_and_inspect(&fx, &v, "main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["effective"][full("unikernelType")], "freebsd");
    let table = report["compatibility"].as_array().expect("compatibility");
    let accepted: Vec<bool> = table.iter().map(|r| r["accepted"].as_bool().expect("bool")).collect();
    assert_eq!(accepted, [false, false, false, false, true]);
    assert_eq!(table[4]["rootfs"], "block");
    assert_eq!(table[4]["rootfs_detail"], "/disk.img at /");
    assert!(table[3]["reasons"][0].as_str().expect("reason").contains("`freebsd` (urunc has it since main)"));
}

#[test]
fn freebsd_takes_a_generated_block_root() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("freebsd");
    v["annotations"]["hypervisor"] = json!("firecracker");
    v["rootfs"] = json!({ "type": "block", "files": { "./kernel": "/boot/kernel" } });
    let report = build_and_inspect(&fx, &v, "main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["effective"][full("block")], "/.boot/rootfs");
    assert_eq!(report["effective"][full("blkMntPoint")], "/");
    assert_eq!(report["compatibility"][4]["rootfs_detail"], "/.boot/rootfs at /");
}

#[test]
fn hyperlight_without_an_initrd_and_solo5_names_build_and_read_back() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("unikraft");
    v["annotations"]["hypervisor"] = json!("hyperlight-unikraft");
    v["annotations"].as_object_mut().expect("obj").remove("cmdline");
    let report = build_and_inspect(&fx, &v, "0.8-main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    let problems = report["problems"].as_array().expect("problems");
    assert!(!problems.iter().any(|p| p["message"].as_str().expect("str").contains("initrd")), "{problems:?}");
    assert_eq!(report["compatibility"][3]["rootfs"], "none");

    let fx = Fx::new();
    fx.write("in/disk.img", &[0; 4096]);
    let mut v = base_args();
    v["files"]["./disk.img"] = json!("/disk.img");
    for (k, val) in [
        ("unikernelType", "mirage"),
        ("hypervisor", "hvt"),
        ("block", "/disk.img"),
        ("blkMntPoint", "/"),
        ("solo5NetDev", "management"),
        ("solo5BlkDev", "database"),
    ] {
        v["annotations"][k] = json!(val);
    }
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    for key in ["solo5NetDev", "solo5BlkDev"] {
        let want = v["annotations"][key].as_str().expect("str");
        assert_eq!(img.labels()[&full(key)], want);
        assert_eq!(img.annotations()[&full(key)], want);
        assert_eq!(img.urunc_json()[&full(key)], want);
    }
    let report = build_and_inspect(&fx, &v, "0.7-main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["effective"][full("solo5BlkDev")], "database");
    let warnings: Vec<&str> =
        report["problems"].as_array().expect("problems").iter().map(|p| p["message"].as_str().expect("str")).collect();
    assert!(
        warnings
            .contains(&"urunc 0.7: ignores `solo5NetDev` (it came in urunc 0.8) and names the Solo5 device `service`"),
        "{warnings:?}"
    );
}

#[test]
fn inspect_ends_with_the_compatibility_table() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--urunc", "0.6,main"]).run();
    let text = String::from_utf8_lossy(&run.ok().stdout).into_owned();
    let table = text.split("urunc versions (* = targeted: 0.6, main):\n").nth(1).expect(&text);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(lines[0].starts_with("  0.5    rejected: does not know unikernel type `linux`"), "{table}");
    assert!(
        lines[1].starts_with(
            "  0.6*   accepted; keys from urunc.json; rootfs none; arguments [\"console=ttyS0\",\"quiet\"]"
        )
    );
    assert!(lines[4].starts_with("  main*  accepted; keys from labels and manifest annotations"), "{table}");
    assert!(lines[5].starts_with("result:     ok"), "{table}");
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--urunc", "0.5"]).run();
    assert_eq!(run.code, Some(1), "urunc 0.5 has no Linux guests");
    let bad = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--urunc", "0.9"]).run();
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("unknown urunc version `0.9`"), "{}", bad.stderr);
}

#[test]
fn architecture_override_matching_the_binary_is_accepted() {
    let fx = Fx::new();
    let mut v = base_args();
    v["architecture"] = json!("amd64");
    let args = fx.standard(&v);
    assert_eq!(build(&fx, &args, &[]).1.config["architecture"], "amd64");
}

#[test]
fn architecture_override_for_an_unknown_binary_is_used() {
    let fx = Fx::new();
    let mut v = base_args();
    v["architecture"] = json!("arm64");
    fx.write("in/kernel", b"raw bytes no format knows");
    let (args, _) = fx.args("in/args.json", &v);
    assert_eq!(build(&fx, &args, &[]).1.config["architecture"], "arm64");
}
