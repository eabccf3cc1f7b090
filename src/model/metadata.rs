//! The OCI image-spec's pre-defined annotation keys
//! (`org.opencontainers.image.*`): the ones a user sets as labels, the
//! ones bimanix fills itself, and the set of them an image carries in its
//! config labels, its manifest annotations and the index that names it.

use std::collections::BTreeMap;

/// The prefix of every pre-defined key.
pub const PREFIX: &str = "org.opencontainers.image.";

/// The keys a user may set (after [`PREFIX`]), in the image-spec's order.
pub const USER_KEYS: &[&str] = &[
    "title",
    "description",
    "version",
    "revision",
    "source",
    "url",
    "documentation",
    "licenses",
    "authors",
    "vendor",
    "base.name",
    "base.digest",
];

/// The creation time, which bimanix writes from `created`.
pub const CREATED: &str = "org.opencontainers.image.created";
/// The base image's name, filled from a base image when not set.
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";
/// The base image's manifest digest, filled from a base image when not set.
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// The tag in an OCI layout's `index.json`, which bimanix writes from `tag`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Whether `key` is one of the pre-defined keys' namespace.
pub fn is_oci(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// The pre-defined keys among `labels`: what a manifest or index carries
/// as annotations beside the config's labels.
pub fn of(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.iter().filter(|(k, _)| is_oci(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}
