//! How bimanix trusts a registry: the system's root certificates plus the
//! CAs of a certificate directory (skopeo's `--cert-dir`: `*.crt` files,
//! and a client certificate as `NAME.cert` with `NAME.key`), or, without
//! `--cert-dir`, the registry's directory under `/etc/containers/certs.d`,
//! `/etc/docker/certs.d` and `~/.config/containers/certs.d`, as podman and
//! docker read them. Turning verification off is the caller's explicit
//! choice; nothing here falls back to it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// How to set up TLS.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Verify the registry's certificate (`--tls-verify`, on by default).
    pub verify: bool,
    /// `--cert-dir`: the only certificate directory read, when given.
    pub cert_dir: Option<PathBuf>,
}

/// The TLS configuration for `registry` (`host[:port]` as written), and a
/// description of the extra trust it holds, for messages.
pub(super) fn config(options: &TlsOptions, registry: &str) -> Result<(TlsConfig, String)> {
    if !options.verify {
        let config = TlsConfig::builder().disable_verification(true).build();
        return Ok((config, "certificate verification off (--tls-verify=false)".to_string()));
    }
    let mut roots = system_roots();
    let system = roots.len();
    let dirs = match &options.cert_dir {
        Some(dir) => {
            if !dir.is_dir() {
                bail!("--cert-dir {}: not a directory", dir.display());
            }
            vec![dir.clone()]
        }
        None => default_dirs(registry).into_iter().filter(|d| d.is_dir()).collect(),
    };
    let mut client = None;
    for dir in &dirs {
        let (cas, cert) = read_dir(dir)?;
        roots.extend(cas);
        client = client.or(cert);
    }
    let mut trust = format!("{system} system root certificates");
    for dir in &dirs {
        trust.push_str(&format!(" and the CAs in {}", dir.display()));
    }
    let config = TlsConfig::builder().root_certs(RootCerts::new_with_certs(&roots)).client_cert(client).build();
    Ok((config, trust))
}

/// The certificate directories podman and docker read for `registry`.
fn default_dirs(registry: &str) -> Vec<PathBuf> {
    let mut dirs =
        vec![Path::new("/etc/containers/certs.d").join(registry), Path::new("/etc/docker/certs.d").join(registry)];
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(Path::new(&home).join(".config/containers/certs.d").join(registry));
    }
    dirs
}

/// The system's roots (`SSL_CERT_FILE`, `SSL_CERT_DIR`, or the
/// distribution's bundle). Unreadable entries are skipped: they cannot add
/// trust, and a registry they would have vouched for fails with a clear
/// message about its certificate.
fn system_roots() -> Vec<Certificate<'static>> {
    rustls_native_certs::load_native_certs().certs.iter().map(|der| Certificate::from_der(der).to_owned()).collect()
}

/// The CAs (`*.crt`) and the client certificate (`NAME.cert` + `NAME.key`)
/// in a certificate directory, in name order.
fn read_dir(dir: &Path) -> Result<(Vec<Certificate<'static>>, Option<ClientCert>)> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the certificate directory {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read the certificate directory {}", dir.display()))?;
    names.sort();
    let mut cas = Vec::new();
    let mut client = None;
    for path in &names {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => cas.extend(read_pem_certs(path)?),
            Some("cert") if client.is_none() => {
                let key = path.with_extension("key");
                if !key.is_file() {
                    bail!("{}: a client certificate needs its key beside it, as {}", path.display(), key.display());
                }
                let bytes = std::fs::read(&key).with_context(|| format!("cannot read {}", key.display()))?;
                let key = PrivateKey::from_pem(&bytes).with_context(|| format!("{}: not a PEM key", key.display()))?;
                client = Some(ClientCert::new_with_certs(&read_pem_certs(path)?, key));
            }
            _ => {}
        }
    }
    Ok((cas, client))
}

fn read_pem_certs(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&bytes)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a PEM certificate file", path.display()))?;
    if certs.is_empty() {
        bail!("{}: holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// What a TLS failure means for the user, when it is one: a sentence
/// saying what to do, naming the trust in use.
pub(super) fn explain(error: &ureq::Error, host: &str, trust: &str) -> Option<String> {
    let rustls = match error {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())?,
        _ => return None,
    };
    use rustls::{CertificateError, Error as E};
    let advice = match rustls {
        E::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "its certificate is signed by an unknown authority (trusted: {trust}); give the registry's CA \
             with --cert-dir DIR (as DIR/ca.crt), or add it to the system's trust store"
        ),
        E::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }) => {
            format!("its certificate is not valid for the name {host}; use the name the certificate was issued for")
        }
        E::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            "its certificate has expired".to_string()
        }
        E::InvalidCertificate(other) => format!("its certificate is refused: {other:?} (trusted: {trust})"),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "it does not answer with TLS; if the registry speaks plain HTTP, say so with --plain-http".to_string()
        }
        other => format!("the TLS connection failed: {other}"),
    };
    Some(format!("TLS with {host} failed: {advice}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_missing_or_empty_cert_dir_file() {
        let dir = tempfile::tempdir().unwrap();
        let options = TlsOptions { verify: true, cert_dir: Some(dir.path().join("nope")) };
        let err = format!("{:#}", config(&options, "r:5000").err().unwrap());
        assert!(err.contains("not a directory"), "{err}");
        std::fs::write(dir.path().join("ca.crt"), "not pem").unwrap();
        let options = TlsOptions { verify: true, cert_dir: Some(dir.path().to_path_buf()) };
        let err = format!("{:#}", config(&options, "r:5000").err().unwrap());
        assert!(err.contains("ca.crt: holds no PEM certificate"), "{err}");
        std::fs::remove_file(dir.path().join("ca.crt")).unwrap();
        std::fs::write(dir.path().join("me.cert"), "x").unwrap();
        let err = format!("{:#}", config(&options, "r:5000").err().unwrap());
        assert!(err.contains("needs its key beside it"), "{err}");
    }

    #[test]
    fn names_the_trust_in_use() {
        let off = TlsOptions { verify: false, cert_dir: None };
        assert!(config(&off, "r").unwrap().1.contains("verification off"));
        let dir = tempfile::tempdir().unwrap();
        let on = TlsOptions { verify: true, cert_dir: Some(dir.path().to_path_buf()) };
        let trust = config(&on, "r").unwrap().1;
        assert!(trust.ends_with(&format!("and the CAs in {}", dir.path().display())), "{trust}");
    }
}
