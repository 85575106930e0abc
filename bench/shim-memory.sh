#!/bin/bash
# Memory of berth-shim next to conmon (Debian's conmon 2.1.6, as podman runs
# it), each supervising `sleep` containers run by runc: RSS and PSS of one
# supervisor, then of 50, measured in one run on the same machine, with
# ratios. Private memory (Private_Clean + Private_Dirty, "USS") is printed
# too: it is what each extra container really costs.
#
#   bench/shim-memory.sh [N]          (N containers each, default 50; root)
#
# Uses target/release/berth-shim and target/release/examples/shimctl
# (cargo build --release -p berth-shim --bins --examples); BERTH_SHIM and
# SHIMCTL override them. Everything lives in a temp dir under /tmp/bt-*,
# removed at the end with every container, shim and conmon (by pid).
set -euo pipefail

N=${1:-50}
cd "$(dirname "$0")/.."
SHIM=${BERTH_SHIM:-$PWD/target/release/berth-shim}
SHIMCTL=${SHIMCTL:-$PWD/target/release/examples/shimctl}
RUNC=$(command -v runc)
CONMON=$(command -v conmon)
for f in "$SHIM" "$SHIMCTL" "$RUNC" "$CONMON"; do
    [ -x "$f" ] || { echo "shim-memory: $f missing (build: cargo build --release -p berth-shim --bins --examples; apt-get install runc conmon)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "shim-memory: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-shimmem.XXXXXX)
SHIM_PIDS=()
CONMON_PIDS=()
cleanup() {
    set +e
    for i in $(seq 1 "$N"); do
        "$RUNC" --root "$WORK/shimroot" delete --force "btshim$$-$i" >/dev/null 2>&1
        "$RUNC" --root "$WORK/cmroot" delete --force "btcm$$-$i" >/dev/null 2>&1
    done
    for p in "${SHIM_PIDS[@]}" "${CONMON_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# One busybox rootfs shared by every container (read-only), and a bundle
# per container: its config.json names that rootfs and puts the container's
# cgroups at /<id> (runc's default is under the caller's own cgroup).
R=$WORK/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
for a in sh sleep; do ln -s busybox "$R/bin/$a"; done
(cd "$WORK" && "$RUNC" spec && mv config.json spec.json)
bundle() { # $1: container id; prints the bundle dir
    local b="$WORK/bundles/$1"
    mkdir -p "$b"
    jq --arg root "$R" --arg cg "/$1" \
        '.process.terminal=false | .process.args=["sleep","1000000"] | .root.path=$root | .linux.cgroupsPath=$cg' \
        "$WORK/spec.json" > "$b/config.json"
    echo "$b"
}

start_shim() { # $1: n
    local id="btshim$$-$1" dir="$WORK/shim/$1" addr
    addr=$("$SHIM" --id "$id" --bundle "$(bundle "$id")" --state-dir "$dir" --runtime "$RUNC" \
        --runtime-root "$WORK/shimroot" --socket-dir "$WORK/s")
    SHIM_PIDS+=("$(cat "$dir/shim.pid")")
    "$SHIMCTL" "$addr" "$id" create "$dir/ctr.log" >/dev/null
    "$SHIMCTL" "$addr" "$id" start >/dev/null
}

start_conmon() { # $1: n
    local id="btcm$$-$1" dir="$WORK/conmon/$1"
    mkdir -p "$dir"
    "$CONMON" --api-version 1 -c "$id" -u "$id" -n "$id" -r "$RUNC" -b "$(bundle "$id")" \
        -p "$dir/pid" --exit-dir "$dir" --socket-dir-path "$dir" \
        -l "k8s-file:$dir/ctr.log" --log-level error \
        --runtime-arg --root --runtime-arg "$WORK/cmroot" \
        --conmon-pidfile "$dir/conmon.pid" </dev/null >/dev/null 2>&1
    CONMON_PIDS+=("$(cat "$dir/conmon.pid")")
    # Podman learns the container's pid over conmon's sync pipe; here the
    # pid file tells when `runtime create` is done.
    for _ in $(seq 1 500); do [ -s "$dir/pid" ] && break; sleep 0.01; done
    "$RUNC" --root "$WORK/cmroot" start "$id"
}

# Sums of VmRSS, Pss and Private_* (kB) over pids.
measure() {
    local rss=0 pss=0 uss=0 p
    for p in "$@"; do
        rss=$((rss + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status")))
        pss=$((pss + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")))
        uss=$((uss + $(awk '/^Private_(Clean|Dirty):/{s+=$2} END{print s}' "/proc/$p/smaps_rollup")))
    done
    echo "$rss $pss $uss"
}

mib() { awk -v k="$1" -v n="$2" 'BEGIN{printf "%.2f", k/n/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

report() { # $1: label, $2: count
    local s c
    read -r srss spss suss <<<"$(measure "${SHIM_PIDS[@]}")"
    read -r crss cpss cuss <<<"$(measure "${CONMON_PIDS[@]}")"
    printf '%-14s %-10s %10s %10s %10s\n' "$1" "" "RSS MiB" "PSS MiB" "USS MiB"
    printf '%-14s %-10s %10s %10s %10s\n' "" "berth-shim" "$(mib "$srss" "$2")" "$(mib "$spss" "$2")" "$(mib "$suss" "$2")"
    printf '%-14s %-10s %10s %10s %10s\n' "" "conmon" "$(mib "$crss" "$2")" "$(mib "$cpss" "$2")" "$(mib "$cuss" "$2")"
    printf '%-14s %-10s %10s %10s %10s\n' "" "shim/conmon" "$(ratio "$srss" "$crss")" "$(ratio "$spss" "$cpss")" "$(ratio "$suss" "$cuss")"
}

echo "berth-shim vs conmon $("$CONMON" --version | head -1 | awk '{print $3}'), runc $("$RUNC" --version | head -1 | awk '{print $3}'), per supervisor"
start_shim 1
start_conmon 1
sleep 3
report "1 container" 1
for i in $(seq 2 "$N"); do
    start_shim "$i"
    start_conmon "$i"
done
sleep 3
report "$N containers" "$N"
