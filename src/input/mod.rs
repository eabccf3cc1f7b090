//! The input stage: readers of the formats an image is described in. An
//! args.nix file is evaluated by [`nixeval`] into a value tree (JSON is
//! parsed straight into one), and [`args`] checks its shape and types and
//! hands the rules stage a `model::spec::Spec`. Other tools' files are
//! read into the same spec: [`containerfile`] (bima, pun, bunny, Docker)
//! and [`bunnyfile`], with what they share in [`foreign`]; [`detect`] tells
//! which reader a file needs. [`image_files`] extracts the files a spec
//! copies out of images, and [`nixwrite`] writes a spec back as args.nix.

pub mod args;
pub mod bunnyfile;
pub mod containerfile;
pub mod detect;
pub mod foreign;
pub mod image_files;
pub mod nixeval;
pub mod nixwrite;
