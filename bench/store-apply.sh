#!/bin/sh
# Layer application speed: berth-store's apply_tar against GNU tar, on one uncompressed layer
# made from this machine's /usr (about 1.1 GB, 52k entries), written to the same filesystem.
# Usage: bench/store-apply.sh [WORKDIR]   (root; WORKDIR default /var/tmp/bt-bench-apply)
# Prints wall/user/sys for each run; the disk is shared, so compare runs of one invocation.
set -eu
work=${1:-/var/tmp/bt-bench-apply}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
CARGO_TARGET_DIR=$target cargo build --release -q -p berth-store --example apply_layer
bin=$target/release/examples/apply_layer
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
tar -C / -cf "$work/layer.tar" usr/share usr/bin 2>/dev/null || true
ls -l "$work/layer.tar"
cat "$work/layer.tar" >/dev/null # into the page cache: measure unpacking, not reading
for run in 1 2 3; do
    rm -rf "$work/berth" "$work/tar"; mkdir "$work/berth" "$work/tar"; sync
    /usr/bin/time -f "run $run berth-store apply: %e s wall, %U s user, %S s sys" "$bin" "$work/berth" delete <"$work/layer.tar" >/dev/null
    sync
    /usr/bin/time -f "run $run GNU tar -x:         %e s wall, %U s user, %S s sys" tar --numeric-owner -xpf "$work/layer.tar" -C "$work/tar"
    sync
done
diff -r --no-dereference "$work/berth" "$work/tar" >/dev/null && echo "trees identical"
# The pull path: gunzip in-process on apply's reading thread, against gzip | tar.
gzip -1 -c "$work/layer.tar" >"$work/layer.tar.gz"
for run in 1 2 3; do
    rm -rf "$work/berth" "$work/tar"; mkdir "$work/berth" "$work/tar"; sync
    /usr/bin/time -f "run $run berth-store apply --gzip: %e s wall, %U s user, %S s sys" "$bin" "$work/berth" delete --gzip <"$work/layer.tar.gz" >/dev/null
    sync
    /usr/bin/time -f "run $run gzip -dc | tar -x:        %e s wall, %U s user, %S s sys" sh -c "gzip -dc '$work/layer.tar.gz' | tar --numeric-owner -xpf - -C '$work/tar'"
    sync
done
