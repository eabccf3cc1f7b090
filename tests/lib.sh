# The helpers the shell suites share, sourced by each of them (POSIX sh, so
# the sh suites and the bash suites can both use it). Every check prints
# "ok - ..." or "not ok - ..." and counts itself; `finish` (or the suite's
# own last lines) prints "N passed, M failed".
#
# Usage: `. "$root/tests/lib.sh"` near the top of a suite. `try` writes its
# command's output to "$tmp/log", so the suite sets tmp before calling it.

passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }

# notok DESCRIPTION [DETAILS]: DETAILS shown indented under the line, with
# unprintable bytes as `?`.
notok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    [ $# -gt 1 ] && printf '%s\n' "$2" | LC_ALL=C tr -c '[:print:]\n' '?' | sed 's/^/#   /'
    return 0
}

# pass and fail: the names the Nix suites use for ok and notok.
pass() { ok "$1"; }
fail() { notok "$1"; }

# finish: prints the summary and exits, 1 when anything failed.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds; its output is
# shown only on failure.
check() {
    local desc="$1" out
    shift
    if out=$("$@" 2>&1); then ok "$desc"; else notok "$desc" "$out"; fi
}

# try DESCRIPTION COMMAND...: as check, but the output goes through
# "$tmp/log" and is shown indented by four spaces; returns 1 on failure, so
# `try ... || finish` stops the suite.
try() {
    local desc="$1"
    shift
    if "$@" >"$tmp/log" 2>&1; then pass "$desc"; else fail "$desc"; sed 's/^/    /' "$tmp/log"; return 1; fi
}

# same DESCRIPTION EXPECTED ACTUAL
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1" "expected: $2
actual:   $3"; fi
}

# contains DESCRIPTION HAYSTACK NEEDLE...
contains() {
    local desc="$1" hay="$2" n
    shift 2
    for n in "$@"; do
        case $hay in
            *"$n"*) ;;
            *) notok "$desc" "missing: $n
in: $hay"; return 0 ;;
        esac
    done
    ok "$desc"
}

# fails DESCRIPTION STATUS NEEDLE COMMAND...: COMMAND exits with STATUS and
# its standard error holds NEEDLE.
fails() {
    local desc="$1" status="$2" needle="$3" out rc
    shift 3
    out=$("$@" 2>&1 >/dev/null)
    rc=$?
    if [ "$rc" -ne "$status" ]; then
        notok "$desc" "exit status $rc, not $status: $out"
    else
        contains "$desc" "$out" "$needle"
    fi
}

# release_bimanix ROOT: sets `bimanix` to $BIMANIX, else to ROOT's release
# build, built first (cargo's output in "$tmp/cargo.log"); ends the suite
# when there is no binary to test.
release_bimanix() {
    bimanix=${BIMANIX:-}
    if [ -z "$bimanix" ]; then
        bimanix=${CARGO_TARGET_DIR:-$1/target}/release/bimanix
        (cd "$1" && cargo build --release --locked >"$tmp/cargo.log" 2>&1) || { echo "# cargo build failed:"; tail -n 20 "$tmp/cargo.log"; }
    fi
    if [ ! -x "$bimanix" ]; then
        notok "the release bimanix exists at $bimanix"
        finish
    fi
}

# apt_install PACKAGE: apt may be busy installing in the background, so wait
# for its lock; update the lists only when the package is not found.
apt_install() {
    apt-get -o DPkg::Lock::Timeout=600 install -y "$1" ||
        { apt-get -o DPkg::Lock::Timeout=600 update && apt-get -o DPkg::Lock::Timeout=600 install -y "$1"; }
}

# nix_setup: Debian's Nix as the Nix suites use it. No substituters: nothing
# is downloaded, and no time is lost trying. No sandbox: the cargo-built tool
# is linked against the host's libc. Without nix-setup-systemd (apt
# --no-install-recommends) there are no build users: build as root.
nix_setup() {
    NIX_CONFIG="experimental-features = nix-command flakes
substituters =
sandbox = false"
    getent group nixbld >/dev/null || NIX_CONFIG="$NIX_CONFIG
build-users-group ="
    export NIX_CONFIG
    mkdir -p /nix/var/nix
    unset SOURCE_DATE_EPOCH
}

# private_dockerd DIR: when no Docker daemon answers, starts one with vfs
# storage under DIR, points DOCKER_HOST at it and sets started_dockerd to
# its pid (the suite stops it); waits up to a minute for it to answer.
private_dockerd() {
    timeout 20 docker info >/dev/null 2>&1 && return 0
    echo "# no Docker daemon answers; starting a private dockerd (vfs)"
    mkdir -p "$1"
    dockerd --storage-driver=vfs --data-root "$1/data" --exec-root "$1/exec" --pidfile "$1/dockerd.pid" \
        -H "unix://$1/docker.sock" --bridge=none --iptables=false >"$1/dockerd.log" 2>&1 &
    started_dockerd=$!
    export DOCKER_HOST=unix://$1/docker.sock
    for _ in $(seq 1 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
}

# stop PID: asks a process this suite started to end, waits up to 10 s,
# then kills it.
stop() {
    kill "$1" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$1" 2>/dev/null
}
