//! Which of an image's three places for urunc keys (`/urunc.json`, the
//! config Labels, the manifest annotations) reach urunc, for each urunc
//! version and each consumer that runs the image, and which one wins.
//!
//! What urunc does (urunc-dev/urunc):
//! - 0.5-0.7: the shim is containerd's runc shim
//!   (cmd/containerd-shim-urunc-v2/main.go, `manager.NewShimManager`), so
//!   no Label or manifest annotation of the image reaches urunc. urunc's
//!   `GetUnikernelConfig` (pkg/unikontainers/config.go 9cd1b305) takes the
//!   runtime spec's annotations when they hold unikernelType, hypervisor
//!   and binary, else `/urunc.json`. No consumer puts an image's keys into
//!   the spec, so for an image only `/urunc.json` counts.
//! - 0.8 and main: the shim's `InjectUruncAnnotations`
//!   (pkg/containerd-shim/containerd/annotations.go 59d095a4 and 9890ba89)
//!   collects `com.urunc.unikernel.*` from the containerd container's
//!   Labels, then, only when the container names an image
//!   (`container.Image`) whose target in containerd's image store is a
//!   manifest (`images.IsManifestType`), from that manifest's annotations,
//!   which win key by key. For an index it keeps the Labels alone. It adds
//!   each key the spec does not already hold. `GetUnikernelConfig`
//!   (pkg/unikontainers/annotations.go c56566da) then takes the spec's keys
//!   as a whole when unikernelType, hypervisor and binary are non-empty,
//!   else `/urunc.json` as a whole, else runs the container as a plain one.
//!   So keys are never mixed between the two.
//!
//! What the consumers hand the shim:
//! - ctr run: `containerd.WithImage` (the image name) and
//!   `WithImageConfigLabels` (the config Labels become the container's
//!   Labels) (containerd/containerd cmd/ctr/commands/run/run_unix.go).
//! - nerdctl run: `WithImage`, and `withContainerLabels` adds the image
//!   config's Labels (containerd/nerdctl pkg/cmd/container/create.go), since
//!   containerd/nerdctl#3023 (merged 2024-05-20, after 1.7.6, whose issue
//!   #2996 reports that it copied none): nerdctl 2.x. An older nerdctl fares
//!   like Docker with the containerd image store.
//! - Kubernetes through containerd's CRI: the container's Labels are
//!   `BuildLabels(the CRI config's labels, the image config's Labels)`, and
//!   `WithNewSnapshot` names the image (containerd/containerd
//!   internal/cri/server/container_create.go `createContainer`; client
//!   `WithNewSnapshot` sets `c.Image`). Pod annotations reach the spec only
//!   when the runtime handler's `pod_annotations` lets them through; they are
//!   the runtime's, not the image's, and would win over all of the above.
//! - Docker: libcontainerd's `NewContainer` gives containerd the spec, the
//!   runtime and a bundle-path label, no image Labels
//!   (moby/moby libcontainerd/remote/client.go); daemon/start.go names the
//!   image only with the containerd image store (`c.Image = img.Name`), in
//!   Docker's own containerd namespace, where that store keeps its images.
//!
//! Whether an image's tag names a manifest or an index is what a pull by
//! that tag stores as the image's target; bimanix's `push` sends what
//! `index.json` names.

use std::collections::BTreeMap;

use super::versions::{ImageKeys, Version};

/// A program that runs an image with urunc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Consumer {
    /// Docker with its classic image store.
    Docker,
    /// Docker with the containerd image store.
    DockerContainerd,
    /// nerdctl 2.x (older releases copy no Labels: see the module's notes).
    Nerdctl,
    /// containerd's ctr.
    Ctr,
    /// Kubernetes through containerd's CRI plugin.
    Kubernetes,
}

/// Every consumer, in the order reports list them.
pub const CONSUMERS: [Consumer; 5] =
    [Consumer::Docker, Consumer::DockerContainerd, Consumer::Nerdctl, Consumer::Ctr, Consumer::Kubernetes];

impl Consumer {
    /// A stable name for JSON: `docker`, `docker-containerd`, `nerdctl`,
    /// `ctr`, `kubernetes`.
    pub fn id(self) -> &'static str {
        match self {
            Consumer::Docker => "docker",
            Consumer::DockerContainerd => "docker-containerd",
            Consumer::Nerdctl => "nerdctl",
            Consumer::Ctr => "ctr",
            Consumer::Kubernetes => "kubernetes",
        }
    }

    /// The name people read.
    pub fn name(self) -> &'static str {
        match self {
            Consumer::Docker => "Docker",
            Consumer::DockerContainerd => "Docker (containerd image store)",
            Consumer::Nerdctl => "nerdctl",
            Consumer::Ctr => "ctr",
            Consumer::Kubernetes => "Kubernetes (CRI)",
        }
    }
}

/// What the image's tag names once pushed (or imported).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An image manifest.
    Manifest,
    /// An image index (a multi-platform image).
    Index,
}

/// One of the places an image carries urunc keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// The config's Labels.
    Labels,
    /// The manifest's annotations.
    Annotations,
    /// `/urunc.json` in the root filesystem.
    UruncJson,
}

impl Place {
    /// `labels`, `manifest annotations`, `urunc.json`.
    pub fn name(self) -> &'static str {
        match self {
            Place::Labels => "labels",
            Place::Annotations => "manifest annotations",
            Place::UruncJson => "urunc.json",
        }
    }
}

/// The places a consumer's urunc reads, highest first: the shim's places
/// (manifest annotations win over labels key by key), then `/urunc.json`,
/// which counts only when the shim's keys lack unikernelType, hypervisor or
/// binary.
pub fn reads(version: Version, consumer: Consumer, target: Target) -> Vec<Place> {
    let mut places = Vec::new();
    if version.facts().image_keys == ImageKeys::ShimCopies {
        let manifest = target == Target::Manifest;
        let (labels, annotations) = match consumer {
            Consumer::Docker => (false, false),
            Consumer::DockerContainerd => (false, manifest),
            Consumer::Nerdctl | Consumer::Ctr | Consumer::Kubernetes => (true, manifest),
        };
        if annotations {
            places.push(Place::Annotations);
        }
        if labels {
            places.push(Place::Labels);
        }
    }
    places.push(Place::UruncJson);
    places
}

/// The keys urunc needs before it takes a place's keys at all.
pub const REQUIRED: [&str; 3] = ["unikernelType", "hypervisor", "binary"];

/// Whether `keys` hold every key of [`REQUIRED`], non-empty.
pub fn complete(keys: &BTreeMap<String, String>) -> bool {
    REQUIRED.iter().all(|k| keys.get(*k).is_some_and(|v| !v.is_empty()))
}

/// The urunc keys (short names, plain values) in each place of an image;
/// `None` for a `/urunc.json` that is missing or unreadable.
#[derive(Clone, Copy, Debug)]
pub struct Places<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub urunc_json: Option<&'a BTreeMap<String, String>>,
}

/// What a consumer's urunc ends up with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// The places the keys come from: the shim's (one or both), or
    /// `/urunc.json`, or none (urunc runs the container as a plain one).
    pub from: Vec<Place>,
    /// The keys, short names and plain values.
    pub keys: BTreeMap<String, String>,
}

/// The keys `version` takes from an image run by `consumer`.
pub fn resolve(version: Version, consumer: Consumer, target: Target, image: Places) -> Resolved {
    let places = reads(version, consumer, target);
    let mut shim = BTreeMap::new();
    let mut from = Vec::new();
    for place in places.iter().rev() {
        let keys = match place {
            Place::Labels => image.labels,
            Place::Annotations => image.annotations,
            Place::UruncJson => continue,
        };
        if !keys.is_empty() {
            from.insert(0, *place);
        }
        shim.extend(keys.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if complete(&shim) {
        return Resolved { from, keys: shim };
    }
    match image.urunc_json {
        Some(json) if complete(json) => Resolved { from: vec![Place::UruncJson], keys: json.clone() },
        _ => Resolved { from: Vec::new(), keys: BTreeMap::new() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn full(binary: &str) -> BTreeMap<String, String> {
        keys(&[("unikernelType", "linux"), ("hypervisor", "qemu"), ("binary", binary)])
    }

    #[test]
    fn old_versions_read_only_urunc_json() {
        for version in [Version::V0_5, Version::V0_6, Version::V0_7] {
            for consumer in CONSUMERS {
                for target in [Target::Manifest, Target::Index] {
                    assert_eq!(reads(version, consumer, target), [Place::UruncJson]);
                }
            }
        }
    }

    #[test]
    fn the_shim_reads_annotations_only_for_a_manifest() {
        use Place::*;
        for version in [Version::V0_8, Version::Main] {
            for consumer in [Consumer::Ctr, Consumer::Nerdctl, Consumer::Kubernetes] {
                assert_eq!(reads(version, consumer, Target::Manifest), [Annotations, Labels, UruncJson]);
                assert_eq!(reads(version, consumer, Target::Index), [Labels, UruncJson]);
            }
            assert_eq!(reads(version, Consumer::Docker, Target::Manifest), [UruncJson]);
            assert_eq!(reads(version, Consumer::DockerContainerd, Target::Manifest), [Annotations, UruncJson]);
            assert_eq!(reads(version, Consumer::DockerContainerd, Target::Index), [UruncJson]);
        }
    }

    #[test]
    fn annotations_win_per_key_and_urunc_json_only_as_a_whole() {
        let labels = keys(&[("unikernelType", "linux"), ("hypervisor", "qemu"), ("binary", "/l"), ("initrd", "/i")]);
        let annotations = keys(&[("binary", "/a")]);
        let json = full("/j");
        let image = Places { labels: &labels, annotations: &annotations, urunc_json: Some(&json) };
        let ctr = resolve(Version::V0_8, Consumer::Ctr, Target::Manifest, image);
        assert_eq!(ctr.from, [Place::Annotations, Place::Labels]);
        assert_eq!(ctr.keys["binary"], "/a");
        assert_eq!(ctr.keys["initrd"], "/i");
        let index = resolve(Version::Main, Consumer::Ctr, Target::Index, image);
        assert_eq!((index.from, &index.keys["binary"]), (vec![Place::Labels], &"/l".to_string()));
        // Docker with the containerd store sees an incomplete set and takes urunc.json whole.
        let docker = resolve(Version::V0_8, Consumer::DockerContainerd, Target::Manifest, image);
        assert_eq!((docker.from, docker.keys), (vec![Place::UruncJson], json.clone()));
        let old = resolve(Version::V0_7, Consumer::Kubernetes, Target::Manifest, image);
        assert_eq!(old.keys, json);
        let none = Places { labels: &labels, annotations: &annotations, urunc_json: None };
        assert_eq!(resolve(Version::V0_7, Consumer::Ctr, Target::Manifest, none).from, []);
    }
}
