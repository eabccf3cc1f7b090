//! `push --compression`, and push's default of gzipping the layers stored
//! uncompressed: the layers of a plan encoded anew. Each layer's
//! tar streams from the archive through the encoder into an unnamed
//! temporary file, hashed on the way (the tar against its diff_id, the
//! output for its new digest); then each manifest is rewritten to name the
//! new blobs, and each index to name the new manifests. The rewritten
//! documents are canonical JSON (sorted keys, compact), which is what
//! `bimanix build` writes, so an image recompressed here is byte for byte
//! the image `build --compression` would have written. A document none
//! of whose blobs changed keeps its bytes, and so its digest.
//!
//! What each layer became is remembered in the blob record ([`Seen`]); a
//! layer the record knows is not encoded here: the manifest names the
//! remembered blob, and [`encode_known`] encodes it only when a registry
//! lacks it, checking the bytes against what was remembered ([`Stale`]
//! when they differ). The encoders are deterministic, so only a stale or
//! edited record differs.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::mounts::{Encoding, Seen};
use super::plan::{Blob, Document, Plan, Source, layer_media_type};
use crate::image::blob::{LayerBlob, write_stream};
use crate::imageread::{Compression, Store};
use crate::model::oci;

/// The media types of image layers, which are recompressed; other blobs
/// (an artifact's) are kept as they are.
const LAYER_TYPES: [&str; 5] = [
    oci::LAYER_TYPE,
    oci::LAYER_GZIP_TYPE,
    oci::LAYER_ZSTD_TYPE,
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// The media types of uncompressed layers.
const UNCOMPRESSED_TYPES: [&str; 2] = [oci::LAYER_TYPE, "application/vnd.docker.image.rootfs.diff.tar"];

/// Which layers [`recompress`] encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layers {
    /// Every layer (`push --compression`).
    Every,
    /// Only the layers stored uncompressed; compressed ones are kept as
    /// they are (push's default, as skopeo and docker push).
    Uncompressed,
}

/// A layer encoded for an upload that is not the blob the record said it
/// becomes: the record is stale (or was edited).
#[derive(Debug)]
pub struct Stale {
    /// Which layer, for messages.
    pub what: String,
    /// The layer's digest as stored.
    pub stored: String,
    /// The encoding.
    pub compression: Compression,
    /// The blob the record named (digest, size).
    pub remembered: (String, u64),
    /// The blob the encoder wrote.
    pub encoded: (String, u64),
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} ({}) encodes with {} to {} ({} bytes), not to {} ({} bytes) as the blob record says",
            self.what,
            self.stored,
            self.compression.name(),
            self.encoded.0,
            self.encoded.1,
            self.remembered.0,
            self.remembered.1
        )
    }
}

impl std::error::Error for Stale {}

/// Encodes the `which` layers of `plan` with `compression`, and rewrites
/// the documents to match. A layer whose encoding `record` knows is named
/// as remembered and left to [`encode_known`]; what each layer becomes is
/// remembered there (not with `--compression none`, which encodes nothing).
pub fn recompress(
    store: &Store,
    plan: Plan,
    compression: Compression,
    which: Layers,
    record: &mut Seen,
) -> Result<Plan> {
    // Old manifest digest -> new descriptor fields, for the indexes above.
    let mut renamed: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut documents = Vec::new();
    for document in plan.documents {
        let Document { bytes, digest, media_type, what, blobs } = document;
        let mut value: Value =
            serde_json::from_slice(&bytes).with_context(|| format!("{what} {digest} is not JSON"))?;
        let (blobs, changed) = if value.get("manifests").is_some() {
            let changed = rename_children(&mut value, &renamed);
            (blobs, changed)
        } else {
            let context = format!("{what} {digest}");
            let old: Vec<String> = blobs.iter().map(|b| b.digest.clone()).collect();
            let blobs =
                encode_layers(store, &mut value, blobs, &media_type, compression, which, record).context(context)?;
            let changed = blobs.iter().zip(&old).any(|(new, old)| new.digest != *old);
            (blobs, changed)
        };
        if !changed {
            // The same bytes (a layer encoded anew may still be read from its file).
            documents.push(Document { bytes, digest, media_type, what, blobs });
            continue;
        }
        let bytes = serde_json::to_vec(&value).context("cannot write the rewritten manifest")?;
        let new_digest = oci::sha256_digest(&bytes);
        renamed.insert(digest, (new_digest.clone(), bytes.len() as u64));
        documents.push(Document { bytes, digest: new_digest, media_type, what, blobs });
    }
    Ok(Plan { documents, synthesized: plan.synthesized })
}

/// Points an index's entries at the rewritten manifests; says whether one
/// was.
fn rename_children(index: &mut Value, renamed: &BTreeMap<String, (String, u64)>) -> bool {
    let Some(entries) = index.get_mut("manifests").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    for entry in entries {
        let old = entry.get("digest").and_then(Value::as_str).unwrap_or_default();
        if let Some((digest, size)) = renamed.get(old) {
            entry["digest"] = json!(digest);
            entry["size"] = json!(size);
            changed = true;
        }
    }
    changed
}

/// Encodes the layers a manifest names (its blobs after the config), or
/// takes their encodings from `record`, and points the manifest at them.
fn encode_layers(
    store: &Store,
    manifest: &mut Value,
    blobs: Vec<Blob>,
    manifest_type: &str,
    compression: Compression,
    which: Layers,
    record: &mut Seen,
) -> Result<Vec<Blob>> {
    let media_type = layer_media_type(compression, manifest_type)?;
    let mut out = Vec::new();
    for (i, blob) in blobs.into_iter().enumerate() {
        let Some(descriptor) = i.checked_sub(1).and_then(|layer| manifest.pointer_mut(&format!("/layers/{layer}")))
        else {
            out.push(blob);
            continue;
        };
        let layer_type = descriptor.get("mediaType").and_then(Value::as_str).filter(|t| LAYER_TYPES.contains(t));
        let wanted = match (layer_type, which) {
            (None, _) => false,
            (Some(_), Layers::Every) => true,
            (Some(t), Layers::Uncompressed) => UNCOMPRESSED_TYPES.contains(&t),
        };
        if !wanted {
            out.push(blob);
            continue;
        }
        let stored = blob.digest.clone();
        let encoded = match known(record, &blob, compression) {
            Some(known) => known,
            None => encode_layer(store, &blob, compression)?,
        };
        if compression != Compression::None {
            let (digest, size) = (encoded.digest.clone(), encoded.size);
            record.remember(Encoding { source: stored, compression: compression.name().into(), digest, size });
        }
        descriptor["mediaType"] = json!(media_type);
        descriptor["digest"] = json!(encoded.digest);
        descriptor["size"] = json!(encoded.size);
        out.push(encoded);
    }
    Ok(out)
}

/// The layer as the record knows its encoding (not encoded yet); none
/// when the record does not know it (or `compression` is none).
fn known(record: &Seen, blob: &Blob, compression: Compression) -> Option<Blob> {
    let Source::Archive(name) = &blob.source else { return None };
    let encoding = record.encoding(&blob.digest, compression.name()).filter(|_| compression != Compression::None)?;
    Some(Blob {
        digest: encoding.digest.clone(),
        size: encoding.size,
        what: blob.what.clone(),
        source: Source::Encode { name: name.clone(), stored: blob.digest.clone(), compression },
        diff_id: blob.diff_id.clone(),
        checked: false,
    })
}

/// Encodes one layer into a temporary file with the writer `bimanix build`
/// uses for base layers, checking its tar against the diff_id on the way.
fn encode_layer(store: &Store, blob: &Blob, compression: Compression) -> Result<Blob> {
    let Source::Archive(name) = &blob.source else {
        bail!("{}: encoded twice", blob.what);
    };
    let what = format!("{} ({})", blob.what, blob.digest);
    let (file, encoded) = encode(store, name, &what, blob.diff_id.as_deref(), compression)?;
    Ok(Blob {
        digest: encoded.descriptor.digest,
        size: encoded.descriptor.size,
        what: blob.what.clone(),
        source: Source::File(file),
        diff_id: Some(encoded.diff_id),
        checked: true,
    })
}

/// Encodes a layer whose encoding the blob record gave ([`Source::Encode`]),
/// for an upload: into a temporary file, checked against the digest and
/// size remembered (a [`Stale`] error when it is not them) and its tar
/// against its diff_id.
pub fn encode_known(store: &Store, blob: &Blob) -> Result<File> {
    let Source::Encode { name, stored, compression } = &blob.source else {
        bail!("internal: {} has no encoding to check", blob.what);
    };
    let what = format!("{} ({stored})", blob.what);
    let (file, encoded) = encode(store, name, &what, blob.diff_id.as_deref(), *compression)?;
    let encoded = (encoded.descriptor.digest, encoded.descriptor.size);
    if encoded != (blob.digest.clone(), blob.size) {
        let remembered = (blob.digest.clone(), blob.size);
        let (what, stored, compression) = (blob.what.clone(), stored.clone(), *compression);
        return Err(Stale { what, stored, compression, remembered, encoded }.into());
    }
    Ok(file)
}

/// Encodes the archive entry `name` (`what`, for messages) into a
/// temporary file, checking its tar against `diff_id`.
fn encode(
    store: &Store,
    name: &str,
    what: &str,
    diff_id: Option<&str>,
    compression: Compression,
) -> Result<(File, LayerBlob)> {
    let file =
        tempfile::tempfile().context("cannot create a temporary file for a recompressed layer (check TMPDIR)")?;
    let encoded = write_stream(&file, &mut store.layer_reader(name)?, compression)
        .with_context(|| format!("{what}: cannot encode it as {}", compression.name()))?;
    if let Some(want) = diff_id
        && *want != encoded.diff_id
    {
        bail!(
            "{what}: its uncompressed tar hashes to {}, but the config's diff_id is {want} (corrupted or edited)",
            encoded.diff_id
        );
    }
    Ok((file, encoded))
}
#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;
    use crate::imageread::open_store;
    use crate::imageread::tests::{E, TestImage, layer, sha, write_dir};
    use crate::registry::plan::plan;
    use crate::registry::plan::tests::multi_platform;

    fn contents(source: &Source) -> Vec<u8> {
        let Source::File(file) = source else { panic!("not recompressed") };
        let mut file = file.try_clone().unwrap();
        file.rewind().unwrap();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn encodes_layers_and_renames_them_up_to_the_index() {
        let dir = tempfile::tempdir().unwrap();
        multi_platform(dir.path());
        let store = open_store(dir.path()).unwrap();
        let before = plan(&store).unwrap();
        let old: Vec<String> = before.documents.iter().map(|d| d.digest.clone()).collect();
        let after = recompress(&store, before, Compression::Gzip, Layers::Every, &mut Seen::default()).unwrap();
        let index: Value = serde_json::from_slice(&after.top().bytes).unwrap();
        for (i, document) in after.documents[..2].iter().enumerate() {
            assert_ne!(document.digest, old[i]);
            assert_eq!(index["manifests"][i]["digest"], json!(document.digest));
            assert_eq!(index["manifests"][i]["size"], json!(document.bytes.len()));
            let manifest: Value = serde_json::from_slice(&document.bytes).unwrap();
            let layer = &document.blobs[1];
            let bytes = contents(&layer.source);
            assert_eq!((layer.digest.clone(), layer.size), (sha(&bytes), bytes.len() as u64));
            assert_eq!(manifest["layers"][0]["digest"], json!(layer.digest));
            assert_eq!(manifest["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
            assert!(matches!(document.blobs[0].source, Source::Archive(_)), "the config is kept");
            // Canonical JSON: what serde_json writes for the same value.
            assert_eq!(document.bytes, serde_json::to_vec(&manifest).unwrap());
        }
        assert_eq!(after.top().digest, oci::sha256_digest(&after.top().bytes));
    }

    /// Push's default: uncompressed layers are gzipped, compressed ones and
    /// the documents that name only them keep their bytes and digests;
    /// encoding plain layers as none changes no digest.
    #[test]
    fn keeps_what_needs_no_encoding() {
        let dir = tempfile::tempdir().unwrap();
        multi_platform(dir.path());
        let store = open_store(dir.path()).unwrap();
        let digests = |plan: &Plan| plan.documents.iter().map(|d| d.digest.clone()).collect::<Vec<_>>();
        let before = digests(&plan(&store).unwrap());
        let gzipped =
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Uncompressed, &mut Seen::default())
                .unwrap();
        let every =
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Every, &mut Seen::default()).unwrap();
        assert_eq!(digests(&gzipped), digests(&every), "plain layers are gzipped either way");
        assert_ne!(digests(&gzipped), before);
        let plain =
            recompress(&store, plan(&store).unwrap(), Compression::None, Layers::Every, &mut Seen::default()).unwrap();
        assert_eq!(digests(&plain), before, "--compression none on plain layers keeps the digests");

        let dir = tempfile::tempdir().unwrap();
        let mut image = TestImage::new(vec![layer(&[E::File("a", b"a", 0o644)])]);
        image.compress = crate::imageread::tests::zstd;
        write_dir(dir.path(), &image.oci());
        let store = open_store(dir.path()).unwrap();
        let original = plan(&store).unwrap();
        let (bytes, before) = (original.top().bytes.clone(), digests(&original));
        let kept = recompress(&store, original, Compression::Gzip, Layers::Uncompressed, &mut Seen::default()).unwrap();
        assert_eq!((kept.top().bytes.clone(), digests(&kept)), (bytes, before.clone()), "zstd layers are kept");
        assert!(kept.documents.iter().flat_map(|d| &d.blobs).all(|b| matches!(b.source, Source::Archive(_))));
        let every =
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Every, &mut Seen::default()).unwrap();
        assert_ne!(digests(&every), before, "--compression gzip re-encodes zstd layers");
    }

    #[test]
    fn checks_the_tar_against_its_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = TestImage::new(vec![layer(&[E::File("a", b"a", 0o644)])]);
        let config = image.config_bytes();
        image.layers = vec![layer(&[E::File("b", b"b", 0o644)])];
        let mut files = image.oci();
        // Keep the first config: its diff_id no longer matches the layer.
        let manifest = files.iter().find(|(n, _)| n == "index.json").unwrap().1.clone();
        let digest = serde_json::from_slice::<Value>(&manifest).unwrap()["manifests"][0]["digest"].clone();
        let name = format!("blobs/sha256/{}", &digest.as_str().unwrap()[7..]);
        let mut m: Value = serde_json::from_slice(&files.iter().find(|(n, _)| *n == name).unwrap().1).unwrap();
        m["config"]["digest"] = json!(sha(&config));
        m["config"]["size"] = json!(config.len());
        let m = serde_json::to_vec(&m).unwrap();
        files.push((format!("blobs/sha256/{}", &sha(&config)[7..]), config));
        files.push((format!("blobs/sha256/{}", &sha(&m)[7..]), m.clone()));
        let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": oci::MANIFEST_TYPE, "digest": sha(&m), "size": m.len()}]});
        files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
        write_dir(dir.path(), &files);
        let store = open_store(dir.path()).unwrap();
        let err = format!(
            "{:#}",
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Every, &mut Seen::default())
                .unwrap_err()
        );
        assert!(err.contains("layer 1") && err.contains("but the config's diff_id is"), "{err}");
    }

    /// A second recompress with the record names the layers as the first
    /// encoded them, encoding none; each encodes, on demand, to the bytes
    /// remembered, and a wrong record is found then.
    #[test]
    fn names_remembered_encodings_and_encodes_them_on_demand() {
        let dir = tempfile::tempdir().unwrap();
        multi_platform(dir.path());
        let store = open_store(dir.path()).unwrap();
        let mut record = Seen::default();
        let first =
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Uncompressed, &mut record).unwrap();
        let second =
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Uncompressed, &mut record).unwrap();
        assert_eq!(first.top().bytes, second.top().bytes, "the same documents, byte for byte");
        for (old, new) in first.documents[..2].iter().zip(&second.documents) {
            let (old, new) = (&old.blobs[1], &new.blobs[1]);
            assert!(matches!(new.source, Source::Encode { .. }), "not encoded");
            assert_eq!((&new.digest, new.size, new.checked), (&old.digest, old.size, false));
            let file = encode_known(&store, new).unwrap();
            assert_eq!(contents(&Source::File(file)), contents(&old.source));
        }
        let zstd = recompress(&store, plan(&store).unwrap(), Compression::Zstd, Layers::Every, &mut record).unwrap();
        assert!(matches!(zstd.documents[0].blobs[1].source, Source::File(_)), "another compression is encoded");

        let layer = &second.documents[0].blobs[1];
        let Source::Encode { stored, .. } = &layer.source else { unreachable!() };
        let wrong = format!("sha256:{}", "0".repeat(64));
        record.remember(Encoding {
            source: stored.clone(),
            compression: "gzip".into(),
            digest: wrong.clone(),
            size: 9,
        });
        let stale =
            recompress(&store, plan(&store).unwrap(), Compression::Gzip, Layers::Uncompressed, &mut record).unwrap();
        let err = encode_known(&store, &stale.documents[0].blobs[1]).unwrap_err();
        let found = err.downcast_ref::<Stale>().expect("a Stale error");
        assert_eq!((&found.stored, &found.remembered, &found.encoded.0), (stored, &(wrong.clone(), 9), &layer.digest));
        assert!(err.to_string().contains(&format!("not to {wrong} (9 bytes) as the blob record says")), "{err}");
    }
}
