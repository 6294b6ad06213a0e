"""Every bad manifest is one clear line naming the field and what is allowed, exit 2, nothing written."""

from __future__ import annotations

import copy

import pytest
from conftest import example_manifest_dict

from edgesdk.cli import main


def _mutate(fn):
    data = example_manifest_dict()
    fn(data)
    return data


def _set(path: str, value):
    def apply(data):
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        if value is _DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return apply


_DELETE = object()


def _both(*changes):
    def apply(data):
        for change in changes:
            change(data)

    return apply


BAD_MANIFESTS = {
    "unknown top-level key": (_set("nmae", "x"), ["unknown key 'nmae'", "allowed:", "name"]),
    "unknown key in step params": (_set("preprocess.steps.0.resize.mode", "x"), ["preprocess.steps[0].resize", "unknown key 'mode'", "interpolation"]),
    "name with capitals": (_set("name", "Flower_Classifier"), ["name:", "lower-case"]),
    "name too long": (_set("name", "a" * 65), ["name:"]),
    "version not semver": (_set("version", "1.2"), ["version:", "semantic version"]),
    "version wrong type": (_set("version", 1.2), ["version:", "string"]),
    "schema version": (_set("schema_version", 2), ["schema_version", "not supported"]),
    "missing task": (_set("task", _DELETE), ["task:", "missing"]),
    "unknown task": (_set("task", "ranking"), ["task:", "classification"]),
    "classification steps on detection": (_set("task", "detection"), ["postprocess.steps[0]", "'softmax' is not a detection step", "decode_boxes, nms"]),
    "detection without nms": (_both(_set("task", "detection"), _set("postprocess.steps", [{"decode_boxes": {}}])), ["postprocess.steps", "exactly the steps decode_boxes, nms"]),
    "detection steps swapped": (_both(_set("task", "detection"), _set("postprocess.steps", ["nms", "decode_boxes"])), ["postprocess.steps", "in this order"]),
    "boxes output unknown": (
        _both(_set("task", "detection"), _set("postprocess.steps", [{"decode_boxes": {"format": "boxes_scores", "boxes": "bbox"}}, "nms"])),
        ["decode_boxes.boxes", "'bbox' is not a model output", "logits"],
    ),
    "boxes_scores with one output": (_both(_set("task", "detection"), _set("postprocess.steps", [{"decode_boxes": {"format": "boxes_scores"}}, "nms"])), ["decode_boxes.scores", "two outputs"]),
    "objectness on boxes_scores": (
        _both(_set("task", "detection"), _set("postprocess.steps", [{"decode_boxes": {"format": "boxes_scores", "objectness": True}}, "nms"])),
        ["decode_boxes", "yolo only"],
    ),
    "iou threshold zero": (_both(_set("task", "detection"), _set("postprocess.steps", ["decode_boxes", {"nms": {"iou_threshold": 0}}])), ["nms.iou_threshold", "greater than 0"]),
    "mask threshold one": (_both(_set("task", "segmentation"), _set("postprocess.steps", [{"mask": {"activation": "sigmoid", "threshold": 1}}])), ["mask.threshold", "less than 1"]),
    "palette color out of range": (_both(_set("task", "segmentation"), _set("postprocess.steps", [{"mask": {"palette": [[0, 0, 256]]}}])), ["mask.palette", "255"]),
    "labels on custom": (_set("task", "custom"), ["postprocess.steps[1]", "'topk' is not a custom step"]),
    "missing model file": (_set("model.source", "nope.pt"), ["model.source", "not found", "nope.pt"]),
    "bad model extension": (_set("model.source", "labels.txt"), ["model.source", "allowed"]),
    "missing labels file": (_set("postprocess.labels", "missing.txt"), ["postprocess.labels", "missing.txt"]),
    "unknown step": (_set("preprocess.steps.0", {"resise": {"size": [256, 256]}}), ["preprocess.steps[0]", "unknown step 'resise'", "resize"]),
    "step with two keys": (_set("preprocess.steps.0", {"resize": {"size": [256, 256]}, "layout": "nchw"}), ["preprocess.steps[0]", "exactly one key"]),
    "bad interpolation": (_set("preprocess.steps.0.resize.interpolation", "cubic"), ["preprocess.steps[0].resize.interpolation", "'bicubic' or 'area'"]),
    "antialias with area": (
        _both(_set("preprocess.steps.0.resize.interpolation", "area"), _set("preprocess.steps.0.resize.antialias", True)),
        ["preprocess.steps[0].resize", "antialias", "bilinear or bicubic"],
    ),
    "uint8 bicubic not implemented": (
        _both(_set("preprocess.steps.0.resize.interpolation", "bicubic"), _set("preprocess.steps.0.resize.precision", "uint8")),
        ["preprocess.steps[0].resize", "precision: uint8 is not implemented", "allowed"],
    ),
    "uint8 after normalize": (
        _set("preprocess.steps", [{"normalize": {"mean": [1, 2, 3]}}, {"resize": {"size": [224, 224], "precision": "uint8"}}, {"layout": "nchw"}]),
        ["preprocess", "precision: uint8 resizes uint8 pixels"],
    ),
    "size wrong type": (_set("preprocess.steps.1.center_crop.size", [224, "a"]), ["preprocess.steps[1].center_crop.size[1]", "integer"]),
    "no layout step": (lambda d: d["preprocess"]["steps"].pop(), ["preprocess", "layout"]),
    "crop larger than resize": (_set("preprocess.steps.1.center_crop.size", [300, 300]), ["center_crop.size", "larger"]),
    "shape mismatch": (_set("model.inputs.0.shape", [1, 3, 200, 200]), ["model.inputs[0].shape", "224"]),
    "dtype mismatch": (_set("model.inputs.0.dtype", "uint8"), ["model.inputs[0].dtype", "cast"]),
    "bad dtype": (_set("model.inputs.0.dtype", "float64"), ["model.inputs[0].dtype", "float32"]),
    "runtime not of target": (_set("runtime", "coreml"), ["runtime:", "'coreml'", "allowed: onnxruntime"]),
    "unknown target": (_set("target", "windows"), ["target:", "'android'"]),
    "bad input color": (_set("preprocess.input_color", "rgba"), ["preprocess.input_color", "'rgb' or 'bgr'"]),
    "zero std": (_set("preprocess.steps.2.normalize.std", [1, 0, 1]), ["preprocess.steps[2].normalize", "non-zero"]),
    "post step for other task": (_set("postprocess.steps.0", {"decode_boxes": {}}), ["postprocess.steps[0]", "allowed: softmax, sigmoid, argmax, topk"]),
    "argmax before topk": (_set("postprocess.steps.0", "argmax"), ["postprocess.steps", "one 'argmax' or 'topk'", "last step"]),
    "topk not last": (lambda d: d["postprocess"]["steps"].reverse(), ["postprocess.steps", "topk"]),
    "unknown post output": (_set("postprocess.output", "scores"), ["postprocess.output", "logits"]),
    "literal key": (_set("encryption", {"enabled": False, "key": "00112233"}), ["encryption.key", "env:NAME"]),
    "int8 without calibration": (_set("quantization", {"mode": "int8"}), ["quantization.calibration", "required"]),
    "labels count": (lambda d: None, ["postprocess.labels", "6 classes"]),  # labels file edited below
    # Numbers that would overflow the float32 pipeline or mean nothing (manifest/limits.py).
    "inf in mean": (_set("preprocess.steps.2.normalize.mean", [float("inf"), 0, 0]), ["preprocess.steps[2].normalize.mean[0]", "finite"]),
    "nan in std": (_set("preprocess.steps.2.normalize.std", [1, float("nan"), 1]), ["preprocess.steps[2].normalize.std[1]", "finite"]),
    "1e308 in std": (_set("preprocess.steps.2.normalize.std", [1e308, 1, 1]), ["preprocess.steps[2].normalize", "std", "1e+06"]),
    "1e100 in mean": (_set("preprocess.steps.2.normalize.mean", [1e100, 0, 0]), ["preprocess.steps[2].normalize", "mean", "1e+06"]),
    "denormal scale": (_set("preprocess.steps.2.normalize.scale", 1e-30), ["preprocess.steps[2].normalize", "scale", "1e-06"]),
    "inf tolerance": (_set("parity", {"max_abs": float("inf")}), ["parity.max_abs", "finite"]),
    "axis beyond any rank": (_set("postprocess.steps.0", {"softmax": {"axis": 10**30}}), ["postprocess.steps[0].softmax.axis", "less than or equal to 7"]),
    "output of 2**40 elements": (_set("model.outputs.0.shape", [1, 2**20, 2**20]), ["model.outputs[0]", "elements"]),
    "2**40 dimension": (_set("model.outputs.0.shape", [2**40]), ["model.outputs[0].shape[0]", "16777216"]),
    "too many steps": (lambda d: d["preprocess"]["steps"].__setitem__(slice(0, 0), [{"color": "rgb"}] * 100), ["preprocess.steps", "at most 64"]),
    "5000-character path": (_set("model.source", "a" * 5000 + ".pt"), ["model.source", "at most 4096"]),
    "budget outside its metric": (_set("quantization", {"mode": "fp16", "accuracy_budget": {"metric": "cosine", "min": 5}}), ["quantization.accuracy_budget", "cosine's range"]),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifest_is_one_clear_line(case, project, tmp_path, capsys):
    mutate, expected = BAD_MANIFESTS[case]
    data = _mutate(mutate)
    path = project(data)
    if case == "labels count":
        (project.folder / "labels.txt").write_text("a\nb\nc\n", encoding="utf-8")
    out = tmp_path / "dist"
    code = main(["build", "-c", str(path), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not out.exists(), "a rejected manifest must write nothing"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("schema_version: 1\nname: [unclosed\n", "invalid YAML"),
        ("schema_version: 1\nname: a\nname: b\n", "duplicate key 'name'"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("!!python/object:os.system {}\n", "invalid YAML"),
        ("schema_version: 1\nname: " + "[" * 2000 + "]" * 2000 + "\n", "nested deeper than 32 levels"),
        # Nine levels of ten aliases each: 10**9 values once expanded, a few hundred bytes of text.
        ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)), "anchors expanded"),
        ("name: " + "x" * (1 << 20) + "\n", "at most 1048576"),
    ],
)
def test_unparseable_yaml(text, fragment, project, tmp_path, capsys):
    path = project(text=text)
    code = main(["build", "-c", str(path), "--out", str(tmp_path / "dist")])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert not (tmp_path / "dist").exists()


def test_missing_manifest_file(tmp_path, capsys):
    code = main(["build", "-c", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "dist")])
    assert code == 2
    assert "manifest not found" in capsys.readouterr().err


def test_cli_runtime_override_checked_against_target(project, tmp_path, capsys):
    path = project()
    code = main(["build", "-c", str(path), "--runtime", "tflite", "--out", str(tmp_path / "dist")])
    err = capsys.readouterr().err
    assert code == 2 and "--runtime" in err and "'tflite'" in err and "target 'x86'" in err
    assert not (tmp_path / "dist").exists()


def test_planned_runtime_is_backend_unavailable(project, tmp_path, capsys, monkeypatch):
    from edgesdk import backends

    # Every runtime of the target table has a backend now: make tensorrt a planned one again.
    monkeypatch.delitem(backends.IMPLEMENTED, "tensorrt")
    monkeypatch.setitem(backends.PLANNED, "tensorrt", backends.PlannedRuntime("tensorrt", "", "tensorrt"))
    path = project()
    code = main(["build", "-c", str(path), "--target", "jetson", "--runtime", "tensorrt", "--out", str(tmp_path / "dist")])
    err = capsys.readouterr().err
    assert code == 5 and "tensorrt" in err
    assert not (tmp_path / "dist").exists()


def test_onnx_input_name_must_match_graph(project, tmp_path, capsys):
    data = example_manifest_dict("model.onnx")
    data["model"]["inputs"][0]["name"] = "pixels"
    path = project(data)
    code = main(["build", "-c", str(path), "--out", str(tmp_path / "dist")])
    err = capsys.readouterr().err
    assert code == 2 and "model.inputs[0].name" in err and "'pixels'" in err and "image" in err


def test_schema_is_exported(capsys):
    import json

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["additionalProperties"] is False
    assert {"schema_version", "name", "version", "model", "task", "preprocess"} <= set(schema["required"])


def test_schema_validates_the_example():
    import jsonschema
    import yaml
    from conftest import EXAMPLE

    from edgesdk.manifest import json_schema

    jsonschema.validate(yaml.safe_load((EXAMPLE / "edgesdk.yaml").read_text()), json_schema())
    bad = copy.deepcopy(example_manifest_dict())
    bad["extra"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json_schema())
