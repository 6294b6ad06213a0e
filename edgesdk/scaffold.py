"""`edgesdk init MODEL`: write a commented edgesdk.yaml next to a model, its I/O read from the file."""

from __future__ import annotations

from pathlib import Path

from edgesdk import naming
from edgesdk.errors import InputError
from edgesdk.inspection import inspect_path
from edgesdk.manifest import MODEL_SUFFIXES
from edgesdk.render import render_string
from edgesdk.targets import TARGETS

DEFAULT_INPUT = {"name": "image", "shape": [1, 3, 224, 224], "dtype": "float32"}

TEMPLATE = """\
# edgesdk manifest (schema_version 1). Reference: docs/processing.md and `edgesdk schema`.
schema_version: 1
name: {{ name }}                      # [a-z][a-z0-9-]{0,63}; becomes identifiers in every language
version: 0.1.0                        # semver; a bundle of the same name+version is never overwritten without --force
model:
  source: {{ source }}
  # {{ io_note }}
  inputs:  [{name: {{ input.name }}, shape: {{ input.shape }}, dtype: {{ input.dtype }}}]
  outputs: [{% for o in outputs %}{name: {{ o.name }}{% if o.shape %}, shape: {{ o.shape }}{% endif %}}{% if not loop.last %}, {% endif %}{% endfor %}]
task: {{ task }}                      # classification | custom (detection | segmentation are reserved)
preprocess:                           # from a decoded HWC uint8 image
  input_color: rgb                    # rgb | bgr: the order the app passes pixels in
  steps:
    - resize: {size: [{{ side + 32 }}, {{ side + 32 }}], interpolation: bilinear, keep_ratio: true}   # nearest | bilinear
    - center_crop: {size: [{{ h }}, {{ w }}]}
    - normalize: {mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375]}   # (x * scale - mean) / std
    - layout: {{ layout }}                   # nchw | nhwc
{% if task == "classification" %}
postprocess:
  steps:
    - softmax: {axis: -1}
    - topk: {k: 5}
  # labels: labels.txt                # one label per line; defaults to the class index
{% endif %}
target: x86                           # {{ targets | join(" | ") }} (--target overrides)
# runtime: onnxruntime                # default per target (--runtime overrides); see `edgesdk targets`
# parity: {max_abs: 1.0e-4}           # gate tolerances; defaults per quantization mode
# golden: {images: photos/, count: 4} # images for golden vectors and parity; default: bundled photos
"""


def init_manifest(model: Path, task: str = "classification", force: bool = False) -> Path:
    if not model.is_file():
        raise InputError(f"model not found: {model}")
    if model.suffix not in MODEL_SUFFIXES:
        raise InputError(f"{model}: unsupported model file (allowed: {', '.join(MODEL_SUFFIXES)})")
    if task not in ("classification", "custom"):
        raise InputError(f"--task {task}: not implemented yet (allowed: classification, custom)")
    target = model.parent / "edgesdk.yaml"
    if target.exists() and not force:
        raise InputError(f"{target} already exists (pass --force to overwrite)")
    info = inspect_path(model)
    inputs = info.get("inputs") or []
    if inputs and all(isinstance(d, int) for d in inputs[0]["shape"]):
        first = dict(inputs[0])
        io_note = "read from the model file; check the output names and shapes"
    else:
        first = dict(DEFAULT_INPUT)
        io_note = "the file does not record its input shape: check inputs and outputs below"
    shape = first["shape"]
    nhwc = len(shape) == 4 and shape[-1] in (1, 3) and shape[1] not in (1, 3)
    h, w = (shape[1], shape[2]) if nhwc else (shape[-2], shape[-1]) if len(shape) == 4 else (224, 224)
    outputs = info.get("outputs") or [{"name": "output", "shape": None}]
    context = {
        "name": "-".join(naming.words(model.stem))[:64] if naming.words(model.stem)[0][0].isalpha() else "model",
        "source": model.name,
        "io_note": io_note,
        "input": first,
        "outputs": [{"name": o["name"], "shape": o["shape"] if all(isinstance(d, int) for d in o.get("shape") or ["?"]) else None} for o in outputs],
        "task": task,
        "side": max(h, w),
        "h": h,
        "w": w,
        "layout": "nhwc" if nhwc else "nchw",
        "targets": list(TARGETS),
    }
    text = render_string(TEMPLATE, context)
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target
