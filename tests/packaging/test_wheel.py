"""`pip install edgesdk` works: the wheel holds every template, adapter and sample app, and an
installed (not editable) edgesdk builds and tests a bundle from a folder outside any checkout.

The wheel is built from a copy of this checkout (setuptools writes build/ and *.egg-info next to
the sources, and a stale build/ would leak into the wheel). It is installed into a fresh venv
that reuses the current environment's dependencies through a .pth path line: that folder goes on
sys.path, but its own .pth files (among them an editable install of edgesdk) are not processed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import REPO, example_manifest_dict
from toolchains import need

from edgesdk import hosttest
from edgesdk.backends import availability
from edgesdk.errors import BackendUnavailable, PackagingError

# The package-data folders of pyproject's [tool.setuptools.package-data], under edgesdk/.
DATA_DIRS = ("templates", "runtimes", "sample_apps", "kotlin_host", "data", "cross")
# What a wheel must never carry.
FORBIDDEN_PARTS = ("tests", "examples", "__pycache__")
# Left out of the copy the wheel is built from: repository and build leftovers, not sources.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
BUNDLE = "stripes-classifier-1.0.0-x86-onnxruntime"


def _run(cmd: list, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _checked(cmd: list, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = _run(cmd, cwd, env)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def source_files(folder: Path, source: Path) -> set[str]:
    """The files under `folder` as a wheel names them (relative to the source root), bytecode aside."""
    return {p.relative_to(source).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("source") / "edgesdk-src"
    shutil.copytree(REPO, copy, ignore=NOT_SOURCES)
    return copy


@pytest.fixture(scope="module")
def wheel(source_copy: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, "."], source_copy)
    wheels = list(out.glob("edgesdk-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_every_data_file_and_no_tests(wheel: Path, source_copy: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    package = source_copy / "edgesdk"
    for folder in DATA_DIRS:
        want = source_files(package / folder, source_copy)
        assert want, f"edgesdk/{folder}/ has no files in the source tree"
        got = {n for n in names if n.startswith(f"edgesdk/{folder}/")}
        assert got == want, f"edgesdk/{folder}/: missing from the wheel {sorted(want - got)}, not in the sources {sorted(got - want)}"
    modules = {n for n in source_files(package, source_copy) if n.endswith(".py")}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"
    bad = sorted(n for n in names if set(Path(n).parts) & set(FORBIDDEN_PARTS) or n.endswith(".pyc"))
    assert bad == [], f"the wheel carries {bad[:10]}"
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)


@dataclass
class Installed:
    venv: Path
    site: Path  # its site-packages, where edgesdk now lives
    env: dict[str, str]

    @property
    def edgesdk(self) -> Path:
        return self.venv / "bin" / "edgesdk"


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Installed:
    venv = tmp_path_factory.mktemp("venv") / "v"
    # No checkout on the path: PYTHONPATH would put one before the installed package (and pip,
    # finding a checkout's edgesdk.egg-info there, would call the wheel installed already).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    _checked([sys.executable, "-m", "venv", "--without-pip", venv], venv.parent)
    python = venv / "bin" / "python"
    _checked([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], venv.parent, env)
    site = Path(_checked([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], venv.parent).stdout.strip())
    # The dependencies come from this environment's site-packages; written after the install, so
    # pip never saw the editable edgesdk there.
    (site / "shared-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return Installed(venv, site, env)


def need_onnxruntime() -> None:
    ok, why = availability("onnxruntime")
    if not ok:
        pytest.skip(f"the x86 build needs onnxruntime: {why}")


@pytest.fixture(scope="module")
def outside(example_models: Path, tmp_path_factory) -> Path:
    """A copy of the example project in a folder that is no checkout."""
    folder = tmp_path_factory.mktemp("outside") / "project"
    shutil.copytree(example_models, folder)
    (folder / "edgesdk.yaml").write_text(yaml.safe_dump(example_manifest_dict(), sort_keys=False), encoding="utf-8")
    assert REPO not in folder.parents
    return folder


@pytest.mark.slow
def test_installed_edgesdk_is_the_wheels(installed: Installed, outside: Path):
    where = _checked([installed.venv / "bin" / "python", "-c", "import edgesdk, edgesdk.render as r; print(edgesdk.__file__); print(r.RUNTIMES_DIR)"], outside, installed.env).stdout.split()
    assert [Path(p) for p in where] == [installed.site / "edgesdk" / "__init__.py", installed.site / "edgesdk" / "runtimes"]


@pytest.mark.slow
@pytest.mark.cpp
@pytest.mark.onnxruntime
def test_installed_edgesdk_builds_and_tests_the_example(installed: Installed, outside: Path):
    need_onnxruntime()
    need(hosttest.toolchain_problem())
    out = outside.parent / "dist"
    _checked([installed.edgesdk, "build", "-c", "edgesdk.yaml", "--target", "x86", "--out", out], outside, installed.env)
    bundle = out / BUNDLE
    assert (bundle / "sdk" / "cpp").is_dir() and (bundle / "sample_app").is_dir()
    tested = _run([installed.edgesdk, "test", bundle], outside, installed.env)
    if tested.returncode == BackendUnavailable.exit_code:  # the C++ runtime package is not fetched here
        need(tested.stderr.strip())
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "golden cases passed through the C++ SDK" in tested.stdout


@pytest.mark.slow
@pytest.mark.onnxruntime
def test_missing_adapter_folder_stops_the_build(installed: Installed, outside: Path):
    need_onnxruntime()
    adapter = installed.site / "edgesdk" / "runtimes" / "onnxruntime" / "cpp"
    aside = adapter.with_name("cpp.aside")
    out = outside.parent / "dist-missing-adapter"
    adapter.rename(aside)
    try:
        proc = _run([installed.edgesdk, "build", "-c", "edgesdk.yaml", "--target", "x86", "--out", out], outside, installed.env)
    finally:
        aside.rename(adapter)
    assert proc.returncode == PackagingError.exit_code, proc.stderr
    assert str(adapter) in proc.stderr and "missing" in proc.stderr, proc.stderr
    leftovers = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert leftovers == [], "a build that stopped wrote into --out"
