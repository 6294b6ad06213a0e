"""Tiny ONNX models for the C++ SDK tests, built with onnx.helper (deterministic weights)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_ELEM = {"float32": TensorProto.FLOAT, "uint8": TensorProto.UINT8, "float16": TensorProto.FLOAT16, "int8": TensorProto.INT8}


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def tiny_net(height: int | None, width: int | None, *, layout: str = "nchw", input_dtype: str = "float32", classes: int = 5, head: str = "classify", input_name: str = "image", seed: int = 0) -> bytes:
    """Conv(3->4, 3x3) -> Relu, then either GlobalAveragePool -> Gemm (`classify`, output [1, classes])
    or a 1x1 conv map (`map`, output [1, 2, H-2, W-2]). Inputs of other layouts/dtypes are
    converted inside the graph so the same weights serve every pre-processing variant; a None
    height/width makes that input axis dynamic."""
    rng = np.random.default_rng(seed)
    h, w = height or "height", width or "width"
    shape = [1, 3, h, w] if layout == "nchw" else [1, h, w, 3]
    nodes, inits = [], []
    x = input_name
    if input_dtype != "float32":
        nodes.append(helper.make_node("Cast", [x], ["as_float"], to=TensorProto.FLOAT))
        x = "as_float"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", [x], ["as_nchw"], perm=[0, 3, 1, 2]))
        x = "as_nchw"
    inits += [_init("conv_w", rng.normal(0, 0.3, (4, 3, 3, 3))), _init("conv_b", rng.normal(0, 0.1, (4,)))]
    nodes += [helper.make_node("Conv", [x, "conv_w", "conv_b"], ["conv"]), helper.make_node("Relu", ["conv"], ["relu"])]
    if head == "classify":
        inits += [_init("fc_w", rng.normal(0, 0.5, (classes, 4))), _init("fc_b", rng.normal(0, 0.1, (classes,)))]
        nodes += [
            helper.make_node("GlobalAveragePool", ["relu"], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"]),
            helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        ]
        output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, classes])
    else:
        inits += [_init("map_w", rng.normal(0, 0.5, (2, 4, 1, 1))), _init("map_b", rng.normal(0, 0.1, (2,)))]
        nodes.append(helper.make_node("Conv", ["relu", "map_w", "map_b"], ["map"]))
        output = helper.make_tensor_value_info("map", TensorProto.FLOAT, [1, 2, None, None])
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(input_name, _ELEM[input_dtype], shape)], [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
