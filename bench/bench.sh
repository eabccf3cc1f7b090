#!/usr/bin/env bash
# Measures bimanix on big inputs and prints the figures side by side, all
# from one run on one machine:
#  1. a docker-archive holding a 1 GiB block image, next to `cp` and one
#     `openssl dgst -sha256` of the same file, with the ratio to the slower
#     of the two (the target is at most 1.2) and peak memory;
#  2. the rebuild after an annotation-only change, and which layers moved;
#  3. what gzip and zstd cost per GiB next to none, on 256 MiB of real
#     files (shared libraries) in a block image;
#  4. peak memory for 1 MiB, 1 GiB and 4 GiB inputs (the target: flat,
#     under 32 MiB);
#  5. a 256 MiB ext2 block rootfs and an initrd of the same files;
#  6. `bimanix push` of the 1 GiB image to a local registry, first push and
#     re-push, next to `skopeo copy` of the same archive;
#  7. gzip and zstd layers against `pigz -n -6` and `zstd -3 -T0` on 256 MiB
#     and 1 GiB of shared libraries, on one core (taskset -c 0) and on all
#     (target: at most 1.2x), with the output sizes.
#  8. the Nix store: the archive derivation next to `stream` and the copy
#     programs (bench/nix_store.sh; skipped, saying why, without nix-build);
#  9. push at scale: a second repository of the same registry (bytes
#     uploaded, blobs mounted; again with the blob record's encodings
#     dropped, which gzips first), the 1 GiB push next to `skopeo copy` (both
#     gzip), and a 1 GiB push through a proxy that resets the connection at
#     90% (bytes sent in all, chunked and resumed, next to one request).
# Timed commands run in rounds, one of each per round, and each keeps its
# best time, so that load from elsewhere hits them alike. Outputs are
# deleted and `sync`ed away before each run (the sync is not timed).
# Usage: bash bench/bench.sh [WORKDIR]   (needs ~12 GiB free in WORKDIR; the push
# section needs docker-registry, skopeo, openssl and python3, as tests/setup.sh installs;
# section 7 installs pigz and zstd with apt-get when they are missing)
# BENCH_ONLY=7 (or 9) runs section 7 (or 9) alone; BENCH_SIZES (default "256M 1G") sets its inputs.
# Not part of the test suite: timings are reported, not asserted.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
rounds=${BENCH_ROUNDS:-5}
mkdir -p "$work"
command -v /usr/bin/time >/dev/null || { echo "bench: needs /usr/bin/time (apt-get install time)"; exit 1; }
command -v openssl >/dev/null || { echo "bench: needs openssl"; exit 1; }
cargo build --release --locked --manifest-path "$here/Cargo.toml" >/dev/null 2>&1
bimanix=$here/target/release/bimanix

# run NAME CMD...: runs CMD once (after removing $work/out* and a sync);
# BEST[NAME] keeps the best wall time (s), RSS[NAME] the highest peak
# resident size (KiB) over all runs. A failing command stops the bench.
declare -A BEST RSS
run() {
    local name=$1 t r
    shift
    rm -rf "$work"/out*
    sync
    if ! /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt"; then
        echo "bench: failed: $*" >&2; cat "$work/err.txt" >&2; exit 1
    fi
    t=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    if [ -z "${BEST[$name]:-}" ] || awk "BEGIN{exit !($t < ${BEST[$name]})}"; then BEST[$name]=$t; fi
    if [ -z "${RSS[$name]:-}" ] || [ "$r" -gt "${RSS[$name]}" ]; then RSS[$name]=$r; fi
}
ratio() { awk "BEGIN{printf \"%.2f\", $1 / ($2 > 0 ? $2 : 0.001)}"; }
max() { awk "BEGIN{print ($1 > $2 ? $1 : $2)}"; }
mib() { awk "BEGIN{printf \"%.1f MiB\", $1 / 1024}"; }
# args FILE NAME SOURCE TARGET [EXTRA-ANNOTATIONS]: an args file with the
# example kernel and one more file, the block image.
args() {
    cat >"$1" <<JSON
{"name":"bench","tag":"$2","files":{"./kernel":"/kernel","./$3":"/$3"},
 "annotations":{"unikernelType":"linux","hypervisor":"qemu","binary":"/kernel","block":"/$3","blkMntPoint":"/"$4}}
JSON
}
# certs DIR: a CA (DIR/certs/ca.crt, for --cert-dir) and a certificate for
# 127.0.0.1 it signed (DIR/srv.crt, DIR/srv.key), for a registry with TLS.
certs() {
  (cd "$1" &&
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out certs/ca.crt -days 1 -subj /CN=bench-ca &&
    openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
    printf 'subjectAltName=IP:127.0.0.1\n' >ext.cnf &&
    openssl x509 -req -in srv.csr -CA certs/ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext.cnf
  ) >"$1/openssl.log" 2>&1 || { cat "$1/openssl.log"; return 1; }
}
# stored LOG SINCE DATA: bytes of the blobs whose uploads completed after line SINCE of LOG.
stored() {
  local hexes hex total=0
  hexes=$(tail -n +"$(($2 + 1))" "$1" | grep -E '"PUT /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/[0-9.]+" 201' |
    grep -oE 'digest=sha256(%3A|:)[0-9a-f]{64}' | sed 's/.*[:A]//' | sort -u) || true
  for hex in $hexes; do total=$((total + $(stat -c %s "$3/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data"))); done
  echo "$total"
}
freeport() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port PORT: until something listens there (at most 10 s).
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
cp "$here/example/hello/hello.bzImage" "$work/kernel"
echo "machine:          $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
only=${BENCH_ONLY:-}

# == 7. Compression next to pigz and zstd: bimanix build of a block image
# of shared libraries (tar, hashing and all) against the reference tools on
# the bare file, each on one core and on all, best of two.
bench_compression() {
    local need=()
    command -v pigz >/dev/null || need+=(pigz)
    command -v zstd >/dev/null || need+=(zstd)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
            || { echo "bench: section 7 needs ${need[*]} (apt-get install failed)"; return 1; }
    fi
    local size label cores pin c ref s
    # The shared libraries of /usr/lib, concatenated in a fixed order and
    # repeated when there are fewer than 1 GiB of them.
    find /usr/lib -type f -size -20M -print0 | sort -z | xargs -0 cat 2>/dev/null | head -c 1G >"$work/all-libs" || true
    while [ "$(stat -c %s "$work/all-libs")" -lt 1073741824 ]; do
        head -c $((1073741824 - $(stat -c %s "$work/all-libs"))) "$work/all-libs" >"$work/all-libs.more"
        cat "$work/all-libs.more" >>"$work/all-libs"
    done
    printf '%-8s %-6s %-5s %10s %10s %7s %12s %12s %9s\n' input cores algo bimanix reference ratio "bimanix B" "reference B" "peak RSS"
    for size in ${BENCH_SIZES:-256M 1G}; do
        head -c "$size" "$work/all-libs" >"$work/c7.img"
        args "$work/c7.json" c7 c7.img ""
        for cores in 1 all; do
            pin=(); [ "$cores" = 1 ] && pin=(taskset -c 0)
            for c in gzip zstd; do
                case $c in
                gzip) ref=(pigz -n -6 -c "$work/c7.img") ;;
                zstd) ref=(zstd -q -3 -T0 -c "$work/c7.img") ;;
                esac
                label="$size-$cores-$c"
                for _ in $(seq "${BENCH_ROUNDS7:-2}"); do
                    run "b-$label" "${pin[@]}" "$bimanix" build "$work/c7.json" --compression "$c" -o "$work/out-c7.tar"
                    mv "$work/out-c7.tar" "$work/c7-$cores-$c.tar"
                    run "r-$label" "${pin[@]}" sh -c '"$@" >"'"$work"'/out-ref"' sh "${ref[@]}"
                done
                printf '%-8s %-6s %-5s %9ss %9ss %6sx %12s %12s %9s\n' "$size" "$cores" "$c" "${BEST[b-$label]}" \
                    "${BEST[r-$label]}" "$(ratio "${BEST[b-$label]}" "${BEST[r-$label]}")" \
                    "$(stat -c %s "$work/c7-$cores-$c.tar")" "$(stat -c %s "$work/out-ref")" "$(mib "${RSS[b-$label]}")"
            done
        done
        # The same bytes on one core as on all.
        for c in gzip zstd; do
            if cmp -s "$work/c7-1-$c.tar" "$work/c7-all-$c.tar"; then s="the same"; else s="DIFFERENT"; fi
            echo "$size $c: one core and $(nproc) cores wrote $s bytes"
        done
    done
    echo "(bimanix: a whole build, tar and both hashes included; reference: the tool on the bare file;"
    echo " sizes: bimanix's archive, with the kernel and the documents, next to the tool's output)"
    rm -f "$work"/c7* "$work"/all-libs* "$work/out-ref"
}
# == 9. Push at scale: a second repository of the same registry (mounts),
# the 1 GiB push next to `skopeo copy` with the same compression (gzip),
# and a 1 GiB push through a proxy that resets the connection when 90% of
# it has arrived (tests/registry/flaky_proxy.py), chunked and resumed, next
# to the same push in one request (--chunk-size 4G), which starts over.
# Bytes stored are what the registry's access log shows completed; bytes
# sent are what the proxy received.
bench_push_scale() {
  command -v docker-registry >/dev/null && command -v skopeo >/dev/null && command -v openssl >/dev/null \
    || { echo "bench: section 9 needs docker-registry, skopeo and openssl (tests/setup.sh installs them)"; return 1; }
  local reg=$work/registry9 port pport ppid pid
  mkdir -p "$reg/certs"
  certs "$reg" || return 1
  port=$(freeport) pport=$(freeport)
  local plain; plain=$(freeport)
  cat >"$reg/tls.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $reg/data}}
http: {addr: "127.0.0.1:$port", tls: {certificate: $reg/srv.crt, key: $reg/srv.key}}
YML
  sed -e "s|127.0.0.1:$port\", tls: {certificate: $reg/srv.crt, key: $reg/srv.key}}|127.0.0.1:$plain\"}|" \
    -e "s|$reg/data|$reg/plain-data|" "$reg/tls.yml" >"$reg/plain.yml"
  docker-registry serve "$reg/tls.yml" >"$reg/access.log" 2>"$reg/registry.log" &
  pid=$!
  docker-registry serve "$reg/plain.yml" >"$reg/plain-access.log" 2>"$reg/plain-registry.log" &
  local pid2=$!
  wait_port "$port"; wait_port "$plain"
  stop9() {
    kill "$pid" "$pid2" ${ppid:+"$ppid"} 2>/dev/null || true
    wait "$pid" "$pid2" 2>/dev/null || true
    rm -rf "$reg" "$work/big.tar" "$work/disk.img"
  }

  head -c 1G /dev/urandom >"$work/disk.img"
  "$bimanix" build "$work/big.json" -o "$work/big.tar" 2>/dev/null || { echo "bench: build failed"; stop9; return 1; }
  # timed SECONDS-VAR COMMAND...: one timed run.
  timed() {
    /usr/bin/time -f %e -o "$work/time.txt" "${@:2}" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; return 1; }
    printf -v "$1" '%s' "$(tail -n 1 "$work/time.txt")"
  }
  local r=127.0.0.1:$port m t1 b1 t2 b2 mounts st sb s2t s2b
  local push=(--cert-dir "$reg/certs")
  # A fresh blob record each time, so that only this run's pushes count.
  export XDG_CACHE_HOME=$work/cache9
  rm -rf "$XDG_CACHE_HOME"
  m=$(wc -l <"$reg/access.log")
  timed t1 "$bimanix" push "$work/big.tar" "$r/bench/one:1g" "${push[@]}" || { stop9; return 1; }
  b1=$(stored "$reg/access.log" "$m" "$reg/data")
  m=$(wc -l <"$reg/access.log")
  timed t2 "$bimanix" push "$work/big.tar" "$r/bench/two:1g" "${push[@]}" || { stop9; return 1; }
  b2=$(stored "$reg/access.log" "$m" "$reg/data")
  mounts=$(tail -n +"$((m + 1))" "$reg/access.log" | { grep -cE '"POST /v2/bench/two/blobs/uploads/\?mount=[^ ]* HTTP/[0-9.]+" 201' || true; })
  # The same with the record's encodings dropped (the push gzips to learn
  # the digests, as before they were remembered), to a third repository.
  local t3 b3 mounts3
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r.pop("encoded", None); json.dump(r, open(sys.argv[1], "w"))' \
    "$XDG_CACHE_HOME/bimanix/blobs.json" || { stop9; return 1; }
  m=$(wc -l <"$reg/access.log")
  timed t3 "$bimanix" push "$work/big.tar" "$r/bench/three:1g" "${push[@]}" || { stop9; return 1; }
  b3=$(stored "$reg/access.log" "$m" "$reg/data")
  mounts3=$(tail -n +"$((m + 1))" "$reg/access.log" | { grep -cE '"POST /v2/bench/three/blobs/uploads/\?mount=[^ ]* HTTP/[0-9.]+" 201' || true; })
  m=$(wc -l <"$reg/access.log")
  timed st skopeo copy -q --dest-cert-dir "$reg/certs" "docker-archive:$work/big.tar" "docker://$r/bench/skopeo:1g" || { stop9; return 1; }
  sb=$(stored "$reg/access.log" "$m" "$reg/data")
  m=$(wc -l <"$reg/access.log")
  timed s2t skopeo copy -q --dest-cert-dir "$reg/certs" "docker-archive:$work/big.tar" "docker://$r/bench/skopeo2:1g" || { stop9; return 1; }
  s2b=$(stored "$reg/access.log" "$m" "$reg/data")
  echo "archive:              $(stat -c %s "$work/big.tar") bytes (a 1 GiB random block file, stored uncompressed; both tools gzip it)"
  echo "bimanix push:         ${t1} s, ${b1} bytes stored (first repository)"
  echo "skopeo copy:          ${st} s, ${sb} bytes stored (first repository)"
  echo "push time ratio:      $(ratio "$t1" "$st") x skopeo"
  echo "second repository:    bimanix ${t2} s, ${b2} bytes uploaded, ${mounts} blobs mounted; skopeo ${s2t} s, ${s2b} bytes uploaded"
  echo "  without encodings:   bimanix ${t3} s, ${b3} bytes uploaded, ${mounts3} blobs mounted (the record's encodings dropped: gzips first, as before)"

  # Through the resetting proxy, plain HTTP, layers as built (no gzip), so
  # that the numbers are the network's.
  local size sent_c sent_m tc tm
  size=$(tar -tvf "$work/big.tar" | awk '$6 ~ /^blobs\/sha256\// || $6 ~ /\.tar$/ {s += $3} END {print s}')
  resetting() {
    pport=$(freeport)
    python3 "$here/tests/registry/flaky_proxy.py" "$pport" "$plain" "reset-at:$((size * 9 / 10))" "$1" >/dev/null 2>&1 &
    ppid=$!
    wait_port "$pport"
  }
  resetting "$reg/proxy-chunked.log"
  timed tc "$bimanix" push "$work/big.tar" "127.0.0.1:$pport/bench/chunked:1g" --plain-http --compression none \
    || { stop9; return 1; }
  kill "$ppid"; wait "$ppid" 2>/dev/null || true
  sent_c=$(grep -oE '^received [0-9]+' "$reg/proxy-chunked.log" | tail -n 1 | cut -d' ' -f2 || true)
  resetting "$reg/proxy-whole.log"
  timed tm "$bimanix" push "$work/big.tar" "127.0.0.1:$pport/bench/whole:1g" --plain-http --compression none --chunk-size 4G \
    || { stop9; return 1; }
  kill "$ppid"; wait "$ppid" 2>/dev/null || true
  ppid=
  sent_m=$(grep -oE '^received [0-9]+' "$reg/proxy-whole.log" | tail -n 1 | cut -d' ' -f2 || true)
  echo "reset at 90%:         chunked (32 MiB) ${tc} s, ${sent_c} bytes sent for ${size} ($(ratio "$sent_c" "$size") x);" \
    "in one request ${tm} s, ${sent_m} bytes sent ($(ratio "$sent_m" "$size") x)"
  unset XDG_CACHE_HOME
  stop9
}
if [ "$only" = 9 ]; then
    echo "== 9. Push at scale: mounts, bimanix next to skopeo, a reset at 90%"
    args "$work/big.json" 1g disk.img ""
    bench_push_scale
    [ -z "${1:-}" ] && rm -rf "$work"
    exit 0
fi
if [ "$only" = 7 ]; then
    echo "== 7. Compression: bimanix build --compression next to pigz -n -6 and zstd -3 -T0"
    bench_compression
    [ -z "${1:-}" ] && rm -rf "$work"
    exit 0
fi

echo "== 1. A 1 GiB block image in an image archive (best of $rounds rounds)"
head -c 1G /dev/urandom >"$work/disk.img"
args "$work/big.json" 1g disk.img ""
cat "$work/disk.img" >/dev/null   # warm the page cache
for _ in $(seq "$rounds"); do
    run cp cp "$work/disk.img" "$work/out.img"
    run sha256 openssl dgst -sha256 "$work/disk.img"
    run build "$bimanix" build "$work/big.json" -o "$work/out.tar"
done
slower=$(max "${BEST[cp]}" "${BEST[sha256]}")
echo "input:            $(stat -c %s "$work/disk.img") bytes"
echo "cp:               ${BEST[cp]} s"
echo "openssl sha256:   ${BEST[sha256]} s"
echo "bimanix build:    ${BEST[build]} s, peak RSS $(mib "${RSS[build]}")"
echo "ratio:            $(ratio "${BEST[build]}" "$slower") x the slower of cp and sha256 (target: at most 1.20)"

echo "== 2. Rebuild after an annotation-only change"
"$bimanix" build "$work/big.json" -o "$work/before.tar" 2>/dev/null
args "$work/big2.json" 1g disk.img ',"cmdline":"console=ttyS0 changed"'
for _ in $(seq "$rounds"); do run rebuild "$bimanix" build "$work/big2.json" -o "$work/out.tar"; done
"$bimanix" build "$work/big2.json" -o "$work/after.tar" 2>/dev/null
blobs() { tar tvf "$1" | awk '$6 ~ /^blobs\/sha256\/./ {print $6, $3}' | sort; }
blobs "$work/before.tar" >"$work/before.txt"
blobs "$work/after.tar" >"$work/after.txt"
kept=$(comm -12 "$work/before.txt" "$work/after.txt" | awk '{n++; s+=$2} END {printf "%d blobs, %d bytes", n, s}')
moved=$(comm -13 "$work/before.txt" "$work/after.txt" | awk '{n++; s+=$2} END {printf "%d blobs, %d bytes", n, s}')
echo "bimanix build:    ${BEST[rebuild]} s (every byte is written again; what a registry moves is below)"
echo "unchanged blobs:  $kept (the kernel's and the block image's layers)"
echo "new blobs:        $moved (the top layer with /urunc.json, the config, the manifest)"
rm -f "$work/before.tar" "$work/after.tar" "$work/disk.img"

echo "== 3. Compression: 256 MiB of shared libraries in a block image (best of 2)"
# Real files, so that the compressors have real work: /usr/lib's files
# concatenated, as a block image would hold them.
find /usr/lib -type f -size -20M -print0 | sort -z | xargs -0 cat 2>/dev/null | head -c 256M >"$work/libs.img" || true
size=$(stat -c %s "$work/libs.img")
args "$work/libs.json" libs libs.img ""
for _ in 1 2; do
    for c in none gzip zstd; do run "c-$c" "$bimanix" build "$work/libs.json" --compression "$c" -o "$work/out-$c.tar"; done
done
for c in none gzip zstd; do
    "$bimanix" build "$work/libs.json" --compression "$c" -o "$work/c-$c.tar" 2>/dev/null
    per_gib=$(awk "BEGIN{printf \"%.1f\", ${BEST[c-$c]} * 1073741824 / $size}")
    echo "$(printf '%-5s' "$c")             ${BEST[c-$c]} s for $size bytes = $per_gib s/GiB, archive $(stat -c %s "$work/c-$c.tar") bytes, peak RSS $(mib "${RSS[c-$c]}")"
done
echo "cost per GiB:     gzip $(awk "BEGIN{printf \"%.1f\", (${BEST[c-gzip]} - ${BEST[c-none]}) * 1073741824 / $size}") s, zstd $(awk "BEGIN{printf \"%.1f\", (${BEST[c-zstd]} - ${BEST[c-none]}) * 1073741824 / $size}") s more than none"
rm -f "$work"/c-*.tar "$work/libs.img"

echo "== 4. Peak memory by input size (sparse inputs, read as zeros)"
for s in 1M 1G 4G; do
    truncate -s "$s" "$work/sparse-$s.img"
    args "$work/sparse-$s.json" "$s" "sparse-$s.img" ""
    run "rss-$s" "$bimanix" build "$work/sparse-$s.json" -o "$work/out.tar"
    echo "$(printf '%-5s' "$s")             peak RSS $(mib "${RSS[rss-$s]}") (target: under 32 MiB)"
    rm -f "$work/sparse-$s.img"
done

echo "== 5. 256 MiB rootfs: block (ext2) and initrd of the same files"
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
    cat >"$work/$kind.json" <<JSON
{"name":"bench","tag":"$kind","files":{"./kernel":"/kernel"},
 "annotations":{"unikernelType":"linux","hypervisor":"qemu","binary":"/kernel"},
 "rootfs":{"type":"$kind","files":{"./tree":"/"}$extra}}
JSON
done
for _ in 1 2 3; do
    run block "$bimanix" build "$work/block.json" -o "$work/out-block.tar"
    run initrd "$bimanix" build "$work/initrd.json" -o "$work/out-initrd.tar"
done
echo "content:          $used bytes in $files files"
echo "block image:      ${BEST[block]} s, peak RSS $(mib "${RSS[block]}")"
echo "initrd image:     ${BEST[initrd]} s, peak RSS $(mib "${RSS[initrd]}")"
echo "block/initrd:     $(ratio "${BEST[block]}" "${BEST[initrd]}") x time"
rm -rf "$work"/out* "$work/tree"
# == push: a 1 GiB block file pushed to a local registry (TLS), first push and
# re-push, next to `skopeo copy docker-archive:... docker://...` of the same
# archive to the same registry. Bytes are what the registry stored for the
# uploads its access log shows completed (the PUT that ends each upload).
bench_push() {
  command -v docker-registry >/dev/null && command -v skopeo >/dev/null && command -v openssl >/dev/null \
    || { echo "bench: push needs docker-registry, skopeo and openssl (tests/setup.sh installs them)"; return 1; }
  local reg=$work/registry port pid
  mkdir -p "$reg/certs"
  certs "$reg" || return 1
  port=$(freeport)
  cat >"$reg/config.yml" <<YML
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $reg/data}}
http: {addr: "127.0.0.1:$port", tls: {certificate: $reg/srv.crt, key: $reg/srv.key}}
YML
  docker-registry serve "$reg/config.yml" >"$reg/access.log" 2>"$reg/registry.log" &
  pid=$!
  wait_port "$port"

  head -c 1G /dev/urandom > "$work/disk.img"
  "$bimanix" build "$work/big.json" -o "$work/big.tar" 2>/dev/null || { echo "bench: build failed"; kill "$pid"; return 1; }
  # once SECONDS-VAR BYTES-VAR RSS-VAR COMMAND...: one timed run and what the registry stored for it.
  once() {
    local mark; mark=$(wc -l <"$reg/access.log")
    /usr/bin/time -v -o "$work/time.txt" "${@:4}" >/dev/null 2>"$work/err.txt" || { cat "$work/err.txt"; return 1; }
    printf -v "$1" '%s' "$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/time.txt")"
    printf -v "$2" '%s' "$(stored "$reg/access.log" "$mark" "$reg/data")"
    printf -v "$3" '%s' "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
  }
  local push=("$bimanix" push "$work/big.tar" --cert-dir "$reg/certs") t b r bt=""
  # First pushes, best of 3, each to a new repository (the registry stores the blobs anew).
  for i in 1 2 3; do
    # No blob record: the first push to each repository uploads (see section 9 for mounts).
    rm -rf "$work/cache6"
    once t b r env XDG_CACHE_HOME="$work/cache6" "${push[@]:0:3}" "127.0.0.1:$port/bench/first$i:1g" "${push[@]:3}" || { kill "$pid"; return 1; }
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
echo "== 6. Push: the 1 GiB image to a local registry, bimanix next to skopeo"
bench_push
echo "== 7. Compression: bimanix build --compression next to pigz -n -6 and zstd -3 -T0"
bench_compression
echo "== 9. Push at scale: mounts, bimanix next to skopeo, a reset at 90%"
bench_push_scale
echo "== 8. Nix store: the archive derivation next to stream, layers as derivations"
bash "$here/bench/nix_store.sh" "$work/nix"
echo "machine:          load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
[ -z "${1:-}" ] && rm -rf "$work"
exit 0
