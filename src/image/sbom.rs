//! The SBOM of an image: a CycloneDX 1.6 JSON document of what the image
//! holds. Every file of the image's own layers is a `file` component with
//! its size, SHA-256 and role (kernel, initrd, block image, urunc.json or
//! rootfs entry), the files put into a generated initrd or block image are
//! nested in its component, a file that came from the Nix store carries
//! sbomnix's properties (`nix:output_path`, and `nix:drv_path` where the
//! Nix functions passed the derivation), and the base image is a
//! `container` component with its manifest digest. The metadata names the
//! image by its manifest digest, bimanix and its version as the tool, and
//! the urunc versions the image was checked against.
//!
//! The document is a function of the image: its serial number is a UUID
//! (version 5) of the manifest digest and its timestamp the image's
//! `created`, so the same image gives the same bytes.

use serde_json::{Value, json};

use crate::image::attach::{Facts, FileFact, VERSION};
use crate::model::reference;

/// The CycloneDX specification version written.
pub const SPEC_VERSION: &str = "1.6";

/// The namespace of the serial numbers' UUIDs (a version 5 UUID of the
/// URL namespace and `urn:bimanix:sbom`), so they are bimanix's own.
fn namespace() -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"urn:bimanix:sbom")
}

/// The SBOM of the image `facts` describe, as JSON bytes.
pub fn cyclonedx(facts: &Facts) -> Vec<u8> {
    let plan = facts.plan;
    let serial = uuid::Uuid::new_v5(&namespace(), facts.manifest.digest.as_bytes());
    let mut components: Vec<Value> = facts.files.iter().map(|f| file_component(f, "file:", facts)).collect();
    if let Some((name, digest)) = &facts.base {
        let mut base = json!({
            "type": "container",
            "bom-ref": "base-image",
            "name": name.clone().unwrap_or_else(|| "base image".to_string()),
            "properties": [property("bimanix:role", "base image")],
        });
        if let Some(hex) = digest.as_deref().and_then(|d| d.strip_prefix("sha256:")) {
            base["hashes"] = json!([{ "alg": "SHA-256", "content": hex }]);
        }
        components.push(base);
    }
    let refs: Vec<Value> = components.iter().map(|c| c["bom-ref"].clone()).collect();
    let mut image_props: Vec<Value> = plan.annotations.iter().map(|(k, v)| property(k, v)).collect();
    image_props.extend(plan.attach.urunc.iter().map(|v| property("bimanix:urunc.checked", v)));
    let qualified = reference::qualified(&plan.name);
    let image = json!({
        "type": "container",
        "bom-ref": "image",
        "name": plan.name,
        "version": plan.tag,
        "hashes": [{ "alg": "SHA-256", "content": facts.manifest.hex() }],
        "purl": purl(&qualified, &plan.tag, &facts.manifest.digest, &plan.config.architecture),
        "properties": image_props,
    });
    let bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": format!("urn:uuid:{serial}"),
        "version": 1,
        "metadata": {
            "timestamp": plan.config.created,
            "tools": { "components": [{ "type": "application", "name": "bimanix", "version": VERSION }] },
            "component": image,
        },
        "components": components,
        "dependencies": [{ "ref": "image", "dependsOn": refs }],
    });
    serde_json::to_vec_pretty(&bom).unwrap_or_default()
}

/// A file's component; `prefix` makes its `bom-ref` unique (`file:` for
/// the layers, `file:<rootfs>!` inside a generated rootfs).
fn file_component(f: &FileFact, prefix: &str, facts: &Facts) -> Value {
    let mut props = vec![property("bimanix:role", f.role), property("bimanix:size", &f.size.to_string())];
    if let Some(store) = &f.store_path {
        props.push(property("nix:output_path", store));
        if let Some(drv) = facts.plan.attach.derivers.get(store) {
            props.push(property("nix:drv_path", drv));
        }
    }
    let bom_ref = format!("{prefix}{}", f.path);
    let mut c = json!({
        "type": "file",
        "bom-ref": bom_ref,
        "name": f.path,
        "hashes": [{ "alg": "SHA-256", "content": f.sha256 }],
        "properties": props,
    });
    if !f.inside.is_empty() {
        let inner = format!("{bom_ref}!");
        c["components"] = f.inside.iter().map(|g| file_component(g, &inner, facts)).collect();
    }
    c
}

fn property(name: &str, value: &str) -> Value {
    json!({ "name": name, "value": value })
}

/// The package URL of the image: `pkg:oci/<name>@sha256%3A<hex>` with its
/// repository, tag and architecture, as syft writes it.
fn purl(qualified: &str, tag: &str, digest: &str, arch: &str) -> String {
    let last = qualified.rsplit('/').next().unwrap_or(qualified).to_lowercase();
    let enc = |s: &str| s.replace('%', "%25").replace(':', "%3A").replace('&', "%26").replace('?', "%3F");
    format!("pkg:oci/{last}@{}?arch={}&repository_url={}&tag={}", enc(digest), enc(arch), enc(qualified), enc(tag))
}
