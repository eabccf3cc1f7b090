//! An image's blobs as they are stored, for copying the image elsewhere
//! byte for byte (`push`): the layout's own documents, each blob by its
//! name in the archive, and a check that a blob is what its descriptor
//! and the config say it is.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use super::layers::hash_stream;
use super::{Compression, DockerManifestEntry, Format, Source, archive_path, blob_name, decompress};
use crate::model::oci::Hashing;

/// An image archive or OCI layout opened for its stored blobs. Nothing is
/// chosen or interpreted: the caller walks `index.json` or `manifest.json`.
#[derive(Debug)]
pub struct Store {
    /// The archive or directory.
    pub path: PathBuf,
    /// Its layout.
    pub format: Format,
    source: Source,
}

/// One image of a docker-archive's `manifest.json`, with its paths checked
/// to stay inside the archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerEntry {
    /// The config's path.
    pub config: String,
    /// `RepoTags` (may be empty).
    pub repo_tags: Vec<String>,
    /// The layers' paths, lowest first.
    pub layers: Vec<String>,
}

/// What a blob must be; `None` where nothing declares it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expected<'a> {
    /// The digest of the stored bytes.
    pub digest: Option<&'a str>,
    /// The stored size.
    pub size: Option<u64>,
    /// For a layer, the digest of its uncompressed tar (the config's diff_id).
    pub diff_id: Option<&'a str>,
}

/// What a checked blob turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measured {
    /// `sha256:<hex>` of the stored bytes.
    pub digest: String,
    /// The stored size.
    pub size: u64,
    /// How it is compressed, told from its first bytes.
    pub compression: Compression,
}

/// Opens the archive or OCI layout directory at `path` for its blobs.
pub fn open_store(path: &Path) -> Result<Store> {
    let open = || -> Result<Store> {
        let source = if path.is_dir() { Source::dir(path)? } else { Source::open_tar(path)?.0 };
        let format = match (source.contains("manifest.json"), source.contains("index.json"), &source) {
            (true, true, _) => Format::DockerOciArchive,
            (true, false, _) => Format::DockerArchive,
            (false, true, Source::Dir(_) | Source::Mapped { .. }) => Format::OciDir,
            (false, true, Source::Tar { .. }) => Format::OciArchive,
            (false, false, _) => {
                bail!("it has neither index.json (OCI layout) nor manifest.json (docker-archive) at its root")
            }
        };
        Ok(Store { path: path.to_path_buf(), format, source })
    };
    open().with_context(|| format!("cannot read image {}", path.display()))
}

/// Opens the OCI layout directory `dir` whose files named in `files` are at
/// the paths given there (see [`open_mapped`](super::open_mapped)).
pub fn open_store_mapped(dir: &Path, files: BTreeMap<String, PathBuf>) -> Result<Store> {
    let source = Source::mapped(dir, files).with_context(|| format!("cannot read image {}", dir.display()))?;
    Ok(Store { path: dir.to_path_buf(), format: Format::OciDir, source })
}

impl Store {
    /// The name of the blob with `digest` in an OCI layout (`blobs/sha256/<hex>`).
    pub fn blob_name(digest: &str) -> Result<String> {
        blob_name(digest)
    }

    /// `index.json` as written, when the image is an OCI layout.
    pub fn index_json(&self) -> Result<Option<Vec<u8>>> {
        match self.format {
            Format::DockerArchive => Ok(None),
            _ => self.read("index.json").map(Some),
        }
    }

    /// The images of `manifest.json`, when the archive has one.
    pub fn docker_entries(&self) -> Result<Option<Vec<DockerEntry>>> {
        if !self.source.contains("manifest.json") {
            return Ok(None);
        }
        let entries: Vec<DockerManifestEntry> = self.source.read_json("manifest.json")?;
        let entries = entries
            .into_iter()
            .map(|e| {
                Ok(DockerEntry {
                    config: archive_path(&e.config, "Config")?,
                    repo_tags: e.repo_tags.unwrap_or_default(),
                    layers: e.layers.iter().map(|l| archive_path(l, "Layers")).collect::<Result<_>>()?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Some(entries))
    }

    /// Reads a small document (a manifest, an index, a config) whole.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        self.source.read_small(name)
    }

    /// Opens the blob or file `name` as stored, with its size.
    pub fn open(&self, name: &str) -> Result<(Box<dyn Read + '_>, u64)> {
        self.source.open(name)
    }

    /// The uncompressed tar stream of the layer blob `name`.
    pub fn layer_reader(&self, name: &str) -> Result<Box<dyn Read + '_>> {
        let (raw, size) = self.source.open(name)?;
        let (_, plain) = decompress(raw, size).with_context(|| format!("cannot read {name}"))?;
        Ok(plain)
    }

    /// Reads `name` whole and measures it, streaming: its sha256, size and
    /// compression, and for a layer (`expected.diff_id` set) the sha256 of
    /// its uncompressed tar. Fails with a sentence naming `what` when
    /// anything differs from `expected`.
    pub fn check(&self, name: &str, what: &str, expected: Expected) -> Result<Measured> {
        let unreadable = || format!("{what}: cannot read {name} from the archive");
        let (raw, size) = self.source.open(name)?;
        let mut stored = Hashing::new(raw);
        let (compression, plain_digest) = {
            let (compression, plain) = decompress(&mut stored, size).with_context(unreadable)?;
            // An uncompressed layer is its own tar: its blob digest is its diff_id.
            let plain_digest = match (expected.diff_id, compression) {
                (Some(_), Compression::Gzip | Compression::Zstd) => Some(hash_stream(plain)),
                _ => None,
            };
            (compression, plain_digest)
        };
        io::copy(&mut stored, &mut io::sink()).with_context(unreadable)?;
        let size = stored.size();
        let digest = stored.finish().0;
        if let Some(want) = expected.digest
            && want != digest
        {
            bail!("{what}: the content hashes to {digest}, not to its digest {want} (corrupted or edited)");
        }
        if let Some(want) = expected.size
            && want != size
        {
            bail!("{what}: the manifest says {want} bytes but the archive holds {size}");
        }
        if let Some(diff_id) = expected.diff_id {
            let plain_digest = match plain_digest {
                Some(result) => {
                    result.map_err(|e| anyhow!("{what}: cannot be decompressed as {}: {e}", compression.name()))?.0
                }
                None => digest.clone(),
            };
            if plain_digest != diff_id {
                bail!(
                    "{what}: its uncompressed tar hashes to {plain_digest}, but the config's diff_id is {diff_id} \
                     (corrupted or edited)"
                );
            }
        }
        Ok(Measured { digest, size, compression })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{E, TestImage, blob_path, gzip, layer, sha, write_dir, write_tar};
    use super::*;

    fn hello() -> Vec<u8> {
        layer(&[E::File("hello", b"hello\n", 0o755)])
    }

    #[test]
    fn reads_documents_and_checks_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let mut image = TestImage::new(vec![hello()]);
        image.compress = gzip;
        write_dir(dir.path(), &image.oci());
        let store = open_store(dir.path()).unwrap();
        assert_eq!(store.format, Format::OciDir);
        let index: serde_json::Value = serde_json::from_slice(&store.index_json().unwrap().unwrap()).unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
        assert!(store.docker_entries().unwrap().is_none());

        let stored = gzip(&hello());
        let name = blob_path(&stored);
        let expected =
            Expected { digest: Some(&sha(&stored)), size: Some(stored.len() as u64), diff_id: Some(&sha(&hello())) };
        let measured = store.check(&name, "layer 1", expected).unwrap();
        assert_eq!(
            measured,
            Measured { digest: sha(&stored), size: stored.len() as u64, compression: Compression::Gzip }
        );

        let wrong_diff = Expected { diff_id: Some("sha256:00"), ..expected };
        let err = format!("{:#}", store.check(&name, "layer 1", wrong_diff).unwrap_err());
        assert!(err.contains("layer 1: its uncompressed tar hashes to") && err.contains("sha256:00"), "{err}");
        let wrong_size = Expected { size: Some(1), ..expected };
        let err = format!("{:#}", store.check(&name, "layer 1", wrong_size).unwrap_err());
        assert!(err.contains("the manifest says 1 bytes"), "{err}");

        let mut plain = Vec::new();
        store.layer_reader(&name).unwrap().read_to_end(&mut plain).unwrap();
        assert_eq!(plain, hello());
    }

    #[test]
    fn reports_a_corrupted_blob() {
        let dir = tempfile::tempdir().unwrap();
        let image = TestImage::new(vec![hello()]);
        let mut files = image.oci();
        let name = blob_path(&hello());
        for (n, data) in &mut files {
            if *n == name {
                data[600] ^= 1;
            }
        }
        write_tar(&dir.path().join("x.tar"), &files);
        let store = open_store(&dir.path().join("x.tar")).unwrap();
        assert_eq!(store.format, Format::OciArchive);
        let expected = Expected { digest: Some(&sha(&hello())), size: None, diff_id: Some(&sha(&hello())) };
        let err = format!("{:#}", store.check(&name, "layer 1", expected).unwrap_err());
        assert!(err.contains("not to its digest") && err.contains("corrupted"), "{err}");
    }

    #[test]
    fn lists_the_images_of_a_docker_archive() {
        let dir = tempfile::tempdir().unwrap();
        let image = TestImage::new(vec![hello()]);
        write_tar(&dir.path().join("d.tar"), &image.docker());
        let store = open_store(&dir.path().join("d.tar")).unwrap();
        assert_eq!(store.format, Format::DockerArchive);
        assert!(store.index_json().unwrap().is_none());
        let entries = store.docker_entries().unwrap().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].repo_tags, ["hello:1.0"]);
        let measured = store
            .check(&entries[0].layers[0], "layer 1", Expected { diff_id: Some(&sha(&hello())), ..Default::default() })
            .unwrap();
        assert_eq!(measured.digest, sha(&hello()));
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!("{:#}", open_store(dir.path()).unwrap_err());
        assert!(err.contains("neither index.json"), "{err}");
    }
}
