//! Integration tests for the other tools' formats: Containerfiles (bima,
//! pun, bunny, Docker's engine-free subset) and bunnyfiles. They run the
//! built binary on files made in temporary directories, with stand-in
//! kernels and base image archives the tests write themselves, and read
//! back what it wrote with the `tar` crate and `serde_json`, independently
//! of the crate.
//!
//! Every example of the seed documents is here (the bunnyfiles re-indented:
//! the seed text lost its leading blanks), and each one that builds must
//! pass `bimanix inspect` and give the same bytes as the args.nix that
//! `bimanix convert` writes for it.
//!
//! This file holds what every topic shares (running the binary, inputs,
//! reading archives back, the three checks); each topic is a module.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const PREFIX: &str = "com.urunc.unikernel.";

// ---------------------------------------------------------------------------
// Running the binary

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "bimanix failed:\n{}", self.stderr);
        self
    }

    /// Fails with exit 1 and an error that holds every one of `texts`.
    #[track_caller]
    fn fails_with(self, texts: &[&str]) -> Run {
        assert_eq!(self.code, Some(1), "expected exit 1, got {:?}:\n{}", self.code, self.stderr);
        for t in texts {
            assert!(self.stderr.contains(t), "error lacks {t:?}:\n{}", self.stderr);
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// Fails as a usage error (exit 2) that holds every one of `texts`.
    #[track_caller]
    fn misused(self, texts: &[&str]) -> Run {
        assert_eq!(self.code, Some(2), "expected exit 2, got {:?}:\n{}", self.code, self.stderr);
        for t in texts {
            assert!(self.stderr.contains(t), "error lacks {t:?}:\n{}", self.stderr);
        }
        self
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs bimanix in `cwd` with `args`.
fn bx<S: Into<OsString>>(cwd: &Path, args: impl IntoIterator<Item = S>) -> Run {
    let out = Command::new(BIN)
        .args(args.into_iter().map(Into::into))
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .expect("cannot start bimanix");
    Run { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

// ---------------------------------------------------------------------------
// Inputs

/// A temporary directory holding inputs and outputs.
struct Fx {
    tmp: TempDir,
}

impl Fx {
    fn new() -> Fx {
        Fx { tmp: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, bytes).expect("write");
        p
    }

    fn exec(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.write(rel, bytes);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }
}

/// An x86_64 ELF header and a payload: enough for architecture detection.
fn elf(payload: &str) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2;
    h[5] = 1;
    h[6] = 1;
    h[16..18].copy_from_slice(&2u16.to_le_bytes());
    h[18..20].copy_from_slice(&62u16.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[52..54].copy_from_slice(&64u16.to_le_bytes());
    h.extend_from_slice(payload.as_bytes());
    h
}

fn kernel() -> Vec<u8> {
    fs::read(KERNEL).expect("example/hello/hello.bzImage")
}

/// An entry of a stand-in base image.
enum E<'a> {
    File(&'a str, &'a [u8], u32),
    Link(&'a str, &'a str),
}

/// A docker-archive (as `docker save` wrote before Docker 25) with one
/// layer holding `entries` and `config` as the image's `config` object.
fn base_archive(tag: &str, entries: &[E], config: Value) -> Vec<u8> {
    let mut layer = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        match e {
            E::File(path, data, mode) => {
                h.set_size(data.len() as u64);
                h.set_mode(*mode);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                layer.append_data(&mut h, path, *data).expect("layer");
            }
            E::Link(path, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                layer.append_link(&mut h, path, target).expect("link");
            }
        }
    }
    let layer = layer.into_inner().expect("layer");
    let diff_id = format!("sha256:{}", hex(&Sha256::digest(&layer)));
    let cfg = json!({
        "architecture": "amd64", "os": "linux", "config": config,
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    let manifest = json!([{ "Config": "config.json", "RepoTags": [tag], "Layers": ["layer.tar"] }]);
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("config.json", serde_json::to_vec(&cfg).expect("json")),
        ("layer.tar", layer),
        ("manifest.json", serde_json::to_vec(&manifest).expect("json")),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        out.append_data(&mut h, name, data.as_slice()).expect("archive");
    }
    out.into_inner().expect("archive")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A newc cpio holding only its trailer: a stand-in initrd.
fn cpio_trailer() -> Vec<u8> {
    let name = "TRAILER!!!\0";
    let mut out = format!("070701{}", "00000000".repeat(11));
    out.push_str(&format!("{:08X}{:08X}", name.len(), 0));
    out.push_str(name);
    let mut b = out.into_bytes();
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

// ---------------------------------------------------------------------------
// Reading what was written

/// An image read back from a docker-archive: its config and the files of
/// all its layers, merged.
struct Img {
    repo_tags: Value,
    config: Value,
    files: BTreeMap<String, (Vec<u8>, u32)>,
    links: BTreeMap<String, String>,
    layers: usize,
}

fn read_image(bytes: &[u8]) -> Img {
    let mut blobs = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().expect("archive") {
        let mut e = e.expect("entry");
        let name = e.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("read");
        blobs.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&blobs["manifest.json"]).expect("manifest.json");
    let config: Value =
        serde_json::from_slice(&blobs[manifest[0]["Config"].as_str().expect("Config")]).expect("config");
    let mut files = BTreeMap::new();
    let mut links = BTreeMap::new();
    let layers = manifest[0]["Layers"].as_array().expect("Layers");
    for layer in layers {
        let mut ar = tar::Archive::new(blobs[layer.as_str().expect("layer")].as_slice());
        for e in ar.entries().expect("layer") {
            let mut e = e.expect("entry");
            let path = e.path().expect("path").to_string_lossy().trim_end_matches('/').to_string();
            match e.header().entry_type() {
                tar::EntryType::Regular => {
                    let mode = e.header().mode().expect("mode");
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).expect("read");
                    files.insert(path, (data, mode));
                }
                tar::EntryType::Symlink => {
                    links.insert(path, e.link_name().expect("link").expect("target").to_string_lossy().into_owned());
                }
                _ => {}
            }
        }
    }
    Img { repo_tags: manifest[0]["RepoTags"].clone(), config, files, links, layers: layers.len() }
}

impl Img {
    /// The urunc labels, short keys.
    fn urunc(&self) -> BTreeMap<String, String> {
        let labels = self.config["config"]["Labels"].as_object().cloned().unwrap_or_default();
        labels
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v.as_str()?.to_string())))
            .collect()
    }

    fn label(&self, key: &str) -> Option<String> {
        self.config["config"]["Labels"][key].as_str().map(str::to_string)
    }

    fn file(&self, path: &str) -> &[u8] {
        &self.files.get(path).unwrap_or_else(|| panic!("no /{path} in {:?}", self.files.keys())).0
    }

    fn mode(&self, path: &str) -> u32 {
        self.files[path].1
    }
}

fn urunc(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---------------------------------------------------------------------------
// The three checks every example gets

/// Builds `file` in `dir` with `flags`, checks that `inspect` passes and that
/// the converted args.nix builds to the same bytes; returns the image.
#[track_caller]
fn build_checked(dir: &Path, file: &str, flags: &[&str]) -> Img {
    let out = dir.join("out.tar");
    let mut args = vec!["build", file, "-o", out.to_str().expect("utf-8")];
    args.extend(flags);
    bx(dir, &args).ok();
    let bytes = fs::read(&out).expect("output");
    let pair: Vec<&str> = flags.iter().copied().filter(|f| *f == "--no-pair-check").collect();
    let mut inspect = vec!["inspect", out.to_str().expect("utf-8")];
    inspect.extend(&pair);
    let run = bx(dir, &inspect);
    assert_eq!(run.code, Some(0), "inspect rejects {file}:\n{}{}", run.stdout(), run.stderr);
    same_as_converted(dir, file, flags, &bytes);
    read_image(&bytes)
}

/// `convert` writes an args.nix that builds to `bytes`.
#[track_caller]
fn same_as_converted(dir: &Path, file: &str, flags: &[&str], bytes: &[u8]) {
    let conv = dir.join("converted.nix");
    let _ = fs::remove_file(&conv);
    let convert_flags: Vec<&str> = flags.iter().copied().filter(|f| *f != "--no-pair-check").collect();
    let mut args = vec!["convert", file, "-o", conv.to_str().expect("utf-8")];
    args.extend(&convert_flags);
    bx(dir, &args).ok();
    let out = dir.join("converted.tar");
    let mut args = vec!["build", conv.to_str().expect("utf-8"), "-o", out.to_str().expect("utf-8")];
    args.extend(flags.iter().filter(|f| **f == "--no-pair-check"));
    bx(dir, &args).ok();
    let text = fs::read_to_string(&conv).expect("converted");
    assert!(fs::read(&out).expect("converted image") == bytes, "the converted args.nix builds another image:\n{text}");
}

mod seeds;
mod containerfile;
mod bunnyfile;
mod commands;
mod context;
mod platforms;
mod convert;

use containerfile::containerfile;
use seeds::{SEED_000_BIMA, redis_rumprun, redis_alpine, base, urunit_image};
use bunnyfile::bunnyfile;
use platforms::two_platform_base;
