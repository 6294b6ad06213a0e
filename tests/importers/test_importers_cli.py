"""`edgesdk init MODEL --from SPEC` without the libraries: the steps each config maps to, the
model's names and dims written beside them, and every refusal (exit 2, nothing written)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from onnx import TensorProto, helper, save

from edgesdk.cli import main
from edgesdk.importers import import_recipe
from edgesdk.importers.torchvision import PYTHON_ENV, recipe_from_description

from .conftest import DATA

IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": 0.00392156862745098}
PIL_BICUBIC = {"interpolation": "bicubic", "antialias": True, "precision": "uint8"}
PIL_BILINEAR = {"interpolation": "bilinear", "antialias": True, "precision": "uint8"}


def classifier_onnx(folder: Path, shape: list, softmax: bool, name: str = "pixel_values") -> Path:
    """GlobalAveragePool -> Flatten -> Gemm (-> Softmax): a classifier whose input is `shape`."""
    nodes = [helper.make_node("GlobalAveragePool", [name], ["pooled"]), helper.make_node("Flatten", ["pooled"], ["flat"]), helper.make_node("Gemm", ["flat", "w", "b"], ["logits"])]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=-1))
    out = "probs" if softmax else "logits"
    graph = helper.make_graph(
        nodes,
        "classifier",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [shape[0], 5])],
        [helper.make_tensor("w", TensorProto.FLOAT, [3, 5], [0.1] * 15), helper.make_tensor("b", TensorProto.FLOAT, [5], [0.0] * 5)],
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize(
    ("config", "steps"),
    [
        ("timm/center_bicubic.json", [{"resize": {"shorter_side": 256, **PIL_BICUBIC}}, {"center_crop": {"size": [224, 224], "rounding": "half_even"}}, {"normalize": IMAGENET}]),
        ("timm/squash_095.json", [{"resize": {"size": [235, 235], **PIL_BILINEAR}}, {"center_crop": {"size": [224, 224], "rounding": "half_even"}}, {"normalize": IMAGENET}]),
    ],
)
def test_timm_configs_map_to_these_steps(config, steps):
    recipe = import_recipe(f"timm:{DATA / config}")
    assert recipe.steps == steps
    assert recipe.input_hw == (224, 224)


@pytest.mark.parametrize(
    ("config", "steps", "hw"),
    [
        ("vit", [{"resize": {"size": [224, 224], **PIL_BILINEAR}}, {"normalize": {"mean": [0.5] * 3, "std": [0.5] * 3, "scale": 0.00392156862745098}}], (224, 224)),
        ("resnet_convnext", [{"resize": {"shorter_side": 256, **PIL_BICUBIC}}, {"center_crop": {"size": [224, 224]}}, {"normalize": IMAGENET}], (224, 224)),
        (
            "clip",
            [
                {"resize": {"shorter_side": 224, **PIL_BICUBIC}},
                {"center_crop": {"size": [224, 224]}},
                {"normalize": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711], "scale": 0.00392156862745098}},
            ],
            (224, 224),
        ),
    ],
)
def test_hf_configs_map_to_these_steps(config, steps, hw):
    recipe = import_recipe(f"hf:{DATA / 'hf' / config / 'preprocessor_config.json'}")
    assert recipe.steps == steps
    assert recipe.input_hw == hw


def test_torchvision_descriptions_map_to_these_steps():
    """The translation half of the torchvision importer, on descriptions as the describer writes them."""
    described = [
        {"type": "Resize", "module": "torchvision.transforms.v2._geometry", "attrs": {"size": [248], "interpolation": "bicubic", "max_size": 360, "antialias": True}},
        {"type": "CenterCrop", "module": "torchvision.transforms.v2._geometry", "attrs": {"size": [224, 224]}},
        {"type": "ToImage", "module": "torchvision.transforms.v2._type_conversion", "attrs": {}},
        {"type": "ToDtype", "module": "torchvision.transforms.v2._misc", "attrs": {"dtype": "torch.float32", "scale": True}},
        {"type": "Normalize", "module": "torchvision.transforms.v2._misc", "attrs": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "inplace": False}},
    ]
    recipe = recipe_from_description(described, "torchvision:x:y")
    assert recipe.steps == [
        {"resize": {"shorter_side": 248, "max_size": 360, **PIL_BICUBIC}},
        {"center_crop": {"size": [224, 224], "rounding": "half_even"}},
        {"normalize": {"mean": [0.5] * 3, "std": [0.5] * 3, "scale": 1 / 255}},
    ]
    attrs = {"crop_size": [224], "resize_size": [232], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}
    preset = [{"type": "ImageClassification", "module": "torchvision.transforms._presets", "attrs": attrs}]
    assert recipe_from_description(preset, "torchvision:x:y").steps == [
        {"resize": {"shorter_side": 232, **PIL_BILINEAR}},
        {"center_crop": {"size": [224, 224], "rounding": "half_even"}},
        {"normalize": {**IMAGENET, "scale": 1 / 255}},
    ]


def _run_init(model: Path, spec: str, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["init", str(model), "--from", spec])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("softmax", [False, True], ids=["logits", "softmax"])
def test_init_from_hf_writes_the_recipe_the_models_names_and_dims(softmax, tmp_path, capsys):
    """A dynamic [batch, 3, h, w] input: the names are the model's, H and W the recipe's, and a graph
    ending in Softmax gets no second one."""
    model = classifier_onnx(tmp_path / "m", ["batch", 3, "height", "width"], softmax)
    code, err = _run_init(model, f"hf:{DATA / 'hf' / 'vit' / 'preprocessor_config.json'}", capsys)
    assert code == 0, err
    text = (model.parent / "edgesdk.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["model"]["inputs"] == [{"name": "pixel_values", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    assert data["model"]["outputs"][0]["name"] == ("probs" if softmax else "logits")
    assert data["preprocess"]["steps"] == [
        {"resize": {"size": [224, 224], **PIL_BILINEAR}},
        {"normalize": {"mean": [0.5] * 3, "std": [0.5] * 3, "scale": 0.00392156862745098}},
        {"layout": "nchw"},
    ]
    post = [next(iter(s)) for s in data["postprocess"]["steps"]]
    assert post == (["topk"] if softmax else ["softmax", "topk"])
    assert "imported from hf:" in text and "precision uint8" in text
    assert main(["validate", "-c", str(model.parent / "edgesdk.yaml")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    "config", ["timm/center_bicubic.json", "timm/squash_095.json", "hf/vit/preprocessor_config.json", "hf/resnet_convnext/preprocessor_config.json", "hf/clip/preprocessor_config.json"]
)
def test_every_importable_config_writes_a_manifest_that_validates(config, tmp_path, capsys):
    model = classifier_onnx(tmp_path / "m", [1, 3, 224, 224], False)
    code, err = _run_init(model, f"{config.split('/')[0]}:{DATA / config}", capsys)
    assert code == 0, err
    assert main(["validate", "-c", str(model.parent / "edgesdk.yaml")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        (f"timm:{DATA / 'timm' / 'border.json'}", "crop_mode: 'border' is not supported"),
        (f"hf:{DATA / 'hf' / 'lanczos' / 'preprocessor_config.json'}", "resample: resampling filter 'lanczos' has no exact equivalent"),
        (f"hf:{DATA / 'hf' / 'unknown_class' / 'preprocessor_config.json'}", "image_processor_type: 'DetrImageProcessor' is not supported"),
        (f"hf:{DATA / 'hf' / 'missing.json'}", "file: not found"),
        (f"timm:{DATA / 'tv_pipelines.py'}", "is not a readable JSON file"),
        ("keras:model.json", "expected torchvision:MODULE:ATTR"),
    ],
)
def test_a_recipe_that_cannot_be_expressed_is_refused_by_name_and_nothing_is_written(spec, named, tmp_path, capsys):
    model = classifier_onnx(tmp_path / "m", [1, 3, 224, 224], False)
    code, err = _run_init(model, spec, capsys)
    assert code == 2, err
    assert named in err
    assert not (model.parent / "edgesdk.yaml").exists()


def test_a_recipe_making_another_size_than_the_models_input_is_refused(tmp_path, capsys):
    model = classifier_onnx(tmp_path / "m", [1, 3, 256, 256], False)
    code, err = _run_init(model, f"hf:{DATA / 'hf' / 'vit' / 'preprocessor_config.json'}", capsys)
    assert code == 2, err
    assert "the recipe makes 224x224 images but the model's input 'pixel_values' is [1, 3, 256, 256]" in err
    assert not (model.parent / "edgesdk.yaml").exists()


def test_torchvision_without_torchvision_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(PYTHON_ENV, raising=False)
    pytest.importorskip("onnx")
    import importlib.util

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision imports here")
    model = classifier_onnx(tmp_path / "m", [1, 3, 224, 224], False)
    code, err = _run_init(model, "torchvision:tv_pipelines:imagenet", capsys)
    assert code == 5, err
    assert PYTHON_ENV in err
    assert not (model.parent / "edgesdk.yaml").exists()


@pytest.mark.reference_libs
@pytest.mark.parametrize(
    ("attr", "named"),
    [
        ("random_crop", "transforms[0] (RandomResizedCrop): torchvision.transforms.transforms.RandomResizedCrop cannot be expressed exactly"),
        ("color_jitter", "transforms[1] (ColorJitter)"),
        ("user_lambda", "transforms[1] (Lambda)"),
        ("lanczos", "transforms[0] (Resize).interpolation: resampling filter 'lanczos' has no exact equivalent"),
        ("no_such_pipeline", "module: cannot load the transform"),
    ],
)
def test_torchvision_transforms_that_cannot_be_expressed_are_refused_by_name(attr, named, tmp_path, capsys, reference_python, monkeypatch):
    monkeypatch.setenv(PYTHON_ENV, str(reference_python))
    monkeypatch.setenv("PYTHONPATH", str(DATA))
    model = classifier_onnx(tmp_path / "m", [1, 3, 224, 224], False)
    code, err = _run_init(model, f"torchvision:tv_pipelines:{attr}", capsys)
    assert code == 2, err
    assert named in err
    assert not (model.parent / "edgesdk.yaml").exists()
