//! Publishing images to a registry over the distribution API, for `push`.
//!
//! This stage sits above [`image`](crate::image) and below
//! [`commands`](crate::commands): it imports `image`, `imageread` and
//! `model`, and nothing above it.
//!
//! - [`plan`]: what a push sends, read from an image archive or layout as
//!   stored (or a manifest written for an old-style docker-archive).
//! - [`recompress`]: the same plan with its layers encoded anew (`--compression`).
//! - [`push`]: HEAD, check, mount or upload (several blobs at once), then the
//!   manifests under each tag; progress events.
//! - [`referrers`]: the documents attached to the image (SBOM,
//!   attestation), pushed after it and listed by the referrers API or the
//!   `sha256-<hex>` fallback tag.
//! - [`client`]: the HTTP side: one repository, authenticated, with retries.
//! - [`upload`]: blob uploads: mounts from other repositories, chunks, resumes.
//! - [`mounts`]: where bimanix saw blobs before (a small cache file), for mounts.
//! - [`endpoint`]: the one judge of URLs: where a request may go and what it may carry.
//! - [`timeouts`]: the deadline of every network wait, from `--timeout`.
//! - [`fuzz`]: what the registry fuzz targets run, shared with `cargo test`.
//! - [`answer`]: registries' error bodies and headers, read as text.
//! - [`auth`]: `WWW-Authenticate` challenges and Docker's token protocol.
//! - [`credentials`]: auth files and credential helpers, as docker and podman keep them.
//! - [`process`]: helper programs run with a deadline and a cap on their answer.
//! - [`tls`]: system roots, certificate directories, and what a TLS failure means.

pub mod answer;
pub mod auth;
pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod fuzz;
pub mod mounts;
pub mod plan;
pub mod process;
pub mod push;
pub mod recompress;
pub mod referrers;
pub mod timeouts;
pub mod tls;
pub mod upload;
