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

// ---------------------------------------------------------------------------
// What a build writes

#[test]
fn build_writes_a_consistent_docker_archive() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let (bytes, img) = build(&fx, &args, &[]);
    assert_hygienic(&bytes, 0, &[]);
    img.assert_layers_hygienic(0, &[]);
    let names: BTreeSet<&str> = img.files.keys().map(String::as_str).collect();
    assert!(
        names.contains("manifest.json") && names.contains("index.json") && names.contains("oci-layout"),
        "{names:?}"
    );
    assert_eq!(img.docker_manifest.as_ref().expect("manifest.json")[0]["RepoTags"], json!(["hello:v1"]));
    let desc = &img.index["manifests"][0];
    assert_eq!(desc["annotations"]["io.containerd.image.name"], "docker.io/library/hello:v1");
    assert_eq!(desc["annotations"]["org.opencontainers.image.ref.name"], "v1");
    assert_eq!(img.config["os"], "linux");
    assert_eq!(img.config["architecture"], "amd64", "the example kernel is an x86 bzImage");
    assert_eq!(img.paths(), ["boot", "boot/kernel", "urunc.json"]);
    assert_eq!(
        img.leaves(),
        [vec!["boot/kernel"], vec!["urunc.json"]],
        "the kernel in a layer of its own, then the rest"
    );
    assert_eq!(img.layers[0].paths(), ["boot", "boot/kernel"], "an artifact's layer holds its parent directories");
    assert_eq!(img.entry("boot/kernel").data, kernel());
    assert_eq!(img.entry("boot/kernel").mode, 0o644);
    assert_eq!(img.entry("boot").kind, b'5');
}

#[test]
fn layer_entries_are_sorted_with_each_parent_once_before_its_children() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    fx.write("in/d/z", b"z");
    fx.write("in/d/a-b", b"ab");
    fx.write("in/d/a/c", b"c");
    fx.write("in/x", b"x");
    let mut v = base_args();
    v["files"] = json!({ "./kernel": "/boot/kernel", "./d": "/opt/d", "./x": "/opt/d2/x" });
    let (path, _) = fx.args("in/args.json", &v);
    let (_, img) = build(&fx, &path, &[]);
    assert_eq!(img.layers.len(), 2, "the kernel's layer and the top layer");
    for layer in &img.layers {
        let paths = layer.paths();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "layer entries are not sorted");
        for (i, p) in paths.iter().enumerate() {
            if let Some((parent, _)) = p.rsplit_once('/') {
                let at = paths.iter().position(|q| q == parent).unwrap_or_else(|| panic!("parent of {p} is missing"));
                assert!(at < i, "{parent} comes after {p}");
            }
        }
    }
    assert_eq!(img.layers[1].paths().iter().filter(|p| *p == "opt").count(), 1);
}

#[test]
fn urunc_json_is_base64_of_the_set_annotations() {
    let fx = Fx::new();
    fx.write("in/initrd", b"070701 not a real cpio");
    let mut v = base_args();
    v["files"]["./initrd"] = json!("/boot/initrd");
    v["annotations"]["initrd"] = json!("/boot/initrd");
    v["annotations"]["cmdline"] = json!("console=ttyS0 'two words' qemu");
    v["annotations"]["unikernelVersion"] = json!("");
    v["annotations"]["mountRootfs"] = json!("false");
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    let want: BTreeMap<String, String> = [
        ("unikernelType", "linux"),
        ("hypervisor", "qemu"),
        ("binary", "/boot/kernel"),
        ("cmdline", "console=ttyS0 'two words' qemu"),
        ("initrd", "/boot/initrd"),
        ("mountRootfs", "false"),
    ]
    .iter()
    .map(|(k, v)| (full(k), v.to_string()))
    .collect();
    assert_eq!(img.urunc_json(), want, "/urunc.json must hold exactly the set keys, base64-encoded");
    let raw = parse(&img.entry("urunc.json").data, "/urunc.json");
    assert_eq!(raw[full("hypervisor")], "cWVtdQ==", "standard base64 with padding");
    assert_eq!(img.entry("urunc.json").mode, 0o644);
}

#[test]
fn labels_and_manifest_annotations_are_plain_text() {
    let fx = Fx::new();
    let mut v = base_args();
    v["labels"] = json!({ "org.opencontainers.image.source": "https://example.org/hello", "team": "unikernels" });
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    let mut urunc: BTreeMap<String, String> = BTreeMap::new();
    for (k, val) in [
        ("unikernelType", "linux"),
        ("hypervisor", "qemu"),
        ("binary", "/boot/kernel"),
        ("cmdline", "console=ttyS0 quiet"),
    ] {
        urunc.insert(full(k), val.to_string());
    }
    let mut labels = urunc.clone();
    labels.insert("org.opencontainers.image.source".into(), "https://example.org/hello".into());
    labels.insert("team".into(), "unikernels".into());
    assert_eq!(img.labels(), labels, "Labels: the urunc keys in plain text plus the given labels, nothing else");
    let mut annotations = urunc;
    annotations.insert(CREATED.into(), "1970-01-01T00:00:00Z".into());
    annotations.insert("org.opencontainers.image.source".into(), "https://example.org/hello".into());
    assert_eq!(
        img.annotations(),
        annotations,
        "manifest annotations: the urunc keys, the OCI keys among the labels and the creation time"
    );
}

#[test]
fn full_annotation_keys_give_the_same_image_as_short_ones() {
    let fx = Fx::new();
    let short = fx.standard(&base_args());
    let mut v = base_args();
    let ann = v["annotations"].as_object().expect("annotations").clone();
    v["annotations"] = Value::Object(ann.into_iter().map(|(k, val)| (full(&k), val)).collect());
    let (long, _) = fx.args("in/long.json", &v);
    assert_eq!(build(&fx, &short, &[]).0, build(&fx, &long, &[]).0);
}

#[test]
fn cmd_is_split_from_cmdline_like_a_shell() {
    let fx = Fx::new();
    let mut v = base_args();
    // A unikernel: a Linux guest would refuse the `'` (urunc issue 897).
    v["annotations"]["unikernelType"] = json!("unikraft");
    v["annotations"]["cmdline"] = json!(r#"console=ttyS0 'two words' "dq x" back\ slash "it's" 'say "hi"'"#);
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(
        img.config["config"]["Cmd"],
        json!(["console=ttyS0", "two words", "dq x", "back slash", "it's", "say \"hi\""])
    );
    assert!(img.config["config"].get("Entrypoint").is_none());
    assert_eq!(
        img.labels()[&full("cmdline")],
        v["annotations"]["cmdline"].as_str().expect("cmdline"),
        "the label keeps the line as written"
    );
}

#[test]
fn entrypoint_cmd_env_working_dir_labels_and_created_as_given() {
    let fx = Fx::new();
    let mut v = base_args();
    v["entrypoint"] = json!(["/bin/app", "--flag"]);
    v["cmd"] = json!(["a b", "c"]);
    v["env"] = json!({ "PATH": "/bin", "GREETING": "hello world" });
    v["workingDir"] = json!("/srv/app");
    v["labels"] = json!({ "x": "y" });
    v["created"] = json!("2024-01-02T03:04:05Z");
    let args = fx.standard(&v);
    let (bytes, img) = build(&fx, &args, &[]);
    let c = &img.config["config"];
    assert_eq!(c["Entrypoint"], json!(["/bin/app", "--flag"]));
    assert_eq!(c["Cmd"], json!(["a b", "c"]), "cmd wins over cmdline");
    let env: BTreeSet<&str> = c["Env"].as_array().expect("Env").iter().map(|e| e.as_str().expect("str")).collect();
    assert_eq!(env, BTreeSet::from(["PATH=/bin", "GREETING=hello world"]));
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(img.labels()["x"], "y");
    assert_eq!(img.config["created"], "2024-01-02T03:04:05Z");
    assert_eq!(img.annotations()[CREATED], "2024-01-02T03:04:05Z");
    assert_hygienic(&bytes, 1704164645, &[]);
    img.assert_layers_hygienic(1704164645, &[]);
}

#[test]
fn env_as_a_list_keeps_its_order() {
    let fx = Fx::new();
    let mut v = base_args();
    v["env"] = json!(["Z=1", "A=two words", "EMPTY="]);
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    // Docker's default PATH comes first, as Docker and BuildKit write it.
    assert_eq!(img.config["config"]["Env"], json!([DEFAULT_PATH, "Z=1", "A=two words", "EMPTY="]));
}

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[test]
fn an_env_without_path_gets_dockers_default_path() {
    let fx = Fx::new();
    let env = |v: &Value| {
        let args = fx.standard(v);
        build(&fx, &args, &[]).1.config["config"].get("Env").cloned()
    };
    let mut v = base_args();
    assert_eq!(env(&v), None, "no env: containerd adds its PATH to an empty Env");
    v["env"] = json!({ "GREETING": "hi" });
    assert_eq!(env(&v), Some(json!([DEFAULT_PATH, "GREETING=hi"])));
    v["env"] = json!({ "GREETING": "hi", "PATH": "/opt/bin" });
    assert_eq!(env(&v), Some(json!(["GREETING=hi", "PATH=/opt/bin"])), "the user's PATH wins");
}

#[test]
fn a_base_images_path_wins_over_the_default() {
    let fx = Fx::new();
    let mut base = base_args();
    base["name"] = json!("base");
    base["env"] = json!(["PATH=/base/bin", "FROM_BASE=1"]);
    let base_args_path = fx.standard(&base);
    let base_tar = fx.path("base.tar");
    bx(fx.tmp.path()).arg("build").arg(&base_args_path).arg("-o").arg(&base_tar).run().ok();
    let mut top = base_args();
    top["fromImage"] = json!(base_tar.to_str().expect("utf-8"));
    top["env"] = json!({ "OURS": "2" });
    let args = fx.args("in/top.json", &top).0;
    let out = fx.path("top.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let report = bx(fx.tmp.path()).arg("inspect").arg("--json").arg(&out).run();
    let report = parse(&report.ok().stdout, "inspect --json");
    assert_eq!(report["env"], json!(["PATH=/base/bin", "FROM_BASE=1", "OURS=2"]));
}

#[test]
fn source_date_epoch_sets_created_and_every_mtime() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.dir("out").join("x.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).env("SOURCE_DATE_EPOCH", "1700000000").run().ok();
    let bytes = fs::read(&out).expect("output");
    let img = Image::from_tar(&bytes);
    assert_eq!(img.config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(img.annotations()[CREATED], "2023-11-14T22:13:20Z");
    assert_hygienic(&bytes, 1700000000, &[]);
    img.assert_layers_hygienic(1700000000, &[]);
}

#[test]
fn created_field_wins_over_source_date_epoch() {
    let fx = Fx::new();
    let mut v = base_args();
    v["created"] = json!("2020-02-29T12:00:00Z");
    let args = fx.standard(&v);
    let out = fx.dir("out").join("x.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).env("SOURCE_DATE_EPOCH", "1700000000").run().ok();
    let img = Image::from_tar(&fs::read(&out).expect("output"));
    assert_eq!(img.config["created"], "2020-02-29T12:00:00Z");
}

#[test]
fn created_defaults_to_the_epoch() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(img.config["created"], "1970-01-01T00:00:00Z");
}

#[test]
fn relative_sources_resolve_against_the_args_file_not_the_cwd() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    // A decoy with the same relative name in the working directory.
    let cwd = fx.dir("elsewhere");
    fx.write("elsewhere/kernel", b"decoy: the wrong file");
    let out = fx.path("out.tar");
    bx(&cwd).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let img = Image::from_tar(&fs::read(&out).expect("output"));
    assert_eq!(img.entry("boot/kernel").data, kernel());
    // And with a relative path to the args file, from a sibling directory.
    let out2 = fx.path("out2.tar");
    bx(&cwd).args(["build", "../in/args.json", "-o"]).arg(&out2).run().ok();
    assert_eq!(fs::read(&out2).expect("output"), fs::read(&out).expect("output"));
}

#[test]
fn a_directory_source_is_copied_recursively_with_symlinks_kept() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    fx.write("in/tree/etc/conf", b"key=value\n");
    let run = fx.write("in/tree/bin/run", b"#!/bin/sh\necho hi\n");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod");
    fx.dir("in/tree/empty");
    symlink("../etc/conf", fx.path("in/tree/bin/conf-link")).expect("symlink");
    symlink("/etc/absolute", fx.path("in/tree/abs-link")).expect("symlink");
    symlink("missing-target", fx.path("in/tree/dangling")).expect("symlink");
    let mut v = base_args();
    v["files"]["./tree"] = json!("/opt/tree");
    let (args, _) = fx.args("in/args.json", &v);
    let (_, img) = build(&fx, &args, &[]);
    for d in ["opt", "opt/tree", "opt/tree/bin", "opt/tree/etc", "opt/tree/empty"] {
        let e = img.entry(d);
        assert_eq!((e.kind, e.mode), (b'5', 0o755), "{d}");
    }
    assert_eq!(img.entry("opt/tree/etc/conf").data, b"key=value\n");
    assert_eq!(img.entry("opt/tree/etc/conf").mode, 0o644);
    assert_eq!(img.entry("opt/tree/bin/run").mode, 0o755);
    for (p, target) in [
        ("opt/tree/bin/conf-link", "../etc/conf"),
        ("opt/tree/abs-link", "/etc/absolute"),
        ("opt/tree/dangling", "missing-target"),
    ] {
        let e = img.entry(p);
        assert_eq!(e.kind, b'2', "{p} must stay a symlink");
        assert_eq!(e.link.as_deref(), Some(target), "{p}");
    }
}

#[test]
fn a_symlink_named_in_files_is_followed_like_cp() {
    let fx = Fx::new();
    fx.write("in/real-kernel", &kernel());
    symlink("real-kernel", fx.path("in/kernel")).expect("symlink");
    let (args, _) = fx.args("in/args.json", &base_args());
    let (_, img) = build(&fx, &args, &[]);
    let e = img.entry("boot/kernel");
    assert_eq!(e.kind, b'0', "a source named in files is copied as the file it points to");
    assert_eq!(e.data, kernel());
}

#[test]
fn long_paths_survive_the_tar_format() {
    let fx = Fx::new();
    let deep = format!("/{}/{}/{}", "d".repeat(90), "e".repeat(90), "f".repeat(99));
    fx.write("in/data", b"deep");
    let long_link = "x".repeat(150);
    fx.dir("in/links");
    symlink(&long_link, fx.path("in/links/far")).expect("symlink");
    let mut v = base_args();
    v["files"]["./data"] = json!(deep.clone());
    v["files"]["./links"] = json!("/links");
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(img.entry(&deep[1..]).data, b"deep");
    assert_eq!(img.entry("links/far").link.as_deref(), Some(long_link.as_str()));
}

#[test]
fn a_target_may_carry_a_mode() {
    let fx = Fx::new();
    fx.write("in/tool", b"tool");
    fx.write("in/secret", b"s");
    let mut v = base_args();
    v["files"]["./tool"] = json!({ "target": "/bin/tool", "mode": "0755" });
    v["files"]["./secret"] = json!({ "target": "/etc/secret", "mode": "0600" });
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(img.entry("bin/tool").mode, 0o755);
    assert_eq!(img.entry("etc/secret").mode, 0o600);
    assert_eq!(img.entry("etc/secret").data, b"s");
    img.assert_layers_hygienic(0, &[("etc/secret", 0o600)]);
}

#[test]
fn files_may_be_a_list_of_source_target_sets() {
    let fx = Fx::new();
    let as_attrs = fx.standard(&base_args());
    let mut v = base_args();
    v["files"] = json!([{ "source": "./kernel", "target": "/boot/kernel" }]);
    let (as_list, _) = fx.args("in/list.json", &v);
    assert_eq!(build(&fx, &as_attrs, &[]).0, build(&fx, &as_list, &[]).0);
}

#[test]
fn the_pair_check_can_be_turned_off() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("rumprun");
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &["--no-pair-check"]);
    assert_eq!(img.labels()[&full("unikernelType")], "rumprun");
    bx(fx.tmp.path()).arg("check").arg(&args).arg("--no-pair-check").run().ok();
}

// ---------------------------------------------------------------------------
// urunc versions

#[test]
fn the_legacy_cmdline_is_written_only_for_urunc_0_5() {
    let fx = Fx::new();
    fx.write("in/hello.hvt", &fake_hvt_elf());
    let v = json!({
        "name": "hello",
        "files": { "./hello.hvt": "/unikernel/hello.hvt" },
        "annotations": { "unikernelType": "rumprun", "hypervisor": "hvt", "binary": "/unikernel/hello.hvt" },
        "entrypoint": ["hello"],
        "cmd": ["a b", "c"],
    });
    let args = fx.args("in/args.json", &v).0;
    let (_, img) = build(&fx, &args, &[]);
    assert!(!img.labels().contains_key(&full("cmdline")), "urunc 0.8 reads Entrypoint + Cmd only");
    assert!(!img.urunc_json().contains_key(&full("cmdline")));
    let run = bx(fx.tmp.path()).arg("check").arg(&args).args(["--urunc", "0.5-main"]).run();
    run.ok();
    assert!(run.stderr.contains("urunc 0.5 reads the arguments only from `cmdline`"), "{}", run.stderr);
    assert!(run.stderr.contains("\"a b\" gets split there"), "{}", run.stderr);
    assert!(run.stderr.contains("is valid: hello:latest for linux/amd64, urunc 0.5-main"), "{}", run.stderr);
    let (_, img) = build(&fx, &args, &["--urunc", "0.5,0.8"]);
    assert_eq!(img.labels()[&full("cmdline")], "hello a b c");
    assert_eq!(img.urunc_json()[&full("cmdline")], "hello a b c");
    assert_eq!(img.annotations()[&full("cmdline")], "hello a b c");
    assert_eq!(img.config["config"]["Cmd"], json!(["a b", "c"]));
}

#[test]
fn the_args_file_names_the_versions_and_urunc_overrides_it() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["hypervisor"] = json!("cloud-hypervisor");
    v["urunc"] = json!("0.7");
    let args = fx.standard(&v);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("urunc 0.7: does not know hypervisor `cloud-hypervisor`"), "{}", run.stderr);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).args(["--urunc", "0.8-main"]).run();
    run.ok();
    assert!(run.stderr.contains("urunc 0.8-main"), "{}", run.stderr);
    // The field is not written into the image: two builds differ only by it.
    let (a, _) = build(&fx, &args, &["--urunc", "0.8"]);
    v.as_object_mut().expect("obj").remove("urunc");
    let plain = fx.args("in/plain.json", &v).0;
    assert_eq!(a, build(&fx, &plain, &[]).0);
}

#[test]
fn no_pair_check_turns_version_errors_into_warnings() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("freebsd");
    v["annotations"]["hypervisor"] = json!("firecracker");
    let args = fx.standard(&v);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("urunc 0.8: does not know unikernel type `freebsd` (urunc has it since main)"));
    assert!(run.stderr.contains("--no-pair-check"), "{}", run.stderr);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).arg("--no-pair-check").run();
    run.ok();
    assert!(run.stderr.contains("warning:") && run.stderr.contains("allowed by --no-pair-check"), "{}", run.stderr);
}

/// Builds `v` (with `in/kernel`) for `urunc` and returns the inspect
/// report of the image, as JSON.
fn build_and_inspect(fx: &Fx, v: &Value, urunc: &str) -> Value {
    let args = fx.standard(v);
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).args(["--urunc", urunc]).run().ok();
    let run = bx(fx.tmp.path()).args(["inspect", "--json", "--urunc", urunc]).arg(&out).run();
    parse(&run.ok().stdout, "inspect --json")
}

#[test]
fn freebsd_on_firecracker_builds_for_main_and_reads_back() {
    let fx = Fx::new();
    fx.write("in/disk.img", &[0; 4096]);
    let mut v = base_args();
    v["files"]["./disk.img"] = json!("/disk.img");
    for (k, val) in
        [("unikernelType", "freebsd"), ("hypervisor", "firecracker"), ("block", "/disk.img"), ("blkMntPoint", "/")]
    {
        v["annotations"][k] = json!(val);
    }
    let report = build_and_inspect(&fx, &v, "main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["effective"][full("unikernelType")], "freebsd");
    let table = report["compatibility"].as_array().expect("compatibility");
    let accepted: Vec<bool> = table.iter().map(|r| r["accepted"].as_bool().expect("bool")).collect();
    assert_eq!(accepted, [false, false, false, false, true]);
    assert_eq!(table[4]["rootfs"], "block");
    assert_eq!(table[4]["rootfs_detail"], "/disk.img at /");
    assert!(table[3]["reasons"][0].as_str().expect("reason").contains("`freebsd` (urunc has it since main)"));
}

#[test]
fn freebsd_takes_a_generated_block_root() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("freebsd");
    v["annotations"]["hypervisor"] = json!("firecracker");
    v["rootfs"] = json!({ "type": "block", "files": { "./kernel": "/boot/kernel" } });
    let report = build_and_inspect(&fx, &v, "main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["effective"][full("block")], "/.boot/rootfs");
    assert_eq!(report["effective"][full("blkMntPoint")], "/");
    assert_eq!(report["compatibility"][4]["rootfs_detail"], "/.boot/rootfs at /");
}

#[test]
fn hyperlight_without_an_initrd_and_solo5_names_build_and_read_back() {
    let fx = Fx::new();
    let mut v = base_args();
    v["annotations"]["unikernelType"] = json!("unikraft");
    v["annotations"]["hypervisor"] = json!("hyperlight-unikraft");
    v["annotations"].as_object_mut().expect("obj").remove("cmdline");
    let report = build_and_inspect(&fx, &v, "0.8-main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    let problems = report["problems"].as_array().expect("problems");
    assert!(!problems.iter().any(|p| p["message"].as_str().expect("str").contains("initrd")), "{problems:?}");
    assert_eq!(report["compatibility"][3]["rootfs"], "none");

    let fx = Fx::new();
    fx.write("in/disk.img", &[0; 4096]);
    let mut v = base_args();
    v["files"]["./disk.img"] = json!("/disk.img");
    for (k, val) in [
        ("unikernelType", "mirage"),
        ("hypervisor", "hvt"),
        ("block", "/disk.img"),
        ("blkMntPoint", "/"),
        ("solo5NetDev", "management"),
        ("solo5BlkDev", "database"),
    ] {
        v["annotations"][k] = json!(val);
    }
    let args = fx.standard(&v);
    let (_, img) = build(&fx, &args, &[]);
    for key in ["solo5NetDev", "solo5BlkDev"] {
        let want = v["annotations"][key].as_str().expect("str");
        assert_eq!(img.labels()[&full(key)], want);
        assert_eq!(img.annotations()[&full(key)], want);
        assert_eq!(img.urunc_json()[&full(key)], want);
    }
    let report = build_and_inspect(&fx, &v, "0.7-main");
    assert_eq!(report["ok"], json!(true), "{report:#}");
    assert_eq!(report["effective"][full("solo5BlkDev")], "database");
    let warnings: Vec<&str> =
        report["problems"].as_array().expect("problems").iter().map(|p| p["message"].as_str().expect("str")).collect();
    assert!(
        warnings
            .contains(&"urunc 0.7: ignores `solo5NetDev` (it came in urunc 0.8) and names the Solo5 device `service`"),
        "{warnings:?}"
    );
}

#[test]
fn inspect_ends_with_the_compatibility_table() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--urunc", "0.6,main"]).run();
    let text = String::from_utf8_lossy(&run.ok().stdout).into_owned();
    let table = text.split("urunc versions (* = targeted: 0.6, main):\n").nth(1).expect(&text);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6, "{table}");
    assert!(lines[0].starts_with("  0.5    rejected: does not know unikernel type `linux`"), "{table}");
    assert!(
        lines[1].starts_with(
            "  0.6*   accepted; keys from urunc.json; rootfs none; arguments [\"console=ttyS0\",\"quiet\"]"
        )
    );
    assert!(lines[4].starts_with("  main*  accepted; keys from labels and manifest annotations"), "{table}");
    assert!(lines[5].starts_with("result:     ok"), "{table}");
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--urunc", "0.5"]).run();
    assert_eq!(run.code, Some(1), "urunc 0.5 has no Linux guests");
    let bad = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--urunc", "0.9"]).run();
    assert_eq!(bad.code, Some(2));
    assert!(bad.stderr.contains("unknown urunc version `0.9`"), "{}", bad.stderr);
}

#[test]
fn architecture_override_matching_the_binary_is_accepted() {
    let fx = Fx::new();
    let mut v = base_args();
    v["architecture"] = json!("amd64");
    let args = fx.standard(&v);
    assert_eq!(build(&fx, &args, &[]).1.config["architecture"], "amd64");
}

#[test]
fn architecture_override_for_an_unknown_binary_is_used() {
    let fx = Fx::new();
    let mut v = base_args();
    v["architecture"] = json!("arm64");
    fx.write("in/kernel", b"raw bytes no format knows");
    let (args, _) = fx.args("in/args.json", &v);
    assert_eq!(build(&fx, &args, &[]).1.config["architecture"], "arm64");
}

// ---------------------------------------------------------------------------
// Reproducibility

/// Inputs touching every kind of entry, with the given args syntax.
fn repro_inputs(fx: &Fx, dir: &str) -> PathBuf {
    fx.write(&format!("{dir}/kernel"), &kernel());
    fx.write(&format!("{dir}/app/etc/conf"), b"a=1\n");
    let run = fx.write(&format!("{dir}/app/bin/run"), b"#!/bin/sh\n");
    fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod");
    fx.dir(&format!("{dir}/app/empty"));
    symlink("../etc/conf", fx.path(&format!("{dir}/app/bin/conf"))).expect("symlink");
    let mut v = base_args();
    v["files"] = json!({ "./kernel": "/boot/kernel", "./app": "/app" });
    v["env"] = json!({ "B": "2", "A": "1" });
    v["labels"] = json!({ "z": "last", "a": "first" });
    v["workingDir"] = json!("/app");
    fx.args(&format!("{dir}/args.json"), &v).0
}

/// Builds into a fresh directory; returns the archive's bytes.
fn build_bytes(b: Bx, args: &Path) -> Vec<u8> {
    let out = tempfile::tempdir().expect("tempdir");
    let target = out.path().join("image.tar");
    b.arg("build").arg(args).arg("-o").arg(&target).run().ok();
    fs::read(&target).expect("output")
}

fn reference_build(fx: &Fx) -> (PathBuf, Vec<u8>) {
    let args = repro_inputs(fx, "in");
    let bytes = build_bytes(bx(fx.tmp.path()), &args);
    (args, bytes)
}

#[test]
fn repro_the_same_inputs_built_twice_are_identical() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_a_different_working_directory_changes_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    assert_eq!(build_bytes(bx(Path::new("/")), &args), first);
    let in_dir = fx.path("in");
    let relative = bx(&in_dir).arg("build").arg("args.json").arg("-o").arg(fx.path("rel.tar")).run();
    relative.ok();
    assert_eq!(fs::read(fx.path("rel.tar")).expect("output"), first);
}

#[test]
fn repro_a_different_location_of_the_inputs_changes_nothing() {
    let fx = Fx::new();
    let (_, first) = reference_build(&fx);
    let other = Fx::new();
    let deeper = other.dir("a/much/deeper/place");
    sh("cp", &["-a", fx.path("in").to_str().expect("utf-8"), deeper.join("moved").to_str().expect("utf-8")]);
    assert_eq!(build_bytes(bx(other.tmp.path()), &deeper.join("moved/args.json")), first);
}

#[test]
fn repro_the_umask_changes_nothing() {
    let fx = Fx::new();
    let (args, _) = reference_build(&fx);
    let a = build_bytes(bx(fx.tmp.path()).umask(0o022), &args);
    let b = build_bytes(bx(fx.tmp.path()).umask(0o077), &args);
    assert_eq!(a, b);
}

#[test]
fn repro_time_zone_and_locale_change_nothing() {
    let fx = Fx::new();
    let (args, _) = reference_build(&fx);
    let a = build_bytes(bx(fx.tmp.path()).env("TZ", "UTC").env("LC_ALL", "C"), &args);
    let b = build_bytes(
        bx(fx.tmp.path()).env("TZ", "Pacific/Chatham").env("LC_ALL", "C.UTF-8").env("LANG", "de_DE.UTF-8"),
        &args,
    );
    assert_eq!(a, b);
}

#[test]
fn repro_input_mtimes_change_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    let root = fx.path("in");
    sh("sh", &["-c", "find \"$1\" -exec touch -h -d '2001-02-03 04:05:06' {} +", "sh", root.to_str().expect("utf-8")]);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_group_and_other_permission_bits_change_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    let root = fx.path("in");
    let set =
        |rel: &str, mode: u32| fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).expect("chmod");
    set("kernel", 0o600);
    set("app/etc/conf", 0o666);
    set("app/bin/run", 0o700);
    set("app/empty", 0o700);
    set("app/etc", 0o775);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_only_the_executable_bit_counts() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    fs::set_permissions(fx.path("in/kernel"), fs::Permissions::from_mode(0o744)).expect("chmod");
    let second = build_bytes(bx(fx.tmp.path()), &args);
    assert_ne!(second, first, "making a file executable must change the image");
    let img = Image::from_tar(&second);
    assert_eq!(img.entry("boot/kernel").mode, 0o755);
}

#[test]
fn repro_owners_change_nothing() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    if !privileged() {
        eprintln!(
            "note: not root, so the inputs cannot be given to another owner; owner independence is not tested here"
        );
        return;
    }
    sh("chown", &["-R", "-h", "12345:54321", fx.path("in").to_str().expect("utf-8")]);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &args), first);
}

#[test]
fn repro_nix_and_json_args_give_the_same_image() {
    let fx = Fx::new();
    let (json_args, first) = reference_build(&fx);
    let v: Value = parse(&fs::read(&json_args).expect("args"), "args");
    let (nix_args, _) = fx.args("in/args.nix", &v);
    assert_eq!(build_bytes(bx(fx.tmp.path()), &nix_args), first);
}

#[test]
fn repro_nix_language_features_give_the_same_image() {
    let fx = Fx::new();
    let json_args = fx.standard(&base_args());
    let first = build_bytes(bx(fx.tmp.path()), &json_args);
    let nix = r#"# The same image as base_args(), written the way people write Nix.
let
  dir = "/boot";
  kernel = "${dir}/kernel"; /* a block comment */
in {
  name = "hello";
  tag = ''v1'';
  files."./kernel" = kernel;
  annotations.unikernelType = "linux";
  annotations.hypervisor = "qemu";
  annotations = { binary = kernel; };
  annotations.cmdline = "console=ttyS0 quiet";
}
"#;
    let nix_args = fx.write("in/args.nix", nix.as_bytes());
    assert_eq!(build_bytes(bx(fx.tmp.path()), &nix_args), first);
}

#[test]
fn repro_stdout_gets_the_same_bytes_as_a_file() {
    let fx = Fx::new();
    let (args, first) = reference_build(&fx);
    let cwd = fx.dir("cwd");
    let run = bx(&cwd).arg("build").arg(&args).args(["-o", "-"]).run();
    run.ok();
    assert!(run.stdout == first, "-o - wrote {} bytes that differ from the file's {}", run.stdout.len(), first.len());
    assert!(listing(&cwd).is_empty(), "-o - left files behind: {:?}", listing(&cwd));
}

// ---------------------------------------------------------------------------
// Formats and output names

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

// ---------------------------------------------------------------------------
// check, inspect, usage

#[test]
fn check_accepts_valid_args_and_writes_nothing() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let cwd = fx.dir("cwd");
    let before = snapshot(fx.tmp.path());
    let run = bx(&cwd).arg("check").arg(&args).run();
    run.ok();
    assert!(!String::from_utf8_lossy(&run.stdout).contains("ustar"), "check printed an archive");
    assert_eq!(snapshot(fx.tmp.path()), before, "check changed the filesystem");
}

#[test]
fn inspect_accepts_a_built_image() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let text = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    text.ok();
    let shown = String::from_utf8_lossy(&text.stdout);
    for want in ["hello", "v1", "amd64", "qemu", "/boot/kernel"] {
        assert!(shown.contains(want), "inspect does not show {want}:\n{shown}");
    }
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    parse(&js.stdout, "inspect --json");
}

#[test]
fn inspect_fails_on_a_corrupted_blob() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let mut bytes = fs::read(&out).expect("output");
    // Flip a byte of the kernel inside the layer blob.
    let k = kernel();
    let at = bytes.windows(64).position(|w| w == &k[512..576]).expect("kernel bytes in the archive");
    bytes[at] ^= 0xff;
    fs::write(&out, &bytes).expect("write");
    let run = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    assert_eq!(
        run.code,
        Some(1),
        "inspect must reject a blob whose digest is wrong:\n{}",
        String::from_utf8_lossy(&run.stdout)
    );
}

#[test]
fn usage_errors_exit_2() {
    let fx = Fx::new();
    let args = fx.standard(&base_args());
    let cwd = fx.dir("cwd");
    for argv in [
        vec![],
        vec!["frobnicate"],
        vec!["build", "--no-such-flag"],
        vec!["build", "--format", "zip"],
        vec!["build", "-o"],
        vec!["check", "a.nix", "b.nix"],
        vec!["check", "--urunc", "0.4"],
        vec!["build", "--urunc", "main-0.5"],
        vec!["inspect"],
    ] {
        let run = bx(&cwd).args(argv.iter().copied()).run();
        assert_eq!(run.code, Some(2), "{argv:?}: {}", run.stderr);
        assert!(!run.stderr.is_empty(), "{argv:?} says nothing");
    }
    let run = bx(&cwd).arg("build").arg(&args).args(["--args-from-env", "X"]).run();
    assert_eq!(run.code, Some(2), "an args file and --args-from-env together: {}", run.stderr);
    assert!(listing(&cwd).is_empty());
}

#[test]
fn help_on_each_command_and_version() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let help = |argv: &[&str]| {
        let run = bx(cwd.path()).args(argv.iter().copied()).run();
        assert_eq!(run.code, Some(0), "{argv:?}: {}", run.stderr);
        String::from_utf8_lossy(&run.stdout).into_owned()
    };
    let top = help(&["--help"]);
    for c in ["build", "check", "inspect"] {
        assert!(top.contains(c), "--help does not list {c}:\n{top}");
    }
    let b = help(&["build", "--help"]);
    for o in [
        "--output",
        "--format",
        "docker-archive",
        "oci-archive",
        "oci-layout",
        "--no-pair-check",
        "--args-from-env",
        "FILE",
        "--urunc",
        "0.6-main",
    ] {
        assert!(b.contains(o), "build --help does not explain {o}:\n{b}");
    }
    let c = help(&["check", "--help"]);
    for o in ["--no-pair-check", "--args-from-env", "FILE", "--urunc"] {
        assert!(c.contains(o), "check --help does not explain {o}:\n{c}");
    }
    let i = help(&["inspect", "--help"]);
    for o in ["--json", "IMAGE", "--urunc", "--no-pair-check"] {
        assert!(i.contains(o), "inspect --help does not explain {o}:\n{i}");
    }
    assert_eq!(help(&["help", "build"]), b);
    // tests/conventions.rs checks the commit that follows.
    assert!(help(&["--version"]).starts_with(&format!("bimanix {}", env!("CARGO_PKG_VERSION"))));
}

// ---------------------------------------------------------------------------
// The bimanix README's own example

/// args.nix exactly as the bimanix README shows it.
const README_ARGS: &str = r#"{
  name = "hello-rumprun";
  tag = "latest";
  files = {
    "./hello1.hvt" = "/unikernel/hello.hvt";
  };
  annotations = {
    unikernelType = "rumprun";
    hypervisor = "hvt";
    binary = "/unikernel/hello.hvt";
    cmdline = "hello";
    unikernelVersion = "";
    initrd = "";
    block = "";
    blkMntPoint = "";
  };
}
"#;

fn check_readme_image(bytes: &[u8]) {
    let img = Image::from_tar(bytes);
    assert_eq!(img.docker_manifest.as_ref().expect("manifest.json")[0]["RepoTags"], json!(["hello-rumprun:latest"]));
    assert_eq!(img.config["architecture"], "amd64");
    assert_eq!(img.entry("unikernel/hello.hvt").data, fake_hvt_elf());
    let want: BTreeMap<String, String> =
        [("unikernelType", "rumprun"), ("hypervisor", "hvt"), ("binary", "/unikernel/hello.hvt"), ("cmdline", "hello")]
            .iter()
            .map(|(k, v)| (full(k), v.to_string()))
            .collect();
    assert_eq!(img.labels(), want, "empty strings are unset");
    assert_eq!(img.urunc_json(), want);
    assert_eq!(img.config["config"]["Cmd"], json!(["hello"]));
}

#[test]
fn the_bimanix_readme_example_builds_unchanged_and_passes_inspect() {
    let fx = Fx::new();
    fx.write("readme/hello1.hvt", &fake_hvt_elf());
    fx.write("readme/args.nix", README_ARGS.as_bytes());
    let dir = fx.path("readme");
    bx(&dir).arg("build").run().ok();
    let out = dir.join("hello-rumprun-latest.tar");
    check_readme_image(&fs::read(&out).expect("hello-rumprun-latest.tar"));
    let run = bx(&dir).arg("inspect").arg(&out).run();
    assert_eq!(
        run.code,
        Some(0),
        "inspect rejects the README example:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        run.stderr
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("hello-rumprun"), "inspect does not name the image");
}

#[test]
fn the_bimanix_readme_example_as_json_builds() {
    let fx = Fx::new();
    fx.write("readme/hello.hvt", &fake_hvt_elf());
    let v = json!({
        "name": "hello-rumprun", "tag": "latest",
        "files": { "./hello.hvt": "/unikernel/hello.hvt" },
        "annotations": { "unikernelType": "rumprun", "hypervisor": "hvt", "binary": "/unikernel/hello.hvt", "cmdline": "hello",
                         "unikernelVersion": "", "initrd": "", "block": "", "blkMntPoint": "" },
    });
    let (args, _) = fx.args("readme/args.json", &v);
    let cwd = fx.dir("cwd");
    bx(&cwd).arg("build").arg(&args).run().ok();
    check_readme_image(&fs::read(cwd.join("hello-rumprun-latest.tar")).expect("output"));
}

// ---------------------------------------------------------------------------
// Invalid input: each rule is an error that names the file and key (with
// line:col for Nix), exits 1 and leaves nothing behind.

#[derive(Clone, Copy, PartialEq)]
enum Syntax {
    Json,
    Nix,
}

type Edit = Box<dyn Fn(&mut Value)>;
type Setup = Box<dyn Fn(&Fx)>;

/// One invalid input.
struct Case {
    edit: Edit,
    setup: Setup,
    /// The message must contain one of each group.
    must: Vec<Vec<&'static str>>,
    /// For Nix: the error's line is the line of one of these texts.
    at: Vec<&'static str>,
    /// For Nix: a missing key may be named without a position.
    position_optional: bool,
}

fn case(edit: impl Fn(&mut Value) + 'static) -> Case {
    Case { edit: Box::new(edit), setup: Box::new(|_| {}), must: Vec::new(), at: Vec::new(), position_optional: false }
}

impl Case {
    fn setup(mut self, f: impl Fn(&Fx) + 'static) -> Case {
        self.setup = Box::new(f);
        self
    }

    /// The message must name one of `any`.
    fn names(mut self, any: &[&'static str]) -> Case {
        self.must.push(any.to_vec());
        self
    }

    /// A missing key has no place in the file: naming it is enough.
    fn missing(mut self) -> Case {
        self.position_optional = true;
        self
    }

    /// In Nix, the position must be on the line holding one of `texts`.
    fn at(mut self, texts: &[&'static str]) -> Case {
        self.at = texts.to_vec();
        self
    }
}

fn ann(v: &mut Value, key: &str, val: Value) {
    v["annotations"][key] = val;
}

/// `file:line:col` positions in `msg` for the file named `file`.
fn positions(msg: &str, file: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let pat = format!("{file}:");
    let mut rest = msg;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        let line: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[line.len()..];
        if let Some(c) = after.strip_prefix(':') {
            let col: String = c.chars().take_while(char::is_ascii_digit).collect();
            if let (Ok(l), Ok(c)) = (line.parse(), col.parse()) {
                out.push((l, c));
            }
        }
    }
    out
}

fn expect_invalid(c: Case, syntax: Syntax) {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    (c.setup)(&fx);
    let mut v = base_args();
    (c.edit)(&mut v);
    let file = if syntax == Syntax::Json { "args.json" } else { "args.nix" };
    let (args, text) = fx.args(&format!("in/{file}"), &v);
    let out = fx.dir("out");
    let cwd = fx.dir("cwd");
    let inputs = snapshot(&fx.path("in"));

    let build = bx(&cwd).arg("build").arg(&args).arg("-o").arg(out.join("image.tar")).run();
    let default_out = bx(&cwd).arg("build").arg(&args).run();
    let check = bx(&cwd).arg("check").arg(&args).run();
    for (what, run) in [("build -o", &build), ("build", &default_out), ("check", &check)] {
        assert_eq!(run.code, Some(1), "{what} must exit 1 on invalid input; stderr:\n{}\nargs:\n{text}", run.stderr);
        assert!(run.stderr.contains(file), "{what}: the message does not name {file}:\n{}", run.stderr);
        for group in &c.must {
            assert!(
                group.iter().any(|w| run.stderr.contains(w)),
                "{what}: the message names none of {group:?}:\n{}\nargs:\n{text}",
                run.stderr
            );
        }
        if syntax == Syntax::Nix && !c.position_optional {
            let found = positions(&run.stderr, file);
            assert!(!found.is_empty(), "{what}: no {file}:line:col in:\n{}", run.stderr);
            let lines: Vec<usize> =
                c.at.iter()
                    .map(|t| {
                        text.lines()
                            .position(|l| l.contains(t))
                            .unwrap_or_else(|| panic!("test bug: {t:?} is not in:\n{text}"))
                            + 1
                    })
                    .collect();
            assert!(
                lines.is_empty() || found.iter().any(|(l, _)| lines.contains(l)),
                "{what}: expected a position on line {lines:?}, got {found:?}:\n{}\nargs:\n{text}",
                run.stderr
            );
        }
    }
    assert!(listing(&out).is_empty(), "build -o left {:?} in the output directory", listing(&out));
    assert!(listing(&cwd).is_empty(), "build left {:?} in the working directory", listing(&cwd));
    assert_eq!(snapshot(&fx.path("in")), inputs, "the input directory changed");
}

macro_rules! invalid_cases {
    ($($name:ident => $case:expr;)*) => {
        mod invalid_json {
            use super::*;
            $( #[test] fn $name() { expect_invalid($case, Syntax::Json) } )*
        }
        mod invalid_nix {
            use super::*;
            $( #[test] fn $name() { expect_invalid($case, Syntax::Nix) } )*
        }
    };
}

invalid_cases! {
    // Required keys.
    missing_name => case(|v| { v.as_object_mut().expect("obj").remove("name"); }).names(&["name"]);
    missing_annotations => case(|v| { v.as_object_mut().expect("obj").remove("annotations"); }).names(&["annotations"]);
    missing_unikernel_type => case(|v| { v["annotations"].as_object_mut().expect("obj").remove("unikernelType"); }).names(&["unikernelType"]).missing();
    missing_hypervisor => case(|v| { v["annotations"].as_object_mut().expect("obj").remove("hypervisor"); }).names(&["hypervisor"]).missing();
    missing_binary => case(|v| { v["annotations"].as_object_mut().expect("obj").remove("binary"); }).names(&["binary"]).missing();
    empty_binary_is_missing => case(|v| ann(v, "binary", json!(""))).names(&["binary"]);

    // Unknown keys, with a suggestion.
    unknown_top_level_key => case(|v| v["nmae"] = json!("x")).names(&["nmae"]).names(&["did you mean"]).names(&["\"name\""]).at(&["nmae ="]);
    unknown_annotation => case(|v| ann(v, "hypervisr", json!("qemu"))).names(&["hypervisr"]).names(&["did you mean"]).names(&["\"hypervisor\""]).at(&["hypervisr ="]);
    unknown_key_in_a_target_set => case(|v| v["files"]["./kernel"] = json!({ "target": "/boot/kernel", "mod": "0755" }))
        .names(&["mod"]).names(&["did you mean"]).names(&["\"mode\""]).at(&["mod ="]);

    // Wrong value types.
    name_not_a_string => case(|v| v["name"] = json!(42)).names(&["name"]).at(&["name ="]);
    files_not_a_set => case(|v| v["files"] = json!("./kernel")).names(&["files"]).at(&["files ="]);
    cmd_not_a_list => case(|v| v["cmd"] = json!("run me")).names(&["cmd"]).at(&["cmd ="]);
    entrypoint_item_not_a_string => case(|v| v["entrypoint"] = json!(["/bin/app", 1])).names(&["entrypoint"]).at(&["entrypoint ="]);
    env_item_not_key_value => case(|v| v["env"] = json!(["NOEQUALS"])).names(&["env"]).names(&["NOEQUALS"]).at(&["env ="]);
    env_value_not_a_string => case(|v| v["env"] = json!({ "A": true })).names(&["env"]).at(&["A = true"]);
    annotation_not_a_string => case(|v| ann(v, "hypervisor", json!(1))).names(&["hypervisor"]).at(&["hypervisor ="]);
    labels_not_strings => case(|v| v["labels"] = json!({ "a": 1 })).names(&["labels"]).at(&["a = 1"]);
    working_dir_not_a_string => case(|v| v["workingDir"] = json!(["/app"])).names(&["workingDir"]).at(&["workingDir ="]);
    mode_not_octal => case(|v| v["files"]["./kernel"] = json!({ "target": "/boot/kernel", "mode": "0999" })).names(&["mode"]).at(&["mode ="]);
    created_not_rfc3339 => case(|v| v["created"] = json!("yesterday")).names(&["created"]).at(&["created ="]);
    args_not_a_set => case(|v| *v = json!(["name", "hello"])).names(&["attribute set", "object"]);

    // Unknown type or monitor, and pairs urunc does not run.
    unknown_unikernel_type => case(|v| ann(v, "unikernelType", json!("linuxx"))).names(&["unikernelType"]).names(&["linuxx"]).at(&["unikernelType ="]);
    unknown_hypervisor => case(|v| ann(v, "hypervisor", json!("qemuu"))).names(&["hypervisor"]).names(&["qemuu"]).at(&["hypervisor ="]);
    unsupported_pair => case(|v| ann(v, "unikernelType", json!("rumprun"))).names(&["rumprun"]).names(&["qemu"]).names(&["--no-pair-check"]).at(&["unikernelType =", "hypervisor ="]);

    // binary, initrd, block must be files of the image.
    binary_not_in_files => case(|v| ann(v, "binary", json!("/boot/other"))).names(&["binary"]).names(&["/boot/other"]).at(&["binary ="]);
    binary_is_a_directory => case(|v| { v["files"]["./dir"] = json!("/boot/dir"); ann(v, "binary", json!("/boot/dir")); })
        .setup(|fx| { fx.dir("in/dir"); }).names(&["binary"]).at(&["binary ="]);
    initrd_not_in_files => case(|v| ann(v, "initrd", json!("/boot/initrd"))).names(&["initrd"]).names(&["/boot/initrd"]).at(&["initrd ="]);
    block_not_in_files => case(|v| { ann(v, "block", json!("/disk.img")); ann(v, "blkMntPoint", json!("/")); })
        .names(&["block"]).names(&["/disk.img"]).at(&["block ="]);
    block_without_blkmntpoint => case(|v| { v["files"]["./disk.img"] = json!("/disk.img"); ann(v, "block", json!("/disk.img")); })
        .setup(|fx| { fx.write("in/disk.img", &[0; 1024]); }).names(&["blkMntPoint"]).at(&["block ="]);

    // urunc's path rules.
    binary_relative => case(|v| ann(v, "binary", json!("boot/kernel"))).names(&["binary"]).at(&["binary ="]);
    binary_with_a_space => case(|v| { v["files"] = json!({ "./kernel": "/boot/my kernel" }); ann(v, "binary", json!("/boot/my kernel")); })
        .names(&["binary"]).at(&["binary ="]);
    binary_not_clean => case(|v| ann(v, "binary", json!("/boot/../boot/kernel"))).names(&["binary"]).at(&["binary ="]);
    binary_is_the_root => case(|v| ann(v, "binary", json!("/"))).names(&["binary"]).at(&["binary ="]);
    initrd_with_a_shell_character => case(|v| { v["files"]["./initrd"] = json!("/boot/initrd$x"); ann(v, "initrd", json!("/boot/initrd$x")); })
        .setup(|fx| { fx.write("in/initrd", b"cpio"); }).names(&["initrd"]).at(&["initrd ="]);
    blkmntpoint_relative => case(|v| { v["files"]["./disk.img"] = json!("/disk.img"); ann(v, "block", json!("/disk.img")); ann(v, "blkMntPoint", json!("data")); })
        .setup(|fx| { fx.write("in/disk.img", &[0; 1024]); }).names(&["blkMntPoint"]).at(&["blkMntPoint ="]);

    // Targets.
    target_relative => case(|v| { v["files"]["./kernel"] = json!("boot/kernel"); ann(v, "binary", json!("/boot/kernel")); })
        .names(&["boot/kernel"]).names(&["./kernel"]).at(&["\"./kernel\" ="]);
    target_escaping_the_root => case(|v| v["files"]["./other"] = json!("/../etc/passwd"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/../etc/passwd"]).at(&["\"./other\" ="]);
    target_is_the_root => case(|v| v["files"]["./other"] = json!("/")).setup(|fx| { fx.write("in/other", b"x"); }).names(&["./other"]).at(&["\"./other\" ="]);
    targets_colliding => case(|v| v["files"]["./other"] = json!("/boot/kernel"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/boot/kernel"]).names(&["./other"]).at(&["\"./other\" =", "\"./kernel\" ="]);
    // The next two are found when the sources are walked (plan), which
    // `check` does too.
    target_colliding_with_a_file_in_a_copied_directory => case(|v| { v["files"]["./dir"] = json!("/boot"); })
        .setup(|fx| { fx.write("in/dir/kernel", &kernel()); }).names(&["/boot/kernel"]).at(&["\"./dir\" =", "\"./kernel\" ="]);
    target_under_a_file => case(|v| v["files"]["./other"] = json!("/boot/kernel/x"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/boot/kernel"]).at(&["\"./other\" =", "\"./kernel\" ="]);
    target_is_urunc_json => case(|v| v["files"]["./other"] = json!("/urunc.json"))
        .setup(|fx| { fx.write("in/other", b"{}"); }).names(&["/urunc.json"]).at(&["\"./other\" ="]);
    working_dir_relative => case(|v| v["workingDir"] = json!("app")).names(&["workingDir"]).at(&["workingDir ="]);

    // Sources.
    missing_source => case(|v| v["files"]["./nope"] = json!("/nope")).names(&["nope"]).at(&["\"./nope\" ="]);
    dangling_symlink_source => case(|v| v["files"]["./dangling"] = json!("/d"))
        .setup(|fx| symlink("nowhere", fx.path("in/dangling")).expect("symlink")).names(&["dangling"]).at(&["\"./dangling\" ="]);
    fifo_source => case(|v| v["files"]["./fifo"] = json!("/fifo"))
        .setup(|fx| sh("mkfifo", &[fx.path("in/fifo").to_str().expect("utf-8")])).names(&["fifo"]).at(&["\"./fifo\" ="]);
    fifo_inside_a_directory_source => case(|v| v["files"]["./dir"] = json!("/dir"))
        .setup(|fx| { fx.dir("in/dir"); sh("mkfifo", &[fx.path("in/dir/fifo").to_str().expect("utf-8")]); }).names(&["fifo"]).at(&["\"./dir\" ="]);

    // Boolean strings.
    use_dm_block_not_boolean => case(|v| ann(v, "useDMBlock", json!("yes"))).names(&["useDMBlock"]).at(&["useDMBlock ="]);
    mount_rootfs_not_boolean => case(|v| ann(v, "mountRootfs", json!("1"))).names(&["mountRootfs"]).at(&["mountRootfs ="]);

    // Names and tags Docker refuses.
    name_with_uppercase => case(|v| v["name"] = json!("Hello")).names(&["name"]).names(&["Hello"]).at(&["name ="]);
    name_with_a_space => case(|v| v["name"] = json!("my image")).names(&["name"]).at(&["name ="]);
    tag_starting_with_a_dot => case(|v| v["tag"] = json!(".v1")).names(&["tag"]).at(&["tag ="]);
    tag_with_a_colon => case(|v| v["tag"] = json!("v1:2")).names(&["tag"]).at(&["tag ="]);

    // Arguments and architecture.
    // urunc versions.
    urunc_unknown_version => case(|v| v["urunc"] = json!("0.9")).names(&["urunc"]).names(&["0.9"]).names(&["0.5-main"]).at(&["urunc ="]);
    urunc_not_a_string => case(|v| v["urunc"] = json!(8)).names(&["urunc"]).at(&["urunc ="]);
    guest_newer_than_the_target => case(|v| { v["urunc"] = json!("0.6-0.7"); ann(v, "unikernelType", json!("hermit")); ann(v, "initrd", json!("/boot/kernel")); })
        .names(&["urunc 0.6-0.7"]).names(&["hermit"]).names(&["since 0.8"]).at(&["unikernelType ="]);
    hypervisor_newer_than_the_target => case(|v| { v["urunc"] = json!("0.7"); ann(v, "hypervisor", json!("cloud-hypervisor")); })
        .names(&["urunc 0.7"]).names(&["cloud-hypervisor"]).at(&["hypervisor ="]);
    block_without_blkmntpoint_on_0_6 => case(|v| { v["urunc"] = json!("0.6"); v["files"]["./disk.img"] = json!("/disk.img"); ann(v, "block", json!("/disk.img")); })
        .setup(|fx| { fx.write("in/disk.img", &[0; 1024]); }).names(&["urunc 0.6"]).names(&["blkMntPoint"]).at(&["block ="]);
    runtime_only_vaccel => case(|v| ann(v, "vAccel", json!("vsock"))).names(&["vAccel"]).names(&["runtime-only"]).at(&["vAccel ="]);
    runtime_only_rpc_address => case(|v| ann(v, "com.urunc.unikernel.RPCAddress", json!("tcp://1.2.3.4:1"))).names(&["RPCAddress"]).names(&["runtime-only"]).at(&["RPCAddress\" ="]);
    solo5_device_name => case(|v| ann(v, "solo5BlkDev", json!("disk-0"))).names(&["solo5BlkDev"]).names(&["A-Za-z0-9"]).at(&["solo5BlkDev ="]);
    hermit_with_a_generated_initrd => case(|v| { ann(v, "unikernelType", json!("hermit")); v["rootfs"] = json!({ "type": "initrd", "files": { "./kernel": "/app" } }); })
        .names(&["Hermit's initrd is the application"]).at(&["type = \"initrd\""]);
    freebsd_with_a_generated_initrd => case(|v| { v["urunc"] = json!("main"); ann(v, "unikernelType", json!("freebsd")); v["rootfs"] = json!({ "type": "initrd", "files": { "./kernel": "/app" } }); })
        .names(&["freebsd on qemu cannot use an initrd"]).at(&["type = \"initrd\""]);
    quote_in_a_linux_argument => case(|v| v["cmd"] = json!(["/init", "it's"])).names(&["it's"]).names(&["897"]).at(&["cmd ="]);
    arguments_differing_between_targets => case(|v| { v["urunc"] = json!("0.5,0.8"); ann(v, "unikernelType", json!("rumprun")); ann(v, "hypervisor", json!("hvt")); v["cmd"] = json!(["other"]); })
        .names(&["differ"]).names(&["urunc 0.5 gives `console=ttyS0 quiet`"]).at(&["cmdline ="]);

    cmdline_with_an_unterminated_quote => case(|v| ann(v, "cmdline", json!("hello 'world"))).names(&["cmdline"]).names(&["quote"]).at(&["cmdline ="]);
    architecture_cannot_be_told => case(|_| {}).setup(|fx| { fx.write("in/kernel", b"no known format"); })
        .names(&["architecture"]).names(&["binary", "/boot/kernel"]).at(&["binary ="]);
    architecture_contradicting_the_binary => case(|v| v["architecture"] = json!("arm64")).names(&["architecture"]).names(&["amd64"]).at(&["architecture ="]);
    architecture_unknown => case(|v| v["architecture"] = json!("amd46")).names(&["architecture"]).names(&["amd46"]).at(&["architecture ="]);

    // Accepted though broken, once (issue 8).
    binary_empty => case(|_| {}).setup(|fx| { fx.write("in/kernel", b""); })
        .names(&["/boot/kernel"]).names(&["empty"]).at(&["binary ="]);
    binary_through_an_absolute_symlink_in_a_copied_directory => case(|v| {
        v["files"] = json!({ "./tree": "/t" });
        ann(v, "binary", json!("/t/boot/kernel"));
    })
    .setup(|fx| {
        fx.dir("in/tree");
        // In the image /t/boot leads to /host-boot, which the image lacks; on
        // this machine it leads to a real kernel.
        fx.write("host-boot/kernel", &kernel());
        symlink(fx.path("host-boot"), fx.path("in/tree/boot")).expect("symlink");
    })
    .names(&["/t/boot/kernel"]).names(&["regular file"]).at(&["binary ="]);
    target_with_a_whiteout_name => case(|v| v["files"]["./other"] = json!("/etc/.wh.passwd"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&[".wh.passwd"]).names(&["whiteout"]).at(&["\"./other\" ="]);
    target_with_a_name_over_255_bytes => case(|v| v["files"]["./other"] = json!(format!("/{}", "n".repeat(256))))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["255"]).at(&["\"./other\" ="]);
    target_under_urunc_json => case(|v| v["files"]["./other"] = json!("/urunc.json/x"))
        .setup(|fx| { fx.write("in/other", b"x"); }).names(&["/urunc.json"]).at(&["\"./other\" ="]);
    mode_with_a_sign => case(|v| v["files"]["./kernel"] = json!({ "target": "/boot/kernel", "mode": "+755" }))
        .names(&["+755"]).at(&["mode ="]);
    annotation_longer_than_urunc_reads => case(|v| ann(v, "cmdline", json!("x".repeat(5000))))
        .names(&["cmdline"]).names(&["4096"]).at(&["cmdline ="]);
    label_longer_than_urunc_reads => case(|v| v["labels"] = json!({ "note": "y".repeat(5000) }))
        .names(&["note"]).names(&["4096"]).at(&["note ="]);
    fifo_as_binary => case(|v| { v["files"]["./fifo"] = json!("/fifo"); ann(v, "binary", json!("/fifo")); })
        .setup(|fx| sh("mkfifo", &[fx.path("in/fifo").to_str().expect("utf-8")])).names(&["fifo"]).at(&["\"./fifo\" ="]);

    // How the image is written.
    layers_unknown => case(|v| v["layers"] = json!("double")).names(&["layers"]).names(&["\"auto\""]).names(&["\"single\""]).at(&["layers ="]);
    layers_misspelt => case(|v| v["layers"] = json!("singel")).names(&["did you mean"]).names(&["\"single\""]).at(&["layers ="]);
    compression_unknown => case(|v| v["compression"] = json!("xz")).names(&["compression"]).names(&["\"gzip\""]).names(&["\"zstd\""]).at(&["compression ="]);
    compression_not_a_string => case(|v| v["compression"] = json!(true)).names(&["compression"]).at(&["compression ="]);
}

#[test]
fn invalid_json_is_reported_at_line_and_column() {
    let fx = Fx::new();
    let args = fx.write("in/args.json", b"{\n  \"name\": \"hello\",\n  \"tag\": \n}\n");
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    assert!(positions(&run.stderr, "args.json").iter().any(|(l, _)| *l == 4), "{}", run.stderr);
}

#[test]
fn nix_syntax_errors_are_reported_at_line_and_column() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    let args = fx.write("in/args.nix", b"{\n  name = \"hello\";\n  tag = \"v1\"\n  files = {};\n}\n");
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    let found = positions(&run.stderr, "args.nix");
    assert!(found.iter().any(|(l, _)| *l == 3 || *l == 4), "{}", run.stderr);
}

#[test]
fn nix_beyond_the_data_subset_is_refused_at_its_position() {
    for (construct, text) in [
        ("import", "{\n  name = \"hello\";\n  annotations = import ./ann.nix;\n}\n"),
        ("function call", "{\n  name = \"hello\";\n  annotations = builtins.fromJSON \"{}\";\n}\n"),
        ("with", "{\n  name = \"hello\";\n  annotations = with { a = 1; }; { };\n}\n"),
        ("arithmetic", "{\n  name = \"hello\";\n  annotations = { x = 1 + 2; };\n}\n"),
    ] {
        let fx = Fx::new();
        fx.write("in/ann.nix", b"{ }");
        let args = fx.write("in/args.nix", text.as_bytes());
        let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
        assert_eq!(run.code, Some(1), "{construct}");
        assert!(
            positions(&run.stderr, "args.nix").iter().any(|(l, _)| *l == 3),
            "{construct}: no args.nix:3:col in {}",
            run.stderr
        );
        assert!(
            run.stderr.to_lowercase().contains("nix"),
            "{construct}: the message should point to the Nix function: {}",
            run.stderr
        );
    }
}

#[test]
fn all_problems_are_reported_together() {
    let fx = Fx::new();
    let mut v = base_args();
    v["nmae"] = json!("x");
    v["cmd"] = json!("not a list");
    v["files"]["./nope"] = json!("/nope");
    let args = fx.standard(&v);
    let run = bx(fx.tmp.path()).arg("check").arg(&args).run();
    assert_eq!(run.code, Some(1));
    for w in ["nmae", "cmd"] {
        assert!(run.stderr.contains(w), "{w} is not reported:\n{}", run.stderr);
    }
}

// ---------------------------------------------------------------------------
// Hostile and careless input (issue 8): never destroy an input, never
// crash, never hang.

impl Bx {
    /// Runs with a deadline: a run that blocks (on a FIFO, say) is killed
    /// and fails the test instead of hanging it.
    fn run_within(self, secs: u64) -> Run {
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

// ---------------------------------------------------------------------------
// Layers, compression and multi-platform indexes

/// Inputs with one of each kind of artifact: the kernel (binary), an initrd
/// and a block image named by the annotations, a large file, small files
/// and a directory.
fn artifact_inputs(fx: &Fx) -> Value {
    fx.write("in/kernel", &kernel());
    fx.write("in/initrd", b"070701 an initrd stand-in");
    fx.write("in/disk.img", &[7; 4096]);
    fx.write("in/big.bin", &vec![1; 16 << 20]);
    fx.write("in/almost.bin", &vec![2; (16 << 20) - 1]);
    fx.write("in/conf/app.conf", b"a=1\n");
    let mut v = base_args();
    v["files"] = json!({
        "./kernel": "/boot/kernel",
        "./initrd": "/boot/initrd",
        "./disk.img": "/data/disk.img",
        "./big.bin": "/opt/big/big.bin",
        "./almost.bin": "/opt/almost.bin",
        "./conf": "/etc/app",
    });
    v["files"]["./conf"] = json!({ "target": "/etc/app", "mode": "0700" });
    v["annotations"]["initrd"] = json!("/boot/initrd");
    v["annotations"]["block"] = json!("/data/disk.img");
    v["annotations"]["blkMntPoint"] = json!("/");
    v
}

#[test]
fn auto_layers_put_each_artifact_alone_sorted_by_path_then_one_top_layer() {
    let fx = Fx::new();
    let (args, _) = fx.args("in/args.json", &artifact_inputs(&fx));
    let (_, img) = build(&fx, &args, &[]);
    assert_eq!(
        img.leaves(),
        [
            vec!["boot/initrd"],
            vec!["boot/kernel"],
            vec!["data/disk.img"],
            vec!["opt/big/big.bin"],
            vec!["etc/app/app.conf", "opt/almost.bin", "urunc.json"],
        ],
        "binary, initrd, block and files of 16 MiB or more alone, sorted by path; then the rest"
    );
    assert_eq!(img.layers[3].paths(), ["opt", "opt/big", "opt/big/big.bin"], "parents come along");
    let top = img.layers[4].paths();
    assert_eq!(
        top,
        ["boot", "data", "etc", "etc/app", "etc/app/app.conf", "opt", "opt/almost.bin", "opt/big", "urunc.json"]
    );
    let dir_mode = |layer: &Layer, path: &str| {
        layer.entries.iter().find(|e| e.path == format!("{path}/")).map(|e| e.mode).expect("directory entry")
    };
    assert_eq!(dir_mode(&img.layers[4], "etc/app"), 0o700, "the mode the tree gives");
    img.assert_layers_hygienic(0, &[("etc/app", 0o700)]);
    assert_eq!(img.entry("opt/big/big.bin").data.len(), 16 << 20);
}

#[test]
fn layers_single_writes_one_layer_with_the_bytes_of_bimanix_0_1() {
    let fx = Fx::new();
    let mut v = base_args();
    v["layers"] = json!("single");
    let args = fx.standard(&v);
    let (bytes, img) = build(&fx, &args, &[]);
    assert_eq!(img.leaves(), [vec!["boot/kernel", "urunc.json"]]);
    // What bimanix wrote for these inputs before layers existed (main at
    // 4e067ca): `single` must not move a byte.
    assert_eq!(sha256_hex(&bytes), SINGLE_LAYER_ARCHIVE_SHA256);
    let mut auto = base_args();
    auto["layers"] = json!("auto");
    let (auto_args, _) = fx.args("in/auto.json", &auto);
    let (default_args, _) = fx.args("in/default.json", &base_args());
    assert_eq!(build(&fx, &auto_args, &[]).0, build(&fx, &default_args, &[]).0, "auto is the default");
}

/// sha256 of the docker-archive that bimanix 0.1 (one layer) built from
/// `base_args()`.
const SINGLE_LAYER_ARCHIVE_SHA256: &str = "a2c5aade1c0cecd57b742bca458cc3e1d710174393c60f564329eeee2a529cde";

/// Builds `v` (with the standard kernel) and returns the image.
fn build_value(fx: &Fx, v: &Value, extra: &[&str]) -> Image {
    let (args, _) = fx.args("in/args.json", v);
    build(fx, &args, extra).1
}

#[test]
fn artifact_layers_keep_their_digests_when_only_the_top_layer_changes() {
    let fx = Fx::new();
    let v = artifact_inputs(&fx);
    let first = build_value(&fx, &v, &[]);
    let artifacts = |img: &Image| img.layer_digests()[..4].to_vec();
    let top = |img: &Image| img.layer_digests()[4].clone();
    let changes: Vec<(&str, Edit)> = vec![
        ("an annotation", Box::new(|v| v["annotations"]["cmdline"] = json!("console=ttyS1"))),
        ("cmd", Box::new(|v| v["cmd"] = json!(["/init", "x"]))),
        ("env", Box::new(|v| v["env"] = json!({ "A": "1" }))),
        ("labels", Box::new(|v| v["labels"] = json!({ "team": "x" }))),
        ("a small file", Box::new(|_| {})),
    ];
    for (what, change) in changes {
        let mut changed = v.clone();
        change(&mut changed);
        if what == "a small file" {
            fx.write("in/conf/app.conf", b"a=2\n");
        }
        let img = build_value(&fx, &changed, &[]);
        assert_eq!(artifacts(&img), artifacts(&first), "changing {what} moved an artifact layer");
        assert_ne!(img.manifest_digest, first.manifest_digest, "changing {what} must change the manifest");
        if what == "an annotation" || what == "a small file" {
            assert_ne!(top(&img), top(&first), "changing {what} must change the top layer (urunc.json, the file)");
        } else {
            assert_eq!(top(&img), top(&first), "changing {what} changes the config, not a layer");
        }
        fx.write("in/conf/app.conf", b"a=1\n");
    }
}

/// A Linux guest with a generated initrd.
fn rootfs_inputs(fx: &Fx) -> Value {
    fx.write("in/kernel", &kernel());
    fx.write("in/init", b"#!/bin/sh\necho hello\n");
    let mut v = base_args();
    v["rootfs"] = json!({ "type": "initrd", "files": { "./init": { "target": "/init", "mode": "0755" } } });
    v
}

#[test]
fn the_kernel_and_the_generated_rootfs_change_independently() {
    let fx = Fx::new();
    let v = rootfs_inputs(&fx);
    let first = build_value(&fx, &v, &[]);
    assert_eq!(first.leaves(), [vec![".boot/rootfs"], vec!["boot/kernel"], vec!["urunc.json"]]);
    let [rootfs, kernel_layer, _] = <[String; 3]>::try_from(first.layer_digests()).expect("three layers");

    let mut new_kernel = kernel();
    new_kernel.extend_from_slice(b"padding that changes the kernel's bytes");
    fx.write("in/kernel", &new_kernel);
    let img = build_value(&fx, &v, &[]);
    assert_eq!(img.layer_digests()[0], rootfs, "a new kernel kept the rootfs layer");
    assert_ne!(img.layer_digests()[1], kernel_layer);

    fx.write("in/kernel", &kernel());
    fx.write("in/init", b"#!/bin/sh\necho changed\n");
    let img = build_value(&fx, &v, &[]);
    assert_ne!(img.layer_digests()[0], rootfs);
    assert_eq!(img.layer_digests()[1], kernel_layer, "a new rootfs kept the kernel layer");
}

#[test]
fn base_image_layers_stay_below_unchanged() {
    let fx = Fx::new();
    let base_img = {
        let mut v = base_args();
        v["name"] = json!("base");
        fx.write("in/base/kernel", &kernel());
        fx.write("in/base/lib/libc.so", b"libc");
        v["files"] = json!({ "./kernel": "/boot/kernel", "./lib": "/lib" });
        let (args, _) = fx.args("in/base/args.json", &v);
        bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("base.tar")).run().ok();
        Image::from_tar(&fs::read(fx.path("base.tar")).expect("base"))
    };
    fx.write("in/kernel", &kernel());
    let img = build_value(&fx, &v_with_base(&fx), &[]);
    let base_ids = base_img.config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone();
    let ids = img.config["rootfs"]["diff_ids"].as_array().expect("diff_ids").clone();
    assert_eq!(ids.len(), base_ids.len() + 2, "the base's layers, the kernel's, the top");
    assert_eq!(ids[..base_ids.len()], base_ids[..], "the base layers come first, unchanged");
    assert_eq!(img.leaves()[base_ids.len()..], [vec!["boot/kernel"], vec!["etc/app.conf", "urunc.json"]]);
    let zstd = build_value(&fx, &v_with_base(&fx), &["--compression", "zstd"]);
    assert_eq!(zstd.config["rootfs"], img.config["rootfs"], "compressed, the base layers keep their diff_ids");
    assert!(zstd.layers.iter().all(|l| l.media_type == ZSTD_LAYER_TYPE), "base layers are compressed too");
}

/// `base_args()` on the base image `base.tar` of `fx`, with a small file.
fn v_with_base(fx: &Fx) -> Value {
    let mut v = base_args();
    v["fromImage"] = json!("../base.tar");
    fx.write("in/app.conf", b"x");
    v["files"]["./app.conf"] = json!("/etc/app.conf");
    v
}

/// The pinned digests of the example kernel's layer (the layer of
/// `/boot/kernel` in `base_args()`), compressed. A change means the
/// compressor's output changed: note it in CHANGELOG.md.
const GZIP_KERNEL_LAYER: &str = "sha256:63f4814d8662e61bbe13df74358cd46fabbb95907ee3fb2e1fb0e312e01929db";
const ZSTD_KERNEL_LAYER: &str = "sha256:8929ee0ba4d19dbae350ead98b676e89eadc7252a39076187d7e6b9fe910f271";

#[test]
fn compressed_layers_have_pinned_digests_media_types_and_the_same_diff_ids() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    let plain = build_value(&fx, &base_args(), &[]);
    for (name, media_type, pinned) in
        [("gzip", GZIP_LAYER_TYPE, GZIP_KERNEL_LAYER), ("zstd", ZSTD_LAYER_TYPE, ZSTD_KERNEL_LAYER)]
    {
        let img = build_value(&fx, &base_args(), &["--compression", name]);
        assert!(img.layers.iter().all(|l| l.media_type == media_type), "{name}: media types");
        assert_eq!(img.config["rootfs"], plain.config["rootfs"], "{name}: diff_ids are the uncompressed digests");
        assert_eq!(img.layers[0].digest(), pinned, "{name}: the kernel layer's digest moved; see CHANGELOG.md");
        assert_eq!(img.leaves(), plain.leaves());
        for (layer, plain_layer) in img.layers.iter().zip(&plain.layers) {
            assert_eq!(layer.tar, plain_layer.tar, "{name}: the same tar inside");
        }
    }
    assert!(plain.layers.iter().all(|l| l.media_type == LAYER_TYPE), "none is the default");
}

#[test]
fn compression_in_args_and_the_flag_that_overrides_it() {
    let fx = Fx::new();
    fx.write("in/kernel", &kernel());
    let mut v = base_args();
    v["compression"] = json!("zstd");
    let from_args = build_value(&fx, &v, &[]);
    let from_flag = build_value(&fx, &base_args(), &["--compression", "zstd"]);
    assert_eq!(from_args.files, from_flag.files, "compression = \"zstd\" is --compression zstd");
    let overridden = build_value(&fx, &v, &["--compression", "none"]);
    assert!(overridden.layers.iter().all(|l| l.media_type == LAYER_TYPE), "the flag wins over the args file");
    for format in ["oci-archive", "oci-layout"] {
        let out = fx.path(&format!("img-{format}"));
        bx(fx.tmp.path())
            .arg("build")
            .arg(fx.path("in/args.json"))
            .args(["--format", format, "-o"])
            .arg(&out)
            .run()
            .ok();
        let img =
            if format == "oci-layout" { Image::from_dir(&out) } else { Image::from_tar(&fs::read(&out).expect("out")) };
        assert_eq!(img.manifest_digest, from_args.manifest_digest, "{format}: the same image as the docker-archive");
    }
}

#[test]
fn repro_every_layer_mode_and_compression_gives_the_same_bytes_everywhere() {
    for extra in [&["--compression", "gzip"][..], &["--compression", "zstd"], &["--compression", "none"]] {
        let fx = Fx::new();
        let args = repro_inputs(&fx, "in");
        let build = |b: Bx, args: &Path| {
            let out = tempfile::tempdir().expect("tempdir");
            let target = out.path().join("image.tar");
            b.arg("build").arg(args).arg("-o").arg(&target).args(extra.iter().copied()).run().ok();
            fs::read(&target).expect("output")
        };
        let first = build(bx(fx.tmp.path()), &args);
        assert_eq!(build(bx(fx.tmp.path()), &args), first, "{extra:?}: built twice");
        assert_eq!(build(bx(Path::new("/")).umask(0o077), &args), first, "{extra:?}: another cwd and umask");
        let root = fx.path("in");
        sh(
            "sh",
            &["-c", "find \"$1\" -exec touch -h -d '2001-02-03 04:05:06' {} +", "sh", root.to_str().expect("utf-8")],
        );
        let other = Fx::new();
        let moved = other.dir("deeper").join("moved");
        sh("cp", &["-a", root.to_str().expect("utf-8"), moved.to_str().expect("utf-8")]);
        assert_eq!(build(bx(other.tmp.path()), &moved.join("args.json")), first, "{extra:?}: moved, other mtimes");
    }
}

/// An ELF header of an aarch64 executable: a stand-in arm64 kernel.
fn fake_arm64_elf() -> Vec<u8> {
    let mut h = fake_hvt_elf();
    h[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    h
}

/// Builds the amd64 (example kernel) and arm64 (stand-in) images of one
/// name as `amd64.tar` and `arm64.tar` in `fx`, with `extra` build options.
fn two_platforms(fx: &Fx, name: &str, tag: &str, extra: &[&str]) -> (PathBuf, PathBuf) {
    fx.write("in/kernel-amd64", &kernel());
    fx.write("in/kernel-arm64", &fake_arm64_elf());
    let mut out = Vec::new();
    for arch in ["amd64", "arm64"] {
        let mut v = base_args();
        v["name"] = json!(name);
        v["tag"] = json!(tag);
        v["files"] = json!({ format!("./kernel-{arch}"): "/boot/kernel" });
        v["labels"] = json!({ "arch": arch });
        let (args, _) = fx.args(&format!("in/{arch}.json"), &v);
        let target = fx.path(&format!("{arch}.tar"));
        bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&target).args(extra).run().ok();
        out.push(target);
    }
    (out[0].clone(), out[1].clone())
}

/// An OCI archive or layout holding an index, read back and checked.
struct IndexRead {
    files: BTreeMap<String, Vec<u8>>,
    index_json: Value,
    index: Value,
}

impl IndexRead {
    fn from_files(files: BTreeMap<String, Vec<u8>>) -> IndexRead {
        assert!(!files.contains_key("manifest.json"), "an index archive has no docker manifest.json");
        for (path, bytes) in &files {
            if let Some(hex) = path.strip_prefix("blobs/sha256/") {
                assert_eq!(sha256_hex(bytes), hex, "blob {path} does not hash to its name");
            }
        }
        let index_json = parse(&files["index.json"], "index.json");
        let top = index_json["manifests"].as_array().expect("manifests");
        assert_eq!(top.len(), 1, "index.json names one image index");
        let index = parse(blob(&files, &top[0], "application/vnd.oci.image.index.v1+json"), "image index");
        for m in index["manifests"].as_array().expect("manifests") {
            let manifest = parse(blob(&files, m, MANIFEST_TYPE), "manifest");
            blob(&files, &manifest["config"], CONFIG_TYPE);
            for layer in manifest["layers"].as_array().expect("layers") {
                blob(&files, layer, layer["mediaType"].as_str().expect("media type"));
            }
        }
        IndexRead { files, index_json, index }
    }

    fn platforms(&self) -> Vec<Value> {
        self.index["manifests"].as_array().expect("manifests").iter().map(|m| m["platform"].clone()).collect()
    }

    fn manifest_digests(&self) -> Vec<String> {
        self.index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| m["digest"].as_str().expect("digest").to_string())
            .collect()
    }
}

#[test]
fn index_combines_two_platforms_with_their_manifests_unchanged() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&arm64).arg(&amd64).arg("-o").arg(&out).run().ok();
    let bytes = fs::read(&out).expect("index archive");
    assert_hygienic(&bytes, 0, &[]);
    let mut files = BTreeMap::new();
    for e in tar_entries(&bytes) {
        if e.kind == b'0' {
            files.insert(e.path, e.data);
        }
    }
    let read = IndexRead::from_files(files);
    assert_eq!(
        read.platforms(),
        [
            json!({ "os": "linux", "architecture": "amd64" }),
            json!({ "os": "linux", "architecture": "arm64", "variant": "v8" })
        ],
        "sorted by platform; arm64 has the variant v8"
    );
    let singles =
        [Image::from_tar(&fs::read(&amd64).expect("amd64")), Image::from_tar(&fs::read(&arm64).expect("arm64"))];
    let digests: Vec<String> = singles.iter().map(|i| i.manifest_digest.clone()).collect();
    assert_eq!(read.manifest_digests(), digests, "each platform keeps its manifest");
    let names = &read.index_json["manifests"][0]["annotations"];
    assert_eq!(names["io.containerd.image.name"], "docker.io/library/multi:v2");
    assert_eq!(names["org.opencontainers.image.ref.name"], "v2");
    for single in &singles {
        for layer in &single.layers {
            assert_eq!(
                read.files[&format!("blobs/sha256/{}", layer.digest().trim_start_matches("sha256:"))],
                layer.blob
            );
        }
    }
}

#[test]
fn index_is_reproducible_whatever_the_order_of_its_images() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &["--compression", "gzip"]);
    let run = |a: &Path, b: &Path, out: &str, umask: u32| {
        let target = fx.path(out);
        bx(fx.tmp.path()).umask(umask).arg("index").arg(a).arg(b).arg("-o").arg(&target).run().ok();
        fs::read(&target).expect("index")
    };
    let first = run(&amd64, &arm64, "a.tar", 0o022);
    assert_eq!(run(&arm64, &amd64, "b.tar", 0o077), first, "image order and umask change nothing");
    let moved = fx.dir("elsewhere");
    fs::rename(&amd64, moved.join("x.tar")).expect("mv");
    assert_eq!(run(&moved.join("x.tar"), &arm64, "c.tar", 0o022), first, "the images' location changes nothing");
}

/// `--annotation` puts annotations on the image index itself (where GHCR
/// reads a multi-platform package's description), sorted, whatever the
/// order of the flags; bad keys, bad values and repeated keys are usage
/// errors that name the fault.
#[test]
fn index_carries_annotations_on_the_index_sorted() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let description = "org.opencontainers.image.description=A unikernel = fast\nsecond line";
    let source = "org.opencontainers.image.source=https://example.org/multi";
    let run = |flags: [&str; 2], out: &str| {
        let target = fx.path(out);
        bx(fx.tmp.path())
            .arg("index")
            .arg(&amd64)
            .arg(&arm64)
            .args(["--annotation", flags[0], "--annotation", flags[1], "-o"])
            .arg(&target)
            .run()
            .ok();
        fs::read(&target).expect("index")
    };
    let first = run([description, source], "a.tar");
    assert_eq!(run([source, description], "b.tar"), first, "the flags' order changes nothing");
    let mut files = BTreeMap::new();
    for e in tar_entries(&first) {
        if e.kind == b'0' {
            files.insert(e.path, e.data);
        }
    }
    let read = IndexRead::from_files(files);
    assert_eq!(
        read.index["annotations"],
        json!({
            "org.opencontainers.image.description": "A unikernel = fast\nsecond line",
            "org.opencontainers.image.source": "https://example.org/multi",
        })
    );
    let raw = blob(&read.files, &read.index_json["manifests"][0], "application/vnd.oci.image.index.v1+json");
    let raw = String::from_utf8_lossy(raw);
    assert!(raw.starts_with(r#"{"annotations":{"org.opencontainers.image.description":"#), "{raw}");
    assert_eq!(read.platforms().len(), 2);
    for m in read.index["manifests"].as_array().expect("manifests") {
        assert!(m.get("annotations").is_none(), "the annotations are the index's, not its entries': {m}");
    }

    for (flag, says) in [
        ("no-equals-sign", "is not KEY=VALUE"),
        ("bad key=v", "is not an annotation key"),
        (".hidden=v", "is not an annotation key"),
        ("k=\u{7}bell", "control character U+0007"),
    ] {
        let run =
            bx(fx.tmp.path()).arg("index").arg(&amd64).args(["--annotation", flag, "-o"]).arg(fx.path("x.tar")).run();
        assert_eq!(run.code, Some(2), "{flag:?} is a usage error: {}", run.stderr);
        assert!(run.stderr.contains("--annotation") && run.stderr.contains(says), "{flag:?}: {}", run.stderr);
    }
    let run = bx(fx.tmp.path())
        .arg("index")
        .arg(&amd64)
        .args(["--annotation", "a.b=1", "--annotation", "a.b=2", "-o"])
        .arg(fx.path("x.tar"))
        .run();
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--annotation a.b is given twice"), "{}", run.stderr);
    assert!(!fx.path("x.tar").exists(), "a refused index leaves no output");
}

#[test]
fn index_copies_compressed_blobs_as_they_are_and_writes_a_layout() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &["--compression", "zstd"]);
    let out = fx.path("layout");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).args(["--format", "oci-layout", "-o"]).arg(&out).run().ok();
    let mut files = BTreeMap::new();
    for (p, content) in snapshot(&out) {
        if p.is_file() {
            files.insert(p.strip_prefix(&out).expect("under").to_string_lossy().into_owned(), content);
        }
    }
    let read = IndexRead::from_files(files);
    let single = Image::from_tar(&fs::read(&amd64).expect("amd64"));
    for layer in &single.layers {
        assert_eq!(layer.media_type, ZSTD_LAYER_TYPE);
        assert_eq!(read.files[&format!("blobs/sha256/{}", layer.digest().trim_start_matches("sha256:"))], layer.blob);
    }
}

#[test]
fn index_refuses_two_images_of_one_platform_and_images_of_different_names() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let run = bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&amd64).arg("-o").arg(fx.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("linux/amd64") && run.stderr.contains("one image per platform"), "{}", run.stderr);

    let other = Fx::new();
    let (other_amd64, _) = two_platforms(&other, "another", "v2", &[]);
    let run = bx(fx.tmp.path()).arg("index").arg(&other_amd64).arg(&arm64).arg("-o").arg(fx.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("another") && run.stderr.contains("multi"), "{}", run.stderr);
    let run = bx(fx.tmp.path())
        .arg("index")
        .arg(&amd64)
        .arg(&arm64)
        .args(["--name", "third", "-o"])
        .arg(fx.path("x.tar"))
        .run();
    assert_eq!(run.code, Some(1), "--name must match the images' name: {}", run.stderr);
    assert!(!fx.path("x.tar").exists(), "a failed index leaves no output");
    for (flag, value, says) in [("--name", "Bad", "must be lowercase"), ("--tag", "bad tag", "must be 1 to 128")] {
        let run = bx(fx.tmp.path())
            .arg("index")
            .arg(&amd64)
            .arg(&arm64)
            .args([flag, value, "-o"])
            .arg(fx.path("x.tar"))
            .run();
        assert_eq!(run.code, Some(2), "{flag} {value:?} is a usage error: {}", run.stderr);
        assert!(run.stderr.contains(&format!("invalid value '{value}' for '{flag}")), "{}", run.stderr);
        assert!(run.stderr.contains(says) && !run.stderr.contains("is named"), "{}", run.stderr);
    }

    let tags = Fx::new();
    let (a, _) = two_platforms(&tags, "multi", "one", &[]);
    let (_, b) = two_platforms(&fx, "multi", "two", &[]);
    let run = bx(tags.tmp.path()).arg("index").arg(&a).arg(&b).arg("-o").arg(tags.path("x.tar")).run();
    assert_eq!(run.code, Some(1), "different tags need --tag: {}", run.stderr);
    assert!(run.stderr.contains("--tag"), "{}", run.stderr);
    bx(tags.tmp.path()).arg("index").arg(&a).arg(&b).args(["--tag", "both", "-o"]).arg(tags.path("x.tar")).run().ok();
}

#[test]
fn inspect_shows_each_platform_of_an_index_and_picks_one_with_platform() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).arg("-o").arg(&out).run().ok();
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    let report = parse(&js.stdout, "inspect --json");
    assert_eq!(report["platforms"], json!(["linux/amd64", "linux/arm64/v8"]), "as the index lists them");
    assert_eq!(report["ok"], true);
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), 2);
    assert_eq!(images[1]["labels"]["arch"], "arm64");
    assert_eq!(images[1]["binary_architecture"], "arm64", "each image is checked against its kernel");
    let text = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    text.ok();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("images:     2: linux/amd64, linux/arm64/v8\n"), "{shown}");
    assert!(shown.contains("== image 2 of 2: linux/arm64/v8\n"), "{shown}");
    assert!(shown.contains("platform:   linux/arm64/v8\n"), "{shown}");
    // The single arm64 image (a docker-archive whose config names no
    // variant) as well as the index.
    for image in [&out, &arm64] {
        for platform in ["linux/arm64", "linux/arm64/v8", "arm64"] {
            let one = bx(fx.tmp.path()).arg("inspect").arg(image).args(["--platform", platform, "--json"]).run();
            one.ok();
            let report = parse(&one.stdout, "inspect --platform");
            assert_eq!(report["platform"], "linux/arm64/v8", "--platform {platform}");
            assert_eq!(report["labels"]["arch"], "arm64");
        }
    }
    let none = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--platform", "linux/riscv64"]).run();
    assert_eq!(none.code, Some(1));
    assert!(none.stderr.contains("linux/riscv64") && none.stderr.contains("(linux/arm64/v8)"), "{}", none.stderr);
    let wrong = bx(fx.tmp.path()).arg("inspect").arg(&arm64).args(["--platform", "linux/arm64/v7"]).run();
    assert_eq!(wrong.code, Some(1));
    assert!(wrong.stderr.contains("no image for platform linux/arm64/v7") && wrong.stderr.contains("(linux/arm64/v8)"));
    for bad in ["linux/", "a/b/c/d", "/amd64"] {
        let run = bx(fx.tmp.path()).arg("inspect").arg(&out).args(["--platform", bad]).run();
        assert_eq!(run.code, Some(2), "--platform {bad:?} is a usage error: {}", run.stderr);
        assert!(run.stderr.contains("os/arch or os/arch/variant"), "{}", run.stderr);
    }
}

#[test]
fn inspect_shows_which_layer_holds_each_file() {
    let fx = Fx::new();
    let v = rootfs_inputs(&fx);
    let (args, _) = fx.args("in/args.json", &v);
    let out = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&out).run().ok();
    let js = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    js.ok();
    let report = parse(&js.stdout, "inspect --json");
    let layer_of: BTreeMap<String, u64> = report["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| (f["path"].as_str().expect("path").to_string(), f["layer"].as_u64().expect("layer")))
        .collect();
    assert_eq!(layer_of["/.boot/rootfs"], 1);
    assert_eq!(layer_of["/boot/kernel"], 2);
    assert_eq!(layer_of["/urunc.json"], 3);
    assert_eq!(layer_of["/boot"], 3, "a directory shows the highest layer that wrote it");
    let held: Vec<Value> = report["layers"].as_array().expect("layers").iter().map(|l| l["files"].clone()).collect();
    assert_eq!(held, [json!(["/.boot/rootfs"]), json!(["/boot/kernel"]), json!(["/urunc.json"])]);
    let text = bx(fx.tmp.path()).arg("inspect").arg(&out).run();
    text.ok();
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("holds /boot/kernel"), "{shown}");
    assert!(shown.lines().any(|l| l.contains("L2") && l.ends_with("/boot/kernel")), "{shown}");
}

/// Rewrites a bimanix docker-archive as `docker save` wrote them before
/// Docker 25: `<hex>.json` config, `<hex>/layer.tar` layers, manifest.json,
/// and no OCI manifest.
fn as_old_docker_archive(fx: &Fx, image: &Path, out: &str) -> PathBuf {
    let img = Image::from_tar(&fs::read(image).expect("image"));
    let config_hex = img.manifest["config"]["digest"].as_str().expect("digest").trim_start_matches("sha256:");
    let config = img.files[&format!("blobs/sha256/{config_hex}")].clone();
    let config_name = format!("{config_hex}.json");
    let mut files: Vec<(String, Vec<u8>)> = vec![(config_name.clone(), config)];
    let mut layer_names = Vec::new();
    for layer in &img.layers {
        let name = format!("{}/layer.tar", sha256_hex(&layer.tar));
        files.push((name.clone(), layer.tar.clone()));
        layer_names.push(name);
    }
    let repo_tags = img.docker_manifest.as_ref().expect("manifest.json")[0]["RepoTags"].clone();
    let manifest = json!([{ "Config": config_name, "RepoTags": repo_tags, "Layers": layer_names }]);
    files.push(("manifest.json".to_string(), serde_json::to_vec(&manifest).expect("json")));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, &data[..]).expect("tar");
    }
    let path = fx.path(out);
    fs::write(&path, builder.into_inner().expect("tar")).expect("write");
    path
}

#[test]
fn index_makes_a_manifest_for_an_image_from_before_docker_25() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let old = as_old_docker_archive(&fx, &amd64, "old.tar");
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&old).arg(&arm64).arg("-o").arg(&out).run().ok();
    let mut files = BTreeMap::new();
    for e in tar_entries(&fs::read(&out).expect("index")) {
        if e.kind == b'0' {
            files.insert(e.path, e.data);
        }
    }
    let read = IndexRead::from_files(files);
    let amd64_desc = &read.index["manifests"][0];
    assert_eq!(amd64_desc["platform"]["architecture"], "amd64");
    let manifest = parse(blob(&read.files, amd64_desc, MANIFEST_TYPE), "made manifest");
    let original = Image::from_tar(&fs::read(&amd64).expect("amd64"));
    assert_eq!(manifest["config"], original.manifest["config"], "the config, copied as it is");
    assert_eq!(manifest["layers"], original.manifest["layers"], "the layers, with media types from their bytes");
    let inspect = bx(fx.tmp.path()).arg("inspect").arg(&out).arg("--json").run();
    inspect.ok();
    assert_eq!(parse(&inspect.stdout, "inspect")["ok"], true);
}

#[test]
fn index_refuses_an_input_that_holds_several_platforms() {
    let fx = Fx::new();
    let (amd64, arm64) = two_platforms(&fx, "multi", "v2", &[]);
    let out = fx.path("multi.tar");
    bx(fx.tmp.path()).arg("index").arg(&amd64).arg(&arm64).arg("-o").arg(&out).run().ok();
    let run = bx(fx.tmp.path()).arg("index").arg(&out).arg("-o").arg(fx.path("again.tar")).run();
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("several images") && run.stderr.contains("one platform each"), "{}", run.stderr);
    assert!(!fx.path("again.tar").exists());
}

// ---------------------------------------------------------------------------
// push: what is settled before the network

/// A registry port that records whether anything connected to it: push
/// must refuse before it asks.
struct Unasked(std::net::TcpListener);

impl Unasked {
    fn new() -> Unasked {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        Unasked(listener)
    }

    fn reference(&self) -> String {
        format!("127.0.0.1:{}/test/hello:1", self.0.local_addr().expect("address").port())
    }

    /// Whether a connection came in (the kernel queues one even though
    /// nothing accepted it).
    fn asked(&self) -> bool {
        self.0.accept().is_ok()
    }
}

/// Pushes `image` to a port nobody may ask with `extra` options; expects
/// exit `code` with a message naming each of `what`, and the fixture unchanged.
fn refused_push(fx: &Fx, image: &Path, extra: &[&str], code: i32, what: &[&str]) {
    let registry = Unasked::new();
    let before = snapshot(fx.tmp.path());
    let run = bx(fx.tmp.path()).arg("push").arg(image).arg(registry.reference()).arg("--plain-http").args(extra).run();
    assert_eq!(run.code, Some(code), "push {extra:?} must be refused; stderr:\n{}", run.stderr);
    for w in what {
        assert!(run.stderr.contains(w), "push {extra:?}: the message does not name {w}:\n{}", run.stderr);
    }
    assert!(!registry.asked(), "push {extra:?} connected to the registry before refusing");
    assert_eq!(snapshot(fx.tmp.path()), before, "push {extra:?} changed a file");
}

/// The image the push tests push: `image.tar`, built from the standard args.
fn image_to_push(fx: &Fx) -> (PathBuf, PathBuf) {
    let args = fx.standard(&base_args());
    let image = fx.path("image.tar");
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(&image).run().ok();
    (args, image)
}

#[test]
fn push_refuses_a_digest_file_that_is_or_is_inside_the_image_before_any_network_use() {
    let fx = Fx::new();
    let (args, image) = image_to_push(&fx);
    let layout = fx.path("layout");
    bx(fx.tmp.path()).arg("build").arg(&args).args(["--format", "oci-layout", "-o"]).arg(&layout).run().ok();
    fs::hard_link(&image, fx.path("alias.tar")).expect("hard link");
    symlink("image.tar", fx.path("link.tar")).expect("symlink");
    for digestfile in ["image.tar", "alias.tar", "link.tar", "in/../image.tar"] {
        refused_push(&fx, &image, &["--digestfile", digestfile], 1, &["--digestfile", "the image to push"]);
    }
    for digestfile in ["layout/index.json", "layout/digest", "layout/blobs/sha256/new"] {
        refused_push(&fx, &layout, &["--digestfile", digestfile], 1, &["--digestfile", "the image to push"]);
    }
}

#[test]
fn push_checks_the_password_and_the_digest_file_before_any_network_use() {
    let fx = Fx::new();
    let (_, image) = image_to_push(&fx);
    fx.dir("dir");
    // Standard input is empty.
    refused_push(&fx, &image, &["--creds", "alice", "--password-stdin"], 2, &["--password-stdin", "no password"]);
    refused_push(&fx, &image, &["--digestfile", "missing/digest"], 1, &["--digestfile", "missing", "No such file"]);
    refused_push(&fx, &image, &["--digestfile", "dir"], 1, &["--digestfile", "is a directory"]);
    refused_push(&fx, &image, &["--digestfile", "image.tar/digest"], 1, &["--digestfile", "Not a directory"]);
    // A line break alone is no password either.
    let registry = Unasked::new();
    let out = Command::new("sh")
        .arg("-c")
        .arg("printf '\\n' | \"$0\" push \"$1\" \"$2\" --plain-http --creds alice --password-stdin")
        .args([BIN.as_ref(), image.as_os_str(), registry.reference().as_ref()])
        .output()
        .expect("sh");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!registry.asked());
}

#[test]
fn list_form_files_entries_are_reported_at_their_position() {
    let fx = Fx::new();
    let (args, _) = fx.args("in/args.nix", &base_args());
    fx.write("in/kernel", &kernel());
    bx(fx.tmp.path()).arg("build").arg(&args).arg("-o").arg(fx.path("in/amd.tar")).run().ok();
    let entry = |fields: &str| {
        format!(
            "{{\n  name = \"t\";\n  files = [\n    {{ source = ./kernel; target = \"/boot/kernel\"; }}\n    {{\n{fields}    }}\n  ];\n  annotations = {{ unikernelType = \"linux\"; hypervisor = \"qemu\"; binary = \"/boot/kernel\"; }};\n}}\n"
        )
    };
    let cases = [
        // An architecture the archive does not hold: the entry's own `architecture`, line 9.
        (
            "      fromImage = ./amd.tar;\n      source = \"/boot/kernel\";\n      target = \"/k\";\n      architecture = \"arm64\";\n",
            "e.nix:9:7: files[1].architecture: cannot read image",
        ),
        // A source that cannot be read: the entry, line 5.
        ("      source = ./nothere;\n      target = \"/n\";\n", "e.nix:5:5: files[1]: source"),
        // A path missing from the image: the entry.
        (
            "      fromImage = ./amd.tar;\n      source = \"/nothere\";\n      target = \"/n\";\n",
            "e.nix:5:5: files[1]: /nothere in image",
        ),
    ];
    for (fields, message) in cases {
        fx.write("in/e.nix", entry(fields).as_bytes());
        let run = bx(&fx.path("in")).args(["check", "e.nix"]).run();
        assert_eq!(run.code, Some(1), "{}", run.stderr);
        assert!(run.stderr.contains(message), "want {message:?} in:\n{}", run.stderr);
    }
}

// ---------------------------------------------------------------------------
// Issue 16, rule 9: inputs that lie about themselves

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
