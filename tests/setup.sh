#!/usr/bin/env bash
# Installs the real components the tests use (Debian 12 packages), once.
# Idempotent: does nothing when every command is already there.
set -euo pipefail

need=()
for pair in nix-build:nix-bin dockerd:docker.io podman:podman skopeo:skopeo ctr:containerd \
            qemu-system-x86_64:qemu-system-x86 e2fsck:e2fsprogs \
            cpio:cpio as:binutils \
            docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl python3:python3 \
            pigz:pigz zstd:zstd; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# tests/provenance.sh makes a virtualenv for the SBOM and attestation validators.
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# The boot test needs the static busybox (the plain one links to libc).
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
