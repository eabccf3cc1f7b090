//! The layer rule: which of the image's own files go into which layer.
//!
//! In `auto` mode each artifact gets a layer of its own: the `binary`, the
//! `initrd`, the `block` image and a generated rootfs (each when it is one
//! of the image's regular files), and any other regular file of
//! [`LARGE_FILE`] bytes or more. An artifact's layer holds the file and its
//! parent directories, with the modes the tree gives them, so each layer is
//! a valid tar on its own. Everything else (small files, directories,
//! symlinks, `/urunc.json`) goes into one top layer. The artifact layers
//! come first, sorted by path, then the top layer; base-image layers stay
//! below all of them. A change to anything but an artifact (annotations,
//! `cmd`, `env`, labels, a small file) therefore changes only the top layer,
//! and a rebuilt kernel leaves the rootfs layer's digest alone. The hard links
//! to an artifact share its layer, so that its data is there once.
//!
//! In `single` mode everything is in one layer, as bimanix wrote before.

use std::collections::BTreeSet;

use anyhow::Result;
use bstr::{BStr, ByteSlice};

use crate::model::fstree::{Node, Tree};
use crate::model::spec::LayerMode;

/// Regular files at least this large get a layer of their own.
pub const LARGE_FILE: u64 = 16 << 20;

/// Cuts `tree` into layers, lowest first. `artifacts` are the tree paths
/// that get a layer of their own whatever their size, when they are
/// regular files of the tree.
pub fn split(tree: &Tree, artifacts: &BTreeSet<String>, mode: LayerMode) -> Result<Vec<Tree>> {
    if mode == LayerMode::Single {
        return Ok(vec![tree.clone()]);
    }
    let own: BTreeSet<&BStr> = tree
        .iter()
        .filter(|(path, node)| match node {
            Node::File { size, .. } => *size >= LARGE_FILE || path.to_str().is_ok_and(|p| artifacts.contains(p)),
            _ => false,
        })
        .map(|(path, _)| path)
        .collect();
    let mut layers = Vec::with_capacity(own.len() + 1);
    let mut top = tree.clone();
    let links = tree.hard_links();
    let mut taken = BTreeSet::new();
    for path in &own {
        // Hard links to the file share its layer, so that the tar links them.
        let group = tree.get(*path).and_then(|node| links.of(node)).map_or_else(|| vec![*path], <[_]>::to_vec);
        if !taken.insert(group[0]) {
            continue;
        }
        layers.push(alone(tree, &group)?);
        for path in &group {
            top.remove(path);
        }
    }
    layers.push(top);
    Ok(layers)
}

/// A tree holding `paths` of `tree` and their parent directories.
fn alone(tree: &Tree, paths: &[&BStr]) -> Result<Tree> {
    let mut layer = Tree::new();
    for path in paths {
        for (i, _) in path.iter().enumerate().filter(|(_, b)| **b == b'/') {
            let parent = &path[..i];
            if let Some(node) = tree.get(parent) {
                layer.replace(parent, node.clone())?;
            }
        }
        if let Some(node) = tree.get(path) {
            layer.insert(path, node.clone())?;
        }
    }
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fstree::Content;

    fn file(size: u64, mode: u32) -> Node {
        Node::File { content: Content::Inline(vec![0; size as usize]), size, mode, link: None }
    }

    fn paths(tree: &Tree) -> Vec<(String, Option<u32>)> {
        tree.iter()
            .map(|(p, n)| {
                let mode = match n {
                    Node::Dir { mode } | Node::File { mode, .. } => Some(*mode),
                    Node::Symlink { .. } => None,
                };
                (p.to_string(), mode)
            })
            .collect()
    }

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.insert("boot", Node::Dir { mode: 0o700 }).unwrap();
        t.insert("boot/kernel", file(10, 0o755)).unwrap();
        t.insert("data/big/disk.img", file(LARGE_FILE, 0o644)).unwrap();
        t.insert("data/small", file(LARGE_FILE - 1, 0o644)).unwrap();
        t.insert("etc/link", Node::Symlink { target: "../boot/kernel".into() }).unwrap();
        t.insert("urunc.json", file(3, 0o644)).unwrap();
        t.insert("zz/initrd", file(5, 0o644)).unwrap();
        t
    }

    #[test]
    fn artifacts_and_large_files_get_own_layers_sorted_by_path_then_the_top() {
        let artifacts: BTreeSet<String> = ["zz/initrd", "boot/kernel", "etc/link", "missing"].map(String::from).into();
        let layers = split(&sample(), &artifacts, LayerMode::Auto).unwrap();
        assert_eq!(layers.len(), 4);
        assert_eq!(paths(&layers[0]), [("boot".into(), Some(0o700)), ("boot/kernel".into(), Some(0o755))]);
        assert_eq!(
            paths(&layers[1]),
            [("data".into(), Some(0o755)), ("data/big".into(), Some(0o755)), ("data/big/disk.img".into(), Some(0o644))]
        );
        assert_eq!(paths(&layers[2]), [("zz".into(), Some(0o755)), ("zz/initrd".into(), Some(0o644))]);
        let top: Vec<String> = paths(&layers[3]).into_iter().map(|(p, _)| p).collect();
        assert_eq!(top, ["boot", "data", "data/big", "data/small", "etc", "etc/link", "urunc.json", "zz"]);
    }

    #[test]
    fn the_layers_together_are_the_tree() {
        let tree = sample();
        let artifacts: BTreeSet<String> = ["boot/kernel".to_string()].into();
        let mut merged = Tree::new();
        for layer in split(&tree, &artifacts, LayerMode::Auto).unwrap() {
            merged.overlay(&layer).unwrap();
        }
        assert_eq!(merged, tree);
    }

    #[test]
    fn single_is_the_whole_tree() {
        let tree = sample();
        let artifacts: BTreeSet<String> = ["boot/kernel".to_string()].into();
        assert_eq!(split(&tree, &artifacts, LayerMode::Single).unwrap(), vec![tree]);
    }

    #[test]
    fn without_artifacts_or_large_files_there_is_one_layer() {
        let mut tree = Tree::new();
        tree.insert("urunc.json", file(3, 0o644)).unwrap();
        assert_eq!(split(&tree, &BTreeSet::new(), LayerMode::Auto).unwrap(), vec![tree]);
    }

    #[test]
    fn hard_links_to_an_artifact_share_its_layer() {
        let mut tree = sample();
        let link = crate::model::fstree::Link::new();
        let big = Node::File { content: Content::Inline(Vec::new()), size: LARGE_FILE, mode: 0o755, link: Some(link) };
        tree.replace("data/big/disk.img", big.clone()).unwrap();
        tree.insert("etc/disk.img", big).unwrap();
        let layers = split(&tree, &BTreeSet::new(), LayerMode::Auto).unwrap();
        assert_eq!(layers.len(), 2);
        let first: Vec<String> = paths(&layers[0]).into_iter().map(|(p, _)| p).collect();
        assert_eq!(first, ["data", "data/big", "data/big/disk.img", "etc", "etc/disk.img"]);
        assert!(layers[1].get("etc/disk.img").is_none());
    }
}
