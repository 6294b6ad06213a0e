#!/usr/bin/env bash
# Run a command with the Swift toolchain of a chroot made by setup_chroot.sh, in a private mount
# namespace: /proc, /dev and the given folders are mounted for this command only and vanish with
# it, so concurrent runs never share or leak mounts.
# Usage: run_in_chroot.sh CHROOT WORKDIR COMMAND...
#   WORKDIR is mounted read-write at /mnt/work and the command runs there. Further folders to
#   see read-only: EDGESDK_SWIFT_RO_MOUNTS="HOST_DIR:/mnt/NAME ..." (space-separated).
set -euo pipefail
root=${1:?usage: run_in_chroot.sh CHROOT WORKDIR COMMAND...}
work=${2:?usage: run_in_chroot.sh CHROOT WORKDIR COMMAND...}
shift 2
[ -f "$root/.edgesdk-ready" ] || { echo "error: $root is not a Swift chroot made by setup_chroot.sh" >&2; exit 127; }
work=$(cd "$work" && pwd)
# The command line, quoted for the inner shell.
printf -v command ' %q' "$@"
exec unshare --mount --fork bash -c '
  set -e
  root=$1 work=$2 command=$3
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mkdir -p "$root/mnt/work"
  mount --bind "$work" "$root/mnt/work"
  for pair in ${EDGESDK_SWIFT_RO_MOUNTS:-}; do
    host=${pair%%:*} inside=${pair#*:}
    mkdir -p "$root$inside"
    mount --bind "$host" "$root$inside"
    mount -o remount,bind,ro "$root$inside"
  done
  exec chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
    EDGESDK_GOLDEN_DIR="${EDGESDK_GOLDEN_DIR:-}" bash -c "cd /mnt/work &&$command"
' bash "$root" "$work" "$command"
