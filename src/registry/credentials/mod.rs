//! Where the credentials for a registry come from, as docker, podman and
//! skopeo users already keep them: the auth files (`$REGISTRY_AUTH_FILE` or
//! `$XDG_RUNTIME_DIR/containers/auth.json`, then
//! `$XDG_CONFIG_HOME/containers/auth.json`, then `$DOCKER_CONFIG/config.json`
//! or `~/.docker/config.json`), each read for `credHelpers`, `credsStore` and
//! `auths`, and the `docker-credential-NAME get` helper protocol.
//! The first file that knows the registry wins, as in containers/image.
//!
//! Every source is read as a guest: the files by [`file`] (regular files
//! of bounded size, errors without values), the helpers by
//! [`process`](crate::registry::process) (a deadline, a cap on their
//! answer, nothing they print in a message).

mod file;

pub use file::MAX_AUTH_FILE;

use std::ffi::OsString;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::process::{self, Limits};
use crate::model::urunc::json_kind;
use file::AuthFile;

/// How long a credential helper may take, and how much it may print.
pub const HELPER_LIMITS: Limits = Limits { deadline: Duration::from_secs(30), max_output: 64 << 10 };

/// A secret for a registry, and where it came from (for messages).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The secret.
    pub secret: Secret,
    /// Where it was found: `--creds`, a file and key, or a helper.
    pub source: String,
}

/// What a registry can be given.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A user name and password (or a personal access token used as one).
    Password {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// An OAuth2 refresh token, exchanged at the token service (Docker's
    /// `identitytoken`, a helper's `<token>` user).
    IdentityToken(String),
}

impl Credentials {
    /// Who the credentials are for, without the secret: `user alice` or
    /// `an identity token`.
    pub fn who(&self) -> String {
        match &self.secret {
            Secret::Password { username, .. } => format!("user {username:?}"),
            Secret::IdentityToken(_) => "an identity token".to_string(),
        }
    }
}

// Never print a secret, not even in debug output.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({} from {})", self.who(), self.source)
    }
}

/// The auth files to read, in order, and where helpers are found.
#[derive(Clone, Debug)]
pub struct Places {
    /// The files, most important first.
    pub files: Vec<PathBuf>,
    /// The `PATH` that `docker-credential-*` helpers are looked up in
    /// (`None`: this process's).
    pub helper_path: Option<OsString>,
    /// How long a helper may take and how much it may print.
    pub helper_limits: Limits,
}

impl Default for Places {
    fn default() -> Places {
        Places { files: Vec::new(), helper_path: None, helper_limits: HELPER_LIMITS }
    }
}

impl Places {
    /// The files that podman, skopeo and docker read, from the environment.
    pub fn from_env() -> Places {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME");
        let mut files = Vec::new();
        match (var("REGISTRY_AUTH_FILE"), var("XDG_RUNTIME_DIR")) {
            (Some(file), _) => files.push(file),
            (None, Some(run)) => files.push(run.join("containers/auth.json")),
            (None, None) => {}
        }
        if let Some(config) = var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config"))) {
            files.push(config.join("containers/auth.json"));
        }
        if let Some(docker) = var("DOCKER_CONFIG").or_else(|| home.as_ref().map(|h| h.join(".docker"))) {
            files.push(docker.join("config.json"));
        }
        Places { files, ..Places::default() }
    }
}

/// What a search found, and where it looked (for a message when the
/// registry refuses).
#[derive(Debug, Default)]
pub struct Found {
    /// The credentials, when a file or helper had them.
    pub credentials: Option<Credentials>,
    /// Each place looked in, as `path` or `path (absent)`.
    pub searched: Vec<String>,
    /// The helper programs run, which an output must not replace.
    pub helpers: Vec<PathBuf>,
}

/// Finds the credentials for `repository` on `registry` (`docker.io` for
/// Docker Hub) in the files of `places`.
pub fn find(places: &Places, registry: &str, repository: &str) -> Result<Found> {
    let mut found = Found::default();
    for path in &places.files {
        let Some(file) = file::read(path)? else {
            found.searched.push(format!("{} (absent)", path.display()));
            continue;
        };
        found.searched.push(path.display().to_string());
        if let Some(credentials) = from_file(&file, path, places, registry, repository, &mut found.helpers)? {
            found.credentials = Some(credentials);
            break;
        }
    }
    Ok(found)
}

/// Looks `registry` up in one file, in docker's order: its `credHelpers`
/// entry, else its `credsStore` (when that helper has the registry), else
/// its `auths` entry (the most specific repository prefix first, as podman
/// writes them).
fn from_file(
    file: &AuthFile,
    path: &Path,
    places: &Places,
    registry: &str,
    repository: &str,
    helpers: &mut Vec<PathBuf>,
) -> Result<Option<Credentials>> {
    let shown = path.display();
    if let Some((key, helper)) = file.cred_helpers.iter().find(|(key, _)| normal_key(key) == registry) {
        let source = format!("docker-credential-{helper} (credHelpers.{key:?} in {shown})");
        return run_helper(places, helper, registry, &source, helpers);
    }
    if let Some(store) = file.creds_store.as_deref().filter(|s| !s.is_empty()) {
        let source = format!("docker-credential-{store} (credsStore in {shown})");
        if let Some(credentials) = run_helper(places, store, registry, &source, helpers)? {
            return Ok(Some(credentials));
        }
    }
    for wanted in scopes(registry, repository) {
        let hit = file.auths.iter().find(|(key, entry)| normal_key(key) == wanted && !entry.is_empty());
        if let Some((key, entry)) = hit {
            let source = format!("{shown} (auths.{key:?})");
            let secret = entry.secret().map_err(|e| anyhow!("the auth file {shown}: auths.{key:?}: {e}"))?;
            return Ok(Some(Credentials { secret, source }));
        }
    }
    Ok(None)
}

/// An `auths` or `credHelpers` key as a registry name: without a scheme or
/// Docker Hub's `/v1/` path, with Docker Hub's other host names folded into
/// `docker.io`. A key without a scheme may name a repository (podman's
/// `registry/namespace`), which is kept.
fn normal_key(key: &str) -> String {
    let (had_scheme, rest) = match key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")) {
        Some(rest) => (true, rest),
        None => (false, key),
    };
    let rest = rest.trim_end_matches('/');
    let rest = if had_scheme { rest.split('/').next().unwrap_or(rest) } else { rest };
    let (host, path) = rest.split_once('/').map_or((rest, None), |(h, p)| (h, Some(p)));
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    };
    match path {
        Some(path) => format!("{host}/{path}"),
        None => host.to_string(),
    }
}

/// `registry/a/b/c`, `registry/a/b`, `registry/a`, `registry`: the keys an
/// entry for `repository` may be under, most specific first.
fn scopes(registry: &str, repository: &str) -> Vec<String> {
    let parts: Vec<&str> = repository.split('/').collect();
    let mut out: Vec<String> =
        (1..=parts.len()).rev().map(|n| format!("{registry}/{}", parts[..n].join("/"))).collect();
    out.push(registry.to_string());
    out
}

/// The server name docker hands its helpers: Docker Hub's index URL, or
/// the registry's host.
fn helper_server(registry: &str) -> &str {
    if registry == "docker.io" { "https://index.docker.io/v1/" } else { registry }
}

/// The executable `docker-credential-NAME` on the helpers' `PATH`.
fn helper_program(places: &Places, name: &str) -> Result<PathBuf> {
    let program = format!("docker-credential-{name}");
    if name.is_empty() || name.contains('/') {
        bail!("{name:?} is not a helper name (docker-credential-NAME, found on PATH)");
    }
    let path = places.helper_path.clone().or_else(|| std::env::var_os("PATH")).unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(&program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .ok_or_else(|| anyhow!("{program} is not installed: no such executable on PATH"))
}

/// Runs `docker-credential-NAME get` with the server on standard input.
/// `None` when the helper has no credentials for it. Nothing the helper
/// prints appears in a message.
fn run_helper(
    places: &Places,
    name: &str,
    registry: &str,
    source: &str,
    helpers: &mut Vec<PathBuf>,
) -> Result<Option<Credentials>> {
    let program = helper_program(places, name).with_context(|| format!("cannot run {source}"))?;
    helpers.push(program.clone());
    let path = places.helper_path.as_deref();
    let done =
        process::run(program.as_os_str(), &["get"], helper_server(registry).as_bytes(), path, places.helper_limits)
            .with_context(|| format!("{source} for {registry}"))?;
    if !done.status.success() {
        if String::from_utf8_lossy(&done.stdout).contains("credentials not found") {
            return Ok(None);
        }
        bail!(
            "{source} failed for {registry} ({}); what it printed is not shown, as it may hold a secret",
            done.status
        );
    }
    let (username, secret) = reply(&done.stdout).with_context(|| {
        format!("{source} did not answer with the JSON of the helper protocol, {{\"Username\": ..., \"Secret\": ...}}")
    })?;
    let secret = if username == "<token>" {
        Secret::IdentityToken(secret)
    } else {
        Secret::Password { username, password: secret }
    };
    Ok(Some(Credentials { secret, source: source.to_string() }))
}

/// A helper's answer: its `Username` and `Secret`. Errors say which field
/// is wrong, never what it holds.
fn reply(stdout: &[u8]) -> Result<(String, String)> {
    let value: Value = serde_json::from_slice(stdout).map_err(|_| anyhow!("its answer is not JSON"))?;
    let Some(fields) = value.as_object() else { bail!("its answer is {}, not an object", json_kind(&value)) };
    let field = |name: &str| match fields.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(anyhow!("its {name} is empty")),
        None | Some(Value::Null) => Err(anyhow!("its answer has no {name}")),
        Some(other) => Err(anyhow!("its {name} is {}, not a string", json_kind(other))),
    };
    Ok((field("Username")?, field("Secret")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use std::io::Write;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An executable script, written by a child process: a file this
    /// process held open for writing could be inherited by another test
    /// thread's fork and make running it fail with "Text file busy".
    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut child = std::process::Command::new("sh")
            .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
            .arg(&path)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
        path
    }

    fn password(found: &Found) -> (String, String, String) {
        match &found.credentials {
            Some(Credentials { secret: Secret::Password { username, password }, source }) => {
                (username.clone(), password.clone(), source.clone())
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_auths_in_order_with_docker_hub_keys() {
        let dir = tempfile::tempdir().unwrap();
        let podman = write(dir.path(), "auth.json", r#"{"auths": {"docker.io/me": {"auth": "bWU6cG9k"}}}"#);
        // base64("alice:s3:cret") and base64("hub:pw")
        let docker = write(
            dir.path(),
            "config.json",
            r#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czM6Y3JldA=="},
                          "https://index.docker.io/v1/": {"auth": "aHViOnB3"}}, "HttpHeaders": {}}"#,
        );
        let files = vec![dir.path().join("missing.json"), podman.clone(), docker.clone()];
        let places = Places { files, helper_path: None, ..Places::default() };

        let local = find(&places, "127.0.0.1:5000", "a/b").unwrap();
        let (user, pass, source) = password(&local);
        assert_eq!((user.as_str(), pass.as_str()), ("alice", "s3:cret"));
        assert_eq!(source, format!("{} (auths.\"127.0.0.1:5000\")", docker.display()));
        assert_eq!(local.searched[0], format!("{} (absent)", dir.path().join("missing.json").display()));

        // podman's per-namespace entry wins over docker's host entry, in file order.
        let (user, _, _) = password(&find(&places, "docker.io", "me/hello").unwrap());
        assert_eq!(user, "me");
        let (user, _, _) = password(&find(&places, "docker.io", "library/hello").unwrap());
        assert_eq!(user, "hub");
        assert!(find(&places, "ghcr.io", "me/x").unwrap().credentials.is_none());
    }

    #[test]
    fn normalises_keys() {
        assert_eq!(normal_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normal_key("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(normal_key("registry-1.docker.io"), "docker.io");
        assert_eq!(normal_key("quay.io/org/repo"), "quay.io/org/repo");
        assert_eq!(scopes("r", "a/b"), ["r/a/b", "r/a", "r"]);
    }

    fn places(files: Vec<PathBuf>) -> Places {
        Places { files, ..Places::default() }
    }

    #[test]
    fn refuses_a_broken_file_or_entry() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.json", "{");
        let err = format!("{:#}", find(&places(vec![bad]), "r", "x").unwrap_err());
        assert!(err.contains("bad.json: line 1 column 1: EOF while parsing"), "{err}");
        let entry = write(dir.path(), "entry.json", r#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#);
        let err = format!("{:#}", find(&places(vec![entry]), "r", "x").unwrap_err());
        assert!(err.contains("auths.\"r\": auth does not decode to user:password (no ':')"), "{err}");
    }

    /// Every malformed shape with a secret in it: the message names the
    /// file, key and field, and holds no byte of the secret.
    #[test]
    fn no_message_quotes_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (br#"{"auths": {"r": {"auth": "PLANTED-1!!"}}}"#.to_vec(), "auth is not base64"),
            (format!(r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#, b64(b"PLANTED-2")).into_bytes(), "no ':'"),
            (format!(r#"{{"auths": {{"r": {{"auth": "{}"}}}}}}"#, b64(b"u:PLANTED-3\xff")).into_bytes(), "not"),
            (
                [&br#"{"auths": {"r": {"auth": ""#[..], b64(b"u:\xffPLANTED-4\xfe").as_bytes(), br#""}}}"#]
                    .concat(),
                "UTF-8",
            ),
            (br#"{"auths": {"r": "PLANTED-5"}}"#.to_vec(), "auths.\"r\" must be a JSON object, not a string"),
            (
                br#"{"auths": {"r": {"password": ["PLANTED-6"], "username": "u"}}}"#.to_vec(),
                "auths.\"r\".password must be a string, not an array",
            ),
            (
                br#"{"auths": {"r": {"identitytoken": {"t": "PLANTED-7"}}}}"#.to_vec(),
                "identitytoken must be a string, not an object",
            ),
            (br#"{"auths": {"r": {"identitytoken": 74657}}}"#.to_vec(), "identitytoken must be a string, not a number"),
            (br#"{"auths": {"r": {"auth": "UExBTlRFRC04OnB3"#.to_vec(), "EOF while parsing"),
            (b"{\"auths\": {\"r\": {\"password\": \"PLANTED-9\xff\", \"username\": \"u\"}}}".to_vec(), "line 1"),
            (br#"{"auths": {"r": {"auth": "PLANTED-10" "x"}}}"#.to_vec(), "expected"),
            (br#"{"credsStore": ["PLANTED-11"]}"#.to_vec(), "credsStore must be a string, not an array"),
            (br#"{"credHelpers": {"r": 74658}}"#.to_vec(), "credHelpers.\"r\" must be a string"),
            (br#"{"auths": {"r": {"username": "u"}}}"#.to_vec(), "username is set without password"),
            (br#"["PLANTED-12"]"#.to_vec(), "the top level must be a JSON object, not an array"),
        ];
        for (i, (text, said)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("case{i}.json"));
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", find(&places(vec![path.clone()]), "r", "x").unwrap_err());
            assert!(err.contains(&format!("case{i}.json")) && err.contains(said), "case {i}: {err}");
            for secret in ["PLANTED", "74657", "74658", "UExBTlRFRC04"] {
                assert!(!err.contains(secret), "case {i}: {err}");
            }
        }
    }

    #[test]
    fn only_bounded_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.json");
        std::fs::File::create(&big).unwrap().set_len(10 << 30).unwrap();
        let fifo = dir.path().join("fifo.json");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from(0o600), 0)
            .unwrap();
        let zero = dir.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for (path, said) in [
            (big, "auth files of more than 1048576 bytes are not read"),
            (fifo, "is a FIFO, not a regular file"),
            (zero, "is a character device, not a regular file"),
            (dir.path().to_path_buf(), "is a directory, not a regular file"),
        ] {
            let err = format!("{:#}", find(&places(vec![path.clone()]), "r", "x").unwrap_err());
            assert!(err.contains(&path.display().to_string()) && err.contains(said), "{err}");
        }
    }

    /// Helpers that fail, print junk, hang or flood: a clear error naming
    /// the helper, the file and key, and nothing they printed.
    #[test]
    fn a_misbehaving_helper_is_named_not_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("echo PLANTED-1; echo PLANTED-2 >&2; exit 1", "failed for r (exit status: 1)"),
            ("echo 'PLANTED-3 junk'", "its answer is not JSON"),
            ("echo '{\"Username\": \"u\", \"Secret\": [\"PLANTED-4\"]}'", "its Secret is an array, not a string"),
            ("echo '{\"Username\": 74657, \"Secret\": \"PLANTED-5\"}'", "its Username is a number"),
            ("echo '\"PLANTED-6\"'", "its answer is a string, not an object"),
            ("echo PLANTED-7; sleep 30", "no complete answer within 1 s"),
            ("(sleep 30) & echo PLANTED-8", "no complete answer within 1 s"),
            ("yes PLANTED-9", "more than 65536 bytes"),
        ];
        for (i, (body, said)) in cases.iter().enumerate() {
            script(dir.path(), &format!("bin/docker-credential-h{i}"), &format!("#!/bin/sh\n{body}\n"));
            let config = write(dir.path(), &format!("c{i}.json"), &format!(r#"{{"credHelpers": {{"r": "h{i}"}}}}"#));
            let places = Places {
                files: vec![config],
                helper_path: Some(format!("{}:/usr/bin:/bin", dir.path().join("bin").display()).into()),
                helper_limits: Limits { deadline: Duration::from_secs(1), ..HELPER_LIMITS },
            };
            let start = std::time::Instant::now();
            let err = format!("{:#}", find(&places, "r", "x").unwrap_err());
            assert!(err.contains(&format!("docker-credential-h{i} (credHelpers.\"r\" in ")), "{err}");
            assert!(err.contains(said), "case {i}: {err}");
            assert!(!err.contains("PLANTED") && !err.contains("74657"), "case {i}: {err}");
            assert!(start.elapsed() < Duration::from_secs(10), "case {i}: {:?}", start.elapsed());
        }
        let config = write(dir.path(), "bad.json", r#"{"credHelpers": {"r": "../../bin/sh"}}"#);
        let err = format!("{:#}", find(&places(vec![config]), "r", "x").unwrap_err());
        assert!(err.contains("\"../../bin/sh\" is not a helper name"), "{err}");
    }

    /// A helper speaking the docker-credential protocol, as a script on PATH.
    #[test]
    fn asks_credential_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("asked");
        script(
            dir.path(),
            "bin/docker-credential-bimanixtest",
            &format!(
                "#!/bin/sh\nread -r server || true\necho \"$1 $server\" >> {}\ncase $server in\n  \
                 helped.example) echo '{{\"ServerURL\":\"helped.example\",\"Username\":\"<token>\",\"Secret\":\"tok\"}}' ;;\n  \
                 https://index.docker.io/v1/) echo '{{\"Username\":\"hubber\",\"Secret\":\"pw\"}}' ;;\n  \
                 *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
                log.display()
            ),
        );
        let config = write(
            dir.path(),
            "config.json",
            r#"{"credHelpers": {"https://helped.example": "bimanixtest"}, "credsStore": "bimanixtest",
                "auths": {"docker.io": {}, "filed.example": {"auth": "ZmlsZWQ6cHc="}}}"#,
        );
        let path = format!("{}:/usr/bin:/bin", dir.path().join("bin").display());
        let places = Places { files: vec![config.clone()], helper_path: Some(path.into()), ..Places::default() };

        let helped = find(&places, "helped.example", "x").unwrap().credentials.unwrap();
        assert!(helped.secret == Secret::IdentityToken("tok".into()));
        assert!(helped.source.starts_with("docker-credential-bimanixtest (credHelpers.\"https://helped.example\""));
        let (user, pass, source) = password(&find(&places, "docker.io", "library/x").unwrap());
        assert_eq!((user.as_str(), pass.as_str()), ("hubber", "pw"));
        assert!(source.contains("credsStore"), "{source}");
        assert!(find(&places, "other.example", "x").unwrap().credentials.is_none());
        // The store does not have it; the file's own entry does.
        let (user, _, source) = password(&find(&places, "filed.example", "x").unwrap());
        assert_eq!((user.as_str(), source), ("filed", format!("{} (auths.\"filed.example\")", config.display())));
        let asked = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            asked,
            "get helped.example\nget https://index.docker.io/v1/\nget other.example\nget filed.example\n"
        );
    }
}
