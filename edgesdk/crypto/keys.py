"""Model keys: 32 random bytes for AES-256-GCM, made by `edgesdk keygen`, named in a manifest as
`env:NAME` (64 hex digits in that variable) or `file:PATH` (a file of exactly 32 bytes, readable
by its owner only). The key itself never appears in a manifest, a bundle, a log or generated code:
what is written down is its key id, derived from it one-way (HKDF-SHA256)."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edgesdk.errors import InputError

KEY_BYTES = 32
KEY_ID_BYTES = 16
# HKDF `info` labels: each derived value has its own, so none can stand in for another.
KEY_ID_INFO = b"edgesdk model key id v1"
NONCE_KEY_INFO = b"edgesdk model nonce key v1"


def _refused(where: str, message: str) -> InputError:
    """A key reference (`env:NAME`, `file:PATH`) that leads to no usable key: bad input, naming the
    manifest field or flag it came from."""
    return InputError(f"{where}: {message}")


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def derive(key: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 without salt (the key is uniformly random already); `info` separates uses."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(key)


def key_id(key: bytes) -> bytes:
    """Names the key in a bundle without revealing it: HKDF is one-way."""
    return derive(key, KEY_ID_INFO, KEY_ID_BYTES)


def write_key_file(path: Path, key: bytes) -> None:
    """Writes the raw key, readable by its owner only; never replaces an existing file (a lost key
    makes every model encrypted with it unreadable)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InputError(f"{path} already exists; a key file is never overwritten (choose another path)") from exc
    except OSError as exc:
        raise InputError(f"cannot create key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(key)


def load_key(spec: str, where: str, base_dir: Path | None = None) -> bytes:
    """The key `spec` refers to. `where` names the field or flag in errors; a relative `file:` path
    is relative to `base_dir` (the manifest's folder)."""
    kind, sep, ref = spec.partition(":")
    if not sep or not ref or kind not in ("env", "file"):
        raise _refused(where, "must be env:NAME or file:PATH (a literal key is never accepted)")
    if kind == "env":
        return _key_from_env(ref, where)
    return _key_from_file(Path(ref) if base_dir is None or Path(ref).is_absolute() else base_dir / ref, where)


def _key_from_env(name: str, where: str) -> bytes:
    text = os.environ.get(name)
    if text is None:
        raise _refused(where, f"environment variable {name} is not set (it must hold the key as {2 * KEY_BYTES} hex digits, see `edgesdk keygen`)")
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise _refused(where, f"environment variable {name} must hold {2 * KEY_BYTES} hex digits (a {8 * KEY_BYTES}-bit key)")
    return key


def _key_from_file(path: Path, where: str) -> bytes:
    try:
        info = path.stat()
    except OSError as exc:
        raise _refused(where, f"key file {path} cannot be read: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise _refused(where, f"key file {path} is not a regular file")
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        # As ssh does for private keys: a key others can read is no secret.
        raise _refused(where, f"key file {path} is accessible by other users (mode {stat.S_IMODE(info.st_mode):04o}); run chmod 600 {path}")
    if info.st_size != KEY_BYTES:
        raise _refused(where, f"key file {path} must hold exactly {KEY_BYTES} bytes (got {info.st_size}); make one with `edgesdk keygen`")
    return path.read_bytes()
