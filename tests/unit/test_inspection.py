"""`edgesdk inspect` counts the weights wherever an exporter stored them: as initializers or as
Constant nodes."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from edgesdk.cli import main


class ConvLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)  # 1x3x8x8 -> 1x8x4x4
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def _weights_as_constant_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with every initializer moved into a Constant node, as some exporters write it."""
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    constants = [helper.make_node("Constant", [], [init.name], name=f"const_{init.name}", value=init) for init in graph.initializer]
    nodes = constants + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    onnx.checker.check_model(rewritten, full_check=True)
    return rewritten


def _inspect(path, capsys) -> dict:
    assert main(["inspect", str(path)]) == 0
    return json.loads(capsys.readouterr().out)


def test_weights_in_constant_nodes_count_like_initializers(tmp_path, capsys):
    torch.manual_seed(0)
    model = ConvLinear().eval()
    image = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    initializers = tmp_path / "initializers.onnx"
    torch.onnx.export(model, (image,), str(initializers), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=["logits"], verbose=False)
    exported = onnx.load(str(initializers))
    assert len(exported.graph.initializer) >= 4 and not any(n.op_type == "Constant" for n in exported.graph.node)
    constants = tmp_path / "constants.onnx"
    onnx.save(_weights_as_constant_nodes(exported), str(constants))

    ort = pytest.importorskip("onnxruntime")
    outputs = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"image": image.numpy()})[0] for p in (initializers, constants)]
    np.testing.assert_array_equal(outputs[0], outputs[1])  # the rewrite is the same model

    params = sum(p.numel() for p in model.parameters())  # 8*3*3*3 + 8 + 128*5 + 5
    macs = 8 * 4 * 4 * (3 * 3 * 3) + 5 * (8 * 4 * 4)  # conv: each output value sums 3x3x3 products; fc: 5 x 128
    for path in (initializers, constants):
        info = _inspect(path, capsys)
        assert info["parameters"] == params == 869, path.name
        assert info["flops"] == 2 * macs == 8192, path.name
        assert info["inputs"] == [{"name": "image", "shape": [1, 3, 8, 8], "dtype": "float32"}], path.name
