"""Render the generated pre/post-processing of a template tree, build it into a small program per
language (no runtime, no SDK build) and hold its outputs to tests/opcheck/cases.py.

`templates` is a folder laid out like edgesdk/templates: the package's own, or a mutated copy
(tests/opcheck/mutants.py). Step code comes from that tree's `_steps.j2` macros.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import FileSystemLoader

from edgesdk import hosttest_kotlin, hosttest_swift, naming
from edgesdk.backends.base import cache_dir
from edgesdk.processing import run_preprocess
from edgesdk.render import make_environment, template_path

from .cases import PostCase, PreCase, check_post, check_pre

HERE = Path(__file__).resolve().parent
CPP_TEMPLATES = [
    "cpp/include/__name_snake__/__name_snake__.hpp.j2",
    "cpp/src/errors.hpp.j2",
    "cpp/src/cast.hpp.j2",
    "cpp/src/frames.hpp.j2",
    "cpp/src/frames.cpp.j2",
    "cpp/src/resample.hpp.j2",
    "cpp/src/resample.cpp.j2",
    "cpp/src/preprocess.hpp.j2",
    "cpp/src/preprocess.cpp.j2",
    "cpp/src/postprocess.hpp.j2",
    "cpp/src/postprocess.cpp.j2",
    "cpp/src/types.cpp.j2",
    "cpp/src/integrity.hpp.j2",
    "cpp/src/integrity.cpp.j2",
]
KOTLIN_CORE = "kotlin/src/main/kotlin/ai/edgesdk/__kotlin_package__/core"
KOTLIN_TEMPLATES = [f"{KOTLIN_CORE}/{f}.kt.j2" for f in ("Errors", "Limits", "PixelImage", "Frames", "Cast", "Resample", "Geometry", "Preprocessor", "Postprocess", "Tensor", "Results")]
SWIFT_CORE = "swift/Sources/__swift_module__Core"
SWIFT_TEMPLATES = [f"{SWIFT_CORE}/{f}.swift.j2" for f in ("Errors", "Limits", "PixelImage", "Frames", "Cast", "Resample", "Geometry", "Preprocessor", "Postprocess", "Tensor", "Results")]
# The driver of each language's program, by the prefix its templates are rendered without.
DRIVERS = {"cpp/": "driver.cpp.j2", KOTLIN_CORE + "/": "Opcheck.kt.j2", SWIFT_CORE + "/": "Opcheck.swift.j2"}
# The SDK's own flag that matters for the numbers (CMakeLists.txt.j2): no FMA contraction. -O0
# compiles fastest; x86-64 float arithmetic (SSE) rounds the same at every optimization level.
CXX = ["g++", "-std=c++17", "-O0", "-ffp-contract=off", "-w"]
RUN_TIMEOUT_S = 60
# The C++ driver also selects every classification's classes with these RunOptions (top_k capped
# at the class count) and hashes these prefixes of every pre-processing input (SHA-256 pads a
# tail of 55/56 and 63/64 bytes differently).
RUN_OPTIONS = {"top_k": 3, "score_threshold": 0.25}
SHA_PREFIXES = (0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 1 << 30)


def context(name: str, pre: list[PreCase], post: list[PostCase]) -> dict[str, Any]:
    """The glue context keys the rendered files read, plus the cases for the drivers."""
    return {
        "name": name,
        "ident": {"snake": naming.snake(name), "pascal": naming.pascal(name), "camel": naming.camel(name)},
        "cpp_namespace": naming.cpp_namespace(name),
        "version": "1.0.0",
        "task": "custom",
        "runtime": "none",
        "runtime_version": "0",
        "edgesdk_version": "0",
        "model": {"file": "model.onnx", "sha256": "0" * 64, "encrypted": False, "companions": []},
        "adapter": {"accelerators": "Cpu cpu", "thread_safety": "no runtime"},
        "run_options": RUN_OPTIONS,
        "sha_prefixes": SHA_PREFIXES,
        # Every case's steps: the op libraries then carry each optional part (codegen.pre_uses).
        "preprocess": {"steps": [step for c in pre for step in c.steps]},
        "pre_cases": [{"id": c.id, "width": c.pixels.shape[1], "height": c.pixels.shape[0], "input_color": c.input_color, "steps": c.steps, "frame": _frame(c)} for c in pre],
        "post_cases": [{"id": c.id, "task": c.task, "shape": list(c.values.shape), "steps": c.steps} for c in post],
    }


def _frame(case: PreCase) -> dict[str, Any] | None:
    f = case.frame
    if f is None:
        return None
    return {"format": f.format, "width": f.width, "height": f.height, "row_stride": f.row_stride or 0, "full": f.yuv_range == "full", "rotation": f.rotation, "mirror": f.mirror, "roi": f.roi}


def render(templates: Path, rels: list[str], ctx: dict[str, Any], out: Path, strip: str) -> list[Path]:
    """Render `rels` (paths under `templates`) into `out`, each minus the `strip` prefix."""
    env = make_environment()
    env.loader = FileSystemLoader(str(templates))  # the step library comes from this tree too
    written = []
    for rel in rels:
        target = out / template_path(rel[len(strip) :].removesuffix(".j2"), ctx)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(env.from_string((templates / rel).read_text(encoding="utf-8")).render(**ctx), encoding="utf-8")
        written.append(target)
    driver = HERE / DRIVERS[strip]
    target = out / driver.name.removesuffix(".j2")
    target.write_text(env.from_string(driver.read_text(encoding="utf-8")).render(**ctx), encoding="utf-8")
    return [*written, target]


def write_inputs(folder: Path, pre: list[PreCase], post: list[PostCase]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for c in pre:
        (folder / f"{c.id}.in").write_bytes(c.frame.data if c.frame else np.ascontiguousarray(c.pixels).tobytes())
    for p in post:
        (folder / f"{p.id}.in").write_bytes(p.values.astype("<f4").tobytes())


def check_outputs(folder: Path, pre: list[PreCase], post: list[PostCase], exact: dict[str, np.ndarray]) -> list[str]:
    """Problems of the outputs a driver wrote into `folder` (a missing output is one)."""
    problems: list[str] = []
    for c in pre:
        path = folder / f"{c.id}.out"
        want = exact[c.id]
        if not path.is_file() or path.stat().st_size != want.nbytes:
            problems.append(f"{c.id}: no output of {want.nbytes} bytes")
            continue
        problems += check_pre(c, np.fromfile(path, dtype=want.dtype.newbyteorder("<")).reshape(want.shape), want)
        problems += _check_sha(folder, c)
        problems += _check_geometry(folder, c)
    for p in post:
        path, order = folder / f"{p.id}.out", folder / f"{p.id}.order"
        if not path.is_file() or path.stat().st_size != p.values.nbytes:
            problems.append(f"{p.id}: no output of {p.values.nbytes} bytes")
            continue
        got = np.fromfile(path, dtype="<f4").reshape(p.values.shape)
        problems += check_post(p, got, [int(i) for i in np.fromfile(order, dtype="<i4")] if order.is_file() else None)
        problems += _check_run_order(folder, p)
    return problems


def _check_geometry(folder: Path, case: PreCase) -> list[str]:
    """The Geometry the language composed (scale and pad per axis), bit for bit the Python
    reference's: boxes and masks map back through it (docs/processing.md, "Geometry")."""
    path = folder / f"{case.id}.geo"
    if not path.is_file():
        return [f"{case.id}: no geometry written"]
    g = run_preprocess(case.pixels, case.input_color, case.steps).geometry
    want = np.array([g.scale_x, g.scale_y, g.pad_left, g.pad_top])
    got = np.fromfile(path, dtype="<f8")
    return [] if np.array_equal(got, want) else [f"{case.id}: geometry (scale_x, scale_y, pad_left, pad_top) {got.tolist()}, want {want.tolist()}"]


def _check_sha(folder: Path, case: PreCase) -> list[str]:
    """The C++ driver's SHA-256 of the input's prefixes (a driver without it writes no .sha)."""
    sha = folder / f"{case.id}.sha"
    if not sha.is_file():
        return []
    data = (folder / f"{case.id}.in").read_bytes()
    want = "".join(hashlib.sha256(data[:n]).hexdigest() for n in SHA_PREFIXES)
    return [] if sha.read_text() == want else [f"{case.id}: SHA-256 of the input's prefixes {SHA_PREFIXES} differs from hashlib's"]


def run_order_of(case: PostCase) -> list[int]:
    """The classes select_classes returns with RUN_OPTIONS: the top_k best of the expected scores
    (NaN last, equal scores by index), less those below the threshold."""
    scores = [float(v) for v in case.expected.reshape(-1)]
    order = sorted(range(len(scores)), key=lambda i: (np.isnan(scores[i]), 0.0 if np.isnan(scores[i]) else -scores[i], i))
    top = order[: min(RUN_OPTIONS["top_k"], len(scores))]
    kept = []
    for i in top:
        if not scores[i] >= np.float32(RUN_OPTIONS["score_threshold"]):
            break
        kept.append(i)
    return kept


def _check_run_order(folder: Path, case: PostCase) -> list[str]:
    path = folder / f"{case.id}.run_order"
    if case.task != "classification" or not path.is_file():  # only the C++ driver writes it
        return []
    got = [int(i) for i in np.fromfile(path, dtype="<i4")]
    want = run_order_of(case)
    return [] if got == want else [f"{case.id}: RunOptions {RUN_OPTIONS} select classes {got}, want {want}"]


# ---- C++ --------------------------------------------------------------------------------------
def object_cache() -> Path:
    """Where compiled op-check objects are kept across runs: keyed by the unit's text, every
    header's, the flags and the compiler's version (see build_cpp), so a hit is the same object
    a compile would give, and the mutants of an unchanged template compile once per machine."""
    root = cache_dir() / "opcheck-objects"
    stale = time.time() - 14 * 86400  # a hit touches its object, so only forgotten ones go
    for obj in root.glob("*.o") if root.is_dir() else ():
        if obj.stat().st_mtime < stale:
            obj.unlink(missing_ok=True)
    return root


def _compiler_identity() -> bytes:
    return subprocess.run([CXX[0], "--version"], capture_output=True, check=True).stdout


def build_cpp(templates: Path, work: Path, pre: list[PreCase], post: list[PostCase], objects: Path) -> Path:
    """Render and compile the C++ driver; object files are reused from `objects` by content."""
    ctx = context("opcheck", pre, post)
    src = work / "src"
    files = render(templates, CPP_TEMPLATES, ctx, src, "cpp/")
    headers = b"".join(f.read_bytes() for f in sorted(files) if f.suffix == ".hpp")
    units = [f for f in files if f.suffix == ".cpp"]
    objects.mkdir(parents=True, exist_ok=True)
    include = ["-I", str(src / "include"), "-I", str(src / "src")]
    compiler = _compiler_identity()

    def compile_unit(unit: Path) -> Path:
        key = hashlib.sha256(compiler + " ".join(CXX).encode() + unit.read_bytes() + headers).hexdigest()[:24]
        obj = objects / f"{unit.stem}-{key}.o"
        if not obj.is_file():
            partial = obj.with_name(f"{obj.name}.{os.getpid()}-{threading.get_ident()}.tmp")
            proc = subprocess.run([*CXX, *include, "-c", str(unit), "-o", str(partial)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise CompileError(f"{unit.name}: {proc.stderr[-3000:]}")
            partial.replace(obj)  # atomic: a concurrent run never sees half an object
        else:
            obj.touch()
        return obj

    with ThreadPoolExecutor(max_workers=2) as pool:
        objs = list(pool.map(compile_unit, units))
    exe = work / "opcheck"
    proc = subprocess.run([CXX[0], *objs, "-o", str(exe)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise CompileError(f"link: {proc.stderr[-3000:]}")
    return exe


def run_cpp(exe: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe), str(folder)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


# ---- Kotlin -----------------------------------------------------------------------------------
def render_kotlin(templates: Path, out: Path, name: str, pre: list[PreCase], post: list[PostCase]) -> list[Path]:
    """The Kotlin core files the steps use and the driver, in package ai.edgesdk.<name>.core."""
    return render(templates, KOTLIN_TEMPLATES, context(name, pre, post), out, KOTLIN_CORE + "/")


def kotlin_main_class(name: str) -> str:
    return f"{hosttest_kotlin.package_of(name)}.core.OpcheckKt"


def compile_kotlin(sources: list[Path], jar: Path) -> float:
    """One kotlinc run (cached by the sources' text, see hosttest_kotlin.compile_kotlin)."""
    try:
        return hosttest_kotlin.compile_kotlin(sources, jar)
    except Exception as exc:  # ToolchainError: the compiler's own message
        raise CompileError(str(exc)) from exc


def run_kotlin(jar: Path, name: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-cp", str(jar), kotlin_main_class(name), str(folder)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


# ---- Swift ------------------------------------------------------------------------------------
def swift_package(templates: dict[str, Path], work: Path, pre: list[PreCase], post: list[PostCase]) -> Path:
    """A package with one executable target per named template tree (its core and the driver);
    one `swift build` compiles them all."""
    targets = []
    for name, tree in templates.items():
        target = naming.swift_ident(naming.pascal(name))
        render(tree, SWIFT_TEMPLATES, context(name, pre, post), work / "Sources" / target, SWIFT_CORE + "/")
        targets.append(target)
    listed = ", ".join(f'.executableTarget(name: "{t}")' for t in targets)
    (work / "Package.swift").write_text(f'// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: "Opcheck", targets: [{listed}])\n', encoding="utf-8")
    return work


def build_swift(swift: hosttest_swift.Swift, package: Path) -> None:
    try:
        swift.run(["swift", "build", "--package-path", swift.path(package)], "swift build (op check)")
    except Exception as exc:  # ToolchainError: the compiler's own message
        raise CompileError(str(exc)) from exc


def run_swift(swift: hosttest_swift.Swift, package: Path, name: str, folder: Path) -> subprocess.CompletedProcess:
    binary = package / ".build" / "debug" / naming.swift_ident(naming.pascal(name))
    cmd = [swift.path(binary), swift.path(folder)]
    if swift.chroot is not None:
        cmd = ["bash", str(hosttest_swift.RUN_SCRIPT), str(swift.chroot), str(swift.work), *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


class CompileError(RuntimeError):
    """The rendered code did not compile."""
