//! Where a request may go and what it may carry: the one place that judges
//! URLs. Every URL the registry names (an upload `Location`, a token
//! service's realm) is parsed (RFC 3986, with the `url` crate) and resolved
//! against the URL of the request that named it before anything is sent;
//! a scheme other than HTTP(S) is refused with its name. Credentials are
//! attached by asking [`Registry`]: the registry's own `Authorization`
//! header only to the registry's own origin (scheme, host and port, after
//! parsing, so case and default ports cannot fool it), and a secret
//! (password, identity or refresh token) only over HTTPS, or over plain
//! HTTP to the very origin `--plain-http` named.

use anyhow::{Result, anyhow, bail};
use url::Url;

/// The registry's origin, and whether the user opted into clear text there.
#[derive(Clone, Debug)]
pub struct Registry {
    /// `https://host[:port]/` (or `http://` with `--plain-http`).
    base: Url,
    /// `--plain-http`: clear text to `base`'s origin, and nowhere else.
    plain_http: bool,
}

impl Registry {
    /// The registry at `host` (`host[:port]`, as the reference has it).
    pub fn new(host: &str, plain_http: bool) -> Result<Registry> {
        let scheme = if plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host}/"))
            .map_err(|e| anyhow!("the registry host {host:?} does not make a URL: {e}"))?;
        Ok(Registry { base, plain_http })
    }

    /// The URL of `path` (which starts with `/`) on the registry.
    pub fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).map_err(|e| anyhow!("the registry path {path:?} does not make a URL: {e}"))
    }

    /// `host[:port]` of the registry, for messages.
    pub fn host(&self) -> String {
        host_of(&self.base)
    }

    /// Whether `url` is the registry's own origin: the only place its
    /// `Authorization` header (Basic credentials, or the Bearer token the
    /// token service gave for it) is sent, and the only place whose 401
    /// may make bimanix fetch credentials.
    pub fn is_origin(&self, url: &Url) -> bool {
        url.origin() == self.base.origin()
    }

    /// Whether a secret (password, identity token, refresh token) may be
    /// sent to `url`: over HTTPS, or over plain HTTP to the registry's own
    /// origin when `--plain-http` said so. `Err` says why not.
    pub fn may_send_secret(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.plain_http && self.is_origin(url) => Ok(()),
            "http" if self.plain_http => Err(format!(
                "{} is plain HTTP on another host or port than the registry's, and --plain-http opts into clear \
                 text for the registry {} alone",
                shown(url),
                self.host()
            )),
            _ => Err(format!(
                "{} is plain HTTP; only --plain-http opts into clear text, for the registry it names",
                shown(url)
            )),
        }
    }

    /// Refuses to send data to `url` in clear text when the registry is
    /// spoken to over HTTPS (an upload `Location` that downgrades).
    pub fn check_no_downgrade(&self, url: &Url) -> Result<()> {
        if url.scheme() == "http" && !self.plain_http {
            bail!(
                "the registry {} said to continue at {}, which is plain HTTP; refusing to leave HTTPS (only \
                 --plain-http opts into clear text)",
                self.host(),
                shown(url)
            );
        }
        Ok(())
    }
}

/// Resolves a `Location` header against the URL of the request that
/// answered it, as RFC 3986 section 5 says (`uuid`, `./uuid`,
/// `/v2/...`, `//host/...` and absolute URLs; the query kept). A scheme
/// other than `http` or `https` is refused, naming it.
pub fn resolve_location(request: &Url, location: &str) -> Result<Url> {
    let resolved = request
        .join(location.trim())
        .map_err(|e| anyhow!("the Location {:?} is not a URL reference: {e}", clip(location)))?;
    match resolved.scheme() {
        "http" | "https" if resolved.host_str().is_some_and(|h| !h.is_empty()) => Ok(resolved),
        "http" | "https" => bail!("the Location {:?} names no host", clip(location)),
        other => bail!("the Location {:?} has the scheme {other:?}; only http and https are spoken", clip(location)),
    }
}

/// Reads a Bearer challenge's `realm`: an absolute `http` or `https` URL
/// with a host. The error names the realm.
pub fn parse_realm(realm: &str) -> Result<Url> {
    let url = Url::parse(realm.trim())
        .map_err(|e| anyhow!("the token service's realm {:?} is not a URL: {e}", clip(realm)))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        "http" | "https" => bail!("the token service's realm {:?} names no host", clip(realm)),
        other => bail!(
            "the token service's realm {:?} has the scheme {other:?}; only http and https are spoken",
            clip(realm)
        ),
    }
}

/// `host[:port]` of a URL.
pub fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => url.as_str().to_string(),
    }
}

/// A URL for messages: scheme, host, port and path, never a query (which
/// may hold a token) nor user info.
pub fn shown(url: &Url) -> String {
    format!("{}://{}{}", url.scheme(), host_of(url), url.path())
}

/// The start of a header value, for messages.
fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn resolves_locations_as_rfc_3986_says() {
        let post = url("https://r:5000/v2/me/x/blobs/uploads/");
        for (location, want) in [
            ("abc", "https://r:5000/v2/me/x/blobs/uploads/abc"),
            ("./abc?_state=s", "https://r:5000/v2/me/x/blobs/uploads/abc?_state=s"),
            ("../uploads/abc", "https://r:5000/v2/me/x/blobs/uploads/abc"),
            ("/v2/me/x/blobs/uploads/abc?_state=a%2Fb", "https://r:5000/v2/me/x/blobs/uploads/abc?_state=a%2Fb"),
            ("https://store.example/up?sig=1", "https://store.example/up?sig=1"),
            ("//other:7000/u", "https://other:7000/u"),
            ("HTTPS://R:5000/v2/u", "https://r:5000/v2/u"),
            (" /v2/u ", "https://r:5000/v2/u"),
        ] {
            assert_eq!(resolve_location(&post, location).unwrap().as_str(), want, "{location}");
        }
        let err = resolve_location(&post, "ftp://r/x").unwrap_err().to_string();
        assert!(err.contains("\"ftp\""), "{err}");
        let err = resolve_location(&post, "file:///etc/passwd").unwrap_err().to_string();
        assert!(err.contains("\"file\""), "{err}");
        assert!(resolve_location(&post, "http://[::1").is_err());
    }

    #[test]
    fn realms_must_be_http_urls() {
        assert_eq!(parse_realm("https://auth.example/token?x=1").unwrap().as_str(), "https://auth.example/token?x=1");
        let err = parse_realm("/token").unwrap_err().to_string();
        assert!(err.contains("\"/token\" is not a URL"), "{err}");
        let err = parse_realm("ldap://auth/token").unwrap_err().to_string();
        assert!(err.contains("\"ldap\""), "{err}");
    }

    #[test]
    fn secrets_go_over_https_or_to_the_plain_http_registry_alone() {
        let tls = Registry::new("r:5000", false).unwrap();
        assert!(tls.may_send_secret(&url("https://auth.example/token")).is_ok());
        assert!(tls.may_send_secret(&url("HTTPS://auth.example/token")).is_ok());
        for clear in ["http://auth.example/token", "HTTP://r:5000/token", "Http://r:5000/v2/"] {
            let why = tls.may_send_secret(&url(clear)).unwrap_err();
            assert!(why.contains("plain HTTP"), "{why}");
        }
        let plain = Registry::new("r:5000", true).unwrap();
        assert!(plain.may_send_secret(&url("http://R:5000/token")).is_ok());
        assert!(plain.may_send_secret(&url("http://r:5001/token")).is_err());
        assert!(plain.may_send_secret(&url("http://evil/token")).is_err());
    }

    #[test]
    fn the_origin_is_compared_after_parsing() {
        let registry = Registry::new("r:443", false).unwrap();
        assert!(registry.is_origin(&url("https://R/v2/x")));
        assert!(registry.is_origin(&url("HTTPS://r:443/v2/x")));
        assert!(!registry.is_origin(&url("http://r:443/v2/x")));
        assert!(!registry.is_origin(&url("https://r:4430/v2/x")));
        assert!(!registry.is_origin(&url("https://r.evil/v2/x")));
        assert!(!registry.is_origin(&url("https://evil/r:443/v2/x")));
        assert_eq!(shown(&url("https://u:p@r:5000/up?token=t")), "https://r:5000/up");
    }
}
