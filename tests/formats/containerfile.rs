//! Containerfile instructions: labels, COPY/ADD, CMD/ENTRYPOINT, ENV/ARG, bases, errors at their line.

use super::*;

/// A context with a kernel and a Containerfile made of the standard
/// header and `body`.
pub(super) fn containerfile(fx: &Fx, body: &str) -> PathBuf {
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
