#!/usr/bin/env python3
"""Plays another tool (as cosign or oras attach would) against a registry
with TLS and Basic auth: pushes an SPDX document as an artifact manifest
whose subject is SUBJECT, and the referrers fallback index under the tag
sha256-<hex of SUBJECT> listing it. Prints the artifact manifest's digest.

Usage: other_tool.py REGISTRY REPOSITORY CA_FILE USER:PASSWORD SUBJECT_DIGEST SUBJECT_SIZE
"""
import base64
import hashlib
import json
import ssl
import sys
import urllib.request

registry, repo, ca, creds, subject, subject_size = sys.argv[1:7]
context = ssl.create_default_context(cafile=ca)
auth = "Basic " + base64.b64encode(creds.encode()).decode()


def request(method, path, body=None, ctype=None):
    req = urllib.request.Request(f"https://{registry}{path}", data=body, method=method)
    req.add_header("Authorization", auth)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, context=context, timeout=30) as r:
        return r.headers


def blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = request("POST", f"/v2/{repo}/blobs/uploads/")["Location"]
    sep = "&" if "?" in location else "?"
    path = location.split(registry, 1)[-1]
    request("PUT", f"{path}{sep}digest={digest}", data, "application/octet-stream")
    return {"digest": digest, "size": len(data)}


def manifest(doc, ref, ctype):
    request("PUT", f"/v2/{repo}/manifests/{ref}", json.dumps(doc).encode(), ctype)


MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
empty = blob(b"{}")
doc = blob(b'{"spdxVersion":"SPDX-2.3","name":"other tool"}')
artifact = {
    "schemaVersion": 2,
    "mediaType": MANIFEST,
    "artifactType": "application/spdx+json",
    "config": {"mediaType": "application/vnd.oci.empty.v1+json", **empty},
    "layers": [{"mediaType": "application/spdx+json", **doc}],
    "subject": {"mediaType": MANIFEST, "digest": subject, "size": int(subject_size)},
    "annotations": {"org.example.tool": "other"},
}
data = json.dumps(artifact).encode()
digest = "sha256:" + hashlib.sha256(data).hexdigest()
manifest(artifact, digest, MANIFEST)
index = {
    "schemaVersion": 2,
    "mediaType": INDEX,
    "manifests": [{"mediaType": MANIFEST, "digest": digest, "size": len(data),
                   "artifactType": "application/spdx+json", "annotations": {"org.example.tool": "other"}}],
}
manifest(index, "sha256-" + subject.split(":", 1)[1], INDEX)
print(digest)
