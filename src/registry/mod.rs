//! Publishing images to a registry over the distribution API, for `push`.
//!
//! This stage sits above [`image`](crate::image) and below
//! [`commands`](crate::commands): it imports `image`, `imageread` and
//! `model`, and nothing above it.
//!
//! - [`plan`]: what a push sends, read from an image archive or layout as
//!   stored (or a manifest written for an old-style docker-archive).
//! - [`recompress`]: the same plan with its layers encoded anew (`--compression`).
//! - [`push`]: HEAD, check, upload, then the manifests; progress events.
//! - [`client`]: the HTTP side: one repository, authenticated, with retries.
//! - [`auth`]: `WWW-Authenticate` challenges and Docker's token protocol.
//! - [`credentials`]: auth files and credential helpers, as docker and podman keep them.
//! - [`process`]: helper programs run with a deadline and a cap on their answer.
//! - [`tls`]: system roots, certificate directories, and what a TLS failure means.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod plan;
pub mod process;
pub mod push;
pub mod recompress;
pub mod tls;
