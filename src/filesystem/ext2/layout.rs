//! Placing a plan on a filesystem of a given size: the groups' geometry and
//! the one forward sweep that hands out every inode's data and map blocks.

use anyhow::{Result, bail};

use super::plan::Plan;
use super::*;

/// How many inodes a filesystem gets, at least.
#[derive(Clone, Copy, Debug)]
pub(super) enum Inodes {
    /// This many, rounded up to whole inode table blocks in every group.
    Exactly(u64),
    /// This many, or one per 16 KiB of the filesystem as mke2fs makes them
    /// if that is more.
    Spare(u64),
}

/// The sizes and places of the groups' metadata.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub(super) blocks: u64,
    pub(super) per_group: u64,
    pub(super) groups: u64,
    pub(super) inodes_per_group: u64,
    pub(super) gdt_blocks: u64,
    pub(super) table_blocks: u64,
}

impl Geometry {
    /// The geometry of a `blocks`-block filesystem with room for `inodes`
    /// inodes, or how many more blocks it would take.
    pub(super) fn new(blocks: u64, per_group: u64, inode_size: u64, inodes: Inodes) -> Result<Geometry, u64> {
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

    pub(super) fn start(&self, group: u64) -> u64 {
        group * self.per_group
    }

    pub(super) fn len(&self, group: u64) -> u64 {
        self.per_group.min(self.blocks - self.start(group))
    }

    /// Whether a group holds a superblock copy (sparse_super).
    pub(super) fn has_super(&self, group: u64) -> bool {
        let power_of = |base: u64| {
            let mut n = group;
            while n > 1 && n.is_multiple_of(base) {
                n /= base;
            }
            n == 1
        };
        group <= 1 || power_of(3) || power_of(5) || power_of(7)
    }

    pub(super) fn block_bitmap(&self, group: u64) -> u64 {
        self.start(group) + if self.has_super(group) { 1 + self.gdt_blocks } else { 0 }
    }

    pub(super) fn inode_bitmap(&self, group: u64) -> u64 {
        self.block_bitmap(group) + 1
    }

    pub(super) fn inode_table(&self, group: u64) -> u64 {
        self.block_bitmap(group) + 2
    }

    /// The first block after the group's metadata.
    pub(super) fn data_start(&self, group: u64) -> u64 {
        self.inode_table(group) + self.table_blocks
    }

    pub(super) fn overhead(&self, group: u64) -> u64 {
        self.data_start(group) - self.start(group)
    }

    pub(super) fn inodes(&self) -> u64 {
        self.groups * self.inodes_per_group
    }
}

/// Consecutive blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Run {
    pub(super) start: u64,
    pub(super) len: u64,
}

/// Hands out data blocks in one forward sweep over the groups.
pub(super) struct Allocator<'g> {
    pub(super) geo: &'g Geometry,
    pub(super) group: u64,
    pub(super) next: u64,
    /// Blocks asked for beyond the end of the filesystem.
    pub(super) missing: u64,
}

impl Allocator<'_> {
    pub(super) fn take(&mut self, mut count: u64) -> Vec<Run> {
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
pub(super) struct Placed {
    pub(super) data: Vec<Run>,
    /// Indirect blocks (ext2) or extent tree blocks (ext4), in the order
    /// [`write_block_map`] fills them.
    pub(super) map: Vec<Run>,
}

/// A plan placed on a filesystem of a given size.
pub(super) struct Layout {
    pub(super) geo: Geometry,
    pub(super) placed: Vec<Placed>,
    /// Where the allocator stopped: the group, and the first free block in it.
    pub(super) end_group: u64,
    pub(super) end_block: u64,
}

impl Layout {
    /// Places `plan` on `blocks` blocks with `inodes`, or says how many blocks
    /// are missing.
    pub(super) fn new(plan: &Plan, blocks: u64, per_group: u64, inodes: Inodes) -> Result<Layout, u64> {
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
    pub(super) fn used_blocks(&self, group: u64) -> u64 {
        if group < self.end_group {
            self.geo.len(group)
        } else if group == self.end_group {
            self.end_block - self.geo.start(group)
        } else {
            self.geo.overhead(group)
        }
    }

    /// The inodes in use in a group, all at its start.
    pub(super) fn used_inodes(&self, plan: &Plan, group: u64) -> u64 {
        let before = group * self.geo.inodes_per_group;
        plan.last_ino().saturating_sub(before).min(self.geo.inodes_per_group)
    }
}

/// The fewest blocks `plan` fits in.
pub(super) fn min_blocks(plan: &Plan, per_group: u64) -> Result<u64> {
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
pub(super) fn default_layout(plan: &Plan, per_group: u64) -> Result<Layout> {
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
