#!/usr/bin/env bash
# Make (once) the venv of the training-side libraries the importer tests run: torch + torchvision,
# timm, transformers (requirements/reference-libs.txt). It lives in the cache, keyed by the pins,
# so a fresh clone reuses it; prints its path. Usage: reference_libs_venv.sh CACHE [PYTHON]
set -euo pipefail
cache=${1:?usage: reference_libs_venv.sh CACHE [PYTHON]}
python=${2:-python3.11}
here=$(cd "$(dirname "$0")/.." && pwd)
pins=$here/requirements/reference-libs.txt
hash=$(grep -v '^#' "$pins" | sha256sum | cut -c1-12)
venv=$cache/venv-reference-libs-$hash
if [[ ! -f $venv/.deps-ok ]]; then
  echo "creating $venv (torch + torchvision from local disk: a few minutes)" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q -r "$pins" >&2
  touch "$venv/.deps-ok"
fi
echo "$venv"
