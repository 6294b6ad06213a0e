"""init, inspect and targets."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from edgesdk import api
from edgesdk.cli import main


def test_init_writes_a_manifest_that_builds(example_models, tmp_path, capsys):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(example_models / "model.onnx", folder / "model.onnx")
    assert main(["init", str(folder / "model.onnx")]) == 0
    manifest = folder / "edgesdk.yaml"
    text = manifest.read_text()
    assert text.count("#") > 10, "the manifest is commented"
    data = yaml.safe_load(text)
    assert data["model"]["inputs"] == [{"name": "image", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    assert data["model"]["outputs"] == [{"name": "logits", "shape": [1, 6]}]
    result = api.build(manifest, out=tmp_path / "dist")
    assert result.parity["passed"]
    capsys.readouterr()
    assert main(["init", str(folder / "model.onnx")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_init_for_torchscript_names_what_to_check(example_models, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    shutil.copy(example_models / "model.pt", folder / "my_model.pt")
    assert main(["init", str(folder / "my_model.pt"), "--task", "custom"]) == 0
    text = (folder / "edgesdk.yaml").read_text()
    assert "does not record its input shape" in text
    assert yaml.safe_load(text)["name"] == "my-model"


def test_inspect_onnx_reports_io_ops_and_flops(example_models, capsys):
    assert main(["inspect", str(example_models / "model.onnx")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"][0]["shape"] == [1, 3, 224, 224]
    assert info["operators"]["Conv"] == 3
    # conv1 3->16 @112x112, conv2 16->32 @56x56, conv3 32->64 @28x28 (3x3 kernels), fc 64->6
    expected = 2 * (16 * 112 * 112 * 3 * 9 + 32 * 56 * 56 * 16 * 9 + 64 * 28 * 28 * 32 * 9 + 6 * 64)
    assert info["flops"] == expected
    assert info["parameters"] > 20000


def test_inspect_rejects_unknown_files(tmp_path, capsys):
    f = tmp_path / "x.bin"
    f.write_bytes(b"\0")
    assert main(["inspect", str(f)]) == 2
    assert "cannot inspect" in capsys.readouterr().err


def test_targets_lists_every_target_and_says_why_not(capsys):
    assert main(["targets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["target"] for r in rows} == {"android", "ios", "jetson", "arm", "x86"}
    x86 = {r["runtime"]: r for r in rows if r["target"] == "x86"}
    assert x86["onnxruntime"]["available"] and x86["onnxruntime"]["default"]
    # TensorRT builds here but cannot predict: the row says why the parity gate is not run.
    trt = next(r for r in rows if r["runtime"] == "tensorrt")
    assert trt["available"] and not trt["host_parity"] and "no TensorRT on this host" in trt["detail"]
    assert main(["targets"]) == 0
    assert "jetson" in capsys.readouterr().out


@pytest.mark.parametrize(("task", "output_shape", "steps"), [("detection", [1, 7, 48], ["decode_boxes", "nms"]), ("segmentation", [1, 3, 16, 16], ["mask"])])
def test_init_writes_a_valid_detection_or_segmentation_manifest(task, output_shape, steps, tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    # A graph whose output has the task's layout: YOLOv8-style [1, 4 + classes, N] or [1, C, h, w].
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["raw"], value=helper.make_tensor("v", TensorProto.FLOAT, output_shape, [0.0] * int(np.prod(output_shape)))), helper.make_node("Identity", ["raw"], ["out"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, output_shape)],
    )
    folder = tmp_path / task
    folder.mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "net.onnx")
    assert main(["init", str(folder / "net.onnx"), "--task", task]) == 0
    data = yaml.safe_load((folder / "edgesdk.yaml").read_text())
    assert [next(iter(s)) for s in data["postprocess"]["steps"]] == steps
    if task == "detection":
        assert data["postprocess"]["steps"][0]["decode_boxes"]["transposed"] is True
        assert next(iter(data["preprocess"]["steps"][0])) == "letterbox"
    capsys.readouterr()
    assert main(["validate", "-c", str(folder / "edgesdk.yaml")]) == 0, capsys.readouterr().err


def test_init_keeps_a_dynamic_input_name_and_adds_no_second_softmax(tmp_path, capsys):
    from onnx import TensorProto, helper, save

    # pixel_values [batch, 3, height, width] -> GlobalAveragePool -> Flatten -> Softmax: dynamic
    # input and output dims, and probabilities already.
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["pixel_values"], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["flat"]), helper.make_node("Softmax", ["flat"], ["probs"], axis=-1)],
        "g",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", 3])],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "hf.onnx")
    assert main(["init", str(tmp_path / "hf.onnx")]) == 0
    text = (tmp_path / "edgesdk.yaml").read_text()
    data = yaml.safe_load(text)
    assert data["model"]["inputs"] == [{"name": "pixel_values", "shape": [1, 3, "height", "width"], "dtype": "float32"}]  # the model's own symbols
    assert data["model"]["outputs"] == [{"name": "probs"}]  # a dynamic shape is left out, not written wrong
    assert [next(iter(s)) for s in data["postprocess"]["steps"]] == ["topk"]
    assert "dynamic" in text and "already ends in Softmax" in text
    capsys.readouterr()
    assert main(["validate", "-c", str(tmp_path / "edgesdk.yaml")]) == 0, capsys.readouterr().err
