#!/bin/bash
# Log drivers under load: a container writes MB megabytes of short lines
# (50 bytes) as fast as it can; wall time from `run -d` until it has exited
# AND every line is stored by the driver's sink, for berth and a private
# dockerd 20.10 (Debian docker.io, its own containerd) side by side, with
# ratios (targets, issue 19: each <= docker's, json-file <= 0.5x):
#
#   json-file  lines counted in the container's log file (inspect LogPath);
#   syslog     tcp to a private rsyslogd on 127.0.0.1 writing a file
#              (lines counted there): rsyslog's own pace shows in both rows;
#   local      until `logs` has read the last line back (rotated,
#              compressed files included: the default 20 MB x 5);
#   journald   a private systemd-journald (its own mount namespace with
#              tmpfs /run/systemd, /run/log, /var/log/journal and a
#              journald.conf without rate limits; berthd, containerd and
#              dockerd run in that namespace): until the line the container
#              writes after its MB is the journal's last entry for it; the
#              entries are counted afterwards (a shortfall is printed).
#
#   bench/logs.sh [MB]        (default 100; root)
#
# Uses $BERTH_BIN_DIR (default target/release) for berthd, berth,
# berth-shim, berth-runtime. Everything lives in a temp dir /tmp/bt-logbench.*
# and is removed at the end; daemons are stopped by pid.
set -euo pipefail

MB=${1:-100}
cd "$(dirname "$0")/.."
BIN=${BERTH_BIN_DIR:-$PWD/target/release}
for b in berthd berth berth-shim berth-runtime; do
    [ -x "$BIN/$b" ] || { echo "logs.sh: $BIN/$b missing (bash scripts/build.sh)" >&2; exit 1; }
done
for p in dockerd containerd rsyslogd journalctl nsenter unshare; do
    command -v "$p" >/dev/null || { echo "logs.sh: $p missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "logs.sh: run as root" >&2; exit 1; }

WORK=$(mktemp -d /tmp/bt-logbench.XXXXXX)
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

# rsyslogd: tcp on 127.0.0.1, every message's text to one file.
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/rsyslog"
cat > "$WORK/rsyslog/conf" <<EOF
global(workDirectory="$WORK/rsyslog")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$RPORT")
template(name="m" type="string" string="%msg%\n")
*.* action(type="omfile" file="$WORK/rsyslog/out" template="m" asyncWriting="on" ioBufferSize="1m" flushOnTXEnd="off")
EOF
rsyslogd -n -f "$WORK/rsyslog/conf" -i "$WORK/rsyslog/pid" >"$WORK/rsyslog/log" 2>&1 &
PIDS+=($!)

# journald in a mount namespace of its own; the daemons join it (IN).
mkdir -p "$WORK/journald"
printf '%s\n' '[Journal]' Storage=volatile RuntimeMaxUse=4G RuntimeMaxFileSize=512M \
    RateLimitIntervalSec=0 RateLimitBurst=0 > "$WORK/journald/journald.conf"
unshare -m --propagation private sh -c "for d in /run/systemd /run/log /var/log/journal; do mount -t tmpfs -o mode=0755 tmpfs \$d; done; mount --bind $WORK/journald/journald.conf /etc/systemd/journald.conf; exec /lib/systemd/systemd-journald" >"$WORK/journald/log" 2>&1 &
JPID=$!
PIDS+=($JPID)
for _ in $(seq 1 100); do [ -S "/proc/$JPID/root/run/systemd/journal/socket" ] && break; sleep 0.1; done
IN=(nsenter -t "$JPID" -m)
journal() { "${IN[@]}" journalctl --no-pager "$@"; }

echo "{}" > "$WORK/daemon.json"
"${IN[@]}" "$BIN/berthd" --root "$WORK/berth/root" --state "$WORK/berth/state" --address "$SOCK" \
    --config "$WORK/daemon.json" >"$WORK/berthd.log" 2>&1 &
PIDS+=($!)
"${IN[@]}" containerd --root "$WORK/ctd/root" --state "$WORK/ctd/state" --address "$WORK/ctd.sock" \
    >"$WORK/containerd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do [ -S "$WORK/ctd.sock" ] && break; sleep 0.1; done
echo "{\"deprecated-key-path\": \"$WORK/key.json\"}" > "$WORK/dockerd.json"
"${IN[@]}" dockerd --config-file "$WORK/dockerd.json" --bridge=none --iptables=false --ip-masq=false \
    --ip6tables=false --ip-forward=false --data-root "$WORK/docker" --exec-root "$WORK/dexec" \
    -H "unix://$DSOCK" --pidfile "$WORK/dockerd.pid" --containerd "$WORK/ctd.sock" \
    --default-ulimit nofile=20000:20000 >"$WORK/dockerd.log" 2>&1 &
PIDS+=($!)
mkdir -p "$WORK/dcli"
for _ in $(seq 1 300); do
    [ -S "$SOCK" ] && [ -S "$DSOCK" ] && berth version >/dev/null 2>&1 && docker version >/dev/null 2>&1 && break
    sleep 0.1
done
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$RPORT") 2>/dev/null && break; sleep 0.1; done
berth import "$WORK/busybox.tar" busybox:latest >/dev/null
docker import "$WORK/busybox.tar" localhost/busybox:latest >/dev/null

BYTES=$((MB * 1000000))
LINE=0123456789012345678901234567890123456789012345678
LINES=$((BYTES / 50))
# awk, not `yes | head`: nothing here depends on SIGPIPE.
SCRIPT="awk 'BEGIN { for (i = 0; i < $LINES; i++) print \"$LINE\" }'"
# journald: a last line to wait for (entries are otherwise all alike).
JSCRIPT="$SCRIPT; echo bench-end"

now() { date +%s.%N; }
count_lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
# wait_lines FILE N: until FILE holds N lines (at most 600 s).
wait_lines() {
    local end=$((SECONDS + 600))
    while [ "$(count_lines "$1")" -lt "$2" ]; do
        [ $SECONDS -lt $end ] || { echo "logs.sh: $1 stuck at $(count_lines "$1") of $2 lines" >&2; return 1; }
        sleep 0.05
    done
}

# one ENGINE DRIVER: prints the seconds until exit + all lines stored.
one() {
    local engine=$1 driver=$2 img=busybox t0 id code path
    local opts=(--log-driver "$driver")
    [ "$engine" = docker ] && img=localhost/busybox
    case $driver in
        syslog) opts+=(--log-opt "syslog-address=tcp://127.0.0.1:$RPORT" --log-opt tag=bench); : > "$WORK/rsyslog/out" ;;
    esac
    local script=$SCRIPT
    [ "$driver" = journald ] && script=$JSCRIPT
    t0=$(now)
    id=$($engine run -d --network none "${opts[@]}" $img sh -c "$script")
    code=$($engine wait "$id")
    [ "$code" = 0 ] || { echo "logs.sh: $engine $driver container exited $code" >&2; return 1; }
    case $driver in
        json-file)
            path=$($engine inspect -f '{{.LogPath}}' "$id")
            wait_lines "$path" "$LINES" ;;
        syslog) wait_lines "$WORK/rsyslog/out" "$LINES" ;;
        local) $engine logs "$id" 2>/dev/null | tail -n 1 >/dev/null ;;
        journald)
            id=$($engine inspect -f '{{.Id}}' "$id")
            local end=$((SECONDS + 600))
            until [ "$(journal -n 1 -o cat "CONTAINER_ID_FULL=$id")" = bench-end ]; do
                [ $SECONDS -lt $end ] || { echo "logs.sh: $engine journald: no last line" >&2; return 1; }
                sleep 0.05
            done ;;
    esac
    awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
    if [ "$driver" = journald ]; then
        local n
        n=$(journal -o cat "CONTAINER_ID_FULL=$id" | wc -l)
        [ "$n" -eq $((LINES + 1)) ] || printf ' (%s of %s entries)' "$n" $((LINES + 1))
    fi
    $engine rm -f "$id" >/dev/null
}

ratio() {
    case "$1 $2" in
        *n/a* | *fail*) echo n/a ;;
        *) awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }' ;;
    esac
}

echo "== $MB MB of 50-byte lines ($LINES lines), wall seconds until exit and all stored"
printf '%-10s %10s %10s %8s %s\n' driver berth docker ratio target
for driver in json-file syslog local journald; do
    d=$(one docker "$driver") || d=fail
    b=$(one berth "$driver") || b=fail
    target="<= 1.00x"
    [ "$driver" = json-file ] && target="<= 0.50x"
    printf '%-10s %10s %10s %8s %s\n' "$driver" "$b" "$d" "$(ratio "$b" "$d")" "$target"
done
