#!/bin/bash
# What one more container costs when many exist: Berth next to podman 4.3
# (conmon + runc), in one run on the same machine, with ratios.
#
# For each population N (containers already running `sleep`), on no
# network and on one user-defined network:
#   * `run -d` of one more container (mean of RUNS, each removed again);
#   * `ps -a` and `inspect` of one container (mean of RUNS);
#   * `run --rm ... true` (mean of RUNS);
#   * the memory of what supervises the N containers: berthd + N
#     berth-shims against N conmons (PSS, KiB per container);
# and, after the largest N, `rm -f` of all of them (wall time) and berthd's
# RSS once they are gone, against its RSS when idle before the first.
# The targets are issue 21's: `run -d` at 1000 at most 1.2x its cost at 1,
# `ps -a` with 1000 under 50 ms, berthd PSS at most 25 KiB per container
# above idle and back within 2 MB of idle after all are removed, `rm -f`
# of many at most 0.5x podman's.
#
#   bench/scale.sh [N...]     (default: 1 10 100 1000; root)
#   RUNS=5 bench/scale.sh 1 10 100
#
# Both engines run in a throwaway network namespace (`bt-scale-PID`) that
# has nothing but loopback, so the user networks' bridges and rules die
# with it. Uses target/release/{berthd,berth,berth-shim,berth-runtime}
# (scripts/build.sh; BERTH_BIN_DIR overrides); private roots in a temp dir
# under /tmp/bt-*; everything is removed at the end (daemons by pid).
set -euo pipefail

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1 10 100 1000)
RUNS=${RUNS:-5}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "scale.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in podman runc netavark jq nsenter; do
    command -v "$p" >/dev/null || [ -x "/usr/lib/podman/$p" ] ||
        { echo "scale.sh: $p missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "scale.sh: run as root" >&2; exit 1; }

NS=bt-scale-$$
WORK=$(mktemp -d /tmp/bt-scale.XXXXXX)
BERTHD_PID=
SOCK=$WORK/b.sock
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
berth() { "$BIN/berth" -H "unix://$SOCK" "$@"; }
export CONTAINERS_CONF=$WORK/containers.conf
cat > "$CONTAINERS_CONF" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[network]
network_backend = "netavark"
network_config_dir = "$WORK/podman/networks"
EOF
mkdir -p "$WORK/podman/networks"
RUNC=$(command -v runc)
PODMAN="podman --root $WORK/podman/root --runroot $WORK/podman/run --cgroup-manager cgroupfs --events-backend none --runtime $RUNC"
# shellcheck disable=SC2086
pod() { in_ns $PODMAN "$@"; }
cleanup() {
    set +e
    berth ps -aq 2>/dev/null | xargs -r "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null 2>&1
    pod rm -f -t 0 -a >/dev/null 2>&1
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null
    grep -o " ${WORK}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
in_ns ip link set lo up

R=$WORK/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
tar -C "$R" -cf "$WORK/busybox.tar" .

echo "{}" > "$WORK/daemon.json"
nsenter --net="/run/netns/$NS" "$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" \
    --address "$SOCK" --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && berth version >/dev/null 2>&1 && break; sleep 0.1; done
berth import "$WORK/busybox.tar" busybox:latest >/dev/null
pod import "$WORK/busybox.tar" localhost/busybox:latest >/dev/null 2>&1
berth network create btscale >/dev/null
# /20: podman's default /24 holds 254 containers, the largest population is 1000.
pod network create --subnet 10.89.0.0/20 btscale >/dev/null
berth run --rm --network none busybox true
berth run --rm --network btscale busybox true
pod run --rm --network none localhost/busybox true
pod run --rm --network btscale localhost/busybox true

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
now_ms() { date +%s%3N; }
# Mean wall time in ms of running "$@" RUNS times.
mean_ms() {
    local t0 t1
    t0=$(now_ms)
    for _ in $(seq 1 "$RUNS"); do "$@" >/dev/null; done
    t1=$(now_ms)
    awk -v t=$((t1 - t0)) -v n="$RUNS" 'BEGIN { printf "%.1f", t / n }'
}
# PSS of the processes of one supervisor kind whose command line names WORK.
pss_of() {
    local total=0 p
    for p in $(pgrep -x "$1" || true); do
        grep -q "$WORK" "/proc/$p/cmdline" 2>/dev/null || continue
        total=$((total + $(pss_kib "$p")))
    done
    echo "$total"
}
# One more container, timed, then removed again (keeps the population).
berth_one_more() { berth run -d --network "$1" --name "bt-extra-$2" busybox sleep 100000; }
pod_one_more() { pod run -d --network "$1" --name "bt-extra-$2" localhost/busybox sleep 100000; }
run_more_ms() {
    local engine=$1 net=$2 t0 t1 i
    t0=$(now_ms)
    for i in $(seq 1 "$RUNS"); do "${engine}_one_more" "$net" "$i" >/dev/null; done
    t1=$(now_ms)
    for i in $(seq 1 "$RUNS"); do
        if [ "$engine" = berth ]; then berth rm -f "bt-extra-$i"; else pod rm -f -t 0 "bt-extra-$i"; fi
    done >/dev/null
    awk -v t=$((t1 - t0)) -v n="$RUNS" 'BEGIN { printf "%.1f", t / n }'
}
# Brings each engine's population on NET up to N running containers.
populate() {
    local net=$1 n=$2 have
    have=$(berth ps -q | wc -l)
    [ "$have" -lt "$n" ] && seq $((have + 1)) "$n" |
        xargs -P 4 -I{} "$BIN/berth" -H "unix://$SOCK" run -d --network "$net" --name "bt-pop-{}" busybox sleep 100000 >/dev/null
    have=$(pod ps -q | wc -l)
    # shellcheck disable=SC2086
    [ "$have" -lt "$n" ] && seq $((have + 1)) "$n" |
        xargs -P 4 -I{} nsenter --net="/run/netns/$NS" $PODMAN run -d --network "$net" --name "bt-pop-{}" localhost/busybox sleep 100000 >/dev/null
    return 0
}

IDLE_RSS=$(rss_kib "$BERTHD_PID")
IDLE_PSS=$(pss_kib "$BERTHD_PID")
echo "idle berthd: RSS $IDLE_RSS KiB, PSS $IDLE_PSS KiB"
printf '%-8s %6s | %-22s | %-22s | %-22s | %-22s | %-26s\n' network N "run -d ms (b/p)" "ps -a ms (b/p)" "inspect ms (b/p)" "run --rm ms (b/p)" "PSS KiB/ctr (b/p)"
for net in none btscale; do
    declare -A FIRST=()
    # Per-container memory is counted from what berthd holds before this
    # network's first population (it keeps some of the previous one's heap).
    IDLE_PSS=$(pss_kib "$BERTHD_PID")
    for n in "${SIZES[@]}"; do
        populate "$net" "$n"
        b_run=$(run_more_ms berth "$net"); p_run=$(run_more_ms pod "$net")
        b_ps=$(mean_ms berth ps -a); p_ps=$(mean_ms pod ps -a)
        b_in=$(mean_ms berth inspect bt-pop-1); p_in=$(mean_ms pod inspect bt-pop-1)
        b_rm=$(mean_ms berth run --rm --network "$net" busybox true)
        p_rm=$(mean_ms pod run --rm --network "$net" localhost/busybox true)
        b_pss=$(( $(pss_kib "$BERTHD_PID") + $(pss_of berth-shim) ))
        p_pss=$(pss_of conmon)
        b_per=$(( (b_pss - IDLE_PSS) / n )); p_per=$(( p_pss / n ))
        [ -n "${FIRST[run]:-}" ] || FIRST[run]=$b_run
        printf '%-8s %6d | %8s %8s %5s | %8s %8s %5s | %8s %8s %5s | %8s %8s %5s | %8d %8d %5s\n' \
            "$net" "$n" "$b_run" "$p_run" "$(ratio "$b_run" "$p_run")" "$b_ps" "$p_ps" "$(ratio "$b_ps" "$p_ps")" \
            "$b_in" "$p_in" "$(ratio "$b_in" "$p_in")" "$b_rm" "$p_rm" "$(ratio "$b_rm" "$p_rm")" \
            "$b_per" "$p_per" "$(ratio "$b_per" "$p_per")"
        echo "         berthd alone: PSS $(pss_kib "$BERTHD_PID") KiB ($(( ($(pss_kib "$BERTHD_PID") - IDLE_PSS) / n )) KiB per container above idle); run -d at N=$n is $(ratio "$b_run" "${FIRST[run]}") of N=${SIZES[0]}"
    done
    total=$(berth ps -aq | wc -l)
    t0=$(now_ms)
    # shellcheck disable=SC2046
    berth rm -f $(berth ps -aq) >/dev/null
    t1=$(now_ms)
    # shellcheck disable=SC2046
    pod rm -f -t 0 $(pod ps -aq) >/dev/null
    t2=$(now_ms)
    sleep 2
    printf 'rm -f of %d (%s): berth %d ms, podman %d ms, ratio %s; berthd RSS after: %d KiB (idle %d, +%d)\n' \
        "$total" "$net" $((t1 - t0)) $((t2 - t1)) "$(ratio $((t1 - t0)) $((t2 - t1)))" \
        "$(rss_kib "$BERTHD_PID")" "$IDLE_RSS" $(( $(rss_kib "$BERTHD_PID") - IDLE_RSS ))
done
