//! The image stage: [`plan`] lays a checked spec out as a layer tree,
//! config and manifest annotations; [`rootfs`] generates a planned initrd or
//! block image; [`archive`] writes the image as a docker-archive, OCI
//! archive or OCI layout, streaming file contents through the filesystem
//! writers while hashing them.

pub mod archive;
pub mod output;
pub mod plan;
pub mod rootfs;
