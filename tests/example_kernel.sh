#!/bin/sh
# Checks the example kernel in example/hello: that hello.bzImage is what
# build.sh makes from hello.S (byte for byte), that its header is a 64-bit
# bzImage, and that it boots under qemu (TCG is fine) the way urunc starts
# a Linux guest, printing its command line and arguments, then powers off.
# Usage: tests/example_kernel.sh   (from anywhere; needs binutils and
# qemu-system-x86_64). Last line: "N passed, M failed"; exit 1 on failure.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
kernel=example/hello/hello.bzImage
cmdline="panic=-1 console=ttyS0 root=/dev/ram0 rw rdinit=/hello -- one 'two words' three"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Rebuilding must give the committed bytes.
if [ ! -f "$kernel" ]; then
    fail "$kernel is missing; run example/hello/build.sh and commit its output"
    finish
fi
if example/hello/build.sh "$tmp/rebuilt.bzImage" >"$tmp/build.log" 2>&1; then
    pass "example/hello/build.sh rebuilds the kernel"
    if cmp -s "$kernel" "$tmp/rebuilt.bzImage"; then
        pass "the rebuilt kernel is byte-identical to $kernel"
    else
        fail "the rebuilt kernel differs from $kernel: rerun example/hello/build.sh and commit the result"
    fi
else
    fail "example/hello/build.sh failed:"
    cat "$tmp/build.log"
fi

# The header fields bimanix's architecture detection reads.
hex_at() { od -An -tx1 -j "$1" -N "$2" "$kernel" | tr -d ' \n'; }
[ "$(hex_at 0x1fe 2)" = 55aa ] && pass "boot_flag is 0xAA55" || fail "boot_flag at 0x1fe is not 0xAA55"
[ "$(hex_at 0x202 4)" = 48647253 ] && pass "\"HdrS\" is at 0x202" || fail "no \"HdrS\" magic at 0x202"
version=$(hex_at 0x206 2)   # little-endian
if [ -n "$version" ] && [ $((0x${version#??}${version%??})) -ge $((0x020c)) ]; then
    pass "boot protocol is 2.12 or later (0x${version#??}${version%??})"
else
    fail "boot protocol at 0x206 is below 2.12 (bytes: $version)"
fi
xloadflags=$(hex_at 0x236 1)
if [ -n "$xloadflags" ] && [ $((0x$xloadflags & 1)) -eq 1 ]; then
    pass "xloadflags has XLF_KERNEL_64"
else
    fail "xloadflags at 0x236 lacks XLF_KERNEL_64 (byte: $xloadflags)"
fi
size=$(wc -c <"$kernel")
[ "$size" -le 16384 ] && pass "the kernel is small ($size bytes)" || fail "the kernel is $size bytes, more than 16 KiB"

# qemu may still be being installed: wait while apt or dpkg runs.
waited=0
while ! command -v qemu-system-x86_64 >/dev/null 2>&1 \
    && pgrep -x 'apt|apt-get|dpkg' >/dev/null 2>&1 && [ "$waited" -lt 600 ]; do
    sleep 5
    waited=$((waited + 5))
done
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    fail "qemu-system-x86_64 not found; install it (apt-get install -y qemu-system-x86)"
    finish
fi

# Boot it the way urunc does, and let it power off by itself.
timeout 60 qemu-system-x86_64 -m 64 -nographic -no-reboot -kernel "$kernel" \
    -append "$cmdline" </dev/null >"$tmp/serial.raw" 2>"$tmp/qemu.err"
status=$?
tr -d '\r' <"$tmp/serial.raw" >"$tmp/serial"
if [ "$status" -eq 0 ]; then
    pass "qemu exited by itself with status 0"
elif [ "$status" -eq 124 ]; then
    fail "qemu was still running after 60 s: the kernel did not power off"
else
    fail "qemu exited with status $status: $(cat "$tmp/qemu.err")"
fi
expect_line() {
    if grep -qxF -- "$1" "$tmp/serial"; then
        pass "output has the line: $1"
    else
        fail "output lacks the line: $1"
    fi
}
expect_line "bimanix hello kernel"
expect_line "cmdline: $cmdline"
expect_line "arg[0]: one"
expect_line "arg[1]: two words"
expect_line "arg[2]: three"
if grep -q '^arg\[3\]' "$tmp/serial"; then
    fail "output has an arg[3], but only three arguments follow --"
else
    pass "output has exactly three arguments"
fi
if [ "$failed" -ne 0 ]; then
    echo "--- serial output ---"
    cat "$tmp/serial"
    echo "---"
fi
finish
