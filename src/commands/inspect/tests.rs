//! Tests of `inspect`: reports on small images built in memory, their text
//! and JSON renderings, multi-image archives and urunc version checks.

use serde_json::{Value, json};

use super::*;
use crate::imageread::tests::{E, TestImage, layer, write_dir, write_tar};

/// A 64-byte ELF header for x86-64 (e_machine 62), padded.
fn elf_amd64() -> Vec<u8> {
    let mut head = vec![0u8; 256];
    head[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    head[16] = 2;
    head[18] = 62;
    head[20] = 1;
    head
}

fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn linux_keys() -> BTreeMap<String, String> {
    keys(&[("unikernelType", "linux"), ("hypervisor", "qemu"), ("binary", "/kernel")])
}

/// An image holding `/kernel` (x86-64 ELF), `extra` entries and
/// `urunc_json` (when given), labelled with `labels` (short keys).
fn image(labels: &BTreeMap<String, String>, urunc_json: Option<&[u8]>, extra: &[E]) -> TestImage {
    let kernel = elf_amd64();
    let mut entries = vec![E::File("kernel", &kernel, 0o755)];
    if let Some(bytes) = urunc_json {
        entries.push(E::File("urunc.json", bytes, 0o644));
    }
    let mut test = TestImage::new(vec![layer(&entries), layer(extra)]);
    test.config = json!({"Cmd": ["/init", "x"], "Labels": urunc::labels(labels)});
    test
}

fn run(test: &TestImage) -> Report {
    run_for(test, "0.8")
}

/// Inspects `test` for the urunc versions `targets`.
fn run_for(test: &TestImage, targets: &str) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image.tar");
    write_tar(&path, &test.hybrid());
    let opts = Options { targets: targets.parse().unwrap(), pair_check: true };
    inspect(&path, &opts).unwrap()
}

fn messages(report: &Report, severity: &str) -> Vec<String> {
    report
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| format!("[{}] {}: {}", p.source, p.key.as_deref().unwrap_or("-"), p.message))
        .collect()
}

#[test]
fn a_good_image_has_no_problems() {
    assert_eq!(arch::detect(&elf_amd64()), Some("amd64"));
    let json = urunc::urunc_json(&linux_keys());
    let mut test = image(&linux_keys(), Some(&json), &[E::Symlink("sbin/init", "/kernel")]);
    test.annotations = urunc::labels(&linux_keys());
    let report = run(&test);
    assert_eq!(report.problems.len(), 0, "{:?}", report.problems);
    assert!(report.ok());
    assert!(report.digests_ok);
    assert_eq!(report.format, "docker-archive with OCI layout");
    assert_eq!(report.tags, vec!["hello:1.0"]);
    assert_eq!(report.binary_architecture.as_deref(), Some("amd64"));
    assert_eq!(report.urunc_json.status, "ok");
    assert_eq!(report.effective, urunc::labels(&linux_keys()));
    assert_eq!(report.layers.iter().map(|l| l.entries).collect::<Vec<_>>(), vec![Some(2), Some(1)]);
    let paths: Vec<&str> = report.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, vec!["/kernel", "/sbin", "/sbin/init", "/urunc.json"]);
    assert_eq!(report.files[0].mode, "0755");
    assert_eq!(report.files[0].size, Some(256));

    let text = render_text(&report);
    assert!(text.contains("file    0755        256  L1  /kernel\n"), "{text}");
    assert!(text.contains("symlink 0777          -  L2  /sbin/init -> /kernel\n"), "{text}");
    assert!(text.contains("     holds /kernel, /urunc.json\n"), "{text}");
    assert!(text.contains("     holds /sbin/init\n"), "{text}");
    assert_eq!(report.files.iter().map(|f| f.layer).collect::<Vec<_>>(), [1, 2, 2, 1]);
    assert!(text.contains("com.urunc.unikernel.binary=/kernel"), "{text}");
    assert!(text.ends_with("result:     ok (0 errors, 0 warnings)\n"), "{text}");

    let rendered = render_json(&report);
    let value: Value = serde_json::from_str(&rendered).unwrap();
    assert_eq!(value["ok"], json!(true));
    assert_eq!(value["platform"], json!("linux/amd64"));
    let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert!(rendered.find("\"archive_compression\"").unwrap() < rendered.find("\"binary_architecture\"").unwrap());
}

#[test]
fn a_non_string_urunc_json_value_is_an_error() {
    let bad = br#"{"com.urunc.unikernel.binary": 5}"#;
    let report = run(&image(&linux_keys(), Some(bad), &[]));
    assert!(!report.ok());
    assert_eq!(report.urunc_json.status, "invalid");
    let errors = messages(&report, "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("[urunc.json]") && errors[0].contains("not a base64 string"), "{errors:?}");
    assert!(errors[0].contains("fall back to runc"), "{errors:?}");
}

#[test]
fn base64_in_labels_is_flagged() {
    let mut labels = linux_keys();
    labels.insert("hypervisor".into(), "cWVtdQ==".into());
    let json = urunc::urunc_json(&labels);
    let report = run(&image(&labels, Some(&json), &[]));
    assert!(!report.ok());
    let errors = messages(&report, "error");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("[annotations] hypervisor:") && e.contains("looks base64-encoded, for `qemu`")),
        "{errors:?}"
    );
}

#[test]
fn a_missing_urunc_json_is_a_warning() {
    let report = run(&image(&linux_keys(), None, &[]));
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.urunc_json.status, "missing");
    let warnings = messages(&report, "warning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("/urunc.json is missing") && warnings[0].contains("Docker"), "{warnings:?}");
}

#[test]
fn urunc_json_disagreeing_with_labels_is_an_error() {
    let mut in_json = linux_keys();
    in_json.insert("hypervisor".into(), "firecracker".into());
    in_json.insert("initrd".into(), "/nope".into());
    let json = urunc::urunc_json(&in_json);
    let report = run(&image(&linux_keys(), Some(&json), &[]));
    let errors = messages(&report, "error");
    assert!(
        errors.iter().any(|e| e.starts_with("[urunc.json] hypervisor:")
            && e.contains("urunc.json says `firecracker` but the labels/annotations say `qemu`")),
        "{errors:?}"
    );
    assert!(errors.iter().any(|e| e.contains("says `/nope` but the labels/annotations say unset")), "{errors:?}");
    // urunc.json is checked on its own too, since Docker would use it.
    assert!(
        errors.iter().any(|e| e.starts_with("[urunc.json] initrd:") && e.contains("not in the image")),
        "{errors:?}"
    );
}

#[test]
fn labels_and_annotations_disagreeing_is_a_warning() {
    let mut test = image(&linux_keys(), Some(&urunc::urunc_json(&linux_keys())), &[]);
    let mut annotations = linux_keys();
    annotations.insert("binary".into(), "/other".into());
    test.annotations = urunc::labels(&annotations);
    let report = run(&test);
    let warnings = messages(&report, "warning");
    assert!(
        warnings.iter().any(|w| w.contains("label is `/kernel` but the manifest annotation is `/other`")),
        "{warnings:?}"
    );
    let errors = messages(&report, "error");
    assert!(
        errors.iter().any(|e| e.starts_with("[annotations] binary:") && e.contains("`/other` is not in the image")),
        "{errors:?}"
    );
}

#[test]
fn platform_problems() {
    let json = urunc::urunc_json(&linux_keys());
    let mut test = image(&linux_keys(), Some(&json), &[]);
    test.architecture = "arm64";
    let errors = messages(&run(&test), "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("architecture arm64 but the binary is amd64"), "{errors:?}");

    test.architecture = "";
    let errors = messages(&run(&test), "error");
    assert!(errors.iter().any(|e| e.contains("architecture is missing")), "{errors:?}");
}

#[test]
fn os_other_than_linux_is_an_error() {
    let json = urunc::urunc_json(&linux_keys());
    let test = image(&linux_keys(), Some(&json), &[]);
    let mut files = test.hybrid();
    let config = test.config_bytes();
    let windows = String::from_utf8(config.clone()).unwrap().replace("\"os\":\"linux\"", "\"os\":\"windows\"");
    assert_ne!(windows.as_bytes(), config.as_slice());
    for (_, data) in files.iter_mut() {
        if *data == config {
            *data = windows.clone().into_bytes();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &files);
    let report = inspect(dir.path(), &Options::default()).unwrap();
    let errors = messages(&report, "error");
    assert!(errors.iter().any(|e| e.contains("os is windows")), "{errors:?}");
    // The config was edited, so its digest no longer matches.
    assert!(!report.digests_ok);
    assert!(errors.iter().any(|e| e.starts_with("[image] -: config sha256:")), "{errors:?}");
}

#[test]
fn a_mislabelled_layer_compression_is_a_warning() {
    let json = urunc::urunc_json(&linux_keys());
    let mut test = image(&linux_keys(), Some(&json), &[]);
    test.compress = crate::imageread::tests::zstd;
    test.media_type = Some("application/vnd.docker.image.rootfs.diff.tar.gzip");
    let report = run(&test);
    assert!(report.ok());
    assert_eq!(report.layers[0].compression, "zstd");
    let warnings = messages(&report, "warning");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].contains("layer 1 (") && warnings[0].contains("says gzip but the blob is zstd"),
        "{warnings:?}"
    );
}

#[test]
fn no_arguments_is_a_warning() {
    let json = urunc::urunc_json(&linux_keys());
    let mut test = image(&linux_keys(), Some(&json), &[]);
    test.config = json!({"Labels": urunc::labels(&linux_keys())});
    let report = run(&test);
    assert!(report.ok());
    let warnings = messages(&report, "warning");
    assert!(warnings.iter().any(|w| w.contains("no Entrypoint, Cmd or cmdline")), "{warnings:?}");

    // urunc 0.7 falls back to cmdline; 0.8 does not read it.
    let mut with_cmdline = linux_keys();
    with_cmdline.insert("cmdline".into(), "/init".into());
    let json = urunc::urunc_json(&with_cmdline);
    let mut test = image(&with_cmdline, Some(&json), &[]);
    test.config = json!({"Labels": urunc::labels(&with_cmdline)});
    assert!(messages(&run_for(&test, "0.7"), "warning").is_empty());
    let warnings = messages(&run(&test), "warning");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("[versions] cmdline: urunc 0.8: ignores `cmdline` `/init`"), "{warnings:?}");
}

#[test]
fn binary_symlinks_are_followed_or_reported() {
    let mut labels = linux_keys();
    labels.insert("binary".into(), "/boot/vmlinuz".into());
    let json = urunc::urunc_json(&labels);
    let report = run(&image(&labels, Some(&json), &[E::Symlink("boot/vmlinuz", "../kernel")]));
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.binary_architecture.as_deref(), Some("amd64"));
    let warnings = messages(&report, "warning");
    assert!(warnings.iter().any(|w| w.contains("is a symlink to `../kernel` (the file /kernel)")), "{warnings:?}");

    let report = run(&image(&labels, Some(&json), &[E::Symlink("boot/vmlinuz", "/gone")]));
    let errors = messages(&report, "error");
    assert!(errors.iter().any(|e| e.contains("`/boot/vmlinuz` is not in the image")), "{errors:?}");
    let warnings = messages(&report, "warning");
    assert!(warnings.iter().any(|w| w.contains("does not lead to anything")), "{warnings:?}");
}

#[test]
fn urunc_json_alone_is_used_and_its_binary_read() {
    let json = urunc::urunc_json(&linux_keys());
    let mut test = image(&BTreeMap::new(), Some(&json), &[]);
    test.architecture = "arm64";
    let report = run(&test);
    assert_eq!(report.effective_source, "urunc.json");
    assert_eq!(report.binary_architecture.as_deref(), Some("amd64"));
    let errors = messages(&report, "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("binary is amd64"), "{errors:?}");
}

#[test]
fn corrupted_layers_are_reported_not_fatal() {
    let json = urunc::urunc_json(&linux_keys());
    let test = image(&linux_keys(), Some(&json), &[E::File("a/../../x", b"x", 0o644)]);
    let report = run(&test);
    assert!(!report.ok());
    assert!(report.files.is_empty());
    assert_eq!(report.urunc_json.status, "unread");
    let errors = messages(&report, "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("cannot flatten the layers") && errors[0].contains("a/../../x"), "{errors:?}");
}

#[test]
fn the_compatibility_table_covers_every_version() {
    let json = urunc::urunc_json(&linux_keys());
    let mut test = image(&linux_keys(), Some(&json), &[]);
    test.annotations = urunc::labels(&linux_keys());
    let report = run(&test);
    let versions: Vec<&str> = report.compatibility.iter().map(|r| r.version.as_str()).collect();
    assert_eq!(versions, ["0.5", "0.6", "0.7", "0.8", "main"]);
    let old = &report.compatibility[0];
    assert!(!old.accepted && old.reasons[0].contains("unikernel type `linux`"), "{old:?}");
    let v6 = &report.compatibility[1];
    assert!(v6.accepted && !v6.target, "{v6:?}");
    assert_eq!(v6.config.as_deref(), Some("urunc.json"));
    assert_eq!(v6.spec_annotations, "base64");
    assert_eq!(v6.rootfs.as_deref(), Some("none"));
    assert_eq!(v6.arguments_from.as_deref(), Some("Entrypoint+Cmd"));
    assert_eq!(v6.arguments, Some(vec!["/init".to_string(), "x".to_string()]));
    let v8 = &report.compatibility[3];
    assert!(v8.accepted && v8.target && v8.spec_annotations == "plain", "{v8:?}");
    assert!(v8.config.as_deref().is_some_and(|c| c.starts_with("labels and manifest annotations")), "{v8:?}");

    let text = render_text(&report);
    let table = text.split("urunc versions (* = targeted: 0.8):\n").nth(1).expect("the table");
    assert!(table.starts_with("  0.5    rejected: does not know unikernel type `linux`"), "{text}");
    assert!(table.contains("\n  0.8*   accepted; keys from labels and manifest annotations"), "{text}");
    assert!(table.contains("rootfs none; arguments [\"/init\",\"x\"] from Entrypoint+Cmd"), "{text}");
    assert!(text.ends_with("result:     ok (0 errors, 0 warnings)\n"), "{text}");

    let value: Value = serde_json::from_str(&render_json(&report)).unwrap();
    assert_eq!(value["targets"], json!("0.8"));
    assert_eq!(value["compatibility"][3]["version"], json!("0.8"));
    assert_eq!(value["compatibility"][3]["target"], json!(true));
    assert_eq!(value["compatibility"][0]["accepted"], json!(false));
    assert_eq!(value["compatibility"][4]["arguments"], json!(["/init", "x"]));
}

#[test]
fn labels_without_urunc_json_reach_only_urunc_0_8() {
    let report = run_for(&image(&linux_keys(), None, &[]), "0.6-main");
    assert!(!report.ok());
    let errors = messages(&report, "error");
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (error, version) in errors.iter().zip(["0.6", "0.7"]) {
        assert!(error.starts_with(&format!("[versions] -: urunc {version}: reads the image only through /urunc.json")));
        assert!(error.contains("is missing: it runs the container with runc"), "{error}");
    }
    assert!(report.compatibility[3].accepted && !report.compatibility[2].accepted);
    assert!(run_for(&image(&linux_keys(), None, &[]), "0.8").ok());
}

#[test]
fn versions_giving_other_arguments_are_flagged() {
    let rumprun =
        keys(&[("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/kernel"), ("cmdline", "hello")]);
    let test = image(&rumprun, Some(&urunc::urunc_json(&rumprun)), &[]);
    let report = run_for(&test, "0.5-main");
    let flags: Vec<bool> = report.compatibility.iter().map(|r| r.arguments_differ).collect();
    assert_eq!(flags, [true, false, false, false, false]);
    assert_eq!(report.compatibility[0].cmdline.as_deref(), Some("hello"));
    let errors = messages(&report, "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("urunc 0.5 gives `hello` (cmdline), urunc 0.6-main gives [\"/init\",\"x\"]"),
        "{errors:?}"
    );
    let text = render_text(&report);
    assert!(
        text.contains(
            "0.5*   accepted; keys from urunc.json; rootfs useDMBlock (the container rootfs as a block device, \
             when the snapshotter is devmapper); arguments `hello` from cmdline  <- other"
        ),
        "{text}"
    );
    // Checked for 0.8 alone, the ignored cmdline is a warning.
    let report = run_for(&test, "0.8");
    assert!(report.ok());
    assert!(messages(&report, "warning").iter().any(|w| w.contains("urunc 0.8: ignores `cmdline` `hello`")));
}
