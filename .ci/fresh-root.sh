#!/usr/bin/env bash
# Proves the README's set-up on a fresh Debian 12, on every CI run.
#
# CI runs on a used machine: packages that earlier work installed by hand
# hide a missing install step (the README's first command once failed on a
# fresh machine for want of `cc` and of protobuf's include files while CI
# was green). So this script builds Berth inside a minimal Debian 12 root
# that holds nothing but what `debootstrap --variant=minbase` gives, plus:
#   * the Rust toolchain, bind-mounted read-only (as rustup leaves it: no
#     linker, no C compiler);
#   * the machine's own TLS trust settings: the CA bundle that SSL_CERT_FILE
#     names, passed in as SSL_CERT_FILE and CARGO_HTTP_CAINFO, and the
#     machine's resolv.conf (apt and cargo must reach the registries);
#   * the crate download cache and apt's .deb cache and package lists, shared
#     (downloads only).
# Inside it runs `scripts/install-deps.sh` then `scripts/build.sh`: a missing
# package fails CI with the build's own error.
#
# Usage: .ci/fresh-root.sh build            the above
#        .ci/fresh-root.sh setup            the README's first command,
#                                           `scripts/setup.sh`, whole: install,
#                                           build, berthd as a service, and a real
#                                           container run through `berth`
#        .ci/fresh-root.sh deb DEB          scripts/check-deb.sh: installs, checks
#                                           and purges the package in a fresh root
#        .ci/fresh-root.sh run CMD...       CMD in another fresh root (with the
#                                           checkout at the same path, read-only)
#
# `setup` first fetches what install-deps.sh will install, in a root with the
# machine's network, into the shared caches: its own run has no network.
# `setup` runs berthd inside the root: it gets /sys (cgroups), a tmpfs /run
# and /var/lib/berth (overlayfs cannot take an overlay upper dir as its own
# upper dir), and a network namespace of its own (the default bridge and
# nftables table berthd makes live and die with it).
#
# Speed: the minbase root is made once and cached under /var/cache (never
# written after: each run gets a throwaway overlay on top, so installs never
# accumulate in the cache). The checkout is bind-mounted at its own path and
# the toolchain at its own, so the release build lands in the checkout's
# target/ with the paths a host build has: the host's `scripts/build.sh`
# afterwards finds it fresh instead of building everything twice.
#
# Everything runs in private mount and pid namespaces: every mount goes away
# with them, and so does any process a package script may have left.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

cache=${BERTH_CI_CACHE:-/var/cache/berth-ci}
pristine=$cache/bookworm-minbase
mirror=${BERTH_CI_MIRROR:-http://deb.debian.org/debian}

mode=${1:-build}
shift || true

if [ "$(id -u)" != 0 ]; then
  echo "fresh-root: run as root (debootstrap, mounts, chroot)" >&2
  exit 1
fi

if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

mkdir -p "$cache/apt-archives/partial" "$cache/apt-lists"
if [ ! -e "$pristine/.berth-ci-complete" ]; then
  echo "fresh-root: debootstrap --variant=minbase bookworm into $pristine"
  rm -rf "$pristine.tmp"
  debootstrap --variant=minbase --cache-dir="$cache/apt-archives" bookworm "$pristine.tmp" "$mirror"
  # The root as debootstrap leaves it, with apt's own download cache emptied.
  rm -f "$pristine.tmp"/var/cache/apt/archives/*.deb
  touch "$pristine.tmp/.berth-ci-complete"
  rm -rf "$pristine"
  mv "$pristine.tmp" "$pristine"
  rm -rf "$cache/apt-lists"
  mkdir -p "$cache/apt-lists"
fi
# apt's package lists, shared like its .deb cache, so that a run without
# network installs the versions an earlier run fetched.
if [ ! -e "$cache/apt-lists/.seeded" ]; then
  cp -a "$pristine/var/lib/apt/lists/." "$cache/apt-lists/"
  touch "$cache/apt-lists/.seeded"
fi

sysroot=$(rustc --print sysroot)
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$cargo_home/registry"
ca=${SSL_CERT_FILE:-}

work=$(mktemp -d /var/tmp/berth-ci-fresh.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/upper" "$work/work" "$work/root"

# The inner script runs in the new namespaces: its mounts are private and
# vanish when it ends.
inner=$(cat <<'INNER'
set -euo pipefail
root=$work/root
mount -t overlay overlay -o "lowerdir=$pristine,upperdir=$work/upper,workdir=$work/work" "$root"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
mount --bind "$cache/apt-lists" "$root/var/lib/apt/lists"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [ "$mode" = deb ]; then
  # check-deb.sh chroots into the root itself.
  exec bash "$src/scripts/check-deb.sh" "$root" "$1"
fi
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount -t tmpfs tmpfs "$root/tmp"
mkdir -p "$root$sysroot" "$root$src" "$root/root/.cargo/registry" "$root/opt/berth-ci"
mount --bind "$sysroot" "$root$sysroot"
mount -o remount,bind,ro "$root$sysroot"
mount --bind "$src" "$root$src"
if [ "$mode" = run ]; then mount -o remount,bind,ro "$root$src"; fi
mount --bind "$cargo_home/registry" "$root/root/.cargo/registry"
if [ "$mode" = setup ]; then
  mount --rbind /sys "$root/sys"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  mkdir -p "$root/var/lib/berth"
  mount -t tmpfs -o mode=0711 tmpfs "$root/var/lib/berth"
  ip link set lo up
fi
env=(HOME=/root "PATH=$sysroot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
     LANG=C.UTF-8 TERM=dumb CI=true CARGO_HOME=/root/.cargo)
if [ -n "$ca" ] && [ -f "$ca" ]; then
  cp "$ca" "$root/opt/berth-ci/ca.crt"
  env+=(SSL_CERT_FILE=/opt/berth-ci/ca.crt CARGO_HTTP_CAINFO=/opt/berth-ci/ca.crt)
fi
case $mode in
  fetch)
    exec chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c \
      'cd "$1" && bash scripts/install-deps.sh --download-only' fresh-root "$src" ;;
  build)
    exec chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c \
      'cd "$1" && bash scripts/install-deps.sh && bash scripts/build.sh' fresh-root "$src" ;;
  setup)
    exec chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c \
      'cd "$1" && bash scripts/setup.sh && service berthd stop' fresh-root "$src" ;;
esac
exec chroot "$root" /usr/bin/env -i "${env[@]}" "$@"
INNER
)
export work pristine sysroot src cargo_home cache ca mode
net=()
if [ "$mode" = setup ]; then
  # setup's network namespace reaches no archive: fetch first, with the
  # machine's network, into the shared caches.
  mode=fetch unshare --mount --pid --fork --propagation private bash -c "$inner" fresh-root "$@"
  rm -rf "$work/upper" "$work/work"
  mkdir -p "$work/upper" "$work/work"
  net=(--net)
fi
unshare --mount --pid --fork "${net[@]}" --propagation private bash -c "$inner" fresh-root "$@"
