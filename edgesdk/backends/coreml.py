"""Core ML backend (iOS): torch sources -> torch.export -> coremltools -> an ML program
`model.mlpackage` for iOS 16+ (`minimum_deployment_target`), computing in float32 unless the
quantization mode says fp16 (coremltools' own default is fp16, which would break float32 parity).

An .mlpackage is a folder. In the bundle it is `model/model.mlpackage/`: the artifact's main is
the folder, whose sha256 is that of its file listing (bundle.sha256_path), and every file in it is
a companion with its own sha256, so `verify`, SHA256SUMS and the Swift glue check every byte.

Core ML predicts only on Apple platforms: on Linux `host_prediction()` says why, the build
validates the package instead of running the parity gate (`validate`: the spec loads, it is an ML
program for the deployment target, and its input and output names, shapes and dtypes are the
manifest's), and the golden vectors carry the reference's outputs. On macOS the runner predicts
with `MLModel.predict` on the CPU, and the parity gate runs as for every other runtime.

Two things coremltools writes that a reproducible bundle must not: the conversion date (model
metadata) and random item identifiers in the package's Manifest.json. Both are replaced (the
date dropped, the identifiers derived from the item's path); `executorch_debug_handle_mapping.json`,
a converter by-product Core ML never reads, is left out.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import tempfile
import uuid
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import buildlog
from edgesdk.backends.base import Artifact, Backend, ImageFeed, Runner
from edgesdk.backends.torch_export import exported_program, route
from edgesdk.errors import BackendUnavailable, ManifestError, UnsupportedOpError
from edgesdk.manifest import Manifest
from edgesdk.parity import folded_normalize_max_abs
from edgesdk.shapes import fixed_shape
from edgesdk.sources import SourceModel

MODEL_DIR = "model.mlpackage"
# The ios target's floor (targets.py: iOS 16+); ML programs of this target use Core ML spec 7.
DEPLOYMENT_TARGET = "iOS16"
SPEC_VERSIONS = {7: "iOS16", 8: "iOS17", 9: "iOS18"}
_SPEC_PATH = "Data/com.apple.CoreML/model.mlmodel"
# Model metadata (userDefined) that says how the package was made, read back by runtime_options.
META_PRECISION = "ai.edgesdk.compute_precision"
META_WEIGHTS = "ai.edgesdk.weights"
_CONVERSION_DATE = "com.github.apple.coremltools.conversion_date"
_ID_NAMESPACE = uuid.UUID("0b3c2f1e-7d4a-4c55-9e0f-5a1d2b3c4e6f")
# Core ML multi-array element types (ArrayFeatureType.ArrayDataType names) an ML program for
# iOS 16 takes and gives, as the manifest names them.
ARRAY_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "INT32": "int32"}
PRECISIONS = ("float32", "float16")
NOT_ON_LINUX = (
    "Core ML predicts only on Apple platforms (coremltools' MLModel.predict needs Apple's Core ML framework): "
    "the .mlpackage is validated instead (its spec loads, and its input/output names, shapes and dtypes are the manifest's); "
    "build on macOS to run the parity gate, and --runtime executorch or onnxruntime have host parity for iOS"
)


def _version() -> str:
    return metadata.version("coremltools")


class CoreMLBackend(Backend):
    name = "coreml"
    display_name = "Core ML"
    extra = "coreml"
    quantizer = "edgesdk.quantize.coreml"
    languages = ("swift",)

    def is_available(self) -> tuple[bool, str]:
        try:
            version = _version()
            import coremltools  # noqa: F401
        except (metadata.PackageNotFoundError, ImportError):
            return False, "pip install 'edgesdk[coreml]' (coremltools converts torch models to Core ML)"
        return True, (
            f"coremltools {version} (ML program, {DEPLOYMENT_TARGET}+, float32 compute unless fp16; "
            "an ImageType input where normalize folds exactly, else a tensor: runtime_options.coreml.image_input)"
        )

    def host_prediction(self) -> str | None:
        if platform.system() != "Darwin":
            return NOT_ON_LINUX
        try:
            import coremltools.libcoremlpython  # noqa: F401  (the Core ML framework binding predict uses)
        except ImportError as exc:
            return f"coremltools' Core ML binding does not load here ({exc}); the .mlpackage is validated instead"
        return None

    def check_manifest(self, manifest: Manifest) -> None:
        declared = [("inputs", i, s.dtype) for i, s in enumerate(manifest.model.inputs)] + [("outputs", i, o.dtype) for i, o in enumerate(manifest.model.outputs)]
        for kind, i, dtype in declared:
            if dtype is not None and dtype not in ARRAY_DTYPES.values():
                raise ManifestError(f"model.{kind}[{i}].dtype", f"Core ML multi-arrays of an {DEPLOYMENT_TARGET} ML program hold {', '.join(ARRAY_DTYPES.values())}; not '{dtype}'")

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        self.require()
        self.check_manifest(manifest)
        write_package(source, manifest, out_dir / MODEL_DIR, "float32")
        # coremltools 9 has no ONNX frontend: an ONNX source goes through torch (edgesdk.onnx_import).
        return replace(artifact_of(out_dir), route=route(source, self.display_name))

    def image_feed(self, manifest: Manifest) -> ImageFeed | None:
        decision = image_input(manifest)
        if not decision["folded"]:
            return None
        shape = fixed_shape(manifest.model.inputs[0].shape)  # Core ML refuses symbolic dims
        return ImageFeed(_feed_steps(manifest), decision["color_layout"].lower(), shape[2], shape[3])

    def runtime_options(self, artifact: Artifact, manifest: Manifest) -> dict[str, Any]:
        spec = load_spec(artifact.main_path)
        user = dict(spec.description.metadata.userDefined)
        return {
            "format": "mlprogram",
            "minimum_deployment_target": SPEC_VERSIONS.get(spec.specificationVersion, f"Core ML spec {spec.specificationVersion}"),
            "compute_precision": user.get(META_PRECISION, "unknown"),
            "weights": user.get(META_WEIGHTS, "unknown"),
            **_input_record(image_input(manifest), user.get(META_PRECISION, "float32"), manifest),
        }

    def validate(self, artifact: Artifact, manifest: Manifest, source: SourceModel) -> dict[str, Any]:
        spec_in = manifest.model.inputs
        zero = {spec_in[0].name: np.zeros(fixed_shape(spec_in[0].shape), dtype=spec_in[0].dtype)}
        reference = source.reference_runner()(zero)
        folded = image_input(manifest)
        expected: dict[str, Any] = {
            "inputs": [(s.name, list(s.shape), f"image {folded['color_layout']}" if folded["folded"] else s.dtype) for s in spec_in],
            "outputs": [(o.name, list(r.shape), o.dtype or str(r.dtype)) for o, r in zip(manifest.model.outputs, reference)],
        }
        if folded["folded"]:
            expected["image_input"] = {k: folded[k] for k in ("scale", "bias", "color_layout")}
        return validate_package(artifact.main_path, expected)

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        why = self.host_prediction()
        if why is not None:
            raise BackendUnavailable(why)
        import coremltools as ct

        model = ct.models.MLModel(str(artifact.main_path), compute_units=ct.ComputeUnit.CPU_ONLY)
        spec = load_spec(artifact.main_path)
        names = [o.name for o in spec.description.output]
        # An image input is fed the SDK's HWC uint8 image (image_feed) as a PIL RGB image; Core ML
        # puts its channels in the input's color layout.
        bgr = {f.name for f in spec.description.input if f.type.WhichOneof("Type") == "imageType" and _color_space(f) == "BGR"}
        images = {f.name for f in spec.description.input if f.type.WhichOneof("Type") == "imageType"}

        def value(name: str, array: np.ndarray):
            if name not in images:
                return np.ascontiguousarray(array)
            from PIL import Image

            return Image.fromarray(np.ascontiguousarray(array[..., ::-1] if name in bgr else array), "RGB")

        def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            outs = model.predict({k: value(k, v) for k, v in feeds.items()})
            return [np.asarray(outs[n]) for n in (artifact.output_names or names)]

        return run

    def glue_runtime_version(self, artifact: Artifact) -> str:
        """The Swift glue checks the OS it runs on against the package's deployment target."""
        return artifact.runtime_versions.get("deployment_target", "")


# Steps before normalize that keep every value a whole number 0..255 (the pixels' own, or a
# whole-number pad): an ImageType's 8-bit pixels then carry them exactly.
_WHOLE_NUMBER_STEPS = ("center_crop", "color")


def _whole_number_problem(step: dict[str, Any]) -> tuple[str, str] | None:
    """(reason word, why) when this step before normalize may give a value that is not a whole
    number 0..255; None when it cannot."""
    op = step["op"]
    if op in _WHOLE_NUMBER_STEPS:
        return None
    if op in ("resize", "letterbox"):
        if step.get("precision", "float") != "uint8" and step.get("interpolation") != "nearest":
            return "resampled", f"a {step.get('interpolation')} {op} in float precision interpolates: its values are not whole numbers (interpolation: nearest or precision: uint8 keep them whole)"
        if op == "letterbox" and any(v != int(v) for v in step["pad_value"]):
            return "pad", f"letterbox pad_value {step['pad_value']} is not a whole number"
        return None
    if op == "pad":
        if any(v != int(v) or not 0 <= v <= 255 for v in step["value"]):
            return "pad", f"pad value {step['value']} is not a whole number 0..255"
        return None
    return "step", f"a {op} step before normalize may not keep whole numbers"


def image_input(manifest: Manifest) -> dict[str, Any]:
    """Whether the model takes an image (Core ML ImageType) that does the manifest's normalize
    itself, decided once from the manifest: only where that is exact up to the rounding of
    `y = scale_ct * x + bias_ct[c]` (docs/coreml.md): every value reaching normalize is a whole
    number 0..255 (the steps before it only crop, swap channels, or resize/letterbox with nearest
    or precision uint8), std is equal across channels (one scale for all), and normalize is
    followed only by an NCHW float32 layout of batch 1. `runtime_options.coreml.image_input: tensor`
    keeps the tensor input. Returns sdk.json's record: `folded`, and either `reason` (one word)
    with `why`, or the ImageType's `scale`, `bias` (model channel order) and `color_layout`."""
    steps = manifest.pre_steps()
    ops = [s["op"] for s in steps]
    spec = manifest.model.inputs[0]

    def tensor(reason: str, why: str) -> dict[str, Any]:
        return {"folded": False, "reason": reason, "why": why}

    if manifest.runtime_options.coreml.image_input == "tensor":
        return tensor("opted-out", "runtime_options.coreml.image_input is tensor: the SDK feeds its float32 normalize")
    if "normalize" not in ops:
        return tensor("no-normalize", "no normalize step to fold")
    at = ops.index("normalize")
    if ops[at + 1 :] != ["layout"] or steps[-1]["layout"] != "nchw" or spec.dtype != "float32":
        return tensor("layout", "normalize is not followed by an nchw float32 layout alone (an ImageType gives float32 [1, 3, H, W])")
    if spec.shape[0] != 1:
        return tensor("batch", f"the input's batch is {spec.shape[0]}; an ImageType is one image")
    for step in steps[:at]:
        problem = _whole_number_problem(step)
        if problem is not None:
            return tensor(problem[0], problem[1] + "; an ImageType takes 8-bit pixels")
    norm = steps[at]
    std = [float(v) for v in norm["std"]]
    if len(set(std)) != 1:
        return tensor("std", f"std differs across channels ({std}); an ImageType has one scale for all channels")
    color = manifest.preprocess.input_color
    for step in steps[:at]:
        color = step.get("order", color) if step["op"] == "color" else color
    d = np.float32(std[0])
    return {
        "folded": True,
        "scale": float(np.float32(norm["scale"]) / d),
        "bias": [float(-np.float32(m) / d) for m in norm["mean"]],
        "color_layout": color.upper(),
        "why": "every value reaching normalize is a whole number 0..255 and std is equal across channels: the ImageType computes scale * pixel + bias[c]",
    }


def _feed_steps(manifest: Manifest) -> list[dict[str, Any]]:
    """The SDK's pre-processing for a folded input: the steps before normalize, then uint8 (exact: whole numbers 0..255)."""
    steps = manifest.pre_steps()
    return [*steps[: [s["op"] for s in steps].index("normalize")], {"op": "cast", "dtype": "uint8"}]


def _input_record(decision: dict[str, Any], precision: str, manifest: Manifest) -> dict[str, Any]:
    """sdk.json's `input_type` and `image_input`; a folded input adds the bound on how far the
    model's normalize may be from the reference's (parity.FOLDED_NORMALIZE_RELATIVE)."""
    if not decision["folded"]:
        return {"input_type": "TensorType (MLMultiArray): the SDK pre-processes exactly as the reference", "image_input": decision}
    norm = next(s for s in manifest.pre_steps() if s["op"] == "normalize")
    bound = folded_normalize_max_abs(precision if precision in PRECISIONS else "float16", norm["scale"], norm["mean"], norm["std"][0])
    return {
        "input_type": f"ImageType ({decision['color_layout']} CVPixelBuffer): the SDK pre-processes up to normalize, the model normalizes",
        "image_input": {**decision, "normalize_max_abs": bound},
    }


def artifact_of(out_dir: Path) -> Artifact:
    """The Artifact of `out_dir/model.mlpackage`: the folder is the main, its files the companions."""
    package = out_dir / MODEL_DIR
    files = sorted(p.relative_to(out_dir).as_posix() for p in package.rglob("*") if p.is_file())
    return Artifact(
        folder=out_dir,
        main=MODEL_DIR,
        files=[MODEL_DIR, *files],
        runtime="coreml",
        runtime_versions={"coremltools": _version(), "deployment_target": DEPLOYMENT_TARGET},
        notes=[
            f"ML program for {DEPLOYMENT_TARGET}+; the main file is the package folder: its sha256 is that of its files' listing (sha256  path lines, sorted), every file is listed as a companion",
            "compiled on the device (MLModel.compileModel) at first load; the compiled model is cached by the package's sha256",
        ],
    )


def write_package(source: SourceModel, manifest: Manifest, dest: Path, precision: str) -> None:
    """Convert the torch source to an ML program computing in `precision` at `dest` (a folder
    that must not exist), reproducibly (see the module's docstring)."""
    import coremltools as ct

    if precision not in PRECISIONS:
        raise ValueError(f"compute precision {precision!r} (allowed: {PRECISIONS})")
    program = exported_program(source, manifest, "coreml")
    inputs = [ct.TensorType(name=s.name, shape=tuple(s.shape), dtype=np.dtype(s.dtype).type) for s in manifest.model.inputs]
    folded = image_input(manifest)
    if folded["folded"]:
        # coremltools adds `mul(image, scale)` and `add(_, bias[c])` (float32 constants) before the program.
        layout = {"RGB": ct.colorlayout.RGB, "BGR": ct.colorlayout.BGR}[folded["color_layout"]]
        spec = manifest.model.inputs[0]
        inputs = [ct.ImageType(name=spec.name, shape=tuple(spec.shape), scale=folded["scale"], bias=folded["bias"], color_layout=layout, channel_first=True)]
    # Explicit output dtypes: an fp16 program would otherwise hand back float16 arrays.
    outputs = [ct.TensorType(name=o.name, dtype=np.dtype(o.dtype or "float32").type) for o in manifest.model.outputs]
    try:
        with buildlog.capture("coremltools convert"):
            model = ct.convert(
                program.run_decompositions({}),
                inputs=inputs,
                outputs=outputs,
                convert_to="mlprogram",
                minimum_deployment_target=getattr(ct.target, DEPLOYMENT_TARGET),
                compute_precision=ct.precision.FLOAT32 if precision == "float32" else ct.precision.FLOAT16,
                skip_model_load=True,  # nothing to load it with on Linux; validate() reads the spec
            )
    except Exception as exc:  # the MIL frontend raises many types; the first line names the op
        text = str(exc).strip().splitlines()
        raise UnsupportedOpError(f"Core ML conversion of {source.origin} failed: {text[0] if text else type(exc).__name__}") from exc
    save_package(model, dest, {META_PRECISION: precision, META_WEIGHTS: "float16" if precision == "float16" else "float32"})


def save_package(model, dest: Path, meta: dict[str, str]) -> None:
    """Save a coremltools MLModel to `dest` with `meta` in its metadata, reproducibly: no
    conversion date, item identifiers derived from their paths, no converter by-products."""
    from coremltools.proto import Model_pb2

    with tempfile.TemporaryDirectory(prefix="edgesdk-coreml-") as tmp:
        raw = Path(tmp) / MODEL_DIR
        model.save(str(raw))
        spec = Model_pb2.Model()
        spec.ParseFromString((raw / _SPEC_PATH).read_bytes())
        user = spec.description.metadata.userDefined
        user.pop(_CONVERSION_DATE, None)
        user.update(meta)
        (raw / _SPEC_PATH).write_bytes(spec.SerializeToString(deterministic=True))
        manifest = json.loads((raw / "Manifest.json").read_text(encoding="utf-8"))
        manifest = _stable_identifiers(manifest)
        (raw / "Manifest.json").write_text(json.dumps(manifest, indent=4, sort_keys=True) + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copyfile(raw / "Manifest.json", dest / "Manifest.json")
        shutil.copytree(raw / "Data", dest / "Data")


def _stable_identifiers(manifest: dict[str, Any]) -> dict[str, Any]:
    """Manifest.json with each item's random identifier replaced by uuid5 of the item's path."""
    entries = manifest.get("itemInfoEntries", {})
    renamed = {old: str(uuid.uuid5(_ID_NAMESPACE, item["path"])).upper() for old, item in entries.items()}
    manifest["itemInfoEntries"] = {renamed[old]: item for old, item in entries.items()}
    if manifest.get("rootModelIdentifier") in renamed:
        manifest["rootModelIdentifier"] = renamed[manifest["rootModelIdentifier"]]
    return manifest


def load_spec(package: Path):
    """The package's Model spec, read by coremltools without compiling or loading the model."""
    import coremltools as ct

    return ct.models.MLModel(str(package), skip_model_load=True).get_spec()


def _color_space(feature) -> str:
    from coremltools.proto import FeatureTypes_pb2

    return FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(feature.type.imageType.colorSpace)


def _features(features) -> list[tuple[str, list[int], str]]:
    from coremltools.proto import FeatureTypes_pb2

    found: list[tuple[str, list[int], str]] = []
    for f in features:
        kind = f.type.WhichOneof("Type")
        if kind == "imageType":
            image = f.type.imageType
            space = _color_space(f)
            found.append((f.name, [1, 1 if space == "GRAYSCALE" else 3, image.height, image.width], f"image {space}"))
            continue
        if kind != "multiArrayType":
            found.append((f.name, [], f"{kind} (not a multi-array)"))
            continue
        code = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(f.type.multiArrayType.dataType)
        found.append((f.name, list(f.type.multiArrayType.shape), ARRAY_DTYPES.get(code, code)))
    return found


def validate_package(package: Path, expected: dict[str, list[tuple[str, list[int], str]]]) -> dict[str, Any]:
    """Check an .mlpackage without predicting: the spec loads, it is an ML program for the
    deployment target, every item of its Manifest.json is there, and its inputs and outputs are
    `expected`'s ((name, shape, dtype) each, in order). Returns what was found, with `problems`."""
    problems: list[str] = []
    try:
        spec = load_spec(package)
    except Exception as exc:  # a damaged package fails in protobuf or the package reader
        return {"package": package.name, "problems": [f"{package.name} does not load: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"]}
    kind = spec.WhichOneof("Type")
    if kind != "mlProgram":
        problems.append(f"{package.name} is a '{kind}' model, not an ML program")
    target = SPEC_VERSIONS.get(spec.specificationVersion)
    if spec.specificationVersion > min(v for v, name in SPEC_VERSIONS.items() if name == DEPLOYMENT_TARGET):
        problems.append(f"{package.name} needs Core ML spec {spec.specificationVersion} ({target or 'newer'}); the ios target promises {DEPLOYMENT_TARGET}")
    items = json.loads((package / "Manifest.json").read_text(encoding="utf-8")).get("itemInfoEntries", {})
    for item in items.values():
        if not (package / "Data" / item["path"]).exists():
            problems.append(f"{package.name}: Manifest.json names {item['path']}, which is missing")
    # The program's constants name their weight files as @model_path/<file in the model item's folder>.
    root = (package / _SPEC_PATH).parent
    for blob in sorted(set(re.findall(r'fileName: "@model_path/([^"]+)"', str(spec.mlProgram)))):
        if not (root / blob).is_file():
            problems.append(f"{package.name}: the program reads weights from {blob}, which is missing")
    found = {"inputs": _features(spec.description.input), "outputs": _features(spec.description.output)}
    for kind_name in ("inputs", "outputs"):
        want, got = expected[kind_name], found[kind_name]
        if [w[0] for w in want] != [g[0] for g in got]:
            problems.append(f"{kind_name}: the package has {[g[0] for g in got]}, the manifest {[w[0] for w in want]}")
            continue
        for w, g in zip(want, got):
            if list(w[1]) != list(g[1]) or w[2] != g[2]:
                problems.append(f"{kind_name[:-1]} '{w[0]}': the package has {g[1]} {g[2]}, the manifest {w[1]} {w[2]}")
    image = None
    if "image_input" in expected:
        image = _image_preprocessing(spec, found["inputs"][0][0] if found["inputs"] else "")
        image["color_layout"] = found["inputs"][0][2].removeprefix("image ") if found["inputs"] else ""
        if image != expected["image_input"]:
            problems.append(f"{package.name}: the image input computes scale {image['scale']!r}, bias {image['bias']!r} in {image['color_layout']}; sdk.json says {expected['image_input']}")
    user = dict(spec.description.metadata.userDefined)
    # What the program computes in, read from its own tensor types (a FLOAT16 program casts to fp16).
    computes = "float16" if "dataType: FLOAT16" in str(spec.mlProgram) else "float32"
    if user.get(META_PRECISION) != computes:
        problems.append(f"{package.name} computes in {computes}; its metadata says {user.get(META_PRECISION)}")
    return {
        "package": package.name,
        "format": "mlprogram" if kind == "mlProgram" else kind,
        "specification_version": spec.specificationVersion,
        "minimum_deployment_target": target or f"Core ML spec {spec.specificationVersion}",
        "compute_precision": computes,
        "weights": user.get(META_WEIGHTS, "unknown"),
        "inputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in found["inputs"]],
        "outputs": [{"name": n, "shape": s, "dtype": d} for n, s, d in found["outputs"]],
        **({"image_input": image} if image is not None else {}),
        "problems": problems,
    }


def _image_preprocessing(spec, name: str) -> dict[str, Any]:
    """The scale and per-channel bias an image input's preprocessing ops apply, read back from the
    program: coremltools writes `<name>__scaled__ = mul(x=<name>, y=const)` and `<name>__biased__ =
    add(x=_, y=const [1, 3, 1, 1])` at the start of `main`, leaving out a scale of 1 and a zero bias."""
    main = spec.mlProgram.functions["main"]
    ops = list(main.block_specializations[main.opset].operations)
    consts = {op.outputs[0].name: op.attributes["val"] for op in ops if op.type == "const"}

    def operand(op_type: str, output: str) -> list[float] | None:
        op = next((o for o in ops if o.type == op_type and o.outputs[0].name == output), None)
        if op is None:
            return None
        value = consts[op.inputs["y"].arguments[0].name]
        return [float(v) for v in value.immediateValue.tensor.floats.values]

    scale = operand("mul", f"{name}__scaled__")
    bias = operand("add", f"{name}__biased__")
    return {"scale": scale[0] if scale else 1.0, "bias": bias if bias is not None else [0.0, 0.0, 0.0]}


BACKEND = CoreMLBackend()
