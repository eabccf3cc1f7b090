//! Writing what describes the data: superblocks, group descriptors, bitmaps
//! and inode tables, and the image's UUID.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::blocks::PosWriter;
use super::layout::{Geometry, Layout, Placed};
use super::plan::{Body, Plan, PlannedInode};
use super::*;
use crate::model::fstree::{Node, Tree};

/// The UUID and directory hash seed of an image.
pub(super) struct Identity {
    pub(super) uuid: [u8; 16],
    pub(super) hash_seed: [u8; 16],
}

impl Identity {
    pub(super) fn new(tree: &Tree, opts: &Options, blocks: u64) -> Identity {
        let mut h = Sha256::new();
        h.update(b"bimanix ext image\0");
        h.update(format!("{:?}\0{blocks}\0{}\0{:?}\0", opts.fs_type, opts.mtime, opts.label).as_bytes());
        let links = tree.hard_links();
        for (path, node) in tree.iter() {
            h.update(path);
            match node {
                Node::Dir { mode } => h.update(format!("\0d{mode:o}\0").as_bytes()),
                Node::File { size, mode, .. } => {
                    h.update(format!("\0f{mode:o} {size}\0").as_bytes());
                    if let Some(group) = links.of(node) {
                        h.update(b"h");
                        h.update(group[0]);
                        h.update(b"\0");
                    }
                }
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
pub(super) fn write_metadata(
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
pub(super) fn bitmap(used: u64, len: u64) -> Vec<u8> {
    let mut block = vec![0u8; BLOCK as usize];
    for bit in (0..used).chain(len..8 * BLOCK) {
        block[(bit / 8) as usize] |= 1 << (bit % 8);
    }
    block
}

pub(super) fn write_inode_tables(
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
pub(super) fn encode_inode(
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
pub(super) fn superblock(
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
