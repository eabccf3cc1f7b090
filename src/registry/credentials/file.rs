//! Reading an auth file (docker's `config.json`, containers' `auth.json`)
//! as a guest would: only a regular file of at most [`MAX_AUTH_FILE`]
//! bytes, opened without blocking, and checked field by field, so that
//! every error names the file, the key and the field, and never quotes a
//! value (serde's messages would: `invalid type: string "hunter2"`).

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use serde_json::{Map, Value};

use super::Secret;
use crate::model::urunc::json_kind;

/// The largest auth file read: real ones hold a few entries in a few KiB.
pub const MAX_AUTH_FILE: u64 = 1 << 20;

/// What bimanix reads of an auth file.
#[derive(Debug, Default)]
pub(super) struct AuthFile {
    /// `auths`: registry (or `registry/namespace`) key and entry.
    pub auths: Vec<(String, AuthEntry)>,
    /// `credHelpers`: registry key and helper name.
    pub cred_helpers: Vec<(String, String)>,
    /// `credsStore`: the default helper.
    pub creds_store: Option<String>,
}

/// One `auths` entry, its fields as strings (absent or null: `None`).
#[derive(Debug, Default)]
pub(super) struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// Reads the auth file at `path`: `None` when there is none.
pub(super) fn read(path: &Path) -> Result<Option<AuthFile>> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Ok(None);
        }
        _ => {}
    }
    let bytes = crate::model::hostfile::read_regular(path, MAX_AUTH_FILE, "auth files")
        .map_err(|e| anyhow!("cannot read the auth file: {e:#}"))?;
    parse(&bytes).map(Some).map_err(|e| anyhow!("the auth file {shown}: {e}"))
}

/// Parses an auth file's text; errors name the place, not the value.
pub(super) fn parse(bytes: &[u8]) -> Result<AuthFile> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's syntax messages (`expected ,`, `EOF while parsing`)
        // quote no input; only the place is kept of any other.
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                let msg = e.to_string();
                msg.rsplit_once(" at line ").map_or(msg.clone(), |(m, _)| m.to_string())
            }
            _ => "not JSON".to_string(),
        };
        anyhow!("line {} column {}: {what}; it is not the JSON docker and podman write", e.line(), e.column())
    })?;
    let top = object(&value, "the top level")?;
    let mut file = AuthFile::default();
    if let Some(auths) = present(top, "auths") {
        for (key, entry) in object(auths, "auths")? {
            let at = format!("auths.{key:?}");
            let fields = match entry {
                Value::Null => &Map::new(),
                other => object(other, &at)?,
            };
            let field = |name: &str| string(fields, name, &at);
            let entry = AuthEntry {
                auth: field("auth")?,
                username: field("username")?,
                password: field("password")?,
                identitytoken: field("identitytoken")?,
            };
            file.auths.push((key.clone(), entry));
        }
    }
    if let Some(helpers) = present(top, "credHelpers") {
        let helpers = object(helpers, "credHelpers")?;
        for (key, name) in helpers {
            let Value::String(name) = name else {
                bail!("credHelpers.{key:?} must be a string (a helper name), not {}", json_kind(name))
            };
            file.cred_helpers.push((key.clone(), name.clone()));
        }
    }
    file.creds_store = string(top, "credsStore", "the top level")?;
    Ok(file)
}

/// A field that is there and not null.
fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| anyhow!("{at} must be a JSON object, not {}", json_kind(value)))
}

/// The string field `key` of `map` (at `at`), if set.
fn string(map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>> {
    match present(map, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => {
            let place = if at == "the top level" { key.to_string() } else { format!("{at}.{key}") };
            bail!("{place} must be a string, not {}", json_kind(other))
        }
    }
}

impl AuthEntry {
    /// Whether the entry holds nothing to log in with (docker writes such
    /// entries next to a `credsStore`).
    pub(super) fn is_empty(&self) -> bool {
        self.auth.as_deref().unwrap_or_default().is_empty()
            && self.username.is_none()
            && self.identitytoken.as_deref().unwrap_or_default().is_empty()
    }

    /// The secret; an error names the field at fault, never its value.
    pub(super) fn secret(&self) -> Result<Secret> {
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Secret::IdentityToken(token.to_string()));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| anyhow!("auth is not base64 (of user:password)"))?;
            let text = String::from_utf8(decoded).map_err(|_| anyhow!("auth does not decode to UTF-8 text"))?;
            let (username, password) =
                text.split_once(':').ok_or_else(|| anyhow!("auth does not decode to user:password (no ':')"))?;
            return Ok(Secret::Password { username: username.to_string(), password: password.to_string() });
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) => {
                Ok(Secret::Password { username: username.clone(), password: password.clone() })
            }
            (Some(_), None) => bail!("username is set without password"),
            _ => bail!("neither auth, identitytoken nor username and password are set"),
        }
    }
}
