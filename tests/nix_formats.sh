#!/bin/sh
# Tests fromContainerfile and fromBunnyfile (nix/lib.nix) with Debian's Nix
# and no network, the cargo-built bimanix handed over as the tool (the
# air-gapped mode, as tests/nix.sh does). Each image nix-build makes from a
# Containerfile or a bunnyfile must be byte-identical to what the CLI writes
# from the same directory, rebuild identically (nix-build --check), and take
# bases as paths and as derivations. The args.nix `bimanix convert` writes,
# with files copied out of images, must build under default.nix to the same
# bytes. Bad arguments must fail at evaluation with the expected messages.
# Usage: tests/nix_formats.sh (as root on Debian 12; installs nix-bin if
# missing). Prints "ok - ..." / "not ok - ..." and last "N passed, M failed".
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
. "$repo/tests/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! command -v nix-build >/dev/null; then
    try "apt-get install nix-bin" apt_install nix-bin || finish
fi
nix_setup

try "cargo build --release" sh -c "cd '$repo' && cargo build --release --quiet" || finish
bin=$repo/target/release/bimanix

# Stand-ins: a kernel, an initrd, and a kernel image built by bimanix itself.
ctx=$tmp/ctx
mkdir -p "$ctx/conf"
cp "$repo/example/hello/hello.bzImage" "$ctx/vmlinux"
printf 'conf\n' >"$ctx/conf/app.conf"
printf 'stand-in initrd\n' >"$ctx/rootfs.initrd"
mkdir -p "$tmp/kimg"
cp "$repo/example/hello/hello.bzImage" "$tmp/kimg/kernel"
cat >"$tmp/kimg/args.nix" <<'EOF'
{ name = "kernel"; files = { "./kernel" = "/kernel"; };
  annotations = { unikernelType = "linux"; hypervisor = "firecracker"; binary = "/kernel"; }; }
EOF
try "a kernel image to use as a base" "$bin" build "$tmp/kimg/args.nix" -o "$tmp/kernel.tar" || finish

cat >"$ctx/Containerfile" <<'EOF'
#syntax=harbor.nbfc.io/nubificus/bunny:latest
ARG CONSOLE=ttyS0
FROM kernels/linux:6.14
COPY conf /etc/conf/
ARG CONSOLE
LABEL "com.urunc.unikernel.unikernelType"="linux" com.urunc.unikernel.hypervisor='firecracker' \
      com.urunc.unikernel.binary=/kernel
LABEL com.urunc.unikernel.cmdline="console=${CONSOLE} quiet"
EOF
cat >"$ctx/bunnyfile" <<'EOF'
#syntax=harbor.nbfc.io/nubificus/bunny:latest
version: v0.1
platforms:
  framework: linux
  monitor: firecracker
  architecture: x86
rootfs:
  from: local
  type: initrd
  path: rootfs.initrd
kernel:
  from: harbor.nbfc.io/nubificus/urunc/linux-kernel-firecracker:v6.14
  path: /kernel
cmdline: "/urunit /whoami"
EOF

lib="import $repo/nix/lib.nix { bimanix = $bin; }"
# nix_vs_cli WHAT NIX-EXPR CLI-ARGS...: nix-build and the CLI (run in $ctx) give the same bytes.
nix_vs_cli() {
    what=$1
    expr=$2
    shift 2
    if ! nix-build --no-out-link -E "$expr" >"$tmp/out" 2>"$tmp/log"; then
        fail "$what"
        sed 's/^/    /' "$tmp/log"
        return 1
    fi
    if (cd "$ctx" && "$bin" build "$@" -o "$tmp/cli.tar") >>"$tmp/log" 2>&1 && cmp "$(tail -n 1 "$tmp/out")" "$tmp/cli.tar" >>"$tmp/log" 2>&1; then
        pass "$what"
    else
        fail "$what"
        sed 's/^/    /' "$tmp/log"
        return 1
    fi
}

cf_expr="($lib).fromContainerfile { context = $ctx; name = \"nix/cf\"; tag = \"v1\";
  bases = { \"kernels/linux:6.14\" = $tmp/kernel.tar; }; buildArgs = { CONSOLE = \"hvc0\"; }; }"
nix_vs_cli "fromContainerfile (a FROM reference from bases, buildArgs) is byte-identical to bimanix build" \
    "$cf_expr" Containerfile -t nix/cf:v1 --base "kernels/linux:6.14=$tmp/kernel.tar" --build-arg CONSOLE=hvc0
try "nix-build --check rebuilds the fromContainerfile image identically" \
    nix-build --no-out-link --check -E "$cf_expr"

# A base that is a derivation: an image mkUruncImage builds.
bf_expr="let lib = $lib; kernelImage = lib.mkUruncImage { name = \"kernel\";
    files = [ { source = $tmp/kimg/kernel; target = \"/kernel\"; } ];
    annotations = { unikernelType = \"linux\"; hypervisor = \"firecracker\"; binary = \"/kernel\"; }; };
  in lib.fromBunnyfile { context = $ctx; name = \"nix-bf\";
    bases = { \"harbor.nbfc.io/nubificus/urunc/linux-kernel-firecracker:v6.14\" = kernelImage; }; }"
nix_vs_cli "fromBunnyfile (a base that is a derivation) is byte-identical to bimanix build" \
    "$bf_expr" bunnyfile -t nix-bf --base "harbor.nbfc.io/nubificus/urunc/linux-kernel-firecracker:v6.14=$tmp/kernel.tar"

# convert, then default.nix: files copied out of an image go through Nix too.
cat >"$ctx/raw.bunnyfile" <<'EOF'
version: v0.1
platforms: { framework: linux, monitor: qemu }
rootfs: { from: "rootfs:1", type: raw }
kernel: { from: "kernels/linux:6.14", path: /kernel }
cmd: ["/bin/sh"]
EOF
mkdir -p "$tmp/rimg/bin"
printf '#!/bin/sh\n' >"$tmp/rimg/bin/sh"
chmod +x "$tmp/rimg/bin/sh"
cat >"$tmp/rimg/args.nix" <<'EOF'
{ name = "rootfs"; files = { "./bin" = "/bin"; "./bin/sh" = "/k"; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/k"; }; architecture = "amd64"; }
EOF
try "a rootfs image to use as a base" "$bin" build "$tmp/rimg/args.nix" -o "$tmp/rootfs.tar"
raw_flags="-t raw --base rootfs:1=$tmp/rootfs.tar --base kernels/linux:6.14=$tmp/kernel.tar"
# shellcheck disable=SC2086
if (cd "$ctx" && "$bin" convert raw.bunnyfile $raw_flags -o converted.nix && "$bin" build raw.bunnyfile $raw_flags -o "$tmp/raw.tar") >"$tmp/log" 2>&1 &&
    grep -q 'fromImage = .*source = "/kernel"' "$ctx/converted.nix" &&
    nix-build --no-out-link "$repo/default.nix" --arg tool "$bin" --arg args "$ctx/converted.nix" >"$tmp/out" 2>>"$tmp/log" &&
    cmp "$(tail -n 1 "$tmp/out")" "$tmp/raw.tar" >>"$tmp/log" 2>&1; then
    pass "a converted args.nix with fromImage files builds under nix-build to the bunnyfile's bytes"
else
    fail "a converted args.nix with fromImage files builds under nix-build to the bunnyfile's bytes"
    sed 's/^/    /' "$tmp/log"
fi

# `file` in a subdirectory: `context` stays the build context (as docker build -f).
nctx=$tmp/nctx
mkdir -p "$nctx/docker"
cp "$repo/example/hello/hello.bzImage" "$nctx/k"
printf 'spaced\n' >"$nctx/my kernel"
printf 'at\n' >"$nctx/a@b"
header='LABEL com.urunc.unikernel.binary=/k com.urunc.unikernel.unikernelType=linux com.urunc.unikernel.hypervisor=qemu'
printf 'FROM scratch\nCOPY k /k\n%s\nCOPY ["my kernel", "/mk"]\nCOPY a@b /ab\nCOPY k /k2\n' "$header" >"$nctx/docker/Containerfile"
sub_expr="($lib).fromContainerfile { context = $nctx; file = \"docker/Containerfile\"; name = \"sub\"; }"
nix_vs_cli "fromContainerfile with file in a subdirectory keeps context as the build context" \
    "$sub_expr" -f "$nctx/docker/Containerfile" "$nctx" -t sub
if nix-instantiate --eval --strict -E "($sub_expr).drvAttrs.args" 2>"$tmp/log" | grep -q '"-f" "/nix/store/[^"]*/docker/Containerfile" "/nix/store/[^"/]*"'; then
    pass "the derivation runs bimanix build -f <context>/<file> <context>"
else
    fail "the derivation runs bimanix build -f <context>/<file> <context>"
    sed 's/^/    /' "$tmp/log"
fi

# compression, urunc and layers are passed as the CLI's flags.
opt_expr="($lib).fromContainerfile { context = $nctx; file = \"docker/Containerfile\"; name = \"opt\";
  compression = \"zstd\"; urunc = \"0.6-main\"; layers = \"single\"; }"
nix_vs_cli "fromContainerfile with compression, urunc and layers is byte-identical to the CLI's flags" \
    "$opt_expr" -f "$nctx/docker/Containerfile" "$nctx" -t opt --compression zstd --urunc 0.6-main --layers single
if nix-build --no-out-link -E "$opt_expr" >"$tmp/out" 2>"$tmp/log" && ! cmp -s "$(tail -n 1 "$tmp/out")" "$(nix-build --no-out-link -E "$sub_expr" | tail -n 1)"; then
    pass "the flags change the image"
else
    fail "the flags change the image"
fi
printf 'version: v0.1\nplatforms: { framework: linux, monitor: qemu }\nkernel: { from: local, path: k }\ncmd: ["/init"]\n' >"$nctx/docker/bunnyfile"
bopt_expr="($lib).fromBunnyfile { context = $nctx; file = \"docker/bunnyfile\"; name = \"bopt\";
  compression = \"gzip\"; layers = \"single\"; urunc = \"0.8\"; }"
nix_vs_cli "fromBunnyfile with file in a subdirectory, compression, urunc and layers is byte-identical to the CLI" \
    "$bopt_expr" -f "$nctx/docker/bunnyfile" "$nctx" -t bopt --compression gzip --layers single --urunc 0.8

# convert writes names a path literal cannot spell as relative strings, which Nix resolves too.
if (cd "$nctx" && "$bin" convert -f docker/Containerfile . -t sub -o converted.nix) >"$tmp/log" 2>&1 &&
    grep -q 'source = "./my kernel";' "$nctx/converted.nix" && grep -q 'source = "./a@b";' "$nctx/converted.nix" &&
    nix-build --no-out-link "$repo/default.nix" --arg tool "$bin" --arg args "$nctx/converted.nix" >"$tmp/out" 2>>"$tmp/log" &&
    "$bin" build -f "$nctx/docker/Containerfile" "$nctx" -t sub -o "$tmp/sub.tar" >>"$tmp/log" 2>&1 &&
    cmp "$(tail -n 1 "$tmp/out")" "$tmp/sub.tar" >>"$tmp/log" 2>&1; then
    pass "a converted args.nix with \"./my kernel\" and \"./a@b\" builds under nix-build to the Containerfile's bytes"
else
    fail "a converted args.nix with \"./my kernel\" and \"./a@b\" builds under nix-build to the Containerfile's bytes"
    sed 's/^/    /' "$tmp/log"
fi

# FROM --platform picks the image of a two-platform base for COPY --from, through Nix too.
pctx=$tmp/pctx
mkdir -p "$pctx"
# elf MACHINE PAYLOAD: a stand-in kernel ELF header (e_machine 62 is x86_64, 183 aarch64).
elf() {
    printf '\177ELF\002\001\001'
    head -c 9 /dev/zero
    printf "\\002\\000\\$(printf '%03o' "$1")\\000\\001\\000\\000\\000"
    head -c 28 /dev/zero
    printf '\100\000'
    head -c 10 /dev/zero
    printf '%s' "$2"
}
elf 62 amd >"$pctx/kamd"
elf 183 arm >"$pctx/karm"
for a in amd arm; do
    printf '{ name = "base"; files = { "./k%s" = "/kernel"; }; annotations = { unikernelType = "unikraft"; hypervisor = "qemu"; binary = "/kernel"; }; }\n' "$a" >"$pctx/$a.nix"
done
printf 'FROM --platform=linux/arm64 base:1 AS b\nFROM scratch\nCOPY --from=b /kernel /k\nLABEL com.urunc.unikernel.binary=/k com.urunc.unikernel.unikernelType=unikraft com.urunc.unikernel.hypervisor=qemu\n' >"$pctx/Containerfile"
if (cd "$pctx" && "$bin" build amd.nix -o "$tmp/amd.tar" && "$bin" build arm.nix -o "$tmp/arm.tar" &&
    "$bin" index "$tmp/amd.tar" "$tmp/arm.tar" -o "$tmp/base2.tar" &&
    "$bin" build Containerfile -t plat --base "base:1=$tmp/base2.tar" -o "$tmp/plat.tar" &&
    "$bin" convert Containerfile -t plat --base "base:1=$tmp/base2.tar" -o converted.nix) >"$tmp/log" 2>&1 &&
    grep -q 'architecture = "arm64";' "$pctx/converted.nix" &&
    nix-build --no-out-link "$repo/default.nix" --arg tool "$bin" --arg args "$pctx/converted.nix" >"$tmp/out" 2>>"$tmp/log" &&
    cmp "$(tail -n 1 "$tmp/out")" "$tmp/plat.tar" >>"$tmp/log" 2>&1 &&
    nix-build --no-out-link -E "($lib).fromContainerfile { context = $pctx; name = \"plat\"; bases = { \"base:1\" = $tmp/base2.tar; }; }" >"$tmp/out" 2>>"$tmp/log" &&
    cmp "$(tail -n 1 "$tmp/out")" "$tmp/plat.tar" >>"$tmp/log" 2>&1; then
    pass "COPY --from a FROM --platform stage of a two-platform base: CLI, converted args.nix and fromContainerfile agree"
else
    fail "COPY --from a FROM --platform stage of a two-platform base: CLI, converted args.nix and fromContainerfile agree"
    sed 's/^/    /' "$tmp/log"
fi

# Evaluation errors name the function and the argument.
eval_fails() {
    if nix-instantiate --eval -E "$2" >"$tmp/log" 2>&1; then
        fail "$1 (evaluation succeeded)"
    elif grep -q "$3" "$tmp/log"; then
        pass "$1"
    else
        fail "$1"
        sed 's/^/    /' "$tmp/log"
    fi
}
eval_fails "a missing file in the context is an evaluation error" \
    "(($lib).fromContainerfile { context = $ctx; file = \"Nope\"; name = \"x\"; }).drvPath" \
    "fromContainerfile: .*Nope does not exist"
eval_fails "a bad name is an evaluation error" \
    "(($lib).fromBunnyfile { context = $ctx; name = 3; }).drvPath" "fromBunnyfile: .name. must be a non-empty string"
eval_fails "a base that is not an archive path or derivation is an evaluation error" \
    "(($lib).fromBunnyfile { context = $ctx; name = \"x\"; bases = { \"a\" = 1; }; }).drvPath" \
    'fromBunnyfile: bases."a": expected a path, a derivation'

eval_fails "fromBunnyfile refuses buildArgs" \
    "(($lib).fromBunnyfile { context = $ctx; name = \"x\"; buildArgs = { A = \"1\"; }; }).drvPath" \
    "fromBunnyfile: .buildArgs.: a bunnyfile has no ARG lines"
eval_fails "an unknown compression is an evaluation error" \
    "(($lib).fromContainerfile { context = $ctx; name = \"x\"; compression = \"xz\"; }).drvPath" \
    'fromContainerfile: compression must be one of none, gzip, zstd, not "xz"'
eval_fails "an unknown layers value is an evaluation error" \
    "(($lib).fromBunnyfile { context = $ctx; name = \"x\"; layers = \"many\"; }).drvPath" \
    'fromBunnyfile: layers must be one of auto, single'
eval_fails "a urunc that is not a string is an evaluation error" \
    "(($lib).fromContainerfile { context = $ctx; name = \"x\"; urunc = 0.8; }).drvPath" \
    'fromContainerfile: urunc must be a version string'

# The overlay adds both functions.
got=$(nix-instantiate --eval --strict -E "let o = import $repo/nix/overlay.nix { callPackage = _: _: null; buildPackages.bimanix = $bin; } { }; in [ (o ? fromContainerfile) (o ? fromBunnyfile) ]" 2>&1)
if [ "$got" = "[ true true ]" ]; then pass "the overlay adds fromContainerfile and fromBunnyfile"; else fail "the overlay adds fromContainerfile and fromBunnyfile: $got"; fi

finish
