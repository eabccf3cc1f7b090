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
[ -z "${1:-}" ] && rm -rf "$work"
exit 0
