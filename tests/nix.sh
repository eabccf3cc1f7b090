#!/bin/sh
# Tests the Nix side of bimanix (default.nix, nix/*.nix, flake.nix) with
# Debian's Nix and no network: the tool is the cargo-built bimanix handed
# over with --arg tool, as in the air-gapped mode, so nixpkgs is never needed.
# Images built by Nix must be byte-identical to the CLI's output for the same
# args, rebuild identically (nix-build --check), depend only on the tool and
# their sources, and read back with skopeo. Bad args must fail at evaluation
# with the expected messages.
# Usage: tests/nix.sh   (from anywhere, as root on Debian 12; installs
# nix-bin and skopeo with apt if missing). Prints "ok - ..." / "not ok - ..."
# and last "N passed, M failed"; exits 1 if anything failed.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/tests/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One-time setup of a fresh machine: Debian's Nix (single-user as root) and skopeo.
for need in nix-build:nix-bin skopeo:skopeo; do
    if ! command -v "${need%%:*}" >/dev/null; then
        try "apt-get install ${need#*:}" apt_install "${need#*:}" || finish
    fi
done
nix_setup

try "cargo build --release" sh -c "cd '$repo' && cargo build --release --quiet" || finish
bin=$repo/target/release/bimanix

# Everything parses.
for f in default.nix flake.nix nix/*.nix; do
    try "nix-instantiate --parse $f" nix-instantiate --parse "$repo/$f"
done

# Builds with default.nix and the CLI from the same args must give the same bytes.
# Usage: same_as_cli WHAT RESULT-LINK DIR ARGS-FILE (the CLI runs in DIR).
same_as_cli() {
    if (cd "$3" && "$bin" build "$4" -o "$tmp/cli.tar") >"$tmp/log" 2>&1 &&
        cmp "$2" "$tmp/cli.tar" >>"$tmp/log" 2>&1; then
        pass "$1"
    else
        fail "$1"
        sed 's/^/    /' "$tmp/log"
    fi
}

# The repository's example, as a user types it.
if [ -f "$repo/args.nix" ]; then
    if try "nix-build default.nix --arg tool <bimanix> (the example args.nix)" \
        sh -c "cd '$repo' && nix-build default.nix --arg tool '$bin' -o '$tmp/example'"; then
        case $(readlink "$tmp/example") in
        /nix/store/*.tar) pass "result links to a .tar in the store" ;;
        *) fail "result links to a .tar in the store: $(readlink "$tmp/example")" ;;
        esac
        same_as_cli "the example image is byte-identical to bimanix build args.nix" "$tmp/example" "$repo" args.nix
        try "nix-build --check rebuilds the example identically" \
            sh -c "cd '$repo' && nix-build default.nix --arg tool '$bin' --check --no-out-link"
        if skopeo inspect "docker-archive:$tmp/example" >"$tmp/inspect.json" 2>"$tmp/log" &&
            grep -q '"com.urunc.unikernel.unikernelType"' "$tmp/inspect.json"; then
            pass "skopeo inspect reads the example image and its urunc labels"
        else
            fail "skopeo inspect reads the example image and its urunc labels"
            cat "$tmp/log" "$tmp/inspect.json" | sed 's/^/    /'
        fi
    fi
else
    fail "the repository has an example args.nix"
fi

# Another args file, its files relative to its own directory: a file made
# executable by mode, a directory holding a symlink and a subdirectory.
mkdir -p "$tmp/other/data/deep" "$tmp/elsewhere"
printf 'not really a kernel\n' >"$tmp/other/kernel.bin"
printf 'a\n' >"$tmp/other/data/a.txt"
printf 'b\n' >"$tmp/other/data/deep/b.txt"
chmod +x "$tmp/other/data/deep/b.txt"
ln -s a.txt "$tmp/other/data/link"
cat >"$tmp/other/args.nix" <<'EOF'
{
  name = "tests/other";
  tag = "v1";
  files = {
    "./kernel.bin" = "/unikernel/kernel";
    "./data" = { target = "/data"; };
    "data/a.txt" = { target = "/bin/a"; mode = "0755"; };
  };
  annotations = {
    unikernelType = "linux";
    hypervisor = "qemu";
    binary = "/unikernel/kernel";
    cmdline = "console=ttyS0";
    initrd = "";
  };
  cmd = [ "one" "two words" ];
  env = { GREETING = "hello"; };
  architecture = "amd64";
  labels = { "org.example.test" = "yes"; };
  urunc = "0.6-main";
}
EOF
cat >"$tmp/other/args.json" <<'EOF'
{"name": "tests/json", "files": {"./kernel.bin": "/kernel", "./data": "/srv"},
 "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/kernel"},
 "entrypoint": ["/kernel"], "created": "2024-05-06T07:08:09Z", "architecture": "arm64"}
EOF
# From another directory, so that only the args file's location can resolve the files.
cd "$tmp/elsewhere" || finish
if try "nix-build --arg args ./other/args.nix (files relative to it, a directory source)" \
    nix-build "$repo/default.nix" --arg tool "$bin" --arg args ../other/args.nix -o "$tmp/other.result"; then
    same_as_cli "... byte-identical to bimanix build of the same args.nix" "$tmp/other.result" "$tmp/elsewhere" ../other/args.nix
    case $(readlink "$tmp/other.result") in
    /nix/store/*-tests-other-v1.tar) pass "the derivation is named <name with / as ->-<tag>.tar" ;;
    *) fail "the derivation is named <name with / as ->-<tag>.tar: $(readlink "$tmp/other.result")" ;;
    esac
    try "nix-build --check rebuilds it identically" \
        nix-build "$repo/default.nix" --arg tool "$bin" --arg args ../other/args.nix --check --no-out-link
    if skopeo inspect "docker-archive:$tmp/other.result" >"$tmp/inspect.json" 2>"$tmp/log" &&
        grep -q '"com.urunc.unikernel.hypervisor": "qemu"' "$tmp/inspect.json" &&
        grep -q '"org.example.test": "yes"' "$tmp/inspect.json"; then
        pass "skopeo inspect shows its labels"
    else
        fail "skopeo inspect shows its labels"
        cat "$tmp/log" "$tmp/inspect.json" | sed 's/^/    /'
    fi
fi
if try "nix-build --arg args ./other/args.json" \
    nix-build "$repo/default.nix" --arg tool "$bin" --arg args ../other/args.json -o "$tmp/json.result"; then
    same_as_cli "... byte-identical to bimanix build args.json" "$tmp/json.result" "$tmp/other" args.json
fi

# The image derivation's inputs: the tool and the three sources, nothing else
# (no stdenv, no shell); its output keeps no reference, not even to the tool.
drv=$(nix-instantiate "$repo/default.nix" --arg tool "$bin" --arg args ../other/args.nix 2>"$tmp/log")
refs=$(nix-store -q --references "$drv" 2>>"$tmp/log" | sed 's|^/nix/store/[a-z0-9]*-||' | sort | tr '\n' ' ')
if [ "$refs" = "a.txt bimanix data kernel.bin " ]; then
    pass "the image derivation depends on the tool and its sources only"
else
    fail "the image derivation depends on the tool and its sources only: $refs"
    sed 's/^/    /' "$tmp/log"
fi
out=$(readlink "$tmp/other.result")
if [ "$(nix-store -q --requisites "$out" 2>&1)" = "$out" ]; then
    pass "the image output references nothing"
else
    fail "the image output references nothing: $(nix-store -q --requisites "$out" 2>&1)"
fi

# Other ways to give the tool: a directory with bin/bimanix, an absolute path
# string; both copy the same program, so the derivation is the same.
mkdir -p "$tmp/tooldir/bin"
cp "$bin" "$tmp/tooldir/bin/bimanix"
for tool in "--arg tool $tmp/tooldir" "--argstr tool $bin"; do
    # shellcheck disable=SC2086 # $tool is two words on purpose.
    other=$(nix-instantiate "$repo/default.nix" $tool --arg args ../other/args.nix 2>"$tmp/log")
    if [ "$other" = "$drv" ]; then
        pass "$tool gives the same derivation"
    else
        fail "$tool gives the same derivation: $other"
        sed 's/^/    /' "$tmp/log"
    fi
done

# mkUruncImage from nix/lib.nix with the list form of files: a store path
# string, a derivation built here (its builder is /bin/sh; nothing is
# fetched) and a host path.
cat >"$tmp/lib-test.nix" <<EOF
let
  lib = import $repo/nix/lib.nix { bimanix = $bin; };
  note = builtins.toFile "note.txt" "made by builtins.toFile\n";
  kernel = derivation {
    name = "kernel";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "printf 'built by nix\\\\n' > \$out" ];
  };
in
{
  inherit note kernel;
  image = lib.mkUruncImage {
    name = "tests/lib";
    tag = "1.0";
    files = [
      { source = note; target = "/etc/note"; }
      { source = kernel; target = "/kernel"; mode = "0755"; }
      { source = $tmp/other/data; target = "/data"; }
    ];
    annotations = {
      unikernelType = "linux";
      hypervisor = "qemu";
      binary = "/kernel";
    };
    cmd = [ "hello" ];
    architecture = "amd64";
  };
}
EOF
if try "mkUruncImage with files as a list of a store path, a derivation and a host path" \
    nix-build "$tmp/lib-test.nix" -A image -o "$tmp/lib.result"; then
    note=$(nix-instantiate --eval "$tmp/lib-test.nix" -A note 2>/dev/null | tr -d '"')
    kernel=$(nix-build "$tmp/lib-test.nix" -A kernel --no-out-link 2>/dev/null)
    cat >"$tmp/lib.json" <<EOF
{"name": "tests/lib", "tag": "1.0",
 "files": [{"source": "$note", "target": "/etc/note"},
           {"source": "$kernel", "target": "/kernel", "mode": "0755"},
           {"source": "$tmp/other/data", "target": "/data"}],
 "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/kernel"},
 "cmd": ["hello"], "architecture": "amd64"}
EOF
    same_as_cli "... byte-identical to bimanix build of the same files" "$tmp/lib.result" "$tmp" lib.json
    name=$(nix-instantiate --eval "$tmp/lib-test.nix" -A image.imageName 2>&1):$(nix-instantiate --eval "$tmp/lib-test.nix" -A image.imageTag 2>&1)
    if [ "$name" = '"tests/lib":"1.0"' ]; then pass "imageName and imageTag"; else fail "imageName and imageTag: $name"; fi
fi

# mkUruncIndex: images of one name for amd64 (the example kernel) and arm64
# (a stand-in aarch64 ELF header) with layers and compression set, combined
# into one index, byte-identical to bimanix build and bimanix index of the
# same inputs.
mkdir -p "$tmp/multi"
printf '\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000\267\000\001\000\000\000' >"$tmp/multi/kernel-arm64"
head -c 28 /dev/zero >>"$tmp/multi/kernel-arm64"
printf '\100\000\070\000\000\000\100\000\000\000\000\000' >>"$tmp/multi/kernel-arm64"
cp "$repo/example/hello/hello.bzImage" "$tmp/multi/kernel-amd64"
cat >"$tmp/index-test.nix" <<EOF
let
  lib = import $repo/nix/lib.nix { bimanix = $bin; };
  image = arch: lib.mkUruncImage {
    name = "tests/multi";
    tag = arch;
    files = [ { source = $tmp/multi + "/kernel-\${arch}"; target = "/kernel"; } ];
    annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; };
    layers = "single";
    compression = "zstd";
  };
in
rec {
  amd64 = image "amd64";
  arm64 = image "arm64";
  index = lib.mkUruncIndex { name = "tests/multi"; tag = "1.0"; images = [ amd64 arm64 ]; };
  layout = lib.mkUruncIndex { name = "tests/multi"; tag = "1.0"; images = [ arm64 amd64 ]; format = "oci-layout"; };
  annotated = lib.mkUruncIndex {
    name = "tests/multi"; tag = "1.0"; images = [ amd64 arm64 ];
    annotations = {
      "org.opencontainers.image.source" = "https://example.org/multi";
      "org.opencontainers.image.description" = "Hello, urunc";
    };
  };
}
EOF
if try "mkUruncImage with layers and compression, for amd64 and arm64" \
    nix-build "$tmp/index-test.nix" -A amd64 -A arm64 -o "$tmp/multi/result"; then
    printf '{"name": "tests/multi", "tag": "amd64", "files": {"./kernel-amd64": "/kernel"}, "layers": "single",
 "compression": "zstd", "annotations": {"unikernelType": "linux", "hypervisor": "qemu", "binary": "/kernel"}}\n' \
        >"$tmp/multi/amd64.json"
    same_as_cli "... byte-identical to bimanix build with the same layers and compression" \
        "$tmp/multi/result" "$tmp/multi" amd64.json
    if try "mkUruncIndex of the two images" nix-build "$tmp/index-test.nix" -A index -o "$tmp/multi/index"; then
        if "$bin" index "$tmp/multi/result" "$tmp/multi/result-2" --name tests/multi --tag 1.0 -o "$tmp/multi/cli.tar" \
            >"$tmp/log" 2>&1 && cmp "$tmp/multi/index" "$tmp/multi/cli.tar" >>"$tmp/log" 2>&1; then
            pass "... byte-identical to bimanix index of the same images"
        else
            fail "... byte-identical to bimanix index of the same images"
            sed 's/^/    /' "$tmp/log"
        fi
        raw=$(skopeo inspect --raw "oci-archive:$tmp/multi/index" 2>&1)
        case $raw in
        *'"architecture":"amd64"'*'"architecture":"arm64","os":"linux","variant":"v8"'*)
            pass "skopeo reads the index with both platforms" ;;
        *) fail "skopeo reads the index with both platforms: $raw" ;;
        esac
    fi
    # Annotations on the index itself, read back by skopeo, sorted, and the
    # same bytes as bimanix index --annotation (given in another order).
    if try "mkUruncIndex with annotations" nix-build "$tmp/index-test.nix" -A annotated -o "$tmp/multi/annotated"; then
        raw=$(skopeo inspect --raw "oci-archive:$tmp/multi/annotated" 2>&1)
        case $raw in
        '{"annotations":{"org.opencontainers.image.description":"Hello, urunc","org.opencontainers.image.source":"https://example.org/multi"},"manifests":'*)
            pass "... skopeo reads the index's annotations, sorted" ;;
        *) fail "... skopeo reads the index's annotations, sorted: $raw" ;;
        esac
        if "$bin" index "$tmp/multi/result" "$tmp/multi/result-2" --name tests/multi --tag 1.0 -o "$tmp/multi/cli-ann.tar" \
            --annotation org.opencontainers.image.source=https://example.org/multi \
            --annotation "org.opencontainers.image.description=Hello, urunc" \
            >"$tmp/log" 2>&1 && cmp "$tmp/multi/annotated" "$tmp/multi/cli-ann.tar" >>"$tmp/log" 2>&1; then
            pass "... byte-identical to bimanix index --annotation"
        else
            fail "... byte-identical to bimanix index --annotation"
            sed 's/^/    /' "$tmp/log"
        fi
    fi
    if try "mkUruncIndex as an OCI layout" nix-build "$tmp/index-test.nix" -A layout -o "$tmp/multi/layout"; then
        if [ -f "$tmp/multi/layout/index.json" ] && [ -f "$tmp/multi/layout/oci-layout" ]; then
            pass "... a layout directory"
        else
            fail "... a layout directory: $(ls "$tmp/multi/layout" 2>&1)"
        fi
    fi
fi
# Usage: index_error WHAT EXPECTED-MESSAGE MKURUNCINDEX-ARGS (`i` is index-test.nix)
index_error() {
    printf 'let lib = import %s/nix/lib.nix { bimanix = %s; }; i = import %s; in lib.mkUruncIndex { %s }\n' \
        "$repo" "$bin" "$tmp/index-test.nix" "$3" >"$tmp/bad.nix"
    if nix-instantiate "$tmp/bad.nix" >"$tmp/log" 2>&1; then
        fail "$1: evaluation succeeded"
    elif grep -qF "$2" "$tmp/log"; then
        pass "$1"
    else
        fail "$1: no \"$2\" in:"
        sed 's/^/    /' "$tmp/log"
    fi
}
index_error "mkUruncIndex refuses an image of another name" \
    'mkUruncIndex: images[1] is the image tests/multi, not other; an index holds images of one name' \
    "name = \"other\"; images = [ $tmp/multi/kernel-amd64 i.amd64 ];"
index_error "mkUruncIndex refuses an empty list" 'mkUruncIndex: `images` must be a non-empty list of images' \
    'name = "x"; images = [ ];'
index_error "mkUruncIndex refuses an unknown format" \
    'mkUruncIndex: format must be one of oci-archive, oci-layout, not "docker-archive"' \
    'name = "tests/multi"; images = [ i.amd64 ]; format = "docker-archive";'
index_error "mkUruncIndex refuses an unknown field" \
    'mkUruncIndex: unknown field `image`; allowed: name, tag, images, format, annotations' \
    'name = "x"; image = i.amd64;'
index_error "mkUruncIndex refuses a bad annotation key" \
    'mkUruncIndex: annotations: the key "bad key" is not an annotation key' \
    'name = "tests/multi"; images = [ i.amd64 ]; annotations = { "bad key" = "v"; };'
index_error "mkUruncIndex refuses an annotation that is not a string" \
    'mkUruncIndex: annotations.a.b must be a string, not' \
    'name = "tests/multi"; images = [ i.amd64 ]; annotations = { "a.b" = 1; };'

# Bad args fail at evaluation, naming the field at fault.
# Usage: eval_error WHAT EXPECTED-MESSAGE ARGS-ATTRSET [EXTRA-MKURUNCIMAGE-ARGS]
good='name = "x"; annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/k"; };'
eval_error() {
    printf 'let lib = import %s/nix/lib.nix { bimanix = %s; }; in lib.mkUruncImage { %s }\n' "$repo" "$bin" "$3" >"$tmp/bad.nix"
    if nix-instantiate "$tmp/bad.nix" >"$tmp/log" 2>&1; then
        fail "$1: evaluation succeeded"
    elif grep -qF "$2" "$tmp/log"; then
        pass "$1"
    else
        fail "$1: no \"$2\" in:"
        sed 's/^/    /' "$tmp/log"
    fi
}
eval_error "a misspelt field is refused" 'mkUruncImage: unknown field `nmae`; allowed: name, tag' \
    'nmae = "x"; annotations = { };'
eval_error "a misspelt field is named at its line and column, with a suggestion" \
    "$tmp/bad.nix:1:$((${#repo} + ${#bin} + 70)): mkUruncImage: unknown field \`nmae\`; allowed: name, tag, files, annotations, entrypoint, cmd, env, workingDir, labels, architecture, created, rootfs, fromImage, layers, compression, urunc; did you mean \`name\`?" \
    'nmae = "x"; annotations = { };'
eval_error "a misspelt annotation gets a suggestion" 'is not a urunc annotation; allowed: unikernelType, hypervisor, binary, cmdline, unikernelVersion, initrd, block, blkMntPoint, useDMBlock, mountRootfs, solo5NetDev, solo5BlkDev; did you mean `hypervisor`?' \
    'name = "x"; annotations = { unikernelType = "linux"; hypervsor = "qemu"; binary = "/k"; };'
eval_error "a misspelt layers mode gets a suggestion" 'not "singel"; did you mean `single`?' "$good layers = \"singel\";"
eval_error "a misspelt key of a files entry is named at its position" ": mkUruncImage: files[0]: unknown key \`mdoe\`; allowed: source, target, mode, fromImage, architecture; did you mean \`mode\`?" \
    "$good files = [ { source = $bin; target = \"/k\"; mdoe = \"0755\"; } ];"
eval_error "a missing source suggests a near file name" "files[0].source: $tmp/other/kernel.bim does not exist; did you mean \`kernel.bin\`?" \
    "$good files = [ { source = $tmp/other/kernel.bim; target = \"/k\"; } ];"
eval_error "a missing name is refused" 'mkUruncImage: missing `name`' \
    'annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/k"; };'
eval_error "a missing binary annotation is refused" 'mkUruncImage: annotations.binary is required' \
    'name = "x"; annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = ""; };'
eval_error "an unknown annotation is refused" '`hypervsor` is not a urunc annotation; allowed: unikernelType, hypervisor' \
    'name = "x"; annotations = { unikernelType = "linux"; hypervsor = "qemu"; binary = "/k"; };'
eval_error "a number as an annotation is refused" 'annotations.cmdline must be a string ("" means unset), not an integer' \
    "$good annotations.cmdline = 3;"
eval_error "cmd as a string is refused" '`cmd` must be a list of strings, not "run"' "$good cmd = \"run\";"
eval_error "a relative target is refused" 'mkUruncImage: files[0]: target "kernel" must be absolute' \
    "$good files = [ { source = $bin; target = \"kernel\"; } ];"
eval_error "a list entry without source is refused" 'mkUruncImage: files[0]: expected { source; target; mode ? null; }, not a set without `source`' \
    "$good files = [ { target = \"/k\"; } ];"
eval_error "an unknown key in a files entry is refused" 'files[0]: unknown key `mdoe`; allowed: source, target, mode' \
    "$good files = [ { source = $bin; target = \"/k\"; mdoe = \"0755\"; } ];"
eval_error "a missing source file is refused" "mkUruncImage: files[0].source: $tmp/nonexistent does not exist" \
    "$good files = [ { source = $tmp/nonexistent; target = \"/k\"; } ];"
eval_error "a relative key without root is refused" 'files."./k": a relative source needs `root`' \
    "$good files = { \"./k\" = \"/k\"; };"
eval_error "a relative string source is refused" 'files[0].source: "k" is a relative path in a string' \
    "$good files = [ { source = \"k\"; target = \"/k\"; } ];"
eval_error "a symlinked source is refused, with a hint" "$tmp/other/data/link is a symbolic link" \
    "$good files = [ { source = $tmp/other/data/link; target = \"/k\"; } ];"
eval_error "a runtime-only annotation is refused, with the reason" 'annotations: `vAccel` is runtime-only: urunc never takes it from an image' \
    "$good annotations.vAccel = \"vsock\";"
eval_error "urunc as a number is refused" '`urunc` must be a string of urunc versions such as "0.8"' "$good urunc = 8;"
eval_error "the Solo5 device names are urunc annotations" 'annotations.solo5BlkDev must be a string' \
    "$good annotations.solo5BlkDev = 1;"
eval_error "an unknown format is refused" 'mkUruncImage: format must be one of docker-archive, oci-archive, oci-layout, not "zip"' \
    "$good format = \"zip\";"
eval_error "an unknown layers mode is refused" \
    '`layers` must be "auto" (each large artifact in its own layer) or "single" (one layer), not "double"' \
    "$good layers = \"double\";"
eval_error "an unknown compression is refused" '`compression` must be "none", "gzip" or "zstd", not "xz"' \
    "$good compression = \"xz\";"
printf '{ name = "x"; tag = "1"; nmae = "y"; annotations = { }; }\n' >"$tmp/other/bad-args.nix"
if nix-instantiate "$repo/default.nix" --arg tool "$bin" --arg args "$tmp/other/bad-args.nix" >"$tmp/log" 2>&1; then
    fail "default.nix names the args file at fault: evaluation succeeded"
elif grep -qF "$tmp/other/bad-args.nix:1:26: unknown field \`nmae\`; allowed: name, tag," "$tmp/log" &&
    grep -qF 'did you mean `name`?' "$tmp/log"; then
    pass "default.nix names the args file, line and column at fault, with a suggestion"
else
    fail "default.nix names the args file at fault:"
    sed 's/^/    /' "$tmp/log"
fi
ln -s "$bin" "$tmp/bimanix-link"
if nix-instantiate "$repo/default.nix" --arg tool "$tmp/bimanix-link" --arg args ../other/args.nix >"$tmp/log" 2>&1; then
    fail "a symlinked tool is refused: evaluation succeeded"
elif grep -qF "tool: $tmp/bimanix-link is a symbolic link" "$tmp/log"; then
    pass "a symlinked tool is refused, with a hint"
else
    fail "a symlinked tool is refused, with a hint:"
    sed 's/^/    /' "$tmp/log"
fi
# What only the CLI checks fails the build with the CLI's message.
printf '{ name = "x"; created = "yesterday"; annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/k"; }; }\n' \
    >"$tmp/other/late-args.nix"
if nix-build "$repo/default.nix" --arg tool "$bin" --arg args "$tmp/other/late-args.nix" --no-out-link >"$tmp/log" 2>&1; then
    fail "an invalid created time fails the build: it built"
elif grep -qF 'late-args.nix:1:' "$tmp/log" && grep -qF ': created: ' "$tmp/log"; then
    pass "an invalid created time fails the build, with the CLI's message at the args file's line and column"
else
    fail "an invalid created time fails the build, with the CLI's message:"
    sed 's/^/    /' "$tmp/log"
fi

# What the build finds is named at the line and column of the args file,
# with the suggestion, as on the command line.
cat >"$tmp/other/typo-args.nix" <<'EOF'
{
  name = "x";
  annotations = {
    unikernelType = "linux";
    hypervisor = "qemuu";
    binary = "/k";
  };
}
EOF
if nix-build "$repo/default.nix" --arg tool "$bin" --arg args "$tmp/other/typo-args.nix" --no-out-link >"$tmp/log" 2>&1; then
    fail "a misspelt hypervisor fails the build: it built"
elif grep -qF "bimanix: error: $tmp/other/typo-args.nix:5:5: annotations.hypervisor: unknown \`qemuu\`" "$tmp/log" &&
    grep -qF '= help: did you mean `qemu`?' "$tmp/log"; then
    pass "a misspelt hypervisor fails the build at the args file's line and column, with the suggestion"
else
    fail "a misspelt hypervisor fails the build at the args file's line and column, with the suggestion:"
    sed 's/^/    /' "$tmp/log"
fi
# The keys' positions, named as the CLI names the keys (the archive's
# build and the description read the same positions).
pos=$(nix-instantiate --eval --strict --json -E "import $repo/nix/positions.nix (import $tmp/other/typo-args.nix)" 2>&1)
if [ "$pos" = '{"file":"'"$tmp"'/other/typo-args.nix","keys":{"annotations":[3,3],"annotations.binary":[6,5],"annotations.hypervisor":[5,5],"annotations.unikernelType":[4,5],"name":[2,3]},"names":{}}' ]; then
    pass "positions.nix gives each key's line and column, as the CLI names the keys"
else
    fail "positions.nix gives each key's line and column, as the CLI names the keys: $pos"
fi

# The urunc versions are the CLI's to judge.
printf '{ name = "x"; urunc = "0.9"; annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/k"; }; }\n' \
    >"$tmp/other/version-args.nix"
if nix-build "$repo/default.nix" --arg tool "$bin" --arg args "$tmp/other/version-args.nix" --no-out-link >"$tmp/log" 2>&1; then
    fail "an unknown urunc version fails the build: it built"
elif grep -qF 'unknown urunc version `0.9`' "$tmp/log"; then
    pass "an unknown urunc version fails the build, with the CLI's message"
else
    fail "an unknown urunc version fails the build, with the CLI's message:"
    sed 's/^/    /' "$tmp/log"
fi

# flake.lock: a version 7 lock pinning nixpkgs, as default.nix reads it.
lock=$(nix-instantiate --eval --strict -E "
  let lock = builtins.fromJSON (builtins.readFile $repo/flake.lock);
      node = lock.nodes.\${lock.nodes.\${lock.root}.inputs.nixpkgs};
  in [ lock.version node.locked.type node.original.ref ]" 2>&1)
if [ "$lock" = '[ 7 "github" "nixos-26.05" ]' ]; then pass "flake.lock pins nixpkgs nixos-26.05 (version 7)"; else fail "flake.lock: $lock"; fi

# The flake's outputs, evaluated with a stub nixpkgs whose callPackage
# returns the cargo-built tool: every output exists for both systems, and
# packages.image is the very derivation default.nix builds for the example.
# The overlay, on a stub package set, gives the same images as nix/lib.nix.
cat >"$tmp/flake-test.nix" <<EOF
let
  tool = $bin;
  stubPkgs = {
    callPackage = _: _: tool;
    runCommand = name: _: script: { inherit name script; };
    mkShell = attrs: attrs;
    nixfmt-tree = "formatter";
    clippy = null;
    rustfmt = null;
    skopeo = null;
  };
  systems = [ "x86_64-linux" "aarch64-linux" ];
  nixpkgs.legacyPackages = builtins.listToAttrs (map (name: { inherit name; value = stubPkgs; }) systems);
  flake = (import $repo/flake.nix).outputs { self = flake // { outPath = $repo; }; inherit nixpkgs; };
  perSystem = [ "packages" "lib" "checks" "apps" "formatter" "devShells" ];
  pkgs = stubPkgs // flake.overlays.default pkgs stubPkgs // { buildPackages = pkgs; };
  image = {
    name = "tests/overlay";
    files = [ { source = tool; target = "/k"; } ];
    annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/k"; };
  };
in
flake
// {
  outputNames = builtins.attrNames flake;
  systems = map (output: builtins.attrNames flake.\${output}) perSystem;
  contents = map (output: builtins.attrNames flake.\${output}.x86_64-linux) (builtins.filter (o: o != "formatter") perSystem);
  overlay = (pkgs.mkUruncImage image).drvPath == ((import $repo/nix/lib.nix { bimanix = tool; }).mkUruncImage image).drvPath;
  overlayIndex =
    let index = lib: lib.mkUruncIndex { name = "tests/overlay"; images = [ (lib.mkUruncImage image) ]; };
    in (index pkgs).drvPath == (index (import $repo/nix/lib.nix { bimanix = tool; })).drvPath;
}
EOF
check_eval() {
    got=$(nix-instantiate --eval --strict "$tmp/flake-test.nix" -A "$2" 2>&1)
    if [ "$got" = "$3" ]; then pass "$1"; else fail "$1: $got"; fi
}
check_eval "flake.nix has the outputs" outputNames '[ "apps" "checks" "devShells" "formatter" "lib" "overlays" "packages" ]'
both='[ "aarch64-linux" "x86_64-linux" ]'
check_eval "every per-system output has aarch64-linux and x86_64-linux" systems "[ $both $both $both $both $both $both ]"
check_eval "the per-system outputs have the issue's attributes" contents \
    '[ [ "bimanix" "default" "image" ] [ "fromArgsFile" "fromBunnyfile" "fromContainerfile" "mkUruncImage" "mkUruncIndex" ] [ "bimanix" "image" "image-inspect" "image-matches-cli" "image-reproducible" ] [ "default" ] [ "default" ] ]'
check_eval "overlays.default gives pkgs.mkUruncImage, the same images as nix/lib.nix" overlay true
check_eval "overlays.default gives pkgs.mkUruncIndex, the same indexes as nix/lib.nix" overlayIndex true
if [ -f "$repo/args.nix" ]; then
    flake_drv=$(nix-instantiate "$tmp/flake-test.nix" -A packages.x86_64-linux.image 2>&1)
    default_drv=$(cd "$repo" && nix-instantiate default.nix --arg tool "$bin" --argstr system x86_64-linux 2>&1)
    if [ "$flake_drv" = "$default_drv" ]; then
        pass "the flake's packages.image is default.nix's example image"
    else
        fail "the flake's packages.image is default.nix's example image: $flake_drv vs $default_drv"
    fi
    try "the flake's reproducibility check evaluates" \
        nix-instantiate --eval --strict "$tmp/flake-test.nix" -A checks.x86_64-linux.image-reproducible.script
    # `nix run .#image.copyToRegistry` and `nix build .#image.stream`: the same derivations as default.nix's.
    for program in stream copyToRegistry copyToDockerDaemon copyToPodman copyTo; do
        flake_drv=$(nix-instantiate "$tmp/flake-test.nix" -A "packages.x86_64-linux.image.$program" 2>&1)
        default_drv=$(cd "$repo" && nix-instantiate default.nix --arg tool "$bin" --argstr system x86_64-linux -A "$program" 2>&1)
        same "the flake's packages.image.$program is default.nix's" "$default_drv" "$flake_drv"
    done
    same "copyToRegistry's meta.mainProgram, for nix run" '"copyToRegistry"' \
        "$(nix-instantiate --eval "$tmp/flake-test.nix" -A packages.x86_64-linux.image.copyToRegistry.meta.mainProgram 2>&1)"
fi

# The package's install step: nix/package.nix evaluated with a stub lib,
# stdenv and buildRustPackage (nixpkgs cannot be fetched here), and its
# postInstall run as the build runs it, with the cargo-built program as
# $out/bin/bimanix. What buildRustPackage itself does is not tested here.
cat >"$tmp/package-test.nix" <<EOF
let
  lib = {
    importTOML = f: builtins.fromTOML (builtins.readFile f);
    fileset = { toSource = { root, fileset }: root; unions = l: l; };
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    platforms.linux = [ ];
  };
  package = native: import $repo/nix/package.nix {
    inherit lib;
    stdenv = { buildPlatform.canExecute = _: native; hostPlatform = { }; };
    rustPlatform.buildRustPackage = attrs: attrs;
    cpio = null;
    e2fsprogs = null;
    commit = "0123456789ab";
  };
in
{
  native = (package true).postInstall;
  cross = (package false).postInstall;
  commit = (package true).env.BIMANIX_COMMIT;
}
EOF
got=$(nix-instantiate --eval --strict "$tmp/package-test.nix" -A commit 2>&1)
if [ "$got" = '"0123456789ab"' ]; then pass "the package hands its commit to build.rs"; else fail "the package's commit: $got"; fi
got=$(nix-instantiate --eval --strict "$tmp/package-test.nix" -A cross 2>&1)
if [ "$got" = '""' ]; then pass "a cross build installs no pages it cannot generate"; else fail "cross postInstall: $got"; fi
pkg=$tmp/package-out
mkdir -p "$pkg/bin" && cp "$bin" "$pkg/bin/bimanix"
if nix eval --raw --file "$tmp/package-test.nix" native >"$tmp/postInstall" 2>"$tmp/log" &&
    out=$pkg sh -e "$tmp/postInstall" >>"$tmp/log" 2>&1 &&
    grep -q '^\.TH bimanix 1' "$pkg/share/man/man1/bimanix.1" &&
    grep -q '^\.TH bimanix-build 1' "$pkg/share/man/man1/bimanix-build.1" &&
    grep -q 'metadata.*file' "$pkg/share/man/man1/bimanix-build.1" &&
    grep -q 'complete -F _bimanix' "$pkg/share/bash-completion/completions/bimanix" &&
    head -1 "$pkg/share/zsh/site-functions/_bimanix" | grep -q '^#compdef bimanix' &&
    grep -q 'complete -c bimanix' "$pkg/share/fish/vendor_completions.d/bimanix.fish"; then
    pass "the package installs the manual pages and the bash, zsh and fish completions where nixpkgs looks"
else
    fail "the package installs the manual pages and completions"
    sed 's/^/    /' "$tmp/log"
    find "$pkg" -type f | sed 's/^/    /'
fi

finish
