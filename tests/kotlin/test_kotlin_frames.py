"""Camera frames, orientation and region of interest in the generated Kotlin core on the host JVM
(PixelImage.fromNv21/fromNv12/fromI420/fromYuv420/fromRgba + Orientation), held to the Python
reference (edgesdk.processing.frames, itself held to OpenCV and Pillow): exact pixels where the
pipeline keeps uint8, 1e-5 for float pipelines, and the same geometry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from core_context import core_context
from frame_inputs import frame, reference
from toolchains import need

from edgesdk import hosttest_kotlin, render
from edgesdk.processing import Orientation, frame_to_rgb, run_preprocess

pytestmark = pytest.mark.kotlin

RUNNER = Path(__file__).with_name("FramesRunner.kt")

# name -> (input_color, steps)
CONTEXTS = {
    "kt-frame-pixels": ("bgr", [{"op": "layout", "layout": "nhwc"}, {"op": "cast", "dtype": "uint8"}]),
    "kt-frame-float": (
        "rgb",
        [
            {"op": "resize", "size": [28, 28], "interpolation": "bilinear", "keep_ratio": True},
            {"op": "center_crop", "size": [28, 28]},
            {"op": "color", "order": "bgr"},
            {"op": "normalize", "mean": [100.0, 110.0, 120.0], "std": [50.0, 60.0, 70.0], "scale": 1.0},
            {"op": "layout", "layout": "nchw"},
        ],
    ),
}


def _context(name: str, input_color: str, steps: list[dict]) -> dict:
    return core_context(name, input_color, steps)


@pytest.fixture(scope="module")
def jar(tmp_path_factory) -> Path:
    need(hosttest_kotlin.toolchain_problem())
    root = tmp_path_factory.mktemp("kt-frames")
    sources = []
    for name, (color, steps) in CONTEXTS.items():
        render.render_tree(render.TEMPLATES_DIR / "kotlin", root / name, _context(name, color, steps))
        sources += hosttest_kotlin.core_sources(root / name)
        sources.append(hosttest_kotlin.write_runner(hosttest_kotlin.package_of(name), root / "runners", RUNNER))
    out = root / "frames.jar"
    hosttest_kotlin.compile_kotlin(sources, out)
    return out


def run_cases(jar: Path, name: str, cases: list[tuple], work: Path, lines: list[str] | None = None) -> dict[str, dict]:
    """cases: (id, format, data, width, height, stride or None, range, Orientation); `lines`: runner lines written by hand."""
    lines = list(lines or [])
    for case_id, fmt, data, width, height, stride, yuv_range, o in cases:
        path = work / f"{case_id}.raw"
        path.write_bytes(data)
        channels = {"rgba": 4, "rgb": 3, "bgr": 3}.get(fmt, 1)
        roi = ",".join(map(str, o.roi)) if o.roi else "-"
        fields = [case_id, fmt, str(path), str(width), str(height), str(stride or width * channels), yuv_range, str(o.rotation), "1" if o.mirror else "0", roi]
        lines.append("\t".join(fields))
    (work / "cases.tsv").write_text("\n".join(lines) + "\n")
    runner = f"{hosttest_kotlin.package_of(name)}.golden.FramesRunnerKt"
    proc = subprocess.run(["java", "-cp", str(jar), runner, str(work / "cases.tsv"), str(work / "out")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "error" not in record:
            dtype = np.uint8 if name == "kt-frame-pixels" else np.dtype("<f4")
            record["tensor"] = np.fromfile(work / "out" / f"{record['id']}.bin", dtype=dtype).reshape(record["shape"])
        records[record["id"]] = record
    return records


def test_nv21_1280x720_rotated_90_gives_the_reference_tensor(jar, tmp_path):
    data = frame("nv21", 1280, 720, None, 3)
    cases = [("big", "nv21", data, 1280, 720, None, "video", Orientation(90)), ("big_roi", "nv21", data, 1280, 720, None, "video", Orientation(90, True, roi=(100, 200, 500, 700)))]
    got = run_cases(jar, "kt-frame-float", cases, tmp_path)
    for case_id, fmt, d, w, h, s, r, o in cases:
        pre = reference(CONTEXTS["kt-frame-float"], d, fmt, w, h, s, r, o)
        assert float(np.abs(got[case_id]["tensor"] - pre.tensor).max()) <= 1e-5, case_id
        g = pre.geometry
        assert got[case_id]["geometry"] == [g.scale_x, g.scale_y, g.pad_left, g.pad_top, g.src_width, g.src_height, g.origin_x, g.origin_y]


PIXEL_CASES = [
    ("nv21", 37, 23, None, "video", Orientation(90)),
    ("nv21", 36, 22, 48, "full", Orientation(270, True)),
    ("nv12", 35, 17, 41, "video", Orientation(180, True, roi=(3, 2, 20, 9))),
    ("nv12", 1, 1, None, "full", Orientation(90)),
    ("i420", 33, 21, 40, "video", Orientation(0, True, roi=(32, 20, 1, 1))),
    ("i420", 1, 9, 3, "full", Orientation(270, roi=(0, 0, 9, 1))),
    ("yuv420", 31, 19, 40, "video", Orientation(90, True, roi=(2, 5, 15, 20))),
    ("yuv420", 2, 2, None, "full", Orientation(180)),
    ("rgba", 13, 7, 60, "video", Orientation(90, True, roi=(1, 2, 5, 11))),
    ("rgb", 11, 6, 40, "video", Orientation(180)),
    ("bgr", 7, 3, None, "video", Orientation(0, roi=(6, 0, 1, 3))),
]


def test_frame_pixels_equal_the_reference_exactly(jar, tmp_path):
    cases = [(f"c{k}", fmt, frame(fmt, w, h, s, k), w, h, s, r, o) for k, (fmt, w, h, s, r, o) in enumerate(PIXEL_CASES)]
    got = run_cases(jar, "kt-frame-pixels", cases, tmp_path)
    for case_id, fmt, data, w, h, s, r, o in cases:
        pre = reference(CONTEXTS["kt-frame-pixels"], data, fmt, w, h, s, r, o)
        assert "error" not in got[case_id], got[case_id]
        assert np.array_equal(got[case_id]["tensor"], pre.tensor), (case_id, fmt)
        assert got[case_id]["geometry"][4:] == [pre.geometry.src_width, pre.geometry.src_height, pre.geometry.origin_x, pre.geometry.origin_y]


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_a_frame_crop_rect_gives_the_cropped_frame_turned_upright(jar, tmp_path, rotation):
    """Orientation.ofFrameCrop (what run(media.Image) does with its cropRect) == the reference on the
    frame cropped first (numpy slicing of the converted frame), then turned."""
    width, height, context = 23, 15, CONTEXTS["kt-frame-pixels"]
    data = frame("nv21", width, height, None, rotation)
    crops = [(3, 2, 17, 9), (0, 0, 23, 15), (22, 14, 1, 1), (5, 0, 2, 15)]
    lines = []
    for k, (x, y, w, h) in enumerate(crops):
        (tmp_path / "f.raw").write_bytes(data)
        for mirror in ("0", "1"):
            lines.append("\t".join([f"k{k}m{mirror}", "nv21", str(tmp_path / "f.raw"), str(width), str(height), str(width), "video", str(rotation), mirror, f"crop:{x},{y},{w},{h}"]))
    lines.append("\t".join(["outside", "nv21", str(tmp_path / "f.raw"), str(width), str(height), str(width), "video", str(rotation), "0", "crop:20,0,4,15"]))
    got = run_cases(jar, "kt-frame-pixels", [], tmp_path, lines)
    rgb = frame_to_rgb(data, "nv21", width, height)
    for k, (x, y, w, h) in enumerate(crops):
        for mirror in (False, True):
            cropped = np.ascontiguousarray(rgb[y : y + h, x : x + w, ::-1])  # the context's input color is bgr
            want = run_preprocess(cropped, context[0], context[1], Orientation(rotation, mirror))
            record = got[f"k{k}m{int(mirror)}"]
            assert "error" not in record, record
            assert np.array_equal(record["tensor"], want.tensor), (x, y, w, h, mirror)
    assert got["outside"]["error"] == "crop (x=20, y=0, width=4, height=15) must hold at least one pixel and lie inside the 23x15 frame"


def test_bad_frames_are_refused_naming_the_field(jar, tmp_path):
    data = bytes(240)  # a 16x10 NV21 frame
    cases = [
        ("roi", "nv21", data, 16, 10, None, "video", Orientation(90, roi=(0, 0, 16, 10))),
        ("short", "nv21", data[:239], 16, 10, None, "video", Orientation()),
        ("stride", "nv21", data, 16, 10, 15, "video", Orientation()),
    ]
    (tmp_path / "f.raw").write_bytes(data)
    by_hand = ["\t".join(["rot", "nv21", str(tmp_path / "f.raw"), "16", "10", "16", "video", "45", "0", "-"])]
    got = run_cases(jar, "kt-frame-pixels", cases, tmp_path, by_hand)
    assert got["rot"]["error"] == "Orientation.rotation is 45; allowed: 0, 90, 180, 270 (degrees clockwise)"
    assert got["roi"]["error"] == "Orientation.roi (x=0, y=0, width=16, height=10) must hold at least one pixel and lie inside the upright image 10x16"
    assert got["short"]["error"].startswith("U holds 239 bytes; 8x5 samples with rowStride 16 and pixelStride 2 need 240")
    assert got["stride"]["error"] == "Y rowStride 15 is less than 16 samples x pixelStride 1"
