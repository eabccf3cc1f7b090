//! Blob uploads, as the distribution API offers them. A blob known to be in
//! another repository of the registry is mounted from there first (`POST
//! .../blobs/uploads/?mount=DIGEST&from=REPO`: 201 is mounted; 202 is
//! refused, and the upload goes on in the session that answer opened). A
//! blob up to the chunk size goes in one PUT; a bigger one in PATCHes of
//! chunks (`Content-Range`, at least the registry's `OCI-Chunk-Min-Length`).
//! After a reset or a 5xx in the middle, the upload asks the registry where
//! it stands (GET of the upload's `Location`, whose `Range` says what it
//! holds) and goes on from there, not from byte 0. A registry that refuses
//! the first chunk gets the blob in one PUT.

use std::cell::Cell;
use std::io::{self, Read};

use anyhow::{Result, anyhow};
use ureq::Body;
use ureq::http::Response;
use url::Url;

use super::client::{Auth, Client, Failure, Payload};

/// The default `--chunk-size`: a reset costs at most this much again, and
/// a request's round trip is small next to sending it.
pub const DEFAULT_CHUNK_SIZE: u64 = 32 << 20;
/// How many repositories a blob may be mounted from before it is uploaded.
const MOUNT_TRIES: usize = 3;

/// Opens a blob's bytes from their start, again for each try.
pub type Open<'o, 'r> = dyn FnMut() -> Result<Box<dyn Read + 'r>> + 'o;

/// How a blob reached the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Mounted from this repository of the same registry.
    Mounted(String),
    /// Uploaded, sending so many bytes in all (retries included).
    Uploaded(u64),
}

/// An upload session: where its next request goes, and the smallest chunk
/// the registry takes (`OCI-Chunk-Min-Length`, 0 when it did not say).
struct Session {
    url: Url,
    min_chunk: u64,
}

/// The registry's answer to a mount request.
enum Mount {
    Done,
    /// Refused, with an upload session opened instead.
    Session(Session),
    Refused,
}

/// What the mounts of a blob came to.
enum Tried {
    /// Mounted from this repository.
    Mounted(String),
    /// Refused everywhere; the upload session the last refusal opened.
    Refused(Option<Session>),
}

/// How a chunked upload ended.
enum Chunked {
    Done,
    /// The registry refused the first chunk: it takes whole blobs only.
    Refused,
}

impl Client {
    /// Makes the repository hold the blob `digest` of `size` bytes: mounted
    /// from the first of `from` (repositories of the same registry) that
    /// the registry mounts it from, else uploaded. `open` is called again
    /// for each try; `sent` hears how much of the blob has gone.
    pub fn push_blob(
        &mut self,
        digest: &str,
        size: u64,
        from: &[String],
        open: &mut Open,
        sent: &mut dyn FnMut(u64),
    ) -> Result<Sent> {
        let mut session = match self.mounts(digest, from)? {
            Tried::Mounted(source) => return Ok(Sent::Mounted(source)),
            Tried::Refused(session) => session,
        };
        let total = Cell::new(0);
        if size > self.chunk_size {
            match self.chunked(digest, size, session.take(), open, sent, &total)? {
                Chunked::Done => return Ok(Sent::Uploaded(total.get())),
                Chunked::Refused => (self.notice)(&format!(
                    "uploading blob {digest}: {} takes no chunked uploads; sending the blob in one request",
                    self.shown
                )),
            }
        }
        self.monolithic(digest, size, session, open, sent, &total)?;
        Ok(Sent::Uploaded(total.get()))
    }

    /// Mounts the blob `digest` from the first of `from` (repositories of
    /// the same registry) that the registry mounts it from: that
    /// repository, or none when every one refused.
    pub fn mount_blob(&mut self, digest: &str, from: &[String]) -> Result<Option<String>> {
        match self.mounts(digest, from)? {
            Tried::Mounted(source) => Ok(Some(source)),
            Tried::Refused(session) => {
                if let Some(session) = session {
                    self.cancel(&session.url);
                }
                Ok(None)
            }
        }
    }

    /// Tries to mount `digest` from the first [`MOUNT_TRIES`] of `from`
    /// (not this repository); keeps the last upload session a refusal opened.
    fn mounts(&mut self, digest: &str, from: &[String]) -> Result<Tried> {
        let mut session = None;
        let own = self.repository.clone();
        for source in from.iter().filter(|r| **r != own).take(MOUNT_TRIES) {
            match self.mount(digest, source)? {
                Mount::Done => return Ok(Tried::Mounted(source.clone())),
                Mount::Session(opened) => {
                    if let Some(old) = session.replace(opened) {
                        self.cancel(&old.url);
                    }
                }
                Mount::Refused => {}
            }
        }
        Ok(Tried::Refused(session))
    }

    /// Uploads the blob `digest` of `size` bytes (in chunks when it is big),
    /// with no mount tried.
    pub fn upload_blob(
        &mut self,
        digest: &str,
        size: u64,
        open: &mut Open,
        sent: &mut dyn FnMut(u64),
    ) -> Result<()> {
        self.push_blob(digest, size, &[], open, sent).map(|_| ())
    }

    /// Asks the registry to mount `digest` from the repository `from`.
    /// A token must allow pulling there: the first 401 renews it with that
    /// scope, a second one (no right to pull there) is a refusal.
    fn mount(&mut self, digest: &str, from: &str) -> Result<Mount> {
        self.also_pull(from);
        let mut url = self.registry.url(&format!("/v2/{}/blobs/uploads/", self.repository))?;
        url.query_pairs_mut().append_pair("mount", digest).append_pair("from", from);
        let what = format!("mounting blob {digest} from {from}");
        let mut renewed = false;
        self.retrying(&what, |c| {
            let response = c.send("POST", &url, Auth::Registry, None, Payload::Empty)?;
            match response.status().as_u16() {
                201 => {
                    c.check_digest(&response, digest, &what).map_err(Failure::Fatal)?;
                    Ok(Mount::Done)
                }
                202 => Ok(Mount::Session(c.session(&url, &response)?)),
                401 if !renewed => {
                    renewed = true;
                    Err(c.unauthorized(&url, response))
                }
                429 | 500..=599 => Err(c.failure(&what, &url, response)),
                _ => Ok(Mount::Refused),
            }
        })
    }

    /// Starts an upload session (one try; the caller retries).
    fn start_upload(&mut self, what: &str) -> Result<Session, Failure> {
        let url = self.registry.url(&format!("/v2/{}/blobs/uploads/", self.repository))?;
        let response = self.send("POST", &url, Auth::Registry, None, Payload::Empty)?;
        match response.status().as_u16() {
            200..=202 | 204 => self.session(&url, &response),
            401 => Err(self.unauthorized(&url, response)),
            _ => Err(self.failure(what, &url, response)),
        }
    }

    /// The session an answer opened: its `Location`, its smallest chunk.
    fn session(&self, request: &Url, response: &Response<Body>) -> Result<Session, Failure> {
        let min_chunk = header(response, "oci-chunk-min-length").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        Ok(Session { url: self.location(request, response)?, min_chunk })
    }

    /// Gives up an upload session that will not be used (best effort: the
    /// registry forgets abandoned sessions anyway).
    fn cancel(&self, url: &Url) {
        let _ = self.send("DELETE", url, Auth::Registry, None, Payload::Empty);
    }

    /// The blob in one PUT (in `session`, or a new one), from byte 0 on each try.
    fn monolithic(
        &mut self,
        digest: &str,
        size: u64,
        mut session: Option<Session>,
        open: &mut Open,
        sent: &mut dyn FnMut(u64),
        total: &Cell<u64>,
    ) -> Result<()> {
        let what = format!("uploading blob {digest}");
        let deadline = self.timeouts.upload(size);
        self.retrying(&what, |c| {
            sent(0);
            let mut url = match session.take() {
                Some(session) => session.url,
                None => c.start_upload(&what)?.url,
            };
            url.query_pairs_mut().append_pair("digest", digest);
            let mut body = Counted { inner: open()?, at: 0, report: &mut *sent, total, error: None };
            let result = c.send_within(
                "PUT",
                &url,
                Auth::Registry,
                Some("application/octet-stream"),
                Payload::Stream(&mut body, size),
                deadline,
            );
            if let Some(e) = body.error.take() {
                return Err(unreadable(e, &what));
            }
            let response = result?;
            match response.status().as_u16() {
                200..=299 => c.check_digest(&response, digest, &what).map_err(Failure::Fatal),
                401 => Err(c.unauthorized(&url, response)),
                _ => Err(c.failure(&what, &url, response)),
            }
        })
    }

    /// The blob in chunks, each a PATCH with its `Content-Range`, then a PUT
    /// with the digest. After a failure in the middle, the next try asks
    /// the registry what it holds and goes on from there (or starts over
    /// when it forgot the session).
    fn chunked(
        &mut self,
        digest: &str,
        size: u64,
        mut session: Option<Session>,
        open: &mut Open,
        sent: &mut dyn FnMut(u64),
        total: &Cell<u64>,
    ) -> Result<Chunked> {
        let what = format!("uploading blob {digest}");
        // The most the registry has held: progress, which renews the tries.
        let done = Cell::new(0);
        let mut offset = 0;
        let mut unsure = false;
        self.retrying_resumable(&what, &done, |c| {
            if unsure && let Some(at) = &session {
                match c.upload_status(&at.url, &what)? {
                    Some((url, held)) if held <= size => {
                        (c.notice)(&format!(
                            "{what}: the registry holds {held} of its {size} bytes; going on from there"
                        ));
                        (offset, session) = (held, Some(Session { url, min_chunk: at.min_chunk }));
                    }
                    _ if c.has_blob(digest)? => return Ok(Chunked::Done),
                    _ => (offset, session) = (0, None),
                }
            }
            unsure = false;
            let mut at = match session.take() {
                Some(at) => at,
                None => {
                    offset = 0;
                    c.start_upload(&what)?
                }
            };
            let chunk = c.chunk_size.max(at.min_chunk);
            let mut reader = open()?;
            skip(&mut reader, offset).map_err(|e| unreadable(e, &what))?;
            while offset < size {
                let len = chunk.min(size - offset);
                // Until the registry answers, what it holds is unknown.
                (unsure, session) = (true, Some(Session { url: at.url.clone(), min_chunk: at.min_chunk }));
                let range = format!("{offset}-{}", offset + len - 1);
                let mut body = Counted { inner: (&mut reader).take(len), at: offset, report: &mut *sent, total, error: None };
                let result = c.send_within(
                    "PATCH",
                    &at.url,
                    Auth::Registry,
                    Some("application/octet-stream"),
                    Payload::Chunk(&mut body, len, &range),
                    c.timeouts.upload(len),
                );
                if let Some(e) = body.error.take() {
                    return Err(unreadable(e, &what));
                }
                let response = result?;
                match response.status().as_u16() {
                    200..=299 => {
                        if header(&response, "location").is_some() {
                            at.url = c.location(&at.url, &response)?;
                        }
                        let held = range_end(&response).unwrap_or(offset + len);
                        if held <= offset {
                            // Sending the chunk again could go on for ever: a failure, bounded as any.
                            return Err(Failure::Transient(
                                anyhow!("{what}: {} took a chunk but holds no more than before ({held} bytes)", c.shown),
                                None,
                            ));
                        }
                        if held != offset + len {
                            // The registry took another amount: go on from what it holds.
                            if held > size {
                                return Err(Failure::Fatal(anyhow!(
                                    "{what}: {} says it holds {held} bytes of a {size}-byte blob",
                                    c.shown
                                )));
                            }
                            reader = open()?;
                            skip(&mut reader, held).map_err(|e| unreadable(e, &what))?;
                        }
                        offset = held;
                        done.set(done.get().max(offset));
                        unsure = false;
                    }
                    401 => return Err(c.unauthorized(&at.url, response)),
                    416 => {
                        return Err(Failure::Transient(
                            anyhow!("{what}: {} holds another amount than the chunk at {offset} follows", c.shown),
                            None,
                        ));
                    }
                    429 | 500..=599 => return Err(c.failure(&what, &at.url, response)),
                    _ if done.get() == 0 && offset == 0 => {
                        c.cancel(&at.url);
                        session = None;
                        return Ok(Chunked::Refused);
                    }
                    _ => return Err(c.failure(&what, &at.url, response)),
                }
            }
            session = Some(Session { url: at.url.clone(), min_chunk: at.min_chunk });
            unsure = true;
            let mut close = at.url.clone();
            close.query_pairs_mut().append_pair("digest", digest);
            let response =
                c.send("PUT", &close, Auth::Registry, Some("application/octet-stream"), Payload::Bytes(&[]))?;
            match response.status().as_u16() {
                200..=299 => {
                    c.check_digest(&response, digest, &what).map_err(Failure::Fatal)?;
                    Ok(Chunked::Done)
                }
                401 => Err(c.unauthorized(&close, response)),
                _ => Err(c.failure(&what, &close, response)),
            }
        })
    }

    /// Where an upload stands: its next `Location` and how many bytes the
    /// registry holds; `None` when the registry does not know it any more.
    fn upload_status(&mut self, url: &Url, what: &str) -> Result<Option<(Url, u64)>, Failure> {
        let response = self.send("GET", url, Auth::Registry, None, Payload::Empty)?;
        match response.status().as_u16() {
            200..=299 => {
                let next = if header(&response, "location").is_some() { self.location(url, &response)? } else { url.clone() };
                Ok(Some((next, range_end(&response).unwrap_or(0))))
            }
            401 => Err(self.unauthorized(url, response)),
            429 | 500..=599 => Err(self.failure(&format!("{what}: asking where the upload stands"), url, response)),
            _ => Ok(None),
        }
    }
}

/// A header's value as text.
fn header<'r>(response: &'r Response<Body>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// How many bytes an upload's `Range` (`0-END`, or `bytes=0-END`) says the
/// registry holds: END + 1, except `0-0`, which distribution also sends
/// for an empty upload and is read as nothing held (at worst one byte is
/// sent again, and the registry's answer corrects it).
fn range_end(response: &Response<Body>) -> Option<u64> {
    parse_range(header(response, "range")?)
}

/// See [`range_end`].
pub fn parse_range(value: &str) -> Option<u64> {
    let value = value.trim();
    let value = value.strip_prefix("bytes=").unwrap_or(value);
    let (start, end) = value.split_once('-')?;
    let (start, end): (u64, u64) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
    match (start, end) {
        (0, 0) => Some(0),
        (0, end) => end.checked_add(1),
        _ => None,
    }
}

/// Reads and drops the first `n` bytes of `reader`.
fn skip(reader: &mut dyn Read, n: u64) -> io::Result<()> {
    let got = io::copy(&mut reader.take(n), &mut io::sink())?;
    if got < n {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("the blob ends after {got} bytes")));
    }
    Ok(())
}

/// A blob that cannot be read from the image: final, and not the network's fault.
fn unreadable(e: impl Into<anyhow::Error>, what: &str) -> Failure {
    Failure::Fatal(e.into().context(format!("{what}: cannot read the blob from the image")))
}

/// A blob reader that reports how far into the blob it is and counts every
/// byte sent, and keeps its own read error, so that a failing archive is
/// not mistaken for a failing network.
struct Counted<'a, R> {
    inner: R,
    /// The position in the blob.
    at: u64,
    report: &'a mut dyn FnMut(u64),
    /// Bytes sent in all.
    total: &'a Cell<u64>,
    error: Option<io::Error>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(got) => {
                self.at += got as u64;
                self.total.set(self.total.get() + got as u64);
                (self.report)(self.at);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_upload_ranges() {
        assert_eq!(parse_range("0-1023"), Some(1024));
        assert_eq!(parse_range("bytes=0-99"), Some(100));
        assert_eq!(parse_range("0-0"), Some(0));
        assert_eq!(parse_range(" 0 - 9 "), Some(10));
        assert_eq!(parse_range("5-9"), None);
        assert_eq!(parse_range("0-x"), None);
        assert_eq!(parse_range(&format!("0-{}", u64::MAX)), None);
    }
}
