"""The shared encrypted bundle (vault_bundle.py, built once): what the bundle holds (no model in
clear, no key anywhere), sdk.json's record, reproducibility, signatures, and the manifest's
refusals. The C++ SDK's decryption is in test_encrypted_cpp.py."""

from __future__ import annotations

import base64
import hashlib
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgesdk import api
from edgesdk import bundle as bundle_mod
from edgesdk.cli import main
from edgesdk.crypto import envelope, keys, signing
from edgesdk.crypto.envelope import Binding

from .vault_bundle import NAME, VERSION, Built, manifest, write_manifest


def sealed_model(built: Built) -> bytes:
    return (built.bundle / built.sdk["model"]["file"]).read_bytes()


def test_model_is_sealed_and_recorded(built):
    model = built.sdk["model"]
    assert model["file"] == "model/model.onnx.enc" and model["encrypted"] is True
    assert sorted(p.name for p in (built.bundle / "model").iterdir()) == ["model.onnx.enc"]
    record = model["encryption"]
    assert record["format"] == envelope.FORMAT_NAME
    assert record["key_id"] == model["key_id"] == keys.key_id(built.key).hex()
    assert record["aad"] == {"name": NAME, "version": VERSION, "target": "x86", "runtime": "onnxruntime", "file": "model.onnx.enc"}
    data = sealed_model(built)
    assert record["ciphertext_sha256"] == model["sha256"] == hashlib.sha256(data).hexdigest()
    plaintext = envelope.open_sealed(built.key, data, Binding(**record["aad"]))
    assert hashlib.sha256(plaintext).hexdigest() == record["plaintext_sha256"]
    # The plaintext is the converted model: ONNX Runtime runs it, with the weights the source has.
    session = ort.InferenceSession(plaintext, providers=["CPUExecutionProvider"])
    assert session.run(None, {"pixels": np.zeros((1, 3, 64, 64), np.float32)})[0].shape == (1, 7)
    assert all(w.tobytes()[:8] in plaintext for w in built.weights)


def test_sealed_model_is_no_model_and_holds_no_weights(built):
    data = sealed_model(built)
    with pytest.raises(Exception):  # noqa: B017 - whichever error the parser raises
        onnx.load_model_from_string(data)
        raise AssertionError("parsed")
    with pytest.raises(Exception):  # noqa: B017
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for w in built.weights:
        raw = w.tobytes()
        windows = {raw[i : i + 8] for i in range(0, len(raw) - 7, 4)}  # every pair of neighbouring floats
        assert not any(window in data for window in windows)


def test_key_appears_nowhere(built):
    key = built.key
    spellings = [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key), base64.urlsafe_b64encode(key).rstrip(b"=")]
    files = [p for p in built.bundle.rglob("*") if p.is_file()] + [built.result.zip]
    assert built.bundle / "reports" / "build.log" in files
    for path in files:
        data = path.read_bytes()
        assert not any(s in data for s in spellings), path
    # The zip stores deflated members: look into each one too.
    import zipfile

    with zipfile.ZipFile(built.result.zip) as z:
        for info in z.infolist():
            assert not any(s in z.read(info) for s in spellings), info.filename


def test_verify_and_signature(built, tmp_path, capsys):
    assert main(["verify", str(built.bundle), "--pubkey", str(built.pubkey)]) == 0
    assert "signature verified" in capsys.readouterr().out
    assert (built.bundle / "SHA256SUMS.sig").stat().st_size == 64
    copy = tmp_path / "copy"
    shutil.copytree(built.bundle, copy)
    # A changed model: the checksums catch it.
    sealed = copy / "model" / "model.onnx.enc"
    data = bytearray(sealed.read_bytes())
    data[100] ^= 1
    sealed.write_bytes(bytes(data))
    assert main(["verify", str(copy)]) == 4
    # A changed source file with the checksums rewritten to match: only the signature catches it.
    shutil.copy(built.bundle / "model" / "model.onnx.enc", sealed)
    app = copy / "sample_app" / "main.cpp"
    app.write_text(app.read_text(encoding="utf-8") + "// changed\n", encoding="utf-8")
    bundle_mod.write_checksums(copy)
    assert main(["verify", str(copy)]) == 0
    assert main(["verify", str(copy), "--pubkey", str(built.pubkey)]) == 4
    assert "signature does not match" in capsys.readouterr().err
    # Another signer's key, and an unsigned bundle.
    signing.generate_pair(tmp_path / "stranger", tmp_path / "stranger.pub")
    assert main(["verify", str(built.bundle), "--pubkey", str(tmp_path / "stranger.pub")]) == 4
    assert main(["verify", str(built.other), "--pubkey", str(built.pubkey)]) == 4
    assert "is not signed" in capsys.readouterr().err
    assert main(["verify", str(built.bundle), "--pubkey", str(tmp_path / "missing.pub")]) == 2


def test_encrypted_build_is_reproducible(built, tmp_path):
    again = api.build(built.manifest, out=tmp_path / "again", sign_key=built.sign_key)
    assert again.zip_sha256 == built.result.zip_sha256


def test_manifest_and_flags_refuse(built, tmp_path, capsys):
    for f in ("vault.onnx", "labels.txt", "model.key"):
        shutil.copy(built.root / f, tmp_path / f)
    cases = [
        (manifest(key=None), "encryption.key: required"),
        (manifest(enabled=False), "encryption.enabled is false"),
        (manifest(key="file:nowhere.key"), "cannot be read"),
    ]
    for data, message in cases:
        path = write_manifest(tmp_path, data)
        assert main(["validate", "-c", str(path)]) == 2
        assert message in capsys.readouterr().err
    path = write_manifest(tmp_path, manifest())
    (tmp_path / "model.key").chmod(0o640)
    assert main(["build", "-c", str(path), "--out", str(tmp_path / "dist")]) == 2
    assert "chmod 600" in capsys.readouterr().err
    assert not (tmp_path / "dist").exists()  # nothing written


def test_bench_refuses_an_encrypted_bundle(built, capsys):
    assert main(["bench", str(built.bundle), "--runs", "1"]) == 2
    assert "holds an encrypted model" in capsys.readouterr().err
