//! `bimanix push` of an image with attached documents against registries
//! that answer the referrers reads badly, in-process on loopback
//! (tests/hostile/server.rs): what sits under the fallback tag is never
//! clobbered when it is not a referrers index, answers are read up to a
//! bound, and the referrers and fallback reads have deadlines; an index's
//! images each get their own fallback tag. The good paths (Debian's registry, a registry with the referrers API) are in
//! tests/provenance.sh.

// Shared with push_hostile.rs, which uses the parts these tests do not.
#[allow(dead_code)]
#[path = "hostile/server.rs"]
mod server;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server::{Reply, Request, Server, answer};

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const LOCATION: &str = "/v2/x/hello/blobs/uploads/u1?_state=s";

/// Runs bimanix with no credentials from the environment, killing it
/// after a minute: `(code, stderr, how long)`.
fn run(args: &[&str]) -> (i32, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(BIN)
        .args(args)
        .env("HOME", "/nonexistent")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    (code, String::from_utf8_lossy(&output.stderr).into_owned(), start.elapsed())
}

/// Builds the hello image with an SBOM as an OCI archive in `dir`.
fn image_with_sbom(dir: &Path) -> String {
    std::fs::copy(KERNEL, dir.join("kernel")).unwrap();
    std::fs::write(
        dir.join("args.json"),
        r#"{"name": "hello", "files": {"./kernel": "/boot/kernel"},
            "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel"}}"#,
    )
    .unwrap();
    let out = dir.join("hello.tar");
    let out = out.to_str().unwrap();
    let args_file = dir.join("args.json");
    let args_file = args_file.to_str().unwrap();
    let (code, stderr, _) = run(&["build", args_file, "--format", "oci-archive", "--sbom", "cyclonedx", "-o", out]);
    assert_eq!(code, 0, "{stderr}");
    out.to_string()
}

/// Builds an amd64 and an arm64 image with an SBOM in `dir` and indexes
/// them: the index archive and the two images' manifest digests.
fn index_with_sboms(dir: &Path) -> (String, Vec<String>) {
    let amd64 = image_with_sbom(dir);
    let mut header = vec![0u8; 4096];
    header[56..60].copy_from_slice(b"ARM\x64");
    std::fs::write(dir.join("Image"), header).unwrap();
    let args = std::fs::read_to_string(dir.join("args.json")).unwrap().replace("./kernel", "./Image");
    std::fs::write(dir.join("arm.json"), args).unwrap();
    let arm64 = dir.join("arm.tar");
    let arm64 = arm64.to_str().unwrap();
    let args_file = dir.join("arm.json");
    let sbom = ["--format", "oci-archive", "--sbom", "cyclonedx", "-o", arm64];
    let (code, stderr, _) = run(&[&["build", args_file.to_str().unwrap()][..], &sbom].concat());
    assert_eq!(code, 0, "{stderr}");
    let index = dir.join("index.tar");
    let index = index.to_str().unwrap();
    let (code, stderr, _) = run(&["index", &amd64, arm64, "-o", index]);
    assert_eq!(code, 0, "{stderr}");
    let digests = [&amd64, arm64].map(|archive| {
        let text = String::from_utf8_lossy(
            &Command::new("tar").args(["-xOf", archive, "index.json"]).output().unwrap().stdout,
        )
        .into_owned();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        json["manifests"][0]["digest"].as_str().unwrap().to_string()
    });
    (index.to_string(), digests.to_vec())
}

/// A registry that takes every blob and manifest, has no referrers API
/// and no fallback tag, unless `special` answers first.
fn registry(request: &Request, special: fn(&Request) -> Option<Reply>) -> Reply {
    if let Some(reply) = special(request) {
        return reply;
    }
    let path = request.path();
    match request.method.as_str() {
        "GET" if path == "/v2/" => answer(200, &[], "{}"),
        "HEAD" if path.contains("/blobs/") => answer(404, &[], ""),
        "POST" if path.ends_with("/blobs/uploads/") => answer(202, &[("Location", LOCATION)], ""),
        "PUT" if path.contains("/blobs/uploads/") => {
            let digest = request.query().split('&').find_map(|p| p.strip_prefix("digest=")).unwrap_or("");
            answer(201, &[("Docker-Content-Digest", &digest.replace("%3A", ":"))], "")
        }
        "PUT" if path.contains("/manifests/") => answer(201, &[], ""),
        _ => answer(404, &[], r#"{"errors":[{"code":"NOT_FOUND"}]}"#),
    }
}

fn fallback_get(r: &Request) -> bool {
    r.method == "GET" && r.path().contains("/manifests/sha256-")
}

fn fallback_puts(server: &Server) -> usize {
    server.requests().iter().filter(|r| r.method == "PUT" && r.path().contains("/manifests/sha256-")).count()
}

#[test]
fn a_fallback_tag_holding_something_else_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_with_sbom(dir.path());
    let server = Server::start(false, |r| {
        registry(r, |r| {
            fallback_get(r).then(|| {
                let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:00","size":1},"layers":[]}"#;
                answer(200, &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")], manifest)
            })
        })
    });
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--timeout", "2"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("but not as a referrers index") && stderr.contains("not an OCI image index"), "{stderr}");
    assert!(stderr.contains("the image and its attached documents were pushed, but"), "says what is done: {stderr}");
    assert_eq!(fallback_puts(&server), 0, "nothing was put over it");
    let image_put = server.requests().iter().any(|r| r.method == "PUT" && r.path().ends_with("/manifests/1"));
    assert!(image_put, "the image itself went first");
}

#[test]
fn answers_are_read_up_to_4_mib() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_with_sbom(dir.path());
    let server = Server::start(false, |r| {
        registry(r, |r| {
            fallback_get(r).then(|| {
                let huge = format!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"x":"{}"}}"#,
                    "a".repeat(5 << 20)
                );
                answer(200, &[("Content-Type", "application/vnd.oci.image.index.v1+json")], &huge)
            })
        })
    });
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--timeout", "5"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("more than 4 MiB"), "{stderr}");
    assert_eq!(fallback_puts(&server), 0);
}

#[test]
fn the_referrers_reads_have_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let image = image_with_sbom(dir.path());
    type Stall = fn(&Request) -> Option<Reply>;
    let cases: [(&str, Stall); 2] = [
        ("the referrers API never answers", |r| r.path().contains("/referrers/").then_some(Reply::Silent)),
        ("the fallback tag never answers", |r| fallback_get(r).then_some(Reply::Silent)),
    ];
    for (what, stall) in cases {
        let server = Server::start(false, move |r| registry(r, stall));
        let to = format!("{}/x/hello:1", server.addr());
        let (code, stderr, took) = run(&["push", &image, &to, "--plain-http", "--timeout", "1"]);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(stderr.contains("stalled") && stderr.contains(&server.addr()), "{what}: {stderr}");
        assert!(took < Duration::from_secs(40), "{what}: {took:?}");
        assert_eq!(fallback_puts(&server), 0, "{what}");
    }
}

#[test]
fn each_image_of_an_index_gets_its_own_fallback_tag() {
    let dir = tempfile::tempdir().unwrap();
    let (index, manifests) = index_with_sboms(dir.path());
    let server = Server::start(false, |r| registry(r, |_| None));
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) = run(&["push", &index, &to, "--plain-http", "--timeout", "5"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 attached documents pushed"), "{stderr}");
    let puts: Vec<Request> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path().contains("/manifests/sha256-"))
        .collect();
    assert_eq!(puts.len(), 2, "one fallback index per image: {stderr}");
    for manifest in &manifests {
        let tag = format!("/manifests/{}", manifest.replacen(':', "-", 1));
        assert!(stderr.contains(&format!("listed by the index tagged {}", &tag[11..])), "{stderr}");
        let put = puts.iter().find(|r| r.path().ends_with(&tag)).unwrap_or_else(|| panic!("no PUT of {tag}"));
        let listing: serde_json::Value = serde_json::from_slice(&put.body).unwrap();
        let documents = listing["manifests"].as_array().unwrap();
        assert_eq!(documents.len(), 1, "{listing}");
        assert_eq!(documents[0]["artifactType"], "application/vnd.cyclonedx+json");
        let digest = documents[0]["digest"].as_str().unwrap();
        let artifact = server.requests().into_iter().find(|r| r.method == "PUT" && r.path().ends_with(digest));
        let artifact: serde_json::Value =
            serde_json::from_slice(&artifact.expect("the artifact was put").body).unwrap();
        assert_eq!(artifact["subject"]["digest"], manifest.as_str(), "its own image's document");
    }
}
