#!/usr/bin/env bash
# Builds target/debian/berth_<version>_<arch>.deb with dpkg-deb: the four
# binaries, berthd's systemd unit and init script, /etc/default/berthd, a
# commented /etc/berth/daemon.json, man pages and shell completions (made by
# berth-dist from the programs' own command-line definitions), and the
# maintainer scripts in dist/debian.
#
# BERTH_DEB_NO_BUILD=1 packs the binaries scripts/build.sh already left in
# target/release (CI builds once) instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in dpkg-deb dpkg-shlibdeps gzip; do
  command -v "$tool" >/dev/null ||
    { echo "build-deb: $tool not found (apt-get install dpkg-dev)" >&2; exit 1; }
done

version=$(awk '/^\[workspace.package\]/{p=1; next} /^\[/{p=0} p && /^version *=/{gsub(/[" ]/, "", $0); sub(/^version=/, "", $0); print; exit}' Cargo.toml)
[ -n "$version" ] || { echo "build-deb: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
arch=$(dpkg --print-architecture)
# The project has no list address: .invalid (RFC 2606) says so honestly.
maintainer=${BERTH_DEB_MAINTAINER:-Berth developers <berth@berth.invalid>}
binaries=(berth berthd berth-shim berth-pause berth-runtime)

if [ "${BERTH_DEB_NO_BUILD:-}" != 1 ]; then
  bash scripts/build.sh
fi
for b in "${binaries[@]}"; do
  [ -x "target/release/$b" ] ||
    { echo "build-deb: target/release/$b missing (run scripts/build.sh, or unset BERTH_DEB_NO_BUILD)" >&2; exit 1; }
done

out=target/debian
pkg=$out/berth_${version}_${arch}
gen=$out/generated
rm -rf "$pkg" "$gen"
mkdir -p "$pkg/DEBIAN" "$gen"

# The date of the man pages and of the changelog entry: SOURCE_DATE_EPOCH
# (reproducible builds), else the last commit's.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# Man pages and completions, from the clap definitions (berth-dist is kept
# out of the workspace's ordinary builds by its `generator` feature).
cargo run --quiet --release -p berth-dist --features generator -- "$gen" "$(date -u -d "@$epoch" +%F)"

# install -D MODE SRC DEST (DEST relative to the package root)
put() { install -D -m "$1" "$2" "$pkg/$3"; }

for b in "${binaries[@]}"; do
  put 0755 "target/release/$b" "usr/bin/$b"
done
put 0644 dist/systemd/berthd.service lib/systemd/system/berthd.service
put 0755 dist/init.d/berthd etc/init.d/berthd
put 0644 dist/default/berthd etc/default/berthd
put 0644 dist/logrotate/berthd etc/logrotate.d/berthd
put 0644 dist/etc/daemon.json etc/berth/daemon.json
for section in 1 8; do
  for page in "$gen/man/man$section"/*."$section"; do
    put 0644 "$page" "usr/share/man/man$section/$(basename "$page")"
    gzip -9n "$pkg/usr/share/man/man$section/$(basename "$page")"
  done
done
for prog in berth berthd berth-runtime; do
  put 0644 "$gen/completions/bash/$prog" "usr/share/bash-completion/completions/$prog"
  put 0644 "$gen/completions/zsh/_$prog" "usr/share/zsh/vendor-completions/_$prog"
  put 0644 "$gen/completions/fish/$prog.fish" "usr/share/fish/vendor_completions.d/$prog.fish"
done
put 0644 dist/debian/copyright usr/share/doc/berth/copyright
put 0644 dist/debian/lintian-overrides usr/share/lintian/overrides/berth
changelog=$pkg/usr/share/doc/berth/changelog.gz
# A native package's changelog: one entry for the version built.
{
  echo "berth ($version) unstable; urgency=medium"
  echo
  echo "  * Built from the Berth repository (see README.md)."
  echo
  echo " -- $maintainer  $(date -u -R -d "@$epoch")"
} | gzip -9n >"$changelog"
chmod 0644 "$changelog"

# Run-time dependencies: the shared libraries the binaries link (glibc's
# version from their symbols), and the programs berthd runs: nft (published
# ports, network isolation), ps (`berth top`), groupadd (postinst).
# tini serves `berth run --init`; runc is a runtime berthd knows by name.
shlibs_dir=$(mktemp -d)
trap 'rm -rf "$shlibs_dir"' EXIT
mkdir -p "$shlibs_dir/debian"
printf 'Source: berth\n\nPackage: berth\nArchitecture: any\n' >"$shlibs_dir/debian/control"
repo=$(pwd)
shlibs=$(
  cd "$shlibs_dir"
  dpkg-shlibdeps -O "${binaries[@]/#/$repo/target/release/}" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p'
)
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no libraries" >&2; exit 1; }
installed_size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)

cat >"$pkg/DEBIAN/control" <<EOF
Package: berth
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Pre-Depends: init-system-helpers (>= 1.54~)
Depends: $shlibs, nftables, procps, passwd
Recommends: tini
Suggests: runc
Section: admin
Priority: optional
Description: container engine: daemon, CLI, shim and OCI runtime
 Berth runs Linux containers the way docker does: berthd keeps images,
 containers, networks and volumes and serves gRPC, the Docker Engine API
 and CRI on a unix socket; berth is its docker-like command line;
 berth-shim supervises each container; berth-pause holds a Kubernetes
 pod's namespaces; berth-runtime is a runc-compatible
 OCI runtime.
 .
 Members of group berth may use the API socket without root.
EOF
printf '/etc/berth/daemon.json\n/etc/default/berthd\n/etc/init.d/berthd\n/etc/logrotate.d/berthd\n' \
  >"$pkg/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "dist/debian/$script" "$pkg/DEBIAN/$script"
done
(cd "$pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
  xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$pkg/DEBIAN/md5sums" "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles"

deb=$out/berth_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >/dev/null
echo "$deb"
