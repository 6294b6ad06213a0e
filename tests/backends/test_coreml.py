"""The ios target's runtimes built on this (Linux) host: Core ML (.mlpackage, validated, since Core ML
cannot predict here) in float32, fp16, int8 linear weights and palettized weights; and ExecuTorch,
whose .pte runs here and passes the float32 gate."""

from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import example_manifest_dict

from edgesdk import api, buildcache
from edgesdk.backends import availability, get_backend
from edgesdk.bundle import folder_listing, sha256_bytes, sha256_path
from edgesdk.cli import main
from edgesdk.errors import IntegrityError, ManifestError
from edgesdk.parity import topk_indices

pytestmark = pytest.mark.coreml

ok, why = availability("coreml")
if not ok:
    pytest.skip(why, allow_module_level=True)

from edgesdk.backends import coreml  # noqa: E402  (needs coremltools)

# mode -> (compute precision, what the weights are, the package's size as a share of float32's at most)
MODES = {
    "none": ("float32", "float32", 1.0),
    "fp16": ("float16", "float16", 0.6),
    "int8-dynamic": ("float32", "int8 linear symmetric per output channel", 0.4),
    "palettize": ("float32", "palettized: 6-bit", 0.35),
}


def _project(example_models: Path, folder: Path, data: dict) -> Path:
    shutil.copytree(example_models, folder)
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _ios_manifest(example_models: Path, folder: Path, mode: str = "none", source: str = "model.pt") -> Path:
    data = example_manifest_dict(source)
    data["target"] = "ios"
    if mode != "none":
        data["quantization"] = {"mode": mode, **({"bits": 6} if mode == "palettize" else {})}
    return _project(example_models, folder, data)


@pytest.fixture(scope="module", params=list(MODES))
def coreml_bundle(request, example_models, tmp_path_factory) -> api.BuildResult:
    manifest = _ios_manifest(example_models, tmp_path_factory.mktemp("ios") / "project", request.param)
    return api.build(manifest, out=tmp_path_factory.mktemp("dist"))


def _sdk(bundle: Path) -> dict:
    return json.loads((bundle / "sdk.json").read_text())


def test_example_builds_for_ios_with_coreml_validated_not_predicted(coreml_bundle):
    mode = _sdk(coreml_bundle.bundle)["quantization"]["mode"]
    precision, weights, _ = MODES[mode]
    assert (coreml_bundle.target, coreml_bundle.runtime) == ("ios", "coreml")  # coreml is the ios default
    report = coreml_bundle.parity
    assert report["status"] == "not_run" and report["reason"] == coreml.NOT_ON_LINUX
    validated = report["validated"]
    assert validated["problems"] == []
    assert (validated["format"], validated["minimum_deployment_target"], validated["compute_precision"]) == ("mlprogram", "iOS16", precision)
    assert validated["weights"].startswith(weights)
    options = _sdk(coreml_bundle.bundle)["runtime_options"]
    assert (options["minimum_deployment_target"], options["compute_precision"]) == ("iOS16", precision)
    assert json.loads((coreml_bundle.bundle / "reports" / "parity.json").read_text()) == report
    assert api.verify(coreml_bundle.bundle)["ok"]


def test_quantized_packages_shrink(coreml_bundle):
    mode = _sdk(coreml_bundle.bundle)["quantization"]["mode"]
    if mode == "none":
        pytest.skip("the float32 package is the baseline")
    report = json.loads((coreml_bundle.bundle / "reports" / "quantization.json").read_text())
    assert report["size_ratio"] <= MODES[mode][2], report["size_bytes"]


def test_package_spec_matches_sdk_json(coreml_bundle):
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    sdk = _sdk(coreml_bundle.bundle)
    package = coreml_bundle.bundle / sdk["model"]["file"]
    spec = ct.models.MLModel(str(package), skip_model_load=True).get_spec()  # coremltools' own reader
    assert spec.specificationVersion == 7 and spec.WhichOneof("Type") == "mlProgram"
    dtype_name = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
    got_in = [(f.name, list(f.type.multiArrayType.shape), dtype_name(f.type.multiArrayType.dataType)) for f in spec.description.input]
    got_out = [(f.name, list(f.type.multiArrayType.shape), dtype_name(f.type.multiArrayType.dataType)) for f in spec.description.output]
    assert got_in == [(i["name"], i["shape"], i["dtype"].upper()) for i in sdk["io"]["inputs"]]
    assert got_out == [(o["name"], o["shape"], "FLOAT32") for o in sdk["io"]["outputs"]]
    assert "com.github.apple.coremltools.conversion_date" not in spec.description.metadata.userDefined  # reproducible


def test_every_package_file_is_checksummed(coreml_bundle, tmp_path):
    sdk = _sdk(coreml_bundle.bundle)
    package = coreml_bundle.bundle / sdk["model"]["file"]
    files = sorted(p.relative_to(coreml_bundle.bundle).as_posix() for p in package.rglob("*") if p.is_file())
    assert sorted(c["file"] for c in sdk["model"]["companions"]) == files
    assert sdk["model"]["sha256"] == sha256_path(package) == sha256_bytes(folder_listing(package).encode())
    assert "executorch_debug_handle_mapping.json" not in {Path(f).name for f in files}
    tampered = tmp_path / "bundle"
    shutil.copytree(coreml_bundle.bundle, tampered)
    weights = next((tampered / sdk["model"]["file"]).rglob("weight.bin"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")
    with pytest.raises(IntegrityError, match="weight.bin"):
        api.verify(tampered)


def test_golden_outputs_come_from_the_reference(coreml_bundle, example_models):
    bundle = coreml_bundle.bundle
    index = json.loads((bundle / "tests/golden/index.json").read_text())
    assert index["outputs_from"] == "reference"
    reference = torch.jit.load(str(example_models / "model.pt")).eval()
    for case in index["cases"]:
        tensor = np.load(bundle / "tests/golden" / case["preprocessed"])
        with torch.no_grad():
            want = reference(torch.from_numpy(tensor)).numpy()
        got = np.load(bundle / "tests/golden" / case["outputs"]["logits"])
        assert np.array_equal(got, want), case["id"]
        assert [c["index"] for c in case["result"]["classifications"]] == topk_indices(want, 5)


def test_conversion_is_reproducible_and_takes_every_torch_source(example_models, tmp_path):
    from edgesdk.manifest import load_manifest
    from edgesdk.sources import load_source

    digests = []
    for n, source in enumerate(("model.pt", "model.pt2", "model.pt")):
        manifest = load_manifest(_ios_manifest(example_models, tmp_path / f"p{n}", source=source))
        artifact = get_backend("coreml").convert(load_source(manifest), manifest, tmp_path / f"out{n}")
        assert artifact.main == "model.mlpackage" and artifact.files[0] == "model.mlpackage"
        digests.append(sha256_path(artifact.main_path))
    assert digests[0] == digests[2]  # the same source twice: the same bytes


def test_a_planted_io_mismatch_fails_validation(example_models, tmp_path, monkeypatch):
    path = _ios_manifest(example_models, tmp_path / "project")
    real = coreml.write_package

    def renaming(source, manifest, dest, precision):
        real(source, manifest, dest, precision)
        from coremltools.proto import Model_pb2

        spec_file = dest / "Data/com.apple.CoreML/model.mlmodel"
        spec = Model_pb2.Model()
        spec.ParseFromString(spec_file.read_bytes())
        spec.description.output[0].name = "scores"  # a converter that renamed the output
        spec_file.write_bytes(spec.SerializeToString())

    monkeypatch.setattr(coreml, "write_package", renaming)
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")  # the planted converter runs, not an earlier build's conversion
    out = tmp_path / "dist"
    assert main(["build", "-c", str(path), "--out", str(out)]) == 3
    assert not (out / "stripes-classifier-1.0.0-ios-coreml").exists()
    kept = json.loads((out / "stripes-classifier-1.0.0-ios-coreml.parity-failed.json").read_text())
    assert kept["status"] == "not_run"
    assert any("outputs" in p and "scores" in p for p in kept["validated"]["problems"])


def test_validation_checks_shapes_and_dtypes(example_models, tmp_path):
    from edgesdk.manifest import load_manifest
    from edgesdk.sources import load_source

    manifest = load_manifest(_ios_manifest(example_models, tmp_path / "project"))
    artifact = get_backend("coreml").convert(load_source(manifest), manifest, tmp_path / "out")
    right = {"inputs": [("image", [1, 3, 224, 224], "float32")], "outputs": [("logits", [1, 6], "float32")]}
    assert coreml.validate_package(artifact.main_path, right)["problems"] == []
    wrong_shape = {**right, "inputs": [("image", [1, 3, 256, 256], "float32")]}
    assert coreml.validate_package(artifact.main_path, wrong_shape)["problems"] == ["input 'image': the package has [1, 3, 224, 224] float32, the manifest [1, 3, 256, 256] float32"]
    wrong_dtype = {**right, "outputs": [("logits", [1, 6], "float16")]}
    assert len(coreml.validate_package(artifact.main_path, wrong_dtype)["problems"]) == 1
    (artifact.main_path / "Data/com.apple.CoreML/weights/weight.bin").unlink()
    assert any("missing" in p for p in coreml.validate_package(artifact.main_path, right)["problems"])


def test_quantization_fields_coreml_cannot_honour_are_refused(example_models, tmp_path):
    data = example_manifest_dict()
    data["target"] = "ios"
    data["quantization"] = {"mode": "int8", "calibration": {"data": "calib", "samples": 1}}
    path = _project(example_models, tmp_path / "project", data)
    (path.parent / "calib").mkdir()
    np.save(path.parent / "calib" / "x.npy", np.zeros((1, 3, 224, 224), np.float32))
    with pytest.raises(ManifestError, match="'int8' is not supported for runtime 'coreml'"):
        api.validate(path)
    data["quantization"]["mode"] = "int8-dynamic"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ManifestError, match="quantization.calibration.*cannot run the model"):
        api.validate(path)
    data["quantization"] = {"mode": "fp16", "bits": 4}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ManifestError, match="quantization.bits"):
        api.validate(path)


# The example's normalize with one std: whole-number pixels reach it through a nearest resize and a crop.
FOLDABLE_STEPS = [
    {"resize": {"size": [256, 256], "interpolation": "nearest", "keep_ratio": True}},
    {"center_crop": {"size": [224, 224]}},
    {"normalize": {"mean": [123.675, 116.28, 103.53], "std": [57.375, 57.375, 57.375]}},
    {"layout": "nchw"},
]


def _folding_manifest(example_models: Path, folder: Path, steps: list, **extra) -> Path:
    data = example_manifest_dict()
    data["target"] = "ios"
    data["preprocess"]["steps"] = steps
    if steps[-1] == {"cast": "float16"}:
        data["model"]["inputs"][0]["dtype"] = "float16"
    data.update(extra)
    return _project(example_models, folder, data)


def _with(index: int, step: dict) -> list:
    return [step if n == index else s for n, s in enumerate(FOLDABLE_STEPS)]


SHORTER_SIDE = {"resize": {"shorter_side": 200, "max_size": 224, "interpolation": "nearest"}}
UNIFORM = {"normalize": {"mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5]}}
# (steps, the decision's reason word, or None when it folds)
DECISIONS = {
    "nearest resize + crop": (FOLDABLE_STEPS, None),
    "precision uint8 bilinear": (_with(0, {"resize": {"size": [256, 256], "interpolation": "bilinear", "precision": "uint8", "keep_ratio": True}}), None),
    "antialias uint8 bicubic": (_with(0, {"resize": {"size": [256, 256], "interpolation": "bicubic", "antialias": True, "precision": "uint8"}}), None),
    "uint8 letterbox, then bgr": ([{"letterbox": {"size": [224, 224], "precision": "uint8"}}, {"color": "bgr"}, UNIFORM, {"layout": "nchw"}], None),
    "nearest letterbox, whole pad": ([{"letterbox": {"size": [224, 224], "interpolation": "nearest", "pad_value": [114, 0, 255]}}, UNIFORM, {"layout": "nchw"}], None),
    "nearest shorter_side + whole pad": ([SHORTER_SIDE, {"pad": {"size": [224, 224], "value": 114}}, UNIFORM, {"layout": "nchw"}], None),
    "fractional pad": ([SHORTER_SIDE, {"pad": {"size": [224, 224], "value": 0.5}}, UNIFORM, {"layout": "nchw"}], "pad"),
    "the example (bilinear float)": (example_manifest_dict()["preprocess"]["steps"], "resampled"),
    "bicubic float": (_with(0, {"resize": {"size": [256, 256], "interpolation": "bicubic"}}), "resampled"),
    "nearest letterbox, fractional pad": ([{"letterbox": {"size": [224, 224], "interpolation": "nearest", "pad_value": 114.5}}, UNIFORM, {"layout": "nchw"}], "pad"),
    "std per channel": (_with(2, {"normalize": {"mean": [0, 0, 0], "std": [58.395, 57.12, 57.375]}}), "std"),
    "a cast after the layout": ([*FOLDABLE_STEPS, {"cast": "float16"}], "layout"),
    "no normalize": ([FOLDABLE_STEPS[0], FOLDABLE_STEPS[1], {"layout": "nchw"}], "no-normalize"),
}


@pytest.mark.parametrize("case", list(DECISIONS))
def test_the_fold_is_decided_from_the_manifest(case, example_models, tmp_path):
    from edgesdk.manifest import load_manifest

    steps, reason = DECISIONS[case]
    manifest = load_manifest(_folding_manifest(example_models, tmp_path / "p", steps))
    decision = coreml.image_input(manifest)
    assert decision["folded"] is (reason is None), decision
    assert decision.get("reason") == reason
    feed = get_backend("coreml").image_feed(manifest)
    assert (feed is None) is (reason is not None)
    if feed is not None:
        assert [s["op"] for s in feed.steps][-1] == "cast" and "normalize" not in [s["op"] for s in feed.steps]


def test_the_fold_takes_the_model_channel_order_and_can_be_refused(example_models, tmp_path):
    from edgesdk.manifest import load_manifest

    normalize = {"normalize": {"mean": [100.0, 110.0, 120.0], "std": [50.0, 50.0, 50.0], "scale": 2.0}}
    steps = [{"resize": {"size": [224, 224], "interpolation": "nearest"}}, {"color": "bgr"}, normalize, {"layout": "nchw"}]
    manifest = load_manifest(_folding_manifest(example_models, tmp_path / "a", steps))
    decision = coreml.image_input(manifest)
    assert decision["color_layout"] == "BGR"
    # scale_ct = scale / std, bias_ct[c] = -mean[c] / std, in the model's (BGR) channel order, float32.
    assert decision["scale"] == float(np.float32(2.0) / np.float32(50.0))
    assert decision["bias"] == [float(-np.float32(m) / np.float32(50.0)) for m in (100.0, 110.0, 120.0)]
    opted = load_manifest(_folding_manifest(example_models, tmp_path / "b", steps, runtime_options={"coreml": {"image_input": "tensor"}}))
    assert coreml.image_input(opted)["reason"] == "opted-out" and get_backend("coreml").image_feed(opted) is None
    with pytest.raises(ManifestError, match="runtime_options.coreml.image_input"):
        load_manifest(_folding_manifest(example_models, tmp_path / "c", steps, runtime_options={"coreml": {"image_input": "image"}}))


def _folded_normalize(x: np.ndarray, scale: float, bias: float, precision: str) -> np.ndarray:
    """What the program's preprocessing ops compute: mul(x, scale) then add(_, bias), float32 as
    coremltools writes them; in float16 arithmetic where the compute unit runs half floats."""
    if precision == "float16":
        h = (np.float16(scale) * x.astype(np.float16)).astype(np.float16) + np.float16(bias)
        return h.astype(np.float32)
    return (np.float32(scale) * x.astype(np.float32)).astype(np.float32) + np.float32(bias)


NORMALIZATIONS = {
    "imagenet, one std": ([123.675, 116.28, 103.53], 57.375, 1.0),
    "[-1, 1]": ([127.5, 127.5, 127.5], 127.5, 1.0),
    "[0, 1] by scale": ([0.0, 0.0, 0.0], 1.0, 1 / 255),
    "imagenet on [0, 1]": ([0.485, 0.456, 0.406], 0.226, 1 / 255),
    "raw pixels": ([0.0, 0.0, 0.0], 1.0, 1.0),
    "odd": ([100.0, 3.0, 250.0], 0.7, 2.0),
}


@pytest.mark.parametrize("precision", ["float32", "float16"])
@pytest.mark.parametrize("name", list(NORMALIZATIONS))
def test_folded_normalize_is_within_the_recorded_tolerance_for_every_pixel_value(name, precision, example_models, tmp_path):
    from edgesdk.manifest import load_manifest
    from edgesdk.parity import folded_normalize_max_abs
    from edgesdk.processing.preprocess import normalize

    mean, std, scale = NORMALIZATIONS[name]
    steps = [{"resize": {"size": [224, 224], "interpolation": "nearest"}}, {"normalize": {"mean": mean, "std": [std] * 3, "scale": scale}}, {"layout": "nchw"}]
    decision = coreml.image_input(load_manifest(_folding_manifest(example_models, tmp_path / "p", steps)))
    pixels = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], 3, axis=2)  # every value, every channel
    want = normalize(pixels, {"op": "normalize", "mean": mean, "std": [std] * 3, "scale": scale})
    got = np.stack([_folded_normalize(pixels[..., c], decision["scale"], decision["bias"][c], precision) for c in range(3)], axis=-1)
    bound = folded_normalize_max_abs(precision, scale, mean, std)
    assert np.max(np.abs(got - want)) <= bound


@pytest.fixture(scope="module", params=["none", "fp16"])
def folded_bundle(request, example_models, tmp_path_factory) -> api.BuildResult:
    steps = [*FOLDABLE_STEPS[:2], {"color": "bgr"}, {"normalize": {"mean": [103.53, 116.28, 123.675], "std": [57.375] * 3}}, {"layout": "nchw"}]
    extra = {"quantization": {"mode": "fp16"}} if request.param == "fp16" else {}
    path = _folding_manifest(example_models, tmp_path_factory.mktemp("folded") / "project", steps, **extra)
    return api.build(path, out=tmp_path_factory.mktemp("dist"))


def test_a_folded_bundle_takes_an_image_that_normalizes_as_sdk_json_says(folded_bundle):
    import coremltools as ct

    sdk = _sdk(folded_bundle.bundle)
    record = sdk["runtime_options"]["image_input"]
    assert record["folded"] and record["color_layout"] == "BGR"
    assert sdk["runtime_options"]["input_type"].startswith("ImageType")
    spec = ct.models.MLModel(str(folded_bundle.bundle / sdk["model"]["file"]), skip_model_load=True).get_spec()
    image = spec.description.input[0].type.imageType
    assert (image.width, image.height) == (224, 224) and image.colorSpace == image.BGR
    validated = folded_bundle.parity["validated"]
    assert validated["problems"] == [] and validated["inputs"][0]["dtype"] == "image BGR"
    # Read back from the program's preprocessing ops: exactly the recorded float32 scale and bias.
    assert validated["image_input"] == {k: record[k] for k in ("scale", "bias", "color_layout")}
    precision = sdk["runtime_options"]["compute_precision"]
    assert record["normalize_max_abs"] == pytest.approx((4 * 2.0**-24 if precision == "float32" else 2 * 2.0**-11) * (255 / 57.375 + 123.675 / 57.375))


def test_a_folded_bundle_golden_vectors_hold_the_uint8_image(folded_bundle, example_models):
    from edgesdk.processing.preprocess import normalize, run_preprocess, to_layout

    bundle = folded_bundle.bundle
    sdk = _sdk(bundle)
    steps = sdk["preprocess"]["steps"]  # the manifest's, normalize included
    assert [s["op"] for s in steps] == ["resize", "center_crop", "color", "normalize", "layout"]
    index = json.loads((bundle / "tests/golden/index.json").read_text())
    reference = torch.jit.load(str(example_models / "model.pt")).eval()
    for case in index["cases"]:
        fed = np.load(bundle / "tests/golden" / case["preprocessed"])
        app_input = np.load(bundle / "tests/golden" / case["input"])
        assert fed.dtype == np.uint8 and fed.shape == (224, 224, 3)
        assert np.array_equal(fed, run_preprocess(app_input, "rgb", steps[:3]).tensor.astype(np.uint8))
        # The reference's tensor is the manifest's normalize of exactly these pixels.
        tensor = run_preprocess(app_input, "rgb", steps).tensor
        assert np.array_equal(tensor, to_layout(normalize(fed, steps[3]), "nchw"))
        with torch.no_grad():
            assert np.array_equal(np.load(bundle / "tests/golden" / case["outputs"]["logits"]), reference(torch.from_numpy(tensor)).numpy()), case["id"]


def test_a_folded_bundle_swift_sdk_stops_before_normalize_and_feeds_a_pixel_buffer(folded_bundle):
    bundle = folded_bundle.bundle
    pipeline = (bundle / "sdk/swift/Sources/StripesClassifierSDKCore/Pipeline.swift").read_text()
    assert "p.normalize(" not in pipeline and "p.layout(" not in pipeline and "try p.cast(.uint8)" in pipeline
    runtime = (bundle / "sdk/swift/Sources/StripesClassifierSDK/Runtime/CoreMLRuntime.swift").read_text()
    assert "MLFeatureValue(pixelBuffer: try Self.pixelBuffer(input))" in runtime and "MLFeatureValue(multiArray:" not in runtime
    assert "kCVPixelFormatType_32BGRA" in runtime and "CVPixelBufferGetBytesPerRow" in runtime
    assert "let (blue, green, red) = (0, 1, 2)" in runtime  # the SDK's pixels are in BGR order


def _printed_build(result: api.BuildResult, monkeypatch, capsys) -> str:
    """What `edgesdk build` prints for this (real) bundle."""
    monkeypatch.setattr(api, "build", lambda *args, **kwargs: result)
    assert main(["build", "-c", "edgesdk.yaml"]) == 0
    return capsys.readouterr().out


def test_build_prints_the_fold_in_a_word(folded_bundle, monkeypatch, capsys):
    assert "input    image (BGR): normalize folded into the model" in _printed_build(folded_bundle, monkeypatch, capsys)


def test_build_prints_why_the_example_is_not_folded(coreml_bundle, monkeypatch, capsys):
    assert "input    tensor (not folded: resampled)" in _printed_build(coreml_bundle, monkeypatch, capsys)


def test_a_planted_wrong_bias_fails_validation(example_models, tmp_path, monkeypatch):
    path = _folding_manifest(example_models, tmp_path / "project", FOLDABLE_STEPS)
    real = coreml.write_package

    def flipping(source, manifest, dest, precision):
        real(source, manifest, dest, precision)
        from coremltools.proto import Model_pb2

        spec_file = dest / "Data/com.apple.CoreML/model.mlmodel"
        spec = Model_pb2.Model()
        spec.ParseFromString(spec_file.read_bytes())
        main = spec.mlProgram.functions["main"]
        for op in main.block_specializations[main.opset].operations:
            if op.type == "const" and op.outputs[0].name.startswith("image__biased__"):
                values = op.attributes["val"].immediateValue.tensor.floats.values
                values[:] = [-v for v in values]  # a package whose bias has the wrong sign
        spec_file.write_bytes(spec.SerializeToString())

    monkeypatch.setattr(coreml, "write_package", flipping)
    monkeypatch.setenv(buildcache.ENV_SWITCH, "off")  # the planted converter runs, not an earlier build's conversion
    out = tmp_path / "dist"
    assert main(["build", "-c", str(path), "--out", str(out)]) == 3
    kept = json.loads((out / "stripes-classifier-1.0.0-ios-coreml.parity-failed.json").read_text())
    assert any("image input computes" in p for p in kept["validated"]["problems"])


def test_opting_out_keeps_the_tensor_input(example_models, tmp_path):
    from edgesdk.manifest import load_manifest
    from edgesdk.sources import load_source

    path = _folding_manifest(example_models, tmp_path / "project", FOLDABLE_STEPS, runtime_options={"coreml": {"image_input": "tensor"}})
    manifest = load_manifest(path)
    artifact = get_backend("coreml").convert(load_source(manifest), manifest, tmp_path / "out")
    assert coreml.load_spec(artifact.main_path).description.input[0].type.WhichOneof("Type") == "multiArrayType"
    assert get_backend("coreml").runtime_options(artifact, manifest)["image_input"] == {
        "folded": False,
        "reason": "opted-out",
        "why": "runtime_options.coreml.image_input is tensor: the SDK feeds its float32 normalize",
    }


def test_targets_say_why_coreml_parity_is_not_run():
    rows = {(r["target"], r["runtime"]): r for r in api.targets_table()}
    row = rows["ios", "coreml"]
    assert row["available"] and row["default"] and not row["host_parity"]
    assert "parity gate not run here" in row["detail"] and "Core ML predicts only on Apple platforms" in row["detail"]
    assert rows["ios", "executorch"]["host_parity"] == rows["ios", "executorch"]["available"]


@pytest.mark.executorch
def test_executorch_for_ios_builds_with_parity_and_its_pte_runs(example_models, tmp_path):
    pytest.importorskip("executorch.runtime", reason="pip install 'edgesdk[executorch]'")
    from executorch.runtime import Runtime

    result = api.build(_ios_manifest(example_models, tmp_path / "project"), runtime="executorch", out=tmp_path / "dist")
    assert result.parity["passed"] and result.parity["outputs"]["logits"]["max_abs"] <= 1e-4
    sdk = _sdk(result.bundle)
    assert (sdk["target"], sdk["runtime"]) == ("ios", "executorch")
    assert sdk["runtime_versions"]["executorch"] == metadata.version("executorch")
    index = json.loads((result.bundle / "tests/golden/index.json").read_text())
    assert "outputs_from" not in index
    method = Runtime.get().load_program(result.bundle / sdk["model"]["file"]).load_method("forward")
    for case in index["cases"]:
        tensor = np.load(result.bundle / "tests/golden" / case["preprocessed"])
        got = method.execute([torch.from_numpy(tensor)])[0].numpy()
        assert np.max(np.abs(got - np.load(result.bundle / "tests/golden" / case["outputs"]["logits"]))) <= 1e-5, case["id"]


def test_swift_sdk_and_sample_app_are_rendered_for_core_ml(coreml_bundle):
    bundle = coreml_bundle.bundle
    sdk = _sdk(bundle)
    if sdk["quantization"]["mode"] != "none":
        pytest.skip("the glue does not depend on the weights' storage")
    assert sdk["languages"] == ["swift"]
    runtime = (bundle / "sdk/swift/Sources/StripesClassifierSDK/Runtime/CoreMLRuntime.swift").read_text()
    assert "#if canImport(CoreML)" in runtime and "MLModel.compileModel(at:" in runtime and sdk["model"]["sha256"] not in runtime
    assert '"iOS16"' in (bundle / "sdk/swift/Sources/StripesClassifierSDKCore/Pipeline.swift").read_text()  # what the OS check reads
    package = (bundle / "sdk/swift/Package.swift").read_text()
    assert "dependencies.append" not in package  # Core ML ships with the OS
    project = yaml.safe_load((bundle / "sample_app/project.yml").read_text())
    assert project["packages"]["StripesClassifierSDK"]["path"] == "../sdk/swift"
    target = project["targets"]["StripesClassifierSample"]
    assert {"path": "../model", "type": "folder", "buildPhase": "resources"} in target["sources"]
    assert target["settings"]["base"]["INFOPLIST_KEY_NSCameraUsageDescription"]
    camera = (bundle / "sample_app/App/Camera.swift").read_text()
    assert "kCVPixelFormatType_420YpCbCr8BiPlanarVideoRange" in camera and "alwaysDiscardsLateVideoFrames = true" in camera
    # The SDK turns the camera's landscape NV12 frames upright (docs/processing.md, "Camera frames and orientation").
    assert "sdk.run(buffer, orientation: Self.portrait)" in (bundle / "sample_app/App/SampleApp.swift").read_text()
    assert "PhotosPicker" in (bundle / "sample_app/App/ContentView.swift").read_text()


@pytest.mark.executorch
def test_executorch_swift_package_pins_the_release_that_wrote_the_pte(example_models, tmp_path):
    pytest.importorskip("executorch", reason="pip install 'edgesdk[executorch]'")
    from edgesdk.api import _model_files
    from edgesdk.manifest import load_manifest
    from edgesdk.render import glue_context, render_bundle
    from edgesdk.sources import load_source

    manifest = load_manifest(_ios_manifest(example_models, tmp_path / "project"))
    backend = get_backend("executorch")
    artifact = backend.convert(load_source(manifest), manifest, tmp_path / "model")

    context = glue_context(manifest, "ios", "executorch", artifact, _model_files(artifact, sha256_path(artifact.main_path)), manifest.labels())
    render_bundle(tmp_path / "bundle", context, "ios", "executorch")
    package = (tmp_path / "bundle/sdk/swift/Package.swift").read_text()
    version = metadata.version("executorch")
    assert f'branch: "swiftpm-{version}"' in package
    for product in ("executorch", "backend_xnnpack"):
        assert f'.product(name: "{product}", package: "executorch")' in package
    assert package.index("#if canImport(Darwin)") < package.index("swiftpm-") < package.index("#endif")
    runtime = (tmp_path / "bundle/sdk/swift/Sources/StripesClassifierSDK/Runtime/ExecuTorchRuntime.swift").read_text()
    assert "#if canImport(ExecuTorch)" in runtime and 'module.load("forward")' in runtime
    assert '"-all_load"' in (tmp_path / "bundle/sample_app/project.yml").read_text()
