#!/bin/sh
# Rebuild hello.bzImage from hello.S with binutils (as, ld, objcopy).
# Usage: build.sh [OUTPUT]   (default: hello.bzImage beside this script)
# The output depends only on hello.S, hello.ld and the binutils version:
# no timestamps, build ids or paths end up in it.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/hello.bzImage}
for tool in as ld objcopy; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "build.sh: '$tool' not found; install binutils (apt-get install -y binutils)" >&2
        exit 1
    }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --64 -o "$tmp/hello.o" "$here/hello.S"
ld -m elf_x86_64 --build-id=none -T "$here/hello.ld" -o "$tmp/hello.elf" "$tmp/hello.o"
objcopy -O binary "$tmp/hello.elf" "$tmp/hello.bzImage"
# objcopy makes its output executable; a kernel image is data.
chmod 0644 "$tmp/hello.bzImage"
mv "$tmp/hello.bzImage" "$out"
