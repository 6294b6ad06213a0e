"""Pre-processing time of the generated Swift core against the generated C++ SDK, on the same
image and manifest, as a ratio measured in one run (issue: Swift pre-processing vs C++).

The example classifier is built for x86 (C++ SDK, `edgesdk-run --bench`) and for iOS on ONNX
Runtime (Swift package; its core built with `swift build -c release` and timed by
edgesdk/swift_host/PreprocessBench.swift, natively or in the Swift chroot). Both time
`preprocess` alone, one thread, on the first golden image, after a warm-up call.
Usage: python benchmarks/bench_swift_preprocess.py [--runs N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from edgesdk import api, golden, hosttest, hosttest_swift

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "examples" / "classifier" / "edgesdk.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not (MANIFEST.parent / "model.pt").is_file():  # a fresh clone: train it as `make demo` does
        subprocess.run([sys.executable, str(MANIFEST.parent / "make_model.py")], check=True)
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-swift-") as tmp_name:
        tmp = Path(tmp_name)
        x86 = api.build(MANIFEST, target="x86", runtime="onnxruntime", out=tmp / "dist").bundle
        ios = api.build(MANIFEST, target="ios", runtime="onnxruntime", out=tmp / "dist").bundle
        case = golden.load_index(x86)["cases"][0]
        binary = hosttest.build_sample(x86, tmp / "build")
        cpp = hosttest.run_sample(binary, x86, x86 / golden.GOLDEN_DIR / case["image"], extra=["--bench", str(args.runs), "--threads", "1"])["bench"]
        swift = hosttest_swift.bench_preprocess(ios, args.runs)
    cpp_ms, swift_ms = cpp["preprocess_ms"], swift["preprocess_ms"]["median"]
    results = {
        "image": f"{case['image']} ({case['width']}x{case['height']})",
        "runs": args.runs,
        "cpp_preprocess_ms": cpp_ms,
        "swift_preprocess_ms": swift["preprocess_ms"],
        "swift_vs_cpp": swift_ms / max(cpp_ms, 1e-9),
    }
    print(f"image {results['image']}, {args.runs} runs, 1 thread, medians")
    print(f"  C++ SDK preprocess      {cpp_ms:8.3f} ms  (1.00x)")
    print(f"  Swift core preprocess   {swift_ms:8.3f} ms  ({results['swift_vs_cpp']:.2f}x)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
