#!/usr/bin/env bash
# Installs what Berth's build and tests need on Debian 12 (as root), from
# Debian's archive only:
# * the build: a C toolchain and pkg-config (rustup brings no linker, and
#   some dependencies compile C code). No protoc: the gRPC code is generated
#   by protox, a protobuf compiler in Rust that carries the well-known types;
# * the peers the tests compare against (runc, crun, podman, containerd,
#   dockerd, conmon), the image tools (skopeo, umoci, docker-registry),
#   busybox-static for test images, nftables (berthd drives `nft -j` for
#   published ports; tests list its rules), criu (checkpoint/restore of
#   berth-runtime and runc), rsyslog (the syslog log driver's tests and
#   bench/logs.sh run a private rsyslogd), openssl (the tcp+tls syslog
#   test makes its CA and certificate with the CLI), containernetworking-plugins
#   (the CRI's pod networking: bridge, host-local, loopback, portmap).
# Then checks that a Rust toolchain new enough for the workspace is on PATH.
# Idempotent: packages already present are left alone.
#
# `install-deps.sh --download-only` only fetches the missing packages into
# apt's cache (CI fetches them this way before it proves the set-up in a root
# whose network namespace reaches no archive: .ci/fresh-root.sh).
set -euo pipefail
download_only=false
if [ "${1:-}" = --download-only ]; then download_only=true; fi

# The workspace's `rust-version` (Cargo.toml).
min_rust=1.85

packages=(
  build-essential pkg-config
  busybox-static jq procps iproute2 util-linux time strace hyperfine tmux
  runc crun conmon podman netavark aardvark-dns containerd docker.io docker-registry skopeo umoci
  containernetworking-plugins
  python3-seccomp dbus-daemon dbus-bin ca-certificates tar gzip zstd curl python3
  python3-docker docker-compose
  tini nftables passwd criu rsyslog openssl
)

if [ "$(id -u)" != 0 ]; then
  echo "install-deps: run as root (it installs Debian packages with apt-get)" >&2
  exit 1
fi

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
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  if $download_only; then
    apt-get install -y -qq --download-only --no-install-recommends "${missing[@]}"
    exit 0
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if $download_only; then exit 0; fi

# "1.95.0" >= "1.85"? (sort -V orders version strings.)
version_at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}
for tool in cargo rustc; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-deps: $tool not found on PATH: Berth needs a Rust toolchain >= $min_rust (install it with rustup)" >&2
    exit 1
  fi
  have=$("$tool" --version | awk '{print $2}')
  if ! version_at_least "$have" "$min_rust"; then
    echo "install-deps: $tool $have is too old: Berth needs >= $min_rust (rustup update)" >&2
    exit 1
  fi
done
