#!/bin/bash
# `berth run` next to `podman run` (Debian's podman 4.3 with its conmon and
# runc), on the same busybox image, in one run on the same machine, with
# ratios:
#
#   1. `run --rm --network none busybox true`: wall time (hyperfine);
#   2. N x `run -d busybox sleep` then `rm -f` of all: wall time of each
#      phase, and the memory of what supervises the running containers
#      (berthd + N berth-shims vs N conmons; RSS and PSS);
#   3. N x `run -d busybox true` from 8 clients at once, then `rm -f`:
#      creates of different containers run concurrently in berthd (a name
#      is reserved per create, not one lock over every create);
#   4. idle berthd RSS.
#
#   bench/run.sh [N]        (default 50; root)
#
# Uses target/release/{berthd,berth,berth-shim,berth-runtime} (scripts/build.sh).
# berthd and podman get private roots in a temp dir under /tmp/bt-*; every
# container, daemon and mount is removed at the end (daemons by pid).
set -euo pipefail

N=${1:-50}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "run.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in podman hyperfine jq; do
    command -v "$p" >/dev/null || { echo "run.sh: $p missing (apt-get install $p)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-runbench.XXXXXX)
BERTHD_PID=
SOCK=$WORK/b.sock
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
export CONTAINERS_CONF=$WORK/containers.conf
cat > "$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
EOF
RUNC=$(command -v runc)
pod() { podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --cgroup-manager cgroupfs --events-backend none --runtime "$RUNC" "$@"; }
cleanup() {
    set +e
    berth ps -aq 2>/dev/null | xargs -r "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null 2>&1
    pod rm -f -a >/dev/null 2>&1
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null
    grep -o " ${WORK}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# The image: busybox-static and its applets.
R=$WORK/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
tar -C "$R" -cf "$WORK/busybox.tar" .

echo "{}" > "$WORK/daemon.json"
"$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" --address "$SOCK" \
    --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && berth version >/dev/null 2>&1 && break; sleep 0.1; done
berth import "$WORK/busybox.tar" busybox:latest >/dev/null
pod import "$WORK/busybox.tar" localhost/busybox:latest >/dev/null
# Warm both (first runs create cgroup parents, caches).
berth run --rm --network none busybox true
pod run --rm --network none localhost/busybox true

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

echo "== idle berthd"
echo "berthd RSS: $(rss_kib "$BERTHD_PID") KiB"

echo "== run --rm --network none busybox true (hyperfine)"
hyperfine -N --warmup 3 --runs 30 --export-json "$WORK/run.json" \
    -n berth "$BIN/berth -H unix://$SOCK run --rm --network none busybox true" \
    -n podman "podman --root $WORK/podman/root --runroot $WORK/podman/run --cgroup-manager cgroupfs --events-backend none --runtime $RUNC run --rm --network none localhost/busybox true"
b=$(jq '.results[0].mean * 1000' "$WORK/run.json")
p=$(jq '.results[1].mean * 1000' "$WORK/run.json")
printf 'run --rm: berth %.1f ms, podman %.1f ms, ratio %s (target <= 0.33x)\n' "$b" "$p" "$(ratio "$b" "$p")"

echo "== $N x run -d sleep, then rm -f"
now_ms() { date +%s%3N; }
t0=$(now_ms)
for i in $(seq 1 "$N"); do berth run -d --network none --name "btb$i" busybox sleep 100000 >/dev/null; done
t1=$(now_ms)
for i in $(seq 1 "$N"); do pod run -d --network none --name "btp$i" localhost/busybox sleep 100000 >/dev/null; done
t2=$(now_ms)
b_rss=$(rss_kib "$BERTHD_PID"); b_pss=$(pss_kib "$BERTHD_PID")
for s in $(pgrep -x berth-shim || true); do
    grep -q "$WORK" "/proc/$s/cmdline" 2>/dev/null || continue
    b_rss=$((b_rss + $(rss_kib "$s"))); b_pss=$((b_pss + $(pss_kib "$s")))
done
c_rss=0; c_pss=0
for c in $(pgrep -x conmon || true); do
    grep -q "$WORK" "/proc/$c/cmdline" 2>/dev/null || continue
    c_rss=$((c_rss + $(rss_kib "$c"))); c_pss=$((c_pss + $(pss_kib "$c")))
done
t3=$(now_ms)
berth rm -f $(berth ps -aq) >/dev/null
t4=$(now_ms)
pod rm -f -t 0 -a >/dev/null
t5=$(now_ms)
printf 'run -d x%d: berth %d ms, podman %d ms, ratio %s\n' "$N" $((t1 - t0)) $((t2 - t1)) "$(ratio $((t1 - t0)) $((t2 - t1)))"
printf 'rm -f x%d:  berth %d ms, podman %d ms, ratio %s\n' "$N" $((t4 - t3)) $((t5 - t4)) "$(ratio $((t4 - t3)) $((t5 - t4)))"
printf 'memory with %d running: berthd+shims RSS %d KiB PSS %d KiB; conmons RSS %d KiB PSS %d KiB; PSS ratio %s\n' \
    "$N" "$b_rss" "$b_pss" "$c_rss" "$c_pss" "$(ratio "$b_pss" "$c_pss")"

echo "== $N x run -d from 8 clients at once, then rm -f"
t0=$(now_ms)
seq 1 "$N" | xargs -P 8 -I{} "$BIN/berth" -H "unix://$SOCK" run -d --network none --name "btc{}" busybox sleep 100000 >/dev/null
t1=$(now_ms)
seq 1 "$N" | xargs -P 8 -I{} podman --root "$WORK/podman/root" --runroot "$WORK/podman/run" --cgroup-manager cgroupfs \
    --events-backend none --runtime "$RUNC" run -d --network none --name "btq{}" localhost/busybox sleep 100000 >/dev/null
t2=$(now_ms)
[ "$(berth ps -q | wc -l)" = "$N" ] || { echo "run.sh: not all $N berth containers run" >&2; exit 1; }
berth rm -f $(berth ps -aq) >/dev/null
pod rm -f -t 0 -a >/dev/null
printf 'run -d x%d (8 at once): berth %d ms, podman %d ms, ratio %s\n' "$N" $((t1 - t0)) $((t2 - t1)) "$(ratio $((t1 - t0)) $((t2 - t1)))"
