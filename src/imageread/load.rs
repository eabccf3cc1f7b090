//! Choosing one image (by tag and platform, through nested indexes) and
//! loading its manifest, config and layer list, for OCI layouts and for
//! docker-archives.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::{
    BlobCheck, Compression, Descriptor, DockerManifestEntry, Format, IndexJson, Layer, Loaded, MAX_INDEX_DEPTH,
    MAX_INDEX_ENTRIES, MAX_LAYERS, ManifestJson, Platform, Source, archive_path, blob_name, digest_of_name, join_clean,
    names_of, parse_config, same_reference,
};
use crate::model::oci::sha256_digest;

/// A manifest an OCI index leads to.
pub(super) struct Candidate {
    pub(super) names: Vec<String>,
    pub(super) manifest: Descriptor,
    /// Nested indexes on the way, for `verify`.
    pub(super) parents: Vec<BlobCheck>,
    pub(super) platform: Option<Platform>,
}

impl Candidate {
    pub(super) fn describe(&self) -> String {
        let platform = self.platform.as_ref().map_or("?".to_string(), Platform::to_string);
        match self.names.first() {
            Some(name) => format!("{name} ({platform})"),
            None => format!("{} ({platform})", self.manifest.digest),
        }
    }
}

pub(super) fn open_oci(
    source: &Source,
    format: Format,
    tag: Option<&str>,
    wanted: Option<&Platform>,
) -> Result<Loaded> {
    let all = candidates(source)?;
    let listing = |cands: &[Candidate]| cands.iter().map(Candidate::describe).collect::<Vec<_>>().join(", ");
    let mut chosen: Vec<Candidate> = match tag {
        Some(tag) => {
            let (hit, miss): (Vec<_>, Vec<_>) =
                all.into_iter().partition(|c| c.names.iter().any(|n| same_reference(n, tag)));
            if hit.is_empty() {
                bail!("no image tagged {tag:?}; the archive holds {}", listing(&miss));
            }
            hit
        }
        None => all,
    };
    for cand in &mut chosen {
        if cand.platform.is_none() {
            cand.platform = Some(manifest_platform(source, &cand.manifest)?);
        }
    }
    if let Some(wanted) = wanted {
        let (hit, miss): (Vec<_>, Vec<_>) =
            chosen.into_iter().partition(|c| c.platform.as_ref().is_some_and(|p| p.satisfies(wanted)));
        if hit.is_empty() {
            bail!("no image for platform {wanted}; the archive holds {}", listing(&miss));
        }
        chosen = hit;
    }
    let cand = match <[Candidate; 1]>::try_from(chosen) {
        Ok([one]) => one,
        Err(many) => return Err(super::SeveralImages { images: listing(&many) }.into()),
    };
    load_oci(source, format, cand)
}

/// Every image manifest `index.json` leads to, in order, each once.
pub(super) fn candidates(source: &Source) -> Result<Vec<Candidate>> {
    let index: IndexJson = source.read_json("index.json")?;
    let mut all = Vec::new();
    let mut seen = Seen::default();
    for desc in index.manifests {
        let names = names_of(&desc);
        expand(source, desc, &names, Vec::new(), 0, &mut seen, &mut all)?;
    }
    if all.is_empty() {
        bail!("index.json lists no image manifests");
    }
    Ok(all)
}

/// Loads every image of an OCI layout, in the order `index.json` lists them.
pub(super) fn all_oci(source: &Source, format: Format) -> Result<Vec<Loaded>> {
    candidates(source)?.into_iter().map(|cand| load_oci(source, format, cand)).collect()
}

/// Loads every image `manifest.json` lists, in order.
pub(super) fn all_docker(source: &Source) -> Result<Vec<Loaded>> {
    let entries: Vec<DockerManifestEntry> = source.read_json("manifest.json")?;
    if entries.is_empty() {
        bail!("manifest.json lists no images");
    }
    entries.into_iter().map(|entry| load_docker(source, entry, None)).collect()
}

/// The blobs `expand` has followed, each to the candidates it led to.
#[derive(Default)]
pub(super) struct Seen {
    led_to: BTreeMap<String, Vec<usize>>,
    listed: usize,
}

/// Follows `desc` (a manifest or a nested index) to the image manifests it
/// leads to, skipping attestations (BuildKit's `unknown/unknown` entries),
/// artifacts and referrers indexes (tagged `sha256-<hex>`),
/// and gives their places in `out`. Each blob is read once, however often
/// indexes list it; all of them together may list `MAX_INDEX_ENTRIES`.
pub(super) fn expand(
    source: &Source,
    desc: Descriptor,
    names: &[String],
    parents: Vec<BlobCheck>,
    depth: usize,
    seen: &mut Seen,
    out: &mut Vec<Candidate>,
) -> Result<Vec<usize>> {
    seen.listed += 1;
    if seen.listed > MAX_INDEX_ENTRIES {
        bail!("the image indexes list more than {MAX_INDEX_ENTRIES} manifests and indexes in all");
    }
    let attestation = desc.annotations.as_ref().is_some_and(|a| a.contains_key("vnd.docker.reference.type"))
        || desc.platform.as_ref().is_some_and(|p| p.os == "unknown")
        || desc.artifact_type.is_some()
        || names.iter().any(|n| super::referrers::is_fallback_tag(n));
    if attestation {
        return Ok(Vec::new());
    }
    if let Some(led_to) = seen.led_to.get(&desc.digest) {
        for &i in led_to {
            for name in names {
                if !out[i].names.contains(name) {
                    out[i].names.push(name.clone());
                }
            }
        }
        return Ok(led_to.clone());
    }
    let name = blob_name(&desc.digest)?;
    let value: Value = source.read_json(&name)?;
    if value.get("manifests").is_none() {
        let platform = desc.platform.clone().map(Platform::with_default_variant);
        seen.led_to.insert(desc.digest.clone(), vec![out.len()]);
        out.push(Candidate { names: names.to_vec(), manifest: desc, parents, platform });
        return Ok(vec![out.len() - 1]);
    }
    if depth >= MAX_INDEX_DEPTH {
        bail!("{name}: image indexes nest more than {MAX_INDEX_DEPTH} deep");
    }
    let index: IndexJson =
        serde_json::from_value(value).with_context(|| format!("{name} is not a valid image index"))?;
    let mut parents = parents;
    parents.push(BlobCheck {
        what: format!("index {}", desc.digest),
        name,
        digest: Some(desc.digest.clone()),
        size: desc.size,
    });
    let mut led_to = Vec::new();
    for child in index.manifests {
        for i in expand(source, child, names, parents.clone(), depth + 1, seen, out)? {
            if !led_to.contains(&i) {
                led_to.push(i);
            }
        }
    }
    seen.led_to.insert(desc.digest, led_to.clone());
    Ok(led_to)
}

/// The platform of a manifest whose descriptor names none, from its config.
pub(super) fn manifest_platform(source: &Source, desc: &Descriptor) -> Result<Platform> {
    let manifest: ManifestJson = source.read_json(&blob_name(&desc.digest)?)?;
    let name = blob_name(&manifest.config.digest)?;
    let value: Value = source.read_json(&name)?;
    let platform: Platform = serde_json::from_value(value)
        .with_context(|| format!("config {name}: os/architecture/variant must be strings"))?;
    Ok(platform.with_default_variant())
}

pub(super) fn load_oci(source: &Source, format: Format, cand: Candidate) -> Result<Loaded> {
    let manifest_name = blob_name(&cand.manifest.digest)?;
    let manifest: ManifestJson = source.read_json(&manifest_name)?;
    let config_name = blob_name(&manifest.config.digest)?;
    let parsed = parse_config(&source.read_small(&config_name)?, &config_name)?;
    if manifest.layers.len() > MAX_LAYERS {
        bail!("manifest {manifest_name} lists {} layers; bimanix reads at most {MAX_LAYERS}", manifest.layers.len());
    }
    if manifest.layers.len() != parsed.diff_ids.len() {
        bail!(
            "manifest {manifest_name} lists {} layers but config {config_name} has {} rootfs.diff_ids",
            manifest.layers.len(),
            parsed.diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (desc, diff_id) in manifest.layers.iter().zip(&parsed.diff_ids) {
        let name = blob_name(&desc.digest)?;
        layers.push(Layer {
            digest: Some(desc.digest.clone()),
            diff_id: diff_id.clone(),
            media_type: desc.media_type.clone(),
            size: source.size(&name)?,
            compression: sniff_blob(source, &name)?,
            declared_size: desc.size,
            name,
        });
    }
    let repo_tags = if format == Format::DockerOciArchive {
        let entries: Vec<DockerManifestEntry> = source.read_json("manifest.json")?;
        entries
            .into_iter()
            .find(|e| join_clean("", &e.config).as_deref() == Some(&config_name))
            .and_then(|e| e.repo_tags)
    } else {
        None
    };
    let repo_tags = repo_tags.unwrap_or_else(|| cand.names.into_iter().take(1).collect());
    let index_digest = cand.parents.first().and_then(|index| index.digest.clone());
    let mut blobs = cand.parents;
    blobs.push(BlobCheck {
        what: format!("manifest {}", cand.manifest.digest),
        name: manifest_name.clone(),
        digest: Some(cand.manifest.digest.clone()),
        size: cand.manifest.size,
    });
    blobs.push(BlobCheck {
        what: format!("config {}", manifest.config.digest),
        name: config_name.clone(),
        digest: Some(manifest.config.digest.clone()),
        size: manifest.config.size,
    });
    Ok(Loaded {
        repo_tags,
        manifest_digest: Some(cand.manifest.digest),
        manifest_annotations: manifest.annotations.unwrap_or_default(),
        config_digest: manifest.config.digest,
        parsed,
        layers,
        blobs,
        config_name,
        manifest_name: Some(manifest_name),
        index_digest,
    })
}

pub(super) fn open_docker(source: &Source, tag: Option<&str>, wanted: Option<&Platform>) -> Result<Loaded> {
    let entries: Vec<DockerManifestEntry> = source.read_json("manifest.json")?;
    let listing = |entries: &[DockerManifestEntry]| {
        entries
            .iter()
            .map(|e| match e.repo_tags.as_deref() {
                Some([]) | None => format!("untagged {}", e.config),
                Some(tags) => tags.join(" "),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Vec<DockerManifestEntry> = match tag {
        Some(tag) => {
            let (hit, miss): (Vec<_>, Vec<_>) =
                entries.into_iter().partition(|e| e.repo_tags.iter().flatten().any(|t| same_reference(t, tag)));
            if hit.is_empty() {
                bail!("no image tagged {tag:?}; manifest.json lists {}", listing(&miss));
            }
            hit
        }
        None => entries,
    };
    let entry = match <[DockerManifestEntry; 1]>::try_from(chosen) {
        Ok([one]) => one,
        Err(none) if none.is_empty() => bail!("manifest.json lists no images"),
        Err(many) => bail!("manifest.json lists several images: {}; choose one by tag", listing(&many)),
    };
    load_docker(source, entry, wanted)
}

/// Loads the image of one `manifest.json` entry, checking its platform
/// against `wanted`.
fn load_docker(source: &Source, entry: DockerManifestEntry, wanted: Option<&Platform>) -> Result<Loaded> {
    let config_name = archive_path(&entry.config, "Config")?;
    let config_bytes = source.read_small(&config_name)?;
    let parsed = parse_config(&config_bytes, &config_name)?;
    if let Some(wanted) = wanted {
        let have = parsed.config.platform();
        if !have.satisfies(wanted) {
            bail!("the image is for {have}, not {wanted}");
        }
    }
    if entry.layers.len() > MAX_LAYERS {
        bail!("manifest.json lists {} Layers; bimanix reads at most {MAX_LAYERS}", entry.layers.len());
    }
    if entry.layers.len() != parsed.diff_ids.len() {
        bail!(
            "manifest.json lists {} Layers but config {config_name} has {} rootfs.diff_ids (docker load refuses this)",
            entry.layers.len(),
            parsed.diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (raw, diff_id) in entry.layers.iter().zip(&parsed.diff_ids) {
        let name = archive_path(raw, "Layers")?;
        layers.push(Layer {
            digest: digest_of_name(&name).filter(|_| name.starts_with("blobs/")),
            diff_id: diff_id.clone(),
            media_type: None,
            size: source.size(&name)?,
            compression: sniff_blob(source, &name)?,
            declared_size: None,
            name,
        });
    }
    let declared = digest_of_name(&config_name);
    let config_digest = declared.clone().unwrap_or_else(|| sha256_digest(&config_bytes));
    Ok(Loaded {
        repo_tags: entry.repo_tags.unwrap_or_default(),
        manifest_digest: None,
        manifest_annotations: BTreeMap::new(),
        config_digest,
        parsed,
        layers,
        blobs: vec![BlobCheck {
            what: format!("config {config_name}"),
            name: config_name.clone(),
            digest: declared,
            size: None,
        }],
        config_name,
        manifest_name: None,
        index_digest: None,
    })
}

pub(super) fn sniff_blob(source: &Source, name: &str) -> Result<Compression> {
    let (reader, _) = source.open(name)?;
    let mut head = Vec::with_capacity(4);
    reader.take(4).read_to_end(&mut head).with_context(|| format!("cannot read {name}"))?;
    Ok(Compression::sniff(&head))
}
