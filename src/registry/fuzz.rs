//! What the registry fuzz targets run (fuzz/fuzz_targets/www_authenticate.rs,
//! location.rs, registry_json.rs), here so that `cargo test` replays the
//! inputs in fuzz/regressions/ through the very same code. Each function
//! panics only when a promise breaks: a scheme other than HTTP(S) taken,
//! a secret allowed in clear text, a token a header cannot carry, an error
//! summary on more than one line.

use url::Url;

use super::answer;
use super::auth::{self, Challenge};
use super::endpoint::{self, Registry};

/// `WWW-Authenticate` headers (the input split at NUL bytes), then a
/// Bearer challenge's realm.
pub fn www_authenticate(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let headers: Vec<&str> = text.split('\0').collect();
    if let Ok(Challenge::Bearer { realm, .. }) = auth::parse_challenges(&headers) {
        realm_promises(&realm);
    }
    let _ = auth::parse_challenge(&text);
}

/// A `Location` resolved against an upload's URL, and the same text read
/// as a token realm; both judged for credentials.
pub fn location(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let request = Url::parse("https://r:5000/v2/me/x/blobs/uploads/").expect("a valid URL");
    if let Ok(url) = endpoint::resolve_location(&request, &text) {
        url_promises(&url);
    }
    realm_promises(&text);
}

/// A token answer, an error body, `Retry-After` and `Docker-Content-Digest`.
pub fn registry_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(token) = auth::read_token(&text) {
        assert!(!token.is_empty() && token.bytes().all(|b| (0x21..0x7f).contains(&b)), "token {token:?}");
    }
    let summary = answer::error_summary(&text);
    assert!(!summary.contains(['\n', '\r']) && summary.chars().count() <= 400, "summary {summary:?}");
    let _ = answer::retry_after(&text);
    let _ = answer::same_digest(&text, "sha256:0");
}

fn realm_promises(realm: &str) {
    if let Ok(url) = endpoint::parse_realm(realm) {
        url_promises(&url);
    }
}

/// Where credentials may go: HTTPS anywhere, plain HTTP only to the
/// `--plain-http` registry's own origin.
fn url_promises(url: &Url) {
    assert!(matches!(url.scheme(), "http" | "https"), "scheme of {url}");
    let tls = Registry::new("r:5000", false).expect("a valid host");
    if tls.may_send_secret(url).is_ok() || tls.is_origin(url) {
        assert_eq!(url.scheme(), "https", "{url}");
    }
    let plain = Registry::new("r:5000", true).expect("a valid host");
    if plain.may_send_secret(url).is_ok() && url.scheme() == "http" {
        assert!(plain.is_origin(url) && url.host_str() == Some("r") && url.port() == Some(5000), "{url}");
    }
    assert!(!endpoint::shown(url).contains('?'), "{url}");
}
