"""The manifest (edgesdk.yaml), schema_version 1: pydantic models, safe YAML loading, clear errors.

Every problem becomes one ManifestError naming the field path (e.g. `preprocess.steps[1].resize.size`)
and what is allowed. Checks that need the model itself (shapes against the real graph) live in
`api.py`, after the model is loaded; everything that can be checked from the file alone is here.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    model_validator,
)

from edgesdk import targets
from edgesdk.errors import ManifestError
from edgesdk.results import IMPLEMENTED_TASKS

SCHEMA_VERSION = 1
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
# Semantic Versioning 2.0.0, without build metadata (it would not survive every file system).
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
TENSOR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$"
DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64")
MODEL_SUFFIXES = (".pt", ".pt2", ".onnx")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Size2 = Annotated[tuple[Annotated[int, Field(ge=1, le=16384)], Annotated[int, Field(ge=1, le=16384)]], Field(description="[height, width]")]
Triple = Annotated[list[float], Field(min_length=3, max_length=3)]


# ---- model ---------------------------------------------------------------------------------
class TensorSpec(_Strict):
    name: str = Field(pattern=TENSOR_NAME_PATTERN)
    shape: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=8)
    dtype: Literal["float32", "float16", "uint8", "int8", "int32", "int64"] = "float32"


class OutputSpec(_Strict):
    name: str = Field(pattern=TENSOR_NAME_PATTERN)
    shape: list[Annotated[int, Field(ge=1)]] | None = None
    dtype: Literal["float32", "float16", "uint8", "int8", "int32", "int64"] | None = None


class ModelSpec(_Strict):
    source: str = Field(description="model.pt (TorchScript) | model.pt2 (torch.export) | model.onnx | python:pkg.mod:factory")
    inputs: list[TensorSpec] = Field(min_length=1, max_length=1)
    outputs: list[OutputSpec] = Field(min_length=1, max_length=16)


# ---- pre-processing steps (docs/processing.md) -----------------------------------------------
class ResizeParams(_Strict):
    size: Size2
    interpolation: Literal["nearest", "bilinear"] = "bilinear"
    keep_ratio: bool = False
    antialias: Literal[False] = Field(False, description="antialias: true (Pillow-style) is not implemented yet")


class CenterCropParams(_Strict):
    size: Size2


class LetterboxParams(_Strict):
    size: Size2
    pad_value: Annotated[float, Field(ge=0, le=255)] | Annotated[list[Annotated[float, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)] = 114.0
    interpolation: Literal["nearest", "bilinear"] = "bilinear"
    align: Literal["center", "top_left"] = "center"


class NormalizeParams(_Strict):
    mean: Triple = [0.0, 0.0, 0.0]
    std: Triple = [1.0, 1.0, 1.0]
    scale: float = 1.0

    @model_validator(mode="after")
    def _std_nonzero(self) -> "NormalizeParams":
        if any(s == 0 for s in self.std):
            raise ValueError("std values must be non-zero")
        return self


class ResizeStep(_Strict):
    resize: ResizeParams


class CenterCropStep(_Strict):
    center_crop: CenterCropParams


class LetterboxStep(_Strict):
    letterbox: LetterboxParams


class ColorStep(_Strict):
    color: Literal["rgb", "bgr"]


class NormalizeStep(_Strict):
    normalize: NormalizeParams


class LayoutStep(_Strict):
    layout: Literal["nchw", "nhwc"]


class CastStep(_Strict):
    cast: Literal["float32", "float16", "uint8", "int8"]


# ---- post-processing steps ---------------------------------------------------------------------
class AxisParams(_Strict):
    axis: int = -1


class TopkParams(_Strict):
    k: int = Field(5, ge=1, le=100000)


class SoftmaxStep(_Strict):
    softmax: AxisParams = AxisParams()


class SigmoidStep(_Strict):
    sigmoid: dict[str, Any] | None = Field(None, description="no parameters")

    @model_validator(mode="after")
    def _no_params(self) -> "SigmoidStep":
        if self.sigmoid:
            raise ValueError("sigmoid takes no parameters")
        return self


class ArgmaxStep(_Strict):
    argmax: AxisParams = AxisParams()


class TopkStep(_Strict):
    topk: TopkParams


PRE_STEPS: dict[str, type[_Strict]] = {
    "resize": ResizeStep,
    "center_crop": CenterCropStep,
    "letterbox": LetterboxStep,
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
}
# Steps whose parameters may be omitted entirely (`- sigmoid` or `- softmax: {}`).
_BARE_STEPS = {"softmax", "sigmoid", "argmax"}


def _step_tag(value: Any) -> str | None:
    if isinstance(value, str) and value in _BARE_STEPS:
        return value
    if isinstance(value, dict) and len(value) == 1:
        return next(iter(value))
    return None


def _bare_to_mapping(value: Any) -> Any:
    return {value: {} if value != "sigmoid" else None} if isinstance(value, str) else value


def _step_union(steps: dict[str, type[_Strict]]) -> Any:
    options = tuple(Annotated[model, Tag(tag)] for tag, model in steps.items())
    return Annotated[
        Union[options],  # type: ignore[valid-type]
        Discriminator(_step_tag),
    ]


PreStep = _step_union(PRE_STEPS)
PostStep = _step_union(POST_STEPS)


class PreprocessSpec(_Strict):
    input_color: Literal["rgb", "bgr"] = "rgb"
    steps: list[PreStep] = Field(min_length=1)  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _order(self) -> "PreprocessSpec":
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
        return self


class PostprocessSpec(_Strict):
    output: str | None = Field(None, description="the model output the steps apply to; default: the first")
    steps: list[PostStep] = []  # type: ignore[valid-type]
    labels: str | None = Field(None, description="a text file, one label per line")


class CalibrationSpec(_Strict):
    data: str
    samples: int = Field(128, ge=1)
    method: Literal["minmax", "entropy", "percentile"] = "minmax"


class AccuracyBudget(_Strict):
    metric: Literal["top1_agreement", "cosine", "sqnr_db"] = "top1_agreement"
    min: float


class QuantizationSpec(_Strict):
    mode: Literal["none", "fp16", "int8-dynamic", "int8"] = "none"
    calibration: CalibrationSpec | None = None
    per_channel: bool = True
    keep_float: Literal["auto"] | list[str] = []
    accuracy_budget: AccuracyBudget | None = None


class PruneSpec(_Strict):
    method: Literal["l1_unstructured", "channels"]
    amount: float = Field(gt=0, lt=1, description="fraction of weights (l1_unstructured) or of output channels (channels) removed")


class OptimizeSpec(_Strict):
    """Changes to the torch model before conversion; off by default."""

    fold_bn: bool = False
    prune: PruneSpec | None = None


class EncryptionSpec(_Strict):
    enabled: bool = False
    key: str | None = Field(None, pattern=r"^(env|file):.+$", description="env:NAME | file:path; never a literal key")


class ParitySpec(_Strict):
    """Tolerance overrides; anything left out takes the default of the quantization mode (parity.py)."""

    max_abs: float | None = Field(None, gt=0)
    mean_abs: float | None = Field(None, gt=0)
    cosine_min: float | None = Field(None, ge=-1, le=1)
    sqnr_db_min: float | None = None
    top1_agreement_min: float | None = Field(None, ge=0, le=1)


class GoldenSpec(_Strict):
    images: str | None = Field(None, description="folder of PNG/JPEG images for golden vectors and parity; default: the bundled sample photos")
    count: int = Field(4, ge=1, le=64)


class Manifest(_Strict):
    schema_version: Literal[1]
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=SEMVER_PATTERN)
    model: ModelSpec
    task: Literal["classification", "detection", "segmentation", "custom"]
    preprocess: PreprocessSpec
    postprocess: PostprocessSpec = PostprocessSpec()
    target: Literal["android", "ios", "jetson", "arm", "x86"] | None = None
    runtime: str | None = None
    quantization: QuantizationSpec = QuantizationSpec()
    optimize: OptimizeSpec = OptimizeSpec()
    encryption: EncryptionSpec = EncryptionSpec()
    parity: ParitySpec = ParitySpec()
    golden: GoldenSpec = GoldenSpec()

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
        return [normalized_step(s) for s in self.postprocess.steps]

    def post_output_index(self) -> int:
        if self.postprocess.output is None:
            return 0
        return [o.name for o in self.model.outputs].index(self.postprocess.output)

    def labels(self) -> list[str]:
        if not self.postprocess.labels:
            return []
        return read_labels(self.resolve(self.postprocess.labels), "postprocess.labels")

    def with_overrides(self, target: str | None = None, runtime: str | None = None) -> "Manifest":
        data = dict(self._raw)
        if target is not None:
            data["target"] = target
            if runtime is None and self.runtime is not None and self.runtime not in targets.runtimes_for(target):
                data["runtime"] = None  # a --target switch drops a manifest runtime the new target lacks
        if runtime is not None:
            data["runtime"] = runtime
        return _validate(data, self._base_dir, self._path, cli=True)

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
    else:
        params = value.model_dump(mode="python")
    if op == "letterbox":
        pad = params["pad_value"]
        params["pad_value"] = [float(pad)] * 3 if not isinstance(pad, list) else [float(v) for v in pad]
    if "size" in params:
        params["size"] = list(params["size"])
    params.pop("antialias", None)
    return {"op": op, **params}


def read_labels(path: Path, field: str) -> list[str]:
    if not path.is_file():
        raise ManifestError(field, f"label file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(field, f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    labels = [line.rstrip("\r") for line in text.split("\n")]
    while labels and labels[-1] == "":
        labels.pop()
    if not labels:
        raise ManifestError(field, f"{path} holds no labels (one label per line)")
    if any(label.strip() == "" for label in labels):
        line = next(i for i, label in enumerate(labels, 1) if label.strip() == "")
        raise ManifestError(field, f"{path} line {line} is empty (one label per line, no blank lines)")
    return labels


# ---- loading -------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise ManifestError("", f"manifest not found: {path}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError("", f"{path}:{where}: invalid YAML: {problem}") from None
    except UnicodeDecodeError:
        raise ManifestError("", f"{path} is not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ManifestError("", f"{path}: the manifest must be a YAML mapping (got {type(data).__name__})")
    return _validate(data, path.parent.resolve(), path.resolve())


def manifest_from_dict(data: dict[str, Any], base_dir: Path) -> Manifest:
    return _validate(data, Path(base_dir).resolve(), None)


def _validate(data: dict[str, Any], base_dir: Path, path: Path | None, cli: bool = False) -> Manifest:
    if isinstance(data, dict) and "schema_version" in data and data["schema_version"] != SCHEMA_VERSION:
        raise ManifestError("schema_version", f"{data['schema_version']!r} is not supported (this edgesdk reads schema_version {SCHEMA_VERSION})")
    if isinstance(data, dict):
        data = _expand_bare_steps(data)
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise _to_manifest_error(exc) from None
    manifest._raw = data
    manifest._base_dir = base_dir
    manifest._path = path
    _check_semantics(manifest, cli=cli)
    return manifest


def _expand_bare_steps(data: dict[str, Any]) -> dict[str, Any]:
    data = dict(data)
    post = data.get("postprocess")
    if isinstance(post, dict) and isinstance(post.get("steps"), list):
        data["postprocess"] = {**post, "steps": [_bare_to_mapping(s) for s in post["steps"]]}
    return data


def _check_semantics(m: Manifest, cli: bool) -> None:
    """Rules that span fields or touch the file system."""
    if m.task not in IMPLEMENTED_TASKS:
        raise ManifestError("task", f"'{m.task}' is part of schema 1 but its steps are not implemented in this edgesdk yet (implemented: {', '.join(IMPLEMENTED_TASKS)})")
    source = m.model.source
    if source.startswith("python:"):
        if not re.fullmatch(r"python:[A-Za-z_][\w.]*:[A-Za-z_]\w*", source):
            raise ManifestError("model.source", f"'{source}' is not python:package.module:factory")
    else:
        p = m.resolve(source)
        if p.suffix not in MODEL_SUFFIXES:
            raise ManifestError("model.source", f"'{source}' has an unsupported extension (allowed: {', '.join(MODEL_SUFFIXES)} or python:module:factory)")
        if not p.is_file():
            raise ManifestError("model.source", f"model file not found: {p}")
    out_names = [o.name for o in m.model.outputs]
    if len(set(out_names)) != len(out_names):
        raise ManifestError("model.outputs", "output names must be unique")
    if m.postprocess.output is not None and m.postprocess.output not in out_names:
        raise ManifestError("postprocess.output", f"'{m.postprocess.output}' is not a model output (outputs: {', '.join(out_names)})")
    post_ops = [step_op(s) for s in m.postprocess.steps]
    allowed_post = {"classification": ("softmax", "sigmoid", "topk"), "custom": ("softmax", "sigmoid")}[m.task]
    for i, op in enumerate(post_ops):
        if op not in allowed_post:
            raise ManifestError(f"postprocess.steps[{i}]", f"'{op}' is not a {m.task} step (allowed: {', '.join(allowed_post)})")
    if post_ops.count("topk") > 1 or ("topk" in post_ops and post_ops[-1] != "topk"):
        raise ManifestError("postprocess.steps", "'topk' may appear once, as the last step")
    if m.postprocess.labels is not None:
        m.labels()  # raises on a missing or empty file
    if m.task == "custom" and m.postprocess.labels:
        raise ManifestError("postprocess.labels", "labels only apply to classification")
    if m.golden.images is not None and not m.resolve(m.golden.images).is_dir():
        raise ManifestError("golden.images", f"folder not found: {m.resolve(m.golden.images)}")
    _check_static_shapes(m)
    _check_target_runtime(m, cli)
    _check_quantization(m)
    if (m.optimize.fold_bn or m.optimize.prune is not None) and not source.startswith("python:"):
        raise ManifestError("optimize", f"needs a torch module source (model.source: python:module:factory) to rewrite; '{source}' cannot be changed in place")
    if m.encryption.enabled:
        raise ManifestError("encryption.enabled", "model encryption is not implemented in this edgesdk yet (allowed: false)")


def _check_quantization(m: Manifest) -> None:
    from edgesdk.quantize.calibration import calibration_files

    q = m.quantization
    if q.mode == "none":
        if q.calibration is not None or q.keep_float or q.accuracy_budget is not None:
            raise ManifestError("quantization.mode", "calibration, keep_float and accuracy_budget need a quantization mode (allowed: fp16, int8-dynamic, int8)")
        return
    if q.calibration is None:
        if q.mode == "int8":
            raise ManifestError("quantization.calibration", "required for mode int8: a folder of images or .npy tensors that sets the activation ranges, e.g. {data: calib/, samples: 64}")
        if q.keep_float == "auto" or q.accuracy_budget is not None:
            raise ManifestError("quantization.calibration", "required for keep_float: auto and accuracy_budget: they are measured on the calibration data")
    if q.keep_float == "auto" and q.accuracy_budget is None:
        raise ManifestError("quantization.accuracy_budget", "required with keep_float: auto (e.g. {metric: top1_agreement, min: 0.99})")
    if q.accuracy_budget is not None and q.accuracy_budget.metric == "top1_agreement" and m.task != "classification":
        raise ManifestError("quantization.accuracy_budget.metric", f"top1_agreement needs task classification (allowed for '{m.task}': cosine, sqnr_db)")
    if q.calibration is not None:
        calibration_files(m, q.calibration)


def _check_static_shapes(m: Manifest) -> None:
    """The pre-processed tensor must match the declared model input (shape, dtype)."""
    from edgesdk.processing.preprocess import output_shape

    spec = m.model.inputs[0]
    steps = m.pre_steps()
    for i, step in enumerate(steps):
        if step["op"] == "center_crop":
            earlier = [s for s in steps[:i] if s["op"] in ("resize", "letterbox")]
            if not earlier:
                raise ManifestError(f"preprocess.steps[{i}].center_crop", "needs a resize or letterbox step before it (an arbitrary image may be smaller than the crop)")
            prev = earlier[-1]
            ph, pw = prev["size"]
            ch, cw = step["size"]
            if ch > ph or cw > pw:
                raise ManifestError(f"preprocess.steps[{i}].center_crop.size", f"{[ch, cw]} is larger than the {prev['op']} size {[ph, pw]}")
    shape = output_shape(None, steps)
    if shape is None or any(d is None for d in shape):
        raise ManifestError("preprocess.steps", "the pre-processed tensor has no fixed size: end with a fixed-size resize, a center_crop or a letterbox")
    if list(shape) != list(spec.shape):
        raise ManifestError("model.inputs[0].shape", f"{spec.shape} does not match the pre-processed tensor shape {list(shape)}")
    cast = next((s["dtype"] for s in steps if s["op"] == "cast"), "float32")
    if cast != spec.dtype:
        raise ManifestError("model.inputs[0].dtype", f"'{spec.dtype}' does not match the pre-processed tensor dtype '{cast}' (add or change the cast step)")


def _check_target_runtime(m: Manifest, cli: bool) -> None:
    if m.target is None:
        return
    allowed = targets.runtimes_for(m.target)
    if m.runtime is not None and m.runtime not in allowed:
        field = "--runtime" if cli else "runtime"
        raise ManifestError(field, f"'{m.runtime}' is not a runtime of target '{m.target}' (allowed: {', '.join(allowed)})")


# ---- error formatting ----------------------------------------------------------------------
def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    items = list(loc)
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            # A tagged union repeats the tag before the field of the same name: keep one.
            if i + 1 < len(items) and items[i + 1] == item and (item in PRE_STEPS or item in POST_STEPS):
                i += 1
            parts.append(("." if parts else "") + str(item))
        i += 1
    return "".join(parts)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that holds the key at `loc` (for 'unknown key' messages)."""
    model: Any = Manifest
    items = list(loc[:-1])
    i = 0
    while i < len(items) and model is not None:
        item = items[i]
        if isinstance(item, int):
            i += 1
            continue
        if item == "steps" and model in (PreprocessSpec, PostprocessSpec):
            table = PRE_STEPS if model is PreprocessSpec else POST_STEPS
            tag = next((x for x in items[i + 1 :] if not isinstance(x, int)), None)
            if tag not in table:
                return []
            model = table[tag]
            i = items.index(tag, i + 1) + 1
            continue
        field = getattr(model, "model_fields", {}).get(item)
        if field is None:
            return []
        model = _model_in(field.annotation)
        i += 1
    return list(getattr(model, "model_fields", {}))


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_in(arg)
        if found is not None:
            return found
    if getattr(annotation, "__metadata__", None) is not None:
        return _model_in(annotation.__origin__)
    return None


def _to_manifest_error(exc: ValidationError) -> ManifestError:
    errors = exc.errors(include_url=False)
    # Prefer the most specific error: a missing key beats the union noise around it.
    err = errors[0]
    loc = tuple(err["loc"])
    path = _loc_to_path(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        parent = _loc_to_path(loc[:-1])
        return ManifestError(parent or str(loc[-1]), f"unknown key '{loc[-1]}'" + (f" (allowed: {', '.join(allowed)})" if allowed else ""))
    if kind == "missing":
        return ManifestError(path, "required field is missing")
    if kind == "union_tag_not_found":
        table = PRE_STEPS if loc and loc[0] == "preprocess" else POST_STEPS
        return ManifestError(path, "each step is a mapping with exactly one key, one of: " + ", ".join(table))
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return ManifestError(path, f"unknown step '{ctx.get('tag')}' (allowed: {ctx.get('expected_tags', '').replace(chr(39), '')})")
    if kind == "string_pattern_mismatch":
        hints = {
            "name": "lower-case letters, digits and '-', starting with a letter, at most 64 characters",
            "version": "semantic version MAJOR.MINOR.PATCH, e.g. 1.2.0",
            "key": "env:NAME or file:path (never a literal key)",
        }
        hint = hints.get(str(loc[-1]), f"must match {err.get('ctx', {}).get('pattern')}")
        return ManifestError(path, f"{err['input']!r} is not valid: {hint}")
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "literal_error" and str(loc[-1]) == "antialias":
        message = "antialias: true (Pillow-style resampling) is not implemented yet (allowed: false)"
    elif kind == "literal_error":
        message = f"{err['input']!r} is not allowed (expected {err.get('ctx', {}).get('expected')})"
    return ManifestError(path, message)


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"edgesdk manifest, schema_version {SCHEMA_VERSION}"
    return schema
