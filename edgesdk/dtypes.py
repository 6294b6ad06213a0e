"""Tensor element types: one record per dtype, and every per-runtime mapping derived from it.

A dtype is named as numpy, the manifest and sdk.json spell it (`float32`, `uint8`, ...). Each
runtime and each generated language has its own code for it; they all live here, so adding a
dtype or a runtime is one edit (tests/unit/test_dtypes.py checks the codes against the real
libraries and the generated SDK's enums).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DType:
    name: str
    numpy: type[np.generic]
    onnx: int  # onnx.TensorProto.DataType (ONNX Runtime's element type)
    openvino: str  # ov.element.Type.get_type_name()
    executorch: int  # c10::ScalarType code, as ExecuTorch's TensorInfo.dtype() gives it
    cpp: str  # enumerator of the generated C++ `enum class DType`
    kotlin: str  # constant of the generated Kotlin `enum class DType`
    tensor: bool  # a manifest may declare it for a model input or output
    cast: bool  # a `cast` pre-processing step may produce it


DTYPES: dict[str, DType] = {
    d.name: d
    for d in (
        DType("float32", np.float32, 1, "f32", 6, "Float32", "FLOAT32", tensor=True, cast=True),
        DType("float16", np.float16, 10, "f16", 5, "Float16", "FLOAT16", tensor=True, cast=True),
        DType("uint8", np.uint8, 2, "u8", 0, "UInt8", "UINT8", tensor=True, cast=True),
        DType("int8", np.int8, 3, "i8", 1, "Int8", "INT8", tensor=True, cast=True),
        DType("int32", np.int32, 6, "i32", 3, "Int32", "INT32", tensor=True, cast=False),
        DType("int64", np.int64, 7, "i64", 4, "Int64", "INT64", tensor=True, cast=False),
        DType("bool", np.bool_, 9, "boolean", 11, "Bool", "BOOL", tensor=False, cast=False),
    )
}

# In table order: error messages list the allowed values in this order.
TENSOR_DTYPES: tuple[str, ...] = tuple(name for name, d in DTYPES.items() if d.tensor)
CAST_DTYPES: tuple[str, ...] = tuple(name for name, d in DTYPES.items() if d.cast)


def names_by(code: str, names: Iterable[str] = TENSOR_DTYPES) -> dict[Any, str]:
    """A runtime's code -> dtype name, e.g. `names_by("onnx")[1] == "float32"`; `code` is a DType field."""
    return {getattr(DTYPES[name], code): name for name in names}


def codes(code: str, names: Iterable[str] = TENSOR_DTYPES) -> dict[str, Any]:
    """Dtype name -> a runtime's or language's code, e.g. `codes("numpy")["uint8"] is np.uint8`."""
    return {name: getattr(DTYPES[name], code) for name in names}
