//! The seed documents' examples: each builds, passes inspect and matches its converted args.nix.

use super::*;

/// Seed 000 (urunc's packaging guide), bima: Rumprun Redis.
pub(super) const SEED_000_BIMA: &str = r#"# the FROM instruction will not be parsed
FROM scratch
COPY test-redis.hvt /unikernel/test-redis.hvt
COPY redis.conf /conf/redis.conf
LABEL "com.urunc.unikernel.binary"=/unikernel/test-redis.hvt
LABEL "com.urunc.unikernel.cmdline"='redis-server /data/conf/redis.conf'
LABEL "com.urunc.unikernel.unikernelType"="rumprun"
LABEL "com.urunc.unikernel.hypervisor"="hvt"
"#;

pub(super) fn redis_rumprun(fx: &Fx) {
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
pub(super) fn redis_alpine() -> Vec<u8> {
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

pub(super) fn base(fx: &Fx, reference: &str, file: &str, bytes: &[u8]) -> String {
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

pub(super) fn urunit_image() -> Vec<u8> {
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
