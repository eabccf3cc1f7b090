//! FROM --platform, positions, small Containerfile rules.

use super::*;

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
pub(super) fn two_platform_base(fx: &Fx) -> PathBuf {
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
