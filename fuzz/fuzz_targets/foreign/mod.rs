//! What the `containerfile` and `bunnyfile` targets share: a small build
//! context made once, and the path a read spec takes through `check` and
//! `convert`, with the round trip through the args reader asserted.
//! `src/commands/regressions.rs` replays the saved inputs the same way.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bimanix::input::foreign::{Options, Read};
use bimanix::model::spec::Spec;

/// A reader of other tools' files: `containerfile::read_text` or
/// `bunnyfile::read_text`.
pub type Reader = fn(&str, &str, &Path, &Options) -> anyhow::Result<Read>;

/// The build context every input is read in, and the options it is read
/// with (`--base base=<context>/base.tar`, `--build-arg A=1`).
pub fn context() -> &'static (PathBuf, Options) {
    static CONTEXT: OnceLock<(PathBuf, Options)> = OnceLock::new();
    CONTEXT.get_or_init(|| {
        let dir = shared_context().join("ctx");
        let opts = Options {
            tag: None,
            bases: vec![("base".to_string(), dir.join("base.tar"))],
            build_args: vec![("A".to_string(), Some("1".to_string()))],
        };
        (dir, opts)
    })
}

/// The directory holding the context: one per version of it in TMPDIR,
/// made once (in a temporary directory renamed into place, so that
/// processes starting together agree) and reused by every later run
/// rather than left behind by each.
fn shared_context() -> PathBuf {
    let shared = std::env::temp_dir().join("bimanix-fuzz-context-1");
    if shared.is_dir() {
        return shared;
    }
    let new = tempfile::tempdir().expect("a temporary directory");
    let dir = new.path().join("ctx");
    std::fs::create_dir_all(dir.join("d")).expect("mkdir");
    std::fs::write(dir.join("k"), elf()).expect("k");
    std::fs::write(dir.join("d/f"), b"f\n").expect("d/f");
    std::os::unix::fs::symlink("k", dir.join("l")).expect("l");
    std::os::unix::fs::symlink("..", dir.join("up")).expect("up");
    std::fs::write(dir.join("base.tar"), base_archive()).expect("base.tar");
    // Another process may have won the race; its context is the same.
    if std::fs::rename(new.path(), &shared).is_err() {
        assert!(shared.is_dir(), "cannot make {}", shared.display());
    }
    shared
}

/// Reads `text` with `read`; when that succeeds, writes the spec as
/// args.nix (`convert`), asserts the args reader reads back the same spec,
/// and checks it as `check` does. The error is the reader's or `check`'s.
pub fn run(read: Reader, shown: &str, text: &str) -> anyhow::Result<()> {
    let (dir, opts) = context();
    let read = read(text, shown, dir, opts)?;
    if let Ok(nix) = bimanix::input::nixwrite::write(&read.spec, dir, &[]) {
        let back = bimanix::input::nixeval::eval_str(&nix, "args.nix", dir)
            .and_then(|value| bimanix::input::args::to_spec(&value, "args.nix".to_string(), dir))
            .unwrap_or_else(|e| panic!("the converted args.nix does not read back: {e:#}\n{nix}"));
        assert_eq!(comparable(back), comparable(read.spec.clone()), "convert changed the spec:\n{nix}");
    }
    check(read.spec)
}

/// What `bimanix check` does with a spec: extract files out of images,
/// validate, plan and write the image to nowhere.
fn check(mut spec: Spec) -> anyhow::Result<()> {
    let _extracted = bimanix::input::image_files::extract(&mut spec)?;
    let targets = match &spec.urunc {
        Some(text) => bimanix::rules::versions::Targets::parse(text).map_err(anyhow::Error::msg)?,
        None => Default::default(),
    };
    let opts = bimanix::rules::validate::Options {
        urunc: bimanix::rules::compat::Options { targets, pair_check: true },
        source_date_epoch: None,
    };
    let checked = bimanix::rules::validate::validate(spec, &opts)?;
    let plan = bimanix::image::plan::plan(checked)?;
    let format = bimanix::image::archive::Format::DockerArchive;
    bimanix::image::rootfs::write(plan, format, &bimanix::image::output::Output::Discard)?;
    Ok(())
}

/// The spec without what only says where things stood.
fn comparable(mut spec: Spec) -> Spec {
    spec.locations = Default::default();
    for f in spec.files.iter_mut().chain(spec.rootfs.iter_mut().flat_map(|r| r.files.iter_mut())) {
        f.key = String::new();
    }
    spec
}

/// An x86_64 ELF header and a payload.
fn elf() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[16..18].copy_from_slice(&2u16.to_le_bytes());
    h[18..20].copy_from_slice(&62u16.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(b"kernel\n");
    h
}

/// A docker-archive `base:latest` with a kernel, a program, a link and a
/// file in a directory.
fn base_archive() -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    for (path, data, mode) in [("boot/k", elf(), 0o644), ("bin/x", elf(), 0o755), ("etc/c", b"c\n".to_vec(), 0o644)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        layer.append_data(&mut h, path, data.as_slice()).expect("layer");
    }
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_size(0);
    layer.append_link(&mut h, "bin/y", "x").expect("layer");
    let layer = layer.into_inner().expect("layer");
    let diff = bimanix::model::oci::sha256_digest(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/bin"],"Entrypoint":["/bin/x"]}},"rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#
    );
    let manifest = r#"[{"Config":"config.json","RepoTags":["base:latest"],"Layers":["layer.tar"]}]"#;
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in
        [("config.json", config.as_bytes()), ("manifest.json", manifest.as_bytes()), ("layer.tar", &layer)]
    {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        out.append_data(&mut h, name, data).expect("archive");
    }
    let mut bytes = out.into_inner().expect("archive");
    bytes.flush().expect("flush");
    bytes
}
