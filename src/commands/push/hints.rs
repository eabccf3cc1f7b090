//! What `push` adds to a mistake it can recognise: the image and the
//! reference given the wrong way round, a reference that is a local
//! file, and `--plain-http` against a registry that speaks HTTPS.

use std::path::Path;
use std::time::Duration;

use anyhow::Error;

use crate::commands::UsageError;
use crate::model::reference::Reference;

/// Refuses, as a usage error, arguments that cannot be meant: a REFERENCE
/// that names a local image (file or OCI layout), and an IMAGE that does
/// not exist but reads as a registry reference, most likely swapped.
pub fn check_order(image: &Path, reference: &str) -> Result<(), UsageError> {
    let local = Path::new(reference);
    let is_image = local.is_file() || local.join("oci-layout").is_file();
    let image_shown = image.display();
    if is_image && !image.exists() {
        return Err(UsageError(format!(
            "REFERENCE {reference} is a local file and IMAGE {image_shown} does not exist; the arguments look \
             swapped: push takes the image first, bimanix push IMAGE REFERENCE (bimanix push {reference} \
             {image_shown})"
        )));
    }
    if is_image {
        return Err(UsageError(format!(
            "REFERENCE {reference} is a local file, not a registry reference; push takes the image first, bimanix \
             push IMAGE REFERENCE (e.g. bimanix push {image_shown} localhost:5000/NAME:TAG)"
        )));
    }
    if !image.exists()
        && let Some(text) = image.to_str()
        && looks_like_reference(text)
    {
        return Err(UsageError(format!(
            "IMAGE {text} does not exist and reads as a registry reference; push takes the image first, bimanix \
             push IMAGE REFERENCE"
        )));
    }
    Ok(())
}

/// Whether `text` reads as a registry reference rather than a file name:
/// `docker://...`, or a name with a registry host (`localhost:5000/x`).
fn looks_like_reference(text: &str) -> bool {
    let Ok(reference) = Reference::parse(text) else {
        return false;
    };
    let hub = ["docker.io/", "index.docker.io/"];
    text.starts_with("docker://") || reference.registry != "docker.io" || hub.iter().any(|h| text.starts_with(h))
}

/// With `--plain-http`, a failure to reach the registry gets a hint when
/// the registry speaks HTTPS: its answer says so (Go's servers, registry
/// and distribution among them, answer a plain request with "Client sent an
/// HTTP request to an HTTPS server"), or one HTTPS request gets an answer.
pub fn plain_http(error: Error, host: &str) -> Error {
    let text = format!("{error:#}");
    let said = ["HTTP request to an HTTPS server", "plain HTTP request was sent to HTTPS port"];
    if said.iter().any(|s| text.contains(s)) || answers_https(host) {
        return error.context(format!(
            "{host} speaks HTTPS, not plain HTTP: leave out --plain-http (with --cert-dir DIR for a private CA, or \
             --tls-verify=false)"
        ));
    }
    error
}

/// Whether `host` answers one HTTPS request within a few seconds. The
/// certificate is not checked: the answer only tells what the server
/// speaks, and nothing is sent but `GET /v2/`.
fn answers_https(host: &str) -> bool {
    let tls = ureq::tls::TlsConfig::builder().disable_verification(true).build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent.get(format!("https://{host}/v2/")).call().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_file_names_are_told_apart() {
        for reference in ["localhost:5000/hello:1", "docker://hello", "ghcr.io/me/hello", "127.0.0.1:5000/x"] {
            assert!(looks_like_reference(reference), "{reference}");
        }
        assert!(looks_like_reference("docker.io/library/hello"));
        for file in ["hello.tar", "out/hello.tar", "./hello", "image", "/tmp/hello.tar"] {
            assert!(!looks_like_reference(file), "{file}");
        }
    }
}
