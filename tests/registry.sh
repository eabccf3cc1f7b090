#!/usr/bin/env bash
# Pushes images built by the release bimanix to real registries and reads
# them back with real clients. Debian's docker-registry (the CNCF
# distribution registry) runs on 127.0.0.1 three times: with TLS (a CA and
# certificate made here with openssl) and htpasswd Basic auth; with TLS and
# token auth (Bearer), whose token service is tests/registry/token_server.py;
# and in plain HTTP behind tests/registry/flaky_proxy.py, which injects
# transient failures. Checked: skopeo inspect/copy, docker pull (CA under
# /etc/docker/certs.d/127.0.0.1:PORT, docker login) and ctr images pull find
# the manifest byte for byte (annotations, labels, Cmd, layer digests); a
# second push and a push after an annotation-only change upload only what
# changed, counted in the registry's own access log; a multi-platform index;
# credentials from --creds, --password-stdin, auth files, docker login and a
# credential helper; and failures (wrong password, missing credentials, an
# untrusted certificate, a registry that is not running, a corrupted archive,
# a bad reference) that exit 1 (2 for usage) and push nothing; and
# push --compression sending exactly what build --compression writes;
# several references in one push (blobs once per repository, each tag put),
# cross-repository mounts (from a repository pushed in the same run, from
# --mount-from, from the blob record of an earlier run, through the token
# flow, and refused mounts that fall back to the upload session), layers
# named as the blob record remembers their gzip encoding (not encoded when
# mounted; encoded and checked when uploaded; a stale record failing the
# push before anything is uploaded, and dropped), chunked
# uploads that resume where the registry's upload stands after
# flaky_proxy.py resets the connection at 90% of a blob, and parallel
# uploads logging in the image's order.
#
# Usage: tests/registry.sh   (from anywhere; as root). Installs missing
# tools with apt-get; starts a private dockerd and containerd when none
# answers; stops everything it started by pid and removes what it wrote
# under /etc/docker/certs.d. Nothing leaves loopback. Set BIMANIX to test
# another binary. Each check prints "ok - ..." or "not ok - ..."; the last
# line is "N passed, M failed"; exit 1 when anything failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

. "$root/tests/lib.sh"

tmp=$(mktemp -d /tmp/bimanix-registry.XXXXXX)
pids=()
started_dockerd=
started_containerd=
certs_d=
docker_images=()
ctr_images=()

cleanup() {
    local p
    for p in "${docker_images[@]}"; do docker rmi -f "$p" >/dev/null 2>&1; done
    if [ -n "${ctr:-}" ]; then
        for p in "${ctr_images[@]}"; do $ctr images rm --sync "$p" >/dev/null 2>&1; done
        ctr --address "$ctr_sock" namespaces rm bimanix-registry-test >/dev/null 2>&1
    fi
    [ -n "$certs_d" ] && rm -rf "$certs_d"
    for p in "${pids[@]}"; do stop "$p"; done
    [ -n "$started_dockerd" ] && stop "$started_dockerd"
    [ -n "$started_containerd" ] && stop "$started_containerd"
    grep -o " $tmp/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Tools ------------------------------------------------------------------
need=()
for pair in docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl skopeo:skopeo docker:docker.io \
    dockerd:docker.io ctr:containerd containerd:containerd python3:python3; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "# installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u); } >"$tmp/apt.log" 2>&1 \
        || { echo "# apt-get failed:"; tail -n 20 "$tmp/apt.log"; }
fi
for t in docker-registry htpasswd openssl skopeo docker dockerd ctr containerd python3 tar; do
    if command -v "$t" >/dev/null 2>&1; then ok "$t is installed"; else notok "$t is installed"; fi
done

release_bimanix "$root"
# push remembers where it put blobs (for mounts) under the cache directory:
# the suite's own, so that runs do not see each other's.
export XDG_CACHE_HOME=$tmp/cache

# --- Certificates, passwords and registries ----------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
mkdir -p "$tmp/certs" "$tmp/pki"
(
    cd "$tmp/pki" &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bimanix-test-ca &&
        openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext.cnf &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout tok.key -out tok.crt -days 2 -subj /CN=bimanix-token-signer
) >"$tmp/openssl.log" 2>&1 || { echo "# openssl failed:"; cat "$tmp/openssl.log"; }
cp "$tmp/pki/ca.crt" "$tmp/certs/ca.crt"
htpasswd -Bbn alice s3cret >"$tmp/htpasswd"

# start_registry NAME AUTH-YAML [TLS]: a registry on a free port; sets PORT.
start_registry() {
    local name=$1 auth=$2 tls=${3:-tls}
    PORT=$(free_port)
    local http="{addr: \"127.0.0.1:$PORT\"}"
    [ "$tls" = tls ] && http="{addr: \"127.0.0.1:$PORT\", tls: {certificate: $tmp/pki/srv.crt, key: $tmp/pki/srv.key}}"
    cat >"$tmp/$name.yml" <<EOF
version: 0.1
log: {level: info}
storage: {filesystem: {rootdirectory: $tmp/$name-data}}
http: $http
$auth
EOF
    docker-registry serve "$tmp/$name.yml" >"$tmp/$name.access" 2>"$tmp/$name.log" &
    pids+=($!)
    if wait_port "$PORT"; then ok "the $name registry listens on 127.0.0.1:$PORT"; else notok "the $name registry starts" "$(tail -n 20 "$tmp/$name.log")"; fi
}
start_registry basic "auth: {htpasswd: {realm: bimanix-test, path: $tmp/htpasswd}}"
reg=127.0.0.1:$PORT
token_port=$(free_port)
start_registry token "auth: {token: {realm: \"https://127.0.0.1:$token_port/token\", service: bimanix-test, issuer: bimanix-test-issuer, rootcertbundle: $tmp/pki/tok.crt}}"
treg=127.0.0.1:$PORT
python3 "$root/tests/registry/token_server.py" "$token_port" "$tmp/pki/srv.crt" "$tmp/pki/srv.key" "$tmp/pki/tok.crt" \
    "$tmp/pki/tok.key" bimanix-test-issuer alice s3cret bimanix-refresh-token "$tmp/token.requests" >"$tmp/token.log" 2>&1 &
pids+=($!)
if wait_port "$token_port"; then ok "the token service listens on 127.0.0.1:$token_port"; else notok "the token service starts" "$(cat "$tmp/token.log")"; fi
start_registry plain "" plain
preg=127.0.0.1:$PORT

# The access log lines written since mark LOG returned N.
mark() { wc -l <"$1"; }
since() { tail -n +"$(($2 + 1))" "$1"; }
# Completed blob uploads (the PUT that ends an upload, 201) since a mark.
uploads() { since "$1" "$2" | grep -cE '"PUT /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/[0-9.]+" 201'; }
# The digests of the blobs uploaded since a mark, sorted.
uploaded() { since "$1" "$2" | grep -E '"PUT /v2/[^ ]*/blobs/uploads/[^ ]* HTTP/[0-9.]+" 201' | grep -oE 'digest=sha256(%3A|:)[0-9a-f]{64}' | sed 's/.*[:A]//' | sort; }
# Requests that would write (POST, PUT, PATCH, DELETE) since a mark, and
# those of them that succeeded.
attempts() { since "$1" "$2" | grep -cE '"(POST|PUT|PATCH|DELETE) /v2/'; }
writes() { since "$1" "$2" | grep -cE '"(POST|PUT|PATCH|DELETE) /v2/[^"]*" 2[0-9][0-9] '; }

# blobs ARCHIVE: the config and layer digests its manifest names, one per line.
blobs() {
    local manifest
    manifest=$(tar -xOf "$1" index.json | python3 -c 'import json, sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')
    tar -xOf "$1" "blobs/sha256/${manifest#sha256:}" |
        python3 -c 'import json, sys; m = json.load(sys.stdin); print("\n".join(d["digest"][7:] for d in [m["config"]] + m["layers"]))' | sort
}

# --- The images ---------------------------------------------------------------
mkdir -p "$tmp/in"
cp "$root/example/hello/hello.bzImage" "$tmp/in/kernel"
# A stand-in arm64 kernel: an arm64 Image header (magic at 56) is all the
# architecture detection reads.
{ head -c 56 /dev/zero; printf 'ARM\x64'; head -c 8 /dev/zero; } >"$tmp/in/kernel-arm64"
# args NAME KERNEL CMDLINE: an args file with labels, Env, Cmd and
# annotations, gzip layers (which push sends as they are, keeping the
# build's digest).
args() {
    cat >"$tmp/in/$1.json" <<EOF
{
  "name": "test/hello", "tag": "1.0", "compression": "gzip",
  "files": { "./$2": "/boot/kernel" },
  "labels": { "org.example.team": "unikernels" },
  "env": [ "GREETING=hello world" ],
  "cmd": [ "console=ttyS0", "two words" ],
  "annotations": { "unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel", "cmdline": "$3" }
}
EOF
}
args hello kernel "console=ttyS0 k=v"
args changed kernel "console=ttyS0 k=w"
args arm64 kernel-arm64 "console=ttyS0 k=v"
build_out=$("$bimanix" build "$tmp/in/hello.json" -o "$tmp/hello.tar" 2>&1)
check "bimanix builds the image" test -f "$tmp/hello.tar"
built_digest=$(printf '%s\n' "$build_out" | grep -oE 'manifest sha256:[0-9a-f]{64}' | sed 's/manifest //')
check "bimanix builds the image with an annotation changed" "$bimanix" build "$tmp/in/changed.json" -o "$tmp/changed.tar"
check "bimanix builds the image as an oci-archive" "$bimanix" build "$tmp/in/hello.json" --format oci-archive -o "$tmp/hello-oci.tar"
check "bimanix builds an amd64 OCI layout" "$bimanix" build "$tmp/in/hello.json" --format oci-layout -o "$tmp/amd64"
check "bimanix builds an arm64 OCI layout" "$bimanix" build "$tmp/in/arm64.json" --format oci-layout -o "$tmp/arm64"
manifest_bytes=$(tar -xOf "$tmp/hello.tar" "blobs/sha256/${built_digest#sha256:}" 2>&1)
config_digest=$(printf '%s' "$manifest_bytes" | python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])' 2>&1)
layer_digest=$(printf '%s' "$manifest_bytes" | python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])' 2>&1)
blob_count=$(blobs "$tmp/hello.tar" | wc -l)
annotation_texts=('"com.urunc.unikernel.unikernelType":"linux"' '"com.urunc.unikernel.hypervisor":"qemu"'
    '"com.urunc.unikernel.binary":"/boot/kernel"' '"com.urunc.unikernel.cmdline":"console=ttyS0 k=v"'
    '"org.opencontainers.image.created":"1970-01-01T00:00:00Z"')

# A multi-platform OCI layout: both layouts' blobs, an index of their
# manifests with their platforms, and index.json naming the index, as
# Docker 25+ and containerd write one.
python3 - "$tmp/amd64" "$tmp/arm64" "$tmp/multi" <<'EOF' >"$tmp/multi.log" 2>&1
import hashlib, json, os, shutil, sys
amd64, arm64, out = sys.argv[1:4]
os.makedirs(out + "/blobs/sha256")
entries = []
for layout, arch in ((amd64, "amd64"), (arm64, "arm64")):
    for blob in os.listdir(layout + "/blobs/sha256"):
        shutil.copy(f"{layout}/blobs/sha256/{blob}", f"{out}/blobs/sha256/{blob}")
    d = json.load(open(layout + "/index.json"))["manifests"][0]
    entries.append({"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                    "platform": {"architecture": arch, "os": "linux"}})
dump = lambda v: json.dumps(v, separators=(",", ":"), sort_keys=True).encode()
index = dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
digest = "sha256:" + hashlib.sha256(index).hexdigest()
open(f"{out}/blobs/sha256/{digest[7:]}", "wb").write(index)
open(out + "/index.json", "wb").write(dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": len(index),
                   "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(digest)
EOF
multi_digest=$(tail -n 1 "$tmp/multi.log")
check "the multi-platform layout is made" test -f "$tmp/multi/index.json"

# --- Failures: nothing pushed ---------------------------------------------------
# Before anything trusts the test CA (docker's section installs it under
# /etc/docker/certs.d, which bimanix reads too).
m=$(mark "$tmp/basic.access")
fails "an untrusted certificate fails, pointing at --cert-dir" 1 "--cert-dir" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --creds alice:s3cret
fails "the untrusted certificate is named as signed by an unknown authority" 1 "unknown authority" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --creds alice:s3cret
fails "a wrong password fails, naming the user and where the credentials came from" 1 'refused user "alice" (credentials from --creds)' \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:wrong
mkdir -p "$tmp/emptyhome"
fails "missing credentials fail, saying where they were looked for" 1 "$tmp/emptyhome/.docker/config.json (absent)" \
    env -u REGISTRY_AUTH_FILE -u DOCKER_CONFIG -u XDG_RUNTIME_DIR -u XDG_CONFIG_HOME HOME="$tmp/emptyhome" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs"
dead=$(free_port)
fails "a registry that is not running fails" 1 "connection refused; is the registry running" \
    "$bimanix" push "$tmp/hello.tar" "127.0.0.1:$dead/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret
# A corrupted archive: one byte of the layer flipped inside the tar.
cp "$tmp/hello.tar" "$tmp/corrupt.tar"
python3 - "$tmp/corrupt.tar" "blobs/sha256/${layer_digest#sha256:}" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    member = t.getmember(sys.argv[2])
at = member.offset_data + member.size // 2
with open(sys.argv[1], "r+b") as f:
    f.seek(at)
    byte = f.read(1)[0]
    f.seek(at)
    f.write(bytes([byte ^ 1]))
EOF
check "the corrupted archive differs from the image" sh -c "! cmp -s '$tmp/hello.tar' '$tmp/corrupt.tar'"
fails "a corrupted archive fails its digest check before anything is pushed" 1 "nothing was pushed" \
    "$bimanix" push "$tmp/corrupt.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret
fails "a reference Docker refuses is a usage error" 2 "must be lowercase" \
    "$bimanix" push "$tmp/hello.tar" "$reg/Test/Hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret
fails "a pinned digest that is not the image's fails before any network use" 1 "pins digest" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0@sha256:$(printf '0%.0s' $(seq 64))" --cert-dir "$tmp/certs" --creds alice:s3cret
fails "--creds USER without --password-stdin is a usage error" 2 "needs the password" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice
same "none of the failures even tried to write to the registry" 0 "$(attempts "$tmp/basic.access" "$m")"
# Refused before the first request: a digest file that is (or is inside)
# the image, or that could not be written after the push; no password.
m=$(mark "$tmp/basic.access")
cp "$tmp/hello.tar" "$tmp/hello-copy.tar"
fails "a --digestfile that is the image is refused" 1 "is the image to push" \
    "$bimanix" push "$tmp/hello-copy.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile "$tmp/hello-copy.tar"
check "and the image is left as it was" cmp "$tmp/hello.tar" "$tmp/hello-copy.tar"
fails "a --digestfile inside the OCI layout pushed is refused" 1 "would be inside the image to push" \
    "$bimanix" push "$tmp/multi" "$reg/test/hello:multi" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile "$tmp/multi/digest"
fails "a --digestfile in a directory that does not exist is refused" 1 "cannot write into the directory" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile "$tmp/nowhere/digest"
fails "a --digestfile that is a directory is refused" 1 "is a directory" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile "$tmp"
fails "--password-stdin with an empty standard input is a usage error" 2 "no password" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice --password-stdin </dev/null
same "none of these sent the registry a request" 0 "$(since "$tmp/basic.access" "$m" | grep -c '/v2/')"
fails "no tag was created by the failures" 1 "" \
    skopeo inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello:1.0"

# --- Push, then read back -----------------------------------------------------
m=$(mark "$tmp/basic.access")
out=$("$bimanix" push "$tmp/hello.tar" "docker://$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile "$tmp/digest" 2>"$tmp/push.err")
rc=$?
same "bimanix push succeeds" 0 "$rc"
same "the last line is the reference with the digest bimanix build printed" "$reg/test/hello:1.0@$built_digest" "$out"
same "--digestfile holds the manifest digest" "$built_digest" "$(cat "$tmp/digest" 2>&1)"
same "the first push uploads every blob of the image, once" "$(blobs "$tmp/hello.tar")" "$(uploaded "$tmp/basic.access" "$m")"
same "and nothing else" "$blob_count" "$(uploads "$tmp/basic.access" "$m")"
contains "push says per blob that it was pushed" "$(cat "$tmp/push.err")" "config sha256:" "layer 1 sha256:" "pushed"
# --digestfile /dev/stdout with standard output appended to a file: the
# file keeps what it held (it is written into, not replaced), and gets the
# digest alone; the reference line goes to standard error.
echo "earlier line" >"$tmp/ci.log"
"$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile /dev/stdout >>"$tmp/ci.log" 2>"$tmp/push2.err"
same "--digestfile /dev/stdout appends the digest to a redirected standard output" \
    "$(printf 'earlier line\n%s' "$built_digest")" "$(cat "$tmp/ci.log")"
contains "and the reference line goes to standard error" "$(cat "$tmp/push2.err")" "$reg/test/hello:1.0@$built_digest"
skopeo=(skopeo --command-timeout 60s)
raw=$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello:1.0" 2>&1)
same "skopeo inspect --raw: the manifest is byte for byte the archive's" "$manifest_bytes" "$raw"
contains "skopeo inspect --raw: the manifest annotations are there" "$raw" "${annotation_texts[@]}"
same "skopeo inspect: labels" "qemu|linux|/boot/kernel|console=ttyS0 k=v|unikernels|linux/amd64" \
    "$("${skopeo[@]}" inspect --cert-dir "$tmp/certs" --creds alice:s3cret --format '{{index .Labels "com.urunc.unikernel.hypervisor"}}|{{index .Labels "com.urunc.unikernel.unikernelType"}}|{{index .Labels "com.urunc.unikernel.binary"}}|{{index .Labels "com.urunc.unikernel.cmdline"}}|{{index .Labels "org.example.team"}}|{{.Os}}/{{.Architecture}}' "docker://$reg/test/hello:1.0" 2>&1)"
contains "skopeo inspect --config: Cmd and Env" \
    "$("${skopeo[@]}" inspect --config --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello:1.0" 2>&1)" \
    '"Cmd":["console=ttyS0","two words"]' '"GREETING=hello world"'
# --preserve-digests and uncompressed layers: skopeo would otherwise gzip
# the layers on the way into the layout.
check "skopeo copy docker:// to oci:" "${skopeo[@]}" copy -q --preserve-digests --dest-oci-accept-uncompressed-layers \
    --src-cert-dir "$tmp/certs" --src-creds alice:s3cret "docker://$reg/test/hello:1.0" "oci:$tmp/copied:1.0"
copied=$("${skopeo[@]}" inspect --raw "oci:$tmp/copied:1.0" 2>&1)
contains "skopeo copy: the layer and config digests and the annotations are unchanged" "$copied" \
    "$layer_digest" "$config_digest" "${annotation_texts[@]}"
same "skopeo copy: the copied manifest is the pushed one" "$manifest_bytes" "$copied"
contains "skopeo copy: the copied config has the labels and Cmd" "$("${skopeo[@]}" inspect --config --raw "oci:$tmp/copied:1.0" 2>&1)" \
    '"Cmd":["console=ttyS0","two words"]' '"org.example.team":"unikernels"' '"com.urunc.unikernel.hypervisor":"qemu"'

# --- push --compression: the layers encoded anew, as build --compression writes them
for c in gzip zstd; do
    built=$("$bimanix" build "$tmp/in/hello.json" --compression "$c" -o "$tmp/hello-$c.tar" 2>&1)
    want=$(printf '%s\n' "$built" | grep -oE 'manifest sha256:[0-9a-f]{64}' | sed 's/manifest //')
    out=$("$bimanix" push "$tmp/hello.tar" "$reg/test/hello-$c:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
        --compression "$c" 2>"$tmp/push.err")
    same "push --compression $c succeeds" 0 "$?"
    same "push --compression $c sends the image build --compression $c writes, to the byte" \
        "$reg/test/hello-$c:1.0@$want" "$out"
    contains "push --compression $c: the registry has $c layers" \
        "$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello-$c:1.0" 2>&1)" \
        "layer.v1.tar+$c" "${annotation_texts[@]}"
done

# --- push's default: uncompressed layers are gzipped, as docker and skopeo push
plain_out=$("$bimanix" build "$tmp/in/hello.json" --compression none -o "$tmp/hello-plain.tar" 2>&1)
plain_digest=$(printf '%s\n' "$plain_out" | grep -oE 'manifest sha256:[0-9a-f]{64}' | sed 's/manifest //')
out=$("$bimanix" push "$tmp/hello-plain.tar" "$reg/test/hello-plain:gzipped" --cert-dir "$tmp/certs" --creds alice:s3cret \
    2>"$tmp/push.err")
same "push of an uncompressed image gzips its layers: the registry gets what build --compression gzip writes" \
    "$reg/test/hello-plain:gzipped@$built_digest" "$out"
contains "and push says the pushed digest differs from the local one, and how to keep it" "$(cat "$tmp/push.err")" \
    "the pushed digest $built_digest differs from the local image's $plain_digest" "--compression none"
out=$("$bimanix" push "$tmp/hello-plain.tar" "$reg/test/hello-plain:plain" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --compression none 2>"$tmp/push.err")
same "push --compression none keeps the build's digest" "$reg/test/hello-plain:plain@$plain_digest" "$out"
case $(cat "$tmp/push.err") in
    *differs*) notok "and says nothing of a different digest" "$(cat "$tmp/push.err")" ;;
    *) ok "and says nothing of a different digest" ;;
esac
contains "the registry has the uncompressed layer" \
    "$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello-plain:plain" 2>&1)" \
    '"mediaType":"application/vnd.oci.image.layer.v1.tar"'

# --- Incremental pushes ---------------------------------------------------------
m=$(mark "$tmp/basic.access")
out=$("$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret 2>"$tmp/push.err")
same "a second push succeeds" 0 "$?"
same "a second push uploads no blob (registry access log)" 0 "$(uploads "$tmp/basic.access" "$m")"
same "a second push starts no upload at all" 0 "$(since "$tmp/basic.access" "$m" | grep -c '"POST /v2/')"
contains "a second push says the blobs exist" "$(cat "$tmp/push.err")" "config sha256:" "exists"
out=$("$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret \
    --digestfile /dev/stdout 2>/dev/null)
same "--digestfile /dev/stdout writes into the pipe, the digest alone" "$built_digest" "$out"
check "/dev/stdout is left as it was" test -L /dev/stdout
case $(cat "$tmp/push.err") in
    *$'\e'*) notok "without a terminal, push writes plain lines (no escape codes)" "$(cat "$tmp/push.err")" ;;
    *) ok "without a terminal, push writes plain lines (no escape codes)" ;;
esac
if command -v script >/dev/null; then
    # A new repository, so that the blobs are uploaded and the bars move.
    tty_out=$(TERM=xterm XDG_CACHE_HOME=$tmp/nocache script -qec "$bimanix push $tmp/hello.tar $reg/test/tty:1.0 --cert-dir $tmp/certs --creds alice:s3cret" /dev/null 2>&1)
    contains "on a terminal, push draws a bar per blob that ends as pushed" "$tty_out" $'\e[' "[==============================]" "layer 1 sha256:" "pushed"
else
    notok "script (util-linux) is installed, to give push a terminal"
fi
changed_blobs=$(comm -13 <(blobs "$tmp/hello.tar") <(blobs "$tmp/changed.tar"))
m=$(mark "$tmp/basic.access")
check "a push after an annotation-only change succeeds" "$bimanix" push "$tmp/changed.tar" "$reg/test/hello:1.1" \
    --cert-dir "$tmp/certs" --creds alice:s3cret
same "it uploads exactly the blobs that changed" "$changed_blobs" "$(uploaded "$tmp/basic.access" "$m")"
same "which are two: the config and the layer holding /urunc.json" 2 "$(uploads "$tmp/basic.access" "$m")"
m=$(mark "$tmp/basic.access")
check "the same image as an oci-archive pushes" "$bimanix" push "$tmp/hello-oci.tar" "$reg/test/hello:oci" \
    --cert-dir "$tmp/certs" --creds alice:s3cret
same "the oci-archive's push uploads nothing new" 0 "$(uploads "$tmp/basic.access" "$m")"

# --- A multi-platform index -------------------------------------------------------
out=$("$bimanix" push "$tmp/multi" "$reg/test/hello:multi" --cert-dir "$tmp/certs" --creds alice:s3cret 2>&1)
same "a multi-platform OCI layout pushes, under the index's digest" "$reg/test/hello:multi@$multi_digest" "$(printf '%s\n' "$out" | tail -n 1)"
index=$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello:multi" 2>&1)
contains "skopeo inspect --raw: the index lists both platforms" "$index" \
    '"platform":{"architecture":"amd64","os":"linux"}' '"platform":{"architecture":"arm64","os":"linux"}'
same "skopeo reads the arm64 image of the index" "linux/arm64" \
    "$("${skopeo[@]}" inspect --override-arch arm64 --cert-dir "$tmp/certs" --creds alice:s3cret --format '{{.Os}}/{{.Architecture}}' "docker://$reg/test/hello:multi" 2>&1)"

out=$("$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --tls-verify=false --creds alice:s3cret 2>&1)
same "--tls-verify=false pushes without the CA" "$reg/test/hello:1.0@$built_digest" "$(printf '%s\n' "$out" | tail -n 1)"
fails "--plain-http with --cert-dir is a usage error" 2 "cannot be used with" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --plain-http --cert-dir "$tmp/certs"
fails "--plain-http against an HTTPS registry says that it speaks HTTPS" 1 "speaks HTTPS, not plain HTTP: leave out --plain-http" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --plain-http
# A TLS server that drops a plain request unanswered is told by one HTTPS request.
s_port=$(free_port)
openssl s_server -accept "$s_port" -cert "$tmp/pki/srv.crt" -key "$tmp/pki/srv.key" -www -quiet >"$tmp/s_server.log" 2>&1 &
pids+=($!)
wait_port "$s_port" || notok "openssl s_server starts" "$(cat "$tmp/s_server.log")"
fails "--plain-http against a TLS server that drops plain requests says that it speaks HTTPS" 1 "speaks HTTPS" \
    "$bimanix" push "$tmp/hello.tar" "127.0.0.1:$s_port/test/hello:1.0" --plain-http

# --- Several tags, mounts, parallel uploads ---------------------------------------
# POSTs that mounted a blob (201) and that were refused (202), and completed
# uploads, into the repository $3, since a mark.
mounts() { since "$1" "$2" | grep -cE "\"POST /v2/$3/blobs/uploads/\?mount=sha256%3A[0-9a-f]{64}&from=[^ ]* HTTP/[0-9.]+\" 201"; }
refused_mounts() { since "$1" "$2" | grep -cE "\"POST /v2/$3/blobs/uploads/\?mount=[^ ]* HTTP/[0-9.]+\" 202"; }
uploads_to() { since "$1" "$2" | grep -cE "\"PUT /v2/$3/blobs/uploads/[^ ]* HTTP/[0-9.]+\" 201"; }
m=$(mark "$tmp/basic.access")
# A blob record of its own, so that the first repository gets uploads.
out=$(XDG_CACHE_HOME=$tmp/cache-multi "$bimanix" push "$tmp/hello.tar" "$reg/test/multi:a" "$reg/test/multi:b" \
    "docker://$reg/test/mounted:1" --cert-dir "$tmp/certs" --creds alice:s3cret --digestfile "$tmp/multi-digest" 2>"$tmp/push.err")
same "a push to three references succeeds" 0 "$?"
same "it prints each reference with the digest" \
    "$(printf '%s\n' "$reg/test/multi:a@$built_digest" "$reg/test/multi:b@$built_digest" "$reg/test/mounted:1@$built_digest")" "$out"
same "--digestfile holds the digest" "$built_digest" "$(cat "$tmp/multi-digest" 2>&1)"
same "the blobs went once to the first repository (registry access log; uploaded/mounted)" "$blob_count/0" \
    "$(uploads_to "$tmp/basic.access" "$m" test/multi)/$(mounts "$tmp/basic.access" "$m" test/multi)"
same "and were mounted, not uploaded, into the second (mounted/uploaded)" "$blob_count/0" \
    "$(mounts "$tmp/basic.access" "$m" test/mounted)/$(uploads_to "$tmp/basic.access" "$m" test/mounted)"
same "the manifest was put under each tag" 3 \
    "$(since "$tmp/basic.access" "$m" | grep -cE '"PUT /v2/test/(multi|mounted)/manifests/(a|b|1) HTTP/[0-9.]+" 201')"
contains "push says which blobs were mounted, and from where" "$(cat "$tmp/push.err")" "mounted from test/multi" \
    "$blob_count mounted from another repository"
blob_lines=$(grep -E '^bimanix: (config|layer [0-9]+) sha256:' "$tmp/push.err" | head -n "$blob_count" | sed 's/^bimanix: //; s/ sha256:.*//')
same "without a terminal, the blob lines come in the image's order, whatever order the uploads end in" \
    "$(printf 'config\n'; seq 1 $((blob_count - 1)) | sed 's/^/layer /')" "$blob_lines"
for tag in multi:a multi:b mounted:1; do
    same "skopeo inspect --raw $tag: the manifest byte for byte" "$manifest_bytes" \
        "$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/$tag" 2>&1)"
done
check "skopeo copies the mounted image (every blob read back and checked)" "${skopeo[@]}" copy -q --preserve-digests \
    --dest-oci-accept-uncompressed-layers --src-cert-dir "$tmp/certs" --src-creds alice:s3cret \
    "docker://$reg/test/mounted:1" "oci:$tmp/mounted-copy:1"
m=$(mark "$tmp/basic.access")
check "a later run pushes to a third repository" "$bimanix" push "$tmp/hello.tar" "$reg/test/cached:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret --jobs 1
same "it mounts from where the blob record says the blobs are (mounted/uploaded)" "$blob_count/0" \
    "$(mounts "$tmp/basic.access" "$m" test/cached)/$(uploads_to "$tmp/basic.access" "$m" test/cached)"
contains "the blob record is a small file in XDG_CACHE_HOME" "$(cat "$tmp/cache/bimanix/blobs.json" 2>&1)" \
    '"repository":"test/cached"' "\"registry\":\"$reg\""
mv "$tmp/cache" "$tmp/cache-kept"
m=$(mark "$tmp/basic.access")
check "without the blob record (deleted), a push succeeds" "$bimanix" push "$tmp/hello.tar" "$reg/test/uncached:1" \
    --cert-dir "$tmp/certs" --creds alice:s3cret
same "and uploads every blob, mounting none (uploaded/mounted)" "$blob_count/0" \
    "$(uploads_to "$tmp/basic.access" "$m" test/uncached)/$(mounts "$tmp/basic.access" "$m" test/uncached)"
rm -rf "$tmp/cache"
m=$(mark "$tmp/basic.access")
check "--mount-from names a repository to mount from" "$bimanix" push "$tmp/hello.tar" "$reg/test/named:1" \
    --mount-from test/multi --cert-dir "$tmp/certs" --creds alice:s3cret
same "the blobs are mounted from it (mounted/uploaded)" "$blob_count/0" \
    "$(mounts "$tmp/basic.access" "$m" test/named)/$(uploads_to "$tmp/basic.access" "$m" test/named)"
rm -rf "$tmp/cache"
m=$(mark "$tmp/basic.access")
check "a mount the registry refuses (the source lacks the blobs) falls back to an upload" "$bimanix" push "$tmp/hello.tar" \
    "$reg/test/refused:1" --mount-from test/nothing-here --cert-dir "$tmp/certs" --creds alice:s3cret
same "in the session the refusal opened (refused mounts/uploads/other uploads started)" "$blob_count/$blob_count/0" \
    "$(refused_mounts "$tmp/basic.access" "$m" test/refused)/$(uploads_to "$tmp/basic.access" "$m" test/refused)/$(since "$tmp/basic.access" "$m" | grep -cE '"POST /v2/test/refused/blobs/uploads/ HTTP')"
rm -rf "$tmp/cache"; mv "$tmp/cache-kept" "$tmp/cache"

# --- Encodings the blob record remembers -------------------------------------------
# The uncompressed image, gzipped by push; a blob record of its own.
enc_cache=$tmp/cache-enc
enc_record=$enc_cache/bimanix/blobs.json
plain_blobs=$blob_count
m=$(mark "$tmp/basic.access")
out=$(XDG_CACHE_HOME=$enc_cache "$bimanix" push "$tmp/hello-plain.tar" "$reg/test/enc-a:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret 2>"$tmp/push.err")
same "a push of the uncompressed image gzips its layers" "$reg/test/enc-a:1@$built_digest" "$out"
same "and uploads every blob (uploaded/mounted)" "$plain_blobs/0" \
    "$(uploads_to "$tmp/basic.access" "$m" test/enc-a)/$(mounts "$tmp/basic.access" "$m" test/enc-a)"
contains "the blob record remembers what each layer gzipped to" "$(cat "$enc_record" 2>&1)" '"encoded":[{"source":"sha256:' \
    '"compression":"gzip"'
enc_raw=$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/enc-a:1" 2>&1)
m=$(mark "$tmp/basic.access")
out=$(XDG_CACHE_HOME=$enc_cache "$bimanix" push "$tmp/hello-plain.tar" "$reg/test/enc-b:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret --digestfile "$tmp/enc-digest" 2>"$tmp/push.err")
same "a later run pushes it to a second repository, with the same digest" "$reg/test/enc-b:1@$built_digest" "$out"
same "--digestfile holds it" "$built_digest" "$(cat "$tmp/enc-digest" 2>&1)"
same "every blob is mounted, none uploaded (mounted/uploaded)" "$plain_blobs/0" \
    "$(mounts "$tmp/basic.access" "$m" test/enc-b)/$(uploads_to "$tmp/basic.access" "$m" test/enc-b)"
contains "and no layer was encoded: push named them as the record remembers" "$(cat "$tmp/push.err")" \
    "not encoded: the blob record ($enc_record) knows what" "the pushed digest $built_digest differs from the local image's"
case $(cat "$tmp/push.err") in
    *"encoding it with"*) notok "push encoded no layer for the upload" "$(cat "$tmp/push.err")" ;;
    *) ok "push encoded no layer for the upload" ;;
esac
same "skopeo inspect --raw: the second repository's manifest is the first's, byte for byte" "$enc_raw" \
    "$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/enc-b:1" 2>&1)"
check "skopeo copies it back (every blob read and checked)" "${skopeo[@]}" copy -q --preserve-digests \
    --src-cert-dir "$tmp/certs" --src-creds alice:s3cret "docker://$reg/test/enc-b:1" "oci:$tmp/enc-copy:1"
# The encodings kept, where the blobs are forgotten: no mount to try.
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r["blobs"] = []; json.dump(r, open(sys.argv[1], "w"))' \
    "$enc_record"
m=$(mark "$tmp/basic.access")
out=$(XDG_CACHE_HOME=$enc_cache "$bimanix" push "$tmp/hello-plain.tar" "$reg/test/enc-c:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret 2>"$tmp/push.err")
same "a remembered layer the registry lacks and cannot mount is encoded for the upload, to the remembered digest" \
    "$reg/test/enc-c:1@$built_digest" "$out"
contains "push says it encoded it then" "$(cat "$tmp/push.err")" "the registry lacks it; encoding it with gzip to upload"
same "and uploads every blob (uploaded/mounted)" "$plain_blobs/0" \
    "$(uploads_to "$tmp/basic.access" "$m" test/enc-c)/$(mounts "$tmp/basic.access" "$m" test/enc-c)"
# A stale record: one layer said to gzip to another blob.
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r["encoded"][0]["digest"] = "sha256:" + "0" * 64
json.dump(r, open(sys.argv[1], "w"))' "$enc_record"
m=$(mark "$tmp/basic.access")
XDG_CACHE_HOME=$enc_cache "$bimanix" push "$tmp/hello-plain.tar" "$reg/test/enc-d:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret >/dev/null 2>"$tmp/push.err"
same "a push with a stale encoding in the record fails" 1 "$?"
contains "naming the layer, both digests and the record, which no longer holds it" "$(cat "$tmp/push.err")" \
    "the blob record is stale: what it said of this image's layers is dropped from $enc_record" \
    "not to sha256:$(printf '0%.0s' $(seq 64)) (" "as the blob record says" "nothing was uploaded"
same "before any blob was uploaded or any manifest put (uploads/manifests)" "0/0" \
    "$(uploads_to "$tmp/basic.access" "$m" test/enc-d)/$(since "$tmp/basic.access" "$m" | grep -cE '"PUT /v2/test/enc-d/manifests/')"
case $(cat "$enc_record") in
    *'"encoded":[]'*) ok "the image's encodings are dropped from the record" ;;
    *) notok "the image's encodings are dropped from the record" "$(cat "$enc_record")" ;;
esac
out=$(XDG_CACHE_HOME=$enc_cache "$bimanix" push "$tmp/hello-plain.tar" "$reg/test/enc-d:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret 2>"$tmp/push.err")
same "pushed again, the layers are encoded anew and the push succeeds with the right digest" \
    "$reg/test/enc-d:1@$built_digest" "$out"
check "skopeo copies it back" "${skopeo[@]}" copy -q --preserve-digests --src-cert-dir "$tmp/certs" \
    --src-creds alice:s3cret "docker://$reg/test/enc-d:1" "oci:$tmp/enc-copy-d:1"
out=$(XDG_CACHE_HOME=$enc_cache "$bimanix" push "$tmp/hello-plain.tar" "$reg/test/enc-e:1" --cert-dir "$tmp/certs" \
    --creds alice:s3cret --compression none 2>"$tmp/push.err")
same "--compression none takes nothing from the record: the build's digest" "$reg/test/enc-e:1@$plain_digest" "$out"
fails "--creds with references on two registries is a usage error" 2 "--creds gives the credentials of one registry" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/a:1" "$treg/test/a:1" --creds alice:s3cret
fails "--mount-from takes a repository, not a registry" 2 "names a registry" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/a:1" --mount-from "$reg/test/multi"
fails "--jobs 0 is a usage error" 2 "--jobs" "$bimanix" push "$tmp/hello.tar" "$reg/test/a:1" --jobs 0

# --- Credentials from where docker and podman keep them --------------------------
printf '{"auths": {"%s": {"auth": "%s"}}}' "$reg" "$(printf alice:s3cret | base64)" >"$tmp/auth.json"
out=$(env REGISTRY_AUTH_FILE="$tmp/auth.json" HOME="$tmp/emptyhome" "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" \
    --cert-dir "$tmp/certs" 2>&1)
same "credentials from \$REGISTRY_AUTH_FILE" "$reg/test/hello:1.0@$built_digest" "$(printf '%s\n' "$out" | tail -n 1)"
out=$(printf 's3cret\n' | "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice --password-stdin 2>&1)
same "--password-stdin" "$reg/test/hello:1.0@$built_digest" "$(printf '%s\n' "$out" | tail -n 1)"
mkdir -p "$tmp/helper/bin" "$tmp/helper/config"
cat >"$tmp/helper/bin/docker-credential-bimanixtest" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r server || true
echo "\$server" >>"$tmp/helper/asked"
[ "\$server" = "$reg" ] || { echo "credentials not found in native keychain"; exit 1; }
echo '{"ServerURL": "$reg", "Username": "alice", "Secret": "s3cret"}'
EOF
chmod +x "$tmp/helper/bin/docker-credential-bimanixtest"
echo '{"credsStore": "bimanixtest"}' >"$tmp/helper/config/config.json"
out=$(env -u REGISTRY_AUTH_FILE PATH="$tmp/helper/bin:$PATH" DOCKER_CONFIG="$tmp/helper/config" HOME="$tmp/emptyhome" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs" 2>&1)
same "credentials from a docker-credential helper (credsStore)" "$reg/test/hello:1.0@$built_digest" "$(printf '%s\n' "$out" | tail -n 1)"
same "the helper was asked for the registry" "$reg" "$(cat "$tmp/helper/asked" 2>&1)"
mkdir -p "$tmp/wrongcfg"
printf '{"auths": {"%s": {"auth": "%s"}}}' "$reg" "$(printf alice:wrong | base64)" >"$tmp/wrongcfg/config.json"
fails "refused credentials from a file are named with the file and key" 1 \
    "refused user \"alice\" (credentials from $tmp/wrongcfg/config.json (auths.\"$reg\"))" \
    env -u REGISTRY_AUTH_FILE DOCKER_CONFIG="$tmp/wrongcfg" HOME="$tmp/emptyhome" \
    "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --cert-dir "$tmp/certs"

# --- Bearer tokens ------------------------------------------------------------------
m=$(mark "$tmp/token.access")
out=$("$bimanix" push "$tmp/hello.tar" "$treg/test/hello:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret 2>&1)
same "a push through the token flow succeeds" "$treg/test/hello:1.0@$built_digest" "$(printf '%s\n' "$out" | tail -n 1)"
contains "the token service was asked for pull and push on the repository, with the user's credentials" \
    "$(cat "$tmp/token.requests" 2>&1)" "scope=['repository:test/hello:pull,push'] service=['bimanix-test'] auth=user"
same "the token registry took every blob" "$blob_count" "$(uploads "$tmp/token.access" "$m")"
same "skopeo reads it back through the token flow" "$manifest_bytes" \
    "$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$treg/test/hello:1.0" 2>&1)"
m=$(mark "$tmp/token.access")
out=$("$bimanix" push "$tmp/hello.tar" "$treg/test/mount-dst:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret 2>&1)
same "a push to a second repository through the token flow succeeds" "$treg/test/mount-dst:1.0@$built_digest" \
    "$(printf '%s\n' "$out" | tail -n 1)"
same "and mounts every blob from the first, the token allowing it (mounted/uploaded)" "$blob_count/0" \
    "$(mounts "$tmp/token.access" "$m" test/mount-dst)/$(uploads_to "$tmp/token.access" "$m" test/mount-dst)"
contains "the token service was asked for pull on the source besides push on the target" "$(cat "$tmp/token.requests" 2>&1)" \
    "'repository:test/mount-dst:pull,push', 'repository:test/hello:pull'"
printf '{"auths": {"%s": {"identitytoken": "bimanix-refresh-token"}}}' "$treg" >"$tmp/identity.json"
out=$(env REGISTRY_AUTH_FILE="$tmp/identity.json" HOME="$tmp/emptyhome" "$bimanix" push "$tmp/hello.tar" "$treg/test/hello:id" \
    --cert-dir "$tmp/certs" 2>&1)
same "an identity token from an auth file is exchanged for a token (OAuth2 refresh grant)" "$treg/test/hello:id@$built_digest" \
    "$(printf '%s\n' "$out" | tail -n 1)"
contains "the token service got the refresh grant for the repository" "$(cat "$tmp/token.requests" 2>&1)" \
    "POST scope=['repository:test/hello:pull,push'] service=['bimanix-test'] grant=['refresh_token'] refresh=good"
m=$(mark "$tmp/token.access")
fails "a wrong password is refused by the token service" 1 'refused user "alice"' \
    "$bimanix" push "$tmp/changed.tar" "$treg/test/other:1.0" --cert-dir "$tmp/certs" --creds alice:wrong
fails "an anonymous token may not push" 1 "needs credentials to push to test/other" \
    env -u REGISTRY_AUTH_FILE -u DOCKER_CONFIG HOME="$tmp/emptyhome" "$bimanix" push "$tmp/changed.tar" "$treg/test/other:1.0" --cert-dir "$tmp/certs"
same "the refused token pushes wrote nothing" 0 "$(writes "$tmp/token.access" "$m")"
fails "and created no tag" 1 "" skopeo inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$treg/test/other:1.0"

# --- Retries, plain HTTP --------------------------------------------------------------
proxy_port=$(free_port)
python3 "$root/tests/registry/flaky_proxy.py" "$proxy_port" "${preg#*:}" once "$tmp/proxy.log" >"$tmp/proxy.out" 2>&1 &
pids+=($!)
wait_port "$proxy_port" || notok "the flaky proxy starts" "$(cat "$tmp/proxy.out")"
m=$(mark "$tmp/plain.access")
out=$("$bimanix" push "$tmp/hello.tar" "127.0.0.1:$proxy_port/test/hello:1.0" --plain-http 2>&1)
same "a push with --plain-http through a 503 and a reset connection succeeds" 0 "$?"
contains "it said it retried, and why" "$out" "retrying in" "503 Service Unavailable"
contains "the proxy did inject both failures" "$(cat "$tmp/proxy.log" 2>&1)" "503 HEAD" "reset PUT"
same "each blob was stored once" "$blob_count" "$(uploads "$tmp/plain.access" "$m")"
proxy_port=$(free_port)
python3 "$root/tests/registry/flaky_proxy.py" "$proxy_port" "${preg#*:}" always "$tmp/proxy2.log" >"$tmp/proxy2.out" 2>&1 &
pids+=($!)
wait_port "$proxy_port" || notok "the always-failing proxy starts" "$(cat "$tmp/proxy2.out")"
fails "a registry that keeps failing is given up on after a bounded number of attempts" 1 "gave up after 4 attempts" \
    "$bimanix" push "$tmp/hello.tar" "127.0.0.1:$proxy_port/test/hello:1.0" --plain-http
# A 6 MiB random layer in 1 MiB chunks; the proxy resets the connection
# when 90% of the upload bodies have arrived, in the middle of a chunk.
head -c 6M /dev/urandom >"$tmp/in/random.bin"
printf '%s\n' '{"name": "test/big", "compression": "gzip", "files": {"./kernel": "/boot/kernel", "./random.bin": "/random.bin"},' \
    '"annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel"}}' >"$tmp/in/big.json"
check "bimanix builds an image with a 6 MiB layer" "$bimanix" build "$tmp/in/big.json" --format oci-archive -o "$tmp/big.tar"
big_size=$(tar -tvf "$tmp/big.tar" | awk '$6 ~ /^blobs\/sha256\// {print $3}' | sort -n | tail -n 1)
all_size=$(tar -tvf "$tmp/big.tar" | awk '$6 ~ /^blobs\/sha256\// {s += $3} END {print s}')
proxy_port=$(free_port)
python3 "$root/tests/registry/flaky_proxy.py" "$proxy_port" "${preg#*:}" "reset-at:$((all_size * 9 / 10))" "$tmp/proxy3.log" \
    >"$tmp/proxy3.out" 2>&1 &
pids+=($!)
wait_port "$proxy_port" || notok "the resetting proxy starts" "$(cat "$tmp/proxy3.out")"
m=$(mark "$tmp/plain.access")
out=$("$bimanix" push "$tmp/big.tar" "127.0.0.1:$proxy_port/test/big:1" --plain-http --chunk-size 1M 2>&1)
same "a chunked push through a reset at 90% succeeds" 0 "$?"
contains "the proxy reset the connection there, in a PATCH" "$(cat "$tmp/proxy3.log" 2>&1)" "reset PATCH after $((all_size * 9 / 10)) bytes"
contains "push asked the registry where the upload stood and went on from there" "$out" "the registry holds " \
    " of its $big_size bytes; going on from there"
received=$(grep -oE '^received [0-9]+' "$tmp/proxy3.log" | tail -n 1 | cut -d' ' -f2)
check "the bytes sent in all ($received) are the blobs' ($all_size) and less than a chunk more" \
    test "${received:-0}" -lt "$((all_size + (1 << 20)))"
same "the big layer went in 1 MiB PATCHes, each accepted once" "$(((big_size + (1 << 20) - 1) >> 20))" \
    "$(since "$tmp/plain.access" "$m" | grep -cE '"PATCH /v2/test/big/blobs/uploads/[^ ]* HTTP/[0-9.]+" 202')"
same "the upload's status was asked once (GET)" 1 \
    "$(since "$tmp/plain.access" "$m" | grep -cE '"GET /v2/test/big/blobs/uploads/[^ ]* HTTP/[0-9.]+" 204')"
check "skopeo copies the resumed image back, checking every digest" "${skopeo[@]}" copy -q --preserve-digests \
    --src-tls-verify=false "docker://$preg/test/big:1" "oci:$tmp/big-copy:1"
fails "plain HTTP is never a silent fallback: HTTPS to a plain registry fails" 1 "does not answer with TLS" \
    "$bimanix" push "$tmp/hello.tar" "$preg/test/hello:1.0"

# --- A media type the registry refuses ------------------------------------------------------
# The amd64 layout with its manifest's mediaType changed to one distribution
# does not know.
cp -r "$tmp/amd64" "$tmp/odd"
python3 - "$tmp/odd" <<'EOF' >"$tmp/odd.log" 2>&1
import hashlib, json, os, sys
layout = sys.argv[1]
index = json.load(open(layout + "/index.json"))
entry = index["manifests"][0]
manifest = json.load(open(layout + "/blobs/sha256/" + entry["digest"][7:]))
manifest["mediaType"] = entry["mediaType"] = "application/vnd.bimanix.test.unknown+json"
data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
entry["digest"], entry["size"] = "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
open(layout + "/blobs/sha256/" + entry["digest"][7:], "wb").write(data)
open(layout + "/index.json", "w").write(json.dumps(index))
EOF
fails "a manifest media type the registry refuses fails, naming the registry" 1 \
    "$reg refused the manifest sha256:" "$bimanix" push "$tmp/odd" "$reg/test/odd:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret
fails "and the message says which media type and what to do" 1 "(media type application/vnd.bimanix.test.unknown+json): MANIFEST_INVALID" \
    "$bimanix" push "$tmp/odd" "$reg/test/odd:1.0" --cert-dir "$tmp/certs" --creds alice:s3cret

# --- An old-style docker-archive (no OCI manifest) ---------------------------------------
check "skopeo writes an old-style docker-archive" "${skopeo[@]}" copy -q "oci-archive:$tmp/hello-oci.tar" "docker-archive:$tmp/old.tar:test/hello:old"
out=$("$bimanix" push "$tmp/old.tar" "$reg/test/hello:old" --cert-dir "$tmp/certs" --creds alice:s3cret 2>&1)
contains "an old-style docker-archive pushes with a manifest written for it" "$out" "no OCI manifest" "$reg/test/hello:old@sha256:"
same "its config is the image's" "$config_digest" \
    "$("${skopeo[@]}" inspect --raw --cert-dir "$tmp/certs" --creds alice:s3cret "docker://$reg/test/hello:old" 2>&1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])' 2>&1)"

# --- Docker -----------------------------------------------------------------------------
private_dockerd "$tmp/d"
export DOCKER_CONFIG=$tmp/docker-config
if timeout 20 docker info >/dev/null 2>&1; then
    ok "a Docker daemon answers"
    certs_d=/etc/docker/certs.d/$reg
    mkdir -p "$certs_d" && cp "$tmp/pki/ca.crt" "$certs_d/ca.crt"
    check "docker login (CA in /etc/docker/certs.d)" sh -c "printf s3cret | docker login --username alice --password-stdin $reg"
    out=$(docker pull "$reg/test/hello:1.0" 2>&1)
    if [ $? -eq 0 ]; then docker_images+=("$reg/test/hello:1.0"); ok "docker pull"; else notok "docker pull" "$out"; fi
    same "docker image inspect: the repo digest is the manifest's" "$reg/test/hello@$built_digest" \
        "$(docker image inspect --format '{{index .RepoDigests 0}}' "$reg/test/hello:1.0" 2>&1)"
    same "docker image inspect: labels" "qemu|console=ttyS0 k=v|unikernels" \
        "$(docker image inspect --format '{{index .Config.Labels "com.urunc.unikernel.hypervisor"}}|{{index .Config.Labels "com.urunc.unikernel.cmdline"}}|{{index .Config.Labels "org.example.team"}}' "$reg/test/hello:1.0" 2>&1)"
    same "docker image inspect: Cmd" '["console=ttyS0","two words"]' "$(docker image inspect --format '{{json .Config.Cmd}}' "$reg/test/hello:1.0" 2>&1)"
    out=$(env HOME="$tmp/emptyhome" "$bimanix" push "$tmp/hello.tar" "$reg/test/hello:1.0" --digestfile "$tmp/digest2" 2>&1)
    same "after docker login, bimanix finds the credentials and the CA docker uses" "$reg/test/hello:1.0@$built_digest" "$(printf '%s\n' "$out" | tail -n 1)"
    docker logout "$reg" >/dev/null 2>&1
else
    notok "a Docker daemon answers" "$(tail -n 20 "$tmp/d/dockerd.log" 2>/dev/null)"
fi
unset DOCKER_CONFIG

# --- containerd -----------------------------------------------------------------------------
ctr_sock=
for sock in ${CONTAINERD_ADDRESS:-} /run/containerd/containerd.sock ${started_dockerd:+$tmp/d/exec/containerd/containerd.sock} /var/run/docker/containerd/containerd.sock; do
    if [ -S "$sock" ] && timeout 10 ctr --address "$sock" version >/dev/null 2>&1; then
        ctr_sock=$sock
        break
    fi
done
if [ -z "$ctr_sock" ]; then
    echo "# no containerd answers; starting a private one"
    mkdir -p "$tmp/c"
    printf 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n' >"$tmp/c/config.toml"
    containerd --config "$tmp/c/config.toml" --address "$tmp/c/containerd.sock" --root "$tmp/c/root" --state "$tmp/c/state" >"$tmp/c/containerd.log" 2>&1 &
    started_containerd=$!
    for _ in $(seq 1 60); do timeout 5 ctr --address "$tmp/c/containerd.sock" version >/dev/null 2>&1 && break; sleep 1; done
    ctr_sock=$tmp/c/containerd.sock
fi
ctr="ctr --address $ctr_sock -n bimanix-registry-test"
# ctr takes 127.0.0.1 for plain HTTP unless its hosts directory says otherwise.
mkdir -p "$tmp/hosts/$reg"
printf 'server = "https://%s"\n[host."https://%s"]\n  ca = "%s"\n' "$reg" "$reg" "$tmp/certs/ca.crt" >"$tmp/hosts/$reg/hosts.toml"
if timeout 10 $ctr version >/dev/null 2>&1; then
    ok "a containerd answers at $ctr_sock"
    out=$(timeout 120 $ctr images pull --hosts-dir "$tmp/hosts" --user alice:s3cret "$reg/test/hello:1.0" 2>&1)
    if [ $? -eq 0 ]; then ctr_images+=("$reg/test/hello:1.0"); ok "ctr images pull"; else notok "ctr images pull" "$out"; fi
    line=$($ctr images ls 2>&1 | awk -v r="$reg/test/hello:1.0" '$1 == r')
    contains "ctr images ls: the image with the manifest digest, for linux/amd64" "$line" "$built_digest" "linux/amd64"
    contains "containerd keeps the manifest annotations" "$($ctr content get "$built_digest" 2>&1)" "${annotation_texts[@]}"
    out=$(timeout 120 $ctr images pull --hosts-dir "$tmp/hosts" --user alice:s3cret "$reg/test/mounted:1" 2>&1)
    if [ $? -eq 0 ]; then ctr_images+=("$reg/test/mounted:1"); ok "ctr images pull of the repository the blobs were mounted into"; else notok "ctr images pull of the mounted repository" "$out"; fi
    contains "ctr images ls: the mounted image, with the manifest digest" "$($ctr images ls 2>&1 | awk -v r="$reg/test/mounted:1" '$1 == r')" "$built_digest"
    out=$(timeout 120 $ctr images pull --all-platforms --hosts-dir "$tmp/hosts" --user alice:s3cret "$reg/test/hello:multi" 2>&1)
    if [ $? -eq 0 ]; then ctr_images+=("$reg/test/hello:multi"); ok "ctr images pull (multi-platform)"; else notok "ctr images pull (multi-platform)" "$out"; fi
    contains "ctr images ls: the index with both platforms" "$($ctr images ls 2>&1 | awk -v r="$reg/test/hello:multi" '$1 == r')" \
        "$multi_digest" "linux/amd64" "linux/arm64"
else
    notok "a containerd answers" "$(tail -n 20 "$tmp/c/containerd.log" 2>/dev/null)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
