//! The filesystem writers: each turns a `model::fstree::Tree` into bytes,
//! deterministically: a tar layer ([`tar`]), a newc cpio initrd ([`cpio`])
//! and an ext2/ext4 block image ([`ext2`]).

pub mod cpio;
pub mod ext2;
pub mod tar;
