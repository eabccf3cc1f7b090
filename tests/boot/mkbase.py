#!/usr/bin/env python3
"""Writes a two-layer docker-archive to use as a base image in tests/boot_linux.sh.

Usage: mkbase.py BUSYBOX OUT.tar [LAYER1.tar]

Layer 1 holds /bin/busybox (copied from BUSYBOX), /bin/sh -> busybox and
files under /etc/base, /etc/bimanix and /opt/opq; layer 2 deletes one of
them with a whiteout, makes /opt/opq opaque and overrides another. What a
guest built on it must see (checked by the test through tests/boot/init):
  /etc/base/kept           "kept-from-layer-1"
  /etc/base/removed        absent (whiteout in layer 2)
  /etc/base/over           "over-from-layer-2"
  /opt/opq/old             absent (opaque directory in layer 2)
  /opt/opq/new             "new-from-layer-2"
  /etc/bimanix/rootfs-only what rootfs.files put on top (the base has another value)
  /bin/sh                  a symlink to busybox
The archive is deterministic: fixed times, root ownership, sorted entries.
LAYER1.tar, when given, receives layer 1 alone (for `podman import`).
"""
import hashlib
import io
import json
import sys
import tarfile


def entry(name, kind, data=b"", mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def directory(name):
    return entry(name, tarfile.DIRTYPE, mode=0o755)


def regular(name, data, mode=0o644):
    return entry(name, tarfile.REGTYPE, data, mode)


def tar_bytes(entries):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: mkbase.py BUSYBOX OUT.tar [LAYER1.tar]")
    with open(sys.argv[1], "rb") as f:
        busybox = f.read()
    layer1 = tar_bytes([
        directory("bin/"),
        regular("bin/busybox", busybox, 0o755),
        entry("bin/sh", tarfile.SYMTYPE, link="busybox", mode=0o777),
        directory("etc/"),
        directory("etc/base/"),
        regular("etc/base/kept", b"kept-from-layer-1\n"),
        regular("etc/base/over", b"over-from-layer-1\n"),
        regular("etc/base/removed", b"removed-in-layer-2\n"),
        directory("etc/bimanix/"),
        regular("etc/bimanix/rootfs-only", b"from-the-base-image\n"),
        directory("opt/"),
        directory("opt/opq/"),
        regular("opt/opq/old", b"hidden-by-layer-2\n"),
    ])
    layer2 = tar_bytes([
        directory("etc/"),
        directory("etc/base/"),
        regular("etc/base/.wh.removed", b""),
        regular("etc/base/over", b"over-from-layer-2\n"),
        directory("opt/"),
        directory("opt/opq/"),
        regular("opt/opq/.wh..wh..opq", b""),
        regular("opt/opq/new", b"new-from-layer-2\n"),
    ])
    layers = [layer1, layer2]
    digests = [hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in digests]},
    }, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{
        "Config": config_name,
        "RepoTags": ["bimanix-test-base:latest"],
        "Layers": [d + "/layer.tar" for d in digests],
    }], separators=(",", ":")).encode()
    files = [regular(config_name, config)]
    for digest, layer in zip(digests, layers):
        files += [directory(digest + "/"), regular(digest + "/layer.tar", layer)]
    files.append(regular("manifest.json", manifest))
    with open(sys.argv[2], "wb") as f:
        f.write(tar_bytes(files))
    if len(sys.argv) == 4:
        with open(sys.argv[3], "wb") as f:
            f.write(layer1)


main()
