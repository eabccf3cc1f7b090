#!/usr/bin/env python3
"""Reads an image archive back the way urunc sees it, independently of bimanix.

Usage: readimage.py IMAGE OUTDIR

IMAGE is a docker-archive or OCI archive (a tar) or an OCI layout directory.
The layers are flattened as containerd unpacks them (whiteouts and opaque
directories honoured), /urunc.json is decoded (every value is base64 of the
real value), and the files it names are extracted into OUTDIR:
  OUTDIR/binary            the kernel (urunc.json "binary")
  OUTDIR/initrd            the initrd, when urunc.json names one
  OUTDIR/block             the block image, when urunc.json names one
  OUTDIR/argv              Entrypoint + Cmd, one argument per line
Prints "key value" lines on stdout: platform, each decoded urunc.json key
(without the com.urunc.unikernel. prefix), and layers.
Exits 1 with a message on stderr when the image is not what urunc needs.
"""
import base64
import gzip
import io
import json
import os
import posixpath
import sys
import tarfile

PREFIX = "com.urunc.unikernel."


def fail(msg):
    print(f"readimage: {msg}", file=sys.stderr)
    sys.exit(1)


class Source:
    """Blobs and top-level files of an archive or a layout directory."""

    def __init__(self, path):
        self.dir = path if os.path.isdir(path) else None
        self.tar = None if self.dir else tarfile.open(path, "r:")

    def has(self, name):
        if self.dir:
            return os.path.isfile(os.path.join(self.dir, name))
        try:
            self.tar.getmember(name)
            return True
        except KeyError:
            return False

    def read(self, name):
        if self.dir:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read()
        member = self.tar.getmember(name)
        # docker-archives written by podman link layer.tar to the blob.
        while member.issym() or member.islnk():
            target = member.linkname
            if member.issym():
                target = posixpath.normpath(posixpath.join(posixpath.dirname(member.name), target))
            member = self.tar.getmember(target)
        return self.tar.extractfile(member).read()

    def blob(self, digest):
        algo, _, hexpart = digest.partition(":")
        return self.read(f"blobs/{algo}/{hexpart}")


def manifest_and_config(src):
    """The config and the layer blobs, by the OCI index if there is one
    (what containerd reads), else by docker's manifest.json."""
    if src.has("index.json"):
        index = json.loads(src.read("index.json"))
        manifests = index.get("manifests") or []
        if len(manifests) != 1:
            fail(f"index.json lists {len(manifests)} manifests, expected 1")
        manifest = json.loads(src.blob(manifests[0]["digest"]))
        config = json.loads(src.blob(manifest["config"]["digest"]))
        layers = [src.blob(layer["digest"]) for layer in manifest["layers"]]
        return config, layers
    if src.has("manifest.json"):
        entries = json.loads(src.read("manifest.json"))
        if len(entries) != 1:
            fail(f"manifest.json lists {len(entries)} images, expected 1")
        config = json.loads(src.read(entries[0]["Config"]))
        layers = [src.read(name) for name in entries[0]["Layers"]]
        return config, layers
    fail("neither index.json nor manifest.json: not an image archive")


def flatten(layers):
    """Path (no leading /) -> (TarInfo, bytes or None) after applying the layers."""
    fs = {}
    for raw in layers:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as layer:
            for member in layer.getmembers():
                path = posixpath.normpath("/" + member.name).lstrip("/")
                if not path:
                    continue
                parent, base = posixpath.split(path)
                if base == ".wh..wh..opq":
                    # Opaque directory: hide what lower layers put inside.
                    for p in [p for p in fs if p.startswith(parent + "/")]:
                        del fs[p]
                    continue
                if base.startswith(".wh."):
                    gone = posixpath.join(parent, base[len(".wh."):])
                    for p in [p for p in fs if p == gone or p.startswith(gone + "/")]:
                        del fs[p]
                    continue
                data = None
                if member.isreg():
                    data = layer.extractfile(member).read()
                elif member.islnk():
                    target = posixpath.normpath("/" + member.linkname).lstrip("/")
                    if target not in fs:
                        fail(f"hard link {path} points to missing {target}")
                    member, data = fs[target][0], fs[target][1]
                fs[path] = (member, data)
    return fs


def regular_file(fs, path, what):
    entry = fs.get(path.lstrip("/"))
    if entry is None:
        fail(f"{what} {path} is not in the image's rootfs")
    _, data = entry
    if data is None:
        fail(f"{what} {path} is not a regular file")
    return data


def main():
    if len(sys.argv) != 3:
        fail("usage: readimage.py IMAGE OUTDIR")
    image, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    config, layers = manifest_and_config(Source(image))
    print(f"platform {config.get('os')}/{config.get('architecture')}")
    print(f"layers {len(layers)}")
    fs = flatten(layers)

    raw = regular_file(fs, "/urunc.json", "urunc.json")
    try:
        encoded = json.loads(raw)
    except ValueError as e:
        fail(f"/urunc.json is not JSON: {e}")
    if not isinstance(encoded, dict):
        fail("/urunc.json is not a JSON object")
    keys = {}
    for key, value in sorted(encoded.items()):
        if not isinstance(value, str):
            fail(f"/urunc.json: {key} is not a string (urunc would fall back to runc)")
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except ValueError:
            fail(f"/urunc.json: {key} is not base64 (urunc would fall back to runc)")
        short = key[len(PREFIX):] if key.startswith(PREFIX) else key
        keys[short] = decoded
        print(f"{short} {decoded}")

    if "binary" not in keys:
        fail("/urunc.json has no binary")
    for name in ("binary", "initrd", "block"):
        if name in keys:
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(regular_file(fs, keys[name], name))

    # urunc >= 0.7 takes the guest's arguments from the OCI process args.
    cfg = config.get("config") or {}
    argv = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
    if not argv:
        fail("the image has neither Entrypoint nor Cmd")
    if any("\n" in a for a in argv):
        fail("an argument holds a newline; this reader writes one per line")
    with open(os.path.join(outdir, "argv"), "w") as f:
        f.write("".join(a + "\n" for a in argv))


main()
