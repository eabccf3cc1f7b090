#!/usr/bin/env bash
# Measures bimanix on big inputs and prints figures and ratios:
#  1. a docker-archive holding a 1 GiB block image, next to `cp` of the
#     same file, with peak memory (/usr/bin/time -v);
#  2. a 256 MiB ext2 block rootfs and an initrd of the same files.
# Usage: bash bench/bench.sh [WORKDIR]   (needs ~4 GiB free in WORKDIR)
# Not part of the test suite: timings are reported, not asserted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time (apt-get install time)"; exit 1; }
cargo build --release --locked --manifest-path "$here/Cargo.toml" >/dev/null 2>&1
bimanix=$here/target/release/bimanix

# Runs a command 3 times; sets T to the best wall time (s) and RSS to the
# peak resident size (KiB) of that run. A failing command stops the bench.
measure() {
  T="" RSS=""
  for _ in 1 2 3; do
    if ! /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt"; then
      echo "bench: failed: $*" >&2; cat "$work/err.txt" >&2; exit 1
    fi
    local t r
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    if [ -z "$T" ] || awk "BEGIN{exit !($t < $T)}"; then T=$t; RSS=$r; fi
  done
}
ratio() { awk "BEGIN{printf \"%.2f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }

echo "== 1 GiB block image in an image archive"
cp "$here/example/hello/hello.bzImage" "$work/kernel"
head -c 1G /dev/urandom > "$work/disk.img"
cat > "$work/big.json" <<JSON
{"name":"bench","tag":"1g","files":{"./kernel":"/kernel","./disk.img":"/disk.img"},
 "annotations":{"unikernelType":"linux","hypervisor":"qemu","binary":"/kernel","block":"/disk.img","blkMntPoint":"/"}}
JSON
cp "$work/disk.img" "$work/warm.img" && rm "$work/warm.img"   # warm the page cache
measure cp "$work/disk.img" "$work/copy.img"; cp_t=$T cp_rss=$RSS
measure sh -c 'cat "$1" > "$2"' sh "$work/disk.img" "$work/copy.img"; cat_t=$T
measure "$bimanix" build "$work/big.json" -o "$work/big.tar"; b_t=$T b_rss=$RSS
size=$(stat -c %s "$work/big.tar")
echo "input:            $(stat -c %s "$work/disk.img") bytes"
echo "image archive:    $size bytes"
echo "cp:               ${cp_t} s, peak RSS ${cp_rss} KiB (copy_file_range: the kernel copies, nothing is read)"
echo "cat > file:       ${cat_t} s (read and write through user space)"
echo "bimanix build:    ${b_t} s, peak RSS ${b_rss} KiB (read, hash, write)"
echo "time ratio:       $(ratio "$b_t" "$cp_t") x cp, $(ratio "$b_t" "$cat_t") x cat"
rm -f "$work/copy.img" "$work/big.tar" "$work/disk.img"

echo "== 256 MiB rootfs: block (ext2) and initrd of the same files"
mkdir -p "$work/tree"
# About 200 MiB of real files (copies from /usr/lib), which with the
# metadata of thousands of small files fills most of a 256 MiB image.
budget=$((200 * 1024 * 1024)) used=0
while IFS= read -r -d '' f; do
  s=$(stat -c %s "$f"); [ $((used + s)) -gt $budget ] && break
  d="$work/tree/lib/${f#/usr/lib/}"; mkdir -p "$(dirname "$d")"; cp "$f" "$d"; used=$((used + s))
done < <(find /usr/lib -type f -size -20M -print0 | sort -z)
files=$(find "$work/tree" -type f | wc -l)
for kind in block initrd; do
  extra=""; [ $kind = block ] && extra=', "size": "256M"'
  cat > "$work/$kind.json" <<JSON
{"name":"bench","tag":"$kind","files":{"./kernel":"/kernel"},
 "annotations":{"unikernelType":"linux","hypervisor":"qemu","binary":"/kernel"},
 "rootfs":{"type":"$kind","files":{"./tree":"/"}$extra}}
JSON
done
measure "$bimanix" build "$work/block.json" -o "$work/block.tar"; bl_t=$T bl_rss=$RSS
measure "$bimanix" build "$work/initrd.json" -o "$work/initrd.tar"; in_t=$T in_rss=$RSS
echo "content:          $used bytes in $files files"
echo "block image tar:  $(stat -c %s "$work/block.tar") bytes, ${bl_t} s, peak RSS ${bl_rss} KiB"
echo "initrd image tar: $(stat -c %s "$work/initrd.tar") bytes, ${in_t} s, peak RSS ${in_rss} KiB"
echo "block/initrd:     $(ratio "$bl_t" "$in_t") x time"

# == push: a 1 GiB block file pushed to a local registry (TLS), first push and
# re-push, next to `skopeo copy docker-archive:... docker://...` of the same
# archive to the same registry. Bytes are what the registry stored for the
# uploads its access log shows completed (the PUT that ends each upload).
bench_push() {
  command -v docker-registry >/dev/null && command -v skopeo >/dev/null && command -v openssl >/dev/null \
    || { echo "bench: push needs docker-registry, skopeo and openssl (tests/setup.sh installs them)"; return 1; }
  local reg=$work/registry port pid
  mkdir -p "$reg/certs"
  (cd "$reg" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out certs/ca.crt -days 1 -subj /CN=bench-ca &&
    openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
    printf 'subjectAltName=IP:127.0.0.1\n' >ext.cnf &&
    openssl x509 -req -in srv.csr -CA certs/ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext.cnf
  ) >"$reg/openssl.log" 2>&1 || { cat "$reg/openssl.log"; return 1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$reg/config.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $reg/data}}
http: {addr: "127.0.0.1:$port", tls: {certificate: $reg/srv.crt, key: $reg/srv.key}}
YML
  docker-registry serve "$reg/config.yml" >"$reg/access.log" 2>"$reg/registry.log" &
  pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

  head -c 1G /dev/urandom > "$work/disk.img"
  "$bimanix" build "$work/big.json" -o "$work/big.tar" 2>/dev/null || { echo "bench: build failed"; kill "$pid"; return 1; }
  # stored SINCE: bytes of the blobs whose uploads completed after access-log line SINCE.
  stored() {
    tail -n +"$(($1 + 1))" "$reg/access.log" | grep -E '"PUT /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/[0-9.]+" 201' |
      grep -oE 'digest=sha256(%3A|:)[0-9a-f]{64}' | sed 's/.*[:A]//' | sort -u |
      while read -r hex; do stat -c %s "$reg/data/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"; done |
      awk '{s += $1} END {print s + 0}'
  }
  # once SECONDS-VAR BYTES-VAR RSS-VAR COMMAND...: one timed run and what the registry stored for it.
  once() {
    local mark; mark=$(wc -l <"$reg/access.log")
    /usr/bin/time -v -o "$work/time.txt" "${@:4}" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; return 1; }
    printf -v "$1" '%s' "$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")"
    printf -v "$2" '%s' "$(stored "$mark")"
    printf -v "$3" '%s' "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
  }
  local push=("$bimanix" push "$work/big.tar" --cert-dir "$reg/certs") t b r bt=""
  # First pushes, best of 3, each to a new repository (the registry stores the blobs anew).
  for i in 1 2 3; do
    once t b r "${push[@]:0:3}" "127.0.0.1:$port/bench/first$i:1g" "${push[@]:3}" || { kill "$pid"; return 1; }
    if [ -z "$bt" ] || awk "BEGIN{exit !($t < $bt)}"; then bt=$t bb=$b br=$r; fi
  done
  local rt="" rb rr
  for _ in 1 2 3; do
    once t b r "${push[@]:0:3}" "127.0.0.1:$port/bench/first1:1g" "${push[@]:3}" || { kill "$pid"; return 1; }
    if [ -z "$rt" ] || awk "BEGIN{exit !($t < $rt)}"; then rt=$t rb=$b rr=$r; fi
  done
  local st sb sr s2t s2b s2r
  once st sb sr skopeo copy -q --dest-cert-dir "$reg/certs" "docker-archive:$work/big.tar" "docker://127.0.0.1:$port/bench/skopeo:1g" \
    || { kill "$pid"; return 1; }
  once s2t s2b s2r skopeo copy -q --dest-cert-dir "$reg/certs" "docker-archive:$work/big.tar" "docker://127.0.0.1:$port/bench/skopeo:1g" \
    || { kill "$pid"; return 1; }
  echo "archive:            $(stat -c %s "$work/big.tar") bytes (a 1 GiB random block file)"
  echo "bimanix push:       ${bt} s, ${bb} bytes stored, peak RSS ${br} KiB (first push, best of 3)"
  echo "bimanix re-push:    ${rt} s, ${rb} bytes stored, peak RSS ${rr} KiB (best of 3)"
  echo "skopeo copy:        ${st} s, ${sb} bytes stored, peak RSS ${sr} KiB (first push, gzips the layer)"
  echo "skopeo copy again:  ${s2t} s, ${s2b} bytes stored, peak RSS ${s2r} KiB"
  echo "push time ratio:    $(ratio "$bt" "$st") x skopeo (first push), $(ratio "$rt" "$s2t") x skopeo (again)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$reg" "$work/big.tar" "$work/disk.img"
}
echo "== push: 1 GiB block file to a local registry, bimanix next to skopeo"
bench_push
[ -z "${1:-}" ] && rm -rf "$work"
exit 0
