//! Integration tests: run the built `bimanix` binary on inputs made in
//! temporary directories and read back what it wrote.
//!
//! Archives are parsed independently of the crate (with the `tar` crate and
//! `serde_json`): every blob's sha256, the layer's diff_id and the links
//! between index, manifest, config and `manifest.json` are checked, so a
//! test passes only when the archive really says what was asked for.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
const GZIP_LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD_LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const CREATED: &str = "org.opencontainers.image.created";
const PREFIX: &str = "com.urunc.unikernel.";

// ---------------------------------------------------------------------------
// Running the binary

/// What a run of the binary gave.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &Run {
        assert_eq!(self.code, Some(0), "bimanix failed:\n{}", self.stderr);
        self
    }
}

/// A command line for the binary, run in a chosen directory with a clean
/// environment as far as bimanix is concerned.
struct Bx {
    cwd: PathBuf,
    args: Vec<OsString>,
    env: Vec<(String, String)>,
    umask: Option<u32>,
    stdin: Option<PathBuf>,
}

fn bx(cwd: &Path) -> Bx {
    Bx { cwd: cwd.to_path_buf(), args: Vec::new(), env: Vec::new(), umask: None, stdin: None }
}

impl Bx {
    fn arg(mut self, a: impl Into<OsString>) -> Bx {
        self.args.push(a.into());
        self
    }

    fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, items: I) -> Bx {
        self.args.extend(items.into_iter().map(Into::into));
        self
    }

    fn env(mut self, k: &str, v: &str) -> Bx {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    fn umask(mut self, m: u32) -> Bx {
        self.umask = Some(m);
        self
    }

    /// Standard input redirected from `path` (else /dev/null).
    fn stdin(mut self, path: &Path) -> Bx {
        self.stdin = Some(path.to_path_buf());
        self
    }

    fn stdin_stdio(&self) -> Stdio {
        match &self.stdin {
            Some(path) => Stdio::from(fs::File::open(path).expect("stdin file")),
            None => Stdio::null(),
        }
    }

    fn run(self) -> Run {
        let mut cmd = match self.umask {
            Some(m) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("umask {m:03o} && exec \"$0\" \"$@\"")).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(&self.args).current_dir(&self.cwd).env_remove("SOURCE_DATE_EPOCH").stdin(self.stdin_stdio());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("cannot start bimanix");
        Run { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
    }
}

// ---------------------------------------------------------------------------
// Inputs

fn kernel() -> Vec<u8> {
    fs::read(KERNEL).expect("example/hello/hello.bzImage is missing")
}

/// A minimal x86_64 ELF executable header followed by a little payload:
/// enough for architecture detection, not a real program.
fn fake_hvt_elf() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 1; // little-endian
    h[6] = 1; // ELF version
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[24..32].copy_from_slice(&0x10_0000u64.to_le_bytes()); // e_entry
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    h[58..60].copy_from_slice(&64u16.to_le_bytes()); // e_shentsize
    h.extend_from_slice(b"not really a solo5 unikernel\n");
    h
}

/// The args every test starts from: the example kernel as a Linux guest.
fn base_args() -> Value {
    json!({
        "name": "hello",
        "tag": "v1",
        "files": { "./kernel": "/boot/kernel" },
        "annotations": {
            "unikernelType": "linux",
            "hypervisor": "qemu",
            "binary": "/boot/kernel",
            "cmdline": "console=ttyS0 quiet",
        },
    })
}

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

    fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(&p).expect("mkdir");
        p
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, bytes).expect("write");
        p
    }

    /// Writes args as JSON or Nix, by the file's extension; returns the
    /// path and the text written.
    fn args(&self, rel: &str, v: &Value) -> (PathBuf, String) {
        let text = if rel.ends_with(".json") {
            serde_json::to_string_pretty(v).expect("json") + "\n"
        } else {
            to_nix(v, 0) + "\n"
        };
        (self.write(rel, text.as_bytes()), text)
    }

    /// The standard inputs: `in/kernel` and `in/args.json` from `v`.
    fn standard(&self, v: &Value) -> PathBuf {
        self.write("in/kernel", &kernel());
        self.args("in/args.json", v).0
    }
}

/// Renders JSON as a Nix attribute set, one attribute per line, so that
/// tests can tell on which line a key stands.
fn to_nix(v: &Value, indent: usize) -> String {
    let pad = "  ".repeat(indent + 1);
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => nix_string(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(|i| to_nix(i, indent)).collect();
            format!("[ {} ]", parts.join(" "))
        }
        Value::Object(map) => {
            let mut out = String::from("{\n");
            for (k, val) in map {
                let ident = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                let key = if ident { k.clone() } else { nix_string(k) };
                out.push_str(&format!("{pad}{key} = {};\n", to_nix(val, indent + 1)));
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
            out
        }
    }
}

fn nix_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Every path under `dir` (recursively), with its type and content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            let meta = fs::symlink_metadata(&p).expect("meta");
            let content = if meta.is_dir() {
                stack.push(p.clone());
                b"<dir>".to_vec()
            } else if meta.file_type().is_symlink() {
                fs::read_link(&p).expect("link").to_string_lossy().as_bytes().to_vec()
            } else if meta.is_file() {
                fs::read(&p).unwrap_or_default()
            } else {
                // Never open a FIFO: that would block.
                b"<special>".to_vec()
            };
            out.insert(p, content);
        }
    }
    out
}

/// True when this process can read a file with mode 000 (root).
fn privileged() -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("probe");
    fs::write(&p, b"x").expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o000)).expect("chmod");
    fs::read(&p).is_ok()
}

fn sh(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"));
    assert!(st.success(), "{cmd} {args:?} failed");
}

// ---------------------------------------------------------------------------
// Reading archives back

/// One tar entry as read back.
#[derive(Clone, Debug)]
struct Entry {
    path: String,
    kind: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    uname: Vec<u8>,
    gname: Vec<u8>,
    link: Option<String>,
    data: Vec<u8>,
}

fn tar_entries(bytes: &[u8]) -> Vec<Entry> {
    let mut ar = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for e in ar.entries().expect("tar") {
        let mut e = e.expect("tar entry");
        let h = e.header().clone();
        let path = e.path().expect("path").to_string_lossy().into_owned();
        let link = e.link_name().expect("link").map(|l| l.to_string_lossy().into_owned());
        let mut data = Vec::new();
        e.read_to_end(&mut data).expect("tar data");
        out.push(Entry {
            path,
            kind: h.entry_type().as_byte(),
            mode: h.mode().expect("mode"),
            uid: h.uid().expect("uid"),
            gid: h.gid().expect("gid"),
            mtime: h.mtime().expect("mtime"),
            uname: h.username_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
            gname: h.groupname_bytes().map(<[u8]>::to_vec).unwrap_or_default(),
            link,
            data,
        });
    }
    out
}

/// The entry types as they stand in the file, extension headers included.
fn raw_kinds(bytes: &[u8]) -> Vec<u8> {
    let mut ar = tar::Archive::new(bytes);
    ar.entries().expect("tar").raw(true).map(|e| e.expect("tar entry").header().entry_type().as_byte()).collect()
}

/// Checks what every archive of ours must be: no PAX headers, root-owned,
/// no user or group names, one mtime, each path once, modes from the
/// executable bit (unless `explicit` modes were asked for).
fn assert_hygienic(bytes: &[u8], mtime: u64, explicit: &[(&str, u32)]) {
    for k in raw_kinds(bytes) {
        assert!(matches!(k, b'0' | b'5' | b'2' | b'L' | b'K'), "unexpected tar entry type {:?}", k as char);
    }
    let mut seen = BTreeSet::new();
    for e in tar_entries(bytes) {
        assert!(seen.insert(e.path.clone()), "{} appears twice", e.path);
        assert_eq!((e.uid, e.gid), (0, 0), "{} is not owned by root", e.path);
        assert!(
            e.uname.iter().all(|&b| b == 0) && e.gname.iter().all(|&b| b == 0),
            "{} has a user or group name",
            e.path
        );
        assert_eq!(e.mtime, mtime, "{} has the wrong mtime", e.path);
        let want = explicit.iter().find(|(p, _)| *p == e.path.trim_end_matches('/')).map(|(_, m)| *m);
        match (e.kind, want) {
            (_, Some(m)) => assert_eq!(e.mode, m, "{}", e.path),
            (b'5', None) => assert_eq!(e.mode, 0o755, "directory {}", e.path),
            (b'0', None) => assert!(e.mode == 0o644 || e.mode == 0o755, "{} has mode {:o}", e.path, e.mode),
            _ => {}
        }
    }
}

/// One layer read back: the blob as stored, its tar and the tar's entries.
#[derive(Debug)]
struct Layer {
    media_type: String,
    blob: Vec<u8>,
    tar: Vec<u8>,
    entries: Vec<Entry>,
}

impl Layer {
    fn paths(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.path.trim_end_matches('/').to_string()).collect()
    }

    /// The regular files and symlinks, without their parent directories.
    fn leaves(&self) -> Vec<String> {
        self.entries.iter().filter(|e| e.kind != b'5').map(|e| e.path.clone()).collect()
    }

    fn digest(&self) -> String {
        format!("sha256:{}", sha256_hex(&self.blob))
    }
}

/// An image read back and checked for internal consistency.
#[derive(Debug)]
struct Image {
    files: BTreeMap<String, Vec<u8>>,
    index: Value,
    manifest: Value,
    manifest_digest: String,
    config: Value,
    layers: Vec<Layer>,
    docker_manifest: Option<Value>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn parse(bytes: &[u8], what: &str) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

/// Looks up the blob a descriptor names and checks its digest and size.
fn blob<'a>(files: &'a BTreeMap<String, Vec<u8>>, desc: &Value, media_type: &str) -> &'a Vec<u8> {
    assert_eq!(desc["mediaType"], media_type, "descriptor {desc}");
    let digest = desc["digest"].as_str().expect("digest");
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    let bytes = files.get(&format!("blobs/sha256/{hex}")).unwrap_or_else(|| panic!("blob {digest} is missing"));
    assert_eq!(desc["size"].as_u64(), Some(bytes.len() as u64), "size of {digest}");
    bytes
}

/// A layer blob decompressed as its media type says (with decoders of
/// flate2 and ruzstd, not bimanix's own), checking the magic agrees.
fn decompress(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut tar = Vec::new();
    match media_type {
        LAYER_TYPE => tar.extend_from_slice(blob),
        GZIP_LAYER_TYPE => {
            assert_eq!(&blob[..2], [0x1f, 0x8b], "a gzip layer starts with gzip's magic");
            flate2::read::GzDecoder::new(blob).read_to_end(&mut tar).expect("gzip layer");
        }
        ZSTD_LAYER_TYPE => {
            assert_eq!(&blob[..4], [0x28, 0xb5, 0x2f, 0xfd], "a zstd layer starts with zstd's magic");
            ruzstd::decoding::StreamingDecoder::new(blob).expect("zstd").read_to_end(&mut tar).expect("zstd layer");
        }
        other => panic!("unexpected layer media type {other}"),
    }
    tar
}

impl Image {
    /// Reads a tar archive (docker-archive or oci-archive).
    fn from_tar(bytes: &[u8]) -> Image {
        let mut files = BTreeMap::new();
        for e in tar_entries(bytes) {
            if e.kind == b'0' {
                files.insert(e.path, e.data);
            } else {
                assert_eq!(e.kind, b'5', "unexpected entry {} in the archive", e.path);
            }
        }
        Image::from_files(files)
    }

    /// Reads an OCI layout directory.
    fn from_dir(dir: &Path) -> Image {
        let mut files = BTreeMap::new();
        for (p, content) in snapshot(dir) {
            if p.is_file() {
                files.insert(p.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned(), content);
            }
        }
        Image::from_files(files)
    }

    fn from_files(files: BTreeMap<String, Vec<u8>>) -> Image {
        assert_eq!(
            parse(files.get("oci-layout").expect("oci-layout"), "oci-layout"),
            json!({ "imageLayoutVersion": "1.0.0" })
        );
        let mut blobs = BTreeSet::new();
        for (path, bytes) in &files {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                assert_eq!(sha256_hex(bytes), hex, "blob {path} does not hash to its name");
                blobs.insert(hex.to_string());
            }
        }
        let index = parse(files.get("index.json").expect("index.json"), "index.json");
        assert_eq!(index["schemaVersion"], 2);
        let manifests = index["manifests"].as_array().expect("index manifests");
        assert_eq!(manifests.len(), 1, "one manifest in index.json");
        let manifest_digest = manifests[0]["digest"].as_str().expect("digest").to_string();
        let manifest = parse(blob(&files, &manifests[0], MANIFEST_TYPE), "manifest");
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], MANIFEST_TYPE);
        let config = parse(blob(&files, &manifest["config"], CONFIG_TYPE), "config");
        let descriptors = manifest["layers"].as_array().expect("layers");
        assert!(!descriptors.is_empty(), "at least one layer");
        let mut layers = Vec::new();
        for desc in descriptors {
            let media_type = desc["mediaType"].as_str().expect("layer media type").to_string();
            let blob = blob(&files, desc, &media_type).clone();
            let tar = decompress(&media_type, &blob);
            let entries = tar_entries(&tar);
            layers.push(Layer { media_type, blob, tar, entries });
        }
        let diff_ids: Vec<String> = layers.iter().map(|l| format!("sha256:{}", sha256_hex(&l.tar))).collect();
        assert_eq!(
            config["rootfs"],
            json!({ "type": "layers", "diff_ids": diff_ids }),
            "diff_ids: the uncompressed tars"
        );
        let hex = |v: &Value| v.as_str().expect("digest").trim_start_matches("sha256:").to_string();
        let mut referenced: BTreeSet<String> =
            [hex(&manifests[0]["digest"]), hex(&manifest["config"]["digest"])].into();
        referenced.extend(descriptors.iter().map(|d| hex(&d["digest"])));
        assert_eq!(blobs, referenced, "stray or missing blobs");
        let docker_manifest = files.get("manifest.json").map(|b| {
            let m = parse(b, "manifest.json");
            let entries = m.as_array().expect("manifest.json is a list");
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0]["Config"], format!("blobs/sha256/{}", hex(&manifest["config"]["digest"])));
            let names: Vec<String> =
                descriptors.iter().map(|d| format!("blobs/sha256/{}", hex(&d["digest"]))).collect();
            assert_eq!(entries[0]["Layers"], json!(names), "manifest.json lists the layer blobs in order");
            m
        });
        Image { files, index, manifest, manifest_digest, config, layers, docker_manifest }
    }

    fn labels(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.config["config"]["Labels"].clone()).unwrap_or_default()
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        serde_json::from_value(self.manifest["annotations"].clone()).expect("manifest annotations")
    }

    /// The entry at `path` as the image's filesystem shows it: from the
    /// highest layer that holds it (bimanix writes no whiteouts).
    fn entry(&self, path: &str) -> &Entry {
        self.layers
            .iter()
            .rev()
            .flat_map(|l| l.entries.iter())
            .find(|e| e.path.trim_end_matches('/') == path)
            .unwrap_or_else(|| panic!("{path} is not in any layer"))
    }

    /// Every path of the image's filesystem, sorted.
    fn paths(&self) -> Vec<String> {
        let all: BTreeSet<String> = self.layers.iter().flat_map(Layer::paths).collect();
        all.into_iter().collect()
    }

    /// The regular files and symlinks of each layer, lowest first.
    fn leaves(&self) -> Vec<Vec<String>> {
        self.layers.iter().map(Layer::leaves).collect()
    }

    /// The layer digests, lowest first.
    fn layer_digests(&self) -> Vec<String> {
        self.layers.iter().map(Layer::digest).collect()
    }

    /// `/urunc.json` decoded: full key -> plain value.
    fn urunc_json(&self) -> BTreeMap<String, String> {
        let v = parse(&self.entry("urunc.json").data, "/urunc.json");
        let obj = v.as_object().expect("/urunc.json is an object");
        obj.iter()
            .map(|(k, v)| {
                let s = v.as_str().unwrap_or_else(|| panic!("/urunc.json {k} is not a string"));
                let plain = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .unwrap_or_else(|e| panic!("/urunc.json {k}={s:?} is not base64: {e}"));
                (k.clone(), String::from_utf8(plain).expect("utf-8"))
            })
            .collect()
    }

    /// Checks every layer's tar as `assert_hygienic` does.
    fn assert_layers_hygienic(&self, mtime: u64, explicit: &[(&str, u32)]) {
        for layer in &self.layers {
            assert_hygienic(&layer.tar, mtime, explicit);
        }
    }
}

/// Builds `args` into a fresh directory and reads the image back.
fn build(fx: &Fx, args: &Path, extra: &[&str]) -> (Vec<u8>, Image) {
    let out = fx.dir("out");
    let target = out.join("image.tar");
    bx(fx.tmp.path()).arg("build").arg(args).arg("-o").arg(&target).args(extra).run().ok();
    let bytes = fs::read(&target).expect("output");
    assert_eq!(listing(&out), ["image.tar"], "something besides the output was left behind");
    let image = Image::from_tar(&bytes);
    fs::remove_file(&target).expect("rm");
    (bytes, image)
}

fn full(short: &str) -> String {
    format!("{PREFIX}{short}")
}

mod attached;
mod build;
mod commands;
mod hostile;
mod invalid;
mod layers;
mod lying;
mod outputs;
mod push;
mod repro;
mod versions;

use invalid::{Edit, positions};
use repro::{build_bytes, repro_inputs};
