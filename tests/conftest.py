"""Shared fixtures: the example classifier's model files, made once per session (no downloads)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "classifier"
sys.path.insert(0, str(EXAMPLE))


def _this_checkout_first() -> None:
    """Tests run this checkout's code, in this process and in every `edgesdk` they start: the shared
    venv's editable install may point at another checkout."""
    import edgesdk

    imported = Path(edgesdk.__file__).resolve().parent
    if imported != REPO / "edgesdk":
        pytest.exit(f"edgesdk is imported from {imported}, not from this checkout {REPO}: run `make test`, or put {REPO} first on PYTHONPATH", returncode=4)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, paths)])


_this_checkout_first()


@pytest.fixture(scope="session", autouse=True)
def _temp_files_under_basetemp(tmp_path_factory):
    """Every temporary folder the code under test makes (the C++ host test's build folder, say)
    lies under pytest's basetemp, beside the test's own tmp_path. So a build's paths relative to
    its sources are the same on every run, which is what lets ccache (`make test`) reuse objects;
    and pytest prunes them with its old basetemps."""
    import tempfile

    root = tmp_path_factory.getbasetemp() / "tmp"
    root.mkdir(exist_ok=True)
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = None  # re-read TMPDIR
    yield
    if previous is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = previous
    tempfile.tempdir = None


@pytest.fixture(scope="session", autouse=True)
def _build_cache_per_session(tmp_path_factory):
    """The build cache (edgesdk/buildcache.py) is keyed by source code, not by what a test patches in
    at run time: each session starts with an empty one, so a planted failure is never answered from
    an entry an earlier session stored. Builds within the session still share it."""
    from edgesdk import buildcache

    previous = os.environ.get(buildcache.ENV_SWITCH)
    os.environ[buildcache.ENV_SWITCH] = str(tmp_path_factory.getbasetemp() / "build-cache")
    yield
    if previous is None:
        os.environ.pop(buildcache.ENV_SWITCH, None)
    else:
        os.environ[buildcache.ENV_SWITCH] = previous


@pytest.fixture(scope="session")
def example_models(tmp_path_factory) -> Path:
    """A folder with model.pt (TorchScript), model.pt2 (torch.export), model.onnx, labels.txt and
    classifier_model.py, as written by the example's own code."""
    import torch
    from classifier_model import INPUT_SHAPE, trained_classifier

    folder = tmp_path_factory.mktemp("example")
    model = trained_classifier()
    torch.jit.script(model).save(str(folder / "model.pt"))
    example = (torch.zeros(INPUT_SHAPE),)
    torch.export.save(torch.export.export(model, example), str(folder / "model.pt2"))
    torch.onnx.export(model, example, str(folder / "model.onnx"), dynamo=True, external_data=False, opset_version=18, input_names=["image"], output_names=["logits"], verbose=False)
    shutil.copy(EXAMPLE / "labels.txt", folder / "labels.txt")
    shutil.copy(EXAMPLE / "classifier_model.py", folder / "classifier_model.py")
    return folder


def example_manifest_dict(source: str = "model.pt") -> dict:
    data = yaml.safe_load((EXAMPLE / "edgesdk.yaml").read_text(encoding="utf-8"))
    data["model"]["source"] = source
    return data


def example_project_in(folder: Path, example_models: Path) -> Path:
    """Copy the example's model files into `folder` beside its manifest; returns the manifest's path."""
    for f in example_models.iterdir():
        shutil.copy(f, folder / f.name)
    path = folder / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(example_manifest_dict(), sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def project(example_models, tmp_path):
    """A writable copy of the example project; returns a function writing a manifest into it."""
    folder = tmp_path / "project"
    shutil.copytree(example_models, folder)

    def write(data: dict | None = None, text: str | None = None) -> Path:
        path = folder / "edgesdk.yaml"
        path.write_text(text if text is not None else yaml.safe_dump(data if data is not None else example_manifest_dict(), sort_keys=False), encoding="utf-8")
        return path

    write.folder = folder  # type: ignore[attr-defined]
    return write


def skip_unless_runtime(runtime: str) -> None:
    """Skip the calling test (or fixture) when the runtime's Python package is missing, saying why."""
    from edgesdk.backends import availability

    ok, why = availability(runtime)
    if not ok:
        pytest.skip(f"runtime '{runtime}': {why}")
