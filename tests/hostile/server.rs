//! A small HTTP/1.1 server on loopback for hostile-registry tests: each
//! connection answers one request as the test's handler says (an answer,
//! silence, a head or a body dripped a byte at a time), over plain TCP or
//! TLS (a self-signed certificate in tests/data, for `--tls-verify=false`),
//! and every request is logged for the test to inspect.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// How to answer.
pub enum Reply {
    /// Status, headers, body.
    Answer(u16, Vec<(String, String)>, Vec<u8>),
    /// Never answer; hold the connection.
    Silent,
    /// The head of a 200 answer, one byte every gap.
    DripHead(Duration),
    /// A head with a 1000-byte body, then the body one byte every gap.
    DripBody(u16, Duration),
}

pub fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Answer(
        status,
        headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body.as_bytes().to_vec(),
    )
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct Server {
    pub port: u16,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Server {
    /// A server whose handler answers every request.
    pub fn start(tls: bool, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Self::spawn(Some(tls), Arc::new(handler))
    }

    /// A server that accepts connections and never says a byte (a TLS
    /// handshake that stalls).
    pub fn mute() -> Server {
        Self::spawn(None, Arc::new(|_: &Request| Reply::Silent))
    }

    fn spawn(tls: Option<bool>, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let config = tls.filter(|t| *t).map(|_| tls_config());
        let (log2, stop2) = (log.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let (log, stop, handler, config) = (log2.clone(), stop2.clone(), handler.clone(), config.clone());
                thread::spawn(move || {
                    stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
                    if tls.is_none() {
                        hold(&stop);
                        return;
                    }
                    match config {
                        Some(config) => {
                            let conn = rustls::ServerConnection::new(config).unwrap();
                            serve(rustls::StreamOwned::new(conn, stream), &log, &stop, &*handler);
                        }
                        None => serve(stream, &log, &stop, &*handler),
                    }
                });
            }
        });
        Server { port, log, stop }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

/// Keeps a connection open, saying nothing, until the test ends (at most a minute).
fn hold(stop: &AtomicBool) {
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(60) {
        thread::sleep(Duration::from_millis(50));
    }
}

fn serve<S: Read + Write>(stream: S, log: &Mutex<Vec<Request>>, stop: &AtomicBool, handler: &Handler) {
    let mut reader = BufReader::new(stream);
    let Some(request) = read_request(&mut reader) else { return };
    log.lock().unwrap().push(request.clone());
    let stream = reader.get_mut();
    match handler(&request) {
        Reply::Answer(status, headers, body) => {
            let mut head = format!("HTTP/1.1 {status} {}\r\nConnection: close\r\n", reason(status));
            if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            if request.method != "HEAD" {
                let _ = stream.write_all(&body);
            }
            let _ = stream.flush();
        }
        Reply::Silent => hold(stop),
        Reply::DripHead(gap) => {
            let head = format!("HTTP/1.1 200 OK\r\nX-Padding: {}\r\n\r\n", "a".repeat(1000));
            drip(stream, head.as_bytes(), gap, stop);
        }
        Reply::DripBody(status, gap) => {
            let head = format!("HTTP/1.1 {status} {}\r\nContent-Length: 1000\r\n\r\n", reason(status));
            let _ = stream.write_all(head.as_bytes());
            drip(stream, &[b'x'; 1000], gap, stop);
        }
    }
}

fn drip<S: Write>(stream: &mut S, bytes: &[u8], gap: Duration, stop: &AtomicBool) {
    for b in bytes {
        if stop.load(Ordering::SeqCst) || stream.write_all(&[*b]).and_then(|_| stream.flush()).is_err() {
            return;
        }
        thread::sleep(gap);
    }
}

fn read_request<R: BufRead>(reader: &mut R) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut request = Request { method, target, headers, body: Vec::new() };
    if let Some(n) = request.header("content-length").and_then(|n| n.parse::<usize>().ok()) {
        let mut body = vec![0; n];
        reader.read_exact(&mut body).ok()?;
        request.body = body;
    } else if request.header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..n]);
        }
    }
    Some(request)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn tls_config() -> Arc<rustls::ServerConfig> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let cert = std::fs::read(format!("{dir}/hostile-tls.crt")).unwrap();
    let key = std::fs::read(format!("{dir}/hostile-tls.key")).unwrap();
    let mut certs = Vec::new();
    let mut private = None;
    for item in ureq::tls::parse_pem(&cert).chain(ureq::tls::parse_pem(&key)) {
        match item.unwrap() {
            ureq::tls::PemItem::Certificate(c) => certs.push(rustls::pki_types::CertificateDer::from(c.der().to_vec())),
            ureq::tls::PemItem::PrivateKey(k) => {
                private = Some(rustls::pki_types::PrivateKeyDer::Pkcs8(k.der().to_vec().into()))
            }
            _ => {}
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, private.unwrap())
        .unwrap();
    Arc::new(config)
}
