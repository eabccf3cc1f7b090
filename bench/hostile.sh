#!/usr/bin/env bash
# Feeds `bimanix inspect` the hostile archives of issue 8 and prints the
# time and peak memory (/usr/bin/time -v) of each: indexes fanning out 40
# ways 4 deep, one gzip layer listed 64 times, a gzip bomb as a layer and
# as the whole archive (2 MB to 2 GiB), a layer of a million files.
# Usage: bash bench/hostile.sh [WORKDIR]   (needs ~3 GiB free in TMPDIR)
# Not part of the test suite: figures are reported, not asserted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time (apt-get install time)"; exit 1; }
cargo build --release --locked --manifest-path "$here/Cargo.toml" >/dev/null 2>&1
bimanix=$here/target/release/bimanix

printf '%-10s %12s %9s %10s  %s\n' input size seconds "peak MiB" result
for kind in fanout layer64 bomb archive million; do
  python3 "$here/bench/hostile.py" "$kind" "$work/$kind.tar"
  /usr/bin/time -v -o "$work/time.txt" "$bimanix" inspect "$work/$kind.tar" >"$work/out.txt" 2>"$work/err.txt" || true
  t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$work/time.txt")
  result=$(grep -m1 '^result:' "$work/out.txt" || head -c 100 "$work/err.txt")
  printf '%-10s %12s %9s %10s  %s\n' "$kind" "$(stat -c %s "$work/$kind.tar")" "$t" "$rss" "$result"
  rm -f "$work/$kind.tar"
done
