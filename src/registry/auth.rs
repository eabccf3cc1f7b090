//! Registry authentication: the `WWW-Authenticate` challenge of a 401
//! (Basic, or Bearer with a token service), Docker's token protocol (a GET
//! with Basic credentials, anonymous without; an OAuth2 refresh-token POST
//! for identity tokens), and the `Authorization` header each gives.

use anyhow::{Result, anyhow, bail};
use base64::Engine;
use serde::Deserialize;
use url::Url;

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
    parse_challenges(&[header])
}

/// Reads the challenges of every `WWW-Authenticate` header of an answer
/// (a registry may send one per scheme, in any case and spacing), keeping
/// the first Bearer one, else Basic. A header that cannot be parsed does
/// not hide a usable challenge in another.
pub fn parse_challenges(headers: &[&str]) -> Result<Challenge> {
    let mut basic = false;
    let mut problems = Vec::new();
    for header in headers {
        let tidied = tidy(header);
        let challenges = match http_auth::parse_challenges(&tidied) {
            Ok(challenges) => challenges,
            Err(e) => {
                problems.push(format!("cannot parse the WWW-Authenticate header {:?}: {e}", clip(header)));
                continue;
            }
        };
        let param = |c: &http_auth::ChallengeRef, name: &str| {
            c.params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_unescaped())
        };
        if let Some(c) = challenges.iter().find(|c| c.scheme.eq_ignore_ascii_case("bearer")) {
            let realm =
                param(c, "realm").ok_or_else(|| anyhow!("the Bearer challenge {:?} names no realm", clip(header)))?;
            return Ok(Challenge::Bearer {
                realm,
                service: param(c, "service"),
                scope: param(c, "scope"),
                error: param(c, "error"),
            });
        }
        basic |= challenges.iter().any(|c| c.scheme.eq_ignore_ascii_case("basic"));
    }
    if basic {
        return Ok(Challenge::Basic);
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    let shown: Vec<String> = headers.iter().map(|h| clip(h)).collect();
    bail!(
        "the registry asks for authentication this tool does not speak: {:?} (Basic and Bearer are supported)",
        shown.join(", ")
    )
}

/// A header with the optional whitespace RFC 7235 allows (runs of spaces
/// or tabs, spaces around `=` and `,`) made single spaces outside quoted
/// strings, as the `http-auth` parser wants them.
fn tidy(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    let (mut quoted, mut escaped, mut space) = (false, false, false);
    for c in header.trim().chars() {
        if quoted {
            out.push(c);
            (quoted, escaped) = (escaped || c != '"', !escaped && c == '\\');
            continue;
        }
        match c {
            ' ' | '\t' => space = true,
            '=' | ',' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
                space = c == ',';
            }
            _ => {
                if space && !out.is_empty() && !out.ends_with('=') {
                    out.push(' ');
                }
                space = false;
                quoted = c == '"';
                out.push(c);
            }
        }
    }
    out
}

/// The start of a header, for messages.
fn clip(header: &str) -> String {
    header.chars().take(300).collect()
}

/// `Basic <base64(user:password)>`.
pub fn basic_header(username: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
}

/// The scope bimanix asks for: pull and push on `repository`.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// The scope a cross-repository mount needs on its source: pull on `repository`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// The token request for a Bearer challenge: the URL with its query, and
/// how to send it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    /// GET the URL, with this `Authorization` header (none: anonymous).
    Get {
        /// The realm with `service` and `scope` in its query.
        url: Url,
        /// Basic credentials, when there are any.
        authorization: Option<String>,
    },
    /// POST this form to the realm (OAuth2 refresh-token grant).
    Post {
        /// The realm.
        url: Url,
        /// `application/x-www-form-urlencoded` body.
        form: String,
    },
}

/// The request that gets a token for `scopes` from the service of a Bearer
/// challenge, with `credentials` or anonymously. Whether `realm` may
/// receive the credentials is the caller's judgement (see
/// [`Registry::may_send_secret`](super::endpoint::Registry::may_send_secret)).
pub fn token_request(
    realm: &Url,
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
            let form = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
            TokenRequest::Post { url: realm.clone(), form }
        }
        Some(Secret::Password { username, password }) => {
            TokenRequest::Get { url: with_query(realm, &params), authorization: Some(basic_header(username, password)) }
        }
        None => TokenRequest::Get { url: with_query(realm, &params), authorization: None },
    }
}

/// The token in a token service's answer (`token`, or OAuth2's
/// `access_token`; `expires_in` and anything else are not needed).
pub fn read_token(body: &str) -> Result<String> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        token: Option<serde_json::Value>,
        #[serde(default)]
        access_token: Option<serde_json::Value>,
    }
    // The body is not quoted: a broken answer may still hold a token.
    let answer: Answer = serde_json::from_str(body)
        .map_err(|e| anyhow!("the token service's answer is not the JSON object expected ({e})"))?;
    let usable = |v: Option<serde_json::Value>| match v {
        Some(serde_json::Value::String(t)) if !t.is_empty() => Some(t),
        _ => None,
    };
    let token = usable(answer.token)
        .or_else(|| usable(answer.access_token))
        .ok_or_else(|| anyhow!("the token service's answer holds no token (neither \"token\" nor \"access_token\")"))?;
    // The token goes into a header: a character that cannot be there is refused.
    if token.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        bail!("the token service's answer holds a token with characters a header cannot carry");
    }
    Ok(token)
}

/// `url` with `params` added to its query (a realm's own query is kept).
fn with_query(url: &Url, params: &[(&str, &str)]) -> Url {
    let mut url = url.clone();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    url
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
        // Odd case and spacing, and one header per scheme.
        assert_eq!(
            parse_challenge(r#"BEARER  Realm="https://t/x" ,  SERVICE=reg"#).unwrap(),
            Challenge::Bearer { realm: "https://t/x".into(), service: Some("reg".into()), scope: None, error: None }
        );
        assert_eq!(
            parse_challenges(&["Negotiate", r#"Basic realm="r""#, r#"Bearer realm="https://t/x""#]).unwrap(),
            Challenge::Bearer { realm: "https://t/x".into(), service: None, scope: None, error: None }
        );
        assert_eq!(parse_challenges(&["Bearer ,,=", r#"basic realm="r""#]).unwrap(), Challenge::Basic);
        assert!(parse_challenge(r#"Bearer service="x""#).unwrap_err().to_string().contains("no realm"));
    }

    #[test]
    fn tidies_optional_whitespace() {
        assert_eq!(tidy("BEARER  Realm = \"a  b\" ,\tSERVICE=reg "), "BEARER Realm=\"a  b\", SERVICE=reg");
        assert_eq!(tidy(r#"Bearer realm="a\" ,x",service=s"#), r#"Bearer realm="a\" ,x", service=s"#);
    }

    #[test]
    fn builds_token_requests() {
        let scopes = [push_scope("me/x")];
        let url = |u: &str| Url::parse(u).unwrap();
        let anonymous = token_request(&url("https://a/token"), Some("reg istry"), &scopes, None);
        assert_eq!(
            anonymous,
            TokenRequest::Get {
                url: url("https://a/token?service=reg+istry&scope=repository%3Ame%2Fx%3Apull%2Cpush"),
                authorization: None
            }
        );
        let creds = Credentials {
            secret: Secret::Password { username: "alice".into(), password: "s3cret".into() },
            source: "--creds".into(),
        };
        let TokenRequest::Get { authorization, .. } =
            token_request(&url("https://a/t?x=1"), None, &scopes, Some(&creds))
        else {
            panic!()
        };
        assert_eq!(authorization.as_deref(), Some("Basic YWxpY2U6czNjcmV0"));
        let refresh = Credentials { secret: Secret::IdentityToken("r/t".into()), source: "f".into() };
        let TokenRequest::Post { form, .. } = token_request(&url("https://a/t"), Some("s"), &scopes, Some(&refresh))
        else {
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
        assert!(read_token(r#"{"token":null,"access_token":"b"}"#).unwrap() == "b");
        assert!(read_token(r#"{"token":"a\nb"}"#).is_err());
        let err = read_token(r#"{"token":"s3cret"#).unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
