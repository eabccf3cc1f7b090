//! Inspecting an archive that holds several images, such as a
//! multi-platform image index: each image is inspected on its own, and two
//! images of one name for the same platform are an error, since a runtime
//! would pick either.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use super::{ProblemReport, Report, inspect_image};
use crate::imageread::{self, Select};
use crate::rules::compat::Options;

/// What `inspect` found: one image, or each image of an archive that holds
/// several.
#[derive(Clone, Debug)]
pub enum Inspected {
    /// The archive holds one image, or `--platform` chose one.
    One(Box<Report>),
    /// The archive holds several images.
    Many(ManyReport),
}

impl Inspected {
    /// False when an image is broken, urunc would reject one, or the
    /// archive lists two images of one name for one platform.
    pub fn ok(&self) -> bool {
        match self {
            Inspected::One(report) => report.ok(),
            Inspected::Many(many) => many.ok(),
        }
    }
}

/// The images of an archive that holds several.
#[derive(Clone, Debug, Serialize)]
pub struct ManyReport {
    /// The archive or directory inspected.
    pub path: String,
    /// `oci-archive`, `oci-dir`, ...
    pub format: String,
    /// Each image's `os/architecture[/variant]`, in the archive's order.
    pub platforms: Vec<String>,
    /// Each image's report, in the archive's order.
    pub images: Vec<Report>,
    /// Problems of the archive as a whole.
    pub problems: Vec<ProblemReport>,
}

impl ManyReport {
    /// False when any image is not ok or the archive has an error.
    pub fn ok(&self) -> bool {
        self.images.iter().all(Report::ok) && !self.problems.iter().any(|p| p.severity == "error")
    }
}

/// Inspects the image at `path`: the one for `platform` when given, else
/// every image the archive holds.
pub fn inspect_path(path: &Path, opts: &Options, platform: Option<&str>) -> Result<Inspected> {
    if let Some(platform) = platform {
        let image = imageread::open(path, &Select { platform: Some(platform.to_string()), tag: None })?;
        return Ok(Inspected::One(Box::new(inspect_image(&image, opts)?)));
    }
    let images = imageread::open_all(path)?;
    let mut reports = images.iter().map(|image| inspect_image(image, opts)).collect::<Result<Vec<_>>>()?;
    if reports.len() == 1 {
        return Ok(Inspected::One(Box::new(reports.remove(0))));
    }
    let format = images.first().map(|i| i.format.name().to_string()).unwrap_or_default();
    Ok(Inspected::Many(ManyReport {
        path: path.display().to_string(),
        format,
        platforms: reports.iter().map(|r| r.platform.clone()).collect(),
        problems: duplicates(&reports),
        images: reports,
    }))
}

/// An error for each platform that two images of one name share.
fn duplicates(reports: &[Report]) -> Vec<ProblemReport> {
    let mut seen: BTreeMap<(Option<&str>, &str), usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, report) in reports.iter().enumerate() {
        let key = (report.tags.first().map(String::as_str), report.platform.as_str());
        if let Some(first) = seen.insert(key, i) {
            problems.push(ProblemReport {
                severity: "error".to_string(),
                source: "index".to_string(),
                key: None,
                message: format!(
                    "images {} and {} are both {} for {}; a runtime would pick either",
                    first + 1,
                    i + 1,
                    key.0.unwrap_or("unnamed"),
                    report.platform
                ),
            });
        }
    }
    problems
}
