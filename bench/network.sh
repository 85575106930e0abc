#!/bin/bash
# Berth's networks next to podman's (Debian's podman 4.3 + netavark 1.4 +
# runc), in one run on the same machine, with ratios:
#
#   1. `run --rm busybox true` on each one's default bridge network (both
#      create a veth pair, an address and their firewall rules, and remove
#      them again): wall time (hyperfine);
#   2. N x `run -d --network NET busybox sleep` on one user-defined network:
#      setup time, and the firewall rules each leaves in the kernel;
#   3. P x `run -d -p 80 busybox sleep` (random host port): setup time and
#      rule count;
#   4. the cost of one `run -d` on a user network that already holds 0, 25,
#      50, 75 containers (the mean of K runs at each size; a cost that grows
#      with the network shows here: berth's names come from its embedded
#      DNS server, podman's from aardvark-dns);
#
#   bench/network.sh [N] [P] [K]    (defaults 50, 20 and 5; root)
#
# Both engines run inside a throwaway network namespace (`bt-netbench-PID`)
# that has nothing but loopback: whatever they set up (bridges, nftables,
# netavark's ip_forward and masquerade rules) stays in there and dies with
# it, so nothing can route anywhere and the host's network is untouched.
# berthd runs there with its defaults (bridge `berth0`, nft table `berth`).
# Uses target/release/{berthd,berth,berth-shim,berth-runtime}
# (scripts/build.sh); private roots in a temp dir under /tmp/bt-*; every
# container, daemon, mount and the namespace are removed at the end.
set -euo pipefail

N=${1:-50}
P=${2:-20}
K=${3:-5}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "network.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in podman hyperfine jq nft nsenter; do
    command -v "$p" >/dev/null || { echo "network.sh: $p missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done
# podman's network backend and its DNS server (Debian installs neither with
# podman when recommends are off; without them podman exits 125).
for p in /usr/lib/podman/netavark /usr/lib/podman/aardvark-dns; do
    [ -x "$p" ] || { echo "network.sh: $p missing: apt-get install netavark aardvark-dns (bash scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "network.sh: run as root" >&2; exit 1; }

NS=bt-netbench-$$
WORK=$(mktemp -d /tmp/bt-netbench.XXXXXX)
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
    pod rm -f -a >/dev/null 2>&1
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null && wait "$BERTHD_PID" 2>/dev/null
    grep -o " ${WORK}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
in_ns ip link set lo up

# The image: busybox-static and its applets.
R=$WORK/rootfs
mkdir -p "$R/bin" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:' > "$R/etc/group"
tar -C "$R" -cf "$WORK/busybox.tar" .

echo "{}" > "$WORK/daemon.json"
# nsenter itself (not the in_ns function, whose subshell $! would name)
# execs berthd, so $! is berthd's pid and cleanup stops it.
nsenter --net="/run/netns/$NS" "$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" --address "$SOCK" \
    --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
BERTHD_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCK" ] && berth version >/dev/null 2>&1 && break; sleep 0.1; done
berth import "$WORK/busybox.tar" busybox:latest >/dev/null
pod import "$WORK/busybox.tar" localhost/busybox:latest >/dev/null 2>"$WORK/podman-import.err" ||
    { echo "network.sh: podman import failed:" >&2; cat "$WORK/podman-import.err" >&2; exit 1; }
# Warm both: the first run creates each one's default bridge, cgroup parents, caches.
berth run --rm busybox true
pod run --rm localhost/busybox true

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }
now_ms() { date +%s%3N; }
# Rules in the namespace's whole ruleset (podman's iptables-nft tables, or berth's table).
rule_count() { in_ns nft -j list ruleset | jq '[.nftables[] | select(.rule)] | length'; }

echo "== run --rm busybox true, default bridge network (hyperfine)"
hyperfine -N --warmup 3 --runs 30 --export-json "$WORK/run.json" \
    -n berth "$BIN/berth -H unix://$SOCK run --rm busybox true" \
    -n podman "nsenter --net=/run/netns/$NS $PODMAN run --rm localhost/busybox true"
b=$(jq '.results[0].mean * 1000' "$WORK/run.json")
p=$(jq '.results[1].mean * 1000' "$WORK/run.json")
printf 'run --rm (bridge): berth %.1f ms, podman %.1f ms, ratio %s (target <= 0.5x)\n' "$b" "$p" "$(ratio "$b" "$p")"

echo "== $N x run -d sleep on one user-defined network"
berth network create btbench >/dev/null
pod network create btbench >/dev/null
r0=$(rule_count)
t0=$(now_ms)
for i in $(seq 1 "$N"); do berth run -d --network btbench --name "btb$i" busybox sleep 100000 >/dev/null; done
t1=$(now_ms)
rb=$(($(rule_count) - r0))
berth ps -aq | xargs -r "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null
r0=$(rule_count)
t2=$(now_ms)
for i in $(seq 1 "$N"); do pod run -d --network btbench --name "btp$i" localhost/busybox sleep 100000 >/dev/null; done
t3=$(now_ms)
rp=$(($(rule_count) - r0))
pod rm -f -a -t 0 >/dev/null 2>&1
printf 'run -d x%d (user network): berth %d ms, podman %d ms, ratio %s; rules added: berth %d, podman %d\n' \
    "$N" $((t1 - t0)) $((t3 - t2)) "$(ratio $((t1 - t0)) $((t3 - t2)))" "$rb" "$rp"

echo "== $P x run -d -p 80 sleep (random host ports)"
r0=$(rule_count)
t0=$(now_ms)
for i in $(seq 1 "$P"); do berth run -d -p 80 --name "btbp$i" busybox sleep 100000 >/dev/null; done
t1=$(now_ms)
rb=$(($(rule_count) - r0))
berth ps -aq | xargs -r "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null
r0=$(rule_count)
t2=$(now_ms)
for i in $(seq 1 "$P"); do pod run -d -p 80 --name "btpp$i" localhost/busybox sleep 100000 >/dev/null; done
t3=$(now_ms)
rp=$(($(rule_count) - r0))
pod rm -f -a -t 0 >/dev/null 2>&1
printf 'run -d -p x%d: berth %d ms, podman %d ms, ratio %s; rules added: berth %d, podman %d\n' \
    "$P" $((t1 - t0)) $((t3 - t2)) "$(ratio $((t1 - t0)) $((t3 - t2)))" "$rb" "$rp"

echo "== one run -d on a user network holding 0/25/50/75 containers (mean of $K)"
berth network create btscale >/dev/null
pod network create btscale >/dev/null
# fill ENGINE SIZE: brings the network to SIZE long-lived members.
fill() {
    local have=$2
    while [ "$($1 ps -q --filter network=btscale | wc -l)" -lt "$have" ]; do
        if [ "$1" = berth ]; then
            berth run -d --network btscale busybox sleep 100000 >/dev/null
        else
            pod run -d --network btscale localhost/busybox sleep 100000 >/dev/null
        fi
    done
}
# timed ENGINE: the mean ms of K `run -d` on the network; those K go again.
timed() {
    local t0 t1 i
    t0=$(now_ms)
    for i in $(seq 1 "$K"); do
        if [ "$1" = berth ]; then
            berth run -d --network btscale --name "bts$i" busybox sleep 100000 >/dev/null
        else
            pod run -d --network btscale --name "bts$i" localhost/busybox sleep 100000 >/dev/null
        fi
    done
    t1=$(now_ms)
    for i in $(seq 1 "$K"); do
        if [ "$1" = berth ]; then berth rm -f "bts$i" >/dev/null; else pod rm -f -t 0 "bts$i" >/dev/null 2>&1; fi
    done
    echo $(((t1 - t0) / K))
}
first_b=; first_p=
for size in 0 25 50 75; do
    fill berth "$size"
    fill pod "$size"
    b=$(timed berth)
    p=$(timed pod)
    first_b=${first_b:-$b}; first_p=${first_p:-$p}
    printf 'run -d on a network of %2d: berth %d ms (%s of its cost at 0), podman %d ms (%s), berth/podman %s\n' \
        "$size" "$b" "$(ratio "$b" "$first_b")" "$p" "$(ratio "$p" "$first_p")" "$(ratio "$b" "$p")"
done
berth ps -aq | xargs -r "$BIN/berth" -H "unix://$SOCK" rm -f >/dev/null
pod rm -f -a -t 0 >/dev/null 2>&1
