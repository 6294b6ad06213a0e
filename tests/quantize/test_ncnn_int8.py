"""ncnn int8 (edgesdk/quantize/ncnn.py): the table ncnn2table computes and the int8 model ncnn2int8
writes, held to ncnn itself: the int8 weights equal what ncnn's own runtime quantization makes of
the float weights with the same scales (bit-identical outputs), the KL search equals a line-by-line
transcription of ncnn2table's, and the bundle's C++ SDK (linked against the ncnn library) gives the
golden answers of the Python ncnn run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import skip_unless_runtime
from test_quantization import quant_manifest, write_calibration

from edgesdk import api, hosttest
from edgesdk.cli import main
from edgesdk.errors import UnsupportedOpError
from edgesdk.quantize import ncnn as q

pytestmark = pytest.mark.ncnn
CALIB = {"data": "calib", "samples": 8, "method": "entropy"}


@pytest.fixture(scope="module")
def need_ncnn():
    skip_unless_runtime("ncnn")


@pytest.fixture(scope="module")
def bundles(need_ncnn, example_models, tmp_path_factory):
    """The example for arm/ncnn: (int8 with entropy calibration, float)."""
    import shutil

    import yaml

    root = tmp_path_factory.mktemp("ncnn-int8")
    shutil.copytree(example_models, root / "project")
    write_calibration(root / "project" / "calib", 8)
    int8 = root / "project" / "edgesdk.yaml"
    int8.write_text(yaml.safe_dump(quant_manifest({"mode": "int8", "calibration": CALIB})))
    floating = root / "project" / "float.yaml"
    floating.write_text(yaml.safe_dump(quant_manifest({"mode": "none"})))
    return tuple(api.build(m, target="arm", runtime="ncnn", out=root / name).bundle for m, name in ((int8, "int8"), (floating, "float")))


@pytest.fixture(scope="module")
def int8_bundle(bundles):
    return bundles[0]


def _run(param, image: np.ndarray) -> np.ndarray:
    """The model's output blob, run in ncnn with the SDK's options."""
    return q.blob_values(param, ["out0"], [image], "in0")["out0"][0]


def test_int8_bundle_holds_int8_layers_a_quarter_of_the_size_and_the_table(int8_bundle):
    _, layers = q.read_layers(int8_bundle / "model" / "model.ncnn.param")
    # Convolutions feeding convolutions hand them int8 (ncnn2int8's requantize fusion: 2 + 100).
    assert {layer.name: layer.params.get("8") for layer in layers if layer.kind in q.QUANTIZABLE} == {"convrelu_0": "102", "convrelu_1": "102", "convrelu_2": "2", "linear_7": "2"}
    report = json.loads((int8_bundle / "reports" / "quantization.json").read_text())
    assert report["ncnn_requantize"] == {"convrelu_0": "convrelu_1", "convrelu_1": "convrelu_2"}
    assert report["passed"] and report["size_ratio"] < 0.3 and report["calibration"]["method"] == "entropy"
    assert set(report["ncnn_table"]) == {"convrelu_0", "convrelu_1", "convrelu_2", "linear_7"}
    text = report["ncnn_table_text"].splitlines()
    assert text[0].startswith("convrelu_0_param_0 ") and len(text[0].split()) == 1 + 16 and text[4].split()[0] == "convrelu_0"
    sdk = json.loads((int8_bundle / "sdk.json").read_text())
    assert sdk["quantization"]["mode"] == "int8"


def test_int8_weights_equal_ncnns_own_quantization_of_the_float_weights(bundles, tmp_path):
    """ncnn quantizes float32 weights itself when a layer has int8 scales (Convolution::load_model):
    a model with the float weights and our scales must compute exactly what ours computes."""
    int8_bundle, float_bundle = bundles
    ours = int8_bundle / "model" / "model.ncnn.param"
    _, layers = q.read_layers(ours)
    float_param = float_bundle / "model" / "model.ncnn.param"
    blobs = q.read_weights(float_param.with_suffix(".bin"), layers)
    report = json.loads((int8_bundle / "reports" / "quantization.json").read_text())
    table, requantize = report["ncnn_table"], report["ncnn_requantize"]
    parts = []
    for layer in layers:
        for blob in blobs[layer.name]:
            parts += [bytes(4)] if blob.kind == "w" else []
            parts.append(blob.data.astype("<f4").tobytes())
        if layer.name in table:
            parts += [np.asarray(table[layer.name]["weight_scales"], "<f4").tobytes(), np.float32(table[layer.name]["input_scale"]).tobytes()]
        if layer.name in requantize:  # the output scale: the consumer's input scale
            parts.append(np.float32(table[requantize[layer.name]]["input_scale"]).tobytes())
    runtime_quantized = tmp_path / "runtime.param"
    runtime_quantized.write_text(ours.read_text())
    runtime_quantized.with_suffix(".bin").write_bytes(b"".join(parts))
    rng = np.random.default_rng(3)
    for _ in range(4):
        image = rng.normal(0, 1.5, (3, 224, 224)).astype(np.float32)
        np.testing.assert_array_equal(_run(ours, image), _run(runtime_quantized, image))
        assert not np.array_equal(_run(ours, image), _run(float_param, image))  # int8 really ran


def test_the_bundles_cpp_sdk_gives_the_golden_answers(int8_bundle, tmp_path):
    from toolchains import need

    need(hosttest.toolchain_problem())
    report = hosttest.test_bundle(int8_bundle, tmp_path / "build")
    assert report.passed, report.as_dict()


def _layer(kind: str, name: str, bottoms: list[str], tops: list[str]) -> q.Layer:
    return q.Layer(kind, name, bottoms, tops)


def test_requantize_pairs_follow_ncnn2int8s_rules():
    """Conv -> conv, conv -> Split -> only int8 convs: fused (with the first consumer's scale).
    A Split with any other consumer, a float consumer, a non-conv producer or consumer: not."""
    graph = [
        _layer("Input", "in", [], ["x"]),
        _layer("Convolution", "a", ["x"], ["a"]),
        _layer("ConvolutionDepthWise", "b", ["a"], ["b"]),  # a -> b directly
        _layer("Split", "s", ["b"], ["b0", "b1"]),  # b -> split -> c, d
        _layer("Convolution", "c", ["b0"], ["c"]),
        _layer("Convolution", "d", ["b1"], ["d"]),
        _layer("Split", "t", ["c"], ["c0", "c1"]),  # c -> split -> e, pool: not all convs
        _layer("Convolution", "e", ["c0"], ["e"]),
        _layer("Pooling", "p", ["c1"], ["p"]),
        _layer("Convolution", "f", ["d"], ["f"]),  # d -> f, f left float below
        _layer("InnerProduct", "g", ["e"], ["g"]),  # e -> inner product: not a conv
    ]
    int8 = {"a", "b", "c", "d", "e", "g"}
    assert q.requantize_pairs(graph, int8) == {"a": "b", "b": "c"}
    assert q.requantize_pairs(graph, int8 | {"f"}) == {"a": "b", "b": "c", "d": "f"}
    assert q.requantize_pairs(graph, int8 - {"d"}) == {"a": "b"}  # one Split consumer float


def _kl_as_ncnn2table(histogram: np.ndarray) -> int:
    """ncnn2table's quantize_KL threshold search, transcribed loop by loop in float32."""
    f32 = np.float32
    normed = [f32(v / float(histogram.sum())) for v in histogram]
    best, best_kl = 128, math.inf
    for threshold in range(128, 2048):
        clip = [f32(0.0001) + normed[j] for j in range(threshold)]
        for j in range(threshold, 2048):
            clip[threshold - 1] += normed[j]
        per = f32(threshold) / f32(128)
        qd = [f32(0)] * 128
        ex = [f32(0.0001)] * threshold
        for j in range(128):
            start, end = f32(j) * per, (f32(j + 1) * per if j < 127 else f32(threshold))
            left_upper, right_lower = math.ceil(start), min(math.floor(end), threshold)
            left, right = f32(left_upper - start), f32(end - right_lower)
            if left > 0:
                qd[j] += left * normed[left_upper - 1]
            if right > 0 and right_lower < threshold:
                qd[j] += right * normed[right_lower]
            for k in range(left_upper, right_lower):
                qd[j] += normed[k]
            qd[j] /= f32(right_lower - left_upper) + left + (right if right_lower < threshold else 0)
            if left > 0:
                ex[left_upper - 1] += left * qd[j]
            if right > 0 and right_lower < threshold:
                ex[right_lower] += right * qd[j]
            for k in range(left_upper, right_lower):
                ex[k] += qd[j]
        kl = sum(a * math.log(a / b) for a, b in zip(clip, ex, strict=True))
        if kl < best_kl:
            best, best_kl = threshold, kl
    return best


@pytest.mark.slow
def test_kl_search_equals_ncnn2tables():
    rng = np.random.default_rng(5)
    shapes = [np.abs(rng.normal(0, 1, 200_000)), rng.exponential(1.0, 200_000), np.abs(rng.standard_t(3, 200_000))]
    for values in shapes:
        bins = np.minimum((values / values.max() * 2048).astype(np.int64), 2047)
        histogram = np.bincount(bins, minlength=2048)
        assert q.kl_threshold_bin(histogram) == _kl_as_ncnn2table(histogram)


def test_weight_scales_per_channel_and_6_bit_for_3x3_stride_1():
    weights = np.arange(1, 2 * 4 * 9 + 1, dtype=np.float32) * np.repeat([1.0, -2.0], 36).astype(np.float32)
    three = q.Layer("Convolution", "c", ["a"], ["b"], {"0": "2", "1": "3", "6": "72"})
    strided = q.Layer("Convolution", "c", ["a"], ["b"], {"0": "2", "1": "3", "3": "2", "6": "72"})
    np.testing.assert_allclose(q.weight_scales(three, weights), [31 / 36, 31 / 144], rtol=1e-7)
    np.testing.assert_allclose(q.weight_scales(strided, weights), [127 / 36, 127 / 144], rtol=1e-7)
    depthwise = q.Layer("ConvolutionDepthWise", "d", ["a"], ["b"], {"0": "4", "1": "3", "6": "36", "7": "4"})
    assert q.weight_scales(depthwise, weights[:36]).shape == (4,)
    # ncnn's float2int8: halves away from zero, clamped to 127.
    np.testing.assert_array_equal(q.quantize_weights(np.array([0.5, -0.5, 1.5, -2.5, 300.0], np.float32), np.array([1.0], np.float32)), [1, -1, 2, -3, 127])


def test_a_bin_with_weights_edgesdk_cannot_place_is_refused_naming_the_layer_types(tmp_path):
    param = tmp_path / "m.param"
    param.write_text("7767517\n3 3\nInput in0 0 1 in0\nInnerProduct fc 1 1 in0 a 0=2 1=0 2=4\nMysteryOp m 1 1 a out0\n")
    _, layers = q.read_layers(param)
    param.with_suffix(".bin").write_bytes(bytes(4) + np.ones(4, "<f4").tobytes() + np.ones(3, "<f4").tobytes())
    with pytest.raises(UnsupportedOpError, match="12 bytes of weights edgesdk cannot place; layer types without known weights: MysteryOp"):
        q.read_weights(param.with_suffix(".bin"), layers)


def test_int8_dynamic_is_refused_naming_ncnns_modes(need_ncnn, project, tmp_path, capsys):
    assert main(["build", "-c", str(project(quant_manifest({"mode": "int8-dynamic"}))), "--target", "arm", "--runtime", "ncnn", "--out", str(tmp_path / "d")]) == 2
    assert "'int8-dynamic' is not supported for runtime 'ncnn' (supported: fp16, int8)" in capsys.readouterr().err
