//! The build attestation: an unsigned in-toto Statement v1 whose subject is
//! the image manifest and whose predicate is SLSA Provenance v1: the
//! builder (bimanix and its version), the build's settings as external
//! parameters, and every input with its digest as resolved dependencies
//! (the input file, each file of the image's own layers, the base image),
//! a Nix store path and its derivation named where known. Inside a Nix
//! build the derivation's name and system are internal parameters.
//!
//! Like the image, it holds no time or path of the machine that built it
//! (a host file is named by its path in the image, a store path as it
//! is), so the same inputs give the same bytes; `cosign attest` or
//! `notation` can sign it by digest after the push.

use serde_json::{Map, Value, json};

use crate::image::attach::{Facts, VERSION};
use crate::model::reference;

/// The in-toto statement type.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The SLSA provenance predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What a bimanix build is, for verifiers: the format of the parameters
/// below (documented in docs/provenance.md).
pub const BUILD_TYPE: &str = "urn:bimanix:build:v1";

/// The statement for the image `facts` describe, as JSON bytes.
pub fn statement(facts: &Facts) -> Vec<u8> {
    let plan = facts.plan;
    let request = &plan.attach;
    let subject_name = format!("{}:{}", reference::qualified(&plan.name), plan.tag);
    let mut deps = Vec::new();
    if let Some((name, digest)) = &request.input {
        deps.push(json!({ "name": name, "digest": digest_set(digest) }));
    }
    for f in &facts.files {
        // urunc.json is made from the parameters, not an input.
        if f.role == "urunc.json" {
            continue;
        }
        let mut d = json!({ "name": f.path, "digest": { "sha256": f.sha256 } });
        if let Some(store) = &f.store_path {
            d["uri"] = json!(format!("file://{store}"));
            if let Some(drv) = request.derivers.get(store) {
                d["annotations"] = json!({ "nix:drv_path": drv });
            }
        }
        deps.push(d);
    }
    if let Some((name, Some(digest))) = &facts.base {
        let mut d = json!({ "name": "base image", "digest": digest_set(digest) });
        if let Some(name) = name {
            d["uri"] = json!(format!("docker://{name}"));
        }
        deps.push(d);
    }
    let mut external: Map<String, Value> = request.parameters.clone().into_iter().collect();
    external.insert("name".into(), json!(plan.name));
    external.insert("tag".into(), json!(plan.tag));
    external.insert("urunc".into(), json!(request.urunc));
    let mut build = json!({
        "buildType": BUILD_TYPE,
        "externalParameters": external,
        "resolvedDependencies": deps,
    });
    if let Some(nix) = nix_build() {
        build["internalParameters"] = json!({ "nix": nix });
    }
    let doc = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{ "name": subject_name, "digest": digest_set(&facts.manifest.digest) }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": build,
            "runDetails": {
                "builder": { "id": format!("pkg:generic/bimanix@{VERSION}"), "version": { "bimanix": VERSION } },
            },
        },
    });
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

/// `{"sha256": "<hex>"}` of a `sha256:<hex>` digest.
fn digest_set(digest: &str) -> Value {
    let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    json!({ alg: hex })
}

/// The derivation this process builds, when it is a Nix builder: its
/// `name` and `system`, which Nix sets in every builder's environment
/// (with `NIX_BUILD_TOP`).
fn nix_build() -> Option<Value> {
    std::env::var_os("NIX_BUILD_TOP")?;
    let var = |k: &str| std::env::var(k).ok();
    Some(json!({ "name": var("name"), "system": var("system") }))
}
