#!/usr/bin/env bash
# Debian packages the C++ SDK build needs: a compiler, CMake, and the image/crypto libraries
# the generated code and sample app link against. Installs only what is missing.
set -euo pipefail
# clang-14 + libclang-rt-14-dev: libFuzzer and the sanitizers of the fuzz tests (tests/fuzz).
pkgs=(g++ cmake make pkg-config libjpeg62-turbo-dev libpng-dev libssl-dev zlib1g-dev clang-14 libclang-rt-14-dev)
# Cross-compiling ARM/Jetson bundles' C++ SDKs (tests/cpp/test_cross_aarch64.py): the aarch64
# compiler and the target's libraries from Debian multiarch (arm64 must be a foreign architecture).
pkgs+=(g++-aarch64-linux-gnu libssl-dev:arm64 libpng-dev:arm64 libjpeg62-turbo-dev:arm64 zlib1g-dev:arm64)
# qemu-user runs the aarch64 builds: ncnn's cross-built library check and `--device qemu-aarch64`.
pkgs+=(qemu-user)
# ccache: `make test` compiles the same generated C++ many times; unchanged objects are reused.
pkgs+=(ccache)
missing=()
native=$(dpkg --print-architecture)
for p in "${pkgs[@]}"; do
  # With a foreign architecture installed, a bare name may match two packages: ask for the native one too.
  dpkg -s "$p" >/dev/null 2>&1 || dpkg -s "$p:$native" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "error: need root (or sudo) to apt-get install: ${missing[*]}" >&2
  exit 1
fi
dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
