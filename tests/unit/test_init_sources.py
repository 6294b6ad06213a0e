"""`edgesdk init` on torch files and on ONNX graphs at the edges of what a manifest can declare:
the model's real input names, no second softmax after a torch graph that ends in one, and a
manifest that always loads (or a clear refusal with nothing written); `inspect` counts torch.export
weights held as constants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from onnx import TensorProto, helper, save
from torch import nn

from edgesdk.cli import main


class TinyNet(nn.Module):
    def __init__(self, softmax: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 5)
        self.softmax = softmax

    def forward(self, pixel_values):
        logits = self.fc(self.conv(pixel_values).mean(dim=(2, 3)))
        return torch.softmax(logits, dim=-1) if self.softmax else logits


def _init(model: Path, capsys) -> tuple[dict, str]:
    capsys.readouterr()
    assert main(["init", str(model)]) == 0, capsys.readouterr().err
    text = (model.parent / "edgesdk.yaml").read_text(encoding="utf-8")
    assert main(["validate", "-c", str(model.parent / "edgesdk.yaml")]) == 0, capsys.readouterr().err
    return yaml.safe_load(text), text


def _post_ops(data: dict) -> list[str]:
    return [next(iter(s)) if isinstance(s, dict) else s for s in data["postprocess"]["steps"]]


@pytest.mark.parametrize("softmax", [False, True], ids=["logits", "softmax"])
def test_init_on_an_exported_program_writes_its_names_shapes_and_softmax(softmax, tmp_path, capsys):
    torch.export.save(torch.export.export(TinyNet(softmax).eval(), (torch.zeros(1, 3, 32, 32),)), str(tmp_path / "model.pt2"))
    data, text = _init(tmp_path / "model.pt2", capsys)
    assert data["model"]["inputs"] == [{"name": "pixel_values", "shape": [1, 3, 32, 32], "dtype": "float32"}]
    assert data["model"]["outputs"] == [{"name": "softmax" if softmax else "linear", "shape": [1, 5]}]
    assert _post_ops(data) == (["topk"] if softmax else ["softmax", "topk"])
    assert ("already ends in Softmax" in text) is softmax


def test_init_on_torchscript_writes_the_forward_argument_name_and_sees_its_softmax(tmp_path, capsys):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(5), nn.Softmax(dim=-1))
    model(torch.zeros(1, 3, 16, 16))  # materialise the lazy layer

    class Named(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model

        def forward(self, pixel_values):
            return self.body(pixel_values)

    torch.jit.script(Named().eval()).save(str(tmp_path / "model.pt"))
    data, text = _init(tmp_path / "model.pt", capsys)
    assert data["model"]["inputs"][0]["name"] == "pixel_values"
    assert "does not record its input shape" in text
    assert _post_ops(data) == ["topk"]


def _identity_onnx(path: Path, input_shape: list, output_shape: list, output_name: str = "out") -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], [output_name])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_shape)],
    )
    path.parent.mkdir(parents=True)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


# input dims, output dims -> the io init writes
LOADABLE = {
    "symbolic channel axis": (["N", "C", "H", "W"], ["N", 10], [1, 3, "H", "W"], None),
    "symbolic channels at a fixed size": (["N", "C", 32, 32], ["N", 10], [1, 3, 32, 32], None),
    "channels-last dynamic": (["N", "H", "W", 3], ["N", 10], [1, "H", "W", 3], None),
    "a symbol no manifest name spells": (["N", 3, "h-1", "w"], ["N", 10], [1, 3, -1, "w"], None),
    "output over the element limit": ([1, 3, 32, 32], [1, 100000, 100000], [1, 3, 32, 32], None),
    "static": ([1, 3, 32, 32], [1, 10], [1, 3, 32, 32], [1, 10]),
}


@pytest.mark.parametrize(("input_shape", "output_shape", "written_input", "written_output"), LOADABLE.values(), ids=LOADABLE.keys())
def test_what_init_writes_loads_with_the_validator(input_shape, output_shape, written_input, written_output, tmp_path, capsys):
    data, _ = _init(_identity_onnx(tmp_path / "m" / "model.onnx", input_shape, output_shape), capsys)
    assert data["model"]["inputs"][0] == {"name": "x", "shape": written_input, "dtype": "float32"}
    assert data["model"]["outputs"] == [{"name": "out", **({"shape": written_output} if written_output else {})}]


REFUSED = {
    # The pre-processing makes 3-channel images: no manifest describes a 1-channel input yet.
    "one channel": ([1, 1, 32, 32], [1, 10], "out", "does not match the pre-processed tensor shape"),
    # torch.onnx.export's unnamed outputs: a tensor name the manifest cannot spell.
    "numeric output name": ([1, 3, 32, 32], [1, 10], "23", "model.outputs[0].name: '23' is not valid: must match"),
}


@pytest.mark.parametrize(("input_shape", "output_shape", "output_name", "reason"), REFUSED.values(), ids=REFUSED.keys())
def test_init_refuses_a_model_no_manifest_can_describe_and_writes_nothing(input_shape, output_shape, output_name, reason, tmp_path, capsys):
    model = _identity_onnx(tmp_path / "m" / "model.onnx", input_shape, output_shape, output_name)
    capsys.readouterr()
    assert main(["init", str(model)]) == 2
    err = capsys.readouterr().err
    assert "no manifest edgesdk accepts describes this model" in err and reason in err
    assert sorted(p.name for p in model.parent.iterdir()) == ["model.onnx"]


def test_argmax_selects_classes_for_classification_as_docs_processing_says(tmp_path, capsys):
    torch.export.save(torch.export.export(TinyNet().eval(), (torch.zeros(1, 3, 32, 32),)), str(tmp_path / "model.pt2"))
    data, _ = _init(tmp_path / "model.pt2", capsys)
    data["postprocess"]["steps"] = ["argmax"]
    (tmp_path / "edgesdk.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert main(["validate", "-c", str(tmp_path / "edgesdk.yaml")]) == 0, capsys.readouterr().err


class ConstantWeights(nn.Module):
    """Weights as plain tensor attributes: torch.export lifts them into the program's constants,
    not its state_dict (as programs traced from other frameworks hold them)."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.randn(5, 12, generator=generator)
        self.bias = torch.randn(5, generator=generator)

    def forward(self, x):
        return torch.nn.functional.linear(x, self.weight, self.bias)


def test_inspect_counts_exported_weights_held_as_constants(tmp_path, capsys):
    program = torch.export.export(ConstantWeights(), (torch.zeros(1, 12),))
    assert not program.state_dict and len(program.constants) == 2
    torch.export.save(program, str(tmp_path / "model.pt2"))
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "model.pt2")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["parameters"] == 5 * 12 + 5
    assert info["inputs"] == [{"name": "x", "shape": [1, 12], "dtype": "float32"}]
