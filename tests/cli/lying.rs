//! Inputs that lie about themselves (issue 16, rule 9): standard input, pseudo files, NUL bytes.

use super::*;

/// `build -` reads the args from standard input, with paths relative to
/// the current directory and the default output name there; `check -`
/// the same; the bytes are those of `build FILE`.
#[test]
fn build_dash_reads_the_input_file_from_standard_input() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let work = fx.path("in");
    bx(&work).args(["build", "args.json", "-o", "../file.tar"]).run().ok();
    bx(&work).args(["build", "-"]).stdin(&args).run().ok();
    assert_eq!(fs::read(fx.path("in/hello-v1.tar")).unwrap(), fs::read(fx.path("file.tar")).unwrap());
    // Nix from standard input, and check.
    let (nix, _) = fx.args("nix/args.nix", &base_args());
    let run = bx(&work).args(["check", "-"]).stdin(&nix).run();
    assert!(run.ok().stderr.contains("<stdin> is valid"), "{}", run.stderr);
    // A Containerfile, with -f - and a context directory.
    let cf = fx.write(
        "Containerfile",
        b"FROM scratch\nCOPY kernel /kernel\nLABEL com.urunc.unikernel.unikernelType=linux \
          com.urunc.unikernel.hypervisor=qemu com.urunc.unikernel.binary=/kernel\n",
    );
    bx(fx.tmp.path()).args(["check", "-f", "-", "in"]).stdin(&cf).run().ok();
    // Relative paths are the current directory's, not standard input's.
    let run = bx(fx.tmp.path()).args(["check", "-"]).stdin(&args).run();
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("<stdin>:") && run.stderr.contains("kernel"), "{}", run.stderr);
}

#[test]
fn standard_input_is_bounded_and_named() {
    let fx = Fx::new();
    fx.standard(&base_args());
    let big = fx.path("big");
    fs::File::create(&big).unwrap().set_len(10 << 30).unwrap();
    for (stdin, said) in [
        (big.as_path(), "standard input holds more than 4194304 bytes"),
        (Path::new("/dev/zero"), "standard input holds more than 4194304 bytes"),
        (fx.tmp.path(), "standard input is a directory"),
    ] {
        let run = bx(fx.tmp.path()).args(["build", "-"]).stdin(stdin).run_within(30);
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains(said), "{}", run.stderr);
    }
    assert!(!fx.path("hello-v1.tar").exists());
}

/// A NUL byte is named, at its line and column, in every kind of input.
#[test]
fn a_nul_byte_is_named_with_its_position() {
    let fx = Fx::new();
    for (name, text, at) in [
        ("Containerfile", &b"FROM scratch\nCOPY ker\0nel /kernel\n"[..], "Containerfile:2:9: a NUL byte"),
        ("x.bunnyfile", &b"version: v0.1\nplatforms:\0\n"[..], "x.bunnyfile:2:11: a NUL byte"),
        ("x.json", &b"{\"name\": \"x\0\"}"[..], "x.json:1:12: a NUL byte"),
        ("x.nix", &b"{ name = \"x\";\n \0 }"[..], "x.nix:2:2: a NUL byte"),
    ] {
        let path = fx.write(name, text);
        let run = bx(fx.tmp.path()).arg("check").arg(&path).run();
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains(at), "{name}: {}", run.stderr);
        let run = bx(fx.tmp.path()).args(["check", "-"]).stdin(&path).run();
        let at = at.replace(name, "<stdin>");
        assert!(run.stderr.contains(&at), "{name} on standard input: {}", run.stderr);
    }
}

/// /proc files say they are empty: refused, never packed empty.
#[test]
fn pseudo_files_are_refused_as_sources() {
    let fx = Fx::new();
    for source in ["/proc/self/status", "/proc/sys/kernel/random", "/sys/kernel/mm"] {
        let mut v = base_args();
        v["files"][source] = json!("/pseudo");
        let args = fx.standard(&v);
        let run = bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("out.tar")).run();
        assert_eq!(run.code, Some(1), "{source}: {}", run.stderr);
        assert!(run.stderr.contains("whose files do not say their true size"), "{source}: {}", run.stderr);
        assert!(!fx.path("out.tar").exists());
    }
}

/// A build context whose Containerfile is a directory says so.
#[test]
fn a_directory_where_a_file_is_needed_says_so() {
    let fx = Fx::new();
    fx.dir("ctx/Containerfile");
    let run = bx(fx.tmp.path()).args(["check", "ctx"]).run();
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("ctx/Containerfile is a directory, not a regular file"), "{}", run.stderr);
}
