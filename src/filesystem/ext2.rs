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
//! Symlinks under 60 bytes live in the inode (fast symlinks); longer ones get
//! a block. Directories are linear lists that may span several blocks.
//! `lost+found` is inode 11 with four preallocated blocks, as mke2fs makes it.
//! Owners are 0:0 and every time is the one given. The UUID and the directory
//! hash seed come from a SHA-256 of the options and of every path, type, mode,
//! size and target, so different content gets a different UUID.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use anyhow::{Context, Result, bail};
use bstr::{BStr, ByteSlice};
use sha2::{Digest, Sha256};

use crate::model::fstree::{COPY_BUFFER, Content, DIR_MODE, Node, Tree};

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

/// What one inode holds.
enum Body<'t> {
    /// A directory's entry blocks, built in memory.
    Dir(Vec<u8>),
    /// A regular file, read when written.
    File { content: &'t Content, size: u64, path: &'t BStr },
    /// A symlink target short enough to live in the inode.
    FastLink(&'t BStr),
    /// A symlink target stored in a data block.
    SlowLink(&'t BStr),
}

impl Body<'_> {
    fn size(&self) -> u64 {
        match self {
            Body::Dir(blocks) => blocks.len() as u64,
            Body::File { size, .. } => *size,
            Body::FastLink(target) | Body::SlowLink(target) => target.len() as u64,
        }
    }

    fn data_blocks(&self) -> u64 {
        match self {
            Body::FastLink(_) => 0,
            _ => self.size().div_ceil(BLOCK),
        }
    }

    fn type_bits(&self) -> u32 {
        match self {
            Body::Dir(_) => S_IFDIR,
            Body::File { .. } => S_IFREG,
            Body::FastLink(_) | Body::SlowLink(_) => S_IFLNK,
        }
    }
}

/// One inode to write.
struct PlannedInode<'t> {
    ino: u32,
    perm: u32,
    links: u16,
    body: Body<'t>,
}

/// The size-independent part of an image: every inode with its number and
/// content, in inode order (2, 11, 12, 13, ...).
struct Plan<'t> {
    fs: FsType,
    inode_size: u64,
    inodes: Vec<PlannedInode<'t>>,
}

/// A directory entry: name, inode and file type.
#[derive(Clone, Copy)]
struct DirEntry<'t> {
    name: &'t BStr,
    ino: u32,
    file_type: u8,
}

impl<'t> Plan<'t> {
    fn new(tree: &'t Tree, fs: FsType) -> Result<Plan<'t>> {
        let has_lost_found = match tree.get("lost+found") {
            None => false,
            Some(Node::Dir { .. }) => true,
            Some(_) => bail!("/lost+found must be a directory in an ext image, where it is inode 11"),
        };

        // Inode numbers, and each directory's entries ("" is the root).
        let (root, lost_found) = (b"".as_bstr(), b"lost+found".as_bstr());
        let mut inos = BTreeMap::from([(root, ROOT_INO), (lost_found, LOST_FOUND_INO)]);
        let mut children: BTreeMap<&BStr, Vec<DirEntry>> = BTreeMap::new();
        if !has_lost_found {
            children.entry(root).or_default().push(DirEntry {
                name: lost_found,
                ino: LOST_FOUND_INO,
                file_type: FT_DIR,
            });
        }
        let mut next = FIRST_INO + 1;
        for (path, node) in tree.iter() {
            let (parent, name) = split_parent(path);
            if name.len() > 255 || name.contains(&0) {
                bail!("/{path}: an ext file name is at most 255 bytes without NUL");
            }
            let ino = if path == "lost+found" {
                LOST_FOUND_INO
            } else {
                let ino = next;
                next = next.checked_add(1).context("too many files for an ext image")?;
                ino
            };
            inos.insert(path, ino);
            let file_type = match node {
                Node::Dir { .. } => FT_DIR,
                Node::File { .. } => FT_REG,
                Node::Symlink { .. } => FT_SYMLINK,
            };
            children.entry(parent).or_default().push(DirEntry { name, ino, file_type });
        }

        let link_count = |dir: &BStr| -> Result<u16> {
            let subdirs = children.get(dir).map_or(0, |c| c.iter().filter(|e| e.file_type == FT_DIR).count());
            let links = 2 + subdirs as u64;
            match fs {
                FsType::Ext2 if links > u64::from(EXT2_LINK_MAX) => {
                    bail!("/{dir} has {subdirs} subdirectories; ext2 allows {}", EXT2_LINK_MAX - 2)
                }
                // dir_nlink: a link count of 1 means "too many to count".
                FsType::Ext4 if links > u64::from(EXT4_LINK_MAX) => Ok(1),
                _ => Ok(links as u16),
            }
        };
        let dir_body = |dir: &BStr, parent: &BStr, min_blocks: u64| -> Body<'t> {
            let mut entries = vec![
                DirEntry { name: b".".as_bstr(), ino: inos[dir], file_type: FT_DIR },
                DirEntry { name: b"..".as_bstr(), ino: inos[parent], file_type: FT_DIR },
            ];
            entries.extend(children.get(dir).into_iter().flatten().copied());
            Body::Dir(dir_blocks(&entries, min_blocks))
        };

        let lost_found_perm = match tree.get("lost+found") {
            Some(Node::Dir { mode }) => mode & 0o7777,
            _ => LOST_FOUND_MODE,
        };
        let mut inodes = vec![
            PlannedInode { ino: ROOT_INO, perm: DIR_MODE, links: link_count(root)?, body: dir_body(root, root, 1) },
            PlannedInode {
                ino: LOST_FOUND_INO,
                perm: lost_found_perm,
                links: link_count(lost_found)?,
                body: dir_body(lost_found, root, LOST_FOUND_BLOCKS),
            },
        ];
        for (path, node) in tree.iter() {
            if path == "lost+found" {
                continue;
            }
            let (parent, _) = split_parent(path);
            let (perm, links, body) = match node {
                Node::Dir { mode } => (mode & 0o7777, link_count(path)?, dir_body(path, parent, 1)),
                Node::File { content, size, mode } => {
                    if *size > MAX_FILE_SIZE {
                        bail!("/{path} is {size} bytes; files in an ext image are limited to 1 TiB here");
                    }
                    (mode & 0o7777, 1, Body::File { content, size: *size, path })
                }
                Node::Symlink { target } => {
                    if target.is_empty() || target.len() >= BLOCK as usize || target.contains(&0) {
                        bail!("symlink /{path}: an ext symlink target is 1 to 4095 bytes without NUL");
                    }
                    let target = target.as_bstr();
                    let body = if target.len() < 60 { Body::FastLink(target) } else { Body::SlowLink(target) };
                    (0o777, 1, body)
                }
            };
            inodes.push(PlannedInode { ino: inos[path], perm, links, body });
        }
        let inode_size = match fs {
            FsType::Ext2 => 128,
            FsType::Ext4 => 256,
        };
        Ok(Plan { fs, inode_size, inodes })
    }

    /// The highest inode number in use; every inode up to it is in use.
    fn last_ino(&self) -> u64 {
        self.inodes.last().map_or(u64::from(LOST_FOUND_INO), |i| u64::from(i.ino))
    }

    /// The blocks an inode needs for its block map besides its data blocks.
    fn map_blocks(&self, data_blocks: u64, runs: &[Run]) -> u64 {
        match self.fs {
            FsType::Ext2 => indirect_roots(data_blocks).iter().map(|r| indirect_tree_blocks(r.level, r.count)).sum(),
            FsType::Ext4 => {
                let mut nodes = extent_count(runs);
                let mut total = 0;
                while nodes > EXTENTS_IN_INODE as u64 {
                    nodes = nodes.div_ceil(EXTENTS_PER_BLOCK as u64);
                    total += nodes;
                }
                total
            }
        }
    }
}

/// Lays out directory entries in blocks (an entry never spans two; the last
/// entry of a block reaches its end), then adds empty blocks up to `min_blocks`.
fn dir_blocks(entries: &[DirEntry], min_blocks: u64) -> Vec<u8> {
    let block = BLOCK as usize;
    let mut data = Vec::new();
    let mut block_start = 0;
    let mut last = 0;
    let close = |data: &mut Vec<u8>, block_start: usize, last: usize| {
        let rec_len = (block_start + block - last) as u16;
        data[last + 4..last + 6].copy_from_slice(&rec_len.to_le_bytes());
        data.resize(block_start + block, 0);
    };
    for entry in entries {
        let len = 8 + entry.name.len().next_multiple_of(4);
        if data.len() + len > block_start + block {
            close(&mut data, block_start, last);
            block_start += block;
        }
        last = data.len();
        data.extend_from_slice(&entry.ino.to_le_bytes());
        data.extend_from_slice(&(len as u16).to_le_bytes());
        data.push(entry.name.len() as u8);
        data.push(entry.file_type);
        data.extend_from_slice(entry.name.as_bytes());
        data.resize(last + len, 0);
    }
    close(&mut data, block_start, last);
    while (data.len() as u64) < min_blocks * BLOCK {
        let start = data.len();
        data.resize(start + block, 0);
        data[start + 4..start + 6].copy_from_slice(&(block as u16).to_le_bytes());
    }
    data
}

/// How many inodes a filesystem gets, at least.
#[derive(Clone, Copy, Debug)]
enum Inodes {
    /// This many, rounded up to whole inode table blocks in every group.
    Exactly(u64),
    /// This many, or one per 16 KiB of the filesystem as mke2fs makes them
    /// if that is more.
    Spare(u64),
}

/// The sizes and places of the groups' metadata.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    blocks: u64,
    per_group: u64,
    groups: u64,
    inodes_per_group: u64,
    gdt_blocks: u64,
    table_blocks: u64,
}

impl Geometry {
    /// The geometry of a `blocks`-block filesystem with room for `inodes`
    /// inodes, or how many more blocks it would take.
    fn new(blocks: u64, per_group: u64, inode_size: u64, inodes: Inodes) -> Result<Geometry, u64> {
        if blocks == 0 {
            return Err(1);
        }
        let groups = blocks.div_ceil(per_group);
        let per_block = BLOCK / inode_size;
        // At most one bitmap block of inodes, in at most a quarter of the group.
        let max_per_group = (8 * BLOCK).min(per_group / 4 * per_block);
        let (Inodes::Exactly(needed) | Inodes::Spare(needed)) = inodes;
        let needed_per_group = needed.div_ceil(groups);
        if needed_per_group > max_per_group {
            let groups_needed = needed.div_ceil(max_per_group);
            return Err(groups_needed * per_group - blocks);
        }
        let by_ratio = match inodes {
            Inodes::Exactly(_) => 0,
            Inodes::Spare(_) => (blocks * BLOCK / 16384).div_ceil(groups),
        };
        let inodes_per_group = by_ratio.max(needed_per_group).next_multiple_of(per_block).min(max_per_group);
        let geo = Geometry {
            blocks,
            per_group,
            groups,
            inodes_per_group,
            gdt_blocks: (groups * GROUP_DESC_SIZE).div_ceil(BLOCK),
            table_blocks: inodes_per_group * inode_size / BLOCK,
        };
        let last = groups - 1;
        if geo.overhead(last) >= geo.len(last) {
            // No room for data after the last group's metadata: leave it out.
            if groups == 1 {
                return Err(geo.overhead(last) + 1 - blocks);
            }
            return Geometry::new(last * per_group, per_group, inode_size, inodes);
        }
        Ok(geo)
    }

    fn start(&self, group: u64) -> u64 {
        group * self.per_group
    }

    fn len(&self, group: u64) -> u64 {
        self.per_group.min(self.blocks - self.start(group))
    }

    /// Whether a group holds a superblock copy (sparse_super).
    fn has_super(&self, group: u64) -> bool {
        let power_of = |base: u64| {
            let mut n = group;
            while n > 1 && n.is_multiple_of(base) {
                n /= base;
            }
            n == 1
        };
        group <= 1 || power_of(3) || power_of(5) || power_of(7)
    }

    fn block_bitmap(&self, group: u64) -> u64 {
        self.start(group) + if self.has_super(group) { 1 + self.gdt_blocks } else { 0 }
    }

    fn inode_bitmap(&self, group: u64) -> u64 {
        self.block_bitmap(group) + 1
    }

    fn inode_table(&self, group: u64) -> u64 {
        self.block_bitmap(group) + 2
    }

    /// The first block after the group's metadata.
    fn data_start(&self, group: u64) -> u64 {
        self.inode_table(group) + self.table_blocks
    }

    fn overhead(&self, group: u64) -> u64 {
        self.data_start(group) - self.start(group)
    }

    fn inodes(&self) -> u64 {
        self.groups * self.inodes_per_group
    }
}

/// Consecutive blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u64,
    len: u64,
}

/// Hands out data blocks in one forward sweep over the groups.
struct Allocator<'g> {
    geo: &'g Geometry,
    group: u64,
    next: u64,
    /// Blocks asked for beyond the end of the filesystem.
    missing: u64,
}

impl Allocator<'_> {
    fn take(&mut self, mut count: u64) -> Vec<Run> {
        let mut runs = Vec::new();
        while count > 0 {
            if self.group >= self.geo.groups {
                self.missing += count;
                break;
            }
            let end = self.geo.start(self.group) + self.geo.len(self.group);
            if self.next >= end {
                self.group += 1;
                if self.group < self.geo.groups {
                    self.next = self.geo.data_start(self.group);
                }
                continue;
            }
            let len = count.min(end - self.next);
            runs.push(Run { start: self.next, len });
            self.next += len;
            count -= len;
        }
        runs
    }
}

/// Where one inode's blocks are.
struct Placed {
    data: Vec<Run>,
    /// Indirect blocks (ext2) or extent tree blocks (ext4), in the order
    /// [`write_block_map`] fills them.
    map: Vec<Run>,
}

/// A plan placed on a filesystem of a given size.
struct Layout {
    geo: Geometry,
    placed: Vec<Placed>,
    /// Where the allocator stopped: the group, and the first free block in it.
    end_group: u64,
    end_block: u64,
}

impl Layout {
    /// Places `plan` on `blocks` blocks with `inodes`, or says how many blocks
    /// are missing.
    fn new(plan: &Plan, blocks: u64, per_group: u64, inodes: Inodes) -> Result<Layout, u64> {
        let geo = Geometry::new(blocks, per_group, plan.inode_size, inodes)?;
        let mut alloc = Allocator { geo: &geo, group: 0, next: geo.data_start(0), missing: 0 };
        let placed = plan
            .inodes
            .iter()
            .map(|inode| {
                let count = inode.body.data_blocks();
                let data = alloc.take(count);
                let map = alloc.take(plan.map_blocks(count, &data));
                Placed { data, map }
            })
            .collect();
        if alloc.missing > 0 {
            return Err(alloc.missing);
        }
        let (end_group, end_block) = (alloc.group, alloc.next);
        Ok(Layout { geo, placed, end_group, end_block })
    }

    /// The blocks in use in a group, all at its start.
    fn used_blocks(&self, group: u64) -> u64 {
        if group < self.end_group {
            self.geo.len(group)
        } else if group == self.end_group {
            self.end_block - self.geo.start(group)
        } else {
            self.geo.overhead(group)
        }
    }

    /// The inodes in use in a group, all at its start.
    fn used_inodes(&self, plan: &Plan, group: u64) -> u64 {
        let before = group * self.geo.inodes_per_group;
        plan.last_ino().saturating_sub(before).min(self.geo.inodes_per_group)
    }
}

/// The fewest blocks `plan` fits in.
fn min_blocks(plan: &Plan, per_group: u64) -> Result<u64> {
    let mut blocks: u64 = plan.inodes.iter().map(|i| i.body.data_blocks()).sum::<u64>() + 1;
    loop {
        if blocks > u64::from(u32::MAX) {
            bail!("the content needs more than the 16 TiB an ext image without 64bit holds");
        }
        match Layout::new(plan, blocks, per_group, Inodes::Exactly(plan.last_ino())) {
            Ok(_) => return Ok(blocks),
            Err(missing) => blocks += missing.max(1),
        }
    }
}

/// The default layout: the content plus about 20% of blocks, in whole MiB,
/// and at least 20% spare inodes.
fn default_layout(plan: &Plan, per_group: u64) -> Result<Layout> {
    const MIB_BLOCKS: u64 = (1 << 20) / BLOCK;
    let min = min_blocks(plan, per_group)?;
    let inodes = Inodes::Spare(plan.last_ino() + plan.last_ino() / 5);
    let mut blocks = (min + min / 5).next_multiple_of(MIB_BLOCKS);
    loop {
        if blocks > u64::from(u32::MAX) {
            bail!("the content needs more than the 16 TiB an ext image without 64bit holds");
        }
        match Layout::new(plan, blocks, per_group, inodes) {
            Ok(layout) => return Ok(layout),
            Err(missing) => blocks = (blocks + missing).next_multiple_of(MIB_BLOCKS),
        }
    }
}

/// The blocks of a list of runs, by index.
struct BlockList<'r> {
    runs: &'r [Run],
    /// The index of each run's first block.
    firsts: Vec<u64>,
}

impl<'r> BlockList<'r> {
    fn new(runs: &'r [Run]) -> BlockList<'r> {
        let firsts = runs.iter().scan(0, |acc, r| Some(std::mem::replace(acc, *acc + r.len))).collect();
        BlockList { runs, firsts }
    }

    fn nth(&self, index: u64) -> Result<u64> {
        let i = self.firsts.partition_point(|&first| first <= index);
        match i.checked_sub(1).and_then(|i| self.runs.get(i).map(|r| (r, self.firsts[i]))) {
            Some((run, first)) if index - first < run.len => Ok(run.start + index - first),
            _ => bail!("internal: block {index} is outside the blocks laid out"),
        }
    }
}

/// One of the indirect trees hanging off an ext2 inode.
struct IndirectRoot {
    /// 1 = indirect, 2 = double, 3 = triple.
    level: u32,
    /// The first logical block it maps, and how many.
    first: u64,
    count: u64,
}

/// The indirect trees a file of `blocks` data blocks uses.
fn indirect_roots(blocks: u64) -> Vec<IndirectRoot> {
    let mut roots = Vec::new();
    let mut first = 12;
    for level in 1..=3 {
        if blocks <= first {
            break;
        }
        let count = (blocks - first).min(PTRS.pow(level));
        roots.push(IndirectRoot { level, first, count });
        first += count;
    }
    roots
}

/// The blocks of an indirect tree of `level` mapping `count` data blocks.
fn indirect_tree_blocks(level: u32, count: u64) -> u64 {
    (1..level).map(|l| count.div_ceil(PTRS.pow(l))).sum::<u64>() + 1
}

/// How many extents the runs make.
fn extent_count(runs: &[Run]) -> u64 {
    runs.iter().map(|r| r.len.div_ceil(EXTENT_MAX_LEN)).sum()
}

/// The output file, written through a buffer, with its position tracked so
/// that consecutive writes need no seek.
struct PosWriter<'f> {
    out: BufWriter<&'f mut File>,
    pos: u64,
}

impl PosWriter<'_> {
    fn seek_to(&mut self, pos: u64) -> io::Result<()> {
        if pos != self.pos {
            self.out.seek(SeekFrom::Start(pos))?;
            self.pos = pos;
        }
        Ok(())
    }

    fn write_at(&mut self, pos: u64, bytes: &[u8]) -> Result<()> {
        self.seek_to(pos).and_then(|()| self.write_all(bytes)).context("writing the image file")
    }
}

impl Write for PosWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Spreads a stream of bytes over an inode's data blocks.
struct RunSink<'a, 'f> {
    out: &'a mut PosWriter<'f>,
    runs: &'a [Run],
    next_run: usize,
    left: u64,
}

impl Write for RunSink<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let run = self.runs.get(self.next_run).ok_or_else(|| io::Error::other("more data than blocks laid out"))?;
            self.out.seek_to(run.start * BLOCK)?;
            self.left = run.len * BLOCK;
            self.next_run += 1;
        }
        let n = self.out.write(&buf[..buf.len().min(self.left as usize)])?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes every inode's data and block map; gives each inode's `i_block`.
fn write_contents(plan: &Plan, layout: &Layout, w: &mut PosWriter) -> Result<Vec<[u8; 60]>> {
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut i_blocks = Vec::with_capacity(plan.inodes.len());
    for (inode, placed) in plan.inodes.iter().zip(&layout.placed) {
        let mut sink = RunSink { out: w, runs: &placed.data, next_run: 0, left: 0 };
        match &inode.body {
            Body::Dir(bytes) => sink.write_all(bytes).context("writing the image file")?,
            Body::File { content, size, path } => {
                content.copy_to(*size, path, &mut sink, &mut buf)?;
                let tail = (size.next_multiple_of(BLOCK) - size) as usize;
                sink.write_all(&ZERO_BLOCK[..tail]).context("writing the image file")?;
            }
            Body::SlowLink(target) => {
                let mut block = vec![0u8; BLOCK as usize];
                block[..target.len()].copy_from_slice(target.as_bytes());
                sink.write_all(&block).context("writing the image file")?;
            }
            Body::FastLink(target) => {
                let mut i_block = [0u8; 60];
                i_block[..target.len()].copy_from_slice(target.as_bytes());
                i_blocks.push(i_block);
                continue;
            }
        }
        i_blocks.push(write_block_map(plan.fs, inode.body.data_blocks(), placed, w)?);
    }
    Ok(i_blocks)
}

/// Writes an inode's indirect or extent tree blocks and gives its `i_block`.
fn write_block_map(fs: FsType, blocks: u64, placed: &Placed, w: &mut PosWriter) -> Result<[u8; 60]> {
    let data = BlockList::new(&placed.data);
    let map = BlockList::new(&placed.map);
    let mut next_map = 0;
    let mut i_block = [0u8; 60];
    match fs {
        FsType::Ext2 => {
            for logical in 0..blocks.min(12) {
                put32(&mut i_block, logical as usize * 4, data.nth(logical)?);
            }
            for root in indirect_roots(blocks) {
                let block = write_indirect(root.level, root.first, root.count, &data, &map, &mut next_map, w)?;
                put32(&mut i_block, (11 + root.level as usize) * 4, block);
            }
        }
        FsType::Ext4 => {
            // Leaf entries: logical block, length, physical start.
            let mut entries = Vec::new();
            let mut logical = 0;
            for run in &placed.data {
                let mut done = 0;
                while done < run.len {
                    let len = (run.len - done).min(EXTENT_MAX_LEN);
                    let start = run.start + done;
                    let mut entry = [0u8; 12];
                    put32(&mut entry, 0, logical);
                    entry[4..6].copy_from_slice(&(len as u16).to_le_bytes());
                    entry[6..8].copy_from_slice(&((start >> 32) as u16).to_le_bytes());
                    put32(&mut entry, 8, start);
                    entries.push((logical, entry));
                    logical += len;
                    done += len;
                }
            }
            // Pack full tree blocks level by level until the rest fits the inode.
            let mut depth = 0u16;
            while entries.len() > EXTENTS_IN_INODE {
                let mut parents = Vec::new();
                for chunk in entries.chunks(EXTENTS_PER_BLOCK) {
                    let block = map.nth(next_map)?;
                    next_map += 1;
                    let mut node = vec![0u8; BLOCK as usize];
                    extent_node(&mut node, depth, EXTENTS_PER_BLOCK, chunk);
                    w.write_at(block * BLOCK, &node)?;
                    let mut index = [0u8; 12];
                    put32(&mut index, 0, chunk[0].0);
                    put32(&mut index, 4, block);
                    index[8..10].copy_from_slice(&((block >> 32) as u16).to_le_bytes());
                    parents.push((chunk[0].0, index));
                }
                entries = parents;
                depth += 1;
            }
            extent_node(&mut i_block, depth, EXTENTS_IN_INODE, &entries);
        }
    }
    Ok(i_block)
}

/// Fills an extent tree node: header, then entries.
fn extent_node(node: &mut [u8], depth: u16, max: usize, entries: &[(u64, [u8; 12])]) {
    node[0..2].copy_from_slice(&EXTENT_MAGIC.to_le_bytes());
    node[2..4].copy_from_slice(&(entries.len() as u16).to_le_bytes());
    node[4..6].copy_from_slice(&(max as u16).to_le_bytes());
    node[6..8].copy_from_slice(&depth.to_le_bytes());
    for (i, (_, entry)) in entries.iter().enumerate() {
        node[12 + 12 * i..24 + 12 * i].copy_from_slice(entry);
    }
}

/// Writes an indirect block of `level` mapping `count` data blocks from
/// logical block `first`, and the blocks below it, taking map blocks in
/// preorder; gives its block number.
fn write_indirect(
    level: u32,
    first: u64,
    count: u64,
    data: &BlockList,
    map: &BlockList,
    next_map: &mut u64,
    w: &mut PosWriter,
) -> Result<u64> {
    let me = map.nth(*next_map)?;
    *next_map += 1;
    let per_child = PTRS.pow(level - 1);
    let mut block = vec![0u8; BLOCK as usize];
    for slot in 0..count.div_ceil(per_child) {
        let child_first = first + slot * per_child;
        let pointer = if level == 1 {
            data.nth(child_first)?
        } else {
            let child_count = per_child.min(count - slot * per_child);
            write_indirect(level - 1, child_first, child_count, data, map, next_map, w)?
        };
        put32(&mut block, slot as usize * 4, pointer);
    }
    w.write_at(me * BLOCK, &block)?;
    Ok(me)
}

/// Stores the low 32 bits of `value` little-endian at `at`.
fn put32(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 4].copy_from_slice(&(value as u32).to_le_bytes());
}

fn put16(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 2].copy_from_slice(&(value as u16).to_le_bytes());
}

/// A tree path's parent directory (`""` for the root) and last name.
fn split_parent(path: &BStr) -> (&BStr, &BStr) {
    match path.rfind_byte(b'/') {
        Some(at) => (path[..at].as_bstr(), path[at + 1..].as_bstr()),
        None => (b"".as_bstr(), path),
    }
}

/// The UUID and directory hash seed of an image.
struct Identity {
    uuid: [u8; 16],
    hash_seed: [u8; 16],
}

impl Identity {
    fn new(tree: &Tree, opts: &Options, blocks: u64) -> Identity {
        let mut h = Sha256::new();
        h.update(b"bimanix ext image\0");
        h.update(format!("{:?}\0{blocks}\0{}\0{:?}\0", opts.fs_type, opts.mtime, opts.label).as_bytes());
        for (path, node) in tree.iter() {
            h.update(path);
            match node {
                Node::Dir { mode } => h.update(format!("\0d{mode:o}\0").as_bytes()),
                Node::File { size, mode, .. } => h.update(format!("\0f{mode:o} {size}\0").as_bytes()),
                Node::Symlink { target } => {
                    h.update(b"\0l");
                    h.update(target);
                    h.update(b"\0");
                }
            }
        }
        let digest: [u8; 32] = h.finalize().into();
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&digest[..16]);
        // An RFC 9562 version 8 (custom) UUID.
        uuid[6] = (uuid[6] & 0x0f) | 0x80;
        uuid[8] = (uuid[8] & 0x3f) | 0x80;
        let mut hash_seed = [0u8; 16];
        hash_seed.copy_from_slice(&digest[16..]);
        Identity { uuid, hash_seed }
    }
}

/// Writes the superblocks, group descriptors, bitmaps and inode tables.
fn write_metadata(
    plan: &Plan,
    layout: &Layout,
    opts: &Options,
    id: &Identity,
    i_blocks: &[[u8; 60]],
    w: &mut PosWriter,
) -> Result<()> {
    let geo = &layout.geo;
    let mut gdt = vec![0u8; (geo.gdt_blocks * BLOCK) as usize];
    let mut free_blocks = 0;
    let mut free_inodes = 0;
    let mut dirs = vec![0u64; geo.groups as usize];
    for inode in plan.inodes.iter().filter(|i| matches!(i.body, Body::Dir(_))) {
        dirs[((u64::from(inode.ino) - 1) / geo.inodes_per_group) as usize] += 1;
    }
    for (group, dirs) in (0..geo.groups).zip(dirs) {
        let used_blocks = layout.used_blocks(group);
        let used_inodes = layout.used_inodes(plan, group);
        let desc = &mut gdt[(group * GROUP_DESC_SIZE) as usize..][..GROUP_DESC_SIZE as usize];
        put32(desc, 0, geo.block_bitmap(group));
        put32(desc, 4, geo.inode_bitmap(group));
        put32(desc, 8, geo.inode_table(group));
        put16(desc, 12, geo.len(group) - used_blocks);
        put16(desc, 14, geo.inodes_per_group - used_inodes);
        put16(desc, 16, dirs);
        free_blocks += geo.len(group) - used_blocks;
        free_inodes += geo.inodes_per_group - used_inodes;

        w.write_at(geo.block_bitmap(group) * BLOCK, &bitmap(used_blocks, geo.len(group)))?;
        w.write_at(geo.inode_bitmap(group) * BLOCK, &bitmap(used_inodes, geo.inodes_per_group))?;
    }

    write_inode_tables(plan, layout, opts.mtime, i_blocks, w)?;

    for group in (0..geo.groups).filter(|&g| geo.has_super(g)) {
        let sb = superblock(plan, geo, opts, id, group, free_blocks, free_inodes)?;
        // The primary superblock sits 1024 bytes into block 0; copies start their group.
        let at = if group == 0 { 1024 } else { geo.start(group) * BLOCK };
        w.write_at(at, &sb)?;
        w.write_at((geo.start(group) + 1) * BLOCK, &gdt)?;
    }
    Ok(())
}

/// A bitmap block with the first `used` bits set, and the padding bits from
/// `len` to the end of the block set too, as e2fsck expects.
fn bitmap(used: u64, len: u64) -> Vec<u8> {
    let mut block = vec![0u8; BLOCK as usize];
    for bit in (0..used).chain(len..8 * BLOCK) {
        block[(bit / 8) as usize] |= 1 << (bit % 8);
    }
    block
}

fn write_inode_tables(
    plan: &Plan,
    layout: &Layout,
    mtime: u32,
    i_blocks: &[[u8; 60]],
    w: &mut PosWriter,
) -> Result<()> {
    let geo = &layout.geo;
    let size = plan.inode_size as usize;
    let mut planned = plan.inodes.iter().zip(&layout.placed).zip(i_blocks).peekable();
    for group in 0..geo.groups {
        let used = layout.used_inodes(plan, group);
        if used == 0 {
            continue;
        }
        let first_ino = group * geo.inodes_per_group + 1;
        let mut table = vec![0u8; used as usize * size];
        while let Some(((inode, placed), i_block)) = planned.next_if(|((i, _), _)| u64::from(i.ino) < first_ino + used)
        {
            let at = (u64::from(inode.ino) - first_ino) as usize * size;
            encode_inode(plan.fs, inode, placed, i_block, mtime, &mut table[at..at + size])?;
        }
        w.write_at(geo.inode_table(group) * BLOCK, &table)?;
    }
    Ok(())
}

/// Fills one on-disk inode.
fn encode_inode(
    fs: FsType,
    inode: &PlannedInode,
    placed: &Placed,
    i_block: &[u8; 60],
    mtime: u32,
    out: &mut [u8],
) -> Result<()> {
    let size = inode.body.size();
    let blocks: u64 = placed.data.iter().chain(&placed.map).map(|r| r.len).sum();
    let sectors = u32::try_from(blocks * (BLOCK / 512)).context("internal: a file too large for i_blocks")?;
    let uses_extents = fs == FsType::Ext4 && !matches!(inode.body, Body::FastLink(_));
    let mtime = u64::from(mtime);
    put16(out, 0, u64::from(inode.body.type_bits() | inode.perm));
    put32(out, 4, size);
    put32(out, 8, mtime);
    put32(out, 12, mtime);
    put32(out, 16, mtime);
    put16(out, 26, u64::from(inode.links));
    put32(out, 28, u64::from(sectors));
    put32(out, 32, if uses_extents { u64::from(EXTENTS_FL) } else { 0 });
    out[40..100].copy_from_slice(i_block);
    put32(out, 108, size >> 32);
    if fs == FsType::Ext4 {
        put16(out, 128, u64::from(EXTRA_ISIZE));
        put32(out, 144, mtime);
    }
    Ok(())
}

/// The superblock as stored in `group`.
fn superblock(
    plan: &Plan,
    geo: &Geometry,
    opts: &Options,
    id: &Identity,
    group: u64,
    free_blocks: u64,
    free_inodes: u64,
) -> Result<Vec<u8>> {
    let inodes = u32::try_from(geo.inodes()).context("too many inodes for an ext image")?;
    let mtime = u64::from(opts.mtime);
    let mut sb = vec![0u8; 1024];
    put32(&mut sb, 0, u64::from(inodes));
    put32(&mut sb, 4, geo.blocks);
    put32(&mut sb, 12, free_blocks);
    put32(&mut sb, 16, free_inodes);
    put32(&mut sb, 24, u64::from(LOG_BLOCK));
    put32(&mut sb, 28, u64::from(LOG_BLOCK));
    put32(&mut sb, 32, geo.per_group);
    put32(&mut sb, 36, geo.per_group);
    put32(&mut sb, 40, geo.inodes_per_group);
    put32(&mut sb, 48, mtime); // last write
    put16(&mut sb, 54, 0xFFFF); // max mount count: -1, no forced checks
    put16(&mut sb, 56, 0xEF53);
    put16(&mut sb, 58, 1); // clean
    put16(&mut sb, 60, 1); // on errors: continue
    put32(&mut sb, 64, mtime); // last check
    put32(&mut sb, 76, 1); // dynamic revision
    put32(&mut sb, 84, u64::from(FIRST_INO));
    put16(&mut sb, 88, plan.inode_size);
    put16(&mut sb, 90, group);
    let (incompat, ro_compat) = match plan.fs {
        FsType::Ext2 => (INCOMPAT_FILETYPE, RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE),
        FsType::Ext4 => (
            INCOMPAT_FILETYPE | INCOMPAT_EXTENTS,
            RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_DIR_NLINK | RO_COMPAT_EXTRA_ISIZE,
        ),
    };
    put32(&mut sb, 96, u64::from(incompat));
    put32(&mut sb, 100, u64::from(ro_compat));
    sb[104..120].copy_from_slice(&id.uuid);
    let label = opts.label.as_deref().unwrap_or("").as_bytes();
    sb[120..120 + label.len()].copy_from_slice(label);
    sb[236..252].copy_from_slice(&id.hash_seed);
    sb[252] = 1; // default directory hash: half_md4, as mke2fs picks
    put32(&mut sb, 264, mtime); // creation
    if plan.fs == FsType::Ext4 {
        put16(&mut sb, 348, u64::from(EXTRA_ISIZE));
        put16(&mut sb, 350, u64::from(EXTRA_ISIZE));
    }
    // Signed directory hashes, fixed here so that no tool picks by its host.
    put32(&mut sb, 352, 1);
    Ok(sb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fstree::{EXEC_MODE, FILE_MODE};
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const MTIME: u32 = 1_600_000_000;
    const MIB: usize = 1 << 20;

    /// Bytes in which every 8-byte word differs, so a misplaced block shows.
    fn pattern(len: usize, seed: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(len + 8);
        let mut i = 0u64;
        while bytes.len() < len {
            bytes.extend_from_slice(&(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed).to_le_bytes());
            i += 1;
        }
        bytes.truncate(len);
        bytes
    }

    fn host_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn file(content: Content, size: usize, mode: u32) -> Node {
        Node::File { content, size: size as u64, mode }
    }

    fn inline(bytes: &[u8], mode: u32) -> Node {
        file(Content::Inline(bytes.to_vec()), bytes.len(), mode)
    }

    const SLOW_TARGET: &str = "../../a/rather/long/target/path/that/does/not/fit/into/the/sixty/bytes/of/i_block";

    /// Nested directories, a directory spanning blocks, empty, small, 5 MiB
    /// and (when `big`) 70 MiB files, fast and slow symlinks, several modes.
    fn sample_tree(dir: &Path, big: bool) -> Tree {
        let mut tree = Tree::new();
        let tool = pattern(5 * MIB + 123, 1);
        tree.insert("bin/tool", file(Content::Host(host_file(dir, "tool", &tool)), tool.len(), EXEC_MODE)).unwrap();
        if big {
            let data = pattern(70 * MIB + 5, 2);
            tree.insert("data/big", file(Content::Host(host_file(dir, "big", &data)), data.len(), FILE_MODE)).unwrap();
        }
        tree.insert("a/b/c/d/deep", inline(b"deep\n", FILE_MODE)).unwrap();
        tree.insert("a/b/other", Node::Dir { mode: 0o750 }).unwrap();
        tree.insert("empty", inline(b"", FILE_MODE)).unwrap();
        tree.insert("etc/plain", inline(b"plain text\n", FILE_MODE)).unwrap();
        tree.insert("etc/secret", inline(b"secret", 0o600)).unwrap();
        for i in 0..500 {
            tree.insert(
                &format!("many/file-with-a-longish-name-{i:04}"),
                inline(format!("{i}\n").as_bytes(), FILE_MODE),
            )
            .unwrap();
        }
        tree.insert("fast", Node::Symlink { target: "bin/tool".into() }).unwrap();
        tree.insert("slow", Node::Symlink { target: SLOW_TARGET.into() }).unwrap();
        tree
    }

    fn options(fs_type: FsType) -> Options {
        Options { fs_type, size: None, mtime: MTIME, label: None }
    }

    fn write(tree: &Tree, opts: &Options, path: &Path, per_group: u64) -> Result<()> {
        let mut out = File::create(path).unwrap();
        write_with_groups(tree, opts, &mut out, per_group)
    }

    /// Runs an e2fsprogs tool found on PATH (as in a Nix build), else in
    /// /usr/sbin (Debian puts it there, outside a normal user's PATH).
    fn run(tool: &str, args: &[&str], image: &Path) -> std::process::Output {
        let on_path = std::env::var_os("PATH")
            .and_then(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|c| c.is_file()));
        let path = on_path.unwrap_or_else(|| Path::new("/usr/sbin").join(tool));
        let path = path.display().to_string();
        Command::new(&path)
            .args(args)
            .arg(image)
            .output()
            .unwrap_or_else(|e| panic!("{path} is needed for these tests (apt-get install e2fsprogs): {e}"))
    }

    /// Runs `e2fsck -fn` and insists on a clean bill: exit 0, nothing but
    /// the five passes and the summary.
    fn fsck(image: &Path, extra: &[&str]) {
        let args: Vec<&str> = ["-f", "-n"].iter().chain(extra).copied().collect();
        let out = run("e2fsck", &args, image);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "e2fsck failed ({}):\n{stdout}\n{stderr}", out.status);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 6, "e2fsck said more than expected:\n{stdout}");
        assert!(lines[..5].iter().all(|l| l.starts_with("Pass ")), "{stdout}");
        assert!(lines[5].contains(" files (") && lines[5].contains(" blocks"), "{stdout}");
    }

    fn debugfs(image: &Path, request: &str) -> Vec<u8> {
        let out = run("debugfs", &["-R", request], image);
        assert!(out.status.success(), "debugfs -R {request:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    fn stat(image: &Path, path: &str) -> String {
        String::from_utf8(debugfs(image, &format!("stat {path}"))).unwrap()
    }

    /// The whitespace-separated word after `label` in debugfs output.
    fn field<'a>(text: &'a str, label: &str) -> &'a str {
        let mut words = text.split_whitespace();
        words.find(|w| *w == label).unwrap_or_else(|| panic!("no {label} in {text}"));
        words.next().unwrap()
    }

    /// A value from `dumpe2fs -h`.
    fn header_value(image: &Path, label: &str) -> String {
        let header = String::from_utf8(run("dumpe2fs", &["-h"], image).stdout).unwrap();
        let line = header.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label} in {header}"));
        line[label.len()..].trim().to_string()
    }

    fn check_sample(image: &Path, dir: &Path, fs_type: FsType, big: bool) {
        fsck(image, &[]);
        assert_eq!(debugfs(image, "cat /bin/tool"), std::fs::read(dir.join("tool")).unwrap());
        if big {
            assert!(debugfs(image, "cat /data/big") == std::fs::read(dir.join("big")).unwrap(), "/data/big differs");
        }
        assert_eq!(debugfs(image, "cat /a/b/c/d/deep"), b"deep\n");
        assert_eq!(debugfs(image, "cat /empty"), b"");
        assert_eq!(debugfs(image, "cat /many/file-with-a-longish-name-0499"), b"499\n");
        assert_eq!(debugfs(image, "cat /many/file-with-a-longish-name-0000"), b"0\n");

        let listing = String::from_utf8(debugfs(image, "ls -p /many")).unwrap();
        assert_eq!(listing.lines().filter(|l| l.contains("file-with-a-longish-name-")).count(), 500);
        let many = stat(image, "/many");
        assert!(field(&many, "Size:").parse::<u64>().unwrap() > BLOCK, "/many fits one block:\n{many}");

        for (path, mode) in
            [("/bin/tool", "0755"), ("/etc/plain", "0644"), ("/etc/secret", "0600"), ("/a/b/other", "0750")]
        {
            let s = stat(image, path);
            assert_eq!(field(&s, "Mode:"), mode, "{path}: {s}");
            assert_eq!(field(&s, "User:"), "0", "{path}: {s}");
            assert_eq!(field(&s, "Group:"), "0", "{path}: {s}");
            let flags = u32::from_str_radix(field(&s, "Flags:").trim_start_matches("0x"), 16).unwrap();
            assert_eq!(flags & EXTENTS_FL != 0, fs_type == FsType::Ext4, "{path}: {s}");
        }
        let root = stat(image, "/");
        // . and .. and lost+found, a, bin, etc, many, and data when big.
        let root_links = if big { "8" } else { "7" };
        assert_eq!(field(&root, "Links:"), root_links, "{root}");
        let fast = stat(image, "/fast");
        assert!(fast.contains("Fast link dest: \"bin/tool\""), "{fast}");
        let slow = stat(image, "/slow");
        assert!(!slow.contains("Fast link dest"), "{slow}");
        assert_eq!(field(&slow, "Size:"), SLOW_TARGET.len().to_string());
        assert_eq!(debugfs(image, "cat /slow"), SLOW_TARGET.as_bytes());
        let plain = stat(image, "/etc/plain");
        assert!(field(&plain, "mtime:").starts_with(&format!("0x{MTIME:x}")), "{plain}");
    }

    #[test]
    fn ext2_sample_passes_fsck_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path(), true);
        let image = dir.path().join("image");
        write(&tree, &options(FsType::Ext2), &image, BLOCKS_PER_GROUP).unwrap();
        check_sample(&image, dir.path(), FsType::Ext2, true);
        let big = stat(&image, "/data/big");
        assert!(big.contains("(DIND)"), "70 MiB needs a double indirect block:\n{big}");
        assert_eq!(header_value(&image, "Filesystem features:"), "filetype sparse_super large_file");
        assert_eq!(header_value(&image, "Block size:"), "4096");
        assert_eq!(header_value(&image, "Inode size:"), "128");
    }

    #[test]
    fn ext4_sample_passes_fsck_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path(), true);
        let image = dir.path().join("image");
        let opts = Options { label: Some("rootfs".into()), ..options(FsType::Ext4) };
        write(&tree, &opts, &image, BLOCKS_PER_GROUP).unwrap();
        check_sample(&image, dir.path(), FsType::Ext4, true);
        assert_eq!(
            header_value(&image, "Filesystem features:"),
            "filetype extent sparse_super large_file dir_nlink extra_isize"
        );
        assert_eq!(header_value(&image, "Filesystem volume name:"), "rootfs");
        assert_eq!(header_value(&image, "Filesystem state:"), "clean");
        assert_eq!(header_value(&image, "Inode size:"), "256");
        assert_eq!(std::fs::metadata(&image).unwrap().len() % (1 << 20), 0);
    }

    #[test]
    fn small_groups_cross_group_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path(), false);
        for fs_type in [FsType::Ext2, FsType::Ext4] {
            let image = dir.path().join(format!("{fs_type:?}"));
            write(&tree, &options(fs_type), &image, 256).unwrap();
            check_sample(&image, dir.path(), fs_type, false);
            let tool = stat(&image, "/bin/tool");
            if fs_type == FsType::Ext4 {
                assert!(tool.contains("(ETB0)"), "5 MiB over 1 MiB groups needs an extent tree block:\n{tool}");
            }
            // Of the 9 groups, 1, 3, 5 and 7 hold backup superblocks that e2fsck accepts.
            assert_eq!(header_value(&image, "Block count:"), "2304");
            for group in [1, 3, 7] {
                fsck(&image, &["-b", &(group * 256).to_string(), "-B", "4096"]);
            }
        }
    }

    #[test]
    fn empty_tree_is_clean_in_one_mib() {
        let dir = tempfile::tempdir().unwrap();
        for fs_type in [FsType::Ext2, FsType::Ext4] {
            let image = dir.path().join(format!("{fs_type:?}"));
            write(&Tree::new(), &options(fs_type), &image, BLOCKS_PER_GROUP).unwrap();
            assert_eq!(std::fs::metadata(&image).unwrap().len(), 1 << 20);
            fsck(&image, &[]);
            let listing = String::from_utf8(debugfs(&image, "ls -p /")).unwrap();
            let names: Vec<&str> = listing.lines().filter_map(|l| l.split('/').nth(5)).collect();
            assert_eq!(names, [".", "..", "lost+found"], "{listing}");
            let lost = stat(&image, "/lost+found");
            assert_eq!(field(&lost, "Size:"), "16384", "{lost}");
            assert_eq!(field(&lost, "Mode:"), "0700", "{lost}");
        }
    }

    #[test]
    fn same_input_same_bytes_and_uuid_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = sample_tree(dir.path(), false);
        let uuid = |path: &Path| std::fs::read(path).unwrap()[1024 + 104..1024 + 120].to_vec();
        for fs_type in [FsType::Ext2, FsType::Ext4] {
            let (a, b) = (dir.path().join("a"), dir.path().join("b"));
            write(&tree, &options(fs_type), &a, BLOCKS_PER_GROUP).unwrap();
            write(&tree, &options(fs_type), &b, BLOCKS_PER_GROUP).unwrap();
            assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "two writes differ");
            tree.insert("one-more", inline(b"x", FILE_MODE)).unwrap();
            write(&tree, &options(fs_type), &b, BLOCKS_PER_GROUP).unwrap();
            assert_ne!(uuid(&a), uuid(&b));
            tree.remove("one-more");
        }
    }

    #[test]
    fn too_small_size_fails_and_min_size_fits() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path(), false);
        for fs_type in [FsType::Ext2, FsType::Ext4] {
            let image = dir.path().join("image");
            let small = Options { size: Some(1 << 20), ..options(fs_type) };
            let err = format!("{:#}", write(&tree, &small, &image, BLOCKS_PER_GROUP).unwrap_err());
            let min = min_size(&tree, fs_type).unwrap();
            let expected = format!(
                "an image of 1048576 bytes is too small for the content: it needs at least {min} bytes ({} MiB)",
                min.div_ceil(1 << 20)
            );
            assert!(err.contains(&expected), "{err}");
            // Data alone: the 5 MiB file, 500 one-block files and 8 directories of
            // one block, /many of several, lost+found of four.
            let data_blocks = (5 * MIB as u64 + 123).div_ceil(BLOCK) + 500 + 8 + 6 + 4;
            assert!(min > data_blocks * BLOCK && min < (data_blocks + 64) * BLOCK, "{min}");
            assert!(
                write(&tree, &Options { size: Some(min - BLOCK), ..options(fs_type) }, &image, BLOCKS_PER_GROUP)
                    .is_err()
            );
            write(&tree, &Options { size: Some(min), ..options(fs_type) }, &image, BLOCKS_PER_GROUP).unwrap();
            assert_eq!(std::fs::metadata(&image).unwrap().len(), min);
            check_sample(&image, dir.path(), fs_type, false);
        }
    }

    #[test]
    fn given_size_is_kept_and_free_space_counted() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path(), false);
        let image = dir.path().join("image");
        let size = 300 * (1 << 20) + 1000; // three groups, an unused tail
        write(&tree, &Options { size: Some(size), ..options(FsType::Ext4) }, &image, BLOCKS_PER_GROUP).unwrap();
        assert_eq!(std::fs::metadata(&image).unwrap().len(), size);
        check_sample(&image, dir.path(), FsType::Ext4, false);
        assert_eq!(header_value(&image, "Block count:"), (300 * 256).to_string());
    }

    #[test]
    fn bad_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        let host = host_file(dir.path(), "f", b"12345");
        let mut changed = Tree::new();
        changed.insert("f", file(Content::Host(host.clone()), 6, FILE_MODE)).unwrap();
        let err = format!("{:#}", write(&changed, &options(FsType::Ext4), &image, BLOCKS_PER_GROUP).unwrap_err());
        assert!(err.contains("changed while reading") && err.contains(&host.display().to_string()), "{err}");

        let labelled = Options { label: Some("a label that is too long".into()), ..options(FsType::Ext2) };
        let err = format!("{:#}", write(&Tree::new(), &labelled, &image, BLOCKS_PER_GROUP).unwrap_err());
        assert!(err.contains("at most 16"), "{err}");

        let mut lost = Tree::new();
        lost.insert("lost+found", inline(b"", FILE_MODE)).unwrap();
        assert!(write(&lost, &options(FsType::Ext2), &image, BLOCKS_PER_GROUP).is_err());

        let mut link = Tree::new();
        link.insert("l", Node::Symlink { target: bstr::BString::default() }).unwrap();
        assert!(write(&link, &options(FsType::Ext2), &image, BLOCKS_PER_GROUP).is_err());
    }

    #[test]
    fn lost_found_from_the_tree_is_inode_11() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        let mut tree = Tree::new();
        tree.insert("lost+found/kept", inline(b"kept", FILE_MODE)).unwrap();
        tree.insert("lost+found/sub", Node::Dir { mode: 0o755 }).unwrap();
        write(&tree, &options(FsType::Ext4), &image, BLOCKS_PER_GROUP).unwrap();
        fsck(&image, &[]);
        assert_eq!(debugfs(&image, "cat /lost+found/kept"), b"kept");
        let lost = stat(&image, "/lost+found");
        assert_eq!(field(&lost, "Inode:"), "11");
        assert_eq!(field(&lost, "Mode:"), "0755");
        assert_eq!(field(&lost, "Links:"), "3");
    }

    #[test]
    fn default_size_leaves_spare_inodes() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("image");
        let mut tree = Tree::new();
        for i in 0..3000 {
            tree.insert(&format!("d/{i}"), inline(b"", FILE_MODE)).unwrap();
        }
        write(&tree, &options(FsType::Ext4), &image, BLOCKS_PER_GROUP).unwrap();
        fsck(&image, &[]);
        let used = 11 + 3001; // the reserved inodes and lost+found, d and its files
        let free: u64 = header_value(&image, "Free inodes:").parse().unwrap();
        assert!(free >= used / 5, "{free} free inodes");
    }

    #[test]
    fn every_size_from_the_minimum_fits() {
        let dir = tempfile::tempdir().unwrap();
        let tree = sample_tree(dir.path(), false);
        for fs_type in [FsType::Ext2, FsType::Ext4] {
            let plan = Plan::new(&tree, fs_type).unwrap();
            for per_group in [256, BLOCKS_PER_GROUP] {
                let min = min_blocks(&plan, per_group).unwrap();
                assert!(Layout::new(&plan, min - 1, per_group, Inodes::Exactly(plan.last_ino())).is_err());
                for blocks in min..min + 2000 {
                    let fits = Layout::new(&plan, blocks, per_group, Inodes::Spare(plan.last_ino()))
                        .or_else(|_| Layout::new(&plan, blocks, per_group, Inodes::Exactly(plan.last_ino())));
                    assert!(fits.is_ok(), "{fs_type:?}: {blocks} blocks of {per_group} per group (min {min})");
                }
            }
        }
    }

    #[test]
    fn indirect_tree_sizes() {
        // Counted by hand: 12 direct blocks need nothing; one more needs the
        // indirect block; past 12 + 1024 the double indirect block and one
        // indirect block per 1024 data blocks under it.
        let total = |n: u64| -> u64 { indirect_roots(n).iter().map(|r| indirect_tree_blocks(r.level, r.count)).sum() };
        assert_eq!(total(12), 0);
        assert_eq!(total(13), 1);
        assert_eq!(total(12 + 1024), 1);
        assert_eq!(total(12 + 1024 + 1), 3);
        assert_eq!(total(12 + 1024 + 1024 * 1024), 1 + 1 + 1024);
        assert_eq!(total(12 + 1024 + 1024 * 1024 + 1), 1 + 1 + 1024 + 3);
        assert_eq!(total(12 + 1024 + 1024 * 1024 + 1024 * 1024 + 1), 1 + 1 + 1024 + 1 + 2 + 1025);
    }

    #[test]
    fn sparse_super_groups() {
        let geo = Geometry::new(300 * 256, 256, 256, Inodes::Exactly(11)).unwrap();
        let with_super: Vec<u64> = (0..geo.groups).filter(|&g| geo.has_super(g)).collect();
        assert_eq!(with_super, [0, 1, 3, 5, 7, 9, 25, 27, 49, 81, 125, 243]);
    }
}
