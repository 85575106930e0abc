#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 machine (as root): installs the
# dependencies, builds and installs Berth's binaries to /usr/local/bin, and
# runs a real busybox container with berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
for b in berth-runtime berth-shim berth-pause berthd berth; do
  if [ -x "target/release/$b" ]; then
    install -m 0755 "target/release/$b" /usr/local/bin/
  fi
done

# berthd as a service: the init script (`service berthd start|stop|status`
# on a machine without systemd, as this set-up targets), and group `berth`,
# whose members may use the API socket without root.
install -m 0755 dist/init.d/berthd /etc/init.d/berthd
if [ ! -e /etc/default/berthd ]; then
  install -m 0644 dist/default/berthd /etc/default/berthd
fi
getent group berth >/dev/null || groupadd --system berth

# The main job: berthd running (an already running one is fine), a busybox
# image imported from Debian's busybox-static (no registry can be reached),
# and a container run by berth. With systemd, its sysv generator makes a
# unit of the init script once told to look.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
if ! berth version >/dev/null 2>&1; then
  service berthd start
fi
if ! berth image inspect busybox >/dev/null 2>&1; then
  rootfs=$(mktemp -d /tmp/berth-busybox.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp" "$rootfs/root"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
  echo 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >> "$rootfs/etc/passwd"
  tar -C "$rootfs" -c . | berth import --change 'CMD ["sh"]' - busybox:latest
fi
berth run --rm busybox echo hello from berth
