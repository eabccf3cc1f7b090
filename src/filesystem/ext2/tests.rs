//! Images written and read back with e2fsck and debugfs.

use super::blocks::{indirect_roots, indirect_tree_blocks};
use super::layout::Geometry;
use super::*;
use crate::model::fstree::{Content, EXEC_MODE, FILE_MODE, Node};
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
    Node::File { content, size: size as u64, mode, link: None }
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
        tree.insert(&format!("many/file-with-a-longish-name-{i:04}"), inline(format!("{i}\n").as_bytes(), FILE_MODE))
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
    let on_path =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|c| c.is_file()));
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

    for (path, mode) in [("/bin/tool", "0755"), ("/etc/plain", "0644"), ("/etc/secret", "0600"), ("/a/b/other", "0750")]
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
            write(&tree, &Options { size: Some(min - BLOCK), ..options(fs_type) }, &image, BLOCKS_PER_GROUP).is_err()
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

/// `usr/bin/perl`, `usr/bin/perl5` and `zz` as one 1 MiB file, and
/// `usr/bin/other`, the same bytes with a link of its own.
fn linked_tree(shared: bool) -> Tree {
    let data = pattern(MIB, 7);
    let one = crate::model::fstree::Link::new();
    let mut tree = Tree::new();
    for path in ["usr/bin/perl", "usr/bin/perl5", "zz", "usr/bin/other"] {
        let link = (shared && path != "usr/bin/other").then_some(one);
        let node = Node::File { content: Content::Inline(data.clone()), size: MIB as u64, mode: EXEC_MODE, link };
        tree.insert(path, node).unwrap();
    }
    tree
}

#[test]
fn hard_links_are_one_inode_with_their_link_count() {
    let dir = tempfile::tempdir().unwrap();
    for fs_type in [FsType::Ext2, FsType::Ext4] {
        let image = dir.path().join(format!("{fs_type:?}.img"));
        write(&linked_tree(true), &options(fs_type), &image, BLOCKS_PER_GROUP).unwrap();
        fsck(&image, &[]);
        let perl = stat(&image, "/usr/bin/perl");
        assert_eq!(field(&perl, "Links:"), "3", "{perl}");
        for path in ["/usr/bin/perl5", "/zz"] {
            assert_eq!(stat(&image, path), perl, "{path} is not the inode of /usr/bin/perl");
        }
        let other = stat(&image, "/usr/bin/other");
        assert_eq!(field(&other, "Links:"), "1", "{other}");
        assert_ne!(field(&other, "Inode:"), field(&perl, "Inode:"));
        assert_eq!(debugfs(&image, "cat /zz"), pattern(MIB, 7));
        // Every inode up to the last one in use: the group took one number.
        let inodes = String::from_utf8(debugfs(&image, "ls -l /usr/bin")).unwrap();
        assert!(inodes.contains(&format!(" {} ", field(&perl, "Inode:"))), "{inodes}");
    }
}

#[test]
fn hard_links_store_the_data_once() {
    for fs_type in [FsType::Ext2, FsType::Ext4] {
        let (linked, copies) =
            (min_size(&linked_tree(true), fs_type).unwrap(), min_size(&linked_tree(false), fs_type).unwrap());
        // Two copies of 1 MiB (256 blocks) and their block maps fewer.
        assert!(copies - linked >= 2 * MIB as u64, "{fs_type:?}: {copies} bytes with copies, {linked} with links");
    }
    let a = dir_image(&linked_tree(true));
    assert_eq!(a, dir_image(&linked_tree(true)), "same links, same bytes");
    assert_ne!(a, dir_image(&linked_tree(false)), "links change the image");
}

fn dir_image(tree: &Tree) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("a.img");
    write(tree, &options(FsType::Ext4), &image, BLOCKS_PER_GROUP).unwrap();
    std::fs::read(image).unwrap()
}
