#!/usr/bin/env bash
# Runs all of Berth's tests (as root): builds the binaries in release mode
# (the tests drive them as users do), then every unit and integration test
# of the workspace. Test binaries build in the dev profile: LTO'ing every
# test executable would cost minutes and test nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "test.sh: run as root (the tests make namespaces, mounts and cgroups)" >&2
  exit 1
fi

bash scripts/build.sh
export BERTH_BIN_DIR="$PWD/target/release"
export RUST_BACKTRACE=1
cargo test --workspace --no-fail-fast -- --test-threads="${BERTH_TEST_THREADS:-2}"
