"""What every backend provides, and the artifact it hands to the rest of the build."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np

from edgesdk.manifest import Manifest
from edgesdk.sources import SourceModel

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]


@dataclass
class Artifact:
    """The converted model: files under one folder; `main` is what the glue loads."""

    folder: Path
    main: str
    files: list[str]
    runtime: str
    runtime_versions: dict[str, str] = field(default_factory=dict)  # e.g. {"python": "1.32.0", "cpp": "1.29.0"}
    notes: list[str] = field(default_factory=list)

    @property
    def main_path(self) -> Path:
        return self.folder / self.main


class Backend(Protocol):
    name: str
    extra: str  # the pip extra that installs it
    languages: tuple[str, ...]

    def is_available(self) -> tuple[bool, str]:
        """(True, version) or (False, why not and how to fix it)."""

    def convert(self, source: SourceModel, manifest: Manifest, out_dir: Path) -> Artifact:
        """Write the runtime artifact into out_dir."""

    def runner(self, artifact: Artifact, threads: int = 1) -> Runner:
        """Run the artifact on the host in the real runtime, for parity."""
