//! Formats and output names: docker-archive, oci-archive, oci layouts, default names and
//! replacement rules.

use super::*;

#[test]
fn oci_archive_is_the_same_image_without_manifest_json() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let (_, docker) = build(&fx, &args, &[]);
    let (bytes, oci) = build(&fx, &args, &["--format", "oci-archive"]);
    assert!(oci.docker_manifest.is_none(), "oci-archive must not hold manifest.json");
    assert_eq!(oci.manifest_digest, docker.manifest_digest);
    assert_eq!(oci.index, docker.index);
    assert_hygienic(&bytes, 0, &[]);
}

#[test]
fn oci_layout_writes_a_directory() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let (_, docker) = build(&fx, &args, &[]);
    let out = fx.dir("layout-out");
    bx(&out).arg("build").arg(&args).args(["--format", "oci-layout", "-o", "img"]).run().ok();
    assert_eq!(listing(&out), ["img"], "only the layout directory is left");
    let layout = Image::from_dir(&out.join("img"));
    assert!(layout.docker_manifest.is_none());
    assert_eq!(layout.manifest_digest, docker.manifest_digest);
    assert_eq!(layout.layer_digests(), docker.layer_digests());
    // Building again replaces the layout with the same content.
    bx(&out).arg("build").arg(&args).args(["--format", "oci-layout", "-o", "img"]).run().ok();
    assert_eq!(Image::from_dir(&out.join("img")).files, layout.files);
    assert_eq!(listing(&out), ["img"]);
}

#[test]
fn oci_layout_refuses_to_replace_a_directory_that_is_not_a_layout() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.dir("out");
    fx.write("out/img/precious", b"keep me");
    let run = bx(&out).arg("build").arg(&args).args(["--format", "oci-layout", "-o", "img"]).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert_eq!(fs::read(out.join("img/precious")).expect("kept"), b"keep me");
    assert_eq!(listing(&out), ["img"]);
}

#[test]
fn oci_layout_cannot_go_to_stdout() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let cwd = fx.dir("cwd");
    let run = bx(&cwd).arg("build").arg(&args).args(["--format", "oci-layout", "-o", "-"]).run();
    assert!(matches!(run.code, Some(1 | 2)), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(listing(&cwd).is_empty());
}

#[test]
fn default_output_is_name_tag_tar_in_the_working_directory() {
    let fx = Fx::new();
    let mut v = base_args();
    v["name"] = json!("registry.example.org/team/hello");
    v["tag"] = json!("2.0");
    let args = fx.standard(&v);
    let cwd = fx.dir("cwd");
    bx(&cwd).arg("build").arg(&args).run().ok();
    assert_eq!(listing(&cwd), ["registry.example.org-team-hello-2.0.tar"]);
    assert!(!listing(&fx.path("in")).iter().any(|n| n.ends_with(".tar")), "the output went next to the args file");
    let img = Image::from_tar(&fs::read(cwd.join("registry.example.org-team-hello-2.0.tar")).expect("output"));
    assert_eq!(
        img.docker_manifest.expect("manifest.json")[0]["RepoTags"],
        json!(["registry.example.org/team/hello:2.0"])
    );
    assert_eq!(
        img.index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "registry.example.org/team/hello:2.0"
    );
}

#[test]
fn default_args_file_is_args_nix_in_the_working_directory() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    fx.args("in/args.nix", &base_args());
    let cwd = fx.path("in");
    bx(&cwd).arg("build").run().ok();
    assert!(listing(&cwd).contains(&"hello-v1.tar".to_string()), "{:?}", listing(&cwd));
    bx(&cwd).arg("check").run().ok();
}

#[test]
fn the_tag_defaults_to_latest() {
    let fx = Fx::new();
    let mut v = base_args();
    v.as_object_mut().expect("object").remove("tag");
    let args = fx.standard(&v);
    let cwd = fx.dir("cwd");
    bx(&cwd).arg("build").arg(&args).run().ok();
    assert_eq!(listing(&cwd), ["hello-latest.tar"]);
}

#[test]
fn an_existing_output_is_replaced() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.write("out/image.tar", b"old content");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    Image::from_tar(&fs::read(&out).expect("output"));
    assert_eq!(listing(&fx.path("out")), ["image.tar"]);
}

/// The output is readable by others, like what `cp`, `tar` or `docker save
/// -o` write (a temporary file alone would be 0600).
#[test]
fn the_output_file_gets_the_usual_mode() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).umask(0o022).run().ok();
    let mode = fs::metadata(&out).expect("output").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "output mode is {mode:o}");
}

#[test]
fn an_output_directory_that_does_not_exist_is_an_error() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let run = bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("missing/dir/image.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("missing/dir"), "{}", run.stderr);
    assert!(!fx.path("missing").exists());
}

#[test]
fn args_from_env_reads_the_json_file_named_by_the_variable() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let direct = build_bytes(bx(fx.tmp.path()), &args);
    let renamed = fx.path("in/attrs-passed-as-file");
    fs::rename(&args, &renamed).expect("rename");
    let out = fx.path("env.tar");
    bx(Path::new("/"))
        .args(["build", "--args-from-env", "argsJSONPath", "-o"])
        .arg(&out)
        .env("argsJSONPath", renamed.to_str().expect("utf-8"))
        .run()
        .ok();
    assert_eq!(fs::read(&out).expect("output"), direct, "a JSON file without .json, read via the variable");
    let run = bx(fx.tmp.path()).args(["build", "--args-from-env", "NOT_SET_ANYWHERE_BIMANIX"]).run();
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("NOT_SET_ANYWHERE_BIMANIX"), "{}", run.stderr);
}
