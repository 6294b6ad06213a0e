"""Whole build stages taken from the build cache (buildcache.py): the converted model of a source
for one runtime, and the quantized model of a converted one (api.py). A stage's value is the folder it
wrote (every file, by relative path), what it returned (JSON) and what its tools printed into the
build log, so a build that takes it from the cache writes the same bundle, build.log included, as
one that computed it.

The key is everything the stage reads (buildcache.key): the stage's inputs as the caller names
them, the whole edgesdk package's code and the installed runtime and converter versions. A
stage whose inputs cannot be named by content (`content_keyed`: a `python:module:factory` source,
whose digest covers its weights, not its code) is not cached: its key is None and it runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import buildcache, buildlog


def content_keyed(source) -> bool:
    """Whether `source.sha256` covers everything the model computes: a TorchScript, torch.export
    or ONNX file's bytes; not a python: factory's (its weights, not its code), nor an ONNX file
    whose weights lie in external files."""
    if source.kind in ("torchscript", "exported_program"):
        return True
    return source.kind == "onnx" and source.onnx_path is not None and not _has_external_data(str(source.onnx_path), source.sha256)


@cache
def _has_external_data(path: str, sha256: str) -> bool:
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer)


def stage_key(stage: str, *parts: str | bytes) -> str:
    return buildcache.key(stage, *parts, buildcache.code_digest("edgesdk"), buildcache.versions_digest())


def folder_stage(kind: str, key: str | None, folder: Path, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`compute()`'s value, having written `folder`; taken from the cache entry `kind`/`key` when
    there is one (the folder is then written from it and the log lines replayed), else computed
    and stored. `compute` returns JSON-able data; key None: always computed."""
    if key is None or buildcache.folder() is None:
        return compute()
    log = buildlog.current()
    computed: dict[str, Any] = {}

    def run() -> list[np.ndarray]:
        mark = log.mark() if log is not None else 0
        computed["value"] = compute()
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        meta = {"value": computed["value"], "files": [p.relative_to(folder).as_posix() for p in files], "log": log.since(mark) if log is not None else []}
        return [_text_array(json.dumps(meta, default=_plain)), *(np.frombuffer(p.read_bytes(), np.uint8) for p in files)]

    stored = buildcache.arrays(kind, key, run)
    meta = json.loads(stored[0].tobytes().decode("utf-8"))
    if "value" in computed:
        return meta["value"]  # as a cached build gets it (tuples as lists, numpy scalars as numbers)
    if folder.exists():
        shutil.rmtree(folder)
    for name, data in zip(meta["files"], stored[1:]):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.tobytes())
    if log is not None:
        log.replay(meta["log"])
    return meta["value"]


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as JSON numbers and lists."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), np.uint8)


def source_runner(runner: Callable[[dict[str, np.ndarray]], list[np.ndarray]], source) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    """The source model's reference `runner`, answered from the build cache where this model ran
    on these inputs before (every runtime's build of a model runs its reference on the same parity
    images). Keyed by the source file's bytes, the inputs, the torch thread count (a reduction's
    order may follow it) and the code and versions (stage_key); other sources run every time."""
    if not content_keyed(source):
        return runner

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        import torch

        names = sorted(feeds)
        key = stage_key("source-reference", source.kind, source.sha256, json.dumps(names), buildcache.arrays_digest(feeds[n] for n in names), str(torch.get_num_threads()))
        return buildcache.arrays("source-reference", key, lambda: [np.asarray(a) for a in runner(feeds)])

    return run
