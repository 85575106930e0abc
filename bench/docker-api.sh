#!/bin/bash
# The Docker API (issue 18): the same docker CLI 20.10 (/usr/bin/docker) and
# docker-compose 1.29 against berthd's Docker socket and a private dockerd
# 20.10 (Debian docker.io, its own containerd, runc) in one run, with the
# ratios: `docker run --rm busybox true` (target at most 0.3x dockerd's wall
# time), `docker-compose up -d` then `down` of a 3-service project (at most
# 0.5x), and berthd's idle RSS with the Docker API on (at most 20 MiB).
# Medians of RUNS rounds, engines alternating which goes first.
#
#   bench/docker-api.sh            (root)
#   RUNS=5 bench/docker-api.sh
#
# Uses $BERTH_BIN_DIR (default target/release) for berthd, berth,
# berth-shim, berth-runtime. Everything lives in a temp dir
# /tmp/bt-apibench.* and is removed at the end; daemons are stopped by pid.
set -euo pipefail

RUNS=${RUNS:-5}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "docker-api.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in dockerd containerd runc docker-compose; do
    command -v "$p" >/dev/null || { echo "docker-api.sh: $p missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "docker-api.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-apibench.XXXXXX)
PIDS=()
SOCK=$WORK/b.sock
BSOCK=$WORK/bd.sock
DSOCK=$WORK/d.sock
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
# The same docker CLI against either engine: ENGINE_SOCK picks the socket.
docker() { DOCKER_CONFIG=$WORK/dcli /usr/bin/docker -H "unix://$DSOCK" "$@"; }
on() { local sock=$1; shift; DOCKER_CONFIG=$WORK/dcli /usr/bin/docker -H "unix://$sock" "$@"; }
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

echo "{}" > "$WORK/daemon.json"
"$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" --address "$SOCK" \
    --docker-address "$BSOCK" --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
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
docker import "$WORK/busybox.tar" busybox:latest >/dev/null

# berthd idle, the Docker API on: its RSS once the import's work is done.
sleep 3
rss_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/${PIDS[0]}/status")

mkdir -p "$WORK/project"
cat > "$WORK/project/docker-compose.yml" <<'YML'
services:
  a: {image: busybox, command: [sh, -c, "trap 'exit 0' TERM; sleep 1000 & wait"]}
  b: {image: busybox, command: [sh, -c, "trap 'exit 0' TERM; sleep 1000 & wait"], depends_on: [a]}
  c: {image: busybox, command: [sh, -c, "trap 'exit 0' TERM; sleep 1000 & wait"], depends_on: [b]}
YML

seconds() { awk -v t=$(($2 - $1)) 'BEGIN { printf "%.3f\n", t / 1e9 }'; }
# run SOCK: the seconds of one `docker run --rm busybox true`.
run_once() {
    local t0 t1
    t0=$(date +%s%N); on "$1" run --rm --network none busybox true; t1=$(date +%s%N)
    seconds "$t0" "$t1"
}
# compose SOCK ROUND: the seconds of `up -d` then `down`.
compose_once() {
    local t0 t1
    t0=$(date +%s%N)
    (cd "$WORK/project" && DOCKER_HOST=unix://$1 docker-compose -p "btapibench$2" up -d >/dev/null 2>&1 \
        && DOCKER_HOST=unix://$1 docker-compose -p "btapibench$2" down >/dev/null 2>&1)
    t1=$(date +%s%N)
    seconds "$t0" "$t1"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

RB=() RD=() CB=() CD=()
for r in $(seq 1 "$RUNS"); do
    if [ $((r % 2)) = 1 ]; then
        RB+=("$(run_once "$BSOCK")"); RD+=("$(run_once "$DSOCK")")
        CB+=("$(compose_once "$BSOCK" "$r")"); CD+=("$(compose_once "$DSOCK" "$r")")
    else
        RD+=("$(run_once "$DSOCK")"); RB+=("$(run_once "$BSOCK")")
        CD+=("$(compose_once "$DSOCK" "$r")"); CB+=("$(compose_once "$BSOCK" "$r")")
    fi
done
rb=$(printf '%s\n' "${RB[@]}" | median); rd=$(printf '%s\n' "${RD[@]}" | median)
cb=$(printf '%s\n' "${CB[@]}" | median); cd_=$(printf '%s\n' "${CD[@]}" | median)
printf '%-46s %10s %10s %8s %8s\n' "median of $RUNS" "berthd s" "dockerd s" ratio target
printf '%-46s %10s %10s %8s %8s\n' "docker run --rm busybox true" "$rb" "$rd" "$(ratio "$rb" "$rd")" "0.30x"
printf '%-46s %10s %10s %8s %8s\n' "docker-compose up -d + down, 3 services" "$cb" "$cd_" "$(ratio "$cb" "$cd_")" "0.50x"
printf '%-46s %10s\n' "berthd idle RSS, Docker API on (MiB)" "$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')"
echo "rounds: run berthd ${RB[*]}; dockerd ${RD[*]}; compose berthd ${CB[*]}; dockerd ${CD[*]}"
