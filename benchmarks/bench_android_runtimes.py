"""Host CPU benchmark of the Android target's runtimes, as ratios measured in one run.

For the example classifier and a ResNet-18-like model, each built with `edgesdk build --target
android` for tflite (LiteRT interpreter, XNNPACK), executorch (XNNPACK .pte) and onnxruntime:
median latency of one inference at 1 thread on the same pre-processed tensor, and model file size,
against PyTorch eager (the TorchScript source's module, 1 thread, inference mode). Each runtime
is warmed up, then the runtimes take turns in interleaved rounds so drift hits them all alike.
This is the host CPU, not a phone: it ranks the runtimes' kernels and shows the glue-free cost.
Usage: python benchmarks/bench_android_runtimes.py [--runs N] [--rounds R] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples" / "classifier"))
sys.path.insert(0, str(REPO / "benchmarks"))

from edgesdk import api  # noqa: E402

RUNTIMES = ("tflite", "executorch", "onnxruntime")


def _project(tmp: Path, name: str) -> tuple[Path, torch.nn.Module]:
    """A TorchScript model and its manifest (target android) under tmp/name; returns the manifest and the eager module."""
    example = REPO / "examples" / "classifier"
    folder = tmp / name
    folder.mkdir()
    data = yaml.safe_load((example / "edgesdk.yaml").read_text())
    data["target"] = "android"
    if name == "example":
        from classifier_model import trained_classifier

        model = trained_classifier()
        shutil.copy(example / "labels.txt", folder / "labels.txt")
    else:
        from models import resnet18_like

        model = resnet18_like()
        data.update(name="resnet18-like")
        data["model"]["outputs"] = [{"name": "logits", "shape": [1, 1000]}]
        data["postprocess"].pop("labels")
    torch.jit.script(model).save(str(folder / "model.pt"))
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, model


def _tflite(path: Path, x: np.ndarray) -> Callable[[], object]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def run():
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return run


def _executorch(path: Path, x: np.ndarray) -> Callable[[], object]:
    from executorch.extension.pybindings import portable_lib
    from executorch.runtime import Runtime

    portable_lib._unsafe_reset_threadpool(1)
    method = Runtime.get().load_program(path).load_method("forward")
    tensor = torch.from_numpy(x)
    return lambda: method.execute([tensor])


def _onnxruntime(path: Path, x: np.ndarray) -> Callable[[], object]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: x})


def _eager(model: torch.nn.Module, x: np.ndarray) -> Callable[[], object]:
    tensor = torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return model(tensor)

    return run


OPENERS = {"tflite": _tflite, "executorch": _executorch, "onnxruntime": _onnxruntime}


def _interleaved(calls: dict[str, Callable[[], object]], runs: int, rounds: int, warmup: int) -> dict[str, float]:
    for call in calls.values():
        for _ in range(warmup):
            call()
    samples: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(runs):
                start = time.perf_counter()
                call()
                samples[name].append((time.perf_counter() - start) * 1e3)
    return {k: statistics.median(v) for k, v in samples.items()}


def bench_model(tmp: Path, name: str, runs: int, rounds: int, warmup: int) -> dict:
    manifest, model = _project(tmp, name)
    x = None
    calls: dict[str, Callable[[], object]] = {}
    sizes = {"eager": (manifest.parent / "model.pt").stat().st_size}
    parity = {}
    for runtime in RUNTIMES:
        result = api.build(manifest, runtime=runtime, out=tmp / "dist")
        sdk = json.loads((result.bundle / "sdk.json").read_text())
        model_file = result.bundle / sdk["model"]["file"]
        if x is None:  # the first golden case's pre-processed tensor: a real input, the same for all
            index = json.loads((result.bundle / "tests/golden/index.json").read_text())
            x = np.load(result.bundle / "tests/golden" / index["cases"][0]["preprocessed"])
        calls[runtime] = OPENERS[runtime](model_file, x)
        sizes[runtime] = model_file.stat().st_size
        parity[runtime] = result.parity["outputs"]["logits"]["max_abs"]
    torch.set_num_threads(1)
    calls = {"eager": _eager(model, x), **calls}
    median = _interleaved(calls, runs, rounds, warmup)
    return {"median_ms": median, "size_bytes": sizes, "parity_max_abs": parity}


def _fmt(max_abs: float | None) -> str:
    return "reference" if max_abs is None else f"{max_abs:.2g}"


def _table(results: dict) -> str:
    lines = ["| model | runtime | median ms (1 thread) | vs eager | file MB | vs .pt | parity max_abs |", "|---|---|---|---|---|---|---|"]
    for model, r in results.items():
        for runtime, ms in r["median_ms"].items():
            size = r["size_bytes"][runtime]
            lines.append(
                f"| {model} | {runtime} | {ms:.2f} | {ms / r['median_ms']['eager']:.2f}x | {size / 1e6:.2f} | {size / r['size_bytes']['eager']:.2f}x | {_fmt(r['parity_max_abs'].get(runtime))} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="inferences per runtime per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-android-") as tmp_name:
        tmp = Path(tmp_name)
        results = {name: bench_model(tmp, name, args.runs, args.rounds, args.warmup) for name in ("example", "resnet18-like")}
    print(_table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
