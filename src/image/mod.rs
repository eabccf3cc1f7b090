//! The image stage: [`plan`] lays a checked spec out as a file tree,
//! config and manifest annotations; [`rootfs`] generates a planned initrd or
//! block image; [`layers`] cuts the tree into layers; [`archive`] writes
//! the image as a docker-archive, OCI archive or OCI layout, each layer a
//! [`blob`] streamed into the output through a [`sink`] that hashes it on
//! the side, compressed by [`compress`] when asked. [`index`] combines
//! images of several platforms into one OCI image index, with the
//! documents attached to them ([`carry`]). [`parts`] keeps
//! an image as the Nix store does: artifact layers apart, and a small
//! description streamed into an archive when copied. [`output`] puts
//! the result where it goes without destroying what is there, through the
//! temporaries of [`temp`]. [`attach`] adds documents about an image
//! beside it (its [`sbom`] and [`provenance`]), each naming the image
//! manifest as its subject.

pub mod archive;
pub mod attach;
pub mod blob;
pub mod carry;
pub mod compress;
pub mod gzip;
pub mod index;
pub mod layers;
pub mod output;
pub mod parts;
pub mod plan;
pub mod provenance;
pub mod rootfs;
pub mod sbom;
pub mod sink;
pub mod temp;
