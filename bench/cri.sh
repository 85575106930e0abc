#!/bin/bash
# Kubernetes CRI: berthd next to containerd 1.6's CRI plugin (Debian), in one
# run, on the same CNI set-up (Debian's bridge + host-local, one private
# bridge and /24 each), driven by bt-cri-bench (the tests' generated CRI
# client). Prints berth/containerd ratios:
#   * cycle: RunPodSandbox until ready, StopPodSandbox, RemovePodSandbox;
#     median of N (issue 20's target: at most 0.5x containerd's time);
#   * scale: 30 pods started one after the other: total time, then the RSS
#     of the daemon and of the per-pod processes (berth: one berth-pause per
#     pod; containerd: one containerd-shim-runc-v2 and its pause process).
# CreateContainer/StartContainer are not in the cycle: berthd's CRI has no
# containers yet (docs/kubernetes.md).
#
#   bench/cri.sh [N]            (default 20; root)
#
# Uses $BERTH_BIN_DIR (default target/release) for berthd, berth-shim,
# berth-pause, berth-runtime and bt-cri-bench (cargo build --release -p
# berth-integration-tests --bin bt-cri-bench). containerd's sandbox image is a
# busybox `sleep` pushed to a private docker-registry on 127.0.0.1 and pulled
# (untimed) before measuring. Everything lives in /tmp/bt-cribench.*, removed
# at the end; daemons are stopped by pid, the bridges deleted.
set -euo pipefail

N=${1:-20}
SCALE=${SCALE:-30}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth-shim berth-pause berth-runtime bt-cri-bench; do
    [ -x "$BIN/$b" ] || { echo "cri.sh: $BIN/$b missing (scripts/build.sh; cargo build --release -p berth-integration-tests --bin bt-cri-bench)" >&2; exit 1; }
done
for p in containerd runc docker-registry umoci skopeo python3; do
    command -v "$p" >/dev/null || { echo "cri.sh: $p missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x /usr/lib/cni/bridge ] || { echo "cri.sh: /usr/lib/cni/bridge missing (apt-get install containernetworking-plugins)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "cri.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-cribench.XXXXXX)
TAG=$(( $$ % 100000 ))
BR_B=btcb$TAG
BR_C=btcc$TAG
PIDS=()
BSOCK=$WORK/berth-cri.sock
CSOCK=$WORK/ctd/c.sock
cleanup() {
    set +e
    [ -S "$BSOCK" ] && "$BIN/bt-cri-bench" "$BSOCK" clean >/dev/null 2>&1
    [ -S "$CSOCK" ] && "$BIN/bt-cri-bench" "$CSOCK" clean >/dev/null 2>&1
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill "${PIDS[$i]}" 2>/dev/null && wait "${PIDS[$i]}" 2>/dev/null
    done
    ip link del "$BR_B" 2>/dev/null
    ip link del "$BR_C" 2>/dev/null
    grep -o " ${WORK}[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_socket() { # path what
    for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done
    echo "cri.sh: $2 did not start" >&2; exit 1
}

# A registry on loopback with the pause-like image containerd runs.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/registry"
cat >"$WORK/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=($!)
L=$WORK/layout
umoci init --layout "$L"
umoci new --image "$L:p"
umoci unpack --image "$L:p" "$WORK/bundle" >/dev/null
R=$WORK/bundle/rootfs
mkdir -p "$R/bin" "$R/etc"
cp /bin/busybox "$R/bin/busybox"
for a in sleep sh; do ln -s busybox "$R/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
echo 'root:x:0:' >"$R/etc/group"
umoci repack --image "$L:p" "$WORK/bundle"
umoci config --image "$L:p" --config.cmd /bin/sleep --config.cmd 1000000
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT))" 2>/dev/null && break; sleep 0.05; done
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$L:p" "docker://127.0.0.1:$PORT/bt/pause:1"

cni_conf() { # dir bridge octet
    mkdir -p "$1/net.d" "$1/leases"
    cat >"$1/net.d/10-bench.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "bt-bench-$2",
 "plugins": [{"type": "bridge", "bridge": "$2", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.232.$3.0/24"}]], "dataDir": "$1/leases"}}]}
JSON
}
cni_conf "$WORK/cni-berth" "$BR_B" 1
cni_conf "$WORK/cni-ctd" "$BR_C" 2

cat >"$WORK/daemon.json" <<JSON
{"cni-conf-dir": "$WORK/cni-berth/net.d", "cni-bin-dir": "/usr/lib/cni",
 "nft-table": "bt_cribench$TAG", "bridge": "btcbd$TAG"}
JSON
"$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" --address "$WORK/b.sock" \
    --docker-address "" --cri-address "$BSOCK" --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
BERTHD=$!
PIDS+=($BERTHD)

mkdir -p "$WORK/ctd"
cat >"$WORK/ctd/config.toml" <<TOML
version = 2
root = "$WORK/ctd/root"
state = "$WORK/ctd/state"
[grpc]
  address = "$CSOCK"
[ttrpc]
  address = "$CSOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "127.0.0.1:$PORT/bt/pause:1"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$WORK/cni-ctd/net.d"
[plugins."io.containerd.grpc.v1.cri".registry.mirrors."127.0.0.1:$PORT"]
  endpoint = ["http://127.0.0.1:$PORT"]
TOML
containerd --config "$WORK/ctd/config.toml" >"$WORK/containerd.log" 2>&1 &
CTD=$!
PIDS+=($CTD)
wait_socket "$BSOCK" berthd
wait_socket "$CSOCK" containerd
sleep 0.5

# Untimed warm-up: containerd pulls its sandbox image, both load the CNI config.
"$BIN/bt-cri-bench" "$BSOCK" cycle 1 >/dev/null
"$BIN/bt-cri-bench" "$CSOCK" cycle 1 >/dev/null

value() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}x')"; }

echo "== cycle: RunPodSandbox (ready) + Stop + Remove, median of $N"
B=$("$BIN/bt-cri-bench" "$BSOCK" cycle "$N" | value median_ms)
C=$("$BIN/bt-cri-bench" "$CSOCK" cycle "$N" | value median_ms)
printf '%-12s %10s ms\n%-12s %10s ms\n%-12s %10s (target <= 0.50x)\n' berthd "$B" containerd "$C" ratio "$(ratio "$B" "$C")"

rss_kib() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_rss() { local t=0; for p in "$@"; do t=$((t + $(rss_kib "$p"))); done; echo $t; }
children() { # parent pids...
    for p in "$@"; do pgrep -P "$p" || true; done
}

echo "== scale: $SCALE pods started"
B=$("$BIN/bt-cri-bench" "$BSOCK" start "$SCALE" | value total_ms)
C=$("$BIN/bt-cri-bench" "$CSOCK" start "$SCALE" | value total_ms)
printf '%-12s %10s ms\n%-12s %10s ms\n%-12s %10s\n' berthd "$B" containerd "$C" ratio "$(ratio "$B" "$C")"
BPODS=$(for p in $(pgrep -x berth-pause); do [ "$(awk '{print $4}' /proc/$p/stat)" = "$BERTHD" ] && echo "$p"; done)
SHIMS=$(pgrep -f "containerd-shim-runc-v2 .*-address $CSOCK" || true)
CPODS="$SHIMS $(children $SHIMS)"
BD=$(rss_kib "$BERTHD"); CD=$(rss_kib "$CTD")
BP=$(sum_rss $BPODS); CP=$(sum_rss $CPODS)
printf '%-28s %10s %12s %8s\n' "RSS (KiB)" berthd containerd ratio
printf '%-28s %10s %12s %8s\n' "daemon" "$BD" "$CD" "$(ratio "$BD" "$CD")"
printf '%-28s %10s %12s %8s\n' "per-pod processes, total" "$BP" "$CP" "$(ratio "$BP" "$CP")"
printf '%-28s %10s %12s %8s\n' "daemon + pods" "$((BD + BP))" "$((CD + CP))" "$(ratio $((BD + BP)) $((CD + CP)))"
echo "(processes: berth $(echo $BPODS | wc -w) berth-pause; containerd $(echo $CPODS | wc -w) shims and pause processes)"
