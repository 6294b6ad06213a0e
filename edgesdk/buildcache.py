"""A content-keyed cache of what a build computes the same way from the same bytes, so builds of
one model for several runtimes, targets or versions (and `edgesdk matrix`) compute it once:

- calibration tensors: the manifest's pre-processing of the calibration files (calibration.py);
- reference outputs: a runtime's float model run on those tensors (quantize.run);
- ONNX Runtime's activation ranges of a float model on those tensors (quantize/onnxruntime.py);
- whole stages (stagecache.py): a runtime's conversion of a source (shared by its float and int8
  builds), the quantize stage's result, and the source model's outputs on the parity images
  (the same for every runtime). These hold model files: tens of MB per runtime and model.

Where: `$EDGESDK_CACHE/build-cache/<kind>/<key>.npz` (EDGESDK_CACHE defaults to ~/.cache/edgesdk,
where the native packages live); `EDGESDK_BUILD_CACHE=<folder>` moves it, `EDGESDK_BUILD_CACHE=off`
turns it off. A key is the
sha256 of everything the value depends on: the input bytes, the settings, the code that computes
it (`code_digest`) and the installed runtime versions (`versions_digest`); a changed input is a
new key, never a stale value. Entries are written to a temporary file and renamed into place, so a
concurrent build reads a whole entry or none; an unreadable entry is computed again. Delete the
folder to reclaim the space.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

import numpy as np

ENV_SWITCH = "EDGESDK_BUILD_CACHE"
# The runtimes and converters whose version changes what a model computes.
_VERSIONED = ("torch", "onnx", "onnxruntime", "openvino", "nncf", "ai-edge-litert", "executorch", "ncnn", "MNN", "coremltools")


def folder() -> Path | None:
    """The cache folder: EDGESDK_BUILD_CACHE when it names one, None when it is `off`, else
    $EDGESDK_CACHE/build-cache."""
    setting = os.environ.get(ENV_SWITCH, "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return Path(setting)
    from edgesdk.backends.base import cache_dir

    return cache_dir() / "build-cache"


def key(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()


def arrays_digest(arrays: Iterable[np.ndarray]) -> str:
    """sha256 over dtype, shape and bytes of each array."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode() + a.tobytes())
    return digest.hexdigest()


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over the names and bytes of the files (a folder: every file in it, by relative path)."""
    digest = hashlib.sha256()
    for path in paths:
        members = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for member in members:
            name = member.relative_to(path.parent).as_posix()
            digest.update(name.encode() + b"\0" + hashlib.sha256(member.read_bytes()).digest())
    return digest.hexdigest()


@cache
def code_digest(package: str) -> str:
    """sha256 of a package's Python sources: a change to the code that computes a value is a new key."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    root = Path(next(iter(spec.submodule_search_locations)))
    return files_digest(sorted(root.rglob("*.py")))


@cache
def versions_digest() -> str:
    """The installed versions of every runtime and converter (absent ones as absent)."""
    versions = []
    for name in _VERSIONED:
        try:
            versions.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return key(*versions)


def arrays(kind: str, entry: str, compute: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    """The arrays stored under `kind`/`entry`, or `compute()` stored there first."""
    base = folder()
    path = base / kind / f"{entry}.npz" if base is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return [stored[f"a{i}"] for i in range(len(stored.files))]
        except (OSError, ValueError, KeyError):
            pass  # unreadable: computed again and replaced below
    values = compute()
    if path is not None:
        _store(path, values)
    return values


def nested_arrays(kind: str, entry: str, compute: Callable[[], list[list[np.ndarray]]]) -> list[list[np.ndarray]]:
    """Like `arrays`, for one list of arrays per sample (a model's outputs on each input)."""

    def flat() -> list[np.ndarray]:
        values = compute()
        counts = np.array([len(v) for v in values], dtype=np.int64)
        return [counts, *(a for v in values for a in v)]

    stored = arrays(kind, entry, flat)
    counts, rest = stored[0], stored[1:]
    out, at = [], 0
    for n in counts.tolist():
        out.append([np.asarray(a) for a in rest[at : at + n]])
        at += n
    return out


def _store(path: Path, values: list[np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **{f"a{i}": np.asarray(v) for i, v in enumerate(values)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
            tmp.write(buffer.getvalue())
        os.replace(tmp.name, path)
    except OSError:  # a read-only or full cache folder costs speed, never the build
        if "tmp" in locals():
            Path(tmp.name).unlink(missing_ok=True)
