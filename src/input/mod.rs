//! The input stage: readers of the formats an image is described in. An
//! args.nix file is evaluated by [`nixeval`] into a value tree (JSON is
//! parsed straight into one), and [`args`] checks its shape and types and
//! hands the rules stage a `model::spec::Spec`.

pub mod args;
pub mod bunnyfile;
pub mod containerfile;
pub mod detect;
pub mod foreign;
pub mod image_files;
pub mod nixeval;
pub mod nixwrite;
