#!/usr/bin/env bash
# Install the ONNX Runtime C/C++ package the generated C++ SDK builds against:
#   DEST/include/      C and C++ API headers
#   DEST/lib/          Linux x64 libonnxruntime.so (+ the libonnxruntime.so.1 soname link)
#   DEST/android/      onnxruntime.aar (Java/Kotlin API for the Android layer)
# The only registry that ships headers and a Linux library of the same release is npm
# (com.github.asus4.onnxruntime, a Unity package). Idempotent through DEST/.ok; built in a temp
# dir and renamed into place, so an interrupted run never leaves a half-installed DEST.
set -euo pipefail

VERSION=${1:?usage: fetch_native.sh VERSION DEST}
DEST=${2:?usage: fetch_native.sh VERSION DEST}
NPM_PACKAGE=com.github.asus4.onnxruntime
NPM_VERSION=0.4.9  # the npm release that ships ORT 1.29.0
TGZ_NAME="$NPM_PACKAGE-$NPM_VERSION.tgz"

if [ -f "$DEST/.ok" ]; then
  exit 0
fi
case "$VERSION" in
  1.29.*) ;;
  *) echo "error: fetch_native.sh knows ORT 1.29 only (npm $NPM_PACKAGE@$NPM_VERSION), not $VERSION" >&2; exit 1 ;;
esac

CACHE=$(dirname "$DEST")
mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/.onnxruntime-tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Reuse a tarball an earlier run (or the machine setup) left in the cache; else ask npm.
tgz=""
for candidate in "$CACHE/$TGZ_NAME" "$CACHE/npmtmp/$TGZ_NAME"; do
  if [ -f "$candidate" ] && gzip -t "$candidate" 2>/dev/null; then
    tgz=$candidate
    break
  fi
done
if [ -z "$tgz" ]; then
  command -v npm >/dev/null || { echo "error: npm is needed to fetch ONNX Runtime (run make system-deps)" >&2; exit 1; }
  echo "fetching $NPM_PACKAGE@$NPM_VERSION from npm"
  (cd "$WORK" && npm pack --silent "$NPM_PACKAGE@$NPM_VERSION" >/dev/null)
  mv "$WORK/$TGZ_NAME" "$CACHE/$TGZ_NAME"
  tgz="$CACHE/$TGZ_NAME"
fi

tar -xzf "$tgz" -C "$WORK" package/Plugins/Linux package/Plugins/Android "package/Plugins/iOS~" package/LICENSE package/ThirdPartyNotices.txt
PKG="$WORK/package/Plugins"
STAGE="$WORK/stage"
mkdir -p "$STAGE/include" "$STAGE/lib" "$STAGE/android"

# Every xcframework slice carries the same headers; take the device slice.
headers=$(find "$PKG/iOS~/onnxruntime.xcframework" -type d -name Headers | sort | head -n 1)
[ -n "$headers" ] || { echo "error: no Headers directory in $tgz" >&2; exit 1; }
cp "$headers"/*.h "$STAGE/include/"
header_api=$(sed -n 's/^#define ORT_API_VERSION \([0-9]*\).*/\1/p' "$STAGE/include/onnxruntime_c_api.h")
if [ "$header_api" != "$(echo "$VERSION" | cut -d. -f2)" ]; then
  echo "error: headers have ORT_API_VERSION $header_api, expected ORT $VERSION" >&2
  exit 1
fi

cp "$PKG/Linux/x64/libonnxruntime.so" "$STAGE/lib/"
cp "$PKG/Linux/x64/libonnxruntime_providers_shared.so" "$STAGE/lib/"
ln -s libonnxruntime.so "$STAGE/lib/libonnxruntime.so.1"
cp "$PKG/Android/onnxruntime.aar" "$STAGE/android/"
cp "$WORK/package/LICENSE" "$WORK/package/ThirdPartyNotices.txt" "$STAGE/"

# Prove headers and library pair up: compile against the headers, run against the library.
cat > "$WORK/check.cpp" <<'EOF'
#include <onnxruntime_cxx_api.h>
#include <cstdio>
int main() {
  std::printf("%s\n", OrtGetApiBase()->GetVersionString());
  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "fetch-check");
  return 0;
}
EOF
g++ -std=c++17 -I"$STAGE/include" "$WORK/check.cpp" -L"$STAGE/lib" -lonnxruntime -o "$WORK/check"
got=$(LD_LIBRARY_PATH="$STAGE/lib" "$WORK/check")
if [ "$got" != "$VERSION" ]; then
  echo "error: libonnxruntime.so reports version '$got', expected $VERSION" >&2
  exit 1
fi
echo "$VERSION" > "$STAGE/VERSION"
touch "$STAGE/.ok"

rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "ONNX Runtime $VERSION installed in $DEST"
