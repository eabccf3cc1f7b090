//! The input stage: readers of the formats an image is described in. An
//! args.nix file is evaluated by [`nixeval`] into a value tree (JSON is
//! parsed straight into one), and [`args`] checks its shape and types and
//! hands the rules stage a `model::spec::Spec`.

pub mod args;
pub mod nixeval;

/// The largest args file read, in bytes: real ones are a few KiB, and
/// this keeps a wrong path (a disk image, a log) from filling memory.
pub const MAX_ARGS_FILE: u64 = 4 << 20;
