//! `bimanix index`: combines single-platform images into one multi-platform
//! image index, then says where it went and the index digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::commands::{image_output, status};
use crate::image::archive::Format;
use crate::image::index;
use crate::image::output::Protected;
use crate::imageread::{self, Select};

/// What `index` is asked to do.
#[derive(Clone, Debug)]
pub struct Request {
    /// The images: archives or OCI layouts, one platform each.
    pub images: Vec<PathBuf>,
    /// Output path; `-` is standard output. Default: `<name>-<tag>.tar`, or
    /// `<name>-<tag>` for a layout.
    pub output: Option<String>,
    /// `OciArchive` or `OciLayout`.
    pub format: Format,
    /// The index's name; default: the name the images share.
    pub name: Option<String>,
    /// The index's tag; default: the tag the images share, else `latest`.
    pub tag: Option<String>,
    /// Annotations on the index itself.
    pub annotations: BTreeMap<String, String>,
}

/// Reads the images, checks them and writes the index.
pub fn run(request: &Request) -> Result<()> {
    crate::image::temp::remove_on_signals()?;
    let images = request.images.iter().map(|p| open_one(p)).collect::<Result<Vec<_>>>()?;
    let plan = index::plan(images, request.name.as_deref(), request.tag.as_deref(), request.annotations.clone())?;
    let inputs: Vec<Protected> =
        request.images.iter().map(|p| Protected { path: p.clone(), what: "an image".to_string() }).collect();
    let (out, shown) = image_output(request.output.as_deref(), (&plan.name, &plan.tag), request.format, &inputs)?;
    let written = index::write(&plan, request.format, &out)?;
    let platforms: Vec<String> = plan.members.iter().map(index::Member::platform).collect();
    let documents = match written.documents {
        0 => String::new(),
        1 => " with 1 attached document".to_string(),
        n => format!(" with {n} attached documents"),
    };
    status::status(&format!(
        "wrote {}:{} for {}{documents} to {shown} (index {})",
        plan.name,
        plan.tag,
        platforms.join(", "),
        written.index.digest
    ));
    Ok(())
}

/// Opens an image that must hold one platform.
fn open_one(path: &Path) -> Result<imageread::Image> {
    imageread::open(path, &Select::default())
        .with_context(|| format!("{}: give images of one platform each", path.display()))
}
