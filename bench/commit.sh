#!/bin/bash
# `commit` of a container with MB megabytes of changes (one incompressible
# file, and 1000 small files in a directory), berth next to a private dockerd
# 20.10 (Debian docker.io, its own containerd, runc) in one run, with the
# ratio (issue 17's target: at most docker's time). Each round runs a fresh
# container on each engine that writes the changes and exits, then times
# `commit` of it (wall, from the CLI call to the printed image ID); the
# median of RUNS rounds is printed.
#
#   bench/commit.sh [MB]       (default 100; root)
#   RUNS=5 bench/commit.sh 100
#
# Uses $BERTH_BIN_DIR (default target/release) for berthd, berth,
# berth-shim, berth-runtime. Everything lives in a temp dir
# /tmp/bt-commitbench.* and is removed at the end; daemons are stopped by pid.
set -euo pipefail

MB=${1:-100}
RUNS=${RUNS:-3}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "commit.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in dockerd containerd runc; do
    command -v "$p" >/dev/null || { echo "commit.sh: $p missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "commit.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-commitbench.XXXXXX)
PIDS=()
SOCK=$WORK/b.sock
DSOCK=$WORK/d.sock
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
docker() { DOCKER_CONFIG=$WORK/dcli /usr/bin/docker -H "unix://$DSOCK" "$@"; }
cleanup() {
    set +e
    berth ps -aq 2>/dev/null | xargs -r "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null 2>&1
    docker ps -aq 2>/dev/null | xargs -r docker rm -f >/dev/null 2>&1
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null && wait "${PIDS[$i]}" 2>/dev/null
    done
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
head -c "${MB}M" /dev/urandom > "$WORK/blob"

echo "{}" > "$WORK/daemon.json"
"$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" --address "$SOCK" \
    --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
PIDS+=($!)
containerd --root "$WORK/ctd/root" --state "$WORK/ctd/state" --address "$WORK/ctd.sock" \
    >"$WORK/containerd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$WORK/ctd.sock" ] && break; sleep 0.1; done
echo "{\"deprecated-key-path\": \"$WORK/key.json\"}" > "$WORK/dockerd.json"
dockerd --config-file "$WORK/dockerd.json" --bridge=none --iptables=false --ip-masq=false \
    --ip6tables=false --ip-forward=false --data-root "$WORK/docker" --exec-root "$WORK/dexec" \
    -H "unix://$DSOCK" --pidfile "$WORK/dockerd.pid" --containerd "$WORK/ctd.sock" \
    --default-ulimit nofile=20000:20000 >"$WORK/dockerd.log" 2>&1 &
PIDS+=($!)
mkdir -p "$WORK/dcli"
for _ in $(seq 1 300); do
    [ -S "$SOCK" ] && [ -S "$DSOCK" ] && berth version >/dev/null 2>&1 && docker version >/dev/null 2>&1 && break
    sleep 0.1
done
berth import "$WORK/busybox.tar" busybox:latest >/dev/null
docker import "$WORK/busybox.tar" localhost/busybox:latest >/dev/null

# The changes: the blob (bind-mounted read-only, copied in) and 1000 small files.
CHANGES='cp /in/blob /blob && mkdir /many && i=0; while [ $i -lt 1000 ]; do echo $i > /many/f$i; i=$((i+1)); done'

# one ENGINE ROUND: prints the seconds `commit` took.
one() {
    local engine=$1 round=$2 name img t0 t1
    name=bt-commitbench-$round
    if [ "$engine" = berth ]; then
        berth run --network none --name "$name" -v "$WORK/blob:/in/blob:ro" busybox sh -c "$CHANGES" >/dev/null
        t0=$(date +%s%N); berth commit "$name" "bench:$round" >/dev/null; t1=$(date +%s%N)
        berth rm "$name" >/dev/null
    else
        docker run --network none --name "$name" -v "$WORK/blob:/in/blob:ro" localhost/busybox sh -c "$CHANGES" >/dev/null
        t0=$(date +%s%N); docker commit "$name" "bench:$round" >/dev/null; t1=$(date +%s%N)
        docker rm "$name" >/dev/null
    fi
    awk -v t=$((t1 - t0)) 'BEGIN { printf "%.3f\n", t / 1e9 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

B=() D=()
for r in $(seq 1 "$RUNS"); do
    # Alternate which engine goes first, so machine noise spreads over both.
    if [ $((r % 2)) = 1 ]; then
        B+=("$(one berth "$r")"); D+=("$(one docker "$r")")
    else
        D+=("$(one docker "$r")"); B+=("$(one berth "$r")")
    fi
done
b=$(printf '%s\n' "${B[@]}" | median)
d=$(printf '%s\n' "${D[@]}" | median)
printf '%-44s %10s %10s %8s\n' "commit of ${MB} MB + 1000 files (median of $RUNS)" "berth s" "docker s" ratio
printf '%-44s %10s %10s %8s\n' "" "$b" "$d" "$(awk -v a="$b" -v b="$d" 'BEGIN { printf "%.2fx", a / b }')"
echo "rounds: berth ${B[*]}; docker ${D[*]}"
