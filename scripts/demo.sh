#!/usr/bin/env bash
# `make demo`: build the bundled example classifier for x86 (ONNX Runtime), test the generated
# C++ SDK against its golden vectors, and say where the bundle is.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
EDGESDK=.venv/bin/edgesdk
OUT=${DEMO_OUT:-dist}

$PY examples/classifier/make_model.py
$EDGESDK build -c examples/classifier/edgesdk.yaml --target x86 --out "$OUT" --force
bundle="$OUT/stripes-classifier-1.0.0-x86-onnxruntime"
echo
echo "testing the generated C++ SDK on the bundle's golden images:"
$EDGESDK test "$bundle" --device host
echo
echo "bundle: $(cd "$bundle" && pwd)"
# The runtime's backend knows where its C++ package is on this machine.
defs=$($PY -c "import sys; from edgesdk.backends import get_backend; print(' '.join(get_backend(sys.argv[1]).cpp_package().cmake_definitions))" onnxruntime)
echo "run it: build the sample app with cmake -S $bundle/sample_app -B build/demo $defs"
echo "        then build/demo/edgesdk-run --bundle $bundle --input photo.jpg --json"
