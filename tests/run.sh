#!/usr/bin/env bash
# Runs every test of the project with real components: the Rust unit and
# integration tests, then the shell suites that load images into Docker,
# podman, skopeo and containerd, build with nix-build and boot kernels with
# qemu. Prints one summary line, "N passed, M failed", and exits non-zero
# when anything failed.
set -u
cd "$(dirname "$0")/.."

bash tests/setup.sh || { echo "setup failed"; exit 1; }

passed=0 failed=0 failures=()

# cargo test: count its "test result" lines.
log=$(mktemp)
cargo build --release --locked 2>&1 | tail -n 3
if cargo test --release --locked 2>&1 | tee "$log"; then :; else failures+=("cargo test"); fi
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < <(
  sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log")
grep -q '^test result:' "$log" || { failed=$((failed + 1)); failures+=("cargo test (no result)"); }
rm -f "$log"

# Shell suites: each ends with "N passed, M failed".
for suite in tests/quickstart.sh tests/consumers.sh tests/nix.sh tests/nix_formats.sh tests/nix_store.sh tests/example_kernel.sh tests/boot_linux.sh tests/registry.sh tests/hardening.sh tests/provenance.sh; do
  [ -f "$suite" ] || continue
  echo "=== $suite"
  log=$(mktemp)
  bash "$suite" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  rm -f "$log"
  if [ -z "$last" ]; then
    failed=$((failed + 1)); failures+=("$suite (no summary)")
    continue
  fi
  p=${last%% passed*}; f=${last#*passed, }; f=${f%% failed*}
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); fi
  [ "$status" -ne 0 ] && failures+=("$suite")
done

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
