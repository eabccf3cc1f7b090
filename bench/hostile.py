#!/usr/bin/env python3
"""Writes the hostile archives bench/hostile.sh feeds to `bimanix inspect`.

Usage: hostile.py KIND OUT
  fanout   an OCI archive whose indexes fan out 40 ways, 4 deep, to one image
  layer64  an OCI archive listing one gzip layer 64 times
  bomb     an OCI archive with a gzip layer of 2 GiB of zeros (about 2 MB)
  archive  a gzip'ed OCI archive whose layer is 2 GiB of zeros (about 2 MB)
  million  an OCI archive with a layer of a million empty files
"""
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import zlib

ZEROS = 2 << 30


def sha(data):
    return hashlib.sha256(data).hexdigest()


def entry(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def oci(path, layers, diff_ids, media_type, mode="w", extra=()):
    """An OCI archive: layers is a list of (hex, size, writer) per listing."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + sha(config), "size": len(config)},
        "layers": [{"mediaType": media_type, "digest": "sha256:" + h, "size": n} for h, n, _ in layers]}).encode()
    top = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": "sha256:" + sha(manifest), "size": len(manifest)}
    written = set()
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tar:
        entry(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        for name, data in extra:
            entry(tar, name, data)
        for data in (config, manifest):
            entry(tar, "blobs/sha256/" + sha(data), data)
        for h, n, write in layers:
            if h not in written:
                written.add(h)
                write(tar, "blobs/sha256/" + h)
        for name, data in top_index(top, extra):
            entry(tar, name, data)


def top_index(desc, extra):
    return [("index.json", json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode())]


def blob_writer(data):
    return lambda tar, name: entry(tar, name, data)


def layer_tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in files:
            entry(tar, name, data)
    return buf.getvalue()


class Chain(io.RawIOBase):
    """Reads the header, then `size` zeros, then the tail."""

    def __init__(self, head, size, tail):
        self.parts = [head, size, tail]

    def readable(self):
        return True

    def readinto(self, b):
        while self.parts:
            part = self.parts[0]
            if isinstance(part, int):
                k = min(len(b), part)
                b[:k] = bytes(k)
                self.parts[0] -= k
            else:
                k = min(len(b), len(part))
                b[:k] = part[:k]
                self.parts[0] = part[k:]
            if k:
                return k
            self.parts.pop(0)
        return 0


def zero_layer():
    """The tar of one file of ZEROS zero bytes: its header, tail and digest."""
    info = tarfile.TarInfo("zeros")
    info.size = ZEROS
    head, tail = info.tobuf(format=tarfile.GNU_FORMAT), bytes(1024)
    h = hashlib.sha256(head)
    chunk = bytes(1 << 20)
    for _ in range(ZEROS >> 20):
        h.update(chunk)
    h.update(tail)
    return head, tail, h.hexdigest()


def main(kind, out):
    if kind == "fanout":
        layer = layer_tar([("f", b"x")])
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha(layer)]}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": "sha256:" + sha(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": "sha256:" + sha(layer), "size": len(layer)}]}).encode()
        desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + sha(manifest),
                "size": len(manifest), "platform": {"os": "linux", "architecture": "amd64"}}
        blobs = [layer, config, manifest]
        for _ in range(4):
            index = json.dumps({"schemaVersion": 2, "manifests": [desc] * 40}).encode()
            blobs.append(index)
            desc = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + sha(index),
                    "size": len(index)}
        with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
            entry(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            for blob in blobs:
                entry(tar, "blobs/sha256/" + sha(blob), blob)
            entry(tar, "index.json", json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode())
    elif kind == "layer64":
        layer = layer_tar([("f%d" % i, os.urandom(1000)) for i in range(1000)])
        blob = gzip.compress(layer, mtime=0)
        listing = (sha(blob), len(blob), blob_writer(blob))
        oci(out, [listing] * 64, ["sha256:" + sha(layer)] * 64, "application/vnd.oci.image.layer.v1.tar+gzip")
    elif kind == "bomb":
        head, tail, diff_id = zero_layer()
        comp = zlib.compressobj(9, zlib.DEFLATED, 31)
        parts = [comp.compress(head)]
        chunk = bytes(1 << 20)
        for _ in range(ZEROS >> 20):
            parts.append(comp.compress(chunk))
        parts += [comp.compress(tail), comp.flush()]
        blob = b"".join(parts)
        oci(out, [(sha(blob), len(blob), blob_writer(blob))], ["sha256:" + diff_id],
            "application/vnd.oci.image.layer.v1.tar+gzip")
    elif kind == "archive":
        head, tail, diff_id = zero_layer()
        size = len(head) + ZEROS + len(tail)

        def write(tar, name):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BufferedReader(Chain(head, ZEROS, tail), 1 << 20))
        oci(out, [(diff_id, size, write)], ["sha256:" + diff_id], "application/vnd.oci.image.layer.v1.tar",
            mode="w:gz")
    elif kind == "million":
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for i in range(1000000):
                info = tarfile.TarInfo("d%03d/file-%07d" % (i % 1000, i))
                tar.addfile(info)
        layer = buf.getvalue()
        oci(out, [(sha(layer), len(layer), blob_writer(layer))], ["sha256:" + sha(layer)],
            "application/vnd.oci.image.layer.v1.tar")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
