//! The write step after planning: generates a planned root filesystem image
//! (initrd or block), adds it to the layer, and writes the archive.
//!
//! The generated image, and the files taken from a base image on the way,
//! live in unnamed temporary files in TMPDIR, which vanish with the process
//! however it ends.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::image::archive::{self, Format, Written};
use crate::image::output::Output;
use crate::image::plan::{Plan, RootfsPlan};
use crate::imageread::Image;
use crate::model::fstree::{Content, FILE_MODE, Node, SharedFile, Tree};
use crate::model::progress::{self, Counted};
use crate::model::spec::{FsType, RootfsType};

/// Writes `plan` as an archive, generating its rootfs image first.
pub fn write(mut plan: Plan, format: Format, out: &Output) -> Result<Written> {
    check(&plan)?;
    generate_into(&mut plan)?;
    archive::write(&plan, format, out)
}

/// What must hold before any layer of `plan` is written: layer names that
/// are no whiteouts, a config consumers take.
pub fn check(plan: &Plan) -> Result<()> {
    plan.tree.check_layer_names().context("a file in the image layer")?;
    check_config_size(plan)
}

/// Generates the planned rootfs image, if any, into the layer's tree.
pub fn generate_into(plan: &mut Plan) -> Result<()> {
    if let Some(rootfs) = &plan.rootfs {
        let mtime =
            u32::try_from(plan.mtime).context("the creation time is past 2106, which ext2 and cpio cannot store")?;
        let file = generate(rootfs, mtime)?;
        let size = file.metadata()?.len();
        let content = Content::Range { file: SharedFile(Arc::new(file)), offset: 0 };
        plan.tree.insert(&rootfs.path, Node::File { content, size, mode: FILE_MODE, link: None })?;
    }
    Ok(())
}

/// Refuses a config that consumers would refuse: its size without the
/// layers' diff_ids, and room for each of them.
fn check_config_size(plan: &Plan) -> Result<()> {
    let layers = 1 + plan.artifacts.len() + plan.base.as_ref().map_or(0, |b| b.layers.len());
    let size = crate::model::oci::config(&plan.config, &[]).len() + layers * "\"sha256:\",".len() + layers * 64;
    if size > crate::model::oci::MAX_CONFIG {
        bail!(
            "the image config would be {size} bytes; containerd refuses configs over {} (shorten env, labels or \
             the arguments, or use a base image with less history)",
            crate::model::oci::MAX_CONFIG
        );
    }
    Ok(())
}

/// An unnamed temporary file in TMPDIR.
fn unnamed(what: &str) -> Result<File> {
    tempfile::tempfile().with_context(|| format!("cannot create a temporary file for {what} (check TMPDIR)"))
}

/// Writes the rootfs image to an unnamed temporary file.
fn generate(rootfs: &RootfsPlan, mtime: u32) -> Result<File> {
    let tree = match &rootfs.from_image {
        None => rootfs.tree.clone(),
        Some(path) => {
            let mut tree = flatten_base(path, &rootfs.architecture)?;
            tree.overlay(&rootfs.tree).context("putting rootfs.files over the base image")?;
            tree
        }
    };
    let mut tmp = unnamed("the rootfs")?;
    let what = || match rootfs.kind {
        RootfsType::Initrd => "generating the initrd".to_string(),
        RootfsType::Block => {
            let fs = if rootfs.fs_type == FsType::Ext2 { "ext2" } else { "ext4" };
            format!("generating the {fs} block image")
        }
    };
    let _step = progress::step(what, None, Counted::Output);
    match rootfs.kind {
        RootfsType::Initrd => {
            let out = crate::filesystem::cpio::write_newc(&tree, mtime, BufWriter::with_capacity(1 << 20, &mut tmp))
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
            crate::filesystem::ext2::write_image(&tree, &opts, &mut tmp).context("writing the block image")?;
        }
    }
    Ok(tmp)
}

/// Extracts the regular files of an image's flattened filesystem, one
/// after the other, into an unnamed temporary file, and returns the tree
/// that points into it.
fn flatten_base(path: &Path, architecture: &str) -> Result<Tree> {
    let image = Image::open_for(path, Some(architecture))?;
    let _step = progress::step(|| format!("extracting {}", path.display()), None, Counted::Output);
    let scratch = SharedFile(Arc::new(unnamed("the base image's files")?));
    let mut end = 0u64;
    let flat = image
        .flatten(&mut |_, reader, size| {
            let offset = end;
            let copied = io::copy(reader, &mut &*scratch.0)?;
            if copied != size {
                anyhow::bail!("holds {copied} bytes, but its header says {size}");
            }
            end += copied;
            Ok(Content::Range { file: scratch.clone(), offset })
        })
        .with_context(|| format!("flattening {}", path.display()))?;
    for skipped in &flat.skipped {
        eprintln!("bimanix: warning: rootfs.fromImage: left out {skipped} (device nodes and fifos are not copied)");
    }
    Ok(flat.tree)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::oci::ConfigFields;
    use std::collections::BTreeMap;

    fn plan(env: Vec<String>) -> Plan {
        Plan {
            name: "hello".into(),
            tag: "v1".into(),
            tree: Tree::new(),
            rootfs: None,
            config: ConfigFields {
                architecture: "amd64".into(),
                created: "1970-01-01T00:00:00Z".into(),
                entrypoint: None,
                cmd: None,
                env,
                working_dir: None,
                labels: BTreeMap::new(),
                base_history: Vec::new(),
            },
            annotations: BTreeMap::new(),
            mtime: 0,
            base: None,
            artifacts: Default::default(),
            layer_mode: Default::default(),
            compression: Default::default(),
            attach: Default::default(),
        }
    }

    #[test]
    fn a_config_consumers_would_refuse_is_refused() {
        check_config_size(&plan(vec!["A=1".into(); 1000])).unwrap();
        let err = check_config_size(&plan(vec![format!("A={}", "x".repeat(1000)); 5000])).unwrap_err().to_string();
        assert!(err.contains("containerd refuses configs over 4194304"), "{err}");
    }
}
