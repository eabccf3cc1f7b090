#!/usr/bin/env bash
# Tests the image as the Nix store keeps it (nix/layers.nix, nix/programs.nix,
# `bimanix layer/describe/launcher`) with Debian's Nix offline and the
# cargo-built bimanix as --arg tool: a derivation per artifact layer that a
# cmdline-only change leaves alone; `stream` writing the very bytes of the
# archive derivation and of `bimanix build`; copyTo into files and an OCI
# layout; copyToRegistry to a real registry (Debian's docker-registry, TLS
# and htpasswd) uploading only the small blobs after a change, with every
# push flag; copyToDockerDaemon and copyToPodman loading into real engines
# through a pipe; mkUruncIndex's stream and copy programs made from its
# images' descriptions (the index archive's bytes, the whole index pushed
# from the store's blobs, this machine's image loaded); and a store copy
# whose bytes differ (a writable fake of the store path) refused, naming it
# and both digests, before any manifest is written or pushed.
# Usage: tests/nix_store.sh (as root on Debian 12). Prints "ok - ..." /
# "not ok - ..." and last "N passed, M failed"; exits 1 if anything failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/lib.sh"

tmp=$(mktemp -d /tmp/bimanix-nix-store.XXXXXX)
pids=()
started_dockerd=
cleanup() {
    local p
    [ -n "$started_dockerd" ] || docker rmi -f nix-store/hello:1 nix-store/multi:1.0 >/dev/null 2>&1
    for p in "${pids[@]}"; do stop "$p"; done
    [ -n "$started_dockerd" ] && stop "$started_dockerd"
    chmod -R u+w "$tmp" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need=()
for pair in nix-build:nix-bin docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl docker:docker.io \
    dockerd:docker.io podman:podman python3:python3; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
for p in $(printf '%s\n' "${need[@]}" | sort -u); do try "apt-get install $p" apt_install "$p" || finish; done
nix_setup
release_bimanix "$root"
nb() { timeout 300 nix-build "$root/default.nix" --arg tool "$bimanix" "$@"; }

# --- The image: a kernel, a large file and a generated block rootfs ----------
mkdir -p "$tmp/in"
cp "$root/example/hello/hello.bzImage" "$tmp/in/kernel"
head -c $((17 << 20)) /dev/urandom >"$tmp/in/data.img"
printf 'hello\n' >"$tmp/in/motd"
# args FILE CMDLINE
args() {
    cat >"$tmp/in/$1" <<EOF
{
  name = "nix-store/hello";
  tag = "1";
  files = {
    "./kernel" = "/boot/kernel";
    "./data.img" = "/data/data.img";
    "./motd" = "/etc/motd";
  };
  rootfs = { type = "block"; target = "/rootfs.ext4"; fsType = "ext4"; size = "8M"; files = { "./motd" = "/motd"; }; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/boot/kernel"; cmdline = "$2"; };
}
EOF
}
args args.nix "console=ttyS0 k=v"
args changed.nix "console=ttyS0 k=w"

try "nix-build the archive" nb --arg args "$tmp/in/args.nix" -o "$tmp/tar" || finish
# The stream is the description's second output: nix-build -o X links it as X-stream.
try "nix-build -A stream" nb --arg args "$tmp/in/args.nix" -A stream -o "$tmp/stream" || finish
try "the stream writes an archive" sh -c "'$tmp/stream-stream' >'$tmp/streamed.tar'"
check "the stream's bytes are the archive derivation's" cmp "$tmp/streamed.tar" "$tmp/tar"
check "... and bimanix build's" sh -c "cd '$tmp/in' && '$bimanix' build args.nix -o '$tmp/cli.tar' && cmp '$tmp/cli.tar' '$tmp/streamed.tar'"
fails "the stream refuses to write to a terminal-less use with arguments" 2 "takes no arguments" "$tmp/stream-stream" extra

# The layers: kernel, large file, rootfs apart; motd too small to be one.
layers=$(nix-instantiate --eval --strict --json -E "map toString (import $root/default.nix { tool = $bimanix; args = $tmp/in/args.nix; }).layers" 2>"$tmp/log")
same "a layer derivation per files entry and one for the rootfs" 4 "$(printf '%s' "$layers" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
desc=$(nix-build "$root/default.nix" --arg tool "$bimanix" --arg args "$tmp/in/args.nix" -A description --no-out-link 2>/dev/null)
refs=$(nix-store -q --references "$desc" | grep -v "^$desc\$" | sed 's|^/nix/store/[a-z0-9]*-||' | sort | tr '\n' ' ')
same "the description names the three artifact layers" "data.img-layer kernel-layer rootfs.ext4-layer " "$refs"
kernel_drv=$(nix-store -q --deriver "$(nix-store -q --references "$desc" | grep kernel-layer)")
drv_refs=$(nix-store -q --references "$kernel_drv" | sed 's|^/nix/store/[a-z0-9]*-||' | sort | tr '\n' ' ')
same "the kernel layer's derivation depends on the tool and the kernel only" "bimanix kernel " "$drv_refs"

# A cmdline-only change: the layers stay, the new closure is small.
try "nix-build -A stream after a cmdline-only change" nb --arg args "$tmp/in/changed.nix" -A stream -o "$tmp/stream2" || finish
nix-store -qR "$tmp/stream-stream" | sort >"$tmp/closure1"
nix-store -qR "$tmp/stream2-stream" | sort >"$tmp/closure2"
new=$(comm -13 "$tmp/closure1" "$tmp/closure2")
new_bytes=0
for p in $new; do new_bytes=$((new_bytes + $(nix-store -q --size "$p"))); done
same "only the description and its stream are new" "description description-stream " \
    "$(printf '%s\n' $new | sed 's|^/nix/store/[a-z0-9]*-nix-store-hello-1-||' | sort | tr '\n' ' ')"
if [ "$new_bytes" -le $((1 << 20)) ]; then ok "the new paths hold $new_bytes bytes (<= 1 MiB)"; else notok "the new paths hold $new_bytes bytes (<= 1 MiB)"; fi
check "the changed stream is bimanix build's image" sh -c "cd '$tmp/in' && '$bimanix' build changed.nix -o '$tmp/cli2.tar' && '$tmp/stream2-stream' | cmp - '$tmp/cli2.tar'"

# oci-archive streams that format.
try "nix-build --argstr format oci-archive -A stream" nb --arg args "$tmp/in/args.nix" --argstr format oci-archive -A stream -o "$tmp/ostream"
check "... the same bytes as the oci-archive derivation" bash -c "nix-build '$root/default.nix' --arg tool '$bimanix' --arg args '$tmp/in/args.nix' --argstr format oci-archive --no-out-link | xargs cmp <('$tmp/ostream-stream')"

# Errors of the description keep the args file's file:line:col, as the CLI gives them.
mkdir -p "$tmp/bad"
cp "$tmp/in/kernel" "$tmp/bad/kernel"
cat >"$tmp/bad/args.nix" <<'EOF'
{
  name = "bad";
  files = { "./kernel" = "/urunc.json"; };
  annotations = {
    unikernelType = "linux";
    hypervisor = "qemu";
    binary = "/kernel";
    cmdline = "a 'b";
  };
}
EOF
out=$(nix-build "$root/default.nix" --arg tool "$bimanix" --arg args "$tmp/bad/args.nix" -A stream --no-out-link 2>&1)
cli=$(cd "$tmp/bad" && "$bimanix" check args.nix 2>&1)
for at in '3:13: files."./kernel"' "8:5: annotations.cmdline"; do
    contains "the CLI says args.nix:$at" "$cli" "args.nix:$at"
    contains "... and so does nix-build -A stream" "$out" "$tmp/bad/args.nix:$at"
done

# fromContainerfile: the description holds every layer; the stream is its archive.
mkdir -p "$tmp/cf"
cp "$tmp/in/kernel" "$tmp/cf/kernel"
printf 'FROM scratch\nCOPY kernel /kernel\nLABEL com.urunc.unikernel.unikernelType=linux\nLABEL com.urunc.unikernel.hypervisor=qemu\nLABEL com.urunc.unikernel.binary=/kernel\n' >"$tmp/cf/Containerfile"
cat >"$tmp/cf.nix" <<EOF
(import $root/nix/lib.nix { bimanix = $bimanix; }).fromContainerfile { context = $tmp/cf; name = "cf"; format = "oci-archive"; compression = "gzip"; }
EOF
try "nix-build fromContainerfile's archive and stream" sh -c "nix-build '$tmp/cf.nix' -o '$tmp/cf-tar' && nix-build '$tmp/cf.nix' -A stream -o '$tmp/cf-s'"
check "... the stream writes its archive (oci-archive, gzip)" sh -c "'$tmp/cf-s-stream' | cmp - '$tmp/cf-tar'"

# --- copyTo -----------------------------------------------------------------
try "nix-build -A copyTo" nb --arg args "$tmp/in/args.nix" -A copyTo -o "$tmp/copyTo" || finish
check "copyTo docker-archive:PATH writes the archive" sh -c "'$tmp/copyTo/bin/copyTo' docker-archive:'$tmp/c.tar' && cmp '$tmp/c.tar' '$tmp/tar'"
check "copyTo oci-archive:PATH writes the OCI archive" sh -c "'$tmp/copyTo/bin/copyTo' oci-archive:'$tmp/c-oci.tar' && cd '$tmp/in' && '$bimanix' build args.nix --format oci-archive -o '$tmp/cli-oci.tar' && cmp '$tmp/c-oci.tar' '$tmp/cli-oci.tar'"
check "copyTo oci:DIR writes the OCI layout" sh -c "'$tmp/copyTo/bin/copyTo' oci:'$tmp/c-layout' && cd '$tmp/in' && '$bimanix' build args.nix --format oci-layout -o '$tmp/cli-layout' && diff -r '$tmp/c-layout' '$tmp/cli-layout'"
fails "copyTo refuses an unknown destination" 1 "docker-archive:PATH, oci-archive:PATH, oci:DIR" "$tmp/copyTo/bin/copyTo" tarball:/x

# --- mkUruncIndex: stream and copyTo from its images' descriptions ------------
# amd64 (the example kernel) and arm64 (a stand-in aarch64 ELF header), both
# with the 17 MiB data file, whose layer derivation they share; gzipped.
mkdir -p "$tmp/multi"
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\267\000\001\000\000\000' >"$tmp/multi/kernel-arm64"
head -c 28 /dev/zero >>"$tmp/multi/kernel-arm64"
printf '\100\000\070\000\000\000\100\000\000\000\000\000' >>"$tmp/multi/kernel-arm64"
cp "$tmp/in/kernel" "$tmp/multi/kernel-amd64"
cat >"$tmp/index.nix" <<EOF
let
  lib = import $root/nix/lib.nix { bimanix = $bimanix; };
  image = arch: lib.mkUruncImage {
    name = "nix-store/multi";
    tag = arch;
    files = [ { source = $tmp/multi + "/kernel-\${arch}"; target = "/kernel"; } { source = $tmp/in/data.img; target = "/data.img"; } ];
    annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; };
    compression = "gzip";
  };
in
rec {
  amd64 = image "amd64";
  arm64 = image "arm64";
  index = lib.mkUruncIndex { name = "nix-store/multi"; tag = "1.0"; images = [ arm64 amd64 ]; annotations = { "org.opencontainers.image.description" = "multi"; }; };
  archives = lib.mkUruncIndex { name = "nix-store/multi"; images = [ amd64 "\${arm64}" ]; };
}
EOF
try "nix-build -A index.stream" timeout 300 nix-build "$tmp/index.nix" -A index.stream -o "$tmp/istream" || finish
index_drv=$(nix-instantiate "$tmp/index.nix" -A index 2>/dev/null)
check "... without building the index archive" sh -c "! nix-store -qR '$(nix-instantiate "$tmp/index.nix" -A index.stream 2>/dev/null)' | grep -qxF '$index_drv'"
check "... nor the images' archives" sh -c "! nix-store -qR '$(nix-instantiate "$tmp/index.nix" -A index.stream 2>/dev/null)' | grep -q 'multi-a[mr][dm]64.tar.drv\$'"
try "nix-build -A index (the archive)" timeout 300 nix-build "$tmp/index.nix" -A index -o "$tmp/index-tar"
check "the index's stream writes the index archive's bytes" sh -c "'$tmp/istream-stream' | cmp - '$tmp/index-tar'"
try "nix-build -A index.copyTo" timeout 300 nix-build "$tmp/index.nix" -A index.copyTo -o "$tmp/icopy" || finish
check "index copyTo oci-archive:PATH writes the index archive" sh -c "'$tmp/icopy/bin/copyTo' oci-archive:'$tmp/i.tar' && cmp '$tmp/i.tar' '$tmp/index-tar'"
check "index copyTo oci:DIR writes the layout bimanix index writes" sh -c "'$tmp/icopy/bin/copyTo' oci:'$tmp/i-layout' && nix-build '$tmp/index.nix' -A amd64 -A arm64 -o '$tmp/members' >/dev/null 2>&1 && '$bimanix' index '$tmp/members' '$tmp/members-2' --name nix-store/multi --tag 1.0 --annotation org.opencontainers.image.description=multi --format oci-layout -o '$tmp/cli-i-layout' && diff -r '$tmp/i-layout' '$tmp/cli-i-layout'"
fails "index copyTo refuses a docker-archive" 1 "oci-archive:PATH or oci:DIR" "$tmp/icopy/bin/copyTo" docker-archive:"$tmp/i-docker.tar"
# An index whose amd64 image names a corrupted copy of its kernel layer.
idesc=$(nix-build "$tmp/index.nix" -A index.description --no-out-link 2>/dev/null)
mkdir -p "$tmp/ifake"
cp -r "$idesc" "$tmp/ifake/index" && cp -r "$(nix-build "$tmp/index.nix" -A amd64.description --no-out-link 2>/dev/null)" "$tmp/ifake/amd64"
chmod -R u+w "$tmp/ifake"
read -r iblob idigest < <(python3 -c 'import json,sys; l=[l for l in json.load(open(sys.argv[1]))["layers"] if "kernel-layer" in l["blob"]][0]; print(l["blob"], l["digest"])' "$tmp/ifake/amd64/image.json")
cp "$iblob" "$tmp/ifake/blob" && chmod u+w "$tmp/ifake/blob"
printf 'X' | dd of="$tmp/ifake/blob" bs=1 seek=100 conv=notrunc status=none
sed -i "s|$iblob|$tmp/ifake/blob|" "$tmp/ifake/amd64/image.json"
python3 -c 'import json,sys; p=sys.argv[1]; d=json.load(open(p)); d["images"]=[sys.argv[2] if "amd64" in i else i for i in d["images"]]; json.dump(d,open(p,"w"))' \
    "$tmp/ifake/index/index-description.json" "$tmp/ifake/amd64"
"$bimanix" launcher --run stream --image "$tmp/ifake/index" --format oci-archive -o "$tmp/ifake/stream" 2>"$tmp/log" || notok "bimanix launcher stream (index)" "$(cat "$tmp/log")"
out=$("$tmp/ifake/stream" 2>&1 >"$tmp/ifake/out.tar")
same "the index's stream from a corrupted store copy exits 1" 1 "$?"
contains "... naming the store path and both digests" "$out" "$tmp/ifake/blob" "$idigest" "sha256:$(sha256sum "$tmp/ifake/blob" | cut -c1-64)"
case $(tar -tf "$tmp/ifake/out.tar" 2>/dev/null) in
*index.json*) notok "... before the index is written" ;;
*) ok "... before the index is written" ;;
esac
out=$(nix-instantiate --eval "$tmp/index.nix" -A archives.stream 2>&1)
contains "an index of archives says why it has no stream" "$out" "mkUruncIndex: images[1] is an image archive, not an image function's result"

# --- A fake store copy whose bytes differ -------------------------------------
# The description copied somewhere writable, naming a corrupted copy of the
# kernel layer's blob; programs for it written by the CLI.
mkdir -p "$tmp/fake"
cp -r "$desc" "$tmp/fake/description"
chmod -R u+w "$tmp/fake"
kernel_blob=$(python3 -c 'import json,sys; print([l["blob"] for l in json.load(open(sys.argv[1]))["layers"] if "kernel-layer" in l["blob"]][0])' "$desc/image.json")
kernel_digest=$(python3 -c 'import json,sys; print([l["digest"] for l in json.load(open(sys.argv[1]))["layers"] if "kernel-layer" in l["blob"]][0])' "$desc/image.json")
cp "$kernel_blob" "$tmp/fake/blob"
printf 'X' | dd of="$tmp/fake/blob" bs=1 seek=1000 conv=notrunc status=none
bad_digest=sha256:$(sha256sum "$tmp/fake/blob" | cut -c1-64)
sed -i "s|$kernel_blob|$tmp/fake/blob|" "$tmp/fake/description/image.json"
for p in stream copyToRegistry copyToDockerDaemon; do
    "$bimanix" launcher --run "$p" --image "$tmp/fake/description" -o "$tmp/fake/$p" 2>"$tmp/log" || notok "bimanix launcher $p" "$(cat "$tmp/log")"
done
out=$("$tmp/fake/stream" 2>&1 >"$tmp/fake/out.tar")
same "stream from a corrupted store copy exits 1" 1 "$?"
contains "... naming the store path and both digests" "$out" "$tmp/fake/blob" "$bad_digest" "$kernel_digest"
listed=$(tar -tf "$tmp/fake/out.tar" 2>/dev/null)
case $listed in
*manifest.json* | *index.json*) notok "... before any manifest is written" "$listed" ;;
*) ok "... before any manifest is written" ;;
esac

# --- copyToRegistry ---------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir -p "$tmp/pki" "$tmp/certs"
(
    cd "$tmp/pki" &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bimanix-test-ca &&
        openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext.cnf
) >"$tmp/openssl.log" 2>&1 || notok "openssl makes a CA and a certificate" "$(cat "$tmp/openssl.log")"
cp "$tmp/pki/ca.crt" "$tmp/certs/ca.crt"
htpasswd -Bbn alice s3cret >"$tmp/htpasswd"
port=$(free_port)
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $tmp/registry-data}}
http: {addr: "127.0.0.1:$port", tls: {certificate: $tmp/pki/srv.crt, key: $tmp/pki/srv.key}}
auth: {htpasswd: {realm: bimanix-test, path: $tmp/htpasswd}}
EOF
docker-registry serve "$tmp/registry.yml" >"$tmp/access.log" 2>"$tmp/registry.log" &
pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
reg=127.0.0.1:$port
mark() { wc -l <"$tmp/access.log"; }
since() { tail -n +"$(($1 + 1))" "$tmp/access.log"; }
uploads() { since "$1" | grep -cE '"PUT /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/[0-9.]+" 201'; }
manifest_puts() { since "$1" | grep -cE '"PUT /v2/[^ ]*/manifests/'; }

try "nix-build -A copyToRegistry" nb --arg args "$tmp/in/args.nix" -A copyToRegistry -o "$tmp/push1" || finish
try "nix-build -A copyToRegistry (changed cmdline)" nb --arg args "$tmp/in/changed.nix" -A copyToRegistry -o "$tmp/push2" || finish
m=$(mark)
# --compression none: the registry gets the archive's own digest (push gzips
# uncompressed layers by default, as docker and skopeo do).
try "copyToRegistry REF --creds --cert-dir --digestfile --compression none" "$tmp/push1/bin/copyToRegistry" "$reg/nix-store/hello:1" \
    --creds alice:s3cret --cert-dir "$tmp/certs" --digestfile "$tmp/digest1" --compression none
tar_digest=$(tar -xOf "$tmp/tar" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')
same "the pushed digest is the archive's manifest" "$tar_digest" "$(cat "$tmp/digest1" 2>/dev/null)"
same "the first push uploads every blob (config and 4 layers)" 5 "$(uploads "$m")"
m=$(mark)
# Without --compression the layers go as built: the same blobs as the
# first push, so only the new ones are sent.
try "copyToRegistry after a cmdline-only change, --password-stdin, no --compression" sh -c \
    "printf s3cret | '$tmp/push2/bin/copyToRegistry' '$reg/nix-store/hello:2' --creds alice --password-stdin --cert-dir '$tmp/certs' --digestfile '$tmp/digest2'"
same "... uploads only the config and the top layer" 2 "$(uploads "$m")"
same "... and pushes the digest the stream's archive carries" \
    "$("$tmp/stream2-stream" | tar -xOf - index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')" \
    "$(cat "$tmp/digest2" 2>/dev/null)"
try "nix-build -A index.copyToRegistry" timeout 300 nix-build "$tmp/index.nix" -A index.copyToRegistry -o "$tmp/ipush" || finish
m=$(mark)
# Its layers are gzipped, so push sends them as they are: nothing is written
# on the side, not even a temporary layout (TMPDIR does not exist).
try "index copyToRegistry reads the blobs in the store (--digestfile, no TMPDIR)" env TMPDIR="$tmp/no-such-dir" \
    "$tmp/ipush/bin/copyToRegistry" "$reg/nix-store/multi:1.0" --creds alice:s3cret --cert-dir "$tmp/certs" --digestfile "$tmp/idigest"
same "the pushed digest is the index archive's" \
    "$(tar -xOf "$tmp/index-tar" index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')" \
    "$(cat "$tmp/idigest" 2>/dev/null)"
same "... putting both manifests and the index" 3 "$(manifest_puts "$m")"
same "... and uploading every other blob of the index archive once" \
    "$(($(tar -tf "$tmp/index-tar" | grep -c 'blobs/sha256/.') - 3))" "$(uploads "$m")"
m=$(mark)
out=$(XDG_CACHE_HOME="$tmp/cache" "$tmp/push1/bin/copyToRegistry" "$reg/nix-store/hello:3" "$reg/nix-store/copy:1" \
    --creds alice:s3cret --cert-dir "$tmp/certs" --compression none --jobs 2 --chunk-size 1M 2>&1)
same "copyToRegistry takes several references and push's new flags" 0 "$?"
contains "... tagging each, the second repository's blobs mounted from the first" "$out" "$reg/nix-store/hello:3@$tar_digest" \
    "$reg/nix-store/copy:1@$tar_digest" "5 mounted from another repository"
same "... uploading nothing" 0 "$(uploads "$m")"
fails "copyToRegistry without a registry's certificate fails as push does" 1 "--cert-dir" \
    "$tmp/push1/bin/copyToRegistry" "$reg/nix-store/hello:1" --creds alice:s3cret
fails "copyToRegistry takes push's usage rules" 2 "--password-stdin" \
    "$tmp/push1/bin/copyToRegistry" "$reg/nix-store/hello:1" --password-stdin
m=$(mark)
out=$("$tmp/fake/copyToRegistry/bin/copyToRegistry" "$reg/nix-store/corrupt:1" --creds alice:s3cret --cert-dir "$tmp/certs" 2>&1)
same "copyToRegistry of a corrupted store copy exits 1" 1 "$?"
contains "... naming the store path and both digests" "$out" "$tmp/fake/blob" "$bad_digest" "$kernel_digest" "nothing was pushed"
same "... and puts no manifest" 0 "$(manifest_puts "$m")"

# --- copyToDockerDaemon and copyToPodman --------------------------------------
private_dockerd "$tmp/d"
try "nix-build -A copyToDockerDaemon" nb --arg args "$tmp/in/args.nix" -A copyToDockerDaemon -o "$tmp/dd" || finish
try "copyToDockerDaemon loads the image" timeout 300 "$tmp/dd/bin/copyToDockerDaemon"
same "docker has it, under the archive's image ID" \
    "sha256:$(tar -xOf "$tmp/tar" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"].split("/")[-1])')" \
    "$(docker image inspect --format '{{.Id}}' nix-store/hello:1 2>&1)"
try "nix-build -A index.copyToDockerDaemon" timeout 300 nix-build "$tmp/index.nix" -A index.copyToDockerDaemon -o "$tmp/idd" || finish
try "index copyToDockerDaemon loads this machine's image" timeout 300 "$tmp/idd/bin/copyToDockerDaemon"
same "docker has nix-store/multi:1.0, the amd64 image" \
    "sha256:$(tar -xOf "$tmp/members" manifest.json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Config"].split("/")[-1])')" \
    "$(docker image inspect --format '{{.Id}}' nix-store/multi:1.0 2>&1)"
docker rmi -f nix-store/multi:1.0 >/dev/null 2>&1
docker rmi -f nix-store/hello:1 >/dev/null 2>&1
out=$(timeout 300 "$tmp/fake/copyToDockerDaemon/bin/copyToDockerDaemon" 2>&1)
same "copyToDockerDaemon of a corrupted store copy exits 1" 1 "$?"
contains "... naming the store path" "$out" "$tmp/fake/blob" "$bad_digest"
check "... and docker has no such image" sh -c "! docker image inspect nix-store/hello:1 >/dev/null 2>&1"

mkdir -p "$tmp/podman"
cat >"$tmp/podman/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$tmp/podman/root"
runroot = "$tmp/podman/run"
EOF
try "nix-build -A copyToPodman" nb --arg args "$tmp/in/args.nix" -A copyToPodman -o "$tmp/pd" || finish
try "copyToPodman loads the image (private storage)" env CONTAINERS_STORAGE_CONF="$tmp/podman/storage.conf" timeout 300 "$tmp/pd/bin/copyToPodman"
contains "podman has it, with its urunc label" \
    "$(CONTAINERS_STORAGE_CONF="$tmp/podman/storage.conf" podman image inspect --format '{{json .Labels}}' nix-store/hello:1 2>&1)" \
    '"com.urunc.unikernel.cmdline":"console=ttyS0 k=v"'

finish
