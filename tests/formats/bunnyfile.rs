//! bunnyfile fields: includes, generated initrds, kernels and rootfs kinds.

use super::*;

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

pub(super) fn bunnyfile(fx: &Fx, text: &str) -> PathBuf {
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
