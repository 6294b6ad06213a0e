"""The interface every executor implements (local.py, ray.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from edgesdk.matrix.spec import Resources


class Executor(ABC):
    name: str
    # True: a task's result stays in the executor's object store and later tasks take it from
    # there; False: the shared work travels as a file under the matrix's cache folder.
    keeps_results: bool

    @abstractmethod
    def submit(self, fn: Callable[..., Any], *args: Any, resources: Resources) -> Any:
        """Start fn(*args); returns a handle."""

    @abstractmethod
    def share(self, value: Any) -> Any:
        """`value` as many tasks' argument: itself (local), or once in the object store (Ray)."""

    @abstractmethod
    def argument(self, handle: Any) -> Any:
        """What a later task is given for an earlier task's result (Ray: the reference itself)."""

    @abstractmethod
    def as_completed(self, handles: list[Any]) -> Iterator[tuple[Any, Any]]:
        """(handle, result) pairs as the tasks finish."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
