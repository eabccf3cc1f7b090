//! `bimanix index` of images built with `--sbom` and `--provenance`: each
//! image's documents are carried into the index byte for byte, listed by
//! the same `sha256-<hex>` fallback index as in the image's own archive,
//! and `inspect` lists them per image with their subjects checked.

use super::layers::two_platforms;
use super::*;

const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const REF_NAME: &str = "org.opencontainers.image.ref.name";
const DOCUMENTS: [&str; 5] = ["--format", "oci-archive", "--sbom", "cyclonedx", "--provenance"];

/// The regular files of an archive, by path.
fn files_of(archive: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = fs::read(archive).expect("archive");
    tar_entries(&bytes).into_iter().filter(|e| e.kind == b'0').map(|e| (e.path, e.data)).collect()
}

/// The entries of `index.json` in `files`.
fn top(files: &BTreeMap<String, Vec<u8>>) -> Vec<Value> {
    parse(&files["index.json"], "index.json")["manifests"].as_array().expect("manifests").clone()
}

/// Checks that the documents `single`'s fallback index lists are in
/// `files` with the same bytes, naming the image's manifest as subject.
fn same_documents(files: &BTreeMap<String, Vec<u8>>, single: &BTreeMap<String, Vec<u8>>, fallback: &Value) {
    let listing = parse(blob(single, fallback, INDEX_TYPE), "referrers index");
    let subject = top(single)[0]["digest"].clone();
    let documents = listing["manifests"].as_array().expect("manifests");
    assert_eq!(documents.len(), 2, "the SBOM and the attestation");
    for doc in documents {
        assert_eq!(blob(files, doc, MANIFEST_TYPE), blob(single, doc, MANIFEST_TYPE), "the artifact manifest");
        let artifact = parse(blob(files, doc, MANIFEST_TYPE), "artifact manifest");
        assert_eq!(artifact["subject"]["digest"], subject);
        let layer = &artifact["layers"][0];
        let media_type = layer["mediaType"].as_str().expect("media type");
        assert_eq!(blob(files, layer, media_type), blob(single, layer, media_type), "the document");
        blob(files, &artifact["config"], "application/vnd.oci.empty.v1+json");
    }
}

#[test]
fn index_carries_each_images_documents_as_they_are() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &DOCUMENTS);
    let out = fx.path("multi.tar");
    let run = bx(fx.tmp.path()).arg("index").arg(&arm64).arg(&amd64).arg("-o").arg(&out).run();
    run.ok();
    assert!(run.stderr.contains("linux/arm64/v8 with 4 attached documents to"), "{}", run.stderr);
    let files = files_of(&out);
    for (path, bytes) in &files {
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            assert_eq!(sha256_hex(bytes), hex, "blob {path} does not hash to its name");
        }
    }
    let entries = top(&files);
    assert_eq!(entries.len(), 3, "the index, then one fallback index per image: {entries:?}");
    assert_eq!(entries[0]["annotations"][REF_NAME], "v2");
    let index = parse(blob(&files, &entries[0], INDEX_TYPE), "image index");
    for (i, single) in [&amd64, &arm64].into_iter().enumerate() {
        let theirs = files_of(single);
        let their_entries = top(&theirs);
        let manifest = &their_entries[0]["digest"];
        assert_eq!(&index["manifests"][i]["digest"], manifest, "the image keeps its manifest");
        let hex = manifest.as_str().expect("digest").trim_start_matches("sha256:");
        assert_eq!(their_entries[1]["annotations"][REF_NAME], format!("sha256-{hex}"));
        assert_eq!(entries[i + 1], their_entries[1], "the same fallback index, in platform order");
        same_documents(&files, &theirs, &entries[i + 1]);
    }
    let again = fx.path("again.tar");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).arg("-o").arg(&again).run().ok();
    assert_eq!(fs::read(&again).expect("again"), fs::read(&out).expect("first"), "reproducible, whatever the order");
}

#[test]
fn inspect_lists_the_documents_of_each_image_of_an_index_with_subjects_checked() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &DOCUMENTS);
    let out = fx.path("layout");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).args(["--format", "oci-layout", "-o"]).arg(&out).run().ok();
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    let report = parse(&js.stdout, "inspect --json");
    assert_eq!(report["ok"], true, "{report}");
    for image in report["images"].as_array().expect("images") {
        let manifest = image["manifest_digest"].as_str().expect("manifest digest");
        let attached = image["attached"].as_array().expect("attached");
        let types: Vec<&str> = attached.iter().map(|a| a["artifact_type"].as_str().expect("type")).collect();
        assert_eq!(types, ["application/vnd.cyclonedx+json", "application/vnd.in-toto+json"], "{image}");
        for a in attached {
            assert_eq!(a["ok"], true, "subject and blobs checked: {a}");
            assert_eq!(a["found"], format!("{} index", manifest.replacen(':', "-", 1)));
        }
    }
}

#[test]
fn index_refuses_an_image_whose_document_is_corrupt() {
    let fx = Fx::new();
    let layouts = ["--format", "oci-layout", "--sbom", "cyclonedx"];
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &layouts);
    let single = top(&read_layout(&arm64));
    let listing = parse(&fs::read(layout_blob(&arm64, &single[1])).expect("listing"), "referrers index");
    let artifact = parse(&fs::read(layout_blob(&arm64, &listing["manifests"][0])).expect("artifact"), "artifact");
    let sbom = layout_blob(&arm64, &artifact["layers"][0]);
    let mut edited = fs::read(&sbom).expect("the SBOM");
    edited[0] = b' ';
    fs::write(&sbom, edited).expect("edit the SBOM");
    let run = bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).arg("-o").arg(fx.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("does not hash to its digest"), "{}", run.stderr);
    assert!(run.stderr.contains("refusing to carry it into the index"), "{}", run.stderr);
    assert!(!fx.path("x.tar").exists(), "nothing written");
}

/// `index.json` of an OCI layout, as [`files_of`] gives an archive's.
fn read_layout(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([("index.json".to_string(), fs::read(dir.join("index.json")).expect("index.json"))])
}

/// The path of the blob `desc` names in the layout `dir`.
fn layout_blob(dir: &Path, desc: &Value) -> PathBuf {
    let digest = desc["digest"].as_str().expect("digest");
    dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}
