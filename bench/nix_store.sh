#!/usr/bin/env bash
# Section 7 of bench/bench.sh, runnable alone: what an image costs in the
# Nix store, the archive derivation next to `stream` (layers as derivations
# of their own), for a 64 MiB and a 1 GiB block image, after a
# cmdline-only change: new bytes in the closure, growth of a file://
# binary cache (`nix copy`, the stand-in for Hydra, cachix or attic),
# rebuild time, the blobs `copyToRegistry` uploads (the registry's access
# log), streaming 1 GiB next to `bimanix build`, and a layer derivation
# keeping its blob or only its digest. Skips, saying why, without nix-build.
# Usage: bash bench/nix_store.sh [WORKDIR]   (as root; Debian's nix-bin as
# tests/lib.sh sets it up; ~6 GiB free in WORKDIR and in /nix/store; the
# registry part needs docker-registry). Store paths it made are deleted
# at the end (by path, never a garbage collection of the whole store).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v nix-build >/dev/null; then
    echo "nix: skipped, nix-build is not installed (apt-get install nix-bin)"
    exit 0
fi
. "$here/tests/lib.sh"
nix_setup
work=${1:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
cargo build --release --locked --manifest-path "$here/Cargo.toml" >/dev/null 2>&1
bimanix=$here/target/release/bimanix
made=()

seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt" >&2; return 1; }; e=$(date +%s.%N); awk "BEGIN{printf \"%.2f\", $e - $s}"; }
ratio() { awk "BEGIN{printf \"%.2f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }
human() { awk "BEGIN{b=$1; if (b >= 1048576) printf \"%.1f MiB\", b/1048576; else printf \"%.1f KiB\", b/1024}"; }
# closure_bytes ROOT: the bytes of every path in ROOT's closure, one "path size" a line.
closure() { nix-store -qR "$1" | sort | while read -r p; do echo "$p $(nix-store -q --size "$p")"; done; }
# new_bytes OLD NEW: bytes of the paths in NEW's closure that OLD's lacks.
new_bytes() { join -v2 <(closure "$1") <(closure "$2") | awk '{s += $2} END {print s + 0}'; }
cache_bytes() { du -sb "$1" | cut -f1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nb() { nix-build "$here/default.nix" --arg tool "$bimanix" "$@"; }

# args DIR CMDLINE: an args file with the example kernel and the block
# image: DIR/disk.img; or the store path in DIR/disk.path (as when a
# derivation builds the image: evaluation then hashes nothing big); or,
# with DIR/disk.sha256, the host file pinned by its NAR hash
# (builtins.path with sha256: Nix reads it only when that store path is
# missing).
args() {
    local disk=./disk.img
    [ -f "$1/disk.path" ] && disk="builtins.storePath \"$(cat "$1/disk.path")\""
    [ -f "$1/disk.sha256" ] && disk="builtins.path { path = ./disk.img; name = \"disk.img\"; sha256 = \"$(cat "$1/disk.sha256")\"; }"
    cat >"$1/args.nix" <<EOF
{
  name = "bench/nix";
  files = [ { source = ./kernel; target = "/kernel"; } { source = $disk; target = "/disk.img"; } ];
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; block = "/disk.img"; blkMntPoint = "/"; cmdline = "$2"; };
}
EOF
}

# build DIR N ATTR: evaluates (nix-instantiate, which hashes host files into
# the store) and builds (nix-store -r) DIR's args.nix, `-A ATTR` unless
# ATTR is empty, linked as DIR/<ATTR or tar>N; says "EVAL BUILD" seconds.
build() {
    local dir=$1 n=$2 attr=$3 drv e b
    local link=$dir/${attr:-tar}$n
    e=$(seconds nix-instantiate "$here/default.nix" --arg tool "$bimanix" --arg args "$dir/args.nix" ${attr:+-A "$attr"} \
        --add-root "$link.drv" --indirect)
    drv=$(readlink "$link.drv")
    b=$(seconds nix-store -r "$drv" --add-root "$link" --indirect)
    echo "$e $b"
}

# build_both DIR N: builds the archive and the stream of DIR's args.nix
# (links tarN, streamN-stream), copies each into its own file:// cache, and
# says each one's evaluation and build seconds.
build_both() {
    local dir=$1 n=$2 t s
    t=$(build "$dir" "$n" "")
    s=$(build "$dir" "$n" stream)
    # nix-store -r links a second output as LINK-OUTPUT.
    [ -e "$dir/stream$n-stream" ] || ln -s "$(nix-store -q --outputs "$(readlink "$dir/stream$n.drv")" | grep -- '-stream$')" "$dir/stream$n-stream"
    nix copy --to "file://$dir/cache-tar?compression=none" "$dir/tar$n" 2>/dev/null
    nix copy --to "file://$dir/cache-stream?compression=none" "$dir/stream$n-stream" 2>/dev/null
    echo "$t $s"
}

bench_size() {
    local size=$1 dir=$work/$1$2
    mkdir -p "$dir"
    cp "$here/example/hello/hello.bzImage" "$dir/kernel"
    head -c "$size" /dev/urandom >"$dir/disk.img"
    case $2 in
    -in-store)
        nix-store --add "$dir/disk.img" >"$dir/disk.path"
        made+=("$(cat "$dir/disk.path")")
        ;;
    -pinned) nix-hash --type sha256 --base32 "$dir/disk.img" >"$dir/disk.sha256" ;;
    esac
    args "$dir" "console=ttyS0 k=1"
    local e_tar1 b_tar1 e_str1 b_str1 e_tar2 b_tar2 e_str2 b_str2 c_tar c_str
    read -r e_tar1 b_tar1 e_str1 b_str1 < <(build_both "$dir" 1)
    c_tar=$(cache_bytes "$dir/cache-tar")
    c_str=$(cache_bytes "$dir/cache-stream")
    args "$dir" "console=ttyS0 k=2"
    read -r e_tar2 b_tar2 e_str2 b_str2 < <(build_both "$dir" 2)
    local g_tar g_str t_tar2 t_str2
    g_tar=$(($(cache_bytes "$dir/cache-tar") - c_tar))
    g_str=$(($(cache_bytes "$dir/cache-stream") - c_str))
    t_tar2=$(awk "BEGIN{printf \"%.2f\", $e_tar2 + $b_tar2}")
    t_str2=$(awk "BEGIN{printf \"%.2f\", $e_str2 + $b_str2}")
    made+=("$(readlink "$dir/tar1")" "$(readlink "$dir/stream1-stream")" "$(readlink "$dir/tar2")" "$(readlink "$dir/stream2-stream")")
    local how=""
    case $2 in
    -in-store) how=" (built by a derivation: already in the store)" ;;
    -pinned) how=" (a host file pinned by its hash)" ;;
    *) how=" (a host file)" ;;
    esac
    echo "-- $(human "$size") block image$how, after a cmdline-only change"
    echo "new bytes in the closure:  archive $(human "$(new_bytes "$dir/tar1" "$dir/tar2")"), stream $(human "$(new_bytes "$dir/stream1-stream" "$dir/stream2-stream")") (target <= 1 MiB)"
    echo "file:// cache growth:      archive $(human "$g_tar"), stream $(human "$g_str") (target <= 1 MiB)"
    echo "rebuild time:              archive ${t_tar2} s, stream ${t_str2} s: $(ratio "$t_str2" "$t_tar2") x (target <= 0.25)"
    echo "  evaluation + build:      archive ${e_tar2} + ${b_tar2} s, stream ${e_str2} + ${b_str2} s (builds alone: $(ratio "$b_str2" "$b_tar2") x)"
    echo "first build:               archive ${e_tar1} + ${b_tar1} s, stream ${e_str1} + ${b_str1} s (layers included)"
    rm -rf "$dir/cache-tar" "$dir/cache-stream"
}

# copyToRegistry: a first push, then the changed image: what is uploaded.
bench_registry() {
    local dir=$work/$1
    if ! command -v docker-registry >/dev/null; then
        echo "copyToRegistry: skipped, docker-registry is not installed"
        return 0
    fi
    local port pid
    port=$(free_port)
    printf 'version: 0.1\nlog: {level: info}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: "127.0.0.1:%s"}\n' \
        "$dir/registry" "$port" >"$dir/registry.yml"
    docker-registry serve "$dir/registry.yml" >"$dir/access.log" 2>"$dir/registry.log" &
    pid=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
    args "$dir" "console=ttyS0 k=1"
    nb --arg args "$dir/args.nix" -A copyToRegistry -o "$dir/push1" >/dev/null 2>&1
    args "$dir" "console=ttyS0 k=2"
    nb --arg args "$dir/args.nix" -A copyToRegistry -o "$dir/push2" >/dev/null 2>&1
    made+=("$(readlink "$dir/push1")" "$(readlink "$dir/push2")")
    local t1 t2 m u1 u2
    t1=$(seconds "$dir/push1/bin/copyToRegistry" "127.0.0.1:$port/bench/nix:1" --plain-http)
    m=$(wc -l <"$dir/access.log")
    t2=$(seconds "$dir/push2/bin/copyToRegistry" "127.0.0.1:$port/bench/nix:2" --plain-http)
    uploads() { grep -E '"PUT /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/[0-9.]+" 201' | grep -oE 'digest=sha256(%3A|:)[0-9a-f]{12}' | sed 's/.*[:A]//' | tr '\n' ' '; }
    u1=$(head -n "$m" "$dir/access.log" | uploads)
    u2=$(tail -n +"$((m + 1))" "$dir/access.log" | uploads)
    echo "copyToRegistry, first:     ${t1} s, uploaded $(echo "$u1" | wc -w) blobs ($u1)"
    echo "copyToRegistry, changed:   ${t2} s, uploaded $(echo "$u2" | wc -w) blobs ($u2; the config and the top layer)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$dir/registry"
}

# Streaming the 1 GiB image to a file next to `bimanix build` of it, best of 3.
bench_stream() {
    local dir=$work/$1 s="" b="" t
    for _ in 1 2 3; do
        rm -f "$work/out.tar"; sync
        t=$(seconds sh -c "'$dir/stream2-stream' > '$work/out.tar'")
        if [ -z "$s" ] || awk "BEGIN{exit !($t < $s)}"; then s=$t; fi
        rm -f "$work/out.tar"; sync
        t=$(seconds sh -c "cd '$dir' && '$bimanix' build args.nix -o '$work/out.tar'")
        if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
    done
    rm -f "$work/out.tar"
    echo "stream 1 GiB to a file:    ${s} s, bimanix build ${b} s: $(ratio "$s" "$b") x (target <= 1.2)"
}

# A layer derivation's builder keeping the blob, or only the digest.
bench_layer_modes() {
    local dir=$work/$1 tb td
    printf '{"name":"layer","files":[{"source":"%s","target":"/disk.img"}],"annotations":{"unikernelType":"linux","hypervisor":"qemu","binary":"/"}}' \
        "$dir/disk.img" >"$dir/layer.json"
    rm -rf "$dir/blob" "$dir/digest"; sync
    tb=$(seconds env L="$dir/layer.json" "$bimanix" layer --args-from-env L --artifact /disk.img -o "$dir/blob")
    sync
    td=$(seconds env L="$dir/layer.json" "$bimanix" layer --args-from-env L --artifact /disk.img --digest-only -o "$dir/digest")
    echo "layer keeping its blob:    ${tb} s, $(human "$(du -sb "$dir/blob" | cut -f1)") stored (read once at copy time, checked while it streams)"
    echo "layer keeping its digest:  ${td} s, $(human "$(du -sb "$dir/digest" | cut -f1)") stored (the tar made again from the sources at every copy)"
    rm -rf "$dir/blob" "$dir/digest"
}

echo "nix:              $(nix-build --version | head -n 1), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
for size in ${BENCH_NIX_SIZES:-$((64 << 20)) $((1 << 30))}; do bench_size "$size" ""; done
bench_size $((1 << 30)) -in-store
bench_size $((1 << 30)) -pinned
bench_registry $((1 << 30))
bench_stream $((1 << 30))
bench_layer_modes $((1 << 30))
# The store paths made here, and what only they kept alive.
rm -f "$work"/*/tar? "$work"/*/tar?.drv "$work"/*/stream? "$work"/*/stream?.drv "$work"/*/stream?-stream "$work"/*/push?
for p in "${made[@]}"; do nix-store --delete $(nix-store -qR "$p" | grep -v -- "-bimanix$") >/dev/null 2>&1 || true; done
[ -z "${1:-}" ] && rm -rf "$work"
exit 0
