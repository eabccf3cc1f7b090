//! Reading small documents back from the repository: a manifest or index
//! by tag or digest, and the referrers API's list (`GET
//! /v2/<name>/referrers/<digest>`), for pushing the documents attached to
//! an image. The same rules as every other request: credentials to the
//! registry's origin alone, the deadlines, retries, and a bounded read.

use anyhow::{Result, anyhow};
use ureq::Body;
use ureq::http::{self, Response};
use url::Url;

use super::{Client, Failure, shown};

/// The largest manifest or index read back: the distribution spec asks
/// registries to take manifests of up to 4 MiB.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// A document the registry answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// Its bytes, as sent.
    pub bytes: Vec<u8>,
    /// Its `Content-Type`, when given.
    pub media_type: Option<String>,
}

impl Client {
    /// The manifest or index under `tag_or_digest`, asked for as `accept`;
    /// `None` when the repository has none there (404).
    pub fn get_manifest(&mut self, tag_or_digest: &str, accept: &str) -> Result<Option<Fetched>> {
        let path = format!("/v2/{}/manifests/{tag_or_digest}", self.repository);
        self.fetch(&path, accept, &[404], &format!("reading {tag_or_digest}"))
    }

    /// The referrers API's index of the documents whose subject is
    /// `digest`; `None` when the registry has no such API (it answers 404,
    /// or 400, 405 or 501 for a path it does not know).
    pub fn get_referrers(&mut self, digest: &str) -> Result<Option<Fetched>> {
        let path = format!("/v2/{}/referrers/{digest}", self.repository);
        let what = format!("asking for the referrers of {digest}");
        self.fetch(&path, crate::model::oci::INDEX_TYPE, &[400, 404, 405, 501], &what)
    }

    /// GETs `path` of the registry: its body on 200, `None` on a status in
    /// `absent`, an error otherwise (after retries and a credential renewal).
    fn fetch(&mut self, path: &str, accept: &str, absent: &[u16], what: &str) -> Result<Option<Fetched>> {
        let url = self.registry.url(path)?;
        self.retrying(what, |c| {
            let mut response = c.get(&url, accept)?;
            match response.status().as_u16() {
                200 => {
                    let media_type = response
                        .headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
                    let bytes = response.body_mut().with_config().limit(MAX_DOCUMENT).read_to_vec();
                    let bytes = bytes.map_err(|e| match e {
                        ureq::Error::BodyExceedsLimit(_) => Failure::Fatal(anyhow!(
                            "{what}: {} answered with more than {} MiB, more than any manifest may hold",
                            c.shown,
                            MAX_DOCUMENT >> 20
                        )),
                        e => c.body_failure(e, &url, what),
                    })?;
                    Ok(Some(Fetched { bytes, media_type }))
                }
                status if absent.contains(&status) => Ok(None),
                401 => Err(c.unauthorized(&url, response)),
                _ => Err(c.failure(what, &url, response)),
            }
        })
    }

    /// One GET within the request deadline, with the registry's
    /// `Authorization` for its own origin alone.
    fn get(&self, url: &Url, accept: &str) -> Result<Response<Body>, Failure> {
        let mut request = http::Request::builder().method("GET").uri(url.as_str()).header("Accept", accept);
        if let Some(authorization) = self.authorization.as_deref().filter(|_| self.registry.is_origin(url)) {
            request = request.header("Authorization", authorization);
        }
        let request = request.body(()).map_err(|e| Failure::Fatal(anyhow!("bad request to {}: {e}", shown(url))))?;
        let deadline = self.timeouts.request();
        self.run(request, deadline).map_err(|e| self.transport_failure(e, url, deadline))
    }
}
