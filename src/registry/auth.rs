//! Registry authentication: the `WWW-Authenticate` challenge of a 401
//! (Basic, or Bearer with a token service), Docker's token protocol (a GET
//! with Basic credentials, anonymous without; an OAuth2 refresh-token POST
//! for identity tokens), and the `Authorization` header each gives.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use serde::Deserialize;

use super::credentials::{Credentials, Secret};

/// What a registry asks for in `WWW-Authenticate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// A user name and password on every request.
    Basic,
    /// A token from the service at `realm`.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` to name in the token request.
        service: Option<String>,
        /// The scope the registry wants, when it says (for example
        /// `repository:me/x:pull,push`).
        scope: Option<String>,
        /// The `error` parameter (`insufficient_scope`, `invalid_token`).
        error: Option<String>,
    },
}

/// Reads the challenges of a `WWW-Authenticate` header, keeping the first
/// Bearer or Basic one (Bearer preferred, as docker does).
pub fn parse_challenge(header: &str) -> Result<Challenge> {
    let challenges = http_auth::parse_challenges(header)
        .map_err(|e| anyhow!("cannot parse the WWW-Authenticate header {header:?}: {e}"))?;
    let param = |c: &http_auth::ChallengeRef, name: &str| {
        c.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_unescaped())
    };
    if let Some(c) = challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case("bearer")) {
        let realm = param(c, "realm").ok_or_else(|| anyhow!("the Bearer challenge {header:?} names no realm"))?;
        return Ok(Challenge::Bearer {
            realm,
            service: param(c, "service"),
            scope: param(c, "scope"),
            error: param(c, "error"),
        });
    }
    if challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case("basic")) {
        return Ok(Challenge::Basic);
    }
    bail!("the registry asks for authentication this tool does not speak: {header:?} (Basic and Bearer are supported)")
}

/// `Basic <base64(user:password)>`.
pub fn basic_header(username: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}

/// The scope bimanix asks for: pull and push on `repository`.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// The token request for a Bearer challenge: the URL with its query, and
/// how to send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    /// GET the URL, with this `Authorization` header (none: anonymous).
    Get {
        /// The realm with `service` and `scope` in its query.
        url: String,
        /// Basic credentials, when there are any.
        authorization: Option<String>,
    },
    /// POST this form to the realm (OAuth2 refresh-token grant).
    Post {
        /// The realm.
        url: String,
        /// `application/x-www-form-urlencoded` body.
        form: String,
    },
}

/// The request that gets a token for `scopes` from the service of a Bearer
/// challenge, with `credentials` or anonymously.
pub fn token_request(
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credentials: Option<&Credentials>,
) -> TokenRequest {
    let mut params: Vec<(&str, &str)> = Vec::new();
    if let Some(service) = service {
        params.push(("service", service));
    }
    for scope in scopes {
        params.push(("scope", scope));
    }
    match credentials.map(|c| &c.secret) {
        Some(Secret::IdentityToken(token)) => {
            params.extend([("grant_type", "refresh_token"), ("client_id", "bimanix"), ("refresh_token", token)]);
            TokenRequest::Post { url: realm.to_string(), form: encode_query(&params) }
        }
        Some(Secret::Password { username, password }) => {
            TokenRequest::Get { url: with_query(realm, &params), authorization: Some(basic_header(username, password)) }
        }
        None => TokenRequest::Get { url: with_query(realm, &params), authorization: None },
    }
}

/// The token in a token service's answer (`token`, or OAuth2's `access_token`).
pub fn read_token(body: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
    }
    let answer: Answer = serde_json::from_str(body).context("the token service's answer is not JSON")?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| anyhow!("the token service's answer holds no token"))
}

fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    if params.is_empty() {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", encode_query(params))
}

fn encode_query(params: &[(&str, &str)]) -> String {
    params.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_hub_ghcr_and_basic_challenges() {
        let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:me/x:pull,push""#;
        assert_eq!(
            parse_challenge(hub).unwrap(),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:me/x:pull,push".into()),
                error: None,
            }
        );
        let expired = r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",error="invalid_token""#;
        assert!(
            matches!(parse_challenge(expired).unwrap(), Challenge::Bearer { error: Some(e), .. } if e == "invalid_token")
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#).unwrap(), Challenge::Basic);
        assert_eq!(
            parse_challenge(r#"basic realm="x", Bearer realm="https://t/x""#).unwrap(),
            Challenge::Bearer { realm: "https://t/x".into(), service: None, scope: None, error: None }
        );
        assert!(parse_challenge(r#"Negotiate abc"#).is_err());
        assert!(parse_challenge(r#"Bearer service="x""#).unwrap_err().to_string().contains("no realm"));
    }

    #[test]
    fn builds_token_requests() {
        let scopes = [push_scope("me/x")];
        let anonymous = token_request("https://a/token", Some("reg istry"), &scopes, None);
        assert_eq!(
            anonymous,
            TokenRequest::Get {
                url: "https://a/token?service=reg%20istry&scope=repository%3Ame%2Fx%3Apull%2Cpush".into(),
                authorization: None
            }
        );
        let creds = Credentials {
            secret: Secret::Password { username: "alice".into(), password: "s3cret".into() },
            source: "--creds".into(),
        };
        let TokenRequest::Get { authorization, .. } = token_request("https://a/t?x=1", None, &scopes, Some(&creds))
        else {
            panic!()
        };
        assert_eq!(authorization.as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
        let refresh = Credentials { secret: Secret::IdentityToken("r/t".into()), source: "f".into() };
        let TokenRequest::Post { form, .. } = token_request("https://a/t", Some("s"), &scopes, Some(&refresh)) else {
            panic!()
        };
        assert!(
            form.starts_with("service=s&scope=")
                && form.ends_with("grant_type=refresh_token&client_id=bimanix&refresh_token=r%2Ft"),
            "{form}"
        );
    }

    #[test]
    fn reads_tokens() {
        assert_eq!(read_token(r#"{"token":"a","access_token":"b"}"#).unwrap(), "a");
        assert_eq!(read_token(r#"{"access_token":"b","expires_in":300}"#).unwrap(), "b");
        assert!(read_token(r#"{"token":""}"#).is_err());
        assert!(read_token("<html>").is_err());
    }
}
