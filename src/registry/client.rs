//! One repository of a registry, over the distribution API (blocking
//! HTTP/1.1 on ureq with rustls): the version check that settles how to
//! authenticate, HEAD of a blob, a blob upload (POST for a session, then
//! one PUT that streams the blob with its Content-Length), and a manifest
//! PUT of bytes as given. Transient failures (a reset connection, a
//! timeout, 429, 5xx) are retried with backoff a bounded number of times;
//! a 401 renews the token once per request.

use std::io::{self, Read};
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use ureq::http::{self, Response};
use ureq::{Agent, Body, SendBody};

use super::auth::{self, Challenge, TokenRequest};
use super::credentials::{Credentials, Secret};
use super::tls::{self, TlsOptions};
use crate::model::reference::Reference;

/// How many times a request is tried before a transient failure is final.
const ATTEMPTS: u32 = 4;
/// The first wait before a retry; each next one doubles.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest `Retry-After` honoured.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// How much of an error or token answer is read.
const MAX_ANSWER: u64 = 1 << 20;

/// How to reach the registry.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    /// TLS settings (ignored with `plain_http`).
    pub tls: TlsOptions,
    /// Speak plain HTTP (`--plain-http`).
    pub plain_http: bool,
}

/// Who the client is, for messages: the credentials and where they came
/// from, or where none were found.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// The credentials, if any.
    pub credentials: Option<Credentials>,
    /// The places searched for credentials (for the message when there were none).
    pub searched: Vec<String>,
}

/// A connection to one repository, authenticated.
pub struct Client {
    agent: Agent,
    /// `https://host[:port]`.
    base: String,
    /// The registry as the user named it, for messages.
    shown: String,
    repository: String,
    identity: Identity,
    trust: String,
    /// The `Authorization` header for the registry.
    authorization: Option<String>,
    notice: Box<dyn FnMut(&str)>,
}

/// Why a request did not succeed, and what to do about it.
enum Failure {
    /// Give up with this error.
    Fatal(anyhow::Error),
    /// Try again after a while (the registry's `Retry-After`, if it said).
    Transient(anyhow::Error, Option<Duration>),
    /// A 401: renew the credentials once, then give up.
    Unauthorized(Box<Response<Body>>),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Fatal(e)
    }
}

/// A request body.
enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
}

impl Client {
    /// Connects to the registry of `reference` and settles authentication
    /// (GET `/v2/`, then Basic or a Bearer token as the registry asks).
    /// `notice` receives one line per retry.
    pub fn connect(
        reference: &Reference,
        connect: &Connect,
        identity: Identity,
        notice: Box<dyn FnMut(&str)>,
    ) -> Result<Client> {
        let (agent, scheme, trust) = if connect.plain_http {
            (agent(None), "http", "plain HTTP (--plain-http)".to_string())
        } else {
            let (config, trust) = tls::config(&connect.tls, reference.api_host())?;
            (agent(Some(config)), "https", trust)
        };
        let mut client = Client {
            agent,
            base: format!("{scheme}://{}", reference.api_host()),
            shown: reference.registry.clone(),
            repository: reference.repository.clone(),
            identity,
            trust,
            authorization: None,
            notice,
        };
        client.ping()?;
        Ok(client)
    }

    /// `GET /v2/`, renewing credentials as the registry's challenge asks.
    fn ping(&mut self) -> Result<()> {
        let url = format!("{}/v2/", self.base);
        let what = format!("contacting {}", self.shown);
        self.retrying(&what, |c| {
            let response = c.send("GET", &url, None, Payload::Empty)?;
            match response.status().as_u16() {
                200 => Ok(()),
                401 => Err(Failure::Unauthorized(Box::new(response))),
                404 => Err(Failure::Fatal(anyhow!(
                    "{} answers {url} with 404: it does not speak the registry API v2 there",
                    c.shown
                ))),
                _ => Err(c.failure(&what, response)),
            }
        })
    }

    /// Whether the repository holds the blob `digest`.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.repository);
        let what = format!("checking for blob {digest}");
        self.retrying(&what, |c| {
            let response = c.send("HEAD", &url, None, Payload::Empty)?;
            match response.status().as_u16() {
                200 | 302 | 307 => Ok(true),
                404 => Ok(false),
                401 => Err(Failure::Unauthorized(Box::new(response))),
                _ => Err(c.failure(&what, response)),
            }
        })
    }

    /// Uploads the blob `digest` of `size` bytes: a POST for an upload
    /// session, then a PUT streaming what `open` reads, with the digest.
    /// `open` is called again for each retry; `sent` hears the bytes sent
    /// so far (0 when a retry starts over).
    pub fn upload_blob<'r>(
        &mut self,
        digest: &str,
        size: u64,
        open: &mut dyn FnMut() -> Result<Box<dyn Read + 'r>>,
        sent: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let start = format!("{}/v2/{}/blobs/uploads/", self.base, self.repository);
        let what = format!("uploading blob {digest}");
        self.retrying(&what, |c| {
            sent(0);
            let response = c.send("POST", &start, None, Payload::Empty)?;
            let location = match response.status().as_u16() {
                202 => c.location(&response)?,
                401 => return Err(Failure::Unauthorized(Box::new(response))),
                _ => return Err(c.failure(&what, response)),
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let url = format!("{location}{sep}digest={}", auth::percent_encode(digest));
            let mut body = Counted { inner: open()?, sent: 0, report: &mut *sent, error: None };
            let result = c.send("PUT", &url, Some("application/octet-stream"), Payload::Stream(&mut body, size));
            if let Some(e) = body.error.take() {
                return Err(Failure::Fatal(anyhow!(e).context(format!("{what}: cannot read the blob from the image"))));
            }
            let response = result?;
            match response.status().as_u16() {
                201 => c.check_digest(&response, digest, &what).map_err(Failure::Fatal),
                401 => Err(Failure::Unauthorized(Box::new(response))),
                _ => Err(c.failure(&what, response)),
            }
        })
    }

    /// Puts a manifest or index, byte for byte, under `tag_or_digest`.
    pub fn put_manifest(&mut self, tag_or_digest: &str, media_type: &str, bytes: &[u8], digest: &str) -> Result<()> {
        let url = format!("{}/v2/{}/manifests/{tag_or_digest}", self.base, self.repository);
        let what = format!("pushing manifest {digest} ({media_type}) as {tag_or_digest}");
        self.retrying(&what, |c| {
            let response = c.send("PUT", &url, Some(media_type), Payload::Bytes(bytes))?;
            match response.status().as_u16() {
                200..=202 => c.check_digest(&response, digest, &what).map_err(Failure::Fatal),
                401 => Err(Failure::Unauthorized(Box::new(response))),
                400 | 404 | 415 => {
                    let detail = error_text(response);
                    Err(Failure::Fatal(anyhow!(
                        "{} refused the manifest {digest} (media type {media_type}): {detail}; if the registry does \
                         not take this media type, push an image whose manifests are OCI or Docker schema 2 ones, or \
                         allow the type in the registry's configuration",
                        c.shown
                    )))
                }
                _ => Err(c.failure(&what, response)),
            }
        })
    }

    /// Runs `op`, retrying transient failures with backoff and renewing
    /// credentials once after a 401.
    fn retrying<T>(&mut self, what: &str, mut op: impl FnMut(&mut Client) -> Result<T, Failure>) -> Result<T> {
        let mut attempt = 1;
        let mut renewed = false;
        loop {
            match op(self) {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Unauthorized(response)) => {
                    if renewed || !self.renew(&response)? {
                        return Err(self.refused(*response));
                    }
                    renewed = true;
                }
                Err(Failure::Transient(e, wait)) if attempt < ATTEMPTS => {
                    let wait = wait.unwrap_or(FIRST_WAIT * 2u32.pow(attempt - 1)).min(MAX_WAIT);
                    (self.notice)(&format!(
                        "{what}: {e:#}; retrying in {} s (attempt {} of {ATTEMPTS})",
                        wait.as_secs_f32(),
                        attempt + 1
                    ));
                    sleep(wait);
                    attempt += 1;
                }
                Err(Failure::Transient(e, _)) => {
                    return Err(e.context(format!("{what}: gave up after {ATTEMPTS} attempts")));
                }
            }
        }
    }

    /// One HTTP exchange. Authorization goes only to the registry itself.
    fn send(
        &self,
        method: &str,
        url: &str,
        content_type: Option<&str>,
        payload: Payload,
    ) -> Result<Response<Body>, Failure> {
        let mut request = http::Request::builder().method(method).uri(url);
        if let Some(authorization) = &self.authorization
            && url.starts_with(&format!("{}/", self.base))
        {
            request = request.header("Authorization", authorization);
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let result = match payload {
            Payload::Empty if method == "POST" => self
                .agent
                .run(request.header("Content-Length", "0").body(()).map_err(|e| anyhow!("bad request to {url}: {e}"))?),
            Payload::Empty => self.agent.run(request.body(()).map_err(|e| anyhow!("bad request to {url}: {e}"))?),
            Payload::Bytes(bytes) => {
                self.agent.run(request.body(bytes).map_err(|e| anyhow!("bad request to {url}: {e}"))?)
            }
            Payload::Stream(reader, size) => self.agent.run(
                request
                    .header("Content-Length", size.to_string())
                    .body(SendBody::from_reader(reader))
                    .map_err(|e| anyhow!("bad request to {url}: {e}"))?,
            ),
        };
        result.map_err(|e| self.transport_failure(e))
    }

    /// A transport error as a failure: TLS and connection problems are
    /// final, with advice; resets and timeouts are worth another try.
    fn transport_failure(&self, error: ureq::Error) -> Failure {
        let host = self.base.split("://").nth(1).unwrap_or(&self.base).to_string();
        if let Some(advice) = tls::explain(&error, &host, &self.trust) {
            return Failure::Fatal(anyhow!(advice));
        }
        use io::ErrorKind as K;
        let kind = if let ureq::Error::Io(io) = &error { Some(io.kind()) } else { None };
        if kind == Some(K::ConnectionRefused) {
            return Failure::Fatal(anyhow!(
                "cannot connect to {host}: connection refused; is the registry running and listening there?"
            ));
        }
        if matches!(error, ureq::Error::HostNotFound) {
            return Failure::Fatal(anyhow!("cannot resolve the registry host {host}; check the reference's registry"));
        }
        let transient = matches!(error, ureq::Error::Timeout(_) | ureq::Error::Protocol(_))
            || matches!(
                kind,
                Some(
                    K::ConnectionReset
                        | K::ConnectionAborted
                        | K::BrokenPipe
                        | K::UnexpectedEof
                        | K::TimedOut
                        | K::Interrupted
                )
            );
        if transient {
            Failure::Transient(anyhow!("connection to {host} failed: {error}"), None)
        } else {
            Failure::Fatal(anyhow!("cannot talk to {host}: {error}"))
        }
    }

    /// A status that is not what the request wants: 429 and 5xx are
    /// transient, anything else is final.
    fn failure(&self, what: &str, response: Response<Body>) -> Failure {
        let status = response.status();
        let wait = retry_after(&response);
        let detail = error_text(response);
        let error = anyhow!("{what}: {} answered {status}: {detail}", self.shown);
        if status.as_u16() == 429 || status.is_server_error() {
            Failure::Transient(error, wait)
        } else if status.as_u16() == 403 {
            Failure::Fatal(self.denied(status, &detail))
        } else {
            Failure::Fatal(error)
        }
    }

    /// Renews the credentials after a 401: a new Bearer token for the
    /// challenge's scope, or Basic credentials where none were sent yet.
    /// `false` when there is nothing new to try.
    fn renew(&mut self, response: &Response<Body>) -> Result<bool> {
        let Some(header) = response.headers().get("www-authenticate").and_then(|h| h.to_str().ok()) else {
            return Ok(false);
        };
        match auth::parse_challenge(header)? {
            Challenge::Basic => match (&self.authorization, &self.identity.credentials) {
                (None, Some(Credentials { secret: Secret::Password { username, password }, .. })) => {
                    self.authorization = Some(auth::basic_header(username, password));
                    Ok(true)
                }
                _ => Ok(false),
            },
            Challenge::Bearer { realm, service, scope, .. } => {
                let mut scopes = vec![auth::push_scope(&self.repository)];
                scopes.extend(scope.filter(|s| *s != scopes[0]));
                let token = self.token(&realm, service.as_deref(), &scopes)?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(true)
            }
        }
    }

    /// Asks the token service at `realm` for a token, retrying transient
    /// failures as any request.
    fn token(&mut self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let credentials = self.identity.credentials.as_ref();
        if credentials.is_some() && realm.starts_with("http://") && self.base.starts_with("https://") {
            anyhow::bail!(
                "{} sends credentials to the token service {realm}, which is plain HTTP; refusing to send them \
                 unencrypted (use --plain-http if that is intended)",
                self.shown
            );
        }
        let request = auth::token_request(realm, service, scopes, credentials);
        let what = format!("asking the token service {realm} for a token");
        self.retrying(&what, |c| {
            let result = match &request {
                TokenRequest::Get { url, authorization } => {
                    let mut get = c.agent.get(url);
                    if let Some(authorization) = authorization {
                        get = get.header("Authorization", authorization);
                    }
                    get.call()
                }
                TokenRequest::Post { url, form } => {
                    c.agent.post(url).header("Content-Type", "application/x-www-form-urlencoded").send(form.as_bytes())
                }
            };
            let mut response = result.map_err(|e| c.transport_failure(e))?;
            match response.status().as_u16() {
                200..=299 => {}
                401 | 403 => {
                    let detail = error_text(response);
                    return Err(Failure::Fatal(anyhow!(
                        "the token service {realm} of {} refused {}: {detail}; {}",
                        c.shown,
                        c.who(),
                        c.advice()
                    )));
                }
                _ => return Err(c.failure(&what, response)),
            }
            let body = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string();
            let body = body.map_err(|e| anyhow!("{what}: cannot read the answer: {e}"))?;
            Ok(auth::read_token(&body).with_context(|| format!("the token service {realm} of {}", c.shown))?)
        })
    }

    /// The final error for a 401 that renewing did not cure.
    fn refused(&self, response: Response<Body>) -> anyhow::Error {
        let detail = error_text(response);
        let message = match &self.identity.credentials {
            Some(_) => format!("{} refused {}: 401 Unauthorized: {detail}", self.shown, self.who()),
            None => format!(
                "{} needs credentials to push to {} and none were found: 401 Unauthorized: {detail}",
                self.shown, self.repository
            ),
        };
        anyhow!("{message}; {}", self.advice())
    }

    /// The error for a 403: the credentials work but may not push here.
    fn denied(&self, status: http::StatusCode, detail: &str) -> anyhow::Error {
        anyhow!(
            "{} denied {} push access to {}: {status}: {detail}; the credentials are valid but may not push to this \
             repository (a GitHub token needs packages: write)",
            self.shown,
            self.who(),
            self.repository
        )
    }

    /// `user "alice" (credentials from FILE)` or `anonymous access`.
    fn who(&self) -> String {
        match &self.identity.credentials {
            Some(c) => format!("{} (credentials from {})", c.who(), c.source),
            None => "anonymous access".to_string(),
        }
    }

    /// What to do about refused credentials.
    fn advice(&self) -> String {
        let searched = if self.identity.searched.is_empty() {
            String::new()
        } else {
            format!("; credentials are looked for in {}", self.identity.searched.join(", "))
        };
        let check = if self.identity.credentials.is_some() { "check the user name and password, or " } else { "" };
        format!(
            "{check}give credentials for {} with --creds USER:PASSWORD (or --creds USER and --password-stdin), or \
             log in with `docker login {}` or `podman login {}`{searched}",
            self.shown, self.shown, self.shown
        )
    }

    /// The absolute upload URL a POST answered with.
    fn location(&self, response: &Response<Body>) -> Result<String, Failure> {
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| anyhow!("{} started an upload but sent no Location to upload to", self.shown))?;
        Ok(if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        })
    }

    /// Checks the digest a registry says it stored, when it says.
    fn check_digest(&self, response: &Response<Body>, digest: &str, what: &str) -> Result<()> {
        match response.headers().get("docker-content-digest").and_then(|d| d.to_str().ok()) {
            Some(stored) if stored != digest => Err(anyhow!(
                "{what}: {} stored it as {stored}, not as {digest}: the registry changed the bytes",
                self.shown
            )),
            _ => Ok(()),
        }
    }
}

/// The agent: no redirects followed (a blob HEAD may answer 307 and that
/// already says "present"), statuses handled here, generous timeouts that
/// still end a stalled connection.
fn agent(tls: Option<ureq::tls::TlsConfig>) -> Agent {
    let mut config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("bimanix/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(300)))
        .timeout_per_write(Some(Duration::from_secs(300)));
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().into()
}

/// `Retry-After` in seconds, when the registry sent one.
fn retry_after(response: &Response<Body>) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A registry's error answer in one line: the distribution API's
/// `{"errors":[{"code","message"}]}`, else the start of the body.
fn error_text(mut response: Response<Body>) -> String {
    let body = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string().unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(errors) = serde_json::from_str::<Errors>(&body)
        && !errors.errors.is_empty()
    {
        return errors
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message).trim_matches([' ', ':']).to_string())
            .collect::<Vec<_>>()
            .join("; ");
    }
    let text: String = body.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
    if text.is_empty() { "(no details)".to_string() } else { text }
}

/// A blob reader that reports progress and keeps its own read error, so
/// that a failing archive is not mistaken for a failing network.
struct Counted<'a, 'r> {
    inner: Box<dyn Read + 'r>,
    sent: u64,
    report: &'a mut dyn FnMut(u64),
    error: Option<io::Error>,
}

impl Read for Counted<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(got) => {
                self.sent += got as u64;
                (self.report)(self.sent);
                Ok(got)
            }
            Err(e) => {
                let kept = io::Error::new(e.kind(), e.to_string());
                self.error = Some(e);
                Err(kept)
            }
        }
    }
}
