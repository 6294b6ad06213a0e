"""The generated-code trees are package data that any checkout and any installed wheel can hold:
no path needs characters Windows refuses, every path placeholder is one render.py maps, and a
missing tree is an error instead of a bundle without glue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgesdk import package_data, render
from edgesdk.backends import IMPLEMENTED, get_backend
from edgesdk.errors import PackagingError
from edgesdk.targets import TARGETS

DATA_DIRS = (render.TEMPLATES_DIR, render.RUNTIMES_DIR, render.SAMPLE_APPS_DIR, render.CROSS_TOOLCHAINS_DIR)
PLACEHOLDER = re.compile(r"__[a-z_]+?__")


def _data_files() -> list[Path]:
    return [p for d in DATA_DIRS for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def test_data_trees_live_inside_the_package():
    package = Path(render.__file__).resolve().parent
    for folder in DATA_DIRS:
        assert folder.is_dir() and package in folder.resolve().parents


def test_template_paths_are_portable():
    bad = [str(p) for p in _data_files() if re.search(r"[{}|\s<>:\"\\?*]", p.relative_to(package_data.PACKAGE_ROOT).as_posix())]
    assert not bad, f"paths that cannot be checked out everywhere: {bad}"


def test_every_path_placeholder_is_mapped():
    used = {m for p in _data_files() for m in PLACEHOLDER.findall(p.relative_to(package_data.PACKAGE_ROOT).as_posix())} - {"__init__", "__pycache__"}
    assert used, "the Kotlin and C++ trees name files after the model: placeholders are expected"
    assert used <= set(render.PATH_PLACEHOLDERS), f"unmapped placeholders: {used - set(render.PATH_PLACEHOLDERS)}"


def test_placeholders_map_to_the_generated_names():
    ctx = {"name": "my-model-2"}
    assert render.template_path("include/__name_snake__/__name_snake__.hpp.j2", ctx) == "include/my_model_2/my_model_2.hpp.j2"
    assert render.template_path("kotlin/ai/edgesdk/__kotlin_package__/__kotlin_class__.kt.j2", ctx) == "kotlin/ai/edgesdk/my_model_2/MyModel2.kt.j2"


@pytest.mark.parametrize("runtime", list(IMPLEMENTED))
def test_every_declared_adapter_ships(runtime):
    """A backend declares its glue languages; each must have its adapter folder and the
    language's templates, or builds would fail for users of the wheel."""
    for lang in get_backend(runtime).languages:
        assert (render.RUNTIMES_DIR / runtime / lang).is_dir(), f"{runtime} declares {lang} but ships no adapter"
        assert (render.TEMPLATES_DIR / lang).is_dir()


def test_every_target_sample_app_ships():
    for target in TARGETS.values():
        if target.sample_app is not None:
            assert (render.SAMPLE_APPS_DIR / target.sample_app).is_dir()
            assert target.sample_app in render.SAMPLE_APP_LANGUAGE


def test_missing_adapter_is_an_error_not_a_bundle_without_glue(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "RUNTIMES_DIR", tmp_path / "no-runtimes")
    with pytest.raises(PackagingError, match=r"missing from this edgesdk installation: the cpp adapter of runtime 'onnxruntime'"):
        render.render_sdk(tmp_path / "sdk", "cpp", "onnxruntime", {"name": "m"})
    assert not (tmp_path / "sdk").exists()


def test_missing_templates_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "TEMPLATES_DIR", tmp_path / "no-templates")
    with pytest.raises(PackagingError, match=r"missing from this edgesdk installation: the kotlin SDK templates"):
        render.render_sdk(tmp_path / "sdk", "kotlin", "onnxruntime", {"name": "m"})
    assert not (tmp_path / "sdk").exists()
