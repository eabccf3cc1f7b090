#!/usr/bin/env bash
# Runs README.md's quick start as a new user would: the cargo route's block
# and the air-gapped Nix route's block, literally as the README prints them,
# in a copy of the working tree, with a private dockerd for `docker load`.
# Checks that each ends with the example image loaded, and that both routes
# give the same bytes. (The networked Nix block needs GitHub and is not run.)
#
# Usage: tests/quickstart.sh   (from anywhere; as root, after tests/setup.sh).
# The copy's target/ is a link to the repository's, so cargo only rebuilds
# bimanix itself. The last line is "N passed, M failed".
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

. "$root/tests/lib.sh"

tmp=$(mktemp -d /tmp/bimanix-quickstart.XXXXXX)
started_dockerd=
cleanup() {
    docker rmi bimanix-hello:latest >/dev/null 2>&1
    [ -n "$started_dockerd" ] && stop "$started_dockerd"
    grep -o " $tmp/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The ```sh blocks of README.md's "Quick start" section, one file each.
awk -v dir="$tmp" '
    /^## / { in_section = ($0 == "## Quick start") }
    in_section && /^```sh$/ { n++; out = dir "/block" n ".sh"; next }
    out && /^```$/ { close(out); out = ""; next }
    out { print > out }
' "$root/README.md"
for n in 1 2 3; do
    [ -s "$tmp/block$n.sh" ] || { notok "README's quick start has a sh block $n"; finish; }
done
ok "README's quick start has its three sh blocks"
contains "the first block is the cargo route" "$(cat "$tmp/block1.sh")" "cargo build" "docker load"
contains "the third block is the air-gapped Nix route" "$(cat "$tmp/block3.sh")" "NIX_CONFIG" "--arg tool" "docker load"

mkdir -p "$tmp/clone"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$tmp/clone")
mkdir -p "$root/target"
ln -s "$root/target" "$tmp/clone/target"

private_dockerd "$tmp/d"
timeout 20 docker info >/dev/null 2>&1 || { notok "a Docker daemon answers" "$(tail -n 20 "$tmp/d/dockerd.log" 2>/dev/null)"; finish; }

# A clean shell for each block: no NIX_CONFIG from the suites, as a user has.
run_block() {
    (cd "$tmp/clone" && env -u NIX_CONFIG timeout 900 bash -e "$tmp/block$1.sh") >"$tmp/out$1" 2>&1
}
if run_block 1; then ok "the cargo route runs as printed"; else notok "the cargo route runs as printed" "$(tail -n 20 "$tmp/out1")"; fi
contains "the cargo route loads the example image" "$(cat "$tmp/out1")" "Loaded image: bimanix-hello:latest"
same "the cargo route's build is silent but for its one line" "1" \
    "$(grep -c '^bimanix: ' "$tmp/out1")"

docker rmi bimanix-hello:latest >/dev/null 2>&1
mkdir -p /nix/var/nix
if run_block 3; then ok "the air-gapped Nix route runs as printed"; else notok "the air-gapped Nix route runs as printed" "$(tail -n 20 "$tmp/out3")"; fi
contains "the Nix route loads the example image" "$(cat "$tmp/out3")" "Loaded image: bimanix-hello:latest"
check "both routes give the same bytes (cmp result hello.tar)" cmp "$tmp/clone/result" "$tmp/clone/hello.tar"

finish
