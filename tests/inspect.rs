//! `inspect`'s table of urunc versions by consumers, against what each
//! consumer's urunc reads (see src/rules/readers.rs for the sources): one
//! test per row of the table in docs/args-nix.md ("What the image
//! holds"), on an image built by bimanix whose `/urunc.json`, config Labels
//! and manifest annotations are then made to disagree, and images pushed as
//! one platform of an index, with complete and incomplete Labels.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const PREFIX: &str = "com.urunc.unikernel.";

/// Runs bimanix in `dir`; returns the exit code, stdout and stderr.
fn bimanix(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).current_dir(dir).args(args).env_remove("SOURCE_DATE_EPOCH").output().expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).expect("read")).expect("json")
}

/// `sha256:` and the hex digest of `bytes`.
fn sha256(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Writes `value` as a blob; returns its digest and size.
fn put(layout: &Path, value: &Value) -> (String, u64) {
    let bytes = serde_json::to_vec(value).expect("json");
    let digest = sha256(&bytes);
    fs::write(blob(layout, &digest), &bytes).expect("write blob");
    (digest, bytes.len() as u64)
}

/// Rewrites the config and manifest of the one image of an OCI layout,
/// with the descriptors that lead to them.
fn edit(layout: &Path, change: impl FnOnce(&mut Value, &mut Value)) {
    let mut index = read_json(&layout.join("index.json"));
    let mut manifest = read_json(&blob(layout, index["manifests"][0]["digest"].as_str().expect("digest")));
    let mut config = read_json(&blob(layout, manifest["config"]["digest"].as_str().expect("digest")));
    change(&mut config, &mut manifest);
    let (digest, size) = put(layout, &config);
    manifest["config"]["digest"] = json!(digest);
    manifest["config"]["size"] = json!(size);
    let (digest, size) = put(layout, &manifest);
    index["manifests"][0]["digest"] = json!(digest);
    index["manifests"][0]["size"] = json!(size);
    fs::write(layout.join("index.json"), serde_json::to_vec(&index).expect("json")).expect("write index");
}

/// A directory with the kernel at three paths and an args file for a Linux
/// guest booting `/boot/kernel`, with `unikernelVersion` set.
fn inputs() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let kernel = fs::read(KERNEL).expect("example/hello/hello.bzImage");
    for name in ["kernel", "label", "annot"] {
        fs::write(dir.path().join(name), &kernel).expect("write");
    }
    let args = json!({
        "name": "hello",
        "tag": "v1",
        "files": { "./kernel": "/boot/kernel", "./label": "/boot/label", "./annot": "/boot/annot" },
        "annotations": {
            "unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel", "unikernelVersion": "6.1",
        },
        "cmd": ["/boot/kernel", "x"],
    });
    fs::write(dir.path().join("args.json"), serde_json::to_vec_pretty(&args).expect("json")).expect("write");
    let (code, _, err) = bimanix(dir.path(), &["build", "args.json", "--format", "oci-layout", "-o", "layout"]);
    assert_eq!(code, Some(0), "{err}");
    dir
}

/// The image of [`inputs`] with `binary` `/boot/label` in the config Labels
/// and `/boot/annot` in the manifest annotations (`/urunc.json` keeps
/// `/boot/kernel`), and `unikernelVersion` in the Labels only.
fn disagreeing() -> TempDir {
    let dir = inputs();
    edit(&dir.path().join("layout"), |config, manifest| {
        config["config"]["Labels"][format!("{PREFIX}binary")] = json!("/boot/label");
        manifest["annotations"][format!("{PREFIX}binary")] = json!("/boot/annot");
        manifest["annotations"].as_object_mut().expect("annotations").remove(&format!("{PREFIX}unikernelVersion"));
    });
    dir
}

/// `inspect --json` of `image` (relative to `dir`) for urunc 0.6-main.
fn inspect(dir: &Path, image: &str) -> Value {
    let (code, out, err) = bimanix(dir, &["inspect", "--json", "--urunc", "0.6-main", image]);
    assert!(code == Some(0) || code == Some(1), "{err}");
    serde_json::from_str(&out).expect("inspect --json")
}

/// The report's row for `version` under `consumer`.
fn cell<'a>(report: &'a Value, version: &str, consumer: &str) -> &'a Value {
    report["consumers"]
        .as_array()
        .expect("consumers")
        .iter()
        .find(|c| c["version"] == version && c["consumer"] == consumer)
        .unwrap_or_else(|| panic!("no row {version} {consumer}"))
}

fn key<'a>(cell: &'a Value, short: &str) -> &'a Value {
    &cell["keys"][format!("{PREFIX}{short}")]
}

/// Whether `cell` lists `value` of `short` in `place` as ignored.
fn ignores(cell: &Value, place: &str, short: &str, value: &str) -> bool {
    cell["ignored"]
        .as_array()
        .expect("ignored")
        .iter()
        .any(|i| i["place"] == place && i["key"] == short && i["value"] == value)
}

fn messages(report: &Value, severity: &str) -> Vec<String> {
    report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["severity"] == severity)
        .map(|p| format!("[{}] {}", p["source"].as_str().expect("source"), p["message"].as_str().expect("message")))
        .collect()
}

const ALL: [&str; 5] = ["docker", "docker-containerd", "nerdctl", "ctr", "kubernetes"];

/// The row of ctr, nerdctl and Kubernetes on 0.8 and main: the manifest
/// annotations win over the Labels key by key, and `/urunc.json` is not read.
fn assert_shim_takes_annotations_over_labels(consumer: &str) {
    let dir = disagreeing();
    let report = inspect(dir.path(), "layout");
    assert_eq!(report["tag_names"], "manifest");
    for version in ["0.8", "main"] {
        let row = cell(&report, version, consumer);
        assert_eq!(row["reads"], json!(["manifest annotations", "labels", "urunc.json"]), "{row:#}");
        assert_eq!(row["uses"], json!(["manifest annotations", "labels"]), "{row:#}");
        assert_eq!(key(row, "binary"), "/boot/annot", "{row:#}");
        assert_eq!(key(row, "unikernelVersion"), "6.1", "the Labels' own key is kept: {row:#}");
        assert_eq!(row["accepted"], true, "{row:#}");
        assert!(ignores(row, "urunc.json", "binary", "/boot/kernel"), "{row:#}");
        assert!(ignores(row, "labels", "binary", "/boot/label"), "{row:#}");
    }
}

#[test]
fn urunc_0_5_to_0_7_read_only_urunc_json_under_every_consumer() {
    let dir = disagreeing();
    let report = inspect(dir.path(), "layout");
    for version in ["0.5", "0.6", "0.7"] {
        for consumer in ALL {
            let row = cell(&report, version, consumer);
            assert_eq!(row["reads"], json!(["urunc.json"]), "{row:#}");
            assert_eq!(row["uses"], json!(["urunc.json"]), "{row:#}");
            assert_eq!(key(row, "binary"), "/boot/kernel", "{row:#}");
            assert!(ignores(row, "manifest annotations", "binary", "/boot/annot"), "{row:#}");
            assert!(ignores(row, "labels", "binary", "/boot/label"), "{row:#}");
            assert_eq!(row["accepted"], version != "0.5", "0.5 has no Linux guest: {row:#}");
        }
    }
    let (_, text, _) = bimanix(dir.path(), &["inspect", "layout"]);
    assert!(
        text.contains("\n  0.7    every consumer: reads urunc.json -> keys from urunc.json; accepted; ignores "),
        "{text}"
    );
}

#[test]
fn urunc_0_8_and_main_under_ctr_take_the_manifest_annotations_over_labels_and_urunc_json() {
    assert_shim_takes_annotations_over_labels("ctr");
    // The case: inspect says who takes which value, not "ctr uses urunc.json".
    let dir = disagreeing();
    let errors = messages(&inspect(dir.path(), "layout"), "error");
    let wanted = "[urunc.json] urunc.json says `/boot/kernel` but the labels/annotations say `/boot/annot`; urunc takes \
                  `/boot/kernel` under every consumer on urunc 0.5-0.7 and Docker on urunc 0.8-main; `/boot/annot` \
                  under Docker (containerd image store), nerdctl, ctr and Kubernetes (CRI) on urunc 0.8-main";
    assert!(errors.iter().any(|e| e == wanted), "{errors:#?}");
    let warnings = messages(&inspect(dir.path(), "layout"), "warning");
    assert!(
        warnings.iter().any(|w| w.starts_with(
            "[annotations] the config label is `/boot/label` but the manifest annotation is `/boot/annot`; urunc takes"
        )),
        "{warnings:#?}"
    );
}

#[test]
fn urunc_0_8_and_main_under_nerdctl_take_the_manifest_annotations_over_labels_and_urunc_json() {
    assert_shim_takes_annotations_over_labels("nerdctl");
}

#[test]
fn urunc_0_8_and_main_under_kubernetes_take_the_manifest_annotations_over_labels_and_urunc_json() {
    assert_shim_takes_annotations_over_labels("kubernetes");
}

#[test]
fn urunc_0_8_and_main_under_docker_take_urunc_json() {
    let dir = disagreeing();
    let report = inspect(dir.path(), "layout");
    for version in ["0.8", "main"] {
        let row = cell(&report, version, "docker");
        assert_eq!(row["reads"], json!(["urunc.json"]), "{row:#}");
        assert_eq!(row["uses"], json!(["urunc.json"]), "{row:#}");
        assert_eq!(key(row, "binary"), "/boot/kernel", "{row:#}");
        assert!(ignores(row, "manifest annotations", "binary", "/boot/annot"), "{row:#}");
        assert_eq!(row["accepted"], true);
    }
    // Without /urunc.json Docker's urunc finds nothing and runs runc.
    let dir = inputs();
    strip_urunc_json(&dir.path().join("layout"));
    let report = inspect(dir.path(), "layout");
    assert_eq!(report["urunc_json"]["status"], "missing");
    let row = cell(&report, "0.8", "docker");
    assert_eq!((row["uses"].clone(), row["accepted"].clone()), (json!([]), json!(false)), "{row:#}");
    assert!(row["reasons"][0].as_str().expect("reason").ends_with("runs runc"), "{row:#}");
    assert_eq!(cell(&report, "0.8", "ctr")["accepted"], true);
}

#[test]
fn urunc_0_8_and_main_under_docker_with_the_containerd_store_take_the_annotations_not_the_labels() {
    let dir = disagreeing();
    let report = inspect(dir.path(), "layout");
    for version in ["0.8", "main"] {
        let row = cell(&report, version, "docker-containerd");
        assert_eq!(row["reads"], json!(["manifest annotations", "urunc.json"]), "{row:#}");
        assert_eq!(row["uses"], json!(["manifest annotations"]), "{row:#}");
        assert_eq!(key(row, "binary"), "/boot/annot", "{row:#}");
        assert_eq!(key(row, "unikernelVersion"), &Value::Null, "the Labels do not reach it: {row:#}");
        assert!(ignores(row, "labels", "unikernelVersion", "6.1"), "{row:#}");
    }
    // For an index it reads nothing of the image's but /urunc.json.
    let (code, _, err) = bimanix(dir.path(), &["index", "layout", "-o", "index.tar"]);
    assert_eq!(code, Some(0), "{err}");
    let report = inspect(dir.path(), "index.tar");
    let row = cell(&report, "0.8", "docker-containerd");
    assert_eq!(row["reads"], json!(["urunc.json"]), "{row:#}");
    assert_eq!(key(row, "binary"), "/boot/kernel", "{row:#}");
}

/// Removes `/urunc.json` from the image: a layer holding only its whiteout
/// on top.
fn strip_urunc_json(layout: &Path) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(0);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, ".wh.urunc.json", &[][..]).expect("tar");
    let bytes = tar.into_inner().expect("tar");
    let digest = sha256(&bytes);
    fs::write(blob(layout, &digest), &bytes).expect("write layer");
    edit(layout, |config, manifest| {
        config["rootfs"]["diff_ids"].as_array_mut().expect("diff_ids").push(json!(digest));
        manifest["layers"].as_array_mut().expect("layers").push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": digest,
            "size": bytes.len(),
        }));
    });
}

#[test]
fn an_index_with_complete_labels_reaches_a_0_8_shim_through_the_labels_alone() {
    let dir = inputs();
    let (code, _, err) = bimanix(dir.path(), &["index", "layout", "-o", "index.tar"]);
    assert_eq!(code, Some(0), "{err}");
    let report = inspect(dir.path(), "index.tar");
    assert_eq!(report["tag_names"], "index", "{report:#}");
    assert_eq!(report["ok"], true, "{:#?}", report["problems"]);
    assert!(messages(&report, "warning").iter().all(|w| !w.starts_with("[index]")), "{report:#}");
    for version in ["0.8", "main"] {
        for consumer in ["ctr", "nerdctl", "kubernetes"] {
            let row = cell(&report, version, consumer);
            assert_eq!(row["reads"], json!(["labels", "urunc.json"]), "{row:#}");
            assert_eq!(row["uses"], json!(["labels"]), "{row:#}");
            assert_eq!(row["accepted"], true, "{row:#}");
        }
    }
    let (_, text, _) = bimanix(dir.path(), &["inspect", "index.tar"]);
    assert!(
        text.contains("urunc keys by consumer (the tag names an index: no manifest annotations reach a 0.8 shim):")
    );
    assert!(
        text.contains(
            "  0.8*   nerdctl, ctr, Kubernetes (CRI): reads labels > urunc.json -> keys from labels; accepted"
        )
    );
    // The same image pushed by itself: its tag names the manifest.
    assert_eq!(inspect(dir.path(), "layout")["tag_names"], "manifest");
}

/// The image of [`inputs`] without the Label `short`, made one platform of
/// an index (`index.tar`), and the inspect report of the index.
fn indexed_without_label(short: &str) -> (TempDir, Value) {
    let dir = inputs();
    edit(&dir.path().join("layout"), |config, _| {
        config["config"]["Labels"].as_object_mut().expect("labels").remove(&format!("{PREFIX}{short}"));
    });
    let (code, _, err) = bimanix(dir.path(), &["index", "layout", "-o", "index.tar"]);
    assert_eq!(code, Some(0), "{err}");
    let report = inspect(dir.path(), "index.tar");
    (dir, report)
}

#[test]
fn an_index_whose_labels_lack_a_key_is_an_error_naming_it() {
    let (dir, report) = indexed_without_label("unikernelVersion");
    assert_eq!(report["ok"], false);
    let errors = messages(&report, "error");
    assert!(
        errors.iter().any(|e| e.starts_with("[index] the tag names an image index")
            && e.contains("the Labels lack `unikernelVersion` (set in the manifest annotations or urunc.json)")
            && e.ends_with("so urunc takes the Labels alone and goes without the others")),
        "{errors:#?}"
    );
    assert_eq!(key(cell(&report, "0.8", "ctr"), "unikernelVersion"), &Value::Null);
    // Pushed by itself, the manifest annotations fill the gap: no problem.
    let report = inspect(dir.path(), "layout");
    assert!(messages(&report, "error").iter().all(|e| !e.starts_with("[index]")), "{report:#}");
    assert_eq!(key(cell(&report, "0.8", "ctr"), "unikernelVersion"), "6.1");
}

#[test]
fn an_index_whose_labels_lack_a_required_key_falls_back_to_urunc_json_with_a_warning() {
    let (_dir, report) = indexed_without_label("hypervisor");
    let warnings = messages(&report, "warning");
    assert!(
        warnings.iter().any(|w| w.starts_with("[index] ")
            && w.contains("the Labels lack `hypervisor`")
            && w.ends_with("so without `hypervisor` urunc falls back to /urunc.json")),
        "{warnings:#?}"
    );
    assert!(messages(&report, "error").iter().all(|e| !e.starts_with("[index]")), "{report:#}");
    let row = cell(&report, "0.8", "kubernetes");
    assert_eq!((row["uses"].clone(), row["accepted"].clone()), (json!(["urunc.json"]), json!(true)), "{row:#}");
}
