#!/usr/bin/env bash
# Install the Kotlin compiler from npm (kotlin-compiler@2.4.20, a full kotlinc that needs only a
# JDK) into DEST. Idempotent: a stamp file marks a finished, checked install. The package is
# installed into a temp dir next to DEST and renamed into place, so an interrupted run never
# leaves a half install that looks complete.
# Usage: bash scripts/fetch_kotlinc.sh DEST   ->   DEST/node_modules/kotlin-compiler/bin/kotlinc
set -euo pipefail
VERSION=2.4.20
DEST=${1:?usage: fetch_kotlinc.sh DEST}
STAMP="$DEST/.edgesdk-kotlinc-$VERSION.ok"
KOTLINC_REL=node_modules/kotlin-compiler/bin/kotlinc

if [ -f "$STAMP" ] && [ -x "$DEST/$KOTLINC_REL" ]; then
  exit 0
fi
command -v java >/dev/null 2>&1 || { echo "error: kotlinc needs java on PATH (run make system-deps)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "error: npm not found (run make system-deps)" >&2; exit 1; }

parent=$(dirname "$DEST")
mkdir -p "$parent"
tmp=$(mktemp -d "$parent/.kotlinc-tmp.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

echo "installing kotlin-compiler@$VERSION into $DEST"
# A private npm cache keeps a shared/broken user cache from interfering.
npm install --prefix "$tmp" --no-save --no-audit --no-fund --loglevel=error \
  --cache "$tmp/.npm-cache" "kotlin-compiler@$VERSION" >/dev/null
rm -rf "$tmp/.npm-cache"
chmod +x "$tmp/$KOTLINC_REL" "$tmp"/node_modules/kotlin-compiler/bin/* 2>/dev/null || true

# Check it runs before publishing it.
version_out=$("$tmp/$KOTLINC_REL" -version 2>&1) || { echo "error: kotlinc -version failed: $version_out" >&2; exit 1; }
case "$version_out" in
  *"$VERSION"*) ;;
  *) echo "error: unexpected kotlinc version: $version_out" >&2; exit 1 ;;
esac
touch "$tmp/.edgesdk-kotlinc-$VERSION.ok"

# Publish: move any stale DEST aside, rename the finished tree in, then drop the old one.
old=""
if [ -e "$DEST" ]; then
  old="$parent/.kotlinc-old.$$"
  mv "$DEST" "$old"
fi
mv "$tmp" "$DEST"
trap - EXIT
[ -n "$old" ] && rm -rf "$old"
echo "kotlinc ready: $DEST/$KOTLINC_REL ($version_out)"
