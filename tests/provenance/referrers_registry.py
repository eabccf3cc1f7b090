#!/usr/bin/env python3
"""A small in-memory registry on 127.0.0.1 (plain HTTP, no auth) that
answers the OCI referrers API, as distribution 2.8 does not: enough of the
distribution API for a push (blobs by monolithic upload, manifests by tag
or digest) plus GET /v2/<name>/referrers/<digest>, which lists the
manifests pushed with that subject, and the OCI-Subject header on their
PUT. Every request line is appended to LOG, so a test can tell which paths
a client used.

Usage: referrers_registry.py PORT LOG
"""
import hashlib
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INDEX = "application/vnd.oci.image.index.v1+json"
blobs, manifests, tags, uploads = {}, {}, {}, {}
port, log = int(sys.argv[1]), sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def handle_one(self):
        with open(log, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        path = self.path.split("?")[0]
        query = dict(p.split("=", 1) for p in self.path.partition("?")[2].split("&") if "=" in p)
        if path == "/v2/":
            return self.send(200, b"{}")
        m = re.fullmatch(r"/v2/(.+?)/(blobs/uploads|blobs|manifests|referrers)/(.*)", path)
        if not m:
            return self.send(404)
        _, kind, ref = m.groups()
        if kind == "blobs/uploads":
            if self.command == "POST":
                self.body()
                uid = str(len(uploads))
                uploads[uid] = b""
                return self.send(202, headers={"Location": f"/v2/{m.group(1)}/blobs/uploads/{uid}"})
            if self.command == "PUT":
                data = self.body()
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                if query.get("digest", "").replace("%3A", ":") != digest:
                    return self.send(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                blobs[digest] = data
                return self.send(201, headers={"Docker-Content-Digest": digest})
        if kind == "blobs":
            if ref in blobs:
                return self.send(200, blobs[ref], {"Docker-Content-Digest": ref})
            return self.send(404)
        if kind == "manifests":
            if self.command == "PUT":
                data = self.body()
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                doc = json.loads(data)
                manifests[digest] = (data, self.headers.get("Content-Type"))
                if not ref.startswith("sha256:"):
                    tags[ref] = digest
                headers = {"Docker-Content-Digest": digest}
                if "subject" in doc:
                    headers["OCI-Subject"] = doc["subject"]["digest"]
                return self.send(201, headers=headers)
            digest = tags.get(ref, ref)
            if digest in manifests:
                data, ctype = manifests[digest]
                return self.send(200, data, {"Content-Type": ctype, "Docker-Content-Digest": digest})
            return self.send(404)
        if kind == "referrers":
            listed = []
            for digest, (data, ctype) in sorted(manifests.items()):
                doc = json.loads(data)
                if doc.get("subject", {}).get("digest") == ref:
                    d = {"mediaType": ctype, "digest": digest, "size": len(data)}
                    d["artifactType"] = doc.get("artifactType") or doc["config"]["mediaType"]
                    if doc.get("annotations"):
                        d["annotations"] = doc["annotations"]
                    listed.append(d)
            body = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": listed}).encode()
            return self.send(200, body, {"Content-Type": INDEX})
        return self.send(405)

    do_GET = do_HEAD = do_POST = do_PUT = handle_one


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
