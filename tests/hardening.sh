#!/usr/bin/env bash
# What needs real signals, devices and a real consumer to test (issue 8):
# a build interrupted by SIGINT, SIGTERM or SIGKILL leaves no file behind
# (beside the output or in TMPDIR), except a layout directory after SIGKILL,
# which the next build removes; a character device given as output stays a
# device; an image with a file name that is not UTF-8 loads into podman.
# And hostile credential sources and inputs (issue 16), under a memory
# limit and a timeout.
#
# Usage: tests/hardening.sh   (from anywhere; as root, for mknod). Set
# BIMANIX to test another binary. Each check prints "ok - ..." or
# "not ok - ..."; the last line is "N passed, M failed"; exit 1 when
# anything failed.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

. "$root/tests/lib.sh"

tmp=$(mktemp -d /tmp/bimanix-hardening.XXXXXX)
cleanup() {
    grep -o " $tmp/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

release_bimanix "$root"

# A build that takes a while: a 3 GiB sparse file reads fast but is copied
# whole into the layer (and fits a newc initrd, which stops at 4 GiB).
mkdir -p "$tmp/in" "$tmp/out" "$tmp/tmpdir"
cp "$root/example/hello/hello.bzImage" "$tmp/in/kernel"
truncate -s 3G "$tmp/in/big"
cat >"$tmp/in/args.nix" <<'EOF'
{
  name = "hardening";
  files = { "./kernel" = "/kernel"; "./big" = "/big"; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; };
}
EOF
cat >"$tmp/in/rootfs.nix" <<'EOF'
{
  name = "hardening";
  files = { "./kernel" = "/kernel"; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; };
  rootfs = { type = "initrd"; files = { "./big" = "/big"; }; };
}
EOF

# wait_for DESCRIPTION PID TEST...: waits (up to 30 s) until TEST succeeds
# while PID runs; fails when PID ends first.
wait_for() {
    local desc=$1 pid=$2
    shift 2
    for _ in $(seq 1 600); do
        "$@" && return 0
        kill -0 "$pid" 2>/dev/null || { notok "$desc: the build ended before it could be interrupted"; return 1; }
        sleep 0.05
    done
    notok "$desc: timed out waiting"
    return 1
}
# The build has a temporary file open in DIR (an unnamed one shows as
# "DIR/#NNN (deleted)").
has_temp_in() { ls -l "/proc/$1/fd" 2>/dev/null | grep -q " $2/"; }
named_layout_temp() { compgen -G "$tmp/out/.bimanix-layout-*" >/dev/null; }
has_layout_temp() { named_layout_temp; }
listing() { (cd "$1" && ls -A | tr '\n' ' '); }

# interrupt SIGNAL ARGS OUT CHECK WHERE [BUILD-OPTIONS...]: starts a build
# to OUT, waits until `CHECK PID WHERE` says it is writing, sends SIGNAL,
# and checks that bimanix died of it.
interrupt() {
    local sig=$1 args=$2 out=$3 check=$4 where=$5 desc="$(basename "$2") to $3, $1"
    shift 5
    TMPDIR=$tmp/tmpdir "$bimanix" build "$args" -o "$tmp/out/$out" "$@" 2>"$tmp/err" &
    local pid=$!
    if wait_for "$desc" "$pid" "$check" "$pid" "$where"; then
        kill "-$sig" "$pid"
        wait "$pid" 2>/dev/null
        local status=$?
        same "$desc: bimanix dies of the signal" "$((128 + $(kill -l "$sig")))" "$status"
    else
        wait "$pid"
    fi
}

for sig in INT TERM KILL; do
    interrupt "$sig" "$tmp/in/args.nix" image.tar has_temp_in "$tmp/out"
    same "after $sig during a build, the output directory is empty" "" "$(listing "$tmp/out")"
    same "after $sig during a build, TMPDIR is empty" "" "$(listing "$tmp/tmpdir")"
    interrupt "$sig" "$tmp/in/rootfs.nix" image.tar has_temp_in "$tmp/tmpdir"
    same "after $sig while the rootfs is generated, TMPDIR is empty" "" "$(listing "$tmp/tmpdir")"
    same "after $sig while the rootfs is generated, the output directory is empty" "" "$(listing "$tmp/out")"
done

# A layout is built in a named directory beside it.
for sig in INT TERM; do
    interrupt "$sig" "$tmp/in/args.nix" layout has_layout_temp - --format oci-layout
    same "after $sig during a layout build, nothing is left" "" "$(listing "$tmp/out")"
done
interrupt KILL "$tmp/in/args.nix" layout has_layout_temp - --format oci-layout
if named_layout_temp; then ok "SIGKILL leaves the layout's temporary directory"; else notok "SIGKILL leaves the layout's temporary directory (nothing to sweep: the test proves nothing)"; fi
rm -f "$tmp/in/big"
sed -i 's|"./big" = "/big"; ||' "$tmp/in/args.nix"
"$bimanix" build "$tmp/in/args.nix" --format oci-layout -o "$tmp/out/layout" 2>"$tmp/err" || notok "a layout build after SIGKILL" "$(cat "$tmp/err")"
same "the next layout build removes what SIGKILL left" "layout " "$(listing "$tmp/out")"
rm -rf "$tmp/out/layout"

# A character device stays a device; what is written to it is discarded.
if mknod "$tmp/null" c 1 3 2>"$tmp/err"; then
    if "$bimanix" build "$tmp/in/args.nix" -o "$tmp/null" 2>"$tmp/err"; then
        if [ -c "$tmp/null" ]; then ok "-o a character device keeps it a device"; else notok "-o a character device keeps it a device" "$(ls -l "$tmp/null")"; fi
    else
        notok "-o a character device" "$(cat "$tmp/err")"
    fi
    ln -s "$tmp/null" "$tmp/null-link"
    "$bimanix" build "$tmp/in/args.nix" -o "$tmp/null-link" 2>"$tmp/err" || notok "-o a link to a device" "$(cat "$tmp/err")"
    if [ -L "$tmp/null-link" ] && [ -c "$tmp/null" ]; then ok "-o a link to a device keeps both"; else notok "-o a link to a device keeps both"; fi
else
    notok "mknod (needs root)" "$(cat "$tmp/err")"
fi
if "$bimanix" build "$tmp/in/args.nix" -o /dev/null 2>"$tmp/err" && [ -c /dev/null ]; then
    ok "-o /dev/null keeps /dev/null a device"
else
    notok "-o /dev/null keeps /dev/null a device" "$(cat "$tmp/err"; ls -l /dev/null)"
fi

# A file name that is not UTF-8 goes into the image, and consumers load it.
mkdir -p "$tmp/in/latin1"
printf 'bonjour\n' >"$tmp/in/latin1/$(printf 'caf\351')"
cat >"$tmp/in/latin1.nix" <<'EOF'
{
  name = "bimanix-hardening/latin1";
  tag = "t";
  files = { "./kernel" = "/kernel"; "./latin1" = "/data"; };
  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; cmdline = "console=ttyS0"; };
}
EOF
if "$bimanix" build "$tmp/in/latin1.nix" -o "$tmp/latin1.tar" 2>"$tmp/err"; then
    ok "an image with a Latin-1 file name builds"
    shown=$("$bimanix" inspect "$tmp/latin1.tar" 2>&1)
    case $shown in
        *'/data/caf\xE9'*) ok "inspect shows the Latin-1 name escaped" ;;
        *) notok "inspect shows the Latin-1 name escaped" "$shown" ;;
    esac
    if command -v podman >/dev/null 2>&1; then
        podman=(podman --root "$tmp/podman/root" --runroot "$tmp/podman/run" --storage-driver vfs)
        if out=$("${podman[@]}" load -i "$tmp/latin1.tar" 2>&1); then
            ok "podman loads an image with a Latin-1 file name"
            if id=$("${podman[@]}" create docker.io/bimanix-hardening/latin1:t 2>&1) \
                && "${podman[@]}" cp "$id:/data" "$tmp/copied" 2>"$tmp/err"; then
                same "podman gives the file back under its Latin-1 name" "bonjour" "$(cat "$tmp/copied/$(printf 'caf\351')" 2>&1)"
            else
                notok "podman create + cp" "$id $(cat "$tmp/err")"
            fi
        else
            notok "podman loads an image with a Latin-1 file name" "$out"
        fi
    else
        notok "podman is installed (tests/setup.sh installs it)"
    fi
else
    notok "an image with a Latin-1 file name builds" "$(cat "$tmp/err")"
fi

# ---------------------------------------------------------------------------
# Hostile credential sources and inputs (issue 16, rules 2, 3, 9), each run
# under a memory limit and a timeout: a clear error, fast, in flat memory,
# and never a planted secret in any message.

# guarded SECONDS CMD...: runs CMD under `ulimit -v` (1 GiB of address
# space) and `timeout`; sets $code, $said (stdout and stderr) and $took
# (whole seconds).
guarded() {
    local secs=$1 start
    shift
    start=$(date +%s)
    said=$( (ulimit -v 1048576; exec timeout "$secs" "$@") 2>&1)
    code=$?
    took=$(($(date +%s) - start))
}

# refused DESCRIPTION PATTERN MAX_SECONDS: the last guarded run exited 1
# within MAX_SECONDS, said PATTERN, and holds no PLANTED secret.
refused() {
    if [ "$code" -eq 1 ] && [ "$took" -le "$3" ] && printf '%s' "$said" | grep -q -- "$2" \
        && ! printf '%s' "$said" | grep -q PLANTED; then
        ok "$1 (${took} s)"
    else
        notok "$1" "exit $code after ${took} s: $said"
    fi
}

hostile=$tmp/hostile
mkdir -p "$hostile/bin" "$hostile/tmpdir"
cp "$root/example/hello/hello.bzImage" "$hostile/kernel"
printf '{ name = "hostile"; files = { "./kernel" = "/kernel"; };\n  annotations = { unikernelType = "linux"; hypervisor = "qemu"; binary = "/kernel"; }; }\n' \
    >"$hostile/args.nix"
"$bimanix" build "$hostile/args.nix" -o "$hostile/img.tar" >/dev/null 2>&1
to=127.0.0.1:9/x/hostile:1
push() { guarded "$1" env -u DOCKER_CONFIG HOME=/nonexistent PATH="$hostile/bin:$PATH" "${@:2}"; }

ln -s /dev/zero "$hostile/zero.json"
push 20 REGISTRY_AUTH_FILE="$hostile/zero.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "an auth file linked to /dev/zero is refused" "is a character device, not a regular file" 5
mkfifo "$hostile/fifo.json"
push 20 REGISTRY_AUTH_FILE="$hostile/fifo.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "an auth file that is a FIFO nobody writes is refused" "is a FIFO, not a regular file" 5
truncate -s 10G "$hostile/huge.json"
push 20 REGISTRY_AUTH_FILE="$hostile/huge.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "a 10 GiB auth file is refused" "auth files of more than 1048576 bytes are not read" 5
printf '{"auths": {"127.0.0.1:9": {"auth": "PLANTED-base64!"}}}' >"$hostile/bad.json"
push 20 REGISTRY_AUTH_FILE="$hostile/bad.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "a bad auth string is named, not shown" 'auths."127.0.0.1:9": auth is not base64' 5

# helper NAME SCRIPT: docker-credential-NAME running SCRIPT, and an auth
# file naming it for the registry.
helper() {
    printf '#!/bin/sh\n%s\n' "$2" >"$hostile/bin/docker-credential-$1"
    chmod 755 "$hostile/bin/docker-credential-$1"
    printf '{"credHelpers": {"127.0.0.1:9": "%s"}}' "$1" >"$hostile/helper-$1.json"
}
helper flood 'yes PLANTED-flood'
helper fails 'echo PLANTED-out; echo PLANTED-err >&2; exit 1'
helper hangs "(sleep 600; echo PLANTED-late) & echo \$! >$hostile/grandchild; echo PLANTED-hang"
push 20 REGISTRY_AUTH_FILE="$hostile/helper-flood.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "a helper that floods is stopped" "printed more than 65536 bytes" 5
push 20 REGISTRY_AUTH_FILE="$hostile/helper-fails.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "a helper that fails is named, its output not shown" "docker-credential-fails.*failed" 5
push 60 REGISTRY_AUTH_FILE="$hostile/helper-hangs.json" "$bimanix" push "$hostile/img.tar" "$to"
refused "a helper whose child holds the pipe open is stopped at its deadline" "no complete answer within 30 s" 40
# Killed: gone, or a zombie (PID 1 of a container may never reap it).
state=$(ps -o stat= -p "$(cat "$hostile/grandchild" 2>/dev/null || echo 1)" | tr -d ' ')
if [ -s "$hostile/grandchild" ] && case $state in '' | Z*) true ;; *) false ;; esac; then
    ok "the hanging helper's child was killed with it"
else
    notok "the hanging helper's child was killed with it"
fi

guarded 20 "$bimanix" push "$hostile/img.tar" "$to" --creds u --password-stdin </dev/zero
refused "--password-stdin from /dev/zero is capped" "more than 65536 bytes" 5
mkfifo "$hostile/silent"
sleep 60 >"$hostile/silent" &
writer=$!
guarded 50 "$bimanix" push "$hostile/img.tar" "$to" --creds u --password-stdin <"$hostile/silent"
kill "$writer" 2>/dev/null
refused "--password-stdin from a FIFO that never ends gives up" "standard input gave no line within 30 s" 40

guarded 20 "$bimanix" build - -o "$hostile/out.tar" </dev/zero
refused "build - from /dev/zero is capped" "standard input holds more than 4194304 bytes" 5
guarded 20 "$bimanix" build - -o "$hostile/out.tar" <"$hostile/huge.json"
refused "build - from a 10 GiB file is capped" "standard input holds more than 4194304 bytes" 5

# A 1.3 MB gzip of 1.3 GB (80 members of 16 MiB of zeros).
head -c 16M /dev/zero | gzip -c >"$hostile/member.gz"
for _ in $(seq 80); do cat "$hostile/member.gz"; done >"$hostile/bomb.tar.gz"
guarded 60 env TMPDIR="$hostile/tmpdir" "$bimanix" inspect "$hostile/bomb.tar.gz"
refused "a gzip bomb stops at the expansion bound" "expands past 1024 MiB" 30
same "the gzip bomb left nothing in TMPDIR" "" "$(ls -A "$hostile/tmpdir")"
guarded 60 env TMPDIR="$hostile/tmpdir" BIMANIX_MAX_EXPANSION=2000 "$bimanix" inspect "$hostile/bomb.tar.gz"
refused "BIMANIX_MAX_EXPANSION raises the bound (the zeros are read whole: no image in them)" "neither manifest.json" 30

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
