#!/usr/bin/env bash
# Installs the berth .deb into a Debian root and removes it again, as an
# admin would, and checks what each step leaves:
#   * `apt-get install ./berth_*.deb` pulls the package's dependencies from
#     the root's own apt sources;
#   * berth, berthd and berth-runtime answer --version there; man pages,
#     completions, the commented /etc/berth/daemon.json (a conffile), the
#     init script and group berth are in place; nothing was started (the
#     root is a chroot: policy-rc.d says 101, and the maintainer scripts must
#     respect it);
#   * `dpkg --purge berth` leaves no file of the package, no new path with
#     "berth" in its name, no group berth and no process.
#
# Usage: scripts/check-deb.sh ROOT DEB
#   ROOT  a Debian 12 root (debootstrap --variant=minbase bookworm ROOT), which
#         this script changes: pass a throwaway copy or overlay.
#   DEB   target/debian/berth_<version>_<arch>.deb (scripts/build-deb.sh)
#
# Runs in private mount and pid namespaces: its mounts (proc, dev) go away
# with it, and so would any process a package script left behind.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 ROOT DEB" >&2
  exit 2
fi
root=$(realpath "$1")
deb=$(realpath "$2")
[ "$(id -u)" = 0 ] || { echo "check-deb: run as root (chroot, mounts)" >&2; exit 1; }
[ -x "$root/usr/bin/apt-get" ] || { echo "check-deb: $root is not a Debian root (no usr/bin/apt-get)" >&2; exit 1; }
[ -f "$deb" ] || { echo "check-deb: $deb: no such file" >&2; exit 1; }

if [ -z "${BERTH_CHECK_DEB_INNER:-}" ]; then
  export BERTH_CHECK_DEB_INNER=1
  exec unshare --mount --pid --fork --propagation private bash "$0" "$root" "$deb"
fi

fail() {
  echo "check-deb: FAIL: $*" >&2
  exit 1
}
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }

mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
# apt needs name resolution; the root's own resolv.conf comes back at the end.
resolv_saved=$(mktemp)
cp -a "$root/etc/resolv.conf" "$resolv_saved" 2>/dev/null || rm -f "$resolv_saved"
cp /etc/resolv.conf "$root/etc/resolv.conf"
policy_added=
if [ ! -e "$root/usr/sbin/policy-rc.d" ]; then
  printf '#!/bin/sh\n# check-deb: no service starts in this chroot\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  policy_added=1
fi
cleanup() {
  rm -f "$root/tmp/berth-check.deb"
  [ -z "$policy_added" ] || rm -f "$root/usr/sbin/policy-rc.d"
  if [ -e "${resolv_saved:-/nonexistent}" ]; then
    cp -a "$resolv_saved" "$root/etc/resolv.conf"
    rm -f "$resolv_saved"
  fi
}
trap cleanup EXIT

# Paths with "berth" in their name, outside the virtual file systems and
# apt's and dpkg's own records.
berth_paths() {
  (cd "$root" && find . -xdev \
    \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
    -o -path ./var/lib/dpkg -o -path ./var/cache/apt -o -path ./var/lib/apt \
    -o -path ./var/log/apt \) -prune -o -iname '*berth*' -print | sort)
}
# Processes of the package (every process in this pid namespace is ours or
# its children).
berth_processes() {
  for stat in "$root"/proc/[0-9]*/comm; do
    comm=$(cat "$stat" 2>/dev/null) || continue
    case "$comm" in berth*) echo "${stat%/comm} $comm" ;; esac
  done
}

before=$(berth_paths)
cp "$deb" "$root/tmp/berth-check.deb"
echo "check-deb: apt-get install ./$(basename "$deb") in $root"
in_root apt-get update -qq
in_root apt-get install -y -q --no-install-recommends /tmp/berth-check.deb

echo "check-deb: installed; checking"
# shellcheck disable=SC2016 # dpkg-query format, not shell
version=$(in_root dpkg-query -W -f '${Version}' berth)
out=$(in_root berth --version) || fail "berth --version failed: $out"
[[ $out == *"$version"* ]] || fail "berth --version says '$out', package is $version"
out=$(in_root berthd --version) || fail "berthd --version failed: $out"
[[ $out == *"$version"* ]] || fail "berthd --version says '$out', package is $version"
out=$(in_root berth-runtime --version) || fail "berth-runtime --version failed: $out"
[[ $out == "berth-runtime version $version"* ]] || fail "berth-runtime --version says '$out'"
[ -x "$root/usr/bin/berth-shim" ] || fail "no /usr/bin/berth-shim"
[ -x "$root/usr/bin/berth-pause" ] || fail "no /usr/bin/berth-pause"
for page in man1/berth.1.gz man1/berth-run.1.gz man8/berthd.8.gz man8/berth-runtime.8.gz man8/berth-runtime-create.8.gz; do
  gzip -t "$root/usr/share/man/$page" 2>/dev/null || fail "man page /usr/share/man/$page missing or not gzip"
  zcat "$root/usr/share/man/$page" | grep -q '^\.TH ' || fail "/usr/share/man/$page has no .TH header"
done
for file in /usr/share/bash-completion/completions/berth /usr/share/zsh/vendor-completions/_berth \
  /usr/share/fish/vendor_completions.d/berth.fish /lib/systemd/system/berthd.service \
  /etc/init.d/berthd /etc/default/berthd /etc/berth/daemon.json /usr/share/doc/berth/copyright; do
  [ -s "$root$file" ] || fail "$file missing or empty"
done
# shellcheck disable=SC2016
in_root dpkg-query -W -f '${Conffiles}\n' berth | grep -q '^ /etc/berth/daemon.json ' ||
  fail "/etc/berth/daemon.json is not a conffile"
in_root getent group berth >/dev/null || fail "postinst did not create group berth"
running=$(berth_processes)
[ -z "$running" ] || fail "policy-rc.d said 101, yet berth processes run: $running"
files=$(in_root dpkg -L berth)

echo "check-deb: dpkg --purge berth"
in_root dpkg --purge berth
left=
while IFS= read -r path; do
  # Directories other packages share (/usr/bin, /usr/share/man/man1) stay.
  if [ -e "$root$path" ] || [ -L "$root$path" ]; then
    if [ ! -d "$root$path" ] || [[ $path == *berth* ]]; then
      left+=" $path"
    fi
  fi
done <<<"$files"
[ -z "$left" ] || fail "files of the package left after purge:$left"
after=$(berth_paths)
new=$(comm -13 <(echo "$before") <(echo "$after"))
[ -z "$new" ] || fail "paths left after purge: $new"
! in_root getent group berth >/dev/null || fail "group berth left after purge"
running=$(berth_processes)
[ -z "$running" ] || fail "berth processes left after purge: $running"
echo "check-deb: OK: berth $version installed, answered --version, purged without a trace"
