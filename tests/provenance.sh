#!/usr/bin/env bash
# The OCI metadata and the documents attached beside an image, checked with
# real tools: the SBOM (build --sbom cyclonedx) by cyclonedx-python-lib's
# strict CycloneDX 1.6 JSON schema validator, the attestation
# (build --provenance) by in-toto-attestation's Statement and SLSA
# provenance v1 protobufs and a JSON schema of SLSA's required fields;
# every document reproducible byte for byte; the image manifest digest the
# same with and without them; skopeo reading the archive back (the image
# into an oci: directory and into podman's storage, as the docs say to
# by its tag, the referrers index by its sha256-<hex> tag); bimanix inspect
# listing the documents and checking their subjects, for bimanix's images
# and for layouts written the way other tools write them; the
# org.opencontainers.image.* labels in the config, the manifest and an
# index, and base.name/base.digest from a base image; push of the documents
# to Debian's registry (TLS, htpasswd; no referrers API), where another
# tool's fallback-index entry (tests/provenance/other_tool.py) must survive,
# read back with skopeo, and to a small registry that answers the referrers
# API (tests/provenance/referrers_registry.py), where no fallback tag is
# written; an index of images with documents carrying them (inspected,
# read by skopeo, pushed to both registries, each image's under its own
# fallback tag); the Nix programs refusing an image or index with
# documents, and mkUruncIndex carrying its images' documents.
#
# Usage: tests/provenance.sh (from anywhere). The validators come from PyPI
# into a virtualenv under ${BIMANIX_PYENV:-$HOME/.cache/bimanix-tests/pyenv},
# made once. Set BIMANIX to test another binary. The last line is
# "N passed, M failed"; exit 1 when anything failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

. "$root/tests/lib.sh"

bx=${BIMANIX:-$root/target/release/bimanix}
tmp=$(mktemp -d /tmp/bimanix-provenance.XXXXXX)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

pyenv=${BIMANIX_PYENV:-$HOME/.cache/bimanix-tests/pyenv}
if ! "$pyenv/bin/python" -c 'import cyclonedx.validation.json, in_toto_attestation, jsonschema' 2>/dev/null; then
    rm -rf "$pyenv"
    try "virtualenv with the validators from PyPI" sh -c "python3 -m venv '$pyenv' &&
        timeout 600 '$pyenv/bin/pip' install -q 'cyclonedx-python-lib[json-validation]' in-toto-attestation jsonschema" ||
        finish
fi
validate() { "$pyenv/bin/python" "$root/tests/provenance/validate.py" "$@"; }
py() { "$pyenv/bin/python" -c "$@"; }

# A Linux guest with an initrd bimanix generates, OCI labels, a urunc target.
cd "$tmp"
mkdir -p src/init
cp "$root/example/hello/hello.bzImage" src/kernel
printf 'init script\n' > src/init/init
cat > args.nix <<'EOF'
{
  name = "ghcr.io/example/prov";
  tag = "1.0";
  files = { "./src/kernel" = "/boot/kernel"; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/boot/kernel"; cmdline = "console=ttyS0"; };
  rootfs = { type = "initrd"; target = "/boot/initrd"; files = { "./src/init" = "/"; }; };
  labels = {
    "org.opencontainers.image.title" = "prov";
    "org.opencontainers.image.licenses" = "MIT";
    "org.opencontainers.image.revision" = "0123abc";
    "org.example.team" = "unikernels";
  };
  urunc = "0.6,0.8";
}
EOF

# json FILE EXPR: prints EXPR of the JSON document j read from FILE.
json() { py "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
# blob DIR DIGEST: the path of a blob in a layout.
blob() { echo "$1/blobs/sha256/${2#sha256:}"; }

try "build oci-archive with --sbom cyclonedx --provenance" \
    "$bx" build args.nix --format oci-archive --sbom cyclonedx --provenance -o with.tar || finish
try "build the same image without documents" "$bx" build args.nix --format oci-archive -o plain.tar || finish
mkdir with plain
tar -xf with.tar -C with && tar -xf plain.tar -C plain
manifest=$(json with/index.json 'j["manifests"][0]["digest"]')
same "the image manifest digest is the same with and without documents" \
    "$(json plain/index.json 'j["manifests"][0]["digest"]')" "$manifest"
same "index.json lists the image, then the referrers index tagged sha256-<hex>" \
    "latest? no: 1.0 sha256-${manifest#sha256:}" \
    "latest? no: $(json with/index.json '" ".join(m["annotations"]["org.opencontainers.image.ref.name"] for m in j["manifests"])')"

# The referrers index and the two artifact manifests.
refidx=$(blob with "$(json with/index.json 'j["manifests"][1]["digest"]')")
same "the referrers index lists an SBOM and an attestation" \
    "application/vnd.cyclonedx+json application/vnd.in-toto+json" \
    "$(json "$refidx" '" ".join(m["artifactType"] for m in j["manifests"])')"
sbom_manifest=$(blob with "$(json "$refidx" 'j["manifests"][0]["digest"]')")
att_manifest=$(blob with "$(json "$refidx" 'j["manifests"][1]["digest"]')")
for m in "$sbom_manifest" "$att_manifest"; do
    same "artifact manifest $(basename "$m" | cut -c1-12): subject is the image, config is the empty blob" \
        "$manifest application/vnd.oci.empty.v1+json 2" \
        "$(json "$m" 'j["subject"]["digest"], j["config"]["mediaType"], j["config"]["size"]' | tr -d "(),'")"
done
sbom=$(blob with "$(json "$sbom_manifest" 'j["layers"][0]["digest"]')")
att=$(blob with "$(json "$att_manifest" 'j["layers"][0]["digest"]')")

check "the SBOM is valid CycloneDX 1.6 (cyclonedx-python-lib, strict)" validate cyclonedx "$sbom"
check "the attestation is a valid in-toto statement with a SLSA provenance v1 predicate" validate slsa "$att"
printf '{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{"a":1}}' > bad.json
if validate slsa bad.json >/dev/null 2>&1; then notok "the attestation validator refuses a statement without subjects"; else
    ok "the attestation validator refuses a statement without subjects"; fi

kernel_sha=$(sha256sum src/kernel | cut -d' ' -f1)
same "the SBOM lists /boot/kernel as the kernel with its SHA-256 and size" \
    "kernel $kernel_sha $(stat -c %s src/kernel)" \
    "$(json "$sbom" '" ".join([{p["name"]:p["value"] for p in c["properties"]}["bimanix:role"] + " " + c["hashes"][0]["content"] + " " + {p["name"]:p["value"] for p in c["properties"]}["bimanix:size"] for c in j["components"] if c["name"]=="/boot/kernel"])')"
same "the SBOM lists the generated initrd and the file inside it" \
    "initrd /init" \
    "$(json "$sbom" '" ".join([{p["name"]:p["value"] for p in c["properties"]}["bimanix:role"] + " " + c["components"][0]["name"] for c in j["components"] if c["name"]=="/boot/initrd"])')"
init_sha=$(sha256sum src/init/init | cut -d' ' -f1)
same "the file inside the initrd has its SHA-256" "$init_sha" \
    "$(json "$sbom" '[c["components"][0]["hashes"][0]["content"] for c in j["components"] if c["name"]=="/boot/initrd"][0]')"
same "the SBOM names urunc.json, the image digest, bimanix's version and the urunc versions checked" \
    "urunc.json ${manifest#sha256:} $("$bx" --version | awk '{print $2}') 0.6,0.8" \
    "$(json "$sbom" '" ".join([[p["value"] for p in c["properties"]][0] for c in j["components"] if c["name"]=="/urunc.json"] + [j["metadata"]["component"]["hashes"][0]["content"], j["metadata"]["tools"]["components"][0]["version"], ",".join(p["value"] for p in j["metadata"]["component"]["properties"] if p["name"]=="bimanix:urunc.checked")])')"
same "the SBOM's serial number is derived from the manifest digest, its timestamp is created" \
    "1970-01-01T00:00:00Z" "$(json "$sbom" 'j["metadata"]["timestamp"]')"
same "the attestation's subject is the image manifest" "${manifest#sha256:}" \
    "$(json "$att" 'j["subject"][0]["digest"]["sha256"]')"
same "the attestation lists the input file and the kernel with their digests" \
    "args.nix $(sha256sum args.nix | cut -d' ' -f1) /boot/kernel $kernel_sha" \
    "$(json "$att" '" ".join(d["name"] + " " + d["digest"]["sha256"] for d in j["predicate"]["buildDefinition"]["resolvedDependencies"] if d["name"] in ("args.nix", "/boot/kernel"))')"

# Reproducible: another build, elsewhere, at another time, gives the same bytes.
sleep 1
mkdir again && cp -r src args.nix again/
(cd again && "$bx" build args.nix --format oci-archive --sbom cyclonedx --provenance -o ../again.tar 2>/dev/null)
check "the archive with its documents is byte-for-byte reproducible" cmp with.tar again.tar
try "build an oci-layout with the documents" "$bx" build args.nix --format oci-layout --sbom cyclonedx --provenance -o layout
check "the layout holds the same SBOM blob" cmp "$sbom" "$(blob layout "sha256:$(sha256sum "$sbom" | cut -d' ' -f1)")"

# skopeo reads the image by its tag and the referrers index by its fallback tag.
check "skopeo inspect oci-archive:with.tar:1.0" skopeo inspect "oci-archive:with.tar:1.0"
check "skopeo copy oci-archive:with.tar:1.0 to an oci: directory" \
    skopeo copy -q "oci-archive:with.tar:1.0" "oci:copied:1.0"
contains "skopeo reads the referrers index by its sha256-<hex> tag" \
    "$(skopeo inspect --raw "oci-archive:with.tar:sha256-${manifest#sha256:}" 2>&1)" "application/vnd.cyclonedx+json"

# podman load takes no tag; the documented route is skopeo into containers-storage.
store="containers-storage:[vfs@$tmp/pstore+$tmp/prun]"
check "skopeo copy oci-archive:with.tar:1.0 into podman's storage (the route the docs give)" \
    timeout 120 skopeo copy -q "oci-archive:with.tar:1.0" "${store}ghcr.io/example/prov:1.0"
contains "podman sees the image copied in" \
    "$(timeout 60 podman --root "$tmp/pstore" --runroot "$tmp/prun" --storage-driver vfs images 2>&1)" "ghcr.io/example/prov"
timeout 60 podman --root "$tmp/pstore" --runroot "$tmp/prun" --storage-driver vfs rmi -a >/dev/null 2>&1
contains "podman load refuses an archive with documents, as the docs say" \
    "$(timeout 60 podman --root "$tmp/pstore" --runroot "$tmp/prun" --storage-driver vfs load -i with.tar 2>&1)" \
    "more than one image in oci"

# inspect lists the documents and checks their subjects.
out=$("$bx" inspect with.tar 2>&1)
contains "inspect lists the SBOM and the attestation with their subjects ok" "$out" \
    "application/vnd.cyclonedx+json" "application/vnd.in-toto+json" "subject ok"
same "inspect --json: two attached documents, both ok" "2 True" \
    "$("$bx" inspect --json with.tar 2>/dev/null | py 'import json,sys; a=json.load(sys.stdin)["attached"]; print(len(a), all(x["ok"] for x in a))')"
contains "inspect of an image without documents says none" "$("$bx" inspect plain.tar 2>&1)" "attached documents: (none)"
cp -r layout broken
printf 'changed' > "$(blob broken "sha256:$(sha256sum "$sbom" | cut -d' ' -f1)")"
contains "inspect warns about a document whose blob was changed" "$("$bx" inspect broken 2>&1)" \
    "warning [attached] document" "not the $(stat -c %s "$sbom") its descriptor says"

# A layout as oras writes one: the artifact manifest listed in index.json itself.
cp -r plain oras
py '
import hashlib, json, sys
d = sys.argv[1]
def put(b):
    h = hashlib.sha256(b).hexdigest(); open(f"{d}/blobs/sha256/{h}", "wb").write(b); return "sha256:" + h, len(b)
idx = json.load(open(f"{d}/index.json"))
img = idx["manifests"][0]
doc = put(b"{\"spdxVersion\":\"SPDX-2.3\"}")
empty = put(b"{}")
m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/spdx+json",
     "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty[0], "size": empty[1]},
     "layers": [{"mediaType": "application/spdx+json", "digest": doc[0], "size": doc[1]}],
     "subject": {"mediaType": img["mediaType"], "digest": img["digest"], "size": img["size"]}}
md = put(json.dumps(m).encode())
idx["manifests"].append({"mediaType": m["mediaType"], "digest": md[0], "size": md[1], "artifactType": m["artifactType"]})
json.dump(idx, open(f"{d}/index.json", "w"))
' oras
out=$("$bx" inspect oras 2>&1)
contains "inspect of an oras-style layout reads the image and lists its SPDX document" "$out" \
    "application/spdx+json" "in index.json, subject ok"

# push: Debian's registry (distribution 2.8: no referrers API) with TLS and
# htpasswd, where another tool attached a document first; then a small
# registry that answers the referrers API (tests/provenance/referrers_registry.py).
free_port() { py 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
mkdir -p pki certs
(
    cd pki &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=bimanix-test-ca &&
        openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 &&
        printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
        openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 2 -extfile ext.cnf
) >openssl.log 2>&1
cp pki/ca.crt certs/ca.crt
htpasswd -Bbn alice s3cret >htpasswd
port=$(free_port)
printf '%s\n' 'version: 0.1' 'log: {level: error}' "storage: {filesystem: {rootdirectory: $tmp/registry-data}}" \
    "http: {addr: \"127.0.0.1:$port\", tls: {certificate: $tmp/pki/srv.crt, key: $tmp/pki/srv.key}}" \
    "auth: {htpasswd: {realm: bimanix-test, path: $tmp/htpasswd}}" >registry.yml
docker-registry serve registry.yml >registry.out 2>&1 &
regpid=$!
fport=$(free_port)
python3 "$root/tests/provenance/referrers_registry.py" "$fport" "$tmp/fake.log" >fake.out 2>&1 &
fakepid=$!
trap 'stop $regpid; stop $fakepid; chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
wait_port "$port" && wait_port "$fport" || notok "the registries start" "$(cat registry.out fake.out)"
reg=127.0.0.1:$port
auth=(--cert-dir "$tmp/certs" --creds alice:s3cret)
hex=${manifest#sha256:}
msize=$(stat -c %s "$(blob with "$manifest")")
ours=$(json "$refidx" '" ".join(m["digest"] for m in j["manifests"])')

other=$(timeout 60 python3 "$root/tests/provenance/other_tool.py" "$reg" x/prov certs/ca.crt alice:s3cret "$manifest" "$msize" 2>&1)
contains "another tool attached its document first (artifact and sha256-<hex> index)" "$other" "sha256:"
HOME=/nonexistent timeout 120 "$bx" push with.tar "$reg/x/prov:1.0" "${auth[@]}" --digestfile pushed.digest >out 2>&1
same "push of an archive with documents succeeds" 0 $?
same "--digestfile records the image's digest: the layers went as built, as the documents describe" \
    "$manifest" "$(cat pushed.digest)"
contains "push says where the documents went and that the layers went as built" "$(cat out)" \
    "2 attached documents pushed" "listed by the index tagged sha256-$hex, keeping the 1 entries already there" \
    "the layers went as built"
raw=$(timeout 60 skopeo inspect --raw "${auth[@]}" "docker://$reg/x/prov:sha256-$hex" 2>&1)
echo "$raw" >fallback.json
same "skopeo reads the fallback index: the other tool's entry kept first, then the SBOM and the attestation" \
    "$other $ours" "$(json fallback.json '" ".join(m["digest"] for m in j["manifests"])')"
same "the other tool's entry is kept as it was (its annotations too)" "other application/spdx+json" \
    "$(json fallback.json 'j["manifests"][0]["annotations"]["org.example.tool"] + " " + j["manifests"][0]["artifactType"]')"
same "our entries carry their artifactType, as the referrers API lists them" \
    "application/vnd.cyclonedx+json application/vnd.in-toto+json" \
    "$(json fallback.json '" ".join(m["artifactType"] for m in j["manifests"][1:])')"
for d in $ours; do
    contains "skopeo reads the artifact ${d:7:12} back by digest, with the image as subject" \
        "$(timeout 60 skopeo inspect --raw "${auth[@]}" "docker://$reg/x/prov@$d" 2>&1)" '"subject"' "$manifest"
done
sbom_hex=$(sha256sum "$sbom" | cut -d' ' -f1)
same "the registry holds the SBOM blob byte for byte" "$sbom_hex" \
    "$(py 'import base64,ssl,sys,urllib.request
r = urllib.request.Request(sys.argv[1], headers={"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()})
print(__import__("hashlib").sha256(urllib.request.urlopen(r, context=ssl.create_default_context(cafile=sys.argv[2]), timeout=30).read()).hexdigest())' \
        "https://$reg/v2/x/prov/blobs/sha256:$sbom_hex" certs/ca.crt 2>&1)"
HOME=/nonexistent timeout 120 "$bx" push with.tar "$reg/x/prov:1.0" "${auth[@]}" >out 2>&1
contains "a second push finds every document listed already and leaves the index alone" "$(cat out)" \
    "already listed by the index tagged sha256-$hex"
same "the fallback index is unchanged by the second push" "$raw" \
    "$(timeout 60 skopeo inspect --raw "${auth[@]}" "docker://$reg/x/prov:sha256-$hex" 2>&1)"
HOME=/nonexistent timeout 120 "$bx" push with.tar "$reg/x/prov:gz" "${auth[@]}" --compression gzip >out 2>&1
same "push --compression gzip of documents about uncompressed layers is refused (exit 1)" 1 $?
contains "the refusal says the documents describe another manifest and what to do" "$(cat out)" \
    "describe manifest $manifest" "build the image with that --compression"

HOME=/nonexistent timeout 120 "$bx" push with.tar "127.0.0.1:$fport/x/prov:1.0" --plain-http >out 2>&1
same "push to a registry with the referrers API succeeds" 0 $?
contains "push says the registry lists the documents itself" "$(cat out)" "listed by the registry's referrers API"
same "the referrers API was asked once, for the image's digest" 1 \
    "$(grep -c "^GET /v2/x/prov/referrers/$manifest" fake.log)"
same "no fallback tag was written or read" 0 "$(grep -c "/manifests/sha256-" fake.log)"
same "the registry's referrers list names the SBOM and the attestation" \
    "application/vnd.cyclonedx+json application/vnd.in-toto+json" \
    "$(py 'import json,sys,urllib.request
j = json.load(urllib.request.urlopen(sys.argv[1], timeout=30))
print(" ".join(sorted(m["artifactType"] for m in j["manifests"])))' \
        "http://127.0.0.1:$fport/v2/x/prov/referrers/$manifest" 2>&1)"

# inspect of an image another tool wrote without documents (skopeo's oci: copy).
contains "inspect of skopeo's oci: layout (no documents) says none" "$("$bx" inspect copied 2>&1)" \
    "attached documents: (none)"

# Refused where documents cannot go.
"$bx" build args.nix --sbom cyclonedx -o x.tar >out 2>&1
same "--sbom with a docker-archive is a usage error (exit 2)" 2 $?
contains "the message names the formats that carry documents" "$(cat out)" "oci-archive"

# OCI metadata: labels in the config and the manifest, created from SOURCE_DATE_EPOCH.
SOURCE_DATE_EPOCH=1700000000 "$bx" build args.nix --format oci-archive -o dated.tar 2>/dev/null
mkdir dated && tar -xf dated.tar -C dated
dm=$(blob dated "$(json dated/index.json 'j["manifests"][0]["digest"]')")
same "the manifest carries the OCI labels and created (from SOURCE_DATE_EPOCH)" \
    "2023-11-14T22:13:20Z MIT 0123abc prov" \
    "$(json "$dm" '" ".join(j["annotations"]["org.opencontainers.image." + k] for k in ["created", "licenses", "revision", "title"])')"
dc=$(blob dated "$(json "$dm" 'j["config"]["digest"]')")
same "the config carries the same created and OCI labels" "2023-11-14T22:13:20Z MIT" \
    "$(json "$dc" 'j["created"] + " " + j["config"]["Labels"]["org.opencontainers.image.licenses"]')"
same "a label that is not an OCI key stays out of the manifest annotations" "False" \
    "$(json "$dm" '"org.example.team" in j["annotations"]')"
sed 's/image.licenses/image.licences/' args.nix > typo.nix
contains "a misspelt OCI key is an error with a suggestion" "$("$bx" check typo.nix 2>&1)" \
    "typo.nix:" "did you mean \`org.opencontainers.image.licenses\`?"

# A base image: base.name and base.digest filled in, its OCI labels not inherited.
cat > derived.nix <<'EOF'
{
  name = "derived";
  fromImage = ./plain.tar;
  files = { "./src/init/init" = "/etc/extra"; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/boot/kernel"; initrd = "/boot/initrd"; };
}
EOF
try "build on the base image" "$bx" build derived.nix --format oci-archive -o derived.tar
mkdir derived && tar -xf derived.tar -C derived
dvm=$(blob derived "$(json derived/index.json 'j["manifests"][0]["digest"]')")
same "base.name and base.digest name the base image; its title is not inherited" \
    "ghcr.io/example/prov:1.0 $manifest False" \
    "$(json "$dvm" 'j["annotations"]["org.opencontainers.image.base.name"], j["annotations"]["org.opencontainers.image.base.digest"], "org.opencontainers.image.title" in j["annotations"]' | tr -d "(),'")"

# An index carries the OCI labels its images share.
# An arm64 Image header: "ARM\x64" at offset 56.
py 'import sys; h = bytearray(4096); h[56:60] = b"ARM\x64"; open(sys.argv[1], "wb").write(h)' src/Image
sed -e 's|"./src/kernel"|"./src/Image"|' args.nix > arm.nix
"$bx" build arm.nix --format oci-archive -o arm.tar >/dev/null 2>&1
try "index of two platforms" "$bx" index plain.tar arm.tar -o index.tar
mkdir index && tar -xf index.tar -C index
ix=$(blob index "$(json index/index.json 'j["manifests"][0]["digest"]')")
same "the index's annotations are the OCI labels both images share" "MIT prov" \
    "$(json "$ix" '" ".join(j["annotations"]["org.opencontainers.image." + k] for k in ["licenses", "title"])')"

# An index of images with documents carries them; push sends each image's
# documents, listed under its own fallback tag, or by the referrers API.
# types: the artifact types of the referrers list on standard input, sorted.
types() { py 'import json,sys; print(" ".join(sorted(m["artifactType"] for m in json.load(sys.stdin)["manifests"])))'; }
try "build the arm64 image with --sbom cyclonedx --provenance" \
    "$bx" build arm.nix --format oci-archive --sbom cyclonedx --provenance -o armwith.tar
try "index of two platforms with their documents" "$bx" index with.tar armwith.tar -o indexwith.tar
armmanifest=$(tar -xOf armwith.tar index.json | py 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')
for m in "$manifest" "$armmanifest"; do
    same "skopeo reads the referrers index of ${m:7:12} in the index archive by its sha256-<hex> tag" \
        "application/vnd.cyclonedx+json application/vnd.in-toto+json" \
        "$(skopeo inspect --raw "oci-archive:indexwith.tar:sha256-${m#sha256:}" 2>&1 | types 2>&1)"
done
same "inspect of the index lists each image's two documents, subjects ok" "2 True 2 True" \
    "$("$bx" inspect --json indexwith.tar 2>/dev/null | py 'import json,sys
a = [i["attached"] for i in json.load(sys.stdin)["images"]]
print(" ".join("%d %s" % (len(x), all(d["ok"] for d in x)) for x in a))')"
HOME=/nonexistent timeout 120 "$bx" push indexwith.tar "$reg/x/multi:1.0" "${auth[@]}" >out 2>&1
same "push of the index archive with documents succeeds" 0 $?
contains "push lists each image's documents under its own fallback tag" "$(cat out)" "4 attached documents pushed" \
    "listed by the index tagged sha256-$hex" "listed by the index tagged sha256-${armmanifest#sha256:}"
for m in "$manifest" "$armmanifest"; do
    raw=$(timeout 60 skopeo inspect --raw "${auth[@]}" "docker://$reg/x/multi:sha256-${m#sha256:}" 2>&1)
    same "skopeo reads the fallback index of ${m:7:12} from the registry: its SBOM and attestation" \
        "application/vnd.cyclonedx+json application/vnd.in-toto+json" "$(echo "$raw" | types 2>&1)"
    for d in $(echo "$raw" | py 'import json,sys; print(" ".join(m["digest"] for m in json.load(sys.stdin)["manifests"]))'); do
        contains "the artifact ${d:7:12} names ${m:7:12} as its subject" \
            "$(timeout 60 skopeo inspect --raw "${auth[@]}" "docker://$reg/x/multi@$d" 2>&1)" '"subject"' "$m"
    done
done
HOME=/nonexistent timeout 120 "$bx" push indexwith.tar "127.0.0.1:$fport/x/multi:1.0" --plain-http >out 2>&1
same "push of the index archive to a registry with the referrers API succeeds" 0 $?
contains "push says the registry lists the documents itself" "$(cat out)" "4 attached documents pushed" \
    "listed by the registry's referrers API"
for m in "$manifest" "$armmanifest"; do
    same "the referrers API lists the SBOM and the attestation of ${m:7:12}" \
        "application/vnd.cyclonedx+json application/vnd.in-toto+json" \
        "$(py 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' \
            "http://127.0.0.1:$fport/v2/x/multi/referrers/$m" 2>&1 | types 2>&1)"
done

# The Nix functions: sbom and provenance with a derivation among the files,
# and flake = self filling the revision label and created.
nix_setup
cat > nix-test.nix <<EOF
let
  lib = import $root/nix/lib.nix { bimanix = $bx; };
  kernel = derivation {
    name = "kernel";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "read -r line < $tmp/src/init/init; echo \"\\\$line\" > \$out" ];
  };
  drv = builtins.unsafeDiscardStringContext kernel.drvPath;
  mk = architecture: lib.mkUruncImage {
    name = "nixprov";
    files = [ { source = kernel; target = "/kernel"; } ];
    annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; };
    inherit architecture;
    sbom = "cyclonedx";
    provenance = true;
    flake = { lastModifiedDate = "20240501120000"; rev = "0123456789abcdef"; };
  };
in
{
  inherit kernel drv;
  image = mk "amd64";
  index = lib.mkUruncIndex { name = "nixprov"; images = [ (mk "amd64") (mk "arm64") ]; };
}
EOF
for program in stream copyToRegistry; do
    contains "image.$program refuses an image with documents, naming the archive and push" \
        "$(timeout 120 nix-instantiate nix-test.nix -A "image.$program" 2>&1)" \
        "$program writes the image without its SBOM and attestation" "bimanix push result REFERENCE"
done
if try "mkUruncImage with sbom, provenance and flake" nix-build nix-test.nix -A image -o nix.result; then
    kout=$(nix-build nix-test.nix -A kernel --no-out-link 2>/dev/null)
    kdrv=$(nix-instantiate --eval nix-test.nix -A drv 2>/dev/null | tr -d '"')
    mkdir nixout && tar -xf nix.result -C nixout
    nm=$(blob nixout "$(json nixout/index.json 'j["manifests"][0]["digest"]')")
    same "flake = self: created from lastModifiedDate, the revision label from rev" \
        "2024-05-01T12:00:00Z 0123456789abcdef" \
        "$(json "$nm" 'j["annotations"]["org.opencontainers.image.created"] + " " + j["annotations"]["org.opencontainers.image.revision"]')"
    nref=$(blob nixout "$(json nixout/index.json 'j["manifests"][1]["digest"]')")
    nsbom=$(blob nixout "$(json "$(blob nixout "$(json "$nref" 'j["manifests"][0]["digest"]')")" 'j["layers"][0]["digest"]')")
    natt=$(blob nixout "$(json "$(blob nixout "$(json "$nref" 'j["manifests"][1]["digest"]')")" 'j["layers"][0]["digest"]')")
    check "the Nix-built SBOM is valid CycloneDX 1.6" validate cyclonedx "$nsbom"
    check "the Nix-built attestation is valid in-toto/SLSA v1" validate slsa "$natt"
    same "the SBOM names the kernel's store path and derivation (sbomnix's property names)" "$kout $kdrv" \
        "$(json "$nsbom" '" ".join(p["value"] for c in j["components"] if c["name"]=="/kernel" for p in c["properties"] if p["name"] in ("nix:output_path", "nix:drv_path"))')"
    same "the attestation names the Nix derivation built" "nixprov-latest.tar" \
        "$(json "$natt" 'j["predicate"]["buildDefinition"]["internalParameters"]["nix"]["name"]')"
    check "nix-build --check rebuilds the image and its documents identically" \
        nix-build nix-test.nix -A image --check --no-out-link
fi
contains "the index of images with documents: stream refuses, naming the archive and push" \
    "$(timeout 120 nix-instantiate nix-test.nix -A index.stream 2>&1)" \
    "mkUruncIndex: stream writes the image without its SBOM and attestation" "bimanix push result REFERENCE"
if try "mkUruncIndex of two images with sbom and provenance" nix-build nix-test.nix -A index -o nixindex.result; then
    same "the Nix-built index carries each image's two documents, subjects ok" "2 True 2 True" \
        "$("$bx" inspect --json nixindex.result 2>/dev/null | py 'import json,sys
a = [i["attached"] for i in json.load(sys.stdin)["images"]]
print(" ".join("%d %s" % (len(x), all(d["ok"] for d in x)) for x in a))')"
fi

finish
