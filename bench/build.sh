#!/bin/bash
# `berth build` next to docker 20.10's classic builder and its BuildKit
# (DOCKER_BUILDKIT=1), a private dockerd (Debian docker.io, its own
# containerd, runc), in one run, on issue 17's four scenarios (wall time of
# the build command, median of RUNS rounds, ratios to BuildKit):
#
#   1. cold multi-stage: two independent stages of SLEEP seconds each, a final
#      stage copying from both (--no-cache); targets: at most BuildKit's, the
#      two stages visibly in parallel (about SLEEP, not 2 x SLEEP);
#   2. rebuild with nothing changed; target: at most 0.5x BuildKit's, < 200 ms;
#   3. rebuild after one file of a 5000-file COPY'd tree changed; target: at
#      most 0.5x BuildKit's;
#   4. a RUN with a cache mount (50 MB written once) rerun by a second build
#      whose input changed: the second build's time (the classic builder has
#      no cache mounts: n/a).
#
#   bench/build.sh            (root; RUNS=3 SLEEP=3 by default)
#
# All builds use `--network none` (the private dockerd has no bridge). Uses
# $BERTH_BIN_DIR (default target/release) for berthd, berth, berth-shim,
# berth-runtime. Everything lives in a temp dir /tmp/bt-buildbench.* and is
# removed at the end; daemons are stopped by pid. buildah is not measured
# (it needs its own storage and image set-up; not done yet).
set -euo pipefail

RUNS=${RUNS:-3}
SLEEP=${SLEEP:-3}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "build.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in dockerd containerd runc; do
    command -v "$p" >/dev/null || { echo "build.sh: $p missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-buildbench.XXXXXX)
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

# The base image: busybox-static and its applets.
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
berth import -c 'ENV PATH=/bin' "$WORK/busybox.tar" localhost/busybox:latest >/dev/null
docker import -c 'ENV PATH=/bin' "$WORK/busybox.tar" localhost/busybox:latest >/dev/null

# The contexts.
C1=$WORK/ctx-stages
mkdir -p "$C1"
cat > "$C1/Dockerfile" <<EOF
FROM localhost/busybox:latest AS one
RUN sleep $SLEEP && echo one > /one
FROM localhost/busybox:latest AS two
RUN sleep $SLEEP && echo two > /two
FROM localhost/busybox:latest
COPY --from=one /one /one
COPY --from=two /two /two
EOF
C3=$WORK/ctx-tree
mkdir -p "$C3/tree"
for d in $(seq 0 49); do
    mkdir -p "$C3/tree/d$d"
    for f in $(seq 0 99); do echo "$d-$f" > "$C3/tree/d$d/f$f"; done
done
cat > "$C3/Dockerfile" <<'EOF'
FROM localhost/busybox:latest
COPY tree /tree
RUN ls -R /tree | wc -l > /count
EOF
C4=$WORK/ctx-cachemount
mkdir -p "$C4"
cat > "$C4/Dockerfile" <<'EOF'
FROM localhost/busybox:latest
COPY stamp /stamp
RUN --mount=type=cache,target=/cache sh -c 'if [ ! -f /cache/data ]; then dd if=/dev/urandom of=/cache/data bs=1M count=50 2>/dev/null; fi; md5sum /cache/data > /sum'
EOF

# build ENGINE CONTEXT [ARGS...]: prints the build's wall seconds.
build() {
    local engine=$1 ctx=$2 t0 t1
    shift 2
    t0=$(date +%s%N)
    case $engine in
    berth) berth build -q --network none "$@" "$ctx" >/dev/null ;;
    classic) DOCKER_BUILDKIT=0 docker build -q --network none "$@" "$ctx" >/dev/null ;;
    buildkit) DOCKER_BUILDKIT=1 docker build -q --network none "$@" "$ctx" >/dev/null ;;
    esac
    t1=$(date +%s%N)
    awk -v t=$((t1 - t0)) 'BEGIN { printf "%.3f\n", t / 1e9 }'
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

declare -A T
for engine in berth classic buildkit; do
    s1=() s2=() s3=() s4=()
    for r in $(seq 1 "$RUNS"); do
        s1+=("$(build $engine "$C1" --no-cache -t "bench-stages:$engine")")
        s2+=("$(build $engine "$C1" -t "bench-stages:$engine")")
        build $engine "$C3" -t "bench-tree:$engine" >/dev/null
        echo "changed $r $engine" > "$C3/tree/d7/f7"
        s3+=("$(build $engine "$C3" -t "bench-tree:$engine")")
        if [ $engine != classic ]; then
            echo "a $r" > "$C4/stamp"
            build $engine "$C4" -t "bench-cm:$engine" >/dev/null
            echo "b $r" > "$C4/stamp"
            s4+=("$(build $engine "$C4" -t "bench-cm:$engine")")
        fi
    done
    T[$engine,1]=$(printf '%s\n' "${s1[@]}" | median)
    T[$engine,2]=$(printf '%s\n' "${s2[@]}" | median)
    T[$engine,3]=$(printf '%s\n' "${s3[@]}" | median)
    if [ $engine != classic ]; then T[$engine,4]=$(printf '%s\n' "${s4[@]}" | median); else T[$engine,4]=n/a; fi
    echo "rounds $engine: cold ${s1[*]}; nothing changed ${s2[*]}; one file ${s3[*]}; cache mount ${s4[*]:-n/a}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "n/a" || b == 0) print "n/a"; else printf "%.2fx", a / b }'; }
printf '%-46s %9s %9s %9s %14s\n' "scenario (median of $RUNS, seconds)" berth classic buildkit "berth/buildkit"
names=("1. cold multi-stage (2 x ${SLEEP}s stages)" "2. rebuild, nothing changed" "3. rebuild, 1 of 5000 files changed" "4. RUN with a reused cache mount")
for i in 1 2 3 4; do
    printf '%-46s %9s %9s %9s %14s\n' "${names[$((i - 1))]}" "${T[berth,$i]}" "${T[classic,$i]}" "${T[buildkit,$i]}" \
        "$(ratio "${T[berth,$i]}" "${T[buildkit,$i]}")"
done
