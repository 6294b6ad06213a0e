"""int8 against the compute floor, in ONNX Runtime and OpenVINO, for the ResNet-18 layout at 224,
1 thread, everything measured in one run:

- the floor: the model's operations (edgesdk.roofline.count_work) over this CPU's int8 peak, the
  fastest of every u8 x s8 GEMM probe of the run in every runtime that has them
  (edgesdk.roofline.machine_peak, the same peak as `edgesdk bench`'s; every probe's figure is
  printed, with the instruction set the peak assumes and the clock it implies), and beside it the
  vector units' own u8 x s8 rate at the measured clock (benchmarks/isa_rates.c, x86-64 with a C
  compiler): the hard ceiling no kernel passes, and the probes' share of it;
- per runtime, the int8 bundle built with the translator's settings, and the same float model
  quantized with each alternative setting tried, each in a bare Python session of its runtime;
- the int8 bundle's C++ SDK (its sample app's --bench): inference, end to end (pre-processing a
  photo, inference, post-processing) and the C++ bare session on the same model file, in wall
  time and in the process's processor time.

Timings on a shared 2-core machine swing run to run: every measurement takes turns with the
others, round by round (ROUNDS rounds, each the median of --runs runs), and each keeps the median
of its quieter half of rounds; the peak is the fastest probe of the run. What counts are the
ratios, printed last with the load average. Under heavy load (a load average several times the
core count) a 100 ms inference spans many scheduler slices while the 2 ms probe fits in one, so
the quiet-half medians overstate the ratio; the fastest decile of all runs (p10) is printed beside
them as the estimate closest to a quiet machine, and so is the fastest decile of each bare run's
CPU time (the calling thread's, time.thread_time: at 1 thread both runtimes infer in the caller's
thread), which leaves out the time the scheduler gave other processes: the bare settings compared
by the work they do, whatever the load.
Usage: python benchmarks/bench_int8_floor.py [--runtimes onnxruntime,openvino] [--runs 15] [--calib 32] [--held-out 50] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_quantization import augmented, project  # noqa: E402

from edgesdk import api, golden, hosttest, roofline  # noqa: E402
from edgesdk.manifest import load_manifest  # noqa: E402
from edgesdk.processing import run_preprocess  # noqa: E402

ROUNDS = 7
INFER_TARGET, E2E_TARGET = 1.15, 1.2


def build(manifest_path: Path, runtime: str, mode: str, calib: int, out: Path) -> Path:
    data = yaml.safe_load(manifest_path.read_text())
    data["quantization"] = {"mode": "none"} if mode == "none" else {"mode": mode, "calibration": {"data": "calib", "samples": calib, "method": "minmax"}}
    data["parity"] = {} if mode == "none" else {"top1_agreement_min": 0.0, "cosine_min": 0.9}  # random weights: measured here, not gated
    data["version"] = "1.0.0" if mode == "none" else "1.0.1"
    manifest_path.write_text(yaml.safe_dump(data, sort_keys=False))
    return api.build(manifest_path, target="x86", runtime=runtime, out=out, force=True).bundle


# ---- the settings tried, per runtime: name -> a runner of that model ----------------------------
def onnxruntime_settings(fp32: Path, int8: Path, calibration, work: Path) -> dict[str, Callable]:
    """The bundle's model, and the float model quantized as the translator once did or might."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from edgesdk.quantize.onnxruntime import OnnxRuntimePlan
    from edgesdk.sources import onnx_file_runner

    plan = OnnxRuntimePlan(fp32, "int8", True, calibration, work)

    def quantized(name: str, **overrides) -> Path:
        args = dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, reduce_range=True)
        quantize_static(fp32, work / name, calibration_data_reader=None, calibrate_method=CalibrationMethod.MinMax, calibration_cache_path=plan._cache, **{**args, **overrides})
        return work / name

    models = {
        "bundle: U8S8 QDQ, all ops, 7-bit, per-channel": int8,
        "weighted layers only, 8-bit (the earlier bundle)": quantized("layers.onnx", nodes_to_quantize=plan.layers, reduce_range=False),
        "all ops, 8-bit weights": quantized("all8.onnx", reduce_range=False),
        "all ops, per-tensor weights": quantized("pertensor.onnx", per_channel=False),
        "S8S8": quantized("s8s8.onnx", activation_type=QuantType.QInt8),
        "fp32": fp32,
    }
    return {name: onnx_file_runner(path, threads=1) for name, path in models.items()}


def openvino_settings(fp32: Path, int8: Path, calibration, work: Path) -> dict[str, Callable]:
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from edgesdk.backends.openvino import config, ir_runner

    core = ov.Core()

    def quantized(name: str, preset, bias_correction: bool) -> Path:
        advanced = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX, disable_bias_correction=not bias_correction)
        model = nncf.quantize(
            core.read_model(str(fp32)), nncf.Dataset(calibration.tensors), preset=preset, target_device=nncf.TargetDevice.CPU, subset_size=len(calibration.tensors), advanced_parameters=advanced
        )
        ov.save_model(model, str(work / name), compress_to_fp16=False)
        return work / name

    def head_float(name: str) -> Path:
        """The bundle's NNCF settings with the MatMul producing the output (the classifier head) ignored: float32."""
        from edgesdk.quantize.openvino import OpenVinoPlan

        plan = OpenVinoPlan(fp32, "int8", True, calibration)
        heads = [op.get_friendly_name() for op in core.read_model(str(fp32)).get_ordered_ops() if op.get_type_name() == "MatMul"][-1:]
        model = plan._int8(core.read_model(str(fp32)), heads)
        ov.save_model(model, str(work / name), compress_to_fp16=False)
        return work / name

    def unpinned(xml: Path) -> Callable:
        """The SDK's hints and ENABLE_CPU_PINNING off (at 1 thread OpenVINO infers in the caller's thread, unpinned, either way)."""
        compiled = core.compile_model(core.read_model(str(xml)), "CPU", {**config(1), "ENABLE_CPU_PINNING": False})
        request = compiled.create_infer_request()
        return lambda feeds: request.infer(feeds)

    def plugin_defaults(xml: Path) -> Callable:
        """Only the thread count: what a caller compiling model.xml without the SDK's hints gets."""
        compiled = core.compile_model(core.read_model(str(xml)), "CPU", {"INFERENCE_NUM_THREADS": config(1)["INFERENCE_NUM_THREADS"]})
        request = compiled.create_infer_request()
        return lambda feeds: request.infer(feeds)

    return {
        "bundle: NNCF MIXED, fast bias correction, f32 + LATENCY hints": ir_runner(int8, threads=1),
        "bundle IR, plugin default hints": plugin_defaults(int8),
        "bundle IR, CPU pinning off": unpinned(int8),
        "bundle settings, output MatMul kept float32": ir_runner(head_float("headfloat.xml"), threads=1),
        "NNCF PERFORMANCE preset": ir_runner(quantized("performance.xml", nncf.QuantizationPreset.PERFORMANCE, True), threads=1),
        "NNCF MIXED, no bias correction": ir_runner(quantized("nobias.xml", nncf.QuantizationPreset.MIXED, False), threads=1),
        "fp32": ir_runner(fp32, threads=1),
    }


SETTINGS = {"onnxruntime": onnxruntime_settings, "openvino": openvino_settings}


# ---- measuring ----------------------------------------------------------------------------------
def isa_rates(tmp: Path) -> dict[str, float] | None:
    """benchmarks/isa_rates.c's clock and vector rates, or None off x86-64 or without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if platform.machine() != "x86_64" or compiler is None:
        return None
    binary = tmp / "isa_rates"
    subprocess.run([compiler, "-O2", str(REPO / "benchmarks" / "isa_rates.c"), "-o", str(binary)], check=True)
    return json.loads(subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout)


def timed_ms(fn: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and calling-thread CPU milliseconds of each of `runs` calls."""
    times, cpu = [], []
    for _ in range(runs):
        start_cpu, start = time.thread_time(), time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
    return times, cpu


def p10(values: list[float]) -> float:
    return float(np.percentile(values, 10))


def quiet(rounds: list[float]) -> float:
    """The median of the quieter half of the rounds."""
    return statistics.median(sorted(rounds)[: len(rounds) // 2 + 1])


def agreement(run: Callable, reference: Callable, name: str, tensors: list[np.ndarray]) -> dict[str, float]:
    """Top-1 agreement and the worst cosine against the runtime's fp32 model on held-out images."""
    top1, cosines = [], []
    for t in tensors:
        a, b = np.asarray(run({name: t})[0]).ravel(), np.asarray(reference({name: t})[0]).ravel()
        top1.append(a.argmax() == b.argmax())
        cosines.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    return {"top1_agreement": float(np.mean(top1)), "cosine_min": min(cosines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", default="onnxruntime,openvino")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--calib", type=int, default=32)
    parser.add_argument("--held-out", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runtimes = args.runtimes.split(",")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="edgesdk-int8floor-") as tmp_name:
        tmp = Path(tmp_name)
        manifest_path = project(tmp, "resnet18-like", args.calib)
        manifest = load_manifest(manifest_path)
        name = manifest.model.inputs[0].name
        held_out = [run_preprocess(img, "rgb", manifest.pre_steps()).tensor for img in augmented(args.held_out, seed=0)]
        from edgesdk.manifest import CalibrationSpec
        from edgesdk.quantize.calibration import load_calibration

        calibration = load_calibration(manifest, CalibrationSpec(data="calib", samples=args.calib, method="minmax"))
        sessions: dict[str, dict[str, Callable]] = {}
        accuracy: dict[str, dict[str, dict[str, float]]] = {}
        sdk: dict[str, tuple[Path, Path, Path]] = {}
        operations = 0
        for runtime in runtimes:
            fp32 = build(manifest_path, runtime, "none", args.calib, tmp / runtime / "fp32")
            int8 = build(manifest_path, runtime, "int8", args.calib, tmp / runtime / "int8")
            model_file = json.loads((int8 / "sdk.json").read_text())["model"]["file"]
            fp32_model, int8_model = fp32 / model_file, int8 / model_file
            operations = roofline.count_work(fp32_model).operations
            work = tmp / runtime / "settings"
            work.mkdir()
            sessions[runtime] = SETTINGS[runtime](fp32_model, int8_model, calibration, work)
            reference = sessions[runtime]["fp32"]
            accuracy[runtime] = {s: agreement(run, reference, name, held_out) for s, run in sessions[runtime].items() if s != "fp32" and "default hints" not in s and "pinning" not in s}
            binary = hosttest.build_sample(int8, tmp / runtime / "build")
            image = int8 / golden.GOLDEN_DIR / golden.load_index(int8)["cases"][0]["image"]
            sdk[runtime] = (binary, int8, image)

        feeds = {name: held_out[0]}
        for runs in sessions.values():
            for run in runs.values():
                for _ in range(3):
                    run(feeds)
        peaks: list[roofline.Peak] = []
        vector_units = isa_rates(tmp)
        bare: dict[str, dict[str, list[float]]] = {rt: {s: [] for s in runs} for rt, runs in sessions.items()}
        every_run: dict[str, dict[str, list[float]]] = {rt: {s: [] for s in runs} for rt, runs in sessions.items()}
        every_cpu: dict[str, dict[str, list[float]]] = {rt: {s: [] for s in runs} for rt, runs in sessions.items()}
        cpp: dict[str, dict[str, list[float]]] = {rt: {"infer": [], "e2e": [], "e2e_p10": [], "bare_session": [], "preprocess": [], "infer_cpu": [], "e2e_cpu": []} for rt in runtimes}
        for _ in range(ROUNDS):
            peaks.append(roofline.machine_peak(int8=True, threads=1))
            for runtime in runtimes:
                for setting, run in sessions[runtime].items():
                    times, cpu_times = timed_ms(lambda: run(feeds), args.runs)  # noqa: B023 (called at once)
                    bare[runtime][setting].append(statistics.median(times))
                    every_run[runtime][setting] += times
                    every_cpu[runtime][setting] += cpu_times
                binary, bundle, image = sdk[runtime]
                bench = hosttest.run_sample(binary, bundle, image, extra=["--bench", str(args.runs), "--threads", "1"])["bench"]
                for key, value in (
                    ("infer", bench["infer_ms"]),
                    ("e2e", bench["e2e_ms"]["median"]),
                    ("e2e_p10", bench["e2e_ms"]["p10"]),
                    ("bare_session", bench["bare_session_ms"]),
                    ("preprocess", bench["preprocess_ms"]),
                    ("infer_cpu", bench["infer_cpu_ms"]["p10"]),
                    ("e2e_cpu", bench["e2e_cpu_ms"]["p10"]),
                ):
                    cpp[runtime][key].append(value)

    machine = roofline.best_peak(peaks)
    peak = machine.gops
    floor_ms = operations / peak / 1e6
    isa = roofline.vector_isa()
    results = {
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "operations": operations,
        "peak_gops": peak,
        "peak_probe": f"{machine.probe}, the fastest probe of the run",
        "probes_gops": machine.probes_gops,
        "peak_gops_by_runtime": {rt: roofline.runtime_peak(machine, rt) for rt in roofline.PROBE_RUNTIMES if roofline.runtime_peak(machine, rt)},
        "isa": {"name": isa.name, "kernel": isa.int8_kernel, "ops_per_cycle": isa.int8_ops_per_cycle, "implied_clock_ghz": peak / isa.int8_ops_per_cycle if isa.int8_ops_per_cycle else None},
        "vector_units": vector_units,
        "floor_ms": floor_ms,
        "runtimes": {},
    }
    for runtime in runtimes:
        settings = {
            s: {
                "bare_ms": quiet(r),
                "vs_floor": quiet(r) / floor_ms,
                "bare_p10_ms": p10(every_run[runtime][s]),
                "p10_vs_floor": p10(every_run[runtime][s]) / floor_ms,
                "cpu_p10_ms": p10(every_cpu[runtime][s]),
                "cpu_p10_vs_floor": p10(every_cpu[runtime][s]) / floor_ms,
                **accuracy[runtime].get(s, {}),
            }
            for s, r in bare[runtime].items()
        }
        c = {k: quiet(v) for k, v in cpp[runtime].items() if k not in ("e2e_p10", "infer_cpu", "e2e_cpu")}
        c["e2e_p10"] = min(cpp[runtime]["e2e_p10"])
        # Processor time: each round's fastest decile, the median of the rounds.
        c["infer_cpu"], c["e2e_cpu"] = statistics.median(cpp[runtime]["infer_cpu"]), statistics.median(cpp[runtime]["e2e_cpu"])
        results["runtimes"][runtime] = {
            "settings": settings,
            "cpp_sdk_ms": c,
            "cpp_sdk_infer_vs_floor": c["infer"] / floor_ms,
            "cpp_sdk_e2e_vs_floor": c["e2e"] / floor_ms,
            "cpp_sdk_e2e_p10_vs_floor": c["e2e_p10"] / floor_ms,
            "cpp_sdk_infer_vs_cpp_bare": c["infer"] / c["bare_session"],
            "cpp_sdk_infer_cpu_vs_floor": c["infer_cpu"] / floor_ms,
            "cpp_sdk_e2e_cpu_vs_floor": c["e2e_cpu"] / floor_ms,
        }
        if vector_units:
            ceiling_ms = operations / vector_units["int8_gops"] / 1e6
            results["runtimes"][runtime] |= {"cpp_sdk_infer_vs_vector_units": c["infer"] / ceiling_ms, "cpp_sdk_e2e_vs_vector_units": c["e2e"] / ceiling_ms}
    report(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")


def report(results: dict) -> None:
    print(f"floor: {results['operations'] / 1e9:.3f} GOP / {results['peak_gops']:.0f} GOP/s ({results['peak_probe']}) = {results['floor_ms']:.2f} ms")
    print("every probe (GOP/s): " + ", ".join(f"{probe} {p:.0f}" for probe, p in results["probes_gops"].items()))
    isa = results["isa"]
    if isa["ops_per_cycle"]:
        print(f"instruction set: {isa['name']}, int8 by {isa['kernel']}: {isa['ops_per_cycle']} op/cycle, so the peak implies {isa['implied_clock_ghz']:.2f} GHz")
    units = results["vector_units"]
    if units:
        print(
            f"vector units (benchmarks/isa_rates.c): {units['clock_ghz']:.2f} GHz, u8 x s8 by {units['int8_kernel']} {units['int8_gops']:.0f} GOP/s ({units['int8_ops_per_cycle']:.1f} op/cycle),"
            f" float32 by {units['float32_kernel']} {units['float32_gops']:.0f} GFLOP/s: the peak is {100 * results['peak_gops'] / units['int8_gops']:.0f}% of the u8 x s8 rate"
        )
    for runtime, r in results["runtimes"].items():
        print(f"\n{runtime}: bare Python session, 1 thread")
        print(f"  {'setting':60} {'ms':>8} {'x floor':>8} {'p10 ms':>8} {'x floor':>8} {'CPU p10':>8} {'x floor':>8} {'top-1 agr':>9} {'min cos':>8}")
        for setting, s in r["settings"].items():
            print(
                f"  {setting:60} {s['bare_ms']:8.2f} {s['vs_floor']:8.2f} {s['bare_p10_ms']:8.2f} {s['p10_vs_floor']:8.2f} {s['cpu_p10_ms']:8.2f} {s['cpu_p10_vs_floor']:8.3f}"
                f" {s.get('top1_agreement', float('nan')):9.3f} {s.get('cosine_min', float('nan')):8.4f}"
            )
        c = r["cpp_sdk_ms"]
        verdict = "met" if r["cpp_sdk_infer_vs_floor"] <= INFER_TARGET and r["cpp_sdk_e2e_vs_floor"] <= E2E_TARGET else "NOT met"
        print(
            f"  C++ SDK (bundle): infer {c['infer']:.2f} ms = {r['cpp_sdk_infer_vs_floor']:.2f}x floor, end to end {c['e2e']:.2f} ms = {r['cpp_sdk_e2e_vs_floor']:.2f}x floor"
            f" (p10 {c['e2e_p10']:.2f} ms = {r['cpp_sdk_e2e_p10_vs_floor']:.2f}x; pre-processing {c['preprocess']:.2f} ms), SDK / C++ bare session {r['cpp_sdk_infer_vs_cpp_bare']:.2f};"
            f" targets {INFER_TARGET}x / {E2E_TARGET}x: {verdict}"
        )
        print(
            f"  C++ SDK processor time (p10): infer {c['infer_cpu']:.2f} ms = {r['cpp_sdk_infer_cpu_vs_floor']:.3f}x floor,"
            f" end to end {c['e2e_cpu']:.2f} ms = {r['cpp_sdk_e2e_cpu_vs_floor']:.3f}x floor"
        )
        if "cpp_sdk_infer_vs_vector_units" in r:
            print(f"  against the vector units' u8 x s8 rate instead of the probes: infer {r['cpp_sdk_infer_vs_vector_units']:.2f}x, end to end {r['cpp_sdk_e2e_vs_vector_units']:.2f}x")
    load = results["load_average"]
    print(f"\nload average (1, 5, 15 min): before {tuple(round(v, 1) for v in load['before'])}, after {tuple(round(v, 1) for v in load['after'])}")


if __name__ == "__main__":
    main()
