"""Bundle signatures: ed25519 over SHA256SUMS (which names every other file with its sha256), kept
beside it as SHA256SUMS.sig. Keys are PEM files: the private one PKCS#8, unencrypted and readable
by its owner only; the public one SubjectPublicKeyInfo."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgesdk.errors import InputError, IntegrityError

SIGNATURE_BYTES = 64
MAX_KEY_FILE_BYTES = 16 * 1024


def generate_pair(private_path: Path, public_path: Path) -> None:
    """Writes a new ed25519 pair; never replaces an existing file."""
    for path in (private_path, public_path):
        if path.exists():
            raise InputError(f"{path} already exists; key files are never overwritten (choose another path)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public_path.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def _read_pem(path: Path, what: str) -> bytes:
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise InputError(f"{what} {path} is larger than {MAX_KEY_FILE_BYTES} bytes: not a PEM key")
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror}") from exc


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_pem(path, "signing key"), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"signing key {path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"signing key {path} is not an ed25519 key (make one with `edgesdk keygen --sign`)")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read_pem(path, "public key"))
    except (ValueError, TypeError) as exc:
        raise InputError(f"public key {path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"public key {path} is not an ed25519 key")
    return key


def sign(private: Ed25519PrivateKey, message: bytes) -> bytes:
    return private.sign(message)  # ed25519 is deterministic: the same bundle gets the same signature


def verify(public: Ed25519PublicKey, message: bytes, signature: bytes, what: str) -> None:
    if len(signature) != SIGNATURE_BYTES:
        raise IntegrityError(f"{what}: signature is {len(signature)} bytes, an ed25519 signature has {SIGNATURE_BYTES}")
    try:
        public.verify(signature, message)
    except InvalidSignature as exc:
        raise IntegrityError(f"{what}: signature does not match this public key (the bundle was modified or signed by another key)") from exc
