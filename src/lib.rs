//! bimanix packages unikernels and Linux guests as container images for urunc.
//!
//! Data flows one way: the args readers ([`nixeval`], [`args`]) turn a file
//! into the input model ([`model`]); [`urunc`] holds urunc's rules and checks
//! the model; [`plan`] lays out the image; the writers ([`tarwriter`],
//! [`archive`], [`cpio`], [`ext2`]) put it on disk. [`imagereader`] and
//! [`inspect`] go the other way, for images of any tool.

pub mod arch;
pub mod archive;
pub mod args;
pub mod build;
pub mod cpio;
pub mod ext2;
pub mod fstree;
pub mod imagereader;
pub mod inspect;
pub mod model;
pub mod nixeval;
pub mod oci;
pub mod plan;
pub mod reference;
pub mod suggest;
pub mod tarwriter;
pub mod timefmt;
pub mod urunc;
pub mod validate;
pub mod value;
pub mod words;
