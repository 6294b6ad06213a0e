"""Processing cases held to the libraries that define each op (docs/processing.md), not to
edgesdk's numpy.

Every pre-processing case carries the output a library computes (OpenCV, Pillow, torch), with the
tolerance the contract allows against it and why; where the contract deliberately differs from
every library (round-half-up sizes, floor crop offsets) the sizes and offsets are hand-computed
in the case and checked by tests/opcheck/test_opcheck_cases.py. Each case is also held bit for bit
to tests/cpp/reference.py, a transcription of the document alone: the library says what the op
means, the transcription what the contract's float32 operation order gives exactly.

The same cases run through the Python reference, the generated C++ and the generated Kotlin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from size_libraries import paddle_det_resize, paddle_rec_width, torchvision_resized_size

BILINEAR_WHY = "torch F.interpolate(bilinear, align_corners=False) in float64; the contract is float32 arithmetic"
# The contract computes two float32 passes of products of weights rounded to float32; on a 0..255
# scale each pass is within a few float32 ulps of 255 (1.5e-5 each) of the float64 result.
BILINEAR_ATOL = 1e-4
PLACED_WHY = "placement by hand; OpenCV copyMakeBorder around the library resize"
CROP_WHY = "offsets by hand; torch permute for the layout"


@dataclass(frozen=True)
class Frame:
    """A camera frame the app passes instead of pixels (docs/processing.md, "Camera frames and
    orientation"): a raw frame file's bytes, then rotation, mirror and region of interest."""

    data: bytes
    format: str  # nv21 | nv12 | i420
    width: int
    height: int
    row_stride: int | None
    yuv_range: str  # video | full
    rotation: int = 0
    mirror: bool = False
    roi: tuple[int, int, int, int] | None = None


@dataclass
class PreCase:
    id: str
    pixels: np.ndarray  # HWC uint8 in input_color order: what the app passes (a frame: what the libraries make of it)
    input_color: str
    steps: list[dict]
    expected: np.ndarray  # what the defining libraries compute
    atol: float  # 0: bit for bit
    why: str
    frame: Frame | None = None  # the app passes this frame; `pixels` is its upright ROI by the libraries

    @property
    def rgb(self) -> np.ndarray:
        return np.ascontiguousarray(self.pixels[..., ::-1]) if self.input_color == "bgr" else self.pixels


@dataclass
class PostCase:
    id: str
    task: str  # classification: steps end in a selection; custom: elementwise steps only
    values: np.ndarray  # the model output, batch dimension included, float32
    steps: list[dict]
    expected: np.ndarray  # the output values after the steps
    atol: float
    why: str
    expected_order: list[int] = field(default_factory=list)  # classification: class indices, best first


def _random(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def round_half_up(v: float) -> int:
    return math.floor(v + 0.5)


# ---- one library call per op ------------------------------------------------------------------
CV2_YUV = {"nv21": cv2.COLOR_YUV2RGB_NV21, "nv12": cv2.COLOR_YUV2RGB_NV12, "i420": cv2.COLOR_YUV2RGB_I420}


def library_frame(f: Frame) -> np.ndarray:
    """The frame's upright ROI, RGB: OpenCV cvtColor (video range; tight, even frames) or Pillow's
    YCbCr conversion on chroma repeated over its 2x2 blocks (full range), then cv2.rotate, cv2.flip
    and a slice."""
    w, h, stride = f.width, f.height, f.row_stride or f.width
    data = np.frombuffer(f.data, np.uint8)
    if f.yuv_range == "video":
        assert stride == w and w % 2 == 0 and h % 2 == 0, "OpenCV reads tight, even frames only"
        rgb = cv2.cvtColor(data.reshape(h * 3 // 2, w), CV2_YUV[f.format])
    else:
        cw, ch, half = (w + 1) // 2, (h + 1) // 2, (stride + 1) // 2
        luma = data[: stride * h].reshape(h, stride)[:, :w]
        chroma = data[stride * h :]
        if f.format == "i420":
            u, v = chroma[: half * ch].reshape(ch, half)[:, :cw], chroma[half * ch : 2 * half * ch].reshape(ch, half)[:, :cw]
        else:
            rows = chroma.reshape(ch, 2 * half)
            first, second = rows[:, 0 : 2 * cw : 2], rows[:, 1 : 2 * cw : 2]
            u, v = (second, first) if f.format == "nv21" else (first, second)
        planes = [luma] + [np.repeat(np.repeat(p, 2, 0), 2, 1)[:h, :w] for p in (u, v)]
        rgb = np.asarray(Image.merge("YCbCr", [Image.fromarray(np.ascontiguousarray(p)) for p in planes]).convert("RGB"))
    turn = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    if f.rotation:
        rgb = cv2.rotate(rgb, turn[f.rotation])
    if f.mirror:
        rgb = cv2.flip(rgb, 1)
    if f.roi:
        x, y, rw, rh = f.roi
        rgb = rgb[y : y + rh, x : x + rw]
    return np.ascontiguousarray(rgb)


def _frame(fmt: str, w: int, h: int, stride: int | None, yuv_range: str, seed: int, **orientation) -> Frame:
    from edgesdk.processing.frames import raw_frame_size

    data = np.random.default_rng(seed).integers(0, 256, raw_frame_size(fmt, w, h, stride), dtype=np.uint8).tobytes()
    return Frame(data, fmt, w, h, stride, yuv_range, **orientation)


def torch_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=False)
    return out[0].permute(1, 2, 0).numpy()


def cv2_nearest(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """OpenCV INTER_NEAREST_EXACT: pixel centres, the rule the contract states (Pillow NEAREST too)."""
    out = cv2.resize(np.ascontiguousarray(img), (out_w, out_h), interpolation=cv2.INTER_NEAREST_EXACT)
    return out.reshape(out_h, out_w, img.shape[2])


def pillow_nearest(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((out_w, out_h), Image.NEAREST))


def cv2_float(img: np.ndarray, out_h: int, out_w: int, flag: int) -> np.ndarray:
    """OpenCV's own float32 code: with IPP (opencv-python's default) INTER_CUBIC differs by up to
    1.4e-3 on 0..255 values (IPP's cubic), so IPP is off for the call."""
    use_ipp = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)
    try:
        out = cv2.resize(np.ascontiguousarray(img, dtype=np.float32), (out_w, out_h), interpolation=flag)
    finally:
        cv2.ipp.setUseIPP(use_ipp)
    return out.reshape(out_h, out_w, img.shape[2]).astype(np.float64)


PILLOW_FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def pillow_two_pass(img: np.ndarray, out_h: int, out_w: int, interpolation: str, uint8: bool) -> np.ndarray:
    """Pillow resampling, horizontal pass then vertical, each pass by Pillow itself: an "RGB" image
    (uint8, rounded between the passes) or one "F" image per channel (float32 between the passes).
    Pillow 13 runs the vertical pass first for some size pairs (python-pillow/Pillow#9549); the
    contract keeps the horizontal-first order of every earlier Pillow (what models trained with)."""
    f = PILLOW_FILTERS[interpolation]
    h, w = img.shape[:2]

    def two_pass(im: Image.Image) -> Image.Image:
        if w != out_w:
            im = im.resize((out_w, h), f)
        if h != out_h:
            im = im.resize((out_w, out_h), f)
        return im

    if uint8:
        return np.asarray(two_pass(Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)))).astype(np.float64)
    planes = [np.asarray(two_pass(Image.fromarray(np.ascontiguousarray(img[..., c], dtype=np.float32), "F"))) for c in range(img.shape[2])]
    return np.stack(planes, axis=-1).astype(np.float64)


def library_resize(img: np.ndarray, out_h: int, out_w: int, interpolation: str, antialias: bool = False, precision: str = "float") -> np.ndarray:
    if interpolation == "nearest":
        return cv2_nearest(img.astype(np.float32) if precision == "float" else img.astype(np.uint8), out_h, out_w).astype(np.float64)
    if antialias:
        return pillow_two_pass(img, out_h, out_w, interpolation, precision == "uint8")
    if precision == "uint8":  # bilinear: OpenCV INTER_LINEAR on a uint8 Mat
        out = cv2.resize(np.ascontiguousarray(img, dtype=np.uint8), (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        return out.reshape(out_h, out_w, img.shape[2]).astype(np.float64)
    if interpolation == "bicubic":
        return cv2_float(img, out_h, out_w, cv2.INTER_CUBIC)
    if interpolation == "area":
        return cv2_float(img, out_h, out_w, cv2.INTER_AREA)
    return torch_bilinear(img, out_h, out_w)


def _resampling(step: dict) -> tuple[str, bool, str]:
    return step["interpolation"], step.get("antialias", False), step.get("precision", "float")


RULE_DEFAULTS = {"max_size": None, "rounding": "floor", "only": None, "multiple_of": None, "multiple_rounding": "half_even", "arithmetic": "product_first"}
PADDLE_DET = {"min": ("shorter_side", "upscale"), "max": ("longer_side", "downscale"), "resize_long": ("longer_side", None)}


def library_rule_size(h: int, w: int, step: dict) -> tuple[int, int]:
    """The output size of a size-rule resize by the library function the rule reproduces
    (tests/size_libraries.py); a combination no library defines is one of RULE_BY_CONTRACT."""
    fields = {k: step[k] for k in RULE_DEFAULTS}
    side = next(k for k in ("shorter_side", "longer_side", "height", "width") if step.get(k) is not None)
    target = step[side]
    if fields == {**RULE_DEFAULTS, "max_size": fields["max_size"]} and side == "shorter_side":
        return torchvision_resized_size(h, w, target, fields["max_size"])
    if fields == RULE_DEFAULTS and side == "longer_side":
        return torchvision_resized_size(h, w, None, target)
    for limit_type, (det_side, only) in PADDLE_DET.items():
        if side == det_side and fields == {**RULE_DEFAULTS, "only": only, "multiple_of": 32, "arithmetic": "scale_first"}:
            return paddle_det_resize(h, w, target, limit_type)
    if side == "height" and fields == {**RULE_DEFAULTS, "max_size": fields["max_size"], "rounding": "ceil", "arithmetic": "aspect_first"} and fields["max_size"]:
        return target, paddle_rec_width(h, w, target, fields["max_size"])
    from cpp import reference  # no library defines it: the contract's formula (docs/processing.md)

    return reference.rule_size(h, w, step)


def library_preprocess(pixels: np.ndarray, input_color: str, steps: list[dict]) -> np.ndarray:
    """The steps run by the libraries that define them; sizes and offsets by the contract's own
    formulas (no library rounds sizes half up or centres crops with floor)."""
    x: np.ndarray = pixels.astype(np.float64)
    order = input_color
    dtype = "float32"
    for step in steps:
        op = step["op"]
        h, w = x.shape[:2]
        if op == "resize":
            if step.get("size") is None:
                out_h, out_w = library_rule_size(h, w, step)
            else:
                out_h, out_w = step["size"]
            if step.get("keep_ratio"):
                s = max(out_h / h, out_w / w)
                out_h, out_w = round_half_up(h * s), round_half_up(w * s)
            x = library_resize(x, out_h, out_w, *_resampling(step))
        elif op == "pad":
            # PaddleOCR's canvas (np.zeros, the image at 0, 0) as OpenCV copyMakeBorder; letterbox's centring.
            out_h, out_w = step["size"]
            top, left = ((out_h - h) // 2, (out_w - w) // 2) if step["align"] == "center" else (0, 0)
            x = cv2.copyMakeBorder(x, top, out_h - h - top, left, out_w - w - left, cv2.BORDER_CONSTANT, value=[float(v) for v in step["value"]]).reshape(out_h, out_w, 3)
        elif op == "center_crop":
            out_h, out_w = step["size"]
            if step.get("rounding") == "half_even":  # torchvision's CenterCrop, as it writes it
                top, left = round((h - out_h) / 2.0), round((w - out_w) / 2.0)
            else:
                top, left = (h - out_h) // 2, (w - out_w) // 2
            x = x[top : top + out_h, left : left + out_w]
        elif op == "letterbox":
            out_h, out_w = step["size"]
            s = min(out_h / h, out_w / w)
            nh = min(max(round_half_up(h * s), 1), out_h)
            nw = min(max(round_half_up(w * s), 1), out_w)
            top, left = ((out_h - nh) // 2, (out_w - nw) // 2) if step["align"] == "center" else (0, 0)
            inner = library_resize(x, nh, nw, *_resampling(step))
            canvas = cv2.copyMakeBorder(inner, top, out_h - nh - top, left, out_w - nw - left, cv2.BORDER_CONSTANT, value=[float(v) for v in step["pad_value"]])
            x = canvas.reshape(out_h, out_w, 3)
        elif op == "color":
            if step["order"] != order:
                x = cv2.cvtColor(x.astype(np.float32), cv2.COLOR_RGB2BGR).astype(np.float64)
            order = step["order"]
        elif op == "normalize":
            # torchvision Normalize's arithmetic in float32 tensors, after the scale.
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            mean = torch.tensor(step["mean"], dtype=torch.float32)
            std = torch.tensor(step["std"], dtype=torch.float32)
            x = ((t * torch.tensor(step["scale"], dtype=torch.float32) - mean) / std).numpy().astype(np.float64)
        elif op == "layout":
            t = torch.from_numpy(np.ascontiguousarray(x))
            x = (t.permute(2, 0, 1) if step["layout"] == "nchw" else t).unsqueeze(0).numpy()
        elif op == "cast":
            dtype = step["dtype"]
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if dtype == "float16":
        return t.to(torch.float16).numpy()
    if dtype in ("uint8", "int8"):
        info = np.iinfo(dtype)
        # torch.round is round half to even, the contract's integer rounding.
        return torch.round(t).clamp(info.min, info.max).to(getattr(torch, dtype)).numpy()
    return x


# ---- the cases ---------------------------------------------------------------------------------
def _options(antialias: bool, precision: str) -> dict:
    """Only the options that differ from the defaults, as the manifest's normalized steps have them."""
    return {**({"antialias": True} if antialias else {}), **({"precision": precision} if precision != "float" else {})}


def _resize(size, interpolation, keep_ratio=False, antialias=False, precision="float"):
    return {"op": "resize", "size": list(size), "interpolation": interpolation, "keep_ratio": keep_ratio, **_options(antialias, precision)}


def _letterbox(size, pad, interpolation, align="center", antialias=False, precision="float"):
    return {"op": "letterbox", "size": list(size), "pad_value": [float(v) for v in pad], "interpolation": interpolation, "align": align, **_options(antialias, precision)}


def _rule(interpolation, side, target, antialias=False, precision="float", **fields):
    """A size-rule resize, normalized as the manifest writes it (every option present)."""
    return {"op": "resize", "interpolation": interpolation, **_options(antialias, precision), side: target, **RULE_DEFAULTS, **fields}


def _pad(size, value, align="top_left"):
    return {"op": "pad", "size": list(size), "align": align, "value": [float(v) for v in value]}


def _normalize(mean, std, scale=1.0):
    return {"op": "normalize", "mean": [float(v) for v in mean], "std": [float(v) for v in std], "scale": float(scale)}


def _layout(layout):
    return {"op": "layout", "layout": layout}


def _cast(dtype):
    return {"op": "cast", "dtype": dtype}


# (source h, w) -> (out h, w): a pixel centre on a source edge (640 -> 479, 3 -> 2, 5 -> 3, 2 -> 7),
# 1-pixel axes both ways, extreme aspect ratios, identity and plain up/down scaling.
NEAREST_SIZES = [((480, 640), (359, 479)), ((2, 3), (7, 2)), ((3, 5), (2, 3)), ((1, 9), (4, 1)), ((7, 1), (1, 5)), ((2, 300), (9, 7)), ((300, 2), (5, 11)), ((13, 17), (13, 17)), ((37, 53), (61, 47))]
# Every new resampling runs on these: down, up, mixed, 1-pixel axes both ways, an equal axis,
# odd and exact integer factors.
RESAMPLE_SIZES = [
    ((37, 53), (40, 40)),
    ((480, 640), (224, 224)),
    ((1, 9), (5, 4)),
    ((7, 1), (3, 6)),
    ((3, 5), (2, 3)),
    ((2, 300), (9, 7)),
    ((13, 17), (13, 17)),
    ((5, 4), (11, 9)),
    ((21, 33), (7, 11)),
    ((19, 23), (19, 7)),
    ((9, 10), (31, 10)),
]
# (interpolation, antialias, precision, tolerance against the library, why)
RESAMPLINGS = [
    ("bicubic", False, "float", 1e-4, "OpenCV INTER_CUBIC (IPP off) on float32; OpenCV's float32 operation order differs from the contract's by a few ulps"),
    ("area", False, "float", 1e-4, "OpenCV INTER_AREA on float32; OpenCV's float32 operation order differs from the contract's by a few ulps"),
    ("bilinear", True, "float", 0.0, 'Pillow BILINEAR on "F" images, horizontal pass first'),
    ("bicubic", True, "float", 0.0, 'Pillow BICUBIC on "F" images, horizontal pass first'),
    ("bilinear", True, "uint8", 0.0, "Pillow BILINEAR on an RGB image, horizontal pass first"),
    ("bicubic", True, "uint8", 0.0, "Pillow BICUBIC on an RGB image, horizontal pass first"),
    ("bilinear", False, "uint8", 0.0, "OpenCV INTER_LINEAR on a uint8 Mat"),
    ("nearest", False, "uint8", 0.0, "OpenCV INTER_NEAREST_EXACT on a uint8 Mat"),
]
BILINEAR_SIZES = [((37, 53), (40, 40)), ((480, 640), (224, 224)), ((1, 9), (5, 4)), ((7, 1), (3, 6)), ((3, 5), (2, 3)), ((2, 300), (9, 7)), ((13, 17), (13, 17)), ((5, 4), (11, 9))]

# keep_ratio sizes by hand: round half up of h*s, w*s with s = max(H/h, W/w).
KEEP_RATIO = [
    ((37, 53), (28, 28), (28, 40)),  # s = 28/37: 53 * 28 / 37 = 40.11
    ((4, 6), (3, 3), (3, 5)),  # s = 0.75: 6 * 0.75 = 4.5 rounds up to 5 (round half to even: 4)
    ((3, 5), (2, 2), (2, 3)),  # s = 2/3: 5 * 2 / 3 = 3.33
    ((1, 300), (4, 4), (4, 1200)),  # s = 4: the short side grows
]
# letterbox placements by hand: s = min(H/h, W/w), nh, nw rounded half up and clamped to [1, H/W].
LETTERBOX = [
    ((37, 53), (32, 32), "center", (22, 32, 5, 0)),  # 37 * 32 / 53 = 22.34; top = (32 - 22) // 2
    ((5, 2), (16, 16), "top_left", (16, 6, 0, 0)),  # 2 * 3.2 = 6.4
    ((1, 9), (8, 8), "center", (1, 8, 3, 0)),  # 1 * 8 / 9 rounds to 1; top = 7 // 2
    ((1, 300), (4, 4), "center", (1, 4, 1, 0)),  # 1 * 4 / 300 rounds to 0, clamped to 1
    ((6, 10), (5, 7), "center", (4, 7, 0, 0)),  # s = 0.7: 6 * 0.7 = 4.2
    ((10, 6), (7, 5), "center", (7, 4, 0, 0)),  # s = 0.7: 6 * 0.7 = 4.2; left = 1 // 2
    ((3, 8), (9, 9), "center", (3, 9, 3, 0)),  # s = 9/8: 3 * 9 / 8 = 3.375; top = 6 // 2
]
# center_crop offsets by hand: floor((h - H) / 2). torchvision's CenterCrop rounds (h - H) / 2
# half to even (7 - 4 = 3 gives top 2, not 1); the contract floors, so these are hand values.
CENTER_CROP = [((7, 10), (4, 5), (1, 2)), ((9, 9), (9, 9), (0, 0)), ((5, 300), (1, 1), (2, 149))]
# rounding: half_even is torchvision's int(round((h - H) / 2.0)): excess 7 -> 4, 9 -> 4, 5 -> 2, 3 -> 2, 1 -> 0.
CENTER_CROP_HALF_EVEN = [((11, 14), (4, 5), (4, 4)), ((10, 9), (5, 4), (2, 2)), ((8, 5), (5, 4), (2, 0))]


NEAREST_WHY = "OpenCV INTER_NEAREST_EXACT"
TV = "sizes: torchvision _compute_resized_output_size; "
DET = "sizes: PaddleOCR DetResizeForTest; "
REC = "sizes: PaddleOCR resize_norm_img; "
# No library computes these combinations (another rounding, odd multiples, width, only with
# torchvision's order): the sizes are the contract's formula, held to it by test_size_rules.py.
RULE_BY_CONTRACT = "sizes: the contract's formula; "
# (id, input size, step, tolerance against the library, why): exact-edge sizes (ties of every
# rounding, a named side already at the target), 1-pixel axes both ways, `only` at and around
# the target, odd multiples, the max_size cap, and PaddleOCR's order where it rounds a side down.
RULE_CASES = [
    ("tv_short_1px", (1, 37), _rule("nearest", "shorter_side", 7), 0.0, TV + NEAREST_WHY),
    ("tv_short_1px_tall", (29, 1), _rule("nearest", "shorter_side", 5), 0.0, TV + NEAREST_WHY),
    ("tv_short_at_target", (13, 13), _rule("nearest", "shorter_side", 13), 0.0, TV + NEAREST_WHY),
    ("tv_short_down", (40, 25), _rule("nearest", "shorter_side", 16), 0.0, TV + NEAREST_WHY),
    ("tv_short_max_size", (20, 60), _rule("nearest", "shorter_side", 16, max_size=40), 0.0, TV + NEAREST_WHY),
    ("tv_short_max_size_tall", (61, 19), _rule("nearest", "shorter_side", 11, max_size=23), 0.0, TV + NEAREST_WHY),
    ("tv_short_bilinear", (37, 53), _rule("bilinear", "shorter_side", 24), BILINEAR_ATOL, TV + BILINEAR_WHY),
    ("tv_short_pillow", (53, 37), _rule("bilinear", "shorter_side", 20, antialias=True), 0.0, TV + 'Pillow BILINEAR on "F" images'),
    ("tv_short_uint8", (33, 47), _rule("bilinear", "shorter_side", 21, precision="uint8"), 0.0, TV + "OpenCV INTER_LINEAR on a uint8 Mat"),
    ("tv_long", (37, 53), _rule("nearest", "longer_side", 20), 0.0, TV + NEAREST_WHY),
    ("tv_long_1px", (2, 90), _rule("nearest", "longer_side", 45), 0.0, TV + NEAREST_WHY),
    ("tv_long_tall", (60, 6), _rule("nearest", "longer_side", 10), 0.0, TV + NEAREST_WHY),
    ("tv_long_square", (17, 17), _rule("nearest", "longer_side", 31), 0.0, TV + NEAREST_WHY),
    ("det_min_rounds_down", (47, 60), _rule("nearest", "shorter_side", 48, only="upscale", multiple_of=32, arithmetic="scale_first"), 0.0, DET + NEAREST_WHY),
    ("det_min_tie", (20, 70), _rule("nearest", "shorter_side", 32, only="upscale", multiple_of=32, arithmetic="scale_first"), 0.0, DET + NEAREST_WHY),
    ("det_min_meets", (40, 45), _rule("nearest", "shorter_side", 32, only="upscale", multiple_of=32, arithmetic="scale_first"), 0.0, DET + NEAREST_WHY),
    ("det_min_at_target", (32, 47), _rule("nearest", "shorter_side", 32, only="upscale", multiple_of=32, arithmetic="scale_first"), 0.0, DET + NEAREST_WHY),
    ("det_max_down", (90, 33), _rule("nearest", "longer_side", 64, only="downscale", multiple_of=32, arithmetic="scale_first"), 0.0, DET + NEAREST_WHY),
    ("det_max_meets", (50, 60), _rule("nearest", "longer_side", 64, only="downscale", multiple_of=32, arithmetic="scale_first"), 0.0, DET + NEAREST_WHY),
    ("det_long_1px", (1, 31), _rule("bilinear", "longer_side", 48, multiple_of=32, arithmetic="scale_first"), BILINEAR_ATOL, DET + BILINEAR_WHY),
    ("rec_capped", (32, 100), _rule("bilinear", "height", 16, max_size=40, rounding="ceil", arithmetic="aspect_first"), BILINEAR_ATOL, REC + BILINEAR_WHY),
    ("rec_ceil", (7, 3), _rule("bilinear", "height", 16, max_size=40, rounding="ceil", arithmetic="aspect_first"), BILINEAR_ATOL, REC + BILINEAR_WHY),
    ("rec_1px", (16, 1), _rule("nearest", "height", 16, max_size=40, rounding="ceil", arithmetic="aspect_first"), 0.0, REC + NEAREST_WHY),
    ("rec_at_cap", (8, 20), _rule("nearest", "height", 16, max_size=40, rounding="ceil", arithmetic="aspect_first"), 0.0, REC + NEAREST_WHY),
    ("width_half_up_tie", (3, 4), _rule("nearest", "width", 10, rounding="half_up"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("width_half_even_tie", (5, 4), _rule("nearest", "width", 10, rounding="half_even"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("width_cap", (50, 3), _rule("nearest", "width", 6, max_size=40), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("short_ceil", (21, 34), _rule("nearest", "shorter_side", 11, rounding="ceil"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("height_odd_multiple_tie", (7, 20), _rule("nearest", "height", 15, multiple_of=6), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("height_multiple_3_half_up", (10, 13), _rule("nearest", "height", 9, multiple_of=3, multiple_rounding="half_up"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("height_multiple_7_floor", (30, 17), _rule("nearest", "height", 20, multiple_of=7, multiple_rounding="floor"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("height_multiple_5_ceil_up_only", (9, 41), _rule("nearest", "height", 12, only="upscale", multiple_of=5, multiple_rounding="ceil"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("short_only_up_meets_max_size", (30, 90), _rule("nearest", "shorter_side", 20, only="upscale", max_size=50), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("long_only_up", (12, 9), _rule("nearest", "longer_side", 30, only="upscale"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("width_only_down_meets", (23, 11), _rule("nearest", "width", 20, only="downscale"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
    ("short_scale_first_half_even", (49, 75), _rule("nearest", "shorter_side", 32, rounding="half_even", arithmetic="scale_first"), 0.0, RULE_BY_CONTRACT + NEAREST_WHY),
]
PADDLE_NORM = _normalize((127.5, 127.5, 127.5), (127.5, 127.5, 127.5))
REC_RULE = _rule("bilinear", "height", 16, max_size=40, rounding="ceil", arithmetic="aspect_first")
# (id, input size, input colour, steps, tolerance against the library, why)
PAD_CASES = [
    ("paddle_rec", (32, 50), "bgr", [REC_RULE, PADDLE_NORM, _pad((16, 40), (0, 0, 0)), _layout("nchw")], 1e-4 / 127.5 * 2, REC + BILINEAR_WHY + "; pad after normalize"),
    ("paddle_rec_full", (32, 100), "bgr", [REC_RULE, PADDLE_NORM, _pad((16, 40), (0, 0, 0)), _layout("nchw")], 1e-4 / 127.5 * 2, REC + BILINEAR_WHY + "; pad after normalize"),
    ("center_pixels", (13, 29), "rgb", [_pad((20, 40), (1, 2, 3), "center"), _normalize((10, 20, 30), (2, 4, 8)), _layout("nhwc")], 0.0, PLACED_WHY + "; torch normalize"),
    ("exact_size", (9, 7), "rgb", [_pad((9, 7), (5, 5, 5), "center"), _layout("nchw")], 0.0, PLACED_WHY),
    ("one_pixel_after_color", (1, 1), "bgr", [{"op": "color", "order": "rgb"}, _pad((4, 3), (7, 8, 9), "center"), _layout("nchw")], 0.0, PLACED_WHY + "; cvtColor"),
    ("then_resize", (11, 6), "rgb", [_pad((12, 12), (255, 0, 100), "center"), _resize((7, 9), "bilinear")], BILINEAR_ATOL, BILINEAR_WHY + ", padding resampled"),
    ("after_letterbox", (23, 17), "rgb", [_letterbox((12, 16), (114, 0, 255), "nearest"), _pad((15, 20), (1, 2, 3), "center"), _layout("nchw")], 0.0, PLACED_WHY + " twice"),
    ("then_crop", (10, 30), "rgb", [_rule("nearest", "longer_side", 16), _pad((16, 16), (9, 9, 9), "center"), {"op": "center_crop", "size": [9, 11]}, _layout("nhwc")], 0.0, TV + PLACED_WHY),
    (
        "after_normalize_cast",
        (5, 6),
        "rgb",
        [_normalize((100, 100, 100), (50, 50, 50)), _pad((7, 9), (-1.5, 0.5, 2.5), "center"), _layout("nchw"), _cast("int8")],
        0.0,
        PLACED_WHY + "; torch normalize, round",
    ),
]


def pre_cases() -> list[PreCase]:
    cases: list[PreCase] = []

    def add(case_id, pixels, input_color, steps, atol, why, frame=None):
        expected = library_preprocess(pixels, input_color, steps)
        cases.append(PreCase(case_id, pixels, input_color, steps, expected, atol, why, frame))

    seed = 100
    for (h, w), (oh, ow) in NEAREST_SIZES:
        seed += 1
        add(f"nearest_{h}x{w}_to_{oh}x{ow}", _random(h, w, seed), "rgb", [_resize((oh, ow), "nearest")], 0.0, "OpenCV INTER_NEAREST_EXACT (and Pillow NEAREST)")
    for (h, w), (oh, ow) in BILINEAR_SIZES:
        seed += 1
        add(f"bilinear_{h}x{w}_to_{oh}x{ow}", _random(h, w, seed), "rgb", [_resize((oh, ow), "bilinear")], BILINEAR_ATOL, BILINEAR_WHY)
    for interpolation, antialias, precision, atol, why in RESAMPLINGS:
        name = f"{interpolation}{'_antialias' if antialias else ''}_{precision}"
        for (h, w), (oh, ow) in RESAMPLE_SIZES:
            seed += 1
            add(f"{name}_{h}x{w}_to_{oh}x{ow}", _random(h, w, seed), "rgb", [_resize((oh, ow), interpolation, antialias=antialias, precision=precision)], atol, why)
        seed += 1
        add(f"letterbox_{name}", _random(23, 17, seed), "bgr", [_letterbox((12, 16), (114, 0, 255), interpolation, antialias=antialias, precision=precision), _layout("nchw")], atol, why)
    # uint8 chains: a crop and a colour swap keep uint8 pixels; a uint8 resize of a uint8 letterbox.
    add(
        "chain_crop_color_uint8_bilinear",
        _random(31, 29, 230),
        "bgr",
        [{"op": "center_crop", "size": [25, 20]}, {"op": "color", "order": "rgb"}, _resize((11, 13), "bilinear", precision="uint8"), _normalize((1, 2, 3), (2, 2, 2))],
        0.0,
        "OpenCV INTER_LINEAR on a uint8 Mat, torch normalize",
    )
    # A crop of a uint8 resize's rows: each row converted from an offset into them (the unit x pass).
    add(
        "chain_uint8_bilinear_then_crop",
        _random(37, 53, 233),
        "rgb",
        [_resize((24, 40), "bilinear", precision="uint8"), {"op": "center_crop", "size": [16, 27]}, _normalize((1, 2, 3), (2, 2, 2)), _layout("nchw")],
        0.0,
        "OpenCV INTER_LINEAR on a uint8 Mat, a crop, torch normalize",
    )
    add(
        "chain_uint8_letterbox_then_pillow",
        _random(17, 26, 231),
        "rgb",
        [_letterbox((20, 20), (114, 0, 255), "bilinear", precision="uint8"), _resize((9, 7), "bicubic", antialias=True, precision="uint8")],
        0.0,
        "OpenCV INTER_LINEAR then Pillow BICUBIC on RGB images",
    )
    # Float chains the C++ glue folds into one table (crop before bicubic) or materializes (area after antialias).
    add("chain_crop_then_bicubic", _random(19, 23, 232), "rgb", [{"op": "center_crop", "size": [15, 16]}, _resize((9, 29), "bicubic")], 1e-4, "OpenCV INTER_CUBIC (IPP off)")
    add(
        "chain_antialias_then_area",
        _random(40, 37, 233),
        "rgb",
        [_resize((20, 30), "bicubic", antialias=True), _resize((10, 10), "area"), _layout("nchw")],
        1e-4,
        "Pillow BICUBIC (F), then OpenCV INTER_AREA",
    )
    for (h, w), size, _ in KEEP_RATIO:
        seed += 1
        add(f"keep_ratio_{h}x{w}_to_{size[0]}", _random(h, w, seed), "rgb", [_resize(size, "bilinear", True)], BILINEAR_ATOL, "keep_ratio sizes by hand; " + BILINEAR_WHY)
        seed += 1
        add(f"keep_ratio_nearest_{h}x{w}_to_{size[0]}", _random(h, w, seed), "bgr", [_resize(size, "nearest", True)], 0.0, "keep_ratio sizes by hand; OpenCV INTER_NEAREST_EXACT")
    for (h, w), size, align, _ in LETTERBOX:
        seed += 1
        for interpolation in ("nearest", "bilinear"):
            atol = 0.0 if interpolation == "nearest" else BILINEAR_ATOL
            add(f"letterbox_{interpolation}_{align}_{h}x{w}_to_{size[0]}x{size[1]}", _random(h, w, seed), "rgb", [_letterbox(size, (114, 0, 255), interpolation, align)], atol, PLACED_WHY)
    for (h, w), size, _ in CENTER_CROP:
        seed += 1
        add(f"center_crop_{h}x{w}_to_{size[0]}x{size[1]}", _random(h, w, seed), "rgb", [{"op": "center_crop", "size": list(size)}, _layout("nchw")], 0.0, CROP_WHY)
    for (h, w), size, _ in CENTER_CROP_HALF_EVEN:
        seed += 1
        crop = {"op": "center_crop", "size": list(size), "rounding": "half_even"}
        add(f"center_crop_half_even_{h}x{w}_to_{size[0]}x{size[1]}", _random(h, w, seed), "rgb", [crop, _layout("nchw")], 0.0, "torchvision's CenterCrop offsets, round((h - H) / 2.0)")
    # Colour order: the app's order, a swap, swapping back; per-channel parameters follow the order of their step.
    add("color_bgr_to_rgb", _random(6, 5, 201), "bgr", [{"op": "color", "order": "rgb"}], 0.0, "OpenCV cvtColor")
    add("color_swap_nchw", _random(5, 8, 215), "bgr", [{"op": "color", "order": "rgb"}, _layout("nchw")], 0.0, "OpenCV cvtColor, torch permute")
    add("color_rgb_kept", _random(4, 7, 202), "rgb", [{"op": "color", "order": "rgb"}, _layout("nhwc")], 0.0, "no swap; torch unsqueeze")
    # A cast stores rows itself (not in place): the swap must reach that store too.
    add("color_swap_nchw_cast", _random(5, 6, 216), "bgr", [{"op": "color", "order": "rgb"}, _layout("nchw"), _cast("uint8")], 0.0, "OpenCV cvtColor, torch permute")
    # A float resize is kept as tap tables until the tensor is written: a swap after it must still swap.
    add(
        "bilinear_then_color_swap",
        _random(13, 9, 217),
        "bgr",
        [_resize((7, 10), "bilinear"), {"op": "color", "order": "rgb"}, _normalize((10, 20, 30), (2, 4, 8)), _layout("nchw")],
        BILINEAR_ATOL,
        "torch F.interpolate, OpenCV cvtColor",
    )
    add(
        "color_pad_and_mean_follow_order",
        _random(9, 14, 203),
        "rgb",
        [
            _resize((11, 7), "nearest"),
            {"op": "color", "order": "bgr"},
            _letterbox((12, 12), (114, 0, 255), "nearest"),
            _normalize((10, 20, 30), (2, 4, 8)),
            {"op": "color", "order": "rgb"},
            _layout("nchw"),
        ],
        0.0,
        "OpenCV cvtColor, copyMakeBorder, INTER_NEAREST_EXACT; torch normalize and permute",
    )
    # normalize: torch float32 arithmetic is the contract's, bit for bit.
    add("normalize_imagenet_nchw", _random(8, 6, 204), "rgb", [_normalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)), _layout("nchw")], 0.0, "torch float32 (x * scale - mean) / std, permute")
    add("normalize_scale_nhwc", _random(5, 9, 205), "bgr", [_normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1 / 255), _layout("nhwc")], 0.0, "torch float32 (x * scale - mean) / std")
    # cast: torch's float16 conversion (nearest even, inf past 65519) and round-half-even + clamp.
    add("cast_float16_overflow", _random(7, 8, 206), "rgb", [_normalize((0, 0, 0), (1, 1, 1), 300.0), _layout("nchw"), _cast("float16")], 0.0, "torch .to(float16)")
    add("cast_float16_ties", _random(9, 4, 207), "rgb", [_normalize((0, 0, 0), (1, 1, 1), 2049.0 / 255.0), _cast("float16")], 0.0, "torch .to(float16)")
    add("cast_uint8_halves", _random(6, 9, 208), "rgb", [_normalize((-0.5, 100, 0), (2, 2, 0.5)), _layout("nchw"), _cast("uint8")], 0.0, "torch.round (half to even), clamp")
    add("cast_int8_halves", _random(9, 6, 209), "bgr", [_normalize((127.5, 0, 255), (1, 2, 1)), _layout("nhwc"), _cast("int8")], 0.0, "torch.round (half to even), clamp")
    add("cast_float32", _random(3, 3, 210), "rgb", [_cast("float32")], 0.0, "float32 pixels")
    # Chains: a resize of a resize, bilinear after nearest, crop after keep_ratio, the glue's caching of tables.
    add(
        "chain_keep_ratio_crop_normalize",
        _random(37, 53, 211),
        "rgb",
        [_resize((40, 40), "bilinear", True), {"op": "center_crop", "size": [32, 32]}, _normalize((123.675, 116.28, 103.53), (58.395, 57.12, 57.375)), _layout("nchw")],
        2e-6,
        BILINEAR_WHY + " (after normalize: 1e-4 / 57)",
    )
    add("chain_nearest_nearest", _random(30, 20, 212), "bgr", [_resize((61, 47), "nearest"), _resize((30, 20), "nearest"), _layout("nchw")], 0.0, "OpenCV INTER_NEAREST_EXACT twice")
    add("chain_nearest_then_bilinear", _random(16, 16, 213), "rgb", [_letterbox((16, 16), (0, 0, 0), "nearest", "top_left"), _resize((12, 20), "bilinear")], BILINEAR_ATOL, BILINEAR_WHY)
    crop = {"op": "center_crop", "size": [10, 10]}
    add("chain_bilinear_then_nearest_crop", _random(21, 17, 214), "rgb", [_resize((25, 30), "bilinear"), _resize((13, 11), "nearest"), crop], BILINEAR_ATOL, BILINEAR_WHY)
    # Steps the C++ glue folds into one sampling table: a crop or nearest resize before a bilinear one.
    add("chain_crop_then_bilinear", _random(19, 23, 216), "rgb", [{"op": "center_crop", "size": [15, 16]}, _resize((9, 29), "bilinear")], BILINEAR_ATOL, BILINEAR_WHY)
    add("chain_nearest_then_bilinear_resize", _random(17, 13, 217), "bgr", [_resize((23, 9), "nearest"), _resize((10, 14), "bilinear")], BILINEAR_ATOL, BILINEAR_WHY)
    add("chain_bilinear_bilinear", _random(15, 21, 218), "rgb", [_resize((26, 11), "bilinear"), _resize((9, 17), "bilinear")], BILINEAR_ATOL, BILINEAR_WHY)
    seed = 300
    for case_id, (h, w), step, atol, why in RULE_CASES:
        seed += 1
        add(f"rule_{case_id}_{h}x{w}", _random(h, w, seed), "rgb", [step, _layout("nhwc")], atol, why)
    seed = 400
    for case_id, (h, w), color, pre_steps, atol, why in PAD_CASES:
        seed += 1
        add(f"pad_{case_id}_{h}x{w}", _random(h, w, seed), color, pre_steps, atol, why)
    # Camera frames: YUV -> RGB, rotation, mirror, region of interest, then the steps.
    frames = [
        ("frame_nv21_video_rot90", _frame("nv21", 34, 22, None, "video", 240, rotation=90), "rgb"),
        ("frame_nv12_video_rot270_mirror_roi", _frame("nv12", 40, 30, None, "video", 241, rotation=270, mirror=True, roi=(3, 5, 20, 31)), "bgr"),
        ("frame_i420_video_rot180_mirror", _frame("i420", 26, 18, None, "video", 242, rotation=180, mirror=True), "rgb"),
        ("frame_nv21_full_odd_stride_rot90_roi", _frame("nv21", 33, 21, 40, "full", 243, rotation=90, roi=(1, 0, 19, 33)), "rgb"),
        ("frame_nv12_full_odd", _frame("nv12", 17, 9, 19, "full", 244, mirror=True), "bgr"),
        ("frame_i420_full_odd_stride_rot270", _frame("i420", 15, 11, 21, "full", 245, rotation=270), "rgb"),
    ]
    for case_id, frame, color in frames:
        upright = library_frame(frame)
        pixels = upright if color == "rgb" else np.ascontiguousarray(upright[..., ::-1])
        add(case_id, pixels, color, [_layout("nhwc"), _cast("uint8")], 0.0, "OpenCV cvtColor / Pillow YCbCr, cv2.rotate, cv2.flip", frame)
    frame = _frame("nv21", 64, 48, None, "video", 246, rotation=90, mirror=True, roi=(4, 6, 40, 50))
    add("frame_nv21_rot90_bilinear", library_frame(frame), "rgb", [_resize((20, 30), "bilinear"), _layout("nchw")], BILINEAR_ATOL, "OpenCV cvtColor, cv2.rotate, cv2.flip; " + BILINEAR_WHY, frame)
    return cases


# ---- post-processing ---------------------------------------------------------------------------
def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _stable_order(scores: np.ndarray) -> list[int]:
    """torch.sort(descending, stable=True): equal scores keep their index order."""
    return [int(i) for i in torch.sort(torch.from_numpy(scores), descending=True, stable=True).indices]


def post_cases() -> list[PostCase]:
    cases: list[PostCase] = []
    rng = np.random.default_rng(300)

    def classification(case_id, scores, steps, k, why):
        scores = _f32(scores)
        t = torch.from_numpy(scores)
        for step in steps:
            if step["op"] == "softmax":
                t = torch.softmax(t, dim=-1)
            elif step["op"] == "sigmoid":
                t = torch.sigmoid(t)
        order = _stable_order(t.numpy())[:k]
        if any(step["op"] == "argmax" for step in steps):
            order = [int(torch.argmax(t))]  # the first of equal maxima (torch documents it)
        cases.append(PostCase(case_id, "classification", scores[None], steps, t.numpy()[None], 1e-6, why, order))

    logits = rng.normal(0, 4, 1000)
    classification("softmax_topk5_1000", logits, [{"op": "softmax", "axis": -1}, {"op": "topk", "k": 5}], 5, "torch.softmax, torch.sort(stable)")
    # 16+ equal scores: only a stable sort keeps them by index (numpy's default sort does not).
    ties = np.full(40, 0.5)
    ties[[3, 17, 30]] = [0.9, 0.1, 0.7]
    classification("topk_17_ties", ties, [{"op": "topk", "k": 20}], 20, "torch.sort(stable)")
    classification("topk_all_equal", np.full(33, -2.0), [{"op": "topk", "k": 33}], 33, "torch.sort(stable)")
    classification("topk_k_clamped", [1.0, 3.0, 2.0], [{"op": "topk", "k": 10}], 3, "k past the class count is clamped")
    inf = np.float32(np.inf)
    classification("topk_infinities", [0.0, inf, -inf, 5.0, inf, -inf, 1e30, -1e30], [{"op": "topk", "k": 8}], 8, "torch.sort(stable)")
    # NaN ranks below every number and -0.0 equals 0.0, as the reference's numpy sort orders them
    # (torch.sort ranks NaN first, so this order is by hand): 1.0; the zeros by index; -inf; the NaNs.
    nan = np.float32(np.nan)
    signed = _f32([0.0, nan, -0.0, 1.0, nan, 0.0, -inf, -0.0])
    cases.append(PostCase("topk_nan_and_signed_zeros", "classification", signed[None], [{"op": "topk", "k": 8}], signed[None], 0.0, "NaN last, 0.0 == -0.0", [3, 0, 2, 5, 7, 6, 1, 4]))
    classification("argmax_ties", [1.0, 7.0, 3.0, 7.0, 7.0], [{"op": "argmax", "axis": -1}], 1, "torch.argmax: the first maximum")
    classification("argmax_after_softmax_ties", np.concatenate([np.full(20, 4.0), [-1.0]]), [{"op": "softmax", "axis": -1}, {"op": "argmax", "axis": -1}], 1, "torch.softmax, torch.argmax")
    classification("sigmoid_topk", rng.normal(0, 6, 25), [{"op": "sigmoid"}, {"op": "topk", "k": 7}], 7, "torch.sigmoid, torch.sort(stable)")
    classification("sigmoid_saturates_to_ties", [30.0, 40.0, 50.0, -200.0, 0.0, 20.0], [{"op": "sigmoid"}, {"op": "topk", "k": 6}], 6, "torch.sigmoid: 1.0 for all large inputs, then index order")
    classification("whole_vector_sorted", rng.normal(0, 1, 9), [], 9, "no selection step: every class, best first")

    def custom(case_id, values, steps, why):
        values = _f32(values)
        t = torch.from_numpy(values[0])
        for step in steps:
            if step["op"] == "softmax":
                t = torch.softmax(t, dim=step["axis"])
            else:
                t = torch.sigmoid(t)
        cases.append(PostCase(case_id, "custom", values, steps, t.numpy()[None], 1e-6, why))

    custom("softmax_axis0_map", rng.normal(0, 3, (1, 3, 4, 5)), [{"op": "softmax", "axis": 0}], "torch.softmax(dim=0) of the item")
    custom("softmax_axis1_map", rng.normal(0, 3, (1, 3, 4, 5)), [{"op": "softmax", "axis": 1}], "torch.softmax(dim=1) of the item")
    custom("softmax_last_axis_map", rng.normal(0, 3, (1, 2, 3, 7)), [{"op": "softmax", "axis": -1}], "torch.softmax(dim=-1)")
    extremes = np.array([[0.0, 1e30, -1e30, 88.0], [-np.inf, 0.0, 1.0, 2.0], [np.nan, 0.0, 1.0, 2.0], [np.inf, 0.0, 1.0, 2.0], [-100, -100, -100, -100], [1.0, 2.0, 3.0, 1e30]])
    custom("softmax_extremes_nan_inf", extremes[None], [{"op": "softmax", "axis": -1}], "torch.softmax: -inf gives 0, a NaN or +inf row gives NaN")
    custom("sigmoid_extremes", [[-np.inf, -100.0, -17.0, -1.0, 0.0, 1.0, 17.0, 100.0, np.inf, np.nan]], [{"op": "sigmoid"}], "torch.sigmoid")
    custom("sigmoid_then_softmax", rng.normal(0, 2, (1, 4, 6)), [{"op": "sigmoid"}, {"op": "softmax", "axis": 0}], "torch.sigmoid, torch.softmax(dim=0)")
    return cases


def max_abs_diff(got: np.ndarray, want: np.ndarray) -> float:
    """Largest |got - want|; equal values (infinities too) and NaN where both are NaN count 0."""
    a, b = got.astype(np.float64), want.astype(np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.max(np.nan_to_num(diff, nan=np.inf), initial=0.0))


def check_pre(case: PreCase, got: np.ndarray, exact: np.ndarray) -> list[str]:
    """Problems of `got` (a language's output) against the library and the exact transcription."""
    problems = []
    if got.shape != case.expected.shape or got.dtype != exact.dtype:
        return [f"{case.id}: {got.dtype}{list(got.shape)}, want {exact.dtype}{list(case.expected.shape)}"]
    lib_err = max_abs_diff(got, case.expected)
    if not lib_err <= case.atol:
        problems.append(f"{case.id}: {lib_err:.3g} from the library ({case.why}), allowed {case.atol:g}")
    if not np.array_equal(got, exact, equal_nan=True):
        diff = np.argwhere(~((got == exact) | (np.isnan(got.astype(np.float64)) & np.isnan(exact.astype(np.float64)))))
        problems.append(f"{case.id}: differs from the contract's exact result at {len(diff)} positions, first {diff[0].tolist()}")
    return problems


def check_post(case: PostCase, got: np.ndarray, order: list[int] | None) -> list[str]:
    problems = []
    if got.shape != case.expected.shape:
        return [f"{case.id}: shape {list(got.shape)}, want {list(case.expected.shape)}"]
    if not np.array_equal(np.isnan(got), np.isnan(case.expected)):
        problems.append(f"{case.id}: NaN at other positions than {case.why}")
    err = max_abs_diff(got, case.expected)
    if not err <= case.atol:
        problems.append(f"{case.id}: {err:.3g} from {case.why}, allowed {case.atol:g}")
    if case.task == "classification" and order != case.expected_order:
        problems.append(f"{case.id}: classes {order}, want {case.expected_order} ({case.why})")
    return problems
