"""Camera frames, orientation and region of interest in the generated Swift core, built with a
real Swift compiler (PixelImage.nv21/nv12/i420/yuv420 and packed rows + Orientation), held to the
Python reference (edgesdk.processing.frames, itself held to OpenCV and Pillow): exact pixels
where the pipeline keeps uint8, 1e-5 for float pipelines, the same geometry, and the same
classes from the example model for the 1280x720 NV21 frame of issue #18's "Done when".

One `swift build` compiles a package with one executable target per core (its rendered
Sources/<Module>Core files plus tests/swift/FramesRunner.swift as main.swift)."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import example_manifest_dict
from frame_inputs import frame, reference
from toolchains import need

from edgesdk import hosttest_swift, naming, render
from edgesdk.manifest.loading import load_manifest, manifest_from_dict
from edgesdk.processing import Orientation, run_postprocess
from edgesdk.processing.frames import EXIF_ORIENTATIONS, PACKED_FORMATS, upright_size

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kotlin"))
# The bare glue context of a core (no model), shared with the Kotlin core tests.
from core_context import core_context

pytestmark = pytest.mark.swift

RUNNER = Path(__file__).with_name("FramesRunner.swift")
CORE = render.TEMPLATES_DIR / "swift" / "Sources" / "__swift_module__Core"


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# name -> (input_color, steps): the frame's pixels as the steps see them (exact), and the example
# classifier's own pre-processing (its tensor goes into the example model; set by `runners`).
CONTEXTS = {
    "sw-frame-pixels": ("bgr", [{"op": "layout", "layout": "nhwc"}, {"op": "cast", "dtype": "uint8"}]),
}
# name -> example: cores with the example detector's and segmenter's pre- and post-processing,
# whose results must come back in the upright frame (boxes clipped to the ROI, the mask at its offset).
TASKS = {"sw-frame-detector": "detector", "sw-frame-segmenter": "segmenter"}


@pytest.fixture(scope="module")
def runners(tmp_path_factory, example_models) -> dict[str, tuple[hosttest_swift.Swift, Path]]:
    need(hosttest_swift.toolchain_problem())
    manifest = manifest_from_dict(example_manifest_dict(), example_models)
    CONTEXTS["sw-frame-example"] = (manifest.preprocess.input_color, manifest.pre_steps())
    work = tmp_path_factory.mktemp("swift-frames")
    package = work / "pkg"
    contexts = {}
    for name, (color, steps) in CONTEXTS.items():
        contexts[name] = core_context(name, color, steps, input_shape=(1, 3, 224, 224))
    for name, example in TASKS.items():
        m = load_manifest(EXAMPLES / example / "edgesdk.yaml")
        CONTEXTS[name] = (m.preprocess.input_color, m.pre_steps())
        ctx = core_context(name, m.preprocess.input_color, m.pre_steps(), input_shape=tuple(m.model.inputs[0].shape), task=m.task, post_steps=m.post_steps())
        contexts[name] = {**ctx, "outputs": [o.model_dump() for o in m.model.outputs]}
    targets = {}
    for name, ctx in contexts.items():
        target = naming.swift_ident(naming.pascal(name))
        ctx.update(target="ios", model={**ctx["model"], "companions": []})
        render.render_tree(CORE, package / "Sources" / target, ctx)
        (package / "Sources" / target / "main.swift").write_text(RUNNER.read_text(encoding="utf-8"), encoding="utf-8")
        targets[name] = target
    listed = ", ".join(f'.executableTarget(name: "{t}")' for t in targets.values())
    (package / "Package.swift").write_text(f'// swift-tools-version:5.9\nimport PackageDescription\nlet package = Package(name: "Frames", targets: [{listed}])\n', encoding="utf-8")
    swift = hosttest_swift.Swift(work)
    swift.run(["swift", "build", "--package-path", swift.path(package)], "swift build (frames runners)")
    return {name: (swift, package / ".build" / "debug" / target) for name, target in targets.items()}


def run_cases(runners, name: str, cases: list[tuple], work: Path, lines: list[str] | None = None, outputs: dict[str, np.ndarray] | None = None) -> dict[str, dict]:
    """cases: (id, format, data, width, height, stride or None, range, Orientation); `lines`:
    runner lines written by hand; `outputs`: a model output per case id to post-process."""
    swift, binary = runners[name]
    work = swift.work / work.name  # under the folder the chroot mounts
    work.mkdir(parents=True, exist_ok=True)
    lines = list(lines or [])
    for case_id, fmt, data, width, height, stride, yuv_range, o in cases:
        path = work / f"{case_id}.raw"
        path.write_bytes(data)
        channels = PACKED_FORMATS.get(fmt, (1,))[0]
        roi = ",".join(map(str, o.roi)) if o.roi else "-"
        fields = [case_id, fmt, swift.path(path), str(width), str(height), str(stride or width * channels), yuv_range, str(o.rotation), "1" if o.mirror else "0", roi]
        if outputs and case_id in outputs:
            (work / f"{case_id}.out").write_bytes(outputs[case_id].astype("<f4").tobytes())
            fields += [swift.path(work / f"{case_id}.out"), ",".join(map(str, outputs[case_id].shape))]
        lines.append("\t".join(fields))
    (work / "cases.tsv").write_text("\n".join(lines) + "\n")
    proc = swift.run([swift.path(binary), swift.path(work / "cases.tsv"), swift.path(work / "out")], "the Swift frames runner")
    records = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        if "error" not in record:
            dtype = np.uint8 if name == "sw-frame-pixels" else np.dtype("<f4")
            record["tensor"] = np.fromfile(work / "out" / f"{record['id']}.bin", dtype=dtype).reshape(record["shape"])
            if "mask" in record:
                record["class_ids"] = (work / "out" / f"{record['id']}.mask").read_bytes()
        records[record["id"]] = record
    return records


def geometry_of(pre) -> list:
    g = pre.geometry
    return [g.scale_x, g.scale_y, g.pad_left, g.pad_top, g.src_width, g.src_height, g.origin_x, g.origin_y]


# (format, width, height, row stride or None): odd sizes, strides past the row, 1-pixel axes.
SIZES = [(37, 23, None), (36, 22, 48), (1, 1, None), (1, 9, 3), (17, 1, 19), (2, 2, None), (33, 21, 40), (15, 11, 21)]
FORMATS = ["nv21", "nv12", "i420", "yuv420", "rgba", "bgra", "rgb", "bgr", "gray"]


def _roi(k: int, uw: int, uh: int) -> tuple[int, int, int, int] | None:
    """None, the whole image, the bottom-right pixel, the right column, the bottom row, an inner box."""
    choice = k % 6
    if choice == 0:
        return None
    if choice == 1:
        return (0, 0, uw, uh)
    if choice == 2:
        return (uw - 1, uh - 1, 1, 1)
    if choice == 3:
        return (uw - 1, 0, 1, uh)
    if choice == 4:
        return (0, uh - 1, uw, 1)
    return (uw // 3, uh // 4, max(uw // 2, 1), max(uh // 2, 1))


def pixel_cases() -> list[tuple]:
    """Every format x every rotation x mirror, each with a size, a range and a ROI taken in turn."""
    cases = []
    for k, (fmt, (rotation, mirror)) in enumerate(itertools.product(FORMATS, itertools.product((0, 90, 180, 270), (False, True)))):
        width, height, stride = SIZES[k % len(SIZES)]
        if fmt in PACKED_FORMATS and stride is not None:
            stride = stride * PACKED_FORMATS[fmt][0] + 1  # bytes, past the row
        uw, uh = upright_size(width, height, rotation)
        o = Orientation(rotation, mirror, _roi(k // 3, uw, uh))
        cases.append((f"c{k}", fmt, frame(fmt, width, height, stride, k), width, height, stride, ("video", "full")[(k // 2) % 2], o))
    return cases


def test_frame_pixels_equal_the_reference_exactly(runners, tmp_path):
    cases = pixel_cases()
    got = run_cases(runners, "sw-frame-pixels", cases, tmp_path)
    for case_id, fmt, data, w, h, s, r, o in cases:
        pre = reference(CONTEXTS["sw-frame-pixels"], data, fmt, w, h, s, r, o)
        assert "error" not in got[case_id], (got[case_id], fmt, w, h, s, o)
        assert np.array_equal(got[case_id]["tensor"], pre.tensor), (case_id, fmt, w, h, s, r, o)
        assert got[case_id]["geometry"] == geometry_of(pre), (case_id, o)


def test_nv21_1280x720_rotated_90_gives_the_reference_tensor_and_classes(runners, tmp_path, example_models):
    """Issue #18's "Done when" on the Swift core: the example classifier's pre-processing of a
    1280x720 NV21 frame rotated 90 (and with mirror + ROI) within 1e-5 of the reference, and the
    example model gives the same top-5 classes on both tensors."""
    import onnxruntime as ort

    data = frame("nv21", 1280, 720, None, 3)
    cases = [
        ("big", "nv21", data, 1280, 720, None, "video", Orientation(90)),
        ("big_roi", "nv21", data, 1280, 720, None, "video", Orientation(90, True, roi=(100, 200, 500, 700))),
        ("big_full_nv12", "nv12", data, 1280, 720, None, "full", Orientation(270)),
    ]
    got = run_cases(runners, "sw-frame-example", cases, tmp_path)
    session = ort.InferenceSession(str(example_models / "model.onnx"), providers=["CPUExecutionProvider"])
    for case_id, fmt, d, w, h, s, r, o in cases:
        pre = reference(CONTEXTS["sw-frame-example"], d, fmt, w, h, s, r, o)
        tensor = got[case_id]["tensor"]
        assert tensor.shape == pre.tensor.shape == (1, 3, 224, 224)
        assert float(np.abs(tensor - pre.tensor).max()) <= 1e-5, case_id
        assert got[case_id]["geometry"] == geometry_of(pre), case_id
        ours, theirs = (session.run(None, {"image": t.astype(np.float32)})[0][0] for t in (tensor, pre.tensor))
        assert list(np.argsort(-ours, kind="stable")[:5]) == list(np.argsort(-theirs, kind="stable")[:5]), case_id


def test_bad_frames_are_refused_naming_the_field(runners, tmp_path):
    data = bytes(240)  # a 16x10 NV21 frame
    cases = [
        ("roi", "nv21", data, 16, 10, None, "video", Orientation(90, roi=(0, 0, 16, 10))),
        ("roi_left", "i420", data, 16, 10, None, "video", Orientation(0, roi=(-1, 0, 2, 2))),
        ("short", "nv21", data[:239], 16, 10, None, "video", Orientation()),
        ("short_i420", "i420", data[:239], 16, 10, None, "video", Orientation()),
        ("stride", "nv21", data, 16, 10, 15, "video", Orientation()),
        ("packed_short", "rgba", data[:99], 5, 5, None, "video", Orientation()),
    ]
    swift, _ = runners["sw-frame-pixels"]
    raw = swift.work / tmp_path.name / "f.raw"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_bytes(data)
    by_hand = [
        "\t".join(["rot", "nv21", swift.path(raw), "16", "10", "16", "video", "45", "0", "-"]),
        "\t".join(["empty", "nv12", swift.path(raw), "0", "10", "16", "video", "0", "0", "-"]),
    ]
    got = run_cases(runners, "sw-frame-pixels", cases, tmp_path, by_hand)
    assert got["rot"]["error"] == "Orientation.rotation is 45; allowed: 0, 90, 180, 270 (degrees clockwise)"
    assert got["empty"]["error"] == "empty frame (0x10)"
    assert got["roi"]["error"] == "Orientation.roi (x=0, y=0, width=16, height=10) must hold at least one pixel and lie inside the upright image 10x16"
    assert got["roi_left"]["error"] == "Orientation.roi (x=-1, y=0, width=2, height=2) must hold at least one pixel and lie inside the upright image 16x10"
    assert got["short"]["error"] == "U holds 239 bytes; 8x5 samples with rowStride 16 and pixelStride 2 need 240"
    assert got["short_i420"]["error"] == "V holds 239 bytes; 8x5 samples with rowStride 8 and pixelStride 1 need 240"
    assert got["stride"]["error"] == "Y rowStride 15 is less than 16 samples x pixelStride 1"
    assert got["packed_short"]["error"] == "rgba pixel buffer of 99 bytes is too small for a 5x5 image with stride 20"


def test_exif_and_image_orientations_map_as_the_reference(runners):
    swift, binary = runners["sw-frame-pixels"]
    records = [json.loads(line) for line in swift.run([swift.path(binary), "exif"], "the Swift frames runner (exif)").stdout.splitlines()]
    exif = {r["exif"]: (r["rotation"], r["mirror"]) for r in records if "rotation" in r}
    assert exif == {v: EXIF_ORIENTATIONS.get(v, (0, False)) for v in range(10)}
    named = {r["name"]: r for r in records if "name" in r}
    # UIImage.Orientation / CGImagePropertyOrientation names and their EXIF values (Apple's documentation).
    assert {n: r["exif"] for n, r in named.items()} == {"up": 1, "upMirrored": 2, "down": 3, "downMirrored": 4, "leftMirrored": 5, "right": 6, "rightMirrored": 7, "left": 8}
    # Orientation(ImageOrientation) through the pipeline turns pixels as PixelImage.oriented does.
    assert all(r["same"] for r in named.values()), named


def _model_output(example: str, rng: np.random.Generator) -> np.ndarray:
    """Raw outputs of the example's shape: boxes (cx, cy, w, h in input pixels) and scores for the
    detector, class logits for the segmenter."""
    if example == "detector":
        cells = rng.uniform(0.0, 1.0, (1, 400, 8)).astype(np.float32)
        cells[..., 0:2] *= 160.0
        cells[..., 2:4] = cells[..., 2:4] * 80.0 + 4.0
        return cells
    return rng.normal(0.0, 2.0, (1, 3, 64, 64)).astype(np.float32)


@pytest.mark.parametrize("name", list(TASKS))
def test_boxes_and_masks_come_back_in_the_upright_frame(runners, tmp_path, name):
    """The example detector's and segmenter's post-processing after a rotated, mirrored frame
    with a region of interest: boxes clipped to the ROI then moved by its offset, the mask the
    ROI's size at its offset, as the Python reference."""
    rng = np.random.default_rng(7)
    cases = [
        ("roi", "nv21", frame("nv21", 97, 61, 100, 1), 97, 61, 100, "video", Orientation(90, True, roi=(7, 11, 40, 70))),
        ("edge", "nv12", frame("nv12", 64, 48, None, 2), 64, 48, None, "full", Orientation(270, roi=(30, 50, 18, 14))),
        ("plain", "i420", frame("i420", 33, 20, None, 3), 33, 20, None, "video", Orientation(180)),
    ]
    outputs = {c[0]: _model_output(TASKS[name], rng) for c in cases}
    got = run_cases(runners, name, cases, tmp_path, outputs=outputs)
    m = load_manifest(EXAMPLES / TASKS[name] / "edgesdk.yaml")
    post = {"output_index": 0, "steps": m.post_steps(), "labels": []}
    for case_id, fmt, data, w, h, s, r, o in cases:
        pre = reference(CONTEXTS[name], data, fmt, w, h, s, r, o)
        assert float(np.abs(got[case_id]["tensor"] - pre.tensor).max()) <= 1e-5, case_id
        assert got[case_id]["geometry"] == geometry_of(pre), case_id
        want = run_postprocess([outputs[case_id]], m.task, post, pre.geometry, tuple(m.model.inputs[0].shape[2:]))
        if m.task == "segmentation":
            mask = want.mask
            assert got[case_id]["mask"] == [mask.x, mask.y, mask.width, mask.height], case_id
            assert got[case_id]["class_ids"] == mask.class_ids, case_id
        else:
            boxes = got[case_id]["detections"]
            assert len(boxes) == len(want.detections) > 0, case_id
            for b, d in zip(boxes, want.detections):
                assert b[4] == d.index and abs(b[5] - d.score) <= 1e-6, case_id
                assert np.allclose(b[:4], d.box, atol=1e-4), (case_id, b, d.box)
            if o.roi:
                x, y, rw, rh = o.roi
                assert all(x <= b[0] <= b[2] <= x + rw and y <= b[1] <= b[3] <= y + rh for b in boxes), case_id
