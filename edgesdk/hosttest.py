"""Build a bundle's C++ sample app on this machine and hold it to the bundle's golden vectors.

The build happens outside the bundle (it stays exactly as its SHA256SUMS say). Each golden image
goes through `edgesdk-run --dump-dir`, and the dumped pre-processed tensor, raw outputs and the
printed result are compared with the golden files using parity.GOLDEN_TOLERANCES.

A SampleTarget says what the sample is built for and how it runs: this machine by default, or
another CPU through a CMake toolchain file and an emulator (qemutest: `--device qemu-aarch64`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import bundle as bundle_mod
from edgesdk import golden, parity
from edgesdk.backends import CppPackage, get_backend
from edgesdk.dtypes import DTYPES
from edgesdk.errors import BackendUnavailable, InputError, IntegrityError, ToolchainError
from edgesdk.parity import box_match
from edgesdk.results import Detection, TaskResult

SAMPLE_BINARY = "edgesdk-run"
SAMPLE_INTEGRITY_EXIT = 4  # the sample app's exit code for a model that fails integrity or decryption


def key_arguments(bundle: Path, key: str | None) -> list[str]:
    """The sample app's key flags for an encrypted bundle, from `--key env:NAME|file:PATH`; the key
    itself is read by the app, never passed on a command line."""
    encrypted = bool(bundle_mod.load_sdk_json(bundle)["model"].get("encrypted"))
    if not encrypted:
        if key is not None:
            raise InputError(f"--key: {bundle} is not encrypted")
        return []
    if key is None:
        raise InputError(f"{bundle} holds an encrypted model: pass --key env:NAME or --key file:PATH")
    from edgesdk.crypto import keys

    keys.load_key(key, "--key")  # a missing or malformed key is bad input (exit 2), found before compiling
    kind, _, ref = key.partition(":")
    return ["--key-env", ref] if kind == "env" else ["--key-file", str(Path(ref).resolve())]


def toolchain_problem() -> str | None:
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not on PATH (run `make system-deps`)"
    return None


def cpp_package(runtime: str) -> CppPackage:
    """The C/C++ package of the bundle's runtime, as its backend finds it on this machine."""
    return get_backend(runtime).cpp_package()


def _bundle_runtime(bundle: Path) -> str:
    return bundle_mod.load_sdk_json(bundle)["runtime"]


@dataclass(frozen=True)
class SampleTarget:
    """Where the sample app is built for and run: its CMake definitions (the runtime's package, a
    toolchain file), the command prefix that runs the binary (an emulator; none on this machine)
    and the environment of its runs."""

    name: str
    cmake_definitions: tuple[str, ...]
    env: dict[str, str]
    command_prefix: tuple[str, ...] = ()
    run_timeout_s: float | None = None  # an emulated run that hangs is cut off and reported


def host_target(bundle: Path) -> SampleTarget:
    """This machine, with the bundle's runtime as its backend finds it here."""
    package = cpp_package(_bundle_runtime(bundle))
    return SampleTarget("host", package.cmake_definitions, package.run_env())


def build_sample(bundle: Path, build_dir: Path, jobs: int = 2, target: SampleTarget | None = None) -> Path:
    """Configure and build the bundle's sample app (and with it the SDK) for `target` (default:
    this machine); returns the binary."""
    problem = toolchain_problem()
    if problem:
        raise BackendUnavailable(problem)
    definitions = (target or host_target(bundle)).cmake_definitions
    app = bundle / "sample_app"
    if not (app / "CMakeLists.txt").is_file():
        raise InputError(f"{bundle} has no C++ sample app (sample_app/CMakeLists.txt)")
    build_dir.mkdir(parents=True, exist_ok=True)
    configure = ["cmake", "-S", str(app), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", *definitions]
    _checked(configure, "configure")
    _checked(["cmake", "--build", str(build_dir), "-j", str(jobs)], "build")
    binary = build_dir / SAMPLE_BINARY
    if not binary.is_file():
        raise ToolchainError(f"the build produced no {SAMPLE_BINARY} in {build_dir}")
    return binary


def _checked(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise ToolchainError(f"C++ {what} failed ({' '.join(cmd[:2])}):\n{tail}")


@dataclass
class CaseReport:
    id: str
    preprocessed_max_abs: float
    outputs_max_abs: dict[str, float]
    result_match: bool
    problems: list[str] = field(default_factory=list)


@dataclass
class HostTestReport:
    bundle: str
    cases: list[CaseReport]

    @property
    def passed(self) -> bool:
        return all(not c.problems for c in self.cases)

    def as_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "passed": self.passed, "cases": [c.__dict__ for c in self.cases]}


def run_sample(binary: Path, bundle: Path, image: Path, dump_dir: Path | None = None, extra: list[str] | None = None, target: SampleTarget | None = None) -> dict[str, Any]:
    target = target or host_target(bundle)
    cmd = [*target.command_prefix, str(binary), "--bundle", str(bundle), "--input", str(image), "--json"]
    if dump_dir is not None:
        cmd += ["--dump-dir", str(dump_dir)]
    cmd += extra or []
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=target.env, timeout=target.run_timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"{SAMPLE_BINARY} on {target.name} did not finish {image.name} within {target.run_timeout_s:g} s") from exc
    if proc.returncode == SAMPLE_INTEGRITY_EXIT:
        raise IntegrityError(f"{SAMPLE_BINARY} refused the model on {image.name}: {proc.stderr.strip()}")
    if proc.returncode != 0:
        raise ToolchainError(f"{SAMPLE_BINARY} failed on {image.name} (exit {proc.returncode}): {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ToolchainError(f"{SAMPLE_BINARY} printed invalid JSON for {image.name}: {exc}") from exc


def read_dump(dump_dir: Path, entry: dict[str, Any]) -> np.ndarray:
    return np.fromfile(dump_dir / entry["file"], dtype=np.dtype(DTYPES[entry["dtype"]].numpy).newbyteorder("<")).reshape(entry["shape"])


def test_bundle(bundle: Path, build_dir: Path | None = None, key: str | None = None, target: SampleTarget | None = None) -> HostTestReport:
    bundle = Path(bundle)
    key_args = key_arguments(bundle, key)
    problems = bundle_mod.verify_checksums(bundle)
    if problems:
        raise IntegrityError(f"{bundle} failed its checksums: " + "; ".join(problems[:5]))
    index = golden.load_index(bundle)
    tol = index["tolerances"]
    target = target or host_target(bundle)
    with tempfile.TemporaryDirectory(prefix="edgesdk-test-") as tmp:
        binary = build_sample(bundle, Path(build_dir) if build_dir else Path(tmp) / "build", target=target)
        gdir = bundle / golden.GOLDEN_DIR
        cases = []
        for case in index["cases"]:
            dump = Path(tmp) / "dump" / case["id"]
            dump.mkdir(parents=True)
            printed = run_sample(binary, bundle, gdir / case["image"], dump, key_args, target)
            cases.append(compare_case(case, gdir, dump, printed, tol))
    return HostTestReport(str(bundle), cases)


def compare_case(case: dict[str, Any], gdir: Path, dump: Path, printed: dict[str, Any], tol: dict[str, float], check_outputs: bool = True) -> CaseReport:
    """Hold one case's dump (dump.json + raw tensors, from any language's runner) and printed
    result to the golden files. check_outputs=False when the runner did not run inference (it
    post-processed the golden outputs), so only pre-processing and the result are checked."""
    problems: list[str] = []
    meta = json.loads((dump / "dump.json").read_text(encoding="utf-8"))
    want_pre = np.load(gdir / case["preprocessed"])
    got_pre = read_dump(dump, meta["preprocessed"])
    pre_err = _max_abs(want_pre, got_pre, problems, "preprocessed")
    if np.issubdtype(want_pre.dtype, np.integer) and pre_err > 0:
        problems.append(f"preprocessed: integer tensor differs (max {pre_err})")
    elif pre_err > tol["preprocessed_float_max_abs"]:
        problems.append(f"preprocessed: max_abs {pre_err:.3g} > {tol['preprocessed_float_max_abs']}")
    out_errs = {}
    dumped = {o["name"]: o for o in meta["outputs"]}
    # A reduced-precision device run against reference outputs (parity.device_output_tolerances).
    reduced = check_outputs and "device_output_cosine_min" in tol
    for name, file in case["outputs"].items() if check_outputs else ():
        if name not in dumped:
            problems.append(f"output {name}: not produced")
            continue
        want, got_out = np.load(gdir / file), read_dump(dump, dumped[name])
        err = _max_abs(want, got_out, problems, f"output {name}")
        out_errs[name] = err
        if reduced and want.shape == got_out.shape:
            cosine = parity.compare_arrays(want, got_out).cosine
            if not cosine >= tol["device_output_cosine_min"]:
                problems.append(f"output {name}: cosine {cosine:.6f} < {tol['device_output_cosine_min']}")
        elif not reduced and err > tol["output_max_abs"]:
            problems.append(f"output {name}: max_abs {err:.3g} > {tol['output_max_abs']}")
    got = printed.get("result", {})
    if reduced:
        result_ok = _reduced_result_matches(case, gdir, dump, meta, got, tol, problems)
    elif "detections" in case["result"]:
        result_ok = _detections_match(case["result"]["detections"], got.get("detections"), tol, problems)
    elif "mask" in case:
        result_ok = _mask_matches(np.load(gdir / case["mask"]), meta.get("mask"), dump, case["result"]["mask"], got.get("mask"), tol, problems)
    else:
        result_ok = _results_match(case["result"], got, tol["score_max_abs"], problems)
    return CaseReport(case["id"], pre_err, out_errs, result_ok, problems)


def _reduced_result_matches(case: dict[str, Any], gdir: Path, dump: Path, meta: dict[str, Any], got: dict[str, Any], tol: dict[str, float], problems: list[str]) -> bool:
    """The result of a reduced-precision run: the same top-1 class; detections with the gate's F1
    (same class, IoU >= parity.DETECTION_MATCH_IOU); masks with the gate's pixel agreement."""
    want = case["result"]
    if "detections" in want:
        if got.get("detections") is None:
            problems.append("result: no detections printed")
            return False
        want_set, got_set = (TaskResult("detection", detections=[Detection(**{**d, "box": tuple(d["box"])}) for d in ds]) for ds in (want["detections"], got["detections"]))
        f1 = parity.detection_agreement([(want_set, got_set)])["detection_f1"]
        if f1 < tol["device_detection_f1_min"]:
            problems.append(f"detections: F1 {f1:.3f} vs golden < {tol['device_detection_f1_min']}")
            return False
        return True
    if "mask" in case:
        entry = meta.get("mask")
        if entry is None:
            problems.append("result: no mask dumped")
            return False
        mask, golden_mask = read_dump(dump, entry), np.load(gdir / case["mask"])
        agreement = float(np.mean(mask == golden_mask)) if mask.shape == golden_mask.shape and golden_mask.size else float(mask.shape == golden_mask.shape)
        if agreement < tol["device_mask_agreement_min"]:
            problems.append(f"mask: {agreement:.5f} of pixels agree < {tol['device_mask_agreement_min']}")
            return False
        return True
    if want.get("classifications"):
        top, got_top = want["classifications"][0], (got.get("classifications") or [{}])[0]
        if (got_top.get("index"), got_top.get("label")) != (top["index"], top["label"]):
            problems.append(f"result: top-1 {got_top.get('label')!r} (#{got_top.get('index')}) vs golden {top['label']!r} (#{top['index']})")
            return False
    return True


def _max_abs(want: np.ndarray, got: np.ndarray, problems: list[str], what: str) -> float:
    if want.shape != got.shape:
        problems.append(f"{what}: shape {list(got.shape)} != golden {list(want.shape)}")
        return float("inf")
    if want.size == 0:
        return 0.0
    return float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))


def _results_match(want: dict[str, Any], got: dict[str, Any], score_tol: float, problems: list[str]) -> bool:
    """Same labels and indices in the same order; scores within tolerance. Two entries whose
    golden scores are closer than the tolerance may come out swapped."""
    if "classifications" not in want:
        return True
    w, g = want["classifications"], got.get("classifications", [])
    if len(w) != len(g):
        problems.append(f"result: {len(g)} classifications, golden has {len(w)}")
        return False
    ok = True
    for i, (a, b) in enumerate(zip(w, g)):
        if abs(a["score"] - b["score"]) > score_tol and not _near_tie(w, i, b, score_tol):
            problems.append(f"result[{i}]: score {b['score']} vs golden {a['score']}")
            ok = False
        if (a["index"], a["label"]) != (b["index"], b["label"]) and not _near_tie(w, i, b, score_tol):
            problems.append(f"result[{i}]: {b['label']!r} (#{b['index']}) vs golden {a['label']!r} (#{a['index']})")
            ok = False
    return ok


def _detections_match(want: list[dict[str, Any]], got: list[dict[str, Any]] | None, tol: dict[str, float], problems: list[str]) -> bool:
    """The same detection set: each golden detection matched (best IoU first) by one unmatched SDK
    detection of the same label with IoU >= detection_match_iou_min, none left over; matched
    boxes within box_max_abs_px and scores within score_max_abs. Order may differ (near-equal
    scores swap)."""
    if got is None:
        problems.append("result: no detections printed")
        return False
    before = len(problems)
    free = list(range(len(got)))
    for i, w in enumerate(want):
        same_label = [j for j in free if got[j]["label"] == w["label"] and got[j]["index"] == w["index"]]
        best = max(same_label, key=lambda j: box_match(w["box"], got[j]["box"], tol["box_max_abs_px"]), default=None)
        if best is None or box_match(w["box"], got[best]["box"], tol["box_max_abs_px"]) < tol["detection_match_iou_min"]:
            problems.append(f"detection[{i}] {w['label']!r} {w['box']} (score {w['score']:.4f}): no SDK box of that label at IoU >= {tol['detection_match_iou_min']}")
            continue
        free.remove(best)
        g = got[best]
        box_err = max(abs(a - b) for a, b in zip(w["box"], g["box"]))
        if box_err > tol["box_max_abs_px"]:
            problems.append(f"detection[{i}] {w['label']!r}: box {g['box']} vs golden {w['box']} ({box_err:.3g} px)")
        if abs(w["score"] - g["score"]) > tol["score_max_abs"]:
            problems.append(f"detection[{i}] {w['label']!r}: score {g['score']} vs golden {w['score']}")
    for j in free:
        problems.append(f"SDK detection {got[j]['label']!r} {got[j]['box']} (score {got[j]['score']:.4f}) is not in the golden set")
    return len(problems) == before


def _mask_matches(want: np.ndarray, entry: dict[str, Any] | None, dump: Path, want_json: dict[str, Any], got_json: dict[str, Any] | None, tol: dict[str, float], problems: list[str]) -> bool:
    if entry is None or got_json is None:
        problems.append("result: no mask dumped or printed")
        return False
    mask = read_dump(dump, entry)
    if mask.shape != want.shape or [got_json.get("width"), got_json.get("height")] != [want_json["width"], want_json["height"]]:
        problems.append(f"mask: {got_json.get('width')}x{got_json.get('height')} (dump {list(mask.shape)}) vs golden {want_json['width']}x{want_json['height']}")
        return False
    agreement = float(np.mean(mask == want)) if want.size else 1.0
    if agreement < tol["mask_agreement_min"]:
        problems.append(f"mask: {agreement:.5f} of pixels agree < {tol['mask_agreement_min']}")
        return False
    counts = {str(k): int(v) for k, v in (got_json.get("class_pixels") or {}).items()}
    # An identical mask must print the golden counts; a nearly identical one at least all pixels.
    if (agreement == 1.0 and counts != want_json["class_pixels"]) or sum(counts.values()) != want.size:
        problems.append(f"mask: class_pixels {counts} vs golden {want_json['class_pixels']}")
        return False
    return True


def _near_tie(want: list[dict[str, Any]], i: int, got: dict[str, Any], tol: float) -> bool:
    return any(w["index"] == got["index"] and w["label"] == got["label"] and abs(w["score"] - want[i]["score"]) <= tol and abs(w["score"] - got["score"]) <= tol for w in want)
