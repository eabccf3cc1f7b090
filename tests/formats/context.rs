//! The build context holds every source.

use super::*;

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
