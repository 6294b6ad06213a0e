"""The manifest's schema (schema_version 1): pydantic models, the step tables, and the views of a
validated manifest that the pipeline and the templates read.

Validation entry points are in loading.py; this module only describes what a manifest may hold.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from edgesdk import targets
from edgesdk.dtypes import CAST_DTYPES, TENSOR_DTYPES
from edgesdk.errors import ManifestError
from edgesdk.manifest import limits
from edgesdk.manifest.files import read_labels
from edgesdk.results import TASKS

SCHEMA_VERSION = 1
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
# Semantic Versioning 2.0.0, without build metadata (it would not survive every file system).
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
TENSOR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$"
MODEL_SUFFIXES = (".pt", ".pt2", ".onnx")
TARGET_NAMES = tuple(targets.TARGETS)


class _Strict(BaseModel):
    # allow_inf_nan=False: YAML spells inf and nan (.inf, .nan), and no manifest number means them.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


PathText = Annotated[str, Field(min_length=1, max_length=limits.MAX_PATH_CHARS)]
Dim = Annotated[int, Field(ge=1, le=limits.MAX_TENSOR_DIM)]
Axis = Annotated[int, Field(ge=-limits.MAX_TENSOR_RANK, le=limits.MAX_TENSOR_RANK - 1)]


Size2 = Annotated[tuple[Annotated[int, Field(ge=1, le=16384)], Annotated[int, Field(ge=1, le=16384)]], Field(description="[height, width]")]
Triple = Annotated[list[float], Field(min_length=3, max_length=3)]


# ---- model ---------------------------------------------------------------------------------
# A dimension is a positive integer, or symbolic: a name (`height`) or -1 (docs/processing.md,
# "Model input shape"). Symbolic dims take whatever size the pre-processing gives per image.
SYMBOL_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
ShapeDim = Annotated[
    Annotated[int, Field(ge=-1, le=limits.MAX_TENSOR_DIM)] | Annotated[str, Field(pattern=SYMBOL_PATTERN)],
    Field(description="a positive integer, or symbolic: a name such as height, or -1"),
]
DIM_ALLOWED = "a positive integer, -1, or a name such as height"


def _check_dims(shape: list[Any] | None) -> None:
    for i, d in enumerate(shape or []):
        if isinstance(d, int) and d < 1 and d != -1:
            raise ValueError(f"shape[{i}] is {d!r} (allowed: {DIM_ALLOWED})")
        if isinstance(d, str) and not re.fullmatch(SYMBOL_PATTERN, d):
            raise ValueError(f"shape[{i}] is {d!r} (allowed: {DIM_ALLOWED}; a name is letters, digits and '_', starting with a letter)")


def _check_elements(shape: list[Any] | None, bounds: dict[str, DimBounds] | None = None) -> None:
    """At most MAX_TENSOR_ELEMENTS, counting a bounded symbolic dim at its maximum."""
    if shape is None:
        return
    concrete = [d if isinstance(d, int) and d > 0 else (bounds[d].max if isinstance(d, str) and bounds and d in bounds else 1) for d in shape]
    if math.prod(concrete) > limits.MAX_TENSOR_ELEMENTS:
        raise ValueError(f"{shape} holds {math.prod(concrete)} elements (at most {limits.MAX_TENSOR_ELEMENTS})")


class DimBounds(_Strict):
    """The sizes one symbolic dim may take; runtimes that compile for a range (ExecuTorch, Core ML,
    TensorRT, OpenVINO's bounded dims) need them, and the SDK refuses an image outside them."""

    min: int = Field(1, ge=1, le=limits.MAX_TENSOR_DIM)
    max: int = Field(ge=1, le=limits.MAX_TENSOR_DIM)

    @model_validator(mode="after")
    def _ordered(self) -> DimBounds:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is larger than max {self.max}")
        return self


class TensorSpec(_Strict):
    name: str = Field(pattern=TENSOR_NAME_PATTERN)
    shape: list[ShapeDim] = Field(min_length=1, max_length=limits.MAX_TENSOR_RANK)
    dtype: Literal[TENSOR_DTYPES] = "float32"  # type: ignore[valid-type]
    dynamic: dict[Annotated[str, Field(pattern=SYMBOL_PATTERN)], DimBounds] | None = Field(None, description="bounds of named symbolic dims, e.g. {height: {min: 32, max: 1024}}")

    @model_validator(mode="after")
    def _bounded(self) -> TensorSpec:
        _check_dims(self.shape)
        names = [d for d in self.shape if isinstance(d, str)]
        if len(set(names)) != len(names):
            # One name is one size: two axes of one name would have to be equal, which no pipeline promises.
            raise ValueError(f"shape {self.shape} names a symbolic dim twice (each symbolic dim takes its own name)")
        for key in self.dynamic or {}:
            if key not in names:
                raise ValueError(f"dynamic.{key} names no dim of shape {self.shape} (allowed: {', '.join(names) or 'none: name a dim, e.g. [1, 3, height, width]'})")
        _check_elements(self.shape, self.dynamic)
        return self

    def as_json(self) -> dict[str, Any]:
        """sdk.json's and the templates' form: `dynamic` only when the manifest gives bounds, so a
        static input reads as it always did."""
        return self.model_dump(exclude_none=True)


class OutputSpec(_Strict):
    name: str = Field(pattern=TENSOR_NAME_PATTERN)
    shape: list[ShapeDim] | None = Field(None, min_length=1, max_length=limits.MAX_TENSOR_RANK)
    dtype: Literal[TENSOR_DTYPES] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _bounded(self) -> OutputSpec:
        _check_dims(self.shape)
        _check_elements(self.shape)
        return self


class ModelSpec(_Strict):
    source: PathText = Field(description="model.pt (TorchScript) | model.pt2 (torch.export) | model.onnx | python:pkg.mod:factory")
    inputs: list[TensorSpec] = Field(min_length=1, max_length=1)
    outputs: list[OutputSpec] = Field(min_length=1, max_length=16)


# ---- pre-processing steps (docs/processing.md) -----------------------------------------------
Interpolation = Literal["nearest", "bilinear", "bicubic", "area"]
# (interpolation, antialias) pairs with a precision: uint8 path (docs/processing.md, Resampling).
UINT8_RESAMPLING = {("nearest", False), ("bilinear", False), ("bilinear", True), ("bicubic", True)}


def check_resampling(interpolation: str, antialias: bool, precision: str) -> None:
    """The combinations the contract defines; the others are refused by name."""
    if antialias and interpolation not in ("bilinear", "bicubic"):
        raise ValueError(f"antialias: true applies to interpolation bilinear or bicubic (Pillow's filters), not {interpolation}")
    if precision == "uint8" and (interpolation, antialias) not in UINT8_RESAMPLING:
        raise ValueError(
            f"precision: uint8 is not implemented for interpolation {interpolation} with antialias {str(antialias).lower()} "
            "(allowed: nearest, bilinear, or bilinear/bicubic with antialias: true; or precision: float)"
        )


INTERPOLATION_FIELD: Any = Field("bilinear", description="nearest (OpenCV INTER_NEAREST_EXACT) | bilinear (OpenCV INTER_LINEAR) | bicubic (OpenCV INTER_CUBIC) | area (OpenCV INTER_AREA)")
ANTIALIAS_FIELD: Any = Field(False, description="true: Pillow's BILINEAR / BICUBIC filters (support scaled when downscaling), as torchvision on PIL images")
PRECISION_FIELD: Any = Field(
    "float",
    description="float: resample float32 values of 0..255; uint8: resample the uint8 pixels with the library's integer arithmetic and round to uint8 "
    "(OpenCV INTER_LINEAR on a uint8 Mat, Pillow on an RGB image; nearest, bilinear, antialias bilinear/bicubic)",
)


# The fields are spelled out in each step (not inherited) so their order, and so the normalized
# steps written into bundles, stays as it was.
Side = Annotated[int, Field(ge=1, le=16384)]
Rounding = Literal["floor", "ceil", "half_even", "half_up"]
SIZE_RULES = ("size", "shorter_side", "longer_side", "height", "width")
# The size-rule fields `size: [H, W]` does not take (docs/processing.md, "Size rules").
RULE_OPTIONS = ("max_size", "rounding", "only", "multiple_of", "multiple_rounding", "arithmetic")


class ResizeParams(_Strict):
    size: Size2 | None = Field(None, description="exactly H x W (with keep_ratio: the image covers H x W); or one of shorter_side, longer_side, height, width")
    interpolation: Interpolation = INTERPOLATION_FIELD
    keep_ratio: bool = Field(False, description="size only: s = max(H/h, W/w), output round(h*s) x round(w*s)")
    antialias: bool = ANTIALIAS_FIELD
    precision: Literal["float", "uint8"] = PRECISION_FIELD
    shorter_side: Side | None = Field(None, description="the shorter side becomes N, the longer follows the aspect ratio (torchvision Resize(N))")
    longer_side: Side | None = Field(None, description="the longer side becomes N, the shorter follows the aspect ratio")
    height: Side | None = Field(None, description="the height becomes N, the width follows the aspect ratio (PaddleOCR rec/cls)")
    width: Side | None = Field(None, description="the width becomes N, the height follows the aspect ratio")
    max_size: Side | None = Field(None, description="shorter_side: cap on the longer output side (torchvision / HF max_size); height / width: cap on the other side")
    rounding: Rounding | None = Field(None, description="how a computed side is rounded (default floor, as torchvision's int())")
    only: Literal["upscale", "downscale"] | None = Field(None, description="leave the sides as they are when the image already meets the target (PaddleOCR det limit_type min / max)")
    multiple_of: Side | None = Field(None, description="each output side becomes max(m, R(side / m) * m) (PaddleOCR det: 32)")
    multiple_rounding: Rounding | None = Field(None, description="R of multiple_of (default half_even, Python's round)")
    arithmetic: Literal["product_first", "scale_first", "aspect_first"] | None = Field(
        None,
        description="operation order of the computed side, T the target, s the named input side, o the other: product_first R(T * o / s) (default; torchvision, HF), "
        "scale_first r = T / s, R(s * r) and R(o * r) (PaddleOCR DetResizeForTest), aspect_first R(T * (o / s)) (PaddleOCR RecResizeImg / ClsResizeImg)",
    )

    @model_validator(mode="after")
    def _defined(self) -> ResizeParams:
        check_resampling(self.interpolation, self.antialias, self.precision)
        named = [rule for rule in SIZE_RULES if getattr(self, rule) is not None]
        if len(named) != 1:
            raise ValueError(f"resize takes exactly one of {', '.join(SIZE_RULES)} (got {', '.join(named) or 'none'})")
        given = [option for option in RULE_OPTIONS if getattr(self, option) is not None]
        if self.size is not None and given:
            raise ValueError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} to shorter_side, longer_side, height or width, not to size: [H, W] (an exact size)")
        if self.size is None and self.keep_ratio:
            raise ValueError(f"keep_ratio applies to size: [H, W]; {named[0]} keeps the aspect ratio already")
        if self.max_size is not None:
            if self.longer_side is not None:
                raise ValueError("max_size caps the longer side of shorter_side or the other side of height / width; longer_side sets it already")
            if self.shorter_side is not None and self.max_size <= self.shorter_side:
                raise ValueError(f"max_size ({self.max_size}) must be greater than shorter_side ({self.shorter_side}), as torchvision requires")
        if self.multiple_rounding is not None and self.multiple_of is None:
            raise ValueError("multiple_rounding applies with multiple_of only")
        return self

    def rule_step(self) -> dict[str, Any]:
        """The normalized parameters of a size rule, every default filled in."""
        side = next(rule for rule in SIZE_RULES[1:] if getattr(self, rule) is not None)
        return {
            side: getattr(self, side),
            "max_size": self.max_size,
            "rounding": self.rounding or "floor",
            "only": self.only,
            "multiple_of": self.multiple_of,
            "multiple_rounding": self.multiple_rounding or "half_even",
            "arithmetic": self.arithmetic or "product_first",
        }


CROP_ROUNDINGS = ("floor", "half_even")


class CenterCropParams(_Strict):
    size: Size2
    rounding: Literal[CROP_ROUNDINGS] = Field(  # type: ignore[valid-type]
        "floor", description="how (h - H) / 2 becomes the top offset (the same for left): floor, or half_even (Python's round, torchvision's CenterCrop)"
    )


class LetterboxParams(_Strict):
    size: Size2
    pad_value: Annotated[float, Field(ge=0, le=255)] | Annotated[list[Annotated[float, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)] = 114.0
    interpolation: Interpolation = INTERPOLATION_FIELD
    align: Literal["center", "top_left"] = "center"
    antialias: bool = ANTIALIAS_FIELD
    precision: Literal["float", "uint8"] = PRECISION_FIELD

    @model_validator(mode="after")
    def _defined(self) -> LetterboxParams:
        check_resampling(self.interpolation, self.antialias, self.precision)
        pads = self.pad_value if isinstance(self.pad_value, list) else [self.pad_value]
        if self.precision == "uint8" and any(v != int(v) for v in pads):
            raise ValueError(f"precision: uint8 needs whole-number pad_value (uint8 pixels), got {self.pad_value}")
        return self


class PadParams(_Strict):
    size: Size2
    align: Literal["top_left", "center"] = Field("top_left", description="top_left: the image at 0, 0; center: top = (H - h) // 2, left = (W - w) // 2 (as letterbox)")
    value: float | Annotated[list[float], Field(min_length=3, max_length=3)] = Field(
        0.0, description="the canvas value (number or one per channel) in the space the values have at this step: pixels before normalize, normalized values after it"
    )


class NormalizeParams(_Strict):
    mean: Triple = [0.0, 0.0, 0.0]
    std: Triple = [1.0, 1.0, 1.0]
    scale: float = 1.0

    @model_validator(mode="after")
    def _float32_safe(self) -> NormalizeParams:
        big, small = limits.NORMALIZE_MAX_MAGNITUDE, limits.NORMALIZE_MIN_MAGNITUDE
        if any(s == 0 for s in self.std):
            raise ValueError("std values must be non-zero")
        if any(abs(m) > big for m in self.mean):
            raise ValueError(f"mean values must lie in [-{big:g}, {big:g}] (got {self.mean})")
        if any(not small <= abs(s) <= big for s in self.std):
            raise ValueError(f"std values must have a magnitude in [{small:g}, {big:g}] (got {self.std})")
        if not small <= abs(self.scale) <= big:
            raise ValueError(f"scale must have a magnitude in [{small:g}, {big:g}] (got {self.scale})")
        return self


class ResizeStep(_Strict):
    resize: ResizeParams


class CenterCropStep(_Strict):
    center_crop: CenterCropParams


class LetterboxStep(_Strict):
    letterbox: LetterboxParams


class PadStep(_Strict):
    pad: PadParams


class ColorStep(_Strict):
    color: Literal["rgb", "bgr"]


class NormalizeStep(_Strict):
    normalize: NormalizeParams


class LayoutStep(_Strict):
    layout: Literal["nchw", "nhwc"]


class CastStep(_Strict):
    cast: Literal[CAST_DTYPES]  # type: ignore[valid-type]


# ---- post-processing steps ---------------------------------------------------------------------
class AxisParams(_Strict):
    axis: Axis = -1


class TopkParams(_Strict):
    k: int = Field(5, ge=1, le=100000)


class SoftmaxStep(_Strict):
    softmax: AxisParams = AxisParams()


class SigmoidStep(_Strict):
    sigmoid: dict[str, Any] | None = Field(None, description="no parameters")

    @model_validator(mode="after")
    def _no_params(self) -> SigmoidStep:
        if self.sigmoid:
            raise ValueError("sigmoid takes no parameters")
        return self


class ArgmaxStep(_Strict):
    argmax: AxisParams = AxisParams()


class TopkStep(_Strict):
    topk: TopkParams


class DecodeBoxesParams(_Strict):
    format: Literal["yolo", "boxes_scores"] = "yolo"
    box: Literal["cxcywh", "xyxy"] = "cxcywh"
    objectness: bool = Field(False, description="yolo only: a 5th value per candidate multiplies the class scores")
    transposed: bool = Field(False, description="yolo only: the output is [4 + (1) + C, N] instead of [N, 4 + (1) + C]")
    normalized: bool = Field(False, description="box values are fractions of the model input instead of its pixels")
    score_activation: Literal["none", "sigmoid"] = "none"
    multi_label: bool = Field(False, description="every (candidate, class) pair above the threshold is a candidate, not only the best class")
    boxes: str | None = Field(None, max_length=limits.MAX_NAME_CHARS, description="boxes_scores only: the [N, 4] boxes output; default: the first output")
    scores: str | None = Field(None, max_length=limits.MAX_NAME_CHARS, description="boxes_scores only: the [N, C] scores output; default: the second output")

    @model_validator(mode="after")
    def _format_fields(self) -> DecodeBoxesParams:
        if self.format == "yolo" and (self.boxes is not None or self.scores is not None):
            raise ValueError("boxes and scores name the outputs of format boxes_scores; format yolo reads postprocess.output")
        if self.format == "boxes_scores" and (self.objectness or self.transposed):
            raise ValueError("objectness and transposed apply to format yolo only")
        return self


class NmsParams(_Strict):
    score_threshold: float = Field(0.25, ge=0, lt=1)
    iou_threshold: float = Field(0.45, gt=0, le=1)
    class_agnostic: bool = False
    max_detections: int = Field(100, ge=1, le=limits.MAX_DETECTIONS)
    pre_nms_topk: int = Field(1000, ge=1, le=limits.MAX_NMS_CANDIDATES)


Rgb = Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)]


class MaskParams(_Strict):
    activation: Literal["argmax", "sigmoid", "none"] = "argmax"
    threshold: float = Field(0.5, gt=0, lt=1, description="sigmoid only")
    layout: Literal["nchw", "nhwc"] = Field("nchw", description="argmax only: [C, h, w] (nchw) or [h, w, C] (nhwc) after the batch dimension")
    palette: Annotated[list[Rgb], Field(min_length=1, max_length=256)] | None = Field(None, description="one [r, g, b] per class, for images of the mask")


class DecodeBoxesStep(_Strict):
    decode_boxes: DecodeBoxesParams = DecodeBoxesParams()


class NmsStep(_Strict):
    nms: NmsParams = NmsParams()


class MaskStep(_Strict):
    mask: MaskParams = MaskParams()


PRE_STEPS: dict[str, type[_Strict]] = {
    "resize": ResizeStep,
    "center_crop": CenterCropStep,
    "letterbox": LetterboxStep,
    "pad": PadStep,
    "color": ColorStep,
    "normalize": NormalizeStep,
    "layout": LayoutStep,
    "cast": CastStep,
}
POST_STEPS: dict[str, type[_Strict]] = {
    "softmax": SoftmaxStep,
    "sigmoid": SigmoidStep,
    "argmax": ArgmaxStep,
    "topk": TopkStep,
    "decode_boxes": DecodeBoxesStep,
    "nms": NmsStep,
    "mask": MaskStep,
}
# Steps whose parameters may be omitted entirely (`- sigmoid` or `- softmax: {}`).
_BARE_STEPS = {"softmax", "sigmoid", "argmax", "decode_boxes", "nms", "mask"}


def _step_tag(value: Any) -> str | None:
    if isinstance(value, str) and value in _BARE_STEPS:
        return value
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    return None


def expand_bare_step(value: Any) -> Any:
    """`- sigmoid` -> `{"sigmoid": None}`, `- softmax` -> `{"softmax": {}}`; anything else unchanged."""
    return {value: {} if value != "sigmoid" else None} if isinstance(value, str) else value


def _step_union(steps: dict[str, type[_Strict]]) -> Any:
    options = tuple(Annotated[model, Tag(tag)] for tag, model in steps.items())
    # Union[...] of a runtime-built tuple: `X | Y` cannot be spelled for a tuple.
    return Annotated[
        Union[options],  # noqa: UP007
        Discriminator(_step_tag),
    ]


PreStep = _step_union(PRE_STEPS)
PostStep = _step_union(POST_STEPS)


class PreprocessSpec(_Strict):
    input_color: Literal["rgb", "bgr"] = "rgb"
    steps: list[PreStep] = Field(min_length=1, max_length=limits.MAX_STEPS)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _order(self) -> PreprocessSpec:
        ops = [step_op(s) for s in self.steps]
        if "layout" not in ops:
            raise ValueError("a 'layout' step (nchw or nhwc) is required: it makes the image a model tensor")
        if ops.count("layout") > 1:
            raise ValueError("only one 'layout' step is allowed")
        after_layout = ops[ops.index("layout") + 1 :]
        if any(op != "cast" for op in after_layout):
            raise ValueError("only a 'cast' step may follow 'layout' (image steps work on HWC images)")
        if ops.count("cast") > 1:
            raise ValueError("only one 'cast' step is allowed")
        if "cast" in ops and ops.index("cast") < ops.index("layout"):
            raise ValueError("'cast' must come after 'layout'")
        uint8_pixels = True
        for n, step in enumerate(self.steps):
            op = step_op(step)
            if op in ("resize", "letterbox"):
                precision = getattr(step, op).precision
                if precision == "uint8" and not uint8_pixels:
                    raise ValueError(f"step {n} ({op}): precision: uint8 resizes uint8 pixels; only center_crop, color and precision: uint8 resize/letterbox steps may come before it")
                uint8_pixels = precision == "uint8"
            elif op not in ("center_crop", "color"):
                uint8_pixels = False
        return self


class PostprocessSpec(_Strict):
    output: str | None = Field(None, max_length=limits.MAX_NAME_CHARS, description="the model output the steps apply to; default: the first")
    steps: list[PostStep] = Field([], max_length=limits.MAX_STEPS)  # type: ignore[valid-type]
    labels: PathText | None = Field(None, description="a text file, one label per line")


class CalibrationSpec(_Strict):
    data: PathText
    samples: int = Field(128, ge=1, le=limits.MAX_CALIBRATION_SAMPLES)
    method: Literal["minmax", "entropy", "percentile"] = "minmax"


class AccuracyBudget(_Strict):
    metric: Literal["top1_agreement", "cosine", "sqnr_db"] = "top1_agreement"
    min: float

    @model_validator(mode="after")
    def _in_metric_range(self) -> AccuracyBudget:
        low, high = {"top1_agreement": (0.0, 1.0), "cosine": (-1.0, 1.0), "sqnr_db": limits.SQNR_DB_RANGE}[self.metric]
        if not low <= self.min <= high:
            raise ValueError(f"min {self.min} is outside {self.metric}'s range [{low:g}, {high:g}]")
        return self


class QuantizationSpec(_Strict):
    mode: Literal["none", "fp16", "int8-dynamic", "int8", "palettize", "auto"] = Field(
        "none", description="auto: the fastest of the runtime's modes that meets accuracy_budget on the calibration data (measured on this machine)"
    )
    bits: Literal[1, 2, 3, 4, 6, 8] | None = Field(None, description="palettize only: bits per weight index (a 2**bits-entry table per tensor); default 8")
    calibration: CalibrationSpec | None = None
    per_channel: bool = True
    keep_float: Literal["auto"] | Annotated[list[Annotated[str, Field(min_length=1, max_length=limits.MAX_NAME_CHARS)]], Field(max_length=limits.MAX_KEEP_FLOAT)] = []
    accuracy_budget: AccuracyBudget | None = None
    sensitivity: bool | None = Field(
        None,
        description="per-layer sensitivity analysis in reports/quantization.json: one quantized probe per layer, run on the calibration data; default: only when keep_float is auto (which needs it)",
    )


class PruneSpec(_Strict):
    method: Literal["l1_unstructured", "channels"]
    amount: float = Field(gt=0, lt=1, description="fraction of weights (l1_unstructured) or of output channels (channels) removed")


class OptimizeSpec(_Strict):
    """Changes to the torch model before conversion; off by default."""

    fold_bn: bool = False
    prune: PruneSpec | None = None


class EncryptionSpec(_Strict):
    enabled: bool = False
    key: str | None = Field(None, max_length=limits.MAX_PATH_CHARS, pattern=r"^(env|file):.+$", description="env:NAME | file:path; never a literal key")


class ParitySpec(_Strict):
    """Tolerance overrides; anything left out takes the default of the quantization mode (parity.py)."""

    max_abs: float | None = Field(None, gt=0)
    mean_abs: float | None = Field(None, gt=0)
    cosine_min: float | None = Field(None, ge=-1, le=1)
    sqnr_db_min: float | None = Field(None, ge=limits.SQNR_DB_RANGE[0], le=limits.SQNR_DB_RANGE[1])
    top1_agreement_min: float | None = Field(None, ge=0, le=1)
    detection_f1_min: float | None = Field(None, ge=0, le=1)
    mask_agreement_min: float | None = Field(None, ge=0, le=1)


class CoreMLOptionsSpec(_Strict):
    image_input: Literal["auto", "tensor"] = Field(
        "auto",
        description="auto: an ImageType input (CVPixelBuffer) that takes over normalize where it folds exactly (docs/coreml.md); tensor: always an MLMultiArray fed the SDK's float32 normalize",
    )


class NcnnOptionsSpec(_Strict):
    """ncnn's reduced-precision `Net::opt` switches (docs/ncnn.md). Unset: off in float32 and int8
    bundles; in `quantization.mode: fp16` bundles ncnn's own defaults (fp16 storage, packed and
    arithmetic on, bf16 off). Turning one on needs `quantization.mode: fp16`."""

    use_fp16_storage: bool | None = Field(None, description="store weights (and, on ARM, activations) in fp16")
    use_fp16_packed: bool | None = Field(None, description="pack fp16 activations by 4/8 lanes (with use_fp16_storage)")
    use_fp16_arithmetic: bool | None = Field(None, description="compute in fp16 where the CPU can (ARMv8.2 asimdhp; ignored by x86 CPUs)")
    use_bf16_storage: bool | None = Field(None, description="store activations in bf16 where fp16 storage is off or missing")
    use_bf16_packed: bool | None = Field(None, description="pack bf16 activations (with use_bf16_storage)")


class RuntimeOptionsSpec(_Strict):
    """Settings of one runtime; a runtime other than the one built ignores its block."""

    coreml: CoreMLOptionsSpec = CoreMLOptionsSpec()
    ncnn: NcnnOptionsSpec = NcnnOptionsSpec()


class GoldenSpec(_Strict):
    images: PathText | None = Field(None, description="folder of PNG/JPEG images for golden vectors and parity; default: the bundled sample photos")
    count: int = Field(4, ge=1, le=64)


class Manifest(_Strict):
    schema_version: Literal[1]
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=SEMVER_PATTERN)
    model: ModelSpec
    task: Literal[TASKS]  # type: ignore[valid-type]
    preprocess: PreprocessSpec
    postprocess: PostprocessSpec = PostprocessSpec()
    target: Literal[TARGET_NAMES] | None = None  # type: ignore[valid-type]
    runtime: str | None = Field(None, max_length=limits.MAX_NAME_CHARS)
    quantization: QuantizationSpec = QuantizationSpec()
    optimize: OptimizeSpec = OptimizeSpec()
    encryption: EncryptionSpec = EncryptionSpec()
    parity: ParitySpec = ParitySpec()
    golden: GoldenSpec = GoldenSpec()
    runtime_options: RuntimeOptionsSpec = RuntimeOptionsSpec()

    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _base_dir: Path = PrivateAttr(default=Path("."))
    _path: Path | None = PrivateAttr(default=None)

    # -- paths ------------------------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def path(self) -> Path | None:
        return self._path

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else (self._base_dir / p).resolve()

    # -- derived views used by the pipeline and the templates ---------------------------------
    def pre_steps(self) -> list[dict[str, Any]]:
        return [normalized_step(s) for s in self.preprocess.steps]

    def post_steps(self) -> list[dict[str, Any]]:
        """The normalized post-processing steps, with model outputs named by index (the templates
        and the reference address outputs by position)."""
        names = [o.name for o in self.model.outputs]
        steps = [normalized_step(s) for s in self.postprocess.steps]
        for step in steps:
            if step["op"] == "decode_boxes":
                index = {key: names.index(step[key]) if step[key] else None for key in ("boxes", "scores")}
                _index_outputs(step, self.post_output_index(), index["boxes"], index["scores"])
        return steps

    def post_output_index(self) -> int:
        if self.postprocess.output is None:
            return 0
        return [o.name for o in self.model.outputs].index(self.postprocess.output)

    def labels(self) -> list[str]:
        if not self.postprocess.labels:
            return []
        return read_labels(self.resolve(self.postprocess.labels), "postprocess.labels")

    def resolved_target(self) -> str:
        if self.target is None:
            raise ManifestError("target", "no target given: set `target:` in the manifest or pass --target (allowed: " + ", ".join(targets.TARGETS) + ")")
        return self.target

    def resolved_runtime(self) -> str:
        return self.runtime or targets.TARGETS[self.resolved_target()].default_runtime


# Steps written as `op: value` become `{"op": op, <param>: value}`.
_SCALAR_PARAM = {"color": "order", "layout": "layout", "cast": "dtype"}


def step_op(step: BaseModel) -> str:
    return next(iter(type(step).model_fields))


def normalized_step(step: BaseModel) -> dict[str, Any]:
    """`{"op": name, **params}` with every default filled in: the form templates and the numpy reference use."""
    op = step_op(step)
    value = getattr(step, op)
    if op in _SCALAR_PARAM:
        params: dict[str, Any] = {_SCALAR_PARAM[op]: value}
    elif value is None:
        params = {}
    elif op == "resize" and value.size is None:
        params = {"interpolation": value.interpolation, "antialias": value.antialias, "precision": value.precision, **value.rule_step()}
    else:
        params = value.model_dump(mode="python", exclude=set(RULE_OPTIONS + SIZE_RULES[1:]) if op == "resize" else None)
    if op == "letterbox":
        pad = params["pad_value"]
        params["pad_value"] = [float(pad)] * 3 if not isinstance(pad, list) else [float(v) for v in pad]
    if op == "pad":
        params["value"] = [float(params["value"])] * 3 if not isinstance(params["value"], list) else [float(v) for v in params["value"]]
    if "size" in params:
        params["size"] = list(params["size"])
    if op == "mask":
        # class 1 where sigmoid(x) > t, evaluated exactly as x > logit(t) (docs/processing.md).
        t = params["threshold"]
        params["logit_threshold"] = math.log(t / (1.0 - t))
    # Defaults that select today's resampling are left out, so existing bundles keep their bytes.
    if params.get("antialias") is False:
        del params["antialias"]
    if params.get("precision") == "float":
        del params["precision"]
    if op == "center_crop" and params.get("rounding") == "floor":
        del params["rounding"]
    return {"op": op, **params}


def post_step(op: str, boxes_index: int | None = None, scores_index: int | None = None, **params: Any) -> dict[str, Any]:
    """One post-processing step as a manifest writes it (`op` and its parameters, validated the
    same way), normalized as the templates and the reference read it. decode_boxes reads model
    outputs by index: by default the first (yolo) or the first two (boxes_scores)."""
    step = normalized_step(POST_STEPS[op].model_validate({op: params}))
    if op == "decode_boxes":
        _index_outputs(step, 0, boxes_index, scores_index)
    return step


def _index_outputs(step: dict[str, Any], yolo_index: int, boxes_index: int | None, scores_index: int | None) -> None:
    """decode_boxes names outputs; the templates and the reference address them by index. yolo
    reads one output (postprocess.output), boxes_scores two (by default the first and second)."""
    yolo = step["format"] == "yolo"
    del step["boxes"], step["scores"]
    step["boxes_index"] = (yolo_index if yolo else 0) if boxes_index is None else boxes_index
    step["scores_index"] = (yolo_index if yolo else 1) if scores_index is None else scores_index


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"edgesdk manifest, schema_version {SCHEMA_VERSION}"
    return schema
