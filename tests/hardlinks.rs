//! Hard links kept end to end: from a base image's tar hard links, a host
//! directory and a Containerfile COPY, into a generated initrd (read back
//! with GNU cpio), an ext4 root (read back with debugfs and `e2fsck -fn`)
//! and the image layer (tar hard-link entries). The tests run the built
//! binary and read what it wrote with the `tar` crate and the real tools.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
/// The size of the linked file: big enough that a second copy shows.
const BIG: usize = 400_000;

fn data() -> Vec<u8> {
    (0..BIG as u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

fn bimanix(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .expect("cannot start bimanix");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "bimanix {args:?} failed:\n{stderr}");
    stderr
}

/// A Linux guest on the example kernel with `rootfs` as given.
fn args(rootfs: Value) -> Value {
    json!({
        "name": "links", "tag": "v1",
        "files": { "./kernel": "/boot/kernel" },
        "annotations": { "unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel" },
        "entrypoint": ["/bin/init"],
        "rootfs": rootfs,
    })
}

/// Builds `v` in `dir` and gives the output archive's bytes.
fn build(dir: &Path, v: &Value) -> Vec<u8> {
    fs::copy(KERNEL, dir.join("kernel")).expect("kernel");
    fs::write(dir.join("args.json"), serde_json::to_vec_pretty(v).expect("json")).expect("args");
    bimanix(dir, &["build", "args.json", "-o", "out.tar"]);
    let bytes = fs::read(dir.join("out.tar")).expect("out.tar");
    fs::remove_file(dir.join("out.tar")).expect("rm");
    bytes
}

/// The files of an archive, by name.
fn tar_files(bytes: &[u8]) -> Vec<(String, u8, String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in tar::Archive::new(bytes).entries().expect("tar") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let kind = e.header().entry_type().as_byte();
        let link = e.link_name().expect("link").map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        out.push((name, kind, link, data));
    }
    out
}

/// The entries of every layer of a docker-archive, lowest layer first.
fn layer_entries(archive: &[u8]) -> Vec<(String, u8, String, Vec<u8>)> {
    let files = tar_files(archive);
    let get = |name: &str| &files.iter().find(|f| f.0 == name).unwrap_or_else(|| panic!("no {name}")).3;
    let manifest: Value = serde_json::from_slice(get("manifest.json")).expect("manifest.json");
    let mut entries = Vec::new();
    for layer in manifest[0]["Layers"].as_array().expect("Layers") {
        entries.extend(tar_files(get(layer.as_str().expect("layer"))));
    }
    entries
}

/// The generated rootfs of an image, written to `dir/name`.
fn rootfs(archive: &[u8], dir: &Path, name: &str) -> PathBuf {
    let entries = layer_entries(archive);
    let file = entries.iter().find(|e| e.0 == ".boot/rootfs").expect("no /.boot/rootfs");
    let path = dir.join(name);
    fs::write(&path, &file.3).expect("write rootfs");
    path
}

fn tool(name: &str) -> String {
    ["/usr/sbin", "/sbin", "/usr/bin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| name.to_string())
}

/// Extracts an initrd with GNU cpio and gives the listing of `cpio -itv`.
fn unpack_cpio(initrd: &Path, dest: &Path) -> String {
    let list = Command::new("cpio").args(["-itv", "--quiet", "-F"]).arg(initrd).output().expect("cpio");
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    fs::create_dir_all(dest).expect("mkdir");
    let x = Command::new("cpio").args(["-idm", "--quiet", "-F"]).arg(initrd).current_dir(dest).output().expect("cpio");
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    String::from_utf8(list.stdout).expect("utf-8")
}

/// Asserts that `paths` under `root` are one file of `links` links holding `data()`.
fn one_inode(root: &Path, paths: &[&str], links: u64) {
    let first = fs::metadata(root.join(paths[0])).expect("first");
    assert_eq!(first.nlink(), links, "{}", paths[0]);
    for p in paths {
        let m = fs::metadata(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert_eq!(m.ino(), first.ino(), "{p} is not the inode of {}", paths[0]);
        assert_eq!(fs::read(root.join(p)).expect("read"), data(), "{p}");
    }
}

/// A docker-archive base image whose one layer holds `usr/bin/perl` and
/// two hard links to it.
fn base_with_links(path: &Path) {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(BIG as u64);
    h.set_mode(0o755);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    layer.append_data(&mut h, "usr/bin/perl", data().as_slice()).expect("layer");
    for link in ["usr/bin/perl5.36.0", "bin/init"] {
        let mut h = tar::Header::new_ustar();
        h.set_size(0);
        h.set_mode(0o755);
        h.set_entry_type(tar::EntryType::Link);
        layer.append_link(&mut h, link, "usr/bin/perl").expect("link");
    }
    let layer = layer.into_inner().expect("layer");
    let diff_id: String = Sha256::digest(&layer).iter().map(|b| format!("{b:02x}")).collect();
    let cfg = json!({ "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{diff_id}")] } });
    let manifest = json!([{ "Config": "config.json", "RepoTags": ["base:v1"], "Layers": ["layer.tar"] }]);
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("config.json", serde_json::to_vec(&cfg).expect("json")),
        ("layer.tar", layer),
        ("manifest.json", serde_json::to_vec(&manifest).expect("json")),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, data.as_slice()).expect("archive");
    }
    fs::write(path, out.into_inner().expect("archive")).expect("base");
}

/// A host directory `tree/` with `bin/init` and two hard links to it.
fn host_tree(dir: &Path) {
    fs::create_dir_all(dir.join("tree/bin")).expect("mkdir");
    fs::create_dir_all(dir.join("tree/sbin")).expect("mkdir");
    fs::write(dir.join("tree/bin/init"), data()).expect("write");
    fs::set_permissions(dir.join("tree/bin/init"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    fs::hard_link(dir.join("tree/bin/init"), dir.join("tree/bin/sh")).expect("link");
    fs::hard_link(dir.join("tree/bin/init"), dir.join("tree/sbin/init")).expect("link");
}

#[test]
fn a_base_images_hard_links_are_one_inode_in_the_initrd_with_the_data_once() {
    let dir = tempfile::tempdir().expect("tmp");
    base_with_links(&dir.path().join("base.tar"));
    let linked = build(dir.path(), &args(json!({ "type": "initrd", "fromImage": "./base.tar" })));
    let initrd = rootfs(&linked, dir.path(), "initrd");
    let listing = unpack_cpio(&initrd, &dir.path().join("x"));
    for name in ["usr/bin/perl", "usr/bin/perl5.36.0", "bin/init"] {
        let line = listing.lines().find(|l| l.ends_with(&format!(" {name}"))).unwrap_or_else(|| panic!("{listing}"));
        assert_eq!(line.split_whitespace().nth(1), Some("3"), "cpio -itv: {line}");
    }
    one_inode(&dir.path().join("x"), &["bin/init", "usr/bin/perl", "usr/bin/perl5.36.0"], 3);
    // The size test: the initrd holds the 400,000 bytes once, not three times.
    let size = fs::metadata(&initrd).expect("initrd").len();
    assert!(size < BIG as u64 + 4096, "the initrd is {size} bytes for one {BIG}-byte file");
    // Same inputs, same bytes.
    assert_eq!(build(dir.path(), &args(json!({ "type": "initrd", "fromImage": "./base.tar" }))), linked);
}

#[test]
fn a_base_images_hard_links_are_one_inode_in_an_ext4_root() {
    let dir = tempfile::tempdir().expect("tmp");
    base_with_links(&dir.path().join("base.tar"));
    let image = build(dir.path(), &args(json!({ "type": "block", "fsType": "ext4", "fromImage": "./base.tar" })));
    let img = rootfs(&image, dir.path(), "root.ext4");
    let fsck = Command::new(tool("e2fsck")).args(["-fn"]).arg(&img).output().expect("e2fsck");
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stdout));
    let stat = |p: &str| {
        let out = Command::new(tool("debugfs")).args(["-R", &format!("stat {p}")]).arg(&img).output().expect("debugfs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let perl = stat("/usr/bin/perl");
    assert!(perl.contains("Links: 3"), "{perl}");
    assert_eq!(stat("/bin/init"), perl);
    assert_eq!(stat("/usr/bin/perl5.36.0"), perl);
    let blocks = perl.split_whitespace().skip_while(|w| *w != "Blockcount:").nth(1).expect("Blockcount");
    assert_eq!(blocks.parse::<u64>().expect("blocks"), (BIG as u64).div_ceil(4096) * 8, "{perl}");
}

#[test]
fn a_host_directorys_hard_links_are_kept_in_the_initrd_and_the_layer() {
    let dir = tempfile::tempdir().expect("tmp");
    host_tree(dir.path());
    let mut v = args(json!({ "type": "initrd", "files": { "./tree": "/" } }));
    v["files"]["./tree"] = json!("/copy");
    let image = build(dir.path(), &v);
    let listing = unpack_cpio(&rootfs(&image, dir.path(), "initrd"), &dir.path().join("x"));
    one_inode(&dir.path().join("x"), &["bin/init", "bin/sh", "sbin/init"], 3);
    assert_eq!(listing.lines().filter(|l| l.split_whitespace().nth(1) == Some("3")).count(), 3, "{listing}");
    // In the layer: the data with the first path, hard-link entries to it.
    let entries = layer_entries(&image);
    let entry = |p: &str| entries.iter().find(|e| e.0 == p).unwrap_or_else(|| panic!("no {p}"));
    assert_eq!((entry("copy/bin/init").1, entry("copy/bin/init").3.len()), (b'0', BIG));
    for p in ["copy/bin/sh", "copy/sbin/init"] {
        assert_eq!((entry(p).1, entry(p).2.as_str()), (b'1', "copy/bin/init"), "{p}");
    }
}

#[test]
fn containerfile_copy_keeps_hard_links_in_the_layer_and_inspect_reads_it() {
    let dir = tempfile::tempdir().expect("tmp");
    host_tree(dir.path());
    fs::copy(KERNEL, dir.path().join("kernel")).expect("kernel");
    fs::write(
        dir.path().join("Containerfile"),
        "FROM scratch\nCOPY kernel /boot/kernel\nCOPY tree /app\n\
         LABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu \
         com.urunc.unikernel.binary=/boot/kernel\n",
    )
    .expect("Containerfile");
    bimanix(dir.path(), &["build", "Containerfile", "-o", "out.tar"]);
    let entries = layer_entries(&fs::read(dir.path().join("out.tar")).expect("out"));
    let kinds: Vec<(&str, u8, &str)> = entries
        .iter()
        .filter(|e| e.0.starts_with("app/") && e.1 != b'5')
        .map(|e| (e.0.as_str(), e.1, e.2.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("app/bin/init", b'0', ""), ("app/bin/sh", b'1', "app/bin/init"), ("app/sbin/init", b'1', "app/bin/init")]
    );
    // bimanix reads its own hard-link entries back.
    bimanix(dir.path(), &["inspect", "out.tar"]);
}
