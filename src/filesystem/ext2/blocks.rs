//! Writing file contents, directory blocks and block maps (ext2 indirect
//! blocks, ext4 extent trees) at the places the layout gave them.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};

use anyhow::{Context, Result, bail};
use bstr::ByteSlice;

use super::layout::{Layout, Placed, Run};
use super::plan::{Body, Plan};
use super::*;
use crate::model::fstree::COPY_BUFFER;

/// The blocks of a list of runs, by index.
pub(super) struct BlockList<'r> {
    pub(super) runs: &'r [Run],
    /// The index of each run's first block.
    pub(super) firsts: Vec<u64>,
}

impl<'r> BlockList<'r> {
    pub(super) fn new(runs: &'r [Run]) -> BlockList<'r> {
        let firsts = runs.iter().scan(0, |acc, r| Some(std::mem::replace(acc, *acc + r.len))).collect();
        BlockList { runs, firsts }
    }

    pub(super) fn nth(&self, index: u64) -> Result<u64> {
        let i = self.firsts.partition_point(|&first| first <= index);
        match i.checked_sub(1).and_then(|i| self.runs.get(i).map(|r| (r, self.firsts[i]))) {
            Some((run, first)) if index - first < run.len => Ok(run.start + index - first),
            _ => bail!("internal: block {index} is outside the blocks laid out"),
        }
    }
}

/// One of the indirect trees hanging off an ext2 inode.
pub(super) struct IndirectRoot {
    /// 1 = indirect, 2 = double, 3 = triple.
    pub(super) level: u32,
    /// The first logical block it maps, and how many.
    pub(super) first: u64,
    pub(super) count: u64,
}

/// The indirect trees a file of `blocks` data blocks uses.
pub(super) fn indirect_roots(blocks: u64) -> Vec<IndirectRoot> {
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
pub(super) fn indirect_tree_blocks(level: u32, count: u64) -> u64 {
    (1..level).map(|l| count.div_ceil(PTRS.pow(l))).sum::<u64>() + 1
}

/// How many extents the runs make.
pub(super) fn extent_count(runs: &[Run]) -> u64 {
    runs.iter().map(|r| r.len.div_ceil(EXTENT_MAX_LEN)).sum()
}

/// The output file, written through a buffer, with its position tracked so
/// that consecutive writes need no seek.
pub(super) struct PosWriter<'f> {
    pub(super) out: BufWriter<&'f mut File>,
    pub(super) pos: u64,
}

impl PosWriter<'_> {
    pub(super) fn seek_to(&mut self, pos: u64) -> io::Result<()> {
        if pos != self.pos {
            self.out.seek(SeekFrom::Start(pos))?;
            self.pos = pos;
        }
        Ok(())
    }

    pub(super) fn write_at(&mut self, pos: u64, bytes: &[u8]) -> Result<()> {
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
pub(super) struct RunSink<'a, 'f> {
    pub(super) out: &'a mut PosWriter<'f>,
    pub(super) runs: &'a [Run],
    pub(super) next_run: usize,
    pub(super) left: u64,
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
pub(super) fn write_contents(plan: &Plan, layout: &Layout, w: &mut PosWriter) -> Result<Vec<[u8; 60]>> {
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
pub(super) fn write_block_map(fs: FsType, blocks: u64, placed: &Placed, w: &mut PosWriter) -> Result<[u8; 60]> {
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
pub(super) fn extent_node(node: &mut [u8], depth: u16, max: usize, entries: &[(u64, [u8; 12])]) {
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
pub(super) fn write_indirect(
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
