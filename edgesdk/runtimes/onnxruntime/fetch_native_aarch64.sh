#!/usr/bin/env bash
# Install an aarch64 Linux ONNX Runtime library for cross-compiling ARM/Jetson bundles' C++ SDKs:
#   DEST/include/   the C/C++ API headers of the host package (HOST_ROOT/include, ORT 1.29)
#   DEST/lib/       libonnxruntime.so.1 for linux-arm64 (+ the libonnxruntime.so link)
# No registry reachable here ships an aarch64 library with 1.29 headers; npm's onnxruntime-node
# 1.30.0 ships linux/arm64/libonnxruntime.so.1. ORT's C API is backward compatible (a 1.30
# library serves API version 23), and the SDK's version guard accepts a library newer than its
# headers. Idempotent through DEST/.ok; staged in a temp dir and renamed into place.
set -euo pipefail

HOST_ROOT=${1:?usage: fetch_native_aarch64.sh HOST_ROOT DEST}
DEST=${2:?usage: fetch_native_aarch64.sh HOST_ROOT DEST}
NPM_PACKAGE=onnxruntime-node
NPM_VERSION=1.30.0
TGZ_NAME="$NPM_PACKAGE-$NPM_VERSION.tgz"
MEMBER=package/bin/napi-v6/linux/arm64/libonnxruntime.so.1

[ -f "$DEST/.ok" ] && exit 0
[ -d "$HOST_ROOT/include" ] || { echo "error: no ONNX Runtime headers at $HOST_ROOT/include (fetch the host package first)" >&2; exit 1; }
CACHE=$(dirname "$DEST")
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/.onnxruntime-aarch64-tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

tgz="$CACHE/$TGZ_NAME"
if ! { [ -f "$tgz" ] && gzip -t "$tgz" 2>/dev/null; }; then
  command -v npm >/dev/null || { echo "error: npm is needed to fetch ONNX Runtime for aarch64 (run make system-deps)" >&2; exit 1; }
  echo "fetching $NPM_PACKAGE@$NPM_VERSION from npm (its linux-arm64 library)"
  (cd "$WORK" && npm pack --silent "$NPM_PACKAGE@$NPM_VERSION" >/dev/null)
  mv "$WORK/$TGZ_NAME" "$tgz"
fi
tar -xzf "$tgz" -C "$WORK" "$MEMBER"
STAGE="$WORK/stage"
mkdir -p "$STAGE/lib"
cp -r "$HOST_ROOT/include" "$STAGE/include"
cp "$WORK/$MEMBER" "$STAGE/lib/libonnxruntime.so.1"
ln -s libonnxruntime.so.1 "$STAGE/lib/libonnxruntime.so"
# The file must be what it claims: an aarch64 shared object of this ORT release.
head -c 20 "$STAGE/lib/libonnxruntime.so.1" | od -An -tx1 | tr -d ' \n' | grep -q '^7f454c46020101' || { echo "error: $MEMBER is not a 64-bit ELF" >&2; exit 1; }
machine=$(od -An -j18 -N2 -tu2 "$STAGE/lib/libonnxruntime.so.1" | tr -d ' ')
[ "$machine" = 183 ] || { echo "error: $MEMBER is for ELF machine $machine, not aarch64 (183)" >&2; exit 1; }
grep -aq "^$NPM_VERSION\$" <(strings "$STAGE/lib/libonnxruntime.so.1") || { echo "error: $MEMBER does not carry version $NPM_VERSION" >&2; exit 1; }
echo "$NPM_VERSION" > "$STAGE/VERSION"
touch "$STAGE/.ok"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
