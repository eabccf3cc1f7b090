//! The size-independent part of an image: every inode with its number,
//! permissions, link count and content, and every directory's entry blocks.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use bstr::{BStr, ByteSlice};

use super::blocks::{extent_count, indirect_roots, indirect_tree_blocks};
use super::layout::Run;
use super::*;
use crate::model::fstree::{Content, DIR_MODE, Node, Tree};

/// What one inode holds.
pub(super) enum Body<'t> {
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
    pub(super) fn size(&self) -> u64 {
        match self {
            Body::Dir(blocks) => blocks.len() as u64,
            Body::File { size, .. } => *size,
            Body::FastLink(target) | Body::SlowLink(target) => target.len() as u64,
        }
    }

    pub(super) fn data_blocks(&self) -> u64 {
        match self {
            Body::FastLink(_) => 0,
            _ => self.size().div_ceil(BLOCK),
        }
    }

    pub(super) fn type_bits(&self) -> u32 {
        match self {
            Body::Dir(_) => S_IFDIR,
            Body::File { .. } => S_IFREG,
            Body::FastLink(_) | Body::SlowLink(_) => S_IFLNK,
        }
    }
}

/// One inode to write.
pub(super) struct PlannedInode<'t> {
    pub(super) ino: u32,
    pub(super) perm: u32,
    pub(super) links: u16,
    pub(super) body: Body<'t>,
}

/// The size-independent part of an image: every inode with its number and
/// content, in inode order (2, 11, 12, 13, ...).
pub(super) struct Plan<'t> {
    pub(super) fs: FsType,
    pub(super) inode_size: u64,
    pub(super) inodes: Vec<PlannedInode<'t>>,
}

/// A directory entry: name, inode and file type.
#[derive(Clone, Copy)]
pub(super) struct DirEntry<'t> {
    pub(super) name: &'t BStr,
    pub(super) ino: u32,
    pub(super) file_type: u8,
}

impl<'t> Plan<'t> {
    pub(super) fn new(tree: &'t Tree, fs: FsType) -> Result<Plan<'t>> {
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
        let links = tree.hard_links();
        let mut next = FIRST_INO + 1;
        for (path, node) in tree.iter() {
            let (parent, name) = split_parent(path);
            if name.len() > 255 || name.contains(&0) {
                bail!("/{path}: an ext file name is at most 255 bytes without NUL");
            }
            let ino = if path == "lost+found" {
                LOST_FOUND_INO
            } else if let Some(group) = links.of(node)
                && group[0] != path
            {
                // A hard link: the inode its group's first path got.
                inos[group[0]]
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
                Node::File { content, size, mode, .. } => {
                    if *size > MAX_FILE_SIZE {
                        bail!("/{path} is {size} bytes; files in an ext image are limited to 1 TiB here");
                    }
                    let count = links.of(node).map_or(1, <[_]>::len);
                    if links.of(node).is_some_and(|group| group[0] != path) {
                        continue; // planned at the group's first path
                    }
                    let max = match fs {
                        FsType::Ext2 => EXT2_LINK_MAX,
                        FsType::Ext4 => EXT4_LINK_MAX,
                    };
                    if count > max as usize {
                        bail!("/{path} has {count} hard links; an {fs:?} file has at most {max}");
                    }
                    (mode & 0o7777, count as u16, Body::File { content, size: *size, path })
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
    pub(super) fn last_ino(&self) -> u64 {
        self.inodes.last().map_or(u64::from(LOST_FOUND_INO), |i| u64::from(i.ino))
    }

    /// The blocks an inode needs for its block map besides its data blocks.
    pub(super) fn map_blocks(&self, data_blocks: u64, runs: &[Run]) -> u64 {
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
pub(super) fn dir_blocks(entries: &[DirEntry], min_blocks: u64) -> Vec<u8> {
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

/// A tree path's parent directory (`""` for the root) and last name.
pub(super) fn split_parent(path: &BStr) -> (&BStr, &BStr) {
    match path.rfind_byte(b'/') {
        Some(at) => (path[..at].as_bstr(), path[at + 1..].as_bstr()),
        None => (b"".as_bstr(), path),
    }
}
