"""The generated C++ SDK opens the shared encrypted bundle in memory with OpenSSL: `edgesdk test
--key` holds it to the golden vectors (made from the plaintext model), and every damage to the
sealed model, a wrong key or a model from another bundle ends the sample app with exit 4 and one
line. The sample app is compiled once for the module."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from edgesdk import hosttest
from edgesdk.cli import main
from edgesdk.crypto import envelope

pytestmark = pytest.mark.cpp


@pytest.fixture(scope="module")
def app(built, tmp_path_factory):
    problem = hosttest.toolchain_problem()
    if problem:
        pytest.skip(problem)
    try:
        hosttest.cpp_package("onnxruntime")
    except Exception as exc:  # BackendUnavailable: the C++ package is not fetched
        pytest.skip(str(exc))
    build = tmp_path_factory.mktemp("vault-cpp")
    return hosttest.build_sample(built.bundle, build), build


def run(app, bundle, *flags: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    binary, _ = app
    image = next((bundle / "tests" / "golden").glob("*.png"))
    return subprocess.run(
        [str(binary), "--bundle", str(bundle), "--input", str(image), "--json", *flags],
        capture_output=True,
        text=True,
        env={**hosttest.cpp_package("onnxruntime").run_env(), **(env or {})},
    )


def test_edgesdk_test_passes_with_the_key(built, app, capsys):
    _, build = app
    assert main(["test", str(built.bundle), "--key", f"file:{built.key_path}", "--build-dir", str(build)]) == 0
    assert "4 golden cases passed" in capsys.readouterr().out
    # Without a key, or with a wrong one, the same command refuses.
    assert main(["test", str(built.bundle), "--build-dir", str(build)]) == 2
    assert "encrypted model: pass --key" in capsys.readouterr().err


def test_key_from_environment(built, app):
    ok = run(app, built.bundle, "--key-env", "VAULT_KEY", env={"VAULT_KEY": built.key.hex()})
    assert ok.returncode == 0, ok.stderr
    by_file = run(app, built.bundle, "--key-file", str(built.key_path))
    assert by_file.returncode == 0 and '"classifications"' in by_file.stdout


def damaged(built, tmp_path, change) -> object:
    copy = tmp_path / "bundle"
    shutil.copytree(built.bundle, copy)
    sealed = copy / "model" / "model.onnx.enc"
    sealed.write_bytes(change(sealed.read_bytes()))
    return copy


def flip(index: int):
    def change(data: bytes) -> bytes:
        out = bytearray(data)
        out[index] ^= 0x01
        return bytes(out)

    return change


HEADER = envelope.HEADER_BYTES
NONCE_END = HEADER + envelope.NONCE_BYTES


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (flip(3), "not an edgesdk encrypted model"),
        (flip(8), "envelope format"),
        (flip(HEADER - 1), "wrong key"),
        (flip(HEADER + 5), "failed authentication"),
        (flip(NONCE_END), "failed authentication"),
        (flip(-1000), "failed authentication"),
        (flip(-1), "failed authentication"),
        (lambda d: d[:-1], "failed authentication"),
        (lambda d: d[: len(d) // 2], "failed authentication"),
        (lambda d: d[:40], "truncated"),
        (lambda d: b"", "truncated"),
    ],
    ids=["magic", "version", "key-id", "nonce", "ciphertext-first", "ciphertext", "tag", "cut-1", "cut-half", "cut-header", "empty"],
)
def test_damaged_model_is_exit_4(built, app, tmp_path, change, message):
    proc = run(app, damaged(built, tmp_path, change), "--key-file", str(built.key_path))
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "DecryptionFailed" in proc.stderr and message in proc.stderr


def test_wrong_key_and_model_from_another_bundle(built, app, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(bytes(32))
    proc = run(app, built.bundle, "--key-file", str(wrong))
    assert proc.returncode == 4 and "wrong key" in proc.stderr and proc.stderr.count("\n") == 1
    swapped = damaged(built, tmp_path, lambda _: (built.other / "model" / "model.onnx.enc").read_bytes())
    proc = run(app, swapped, "--key-file", str(built.key_path))
    assert proc.returncode == 4 and "belongs to another bundle" in proc.stderr
    # `edgesdk test` reports it as an integrity failure (exit 4) too.
    wrong.chmod(0o600)
    assert main(["test", str(built.bundle), "--key", f"file:{wrong}", "--build-dir", str(app[1])]) == 4


def test_missing_or_malformed_key_is_exit_2(built, app, tmp_path):
    assert run(app, built.bundle).returncode == 2
    short = tmp_path / "short.key"
    short.write_bytes(bytes(31))
    assert run(app, built.bundle, "--key-file", str(short)).returncode == 2
    assert run(app, built.bundle, "--key-env", "VAULT_KEY", env={"VAULT_KEY": "zz" * 32}).returncode == 2
    assert run(app, built.bundle, "--key-env", "VAULT_KEY_UNSET").returncode == 2
