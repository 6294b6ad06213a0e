"""The encrypted bundle the tests of tests/crypto share: a model that is not in the repo (seeded
weights, built with onnx.helper), a model key, a signing pair; bundle A (signed) and bundle B (the
same model and key, another version: its sealed model must not open in A's SDK)."""

from __future__ import annotations

import json

import numpy as np
import yaml
from onnx import TensorProto, helper, numpy_helper

from edgesdk import api
from edgesdk.crypto import keys, signing

NAME, VERSION = "vault-net", "3.1.0"


def vault_net() -> tuple[bytes, list[np.ndarray]]:
    """Conv(3->8, 3x3) -> Relu -> GlobalAveragePool -> Gemm(8->7), seeded weights; returns the ONNX
    bytes and the float weights."""
    rng = np.random.default_rng(1234)
    weights = [
        rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32),
        rng.normal(0, 0.1, (8,)).astype(np.float32),
        rng.normal(0, 0.5, (7, 8)).astype(np.float32),
        rng.normal(0, 0.1, (7,)).astype(np.float32),
    ]
    names = ["conv_w", "conv_b", "fc_w", "fc_b"]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["pixels", "conv_w", "conv_b"], ["conv"]),
            helper.make_node("Relu", ["conv"], ["relu"]),
            helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"]),
            helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["scores"], transB=1),
        ],
        "vault",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 7])],
        [numpy_helper.from_array(w, n) for w, n in zip(weights, names)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString(), weights


def manifest(version: str = VERSION, key: str | None = "file:model.key", enabled: bool = True) -> dict:
    data = {
        "schema_version": 1,
        "name": NAME,
        "version": version,
        "model": {"source": "vault.onnx", "inputs": [{"name": "pixels", "shape": [1, 3, 64, 64]}], "outputs": [{"name": "scores", "shape": [1, 7]}]},
        "task": "classification",
        "preprocess": {
            "input_color": "rgb",
            "steps": [
                {"resize": {"size": [72, 72], "interpolation": "bilinear", "keep_ratio": True}},
                {"center_crop": {"size": [64, 64]}},
                {"normalize": {"mean": [127.5, 127.5, 127.5], "std": [64.0, 64.0, 64.0]}},
                {"layout": "nchw"},
            ],
        },
        "postprocess": {"steps": [{"softmax": {"axis": -1}}, {"topk": {"k": 3}}], "labels": "labels.txt"},
        "target": "x86",
        "encryption": {"enabled": enabled, **({"key": key} if key else {})},
    }
    return data


def write_manifest(folder, data, name="edgesdk.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class Built:
    """The module's builds: bundle A (signed), bundle B (the same model, another version)."""

    def __init__(self, root):
        self.root = root
        self.model_bytes, self.weights = vault_net()
        (root / "vault.onnx").write_bytes(self.model_bytes)
        (root / "labels.txt").write_text("\n".join(f"vault {i}" for i in range(7)) + "\n", encoding="utf-8")
        self.key_path = root / "model.key"
        keys.write_key_file(self.key_path, keys.generate_key())
        self.key = self.key_path.read_bytes()
        self.sign_key = root / "signer"
        signing.generate_pair(self.sign_key, root / "signer.pub")
        self.pubkey = root / "signer.pub"
        self.manifest = write_manifest(root, manifest())
        self.result = api.build(self.manifest, out=root / "dist", sign_key=self.sign_key)
        self.bundle = self.result.bundle
        self.other = api.build(write_manifest(root, manifest("3.1.1"), "other.yaml"), out=root / "dist").bundle
        self.sdk = json.loads((self.bundle / "sdk.json").read_text(encoding="utf-8"))
