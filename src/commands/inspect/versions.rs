//! The compatibility table of `inspect`: how each known urunc version would
//! take the image under ctr, nerdctl and Kubernetes (accepted or not and
//! why, where it reads the keys from,
//! the guest's root filesystem and arguments, and whether those arguments
//! differ from the newest accepting version's), and the problems of the
//! targeted versions.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{Filesystem, JsonState, Problems};
use crate::imageread::Image;
use crate::rules::compat::{self, Guest, Options, Verdict};
use crate::rules::readers::{self, Consumer, Place, Places, Target};
use crate::rules::versions::{self, ImageKeys, SpecAnnotations, Version};

/// How one urunc version would take the image.
#[derive(Clone, Debug, Serialize)]
pub struct VersionReport {
    /// `0.5` ... `main`.
    pub version: String,
    /// The release date, or `unreleased`.
    pub released: String,
    /// Whether the version is one the image was checked for (`--urunc`).
    pub target: bool,
    /// Whether the version would run the image.
    pub accepted: bool,
    /// Why it would not.
    pub reasons: Vec<String>,
    /// Where the version reads the urunc keys from, when it finds them.
    pub config: Option<String>,
    /// How the version reads urunc keys given as runtime-spec annotations
    /// (pod annotations): `base64` or `plain`.
    pub spec_annotations: String,
    /// The guest's root filesystem: `initrd`, `block`, `mountRootfs`,
    /// `useDMBlock` or `none`.
    pub rootfs: Option<String>,
    /// Which file, device or share that is.
    pub rootfs_detail: Option<String>,
    /// Where the guest's arguments come from.
    pub arguments_from: Option<String>,
    /// The arguments, as words.
    pub arguments: Option<Vec<String>>,
    /// The `cmdline` string, when the guest gets it as it is.
    pub cmdline: Option<String>,
    /// Whether the guest gets other arguments than under the newest
    /// version that accepts the image.
    pub arguments_differ: bool,
}

/// What the guest gets besides urunc's keys: the image's Entrypoint, Cmd
/// and User.
pub(super) struct Run {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    user: Option<String>,
}

impl Run {
    pub(super) fn of(image: &Image) -> Run {
        let config = &image.config;
        Run {
            entrypoint: config.entrypoint.clone().unwrap_or_default(),
            cmd: config.cmd.clone().unwrap_or_default(),
            user: image
                .config_json
                .get("config")
                .and_then(|c| c.get("User"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// The guest with `keys` (short names, plain values).
    pub(super) fn guest<'a>(&'a self, image: &'a Image, keys: &'a BTreeMap<String, String>) -> Guest<'a> {
        Guest {
            keys,
            entrypoint: &self.entrypoint,
            cmd: &self.cmd,
            env: &image.config.env,
            working_dir: image.config.working_dir.as_deref(),
            user: self.user.as_deref(),
        }
    }
}

/// The table for every known version, as ctr, nerdctl and Kubernetes give
/// urunc the image (the consumer table shows the others), adding the
/// targeted versions' problems to `problems`.
pub(super) fn table(
    image: &Image,
    fs: &Filesystem,
    places: Places,
    target: Target,
    opts: &Options,
    problems: &mut Problems,
) -> Vec<VersionReport> {
    let run = Run::of(image);
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for version in versions::ALL {
        let is_target = opts.targets.contains(version);
        match keys_for(version, fs, places, target) {
            Ok((keys, source)) => {
                let verdict = compat::evaluate(version, &run.guest(image, &keys));
                rows.push(row(version, is_target, Some(&source), &verdict));
                verdicts.push(verdict);
            }
            Err(why) => {
                if is_target {
                    problems.error("versions", None, format!("urunc {version}: {why}"));
                }
                rows.push(unread(version, is_target, why));
            }
        }
    }
    let differs = compat::differs(&verdicts);
    for (verdict, differs) in verdicts.iter().zip(differs) {
        if let Some(row) = rows.iter_mut().find(|r| r.version == verdict.version.name()) {
            row.arguments_differ = differs;
        }
    }
    let targeted: Vec<Verdict> = verdicts.into_iter().filter(|v| opts.targets.contains(v.version)).collect();
    problems.extend("versions", compat::problems(&targeted, opts.pair_check));
    rows
}

/// The keys `version` takes from the image under ctr (as under nerdctl and
/// Kubernetes) and where they come from, or why it finds none (and runs
/// the container with runc).
fn keys_for(
    version: Version,
    fs: &Filesystem,
    places: Places,
    target: Target,
) -> Result<(BTreeMap<String, String>, String), String> {
    let resolved = readers::resolve(version, Consumer::Ctr, target, places);
    if !resolved.from.is_empty() {
        let mut from = resolved.from.clone();
        from.sort();
        let names: Vec<&str> = from.iter().map(|p| p.name()).collect();
        let source = if from == [Place::UruncJson] {
            "urunc.json".to_string()
        } else {
            format!("{} (ctr, nerdctl, Kubernetes; see the consumers)", names.join(" and "))
        };
        return Ok((resolved.keys, source));
    }
    let why = match &fs.json {
        JsonState::Ok(_) => "/urunc.json lacks unikernelType, hypervisor or binary",
        JsonState::Missing => "/urunc.json is missing",
        JsonState::Invalid(_) => "/urunc.json is invalid",
        JsonState::Unread => "the layers cannot be read",
    };
    let reads = if version.facts().image_keys != ImageKeys::ShimCopies {
        "reads the image only through /urunc.json (its shim passes no labels or manifest annotations), and"
    } else if target == Target::Index {
        "the labels lack unikernelType, hypervisor or binary (the tag names an index: no manifest annotations \
         reach the shim), and"
    } else {
        "the labels and manifest annotations lack unikernelType, hypervisor or binary, and"
    };
    Err(format!("{reads} {why}: it runs the container with runc"))
}

/// The row of a version that found its keys.
fn row(version: Version, target: bool, source: Option<&str>, verdict: &Verdict) -> VersionReport {
    let mut row = unread(version, target, String::new());
    row.config = source.map(str::to_string);
    row.reasons = verdict.rejected.clone();
    row.accepted = verdict.accepted();
    if row.accepted {
        let args = &verdict.arguments;
        row.rootfs = Some(verdict.rootfs.kind.to_string());
        row.rootfs_detail = Some(verdict.rootfs.detail.clone()).filter(|d| !d.is_empty());
        row.arguments_from = Some(args.from.to_string());
        row.arguments = Some(args.words.clone());
        row.cmdline = args.cmdline.clone();
    }
    row
}

/// The row of a version that finds no keys.
fn unread(version: Version, target: bool, why: String) -> VersionReport {
    let facts = version.facts();
    VersionReport {
        version: version.name().to_string(),
        released: facts.released.to_string(),
        target,
        accepted: false,
        reasons: vec![why],
        config: None,
        spec_annotations: match facts.spec_annotations {
            SpecAnnotations::Base64 => "base64",
            SpecAnnotations::Plain => "plain",
        }
        .to_string(),
        rootfs: None,
        rootfs_detail: None,
        arguments_from: None,
        arguments: None,
        cmdline: None,
        arguments_differ: false,
    }
}

impl VersionReport {
    /// One line for the text report.
    pub(super) fn line(&self) -> String {
        let name = format!("{}{}", self.version, if self.target { "*" } else { "" });
        if !self.accepted {
            return format!("{name:<6} rejected: {}", self.reasons.join("; "));
        }
        let rootfs = match (&self.rootfs, &self.rootfs_detail) {
            (Some(kind), Some(detail)) => format!("{kind} ({detail})"),
            (Some(kind), None) => kind.clone(),
            (None, _) => "-".to_string(),
        };
        let args = match (&self.cmdline, &self.arguments) {
            (Some(line), _) => format!("`{}`", line.escape_debug()),
            (None, Some(words)) => serde_json::to_string(words).unwrap_or_default(),
            (None, None) => "-".to_string(),
        };
        let from = self.arguments_from.as_deref().unwrap_or("-");
        let differ = if self.arguments_differ { "  <- other arguments than the newest version" } else { "" };
        let config = self.config.as_deref().unwrap_or("-");
        format!("{name:<6} accepted; keys from {config}; rootfs {rootfs}; arguments {args} from {from}{differ}")
    }
}
