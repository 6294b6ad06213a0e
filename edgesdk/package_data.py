"""Where the package's data folders are: the SDK templates, the runtime adapters and the sample
apps ship inside the package, so an installed wheel renders exactly what a checkout does."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from edgesdk.errors import PackagingError

# An installed package lives on disk (the wheel is not zip-safe), so files() is a real folder;
# Path() makes that explicit for the renderer's rglob.
PACKAGE_ROOT = Path(str(importlib.resources.files("edgesdk")))
TEMPLATES_DIR = PACKAGE_ROOT / "templates"
RUNTIMES_DIR = PACKAGE_ROOT / "runtimes"
SAMPLE_APPS_DIR = PACKAGE_ROOT / "sample_apps"
# CMake toolchain files for cross-compiling a bundle's C++ SDK (Target.cross_toolchain).
CROSS_TOOLCHAINS_DIR = PACKAGE_ROOT / "cross"


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise PackagingError(f"missing from this edgesdk installation: {what} ({path}); reinstall edgesdk")
    return path
