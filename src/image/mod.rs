//! The image stage: [`plan`] lays a checked spec out as a layer tree,
//! config and manifest annotations; [`rootfs`] generates a planned initrd or
//! block image; [`archive`] writes the image as a docker-archive, OCI
//! archive or OCI layout, streaming file contents through the filesystem
//! writers while hashing them; [`output`] puts the result where it goes
//! without destroying what is there, through the temporaries of [`temp`].

pub mod archive;
pub mod output;
pub mod plan;
pub mod rootfs;
pub mod temp;
