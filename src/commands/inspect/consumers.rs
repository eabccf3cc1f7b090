//! The consumer table of `inspect`: for each urunc version and each
//! consumer (Docker, Docker with the containerd image store, nerdctl, ctr,
//! Kubernetes), which of the image's places for urunc keys it reads, which
//! it takes, the keys it ends with and whether it would run the image with
//! them; and the messages built from it: who takes which value where the
//! places disagree, and whether an index's Labels are complete.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Problems;
use super::versions::Run;
use crate::imageread::Image;
use crate::model::urunc;
use crate::rules::compat::{self, Options};
use crate::rules::readers::{self, CONSUMERS, Consumer, Place, Places, REQUIRED, Target};
use crate::rules::versions::{self, ALL, Version};

/// How one consumer's urunc of one version would take the image.
#[derive(Clone, Debug, Serialize)]
pub struct ConsumerReport {
    /// `0.5` ... `main`.
    pub version: String,
    /// `docker`, `docker-containerd`, `nerdctl`, `ctr` or `kubernetes`.
    pub consumer: String,
    /// Whether the version is one the image was checked for (`--urunc`).
    pub target: bool,
    /// The places it reads, highest first: `manifest annotations` (they
    /// win key by key), `labels`, then `urunc.json` (taken whole, only when
    /// the others lack unikernelType, hypervisor or binary).
    pub reads: Vec<String>,
    /// The places its keys come from; empty when it finds none and runs the
    /// container with runc.
    pub uses: Vec<String>,
    /// The keys it takes (full names, plain values).
    pub keys: BTreeMap<String, String>,
    /// Whether it would run the image with them.
    pub accepted: bool,
    /// Why it would not.
    pub reasons: Vec<String>,
    /// Values elsewhere in the image that it does not take.
    pub ignored: Vec<Ignored>,
}

/// A value of the image that a consumer's urunc does not take.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// urunc's short key.
    pub key: String,
    /// `labels`, `manifest annotations` or `urunc.json`.
    pub place: String,
    /// The value there.
    pub value: String,
    /// The value it takes instead, when it takes one.
    pub used: Option<String>,
}

impl ConsumerReport {
    /// What decides the line it shares with other consumers in the text.
    fn outcome(&self) -> impl PartialEq + '_ {
        (&self.reads, &self.uses, &self.keys, self.accepted, &self.reasons, &self.ignored)
    }
}

/// The table, every version (oldest first) by every consumer.
pub(super) fn table(image: &Image, places: Places, target: Target, opts: &Options) -> Vec<ConsumerReport> {
    let run = Run::of(image);
    let mut rows = Vec::new();
    for version in ALL {
        for consumer in CONSUMERS {
            let resolved = readers::resolve(version, consumer, target, places);
            let (accepted, reasons) = if resolved.from.is_empty() {
                (
                    false,
                    vec![format!(
                        "finds no {} with unikernelType, hypervisor and binary: runs runc",
                        reads_text(version, consumer, target)
                    )],
                )
            } else {
                let verdict = compat::evaluate(version, &run.guest(image, &resolved.keys));
                (verdict.accepted(), verdict.rejected)
            };
            rows.push(ConsumerReport {
                version: version.name().to_string(),
                consumer: consumer.id().to_string(),
                target: opts.targets.contains(version),
                reads: readers::reads(version, consumer, target).iter().map(|p| p.name().to_string()).collect(),
                uses: resolved.from.iter().map(|p| p.name().to_string()).collect(),
                keys: urunc::labels(&resolved.keys),
                accepted,
                reasons,
                ignored: ignored(places, &resolved),
            });
        }
    }
    rows
}

/// `labels, manifest annotations or urunc.json` as a sentence.
fn reads_text(version: Version, consumer: Consumer, target: Target) -> String {
    let names: Vec<&str> = readers::reads(version, consumer, target).iter().map(|p| p.name()).collect();
    match names.as_slice() {
        [one] => one.to_string(),
        [first @ .., last] => format!("{} or {last}", first.join(", ")),
        [] => "place".to_string(),
    }
}

/// The values of the other places (or of the lower one among the shim's)
/// that differ from the keys taken.
fn ignored(places: Places, resolved: &readers::Resolved) -> Vec<Ignored> {
    let mut out = Vec::new();
    let mut look = |place: Place, keys: &BTreeMap<String, String>| {
        for (key, value) in keys {
            let used = resolved.keys.get(key);
            if used != Some(value) {
                out.push(Ignored {
                    key: key.clone(),
                    place: place.name().to_string(),
                    value: value.clone(),
                    used: used.cloned(),
                });
            }
        }
    };
    look(Place::Annotations, places.annotations);
    look(Place::Labels, places.labels);
    if let Some(json) = places.urunc_json {
        look(Place::UruncJson, json);
    }
    out
}

/// The text lines: per version, the consumers that fare alike share one.
pub(super) fn lines(rows: &[ConsumerReport]) -> Vec<String> {
    let mut out = Vec::new();
    for version in ALL {
        let of_version: Vec<&ConsumerReport> = rows.iter().filter(|r| r.version == version.name()).collect();
        let mut groups: Vec<Vec<&ConsumerReport>> = Vec::new();
        for row in of_version {
            match groups.iter_mut().find(|g| g[0].outcome() == row.outcome()) {
                Some(group) => group.push(row),
                None => groups.push(vec![row]),
            }
        }
        for group in groups {
            out.push(line(&group));
        }
    }
    out
}

/// One line for consumers that fare alike.
fn line(group: &[&ConsumerReport]) -> String {
    let first = group[0];
    let name = format!("{}{}", first.version, if first.target { "*" } else { "" });
    let who = if group.len() == CONSUMERS.len() {
        "every consumer".to_string()
    } else {
        group.iter().map(|r| consumer_name(&r.consumer)).collect::<Vec<_>>().join(", ")
    };
    let uses = if first.uses.is_empty() { "nothing".to_string() } else { and(&first.uses) };
    let verdict =
        if first.accepted { "accepted".to_string() } else { format!("rejected: {}", first.reasons.join("; ")) };
    let ignored = if first.ignored.is_empty() {
        String::new()
    } else {
        let shown: Vec<String> =
            first.ignored.iter().map(|i| format!("{} {}=`{}`", i.place, i.key, i.value.escape_debug())).collect();
        format!("; ignores {}", shown.join(", "))
    };
    format!("{name:<6} {who}: reads {} -> keys from {uses}; {verdict}{ignored}", first.reads.join(" > "))
}

fn consumer_name(id: &str) -> &'static str {
    CONSUMERS.iter().find(|c| c.id() == id).map_or("?", |c| c.name())
}

/// `a`, `a and b`, `a, b and c`.
fn and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [first @ .., last] => format!("{} and {last}", first.join(", ")),
    }
}

/// Who takes which value of `key` (a short key): `` `a` under every
/// consumer on urunc 0.5-0.7 and Docker on urunc 0.8-main; `b` under ... ``.
/// Consumers that take no keys at all are left out.
pub(super) fn who_takes(rows: &[ConsumerReport], key: &str) -> String {
    let full = urunc::full_key(key);
    let mut by_value: Vec<(Option<&String>, Vec<&ConsumerReport>)> = Vec::new();
    for row in rows.iter().filter(|r| !r.uses.is_empty()) {
        let value = row.keys.get(&full);
        match by_value.iter_mut().find(|(v, _)| *v == value) {
            Some((_, cells)) => cells.push(row),
            None => by_value.push((value, vec![row])),
        }
    }
    let parts: Vec<String> = by_value
        .iter()
        .map(|(value, cells)| {
            let shown = value.map_or("unset".to_string(), |v| format!("`{}`", v.escape_debug()));
            format!("{shown} under {}", cells_text(cells))
        })
        .collect();
    format!("urunc takes {}", parts.join("; "))
}

/// `every consumer on urunc 0.5-0.7 and Docker on urunc 0.8-main`: first
/// the versions every consumer shares, then the rest by consumer.
fn cells_text(cells: &[&ConsumerReport]) -> String {
    let has =
        |consumer: Consumer, v: Version| cells.iter().any(|c| c.consumer == consumer.id() && c.version == v.name());
    let everyone: Vec<Version> = ALL.iter().copied().filter(|&v| CONSUMERS.iter().all(|&c| has(c, v))).collect();
    let mut parts = Vec::new();
    if !everyone.is_empty() {
        parts.push(format!("every consumer on urunc {}", versions::names(&everyone)));
    }
    let mut by_versions: Vec<(Vec<Version>, Vec<String>)> = Vec::new();
    for consumer in CONSUMERS {
        let versions: Vec<Version> =
            ALL.iter().copied().filter(|&v| has(consumer, v) && !everyone.contains(&v)).collect();
        if versions.is_empty() {
            continue;
        }
        match by_versions.iter_mut().find(|(vs, _)| *vs == versions) {
            Some((_, consumers)) => consumers.push(consumer.name().to_string()),
            None => by_versions.push((versions, vec![consumer.name().to_string()])),
        }
    }
    parts.extend(
        by_versions.iter().map(|(vs, consumers)| format!("{} on urunc {}", and(consumers), versions::names(vs))),
    );
    and(&parts)
}

/// Errors where `/urunc.json` and the labels/annotations disagree, warnings
/// where the labels and the annotations do, each saying who takes which.
pub(super) fn disagreements(
    places: Places,
    merged: &BTreeMap<String, String>,
    rows: &[ConsumerReport],
    problems: &mut Problems,
) {
    for (key, label) in places.labels {
        if let Some(annotation) = places.annotations.get(key)
            && annotation != label
        {
            problems.warning(
                "annotations",
                urunc::short_key(key),
                format!(
                    "the config label is `{}` but the manifest annotation is `{}`; {}",
                    label.escape_debug(),
                    annotation.escape_debug(),
                    who_takes(rows, key)
                ),
            );
        }
    }
    let Some(json) = places.urunc_json else { return };
    if merged.is_empty() {
        return;
    }
    let keys: std::collections::BTreeSet<&String> = merged.keys().chain(json.keys()).collect();
    let shown = |value: Option<&String>| value.map_or("unset".to_string(), |v| format!("`{}`", v.escape_debug()));
    for key in keys {
        let (a, b) = (merged.get(key), json.get(key));
        if a != b {
            problems.error(
                "urunc.json",
                urunc::short_key(key),
                format!(
                    "urunc.json says {} but the labels/annotations say {}; {}",
                    shown(b),
                    shown(a),
                    who_takes(rows, key)
                ),
            );
        }
    }
}

/// For one platform of an index: a urunc 0.8 shim reads no manifest
/// annotations then, only the Labels ctr, nerdctl and Kubernetes copy
/// from the config. A problem naming the keys the Labels lack, an error
/// when a targeted version would then boot with other keys than the image
/// means. Nothing for an image that carries its keys in `/urunc.json` alone.
pub(super) fn index_labels(places: Places, rows: &[ConsumerReport], problems: &mut Problems) {
    if places.labels.is_empty() && places.annotations.is_empty() {
        // An image of urunc.json alone: every consumer reads it alike.
        return;
    }
    let meant = readers::resolve(Version::V0_8, Consumer::Ctr, Target::Manifest, places);
    let mut needed: Vec<&String> = meant.keys.keys().collect();
    if let Some(json) = places.urunc_json {
        needed.extend(json.keys().filter(|k| !meant.keys.contains_key(*k)));
    }
    let missing: Vec<String> =
        needed.into_iter().filter(|k| !places.labels.contains_key(*k)).map(|k| format!("`{k}`")).collect();
    if missing.is_empty() {
        return;
    }
    let labelled = readers::complete(places.labels);
    let then = if labelled {
        "urunc takes the Labels alone and goes without the others".to_string()
    } else {
        let required: Vec<String> =
            REQUIRED.iter().filter(|k| !places.labels.contains_key(**k)).map(|k| format!("`{k}`")).collect();
        let json_ok = places.urunc_json.is_some_and(readers::complete);
        let fallback = if json_ok { "falls back to /urunc.json" } else { "runs the container with runc" };
        format!("without {} urunc {fallback}", and(&required))
    };
    let differs = rows.iter().any(|r| {
        r.target
            && r.consumer == Consumer::Ctr.id()
            && Version::parse(&r.version).is_ok_and(|v| v >= Version::V0_8)
            && (r.keys != urunc::labels(&meant.keys) || !r.accepted)
    });
    let where_from =
        if places.annotations.is_empty() { "urunc.json" } else { "the manifest annotations or urunc.json" };
    let message = format!(
        "the tag names an image index: urunc 0.8-main's shim then reads no manifest annotations, only the \
         container's labels, which ctr, nerdctl and Kubernetes copy from the config Labels; the Labels lack {} \
         (set in {where_from}), so {then}",
        and(&missing)
    );
    if differs {
        problems.error("index", None, message);
    } else {
        problems.warning("index", None, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_well() {
        assert_eq!(and(&[]), "");
        assert_eq!(and(&["a".into()]), "a");
        assert_eq!(and(&["a".into(), "b".into(), "c".into()]), "a, b and c");
        assert_eq!(reads_text(Version::V0_7, Consumer::Ctr, Target::Manifest), "urunc.json");
        assert_eq!(
            reads_text(Version::V0_8, Consumer::Ctr, Target::Manifest),
            "manifest annotations, labels or urunc.json"
        );
    }
}
