//! The command line on these formats: kinds, tags, convert.

use super::*;

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
