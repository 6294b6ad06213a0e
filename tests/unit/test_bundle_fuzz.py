"""Hostile bundles and model files: `edgesdk verify` and `edgesdk inspect` end in a documented
exit code and one line for any sdk.json, SHA256SUMS or model bytes, never a traceback, and never
read outside the bundle."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_manifest_fuzz import FUZZ, run_cli

SDK_KEYS = st.sampled_from(["name", "version", "model", "file", "sha256", "companions", "schema_version", "io"]) | st.text(max_size=8)
pytestmark = pytest.mark.fuzz
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SDK_KEYS, inner, max_size=6),
    max_leaves=20,
)
SUMS_LINES = st.lists(
    st.one_of(
        st.text(max_size=80),
        st.builds(lambda d, p: f"{d}  {p}", st.text("0123456789abcdef", min_size=64, max_size=64), st.sampled_from(["sdk.json", "../outside", "/etc/passwd", "model/../../x", "model/model.onnx", ""])),
    ),
    max_size=5,
)


@FUZZ
@given(sdk=JSON, sums=SUMS_LINES, model=st.binary(max_size=64))
def test_verify_any_bundle_exits_cleanly(tmp_path_factory, sdk, sums, model):
    bundle = tmp_path_factory.mktemp("bundle")
    (bundle / "sdk.json").write_text(json.dumps(sdk), encoding="utf-8")
    (bundle / "SHA256SUMS").write_text("\n".join(sums), encoding="utf-8")
    (bundle / "model").mkdir()
    (bundle / "model" / "model.onnx").write_bytes(model)
    code, output = run_cli(["verify", str(bundle)])
    assert "Traceback" not in output and "internal error" not in output, output
    assert code in (2, 4), output  # no random bundle is intact


@pytest.mark.parametrize("line", ["{digest}  ../secret", "{digest}  /etc/hostname", "{digest}  model/../../secret"])
def test_checksums_never_name_files_outside_the_bundle(tmp_path, line):
    import hashlib

    secret = tmp_path / "secret"
    secret.write_text("not part of the bundle")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "sdk.json").write_text("{}", encoding="utf-8")
    (bundle / "SHA256SUMS").write_text(line.format(digest=hashlib.sha256(secret.read_bytes()).hexdigest()) + "\n", encoding="utf-8")
    code, output = run_cli(["verify", str(bundle)])
    assert code == 4 and "outside the bundle" in output, output


@FUZZ
@given(data=st.binary(max_size=256), suffix=st.sampled_from([".onnx", ".pt", ".pt2"]), zip_header=st.booleans())
def test_inspect_any_model_bytes_exits_cleanly(tmp_path_factory, data, suffix, zip_header):
    path = tmp_path_factory.mktemp("model") / f"model{suffix}"
    path.write_bytes((b"PK\x03\x04" if zip_header else b"") + data)
    code, output = run_cli(["inspect", str(path)])
    assert "Traceback" not in output and "internal error" not in output, output
    assert code == 2, output
