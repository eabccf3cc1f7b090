//! The write step after planning: generates a planned root filesystem image
//! (initrd or block), adds it to the layer, and writes the archive.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::image::archive::{self, Format, Written};
use crate::image::output::Output;
use crate::image::plan::{Plan, RootfsPlan};
use crate::imageread::Image;
use crate::model::fstree::{Content, FILE_MODE, Node, Tree};
use crate::model::spec::{FsType, RootfsType};

/// Writes `plan` as an archive, generating its rootfs image first.
pub fn write(mut plan: Plan, format: Format, out: &Output) -> Result<Written> {
    // Kept alive until the archive is written: the layer streams from it.
    let _generated = match &plan.rootfs {
        None => None,
        Some(rootfs) => {
            let mtime = u32::try_from(plan.mtime)
                .context("the creation time is past 2106, which ext2 and cpio cannot store")?;
            let file = generate(rootfs, mtime)?;
            let size = file.as_file().metadata()?.len();
            let content = Content::Host(file.path().to_path_buf());
            plan.tree.insert(&rootfs.path, Node::File { content, size, mode: FILE_MODE })?;
            Some(file)
        }
    };
    archive::write(&plan, format, out)
}

/// Writes the rootfs image to a temporary file.
fn generate(rootfs: &RootfsPlan, mtime: u32) -> Result<tempfile::NamedTempFile> {
    // The base image's files are extracted here; the tree points into it.
    let scratch =
        tempfile::Builder::new().prefix(".bimanix-base-").tempdir().context("cannot create a scratch directory")?;
    let tree = match &rootfs.from_image {
        None => rootfs.tree.clone(),
        Some(path) => {
            let mut tree = flatten_base(path, &rootfs.architecture, scratch.path())?;
            tree.overlay(&rootfs.tree).context("putting rootfs.files over the base image")?;
            tree
        }
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".bimanix-rootfs-")
        .tempfile()
        .context("cannot create a temporary file for the rootfs (check TMPDIR)")?;
    match rootfs.kind {
        RootfsType::Initrd => {
            let out =
                crate::filesystem::cpio::write_newc(&tree, mtime, BufWriter::with_capacity(1 << 20, tmp.as_file_mut()))
                    .context("writing the initrd")?;
            out.into_inner().map_err(|e| e.into_error()).context("writing the initrd")?.flush()?;
        }
        RootfsType::Block => {
            let opts = crate::filesystem::ext2::Options {
                fs_type: match rootfs.fs_type {
                    FsType::Ext2 => crate::filesystem::ext2::FsType::Ext2,
                    FsType::Ext4 => crate::filesystem::ext2::FsType::Ext4,
                },
                size: rootfs.size,
                mtime,
                label: None,
            };
            let file: &mut File = tmp.as_file_mut();
            crate::filesystem::ext2::write_image(&tree, &opts, file).context("writing the block image")?;
        }
    }
    Ok(tmp)
}

/// Extracts the flattened filesystem of an image into `scratch`, one file
/// per regular file, and returns the tree that points at them.
fn flatten_base(path: &Path, architecture: &str, scratch: &Path) -> Result<Tree> {
    let image = Image::open_for(path, Some(architecture))?;
    let mut count = 0u64;
    let flat = image
        .flatten(&mut |_, reader, _| {
            count += 1;
            let dest = scratch.join(count.to_string());
            let mut file = File::create(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
            io::copy(reader, &mut file)?;
            Ok(Content::Host(dest))
        })
        .with_context(|| format!("flattening {}", path.display()))?;
    for skipped in &flat.skipped {
        eprintln!("bimanix: warning: rootfs.fromImage: left out {skipped} (device nodes and fifos are not copied)");
    }
    Ok(flat.tree)
}
