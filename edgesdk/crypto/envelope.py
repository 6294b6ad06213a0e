"""The encrypted-model envelope (docs/encryption.md), version 1:

    magic "EDGESDKE" (8) | format version 1 (1) | key id (16) | nonce (12) | ciphertext | tag (16)

AES-256-GCM with the model key. The associated data is the header (magic, version, key id)
followed by the bundle's name, version, target and runtime and the model file's name, separated by
NUL bytes (none of them can hold one): a model moved into another bundle, or renamed within one,
fails authentication. The nonce is synthetic, HMAC-SHA256(nonce key, associated data ||
sha256(plaintext)) cut to 12 bytes, so the same inputs give the same bytes (reproducible builds)
and a (key, nonce) pair never meets two different plaintexts (see docs/encryption.md)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgesdk.crypto import keys
from edgesdk.errors import DecryptionError

MAGIC = b"EDGESDKE"
FORMAT_VERSION = 1
FORMAT_NAME = "edgesdk-aes-256-gcm-v1"
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + 1 + keys.KEY_ID_BYTES
OVERHEAD_BYTES = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
# The order of the bound fields, as sdk.json and the generated code list them.
AAD_FIELDS = ("name", "version", "target", "runtime", "file")


@dataclass(frozen=True)
class Binding:
    """What a sealed model is bound to: its bundle and its own file name."""

    name: str
    version: str
    target: str
    runtime: str
    file: str

    def encoded(self) -> bytes:
        values = [getattr(self, f) for f in AAD_FIELDS]
        if any("\0" in v for v in values):
            raise ValueError("bound fields cannot hold NUL")  # names, versions and file names never do
        return b"\0".join(v.encode("utf-8") for v in values)

    def as_dict(self) -> dict[str, str]:
        return {f: getattr(self, f) for f in AAD_FIELDS}


def _header(key_id: bytes) -> bytes:
    return MAGIC + bytes([FORMAT_VERSION]) + key_id


def synthetic_nonce(key: bytes, aad: bytes, plaintext: bytes) -> bytes:
    nonce_key = keys.derive(key, keys.NONCE_KEY_INFO, 32)
    return hmac.new(nonce_key, aad + hashlib.sha256(plaintext).digest(), hashlib.sha256).digest()[:NONCE_BYTES]


def seal(key: bytes, plaintext: bytes, binding: Binding) -> bytes:
    header = _header(keys.key_id(key))
    aad = header + binding.encoded()
    nonce = synthetic_nonce(key, aad, plaintext)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)  # ciphertext || tag


def open_sealed(key: bytes, data: bytes, binding: Binding, what: str = "model") -> bytes:
    """The plaintext of `data`, or DecryptionError naming what went wrong in one line."""
    if len(data) < OVERHEAD_BYTES:
        raise DecryptionError("truncated", f"{what} is truncated: {len(data)} bytes, an encrypted model has at least {OVERHEAD_BYTES}")
    if data[: len(MAGIC)] != MAGIC:
        raise DecryptionError("not-an-envelope", f"{what} is not an edgesdk encrypted model (no {MAGIC.decode()} header)")
    if data[len(MAGIC)] != FORMAT_VERSION:
        raise DecryptionError("unsupported-version", f"{what} uses envelope format {data[len(MAGIC)]}; this edgesdk reads format {FORMAT_VERSION}")
    header = data[:HEADER_BYTES]
    stored_id = header[len(MAGIC) + 1 :]
    if not hmac.compare_digest(stored_id, keys.key_id(key)):
        raise DecryptionError("wrong-key", f"{what} was encrypted with another key (key id {stored_id.hex()}, this key's id is {keys.key_id(key).hex()})")
    nonce = data[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, data[HEADER_BYTES + NONCE_BYTES :], header + binding.encoded())
    except InvalidTag as exc:
        bundle = " ".join(binding.as_dict()[f] for f in AAD_FIELDS[:-1])
        raise DecryptionError("authentication", f"{what} failed authentication: it was modified, truncated, or belongs to another bundle than {bundle}") from exc


def stored_key_id(data: bytes) -> str | None:
    """The key id an envelope names (hex), or None when `data` is no envelope."""
    if len(data) < HEADER_BYTES or data[: len(MAGIC)] != MAGIC:
        return None
    return data[len(MAGIC) + 1 : HEADER_BYTES].hex()
