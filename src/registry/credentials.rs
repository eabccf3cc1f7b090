//! Where the credentials for a registry come from, as docker, podman and
//! skopeo users already keep them: the auth files (`$REGISTRY_AUTH_FILE` or
//! `$XDG_RUNTIME_DIR/containers/auth.json`, then
//! `$XDG_CONFIG_HOME/containers/auth.json`, then `$DOCKER_CONFIG/config.json`
//! or `~/.docker/config.json`), each read for `credHelpers`, `credsStore` and
//! `auths`, and the `docker-credential-NAME get` helper protocol.
//! The first file that knows the registry wins, as in containers/image.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use serde::Deserialize;

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
#[derive(Clone, Debug, Default)]
pub struct Places {
    /// The files, most important first.
    pub files: Vec<PathBuf>,
    /// The `PATH` that `docker-credential-*` helpers are looked up in
    /// (`None`: this process's).
    pub helper_path: Option<OsString>,
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
        Places { files, helper_path: None }
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
}

/// An auth file: docker's `config.json` or containers' `auth.json`.
#[derive(Default, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Finds the credentials for `repository` on `registry` (`docker.io` for
/// Docker Hub) in the files of `places`.
pub fn find(places: &Places, registry: &str, repository: &str) -> Result<Found> {
    let mut found = Found::default();
    for path in &places.files {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                found.searched.push(format!("{} (absent)", path.display()));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read the auth file {}", path.display())),
        };
        found.searched.push(path.display().to_string());
        let file: AuthFile = serde_json::from_slice(&text)
            .with_context(|| format!("the auth file {} is not the JSON docker and podman write", path.display()))?;
        if let Some(credentials) = from_file(&file, path, places, registry, repository)? {
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
) -> Result<Option<Credentials>> {
    let shown = path.display();
    if let Some((key, helper)) = file.cred_helpers.iter().find(|(key, _)| normal_key(key) == registry) {
        let source = format!("docker-credential-{helper} (credHelpers.{key:?} in {shown})");
        return run_helper(places, helper, registry, &source);
    }
    if let Some(store) = file.creds_store.as_deref().filter(|s| !s.is_empty()) {
        let source = format!("docker-credential-{store} (credsStore in {shown})");
        if let Some(credentials) = run_helper(places, store, registry, &source)? {
            return Ok(Some(credentials));
        }
    }
    for wanted in scopes(registry, repository) {
        let hit = file.auths.iter().find(|(key, entry)| normal_key(key) == wanted && !entry.is_empty());
        if let Some((key, entry)) = hit {
            let source = format!("{shown} (auths.{key:?})");
            let secret = entry.secret().with_context(|| {
                format!("{source}: the entry is not a base64 user:password, username and password, or identitytoken")
            })?;
            return Ok(Some(Credentials { secret, source }));
        }
    }
    Ok(None)
}

impl AuthEntry {
    fn is_empty(&self) -> bool {
        self.auth.as_deref().unwrap_or_default().is_empty()
            && self.username.is_none()
            && self.identitytoken.as_deref().unwrap_or_default().is_empty()
    }

    fn secret(&self) -> Result<Secret> {
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Secret::IdentityToken(token.to_string()));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(auth.trim())?;
            let text = String::from_utf8(decoded)?;
            let (username, password) = text.split_once(':').ok_or_else(|| anyhow!("no ':' in the decoded auth"))?;
            return Ok(Secret::Password { username: username.to_string(), password: password.to_string() });
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) => {
                Ok(Secret::Password { username: username.clone(), password: password.clone() })
            }
            _ => bail!("neither auth, identitytoken nor username and password are set"),
        }
    }
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

/// Runs `docker-credential-NAME get` with the server on standard input.
/// `None` when the helper has no credentials for it.
fn run_helper(places: &Places, name: &str, registry: &str, source: &str) -> Result<Option<Credentials>> {
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let program = format!("docker-credential-{name}");
    let mut command = Command::new(&program);
    if let Some(path) = &places.helper_path {
        command.env("PATH", path);
    }
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {source}; is {program} installed and on PATH?"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading fails below with its own message.
        let _ = stdin.write_all(helper_server(registry).as_bytes());
    }
    let out = child.wait_with_output().with_context(|| format!("cannot run {source}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        bail!("{source} failed ({}): {}", out.status, format!("{} {}", stdout.trim(), stderr.trim()).trim());
    }
    let reply: Reply = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{source} did not answer with the JSON expected"))?;
    let secret = if reply.username == "<token>" {
        Secret::IdentityToken(reply.secret)
    } else {
        Secret::Password { username: reply.username, password: reply.secret }
    };
    Ok(Some(Credentials { secret, source: source.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
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
        let places = Places { files, helper_path: None };

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

    #[test]
    fn refuses_a_broken_file_or_entry() {
        let dir = tempfile::tempdir().unwrap();
        let bad = write(dir.path(), "bad.json", "{");
        let err = format!("{:#}", find(&Places { files: vec![bad], helper_path: None }, "r", "x").unwrap_err());
        assert!(err.contains("bad.json is not the JSON"), "{err}");
        let entry = write(dir.path(), "entry.json", r#"{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}"#);
        let err = format!("{:#}", find(&Places { files: vec![entry], helper_path: None }, "r", "x").unwrap_err());
        assert!(err.contains("auths.\"r\"") && err.contains("no ':'"), "{err}");
    }

    /// A helper speaking the docker-credential protocol, as a script on PATH.
    #[test]
    fn asks_credential_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("asked");
        let helper = write(
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
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = write(
            dir.path(),
            "config.json",
            r#"{"credHelpers": {"https://helped.example": "bimanixtest"}, "credsStore": "bimanixtest",
                "auths": {"docker.io": {}, "filed.example": {"auth": "ZmlsZWQ6cHc="}}}"#,
        );
        let path = format!("{}:/usr/bin:/bin", dir.path().join("bin").display());
        let places = Places { files: vec![config.clone()], helper_path: Some(path.into()) };

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
