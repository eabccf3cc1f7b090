//! bimanix packages unikernels and Linux guests as container images for urunc.
//!
//! The crate is organised by stage. Data flows down this list, and a folder
//! imports only from the folders below it:
//!
//! - [`commands`]: `build`, `check`, `inspect`, `convert`, `index` and `push`, on top of the stages.
//! - [`registry`]: publishing an image to a registry (`push`), above the
//!   image stage and beside the input ones.
//! - [`input`]: the readers of input formats (args.nix, JSON, Containerfile,
//!   bunnyfile), which turn a file into the input model.
//! - [`rules`]: urunc's rules and the other checks; they settle what the
//!   input leaves open and hand the image stage a [`image::plan::Checked`].
//! - [`image`]: plans the image (layer tree, config, manifest) and writes it
//!   as an archive or OCI layout.
//! - [`filesystem`]: the deterministic tar, cpio (initrd) and ext2/ext4
//!   writers the image stage writes with.
//! - [`imageread`]: reads any image archive or layout, for base images and
//!   for `inspect`.
//! - [`model`]: the vocabulary every stage shares: the input model and its
//!   value tree, the filesystem tree, OCI documents and digests, image
//!   references, times, and urunc's keys and encodings.

// The fuzz targets' shared code, which the regression tests reuse, names
// the crate as the fuzz crate does.
#[cfg(test)]
extern crate self as bimanix;

pub mod commands;
pub mod filesystem;
pub mod image;
pub mod imageread;
pub mod input;
pub mod model;
pub mod registry;
pub mod rules;
