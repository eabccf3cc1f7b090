//! Builders for small test images, shared with `inspect`'s tests.

use std::io::Write;

use serde_json::json;

use sha2::{Digest, Sha256};
use tar::EntryType;

use super::*;
use crate::model::fstree::{Content, Node};

/// One entry of a test layer; names and link names are written raw, so
/// that malformed ones can be made.
pub(crate) enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str, u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Fifo(&'a str),
}

pub(crate) fn layer(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let (name, kind, mode, data, link): (&str, EntryType, u32, &[u8], &str) = match entry {
            E::File(n, data, mode) => (n, EntryType::Regular, *mode, data, ""),
            E::Dir(n, mode) => (n, EntryType::Directory, *mode, b"", ""),
            E::Symlink(n, to) => (n, EntryType::Symlink, 0o777, b"", to),
            E::Hardlink(n, to) => (n, EntryType::Link, 0o644, b"", to),
            E::Fifo(n) => (n, EntryType::Fifo, 0o644, b"", ""),
        };
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(data.len() as u64);
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        gnu.linkname = [0; 100];
        gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub(crate) fn zstd(bytes: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
}

/// sha256 of `bytes`, computed here independently of the reader.
pub(crate) fn sha(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A test image: uncompressed layer tars and what to write around them.
pub(crate) struct TestImage {
    pub layers: Vec<Vec<u8>>,
    pub compress: fn(&[u8]) -> Vec<u8>,
    pub config: Value,
    pub architecture: &'static str,
    pub annotations: BTreeMap<String, String>,
    pub tag: &'static str,
    /// Every layer's media type; by default the one its bytes call for.
    pub media_type: Option<&'static str>,
}

impl TestImage {
    pub(crate) fn new(layers: Vec<Vec<u8>>) -> TestImage {
        TestImage {
            layers,
            compress: |b| b.to_vec(),
            config: json!({"Cmd": ["/hello"]}),
            architecture: "amd64",
            annotations: BTreeMap::new(),
            tag: "hello:1.0",
            media_type: None,
        }
    }

    fn stored(&self) -> Vec<Vec<u8>> {
        self.layers.iter().map(|l| (self.compress)(l)).collect()
    }

    pub(crate) fn config_bytes(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self.layers.iter().map(|l| sha(l)).collect();
        serde_json::to_vec(&json!({
            "architecture": self.architecture, "os": "linux", "created": "1970-01-01T00:00:01Z",
            "config": self.config, "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap()
    }

    /// An OCI layout's files.
    pub(crate) fn oci(&self) -> Vec<(String, Vec<u8>)> {
        let config = self.config_bytes();
        let mut files = vec![("oci-layout".to_string(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec())];
        let mut layers = Vec::new();
        for blob in self.stored() {
            let media_type = self.media_type.unwrap_or(match Compression::sniff(&blob) {
                Compression::None => "application/vnd.oci.image.layer.v1.tar",
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            });
            layers.push(json!({"mediaType": media_type, "digest": sha(&blob), "size": blob.len()}));
            files.push((blob_path(&blob), blob));
        }
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(&config), "size": config.len()},
            "layers": layers, "annotations": self.annotations,
        }))
        .unwrap();
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(&manifest), "size": manifest.len(),
            "annotations": {"io.containerd.image.name": format!("docker.io/library/{}", self.tag),
                            "org.opencontainers.image.ref.name": self.tag.rsplit(':').next().unwrap()}}]});
        files.push((blob_path(&config), config));
        files.push((blob_path(&manifest), manifest));
        files.push(("index.json".to_string(), serde_json::to_vec(&index).unwrap()));
        files
    }

    /// A docker-archive as Docker < 25 writes it.
    pub(crate) fn docker(&self) -> Vec<(String, Vec<u8>)> {
        let config = self.config_bytes();
        let config_name = format!("{}.json", &sha(&config)[7..]);
        let mut files = Vec::new();
        let mut names = Vec::new();
        for (i, blob) in self.stored().into_iter().enumerate() {
            names.push(format!("{i:064x}/layer.tar"));
            files.push((format!("{i:064x}/layer.tar"), blob));
        }
        let manifest = json!([{"Config": config_name, "RepoTags": [self.tag], "Layers": names}]);
        files.push((config_name, config));
        files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).unwrap()));
        files
    }

    /// What Docker 25+ saves: an OCI layout plus manifest.json.
    pub(crate) fn hybrid(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = self.oci();
        let config = blob_path(&self.config_bytes());
        let layers: Vec<String> = self.stored().iter().map(|b| blob_path(b)).collect();
        let manifest = json!([{"Config": config, "RepoTags": [self.tag], "Layers": layers}]);
        files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).unwrap()));
        files
    }
}

pub(crate) fn blob_path(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", &sha(bytes)[7..])
}

pub(crate) fn write_tar(path: &Path, files: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, data.as_slice()).unwrap();
    }
    std::fs::write(path, builder.into_inner().unwrap()).unwrap();
}

pub(crate) fn write_dir(path: &Path, files: &[(String, Vec<u8>)]) {
    for (name, data) in files {
        let file = path.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, data).unwrap();
    }
}

/// Flattens keeping every file's bytes inline.
pub(crate) fn flatten_inline(image: &Image) -> Result<Flattened> {
    image.flatten(&mut |_, reader, _| {
        let mut bytes = Vec::new();
        reader.read_to_end(&mut bytes)?;
        Ok(Content::Inline(bytes))
    })
}

fn file_bytes(flat: &Flattened, path: &(impl AsRef<[u8]> + ?Sized)) -> Option<Vec<u8>> {
    match flat.tree.get(path) {
        Some(Node::File { content: Content::Inline(bytes), .. }) => Some(bytes.clone()),
        _ => None,
    }
}

fn hello_layer() -> Vec<u8> {
    layer(&[
        E::Dir("unikernel/", 0o755),
        E::File("unikernel/hello", b"\x7fELF kernel", 0o755),
        E::File("urunc.json", b"{}", 0o644),
    ])
}

#[test]
fn reads_a_docker_archive_with_a_gzip_layer() {
    let dir = tempfile::tempdir().unwrap();
    let mut test = TestImage::new(vec![hello_layer()]);
    test.compress = gzip;
    let path = dir.path().join("x.tar");
    write_tar(&path, &test.docker());
    let image = open(&path, &Select::default()).unwrap();
    assert_eq!(image.format, Format::DockerArchive);
    assert_eq!(image.repo_tags, vec!["hello:1.0"]);
    assert_eq!(image.config_digest, sha(&test.config_bytes()));
    assert_eq!(image.config.architecture, "amd64");
    assert_eq!(image.config.cmd, Some(vec!["/hello".to_string()]));
    assert_eq!(image.config.created.as_deref(), Some("1970-01-01T00:00:01Z"));
    assert_eq!(image.layers.len(), 1);
    assert_eq!(image.layers[0].compression, Compression::Gzip);
    assert_eq!(image.layers[0].digest, None);
    assert_eq!(image.layers[0].diff_id, sha(&hello_layer()));
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let flat = flatten_inline(&image).unwrap();
    assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
    assert_eq!(flat.tree.get("unikernel"), Some(&Node::Dir { mode: 0o755 }));
    assert_eq!(flat.layer_entries, vec![3]);
    let mut plain = Vec::new();
    image.layer_reader(0).unwrap().read_to_end(&mut plain).unwrap();
    assert_eq!(plain, hello_layer());
}

#[test]
fn reads_an_oci_layout_directory_with_a_zstd_layer() {
    let dir = tempfile::tempdir().unwrap();
    let mut test = TestImage::new(vec![hello_layer()]);
    test.compress = zstd;
    test.annotations.insert("com.urunc.unikernel.hypervisor".into(), "qemu".into());
    write_dir(dir.path(), &test.oci());
    let image = open(dir.path(), &Select::default()).unwrap();
    assert_eq!(image.format, Format::OciDir);
    assert_eq!(image.repo_tags, vec!["docker.io/library/hello:1.0"]);
    assert_eq!(image.manifest_annotations.get("com.urunc.unikernel.hypervisor").map(String::as_str), Some("qemu"));
    assert_eq!(image.layers[0].compression, Compression::Zstd);
    assert_eq!(image.layers[0].digest, Some(sha(&zstd(&hello_layer()))));
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let flat = flatten_inline(&image).unwrap();
    assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
}

#[test]
fn reads_a_hybrid_archive_and_a_compressed_oci_archive() {
    let dir = tempfile::tempdir().unwrap();
    let mut test = TestImage::new(vec![hello_layer()]);
    test.annotations.insert("a".into(), "b".into());
    test.tag = "other:2";
    let hybrid = dir.path().join("hybrid.tar");
    write_tar(&hybrid, &test.hybrid());
    let image = open(&hybrid, &Select::default()).unwrap();
    assert_eq!(image.format, Format::DockerOciArchive);
    assert_eq!(image.repo_tags, vec!["other:2"]);
    assert_eq!(image.manifest_annotations.get("a").map(String::as_str), Some("b"));
    assert_eq!(image.layers[0].digest, Some(sha(&hello_layer())));
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());

    let oci = dir.path().join("oci.tar");
    write_tar(&oci, &test.oci());
    std::fs::write(&oci, gzip(&std::fs::read(&oci).unwrap())).unwrap();
    let image = open(&oci, &Select { tag: Some("other:2".into()), platform: None }).unwrap();
    assert_eq!(image.format, Format::OciArchive);
    assert_eq!(image.compression, Compression::Gzip);
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let err = open(&oci, &Select { tag: Some("nope".into()), platform: None }).unwrap_err();
    assert!(format!("{err:#}").contains("no image tagged \"nope\""), "{err:#}");
}

#[test]
fn applies_whiteouts_and_opaque_directories_to_lower_layers_only() {
    let lower = layer(&[
        E::File("a/x", b"x", 0o644),
        E::File("a/y", b"y", 0o644),
        E::File("b/z", b"z", 0o644),
        E::File("b/keep", b"k", 0o600),
        E::File("c", b"c", 0o644),
        E::File("d/old", b"o", 0o644),
    ]);
    let upper = layer(&[
        E::File("a/new", b"n", 0o755),
        E::File("a/.wh..wh..opq", b"", 0o644),
        E::File("b/.wh.z", b"", 0o644),
        E::File(".wh.c", b"", 0o644),
        E::File("d/mine", b"m", 0o644),
        E::File("d/.wh.mine", b"", 0o644),
        E::Dir("d", 0o700),
    ]);
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![lower, upper]).oci());
    let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
    let paths: Vec<&bstr::BStr> = flat.tree.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, vec!["a", "a/new", "b", "b/keep", "d", "d/mine", "d/old"]);
    assert!(matches!(flat.tree.get("b/keep"), Some(Node::File { mode: 0o600, size: 1, .. })));
    assert!(matches!(flat.tree.get("a/new"), Some(Node::File { mode: 0o755, .. })));
    assert_eq!(flat.tree.get("d"), Some(&Node::Dir { mode: 0o700 }));
}

#[test]
fn opaque_root_and_file_replacing_a_directory() {
    let lower = layer(&[E::File("a/x", b"x", 0o644), E::File("top", b"t", 0o644)]);
    let middle = layer(&[E::File(".wh..wh..opq", b"", 0o644), E::File("kept", b"k", 0o644)]);
    let upper = layer(&[E::File("kept", b"file now", 0o644), E::Symlink("link", "/kept")]);
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![lower, middle, upper]).oci());
    let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
    let paths: Vec<&bstr::BStr> = flat.tree.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, vec!["kept", "link"]);
    assert_eq!(file_bytes(&flat, "kept").unwrap(), b"file now");
    assert_eq!(flat.tree.get("link"), Some(&Node::Symlink { target: "/kept".into() }));
}

#[test]
fn hard_links_share_their_target_and_devices_are_skipped() {
    let lower = layer(&[E::File("bin/busybox", b"bb", 0o755)]);
    let upper = layer(&[
        E::Hardlink("bin/sh", "bin/busybox"),
        E::File("etc/a", b"aa", 0o640),
        E::Hardlink("./etc/b", "./etc/a"),
        E::Fifo("dev/pipe"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![lower, upper]).oci());
    let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
    assert_eq!(file_bytes(&flat, "bin/sh").unwrap(), b"bb");
    assert!(matches!(flat.tree.get("etc/b"), Some(Node::File { mode: 0o640, size: 2, .. })));
    assert_eq!(file_bytes(&flat, "etc/b").unwrap(), b"aa");
    assert_eq!(flat.skipped, vec!["/dev/pipe (fifo, layer 2)"]);
    assert!(flat.tree.get("dev/pipe").is_none());
    // One inode per target, across layers too; the two targets are apart.
    let links = flat.tree.hard_links();
    let group =
        |p: &str| links.of(flat.tree.get(p).unwrap()).map(|g| g.iter().map(|p| p.to_string()).collect::<Vec<_>>());
    assert_eq!(group("bin/sh"), Some(vec!["bin/busybox".to_string(), "bin/sh".to_string()]));
    assert_eq!(group("etc/a"), Some(vec!["etc/a".to_string(), "etc/b".to_string()]));
}

#[test]
fn a_hard_link_whose_target_is_replaced_keeps_the_old_file() {
    let lower = layer(&[E::File("bin/busybox", b"bb", 0o755), E::Hardlink("bin/sh", "bin/busybox")]);
    let upper = layer(&[E::File("bin/busybox", b"new", 0o755)]);
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![lower, upper]).oci());
    let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
    assert_eq!(file_bytes(&flat, "bin/sh").unwrap(), b"bb");
    assert_eq!(file_bytes(&flat, "bin/busybox").unwrap(), b"new");
    let links = flat.tree.hard_links();
    assert!(links.of(flat.tree.get("bin/sh").unwrap()).is_none(), "a link alone is a plain file");
}

#[test]
fn reports_a_corrupted_blob_and_a_wrong_diff_id() {
    let dir = tempfile::tempdir().unwrap();
    let test = TestImage::new(vec![hello_layer()]);
    let mut files = test.oci();
    let layer_name = blob_path(&hello_layer());
    let entry = files.iter_mut().find(|(n, _)| *n == layer_name).unwrap();
    let at = entry.1.iter().position(|&b| b == b'k').unwrap();
    entry.1[at] = b'K';
    write_dir(dir.path(), &files);
    let problems = open(dir.path(), &Select::default()).unwrap().verify().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("not to its digest") && problems[0].starts_with("layer 1"), "{problems:?}");
    assert!(problems[1].contains("diff_id"), "{problems:?}");

    let dir = tempfile::tempdir().unwrap();
    let mut test = TestImage::new(vec![hello_layer()]);
    test.compress = gzip;
    let mut files = test.docker();
    let config_at = files.iter().position(|(n, _)| n.ends_with(".json") && n != "manifest.json").unwrap();
    let wrong = String::from_utf8(files[config_at].1.clone()).unwrap().replace(&sha(&hello_layer()), &sha(b"other"));
    files[config_at].1 = wrong.into_bytes();
    write_tar(&dir.path().join("x.tar"), &files);
    let problems = open(&dir.path().join("x.tar"), &Select::default()).unwrap().verify().unwrap();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("config") && problems[0].contains("not to its digest"), "{problems:?}");
    assert!(problems[1].contains(&format!("diff_id is {}", sha(b"other"))), "{problems:?}");
}

#[test]
fn reports_a_truncated_gzip_layer_without_failing() {
    let dir = tempfile::tempdir().unwrap();
    let mut test = TestImage::new(vec![hello_layer()]);
    test.compress = |b| {
        let whole = gzip(b);
        whole[..whole.len() / 2].to_vec()
    };
    write_dir(dir.path(), &test.oci());
    let image = open(dir.path(), &Select::default()).unwrap();
    let problems = image.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("layer 1 (") && problems[0].contains("cannot be decompressed as gzip"));
    let err = format!("{:#}", flatten_inline(&image).unwrap_err());
    assert!(err.contains("layer 1"), "{err}");
}

#[test]
fn rejects_malformed_archives_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_tar = dir.path().join("notes.txt");
    std::fs::write(&not_tar, "hello, this is not a tar archive at all\n".repeat(40)).unwrap();
    let err = format!("{:#}", open(&not_tar, &Select::default()).unwrap_err());
    assert!(err.contains("notes.txt") && err.contains("not a tar archive"), "{err}");

    let test = TestImage::new(vec![hello_layer()]);
    let mut files = test.docker();
    files.retain(|(n, _)| !n.ends_with("layer.tar"));
    write_tar(&dir.path().join("missing.tar"), &files);
    let err = format!("{:#}", open(&dir.path().join("missing.tar"), &Select::default()).unwrap_err());
    assert!(err.contains("layer.tar is missing from the archive"), "{err}");

    let mut files = test.docker();
    files.retain(|(n, _)| n != "manifest.json");
    files.push(("manifest.json".into(), b"[{\"Config\": 5}]".to_vec()));
    write_tar(&dir.path().join("badjson.tar"), &files);
    let err = format!("{:#}", open(&dir.path().join("badjson.tar"), &Select::default()).unwrap_err());
    assert!(err.contains("manifest.json is not the JSON document expected"), "{err}");

    let two = TestImage::new(vec![hello_layer(), hello_layer()]);
    let mut files = test.docker();
    let config = two.config_bytes();
    for (name, data) in files.iter_mut() {
        if name.ends_with(".json") && name != "manifest.json" {
            *data = config.clone();
        }
    }
    write_tar(&dir.path().join("count.tar"), &files);
    let err = format!("{:#}", open(&dir.path().join("count.tar"), &Select::default()).unwrap_err());
    assert!(err.contains("lists 1 Layers but config") && err.contains("has 2 rootfs.diff_ids"), "{err}");

    let mut bad = TestImage::new(vec![hello_layer()]);
    bad.config = json!({"Cmd": "/hello"});
    write_tar(&dir.path().join("cmd.tar"), &bad.docker());
    let err = format!("{:#}", open(&dir.path().join("cmd.tar"), &Select::default()).unwrap_err());
    assert!(err.contains("config.Cmd must be a list of strings"), "{err}");
}

#[test]
fn rejects_path_traversal_and_absolute_hard_links() {
    let dir = tempfile::tempdir().unwrap();
    let evil = layer(&[E::File("ok", b"1", 0o644), E::File("a/../../etc/passwd", b"x", 0o644)]);
    write_dir(dir.path(), &TestImage::new(vec![evil]).oci());
    let err = format!("{:#}", flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap_err());
    assert!(err.contains("layer 1") && err.contains("a/../../etc/passwd") && err.contains("`..`"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let abs = layer(&[E::File("ok", b"1", 0o644), E::Hardlink("two", "/ok")]);
    write_dir(dir.path(), &TestImage::new(vec![abs]).oci());
    let err = format!("{:#}", flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap_err());
    assert!(err.contains("entry /two: hard link") && err.contains("absolute"), "{err}");
}

#[test]
fn chooses_a_platform_from_a_nested_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut test = TestImage::new(vec![layer(&[E::File("k", arch.as_bytes(), 0o644)])]);
        test.architecture = arch;
        let oci = test.oci();
        let index: Value = serde_json::from_slice(&oci.iter().find(|(n, _)| n == "index.json").unwrap().1).unwrap();
        let mut desc = index["manifests"][0].clone();
        desc["platform"] = json!({"os": "linux", "architecture": arch});
        entries.push(desc);
        files.extend(oci.into_iter().filter(|(n, _)| n.starts_with("blobs/")));
    }
    entries.push(json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(b"attestation"),
        "size": 11, "platform": {"os": "unknown", "architecture": "unknown"}}));
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": entries})).unwrap();
    files.push((blob_path(&nested), nested.clone()));
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": sha(&nested), "size": nested.len()}]});
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    write_dir(dir.path(), &files);

    let err = open(dir.path(), &Select::default()).unwrap_err();
    let several = crate::imageread::several_images(&err).expect("a SeveralImages error behind the context");
    assert!(several.images.contains("linux/amd64") && several.images.contains("linux/arm64"), "{err:#}");
    let err = format!("{err:#}");
    assert!(err.contains("several images") && err.contains("linux/amd64") && err.contains("linux/arm64"), "{err}");
    assert!(!err.contains("unknown"), "{err}");
    let image = open(dir.path(), &Select { platform: Some("linux/arm64".into()), tag: None }).unwrap();
    assert_eq!(image.config.architecture, "arm64");
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let err = format!("{:#}", open(dir.path(), &Select { platform: Some("riscv64".into()), tag: None }).unwrap_err());
    assert!(err.contains("no image for platform linux/riscv64"), "{err}");
}

#[test]
fn reads_linked_layers_and_multi_frame_zstd() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = tar::Builder::new(Vec::new());
    let test = TestImage::new(vec![hello_layer(), hello_layer()]);
    for (name, data) in test.docker() {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        if name.starts_with(&format!("{:064x}", 1)) {
            header.set_entry_type(EntryType::Symlink);
            header.set_size(0);
            builder.append_link(&mut header, &name, format!("../{:064x}/layer.tar", 0)).unwrap();
        } else {
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, &name, data.as_slice()).unwrap();
        }
    }
    let path = dir.path().join("linked.tar");
    std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
    let image = open(&path, &Select::default()).unwrap();
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());

    let mut stream = zstd(b"first ");
    stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
    stream.extend(zstd(b"second"));
    let mut out = String::new();
    decompress(stream.as_slice(), stream.len() as u64).unwrap().1.read_to_string(&mut out).unwrap();
    assert_eq!(out, "first second");
}

/// Another tool's writers: skopeo turns our OCI layout into a
/// docker-archive and a zstd oci-archive. CI installs skopeo; elsewhere
/// (a Nix sandbox) it may be absent, and the test says it did nothing.
#[test]
fn reads_what_skopeo_writes() {
    let Ok(status) = std::process::Command::new("skopeo").arg("--version").output() else {
        assert!(std::env::var_os("CI").is_none(), "skopeo is needed in CI (apt-get install skopeo)");
        eprintln!("skopeo not installed; this test checked nothing");
        return;
    };
    assert!(status.status.success());
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let mut test = TestImage::new(vec![hello_layer(), layer(&[E::File("etc/motd", b"hi", 0o600)])]);
    test.compress = gzip;
    write_dir(&layout, &test.oci());
    let skopeo = |from: String, to: String, extra: &[&str]| {
        let out = std::process::Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q"])
            .args(extra)
            .args([&from, &to])
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy {from} {to}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let source = format!("oci:{}:1.0", layout.display());
    let docker = dir.path().join("docker.tar");
    skopeo(source.clone(), format!("docker-archive:{}:hello:1.0", docker.display()), &[]);
    let zstd_archive = dir.path().join("oci-zstd.tar");
    skopeo(source, format!("oci-archive:{}:hello:1.0", zstd_archive.display()), &["--dest-compress-format", "zstd"]);
    for (path, format, compression) in
        [(&docker, Format::DockerArchive, Compression::None), (&zstd_archive, Format::OciArchive, Compression::Zstd)]
    {
        let image = open(path, &Select::default()).unwrap();
        assert_eq!(image.format, format);
        assert_eq!(image.layers.len(), 2);
        assert_eq!(image.layers[1].compression, compression);
        assert_eq!(image.layers[1].diff_id, sha(&test.layers[1]));
        assert_eq!(image.config.cmd, Some(vec!["/hello".to_string()]));
        assert_eq!(image.verify().unwrap(), Vec::<String>::new(), "{}", path.display());
        let flat = flatten_inline(&image).unwrap();
        assert_eq!(file_bytes(&flat, "etc/motd").unwrap(), b"hi");
        assert!(matches!(flat.tree.get("etc/motd"), Some(Node::File { mode: 0o600, .. })));
        assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
    }
}

#[test]
fn parses_platforms() {
    assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
    assert_eq!(Platform::parse("linux/arm/v7").unwrap().variant.as_deref(), Some("v7"));
    assert!(Platform::parse("linux//").is_err());
    assert!(Platform::parse("a/b/c/d").is_err());
    assert!(same_reference("docker.io/library/hello:latest", "hello"));
    assert!(!same_reference("docker.io/library/hello:1", "hello"));
}

/// An OCI layout whose index.json leads, through `depth` levels of indexes
/// that each list the level below `fan` times, to one manifest.
fn fanned_out(dir: &Path, fan: usize, depth: usize) {
    let mut files = TestImage::new(vec![hello_layer()]).oci();
    let index: Value = serde_json::from_slice(&files.iter().find(|(n, _)| n == "index.json").unwrap().1).unwrap();
    let mut desc = index["manifests"][0].clone();
    desc.as_object_mut().unwrap().remove("annotations");
    for _ in 0..depth {
        let nested = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": vec![desc.clone(); fan]})).unwrap();
        desc = json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": sha(&nested), "size": nested.len()});
        files.push((blob_path(&nested), nested));
    }
    files.retain(|(n, _)| n != "index.json");
    files.push((
        "index.json".to_string(),
        serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap(),
    ));
    write_dir(dir, &files);
}

#[test]
fn each_index_is_read_once_and_all_of_them_list_a_bounded_number() {
    // 40 ways 4 deep is 2.5 million paths to one manifest: one image.
    let dir = tempfile::tempdir().unwrap();
    fanned_out(dir.path(), 40, 4);
    let image = open(dir.path(), &Select::default()).unwrap();
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let dir = tempfile::tempdir().unwrap();
    fanned_out(dir.path(), MAX_INDEX_ENTRIES, 1);
    let err = format!("{:#}", open(dir.path(), &Select::default()).unwrap_err());
    assert!(err.contains(&format!("more than {MAX_INDEX_ENTRIES} manifests")), "{err}");
    let dir = tempfile::tempdir().unwrap();
    fanned_out(dir.path(), 1, MAX_INDEX_DEPTH + 1);
    let err = format!("{:#}", open(dir.path(), &Select::default()).unwrap_err());
    assert!(err.contains("nest more than"), "{err}");
}

#[test]
fn a_layer_listed_many_times_is_read_as_often_as_needed() {
    let dir = tempfile::tempdir().unwrap();
    let mut test = TestImage::new(vec![hello_layer(); 64]);
    test.compress = gzip;
    write_dir(dir.path(), &test.oci());
    let image = open(dir.path(), &Select::default()).unwrap();
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let flat = flatten_inline(&image).unwrap();
    assert_eq!(flat.layer_entries, vec![3; 64]);
    // What the tree shows comes from the last copy, as if each were applied.
    assert_eq!(flat.first_layer, 63);
    assert_eq!(file_bytes(&flat, "unikernel/hello").unwrap(), b"\x7fELF kernel");
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![hello_layer(); MAX_LAYERS + 1]).oci());
    let err = format!("{:#}", open(dir.path(), &Select::default()).unwrap_err());
    assert!(err.contains(&format!("at most {MAX_LAYERS}")), "{err}");
}

#[test]
fn whiteouts_hide_lower_layers_only_wherever_they_stand_in_the_tar() {
    let lower = layer(&[E::File("d/old", b"1", 0o644), E::File("gone", b"2", 0o644), E::File("kept", b"3", 0o644)]);
    // The opaque marker and a whiteout come after this layer's own entries.
    let upper = layer(&[
        E::File("d/new", b"4", 0o644),
        E::File("gone", b"5", 0o644),
        E::File("d/.wh..wh..opq", b"", 0o644),
        E::File(".wh.gone", b"", 0o644),
    ]);
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![lower, upper]).oci());
    let flat = flatten_inline(&open(dir.path(), &Select::default()).unwrap()).unwrap();
    let paths: Vec<&bstr::BStr> = flat.tree.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, vec!["d", "d/new", "gone", "kept"]);
    assert_eq!(file_bytes(&flat, "gone").unwrap(), b"5");
}

#[test]
fn names_that_are_not_utf8_are_carried() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.as_gnu_mut().unwrap().name[..5].copy_from_slice(b"caf\xe9/");
    header.set_entry_type(EntryType::Directory);
    header.set_size(0);
    header.set_cksum();
    builder.append(&header, &b""[..]).unwrap();
    let mut header = tar::Header::new_gnu();
    header.as_gnu_mut().unwrap().name[..7].copy_from_slice(b"caf\xe9/\xff\xfe");
    header.set_size(1);
    header.set_mode(0o644);
    header.set_entry_type(EntryType::Regular);
    header.set_cksum();
    builder.append(&header, &b"x"[..]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_dir(dir.path(), &TestImage::new(vec![builder.into_inner().unwrap()]).oci());
    let image = open(dir.path(), &Select::default()).unwrap();
    assert_eq!(image.verify().unwrap(), Vec::<String>::new());
    let flat = flatten_inline(&image).unwrap();
    assert_eq!(file_bytes(&flat, b"caf\xe9/\xff\xfe").unwrap(), b"x");
}
