//! Hostile and careless input (issue 8): never destroy an input, never crash, never hang.

use super::*;

impl Bx {
    /// Runs with a deadline: a run that blocks (on a FIFO, say) is killed
    /// and fails the test instead of hanging it.
    pub(crate) fn run_within(self, secs: u64) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args).current_dir(&self.cwd).env_remove("SOURCE_DATE_EPOCH").stdin(self.stdin_stdio());
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cannot start bimanix");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while child.try_wait().expect("wait").is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().expect("kill");
                panic!("bimanix {:?} still runs after {secs} s: it blocks", self.args);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("output");
        Run { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
    }
}

/// Builds with `-o out` and expects a refusal that names `what`, leaving
/// every file under the fixture as it was.
fn refused_output(fx: &Fx, cwd: &Path, args: &Path, out: Option<&Path>, extra: &[&str], what: &[&str]) {
    let before = snapshot(fx.tmp.path());
    let mut b = bx(cwd).arg("build").arg(args).args(extra);
    if let Some(out) = out {
        b = b.arg("-o").arg(out);
    }
    let run = b.run();
    assert_eq!(run.code, Some(1), "the build must refuse; stderr:\n{}", run.stderr);
    for w in what {
        assert!(run.stderr.contains(w), "the message does not name {w}:\n{}", run.stderr);
    }
    assert_eq!(snapshot(fx.tmp.path()), before, "something changed");
}

#[test]
fn an_output_that_is_or_is_inside_an_input_is_refused_before_anything_is_written() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    fx.write("in/tree/etc/conf", b"conf");
    fx.write("base/other", b"x");
    let mut v = base_args();
    v["files"]["./tree"] = json!("/tree");
    let (args, _) = fx.args("in/args.nix", &v);
    // A base image, so that it is an input too.
    let base = fx.path("base.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&base).run().ok();
    v["fromImage"] = json!("../base.tar");
    let (args, _) = fx.args("in/args.nix", &v);
    fs::hard_link(fx.path("in/kernel"), fx.path("alias")).expect("hard link");
    symlink("in/kernel", fx.path("link")).expect("symlink");
    let cwd = fx.tmp.path();
    for (out, what) in [
        ("in/args.nix", "input file"),
        ("in/kernel", "./kernel"),
        ("alias", "./kernel"),
        ("link", "./kernel"),
        ("in/tree/etc/conf", "./tree"),
        ("in/tree/new.tar", "./tree"),
        ("in/tree/etc/../x.tar", "./tree"),
        ("base.tar", "fromImage"),
    ] {
        refused_output(&fx, cwd, &args, Some(&fx.path(out)), &[], &[what, "input"]);
    }
    // The default name, from a working directory inside a copied directory.
    refused_output(&fx, &fx.path("in/tree/etc"), &args, None, &[], &["./tree", "default output name"]);
    // A layout directory that would hold an input.
    refused_output(&fx, cwd, &args, Some(&fx.path("in")), &["--format", "oci-layout"], &["in"]);
}

#[test]
fn devices_and_fifos_are_written_into_and_stay_what_they_are() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let expected = build_bytes(bx(fx.tmp.path()), &args);
    bx(fx.tmp.path()).arg("build").arg(&args).args(["-o", "/dev/null"]).run().ok();
    let null = fs::metadata("/dev/null").expect("/dev/null");
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&null.file_type()), "/dev/null is no longer a device");
    symlink("/dev/null", fx.path("to-null")).expect("symlink");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("to-null")).run().ok();
    assert!(fs::symlink_metadata(fx.path("to-null")).expect("link").file_type().is_symlink());
    // A FIFO gets the archive; a reader on the other end sees all of it.
    let fifo = fx.path("pipe");
    sh("mkfifo", &[fifo.to_str().expect("utf-8")]);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).expect("reading the FIFO"))
    };
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&fifo).run_within(60).ok();
    assert_eq!(reader.join().expect("reader"), expected);
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fs::metadata(&fifo).expect("fifo").file_type()));
    // /dev/stdout is standard output, whatever it is.
    let run = bx(fx.tmp.path()).arg("build").arg(&args).args(["-o", "/dev/stdout"]).run();
    run.ok();
    assert_eq!(run.stdout, expected);
}

#[test]
fn a_symlink_output_is_written_through() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let real = fx.write("out/real.tar", b"old");
    symlink("real.tar", fx.path("out/link.tar")).expect("symlink");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("out/link.tar")).run().ok();
    assert!(fs::symlink_metadata(fx.path("out/link.tar")).expect("link").file_type().is_symlink());
    Image::from_tar(&fs::read(&real).expect("output"));
    assert_eq!(listing(&fx.path("out")), ["link.tar", "real.tar"]);
}

#[test]
fn outputs_that_cannot_be_an_archive_are_refused_plainly() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    fx.dir("out");
    symlink("missing/x.tar", fx.path("dangling")).expect("symlink");
    for (out, what) in [
        ("out", "is a directory"),
        ("", "empty"),
        ("dangling", "does not exist"),
        ("missing/x.tar", "cannot write into the directory"),
    ] {
        let out = if out.is_empty() { PathBuf::new() } else { fx.path(out) };
        refused_output(&fx, fx.tmp.path(), &args, Some(&out), &[], &[what]);
    }
}

#[test]
fn a_layout_is_replaced_only_when_bimanix_wrote_it() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.dir("out");
    bx(&out).arg("build").arg(&args).args(["--format", "oci-layout", "-o", "img"]).run().ok();
    // A user's file in the layout: neither -o img nor -o . from inside touch it.
    fx.write("out/img/notes.txt", b"mine");
    refused_output(&fx, &out, &args, Some(Path::new("img")), &["--format", "oci-layout"], &["notes.txt"]);
    refused_output(&fx, &out.join("img"), &args, Some(Path::new(".")), &["--format", "oci-layout"], &["notes.txt"]);
    fs::remove_file(fx.path("out/img/notes.txt")).expect("rm");
    // A layout bimanix wrote is replaced, from outside or from inside.
    bx(&out.join("img")).arg("build").arg(&args).args(["--format", "oci-layout", "-o", "."]).run().ok();
    Image::from_dir(&out.join("img"));
    assert_eq!(listing(&out), ["img"]);
}

#[test]
fn any_name_a_linux_file_system_holds_goes_into_the_layer() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let fx = Fx::new();
    let mut v = base_args();
    v["files"]["./tree"] = json!("/tree");
    let args = fx.standard(&v);
    let long_cjk = "漢".repeat(85); // 255 bytes
    let split_dir = "a".repeat(99); // the ustar split then falls inside a character
    fx.write(&format!("in/tree/{long_cjk}"), b"cjk");
    fx.write(&format!("in/tree/{split_dir}/{}", "字".repeat(30)), b"split");
    symlink("t".repeat(100), fx.path("in/tree/link100")).expect("symlink");
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    fs::write(fx.path("in/tree").join(latin1), b"latin-1").expect("write");
    let (bytes, _) = build(&fx, &args, &[]);
    let image = Image::from_tar(&bytes);
    let mut found = BTreeMap::new();
    for layer in &image.layers {
        let mut ar = tar::Archive::new(&layer.tar[..]);
        for e in ar.entries().expect("layer") {
            let e = e.expect("entry");
            let link = e.link_name_bytes().map(|l| l.into_owned());
            found.insert(e.path_bytes().into_owned(), link);
        }
    }
    for name in [
        format!("tree/{long_cjk}").into_bytes(),
        format!("tree/{split_dir}/{}", "字".repeat(30)).into_bytes(),
        b"tree/caf\xe9".to_vec(),
    ] {
        assert!(found.contains_key(&name), "{} is missing", String::from_utf8_lossy(&name));
    }
    assert_eq!(found[&b"tree/link100".to_vec()], Some("t".repeat(100).into_bytes()));
    // inspect shows the name escaped.
    let out = fx.write("image.tar", &bytes);
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    run.ok();
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("/tree/caf\\xE9"),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
}

#[test]
fn whiteout_names_in_a_copied_directory_are_refused() {
    for name in [".wh.passwd", ".wh..wh..opq"] {
        let fx = Fx::new();
        let mut v = base_args();
        v["files"]["./etc"] = json!("/etc");
        let args = fx.standard(&v);
        fx.write(&format!("in/etc/{name}"), b"");
        for extra in [vec!["check"], vec!["build", "-o", "x.tar"]] {
            let run = bx(fx.tmp.path()).args(&extra).arg(&args).run();
            assert_eq!(run.code, Some(1), "{extra:?} {name}: {}", run.stderr);
            assert!(run.stderr.contains(&format!("/etc/{name}")) && run.stderr.contains("whiteout"), "{}", run.stderr);
        }
        assert!(!fx.path("x.tar").exists());
    }
}

#[test]
fn a_binary_may_live_in_a_directory_copied_to_the_root() {
    let fx = Fx::new();
    fx.write("in/root/boot/vmlinuz", &kernel());
    let mut v = base_args();
    v["files"] = json!({ "./root": "/" });
    v["annotations"]["binary"] = json!("/boot/vmlinuz");
    let (args, _) = fx.args("in/args.json", &v);
    let (_, image) = build(&fx, &args, &[]);
    assert_eq!(image.entry("boot/vmlinuz").data, kernel());
    assert_eq!(image.config["architecture"], "amd64");
}

#[test]
fn deep_or_long_nix_is_an_error_at_a_position_not_a_crash() {
    let fx = Fx::new();
    for (text, what) in [
        (format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000)), "nested"),
        (format!("{{ {} = 1; }}", vec!["a"; 60_000].join(".")), "in a row"),
        (format!("{{ {} = 1; }}", vec!["a"; 60_000].join(" . ")), "nested"),
        (format!("{{ a = {}1; }}", "- ".repeat(100_000)), "nested"),
        (format!("{{ a = f{}; }}", " x".repeat(100_000)), "nested"),
        ("\u{feff}{ }".to_string(), "byte order mark"),
        ("{ name = \"x\";\0 }".to_string(), "NUL"),
    ] {
        let args = fx.write("deep.nix", text.as_bytes());
        let run = bx(fx.tmp.path()).arg("check").arg(&args).run_within(60);
        assert_eq!(run.code, Some(1), "{what}: {}", run.stderr);
        assert!(run.stderr.contains(what), "{}", run.stderr);
        assert!(!positions(&run.stderr, "deep.nix").is_empty(), "no position: {}", run.stderr);
    }
}

#[test]
fn fifos_and_devices_as_inputs_are_refused_without_blocking() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let fifo = fx.path("fifo");
    sh("mkfifo", &[fifo.to_str().expect("utf-8")]);
    for (cmd, path) in [
        ("check", &fifo),
        ("inspect", &fifo),
        ("check", &PathBuf::from("/dev/zero")),
        ("inspect", &PathBuf::from("/dev/zero")),
    ] {
        let run = bx(fx.tmp.path()).arg(cmd).arg(path).run_within(20);
        assert_eq!(run.code, Some(1), "{cmd} {}: {}", path.display(), run.stderr);
        assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    }
    // A FIFO as a source is refused without being opened.
    let mut v = base_args();
    v["files"]["./fifo-src"] = json!("/x");
    fx.args("in/args.json", &v);
    sh("mkfifo", &[fx.path("in/fifo-src").to_str().expect("utf-8")]);
    let run = bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("x.tar")).run_within(20);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("FIFO"), "{}", run.stderr);
}

#[test]
fn json_args_are_as_strict_as_nix() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    for (text, what) in [
        ("{\n  \"name\": \"a\",\n  \"name\": \"b\"\n}\n", "given twice"),
        ("{\n  \"name\": \"a\",\n  \"rootfs\": { \"type\": \"block\", \"size\": 1.5 }\n}\n", "floating-point"),
    ] {
        let args = fx.write("in/args.json", text.as_bytes());
        let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
        assert_eq!(run.code, Some(1), "{text}");
        assert!(run.stderr.contains(what), "{}", run.stderr);
        assert!(positions(&run.stderr, "args.json").iter().any(|(l, _)| *l == 3), "{}", run.stderr);
    }
}

#[test]
fn source_date_epoch_must_be_a_time_an_image_can_carry() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    for (value, what) in [
        ("-5", "before 1970"),
        ("253402300800", "9999"),
        ("99999999999999999999", "whole number"),
        ("1e9", "whole number"),
        ("+5", "whole number"),
    ] {
        let run = bx(fx.tmp.path()).arg("check").arg(&args).env("SOURCE_DATE_EPOCH", value).run();
        assert_eq!(run.code, Some(1), "{value}: {}", run.stderr);
        assert!(run.stderr.contains("SOURCE_DATE_EPOCH") && run.stderr.contains(what), "{}", run.stderr);
    }
    let (_, image) = build(&fx, &args, &[]);
    assert_eq!(image.config["created"], "1970-01-01T00:00:00Z");
    let out = fx.path("late.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).env("SOURCE_DATE_EPOCH", "253402300799").run().ok();
    assert_eq!(Image::from_tar(&fs::read(&out).expect("output")).config["created"], "9999-12-31T23:59:59Z");
}

#[test]
fn check_refuses_what_build_refuses_when_writing() {
    let fx = Fx::new();
    fx.write("in/big", &vec![7u8; 2 << 20]);
    let mut v = base_args();
    v["rootfs"] = json!({ "type": "block", "size": "1M", "files": { "./big": "/big" } });
    let args = fx.standard(&v);
    for extra in [vec!["check"], vec!["build", "-o", "x.tar"]] {
        let run = bx(fx.tmp.path()).args(&extra).arg(&args).run();
        assert_eq!(run.code, Some(1), "{extra:?} accepted a rootfs that does not fit: {}", run.stderr);
        assert!(run.stderr.contains("too small"), "{}", run.stderr);
    }
    assert_eq!(listing(fx.tmp.path()), ["in"]);
}
