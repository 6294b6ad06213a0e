#!/usr/bin/env bash
# Install android.jar (API 23) for compile-checking the generated Android layer:
#   DEST/android.jar
# Debian bookworm has no android platform package, bullseye does (android-sdk-platform-23 +
# libandroid-23-java, which holds the jar itself). A private apt source list and private apt
# state/cache dirs fetch them without touching the system's sources; the packages are unpacked
# with dpkg -x, never installed. Idempotent through DEST/.ok; built in a temp dir and renamed
# into place, so an interrupted run never leaves a half-installed DEST.
# Usage: bash scripts/fetch_android_jar.sh DEST
set -euo pipefail

DEST=${1:?usage: fetch_android_jar.sh DEST}
PACKAGES=(android-sdk-platform-23 libandroid-23-java)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ -f "$DEST/.ok" ] && [ -f "$DEST/android.jar" ]; then
  exit 0
fi
command -v apt-get >/dev/null || { echo "error: apt-get is needed to fetch android.jar (Debian/Ubuntu)" >&2; exit 1; }

parent=$(dirname "$DEST")
mkdir -p "$parent"
WORK=$(mktemp -d "$parent/.android-jar-tmp.XXXXXX")
chmod 755 "$WORK"  # apt drops to the _apt user for downloads
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs" "$WORK/root" "$WORK/stage"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bullseye main" > "$WORK/sources.list"
: > "$WORK/status"

APT=(apt-get -q -o "Dir::Etc::sourcelist=$WORK/sources.list" -o "Dir::Etc::sourceparts=-"
     -o "Dir::State::lists=$WORK/lists" -o "Dir::State::status=$WORK/status" -o "Dir::Cache=$WORK/cache"
     -o "Debug::NoLocking=1")
echo "fetching ${PACKAGES[*]} (Debian bullseye)"
"${APT[@]}" update >/dev/null
(cd "$WORK/debs" && "${APT[@]}" download "${PACKAGES[@]}" >/dev/null)
for deb in "$WORK"/debs/*.deb; do
  dpkg -x "$deb" "$WORK/root"
done

# android-sdk-platform-23 links android.jar to the jar libandroid-23-java ships; resolve it.
jar=$(readlink -f "$WORK/root/usr/lib/android-sdk/platforms/android-23/android.jar" || true)
case "$jar" in
  "$WORK"/root/*) ;;
  *) jar=$(find "$WORK/root" -name 'android*.jar' -type f | sort | head -n 1) ;;
esac
[ -n "$jar" ] && [ -f "$jar" ] || { echo "error: no android.jar in ${PACKAGES[*]}" >&2; exit 1; }
cp "$jar" "$WORK/stage/android.jar"
unzip -l "$WORK/stage/android.jar" android/graphics/Bitmap.class >/dev/null \
  || { echo "error: $jar has no android.graphics.Bitmap" >&2; exit 1; }
echo 23 > "$WORK/stage/API"
touch "$WORK/stage/.ok"

rm -rf "$DEST"
mv "$WORK/stage" "$DEST"
echo "android.jar (API 23) installed in $DEST"
