#!/usr/bin/env bash
# Debian packages the C++ SDK build needs: a compiler, CMake, and the image/crypto libraries
# the generated code and sample app link against. Installs only what is missing.
set -euo pipefail
# clang-14 + libclang-rt-14-dev: libFuzzer and the sanitizers of the fuzz tests (tests/fuzz).
pkgs=(g++ cmake make pkg-config libjpeg62-turbo-dev libpng-dev libssl-dev zlib1g-dev clang-14 libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "error: need root (or sudo) to apt-get install: ${missing[*]}" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
