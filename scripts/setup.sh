#!/usr/bin/env bash
# One-command set-up on a fresh Debian 12 machine (as root): installs the
# dependencies, builds and installs Berth's binaries to /usr/local/bin, and
# runs a real busybox container with berth-runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh
for b in berth-runtime berth-shim berthd berth; do
  if [ -x "target/release/$b" ]; then
    install -m 0755 "target/release/$b" /usr/local/bin/
  fi
done

# The main job: a busybox bundle run by berth-runtime.
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
trap 'rm -rf "$bundle"' EXIT
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' > "$bundle/rootfs/etc/passwd"
echo 'root:x:0:' > "$bundle/rootfs/etc/group"
cd "$bundle"
berth-runtime spec
jq '.process.terminal = false | .process.args = ["sh", "-c", "echo hello from berth; uname -r; id"]' \
  config.json > config.json.new && mv config.json.new config.json
berth-runtime run "berth-demo-$$"
