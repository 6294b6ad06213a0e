"""Bundle -> generated C++ SDK compiled from the bundle alone -> run on unseen photos, checked
against an independent Python reference (OpenCV + eager PyTorch), and `edgesdk test`."""

from __future__ import annotations

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from toolchains import need
from torch import nn

from edgesdk import api, benchmark, hosttest
from edgesdk.cli import main
from edgesdk.golden import SAMPLE_IMAGES_DIR

pytestmark = pytest.mark.cpp


def _need_toolchain():
    need(hosttest.toolchain_problem())
    try:
        hosttest.cpp_package("onnxruntime")
    except Exception as exc:  # BackendUnavailable: the C++ package is not fetched
        need(str(exc))


class OtherNet(nn.Module):
    """Not the example: other widths, a depthwise conv, hardswish, dropout, 11 classes."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 24, 5, stride=2, padding=2),
            nn.BatchNorm2d(24),
            nn.Hardswish(),
            nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24),
            nn.BatchNorm2d(24),
            nn.ReLU6(),
            nn.Conv2d(24, 48, 1),
            nn.BatchNorm2d(48),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(48, 11),
        )

    def forward(self, x):
        return self.body(x)


def other_net(seed: int) -> OtherNet:
    """An OtherNet with non-trivial BatchNorm statistics, as a trained network has."""
    torch.manual_seed(seed)
    model = OtherNet().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
    return model


def other_net_manifest(name: str, version: str, source: str) -> dict:
    """OtherNet's manifest: shorter side to 160, centre crop 144, ImageNet normalization, top-5."""
    return {
        "schema_version": 1,
        "name": name,
        "version": version,
        "model": {"source": source, "inputs": [{"name": "pixels", "shape": [1, 3, 144, 144]}], "outputs": [{"name": "scores", "shape": [1, 11]}]},
        "task": "classification",
        "preprocess": {
            "input_color": "rgb",
            "steps": [
                {"resize": {"size": [160, 160], "interpolation": "bilinear", "keep_ratio": True}},
                {"center_crop": {"size": [144, 144]}},
                {"normalize": {"mean": MEAN.tolist(), "std": STD.tolist()}},
                {"layout": "nchw"},
            ],
        },
        "postprocess": {"steps": [{"softmax": {"axis": -1}}, {"topk": {"k": 5}}], "labels": "labels.txt"},
    }


MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def _independent_reference(model: nn.Module, rgb: np.ndarray) -> np.ndarray:
    """Resize the shorter side to 160 (OpenCV INTER_LINEAR on float32), centre crop 144,
    normalize, eager PyTorch: written from docs/processing.md, not from edgesdk's code."""
    h, w = rgb.shape[:2]
    s = max(160 / h, 160 / w)
    nh, nw = int(np.floor(h * s + 0.5)), int(np.floor(w * s + 0.5))
    resized = cv2.resize(rgb.astype(np.float32), (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = (nh - 144) // 2, (nw - 144) // 2
    crop = resized[top : top + 144, left : left + 144]
    x = ((crop - MEAN) / STD).transpose(2, 0, 1)[None]
    with torch.no_grad():
        return model(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def _unseen_photos(folder):
    """JPEGs the bundle never saw: re-cropped, rescaled, re-encoded sample photos."""
    folder.mkdir()
    paths = []
    for i, src in enumerate(sorted(SAMPLE_IMAGES_DIR.glob("*.png"))):
        img = Image.open(src).convert("RGB")
        w, h = img.size
        img = img.crop((w // 7, h // 9, w - w // 11, h)).resize((int(w * 1.7) + i, int(h * 1.3)), Image.BICUBIC)
        path = folder / f"photo{i}.jpg"
        img.save(path, quality=70 + 7 * i)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def unseen_model_bundles(tmp_path_factory):
    _need_toolchain()
    root = tmp_path_factory.mktemp("unseen")
    model = other_net(seed=7)
    example = torch.zeros(1, 3, 144, 144)
    torch.jit.script(model).save(str(root / "net.pt"))
    torch.onnx.export(model, (example,), str(root / "net.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["pixels"], output_names=["scores"], verbose=False)
    labels = [f'class "{i}" ✓' for i in range(11)]
    (root / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    bundles = {}
    for source in ("net.pt", "net.onnx"):
        manifest = other_net_manifest("unseen-net", f"2.0.{len(bundles)}", source)
        path = root / f"{source}.yaml"
        path.write_text(yaml.safe_dump(manifest, allow_unicode=True), encoding="utf-8")
        result = api.build(path, target="x86", out=root / "dist")
        # Only the bundle travels: copy it away from everything else before building its app.
        shipped = root / "shipped" / result.bundle.name
        shutil.copytree(result.bundle, shipped)
        binary = hosttest.build_sample(shipped, root / "build" / source)
        bundles[source] = (shipped, binary)
    return model, labels, bundles, _unseen_photos(root / "photos")


@pytest.mark.parametrize("source", ["net.pt", "net.onnx"])
def test_cpp_sample_matches_independent_reference_on_unseen_photos(unseen_model_bundles, source, tmp_path):
    model, labels, bundles, photos = unseen_model_bundles
    bundle, binary = bundles[source]
    for photo in photos:
        dump = tmp_path / photo.stem
        dump.mkdir()
        printed = hosttest.run_sample(binary, bundle, photo, dump)
        meta = json.loads((dump / "dump.json").read_text())
        logits = hosttest.read_dump(dump, meta["outputs"][0])
        rgb = np.asarray(Image.open(photo).convert("RGB"))
        want = _independent_reference(model, rgb)
        assert np.max(np.abs(logits - want)) <= 1e-4, photo.name
        probs = torch.softmax(torch.from_numpy(want), -1)[0].numpy()
        want_top5 = [int(i) for i in np.argsort(-probs, kind="stable")[:5]]
        got = printed["result"]["classifications"]
        assert [c["index"] for c in got] == want_top5, photo.name
        assert [c["label"] for c in got] == [labels[i] for i in want_top5]
        assert np.allclose([c["score"] for c in got], probs[want_top5], atol=1e-5)


def test_edgesdk_test_passes_and_catches_a_wrong_golden_file(unseen_model_bundles, tmp_path, capsys):
    _, _, bundles, _ = unseen_model_bundles
    bundle = tmp_path / "b"
    shutil.copytree(bundles["net.pt"][0], bundle)
    assert main(["test", str(bundle), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and len(report["cases"]) >= 3
    assert all(c["outputs_max_abs"]["scores"] <= 1e-4 for c in report["cases"])

    # Change a golden pre-processed tensor, a golden raw output and a golden label order, one case
    # each (and re-sign SHA256SUMS so only the comparison can catch them): each must be reported.
    gdir = bundle / "tests/golden"
    index = json.loads((gdir / "index.json").read_text())
    pre_case, out_case, result_case = index["cases"][:3]
    tensor = np.load(gdir / pre_case["preprocessed"])
    tensor[0, 0, 10, 10] += 0.01
    np.save(gdir / pre_case["preprocessed"], tensor)
    output = gdir / out_case["outputs"]["scores"]
    logits = np.load(output)
    logits[0, 4] += 0.01
    np.save(output, logits)
    top = result_case["result"]["classifications"]
    top[0], top[1] = top[1], top[0]
    (gdir / "index.json").write_text(json.dumps(index))
    from edgesdk.bundle import write_checksums

    write_checksums(bundle)
    assert main(["test", str(bundle)]) == 3
    err = capsys.readouterr().err
    assert f"{pre_case['id']}: preprocessed" in err
    assert f"{out_case['id']}: output scores" in err
    assert f"{result_case['id']}: result[0]" in err


def test_edgesdk_test_refuses_a_tampered_bundle(unseen_model_bundles, tmp_path, capsys):
    _, _, bundles, _ = unseen_model_bundles
    bundle = tmp_path / "b"
    shutil.copytree(bundles["net.onnx"][0], bundle)
    with open(bundle / "model" / "model.onnx", "ab") as f:
        f.write(b"\0")
    assert main(["test", str(bundle)]) == 4
    assert "model/model.onnx" in capsys.readouterr().err


def test_sample_refuses_a_model_that_does_not_match_sdk_json(unseen_model_bundles, tmp_path):
    """The generated glue checks the model's sha256 itself, not only `edgesdk verify`."""
    _, _, bundles, photos = unseen_model_bundles
    bundle, binary = bundles["net.onnx"]
    copy = tmp_path / "b"
    shutil.copytree(bundle, copy)
    shutil.copy(bundles["net.pt"][0] / "model" / "model.onnx", copy / "model" / "model.onnx")
    proc = subprocess.run([str(binary), "--bundle", str(copy), "--input", str(photos[0]), "--json"], capture_output=True, text=True, env=hosttest.cpp_package("onnxruntime").run_env())
    same = (bundle / "model/model.onnx").read_bytes() == (copy / "model/model.onnx").read_bytes()
    if same:
        pytest.skip("both exports are byte-identical")
    assert proc.returncode == 4
    assert "sha256" in proc.stderr.lower() or "integrity" in proc.stderr.lower()


def test_bench_reports_ratios_against_a_bare_session_and_the_roofline(unseen_model_bundles, capsys, tmp_path):
    _, _, bundles, _ = unseen_model_bundles
    chart = tmp_path / "roofline.png"
    assert main(["bench", str(bundles["net.onnx"][0]), "--runs", "5", "--roofline-png", str(chart)]) == 0
    report = json.loads(capsys.readouterr().out)
    ratios = report["ratios"]
    assert report["bare_session_ms"] > 0 and report["cpp_sdk_ms"]["e2e"] >= report["cpp_sdk_ms"]["infer"]
    assert 0 < report["cpp_sdk_cpu_ms"]["infer"] <= report["cpp_sdk_cpu_ms"]["e2e"]
    assert all(np.isfinite(v) and v > 0 for v in ratios.values())
    roof = report["roofline"]
    assert roof["precision"] == "float32" and roof["peak_gops"] > 0 and roof["copy_bandwidth_gbs"] > 0
    assert roof["model"]["operations_by_kind"]["Convolution"] > 0 and roof["floor_ms"] > 0
    stages = {s["name"]: s for s in roof["stages"]}
    assert stages["infer"]["ms"] == report["cpp_sdk_ms"]["infer"] and stages["infer"]["bound"] in ("compute", "memory")
    assert stages["preprocess"]["achieved_gbs"] > 0 and stages["preprocess"]["operations"] is None
    assert chart.read_bytes()[:4] == b"\x89PNG" and roof["chart"] == str(chart)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_int8_bundle_runs_in_the_cpp_sdk_like_its_golden_vectors(runtime, project, tmp_path):
    """Quantized kernels of the C++ runtime package must agree with the Python runtime's."""
    _need_toolchain()
    if runtime == "openvino":
        pytest.importorskip("openvino", reason="pip install 'edgesdk[openvino]'")
    from conftest import example_manifest_dict

    calib = project.folder / "calib"
    calib.mkdir()
    for i, src in enumerate(sorted(SAMPLE_IMAGES_DIR.glob("*.png"))):
        img = Image.open(src).convert("RGB")
        w, h = img.size
        for j, box in enumerate([(0, 0, w, h), (w // 4, 0, w, h * 3 // 4), (0, h // 5, w * 2 // 3, h)]):
            img.crop(box).save(calib / f"{i}_{j}.png")
    data = example_manifest_dict()
    data["runtime"] = runtime
    data["quantization"] = {"mode": "int8", "calibration": {"data": "calib", "samples": 12, "method": "minmax"}}
    result = api.build(project(data), out=tmp_path / "dist")
    assert json.loads((result.bundle / "sdk.json").read_text())["quantization"]["mode"] == "int8"
    report = api.test(result.bundle, build_dir=tmp_path / "build")
    assert report["passed"]
    assert all(max(c["outputs_max_abs"].values()) <= 1e-4 for c in report["cases"])
    # Its roofline: against the machine's int8 peak, at least the runtime's own probe, and within
    # what the vector units allow (the clock the peak implies at their rate is a real one).
    roof = benchmark.bench_bundle(result.bundle, runs=3, build_dir=tmp_path / "build")["roofline"]
    infer = next(s for s in roof["stages"] if s["name"] == "infer")
    assert roof["precision"] == "int8" and 0 < infer["percent_of_peak"] < 100, infer
    assert roof["peak_gops"] == max(roof["probes_gops"].values()) >= roof["runtime_peak_gops"] > 0
    assert roof["isa"]["implied_clock_ghz"] is None or roof["isa"]["implied_clock_ghz"] < 6.0
