"""The generated C++ pre-processing's row kernels (flat x tables, SSE2 pixel loads, planar uint8
resize), bit for bit against the Python reference, on what the op checks do not reach: every
pixel format (RGB, BGR, RGBA, BGRA, gray) with padded strides and a short last row, 1-pixel axes,
loads that end exactly at a row's last byte, odd sizes, up- and downscales, crops, letterboxes,
uint8 resizes, every layout, colour order and cast, outputs 1 to 9 wide. Compiled as the SDK is
(-O2, -ffp-contract=off) for this machine (SSE2 kernels) and cross-compiled for aarch64 by GCC and
clang (NEON kernels: the arm and android targets), run under qemu-aarch64; each image ends at an
inaccessible page, so a load past the caller's pixels fails too. Planted one-line bugs in those
kernels must make it fail (the test can fail)."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from jinja2 import FileSystemLoader
from opcheck import programs
from toolchains import need

from edgesdk import qemutest
from edgesdk.package_data import TEMPLATES_DIR
from edgesdk.processing import run_preprocess
from edgesdk.render import make_environment

pytestmark = pytest.mark.cpp

CXX = ["g++", "-std=c++17", "-O2", "-ffp-contract=off", "-w"]
# pixel format -> (channels, how the format's bytes come from an RGB image)
FORMATS = {
    "RGB8": (3, lambda rgb: rgb),
    "BGR8": (3, lambda rgb: rgb[..., ::-1]),
    "RGBA8": (4, lambda rgb: np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 77, np.uint8)], axis=2)),
    "BGRA8": (4, lambda rgb: np.concatenate([rgb[..., ::-1], np.full(rgb.shape[:2] + (1,), 77, np.uint8)], axis=2)),
    "GRAY8": (1, lambda rgb: rgb[..., :1]),
}
NORMALIZE = {"op": "normalize", "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375], "scale": 1.0}
NORMALIZE_SCALED = {"op": "normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 1 / 255}
# The builds each test makes: the SDK as compiled for any x86-64 picks AVX2 kernels at run time
# where the CPU has them; EDGESDK_NO_AVX2 leaves the SSE2 ones (what a CPU without AVX2 runs).
BUILDS = {"default": [], "sse2": ["-DEDGESDK_NO_AVX2"]}


def _resize(h, w, interpolation="bilinear", **extra):
    return {"op": "resize", "size": [h, w], "interpolation": interpolation, "keep_ratio": extra.pop("keep_ratio", False), **extra}


def _layout(layout):
    return {"op": "layout", "layout": layout}


# (input h, w), steps: down- and upscales, odd sizes, 1-pixel axes both ways, crops, letterboxes
# (padding columns), uint8 resizes (alone, after a crop, chained), casts and every layout.
PIPELINES = [
    ((61, 83), [_resize(24, 24), NORMALIZE, _layout("nchw")]),
    ((7, 5), [_resize(16, 13), NORMALIZE, _layout("nhwc")]),
    ((1, 9), [_resize(4, 1)]),
    ((9, 1), [_resize(1, 6), _layout("nchw")]),
    ((2, 2), [_resize(5, 3), {"op": "color", "order": "bgr"}, _layout("nchw")]),
    ((40, 33), [_resize(20, 20, keep_ratio=True), {"op": "center_crop", "size": [17, 19]}, NORMALIZE, _layout("nchw")]),
    ((23, 37), [{"op": "letterbox", "size": [16, 16], "pad_value": [114.0, 0.0, 255.0], "interpolation": "bilinear", "align": "center"}, NORMALIZE, _layout("nchw")]),
    ((31, 29), [_resize(12, 15, precision="uint8"), NORMALIZE, _layout("nchw")]),
    # a last group of four positions whose final pair ends 2 bytes (RGB) or 0 bytes (RGBA) before the row's end
    ((31, 29), [_resize(12, 16, precision="uint8"), _layout("nchw")]),
    ((31, 29), [_resize(12, 16), _layout("nchw")]),
    ((30, 44), [{"op": "center_crop", "size": [21, 27]}, _resize(9, 31, precision="uint8"), {"op": "color", "order": "bgr"}, _layout("nhwc")]),
    ((26, 18), [_resize(13, 40, precision="uint8"), _resize(7, 9, precision="uint8"), NORMALIZE]),
    ((19, 23), [_resize(11, 8, "nearest"), {"op": "cast", "dtype": "uint8"}]),
    ((19, 23), [{"op": "center_crop", "size": [10, 21]}, _layout("nchw"), {"op": "cast", "dtype": "float16"}]),
    ((17, 21), [_resize(30, 9, "area"), NORMALIZE, _layout("nchw")]),
    ((17, 21), [_resize(8, 40, "bicubic"), _layout("nchw")]),
    ((17, 21), [_resize(6, 9, antialias=True), NORMALIZE, _layout("nchw")]),
    ((3, 200), [_resize(2, 64), NORMALIZE, _layout("nchw")]),
    # the AVX2 kernels' groups of eight and what they leave to SSE2 and scalar code: outputs 17, 15,
    # 9, 7 and 1 wide (x pass), the y pass with the normalize in its store (scale not 1 too)
    ((13, 50), [_resize(5, 17), NORMALIZE, _layout("nchw")]),
    ((9, 30), [_resize(11, 15), NORMALIZE_SCALED, _layout("nchw")]),
    ((6, 21), [_resize(4, 9), NORMALIZE, _layout("nhwc")]),
    ((5, 8), [_resize(3, 7), NORMALIZE_SCALED, _layout("nchw")]),
    ((4, 40), [_resize(7, 1), NORMALIZE]),
    ((8, 33), [_resize(6, 17, "nearest"), NORMALIZE, _layout("nchw")]),
    # the normalize outside the y pass (after a uint8 resize), scale not 1, AVX2 groups and a rest
    ((20, 30), [_resize(9, 19, precision="uint8"), NORMALIZE_SCALED, _layout("nchw")]),
]
# Outputs 1, 3, 5, 7 and 9 wide: no group of four positions, or one or two and a tail, for the
# float x pass of two taps (bilinear) and one tap (nearest) and the uint8 resize (groups of eight).
TAIL_WIDTHS = (1, 3, 5, 7, 9)
PIPELINES += [((9, 2 * w + 1), [_resize(4, w), NORMALIZE, _layout("nchw")]) for w in TAIL_WIDTHS]
PIPELINES += [((7, w + 4), [_resize(3, w, "nearest"), _layout("nhwc")]) for w in TAIL_WIDTHS]
PIPELINES += [((9, 2 * w + 3), [_resize(5, w, precision="uint8"), _layout("nchw")]) for w in TAIL_WIDTHS]

DRIVER = """#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "preprocess.hpp"
{% import "cpp/_steps.j2" as steps %}
namespace {{ cpp_namespace }} {
{% for case in kernel_cases %}
// Given `into`, through finish_into(*into), the buffer Model::preprocess_into reuses.
Tensor case_{{ loop.index0 }}(const uint8_t* pixels, Tensor* into = nullptr) {
  Image image{pixels, {{ case.width }}, {{ case.height }}, {{ case.stride }}, PixelFormat::{{ case.format }}};
  detail::Preprocessor p(image, detail::ChannelOrder::{{ steps.order[case.input_color] }}, Limits{});
{% for step in case.steps %}
{{ step_code(steps, "pre", loop.index0, step) -}}
{% endfor %}
  if (into != nullptr) {
    p.finish_into("input", *into);
    return *into;
  }
  return p.finish("input");
}
{% endfor %}
}  // namespace {{ cpp_namespace }}

// The bytes right before an inaccessible page: reading one past them faults.
const uint8_t* guarded(const std::vector<uint8_t>& bytes) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t pages = (bytes.size() + page - 1) / page + 1;
  auto* base = static_cast<uint8_t*>(mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  mprotect(base + (pages - 1) * page, page, PROT_NONE);
  uint8_t* at = base + (pages - 1) * page - bytes.size();
  std::memcpy(at, bytes.data(), bytes.size());
  return at;
}

// Usage: driver DIR: DIR/<i>.in (exactly the bytes the image covers: its last row is short, and
// it ends at an inaccessible page) -> DIR/<i>.out, the tensor's bytes, and DIR/<i>.into, those
// of finish_into over one tensor kept from case to case (resized, or reused as it is, holding
// the previous case's bytes).
int main(int, char** argv) {
  const std::string dir = argv[1];
  {{ cpp_namespace }}::Tensor kept{"stale", {3}, {{ cpp_namespace }}::DType::Int64, std::vector<uint8_t>(24, 0x11)};
{% for case in kernel_cases %}
  {
    std::ifstream in(dir + "/{{ loop.index0 }}.in", std::ios::binary);
    const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const {{ cpp_namespace }}::Tensor t = {{ cpp_namespace }}::case_{{ loop.index0 }}(guarded(bytes));
    std::ofstream(dir + "/{{ loop.index0 }}.out", std::ios::binary).write(reinterpret_cast<const char*>(t.bytes.data()), t.bytes.size());
    {{ cpp_namespace }}::case_{{ loop.index0 }}(guarded(bytes), &kept);
    if (kept.shape != t.shape || kept.dtype != t.dtype) return 3;
    std::ofstream(dir + "/{{ loop.index0 }}.into", std::ios::binary).write(reinterpret_cast<const char*>(kept.bytes.data()), kept.bytes.size());
  }
{% endfor %}
  return 0;
}
"""


def kernel_cases() -> list[SimpleNamespace]:
    """Every pipeline in every pixel format, RGB and BGR input order, with a padded stride."""
    rng = np.random.default_rng(19)
    cases = []
    for (h, w), steps in PIPELINES:
        for format_name, (channels, stored) in FORMATS.items():
            input_color = "bgr" if len(cases) % 2 else "rgb"
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if channels == 1:
                rgb = np.repeat(rgb[..., :1], 3, axis=2)
            pad = len(cases) % 3 * 5  # stride padding: 0, 5 or 10 bytes of noise
            rows = np.concatenate([stored(rgb), rng.integers(0, 256, (h, pad // channels + 1, channels), dtype=np.uint8)], axis=1)
            data = rows.reshape(h, -1)[:, : w * channels + pad].tobytes()
            stride = w * channels + pad
            data = data[: stride * (h - 1) + w * channels]  # no bytes past the last pixel
            app = rgb[..., ::-1] if input_color == "bgr" else rgb
            expected = run_preprocess(np.ascontiguousarray(app), input_color, steps).tensor
            cases.append(SimpleNamespace(width=w, height=h, stride=stride, format=format_name, input_color=input_color, steps=steps, data=data, expected=expected))
    return cases


def build(templates: Path, work: Path, cases: list[SimpleNamespace], objects: Path, cxx: list[str] = CXX) -> tuple[Path, list[Path]]:
    """The driver over `templates`, compiled by `cxx`, and its objects (kept in `objects` by their
    compiler's, unit's and headers' text, so a planted bug recompiles only its own unit)."""
    shims = [SimpleNamespace(id=f"k{i}", pixels=np.zeros((c.height, c.width, 3), np.uint8), input_color=c.input_color, steps=c.steps, frame=None) for i, c in enumerate(cases)]
    ctx = programs.context("kernel-check", shims, [])
    src = work / "src"
    files = programs.render(templates, programs.CPP_TEMPLATES, ctx, src, "cpp/")
    env = make_environment()
    env.loader = FileSystemLoader(str(templates))
    driver = src / "kernel_driver.cpp"
    driver.write_text(env.from_string(DRIVER).render(kernel_cases=cases, **ctx), encoding="utf-8")
    units = [f for f in files if f.suffix == ".cpp" and f.name != "driver.cpp"] + [driver]
    headers = " ".join(cxx).encode() + b"".join(f.read_bytes() for f in sorted(files) if f.suffix == ".hpp")

    def compile_unit(unit: Path) -> Path:
        obj = objects / f"{unit.stem}-{hashlib.sha256(unit.read_bytes() + headers).hexdigest()[:20]}.o"
        if not obj.is_file():
            proc = subprocess.run([*cxx, "-I", str(src / "include"), "-I", str(src / "src"), "-c", str(unit), "-o", str(obj)], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr[-3000:]
        return obj

    with ThreadPoolExecutor(max_workers=2) as pool:
        objs = list(pool.map(compile_unit, units))
    exe = work / "kernel_driver"
    proc = subprocess.run([*cxx, *map(str, objs), "-o", str(exe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return exe, objs


def problems(exe: Path, work: Path, cases: list[SimpleNamespace], runner: tuple[str, ...] = ()) -> list[str]:
    """The cases whose tensor differs from the reference, `exe` run through `runner` (qemu)."""
    data = work / "data"
    data.mkdir(exist_ok=True)
    for i, c in enumerate(cases):
        (data / f"{i}.in").write_bytes(c.data)
    proc = subprocess.run([*runner, str(exe), str(data)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return [f"exit {proc.returncode}: {proc.stderr[-1500:]}"]
    found = []
    for i, c in enumerate(cases):
        want = c.expected.astype(c.expected.dtype.newbyteorder("<")).tobytes()
        for suffix, how in ((".out", ""), (".into", " (finish_into over the previous case's tensor)")):
            got = (data / f"{i}{suffix}").read_bytes()
            if got != want:
                where = f"{c.format} {c.input_color} {c.height}x{c.width} stride {c.stride} {[s['op'] for s in c.steps]}{how}"
                found.append(f"case {i} ({where}): {len(got)} bytes differ from the reference's {len(want)}" if len(got) != len(want) else f"case {i} ({where}): not bit-identical")
    return found


@pytest.fixture(scope="module")
def cases():
    return kernel_cases()


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    return tmp_path_factory.mktemp("kernel-objects")


def toolchain() -> None:
    need(None if shutil.which("g++") else "g++ is not on PATH (make system-deps)")


def cpu_has_avx2() -> bool:
    try:
        return " avx2" in Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return False


@pytest.mark.parametrize("flags", BUILDS.values(), ids=BUILDS.keys())
def test_row_kernels_equal_the_reference_bit_for_bit(tmp_path, cases, objects, flags):
    toolchain()
    exe, _ = build(TEMPLATES_DIR, tmp_path, cases, objects, [*CXX, *flags])
    assert problems(exe, tmp_path, cases) == []


# One-line bugs in the kernels the op checks cannot see (RGBA strides, gray, loads at a row's end,
# the AVX2 kernels' lanes and what they hand on), each with the kernels that run it: "sse2" (the
# sse2 build), "avx2" (the default build on a CPU with AVX2) or "any" (the default build).
PLANTED = [
    ("preprocess.cpp.j2", "_mm_mul_ps(_mm_loadu_ps(w1 + i), p[Step + byte])", "_mm_mul_ps(_mm_loadu_ps(w1 + i), p[3 + byte])", "sse2"),
    ("preprocess.cpp.j2", "table.at[table.pixels] + load <= row_bytes_", "table.at[table.pixels] + load <= row_bytes_ + 4", "any"),
    ("preprocess.cpp.j2", "for (int c = 0; c < 3; ++c) planes[offsets[c]] = out + c * width + lo;", "for (int c = 0; c < 3; ++c) planes[c] = out + c * width + lo;", "any"),
    ("resample.cpp.j2", "at[2 * pixels] + 8 <= src.row_bytes", "at[2 * pixels] + 8 <= src.row_bytes + 3", "any"),
    ("preprocess.cpp.j2", "_mm256_cvtepi32_ps(bytes.byte[Step + byte])", "_mm256_cvtepi32_ps(bytes.byte[3 + byte])", "avx2"),
    ("resample.hpp.j2", "hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + at[k + 4]));", "hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + at[k]));", "avx2"),
    ("resample.hpp.j2", "std::memcpy(&b, row + at[k + 4], sizeof b);", "std::memcpy(&b, row + at[k], sizeof b);", "avx2"),
    ("preprocess.cpp.j2", "        w += done;\n", "", "avx2"),
    ("preprocess.cpp.j2", "const float* tail_w = table.weight.data() + from;", "const float* tail_w = table.weight.data() + from + 1;", "any"),
    ("preprocess.cpp.j2", "_mm256_mul_ps(v1v, _mm256_loadu_ps(r1 + i))", "_mm256_mul_ps(v1v, _mm256_loadu_ps(r0 + i))", "avx2"),
    ("preprocess.cpp.j2", "_mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(v, s), m), d)", "_mm256_div_ps(_mm256_sub_ps(v, m), d)", "avx2"),
    ("preprocess.cpp.j2", "_mm_mul_ps(v1v, _mm_loadu_ps(r1 + i))", "_mm_mul_ps(v1v, _mm_loadu_ps(r0 + i))", "sse2"),
    ("preprocess.cpp.j2", "_mm_div_ps(_mm_sub_ps(_mm_mul_ps(v, s), m), d)", "_mm_div_ps(_mm_sub_ps(v, m), d)", "sse2"),
    ("preprocess.cpp.j2", "done += y_taps2_normalize_sse2(r0 + done, v0, r1 + done, v1, o + done,", "done += y_taps2_normalize_sse2(r0, v0, r1, v1, o + done,", "avx2"),
    # The AVX2 uint8 resize (x pass, y pass's packing order) and normalize outside the y pass.
    ("resample.cpp.j2", "_mm256_madd_epi16(loaded.byte[Step + byte], a1)", "_mm256_madd_epi16(loaded.byte[3 + byte], a1)", "avx2"),
    ("resample.cpp.j2", "_mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)", "_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)", "avx2"),
    ("resample.cpp.j2", "_mm256_srai_epi32(_mm256_add_epi32(v, two), 2)", "_mm256_srai_epi32(v, 2)", "avx2"),
    ("preprocess.cpp.j2", "_mm256_sub_ps(_mm256_mul_ps(_mm256_loadu_ps(v + i), s), m)", "_mm256_sub_ps(_mm256_loadu_ps(v + i), m)", "avx2"),
    ("preprocess.cpp.j2", "_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + i)))", "_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))", "avx2"),
    ("preprocess.cpp.j2", "_mm256_mul_ps(vv, _mm256_loadu_ps(r + i))", "_mm256_mul_ps(vv, _mm256_loadu_ps(r))", "avx2"),
    # finish_into over a kept tensor: one larger than the next case's must shrink to it.
    ("preprocess.cpp.j2", "if (tensor.bytes.size() != size) tensor.bytes.resize(size);", "if (tensor.bytes.size() < size) tensor.bytes.resize(size);", "any"),
]


def planted_templates(tmp_path: Path, planted: tuple[str, str, str]) -> Path:
    """A copy of the templates with the one-line bug `planted` (file, find, replace) in it."""
    name, find, replace = planted
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, templates)
    target = templates / "cpp" / "src" / name
    text = target.read_text(encoding="utf-8")
    assert text.count(find) == 1, f"the planted bug no longer applies to {name}: update the planted list"
    target.write_text(text.replace(find, replace), encoding="utf-8")
    return templates


@pytest.mark.parametrize("planted", PLANTED, ids=[p[2][:40] for p in PLANTED])
def test_a_planted_kernel_bug_fails(tmp_path, cases, objects, planted):
    toolchain()
    name, find, replace, kernels = planted
    if kernels == "avx2" and not cpu_has_avx2():
        pytest.skip("this CPU has no AVX2: the AVX2 kernels do not run here")
    flags = BUILDS["sse2" if kernels == "sse2" else "default"]
    exe, _ = build(planted_templates(tmp_path, (name, find, replace)), tmp_path, cases, objects, [*CXX, *flags])
    assert problems(exe, tmp_path, cases), f"{name}: `{replace}` went unnoticed"


# ---- aarch64 (the arm and android targets): the NEON kernels, under qemu-aarch64 ----
CROSS_CXX = [qemutest.CROSS_COMPILER, *CXX[1:]]
# The arm target's cross GCC, and clang (the Android NDK's compiler) for the same target.
CLANG = "clang++-14"
CROSS_COMPILERS = {"gcc": CROSS_CXX, "clang": [CLANG, "--target=aarch64-linux-gnu", *CXX[1:]]}
# Fused multiply-adds round once where the contract rounds twice (-ffp-contract=off forbids them).
FUSED = re.compile(r"\s(fn?m(la|ls|add|sub))\s")


def cross_toolchain(compiler: str = "gcc") -> list[str]:
    """The cross compiler's command line, or a skip naming what is missing."""
    need(qemutest.tools_problem())
    if compiler == "clang":
        need(None if shutil.which(CLANG) else f"{CLANG} is not on PATH (make system-deps)")
    return CROSS_COMPILERS[compiler]


@pytest.mark.parametrize("compiler", CROSS_COMPILERS)
def test_row_kernels_on_aarch64_equal_the_reference_bit_for_bit(tmp_path, cases, objects, compiler):
    cxx = cross_toolchain(compiler)
    exe, _ = build(TEMPLATES_DIR, tmp_path, cases, objects, cxx)
    assert problems(exe, tmp_path, cases, qemutest.runner()) == []


@pytest.mark.parametrize("compiler", CROSS_COMPILERS)
def test_aarch64_pre_processing_is_neon_without_fused_multiply_add(tmp_path, cases, objects, compiler):
    cxx = cross_toolchain(compiler)
    _, objs = build(TEMPLATES_DIR, tmp_path, cases, objects, cxx)
    # The NEON branches are the ones compiled (the planted NEON bugs below show they run).
    macros = subprocess.run([*cxx, "-dM", "-E", "-x", "c++", str(tmp_path / "src" / "src" / "resample.hpp")], capture_output=True, text=True, check=True).stdout
    assert "#define EDGESDK_NEON 1" in macros.splitlines()
    assert "EDGESDK_SSE2" not in macros
    units = [o for o in objs if o.name.split("-")[0] in ("preprocess", "resample")]
    assert len(units) == 2
    for obj in units:
        listing = subprocess.run(["aarch64-linux-gnu-objdump", "-d", "--no-show-raw-insn", str(obj)], capture_output=True, text=True, check=True).stdout
        assert "\ttbl\t" in listing, f"{obj.name}: no NEON pixel lookups (tbl) in it"
        fused = sorted({m.group(1) for m in FUSED.finditer(listing)})
        assert fused == [], f"{obj.name}: fused multiply-add instructions {fused}"


# One-line bugs in each NEON kernel: the pixel loads (two taps, one tap, the zero-extending
# lookup), the float x pass (a wrong tap, a fused multiply-add), the uint8 resize's x and y passes,
# the float y pass (a wrong row, a wrong weight) and the normalize in its store (no mean).
PLANTED_NEON = [
    ("resample.hpp.j2", "vcombine_u8(vld1_u8(row + at[2]), vld1_u8(row + at[3]))", "vcombine_u8(vld1_u8(row + at[3]), vld1_u8(row + at[2]))"),
    ("resample.hpp.j2", "words = vsetq_lane_u32(word(3), words, 3);", "words = vsetq_lane_u32(word(2), words, 3);"),
    ("resample.hpp.j2", "const uint32x4_t base = {0xFFFFFF00u, ", "const uint32x4_t base = {0xFFFF0000u, "),
    ("preprocess.cpp.j2", "vcvtq_f32_u32(bytes.byte(Step + byte))", "vcvtq_f32_u32(bytes.byte(3 + byte))"),
    ("preprocess.cpp.j2", "vaddq_f32(first, vmulq_f32(vld1q_f32(w1 + i), vcvtq_f32_u32(", "vfmaq_f32(first, (vld1q_f32(w1 + i)), (vcvtq_f32_u32("),
    ("resample.cpp.j2", "vmulq_u32(p.byte(Step + byte), a1)", "vmulq_u32(p.byte(Step + byte), a0)"),
    ("resample.cpp.j2", "return vqmovun_s32(vshrq_n_s32(vaddq_s32(v, two), 2));", "return vqmovun_s32(vshrq_n_s32(v, 2));"),
    ("preprocess.cpp.j2", "vmulq_f32(v1, vld1q_f32(r1))", "vmulq_f32(v1, vld1q_f32(r0))"),
    ("preprocess.cpp.j2", "v0v = vdupq_n_f32(v0), v1v = vdupq_n_f32(v1);", "v0v = vdupq_n_f32(v0), v1v = vdupq_n_f32(v0);"),
    ("preprocess.cpp.j2", "vdivq_f32(vsubq_f32(vmulq_f32(v, s), m), d)", "vdivq_f32(vmulq_f32(v, s), d)"),
]


@pytest.mark.parametrize("planted", PLANTED_NEON, ids=[p[2][:40] for p in PLANTED_NEON])
def test_a_planted_neon_kernel_bug_fails_on_aarch64(tmp_path, cases, objects, planted):
    cross_toolchain()
    exe, _ = build(planted_templates(tmp_path, planted), tmp_path, cases, objects, CROSS_CXX)
    assert problems(exe, tmp_path, cases, qemutest.runner()), f"{planted[0]}: `{planted[2]}` went unnoticed"
