//! The inspect report as text for people and as JSON for programs.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Inspected, ManyReport, Report};

/// The report as JSON: an object with sorted keys and an `ok` field,
/// pretty-printed, ending in a newline.
pub fn render_json(report: &Report) -> String {
    let mut value = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("ok".to_string(), Value::Bool(report.ok()));
    }
    let value = sort_keys(value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// What `inspect` found, as JSON (`json`) or as text.
pub fn render_inspected(inspected: &Inspected, json: bool) -> String {
    match (inspected, json) {
        (Inspected::One(report), true) => render_json(report),
        (Inspected::One(report), false) => render_text(report),
        (Inspected::Many(many), true) => many_json(many),
        (Inspected::Many(many), false) => many_text(many),
    }
}

/// Several images as JSON: the archive's fields, each image's report and
/// an `ok` field for the whole.
fn many_json(many: &ManyReport) -> String {
    let mut value = serde_json::to_value(many).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("ok".to_string(), Value::Bool(many.ok()));
        if let Some(Value::Array(images)) = map.get_mut("images") {
            for (image, report) in images.iter_mut().zip(&many.images) {
                if let Value::Object(fields) = image {
                    fields.insert("ok".to_string(), Value::Bool(report.ok()));
                }
            }
        }
    }
    let mut text = serde_json::to_string_pretty(&sort_keys(value)).unwrap_or_default();
    text.push('\n');
    text
}

/// Several images as text: a heading, each image's report, the problems of
/// the whole.
fn many_text(many: &ManyReport) -> String {
    let mut out = String::new();
    out.push_str(&format!("{:<11} {}\n", "archive:", many.path));
    out.push_str(&format!("{:<11} {}\n", "format:", many.format));
    out.push_str(&format!("{:<11} {}: {}\n", "images:", many.images.len(), many.platforms.join(", ")));
    for (i, report) in many.images.iter().enumerate() {
        out.push_str(&format!("\n== image {} of {}: {}\n", i + 1, many.images.len(), report.platform));
        out.push_str(&render_text(report));
    }
    out.push('\n');
    section(
        &mut out,
        "archive problems",
        many.problems.iter().map(|p| format!("{} [{}] {}", p.severity, p.source, p.message)),
    );
    let failed = many.images.iter().filter(|r| !r.ok()).count();
    out.push_str(&format!(
        "{:<11} {} ({} of {} images not ok)\n",
        "result:",
        if many.ok() { "ok" } else { "NOT OK" },
        failed,
        many.images.len()
    ));
    out
}

/// The report as text for people.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    summary_text(&mut out, report);
    keys_text(&mut out, report);
    contents_text(&mut out, report);
    verdict_text(&mut out, report);
    out
}

/// The archive, the digests and the config's run settings, one per line.
fn summary_text(out: &mut String, report: &Report) {
    let compressed = match report.archive_compression.as_str() {
        "none" => String::new(),
        other => format!(" ({other}-compressed)"),
    };
    let mut fields = vec![
        ("image:", report.path.clone()),
        ("format:", format!("{}{compressed}", report.format)),
        ("tags:", or_none(&report.tags.join(" "))),
    ];
    if let Some(digest) = &report.manifest_digest {
        fields.push(("manifest:", digest.clone()));
    }
    fields.extend([
        ("config:", report.config_digest.clone()),
        ("platform:", report.platform.clone()),
        ("created:", or_none(report.created.as_deref().unwrap_or_default())),
        ("entrypoint:", list(&report.entrypoint)),
        ("cmd:", list(&report.cmd)),
        ("workdir:", or_none(report.working_dir.as_deref().unwrap_or_default())),
    ]);
    for (label, value) in fields {
        out.push_str(&format!("{label:<11} {value}\n"));
    }
}

/// The env, the labels and annotations, urunc's keys and the binary's
/// architecture.
fn keys_text(out: &mut String, report: &Report) {
    section(out, "env", report.env.iter().map(String::to_string));
    section(out, "labels", pairs(&report.labels));
    section(out, "manifest annotations", pairs(&report.manifest_annotations));
    section(
        out,
        "attached documents",
        report.attached.iter().map(|a| {
            let state = if a.ok { "subject ok" } else { "see problems" };
            format!(
                "{} {} (in {}, {state})
     {}",
                a.artifact_type,
                a.digest,
                a.found,
                a.blobs.join(
                    "
     "
                )
            )
        }),
    );
    let json_title = format!("urunc.json ({})", report.urunc_json.status);
    section(out, &json_title, pairs(&report.urunc_json.values));
    let effective_title = format!("urunc keys in effect (from {})", report.effective_source);
    section(out, &effective_title, pairs(&report.effective));
    out.push_str(&format!(
        "binary architecture: {}\n",
        report.binary_architecture.as_deref().unwrap_or("(not recognised)")
    ));
}

/// The layers and the files they hold.
fn contents_text(out: &mut String, report: &Report) {
    section(
        out,
        "layers",
        report.layers.iter().enumerate().map(|(i, layer)| {
            let entries = layer.entries.map_or("?".to_string(), |n| n.to_string());
            format!(
                "{}. {} ({} bytes, compression {}, {entries} entries)\n     diff_id {}\n     holds {}",
                i + 1,
                layer.digest.as_deref().unwrap_or("(no digest)"),
                layer.size,
                layer.compression,
                layer.diff_id,
                holds(&layer.files)
            )
        }),
    );
    section(
        out,
        "files",
        report.files.iter().map(|f| {
            let size = f.size.map_or("-".to_string(), |s| s.to_string());
            let target = f.target.as_ref().map_or(String::new(), |t| format!(" -> {t}"));
            format!("{:<7} {} {size:>10}  L{:<2} {}{target}", f.kind, f.mode, f.layer, printable(&f.path))
        }),
    );
    if report.files_omitted > 0 {
        out.push_str(&format!(
            "  ... and {} more (the first {} are listed)\n",
            report.files_omitted,
            report.files.len()
        ));
    }
    if !report.skipped.is_empty() {
        section(out, "skipped", report.skipped.iter().map(String::to_string));
    }
}

/// The digest check, the problems, the urunc versions, the consumers and
/// the result.
fn verdict_text(out: &mut String, report: &Report) {
    out.push_str(&format!(
        "{:<11} {}\n",
        "digests:",
        if report.digests_ok { "all match" } else { "MISMATCH (see problems)" }
    ));
    section(
        out,
        "problems",
        report.problems.iter().map(|p| {
            let key = p.key.as_ref().map_or(String::new(), |k| format!(" {k}:"));
            format!("{} [{}]{key} {}", p.severity, p.source, p.message)
        }),
    );
    let title = format!("urunc versions (* = targeted: {})", report.targets);
    section(out, &title, report.compatibility.iter().map(|row| row.line()));
    let title = match report.tag_names.as_str() {
        "index" => "urunc keys by consumer (the tag names an index: no manifest annotations reach a 0.8 shim)",
        _ => "urunc keys by consumer (the tag names a manifest)",
    };
    section(out, title, super::consumers::lines(&report.consumers).into_iter());
    let count = |severity: &str| report.problems.iter().filter(|p| p.severity == severity).count();
    out.push_str(&format!(
        "{:<11} {} ({} errors, {} warnings)\n",
        "result:",
        if report.ok() { "ok" } else { "NOT OK" },
        count("error"),
        count("warning")
    ));
}

/// The files a layer provides, the first few by name.
fn holds(files: &[String]) -> String {
    const SHOWN: usize = 3;
    let names: Vec<String> = files.iter().take(SHOWN).map(|f| printable(f)).collect();
    match files.len() {
        0 => "no files (directories only, or all replaced by higher layers)".to_string(),
        n if n <= SHOWN => names.join(", "),
        n => format!("{} and {} more", names.join(", "), n - SHOWN),
    }
}

fn or_none(text: &str) -> String {
    if text.is_empty() { "(none)".to_string() } else { text.to_string() }
}

fn list(items: &Option<Vec<String>>) -> String {
    match items {
        None => "(none)".to_string(),
        Some(items) => serde_json::to_string(items).unwrap_or_default(),
    }
}

fn pairs(map: &BTreeMap<String, String>) -> impl Iterator<Item = String> + '_ {
    map.iter().map(|(k, v)| format!("{}={}", printable(k), printable(v)))
}

/// `text` with control characters escaped, so that one value stays on one line.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_debug().to_string() } else { c.to_string() }).collect()
}

fn section(out: &mut String, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        out.push_str(&format!("{title}: (none)\n"));
        return;
    }
    out.push_str(&format!("{title}:\n"));
    for item in items {
        out.push_str(&format!("  {item}\n"));
    }
}

/// Rebuilds every object with its keys in sorted order, whatever order
/// serde_json's map keeps.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> = map.into_iter().map(|(k, v)| (k, sort_keys(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Checks.
