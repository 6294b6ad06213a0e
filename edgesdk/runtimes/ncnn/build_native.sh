#!/usr/bin/env bash
# Build and install the ncnn C++ library the generated C++ SDK links, from ncnn's source release
# (the PyPI `ncnn` sdist, which holds the whole C++ tree):
#   DEST/include/ncnn/          headers (net.h, c_api.h, platform.h with NCNN_VERSION_STRING, ...)
#   DEST/lib/libncnn.a          static library
#   DEST/lib/cmake/ncnn/        CMake package: find_package(ncnn) with ncnn_DIR=DEST/lib/cmake/ncnn
#   DEST/VERSION, DEST/.ok
# Reduced build: CPU only (no Vulkan), no tools, examples, benchmark, tests or Python module; the
# x86 kernels for every ISA level with runtime dispatch, as in the `ncnn` wheel parity runs on.
# Idempotent through DEST/.ok; built in a temp dir beside DEST and renamed into place, so an
# interrupted run never leaves a half-installed DEST.
#
# usage: build_native.sh VERSION SDIST DEST [extra cmake arguments...]
#   VERSION  ncnn release, e.g. 1.0.20261020 (its last part is the date stamp ncnn's CMake needs:
#            without -DNCNN_VERSION it stamps the build day into NCNN_VERSION_STRING)
#   SDIST    the ncnn-VERSION.tar.gz source archive
#   extra    passed to CMake's configure step, e.g. -DCMAKE_TOOLCHAIN_FILE=... for a cross build;
#            CHECK_RUNNER (environment) then runs the check program, e.g. "qemu-aarch64 -L /usr/aarch64-linux-gnu"
# JOBS (environment, default: every core) sets the build's parallelism.
set -euo pipefail

VERSION=${1:?usage: build_native.sh VERSION SDIST DEST [cmake args...]}
SDIST=${2:?usage: build_native.sh VERSION SDIST DEST [cmake args...]}
DEST=${3:?usage: build_native.sh VERSION SDIST DEST [cmake args...]}
shift 3
EXTRA_CMAKE=("$@")
JOBS=${JOBS:-$(nproc)}

if [ -f "$DEST/.ok" ]; then
  exit 0
fi
DATE=${VERSION##*.}
case "$VERSION" in
  1.0.[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ;;
  *) echo "error: '$VERSION' is not an ncnn release version (1.0.YYYYMMDD)" >&2; exit 1 ;;
esac
for tool in cmake c++ tar; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' is needed to build ncnn (run make system-deps)" >&2; exit 1; }
done

PARENT=$(dirname "$DEST")
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/.ncnn-tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/ncnn-$VERSION"
[ -f "$SRC/CMakeLists.txt" ] || { echo "error: $SDIST holds no ncnn-$VERSION/CMakeLists.txt" >&2; exit 1; }
STAGE="$WORK/stage"

echo "building ncnn $VERSION (CPU only, static; a few minutes on 2 cores)"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$STAGE" -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_INSTALL_INCLUDEDIR=include \
  -DNCNN_VERSION="$DATE" \
  -DNCNN_SHARED_LIB=OFF -DNCNN_VULKAN=OFF \
  -DNCNN_BUILD_TOOLS=OFF -DNCNN_BUILD_EXAMPLES=OFF -DNCNN_BUILD_BENCHMARK=OFF -DNCNN_BUILD_TESTS=OFF -DNCNN_PYTHON=OFF \
  "${EXTRA_CMAKE[@]}" > "$WORK/configure.log" 2>&1 || { tail -n 30 "$WORK/configure.log" >&2; exit 1; }
cmake --build "$WORK/build" -j "$JOBS" > "$WORK/build.log" 2>&1 || { grep -m 20 -B 2 -A 8 "error" "$WORK/build.log" >&2 || tail -n 40 "$WORK/build.log" >&2; exit 1; }
cmake --install "$WORK/build" > "$WORK/install.log" 2>&1 || { tail -n 20 "$WORK/install.log" >&2; exit 1; }

# Prove the package is usable the way the SDK uses it: find_package(ncnn) with the SDK's version
# floor, the headers' version macro, and the library's own version string (ncnn_version()).
mkdir -p "$WORK/check"
cat > "$WORK/check/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.18)
project(ncnn_check LANGUAGES CXX)
find_package(ncnn $DATE REQUIRED)
add_executable(check check.cpp)
target_link_libraries(check PRIVATE ncnn)
EOF
cat > "$WORK/check/check.cpp" <<'EOF'
#include <cstdio>
#include "c_api.h"
#include "net.h"
#include "platform.h"
int main() {
  ncnn::Net net;  // links the C++ API, not only the C one
  std::printf("%s %s\n", NCNN_VERSION_STRING, ncnn_version());
  return 0;
}
EOF
cmake -S "$WORK/check" -B "$WORK/check/build" -Dncnn_DIR="$STAGE/lib/cmake/ncnn" "${EXTRA_CMAKE[@]}" > "$WORK/check.log" 2>&1 \
  && cmake --build "$WORK/check/build" >> "$WORK/check.log" 2>&1 || { tail -n 30 "$WORK/check.log" >&2; exit 1; }
# CHECK_RUNNER is a command prefix (e.g. qemu): split on spaces on purpose.
# shellcheck disable=SC2086
got=$(${CHECK_RUNNER:-} "$WORK/check/build/check")
if [ "$got" != "$VERSION $VERSION" ]; then
  echo "error: the built ncnn reports '$got' (headers, library); expected $VERSION for both" >&2
  exit 1
fi

cp "$SRC/LICENSE.txt" "$STAGE/"
echo "$VERSION" > "$STAGE/VERSION"
touch "$STAGE/.ok"
rm -rf "$DEST"
mv "$STAGE" "$DEST"
echo "ncnn $VERSION installed in $DEST"
