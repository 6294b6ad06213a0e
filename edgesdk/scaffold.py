"""`edgesdk init MODEL`: write a commented edgesdk.yaml next to a model, its I/O read from the file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from edgesdk import naming
from edgesdk.errors import InputError, ManifestError
from edgesdk.importers import Recipe, import_recipe
from edgesdk.inspection import inspect_path
from edgesdk.manifest import MODEL_SUFFIXES, manifest_from_dict
from edgesdk.manifest.schema import SYMBOL_PATTERN, OutputSpec
from edgesdk.render import render_string
from edgesdk.results import TASKS
from edgesdk.targets import TARGETS

DEFAULT_SIDE = 224
DEFAULT_INPUT = {"name": "image", "shape": [1, 3, DEFAULT_SIDE, DEFAULT_SIDE], "dtype": "float32"}
# The op making a classifier's output when it already gives probabilities: ONNX, torch.export
# (aten overloads) and TorchScript (inlined graph) spellings.
SOFTMAX_OPS = frozenset({"Softmax", "aten.softmax.int", "aten._softmax.default", "aten::softmax", "aten::_softmax"})

TEMPLATE = """\
# edgesdk manifest (schema_version 1). Reference: docs/processing.md and `edgesdk schema`.
schema_version: 1
name: {{ name }}                      # [a-z][a-z0-9-]{0,63}; becomes identifiers in every language
version: 0.1.0                        # semver; a bundle of the same name+version is never overwritten without --force
model:
  source: {{ source }}
  # {{ io_note }}
  inputs:  [{name: {{ input.name | tojson }}, shape: {{ input.shape }}, dtype: {{ input.dtype }}}]
  outputs: [{% for o in outputs %}{name: {{ o.name | tojson }}{% if o.shape %}, shape: {{ o.shape }}{% endif %}}{% if not loop.last %}, {% endif %}{% endfor %}]
task: {{ task }}                      # classification | detection | segmentation | custom
preprocess:                           # from a decoded HWC uint8 image
  input_color: rgb                    # rgb | bgr: the order the app passes pixels in
  steps:
{% if imported %}
    # imported from {{ imported.origin }} by edgesdk init --from: re-import when the training recipe changes
{% for note in imported.notes %}
    # {{ note }}
{% endfor %}
{% for line in imported.lines %}
    - {{ line }}
{% endfor %}
{% elif task == "detection" %}
    - letterbox: {size: [{{ h }}, {{ w }}], pad_value: 114, interpolation: bilinear}   # keeps the aspect ratio; boxes are mapped back
    - normalize: {mean: [0, 0, 0], std: [255, 255, 255]}   # (x * scale - mean) / std
{% elif task == "segmentation" %}
    - resize: {size: [{{ h }}, {{ w }}], interpolation: bilinear}   # the mask is mapped back to the original size
    - normalize: {mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}   # (x * scale - mean) / std
{% else %}
    - resize: {size: [{{ side + 32 }}, {{ side + 32 }}], interpolation: bilinear, keep_ratio: true}   # nearest | bilinear | bicubic | area; antialias: true = Pillow (timm, torchvision on PIL)
    - center_crop: {size: [{{ h }}, {{ w }}]}
    - normalize: {mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}   # (x * scale - mean) / std
{% endif %}
    - layout: {{ layout }}                   # nchw | nhwc
{% if task == "detection" %}
postprocess:
  steps:
    # yolo: one [1, N, 4 + classes] output ([1, 4 + classes, N] with transposed: true), or
    # format: boxes_scores with a [1, N, 4] boxes and a [1, N, classes] scores output.
    - decode_boxes: {format: yolo, box: cxcywh, objectness: false, transposed: {{ "true" if transposed else "false" }}}
    - nms: {score_threshold: 0.25, iou_threshold: 0.45, class_agnostic: false, max_detections: 100, pre_nms_topk: 1000}
  # labels: classes.txt               # one label per line; defaults to the class index
{% elif task == "segmentation" %}
postprocess:
  steps:
    - mask: {activation: argmax}      # [1, classes, h, w] scores; {activation: sigmoid, threshold: 0.5} for one class
  # labels: classes.txt               # one label per line; defaults to the class index
{% elif task == "classification" %}
postprocess:
  steps:
{% if ends_in_softmax %}
    # the model's graph already ends in Softmax: no second softmax here
{% else %}
    - softmax: {axis: -1}
{% endif %}
    - topk: {k: 5}
  # labels: labels.txt                # one label per line; defaults to the class index
{% endif %}
target: x86                           # {{ targets | join(" | ") }} (--target overrides)
# runtime: onnxruntime                # default per target (--runtime overrides); see `edgesdk targets`
# parity: {max_abs: 1.0e-4}           # gate tolerances; defaults per quantization mode
# golden: {images: photos/, count: 4} # images for golden vectors and parity; default: bundled photos
"""


def init_manifest(model: Path, task: str = "classification", force: bool = False, from_spec: str | None = None) -> Path:
    """Write edgesdk.yaml next to `model`. `from_spec` imports the pre-processing from a training
    library's recipe (edgesdk.importers) instead of the default for the task."""
    if not model.is_file():
        raise InputError(f"model not found: {model}")
    if model.suffix not in MODEL_SUFFIXES:
        raise InputError(f"{model}: unsupported model file (allowed: {', '.join(MODEL_SUFFIXES)})")
    if task not in TASKS:
        raise InputError(f"--task {task}: unknown task (allowed: {', '.join(TASKS)})")
    target = model.parent / "edgesdk.yaml"
    if target.exists() and not force:
        raise InputError(f"{target} already exists (pass --force to overwrite)")
    recipe = import_recipe(from_spec) if from_spec else None
    info = inspect_path(model)
    inputs = info.get("inputs") or []
    recorded = inputs[0].get("shape") if inputs else None
    if recorded and all(_fixed(d) for d in recorded):
        first = {"name": inputs[0]["name"], "shape": list(recorded), "dtype": inputs[0].get("dtype") or "float32"}
        io_note = "read from the model file; check the output names and shapes"
    elif recorded:
        # A recipe that fixes the image size fills the image axes (every runtime takes the model then);
        # without one they keep the model's symbols.
        first = _fill_dynamic(inputs[0], recipe.input_hw if recipe else None)
        io_note = f"the model's input is dynamic ({recorded}): " + (
            f"H and W below are the size {from_spec} makes" if recipe and recipe.input_hw else "its image axes stay symbolic; the resize size below is a guess, set the one the model was trained at"
        )
    else:
        # TorchScript records its forward's argument names but no shapes.
        first = {**DEFAULT_INPUT, "name": inputs[0]["name"]} if inputs else dict(DEFAULT_INPUT)
        io_note = "the file does not record its input shape: check inputs and outputs below"
    shape = first["shape"]
    nhwc = len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3)
    h, w = (shape[1], shape[2]) if nhwc else (shape[-2], shape[-1]) if len(shape) == 4 else (224, 224)
    if recipe and recipe.input_hw and len(shape) == 4 and all(_fixed(d) for d in (h, w)) and recipe.input_hw != (h, w):
        raise ManifestError(f"--from {from_spec}", f"the recipe makes {recipe.input_hw[0]}x{recipe.input_hw[1]} images but the model's input {first['name']!r} is {shape}")
    h, w = (int(d) if _fixed(d) else DEFAULT_SIDE for d in (h, w))  # a symbolic image axis: the steps' size is a guess
    outputs = info.get("outputs") or [{"name": "output", "shape": None}]
    context = {
        "name": "-".join(naming.words(model.stem))[:64] if naming.words(model.stem)[0][0].isalpha() else "model",
        "source": model.name,
        "io_note": io_note,
        "input": first,
        "outputs": [{"name": o["name"], "shape": _declarable_shape(o)} for o in outputs],
        "ends_in_softmax": info.get("output_ops", {}).get(outputs[0]["name"]) in SOFTMAX_OPS,
        "task": task,
        "side": max(h, w),
        "h": h,
        "w": w,
        "layout": "nhwc" if nhwc else "nchw",
        # YOLOv8-style exports put the candidates last: [1, 4 + classes, N] with N the larger axis.
        "transposed": _candidates_last(outputs[0].get("shape")),
        "targets": list(TARGETS),
        "imported": _imported(recipe),
    }
    text = render_string(TEMPLATE, context)
    _check_loads(text, model)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


def _candidates_last(shape) -> bool:
    return bool(shape) and len(shape) == 3 and all(isinstance(d, int) for d in shape) and shape[1] < shape[2]


def _fixed(dim) -> bool:
    return isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1


def _imported(recipe: Recipe | None) -> dict | None:
    """The recipe as the template writes it: one flow-style YAML line per step."""
    if recipe is None:
        return None
    lines = [f"{op}: {_flow(params)}" for step in recipe.steps for op, params in step.items()]
    return {"origin": recipe.origin, "notes": recipe.notes, "lines": lines}


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 16).strip()


def _fill_dynamic(spec: dict, image_hw: tuple[int, int] | None = None) -> dict:
    """The model's input with its symbolic dims filled: batch 1, a symbolic channel axis 3 (what
    the pre-processing makes of an RGB/BGR image), image axes from `image_hw` (what an imported
    recipe makes) or else the model's own symbol (-1 when the symbol is not a manifest name), so
    any size the steps give fits."""
    shape = list(spec["shape"])
    if len(shape) != 4:
        return {**DEFAULT_INPUT, "name": spec["name"]}
    channels_last = _fixed(shape[3]) and shape[3] in (1, 3) and not _fixed(shape[1])
    channel_axis = 3 if channels_last else 1
    image_axes = (1, 2) if channels_last else (2, 3)
    sides: dict[int, int | str] = dict(zip(image_axes, image_hw)) if image_hw else {axis: _symbol(shape[axis]) for axis in image_axes}
    filled = [1] + [d if _fixed(d) else (3 if axis == channel_axis else sides.get(axis, _symbol(d))) for axis, d in enumerate(shape[1:], start=1)]
    return {"name": spec["name"], "shape": filled, "dtype": spec.get("dtype") or "float32"}


def _symbol(dim) -> str | int:
    """A model's symbolic dim as the manifest writes it: its name, or -1 for one no manifest name spells."""
    return dim if isinstance(dim, str) and re.fullmatch(SYMBOL_PATTERN, dim) else -1


def _declarable_shape(output: dict) -> list[int] | None:
    """The output's shape when the manifest can declare it (static, within the tensor limits);
    None leaves it out, and the build reads it from the model."""
    from pydantic import ValidationError

    shape = output.get("shape")
    if not shape or not all(_fixed(d) for d in shape):
        return None
    try:
        OutputSpec(name="output", shape=shape)
    except ValidationError:
        return None
    return list(shape)


def _check_loads(text: str, model: Path) -> None:
    """What init writes must load: a model no manifest can describe yet (a 1-channel image input:
    the pre-processing makes 3 channels) is refused with the validator's reason, nothing written."""
    try:
        manifest_from_dict(yaml.safe_load(text), model.parent)
    except ManifestError as exc:
        raise InputError(f"{model}: no manifest edgesdk accepts describes this model as read from the file: {exc}") from exc
