//! One repository of a registry, over the distribution API (blocking
//! HTTP/1.1 on ureq with rustls): the version check that settles how to
//! authenticate, HEAD of a blob, and a manifest PUT of bytes as given
//! (blob uploads and mounts are in [`upload`](super::upload)). Transient
//! failures (a reset connection, a timeout, 429, 5xx) are retried with
//! backoff a bounded number of times within a bounded time; a 401 from
//! the registry renews the token once per request. Every URL is judged by
//! [`endpoint`](super::endpoint) before a request carries credentials, and
//! every wait has the deadlines of [`timeouts`](super::timeouts).
//! Redirects are never followed. A client is cloned for each parallel
//! upload: the clones share the connection pool, not the token.

use std::cell::Cell;
use std::io::{self, Read};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ureq::http::{self, Response};
use ureq::{Agent, AsSendBody, Body, SendBody};
use url::Url;

mod fetch;

pub use fetch::Fetched;

use super::answer;
use super::auth::{self, Challenge, TokenRequest};
use super::credentials::{Credentials, Secret};
use super::endpoint::{self, Registry, host_of, shown};
use super::timeouts::{Timeouts, seconds};
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
    /// The deadlines (`--timeout`).
    pub timeouts: Timeouts,
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

/// Where retry notices go (one line each); shared by a client's clones.
pub type Notice = Box<dyn Fn(&str) + Send + Sync>;

/// A connection to one repository, authenticated.
#[derive(Clone)]
pub struct Client {
    agent: Agent,
    /// The registry's origin, which judges where credentials may go.
    pub(super) registry: Registry,
    /// The registry as the user named it, for messages.
    pub(super) shown: String,
    pub(super) repository: String,
    identity: Identity,
    trust: String,
    /// The `Authorization` header for the registry's origin.
    authorization: Option<String>,
    /// Repositories a token must also allow pulling from (the sources of
    /// cross-repository mounts).
    pull_from: Vec<String>,
    pub(super) timeouts: Timeouts,
    /// Blobs bigger than this go in chunks of this size (see `upload`).
    pub(super) chunk_size: u64,
    pub(super) notice: Arc<dyn Fn(&str) + Send + Sync>,
}

/// Why a request did not succeed, and what to do about it.
pub(super) enum Failure {
    /// Give up with this error.
    Fatal(anyhow::Error),
    /// Try again after a while (the registry's `Retry-After`, if it said).
    Transient(anyhow::Error, Option<Duration>),
    /// A 401 from the registry: renew the credentials once, then give up.
    Unauthorized(Box<Response<Body>>),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Fatal(e)
    }
}

/// A request body.
pub(super) enum Payload<'a> {
    Empty,
    Bytes(&'a [u8]),
    Form(&'a [u8]),
    Stream(&'a mut dyn Read, u64),
    /// A chunk of an upload: its bytes, their number, its `Content-Range`.
    Chunk(&'a mut dyn Read, u64, &'a str),
}

/// Which `Authorization` header a request carries.
pub(super) enum Auth<'a> {
    /// The registry's, when the URL is the registry's origin.
    Registry,
    /// This one (a token request's Basic credentials, already judged), or none.
    Given(Option<&'a str>),
}

impl Client {
    /// Connects to the registry of `reference` and settles authentication
    /// (GET `/v2/`, then Basic or a Bearer token as the registry asks).
    /// `notice` receives one line per retry.
    pub fn connect(
        reference: &Reference,
        connect: &Connect,
        identity: Identity,
        notice: Notice,
    ) -> Result<Client> {
        let (agent, trust) = if connect.plain_http {
            (agent(None, &connect.timeouts), "plain HTTP (--plain-http)".to_string())
        } else {
            let (config, trust) = tls::config(&connect.tls, reference.api_host())?;
            (agent(Some(config), &connect.timeouts), trust)
        };
        let mut client = Client {
            agent,
            registry: Registry::new(reference.api_host(), connect.plain_http)?,
            shown: reference.registry.clone(),
            repository: reference.repository.clone(),
            identity,
            trust,
            authorization: None,
            pull_from: Vec::new(),
            timeouts: connect.timeouts,
            chunk_size: super::upload::DEFAULT_CHUNK_SIZE,
            notice: Arc::from(notice),
        };
        client.ping()?;
        Ok(client)
    }

    /// `GET /v2/`, renewing credentials as the registry's challenge asks.
    fn ping(&mut self) -> Result<()> {
        let url = self.registry.url("/v2/")?;
        let what = format!("contacting {}", self.shown);
        self.retrying(&what, |c| {
            let response = c.send("GET", &url, Auth::Registry, None, Payload::Empty)?;
            match response.status().as_u16() {
                200..=299 => Ok(()),
                401 => Err(c.unauthorized(&url, response)),
                404 => Err(Failure::Fatal(anyhow!(
                    "{} answers {} with 404: it does not speak the registry API v2 there",
                    c.shown,
                    shown(&url)
                ))),
                _ => Err(c.failure(&what, &url, response)),
            }
        })
    }

    /// Whether the repository holds the blob `digest`. A redirect (to the
    /// storage that holds it) says it does; it is not followed.
    pub fn has_blob(&mut self, digest: &str) -> Result<bool> {
        let url = self.registry.url(&format!("/v2/{}/blobs/{digest}", self.repository))?;
        let what = format!("checking for blob {digest}");
        self.retrying(&what, |c| {
            let response = c.send("HEAD", &url, Auth::Registry, None, Payload::Empty)?;
            match response.status().as_u16() {
                200..=299 | 301 | 302 | 303 | 307 | 308 => Ok(true),
                404 => Ok(false),
                401 => Err(c.unauthorized(&url, response)),
                _ => Err(c.failure(&what, &url, response)),
            }
        })
    }

    /// Puts a manifest or index, byte for byte, under `tag_or_digest`.
    pub fn put_manifest(&mut self, tag_or_digest: &str, media_type: &str, bytes: &[u8], digest: &str) -> Result<()> {
        let url = self.registry.url(&format!("/v2/{}/manifests/{tag_or_digest}", self.repository))?;
        let what = format!("pushing manifest {digest} ({media_type}) as {tag_or_digest}");
        self.retrying(&what, |c| {
            let response = c.send("PUT", &url, Auth::Registry, Some(media_type), Payload::Bytes(bytes))?;
            match response.status().as_u16() {
                200..=299 => c.check_digest(&response, digest, &what).map_err(Failure::Fatal),
                401 => Err(c.unauthorized(&url, response)),
                400 | 404 | 415 => {
                    let detail = c.error_text(response);
                    Err(Failure::Fatal(anyhow!(
                        "{} refused the manifest {digest} (media type {media_type}): {detail}; if the registry does \
                         not take this media type, push an image whose manifests are OCI or Docker schema 2 ones, or \
                         allow the type in the registry's configuration",
                        c.shown
                    )))
                }
                _ => Err(c.failure(&what, &url, response)),
            }
        })
    }

    /// The registry as the user named it (`host[:port]`).
    pub fn registry_name(&self) -> &str {
        &self.shown
    }

    /// The repository pushed to.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// Sets the size above which blobs go in chunks, and of the chunks.
    pub fn set_chunk_size(&mut self, bytes: u64) {
        self.chunk_size = bytes.max(1);
    }

    /// Asks, in every token request from now on, to pull from `repository`
    /// too: a cross-repository mount needs it.
    pub fn also_pull(&mut self, repository: &str) {
        if repository != self.repository && !self.pull_from.iter().any(|r| r == repository) {
            self.pull_from.push(repository.to_string());
        }
    }

    /// Runs `op`, retrying transient failures with backoff (at most
    /// [`ATTEMPTS`] tries, none started after the retry budget) and
    /// renewing credentials once after a 401.
    pub(super) fn retrying<T>(&mut self, what: &str, op: impl FnMut(&mut Client) -> Result<T, Failure>) -> Result<T> {
        self.retrying_resumable(what, &Cell::new(0), op)
    }

    /// As [`Client::retrying`], for a request that makes progress across
    /// attempts (a chunked upload): when `done` grew since the last
    /// failure, the attempts and the retry budget start anew, so that a
    /// long upload with rare failures goes on while one that stopped
    /// advancing still ends after [`ATTEMPTS`] tries.
    pub(super) fn retrying_resumable<T>(
        &mut self,
        what: &str,
        done: &Cell<u64>,
        mut op: impl FnMut(&mut Client) -> Result<T, Failure>,
    ) -> Result<T> {
        let mut started = Instant::now();
        let budget = self.timeouts.retry_budget();
        let mut attempt = 1;
        let mut renewed = false;
        let mut reached = done.get();
        loop {
            let result = op(self);
            if done.get() > reached {
                (reached, attempt, started) = (done.get(), 1, Instant::now());
            }
            match result {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Unauthorized(response)) => {
                    if renewed || !self.renew(&response)? {
                        return Err(self.refused(*response));
                    }
                    renewed = true;
                }
                Err(Failure::Transient(e, wait)) => {
                    let spent = started.elapsed();
                    if attempt >= ATTEMPTS || spent >= budget {
                        return Err(e.context(format!(
                            "{what}: gave up after {attempt} attempt{} in {} (at most {ATTEMPTS} attempts within {}, \
                             4 x --timeout)",
                            if attempt == 1 { "" } else { "s" },
                            seconds(Duration::from_secs(spent.as_secs())),
                            seconds(budget)
                        )));
                    }
                    let wait = wait.unwrap_or(FIRST_WAIT * 2u32.pow(attempt - 1)).min(MAX_WAIT).min(budget - spent);
                    (self.notice)(&format!(
                        "{what}: {e:#}; retrying in {} s (attempt {} of {ATTEMPTS})",
                        wait.as_secs_f32(),
                        attempt + 1
                    ));
                    sleep(wait);
                    attempt += 1;
                }
            }
        }
    }

    /// One HTTP exchange within the request deadline.
    pub(super) fn send(
        &self,
        method: &str,
        url: &Url,
        auth: Auth,
        content_type: Option<&str>,
        payload: Payload,
    ) -> Result<Response<Body>, Failure> {
        self.send_within(method, url, auth, content_type, payload, self.timeouts.request())
    }

    /// One HTTP exchange that must end within `deadline`. The registry's
    /// `Authorization` goes to the registry's own origin alone.
    pub(super) fn send_within(
        &self,
        method: &str,
        url: &Url,
        auth: Auth,
        content_type: Option<&str>,
        payload: Payload,
        deadline: Duration,
    ) -> Result<Response<Body>, Failure> {
        let mut request = http::Request::builder().method(method).uri(url.as_str());
        let authorization = match auth {
            Auth::Registry if self.registry.is_origin(url) => self.authorization.as_deref(),
            Auth::Registry => None,
            Auth::Given(given) => given,
        };
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let bad = |e: http::Error| Failure::Fatal(anyhow!("bad request to {}: {e}", shown(url)));
        let result = match payload {
            Payload::Empty if method == "POST" => {
                self.run(request.header("Content-Length", "0").body(()).map_err(bad)?, deadline)
            }
            Payload::Empty => self.run(request.body(()).map_err(bad)?, deadline),
            Payload::Bytes(bytes) => self.run(request.body(bytes).map_err(bad)?, deadline),
            Payload::Form(bytes) => self.run(
                request.header("Content-Type", "application/x-www-form-urlencoded").body(bytes).map_err(bad)?,
                deadline,
            ),
            Payload::Stream(reader, size) => self.run(
                request.header("Content-Length", size.to_string()).body(SendBody::from_reader(reader)).map_err(bad)?,
                deadline,
            ),
            Payload::Chunk(reader, size, range) => self.run(
                request
                    .header("Content-Length", size.to_string())
                    .header("Content-Range", range)
                    .body(SendBody::from_reader(reader))
                    .map_err(bad)?,
                deadline,
            ),
        };
        result.map_err(|e| self.transport_failure(e, url, deadline))
    }

    /// Runs `request`, which must end within `deadline`.
    fn run<S: AsSendBody>(&self, request: http::Request<S>, deadline: Duration) -> Result<Response<Body>, ureq::Error> {
        self.agent.run(self.agent.configure_request(request).timeout_per_call(Some(deadline)).build())
    }

    /// A transport error as a failure: TLS and connection problems are
    /// final, with advice; resets and timeouts are worth another try. The
    /// message names the host of `url`, which may not be the registry's.
    fn transport_failure(&self, error: ureq::Error, url: &Url, deadline: Duration) -> Failure {
        let host = host_of(url);
        if let Some(advice) = tls::explain(&error, &host, &self.trust) {
            return Failure::Fatal(anyhow!(advice));
        }
        if let ureq::Error::Timeout(timeout) = error {
            return Failure::Transient(anyhow!(self.timeouts.explain(timeout, &host, deadline)), None);
        }
        use io::ErrorKind as K;
        let kind = if let ureq::Error::Io(io) = &error { Some(io.kind()) } else { None };
        if kind == Some(K::ConnectionRefused) {
            return Failure::Fatal(anyhow!(
                "cannot connect to {host}: connection refused; is the registry running and listening there?"
            ));
        }
        if matches!(error, ureq::Error::HostNotFound) {
            return Failure::Fatal(anyhow!("cannot resolve the host {host}; check the reference's registry"));
        }
        let transient = matches!(error, ureq::Error::Protocol(_))
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
    /// transient, anything else is final; a redirect is named as one.
    pub(super) fn failure(&self, what: &str, url: &Url, response: Response<Body>) -> Failure {
        let status = response.status();
        let wait = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(answer::retry_after);
        let redirect = response.headers().get("location").and_then(|l| l.to_str().ok()).map(|l| {
            let to = endpoint::resolve_location(url, l).map_or_else(|_| format!("{l:?}"), |u| shown(&u));
            format!(" (a redirect to {to}, which bimanix does not follow: credentials must not follow it)")
        });
        let redirect = redirect.filter(|_| status.is_redirection()).unwrap_or_default();
        let who = if self.registry.is_origin(url) { self.shown.clone() } else { host_of(url) };
        let detail = self.error_text(response);
        let error = anyhow!("{what}: {who} answered {status}{redirect}: {detail}");
        if status.as_u16() == 429 || status.is_server_error() {
            Failure::Transient(error, wait)
        } else if status.as_u16() == 403 {
            Failure::Fatal(self.denied(status, &detail))
        } else {
            Failure::Fatal(error)
        }
    }

    /// A 401: from the registry, worth renewing the credentials; from any
    /// other host (an upload location elsewhere), final, since credentials
    /// are for the registry alone and its challenge must not pick where
    /// they go.
    pub(super) fn unauthorized(&self, url: &Url, response: Response<Body>) -> Failure {
        if self.registry.is_origin(url) {
            return Failure::Unauthorized(Box::new(response));
        }
        let detail = self.error_text(response);
        Failure::Fatal(anyhow!(
            "{} answered 401 Unauthorized at {} (where {} sent the request): {detail}; bimanix sends credentials \
             to the registry's own address alone",
            host_of(url),
            shown(url),
            self.shown
        ))
    }

    /// Renews the credentials after a 401 of the registry: a new Bearer
    /// token for the challenge's scope, or Basic credentials where none
    /// were sent yet. `false` when there is nothing new to try.
    fn renew(&mut self, response: &Response<Body>) -> Result<bool> {
        let headers: Vec<&str> =
            response.headers().get_all("www-authenticate").iter().filter_map(|h| h.to_str().ok()).collect();
        if headers.is_empty() {
            return Ok(false);
        }
        match auth::parse_challenges(&headers)? {
            Challenge::Basic => match (&self.authorization, &self.identity.credentials) {
                (None, Some(Credentials { secret: Secret::Password { username, password }, .. })) => {
                    let origin = self.registry.url("/")?;
                    if let Err(why) = self.registry.may_send_secret(&origin) {
                        bail!("{} asks for a password, but {why}", self.shown);
                    }
                    self.authorization = Some(auth::basic_header(username, password));
                    Ok(true)
                }
                _ => Ok(false),
            },
            Challenge::Bearer { realm, service, scope, .. } => {
                let mut scopes = vec![auth::push_scope(&self.repository)];
                scopes.extend(self.pull_from.iter().map(|r| auth::pull_scope(r)));
                // A registry may name several scopes, separated by spaces (distribution does).
                for wanted in scope.iter().flat_map(|s| s.split_whitespace()) {
                    if !scopes.iter().any(|s| s == wanted) {
                        scopes.push(wanted.to_string());
                    }
                }
                let token = self.token(&realm, service.as_deref(), &scopes)?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(true)
            }
        }
    }

    /// Asks the token service at `realm` for a token, retrying transient
    /// failures as any request. Credentials go to it only when
    /// [`Registry::may_send_secret`] allows.
    fn token(&mut self, realm: &str, service: Option<&str>, scopes: &[String]) -> Result<String> {
        let realm = endpoint::parse_realm(realm).with_context(|| format!("{} asks for a Bearer token", self.shown))?;
        let credentials = self.identity.credentials.as_ref();
        if credentials.is_some()
            && let Err(why) = self.registry.may_send_secret(&realm)
        {
            bail!(
                "{} sends credentials to the token service {}; refusing to send them unencrypted: {why}",
                self.shown,
                shown(&realm)
            );
        }
        let request = auth::token_request(&realm, service, scopes, credentials);
        let what = format!("asking the token service {} for a token", shown(&realm));
        self.retrying(&what, |c| {
            let (url, response) = match &request {
                TokenRequest::Get { url, authorization } => {
                    (url, c.send("GET", url, Auth::Given(authorization.as_deref()), None, Payload::Empty)?)
                }
                TokenRequest::Post { url, form } => {
                    (url, c.send("POST", url, Auth::Given(None), None, Payload::Form(form.as_bytes()))?)
                }
            };
            let mut response = response;
            match response.status().as_u16() {
                200..=299 => {}
                401 | 403 => {
                    let detail = c.error_text(response);
                    return Err(Failure::Fatal(anyhow!(
                        "the token service {} of {} refused {}: {detail}; {}",
                        shown(url),
                        c.shown,
                        c.who(),
                        c.advice()
                    )));
                }
                _ => return Err(c.failure(&what, url, response)),
            }
            let body = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string();
            let body = body.map_err(|e| c.body_failure(e, url, &what))?;
            Ok(auth::read_token(&body).with_context(|| format!("the token service {} of {}", shown(url), c.shown))?)
        })
    }

    /// A failure while reading an answer's body: a stall is a timeout.
    fn body_failure(&self, error: ureq::Error, url: &Url, what: &str) -> Failure {
        match error {
            ureq::Error::Timeout(_) | ureq::Error::Io(_) => {
                match self.transport_failure(error, url, self.timeouts.request()) {
                    Failure::Transient(e, w) => Failure::Transient(e.context(format!("{what}: reading the answer")), w),
                    other => other,
                }
            }
            other => Failure::Fatal(anyhow!("{what}: cannot read the answer: {other}")),
        }
    }

    /// An error answer's body in one line (read within the deadline; a
    /// body that stalls is cut where it stalled).
    pub(super) fn error_text(&self, mut response: Response<Body>) -> String {
        let body = response.body_mut().with_config().limit(MAX_ANSWER).read_to_string().unwrap_or_default();
        self.redact(answer::error_summary(&body))
    }

    /// `text` with every secret bimanix holds cut out: a hostile server
    /// may echo a password or token back in its error body.
    fn redact(&self, mut text: String) -> String {
        let mut secrets: Vec<String> = Vec::new();
        match self.identity.credentials.as_ref().map(|c| &c.secret) {
            Some(Secret::Password { username, password }) => {
                secrets.push(password.clone());
                secrets.extend(auth::basic_header(username, password).strip_prefix("Basic ").map(str::to_string));
            }
            Some(Secret::IdentityToken(token)) => secrets.push(token.clone()),
            None => {}
        }
        secrets.extend(self.authorization.as_deref().and_then(|a| a.split_once(' ')).map(|(_, v)| v.to_string()));
        for secret in secrets.iter().filter(|s| s.len() >= 3) {
            text = text.replace(secret.as_str(), "[secret]");
        }
        text
    }

    /// The final error for a 401 that renewing did not cure.
    fn refused(&self, response: Response<Body>) -> anyhow::Error {
        let detail = self.error_text(response);
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

    /// Where an upload continues: the POST's `Location`, resolved against
    /// the POST's URL; never a downgrade from HTTPS.
    pub(super) fn location(&self, request: &Url, response: &Response<Body>) -> Result<Url, Failure> {
        let location = response
            .headers()
            .get("location")
            .ok_or_else(|| anyhow!("{} started an upload but sent no Location to upload to", self.shown))?;
        let location = location
            .to_str()
            .map_err(|_| anyhow!("{} started an upload with a Location that is not ASCII text", self.shown))?;
        let url = endpoint::resolve_location(request, location)
            .with_context(|| format!("{} started an upload at a place bimanix cannot go", self.shown))?;
        self.registry.check_no_downgrade(&url)?;
        Ok(url)
    }

    /// Checks the digest a registry says it stored, when it says.
    pub(super) fn check_digest(&self, response: &Response<Body>, digest: &str, what: &str) -> Result<()> {
        match response.headers().get("docker-content-digest").and_then(|d| d.to_str().ok()) {
            Some(stored) if !answer::same_digest(stored, digest) => Err(anyhow!(
                "{what}: {} stored it as {}, not as {digest}: the registry changed the bytes",
                self.shown,
                stored.chars().take(100).collect::<String>()
            )),
            _ => Ok(()),
        }
    }
}

/// The agent: no redirects followed (a blob HEAD may answer 307 and that
/// already says "present"; nothing else a push asks is redirected by
/// registries, and credentials must not follow one), statuses handled
/// here, and the deadlines of `timeouts`.
fn agent(tls: Option<ureq::tls::TlsConfig>, timeouts: &Timeouts) -> Agent {
    let mut config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("bimanix/", env!("CARGO_PKG_VERSION")));
    config = timeouts.configure(config);
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().into()
}
