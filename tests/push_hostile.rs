//! `bimanix push` against hostile registries, token services and layouts,
//! in-process on loopback (tests/hostile/server.rs): credentials go only
//! where they are meant to and only encrypted; every network wait ends
//! (`--timeout 1` keeps these fast); a layout drawn to multiply work
//! costs what its distinct content costs; a layout's blobs are read only
//! from inside it; `Location` and realms are read as RFC 3986 says, and
//! the answers real registries give are accepted.

#[path = "hostile/server.rs"]
mod server;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server::{Reply, Request, Server, answer};

const BIN: &str = env!("CARGO_BIN_EXE_bimanix");
const KERNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/example/hello/hello.bzImage");
const SECRET: &str = "s3cret-Pa55";
const REFRESH: &str = "refresh-T0ken-s3cret";

/// Runs bimanix with no credentials from the environment (and `env`
/// added), killing it after a minute: `(code, stderr, how long)`, code -1
/// when it had to be killed.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, Duration) {
    let start = Instant::now();
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("HOME", "/nonexistent")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("DOCKER_CONFIG")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
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

/// Builds the hello image into `dir` in `format`, returning its path.
fn image(dir: &Path, format: &str) -> String {
    std::fs::copy(KERNEL, dir.join("kernel")).unwrap();
    std::fs::write(
        dir.join("args.json"),
        r#"{"name": "hello", "files": {"./kernel": "/boot/kernel"},
            "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel"}}"#,
    )
    .unwrap();
    let out = dir.join(format!("hello.{format}"));
    let out = out.to_str().unwrap();
    let (code, stderr, _) =
        run(&["build", dir.join("args.json").to_str().unwrap(), "--format", format, "-o", out], &[]);
    assert_eq!(code, 0, "{stderr}");
    out.to_string()
}

/// A registry that takes everything: the distribution API as the
/// distribution registry answers it, uploads continuing at `location`.
fn distribution(request: &Request, location: &str) -> Reply {
    let path = request.path();
    match request.method.as_str() {
        "GET" if path == "/v2/" => answer(200, &[], "{}"),
        "HEAD" if path.contains("/blobs/") => answer(404, &[], ""),
        "POST" if path.ends_with("/blobs/uploads/") => answer(202, &[("Location", location)], ""),
        "PUT" if path.contains("/blobs/uploads/") => {
            let digest = request.query().split('&').find_map(|p| p.strip_prefix("digest=")).unwrap_or("");
            answer(201, &[("Docker-Content-Digest", &digest.replace("%3A", ":"))], "")
        }
        "PUT" if path.contains("/manifests/") => answer(201, &[], ""),
        _ => answer(404, &[], r#"{"errors":[{"code":"NOT_FOUND"}]}"#),
    }
}

const LOCATION: &str = "/v2/x/hello/blobs/uploads/u1?_state=s";

fn count(server: &Server, method: &str, part: &str) -> usize {
    server.requests().iter().filter(|r| r.method == method && r.target.contains(part)).count()
}

/// No request carried a credential of any kind.
fn saw_no_secret(server: &Server) -> bool {
    server.requests().iter().all(|r| {
        r.header("authorization").is_none()
            && !String::from_utf8_lossy(&r.body).contains(REFRESH)
            && !r.target.contains(SECRET)
    })
}

fn auth_file(dir: &Path, registry: &str) -> String {
    let path = dir.join("auth.json");
    std::fs::write(&path, json!({"auths": {registry: {"identitytoken": REFRESH}}}).to_string()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn an_https_registry_never_sends_secrets_to_a_plain_http_token_service() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let realm = Server::start(false, |_| answer(200, &[], r#"{"token":"t"}"#));
    for scheme in ["http", "HTTP", "hTtP"] {
        let challenge = format!(r#"Bearer realm="{scheme}://{}/token",service="s""#, realm.addr());
        let registry = Server::start(true, move |_| answer(401, &[("WWW-Authenticate", &challenge)], ""));
        let to = format!("{}/x/hello:1", registry.addr());
        let creds = format!("alice:{SECRET}");
        let (code, stderr, _) =
            run(&["push", &image, &to, "--tls-verify=false", "--creds", &creds, "--timeout", "2"], &[]);
        assert_eq!(code, 1, "{scheme}: {stderr}");
        assert!(stderr.contains("plain HTTP") && !stderr.contains(SECRET), "{scheme}: {stderr}");
        let file = auth_file(dir.path(), &registry.addr());
        let (code, stderr, _) =
            run(&["push", &image, &to, "--tls-verify=false", "--timeout", "2"], &[("REGISTRY_AUTH_FILE", &file)]);
        assert_eq!(code, 1, "{scheme}: {stderr}");
        assert!(stderr.contains("refusing to send them unencrypted") && !stderr.contains(REFRESH), "{stderr}");
    }
    assert!(realm.requests().is_empty(), "{:?}", realm.requests());
}

#[test]
fn plain_http_opts_into_clear_text_for_that_registry_alone() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let creds = format!("alice:{SECRET}");
    // A token service on another port of the same host is another origin.
    let elsewhere = Server::start(false, |_| answer(200, &[], r#"{"token":"t"}"#));
    let challenge = format!(r#"Bearer realm="http://{}/token""#, elsewhere.addr());
    let registry = Server::start(false, move |_| answer(401, &[("WWW-Authenticate", &challenge)], ""));
    let to = format!("{}/x/hello:1", registry.addr());
    let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--creds", &creds, "--timeout", "2"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--plain-http opts into clear text for the registry"), "{stderr}");
    assert!(elsewhere.requests().is_empty(), "{:?}", elsewhere.requests());

    // The registry's own token service, on its own origin: the password
    // goes there in clear text, as --plain-http said.
    let registry = Server::start(false, |r| match r.path() {
        "/token" => answer(200, &[], r#"{"token":"t0k"}"#),
        _ if r.header("authorization") != Some("Bearer t0k") => {
            let challenge = format!(r#"Bearer realm="http://{}/token",service="s""#, r.header("host").unwrap());
            answer(401, &[("WWW-Authenticate", &challenge)], "")
        }
        _ => distribution(r, LOCATION),
    });
    let to = format!("{}/x/hello:1", registry.addr());
    let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--creds", &creds, "--timeout", "2"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let basic = format!("Basic {}", base64(&format!("alice:{SECRET}")));
    assert!(registry.requests().iter().any(|r| r.path() == "/token" && r.header("authorization") == Some(&basic)));
}

#[test]
fn a_401_from_an_upload_host_elsewhere_sends_credentials_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let evil = Server::start(true, |r| {
        let challenge = format!(r#"Bearer realm="https://{}/token""#, r.header("host").unwrap_or("x"));
        answer(401, &[("WWW-Authenticate", &challenge)], "")
    });
    let upload = format!("https://{}/up?_state=s", evil.addr());
    let basic = format!("Basic {}", base64(&format!("alice:{SECRET}")));
    let registry = Server::start(true, move |r| {
        if r.header("authorization") != Some(basic.as_str()) {
            return answer(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], "");
        }
        distribution(r, &upload)
    });
    let to = format!("{}/x/hello:1", registry.addr());
    let creds = format!("alice:{SECRET}");
    let (code, stderr, _) = run(&["push", &image, &to, "--tls-verify=false", "--creds", &creds, "--timeout", "2"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("sends credentials to the registry's own address alone"), "{stderr}");
    assert!(count(&evil, "PUT", "/up") >= 1, "{:?}", evil.requests());
    assert!(saw_no_secret(&evil) && count(&evil, "GET", "/token") == 0, "{:?}", evil.requests());
}

#[test]
fn a_registry_that_echoes_the_credentials_does_not_get_them_printed() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let server = Server::start(false, |r| match r.header("authorization") {
        None => answer(401, &[("WWW-Authenticate", r#"Basic realm="r""#)], ""),
        Some(auth) => {
            let body = format!(r#"{{"errors":[{{"code":"DENIED","message":"you sent {auth} ({SECRET})"}}]}}"#);
            answer(400, &[], &body)
        }
    });
    let to = format!("{}/x/hello:1", server.addr());
    let creds = format!("alice:{SECRET}");
    let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--creds", &creds, "--timeout", "2"], &[]);
    assert_eq!(code, 1, "{stderr}");
    let encoded = base64(&format!("alice:{SECRET}"));
    assert!(
        stderr.contains("you sent Basic [secret]") && !stderr.contains(SECRET) && !stderr.contains(&encoded),
        "{stderr}"
    );
}

#[test]
fn credentials_follow_no_redirect_and_no_downgrade() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let creds = format!("alice:{SECRET}");
    let plain = Server::start(false, |_| answer(200, &[], r#"{"token":"t"}"#));
    for status in [301, 302, 307, 308] {
        let target = format!("http://{}/token", plain.addr());
        let registry = Server::start(true, move |r| match r.path() {
            "/token" => answer(status, &[("Location", &target)], ""),
            _ => {
                let own = format!(r#"Bearer realm="https://{}/token""#, r.header("host").unwrap_or("x"));
                answer(401, &[("WWW-Authenticate", &own)], "")
            }
        });
        let to = format!("{}/x/hello:1", registry.addr());
        let (code, stderr, _) =
            run(&["push", &image, &to, "--tls-verify=false", "--creds", &creds, "--timeout", "2"], &[]);
        assert_eq!(code, 1, "{status}: {stderr}");
        assert!(stderr.contains("which bimanix does not follow"), "{status}: {stderr}");
    }
    // An upload that would continue in clear text.
    for scheme in ["http", "HTTP"] {
        let upload = format!("{scheme}://{}/up", plain.addr());
        let registry = Server::start(true, move |r| distribution(r, &upload));
        let to = format!("{}/x/hello:1", registry.addr());
        let (code, stderr, _) =
            run(&["push", &image, &to, "--tls-verify=false", "--creds", &creds, "--timeout", "2"], &[]);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("which is plain HTTP; refusing to leave HTTPS"), "{stderr}");
    }
    assert!(plain.requests().is_empty(), "{:?}", plain.requests());
}

/// What stalls, where: each push must end by itself, naming the host.
#[test]
fn every_network_wait_has_a_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    type Stall = fn(&Request) -> Option<Reply>;
    let cases: Vec<(&str, Stall, &str)> = vec![
        ("a registry that never answers", |_| Some(Reply::Silent), "stalled: nothing came from it for 1 s"),
        ("a head dripped a byte at a time", |_| Some(Reply::DripHead(Duration::from_millis(300))), "within 4 s"),
        ("an error body dripped", |_| Some(Reply::DripBody(500, Duration::from_millis(300))), "gave up after"),
        (
            "a token service that never answers",
            |r| match r.path() {
                "/token" => Some(Reply::Silent),
                _ if r.header("authorization").is_none() => {
                    let challenge = format!(r#"Bearer realm="http://{}/token""#, r.header("host").unwrap());
                    Some(answer(401, &[("WWW-Authenticate", &challenge)], ""))
                }
                _ => None,
            },
            "stalled",
        ),
        ("a HEAD never answered", |r| (r.method == "HEAD").then_some(Reply::Silent), "stalled"),
        ("an upload POST never answered", |r| (r.method == "POST").then_some(Reply::Silent), "stalled"),
        (
            "an upload PUT never answered",
            |r| (r.method == "PUT" && r.path().contains("/uploads/")).then_some(Reply::Silent),
            "stalled",
        ),
        (
            "a manifest PUT never answered",
            |r| (r.method == "PUT" && r.path().contains("/manifests/")).then_some(Reply::Silent),
            "stalled",
        ),
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|(what, stall, said)| {
            let image = image.clone();
            std::thread::spawn(move || {
                let server = Server::start(false, move |r| stall(r).unwrap_or_else(|| distribution(r, LOCATION)));
                let to = format!("{}/x/hello:1", server.addr());
                let (code, stderr, took) = run(&["push", &image, &to, "--plain-http", "--timeout", "1"], &[]);
                assert_eq!(code, 1, "{what}: {stderr}");
                assert!(stderr.contains(&server.addr()) && stderr.contains(said), "{what}: {stderr}");
                assert!(took < Duration::from_secs(40), "{what}: {took:?}");
            })
        })
        .collect();
    // A TLS handshake that never starts.
    let mute = Server::mute();
    let to = format!("{}/x/hello:1", mute.addr());
    let (code, stderr, _) = run(&["push", &image, &to, "--tls-verify=false", "--timeout", "1"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(&format!("{} did not complete the connection", mute.addr())), "{stderr}");
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn an_index_listing_one_manifest_many_times_sends_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let layout = image(dir.path(), "oci-layout");
    let index: Value = serde_json::from_slice(&std::fs::read(format!("{layout}/index.json")).unwrap()).unwrap();
    let mut entry = index["manifests"][0].clone();
    entry.as_object_mut().unwrap().remove("annotations");
    let manifest_digest = entry["digest"].as_str().unwrap().to_string();
    let nested = serde_json::to_vec(&json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": vec![entry; 10_000]}))
    .unwrap();
    let digest = sha256(&nested);
    std::fs::write(format!("{layout}/blobs/sha256/{}", &digest[7..]), &nested).unwrap();
    let top = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": digest, "size": nested.len()}]});
    std::fs::write(format!("{layout}/index.json"), top.to_string()).unwrap();
    let server = Server::start(false, |r| distribution(r, LOCATION));
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) = run(&["push", &layout, &to, "--plain-http", "--timeout", "5"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(count(&server, "PUT", "/manifests/"), 2, "the manifest once, the index once");
    let manifest = std::fs::read(format!("{layout}/blobs/sha256/{}", &manifest_digest[7..])).unwrap();
    let manifest: Value = serde_json::from_slice(&manifest).unwrap();
    let blobs = 1 + manifest["layers"].as_array().unwrap().len();
    assert_eq!(count(&server, "HEAD", "/blobs/"), blobs, "the config and each layer, once each");
    assert_eq!(count(&server, "PUT", "/blobs/uploads/"), blobs);
}

#[test]
fn a_layout_blob_that_leads_outside_the_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let layout = image(dir.path(), "oci-layout");
    let server = Server::start(false, |r| distribution(r, LOCATION));
    let to = format!("{}/x/hello:1", server.addr());
    // The largest blob is the layer; move it out and link to it.
    let blobs = Path::new(&layout).join("blobs/sha256");
    let layer =
        std::fs::read_dir(&blobs).unwrap().map(|e| e.unwrap().path()).max_by_key(|p| p.metadata().unwrap().len());
    let layer = layer.unwrap();
    let outside = dir.path().join("outside");
    std::fs::rename(&layer, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &layer).unwrap();
    let (code, stderr, _) = run(&["push", &layout, &to, "--plain-http", "--timeout", "5"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("leads out of the layout"), "{stderr}");
    assert_eq!(count(&server, "PUT", "/"), 0, "{:?}", server.requests());
    // A link within the layout is fine.
    std::fs::remove_file(&layer).unwrap();
    std::fs::rename(&outside, blobs.join("kept")).unwrap();
    std::os::unix::fs::symlink("kept", &layer).unwrap();
    let (code, stderr, _) = run(&["push", &layout, &to, "--plain-http", "--timeout", "5"], &[]);
    assert_eq!(code, 0, "{stderr}");
    // blobs/sha256 itself a link out of the layout.
    std::fs::remove_file(&layer).unwrap();
    std::fs::rename(blobs.join("kept"), &layer).unwrap();
    let moved = dir.path().join("moved-blobs");
    std::fs::rename(&blobs, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &blobs).unwrap();
    let (code, stderr, _) = run(&["push", &layout, &to, "--plain-http", "--timeout", "5"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("leads out of the layout"), "{stderr}");
}

#[test]
fn locations_resolve_as_rfc_3986_says() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    for location in ["u1?_state=a%2Fb", "./u1?_state=a%2Fb", "/v2/x/hello/blobs/uploads/u1?_state=a%2Fb", "ABS"] {
        let server = Server::start(false, move |r| {
            let absolute = format!("HTTP://{}/v2/x/hello/blobs/uploads/u1?_state=a%2Fb", r.header("host").unwrap());
            distribution(r, if location == "ABS" { &absolute } else { location })
        });
        let to = format!("{}/x/hello:1", server.addr());
        let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--timeout", "5"], &[]);
        assert_eq!(code, 0, "{location}: {stderr}");
        let puts: Vec<Request> =
            server.requests().into_iter().filter(|r| r.method == "PUT" && r.path().contains("/uploads/")).collect();
        assert!(!puts.is_empty());
        for put in puts {
            assert_eq!(put.path(), "/v2/x/hello/blobs/uploads/u1", "{location}");
            assert!(put.query().starts_with("_state=a%2Fb&digest=sha256%3A"), "{location}: {}", put.query());
        }
    }
    for (location, said) in [("ftp://127.0.0.1/up", "\"ftp\""), ("gopher:up", "\"gopher\""), ("http://", "not a URL")] {
        let server = Server::start(false, move |r| distribution(r, location));
        let to = format!("{}/x/hello:1", server.addr());
        let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--timeout", "5"], &[]);
        assert_eq!(code, 1, "{location}: {stderr}");
        assert!(stderr.contains(said), "{location}: {stderr}");
    }
}

#[test]
fn a_realm_that_is_not_an_http_url_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    for (realm, said) in [
        ("ldap://auth/token", "realm \"ldap://auth/token\" has the scheme \"ldap\""),
        ("::not a url::", "realm \"::not a url::\" is not a URL"),
        ("https://", "realm \"https://\""),
    ] {
        let challenge = format!(r#"Bearer realm="{realm}""#);
        let server = Server::start(false, move |_| answer(401, &[("WWW-Authenticate", &challenge)], ""));
        let to = format!("{}/x/hello:1", server.addr());
        let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--timeout", "5"], &[]);
        assert_eq!(code, 1, "{realm}: {stderr}");
        assert!(stderr.contains(said), "{realm}: {stderr}");
    }
}

#[test]
fn answers_real_registries_give_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let first_head = std::sync::atomic::AtomicBool::new(true);
    let server = Server::start(false, move |r| {
        let authorized = r.header("authorization") == Some("Bearer tok");
        match (r.method.as_str(), r.path()) {
            // An OAuth2 answer: access_token, no token, no expires_in.
            (_, "/token") => answer(200, &[], r#"{"access_token":"tok","scope":""}"#),
            // Two challenges in two headers, the first one not spoken; odd case and spacing.
            _ if !authorized => {
                let bearer =
                    format!(r#"BEARER  Realm = "http://{}/token" ,  Service="reg""#, r.header("host").unwrap());
                Reply::Answer(
                    401,
                    vec![("WWW-Authenticate".into(), "Negotiate".into()), ("www-authenticate".into(), bearer)],
                    Vec::new(),
                )
            }
            // The first blob asked for is present, behind a redirect to blob storage.
            ("HEAD", _) if first_head.swap(false, std::sync::atomic::Ordering::SeqCst) => {
                answer(307, &[("Location", "https://storage.example/blob?sig=1")], "")
            }
            // An upload finished with 204 and no Docker-Content-Digest.
            ("PUT", p) if p.contains("/uploads/") => answer(204, &[], ""),
            _ => distribution(r, "u1?_state=x"),
        }
    });
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) = run(&["push", &image, &to, "--plain-http", "--creds", "alice:pw", "--timeout", "5"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("2 blobs uploaded") && stderr.contains("1 already in the registry"), "{stderr}");
    assert_eq!(count(&server, "PUT", "/manifests/1"), 1);
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Builds an image with a `mib` MiB layer of pseudo-random bytes into
/// `dir`, returning its path.
fn big_image(dir: &Path, mib: usize) -> String {
    std::fs::copy(KERNEL, dir.join("kernel")).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..mib << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(dir.join("noise"), noise).unwrap();
    std::fs::write(
        dir.join("big.json"),
        r#"{"name": "big", "files": {"./kernel": "/boot/kernel", "./noise": "/noise"},
            "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel"}}"#,
    )
    .unwrap();
    let out = dir.join("big.tar");
    let out = out.to_str().unwrap();
    let (code, stderr, _) = run(&["build", dir.join("big.json").to_str().unwrap(), "-o", out], &[]);
    assert_eq!(code, 0, "{stderr}");
    out.to_string()
}

/// The `digest=` of an upload's closing PUT.
fn digest_param(request: &Request) -> String {
    request.query().split('&').find_map(|p| p.strip_prefix("digest=")).unwrap_or("").replace("%3A", ":")
}

/// Issue 19: a mount the registry refuses (202) goes on as an upload in
/// the session that answer opened; no other upload is started.
#[test]
fn a_refused_mount_continues_in_the_session_it_opened() {
    let dir = tempfile::tempdir().unwrap();
    let image = image(dir.path(), "docker-archive");
    let server = Server::start(false, |r| match r.method.as_str() {
        "POST" if r.query().contains("mount=") => answer(202, &[("Location", "/v2/x/hello/blobs/uploads/m1?_state=m")], ""),
        _ => distribution(r, LOCATION),
    });
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) =
        run(&["push", &image, &to, "--plain-http", "--mount-from", "other/repo", "--compression", "none"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let requests = server.requests();
    let mounts: Vec<&Request> = requests.iter().filter(|r| r.method == "POST" && r.query().contains("mount=")).collect();
    assert_eq!(mounts.len(), 3, "{stderr}");
    assert!(mounts.iter().all(|r| r.query().contains("from=other%2Frepo")), "{mounts:?}");
    assert_eq!(requests.iter().filter(|r| r.method == "POST" && !r.query().contains("mount=")).count(), 0);
    let puts: Vec<&Request> = requests.iter().filter(|r| r.method == "PUT" && r.path().contains("/uploads/")).collect();
    assert_eq!(puts.len(), 3);
    assert!(puts.iter().all(|r| r.target.starts_with("/v2/x/hello/blobs/uploads/m1?_state=m&digest=")), "{puts:?}");
    assert!(stderr.contains("3 blobs uploaded"), "{stderr}");
}

/// Issue 19: a registry that takes no PATCH gets a big blob in one PUT.
#[test]
fn a_registry_without_chunked_uploads_gets_the_blob_in_one_put() {
    let dir = tempfile::tempdir().unwrap();
    let image = big_image(dir.path(), 3);
    let server = Server::start(false, |r| match r.method.as_str() {
        "PATCH" => answer(405, &[], r#"{"errors":[{"code":"UNSUPPORTED"}]}"#),
        _ => distribution(r, LOCATION),
    });
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) =
        run(&["push", &image, &to, "--plain-http", "--chunk-size", "1M", "--compression", "none"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("takes no chunked uploads; sending the blob in one request"), "{stderr}");
    let requests = server.requests();
    let patches: Vec<&Request> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches.len(), 1, "one PATCH tried");
    assert_eq!(patches[0].header("content-range"), Some("0-1048575"));
    let big = requests.iter().filter(|r| r.method == "PUT" && r.body.len() > 3 << 20).count();
    assert_eq!(big, 1, "the big blob went whole in one PUT");
}

/// Issue 19: a big blob goes in chunks of at least the registry's
/// OCI-Chunk-Min-Length; after a 500 in the middle, push asks where the
/// upload stands (GET) and goes on from there, and the registry ends up
/// with the blob's bytes, checked against its digest.
#[test]
fn a_chunked_upload_resumes_where_the_registry_stands() {
    use std::collections::HashMap;
    use std::sync::Mutex;
    let dir = tempfile::tempdir().unwrap();
    let image = big_image(dir.path(), 5);
    let held: Mutex<HashMap<String, Vec<u8>>> = Mutex::new(HashMap::new());
    let patches = std::sync::atomic::AtomicUsize::new(0);
    let sessions = std::sync::atomic::AtomicUsize::new(0);
    let server = Server::start(false, move |r| {
        let mut held = held.lock().unwrap();
        let range = |n: usize| format!("0-{}", n.saturating_sub(1));
        match r.method.as_str() {
            "POST" if r.path().ends_with("/blobs/uploads/") => {
                let n = sessions.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let at = format!("/v2/x/hello/blobs/uploads/s{n}");
                held.insert(at.clone(), Vec::new());
                answer(202, &[("Location", &at), ("OCI-Chunk-Min-Length", "2097152")], "")
            }
            "PATCH" => {
                let Some(data) = held.get_mut(r.path()) else { return answer(404, &[], "") };
                let start: usize =
                    r.header("content-range").and_then(|c| c.split('-').next()?.parse().ok()).unwrap_or(usize::MAX);
                if start != data.len() {
                    return answer(416, &[], "");
                }
                if patches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                    return answer(500, &[], "disk hiccup");
                }
                data.extend_from_slice(&r.body);
                answer(202, &[("Location", r.path()), ("Range", &range(data.len()))], "")
            }
            "GET" if r.path().contains("/uploads/") => match held.get(r.path()) {
                Some(data) => answer(204, &[("Location", r.path()), ("Range", &range(data.len()))], ""),
                None => answer(404, &[], ""),
            },
            "PUT" if r.path().contains("/uploads/") => {
                let Some(data) = held.get_mut(r.path()) else { return answer(404, &[], "") };
                data.extend_from_slice(&r.body);
                let digest = digest_param(r);
                if sha256(data) != digest {
                    return answer(400, &[], r#"{"errors":[{"code":"DIGEST_INVALID"}]}"#);
                }
                answer(201, &[("Docker-Content-Digest", &digest)], "")
            }
            _ => distribution(r, LOCATION),
        }
    });
    let to = format!("{}/x/hello:1", server.addr());
    let (code, stderr, _) =
        run(&["push", &image, &to, "--plain-http", "--chunk-size", "1M", "--compression", "none"], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("500 Internal Server Error") && stderr.contains("going on from there"), "{stderr}");
    let requests = server.requests();
    let sizes: Vec<usize> = requests.iter().filter(|r| r.method == "PATCH").map(|r| r.body.len()).collect();
    // 2 MiB chunks (the registry's minimum, above --chunk-size), the
    // second sent twice (the 500), then the rest.
    assert!(sizes.len() == 4 && sizes[..3].iter().all(|n| *n == 2 << 20) && sizes[3] < 2 << 20, "{sizes:?}");
    let starts: Vec<&str> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.header("content-range").unwrap().split('-').next().unwrap())
        .collect();
    assert_eq!(starts, ["0", "2097152", "2097152", "4194304"]);
    assert_eq!(count(&server, "GET", "/blobs/uploads/s"), 1, "the status was asked once");
    assert_eq!(count(&server, "PUT", "/manifests/1"), 1);
}
