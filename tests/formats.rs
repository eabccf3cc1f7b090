//! Integration tests for the other tools' formats: Containerfiles (bima,
//! pun, bunny, Docker's engine-free subset) and bunnyfiles. They run the
//! built binary on files made in temporary directories, with stand-in
//! kernels and base image archives the tests write themselves, and read
//! back what it wrote with the `tar` crate and `serde_json`, independently
//! of the crate.
//!
//! Every example of the seed documents is here (the bunnyfiles re-indented:
//! the seed text lost its leading blanks), and each one that builds must
//! pass `bimanix inspect` and give the same bytes as the args.nix that
//! `bimanix convert` writes for it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const PREFIX: &str = "com.urunc.unikernel.";

// ---------------------------------------------------------------------------
// Running the binary

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "bimanix failed:\n{}", self.stderr);
        self
    }

    /// Fails with exit 1 and an error that holds every one of `texts`.
    #[track_caller]
    fn fails_with(self, texts: &[&str]) -> Run {
        assert_eq!(self.code, Some(1), "expected exit 1, got {:?}:\n{}", self.code, self.stderr);
        for t in texts {
            assert!(self.stderr.contains(t), "error lacks {t:?}:\n{}", self.stderr);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// Fails as a usage error (exit 2) that holds every one of `texts`.
    #[track_caller]
    fn misused(self, texts: &[&str]) -> Run {
        assert_eq!(self.code, Some(2), "expected exit 2, got {:?}:\n{}", self.code, self.stderr);
        for t in texts {
            assert!(self.stderr.contains(t), "error lacks {t:?}:\n{}", self.stderr);
        }
        self
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs bimanix in `cwd` with `args`.
fn bx<S: Into<OsString>>(cwd: &Path, args: impl IntoIterator<Item = S>) -> Run {
    let out = Command::new(BIN)
        .args(args.into_iter().map(Into::into))
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .expect("cannot start bimanix");
    Run { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

// ---------------------------------------------------------------------------
// Inputs

/// A temporary directory holding inputs and outputs.
struct Fx {
    tmp: TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx { tmp: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, bytes).expect("write");
        p
    }

    fn exec(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.write(rel, bytes);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }
}

/// An x86_64 ELF header and a payload: enough for architecture detection.
fn elf(payload: &str) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[16..18].copy_from_slice(&2u16.to_le_bytes());
    h[18..20].copy_from_slice(&62u16.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(payload.as_bytes());
    h
}

fn kernel() -> Vec<u8> {
    fs::read(KERNEL).expect("example/hello/hello.bzImage")
}

/// An entry of a stand-in base image.
enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
}

/// A docker-archive (as `docker save` wrote before Docker 25) with one
/// layer holding `entries` and `config` as the image's `config` object.
fn base_archive(tag: &str, entries: &[E], config: Value) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        match e {
            E::File(path, data, mode) => {
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                layer.append_data(&mut h, path, *data).expect("layer");
            }
            E::Link(path, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                layer.append_link(&mut h, path, target).expect("link");
            }
        }
    }
    let layer = layer.into_inner().expect("layer");
    let diff_id = format!("sha256:{}", hex(&Sha256::digest(&layer)));
    let cfg = json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let manifest = json!([{ "Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"] }]);
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
    out.into_inner().expect("archive")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A newc cpio holding only its trailer: a stand-in initrd.
fn cpio_trailer() -> Vec<u8> {
    let name = "TRAILER!!!\0";
    let mut out = format!("070701{}", "00000000".repeat(11));
    out.push_str(&format!("{:08X}{:08X}", name.len(), 0));
    out.push_str(name);
    let mut b = out.into_bytes();
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

// ---------------------------------------------------------------------------
// Reading what was written

/// An image read back from a docker-archive: its config and the files of
/// all its layers, merged.
struct Img {
    repo_tags: Value,
    config: Value,
    files: BTreeMap<String, (Vec<u8>, u32)>,
    links: BTreeMap<String, String>,
    layers: usize,
}

fn read_image(bytes: &[u8]) -> Img {
    let mut blobs = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().expect("archive") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        blobs.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&blobs["manifest.json"]).expect("manifest.json");
    let config: Value =
        serde_json::from_slice(&blobs[manifest[0]["Config"].as_str().expect("Config")]).expect("config");
    let mut files = BTreeMap::new();
    let mut links = BTreeMap::new();
    let layers = manifest[0]["Layers"].as_array().expect("Layers");
    for layer in layers {
        let mut ar = tar::Archive::new(blobs[layer.as_str().expect("layer")].as_slice());
        for e in ar.entries().expect("layer") {
            let mut e = e.expect("entry");
            let path = e.path().expect("path").to_string_lossy().trim_end_matches('/').to_string();
            match e.header().entry_type() {
                tar::EntryType::Regular => {
                    let mode = e.header().mode().expect("mode");
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).expect("read");
                    files.insert(path, (data, mode));
                }
                tar::EntryType::Symlink => {
                    links.insert(path, e.link_name().expect("link").expect("target").to_string_lossy().into_owned());
                }
                _ => {}
            }
        }
    }
    Img { repo_tags: manifest[0]["RepoTags"].clone(), config, files, links, layers: layers.len() }
}

impl Img {
    /// The urunc labels, short keys.
    fn urunc(&self) -> BTreeMap<String, String> {
        let labels = self.config["config"]["Labels"].as_object().cloned().unwrap_or_default();
        labels
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v.as_str()?.to_string())))
            .collect()
    }

    fn label(&self, key: &str) -> Option<String> {
        self.config["config"]["Labels"][key].as_str().map(str::to_string)
    }

    fn file(&self, path: &str) -> &[u8] {
        &self.files.get(path).unwrap_or_else(|| panic!("no /{path} in {:?}", self.files.keys())).0
    }

    fn mode(&self, path: &str) -> u32 {
        self.files[path].1
    }
}

fn urunc(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---------------------------------------------------------------------------
// The three checks every example gets

/// Builds `file` in `dir` with `flags`, checks that `inspect` passes and that
/// the converted args.nix builds to the same bytes; returns the image.
#[track_caller]
fn build_checked(dir: &Path, file: &str, flags: &[&str]) -> Img {
    let out = dir.join("out.tar");
    let mut args = vec!["build", file, "-o", out.to_str().expect("utf-8")];
    args.extend(flags);
    bx(dir, &args).ok();
    let bytes = fs::read(&out).expect("output");
    let pair: Vec<&str> = flags.iter().copied().filter(|f| *f == "--no-pair-check").collect();
    let mut inspect = vec!["inspect", out.to_str().expect("utf-8")];
    inspect.extend(&pair);
    let run = bx(dir, &inspect);
    assert_eq!(run.code, Some(0), "inspect rejects {file}:\n{}{}", run.stdout(), run.stderr);
    same_as_converted(dir, file, flags, &bytes);
    read_image(&bytes)
}

/// `convert` writes an args.nix that builds to `bytes`.
#[track_caller]
fn same_as_converted(dir: &Path, file: &str, flags: &[&str], bytes: &[u8]) {
    let conv = dir.join("converted.nix");
    let _ = fs::remove_file(&conv);
    let convert_flags: Vec<&str> = flags.iter().copied().filter(|f| *f != "--no-pair-check").collect();
    let mut args = vec!["convert", file, "-o", conv.to_str().expect("utf-8")];
    args.extend(&convert_flags);
    bx(dir, &args).ok();
    let out = dir.join("converted.tar");
    let mut args = vec!["build", conv.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")];
    args.extend(flags.iter().filter(|f| **f == "--no-pair-check"));
    bx(dir, &args).ok();
    let text = fs::read_to_string(&conv).expect("converted");
    assert!(fs::read(&out).expect("converted image") == bytes, "the converted args.nix builds another image:\n{text}");
}

// ---------------------------------------------------------------------------
// The seed documents' examples

/// Seed 000 (urunc's packaging guide), bima: Rumprun Redis.
const SEED_000_BIMA: &str = r#"# the FROM instruction will not be parsed
FROM scratch
COPY test-redis.hvt /unikernel/test-redis.hvt
COPY redis.conf /conf/redis.conf
LABEL "com.urunc.unikernel.binary"=/unikernel/test-redis.hvt
LABEL "com.urunc.unikernel.cmdline"='redis-server /data/conf/redis.conf'
LABEL "com.urunc.unikernel.unikernelType"="rumprun"
LABEL "com.urunc.unikernel.hypervisor"="hvt"
"#;

fn redis_rumprun(fx: &Fx) {
    fx.exec("ctx/test-redis.hvt", &elf("redis"));
    fx.write("ctx/redis.conf", b"port 6379\n");
}

#[test]
fn seed_000_bima_rumprun_redis() {
    let fx = Fx::new();
    redis_rumprun(&fx);
    fx.write("ctx/Containerfile", SEED_000_BIMA.as_bytes());
    let img = build_checked(&fx.path("ctx"), "Containerfile", &["-t", "redis-rumprun:hvt"]);
    assert_eq!(img.repo_tags, json!(["redis-rumprun:hvt"]));
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("binary", "/unikernel/test-redis.hvt"),
            ("cmdline", "redis-server /data/conf/redis.conf"),
            ("unikernelType", "rumprun"),
            ("hypervisor", "hvt"),
        ]),
        "bima's single quotes are removed"
    );
    assert_eq!(img.file("unikernel/test-redis.hvt"), elf("redis"));
    assert_eq!(img.mode("unikernel/test-redis.hvt"), 0o755);
    assert_eq!(img.file("conf/redis.conf"), b"port 6379\n");
    assert_eq!(img.config["architecture"], "amd64");
    assert_eq!(img.config["config"]["Cmd"], json!(["redis-server", "/data/conf/redis.conf"]));
}

/// Seed 000, pun: a local Unikraft nginx with its initrd.
const SEED_000_PUN_LOCAL: &str = r#"#syntax=harbor.nbfc.io/nubificus/pun:0.1.0
FROM scratch
COPY build/app-nginx_qemu-x86_64 /unikernel/kernel
COPY data.cpio /unikernel/initrd
LABEL com.urunc.unikernel.binary=/unikernel/kernel
LABEL "com.urunc.unikernel.initrd"=/unikernel/initrd
LABEL "com.urunc.unikernel.cmdline"='nginx -c /nginx/conf/nginx.conf'
LABEL "com.urunc.unikernel.unikernelType"="unikraft"
LABEL "com.urunc.unikernel.hypervisor"="qemu"
"#;

#[test]
fn seed_000_pun_unikraft_nginx_from_local_files() {
    let fx = Fx::new();
    fx.exec("ctx/build/app-nginx_qemu-x86_64", &elf("nginx"));
    fx.write("ctx/data.cpio", &cpio_trailer());
    fx.write("ctx/nginx.Containerfile", SEED_000_PUN_LOCAL.as_bytes());
    let img = build_checked(&fx.path("ctx"), "nginx.Containerfile", &["-t", "nginx-unikraft"]);
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("binary", "/unikernel/kernel"),
            ("initrd", "/unikernel/initrd"),
            ("cmdline", "nginx -c /nginx/conf/nginx.conf"),
            ("unikernelType", "unikraft"),
            ("hypervisor", "qemu"),
        ])
    );
    assert_eq!(img.file("unikernel/initrd"), cpio_trailer());
}

/// Seed 000, pun: Unikraft's catalog image as the base.
const SEED_000_PUN_CATALOG: &str = r#"#syntax=harbor.nbfc.io/nubificus/pun:0.1.0
FROM unikraft.org/nginx:1.15
LABEL com.urunc.unikernel.binary="/unikraft/bin/kernel"
LABEL "com.urunc.unikernel.cmdline"="nginx -c /nginx/conf/nginx.conf"
LABEL "com.urunc.unikernel.unikernelType"="unikraft"
LABEL "com.urunc.unikernel.hypervisor"="qemu"
"#;

#[test]
fn seed_000_pun_unikraft_catalog_image_needs_and_uses_base() {
    let fx = Fx::new();
    let kernel = elf("catalog nginx");
    let catalog = base_archive(
        "unikraft.org/nginx:1.15",
        &[E::File("unikraft/bin/kernel", &kernel, 0o755), E::File("nginx/conf/nginx.conf", b"events {}\n", 0o644)],
        json!({ "Env": ["PATH=/bin"], "Labels": { "org.example": "catalog" } }),
    );
    fx.write("nginx.tar", &catalog);
    fx.write("ctx/Containerfile", SEED_000_PUN_CATALOG.as_bytes());
    let ctx = fx.path("ctx");
    // Without an archive for the reference: no pull, and the flag is shown.
    bx(&ctx, ["build", "Containerfile", "-t", "nginx"]).fails_with(&[
        "Containerfile:2:6: FROM: unikraft.org/nginx:1.15 is an image reference",
        "never pulls",
        "--base unikraft.org/nginx:1.15=nginx-1.15.tar",
    ]);
    let base = fx.path("nginx.tar");
    let base_flag = format!("unikraft.org/nginx:1.15={}", base.display());
    let img = build_checked(&ctx, "Containerfile", &["-t", "nginx", "--base", &base_flag]);
    assert_eq!(img.layers, 2, "the base layer stays and ours goes on top");
    assert_eq!(img.file("unikraft/bin/kernel"), kernel);
    assert_eq!(img.urunc()["binary"], "/unikraft/bin/kernel");
    assert_eq!(img.config["config"]["Env"], json!(["PATH=/bin"]), "the base config is inherited");
    assert_eq!(img.label("org.example").as_deref(), Some("catalog"));
}

/// Seed 001 (urunc's Linux guide), bunnyfile: redis:alpine as a raw rootfs.
/// Re-indented: the seed text lost its leading blanks.
const SEED_001_REDIS_RAW: &str = r#"#syntax=harbor.nbfc.io/nubificus/bunny:latest
version: v0.1
platforms:
  framework: linux
  monitor: qemu
  architecture: x86
rootfs:
  from: redis:alpine
  type: raw
kernel:
  from: harbor.nbfc.io/nubificus/urunc/linux-kernel-qemu:v6.14
  path: /kernel
cmdline: "/usr/local/bin/redis-server"
"#;

/// A stand-in for redis:alpine: a server binary, a link, and a config.
fn redis_alpine() -> Vec<u8> {
    base_archive(
        "redis:alpine",
        &[
            E::File("usr/local/bin/redis-server", b"#!/bin/sh\necho redis\n", 0o755),
            E::File("usr/local/bin/docker-entrypoint.sh", b"#!/bin/sh\nexec \"$@\"\n", 0o755),
            E::Link("usr/bin/redis-server", "../local/bin/redis-server"),
        ],
        json!({
            "Entrypoint": ["docker-entrypoint.sh"], "Cmd": ["redis-server"],
            "Env": ["PATH=/usr/local/bin:/usr/bin", "REDIS_VERSION=7"], "WorkingDir": "/data",
        }),
    )
}

fn linux_kernel_image(tag: &str) -> Vec<u8> {
    base_archive(tag, &[E::File("kernel", &kernel(), 0o644)], json!({ "Labels": { "org.example.kind": "kernel" } }))
}

const KERNEL_QEMU: &str = "harbor.nbfc.io/nubificus/urunc/linux-kernel-qemu:v6.14";
const KERNEL_FC: &str = "harbor.nbfc.io/nubificus/urunc/linux-kernel-firecracker:v6.14";

fn base(fx: &Fx, reference: &str, file: &str, bytes: &[u8]) -> String {
    let p = fx.write(file, bytes);
    format!("{reference}={}", p.display())
}

#[test]
fn seed_001_bunnyfile_redis_raw_rootfs_on_qemu() {
    let fx = Fx::new();
    let redis = base(&fx, "redis:alpine", "redis.tar", &redis_alpine());
    let kernel_base = base(&fx, KERNEL_QEMU, "kernel.tar", &linux_kernel_image(KERNEL_QEMU));
    fx.write("ctx/bunnyfile", SEED_001_REDIS_RAW.as_bytes());
    let img = build_checked(
        &fx.path("ctx"),
        "bunnyfile",
        &["-t", "redis-linux:qemu", "--base", &redis, "--base", &kernel_base],
    );
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("unikernelType", "linux"),
            ("hypervisor", "qemu"),
            ("binary", "/.boot/kernel"),
            ("cmdline", "/usr/local/bin/redis-server"),
            ("mountRootfs", "true"),
        ])
    );
    assert_eq!(img.file(".boot/kernel"), kernel(), "the kernel is copied out of its image, as bunny does");
    assert_eq!(img.file("usr/local/bin/redis-server"), b"#!/bin/sh\necho redis\n", "the rootfs image is the base");
    assert_eq!(img.links["usr/bin/redis-server"], "../local/bin/redis-server");
    assert_eq!(img.config["config"]["Entrypoint"], json!(["docker-entrypoint.sh"]), "inherited");
    assert_eq!(img.config["config"]["Cmd"], json!(["/usr/local/bin/redis-server"]));
    assert_eq!(img.config["config"]["WorkingDir"], "/data");
    assert_eq!(img.config["architecture"], "amd64", "x86 is amd64");
}

#[test]
fn seed_001_bunnyfiles_as_the_seed_prints_them_are_refused_at_the_repeated_key() {
    // The seed lost the indentation: `from:` appears twice at the top.
    let flat: String = SEED_001_REDIS_RAW.lines().map(|l| format!("{}\n", l.trim_start())).collect();
    let fx = Fx::new();
    fx.write("ctx/bunnyfile", flat.as_bytes());
    bx(&fx.path("ctx"), ["check", "bunnyfile"]).fails_with(&["bunnyfile:11:1: invalid YAML: `from` is given twice"]);
}

/// Seed 001, a plain Docker multi-stage file that adds urunit to redis.
const SEED_001_URUNIT: &str = "FROM harbor.nbfc.io/nubificus/urunit:latest AS init
FROM redis:alpine
COPY --from=init /urunit /urunit
";

fn urunit_image() -> Vec<u8> {
    base_archive(
        "harbor.nbfc.io/nubificus/urunit:latest",
        &[E::File("bin/urunit", &elf("urunit"), 0o755), E::Link("urunit", "/bin/urunit")],
        json!({}),
    )
}

#[test]
fn seed_001_urunit_stage_needs_urunc_labels_to_be_an_image_and_builds_with_them() {
    let fx = Fx::new();
    let redis = base(&fx, "redis:alpine", "redis.tar", &redis_alpine());
    let urunit = base(&fx, "harbor.nbfc.io/nubificus/urunit:latest", "urunit.tar", &urunit_image());
    fx.write("ctx/Containerfile", SEED_001_URUNIT.as_bytes());
    fx.write("ctx/vmlinuz", &kernel());
    let ctx = fx.path("ctx");
    // As printed it is a rootfs for another step: no urunc annotations.
    bx(&ctx, ["check", "Containerfile", "-t", "x", "--base", &redis, "--base", &urunit])
        .fails_with(&["Containerfile:2:1: LABEL com.urunc.unikernel.unikernelType: missing"]);
    // With a kernel and the labels it is a Linux guest on redis's rootfs.
    let with_labels = format!(
        "{SEED_001_URUNIT}COPY vmlinuz /.boot/kernel\nLABEL com.urunc.unikernel.unikernelType=linux \\\n  \
         com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/.boot/kernel \\\n  \
         com.urunc.unikernel.mountRootfs=true\nENTRYPOINT [\"/urunit\"]\nCMD [\"redis-server\"]\n"
    );
    fx.write("ctx/Containerfile", with_labels.as_bytes());
    let img = build_checked(&ctx, "Containerfile", &["-t", "redis-urunit", "--base", &redis, "--base", &urunit]);
    assert_eq!(img.file("urunit"), elf("urunit"), "COPY --from follows the link in the stage's image");
    assert_eq!(img.mode("urunit"), 0o755, "and keeps the file's mode");
    assert_eq!(img.file("usr/local/bin/redis-server"), b"#!/bin/sh\necho redis\n");
    assert_eq!(img.urunc().get("cmdline"), None, "no legacy cmdline unless urunc 0.5 is a target");
}

/// Seed 001, bunny's Containerfile mode: a Linux guest with an ext2 block rootfs.
const SEED_001_BLOCK: &str = r#"#syntax=harbor.nbfc.io/nubificus/bunny:latest
FROM scratch
COPY vmlinux /kernel
COPY nginx_rootfs.ext2 /rootfs.ext2
LABEL "com.urunc.unikernel.binary"="/kernel"
LABEL "com.urunc.unikernel.cmdline"="/urunit /usr/sbin/nginx -g 'daemon off;error_log stderr debug;"
LABEL "com.urunc.unikernel.unikernelType"="linux"
LABEL "com.urunc.unikernel.block"="/rootfs.ext2"
LABEL "com.urunc.unikernel.blkMntPoint"="/"
LABEL "com.urunc.unikernel.hypervisor"="firecracker"
"#;

#[test]
fn seed_001_bunny_containerfile_linux_block_on_firecracker() {
    let fx = Fx::new();
    fx.write("ctx/vmlinux", &kernel());
    fx.write("ctx/nginx_rootfs.ext2", b"stand-in ext2 image");
    fx.write("ctx/Containerfile", SEED_001_BLOCK.as_bytes());
    let img = build_checked(&fx.path("ctx"), "Containerfile", &["-t", "nginx-linux:fc"]);
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("binary", "/kernel"),
            ("cmdline", "/urunit /usr/sbin/nginx -g 'daemon off;error_log stderr debug;"),
            ("unikernelType", "linux"),
            ("block", "/rootfs.ext2"),
            ("blkMntPoint", "/"),
            ("hypervisor", "firecracker"),
        ]),
        "the cmdline is kept byte for byte, unbalanced quote and all"
    );
    // The quote is read as closed at the end of the line, with a warning
    // (bunny splits at spaces, which leaves a stray `'` in an argument).
    assert_eq!(
        img.config["config"]["Cmd"],
        json!(["/urunit", "/usr/sbin/nginx", "-g", "daemon off;error_log stderr debug;"])
    );
    let run = bx(&fx.path("ctx"), ["check", "Containerfile", "-t", "x"]).ok();
    assert!(run.stderr.contains("Containerfile:6:7: LABEL: the cmdline has an unbalanced quote"), "{}", run.stderr);
}

/// Seed 001, bunnyfile: a Linux guest with a local initrd on Firecracker.
const SEED_001_INITRD: &str = r#"#syntax=harbor.nbfc.io/nubificus/bunny:latest
version: v0.1
platforms:
  framework: linux
  monitor: firecracker
  architecture: x86
rootfs:
  from: local
  type: initrd
  path: rootfs.initrd
kernel:
  from: harbor.nbfc.io/nubificus/urunc/linux-kernel-firecracker:v6.14
  path: /kernel
cmdline: "/urunit /whoami"
"#;

#[test]
fn seed_001_bunnyfile_local_initrd_on_firecracker() {
    let fx = Fx::new();
    let kernel_base = base(&fx, KERNEL_FC, "kernel-fc.tar", &linux_kernel_image(KERNEL_FC));
    fx.write("ctx/rootfs.initrd", &cpio_trailer());
    fx.write("ctx/bunnyfile", SEED_001_INITRD.as_bytes());
    let img = build_checked(&fx.path("ctx"), "bunnyfile", &["-t", "whoami:fc", "--base", &kernel_base]);
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("unikernelType", "linux"),
            ("hypervisor", "firecracker"),
            ("binary", "/kernel"),
            ("initrd", "/.boot/rootfs"),
            ("cmdline", "/urunit /whoami"),
        ]),
        "the kernel stays in its image, which is the base"
    );
    assert_eq!(img.layers, 3, "the kernel image's layer, the generated initrd's, the top layer");
    assert_eq!(img.file("kernel"), kernel());
    assert_eq!(img.file(".boot/rootfs"), cpio_trailer());
    assert_eq!(img.config["config"]["Cmd"], json!(["/urunit", "/whoami"]));
    assert_eq!(img.label("org.example.kind").as_deref(), Some("kernel"), "the kernel image's config is inherited");
}

/// Seed 002 (bima's README) and 004 (urunc's OCI images page): a Rumprun
/// `.hvt` binary with hypervisor qemu, a pair urunc does not run.
const SEED_002_BIMA: &str = r#"# the FROM instruction will not be parsed
FROM scratch
COPY test-redis.hvt /unikernel/test-redis.hvt
COPY redis.conf /conf/redis.conf
LABEL com.urunc.unikernel.binary=/unikernel/test-redis.hvt
LABEL "com.urunc.unikernel.cmdline"='redis-server /data/conf/redis.conf'
LABEL "com.urunc.unikernel.unikernelType"="rumprun"
LABEL "com.urunc.unikernel.hypervisor"="qemu"
"#;

const SEED_004_BIMA: &str = r#"# the FROM instruction will not be parsed
FROM scratch

COPY test-redis.hvt /unikernel/test-redis.hvt
COPY redis.conf /conf/redis.conf

LABEL com.urunc.unikernel.binary=/unikernel/test-redis.hvt
LABEL "com.urunc.unikernel.cmdline"='redis-server /data/conf/redis.conf'
LABEL "com.urunc.unikernel.unikernelType"="rumprun"
LABEL "com.urunc.unikernel.hypervisor"="qemu"
LABEL "com.urunc.unikernel.version"="0.2.0"
"#;

#[test]
fn seed_002_bima_readme_refuses_rumprun_on_qemu_unless_the_pair_check_is_off() {
    let fx = Fx::new();
    redis_rumprun(&fx);
    fx.write("ctx/Containerfile", SEED_002_BIMA.as_bytes());
    let ctx = fx.path("ctx");
    bx(&ctx, ["check", "Containerfile", "-t", "redis"])
        .fails_with(&["Containerfile:8:7: LABEL com.urunc.unikernel.hypervisor:", "rumprun"]);
    let img = build_checked(&ctx, "Containerfile", &["-t", "redis", "--no-pair-check"]);
    assert_eq!(img.urunc()["hypervisor"], "qemu");
    assert_eq!(img.urunc()["cmdline"], "redis-server /data/conf/redis.conf");
}

#[test]
fn seed_004_bima_version_label_is_unikernel_version() {
    let fx = Fx::new();
    redis_rumprun(&fx);
    fx.write("ctx/Containerfile", SEED_004_BIMA.as_bytes());
    let ctx = fx.path("ctx");
    let img = build_checked(&ctx, "Containerfile", &["-t", "redis", "--no-pair-check"]);
    assert_eq!(img.urunc()["unikernelVersion"], "0.2.0");
    assert!(!img.urunc().contains_key("version"));
    let run = bx(&ctx, ["check", "Containerfile", "-t", "redis", "--no-pair-check"]).ok();
    assert!(
        run.stderr.contains(
            "Containerfile:11:7: LABEL: com.urunc.unikernel.version is read as com.urunc.unikernel.unikernelVersion"
        ),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------
// Containerfile instructions

/// A context with a kernel and a Containerfile made of the standard
/// header and `body`.
fn containerfile(fx: &Fx, body: &str) -> PathBuf {
    fx.write("ctx/kernel", &kernel());
    let text = format!(
        "FROM scratch\nCOPY kernel /boot/kernel\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/boot/kernel\n{body}"
    );
    fx.write("ctx/Containerfile", text.as_bytes());
    fx.path("ctx")
}

#[test]
fn label_quoting_every_form_bima_documents_and_docker_reads() {
    let fx = Fx::new();
    let ctx = containerfile(
        &fx,
        r#"LABEL plain=value
LABEL "double"="two words"
LABEL 'single'='two words'
LABEL mixed="a 'b c" other='d "e' third=x\ y
LABEL eq="console=ttyS0 root=/dev/vda" escaped="say \"hi\" \\ \$HOME"
LABEL old-form several words here
LABEL "com.urunc.unikernel.cmdline"='console=ttyS0 quiet'
"#,
    );
    let img = build_checked(&ctx, "Containerfile", &["-t", "labels"]);
    for (k, v) in [
        ("plain", "value"),
        ("double", "two words"),
        ("single", "two words"),
        ("mixed", "a 'b c"),
        ("other", "d \"e"),
        ("third", "x y"),
        ("eq", "console=ttyS0 root=/dev/vda"),
        ("escaped", "say \"hi\" \\ $HOME"),
        ("old-form", "several words here"),
    ] {
        assert_eq!(img.label(k).as_deref(), Some(v), "label {k}");
    }
    assert_eq!(img.urunc()["cmdline"], "console=ttyS0 quiet");
    assert!(img.label(&format!("{PREFIX}cmdline")).is_some(), "urunc keys are labels too");
}

#[test]
fn labels_expand_variables_and_a_later_label_wins() {
    let fx = Fx::new();
    let ctx = containerfile(
        &fx,
        "ARG VERSION=0.1\nENV CONSOLE=ttyS0\nLABEL com.urunc.unikernel.cmdline=\"console=$CONSOLE v=${VERSION}\" lit='$CONSOLE'\nLABEL lit=again\n",
    );
    let img = build_checked(&ctx, "Containerfile", &["-t", "vars", "--build-arg", "VERSION=2"]);
    assert_eq!(img.urunc()["cmdline"], "console=ttyS0 v=2", "--build-arg wins over the ARG default");
    assert_eq!(img.label("lit").as_deref(), Some("again"));
    assert_eq!(
        img.config["config"]["Env"],
        json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CONSOLE=ttyS0"]),
        "Docker's default PATH first"
    );
}

#[test]
fn copy_several_sources_directories_wildcards_chmod_json_and_workdir() {
    let fx = Fx::new();
    fx.write("ctx/a.conf", b"a");
    fx.write("ctx/b.conf", b"b");
    fx.write("ctx/dir/x", b"x");
    fx.exec("ctx/dir/sub/run", b"#!/bin/sh\n");
    fx.write("ctx/with space", b"s");
    let ctx = containerfile(
        &fx,
        "COPY a.conf b.conf /etc/app/\nCOPY dir /opt/\nCOPY --chmod=0600 a.conf /secret\nCOPY *.conf /glob/\nCOPY [\"with space\", \"/spaced/\"]\nWORKDIR /work\nWORKDIR sub\nCOPY a.conf ./rel\nCOPY --chmod=755 --link b.conf .\n",
    );
    let img = build_checked(&ctx, "Containerfile", &["-t", "copies"]);
    assert_eq!(img.file("etc/app/a.conf"), b"a");
    assert_eq!(img.file("etc/app/b.conf"), b"b");
    assert_eq!(img.file("opt/x"), b"x", "a directory's contents go into the destination, as Docker does");
    assert_eq!(img.mode("opt/sub/run"), 0o755);
    assert_eq!(img.mode("secret"), 0o600);
    assert_eq!(img.file("glob/a.conf"), b"a");
    assert_eq!(img.file("glob/b.conf"), b"b");
    assert_eq!(img.file("spaced/with space"), b"s");
    assert_eq!(img.file("work/sub/rel"), b"a", "relative destinations follow WORKDIR");
    assert_eq!(img.mode("work/sub/b.conf"), 0o755);
    assert_eq!(img.config["config"]["WorkingDir"], "/work/sub");
}

#[test]
fn add_copies_local_files_and_refuses_urls_and_archives() {
    let fx = Fx::new();
    fx.write("ctx/plain.txt", b"plain");
    let ctx = containerfile(&fx, "ADD plain.txt /plain.txt\n");
    let img = build_checked(&ctx, "Containerfile", &["-t", "add"]);
    assert_eq!(img.file("plain.txt"), b"plain");
    fx.write("ctx/bundle.tar", &base_archive("x:1", &[], json!({})));
    let ctx = containerfile(&fx, "ADD https://example.com/x /x\nADD bundle.tar /b/\n");
    bx(&ctx, ["check", "Containerfile", "-t", "add"]).fails_with(&[
        "Containerfile:4:5: ADD: https://example.com/x: bimanix downloads nothing",
        "Containerfile:5:5: ADD: bundle.tar is an archive",
    ]);
}

#[test]
fn cmd_and_entrypoint_in_json_and_shell_form() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "ENTRYPOINT [\"/init\", \"--quiet\"]\nCMD nginx -g 'daemon off;' \"two words\"\n");
    let img = build_checked(&ctx, "Containerfile", &["-t", "cmds"]);
    assert_eq!(img.config["config"]["Entrypoint"], json!(["/init", "--quiet"]));
    assert_eq!(img.config["config"]["Cmd"], json!(["nginx", "-g", "daemon off;", "two words"]), "no /bin/sh -c");
    assert_eq!(img.urunc().get("cmdline"), None, "no legacy cmdline unless urunc 0.5 is a target");
    let ctx = containerfile(&fx, "CMD redis-server | tee log\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"])
        .fails_with(&["Containerfile:4:18: CMD: `|` needs a shell", "JSON form"]);
}

#[test]
fn env_forms_arg_defaults_and_global_args_in_from() {
    let fx = Fx::new();
    fx.write("base.tar", &base_archive("b:1", &[E::File("etc/os", b"base", 0o644)], json!({ "Env": ["FROM_BASE=1"] })));
    fx.write("ctx/kernel", &kernel());
    fx.write(
        "ctx/Containerfile",
        b"# syntax=docker/dockerfile:1\nARG BASE=../base.tar\nFROM ${BASE}\nARG BASE\nENV A=1 B=\"two words\"\nENV C ${A}-$FROM_BASE-${BASE}\nCOPY kernel /k\nLABEL com.urunc.unikernel.unikernelType=linux \\\n      # a comment inside a continuation\n      com.urunc.unikernel.hypervisor=qemu \\\n      com.urunc.unikernel.binary=/k\n",
    );
    let img = build_checked(&fx.path("ctx"), "Containerfile", &["-t", "envs"]);
    assert_eq!(
        img.config["config"]["Env"],
        json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "FROM_BASE=1",
            "A=1",
            "B=two words",
            "C=1-1-../base.tar"
        ])
    );
    assert_eq!(img.file("etc/os"), b"base");
    let run = bx(&fx.path("ctx"), ["check", "Containerfile", "-t", "envs", "--build-arg", "UNUSED=1"]).ok();
    assert!(run.stderr.contains("--build-arg UNUSED: no ARG UNUSED"), "{}", run.stderr);
}

#[test]
fn a_base_image_keeps_its_urunc_labels_unless_label_changes_them() {
    let fx = Fx::new();
    let labels = json!({ "Labels": {
        "com.urunc.unikernel.unikernelType": "linux", "com.urunc.unikernel.hypervisor": "qemu",
        "com.urunc.unikernel.binary": "/kernel", "com.urunc.unikernel.cmdline": "console=ttyS0",
    }});
    fx.write("ctx/base.tar", &base_archive("b:1", &[E::File("kernel", &kernel(), 0o644)], labels));
    fx.write("ctx/extra", b"extra");
    fx.write(
        "ctx/Containerfile",
        b"FROM ./base.tar\nCOPY extra /extra\nLABEL com.urunc.unikernel.hypervisor=firecracker\n",
    );
    let img = build_checked(&fx.path("ctx"), "Containerfile", &["-t", "derived"]);
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("unikernelType", "linux"),
            ("hypervisor", "firecracker"),
            ("binary", "/kernel"),
            ("cmdline", "console=ttyS0")
        ])
    );
}

#[test]
fn instructions_that_need_a_container_engine_are_errors_at_their_line() {
    let fx = Fx::new();
    let ctx = containerfile(
        &fx,
        "RUN make\nHEALTHCHECK CMD curl localhost\nONBUILD COPY . /app\nUSER nginx\nUSER 1000\nVOLUME /data\nCOPPY a b\nUSER root\n",
    );
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:4:1: RUN: bimanix runs no commands",
        "COPY them in",
        "Containerfile:5:1: HEALTHCHECK: bimanix runs no commands",
        "Containerfile:6:1: ONBUILD: bimanix runs no commands",
        "Containerfile:7:1: USER: nginx: bimanix runs no commands",
        "Containerfile:8:1: USER: 1000: bimanix images run as root",
        "Containerfile:9:1: VOLUME:",
        "Containerfile:10:1: COPPY: unknown instruction\n",
        "= help: did you mean COPY?",
    ]);
    let ctx = containerfile(&fx, "EXPOSE 80\nSTOPSIGNAL SIGTERM\n");
    let run = bx(&ctx, ["check", "Containerfile", "-t", "x"]).ok();
    assert!(run.stderr.contains("Containerfile:4:1: EXPOSE: ignored"), "{}", run.stderr);
}

#[test]
fn copy_errors_name_the_line_and_column() {
    let fx = Fx::new();
    fx.write("ctx/a", b"a");
    let ctx = containerfile(
        &fx,
        "COPY missing /m\nCOPY a a /notdir\nCOPY ../outside /o\nCOPY --chown=1000 a /a\nCOPY --form=x a /a\nCOPY --chmod=u+x a /a\nCOPY nomatch*.txt /t/\nCOPY --from=nope /x /x\n",
    );
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:4:6: COPY: missing:",
        "does not exist in the build context",
        "Containerfile:5:10: COPY: with several sources the destination must be a directory ending in /",
        "Containerfile:6:6: COPY: ../outside is outside the build context",
        "Containerfile:7:6: COPY: --chown=1000: bimanix writes every file owned by root",
        "Containerfile:8:6: COPY: unknown flag --form=x\n",
        "= help: did you mean --from?",
        "Containerfile:9:6: COPY: --chmod=u+x: bimanix takes an octal mode",
        "Containerfile:10:6: COPY: nomatch*.txt: no file in the build context matches",
        "Containerfile:11:6: COPY: nope is an image reference",
    ]);
}

#[test]
fn copy_from_a_stage_reports_a_missing_path_and_refuses_earlier_stage_instructions() {
    let fx = Fx::new();
    fx.write("ctx/init.tar", &urunit_image());
    fx.write("ctx/kernel", &kernel());
    fx.write(
        "ctx/Containerfile",
        b"FROM ./init.tar AS init\nCOPY kernel /x\nFROM scratch\nCOPY --from=init /nope /nope\nCOPY --from=init /bin /tools/\n",
    );
    bx(&fx.path("ctx"), ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:2:1: COPY: stage `init` is not the last one",
        "Containerfile:4:18: COPY: /nope in image",
        "is not in the image",
    ]);
}

#[test]
fn urunc_labels_are_checked_like_args_nix_annotations() {
    let fx = Fx::new();
    fx.write("ctx/kernel", &kernel());
    fx.write(
        "ctx/Containerfile",
        b"FROM scratch\nCOPY kernel /k\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemuu\nLABEL com.urunc.unikernel.binry=/k\n",
    );
    bx(&fx.path("ctx"), ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:4:7: LABEL: com.urunc.unikernel.binry is not a urunc annotation\n",
        "= help: did you mean com.urunc.unikernel.binary?",
    ]);
    fx.write(
        "ctx/Containerfile",
        b"FROM scratch\nCOPY kernel /k\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemuu\nLABEL com.urunc.unikernel.binary=/k\n",
    );
    bx(&fx.path("ctx"), ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:3:47: LABEL com.urunc.unikernel.hypervisor: unknown `qemuu`",
        "did you mean `qemu`?",
    ]);
}

#[test]
fn syntax_errors_have_positions() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "LABEL a=\"unterminated\nENV =x\nCMD [\"a\", 1]\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:4:9: LABEL: unterminated double quote",
        "Containerfile:5:5: ENV: \"\" is not a variable name",
        "Containerfile:6:5: CMD: the JSON form must be an array of strings",
    ]);
    fx.write("ctx/Containerfile", b"LABEL a=b\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).fails_with(&["Containerfile:1:1: FROM: missing"]);
    fx.write("ctx/Containerfile", b"LABEL a=b\nFROM scratch\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"])
        .fails_with(&["Containerfile:1:1: LABEL: only ARG may come before the first FROM"]);
}

#[test]
fn the_escape_directive_and_bima_arch_instruction() {
    let fx = Fx::new();
    fx.write("ctx/app", b"no header: the architecture comes from ARCH");
    fx.write(
        "ctx/Containerfile",
        b"# escape=`\nFROM scratch\nCOPY app `\n     /app\nARCH aarch64\nLABEL com.urunc.unikernel.unikernelType=unikraft com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/app\n",
    );
    let img = build_checked(&fx.path("ctx"), "Containerfile", &["-t", "arm"]);
    assert_eq!(img.config["architecture"], "arm64");
}

// ---------------------------------------------------------------------------
// bunnyfile fields

/// The names and contents in a newc cpio.
fn cpio_files(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut at = 0;
    let field =
        |b: &[u8], i: usize| usize::from_str_radix(std::str::from_utf8(&b[i..i + 8]).expect("hex"), 16).expect("hex");
    while at + 110 <= bytes.len() && &bytes[at..at + 6] == b"070701" {
        let (size, namesize) = (field(&bytes[at..], 54), field(&bytes[at..], 94));
        let name = String::from_utf8_lossy(&bytes[at + 110..at + 110 + namesize - 1]).into_owned();
        let data_at = (at + 110 + namesize).div_ceil(4) * 4;
        if name == "TRAILER!!!" {
            break;
        }
        out.insert(name, bytes[data_at..data_at + size].to_vec());
        at = (data_at + size).div_ceil(4) * 4;
    }
    out
}

fn bunnyfile(fx: &Fx, text: &str) -> PathBuf {
    fx.write("ctx/bunnyfile", text.as_bytes());
    fx.path("ctx")
}

#[test]
fn bunnyfile_scratch_include_initrd_is_generated_reproducibly() {
    let fx = Fx::new();
    fx.write("ctx/vmlinuz", &kernel());
    fx.exec("ctx/init", b"#!/bin/sh\n");
    fx.write("ctx/conf/app.conf", b"conf");
    let urunit = base(&fx, "urunit:latest", "urunit.tar", &urunit_image());
    let ctx = bunnyfile(
        &fx,
        "version: 0.1\nplatforms:\n  framework: linux\n  monitor: qemu\n  version: 6.14\nrootfs:\n  type: initrd\n  include:\n    - init:/init\n    - conf\n    - \"conf/app.conf:etc/app.conf\"\n    - from: urunit:latest\n      source: /urunit\n      destination: /sbin/urunit\nkernel:\n  from: local\n  path: vmlinuz\nentrypoint: [\"/init\"]\ncmd:\n  - --verbose\nenvs: [\"HOME=/root\", \"A=b=c\"]\n",
    );
    let img = build_checked(&ctx, "bunnyfile", &["-t", "gen", "--base", &urunit]);
    assert_eq!(
        img.urunc(),
        urunc(&[
            ("unikernelType", "linux"),
            ("hypervisor", "qemu"),
            ("unikernelVersion", "6.14"),
            ("binary", "/.boot/kernel"),
            ("initrd", "/.boot/rootfs"),
        ])
    );
    let initrd = cpio_files(img.file(".boot/rootfs"));
    assert_eq!(initrd["init"], b"#!/bin/sh\n");
    assert_eq!(initrd["conf/app.conf"], b"conf", "an include without a destination keeps its path");
    assert_eq!(initrd["etc/app.conf"], b"conf");
    assert_eq!(initrd["sbin/urunit"], elf("urunit"), "the map form copies out of an image");
    assert_eq!(img.config["config"]["Entrypoint"], json!(["/init"]));
    assert_eq!(img.config["config"]["Cmd"], json!(["--verbose"]));
    assert_eq!(
        img.config["config"]["Env"],
        json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "A=b=c"])
    );
    let again = bx(&ctx, ["build", "bunnyfile", "-t", "gen", "--base", &urunit, "-o", "-"]).ok();
    assert!(again.stdout == fs::read(ctx.join("out.tar")).expect("out"), "not reproducible");
}

#[test]
fn bunnyfile_block_rootfs_from_an_image_is_an_ext2_image_mounted_at_data_for_rumprun() {
    let fx = Fx::new();
    fx.exec("ctx/app.hvt", &elf("rumprun app"));
    let data = base(
        &fx,
        "data:1",
        "data.tar",
        &base_archive("data:1", &[E::File("conf/redis.conf", b"port 1\n", 0o644)], json!({})),
    );
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: rumprun\n  monitor: hvt\nrootfs:\n  from: data:1\n  type: block\nkernel:\n  from: local\n  path: app.hvt\ncmd: [\"redis-server\", \"/data/conf/redis.conf\"]\n",
    );
    let img = build_checked(&ctx, "bunnyfile", &["-t", "rump", "--base", &data]);
    let u = img.urunc();
    assert_eq!((u["block"].as_str(), u["blkMntPoint"].as_str()), ("/.boot/rootfs", "/data"));
    let ext2 = img.file(".boot/rootfs");
    assert_eq!(&ext2[1080..1082], &[0x53, 0xef], "an ext2 superblock");
    assert_eq!(img.layers, 3, "the block image's layer, the kernel's, the top: the data image is in the block image");
}

#[test]
fn bunnyfile_local_block_and_image_path_rootfs() {
    let fx = Fx::new();
    fx.write("ctx/vmlinux", &kernel());
    fx.write("ctx/rootfs.ext4", b"stand-in ext4");
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: firecracker\nrootfs:\n  from: local\n  path: rootfs.ext4\n  type: block\nkernel:\n  from: local\n  path: vmlinux\n",
    );
    let img = build_checked(&ctx, "bunnyfile", &["-t", "blk"]);
    assert_eq!(img.file(".boot/rootfs"), b"stand-in ext4");
    assert_eq!(img.urunc()["block"], "/.boot/rootfs");
    assert_eq!(img.urunc()["blkMntPoint"], "/");
    // A rootfs file inside an image stays there; that image is the base.
    let disk = base(
        &fx,
        "disks:1",
        "disks.tar",
        &base_archive(
            "disks:1",
            &[E::File("disk/initrd", &cpio_trailer(), 0o644), E::File("kernel", &kernel(), 0o644)],
            json!({}),
        ),
    );
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nrootfs:\n  from: disks:1\n  path: /disk/initrd\n  type: initrd\nkernel:\n  from: disks:1\n  path: /kernel\n",
    );
    let img = build_checked(&ctx, "bunnyfile", &["-t", "inimage", "--base", &disk]);
    assert_eq!(img.urunc()["initrd"], "/disk/initrd");
    assert_eq!(img.urunc()["binary"], "/kernel", "kernel and rootfs share the image: no copy");
    assert!(!img.files.contains_key(".boot/kernel"));
}

#[test]
fn bunnyfile_raw_rootfs_with_includes_on_an_image() {
    let fx = Fx::new();
    fx.write("ctx/vmlinux", &kernel());
    let redis = base(&fx, "redis:alpine", "redis.tar", &redis_alpine());
    let urunit = base(&fx, "urunit:latest", "urunit.tar", &urunit_image());
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nrootfs:\n  from: redis:alpine\n  include:\n    - {from: urunit:latest, source: /urunit, destination: /urunit}\nkernel:\n  from: local\n  path: vmlinux\nentrypoint: [/urunit]\ncmd: [redis-server]\n",
    );
    let img = build_checked(&ctx, "bunnyfile", &["-t", "raw", "--base", &redis, "--base", &urunit]);
    assert_eq!(img.urunc()["mountRootfs"], "true", "no type: raw, as bunny's default for linux");
    assert_eq!(img.file("urunit"), elf("urunit"));
    assert_eq!(img.file(".boot/kernel"), kernel());
    assert_eq!(img.file("usr/local/bin/redis-server"), b"#!/bin/sh\necho redis\n");
}

#[test]
fn bunnyfile_raw_includes_go_into_the_layer_and_obey_its_name_rules() {
    let fx = Fx::new();
    fx.write("ctx/vmlinux", &kernel());
    fx.write("ctx/x", b"x\n");
    // A raw rootfs's includes land in the image layer, where a whiteout name
    // would delete a file of the base instead of adding one: the check of
    // layer names reports it at its line, as for any file of the layer.
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nrootfs:\n  from: scratch\n  type: raw\n  include:\n    - x:/.wh.x\nkernel:\n  from: local\n  path: vmlinux\ncmd: [/x]\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x"]).fails_with(&["bunnyfile:", "\"/.wh.x\""]);
}

#[test]
fn bunnyfile_cmd_wins_over_the_deprecated_cmdline_with_a_warning() {
    let fx = Fx::new();
    fx.write("ctx/k", &kernel());
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms: {framework: linux, monitor: qemu}\nkernel: {from: local, path: k}\ncmd: [\"/bin/a\", \"two words\"]\ncmdline: ignored\n",
    );
    let run = bx(&ctx, ["build", "bunnyfile", "-t", "c", "-o", "out.tar"]).ok();
    assert!(run.stderr.contains("bunnyfile:5:10: cmdline: ignored because cmd is set"), "{}", run.stderr);
    let img = read_image(&fs::read(ctx.join("out.tar")).expect("out"));
    assert_eq!(img.config["config"]["Cmd"], json!(["/bin/a", "two words"]));
    assert_eq!(img.urunc().get("cmdline"), None, "no legacy cmdline unless urunc 0.5 is a target");
}

#[test]
fn bunnyfile_unknown_fields_and_bad_values_are_errors_with_suggestions() {
    let fx = Fx::new();
    fx.write("ctx/k", &kernel());
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatform:\n  framework: linux\nkernel:\n  from: local\n  path: k\n  arch: x86\nrootfs:\n  from: local\n  path: r\n  type: ramdisk\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x"]).fails_with(&[
        "bunnyfile:2:1: platform: unknown field\n",
        "= help: did you mean `platforms`?",
        "bunnyfile:7:3: kernel.arch: unknown field",
        "bunnyfile:1:1: platforms: is required",
    ]);
    let ctx = bunnyfile(
        &fx,
        "version: v0.2\nplatforms:\n  framework: linux\n  monitor: qemu\n  architecture: x86\nkernel:\n  from: docker.io/k:1\n  path: /k\nrootfs:\n  from: local\n  path: r\n  type: ramdisk\ncmd: one\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x"]).fails_with(&[
        "bunnyfile:1:10: version: v0.2 is not supported",
        "bunnyfile:7:9: kernel.from: docker.io/k:1 is an image reference",
        "--base docker.io/k:1=k-1.tar",
        "bunnyfile:12:9: rootfs.type: \"ramdisk\" is not a rootfs type",
        "bunnyfile:13:6: cmd: must be a list of strings",
    ]);
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemuu\nkernel:\n  from: local\n  path: k\nrootfs:\n  from: local\n  path: k\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x"])
        .fails_with(&["bunnyfile:9:3: rootfs.type: missing; say what rootfs.path holds"]);
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemuu\nkernel:\n  from: local\n  path: missing\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x"])
        .fails_with(&["bunnyfile:4:12: platforms.monitor: unknown `qemuu`", "bunnyfile:7:9: kernel.path: source"]);
}

#[test]
fn bunnyfile_rootfs_rules_follow_bunny() {
    let fx = Fx::new();
    fx.write("ctx/k", &kernel());
    for (rootfs, expected) in [
        ("  from: scratch\n  path: x\n  type: initrd\n", "rootfs.path: with from: scratch"),
        ("  from: local\n  type: raw\n", "rootfs.type: a raw rootfs cannot come from local"),
        ("  from: local\n  type: initrd\n", "rootfs.path: is required with from: local"),
        ("  type: initrd\n", "rootfs: from: scratch with nothing to include"),
        ("  type: initrd\n  include:\n    - \":/x\"\n", "rootfs.include[0]: the source is empty"),
    ] {
        let ctx = bunnyfile(
            &fx,
            &format!(
                "version: v0.1\nplatforms: {{framework: linux, monitor: qemu}}\nkernel: {{from: local, path: k}}\nrootfs:\n{rootfs}"
            ),
        );
        bx(&ctx, ["check", "bunnyfile", "-t", "x"]).fails_with(&[expected]);
    }
}

// ---------------------------------------------------------------------------
// The command line: kinds, tags, convert

#[test]
fn the_kind_is_told_by_name_then_content_and_input_format_overrides() {
    let fx = Fx::new();
    fx.write("ctx/k", &kernel());
    let cf = "FROM scratch\nCOPY k /k\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/k\n";
    let bf = "#syntax=harbor.nbfc.io/nubificus/bunny:latest\nversion: v0.1\nplatforms: {framework: linux, monitor: qemu}\nkernel: {from: local, path: k}\n";
    fx.write("ctx/Dockerfile", cf.as_bytes());
    fx.write("ctx/app.containerfile", cf.as_bytes());
    fx.write("ctx/build.txt", cf.as_bytes());
    fx.write("ctx/guest.bunnyfile", bf.as_bytes());
    fx.write("ctx/bunny.yaml", bf.as_bytes());
    fx.write("ctx/odd", bf.as_bytes());
    let ctx = fx.path("ctx");
    for file in ["Dockerfile", "app.containerfile", "build.txt", "guest.bunnyfile", "bunny.yaml"] {
        bx(&ctx, ["check", file, "-t", "x"]).ok();
    }
    bx(&ctx, ["check", "Dockerfile", "-t", "x", "--input-format", "bunnyfile"]).fails_with(&["Dockerfile:"]);
    fx.write("ctx/Containerfile", bf.as_bytes());
    bx(&ctx, ["check", "Containerfile", "-t", "x", "--input-format", "bunnyfile"]).ok();
}

#[test]
fn without_tag_the_image_is_named_after_the_context_and_tag_overrides_args_nix() {
    let fx = Fx::new();
    fx.write("My Guest/k", &kernel());
    fx.write("My Guest/Containerfile", b"FROM scratch\nCOPY k /k\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/k\n");
    let dir = fx.path("My Guest");
    let run = bx(&dir, ["build", "Containerfile"]).ok();
    assert!(run.stderr.contains("no --tag given: the image is named my-guest:latest"), "{}", run.stderr);
    assert!(dir.join("my-guest-latest.tar").is_file());
    fx.write("My Guest/args.nix", b"{ name = \"from-file\"; tag = \"v1\"; files = { \"./k\" = \"/k\"; }; annotations = { unikernelType = \"linux\"; hypervisor = \"qemu\"; binary = \"/k\"; }; }\n");
    bx(&dir, ["build", "args.nix", "-t", "ghcr.io/me/other:v2", "-o", "o.tar"]).ok();
    assert_eq!(read_image(&fs::read(dir.join("o.tar")).expect("o.tar")).repo_tags, json!(["ghcr.io/me/other:v2"]));
    let bad = bx(&dir, ["build", "args.nix", "-t", "Upper:case"]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("must be lowercase"), "{}", bad.stderr);
    // Flags that do not fit the input are usage errors.
    bx(&dir, ["check", "args.nix", "--base", "a=b"]).misused(&["--base applies to Containerfiles and bunnyfiles"]);
    bx(&dir, ["check", "args.nix", "--build-arg", "A=1"])
        .misused(&["--build-arg applies to Containerfiles only; args.nix is an args file"]);
    bx(&dir, ["check", "-f", "args.nix", "."]).misused(&["a build context directory (with -f) applies to"]);
    // The Nix builder's JSON has its own name and tag, and no context.
    for [flag, value] in [["--tag", "x"], ["--base", "a=b"], ["--build-arg", "A=1"], ["--input-format", "nix"]] {
        bx(&dir, ["check", "--args-from-env", "A", flag, value]).misused(&["cannot be used with", flag]);
    }
}

#[test]
fn convert_prints_canonical_nix_and_never_replaces_its_input_or_an_existing_file() {
    let fx = Fx::new();
    redis_rumprun(&fx);
    fx.write("ctx/Containerfile", SEED_000_BIMA.as_bytes());
    let ctx = fx.path("ctx");
    let printed = bx(&ctx, ["convert", "Containerfile", "-t", "redis"]).ok().stdout();
    assert_eq!(
        printed,
        "# Converted by `bimanix convert` from Containerfile.\n# Build it with `bimanix build args.nix` or `nix-build --arg args ./args.nix`.\n{\n  name = \"redis\";\n  tag = \"latest\";\n  files = [\n    { source = ./test-redis.hvt; target = \"/unikernel/test-redis.hvt\"; }\n    { source = ./redis.conf; target = \"/conf/redis.conf\"; }\n  ];\n  annotations = {\n    unikernelType = \"rumprun\";\n    hypervisor = \"hvt\";\n    binary = \"/unikernel/test-redis.hvt\";\n    cmdline = \"redis-server /data/conf/redis.conf\";\n  };\n}\n"
    );
    fx.write("ctx/args.nix", b"# mine\n");
    bx(&ctx, ["convert", "Containerfile", "-t", "redis", "-o", "args.nix"]).fails_with(&["args.nix exists", "--force"]);
    assert_eq!(fs::read(ctx.join("args.nix")).expect("kept"), b"# mine\n");
    bx(&ctx, ["convert", "Containerfile", "-t", "redis", "-o", "Containerfile", "--force"])
        .fails_with(&["is the input file"]);
    bx(&ctx, ["convert", "Containerfile", "-t", "redis", "-o", "args.nix", "--force"]).ok();
    // Written into another directory, paths are relative to it.
    fs::create_dir(ctx.join("nix")).expect("mkdir");
    bx(&ctx, ["convert", "Containerfile", "-t", "redis", "-o", "nix/args.nix"]).ok();
    let text = fs::read_to_string(ctx.join("nix/args.nix")).expect("args");
    assert!(text.contains("source = ../test-redis.hvt;"), "{text}");
    bx(&ctx, ["build", "nix/args.nix", "-o", "a.tar"]).ok();
    bx(&ctx, ["build", "Containerfile", "-t", "redis", "-o", "b.tar"]).ok();
    assert!(fs::read(ctx.join("a.tar")).expect("a") == fs::read(ctx.join("b.tar")).expect("b"));
}

#[test]
fn convert_escapes_what_nix_would_read_otherwise() {
    let fx = Fx::new();
    let ctx = containerfile(
        &fx,
        "LABEL \"org.example.t\"='${HOME} \"q\" back\\slash' in=keyword\nENV P='a$b ${c}'\nCMD [\"tab\\there\", \"nl\\nthere\"]\n",
    );
    let img = build_checked(&ctx, "Containerfile", &["-t", "esc"]);
    assert_eq!(img.label("org.example.t").as_deref(), Some("${HOME} \"q\" back\\slash"));
    assert_eq!(img.label("in").as_deref(), Some("keyword"));
    assert_eq!(
        img.config["config"]["Env"],
        json!(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "P=a$b ${c}"])
    );
    assert_eq!(img.config["config"]["Cmd"], json!(["tab\there", "nl\nthere"]));
}

#[test]
fn reproducible_across_working_directories_and_the_same_as_a_hand_written_args_nix() {
    let fx = Fx::new();
    redis_rumprun(&fx);
    fx.write("ctx/Containerfile", SEED_000_BIMA.as_bytes());
    fx.write(
        "ctx/hand.nix",
        b"{\n  name = \"redis\";\n  files = {\n    \"./test-redis.hvt\" = \"/unikernel/test-redis.hvt\";\n    \"./redis.conf\" = \"/conf/redis.conf\";\n  };\n  annotations = {\n    unikernelType = \"rumprun\";\n    hypervisor = \"hvt\";\n    binary = \"/unikernel/test-redis.hvt\";\n    cmdline = \"redis-server /data/conf/redis.conf\";\n  };\n}\n",
    );
    let a = bx(&fx.path("ctx"), ["build", "Containerfile", "-t", "redis", "-o", "-"]).ok().stdout;
    let b = bx(fx.tmp.path(), ["build", "ctx/Containerfile", "-t", "redis", "-o", "-"]).ok().stdout;
    let c = bx(fx.tmp.path(), ["build", "ctx/hand.nix", "-o", "-"]).ok().stdout;
    assert!(a == b, "the working directory changed the image");
    assert!(a == c, "a Containerfile and the same args.nix give different images");
}

#[test]
fn help_explains_convert_and_the_new_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let top = bx(dir.path(), ["--help"]).ok().stdout();
    assert!(top.contains("convert"), "{top}");
    for cmd in ["build", "check", "convert"] {
        let help = bx(dir.path(), [cmd, "--help"]).ok().stdout();
        for flag in ["--tag", "--base", "--build-arg", "--input-format", "containerfile", "bunnyfile"] {
            assert!(help.contains(flag), "{cmd} --help lacks {flag}:\n{help}");
        }
    }
    assert!(bx(dir.path(), ["convert", "--help"]).ok().stdout().contains("--force"));
}

#[test]
fn a_directory_is_the_build_context_as_for_docker_and_bima() {
    let fx = Fx::new();
    redis_rumprun(&fx);
    fx.write("ctx/Containerfile.redis", SEED_000_BIMA.as_bytes());
    let ctx = fx.path("ctx");
    // bima build -t NAME -f Containerfile.redis .
    bx(&ctx, ["build", "-t", "redis", "-f", "Containerfile.redis", ".", "-o", "a.tar"]).ok();
    bx(&ctx, ["build", "-t", "redis", "."])
        .fails_with(&["holds none of Containerfile, Dockerfile, bunnyfile, args.nix"]);
    fs::rename(ctx.join("Containerfile.redis"), ctx.join("Containerfile")).expect("rename");
    // bima build -t NAME .   (from elsewhere, the context named)
    bx(fx.tmp.path(), ["build", "-t", "redis", "ctx", "-o", "ctx/b.tar"]).ok();
    assert!(fs::read(ctx.join("a.tar")).expect("a") == fs::read(ctx.join("b.tar")).expect("b"));
    // -f names a file outside the context; sources stay relative to the context.
    fs::rename(ctx.join("Containerfile"), fx.path("elsewhere.Containerfile")).expect("rename");
    bx(fx.tmp.path(), ["build", "-t", "redis", "-f", "elsewhere.Containerfile", "ctx", "-o", "ctx/c.tar"]).ok();
    assert!(fs::read(ctx.join("a.tar")).expect("a") == fs::read(ctx.join("c.tar")).expect("c"));
    fx.write("ctx/args.nix", b"{}");
    fx.write("ctx/bunnyfile", b"version: v0.1\n");
    bx(&ctx, ["check", "-t", "redis", "."]).fails_with(&["holds bunnyfile and args.nix; name the one to build"]);
}

// ---------------------------------------------------------------------------
// The build context holds every source

/// The host's `/etc/hostname`, which no image may get from a context link.
fn host_hostname() -> Vec<u8> {
    fs::read("/etc/hostname").expect("/etc/hostname")
}

#[test]
fn copy_follows_links_inside_the_context_only() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "COPY hostlink /p\n");
    std::os::unix::fs::symlink("/etc/hostname", ctx.join("hostlink")).expect("link");
    fs::create_dir(ctx.join("d2")).expect("mkdir");
    std::os::unix::fs::symlink("/etc", ctx.join("d2/etc")).expect("link");
    // An absolute link target starts at the context's root, as in docker build.
    std::os::unix::fs::symlink("/kernel", ctx.join("abs")).expect("link");
    // A missing directory and `..` come back to `hostlink`, which is still a link.
    std::os::unix::fs::symlink("nothere/../hostlink", ctx.join("a")).expect("link");
    let out = ctx.join("out.tar");
    bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "out.tar"]).fails_with(&[
        "Containerfile:4:6: COPY: hostlink leads through a symbolic link to",
        "which does not exist in the build context",
    ]);
    assert!(!out.exists(), "a refused build wrote an image");
    for (src, message) in [
        ("d2/etc/hostname", "Containerfile:4:6: COPY: d2/etc/hostname leads through a symbolic link"),
        ("d2/etc/host*", "Containerfile:4:6: COPY: d2/etc/host*: no file in the build context matches"),
        ("a", "Containerfile:4:6: COPY: a leads through a symbolic link"),
        ("nothere/../a", "Containerfile:4:6: COPY: nothere/../a leads through a symbolic link"),
        ("../Containerfile", "is outside the build context"),
    ] {
        let body = format!(
            "FROM scratch\nCOPY kernel /boot/kernel\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/boot/kernel\nCOPY {src} /p\n"
        );
        fx.write("ctx/Containerfile", body.as_bytes());
        bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "out.tar"]).fails_with(&[message]);
        assert!(!out.exists(), "{src}: a refused build wrote an image");
    }
    // A file in the context named like the host's is what the links find.
    fx.write("ctx/etc/hostname", b"the context's own\n");
    fx.write(
        "ctx/Containerfile",
        b"FROM scratch\nCOPY kernel /boot/kernel\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/boot/kernel\nCOPY hostlink /p\nCOPY d2/etc/hostname /q\nCOPY abs /r\nCOPY a /s\n",
    );
    let img = build_checked(&ctx, "Containerfile", &["-t", "x"]);
    assert_eq!(img.file("p"), b"the context's own\n");
    assert_eq!(img.file("s"), b"the context's own\n");
    assert_eq!(img.file("q"), b"the context's own\n");
    assert_eq!(img.file("r"), kernel().as_slice());
    let host = host_hostname();
    assert!(img.files.values().all(|(data, _)| *data != host), "the host's /etc/hostname reached the image");
}

#[test]
fn bunnyfile_local_paths_stay_in_the_context() {
    let fx = Fx::new();
    fx.write("ctx/vmlinuz", &kernel());
    let ctx = fx.path("ctx");
    std::os::unix::fs::symlink("/etc/hostname", ctx.join("hostlink")).expect("link");
    let text = |include: &str, kernel: &str| {
        format!(
            "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nrootfs:\n  from: scratch\n  type: raw\n  include:\n    - \"{include}:/h\"\nkernel:\n  from: local\n  path: {kernel}\n"
        )
    };
    let cases = [
        (
            text("/etc/hostname", "vmlinuz"),
            "bunnyfile:9:7: rootfs.include[0]: /etc/hostname is an absolute path; a local path is relative to the build context",
        ),
        (
            text("../../../../etc/hostname", "vmlinuz"),
            "bunnyfile:9:7: rootfs.include[0]: ../../../../etc/hostname is outside the build context",
        ),
        (text("hostlink", "vmlinuz"), "bunnyfile:9:7: rootfs.include[0]: hostlink leads through a symbolic link"),
        (
            text("nothere/../hostlink", "vmlinuz"),
            "bunnyfile:9:7: rootfs.include[0]: nothere/../hostlink leads through a symbolic link",
        ),
        (text("vmlinuz", "nothere/../hostlink"), "bunnyfile:12:9: kernel.path: nothere/../hostlink leads through"),
        (text("vmlinuz", KERNEL), "bunnyfile:12:9: kernel.path: "),
        (text("vmlinuz", "../ctx/../../k"), "kernel.path: ../ctx/../../k is outside the build context"),
    ];
    for (text, message) in cases {
        bunnyfile(&fx, &text);
        let run = bx(&ctx, ["build", "bunnyfile", "-t", "x", "-o", "out.tar"]).fails_with(&[message]);
        assert!(!ctx.join("out.tar").exists(), "{}", run.stderr);
    }
    // Inside the context, a link is followed there.
    fx.write("ctx/etc/hostname", b"the context's own\n");
    for include in ["hostlink", "nothere/../hostlink", "x/y/../../hostlink"] {
        bunnyfile(&fx, &text(include, "vmlinuz"));
        let img = build_checked(&ctx, "bunnyfile", &["-t", "x"]);
        assert_eq!(img.file("h"), b"the context's own\n", "{include}");
        assert!(img.files.values().all(|(data, _)| *data != host_hostname()), "{include}");
    }
}

// ---------------------------------------------------------------------------
// FROM --platform, positions, small Containerfile rules

/// A stand-in kernel ELF for aarch64 (or x86_64), with `payload`.
fn elf_for(arm: bool, payload: &str) -> Vec<u8> {
    let mut h = elf(payload);
    if arm {
        h[18..20].copy_from_slice(&183u16.to_le_bytes());
    }
    h
}

/// `base.tar` in the context: an index of an amd64 and an arm64 image made
/// with `bimanix index`, each holding its own `/kernel`.
fn two_platform_base(fx: &Fx) -> PathBuf {
    let dir = fx.path("ctx");
    for (arch, arm) in [("amd", false), ("arm", true)] {
        fx.write(&format!("ctx/k{arch}"), &elf_for(arm, &format!("{arch} kernel")));
        let nix = format!(
            "{{ name = \"base\"; files = {{ \"./k{arch}\" = \"/kernel\"; }}; annotations = {{ unikernelType = \"unikraft\"; hypervisor = \"qemu\"; binary = \"/kernel\"; }}; }}\n"
        );
        fx.write(&format!("ctx/{arch}.nix"), nix.as_bytes());
        bx(&dir, ["build", &format!("{arch}.nix"), "-o", &format!("{arch}.tar")]).ok();
    }
    bx(&dir, ["index", "amd.tar", "arm.tar", "-o", "base.tar"]).ok();
    dir
}

const UNIKRAFT_K: &str = "LABEL com.urunc.unikernel.binary=/k com.urunc.unikernel.unikernelType=unikraft com.urunc.unikernel.hypervisor=qemu";

#[test]
fn copy_from_a_stage_uses_its_from_platform() {
    let fx = Fx::new();
    let ctx = two_platform_base(&fx);
    for (platform, arch) in [("linux/arm64", "arm"), ("linux/amd64", "amd")] {
        let text =
            format!("FROM --platform={platform} base.tar AS b\nFROM scratch\nCOPY --from=b /kernel /k\n{UNIKRAFT_K}\n");
        fx.write("ctx/Containerfile", text.as_bytes());
        // build_checked also builds the converted args.nix (`architecture` on the entry) to the same bytes.
        let img = build_checked(&ctx, "Containerfile", &["-t", "t"]);
        assert_eq!(img.file("k"), elf_for(arch == "arm", &format!("{arch} kernel")).as_slice());
        assert_eq!(img.config["architecture"], json!(if arch == "arm" { "arm64" } else { "amd64" }));
        let args = bx(&ctx, ["convert", "Containerfile", "-t", "t"]).ok().stdout();
        let expected = if arch == "arm" { "architecture = \"arm64\";" } else { "architecture = \"amd64\";" };
        assert!(args.contains(expected), "{args}");
    }
    // Without a platform, the message says how to pick one.
    let text = format!("FROM base.tar AS b\nFROM scratch\nCOPY --from=b /kernel /k\n{UNIKRAFT_K}\n");
    fx.write("ctx/Containerfile", text.as_bytes());
    bx(&ctx, ["check", "Containerfile", "-t", "t"]).fails_with(&[
        "Containerfile:3:15: COPY:",
        "the archive holds several images",
        "choose one with --platform on the FROM that names it",
    ]);
    // The image's own platform disagreeing with its kernel points at FROM --platform.
    let text = format!("FROM --platform=linux/arm64 base.tar\nCOPY kamd /k\n{UNIKRAFT_K}\n");
    fx.write("ctx/Containerfile", text.as_bytes());
    bx(&ctx, ["check", "Containerfile", "-t", "t"])
        .fails_with(&["Containerfile:1:6: FROM --platform: is \"arm64\", but /k is built for amd64"]);
    // On scratch too, the last FROM's platform sets the architecture.
    let text = format!("FROM --platform=linux/arm64 scratch\nCOPY kamd /k\n{UNIKRAFT_K}\n");
    fx.write("ctx/Containerfile", text.as_bytes());
    bx(&ctx, ["check", "Containerfile", "-t", "t"])
        .fails_with(&["Containerfile:1:6: FROM --platform: is \"arm64\", but /k is built for amd64"]);
    let text = format!(
        "FROM --platform=linux/arm64 base.tar AS b\nFROM --platform=linux/arm64 scratch\nCOPY --from=b /kernel /k\n{UNIKRAFT_K}\n"
    );
    fx.write("ctx/Containerfile", text.as_bytes());
    let img = build_checked(&ctx, "Containerfile", &["-t", "t"]);
    assert_eq!(img.config["architecture"], json!("arm64"));
    // Docker's automatic platform variables are not set: the message says so.
    for (platform, says) in [
        ("$BUILDPLATFORM", "--platform=$BUILDPLATFORM expands to \"\": bimanix sets none of Docker's automatic"),
        ("windows/amd64", "--platform=windows/amd64: urunc images are linux/<arch>"),
    ] {
        fx.write(
            "ctx/Containerfile",
            format!("FROM --platform={platform} scratch\nCOPY kamd /k\n{UNIKRAFT_K}\n").as_bytes(),
        );
        bx(&ctx, ["check", "Containerfile", "-t", "t"]).fails_with(&["Containerfile:1:6: FROM: ", says]);
    }
    // An args file's entry picks the image with `architecture`, which needs fromImage.
    let entry = |extra: &str| {
        format!(
            "{{ name = \"t\"; files = [ {{ fromImage = ./base.tar; source = \"/kernel\"; target = \"/k\"; {extra} }} ]; annotations = {{ unikernelType = \"unikraft\"; hypervisor = \"qemu\"; binary = \"/k\"; }}; }}\n"
        )
    };
    fx.write("ctx/a.nix", entry("architecture = \"arm64\";").as_bytes());
    bx(&ctx, ["build", "a.nix", "-o", "a.tar"]).ok();
    assert_eq!(read_image(&fs::read(ctx.join("a.tar")).expect("a.tar")).file("k"), elf_for(true, "arm kernel"));
    fx.write("ctx/a.nix", entry("").as_bytes());
    bx(&ctx, ["check", "a.nix"]).fails_with(&["files[0]", "several images", "pick one with `architecture`"]);
    fx.write("ctx/a.nix", entry("architecture = \"sparc\";").as_bytes());
    bx(&ctx, ["check", "a.nix"]).fails_with(&["files[0].architecture", "unknown architecture \"sparc\""]);
    let text = "{ name = \"t\"; files = [ { source = ./kamd; target = \"/k\"; architecture = \"arm64\"; } ]; annotations = { unikernelType = \"unikraft\"; hypervisor = \"qemu\"; binary = \"/k\"; }; }\n";
    fx.write("ctx/a.nix", text.as_bytes());
    bx(&ctx, ["check", "a.nix"]).fails_with(&["files[0].architecture", "this entry has no fromImage"]);
}

#[test]
fn command_and_env_problems_name_the_instruction_and_its_position() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "ENV X=1\nCMD [\"/init\", \"it's\"]\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"])
        .fails_with(&["Containerfile:5:1: CMD: urunc 0.8: the argument `it's` holds `'`"]);
    fx.write(
        "ctx/Containerfile",
        fs::read_to_string(ctx.join("Containerfile")).expect("text").replace("CMD", "ENTRYPOINT").as_bytes(),
    );
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).fails_with(&["Containerfile:5:1: ENTRYPOINT: urunc 0.8:"]);
    let ctx = containerfile(&fx, "ENV X=\"a b\"\nCMD [\"/init\"]\n");
    let run = bx(&ctx, ["check", "Containerfile", "-t", "x"]).ok();
    assert!(
        run.stderr.contains("Containerfile:4:5: ENV: urunc 0.8: puts Env on the kernel command line"),
        "{}",
        run.stderr
    );
    fx.write("ctx/vmlinuz", &kernel());
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nkernel:\n  from: local\n  path: vmlinuz\nenvs: [\"A=1\"]\ncmd: [\"/init\", \"it's\"]\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x"]).fails_with(&["bunnyfile:9:1: cmd: urunc 0.8: the argument `it's`"]);
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nkernel:\n  from: local\n  path: vmlinuz\nenvs: [\"A=--x\"]\ncmd: [\"/init\"]\n",
    );
    let run = bx(&ctx, ["check", "bunnyfile", "-t", "x"]).ok();
    assert!(run.stderr.contains("bunnyfile:8:1: envs: urunc 0.8: puts Env"), "{}", run.stderr);
}

#[test]
fn label_and_env_without_a_value_are_errors_as_in_buildkit() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "LABEL a\nENV b\nLABEL c d\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).fails_with(&[
        "Containerfile:4:7: LABEL: a has no value; write LABEL a=VALUE",
        "Containerfile:5:5: ENV: b has no value; write ENV b=VALUE",
    ]);
    let ctx = containerfile(&fx, "LABEL a=\nENV b=\"\"\nLABEL c d\n");
    let img = build_checked(&ctx, "Containerfile", &["-t", "x"]);
    assert_eq!((img.label("a").as_deref(), img.label("c").as_deref()), (Some(""), Some("d")));
}

#[test]
fn build_args_apply_to_containerfiles_and_an_unset_one_keeps_the_default() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "ARG V=default\nLABEL v=$V\n");
    let out = Command::new(BIN)
        .args(["build", "Containerfile", "-t", "x", "-o", "-", "--build-arg", "V"])
        .current_dir(&ctx)
        .env_remove("V")
        .output()
        .expect("bimanix");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("--build-arg V: no value given and no environment variable V, so the ARG default applies"),
        "{stderr}"
    );
    assert_eq!(read_image(&out.stdout).label("v").as_deref(), Some("default"));
    let out = Command::new(BIN)
        .args(["build", "Containerfile", "-t", "x", "-o", "-", "--build-arg", "V"])
        .current_dir(&ctx)
        .env("V", "from env")
        .output()
        .expect("bimanix");
    assert_eq!(read_image(&out.stdout).label("v").as_deref(), Some("from env"));
    fx.write("ctx/vmlinuz", &kernel());
    let ctx = bunnyfile(
        &fx,
        "version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nkernel:\n  from: local\n  path: vmlinuz\n",
    );
    bx(&ctx, ["check", "bunnyfile", "-t", "x", "--build-arg", "A=1"])
        .misused(&["--build-arg A: --build-arg applies to Containerfiles", "is a bunnyfile"]);
}

#[test]
fn two_bases_for_one_reference_are_a_usage_error() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "");
    for cmd in ["build", "check", "convert"] {
        let run = bx(
            &ctx,
            [
                cmd,
                "Containerfile",
                "-t",
                "x",
                "--base",
                "redis=a.tar",
                "--base",
                "docker.io/library/redis:latest=b.tar",
            ],
        );
        assert_eq!(run.code, Some(2), "{cmd}: {}", run.stderr);
        assert!(
            run.stderr.contains("--base docker.io/library/redis:latest is given twice (as redis)"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "");
    let plain = fs::read(ctx.join("Containerfile")).expect("text");
    let a = bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "-"]).ok().stdout;
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend(&plain);
    // Named `input`, so that only its content tells what it is.
    fx.write("ctx/input", &bom);
    let b = bx(&ctx, ["build", "-f", "input", ".", "-t", "x", "-o", "-"]).ok().stdout;
    assert!(a == b, "a BOM changed the image");
    fx.write("ctx/vmlinuz", &kernel());
    let mut text = b"\xef\xbb\xbf".to_vec();
    text.extend(
        b"version: v0.1\nplatforms:\n  framework: linux\n  monitor: qemu\nkernel:\n  from: local\n  path: vmlinuz\n",
    );
    fx.write("ctx/input", &text);
    bx(&ctx, ["check", "-f", "input", ".", "-t", "x"]).ok();
}

#[test]
fn layers_flag_overrides_the_input() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "COPY Containerfile /etc/c\n");
    let auto = read_image(&bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "-"]).ok().stdout);
    let single = bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "-", "--layers", "single"]).ok().stdout;
    assert!(auto.layers > 1, "auto cut {} layers", auto.layers);
    assert_eq!(read_image(&single).layers, 1);
    let mut args = bx(&ctx, ["convert", "Containerfile", "-t", "x"]).ok().stdout();
    args = args.replacen("  tag = \"latest\";\n", "  tag = \"latest\";\n  layers = \"single\";\n", 1);
    fx.write("ctx/args.nix", args.as_bytes());
    assert!(bx(&ctx, ["build", "args.nix", "-o", "-"]).ok().stdout == single);
    let auto_again = bx(&ctx, ["build", "args.nix", "-o", "-", "--layers", "auto"]).ok().stdout;
    assert_eq!(read_image(&auto_again).layers, auto.layers);
}

// ---------------------------------------------------------------------------
// convert: where it writes, what it never replaces, awkward names

#[test]
fn convert_dash_is_standard_output() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "");
    let printed = bx(&ctx, ["convert", "Containerfile", "-t", "x"]).ok().stdout;
    let dashed = bx(&ctx, ["convert", "Containerfile", "-t", "x", "-o", "-"]).ok().stdout;
    assert!(!printed.is_empty() && printed == dashed);
    assert!(!ctx.join("-").exists(), "convert -o - wrote a file named -");
}

#[test]
fn convert_never_replaces_what_the_input_reads() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "COPY conf /etc/conf\n");
    fx.write("ctx/conf/a", b"a");
    let kernel_bytes = kernel();
    let run = bx(&ctx, ["convert", "Containerfile", "-t", "x", "-o", "kernel", "--force"]);
    run.fails_with(&["the output kernel is Containerfile:2:6: COPY kernel", "an input"]);
    assert_eq!(fs::read(ctx.join("kernel")).expect("kernel"), kernel_bytes, "convert replaced the kernel");
    bx(&ctx, ["convert", "Containerfile", "-t", "x", "-o", "conf/args.nix", "--force"])
        .fails_with(&["would be inside Containerfile:4:6: COPY conf"]);
    assert!(!ctx.join("conf/args.nix").exists());
    let text = fs::read(ctx.join("Containerfile")).expect("text");
    bx(&ctx, ["convert", "Containerfile", "-t", "x", "-o", "Containerfile", "--force"]).fails_with(&["the input file"]);
    assert_eq!(fs::read(ctx.join("Containerfile")).expect("text"), text);
    // A base archive of COPY --from too.
    let urunit = base(&fx, "urunit:latest", "ctx/urunit.tar", &urunit_image());
    let archive = fs::read(ctx.join("urunit.tar")).expect("archive");
    let ctx = containerfile(&fx, "COPY --from=urunit:latest /urunit /urunit\n");
    bx(&ctx, ["convert", "Containerfile", "-t", "x", "--base", &urunit, "-o", "urunit.tar", "--force"])
        .fails_with(&["the output urunit.tar is", "its image"]);
    assert_eq!(fs::read(ctx.join("urunit.tar")).expect("archive"), archive);
}

#[test]
fn convert_writes_awkward_names_as_relative_strings() {
    let fx = Fx::new();
    let ctx = containerfile(&fx, "COPY [\"my kernel\", \"/mk\"]\nCOPY a@b /ab\n");
    fx.write("ctx/my kernel", b"spaced");
    fx.write("ctx/a@b", b"at");
    let img = build_checked(&ctx, "Containerfile", &["-t", "x"]);
    assert_eq!((img.file("mk"), img.file("ab")), (&b"spaced"[..], &b"at"[..]));
    let text = bx(&ctx, ["convert", "Containerfile", "-t", "x"]).ok().stdout();
    assert!(text.contains("source = \"./my kernel\";") && text.contains("source = \"./a@b\";"), "{text}");
    assert!(!text.contains(&ctx.display().to_string()), "an absolute path in:\n{text}");
    // Written elsewhere, the strings are relative to that place, and the file can move with the context.
    fs::create_dir(ctx.join("nix")).expect("mkdir");
    bx(&ctx, ["convert", "Containerfile", "-t", "x", "-o", "nix/args.nix"]).ok();
    let text = fs::read_to_string(ctx.join("nix/args.nix")).expect("args");
    assert!(text.contains("source = \"../my kernel\";"), "{text}");
    let image = bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "-"]).ok().stdout;
    fs::rename(&ctx, fx.path("moved")).expect("move");
    let moved = bx(&fx.path("moved"), ["build", "nix/args.nix", "-o", "-"]).ok().stdout;
    assert!(image == moved, "the converted args.nix builds another image once moved");
}

/// Runs bimanix with at most 1 GiB of address space and 60 s: what a
/// hostile file may cost before bimanix refuses it.
fn bx_bounded(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new("timeout")
        .args(["60", "sh", "-c", "ulimit -v 1048576 && exec \"$0\" \"$@\"", BIN])
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("cannot start timeout");
    Run { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

#[test]
fn variables_that_double_line_by_line_stop_at_the_expansion_limit() {
    let fx = Fx::new();
    let doubling: String = (0..40).map(|_| "ENV A=$A$A\n").collect();
    let ctx = containerfile(&fx, &format!("ENV A=0123456789abcdef\n{doubling}CMD [\"$A\"]\n"));
    // Line 5 + k expands 32 << k bytes, so the lines up to 23 expand just
    // under 16 MiB in all, and line 24's first `$A` goes past.
    let run = bx_bounded(&ctx, &["check", "Containerfile", "-t", "x"]);
    let run = run.fails_with(&["Containerfile:24:7: ENV: variables expand to more than 16 MiB"]);
    assert_eq!(run.stderr.matches("16 MiB").count(), 1, "reported once, then reading stops:\n{}", run.stderr);
    let ctx = containerfile(&fx, "ENV A=0123456789abcdef\nENV A=$A$A\nENV B=$A$A$A\nCMD [\"$B\"]\n");
    bx(&ctx, ["check", "Containerfile", "-t", "x"]).ok();
    let nested = format!("ENV A={}x{}\n", "${A:-".repeat(21_000), "}".repeat(21_000));
    let ctx = containerfile(&fx, &nested);
    bx_bounded(&ctx, &["check", "Containerfile", "-t", "x"])
        .fails_with(&["Containerfile:4:", "ENV: variable expansions nest more than 100 deep"]);
}

#[test]
fn bunnyfile_aliases_of_aliases_stop_at_the_copy_limit() {
    let fx = Fx::new();
    let mut text = String::from(
        "version: v0.1\nplatforms:\n  framework: unikraft\n  monitor: qemu\n  architecture: x86\n\
         kernel:\n  from: local\n  path: kernel\nrootfs:\n  from: scratch\n\
         a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..12 {
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 9].join(", ")));
    }
    let ctx = bunnyfile(&fx, &text);
    fx.write("ctx/kernel", &kernel());
    let run = bx_bounded(&ctx, &["check", "bunnyfile", "-t", "x"]);
    run.fails_with(&["bunnyfile:15:", "anchors and aliases copy more than 100000 values"]);
}

#[test]
fn a_hundred_thousand_env_lines_are_read_in_linear_time() {
    let fx = Fx::new();
    let lines: String = (0..100_000).map(|i| format!("ENV V{i}=x\n")).collect();
    let ctx = containerfile(&fx, &format!("{lines}ENV V7=again\n"));
    let out = bx_bounded(&ctx, &["convert", "Containerfile", "-t", "x", "-o", "-"]).ok().stdout();
    assert_eq!(out.matches("\"V7=again\"").count(), 1, "a variable set again keeps its place");
    assert!(out.find("\"V7=again\"") < out.find("\"V8=x\""), "in its first place");
}

#[test]
fn copy_wildcards_do_not_descend_through_links_to_directories() {
    let fx = Fx::new();
    // Seven levels through ten links to `.` were 11^7 candidates (hours, tens of GB).
    let ctx = containerfile(&fx, "COPY */*/*/*/*/*/*/kernel /d/\nCOPY s*/*/kernel /e/\nCOPY l*/sub/deep/kernel /f/\n");
    for i in 0..10 {
        std::os::unix::fs::symlink(".", ctx.join(format!("l{i}"))).expect("link");
    }
    fx.write("ctx/sub/deep/kernel", b"deep\n");
    let run = bx_bounded(&ctx, &["check", "Containerfile", "-t", "x"]);
    let run = run.fails_with(&[
        "Containerfile:4:6: COPY: */*/*/*/*/*/*/kernel: no file in the build context matches",
        "Containerfile:6:6: COPY: l*/sub/deep/kernel: no file in the build context matches",
    ]);
    assert!(!run.stderr.contains(":5:"), "{}", run.stderr);
    // Through real directories, and through links before the first wildcard, wildcards match.
    fx.write(
        "ctx/Containerfile",
        b"FROM scratch\nCOPY kernel /boot/kernel\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/boot/kernel\nCOPY s*/*/kernel /e/\nCOPY l3/sub/d*/kernel /f/\n",
    );
    let img = build_checked(&ctx, "Containerfile", &["-t", "x"]);
    assert_eq!(img.file("e/kernel"), b"deep\n");
    assert_eq!(img.file("f/kernel"), b"deep\n");
}

#[test]
fn copy_wildcards_match_names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fx::new();
    let ctx = containerfile(&fx, "COPY n* /n\n");
    let name = std::ffi::OsStr::from_bytes(b"n\xffb");
    fs::write(ctx.join(name), b"not utf-8\n").expect("write");
    // Not build_checked: an args file is text and cannot name this source.
    let img = read_image(&bx(&ctx, ["build", "Containerfile", "-t", "x", "-o", "-"]).ok().stdout);
    assert_eq!(img.file("n"), b"not utf-8\n");
    // convert refuses it rather than spell another file's name.
    bx(&ctx, ["convert", "Containerfile", "-t", "x", "-o", "-"])
        .fails_with(&["is not UTF-8, which an args file cannot spell"]);
    // Into a directory, the name would have to be written as text.
    fx.write(
        "ctx/Containerfile",
        b"FROM scratch\nCOPY kernel /boot/kernel\nLABEL com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/boot/kernel\nCOPY n* /d/\n",
    );
    bx(&ctx, ["check", "Containerfile", "-t", "x"])
        .fails_with(&["Containerfile:4:6: COPY: n* matches", "whose name is not UTF-8"]);
}

#[test]
fn a_multi_platform_from_names_the_field_that_picks_one_and_nothing_more() {
    let fx = Fx::new();
    let ctx = two_platform_base(&fx);
    let text = |arch: &str| {
        format!(
            "version: v0.1\nplatforms:\n  framework: unikraft\n  monitor: qemu\n{arch}kernel:\n  from: base:1\n  path: /kernel\n"
        )
    };
    let base = format!("base:1={}", ctx.join("base.tar").display());
    fx.write("ctx/bunnyfile", text("").as_bytes());
    let run = bx(&ctx, ["check", "bunnyfile", "-t", "x", "--base", &base]).fails_with(&[
        "bunnyfile:6:9: kernel.from: cannot read image",
        "the archive holds several images",
        "pick one with platforms.architecture",
    ]);
    // The kernel is in each image: no false follow-on error about the path.
    assert!(!run.stderr.contains("kernel.path"), "{}", run.stderr);
    assert_eq!(run.stderr.matches("bimanix: error: ").count(), 1, "{}", run.stderr);
    fx.write("ctx/bunnyfile", text("  architecture: aarch64\n").as_bytes());
    let img = build_checked(&ctx, "bunnyfile", &["-t", "x", "--base", &base]);
    assert_eq!(img.config["architecture"], json!("arm64"));
    // An args file's fromImage says the same with its own field.
    let args = "{ name = \"x\"; fromImage = ./base.tar; annotations = { unikernelType = \"unikraft\"; hypervisor = \"qemu\"; binary = \"/kernel\"; }; }\n";
    fx.write("ctx/a.nix", args.as_bytes());
    let run = bx(&ctx, ["check", "a.nix"]).fails_with(&["a.nix:1:15: fromImage:", "pick one with `architecture`"]);
    assert_eq!(run.stderr.matches("bimanix: error: ").count(), 1, "{}", run.stderr);
}
