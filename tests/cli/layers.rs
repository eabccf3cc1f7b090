//! Layers, compression and multi-platform indexes.

use super::*;

/// Inputs with one of each kind of artifact: the kernel (binary), an initrd
/// and a block image named by the annotations, a large file, small files
/// and a directory.
fn artifact_inputs(fx: &Fx) -> Value {
    fx.write("in/kernel", &kernel());
    fx.write("in/initrd", b"070701 an initrd stand-in");
    fx.write("in/disk.img", &[7; 4096]);
    fx.write("in/big.bin", &vec![1; 16 << 20]);
    fx.write("in/almost.bin", &vec![2; (16 << 20) - 1]);
    fx.write("in/conf/app.conf", b"a=1\n");
    let mut v = base_args();
    v["files"] = json!({
        "./kernel": "/boot/kernel",
        "./initrd": "/boot/initrd",
        "./disk.img": "/data/disk.img",
        "./big.bin": "/opt/big/big.bin",
        "./almost.bin": "/opt/almost.bin",
        "./conf": "/etc/app",
    });
    v["files"]["./conf"] = json!({ "target": "/etc/app", "mode": "0700" });
    v["annotations"]["initrd"] = json!("/boot/initrd");
    v["annotations"]["block"] = json!("/data/disk.img");
    v["annotations"]["blkMntPoint"] = json!("/");
    v
}

#[test]
fn auto_layers_put_each_artifact_alone_sorted_by_path_then_one_top_layer() {
    let fx = Fx::new();
    let (args, _) = fx.args("in/args.json", &artifact_inputs(&fx));
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(
        img.leaves(),
        [
            vec!["boot/initrd"],
            vec!["boot/kernel"],
            vec!["data/disk.img"],
            vec!["opt/big/big.bin"],
            vec!["etc/app/app.conf", "opt/almost.bin", "urunc.json"],
        ],
        "binary, initrd, block and files of 16 MiB or more alone, sorted by path; then the rest"
    );
    assert_eq!(img.layers[3].paths(), ["opt", "opt/big", "opt/big/big.bin"], "parents come along");
    let top = img.layers[4].paths();
    assert_eq!(
        top,
        ["boot", "data", "etc", "etc/app", "etc/app/app.conf", "opt", "opt/almost.bin", "opt/big", "urunc.json"]
    );
    let dir_mode = |layer: &Layer, path: &str| {
        layer.entries.iter().find(|e| e.path == format!("{path}/")).map(|e| e.mode).expect("directory entry")
    };
    assert_eq!(dir_mode(&img.layers[4], "etc/app"), 0o700, "the mode the tree gives");
    img.assert_layers_hygienic(0, &[("etc/app", 0o700)]);
    assert_eq!(img.entry("opt/big/big.bin").data.len(), 16 << 20);
}

#[test]
fn layers_single_writes_one_layer_with_the_bytes_of_bimanix_0_1() {
    let fx = Fx::new();
    let mut v = base_args();
    v["layers"] = json!("single");
    let args = fx.standard(&v);
    let (bytes, img) = build(&fx, &args, &[]);
    assert_eq!(img.leaves(), [vec!["boot/kernel", "urunc.json"]]);
    // What bimanix wrote for these inputs before layers existed (main at
    // 4e067ca): `single` must not move a byte.
    assert_eq!(sha256_hex(&bytes), SINGLE_LAYER_ARCHIVE_SHA256);
    let mut auto = base_args();
    auto["layers"] = json!("auto");
    let (auto_args, _) = fx.args("in/auto.json", &auto);
    let (default_args, _) = fx.args("in/default.json", &base_args());
    assert_eq!(build(&fx, &auto_args, &[]).0, build(&fx, &default_args, &[]).0, "auto is the default");
}

/// sha256 of the docker-archive that bimanix 0.1 (one layer) built from
/// `base_args()`.
const SINGLE_LAYER_ARCHIVE_SHA256: &str = "a2c5aade1c0cecd57b742bca458cc3e1d710174393c60f564329eeee2a529cde";

/// Builds `v` (with the standard kernel) and returns the image.
fn build_value(fx: &Fx, v: &Value, extra: &[&str]) -> Image {
    let (args, _) = fx.args("in/args.json", v);
    build(fx, &args, extra).1
}

#[test]
fn artifact_layers_keep_their_digests_when_only_the_top_layer_changes() {
    let fx = Fx::new();
    let v = artifact_inputs(&fx);
    let first = build_value(&fx, &v, &[]);
    let artifacts = |img: &Image| img.layer_digests()[..4].to_vec();
    let top = |img: &Image| img.layer_digests()[4].clone();
    let changes: Vec<(&str, Edit)> = vec![
        ("an annotation", Box::new(|v| v["annotations"]["cmdline"] = json!("console=ttyS1"))),
        ("cmd", Box::new(|v| v["cmd"] = json!(["/init", "x"]))),
        ("env", Box::new(|v| v["env"] = json!({ "A": "1" }))),
        ("labels", Box::new(|v| v["labels"] = json!({ "team": "x" }))),
        ("a small file", Box::new(|_| {})),
    ];
    for (what, change) in changes {
        let mut changed = v.clone();
        change(&mut changed);
        if what == "a small file" {
            fx.write("in/conf/app.conf", b"a=2\n");
        }
        let img = build_value(&fx, &changed, &[]);
        assert_eq!(artifacts(&img), artifacts(&first), "changing {what} moved an artifact layer");
        assert_ne!(img.manifest_digest, first.manifest_digest, "changing {what} must change the manifest");
        if what == "an annotation" || what == "a small file" {
            assert_ne!(top(&img), top(&first), "changing {what} must change the top layer (urunc.json, the file)");
        } else {
            assert_eq!(top(&img), top(&first), "changing {what} changes the config, not a layer");
        }
        fx.write("in/conf/app.conf", b"a=1\n");
    }
}

/// A Linux guest with a generated initrd.
fn rootfs_inputs(fx: &Fx) -> Value {
    fx.write("in/kernel", &kernel());
    fx.write("in/init", b"#!/bin/sh\necho hello\n");
    let mut v = base_args();
    v["rootfs"] = json!({ "type": "initrd", "files": { "./init": { "target": "/init", "mode": "0755" } } });
    v
}

#[test]
fn the_kernel_and_the_generated_rootfs_change_independently() {
    let fx = Fx::new();
    let v = rootfs_inputs(&fx);
    let first = build_value(&fx, &v, &[]);
    assert_eq!(first.leaves(), [vec![".boot/rootfs"], vec!["boot/kernel"], vec!["urunc.json"]]);
    let [rootfs, kernel_layer, _] = <[String; 3]>::try_from(first.layer_digests()).expect("three layers");

    let mut new_kernel = kernel();
    new_kernel.extend_from_slice(b"padding that changes the kernel's bytes");
    fx.write("in/kernel", &new_kernel);
    let img = build_value(&fx, &v, &[]);
    assert_eq!(img.layer_digests()[0], rootfs, "a new kernel kept the rootfs layer");
    assert_ne!(img.layer_digests()[1], kernel_layer);

    fx.write("in/kernel", &kernel());
    fx.write("in/init", b"#!/bin/sh\necho changed\n");
    let img = build_value(&fx, &v, &[]);
    assert_ne!(img.layer_digests()[0], rootfs);
    assert_eq!(img.layer_digests()[1], kernel_layer, "a new rootfs kept the kernel layer");
}

#[test]
fn base_image_layers_stay_below_unchanged() {
    let fx = Fx::new();
    let base_img = {
        let mut v = base_args();
        v["name"] = json!("base");
        fx.write("in/base/kernel", &kernel());
        fx.write("in/base/lib/libc.so", b"libc");
        v["files"] = json!({ "./kernel": "/boot/kernel", "./lib": "/lib" });
        let (args, _) = fx.args("in/base/args.json", &v);
        bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("base.tar")).run().ok();
        Image::from_tar(&fs::read(fx.path("base.tar")).expect("base"))
    };
    fx.write("in/kernel", &kernel());
    let img = build_value(&fx, &v_with_base(&fx), &[]);
    let base_ids = base_img.config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone();
    let ids = img.config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone();
    assert_eq!(ids.len(), base_ids.len() + 2, "the base's layers, the kernel's, the top");
    assert_eq!(ids[..base_ids.len()], base_ids[..], "the base layers come first, unchanged");
    assert_eq!(img.leaves()[base_ids.len()..], [vec!["boot/kernel"], vec!["etc/app.conf", "urunc.json"]]);
    let zstd = build_value(&fx, &v_with_base(&fx), &["--compression", "zstd"]);
    assert_eq!(zstd.config["rootfs"], img.config["rootfs"], "compressed, the base layers keep their diff_ids");
    assert!(zstd.layers.iter().all(|l| l.media_type == ZSTD_LAYER_TYPE), "base layers are compressed too");
}

/// `base_args()` on the base image `base.tar` of `fx`, with a small file.
fn v_with_base(fx: &Fx) -> Value {
    let mut v = base_args();
    v["fromImage"] = json!("../base.tar");
    fx.write("in/app.conf", b"x");
    v["files"]["./app.conf"] = json!("/etc/app.conf");
    v
}

/// The pinned digests of the example kernel's layer (the layer of
/// `/boot/kernel` in `base_args()`), compressed. A change means the
/// compressor's output changed: note it in CHANGELOG.md.
const GZIP_KERNEL_LAYER: &str = "sha256:63f4814d8662e61bbe13df74358cd46fabbb95907ee3fb2e1fb0e312e01929db";
const ZSTD_KERNEL_LAYER: &str = "sha256:8929ee0ba4d19dbae350ead98b676e89eadc7252a39076187d7e6b9fe910f271";

#[test]
fn compressed_layers_have_pinned_digests_media_types_and_the_same_diff_ids() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    let plain = build_value(&fx, &base_args(), &[]);
    for (name, media_type, pinned) in
        [("gzip", GZIP_LAYER_TYPE, GZIP_KERNEL_LAYER), ("zstd", ZSTD_LAYER_TYPE, ZSTD_KERNEL_LAYER)]
    {
        let img = build_value(&fx, &base_args(), &["--compression", name]);
        assert!(img.layers.iter().all(|l| l.media_type == media_type), "{name}: media types");
        assert_eq!(img.config["rootfs"], plain.config["rootfs"], "{name}: diff_ids are the uncompressed digests");
        assert_eq!(img.layers[0].digest(), pinned, "{name}: the kernel layer's digest moved; see CHANGELOG.md");
        assert_eq!(img.leaves(), plain.leaves());
        for (layer, plain_layer) in img.layers.iter().zip(&plain.layers) {
            assert_eq!(layer.tar, plain_layer.tar, "{name}: the same tar inside");
        }
    }
    assert!(plain.layers.iter().all(|l| l.media_type == LAYER_TYPE), "none is the default");
}

#[test]
fn compression_in_args_and_the_flag_that_overrides_it() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    let mut v = base_args();
    v["compression"] = json!("zstd");
    let from_args = build_value(&fx, &v, &[]);
    let from_flag = build_value(&fx, &base_args(), &["--compression", "zstd"]);
    assert_eq!(from_args.files, from_flag.files, "compression = \"zstd\" is --compression zstd");
    let overridden = build_value(&fx, &v, &["--compression", "none"]);
    assert!(overridden.layers.iter().all(|l| l.media_type == LAYER_TYPE), "the flag wins over the args file");
    for format in ["oci-archive", "oci-layout"] {
        let out = fx.path(&format!("img-{format}"));
        bx(fx.tmp.path())
            .arg("build")
            .arg(fx.path("in/args.json"))
            .args(["--format", format, "-o"])
            .arg(&out)
            .run()
            .ok();
        let img =
            if format == "oci-layout" { Image::from_dir(&out) } else { Image::from_tar(&fs::read(&out).expect("out")) };
        assert_eq!(img.manifest_digest, from_args.manifest_digest, "{format}: the same image as the docker-archive");
    }
}

#[test]
fn repro_every_layer_mode_and_compression_gives_the_same_bytes_everywhere() {
    for extra in [&["--compression", "gzip"][..], &["--compression", "zstd"], &["--compression", "none"]] {
        let fx = Fx::new();
        let args = repro_inputs(&fx, "in");
        let build = |b: Bx, args: &Path| {
            let out = tempfile::tempdir().expect("tempdir");
            let target = out.path().join("image.tar");
            b.arg("build").arg(args).arg("-o").arg(&target).args(extra.iter().copied()).run().ok();
            fs::read(&target).expect("output")
        };
        let first = build(bx(fx.tmp.path()), &args);
        assert_eq!(build(bx(fx.tmp.path()), &args), first, "{extra:?}: built twice");
        assert_eq!(build(bx(Path::new("/")).umask(0o077), &args), first, "{extra:?}: another cwd and umask");
        let root = fx.path("in");
        sh(
            "sh",
            &["-c", "find \"$1\" -exec touch -h -d '2001-02-03 04:05:06' {} +", "sh", root.to_str().expect("utf-8")],
        );
        let other = Fx::new();
        let moved = other.dir("deeper").join("moved");
        sh("cp", &["-a", root.to_str().expect("utf-8"), moved.to_str().expect("utf-8")]);
        assert_eq!(build(bx(other.tmp.path()), &moved.join("args.json")), first, "{extra:?}: moved, other mtimes");
    }
}

/// An ELF header of an aarch64 executable: a stand-in arm64 kernel.
fn fake_arm64_elf() -> Vec<u8> {
    let mut h = fake_hvt_elf();
    h[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    h
}

/// Builds the amd64 (example kernel) and arm64 (stand-in) images of one
/// name as `amd64.tar` and `arm64.tar` in `fx`, with `extra` build options.
pub(crate) fn two_platforms(fx: &Fx, name: &str, tag: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    fx.write("in/kernel-amd64", &kernel());
    fx.write("in/kernel-arm64", &fake_arm64_elf());
    let mut out = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut v = base_args();
        v["name"] = json!(name);
        v["tag"] = json!(tag);
        v["files"] = json!({ format!("./kernel-{arch}"): "/boot/kernel" });
        v["labels"] = json!({ "arch": arch });
        let (args, _) = fx.args(&format!("in/{arch}.json"), &v);
        let target = fx.path(&format!("{arch}.tar"));
        bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&target).args(extra).run().ok();
        out.push(target);
    }
    (out[0].clone(), out[1].clone())
}

/// An OCI archive or layout holding an index, read back and checked.
struct IndexRead {
    files: BTreeMap<String, Vec<u8>>,
    index_json: Value,
    index: Value,
}

impl IndexRead {
    fn from_files(files: BTreeMap<String, Vec<u8>>) -> IndexRead {
        assert!(!files.contains_key("manifest.json"), "an index archive has no docker manifest.json");
        for (path, bytes) in &files {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                assert_eq!(sha256_hex(bytes), hex, "blob {path} does not hash to its name");
            }
        }
        let index_json = parse(&files["index.json"], "index.json");
        let top = index_json["manifests"].as_array().expect("manifests");
        assert_eq!(top.len(), 1, "index.json names one image index");
        let index = parse(blob(&files, &top[0], "application/vnd.oci.image.index.v1+json"), "image index");
        for m in index["manifests"].as_array().expect("manifests") {
            let manifest = parse(blob(&files, m, MANIFEST_TYPE), "manifest");
            blob(&files, &manifest["config"], CONFIG_TYPE);
            for layer in manifest["layers"].as_array().expect("layers") {
                blob(&files, layer, layer["mediaType"].as_str().expect("media type"));
            }
        }
        IndexRead { files, index_json, index }
    }

    fn platforms(&self) -> Vec<Value> {
        self.index["manifests"].as_array().expect("manifests").iter().map(|m| m["platform"].clone()).collect()
    }

    fn manifest_digests(&self) -> Vec<String> {
        self.index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| m["digest"].as_str().expect("digest").to_string())
            .collect()
    }
}

#[test]
fn index_combines_two_platforms_with_their_manifests_unchanged() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&arm64).arg(&amd64).arg("-o").arg(&out).run().ok();
    let bytes = fs::read(&out).expect("index archive");
    assert_hygienic(&bytes, 0, &[]);
    let mut files = BTreeMap::new();
    for e in tar_entries(&bytes) {
        if e.kind == b'0' {
            files.insert(e.path, e.data);
        }
    }
    let read = IndexRead::from_files(files);
    assert_eq!(
        read.platforms(),
        [
            json!({ "os": "linux", "architecture": "amd64" }),
            json!({ "os": "linux", "architecture": "arm64", "variant": "v8" })
        ],
        "sorted by platform; arm64 has the variant v8"
    );
    let singles =
        [Image::from_tar(&fs::read(&amd64).expect("amd64")), Image::from_tar(&fs::read(&arm64).expect("arm64"))];
    let digests: Vec<String> = singles.iter().map(|i| i.manifest_digest.clone()).collect();
    assert_eq!(read.manifest_digests(), digests, "each platform keeps its manifest");
    let names = &read.index_json["manifests"][0]["annotations"];
    assert_eq!(names["io.containerd.image.name"], "docker.io/library/multi:v2");
    assert_eq!(names["org.opencontainers.image.ref.name"], "v2");
    for single in &singles {
        for layer in &single.layers {
            assert_eq!(
                read.files[&format!("blobs/sha256/{}", layer.digest().trim_start_matches("sha256:"))],
                layer.blob
            );
        }
    }
}

#[test]
fn index_is_reproducible_whatever_the_order_of_its_images() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &["--compression", "gzip"]);
    let run = |a: &Path, b: &Path, out: &str, umask: u32| {
        let target = fx.path(out);
        bx(fx.tmp.path()).umask(umask).arg("index").arg(a).arg(b).arg("-o").arg(&target).run().ok();
        fs::read(&target).expect("index")
    };
    let first = run(&amd64, &arm64, "a.tar", 0o022);
    assert_eq!(run(&arm64, &amd64, "b.tar", 0o077), first, "image order and umask change nothing");
    let moved = fx.dir("elsewhere");
    fs::rename(&amd64, moved.join("x.tar")).expect("mv");
    assert_eq!(run(&moved.join("x.tar"), &arm64, "c.tar", 0o022), first, "the images' location changes nothing");
}

/// `--annotation` puts annotations on the image index itself (where GHCR
/// reads a multi-platform package's description), sorted, whatever the
/// order of the flags; bad keys, bad values and repeated keys are usage
/// errors that name the fault.
#[test]
fn index_carries_annotations_on_the_index_sorted() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let description = "org.opencontainers.image.description=A unikernel = fast\nsecond line";
    let source = "org.opencontainers.image.source=https://example.org/multi";
    let run = |flags: [&str; 2], out: &str| {
        let target = fx.path(out);
        bx(fx.tmp.path())
            .arg("index")
            .arg(&amd64)
            .arg(&arm64)
            .args(["--annotation", flags[0], "--annotation", flags[1], "-o"])
            .arg(&target)
            .run()
            .ok();
        fs::read(&target).expect("index")
    };
    let first = run([description, source], "a.tar");
    assert_eq!(run([source, description], "b.tar"), first, "the flags' order changes nothing");
    let mut files = BTreeMap::new();
    for e in tar_entries(&first) {
        if e.kind == b'0' {
            files.insert(e.path, e.data);
        }
    }
    let read = IndexRead::from_files(files);
    assert_eq!(
        read.index["annotations"],
        json!({
            "org.opencontainers.image.description": "A unikernel = fast\nsecond line",
            "org.opencontainers.image.source": "https://example.org/multi",
        })
    );
    let raw = blob(&read.files, &read.index_json["manifests"][0], "application/vnd.oci.image.index.v1+json");
    let raw = String::from_utf8_lossy(raw);
    assert!(raw.starts_with(r#"{"annotations":{"org.opencontainers.image.description":"#), "{raw}");
    assert_eq!(read.platforms().len(), 2);
    for m in read.index["manifests"].as_array().expect("manifests") {
        assert!(m.get("annotations").is_none(), "the annotations are the index's, not its entries': {m}");
    }

    for (flag, says) in [
        ("no-equals-sign", "is not KEY=VALUE"),
        ("bad key=v", "is not an annotation key"),
        (".hidden=v", "is not an annotation key"),
        ("k=\u{7}bell", "control character U+0007"),
    ] {
        let run =
            bx(fx.tmp.path()).arg("index").arg(&amd64).args(["--annotation", flag, "-o"]).arg(fx.path("x.tar")).run();
        assert_eq!(run.code, Some(2), "{flag:?} is a usage error: {}", run.stderr);
        assert!(run.stderr.contains("--annotation") && run.stderr.contains(says), "{flag:?}: {}", run.stderr);
    }
    let run = bx(fx.tmp.path())
        .arg("index")
        .arg(&amd64)
        .args(["--annotation", "a.b=1", "--annotation", "a.b=2", "-o"])
        .arg(fx.path("x.tar"))
        .run();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--annotation a.b is given twice"), "{}", run.stderr);
    assert!(!fx.path("x.tar").exists(), "a refused index leaves no output");
}

#[test]
fn index_copies_compressed_blobs_as_they_are_and_writes_a_layout() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &["--compression", "zstd"]);
    let out = fx.path("layout");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).args(["--format", "oci-layout", "-o"]).arg(&out).run().ok();
    let mut files = BTreeMap::new();
    for (p, content) in snapshot(&out) {
        if p.is_file() {
            files.insert(p.strip_prefix(&out).expect("under").to_string_lossy().into_owned(), content);
        }
    }
    let read = IndexRead::from_files(files);
    let single = Image::from_tar(&fs::read(&amd64).expect("amd64"));
    for layer in &single.layers {
        assert_eq!(layer.media_type, ZSTD_LAYER_TYPE);
        assert_eq!(read.files[&format!("blobs/sha256/{}", layer.digest().trim_start_matches("sha256:"))], layer.blob);
    }
}

#[test]
fn index_refuses_two_images_of_one_platform_and_images_of_different_names() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let run = bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&amd64).arg("-o").arg(fx.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("linux/amd64") && run.stderr.contains("one image per platform"), "{}", run.stderr);

    let other = Fx::new();
    let (other_amd64, _) = two_platforms(&other, "another", "v2", &[]);
    let run = bx(fx.tmp.path()).arg("index").arg(&other_amd64).arg(&arm64).arg("-o").arg(fx.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("another") && run.stderr.contains("multi"), "{}", run.stderr);
    let run = bx(fx.tmp.path())
        .arg("index")
        .arg(&amd64)
        .arg(&arm64)
        .args(["--name", "third", "-o"])
        .arg(fx.path("x.tar"))
        .run();
    assert_eq!(run.code, Some(1), "--name must match the images' name: {}", run.stderr);
    assert!(!fx.path("x.tar").exists(), "a failed index leaves no output");
    for (flag, value, says) in [("--name", "Bad", "must be lowercase"), ("--tag", "bad tag", "must be 1 to 128")] {
        let run = bx(fx.tmp.path())
            .arg("index")
            .arg(&amd64)
            .arg(&arm64)
            .args([flag, value, "-o"])
            .arg(fx.path("x.tar"))
            .run();
        assert_eq!(run.code, Some(2), "{flag} {value:?} is a usage error: {}", run.stderr);
        assert!(run.stderr.contains(&format!("invalid value '{value}' for '{flag}")), "{}", run.stderr);
        assert!(run.stderr.contains(says) && !run.stderr.contains("is named"), "{}", run.stderr);
    }

    let tags = Fx::new();
    let (a, _) = two_platforms(&tags, "multi", "one", &[]);
    let (_, b) = two_platforms(&fx, "multi", "two", &[]);
    let run = bx(tags.tmp.path()).arg("index").arg(&a).arg(&b).arg("-o").arg(tags.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "different tags need --tag: {}", run.stderr);
    assert!(run.stderr.contains("--tag"), "{}", run.stderr);
    bx(tags.tmp.path()).arg("index").arg(&a).arg(&b).args(["--tag", "both", "-o"]).arg(tags.path("x.tar")).run().ok();
}

#[test]
fn inspect_shows_each_platform_of_an_index_and_picks_one_with_platform() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).arg("-o").arg(&out).run().ok();
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    let report = parse(&js.stdout, "inspect --json");
    assert_eq!(report["platforms"], json!(["linux/amd64", "linux/arm64/v8"]), "as the index lists them");
    assert_eq!(report["ok"], true);
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    assert_eq!(images[1]["labels"]["arch"], "arm64");
    assert_eq!(images[1]["binary_architecture"], "arm64", "each image is checked against its kernel");
    let text = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    text.ok();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("images:     2: linux/amd64, linux/arm64/v8\n"), "{shown}");
    assert!(shown.contains("== image 2 of 2: linux/arm64/v8\n"), "{shown}");
    assert!(shown.contains("platform:   linux/arm64/v8\n"), "{shown}");
    // The single arm64 image (a docker-archive whose config names no
    // variant) as well as the index.
    for image in [&out, &arm64] {
        for platform in ["linux/arm64", "linux/arm64/v8", "arm64"] {
            let one = bx(fx.tmp.path()).arg("inspect").arg(image).args(["--platform", platform, "--json"]).run();
            one.ok();
            let report = parse(&one.stdout, "inspect --platform");
            assert_eq!(report["platform"], "linux/arm64/v8", "--platform {platform}");
            assert_eq!(report["labels"]["arch"], "arm64");
        }
    }
    let none = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--platform", "linux/riscv64"]).run();
    assert_eq!(none.code, Some(1));
    assert!(none.stderr.contains("linux/riscv64") && none.stderr.contains("(linux/arm64/v8)"), "{}", none.stderr);
    let wrong = bx(fx.tmp.path()).arg("inspect").arg(&arm64).args(["--platform", "linux/arm64/v7"]).run();
    assert_eq!(wrong.code, Some(1));
    assert!(wrong.stderr.contains("no image for platform linux/arm64/v7") && wrong.stderr.contains("(linux/arm64/v8)"));
    for bad in ["linux/", "a/b/c/d", "/amd64"] {
        let run = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--platform", bad]).run();
        assert_eq!(run.code, Some(2), "--platform {bad:?} is a usage error: {}", run.stderr);
        assert!(run.stderr.contains("os/arch or os/arch/variant"), "{}", run.stderr);
    }
}

#[test]
fn inspect_shows_which_layer_holds_each_file() {
    let fx = Fx::new();
    let v = rootfs_inputs(&fx);
    let (args, _) = fx.args("in/args.json", &v);
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    let report = parse(&js.stdout, "inspect --json");
    let layer_of: BTreeMap<String, u64> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_string(), f["layer"].as_u64().expect("layer")))
        .collect();
    assert_eq!(layer_of["/.boot/rootfs"], 1);
    assert_eq!(layer_of["/boot/kernel"], 2);
    assert_eq!(layer_of["/urunc.json"], 3);
    assert_eq!(layer_of["/boot"], 3, "a directory shows the highest layer that wrote it");
    let held: Vec<Value> = report["layers"].as_array().expect("layers").iter().map(|l| l["files"].clone()).collect();
    assert_eq!(held, [json!(["/.boot/rootfs"]), json!(["/boot/kernel"]), json!(["/urunc.json"])]);
    let text = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    text.ok();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("holds /boot/kernel"), "{shown}");
    assert!(shown.lines().any(|l| l.contains("L2") && l.ends_with("/boot/kernel")), "{shown}");
}

/// Rewrites a bimanix docker-archive as `docker save` wrote them before
/// Docker 25: `<hex>.json` config, `<hex>/layer.tar` layers, manifest.json,
/// and no OCI manifest.
fn as_old_docker_archive(fx: &Fx, image: &Path, out: &str) -> PathBuf {
    let img = Image::from_tar(&fs::read(image).expect("image"));
    let config_hex = img.manifest["config"]["digest"].as_str().expect("digest").trim_start_matches("sha256:");
    let config = img.files[&format!("blobs/sha256/{config_hex}")].clone();
    let config_name = format!("{config_hex}.json");
    let mut files: Vec<(String, Vec<u8>)> = vec![(config_name.clone(), config)];
    let mut layer_names = Vec::new();
    for layer in &img.layers {
        let name = format!("{}/layer.tar", sha256_hex(&layer.tar));
        files.push((name.clone(), layer.tar.clone()));
        layer_names.push(name);
    }
    let repo_tags = img.docker_manifest.as_ref().expect("manifest.json")[0]["RepoTags"].clone();
    let manifest = json!([{ "Config": config_name, "RepoTags": repo_tags, "Layers": layer_names }]);
    files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).expect("json")));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &data[..]).expect("tar");
    }
    let path = fx.path(out);
    fs::write(&path, builder.into_inner().expect("tar")).expect("write");
    path
}

#[test]
fn index_makes_a_manifest_for_an_image_from_before_docker_25() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let old = as_old_docker_archive(&fx, &amd64, "old.tar");
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&old).arg(&arm64).arg("-o").arg(&out).run().ok();
    let mut files = BTreeMap::new();
    for e in tar_entries(&fs::read(&out).expect("index")) {
        if e.kind == b'0' {
            files.insert(e.path, e.data);
        }
    }
    let read = IndexRead::from_files(files);
    let amd64_desc = &read.index["manifests"][0];
    assert_eq!(amd64_desc["platform"]["architecture"], "amd64");
    let manifest = parse(blob(&read.files, amd64_desc, MANIFEST_TYPE), "made manifest");
    let original = Image::from_tar(&fs::read(&amd64).expect("amd64"));
    assert_eq!(manifest["config"], original.manifest["config"], "the config, copied as it is");
    assert_eq!(manifest["layers"], original.manifest["layers"], "the layers, with media types from their bytes");
    let inspect = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    inspect.ok();
    assert_eq!(parse(&inspect.stdout, "inspect")["ok"], true);
}

#[test]
fn index_refuses_an_input_that_holds_several_platforms() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).arg("-o").arg(&out).run().ok();
    let run = bx(fx.tmp.path()).arg("index").arg(&out).arg("-o").arg(fx.path("again.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("several images") && run.stderr.contains("one platform each"), "{}", run.stderr);
    assert!(!fx.path("again.tar").exists());
}
