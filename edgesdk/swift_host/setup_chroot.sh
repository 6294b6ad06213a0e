#!/usr/bin/env bash
# A Debian trixie chroot with Swift 6 (swiftlang) and XCTest, for building and testing the
# generated Swift packages on a Linux machine: `edgesdk test BUNDLE --device host` for iOS bundles.
# Usage: setup_chroot.sh DIR. Idempotent: a DIR holding a finished chroot is left as it is.
# Needs root (debootstrap, chroot) and about 3.2 GB. Debian's own packages only.
set -euo pipefail
dir=${1:?usage: setup_chroot.sh DIR}
[ -f "$dir/.edgesdk-ready" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "error: creating the Swift chroot needs root (debootstrap, chroot); run as root or install swift natively" >&2
  exit 1
fi
command -v debootstrap >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
# Build beside the final folder and rename at the end, so an interrupted run leaves nothing half-made.
work="$dir.partial"
rm -rf "$work"
mkdir -p "$(dirname "$dir")"
echo "creating the Swift chroot in $dir (debootstrap trixie + swiftlang, a few minutes)"
debootstrap --variant=minbase trixie "$work" >"$work.log" 2>&1 || { tail -20 "$work.log" >&2; exit 1; }
cp /etc/resolv.conf "$work/etc/resolv.conf"
# libssl-dev: the Linux side of the Swift SDK's model decryption goes through OpenSSL.
unshare --mount --fork bash -c "
  mount -t proc proc '$work/proc'
  chroot '$work' /usr/bin/env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swiftlang libc6-dev libssl-dev pkg-config
" >>"$work.log" 2>&1 || { tail -20 "$work.log" >&2; exit 1; }
chroot "$work" /usr/bin/dpkg-query -W -f='${Version}' swiftlang >"$work/.swiftlang-version"
touch "$work/.edgesdk-ready"
rm -rf "$dir"
mv "$work" "$dir"
rm -f "$work.log"
echo "Swift chroot ready: $dir (swiftlang $(cat "$dir/.swiftlang-version"))"
