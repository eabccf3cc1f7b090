//! The rules stage: urunc's rules (the ones every version shares in
//! [`urunc`], the versions themselves in [`versions`], how each version
//! takes an image in [`compat`], which of an image's places for urunc keys
//! each version reads under each consumer in [`readers`], the targeted
//! versions applied to an args file in [`targets`]) and the other checks
//! (image names, paths,
//! architecture from the kernel's headers ([`arch`]), word splitting of
//! `cmdline` ([`words`]), the OCI pre-defined label keys ([`metadata`])). [`validate`] applies them all to a
//! spec, reports every problem together, settles what the spec leaves open
//! (architecture, Cmd, creation time, the annotations a generated rootfs
//! implies) and hands the image stage an `image::plan::Checked`.

pub mod arch;
pub mod compat;
pub mod metadata;
pub mod readers;
pub mod suggest;
pub mod targets;
pub mod urunc;
pub mod validate;
pub mod versions;
pub mod words;
