"""Peak memory (max RSS) of the C++ sample app, edgesdk-run, on images up to the documented limit
(edgesdk/limits.py) and over it, as ratios against a 1x1 image measured in the same run: what the
process costs by itself (ONNX Runtime, the model) against what an image adds.

Builds the example classifier for x86 (ONNX Runtime), compiles its sample app, writes PNG and
JPEG files of 1x1, 1000x1000, 4096x4096 and the limit (8192x8192 = max_image_pixels), plus files
that declare a size over the limit (refused from the header: their peak must stay at the
baseline). Each image runs `--runs` times; the largest peak is kept.
Usage: python benchmarks/bench_peak_memory.py [--runs N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO))

from edgesdk import api, hosttest  # noqa: E402
from edgesdk.limits import IMAGE_LIMITS  # noqa: E402
from tests.cpp import imagecraft  # noqa: E402


def _gradient(width: int, height: int) -> Image.Image:
    """A smooth image with some texture: compresses fast, decodes like a photo."""
    x = (np.arange(width, dtype=np.uint32) * 255 // max(width - 1, 1)).astype(np.uint8)
    y = (np.arange(height, dtype=np.uint32) * 255 // max(height - 1, 1)).astype(np.uint8)
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = x[None, :]
    rgb[..., 1] = y[:, None]
    rgb[..., 2] = (x[None, :] // 2 + y[:, None] // 2) ^ 0x15
    return Image.fromarray(rgb)


def write_images(folder: Path) -> dict[str, tuple[Path, int]]:
    """name -> (file, decoded pixels; 0 for files that must be refused)."""
    side = int(IMAGE_LIMITS["max_image_pixels"] ** 0.5)
    images: dict[str, tuple[Path, int]] = {}
    for w, h in ((1, 1), (1000, 1000), (4096, 4096), (side, side)):
        im = _gradient(w, h)
        for ext, options in (("png", {"compress_level": 1}), ("jpg", {"quality": 90})):
            path = folder / f"{w}x{h}.{ext}"
            im.save(path, **options)
            images[path.name] = (path, w * h)
    over = {
        f"declares-{side + 1}x{side}.png": imagecraft.png_declaring(side + 1, side),
        "declares-100000x100000.png": imagecraft.png_declaring(100000, 100000),
        "declares-65500x65500.jpg": imagecraft.jpeg_declaring(65500, 65500),
    }
    for name, data in over.items():
        (folder / name).write_bytes(data)
        images[name] = (folder / name, 0)
    return images


# Runs argv[1:] with output discarded; prints its peak RSS (KiB) and exit code. A fresh, small
# process does the spawning: a child forked from this Python process (torch loaded) would start
# with its peak, which the kernel keeps across exec.
_MEASURE = """
import os, sys
null = os.open(os.devnull, os.O_WRONLY)
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], dict(os.environ), file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def peak_rss_mib(binary: Path, bundle: Path, image: Path) -> tuple[float, int]:
    """(max RSS in MiB, exit code) of one edgesdk-run."""
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(binary), "--bundle", str(bundle), "--input", str(image), "--json"], capture_output=True, text=True, check=True)
    kib, code = out.stdout.split()
    return int(kib) / 1024, int(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from models import write_project

    with tempfile.TemporaryDirectory(prefix="edgesdk-peakmem-") as tmp_name:
        tmp = Path(tmp_name)
        folder, data = write_project(tmp, "example")
        manifest = folder / "edgesdk.yaml"
        manifest.write_text(yaml.safe_dump(data, sort_keys=False))
        bundle = api.build(manifest, target="x86", runtime="onnxruntime", out=tmp / "dist").bundle
        binary = hosttest.build_sample(bundle, tmp / "build")
        images = write_images(tmp)
        rows = {}
        for name, (path, pixels) in images.items():
            runs = [peak_rss_mib(binary, bundle, path) for _ in range(args.runs)]
            codes = {code for _, code in runs}
            rows[name] = {"pixels": pixels, "file_bytes": path.stat().st_size, "peak_rss_mib": max(r for r, _ in runs), "exit_codes": sorted(codes)}
    baseline = rows["1x1.png"]["peak_rss_mib"]
    print(f"edgesdk-run peak RSS, max of {args.runs} runs; baseline (1x1 PNG) {baseline:.1f} MiB; limits {IMAGE_LIMITS}")
    print(f"{'input':32} {'pixels':>10} {'file':>10} {'peak MiB':>9} {'vs base':>8} {'B/pixel over base':>18} exit")
    for name, row in rows.items():
        row["ratio_vs_baseline"] = round(row["peak_rss_mib"] / baseline, 3)
        extra = (row["peak_rss_mib"] - baseline) * 2**20 / row["pixels"] if row["pixels"] > 1 else None
        row["bytes_per_pixel_over_baseline"] = None if extra is None else round(extra, 2)
        per_pixel = "-" if extra is None else f"{extra:.1f}"
        print(f"{name:32} {row['pixels']:>10} {row['file_bytes']:>10} {row['peak_rss_mib']:>9.1f} {row['ratio_vs_baseline']:>8.2f} {per_pixel:>18} {row['exit_codes']}")
    if args.out:
        args.out.write_text(json.dumps({"limits": IMAGE_LIMITS, "baseline_mib": baseline, "inputs": rows}, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
