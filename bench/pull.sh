#!/bin/bash
# Pull + unpack of a two-layer image (~200 MB gzip / ~500 MB unpacked) from a
# local docker-registry: berth vs `ctr images pull --plain-http` (Debian
# containerd, private root) vs `podman pull`, each from an empty store, side
# by side in one run. Target (issue 5): berth at most 0.5x ctr's time.
#
# The layers are files of this machine (no network): layer 1 takes libraries
# from /usr/lib/x86_64-linux-gnu, layer 2 text and data from /usr/share.
#
# Usage: bench/pull.sh [RUNS]   (root; berthd/berth from target/release or
# BERTH_BIN_DIR; needs docker-registry, skopeo, containerd, podman, python3)
set -euo pipefail

RUNS=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BERTH_BIN_DIR:-$HERE/target/release}
LIB_MB=${LIB_MB:-330}
SHARE_MB=${SHARE_MB:-170}
[ "$(id -u)" = 0 ] || { echo "pull.sh: run as root" >&2; exit 1; }
for b in "$BIN/berthd" "$BIN/berth"; do
    [ -x "$b" ] || { echo "pull.sh: $b not built (cargo build --release -p berth-manager -p berth-cli)" >&2; exit 1; }
done

W=$(mktemp -d /tmp/bt-bench-pull.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    # Unmount anything left under the work dir (deepest first).
    awk -v d="$W" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# --- the image -------------------------------------------------------------
echo "building the image in $W ..."
pick() { # DIR MB -> list of files, sorted, up to MB megabytes
    find "$1" -xdev -type f -links 1 -printf '%s %p\n' 2>/dev/null | sort -k2 |
        awk -v max=$(($2 * 1024 * 1024)) '{ size = $1; sub(/^[0-9]+ /, ""); if (t + size <= max) { t += size; print } }'
}
mkdir -p "$W/oci/blobs/sha256"
layer() { # N DIR MB
    pick "$2" "$3" | sed 's|^/||' > "$W/files$1"
    tar -C / --no-recursion -T "$W/files$1" -cf "$W/layer$1.tar"
    DIFF[$1]=sha256:$(sha256sum "$W/layer$1.tar" | cut -d' ' -f1)
    gzip -6 -c "$W/layer$1.tar" > "$W/layer$1.tar.gz"
    USIZE[$1]=$(stat -c %s "$W/layer$1.tar")
    rm "$W/layer$1.tar"
    local hex; hex=$(sha256sum "$W/layer$1.tar.gz" | cut -d' ' -f1)
    mv "$W/layer$1.tar.gz" "$W/oci/blobs/sha256/$hex"
    LDIG[$1]=sha256:$hex
    LSIZE[$1]=$(stat -c %s "$W/oci/blobs/sha256/$hex")
}
declare -a DIFF LDIG LSIZE USIZE
layer 1 /usr/lib/x86_64-linux-gnu "$LIB_MB"
layer 2 /usr/share "$SHARE_MB"
put() { local hex; hex=$(printf '%s' "$1" | sha256sum | cut -d' ' -f1); printf '%s' "$1" > "$W/oci/blobs/sha256/$hex"; echo "sha256:$hex"; }
CONFIG=$(printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["%s","%s"]}}' "${DIFF[1]}" "${DIFF[2]}")
CDIG=$(put "$CONFIG")
MANIFEST=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}]}' \
    "$CDIG" ${#CONFIG} "${LDIG[1]}" "${LSIZE[1]}" "${LDIG[2]}" "${LSIZE[2]}")
MDIG=$(put "$MANIFEST")
echo '{"imageLayoutVersion":"1.0.0"}' > "$W/oci/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}' \
    "$MDIG" ${#MANIFEST} > "$W/oci/index.json"
COMPRESSED=$(( (LSIZE[1] + LSIZE[2]) / 1000000 ))
UNPACKED=$(( (USIZE[1] + USIZE[2]) / 1000000 ))
echo "image: 2 layers, ${COMPRESSED} MB gzip, ${UNPACKED} MB unpacked"

# --- the registry -----------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$W/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$W/registry.yml" > "$W/registry.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; python3 -c 'import time; time.sleep(0.1)'; done
REF=127.0.0.1:$PORT/bench:1
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$W/oci:1" "docker://$REF"

# --- berth ------------------------------------------------------------------
run_berth() {
    local d=$W/berth
    rm -rf "$d"; mkdir -p "$d"
    echo '{}' > "$d/daemon.json"
    "$BIN/berthd" --root "$d/root" --state "$d/state" --address "$d/b.sock" --config "$d/daemon.json" --log-level warn > "$d/log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do [ -S "$d/b.sock" ] && break; python3 -c 'import time; time.sleep(0.05)'; done
    local t0 t1
    t0=$(now)
    "$BIN/berth" -H "unix://$d/b.sock" pull -q "$REF" > /dev/null
    t1=$(now)
    kill "$pid"; wait "$pid" || true
    elapsed "$t0" "$t1"
}

# --- containerd / ctr ---------------------------------------------------------
run_ctr() {
    local d=$W/ctr
    rm -rf "$d"; mkdir -p "$d"
    cat > "$d/config.toml" <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/c.sock"
[ttrpc]
  address = "$d/c.sock.ttrpc"
EOF
    containerd --config "$d/config.toml" > "$d/log" 2>&1 &
    local pid=$!
    for _ in $(seq 100); do [ -S "$d/c.sock" ] && break; python3 -c 'import time; time.sleep(0.05)'; done
    local t0 t1
    t0=$(now)
    ctr -a "$d/c.sock" images pull --plain-http "$REF" > /dev/null
    t1=$(now)
    kill "$pid"; wait "$pid" || true
    awk -v d="$d" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" || true; done
    elapsed "$t0" "$t1"
}

# --- podman -------------------------------------------------------------------
run_podman() {
    local d=$W/podman
    rm -rf "$d"; mkdir -p "$d"
    local t0 t1
    t0=$(now)
    podman --root "$d/root" --runroot "$d/run" --storage-driver overlay pull -q --tls-verify=false "$REF" > /dev/null
    t1=$(now)
    podman --root "$d/root" --runroot "$d/run" --storage-driver overlay rmi -a -f > /dev/null 2>&1 || true
    awk -v d="$d" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" || true; done
    elapsed "$t0" "$t1"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
B=(); C=(); P=()
for i in $(seq "$RUNS"); do
    B+=("$(run_berth)"); C+=("$(run_ctr)"); P+=("$(run_podman)")
    echo "run $i: berth ${B[-1]} s, ctr ${C[-1]} s, podman ${P[-1]} s"
done
MB=$(median "${B[@]}"); MC=$(median "${C[@]}"); MP=$(median "${P[@]}")
echo
echo "pull + unpack of ${COMPRESSED} MB gzip / ${UNPACKED} MB unpacked, median of $RUNS:"
echo "  berth  $MB s"
echo "  ctr    $MC s"
echo "  podman $MP s"
python3 -c "print(f'  berth/ctr = {$MB/$MC:.2f}x (target <= 0.5x), berth/podman = {$MB/$MP:.2f}x')"
