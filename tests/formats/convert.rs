//! convert: where it writes, what it never replaces, awkward names.

use super::*;

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
