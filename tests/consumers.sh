#!/usr/bin/env bash
# Loads images built by the release bimanix into the real consumers: Docker
# (docker load, image inspect, create + cp of /urunc.json), podman (load,
# image inspect, create + cp), skopeo (inspect docker-archive: and
# oci-archive:, copy to an oci: directory) and containerd (ctr images
# import), and checks that labels, manifest annotations, Cmd, platform and
# /urunc.json come out as written: for the plain image, for gzip and zstd
# layers, for a multi-layer image, and for a multi-platform index (skopeo
# oci-archive: and oci:, ctr images import --all-platforms).
#
# Usage: tests/consumers.sh   (from anywhere; as root). Installs missing
# tools with apt-get; starts a private dockerd and containerd when none
# answers and stops them at the end; podman and skopeo use private storage
# under a temporary directory. Set BIMANIX to test another binary.
# Each check prints "ok - ..." or "not ok - ..."; the last line is
# "N passed, M failed"; exit 1 when anything failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

. "$root/tests/lib.sh"

tmp=$(mktemp -d /tmp/bimanix-consumers.XXXXXX)
started_dockerd=
started_containerd=
docker_objects=()
ctr_images=()

cleanup() {
    local c
    for c in "${docker_objects[@]}"; do
        case $c in
            container:*) docker rm -f "${c#container:}" >/dev/null 2>&1 ;;
            image:*) docker rmi "${c#image:}" >/dev/null 2>&1 ;;
        esac
    done
    if [ -n "${ctr:-}" ]; then
        for c in "${ctr_images[@]}"; do $ctr images rm --sync "$c" >/dev/null 2>&1; done
        ctr --address "$ctr_sock" namespaces rm bimanix-test >/dev/null 2>&1
    fi
    if [ -n "$started_dockerd" ]; then
        kill "$started_dockerd" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
    fi
    if [ -n "$started_containerd" ]; then
        kill "$started_containerd" 2>/dev/null
        for _ in $(seq 1 50); do kill -0 "$started_containerd" 2>/dev/null || break; sleep 0.2; done
    fi
    # Private storage of podman, dockerd and containerd may hold read-only
    # or mounted files; unmount what is still mounted under tmp first.
    grep -o " $tmp/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Tools ------------------------------------------------------------------
need=()
for pair in docker:docker.io dockerd:docker.io podman:podman skopeo:skopeo ctr:containerd containerd:containerd \
    pigz:pigz zstd:zstd taskset:util-linux; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "# installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u); } >"$tmp/apt.log" 2>&1 \
        || { echo "# apt-get failed:"; tail -n 20 "$tmp/apt.log"; }
fi
for t in docker dockerd podman skopeo ctr containerd tar base64 sed gzip pigz zstd taskset; do
    if command -v "$t" >/dev/null 2>&1; then ok "$t is installed"; else notok "$t is installed"; fi
done

# --- The images ---------------------------------------------------------------
release_bimanix "$root"

tag=t$$
name=bimanix-consumers-test/hello
ref=$name:$tag
cmdline="console=ttyS0 'two words' k=v"
mkdir -p "$tmp/in/readme"
cp "$root/example/hello/hello.bzImage" "$tmp/in/kernel"
cat >"$tmp/in/args.nix" <<EOF
{
  name = "$name";
  tag = "$tag";
  files = { "./kernel" = "/boot/kernel"; };
  labels = { "org.example.team" = "unikernels"; };
  env = [ "GREETING=hello world" ];
  annotations = {
    unikernelType = "linux";
    hypervisor = "qemu";
    binary = "/boot/kernel";
    cmdline = "console=ttyS0 'two words' k=v";
  };
}
EOF
# The same as JSON, so that the consumers are tested even when the Nix
# reader fails.
cat >"$tmp/in/args.json" <<EOF
{
  "name": "$name", "tag": "$tag",
  "files": { "./kernel": "/boot/kernel" },
  "labels": { "org.example.team": "unikernels" },
  "env": [ "GREETING=hello world" ],
  "annotations": { "unikernelType": "linux", "hypervisor": "qemu", "binary": "/boot/kernel",
                   "cmdline": "console=ttyS0 'two words' k=v" }
}
EOF
# The bimanix README's example, with a stand-in x86_64 ELF (header only).
readme_ref=bimanix-consumers-test/hello-rumprun:$tag
{
    printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\076\000\001\000\000\000'
    head -c 28 /dev/zero
    printf '\100\000\070\000\000\000\100\000\000\000\000\000'
} >"$tmp/in/readme/hello1.hvt"
cat >"$tmp/in/readme/args.json" <<EOF
{
  "name": "bimanix-consumers-test/hello-rumprun", "tag": "$tag",
  "files": { "./hello1.hvt": "/unikernel/hello.hvt" },
  "annotations": { "unikernelType": "rumprun", "hypervisor": "hvt", "binary": "/unikernel/hello.hvt",
                   "cmdline": "hello", "unikernelVersion": "", "initrd": "", "block": "", "blkMntPoint": "" }
}
EOF

img=$tmp/hello.tar
oci=$tmp/hello-oci.tar
readme=$tmp/readme.tar
check "bimanix builds the Linux image from args.nix" "$bimanix" build "$tmp/in/args.nix" -o "$tmp/hello-nix.tar"
check "bimanix builds the Linux image from args.json" "$bimanix" build "$tmp/in/args.json" -o "$img"
if [ -f "$tmp/hello-nix.tar" ] && [ -f "$img" ]; then
    check "args.nix and args.json give the same bytes" cmp "$tmp/hello-nix.tar" "$img"
fi
check "bimanix builds the same image as an oci-archive" "$bimanix" build "$tmp/in/args.json" --format oci-archive -o "$oci"
check "bimanix builds the README example (rumprun on hvt)" "$bimanix" build "$tmp/in/readme/args.json" -o "$readme"

# What every consumer must show.
labels_json='{"com.urunc.unikernel.binary":"/boot/kernel","com.urunc.unikernel.cmdline":"console=ttyS0 '"'two words'"' k=v","com.urunc.unikernel.hypervisor":"qemu","com.urunc.unikernel.unikernelType":"linux","org.example.team":"unikernels"}'
cmd_json='["console=ttyS0","two words","k=v"]'
urunc_plain="com.urunc.unikernel.binary=/boot/kernel
com.urunc.unikernel.cmdline=$cmdline
com.urunc.unikernel.hypervisor=qemu
com.urunc.unikernel.unikernelType=linux"
annotation_texts=('"com.urunc.unikernel.unikernelType":"linux"' '"com.urunc.unikernel.hypervisor":"qemu"'
    '"com.urunc.unikernel.binary":"/boot/kernel"' "\"com.urunc.unikernel.cmdline\":\"$cmdline\""
    '"org.opencontainers.image.created":"1970-01-01T00:00:00Z"')

# decode_urunc_json FILE: prints "key=plain value" per key, sorted; fails on
# a value that is not a base64 string. Keys and base64 hold no ',' or '"'.
decode_urunc_json() {
    local body pair key val
    body=$(tr -d '\n' <"$1")
    body=${body#\{}
    body=${body%\}}
    [ -n "$body" ] || return 0
    printf '%s\n' "$body" | tr ',' '\n' | while IFS= read -r pair; do
        key=$(printf '%s' "$pair" | sed -n 's/^"\([^"]*\)":"\([A-Za-z0-9+\/=]*\)"$/\1/p')
        val=$(printf '%s' "$pair" | sed -n 's/^"\([^"]*\)":"\([A-Za-z0-9+\/=]*\)"$/\2/p')
        [ -n "$key" ] || { echo "not a base64 string: $pair"; return 1; }
        printf '%s=%s\n' "$key" "$(printf '%s' "$val" | base64 -d)" || return 1
    done | sort
}

# --- Docker -----------------------------------------------------------------
private_dockerd "$tmp/d"
if timeout 20 docker info >/dev/null 2>&1; then
    ok "a Docker daemon answers"
    out=$(docker load -i "$img" 2>&1)
    if [ $? -eq 0 ]; then docker_objects+=("image:$ref"); ok "docker load"; else notok "docker load" "$out"; fi
    contains "docker load names the image" "$out" "Loaded image: $ref"
    same "docker image inspect: Labels are the plain urunc values plus the extra label" "$labels_json" \
        "$(docker image inspect --format '{{json .Config.Labels}}' "$ref" 2>&1)"
    same "docker image inspect: Cmd is cmdline split like a shell" "$cmd_json" "$(docker image inspect --format '{{json .Config.Cmd}}' "$ref" 2>&1)"
    same "docker image inspect: platform" "linux/amd64" "$(docker image inspect --format '{{.Os}}/{{.Architecture}}' "$ref" 2>&1)"
    # An Env without PATH gets Docker's default PATH, as Docker itself writes it.
    same "docker image inspect: Env" '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","GREETING=hello world"]' "$(docker image inspect --format '{{json .Config.Env}}' "$ref" 2>&1)"
    if ctr_id=$(docker create "$ref" 2>&1); then
        docker_objects=("container:$ctr_id" "${docker_objects[@]}")
        ok "docker create"
        if docker cp "$ctr_id:/urunc.json" - 2>"$tmp/cp.err" | tar -xO urunc.json >"$tmp/docker-urunc.json" 2>>"$tmp/cp.err"; then
            ok "docker cp reads /urunc.json"
            same "/urunc.json (docker) decodes to the annotations" "$urunc_plain" "$(decode_urunc_json "$tmp/docker-urunc.json" 2>&1)"
        else
            notok "docker cp reads /urunc.json" "$(cat "$tmp/cp.err")"
        fi
    else
        notok "docker create" "$ctr_id"
    fi
    out=$(docker load -i "$readme" 2>&1)
    if [ $? -eq 0 ]; then docker_objects+=("image:$readme_ref"); ok "docker load (README example)"; else notok "docker load (README example)" "$out"; fi
    same "docker image inspect (README example): Labels" \
        '{"com.urunc.unikernel.binary":"/unikernel/hello.hvt","com.urunc.unikernel.cmdline":"hello","com.urunc.unikernel.hypervisor":"hvt","com.urunc.unikernel.unikernelType":"rumprun"}' \
        "$(docker image inspect --format '{{json .Config.Labels}}' "$readme_ref" 2>&1)"
    same "docker image inspect (README example): Cmd" '["hello"]' "$(docker image inspect --format '{{json .Config.Cmd}}' "$readme_ref" 2>&1)"
else
    notok "a Docker daemon answers" "$(tail -n 20 "$tmp/d/dockerd.log" 2>/dev/null)"
fi

# --- podman -------------------------------------------------------------------
podman=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver vfs)
out=$("${podman[@]}" load -i "$img" 2>&1)
if [ $? -eq 0 ]; then ok "podman load"; else notok "podman load" "$out"; fi
contains "podman load names the image" "$out" "docker.io/$ref"
same "podman image inspect: Labels" "$labels_json" "$("${podman[@]}" image inspect --format '{{json .Labels}}' "$ref" 2>&1)"
same "podman image inspect: Cmd" "$cmd_json" "$("${podman[@]}" image inspect --format '{{json .Config.Cmd}}' "$ref" 2>&1)"
same "podman image inspect: platform" "linux/amd64" "$("${podman[@]}" image inspect --format '{{.Os}}/{{.Architecture}}' "$ref" 2>&1)"
contains "podman image inspect: manifest annotations" "$("${podman[@]}" image inspect --format '{{json .Annotations}}' "$ref" 2>&1)" "${annotation_texts[@]}"
if pod_id=$("${podman[@]}" create "$ref" 2>&1); then
    ok "podman create"
    if "${podman[@]}" cp "$pod_id:/urunc.json" - 2>"$tmp/pcp.err" | tar -xO urunc.json >"$tmp/podman-urunc.json" 2>>"$tmp/pcp.err"; then
        ok "podman cp reads /urunc.json"
        same "/urunc.json (podman) decodes to the annotations" "$urunc_plain" "$(decode_urunc_json "$tmp/podman-urunc.json" 2>&1)"
    else
        notok "podman cp reads /urunc.json" "$(cat "$tmp/pcp.err")"
    fi
    "${podman[@]}" rm -f "$pod_id" >/dev/null 2>&1
else
    notok "podman create" "$pod_id"
fi
id1=$("${podman[@]}" image inspect --format '{{.ID}}' "$ref" 2>&1)
"${podman[@]}" rmi -f "$ref" >/dev/null 2>&1
check "podman load (oci-archive)" "${podman[@]}" load -i "$oci"
same "podman loads the oci-archive as the same image" "$id1" "$("${podman[@]}" image inspect --format '{{.ID}}' "$ref" 2>&1)"
"${podman[@]}" rmi -a -f >/dev/null 2>&1

# --- skopeo -----------------------------------------------------------------
same "skopeo inspect docker-archive: labels and platform" "qemu|linux|/boot/kernel|$cmdline|unikernels|linux/amd64" \
    "$(skopeo inspect --format '{{index .Labels "com.urunc.unikernel.hypervisor"}}|{{index .Labels "com.urunc.unikernel.unikernelType"}}|{{index .Labels "com.urunc.unikernel.binary"}}|{{index .Labels "com.urunc.unikernel.cmdline"}}|{{index .Labels "org.example.team"}}|{{.Os}}/{{.Architecture}}' "docker-archive:$img" 2>&1)"
same "skopeo inspect docker-archive:FILE:NAME:TAG finds the image by its tag" "qemu" \
    "$(skopeo inspect --format '{{index .Labels "com.urunc.unikernel.hypervisor"}}' "docker-archive:$img:$ref" 2>&1)"
contains "skopeo inspect --raw oci-archive: (oci-archive) has the manifest annotations" "$(skopeo inspect --raw "oci-archive:$oci" 2>&1)" "${annotation_texts[@]}"
contains "skopeo inspect --raw oci-archive: (docker-archive) has the manifest annotations" "$(skopeo inspect --raw "oci-archive:$img" 2>&1)" "${annotation_texts[@]}"
check "skopeo copy docker-archive: to oci:" skopeo copy -q "docker-archive:$img" "oci:$tmp/oci-from-docker:$tag"
same "skopeo inspect oci: (copied from docker-archive): labels" "qemu|linux|/boot/kernel" \
    "$(skopeo inspect --format '{{index .Labels "com.urunc.unikernel.hypervisor"}}|{{index .Labels "com.urunc.unikernel.unikernelType"}}|{{index .Labels "com.urunc.unikernel.binary"}}' "oci:$tmp/oci-from-docker:$tag" 2>&1)"
check "skopeo copy oci-archive: to oci:" skopeo copy -q "oci-archive:$oci" "oci:$tmp/oci-from-oci:$tag"
contains "skopeo copy oci-archive: to oci: keeps the manifest annotations" "$(skopeo inspect --raw "oci:$tmp/oci-from-oci:$tag" 2>&1)" "${annotation_texts[@]}"

# --- containerd ---------------------------------------------------------------
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
ctr="ctr --address $ctr_sock -n bimanix-test"
if timeout 10 $ctr version >/dev/null 2>&1; then
    ok "a containerd answers at $ctr_sock"
    out=$(timeout 120 $ctr images import --all-platforms "$img" 2>&1)
    if [ $? -eq 0 ]; then ctr_images+=("docker.io/$ref"); ok "ctr images import"; else notok "ctr images import" "$out"; fi
    line=$($ctr images ls 2>&1 | awk -v r="docker.io/$ref" '$1 == r')
    contains "ctr images ls lists the image for linux/amd64" "$line" "docker.io/$ref" "linux/amd64"
    digest=$(printf '%s\n' "$line" | awk '{print $3}')
    contains "containerd keeps the manifest annotations" "$($ctr content get "${digest:-none}" 2>&1)" "${annotation_texts[@]}"
    $ctr images rm --sync "docker.io/$ref" >/dev/null 2>&1
    check "ctr images import (oci-archive)" timeout 120 $ctr images import --all-platforms "$oci"
    contains "ctr images ls lists the oci-archive's image by its name" "$($ctr images ls -q 2>&1)" "docker.io/$ref"
else
    notok "a containerd answers" "$(tail -n 20 "$tmp/c/containerd.log" 2>/dev/null)"
fi

# --- Compressed and multi-layer images ----------------------------------------
# The same Linux image with gzip and with zstd layers, and a multi-layer one
# (the kernel, a 16 MiB file and the top layer), each as a docker-archive
# and an oci-archive under its own tag, through every consumer.
head -c $((16 << 20)) /dev/zero | tr '\0' 'x' >"$tmp/in/big.bin"
variant_args() { # NAME FILES-JSON: writes $tmp/in/NAME.json, the Linux image tagged $tag-NAME
    sed -e "s/\"tag\": \"$tag\"/\"tag\": \"$tag-$1\"/" -e "s|\"files\": { \"./kernel\": \"/boot/kernel\" }|\"files\": $2|" \
        "$tmp/in/args.json" >"$tmp/in/$1.json"
}
variant_args gzip '{ "./kernel": "/boot/kernel" }'
variant_args zstd '{ "./kernel": "/boot/kernel" }'
variant_args multi '{ "./kernel": "/boot/kernel", "./big.bin": "/data/big.bin" }'
declare -A variant_flags=([gzip]="--compression gzip" [zstd]="--compression zstd" [multi]="")
declare -A variant_layers=([gzip]=2 [zstd]=2 [multi]=3)
declare -A variant_media=([gzip]="tar+gzip" [zstd]="tar+zstd" [multi]="layer.v1.tar\"")
for v in gzip zstd multi; do
    # shellcheck disable=SC2086
    check "bimanix builds the $v image" "$bimanix" build "$tmp/in/$v.json" ${variant_flags[$v]} -o "$tmp/$v.tar"
    # shellcheck disable=SC2086
    check "bimanix builds the $v image as an oci-archive" "$bimanix" build "$tmp/in/$v.json" ${variant_flags[$v]} \
        --format oci-archive -o "$tmp/$v-oci.tar"
done

# The real decompressors read every compressed layer back to its diff_id:
# gzip and pigz the gzip layers (a 16 MiB layer is 128 blocks of bimanix's
# parallel gzip), zstd the zstd layers (two multi-threaded jobs); and one
# core (taskset -c 0) writes the same archive as all of them.
for c in gzip zstd; do
    check "bimanix builds the multi-layer image with $c" "$bimanix" build "$tmp/in/multi.json" --compression "$c" \
        -o "$tmp/dec-$c.tar"
    taskset -c 0 "$bimanix" build "$tmp/in/multi.json" --compression "$c" -o "$tmp/dec-$c-1.tar" >/dev/null 2>&1
    if cmp -s "$tmp/dec-$c.tar" "$tmp/dec-$c-1.tar"; then
        ok "$c: one core writes the same archive as $(nproc) cores"
    else
        notok "$c: one core writes the same archive as $(nproc) cores" "$(cmp "$tmp/dec-$c.tar" "$tmp/dec-$c-1.tar" 2>&1)"
    fi
    mkdir -p "$tmp/dec-$c"
    tar -xf "$tmp/dec-$c.tar" -C "$tmp/dec-$c"
    manifest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["Config"])' "$tmp/dec-$c/manifest.json")
    diff_ids=$(python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))["rootfs"]["diff_ids"]))' "$tmp/dec-$c/$manifest")
    layers=$(python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$tmp/dec-$c/manifest.json")
    case $c in gzip) tools=("gzip -dc" "pigz -dc") ;; zstd) tools=("zstd -dcq") ;; esac
    for tool in "${tools[@]}"; do
        got=()
        for layer in $layers; do
            # shellcheck disable=SC2086
            got+=("sha256:$($tool <"$tmp/dec-$c/$layer" | sha256sum | cut -d' ' -f1)")
        done
        same "${tool%% *} decompresses each $c layer to its diff_id" "$diff_ids" "${got[*]}"
    done
done

# urunc_json_of KIND ID: /urunc.json of a container made by docker or podman, decoded.
urunc_json_of() {
    local out=$tmp/$1-$2-urunc.json
    case $1 in
        docker) docker cp "$2:/urunc.json" - 2>/dev/null | tar -xO urunc.json >"$out" 2>/dev/null ;;
        podman) "${podman[@]}" cp "$2:/urunc.json" - 2>/dev/null | tar -xO urunc.json >"$out" 2>/dev/null ;;
    esac
    decode_urunc_json "$out" 2>&1
}

for v in gzip zstd multi; do
    vref=$name:$tag-$v
    layers=${variant_layers[$v]}
    # Docker
    if timeout 20 docker info >/dev/null 2>&1; then
        if out=$(docker load -i "$tmp/$v.tar" 2>&1); then
            docker_objects+=("image:$vref")
            ok "docker load ($v)"
        else
            notok "docker load ($v)" "$out"
        fi
        same "docker image inspect ($v): Labels" "$labels_json" "$(docker image inspect --format '{{json .Config.Labels}}' "$vref" 2>&1)"
        same "docker image inspect ($v): Cmd" "$cmd_json" "$(docker image inspect --format '{{json .Config.Cmd}}' "$vref" 2>&1)"
        same "docker image inspect ($v): $layers layers" "$layers" "$(docker image inspect --format '{{len .RootFS.Layers}}' "$vref" 2>&1)"
        if cid=$(docker create "$vref" 2>&1); then
            same "/urunc.json (docker, $v) decodes to the annotations" "$urunc_plain" "$(urunc_json_of docker "$cid")"
            docker rm -f "$cid" >/dev/null 2>&1
        else
            notok "docker create ($v)" "$cid"
        fi
    fi
    # podman: the docker-archive and the oci-archive
    for archive in "$tmp/$v.tar" "$tmp/$v-oci.tar"; do
        kind=${archive##*/}
        if out=$("${podman[@]}" load -i "$archive" 2>&1); then ok "podman load ($kind)"; else notok "podman load ($kind)" "$out"; fi
        same "podman image inspect ($kind): Labels" "$labels_json" "$("${podman[@]}" image inspect --format '{{json .Labels}}' "$vref" 2>&1)"
        same "podman image inspect ($kind): Cmd" "$cmd_json" "$("${podman[@]}" image inspect --format '{{json .Config.Cmd}}' "$vref" 2>&1)"
        same "podman image inspect ($kind): $layers layers" "$layers" "$("${podman[@]}" image inspect --format '{{len .RootFS.Layers}}' "$vref" 2>&1)"
        contains "podman image inspect ($kind): manifest annotations" \
            "$("${podman[@]}" image inspect --format '{{json .Annotations}}' "$vref" 2>&1)" "${annotation_texts[@]}"
        if pid=$("${podman[@]}" create "$vref" 2>&1); then
            same "/urunc.json (podman, $kind) decodes to the annotations" "$urunc_plain" "$(urunc_json_of podman "$pid")"
            "${podman[@]}" rm -f "$pid" >/dev/null 2>&1
        else
            notok "podman create ($kind)" "$pid"
        fi
        "${podman[@]}" rmi -f "$vref" >/dev/null 2>&1
    done
    # skopeo
    contains "skopeo inspect --config docker-archive: ($v): labels and Cmd" \
        "$(skopeo inspect --config "docker-archive:$tmp/$v.tar" 2>&1)" '"com.urunc.unikernel.hypervisor": "qemu"' \
        '"org.example.team": "unikernels"' '"Cmd": [' '"two words"'
    raw=$(skopeo inspect --raw "oci-archive:$tmp/$v-oci.tar" 2>&1)
    contains "skopeo inspect --raw oci-archive: ($v): annotations and layer media types" "$raw" \
        "${annotation_texts[@]}" "${variant_media[$v]}"
    check "skopeo copy oci-archive: to oci: ($v)" skopeo copy -q "oci-archive:$tmp/$v-oci.tar" "oci:$tmp/oci-$v:$tag"
    same "skopeo inspect oci: ($v): labels" "qemu|linux|/boot/kernel" \
        "$(skopeo inspect --format '{{index .Labels "com.urunc.unikernel.hypervisor"}}|{{index .Labels "com.urunc.unikernel.unikernelType"}}|{{index .Labels "com.urunc.unikernel.binary"}}' "oci:$tmp/oci-$v:$tag" 2>&1)"
    # containerd: import, then read the config, the manifest and /urunc.json of the unpacked image
    if timeout 10 $ctr version >/dev/null 2>&1; then
        if out=$(timeout 120 $ctr images import --all-platforms "$tmp/$v.tar" 2>&1); then
            ctr_images+=("docker.io/$vref")
            ok "ctr images import ($v)"
        else
            notok "ctr images import ($v)" "$out"
        fi
        mdigest=$($ctr images ls 2>&1 | awk -v r="docker.io/$vref" '$1 == r {print $3}')
        manifest=$($ctr content get "${mdigest:-none}" 2>&1)
        contains "containerd keeps the manifest annotations ($v)" "$manifest" "${annotation_texts[@]}" "${variant_media[$v]}"
        cdigest=$(printf '%s' "$manifest" | sed -n 's/.*"config":{[^}]*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p')
        config=$($ctr content get "${cdigest:-none}" 2>&1)
        contains "containerd has the Labels and Cmd ($v)" "$config" '"org.example.team":"unikernels"' '"com.urunc.unikernel.hypervisor":"qemu"' "\"Cmd\":$cmd_json"
        mkdir -p "$tmp/mnt-$v"
        if out=$(timeout 60 $ctr images mount "docker.io/$vref" "$tmp/mnt-$v" 2>&1); then
            same "/urunc.json (containerd, $v) decodes to the annotations" "$urunc_plain" "$(decode_urunc_json "$tmp/mnt-$v/urunc.json" 2>&1)"
            $ctr images unmount "$tmp/mnt-$v" >/dev/null 2>&1
        else
            notok "ctr images mount ($v)" "$out"
        fi
    fi
done

# --- A multi-platform index ---------------------------------------------------
# The Linux image for amd64 and the same with a stand-in arm64 kernel (an
# aarch64 ELF header), combined by bimanix index.
{
    printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\267\000\001\000\000\000'
    head -c 28 /dev/zero
    printf '\100\000\070\000\000\000\100\000\000\000\000\000'
} >"$tmp/in/kernel-arm64"
sed -e 's|"./kernel"|"./kernel-arm64"|' -e 's/"labels": { "org.example.team": "unikernels" }/"labels": { "org.example.team": "unikernels", "arch": "arm64" }/' \
    "$tmp/in/args.json" >"$tmp/in/arm64.json"
check "bimanix builds the arm64 image" "$bimanix" build "$tmp/in/arm64.json" --compression zstd -o "$tmp/arm64.tar"
check "bimanix index (oci-archive)" "$bimanix" index "$img" "$tmp/arm64.tar" -o "$tmp/multi.tar"
check "bimanix index (oci-layout)" "$bimanix" index "$img" "$tmp/arm64.tar" --format oci-layout -o "$tmp/multi-layout"
for src in "oci-archive:$tmp/multi.tar" "oci:$tmp/multi-layout:$tag"; do
    raw=$(skopeo inspect --raw "$src" 2>&1)
    case $raw in
        *\"architecture\":\"amd64\",\"os\":\"linux\"}*\"architecture\":\"arm64\",\"os\":\"linux\",\"variant\":\"v8\"*) ok "skopeo inspect --raw ${src%%:*}: the index lists both platforms" ;;
        *) notok "skopeo inspect --raw ${src%%:*}: the index lists both platforms" "$raw" ;;
    esac
    same "skopeo inspect ${src%%:*} --override-arch arm64: the arm64 image" "arm64|arm64|qemu" \
        "$(skopeo inspect --override-arch arm64 --format '{{.Architecture}}|{{index .Labels "arch"}}|{{index .Labels "com.urunc.unikernel.hypervisor"}}' "$src" 2>&1)"
    same "skopeo inspect ${src%%:*}: the amd64 image" "amd64|qemu" \
        "$(skopeo inspect --override-arch amd64 --format '{{.Architecture}}|{{index .Labels "com.urunc.unikernel.hypervisor"}}' "$src" 2>&1)"
done
check "skopeo copy --all oci-archive: (the index) to oci:" skopeo copy -q --all "oci-archive:$tmp/multi.tar" "oci:$tmp/multi-copy:$tag"
contains "skopeo copy --all keeps both platforms" "$(skopeo inspect --raw "oci:$tmp/multi-copy:$tag" 2>&1)" '"amd64"' '"arm64"' '"v8"'
if timeout 10 $ctr version >/dev/null 2>&1; then
    $ctr images rm --sync "docker.io/$ref" >/dev/null 2>&1
    if out=$(timeout 120 $ctr images import --all-platforms "$tmp/multi.tar" 2>&1); then
        ctr_images+=("docker.io/$ref")
        ok "ctr images import --all-platforms (the index)"
    else
        notok "ctr images import --all-platforms (the index)" "$out"
    fi
    contains "ctr images ls lists the index with both platforms" \
        "$($ctr images ls 2>&1 | awk -v r="docker.io/$ref" '$1 == r')" "linux/amd64" "linux/arm64/v8"
fi

# --- Cleanup checks -------------------------------------------------------------
if [ -n "${ctr_id:-}" ] && [[ ${ctr_id} =~ ^[0-9a-f]{64}$ ]]; then
    check "docker rm" docker rm -f "$ctr_id"
    docker_objects=("${docker_objects[@]/container:$ctr_id}")
fi
for o in "${docker_objects[@]}"; do
    case $o in image:*) check "docker rmi ${o#image:}" docker rmi "${o#image:}" ;; esac
done
docker_objects=()

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
