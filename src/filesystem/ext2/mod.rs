//! Writes a tree as an ext2 or ext4 block image, in pure Rust, without
//! mke2fs, root or loop devices, and byte-for-byte the same for the same tree.
//!
//! The whole layout is computed before anything is written. Blocks are 4 KiB:
//! the kernel's page size, so 32768 blocks (128 MiB) per group with a
//! one-block bitmap, few groups for big images, and ext4 extents of up to
//! 128 MiB. Every group starts with its metadata (a superblock and group
//! descriptor copy in groups 0, 1 and powers of 3, 5 and 7, then the block
//! bitmap, the inode bitmap and the inode table), and all data is allocated in
//! one forward sweep in inode order, each inode's data blocks first, then its
//! indirect or extent-tree blocks. So the used blocks of every group are a
//! prefix of it, and so are the used inodes, and the bitmaps follow.
//!
//! Feature sets (no journal, no checksums, no htree, no flex_bg, no resize
//! inode; all pass `e2fsck -f`):
//! - ext2: filetype, sparse_super, large_file; 128-byte inodes, which old
//!   drivers such as NetBSD's (Rumprun) read; files map blocks through
//!   direct, indirect, double and triple indirect blocks.
//! - ext4: the ext2 set plus extents, dir_nlink and extra_isize; 256-byte
//!   inodes; every file, directory and slow symlink maps blocks by an extent
//!   tree, in the inode while four extents suffice, else with index blocks.
//!
//! Hard links (files of the tree sharing a `Link`) are one inode, numbered at
//! the first of their paths, with their link count; the data is stored once.
//! Symlinks under 60 bytes live in the inode (fast symlinks); longer ones get
//! a block. Directories are linear lists that may span several blocks.
//! `lost+found` is inode 11 with four preallocated blocks, as mke2fs makes it.
//! Owners are 0:0 and every time is the one given. The UUID and the directory
//! hash seed come from a SHA-256 of the options and of every path, type, mode,
//! size, target and hard link, so different content gets a different UUID.

use std::fs::File;
use std::io::{BufWriter, Seek, Write};

use anyhow::{Context, Result, bail};

use crate::model::fstree::Tree;
use blocks::{PosWriter, write_contents};
use layout::{Inodes, Layout, default_layout, min_blocks};
use metadata::{Identity, write_metadata};
use plan::Plan;

/// Which filesystem an image holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsType {
    /// ext2 with 128-byte inodes and block maps, for the widest support.
    Ext2,
    /// ext4 with extents, without a journal.
    Ext4,
}

/// What image to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// ext2 or ext4.
    pub fs_type: FsType,
    /// The image's size in bytes. `None` sizes it to the content plus about
    /// 20%, rounded up to a MiB. A size that is not a multiple of 4 KiB keeps
    /// its tail unused.
    pub size: Option<u64>,
    /// Every time in the image, in seconds since the epoch.
    pub mtime: u32,
    /// The volume label, at most 16 bytes.
    pub label: Option<String>,
}

const BLOCK: u64 = 4096;
/// Block size as a shift of 1024.
const LOG_BLOCK: u32 = 2;
/// As many blocks as one bitmap block maps.
const BLOCKS_PER_GROUP: u64 = 8 * BLOCK;
const ROOT_INO: u32 = 2;
const LOST_FOUND_INO: u32 = 11;
/// The first inode that is not reserved (lost+found takes it).
const FIRST_INO: u32 = 11;
const LOST_FOUND_BLOCKS: u64 = 4;
const LOST_FOUND_MODE: u32 = 0o700;
/// Block numbers in an indirect block.
const PTRS: u64 = BLOCK / 4;
/// The longest initialized extent.
const EXTENT_MAX_LEN: u64 = 32768;
/// Extent entries in the inode's root node and in a tree block.
const EXTENTS_IN_INODE: usize = 4;
const EXTENTS_PER_BLOCK: usize = (BLOCK as usize - 12) / 12;
/// Files are kept well below the 2 TiB that `i_blocks` counts without huge_file.
const MAX_FILE_SIZE: u64 = 1 << 40;
/// The link count limits of the ext2 and ext4 drivers.
const EXT2_LINK_MAX: u32 = 32000;
const EXT4_LINK_MAX: u32 = 65000;
const GROUP_DESC_SIZE: u64 = 32;
const ZERO_BLOCK: [u8; BLOCK as usize] = [0; BLOCK as usize];

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const FT_REG: u8 = 1;
const FT_DIR: u8 = 2;
const FT_SYMLINK: u8 = 7;
const EXTENTS_FL: u32 = 0x80000;
const EXTENT_MAGIC: u16 = 0xF30A;

const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_EXTENTS: u32 = 0x40;
const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
const RO_COMPAT_LARGE_FILE: u32 = 0x2;
const RO_COMPAT_DIR_NLINK: u32 = 0x20;
const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
/// The extra inode fields ext4 fills: times' high bits, creation time, etc.
const EXTRA_ISIZE: u16 = 32;

/// Writes `tree` as an image to `out`, which is truncated first and left
/// exactly `opts.size` bytes long (or the default size). Free space is left as
/// holes, so the file is sparse where the filesystem allows it.
///
/// Fails when the size is too small (saying what size would do), when a name
/// or symlink cannot be stored, or when a host file cannot be read or no
/// longer has the size recorded in the tree; the file's content is then
/// unspecified.
pub fn write_image(tree: &Tree, opts: &Options, out: &mut File) -> Result<()> {
    write_with_groups(tree, opts, out, BLOCKS_PER_GROUP)
}

/// The smallest image size in bytes that holds `tree` as a `fs_type` image,
/// with no free inodes or blocks to spare.
pub fn min_size(tree: &Tree, fs_type: FsType) -> Result<u64> {
    let plan = Plan::new(tree, fs_type)?;
    Ok(min_blocks(&plan, BLOCKS_PER_GROUP)? * BLOCK)
}

/// [`write_image`] with a given group size; tests use small groups to cross
/// many group boundaries with little data.
fn write_with_groups(tree: &Tree, opts: &Options, out: &mut File, per_group: u64) -> Result<()> {
    let label = opts.label.as_deref().unwrap_or("");
    if label.len() > 16 {
        bail!("the volume label {label:?} is {} bytes; an ext label holds at most 16", label.len());
    }
    let plan = Plan::new(tree, opts.fs_type)?;
    let (layout, file_len) = match opts.size {
        Some(size) => {
            let blocks = size / BLOCK;
            if blocks > u64::from(u32::MAX) {
                bail!("image size {size} bytes is too big: ext images without 64bit hold at most 16 TiB");
            }
            // Spare inodes when there is room for them, else just enough.
            let fitted = Layout::new(&plan, blocks, per_group, Inodes::Spare(plan.last_ino()))
                .or_else(|_| Layout::new(&plan, blocks, per_group, Inodes::Exactly(plan.last_ino())));
            match fitted {
                Ok(layout) => (layout, size),
                Err(_) => {
                    let needed = min_blocks(&plan, per_group)? * BLOCK;
                    bail!(
                        "an image of {size} bytes is too small for the content: it needs at least {needed} bytes ({})",
                        human(needed)
                    );
                }
            }
        }
        None => {
            let layout = default_layout(&plan, per_group)?;
            let len = layout.geo.blocks * BLOCK;
            (layout, len)
        }
    };
    let id = Identity::new(tree, opts, layout.geo.blocks);

    out.set_len(0).context("truncating the image file")?;
    out.set_len(file_len).context("sizing the image file")?;
    out.rewind().context("seeking in the image file")?;
    let mut w = PosWriter { out: BufWriter::with_capacity(1 << 20, out), pos: 0 };
    let i_blocks = write_contents(&plan, &layout, &mut w)?;
    write_metadata(&plan, &layout, opts, &id, &i_blocks, &mut w)?;
    w.out.flush().context("writing the image file")?;
    Ok(())
}

/// A size in whole MiB (or KiB when small), rounded up, for messages.
fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes.div_ceil(1 << 20))
    } else {
        format!("{} KiB", bytes.div_ceil(1 << 10))
    }
}

/// Stores the low 32 bits of `value` little-endian at `at`.
fn put32(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
}

fn put16(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes());
}

mod blocks;
mod layout;
mod metadata;
mod plan;
#[cfg(test)]
mod tests;
