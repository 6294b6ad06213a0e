"""Encrypting a bundle's model files in place, after the parity gate and the golden vectors ran on
the plaintext: each file `F` of the converted model becomes `F.enc` (an envelope bound to the
bundle and to that name) and `F` is removed, so the bundle never holds the model in clear."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgesdk.crypto import envelope, keys

SEALED_SUFFIX = ".enc"
# Languages whose generated SDK opens a sealed model in memory; a bundle with glue in any other
# language is refused at build time rather than shipped with a model its SDK cannot load.
ENCRYPTION_LANGUAGES = ("cpp", "kotlin")
# (runtime, language) pairs whose runtime API cannot load a model from memory: decrypting would
# mean writing the plaintext model to disk, so encryption is refused for them.
PATH_ONLY_LOADERS = {
    ("executorch", "kotlin"): "ExecuTorch's Android API (org.pytorch.executorch.Module.load) loads a .pte from a file path only, so the decrypted model would have to be written to disk",
}


@dataclass(frozen=True)
class SealedFile:
    plain_name: str
    sealed_name: str
    plaintext_sha256: str
    ciphertext_sha256: str
    size_bytes: int
    binding: envelope.Binding

    def record(self, key_id: str) -> dict[str, Any]:
        """sdk.json's `encryption` entry of this file."""
        return {
            "format": envelope.FORMAT_NAME,
            "key_id": key_id,
            "aad": self.binding.as_dict(),
            "plaintext_sha256": self.plaintext_sha256,
            "ciphertext_sha256": self.ciphertext_sha256,
        }


def seal_files(folder: Path, names: list[str], key: bytes, name: str, version: str, target: str, runtime: str) -> dict[str, SealedFile]:
    """Seal each file of `names` in `folder`; keyed by plain name."""
    sealed: dict[str, SealedFile] = {}
    for plain_name in names:
        plain_path = folder / plain_name
        plaintext = plain_path.read_bytes()
        sealed_name = plain_name + SEALED_SUFFIX
        binding = envelope.Binding(name, version, target, runtime, sealed_name)
        data = envelope.seal(key, plaintext, binding)
        (folder / sealed_name).write_bytes(data)
        plain_path.unlink()
        sealed[plain_name] = SealedFile(plain_name, sealed_name, hashlib.sha256(plaintext).hexdigest(), hashlib.sha256(data).hexdigest(), len(data), binding)
    return sealed


def key_id_hex(key: bytes) -> str:
    return keys.key_id(key).hex()
