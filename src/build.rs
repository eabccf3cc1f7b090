//! The build step after planning: generates a planned rootfs image, adds it
//! to the layer, and writes the archive.

use anyhow::Result;

use crate::archive::{self, Format, Output, Written};
use crate::plan::Plan;

/// Writes `plan` as an archive.
pub fn write(plan: &Plan, format: Format, out: &Output) -> Result<Written> {
    archive::write(plan, format, out)
}
