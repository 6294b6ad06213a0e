"""`edgesdk bench`: the bundle's C++ SDK against a bare runtime session and the Python pipeline.

Every figure comes from one run on one machine and is reported as a ratio to a baseline measured
in the same run, since absolute timings on shared CPUs swing run to run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesdk import bundle as bundle_mod
from edgesdk import golden, hosttest
from edgesdk.backends import Artifact, get_backend
from edgesdk.errors import InputError
from edgesdk.processing import decode_image, run_postprocess, run_preprocess


def median_ms(fn: Callable[[], Any], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def python_pipeline_ms(bundle: Path, image: Path, runs: int, threads: int) -> dict[str, float]:
    """The numpy reference pre/post around the bundle's model in the Python runtime."""
    sdk = bundle_mod.load_sdk_json(bundle)
    model_file = bundle / sdk["model"]["file"]
    output_names = [o["name"] for o in sdk["io"]["outputs"]]
    artifact = Artifact(folder=model_file.parent, main=model_file.name, files=[model_file.name], runtime=sdk["runtime"], output_names=output_names, runtime_options=sdk.get("runtime_options", {}))
    run_model = get_backend(sdk["runtime"]).runner(artifact, threads=threads)
    pre, post = sdk["preprocess"], sdk["postprocess"]
    pixels = golden.to_app_order(decode_image(image), pre["input_color"])
    name = sdk["io"]["inputs"][0]["name"]
    prepared = run_preprocess(pixels, pre["input_color"], pre["steps"])
    outputs = run_model({name: prepared.tensor})

    def end_to_end() -> None:
        p = run_preprocess(pixels, pre["input_color"], pre["steps"])
        run_postprocess(run_model({name: p.tensor}), sdk["task"], post, p.geometry, p.input_hw)

    return {
        "preprocess": median_ms(lambda: run_preprocess(pixels, pre["input_color"], pre["steps"]), runs),
        "infer": median_ms(lambda: run_model({name: prepared.tensor}), runs),
        "postprocess": median_ms(lambda: run_postprocess(outputs, sdk["task"], post, prepared.geometry, prepared.input_hw), runs),
        "e2e": median_ms(end_to_end, runs),
    }


def bench_bundle(bundle_path: str | Path, runs: int = 50, threads: int = 1, build_dir: Path | None = None, roofline_png: Path | None = None) -> dict[str, Any]:
    """Latencies of the C++ SDK, a bare session and the Python pipeline; with the roofline of the
    SDK's stages: the op counter reads the bundle's model (roofline.COUNTED_FORMATS) or the work its
    build recorded of the graph the model was converted from (roofline.WORK_REPORT), else why not
    (roofline.bundle_work)."""
    bundle = Path(bundle_path)
    sdk = bundle_mod.load_sdk_json(bundle)
    if sdk["model"].get("encrypted"):
        # Both the bare session and the Python pipeline would need the plaintext model on disk.
        raise InputError(f"{bundle} holds an encrypted model: `edgesdk bench` compares against a bare session on the model file (benchmarks/bench_encryption.py measures decryption + load)")
    index = golden.load_index(bundle)
    image = bundle / golden.GOLDEN_DIR / index["cases"][0]["image"]
    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-") as tmp:
        binary = hosttest.build_sample(bundle, build_dir or Path(tmp) / "build")
        cpp = hosttest.run_sample(binary, bundle, image, extra=["--bench", str(runs), "--threads", str(threads)])["bench"]
    py = python_pipeline_ms(bundle, image, runs, threads)
    cpp_e2e = cpp["e2e_ms"]["median"]
    stage_ms = {"preprocess": cpp["preprocess_ms"], "infer": cpp["infer_ms"], "postprocess": cpp["postprocess_ms"], "e2e": cpp_e2e}
    return {
        "bundle": str(bundle),
        "image": image.name,
        "runs": runs,
        "threads": threads,
        "cpp_sdk_ms": {"e2e": cpp_e2e, "preprocess": cpp["preprocess_ms"], "infer": cpp["infer_ms"], "postprocess": cpp["postprocess_ms"]},
        # Processor time (the medians): what the stages cost without the other processes' share of a loaded machine.
        "cpp_sdk_cpu_ms": {"e2e": cpp["e2e_cpu_ms"]["median"], "infer": cpp["infer_cpu_ms"]["median"]},
        "bare_session_ms": cpp["bare_session_ms"],
        "python_pipeline_ms": py,
        "ratios": {
            "sdk_infer_vs_bare_session": cpp["infer_ms"] / cpp["bare_session_ms"],
            "sdk_e2e_vs_bare_session": cpp_e2e / cpp["bare_session_ms"],
            "python_e2e_vs_sdk_e2e": py["e2e"] / cpp_e2e,
            "python_preprocess_vs_sdk_preprocess": py["preprocess"] / max(cpp["preprocess_ms"], 1e-9),
        },
        "roofline": _roofline(bundle, sdk, stage_ms, threads, image, roofline_png),
    }


def _roofline(bundle: Path, sdk: dict[str, Any], stage_ms: dict[str, float], threads: int, image: Path, png: Path | None) -> dict[str, Any]:
    from edgesdk import roofline

    counted = roofline.bundle_work(bundle, sdk)
    if isinstance(counted, str):
        return {"skipped": counted}
    report = roofline.roofline(sdk, counted, stage_ms, threads, image_bytes=decode_image(image).nbytes)
    if png is not None:
        report["chart"] = str(roofline.write_chart(report, png, f"{sdk['name']} {sdk['version']} ({sdk['runtime']}, {report['precision']}, {threads} thread{'s' if threads > 1 else ''})"))
    return report
