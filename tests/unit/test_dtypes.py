"""The dtype table (edgesdk/dtypes.py) against the libraries and the generated SDKs it speaks for:
a wrong code there would make a backend misread a model's dtype, or generated code name another
enumerator than it means."""

from __future__ import annotations

import re

import numpy as np
import onnx
import pytest

from edgesdk.dtypes import CAST_DTYPES, DTYPES, TENSOR_DTYPES, codes, names_by
from edgesdk.render import TEMPLATES_DIR

RECORDS = list(DTYPES.values())


@pytest.mark.parametrize("d", RECORDS, ids=lambda d: d.name)
def test_numpy_name_and_onnx_code(d):
    assert np.dtype(d.numpy).name == d.name
    assert onnx.helper.np_dtype_to_tensor_dtype(np.dtype(d.numpy)) == d.onnx


@pytest.mark.parametrize("d", RECORDS, ids=lambda d: d.name)
def test_openvino_type_name(d):
    ov = pytest.importorskip("openvino")
    assert ov.Type(np.dtype(d.numpy)).get_type_name() == d.openvino


@pytest.mark.parametrize("d", RECORDS, ids=lambda d: d.name)
def test_executorch_scalar_type(d):
    pytest.importorskip("executorch")
    import torch
    from executorch.exir.tensor import scalar_type_enum

    assert int(scalar_type_enum(torch.from_numpy(np.zeros(1, d.numpy)).dtype)) == d.executorch


def test_generated_cpp_enumerators_spell_the_same_dtype():
    types_cpp = (TEMPLATES_DIR / "cpp" / "src" / "types.cpp.j2").read_text(encoding="utf-8")
    cpp_names = dict(re.findall(r'case DType::(\w+): return "(\w+)";', types_cpp))  # dtype_name()
    assert cpp_names, "types.cpp.j2 no longer spells dtype_name() as this test reads it"
    for d in RECORDS:
        assert cpp_names.get(d.cpp) == d.name, d


def test_generated_kotlin_constants_spell_the_same_dtype_and_size():
    tensor_kt = next((TEMPLATES_DIR / "kotlin").rglob("Tensor.kt.j2")).read_text(encoding="utf-8")
    enum_body = re.search(r"enum class DType\(val size: Int\) \{([^;]*);", tensor_kt)
    assert enum_body, "Tensor.kt.j2 no longer declares DType as this test reads it"
    sizes = {name: int(size) for name, size in re.findall(r"(\w+)\((\d+)\)", enum_body.group(1))}
    for d in RECORDS:
        assert d.kotlin.lower() == d.name  # DType.id is name.lowercase()
        assert sizes.get(d.kotlin) == np.dtype(d.numpy).itemsize, d


def test_derived_views_keep_the_manifest_order():
    # Error messages list allowed values in this order; the manifest's Literals are built from them.
    assert TENSOR_DTYPES == ("float32", "float16", "uint8", "int8", "int32", "int64")
    assert CAST_DTYPES == ("float32", "float16", "uint8", "int8")
    assert names_by("onnx") == {1: "float32", 10: "float16", 2: "uint8", 3: "int8", 6: "int32", 7: "int64"}
    assert codes("numpy", CAST_DTYPES)["uint8"] is np.uint8
