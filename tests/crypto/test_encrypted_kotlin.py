"""The generated Kotlin SDK opens the shared vault model, built for android/onnxruntime, with
javax.crypto on the host JVM (its core and kotlin_host/DecryptRunner.kt, compiled once): the right
key gives the plaintext sdk.json names; a wrong key, every kind of damage and a model from another
bundle are refused with a DecryptionException (exit 4). `edgesdk test --key` also compile-checks
the Android layer with its Keystore key provider against android.jar and the ORT Android library."""

from __future__ import annotations

import shutil

import pytest

from edgesdk import api, hosttest_kotlin
from edgesdk.cli import main
from edgesdk.crypto import envelope
from edgesdk.errors import IntegrityError

pytestmark = pytest.mark.kotlin


class AndroidVault:
    def __init__(self, built, root):
        for f in ("vault.onnx", "labels.txt", "model.key", "edgesdk.yaml", "other.yaml"):
            shutil.copy(built.root / f, root / f)
        (root / "model.key").chmod(0o600)
        self.bundle = api.build(root / "edgesdk.yaml", target="android", runtime="onnxruntime", out=root / "dist").bundle
        self.other = api.build(root / "other.yaml", target="android", runtime="onnxruntime", out=root / "dist").bundle
        self.key_path = root / "model.key"
        self.sdk = api.bundle_mod.load_sdk_json(self.bundle)
        self.package = hosttest_kotlin.package_of(self.sdk["name"])
        sdk_dir = self.bundle / hosttest_kotlin.SDK_DIR
        sources = hosttest_kotlin.core_sources(sdk_dir) + [hosttest_kotlin.write_runner(self.package, root / "src", hosttest_kotlin.DECRYPT_RUNNER_SOURCE)]
        self.jar = root / "core.jar"
        hosttest_kotlin.compile_kotlin(sources, self.jar)

    def open(self, sealed, *key_args: str) -> str:
        return hosttest_kotlin.decrypt_with_core(self.jar, self.package, sealed, list(key_args) or ["--key-file", str(self.key_path)])


@pytest.fixture(scope="module")
def android(built, tmp_path_factory):
    problem = hosttest_kotlin.toolchain_problem()
    if problem:
        pytest.skip(problem)
    return AndroidVault(built, tmp_path_factory.mktemp("vault-android"))


def test_core_opens_the_model(android, built, monkeypatch):
    sealed = android.bundle / android.sdk["model"]["file"]
    want = android.sdk["model"]["encryption"]["plaintext_sha256"]
    assert android.open(sealed) == want
    monkeypatch.setenv("VAULT_KEY", built.key.hex())
    assert android.open(sealed, "--key-env", "VAULT_KEY") == want


def flipped(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: flipped(d, 0), "not an edgesdk encrypted model"),
        (lambda d: flipped(d, 8), "envelope format"),
        (lambda d: flipped(d, envelope.HEADER_BYTES - 1), "wrong key"),
        (lambda d: flipped(d, envelope.HEADER_BYTES + 3), "failed authentication"),
        (lambda d: flipped(d, envelope.HEADER_BYTES + envelope.NONCE_BYTES), "failed authentication"),
        (lambda d: flipped(d, -1), "failed authentication"),
        (lambda d: d[:-1], "failed authentication"),
        (lambda d: d[:30], "truncated"),
    ],
    ids=["magic", "version", "key-id", "nonce", "ciphertext", "tag", "cut-1", "cut-header"],
)
def test_core_refuses_damage(android, tmp_path, change, message):
    sealed = tmp_path / "model.onnx.enc"
    sealed.write_bytes(change((android.bundle / android.sdk["model"]["file"]).read_bytes()))
    with pytest.raises(IntegrityError, match=f"DecryptionException: .*{message}") as info:
        android.open(sealed)
    assert info.value.exit_code == 4 and "\n" not in str(info.value)


def test_core_refuses_wrong_key_and_other_bundle(android, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(bytes(32))
    with pytest.raises(IntegrityError, match="wrong key"):
        android.open(android.bundle / android.sdk["model"]["file"], "--key-file", str(wrong))
    with pytest.raises(IntegrityError, match="belongs to another bundle"):
        android.open(android.other / "model" / "model.onnx.enc")


def test_edgesdk_test_with_key_checks_the_android_layer(android, capsys):
    assert main(["test", str(android.bundle), "--key", f"file:{android.key_path}"]) == 0
    out = capsys.readouterr().out
    assert "opened by the Kotlin core" in out and "Android layer: compile-checked" in out


def test_executorch_is_refused(built, tmp_path, capsys):
    for f in ("vault.onnx", "labels.txt", "model.key", "edgesdk.yaml"):
        shutil.copy(built.root / f, tmp_path / f)
    (tmp_path / "model.key").chmod(0o600)
    code = main(["validate", "-c", str(tmp_path / "edgesdk.yaml"), "--target", "android", "--runtime", "executorch"])
    err = capsys.readouterr().err
    if code == 5:
        pytest.skip(err.strip())
    assert code == 2 and "file path only" in err
