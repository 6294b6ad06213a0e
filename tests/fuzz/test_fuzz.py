"""libFuzzer over the sample app's PNG/JPEG decoder and the generated C++ SDK's pre-processing,
under AddressSanitizer and UBSan, from the seed corpus in tests/fuzz/corpus/ (issue #22).

`make test` runs it for FUZZ_SECONDS (default 20) after a compile of about 40 s that is cached
(keyed by every source); `make fuzz` runs it longer. A crash, leak, timeout or sanitizer report
fails the test with the reproducer's path. Needs clang-14 and its libFuzzer runtime
(`make system-deps`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cpp.conftest import ORT_ROOT, context, cpp_toolchain_missing
from cpp.models import tiny_net

from edgesdk.package_data import SAMPLE_APPS_DIR
from edgesdk.render import render_sdk

pytestmark = [pytest.mark.cpp, pytest.mark.fuzz]

HERE = Path(__file__).resolve().parent
CLANG = "clang++-14"
SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "20"))
# Every geometry step, a channel swap and a float16 cast: the pre-processing code paths.
PRE = [
    {"op": "resize", "size": [40, 40], "interpolation": "bilinear", "keep_ratio": True},
    {"op": "center_crop", "size": [32, 32]},
    {"op": "color", "order": "bgr"},
    {"op": "letterbox", "size": [36, 30], "pad_value": [114.0, 0.0, 255.0], "interpolation": "nearest", "align": "top_left"},
    {"op": "resize", "size": [36, 30], "interpolation": "bilinear", "keep_ratio": False},
    {"op": "normalize", "mean": [1.0, 2.0, 3.0], "std": [50.0, 60.0, 70.0], "scale": 1.0},
    {"op": "layout", "layout": "nchw"},
    {"op": "cast", "dtype": "float16"},
]


def _clang_missing() -> str | None:
    if shutil.which(CLANG) is None:
        return f"{CLANG} is not installed (make system-deps)"
    entry = 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n'
    probe = subprocess.run([CLANG, "-fsanitize=fuzzer", "-x", "c++", "-", "-o", os.devnull], input=entry, capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{CLANG} cannot link libFuzzer (install libclang-rt-14-dev: make system-deps): {probe.stderr.strip()[-300:]}"
    return None


def _build(work: Path) -> tuple[Path, Path]:
    """Renders the fuzz SDK and builds the harness, or takes both from the cache when nothing
    they are made of changed. Returns (harness, model file)."""
    model = tiny_net(36, 30, input_dtype="float16", seed=9)
    inputs = [{"name": "image", "shape": [1, 3, 36, 30], "dtype": "float16"}]
    ctx = context("fuzz target", model, task="custom", inputs=inputs, outputs=[{"name": "logits", "shape": [1, 5]}], input_color="rgb", pre=PRE, post=[], labels=[])
    src = work / "src"
    render_sdk(src / "sdk", "cpp", ctx["runtime"], ctx)
    shutil.copytree(SAMPLE_APPS_DIR / "cpp-cli", src / "sample", ignore=shutil.ignore_patterns("*.j2"))
    for name in ("CMakeLists.txt", "fuzz_decode_preprocess.cpp"):
        shutil.copy(HERE / name, src / name)
    digest = hashlib.sha256(f"{CLANG} {SANITIZE}".encode())
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0" + path.read_bytes())
    cached = Path(os.environ.get("EDGESDK_CACHE", Path.home() / ".cache" / "edgesdk")) / "fuzz-harness" / digest.hexdigest()[:16]
    exe = cached / "fuzz_decode_preprocess"
    (cached / "model").mkdir(parents=True, exist_ok=True)
    model_path = cached / "model" / "model.onnx"
    model_path.write_bytes(model)
    if exe.is_file():
        return exe, model_path
    build = work / "build"
    flags = f"{SANITIZE} -fsanitize=fuzzer-no-link -g -O1"
    env = dict(os.environ, ONNXRUNTIME_ROOT=str(ORT_ROOT))
    configure = ["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-DCMAKE_CXX_COMPILER={CLANG}", f"-DCMAKE_CXX_FLAGS={flags}"]
    configure += [f"-DCMAKE_EXE_LINKER_FLAGS={SANITIZE}", f"-DSDK_DIR={src / 'sdk'}", f"-DSAMPLE_DIR={src / 'sample'}", "-DFUZZ_SDK_TARGET=fuzz_target_sdk"]
    configure += ["-DFUZZ_SDK_HEADER=fuzz_target/fuzz_target.hpp", f"-DFUZZ_SDK_NAMESPACE={ctx['cpp_namespace']}"]
    for cmd in (configure, ["cmake", "--build", str(build), "-j2"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    partial = exe.with_suffix(f".{os.getpid()}.tmp")
    shutil.copy(build / "fuzz_decode_preprocess", partial)
    partial.replace(exe)  # atomic: a concurrent run sees the whole harness or none
    return exe, model_path


def test_decoder_and_preprocessing_survive_fuzzing(tmp_path):
    reason = cpp_toolchain_missing() or _clang_missing()
    if reason:
        pytest.skip(reason)
    exe, model = _build(tmp_path)
    found, artifacts = tmp_path / "found", tmp_path / "artifacts"
    found.mkdir()
    artifacts.mkdir()
    env = dict(
        os.environ,
        LD_LIBRARY_PATH=str(ORT_ROOT / "lib"),
        EDGESDK_FUZZ_MODEL=str(model),
        ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0",
        UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
        LSAN_OPTIONS=f"suppressions={HERE / 'lsan.supp'}",
    )
    cmd = [str(exe), f"-max_total_time={FUZZ_SECONDS}", "-timeout=10", "-rss_limit_mb=2560", "-max_len=65536", f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
    cmd += [str(found), str(HERE / "corpus")]  # new inputs go to the first folder, never into the repo
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=FUZZ_SECONDS + 120)
    stats = [line for line in proc.stderr.splitlines() if line.startswith("stat::number_of_executed_units")]
    print(f"fuzzed {FUZZ_SECONDS} s: {stats}")
    reproducers = sorted(str(p) for p in artifacts.iterdir())
    assert proc.returncode == 0 and not reproducers, (
        f"libFuzzer found a failure (exit {proc.returncode}); reproducers: {reproducers or 'none written'}\n"
        f"reproduce: EDGESDK_FUZZ_MODEL={model} LD_LIBRARY_PATH={ORT_ROOT / 'lib'} {exe} <reproducer>\n{proc.stderr[-4000:]}"
    )
    assert stats and int(stats[0].split(":")[-1]) > 100  # it really ran
