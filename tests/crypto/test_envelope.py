"""The envelope format and the model keys, in Python (edgesdk/crypto): round trip, reproducible
bytes, nonces that differ whenever plaintext or binding differ, and every way opening must fail."""

from __future__ import annotations

import hashlib
import stat

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgesdk.cli import main
from edgesdk.crypto import envelope, keys
from edgesdk.crypto.envelope import Binding
from edgesdk.errors import DecryptionError, InputError

KEY = bytes(range(32))
BINDING = Binding("net", "1.0.0", "x86", "onnxruntime", "model.onnx.enc")
PLAINTEXT = b"\x08\x07" + bytes(range(256)) * 40


def test_round_trip_and_layout():
    sealed = envelope.seal(KEY, PLAINTEXT, BINDING)
    assert sealed[:8] == b"EDGESDKE" and sealed[8] == 1
    assert sealed[9:25] == keys.key_id(KEY)
    assert len(sealed) == len(PLAINTEXT) + envelope.OVERHEAD_BYTES
    assert envelope.open_sealed(KEY, sealed, BINDING) == PLAINTEXT
    # The layout is plain AES-256-GCM: nonce || ciphertext || tag with header + bound fields as associated data.
    aad = sealed[:25] + b"net\x001.0.0\x00x86\x00onnxruntime\x00model.onnx.enc"
    assert AESGCM(KEY).decrypt(sealed[25:37], sealed[37:], aad) == PLAINTEXT
    assert PLAINTEXT[2:66] not in sealed


def test_same_inputs_same_bytes_and_nonce_follows_content():
    sealed = envelope.seal(KEY, PLAINTEXT, BINDING)
    assert envelope.seal(KEY, PLAINTEXT, BINDING) == sealed  # reproducible builds
    nonce = sealed[25:37]
    other_plain = envelope.seal(KEY, PLAINTEXT + b"\x00", BINDING)
    other_bundle = envelope.seal(KEY, PLAINTEXT, Binding("net", "1.0.1", "x86", "onnxruntime", "model.onnx.enc"))
    assert len({nonce, other_plain[25:37], other_bundle[25:37]}) == 3
    want = envelope.synthetic_nonce(KEY, sealed[:25] + BINDING.encoded(), PLAINTEXT)
    assert nonce == want


def test_key_id_reveals_nothing_of_the_key():
    kid = keys.key_id(KEY)
    assert len(kid) == 16 and kid not in KEY and KEY[:16] != kid
    assert keys.key_id(bytes(32)) != kid


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


SEALED = envelope.seal(KEY, PLAINTEXT, BINDING)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (SEALED[:60], "authentication"),
        (SEALED[:-1], "authentication"),
        (SEALED[: envelope.OVERHEAD_BYTES - 1], "truncated"),
        (b"", "truncated"),
        (_flip(SEALED, 0), "not-an-envelope"),
        (_flip(SEALED, 8), "unsupported-version"),
        (_flip(SEALED, 12), "wrong-key"),  # the key id in the header
        (_flip(SEALED, 30), "authentication"),  # nonce
        (_flip(SEALED, 37), "authentication"),  # first ciphertext byte
        (_flip(SEALED, len(SEALED) // 2), "authentication"),
        (_flip(SEALED, len(SEALED) - 1), "authentication"),  # tag
    ],
    ids=["cut-60", "cut-1", "shorter-than-overhead", "empty", "magic", "version", "key-id", "nonce", "ciphertext-first", "ciphertext-middle", "tag"],
)
def test_every_damage_is_refused(data, reason):
    with pytest.raises(DecryptionError) as info:
        envelope.open_sealed(KEY, data, BINDING)
    assert info.value.reason == reason and info.value.exit_code == 4
    assert "\n" not in str(info.value)


def test_wrong_key_and_other_bundle():
    with pytest.raises(DecryptionError, match="another key") as info:
        envelope.open_sealed(bytes(32), SEALED, BINDING)
    assert info.value.reason == "wrong-key"
    for field, value in [("name", "other"), ("version", "1.0.1"), ("target", "arm"), ("runtime", "openvino"), ("file", "model.xml.enc")]:
        moved = Binding(**{**BINDING.as_dict(), field: value})
        with pytest.raises(DecryptionError, match="another bundle") as info:
            envelope.open_sealed(KEY, SEALED, moved)
        assert info.value.reason == "authentication"


def test_key_references(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESDK_TEST_KEY", KEY.hex().upper() + "\n")
    assert keys.load_key("env:EDGESDK_TEST_KEY", "encryption.key") == KEY
    path = tmp_path / "model.key"
    keys.write_key_file(path, KEY)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_key("file:model.key", "encryption.key", tmp_path) == KEY
    with pytest.raises(InputError, match="never overwritten"):
        keys.write_key_file(path, KEY)
    bad = [
        ("env:EDGESDK_NO_SUCH_VARIABLE", "is not set"),
        ("file:missing.key", "cannot be read"),
        (KEY.hex(), "env:NAME or file:PATH"),
        ("literal:abc", "env:NAME or file:PATH"),
    ]
    monkeypatch.setenv("EDGESDK_SHORT_KEY", KEY.hex()[:-2])
    bad.append(("env:EDGESDK_SHORT_KEY", "64 hex digits"))
    (tmp_path / "short.key").write_bytes(KEY[:-1])
    (tmp_path / "short.key").chmod(0o600)
    bad.append(("file:short.key", "exactly 32 bytes"))
    (tmp_path / "open.key").write_bytes(KEY)
    (tmp_path / "open.key").chmod(0o644)
    bad.append(("file:open.key", "chmod 600"))
    for spec, message in bad:
        with pytest.raises(InputError, match=message) as info:
            keys.load_key(spec, "encryption.key", tmp_path)
        assert str(info.value).startswith("encryption.key: ") and info.value.exit_code == 2


def test_keygen_cli(tmp_path, capsys):
    path = tmp_path / "k.bin"
    assert main(["keygen", "--out", str(path)]) == 0
    key = path.read_bytes()
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    out = capsys.readouterr().out
    assert keys.key_id(key).hex() in out and key.hex() not in out
    assert main(["keygen", "--out", str(path)]) == 2  # never overwritten
    assert path.read_bytes() == key
    assert main(["keygen", "--print"]) == 0
    printed = capsys.readouterr().out.strip()
    assert len(bytes.fromhex(printed)) == 32
    assert main(["keygen"]) == 2
    assert main(["keygen", "--sign", "--out", str(tmp_path / "signer")]) == 0
    assert stat.S_IMODE((tmp_path / "signer").stat().st_mode) == 0o600
    assert (tmp_path / "signer.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert hashlib.sha256(key).hexdigest() not in capsys.readouterr().out
