"""The C++ SDK on every x86/arm runtime that runs here, at fp32 / fp16 / int8, in one run:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_runtimes.py --json bench_runtimes.json

builds the example classifier and a ResNet-18-like model (benchmarks/models.py) from one manifest
each for every runtime of the x86 and arm targets whose C++ SDK compiles on this machine, at each
precision its quantization translator has (a mode the build refuses gets a "not supported: <why>"
row), and measures with `edgesdk bench`'s machinery (edgesdk/benchmark.py, 1 thread): the C++
SDK's pre-processing, inference and end to end, the bare runtime session and, right after each
bundle, PyTorch eager (fp32, torch.set_num_threads(1)) on the same input and the compute floor
(the model's operations / this CPU's peak at the precision, from the GEMM probes of
edgesdk/roofline.py). The table gives ratios to those baselines, since absolute times on a
shared CPU swing run to run. The arm bundles of runtimes with an aarch64 C++ package (ncnn, ONNX
Runtime) of the example are then golden-tested under qemu-aarch64 (`edgesdk test --device qemu-aarch64`):
correctness only, qemu says nothing about speed.

The table replaces the block between README_BEGIN and README_END in README.md (nothing else);
`--json FILE` keeps every number, each bundle's `edgesdk bench` report included.
`--quick`: the example only, fewer runs and calibration images, README left alone unless
`--readme FILE` names one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from edgesdk import api, bundle, roofline  # noqa: E402
from edgesdk.backends import availability, get_backend  # noqa: E402
from edgesdk.benchmark import bench_bundle, median_ms  # noqa: E402
from edgesdk.errors import BackendUnavailable, EdgeSdkError, InputError, ManifestError, UnsupportedOpError  # noqa: E402
from edgesdk.targets import TARGETS  # noqa: E402

README_BEGIN = "<!-- bench-runtimes:begin -->"
README_END = "<!-- bench-runtimes:end -->"
COMMAND = "PYTHONPATH=. .venv/bin/python benchmarks/bench_runtimes.py"
HOST_TARGETS = ("x86", "arm")  # the targets whose C++ SDK is compiled and run on this CPU
QEMU_TARGET = "arm"
QEMU_PRECISIONS = ("fp32", "int8")
# The models whose arm bundles run under qemu: emulated, the ResNet-18 layout's golden runs and
# its extra arm builds would add many minutes to a run that is about speed.
QEMU_MODELS = ("example",)
# Table precision -> manifest quantization mode.
PRECISIONS = {"fp32": "none", "fp16": "fp16", "int8": "int8"}
MODELS = ("example", "resnet18-like")
# What a build raises when it refuses a runtime/mode (as opposed to failing at it).
REFUSALS = (ManifestError, InputError, UnsupportedOpError, BackendUnavailable)
THREADS = 1


@dataclass
class Row:
    """One bundle of the speed table: measured, or why not."""

    model: str
    runtime: str
    target: str
    precision: str
    status: str = "ok"  # ok | not supported | not run | failed
    reason: str = ""
    build_s: float | None = None
    preprocess_ms: float | None = None
    infer_ms: float | None = None
    e2e_ms: float | None = None
    infer_cpu_ms: float | None = None  # processor time of the C++ SDK's inference and end to end
    e2e_cpu_ms: float | None = None
    bare_session_ms: float | None = None
    eager_ms: float | None = None
    floor_ms: float | None = None
    floor_probe: str | None = None
    bench: dict[str, Any] = field(default_factory=dict)  # edgesdk bench's report

    @property
    def ratios(self) -> dict[str, float | None]:
        def ratio(a: float | None, b: float | None) -> float | None:
            return a / b if a is not None and b else None

        return {
            "e2e_vs_eager": ratio(self.e2e_ms, self.eager_ms),
            "infer_vs_bare_session": ratio(self.infer_ms, self.bare_session_ms),
            "infer_vs_floor": ratio(self.infer_ms, self.floor_ms),
            "e2e_vs_floor": ratio(self.e2e_ms, self.floor_ms),
            "infer_cpu_vs_floor": ratio(self.infer_cpu_ms, self.floor_ms),
            "e2e_cpu_vs_floor": ratio(self.e2e_cpu_ms, self.floor_ms),
        }


@dataclass
class QemuRow:
    model: str
    runtime: str
    precision: str
    result: str  # "passed (N golden cases)" | "failed: ..." | "not run: ..." | "not supported: ..."


# ---- README block --------------------------------------------------------------------------------
def replace_block(text: str, block: str, begin: str = README_BEGIN, end: str = README_END) -> str:
    """`text` with everything between the `begin` and `end` marker lines replaced by `block`; the
    markers and everything outside them stay byte for byte. Each marker must appear exactly once,
    begin before end: a README edited into another shape is refused, not guessed at."""
    for marker in (begin, end):
        count = text.count(marker)
        if count != 1:
            raise InputError(f"README: the marker {marker} must appear exactly once (found {count}); put the two markers where the benchmark table goes")
    start, stop = text.index(begin) + len(begin), text.index(end)
    if stop < start:
        raise InputError(f"README: {end} comes before {begin}")
    return text[:start] + "\n" + block.strip("\n") + "\n" + text[stop:]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g} ms" if value < 10 else f"{value:.1f} ms"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_block(meta: dict[str, Any], rows: list[Row], qemu_rows: list[QemuRow]) -> str:
    """The README block: header line, speed table, footnotes and the qemu correctness table."""
    load = "/".join(f"{v:.2f}" for v in meta["load_start"])
    load_end = "/".join(f"{v:.2f}" for v in meta["load_end"])
    lines = [
        f"Measured {meta['date']} on {meta['machine']}, {meta['threads']} thread, load average {load} (1/5/15 min) at the start and {load_end} at the end: "
        "the machine is shared and loaded, so absolute times are pessimistic; the ratios, each to a baseline measured right after the bundle, are what counts. "
        f"Command: `{meta['command']}`.",
        "",
        "| model | runtime (target) | precision | C++ pre-processing | inference | end to end | bare session | PyTorch eager | e2e / eager | inference / bare "
        "| floor* | inference / floor | end to end / floor | processor time**: inference, end to end / floor |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        head = f"| {row.model} | {row.runtime} ({row.target}) | {row.precision} |"
        if row.status != "ok":
            lines.append(f"{head} {row.status}: {_cell(row.reason)} |" + " |" * 10)
            continue
        r = row.ratios
        lines.append(
            f"{head} {_ms(row.preprocess_ms)} | {_ms(row.infer_ms)} | {_ms(row.e2e_ms)} | {_ms(row.bare_session_ms)} | {_ms(row.eager_ms)} | "
            f"{_x(r['e2e_vs_eager'])} | {_x(r['infer_vs_bare_session'])} | {_ms(row.floor_ms)} | {_x(r['infer_vs_floor'])} | {_x(r['e2e_vs_floor'])} | "
            f"{_pair(r['infer_cpu_vs_floor'], r['e2e_cpu_vs_floor'])} |"
        )
    lines += [
        "",
        "*floor = the model's operations (edgesdk/roofline.py's count of its float32 graph, a multiply-add counted as 2) / this CPU's 1-thread peak at the "
        "precision, the fastest GEMM probe of ONNX Runtime and OpenVINO (a MatMul and a 1x1 Convolution each; float32, or int8 u8 x s8 Q/DQ) run right after the bundle. fp16 bundles "
        "compute in float32 on this CPU (fp16 weights), so their floor is the float32 one. Bare session: the runtime's own session on the same tensor, in the "
        "same C++ binary; PyTorch eager: the float32 module on the model's input shape. A ratio to the floor under 1 is a runtime doing fewer "
        "multiplies than the count: ncnn runs 3x3 stride-1 convolutions as Winograd transforms.",
        "",
        "**processor time of the C++ SDK process (medians), against the same floor: on a loaded machine wall time also holds the slices the scheduler "
        "gives other processes, which the floor's short probe escapes; processor time counts only the work done (cache and memory contention from the "
        "other processes stay in).",
        "",
        f"aarch64 under qemu-aarch64 ({', '.join(QEMU_MODELS)}; `edgesdk test BUNDLE --device qemu-aarch64`: cross-compiled from the bundle, "
        "golden vectors compared as on the host; correctness, not speed):",
        "",
        "| model | runtime | precision | golden tests under qemu-aarch64 |",
        "|---|---|---|---|",
    ]
    lines += [f"| {q.model} | {q.runtime} (arm) | {q.precision} | {_cell(q.result)} |" for q in qemu_rows]
    return "\n".join(lines)


def _pair(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a:.2f}, {b:.2f}"


def _cell(text: str, limit: int = 300) -> str:
    """One table cell: a single line, no pipes, bounded (a toolchain error can be pages long)."""
    flat = " ".join(text.split()).replace("|", "/")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


# ---- what runs here ------------------------------------------------------------------------------
def host_runtimes() -> list[tuple[str, str, str | None]]:
    """(runtime, target, why it cannot run here or None) for every runtime of HOST_TARGETS with a
    C++ SDK, each once (its first target), as the backends themselves report it."""
    seen, found = set(), []
    for target in HOST_TARGETS:
        if "cpp" not in TARGETS[target].languages:
            continue
        for runtime in TARGETS[target].runtimes:
            if runtime in seen:
                continue
            seen.add(runtime)
            found.append((runtime, target, _cpp_problem(runtime, lambda backend: backend.cpp_package())))
    return found


def _cpp_problem(runtime: str, package: Callable[[Any], Any]) -> str | None:
    ok, why = availability(runtime)
    if not ok:
        return why
    try:
        package(get_backend(runtime))
    except (BackendUnavailable, ImportError) as exc:
        return str(exc)
    return None


def mode_problem(runtime: str, precision: str) -> str | None:
    """Why `runtime` has no `precision`, in its quantization translator's words, or None."""
    from edgesdk import quantize

    mode = PRECISIONS[precision]
    if mode == "none":
        return None
    try:
        quantize.get_translator(runtime, mode)
    except REFUSALS as exc:
        return str(exc)
    return None


# ---- building ------------------------------------------------------------------------------------
def write_manifest(folder: Path, precision: str, calib: int) -> Path:
    """The model's one manifest (edgesdk.yaml) with only its quantization block set for `precision`."""
    data = yaml.safe_load((folder / "edgesdk.yaml").read_text())
    mode = PRECISIONS[precision]
    data["quantization"] = {"mode": mode, "calibration": {"data": "calib", "samples": calib}} if mode == "int8" else {"mode": mode}
    if mode != "none":
        # Measured here, not gated: the ResNet-18 layout's weights are random, so its top-1 margins sit below int8 noise.
        data["parity"] = {"top1_agreement_min": 0.0, "cosine_min": 0.9}
    path = folder / f"edgesdk-{precision}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def build(folder: Path, target: str, runtime: str, precision: str, calib: int, out: Path) -> tuple[Path | None, str, str]:
    """(bundle, status, reason): the bundle and "ok", or None and why not."""
    problem = mode_problem(runtime, precision)
    if problem:
        return None, "not supported", problem
    try:
        built = api.build(write_manifest(folder, precision, calib), target=target, runtime=runtime, out=out / f"{target}-{runtime}-{precision}", force=True)
    except REFUSALS as exc:
        return None, "not supported", str(exc)
    except EdgeSdkError as exc:  # parity gate, converter or toolchain failure: shown, not hidden
        return None, "failed", f"{type(exc).__name__}: {exc}"
    return built.bundle, "ok", ""


# ---- baselines -----------------------------------------------------------------------------------
def eager_ms(module, shape: tuple[int, ...], runs: int) -> float:
    """PyTorch eager, float32, 1 thread, on a tensor of the model's input shape."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            return median_ms(lambda: module(x), runs)
    finally:
        torch.set_num_threads(threads)


def peak_gops(precision: str, report: dict[str, Any]) -> tuple[float, str]:
    """This CPU's 1-thread peak at `precision`: the one `edgesdk bench` measured for the bundle's
    roofline right before (roofline.machine_peak), or, where its roofline was skipped (a model
    format the op counter does not read), the same probes run here."""
    roof = report.get("roofline", {})
    if "peak_gops" in roof:
        if roof["precision"] != ("int8" if precision == "int8" else "float32"):
            raise InputError(f"the bundle's roofline is at {roof['precision']}, its table row at {precision}")
        return roof["peak_gops"], f"{roof['peak_probe']} ({roof['peak_gops']:.0f} GOP/s)"
    peak = roofline.machine_peak(precision == "int8", THREADS)
    return peak.gops, f"{peak.probe} ({peak.gops:.0f} GOP/s)"


def model_operations(bundle_path: Path) -> int | None:
    """The operations of a float32 bundle's model, where roofline can read its format."""
    model = bundle_path / bundle.load_sdk_json(bundle_path)["model"]["file"]
    return roofline.count_work(model).operations if model.suffix in (".onnx", ".xml") else None


def measure(row: Row, bundle_path: Path, module, shape: tuple[int, ...], operations: int | None, runs: int) -> None:
    report = bench_bundle(bundle_path, runs=runs, threads=THREADS)
    cpp = report["cpp_sdk_ms"]
    row.preprocess_ms, row.infer_ms, row.e2e_ms = cpp["preprocess"], cpp["infer"], cpp["e2e"]
    row.infer_cpu_ms, row.e2e_cpu_ms = report["cpp_sdk_cpu_ms"]["infer"], report["cpp_sdk_cpu_ms"]["e2e"]
    row.bare_session_ms = report["bare_session_ms"]
    row.bench = report
    row.eager_ms = eager_ms(module, shape, runs)
    if operations:
        peak, row.floor_probe = peak_gops(row.precision, report)
        row.floor_ms = operations / peak / 1e6


# ---- qemu ----------------------------------------------------------------------------------------
def qemu_result(bundle_path: Path) -> str:
    try:
        result = api.test(bundle_path, device="qemu-aarch64")
    except BackendUnavailable as exc:
        return f"not run: {exc}"
    except EdgeSdkError as exc:
        return f"failed: {exc}"
    return f"passed ({len(result['cases'])} golden cases)"


# ---- the run -------------------------------------------------------------------------------------
def run_model(name: str, tmp: Path, runs: int, calib: int, log: Callable[[str], None]) -> tuple[list[Row], list[QemuRow]]:
    from bench_quantization import project
    from models import eager_model

    from edgesdk.manifest import load_manifest

    manifest_path = project(tmp, name, calib)
    folder = manifest_path.parent
    shape = tuple(load_manifest(manifest_path).model.inputs[0].shape)
    module = eager_model(name)
    rows: list[Row] = []
    bundles: dict[tuple[str, str, str], Path] = {}
    operations: int | None = None
    for runtime, target, problem in host_runtimes():
        if problem:
            rows.append(Row(name, runtime, target, "all", "not run", problem))
            continue
        for precision in PRECISIONS:
            row = Row(name, runtime, target, precision)
            rows.append(row)
            log(f"{name}: {runtime} ({target}) {precision}: building")
            start = time.perf_counter()
            path, row.status, row.reason = build(folder, target, runtime, precision, calib, tmp / "dist" / name)
            row.build_s = time.perf_counter() - start
            if path is None:
                log(f"  {row.status}: {row.reason}")
                continue
            bundles[(runtime, target, precision)] = path
            if operations is None and precision == "fp32":
                operations = model_operations(path)
            log(f"  built in {row.build_s:.0f} s; measuring")
            measure(row, path, module, shape, operations, runs)
            log(f"  e2e {row.e2e_ms:.2f} ms, infer {row.infer_ms:.2f} ms, bare {row.bare_session_ms:.2f} ms, eager {row.eager_ms:.2f} ms")
    return rows, qemu_rows(name, folder, bundles, calib, tmp, log) if name in QEMU_MODELS else []


def qemu_rows(name: str, folder: Path, bundles: dict[tuple[str, str, str], Path], calib: int, tmp: Path, log: Callable[[str], None]) -> list[QemuRow]:
    """The arm bundles under qemu-aarch64, reusing the speed table's arm bundles and building the rest."""
    from edgesdk import qemutest

    found = []
    for runtime in TARGETS[QEMU_TARGET].runtimes:
        problem = qemutest.tools_problem() or _cpp_problem(runtime, lambda backend: backend.cross_cpp_package(qemutest.ARCH))
        if problem:
            found.append(QemuRow(name, runtime, "all", f"not run: {problem}"))
            continue
        for precision in QEMU_PRECISIONS:
            path = bundles.get((runtime, QEMU_TARGET, precision))
            if path is None:
                log(f"{name}: {runtime} ({QEMU_TARGET}) {precision}: building for qemu-aarch64")
                path, status, reason = build(folder, QEMU_TARGET, runtime, precision, calib, tmp / "dist" / name)
                if path is None:
                    found.append(QemuRow(name, runtime, precision, f"{status}: {reason}"))
                    continue
            log(f"{name}: {runtime} ({QEMU_TARGET}) {precision}: golden tests under qemu-aarch64")
            found.append(QemuRow(name, runtime, precision, qemu_result(path)))
            log(f"  {found[-1].result}")
    return found


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model} ({os.cpu_count()} logical cores, {platform.system()} {platform.machine()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the example model only, 5 runs, 8 calibration images; README untouched unless --readme")
    parser.add_argument("--runs", type=int, help="timed runs per measurement (default 50; --quick 5)")
    parser.add_argument("--calib", type=int, help="calibration images for int8 (default 32; --quick 8)")
    parser.add_argument("--json", type=Path, help="write every number here")
    parser.add_argument("--readme", type=Path, help=f"the README whose {README_BEGIN} block is rewritten (default: the repository's README.md; --quick: none)")
    args = parser.parse_args(argv)
    runs = args.runs or (5 if args.quick else 50)
    calib = args.calib or (8 if args.quick else 32)
    readme = args.readme or (None if args.quick else REPO / "README.md")
    if readme is not None:
        replace_block(readme.read_text(encoding="utf-8"), "")  # the markers are checked before minutes of building
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "threads": THREADS,
        "load_start": list(os.getloadavg()),
        "command": " ".join([COMMAND, *map(shlex.quote, sys.argv[1:] if argv is None else argv)]),
        "runs": runs,
        "calibration_images": calib,
    }
    rows: list[Row] = []
    qemu: list[QemuRow] = []

    def log(message: str) -> None:
        print(message, flush=True)

    with tempfile.TemporaryDirectory(prefix="edgesdk-bench-runtimes-") as tmp_name:
        for name in MODELS[:1] if args.quick else MODELS:
            model_rows, model_qemu = run_model(name, Path(tmp_name), runs, calib, log)
            rows += model_rows
            qemu += model_qemu
    meta["load_end"] = list(os.getloadavg())
    block = render_block(meta, rows, qemu)
    print("\n" + block)
    if readme is not None:
        readme.write_text(replace_block(readme.read_text(encoding="utf-8"), block), encoding="utf-8")
        print(f"\nwrote the table into {readme}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": [{**asdict(r), "ratios": r.ratios} for r in rows], "qemu": [asdict(q) for q in qemu]}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
