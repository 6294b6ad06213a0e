"""Quantization benchmark per runtime, measured in one run:

for the example classifier and a ResNet-18-like model, for each runtime with a quantization
translator (ONNX Runtime on x86, LiteRT and ExecuTorch on android, OpenVINO on x86 when
installed) and each mode it supports (fp32 / fp16 / int8-dynamic / int8 calibrated on photos):
model size, top-1 agreement with that runtime's fp32 on held-out images (deterministic crops /
flips / scales of edgesdk/data/sample_images, never the calibration ones), and CPU latency through
the runtime's own host runner (1 thread, median of the best rounds), with ratios against fp32.
Usage: python benchmarks/bench_quantization.py [--runtimes onnxruntime,tflite] [--models example]
       [--held-out 200] [--calib 32] [--out results.json] [--plot chart.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples" / "classifier"))
sys.path.insert(0, str(REPO / "benchmarks"))

from edgesdk import api  # noqa: E402
from edgesdk.golden import SAMPLE_IMAGES_DIR  # noqa: E402
from edgesdk.manifest import load_manifest  # noqa: E402
from edgesdk.processing import run_preprocess  # noqa: E402

MODES = ("none", "fp16", "int8-dynamic", "int8")
# runtime -> (target, modes its translator supports)
RUNTIMES = {
    "onnxruntime": ("x86", MODES),
    "tflite": ("android", MODES),
    "executorch": ("android", ("none", "int8-dynamic", "int8")),
    "openvino": ("x86", ("none", "fp16", "int8")),
}


def augmented(count: int, seed: int) -> list[np.ndarray]:
    """Random crops (30-100% of each side), flips and rescales of the sample photos."""
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SAMPLE_IMAGES_DIR.glob("*.png"))]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        image = photos[i % len(photos)]
        h, w = image.shape[:2]
        ch, cw = int(h * rng.uniform(0.3, 1.0)), int(w * rng.uniform(0.3, 1.0))
        top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = image[top : top + ch, left : left + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        scale = rng.uniform(0.5, 1.5)
        pil = Image.fromarray(np.ascontiguousarray(crop))
        out.append(np.asarray(pil.resize((max(8, int(cw * scale)), max(8, int(ch * scale))), Image.BILINEAR)))
    return out


def project(tmp: Path, name: str, calib: int) -> Path:
    from models import write_project

    folder, data = write_project(tmp, name)
    (folder / "calib").mkdir()
    for i, image in enumerate(augmented(calib, seed=1)):  # seed 1: disjoint from the held-out seed
        Image.fromarray(image).save(folder / "calib" / f"{i:04d}.png")
    data["quantization"] = {"mode": "none"}
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def build(manifest_path: Path, runtime: str, mode: str, calib: int, out: Path):
    """Build one bundle; return (model file, host runner of that runtime)."""
    from edgesdk.backends import get_backend
    from edgesdk.backends.base import Artifact

    data = yaml.safe_load(manifest_path.read_text())
    data["quantization"] = {"mode": mode} if mode in ("none", "fp16", "int8-dynamic") else {"mode": mode, "calibration": {"data": "calib", "samples": calib, "method": "minmax"}}
    # fp32 keeps the strict default gate; quantized models are measured here rather than gated.
    data["parity"] = {} if mode == "none" else {"top1_agreement_min": 0.0, "cosine_min": 0.9}
    data["version"] = f"1.0.{MODES.index(mode)}"
    data["target"], data["runtime"] = RUNTIMES[runtime][0], runtime
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    bundle = api.build(manifest_path, out=out, force=True).bundle
    sdk = json.loads((bundle / "sdk.json").read_text())
    model = bundle / sdk["model"]["file"]
    files = sorted(p.name for p in model.parent.iterdir())
    artifact = Artifact(folder=model.parent, main=model.name, files=files, runtime=runtime, runtime_versions=sdk["runtime_versions"])
    return model, get_backend(runtime).runner(artifact, threads=1)


def latency_ms(run, name: str, tensor: np.ndarray, runs: int, rounds: int = 5) -> float:
    feeds = {name: tensor}
    for _ in range(5):
        run(feeds)
    medians = []
    for _ in range(rounds):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run(feeds)
            times.append((time.perf_counter() - start) * 1000)
        medians.append(statistics.median(times))
    best = sorted(medians)[: max(1, rounds // 2 + 1)]  # the quieter rounds: 2-core machines swing run to run
    return statistics.median(best)


def outputs(run, name: str, tensors: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([run({name: t})[0] for t in tensors])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--calib", type=int, default=32)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--models", default="example,resnet18-like")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--plot", type=Path, default=Path("bench_quantization.png"))
    args = parser.parse_args()
    from edgesdk.backends import availability

    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="edgesdk-qbench-") as tmp_name:
        tmp = Path(tmp_name)
        for model in args.models.split(","):
            manifest_path = project(tmp, model, args.calib)
            manifest = load_manifest(manifest_path)
            name = manifest.model.inputs[0].name
            held_out = [run_preprocess(img, "rgb", manifest.pre_steps()).tensor for img in augmented(args.held_out, seed=0)]
            for runtime in args.runtimes.split(","):
                ok, why = availability(runtime)
                if not ok:
                    print(f"skipping {runtime}: {why}")
                    continue
                rows = {}
                for mode in RUNTIMES[runtime][1]:
                    path, run = build(manifest_path, runtime, mode, args.calib, tmp / "dist")
                    size = sum(f.stat().st_size for f in path.parent.iterdir())  # OpenVINO keeps weights beside model.xml
                    rows[mode] = {"size_bytes": size, "outputs": outputs(run, name, held_out), "latency_ms": latency_ms(run, name, held_out[0], args.runs)}
                base = rows["none"]["outputs"].argmax(axis=1)
                for row in rows.values():
                    row["top1_agreement"] = float(np.mean(row.pop("outputs").argmax(axis=1) == base))
                    row["size_ratio"] = row["size_bytes"] / rows["none"]["size_bytes"]
                    row["speedup"] = rows["none"]["latency_ms"] / row["latency_ms"]
                results[f"{model} / {runtime}"] = rows
    print(f"{'model / runtime':28} {'mode':13} {'size KiB':>9} {'size x':>7} {'top-1 agr':>9} {'ms':>8} {'speedup':>8}")
    for key, rows in results.items():
        for mode, r in rows.items():
            print(f"{key:28} {('fp32' if mode == 'none' else mode):13} {r['size_bytes'] / 1024:9.1f} {r['size_ratio']:7.3f} {r['top1_agreement']:9.3f} {r['latency_ms']:8.2f} {r['speedup']:8.2f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    chart(results, args.plot)


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    labels = ["fp32" if m == "none" else m for m in MODES]
    width = 0.8 / max(len(results), 1)
    for k, (key, title) in enumerate((("size_ratio", "size vs fp32"), ("speedup", "speed-up vs fp32 (1 thread)"), ("top1_agreement", "top-1 agreement with fp32"))):
        for j, (series, rows) in enumerate(results.items()):
            axes[k].bar(np.arange(len(MODES)) + j * width, [rows[m][key] if m in rows else 0.0 for m in MODES], width, label=series)
        axes[k].set_xticks(np.arange(len(MODES)) + 0.4 - width / 2, labels)
        axes[k].set_title(title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":
    main()
