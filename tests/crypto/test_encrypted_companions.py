"""A model of two files (OpenVINO's model.xml + model.bin) encrypted: each file is its own envelope,
bound to its own name, and the C++ SDK opens both in memory. `edgesdk test --key` passes; the two
sealed files swapped, or one file's envelope replaced by the other bundle's, is exit 4."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from edgesdk import api, hosttest
from edgesdk.cli import main

pytestmark = [pytest.mark.cpp, pytest.mark.openvino]


@pytest.fixture(scope="module")
def openvino_bundle(built, tmp_path_factory):
    try:
        hosttest.cpp_package("openvino")
    except Exception as exc:  # BackendUnavailable: no OpenVINO C++ package here
        pytest.skip(str(exc))
    root = tmp_path_factory.mktemp("vault-openvino")
    for f in ("vault.onnx", "labels.txt", "model.key", "edgesdk.yaml"):
        shutil.copy(built.root / f, root / f)
    (root / "model.key").chmod(0o600)
    bundle = api.build(root / "edgesdk.yaml", runtime="openvino", out=root / "dist").bundle
    binary = hosttest.build_sample(bundle, root / "build")
    return bundle, binary, root


def test_both_files_sealed_and_opened(openvino_bundle, capsys):
    bundle, _, root = openvino_bundle
    assert sorted(p.name for p in (bundle / "model").iterdir()) == ["model.bin.enc", "model.xml.enc"]
    assert main(["test", str(bundle), "--key", f"file:{root / 'model.key'}", "--build-dir", str(root / "build")]) == 0
    assert "4 golden cases passed" in capsys.readouterr().out


def test_swapped_files_are_refused(openvino_bundle, tmp_path):
    bundle, binary, root = openvino_bundle
    copy = tmp_path / "swapped"
    shutil.copytree(bundle, copy)
    xml, weights = copy / "model" / "model.xml.enc", copy / "model" / "model.bin.enc"
    xml_bytes = xml.read_bytes()
    xml.write_bytes(weights.read_bytes())
    weights.write_bytes(xml_bytes)
    image = next((copy / "tests" / "golden").glob("*.png"))
    cmd = [str(binary), "--bundle", str(copy), "--input", str(image), "--key-file", str(root / "model.key")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=hosttest.cpp_package("openvino").run_env())
    assert proc.returncode == 4 and "failed authentication" in proc.stderr and proc.stderr.count("\n") == 1
