"""Work that several builds of one model share, computed once and reused: the source model's
reference outputs and the pre-processed calibration tensors (`edgesdk matrix`).

Entries are keyed by content (the model's sha256 and the input's bytes; the calibration files'
digest and the pre-processing that turns them into tensors), so a hit returns exactly what the
build would have computed and the bundle stays byte-identical. A build uses the cache only inside
`recording()` / `seeded()`; a plain `edgesdk build` computes everything itself, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk import buildcache

Entries = dict[str, list[np.ndarray]]
Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


class WorkCache:
    """An in-process store of entries; `hits` and `misses` count lookups (the matrix reports them)."""

    def __init__(self, entries: Entries | None = None):
        self.entries: Entries = dict(entries or {})
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
        found = self.entries.get(key)
        if found is not None:
            self.hits += 1
            # Copies: a build may write into what it is given, and the next lookup must see the original.
            return [np.array(a, copy=True) for a in found]
        self.misses += 1
        value = [np.asarray(a) for a in compute()]
        self.entries[key] = [np.array(a, copy=True) for a in value]
        return value


_active: WorkCache | None = None


def active() -> WorkCache | None:
    return _active


@contextlib.contextmanager
def seeded(entries: Entries | None = None) -> Iterator[WorkCache]:
    """Builds inside this block look entries up in (and add what they compute to) one cache."""
    global _active
    previous, _active = _active, WorkCache(entries)
    try:
        yield _active
    finally:
        _active = previous


def digest(*parts: Any) -> str:
    """sha256 over text parts and arrays (dtype, shape and bytes: equal keys mean equal inputs)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(buildcache.arrays_digest([part]).encode())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def cached_runner(runner: Runner, model_sha256: str) -> Runner:
    """`runner` answered from the active cache when it has run this model on these inputs before."""

    def run(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        cache = _active
        if cache is None:
            return runner(feeds)
        key = digest("reference", model_sha256, *(x for name in sorted(feeds) for x in (name, np.asarray(feeds[name]))))
        return cache.get_or_compute(key, lambda: list(runner(feeds)))

    return run


def cached_tensors(key_parts: list[Any], compute: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
    cache = _active
    if cache is None:
        return compute()
    return cache.get_or_compute(digest("tensors", *key_parts), compute)


def save(entries: Entries, path: Path) -> None:
    """Entries as one .npz (key#index -> array), written under a temporary name and renamed."""
    arrays = {f"{key}#{i}": a for key, values in entries.items() for i, a in enumerate(values)}
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("wb") as f:
        np.savez(f, allow_pickle=False, **arrays)
    tmp.replace(path)


def load(path: Path) -> Entries:
    entries: dict[str, dict[int, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as data:
        for name in data.files:
            key, index = name.rsplit("#", 1)
            entries.setdefault(key, {})[int(index)] = data[name]
    return {key: [values[i] for i in sorted(values)] for key, values in entries.items()}
