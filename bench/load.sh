#!/bin/bash
# `berth load` next to `podman load` (Debian's podman 4.3), in one run on
# the same machine, with ratios: a docker-archive of SIZE MB (busybox and
# one incompressible file), loaded
#   1. when the image is not there (cold: every layer stored and unpacked);
#   2. when it is already there (issue 21: at most podman's time).
# The archive is written by `berth save` and loaded from a file by both.
#
#   bench/load.sh [SIZE_MB]    (default 200; root)
#   RUNS=5 bench/load.sh 200
#
# Uses target/release/{berthd,berth,berth-shim,berth-runtime}
# (scripts/build.sh; BERTH_BIN_DIR overrides); private roots in a temp dir
# under /tmp/bt-*, removed at the end (berthd stopped by pid).
set -euo pipefail

SIZE=${1:-200}
RUNS=${RUNS:-5}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth; do
    [ -x "$BIN/$b" ] || { echo "load.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in podman hyperfine; do
    command -v "$p" >/dev/null || { echo "load.sh: $p missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "load.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-loadbench.XXXXXX)
BERTHD_PID=
SOCK=$WORK/b.sock
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
PODMAN="podman --root $WORK/podman/root --runroot $WORK/podman/run --cgroup-manager cgroupfs --events-backend none"
cleanup() {
    set +e
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null
    grep -o " ${WORK}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

R=$WORK/rootfs
mkdir -p "$R/bin" "$R/data"
cp /bin/busybox "$R/bin/busybox"
head -c "${SIZE}M" /dev/urandom > "$R/data/blob"
tar -C "$R" -cf "$WORK/rootfs.tar" .

echo "{}" > "$WORK/daemon.json"
"$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" \
    --address "$SOCK" --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && berth version >/dev/null 2>&1 && break; sleep 0.1; done
berth import "$WORK/rootfs.tar" bt-load:1 >/dev/null
berth save -o "$WORK/image.tar" bt-load:1
berth rmi bt-load:1 >/dev/null
echo "archive: $(du -m "$WORK/image.tar" | cut -f1) MB (docker-archive from berth save)"

ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
# Mean seconds of a hyperfine run of "$1" (RUNS runs, one warm-up).
mean_s() {
    hyperfine -N --runs "$RUNS" --warmup 1 --export-json "$WORK/h.json" "$1" >/dev/null 2>&1
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$WORK/h.json"
}
# Wall seconds of one run of "$@".
once_s() {
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null; t1=$(date +%s%N)
    awk -v t=$((t1 - t0)) 'BEGIN { print t / 1e9 }'
}

b_cold=$(once_s "$BIN/berth" -H "unix://$SOCK" load -i "$WORK/image.tar")
# shellcheck disable=SC2086
p_cold=$(once_s $PODMAN load -q -i "$WORK/image.tar")
b_warm=$(mean_s "$BIN/berth -H unix://$SOCK load -q -i $WORK/image.tar")
p_warm=$(mean_s "$PODMAN load -q -i $WORK/image.tar")
printf '%-30s %10s %10s %8s\n' "load of a ${SIZE} MB image" "berth ms" "podman ms" ratio
printf '%-30s %10s %10s %8s\n' "not present (one run)" "$(ms "$b_cold")" "$(ms "$p_cold")" "$(ratio "$b_cold" "$p_cold")"
printf '%-30s %10s %10s %8s\n' "already present (mean of $RUNS)" "$(ms "$b_warm")" "$(ms "$p_warm")" "$(ratio "$b_warm" "$p_warm")"
