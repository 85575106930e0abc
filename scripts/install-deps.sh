#!/usr/bin/env bash
# Installs what Berth's build and tests need on Debian 12 (as root), from
# Debian's archive only: the peers the tests compare against (runc, crun,
# podman, containerd, dockerd, conmon), the image tools (skopeo, umoci,
# docker-registry), busybox-static for test images, protoc for the gRPC code,
# nftables (berthd drives `nft -j` for published ports; tests list its rules).
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
  busybox-static jq protobuf-compiler procps iproute2 util-linux time strace hyperfine tmux
  runc crun conmon podman containerd docker.io docker-registry skopeo umoci
  python3-seccomp dbus-daemon dbus-bin ca-certificates tar gzip zstd curl python3
  tini nftables
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  # Daemons must not be started by their postinst on this machine (no systemd):
  # tests start private instances themselves.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

if ! command -v cargo >/dev/null; then
  echo "install-deps: cargo not found: Berth needs a Rust toolchain >= 1.85 (rustup)" >&2
  exit 1
fi
