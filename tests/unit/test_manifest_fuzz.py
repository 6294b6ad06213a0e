"""Random manifests never reach a traceback: hundreds of mutations of the example manifest, and of
its YAML text, go through `edgesdk validate` and must end in exit 0 (valid), 2 (named field) or 5
(runtime not here), with no Python traceback and no "internal error" (exit 1).

The default run is derandomized so CI is repeatable; EDGESDK_FUZZ_EXAMPLES=N (as `make fuzz`
sets it) runs N fresh random examples instead.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import shutil
from typing import Any

import pytest
import yaml
from conftest import example_manifest_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgesdk.cli import main

pytestmark = pytest.mark.fuzz
FUZZ_EXAMPLES = int(os.environ.get("EDGESDK_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES or 250,
    derandomize=not FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
ALLOWED_EXITS = {0, 2, 5}

# Values a careless or hostile manifest holds: non-finite and extreme numbers, wrong types, huge
# and odd strings, deep and wide containers.
HOSTILE_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-320, 1e100, 2**63, -(2**63) - 1, 10**40, 0, -1, 16385]),
    st.integers(),
    st.booleans(),
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["", "x" * 5000, "../../../../etc/passwd", "/dev/zero", "python:os:system", "env:", "file:/dev/zero", "nchw", "int8", "auto"]),
)


def _nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_VALUES = st.one_of(
    HOSTILE_SCALARS,
    st.lists(HOSTILE_SCALARS, max_size=6),
    st.dictionaries(st.text(max_size=10), HOSTILE_SCALARS, max_size=4),
    st.sampled_from([_nested(31), _nested(40), list(range(5000)), {"op": "resize"}, [[1, 2], [3, 4]]]),
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path in the manifest, containers included."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _apply(data: dict, path: tuple, action: str, value: Any) -> None:
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "replace":
        parent[last] = value
    elif action == "delete":
        del parent[last]
    elif action == "duplicate" and isinstance(parent, list):
        parent.insert(last, parent[last])
    elif action == "add_key" and isinstance(parent[last], dict):
        parent[last][str(value)[:20]] = value


@st.composite
def mutated_manifests(draw) -> dict:
    data = example_manifest_dict()
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "duplicate", "add_key"]))
        _apply(data, path, action, copy.deepcopy(draw(HOSTILE_VALUES)))  # sampled values are shared objects
    return data


@st.composite
def mutated_texts(draw) -> bytes:
    """The example's YAML with a few bytes replaced, inserted or cut: parser errors of every kind."""
    text = bytearray(yaml.safe_dump(example_manifest_dict(), sort_keys=False).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["replace", "insert", "cut"]))
        chunk = draw(st.one_of(st.binary(min_size=1, max_size=4), st.sampled_from([b":", b"- ", b"\t", b"&a ", b"*a", b"!!", b"{", b"[", b"'", b'"', b"\n  ", b"\xff\xfe"])))
        if kind == "insert":
            text[at:at] = chunk
        elif kind == "replace":
            text[at : at + len(chunk)] = chunk
        else:
            del text[at : at + draw(st.integers(1, 40))]
    return bytes(text)


@pytest.fixture(scope="module")
def fuzz_project(example_models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    for name in ("model.pt", "labels.txt"):
        shutil.copy(example_models / name, folder / name)
    return folder


def run_cli(argv: list[str]) -> tuple[int, str]:
    """The CLI in this process: its exit code and everything it printed."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


def _validate(manifest_path) -> tuple[int, str]:
    return run_cli(["validate", "-c", str(manifest_path)])


def _check(code: int, output: str, manifest_text: str) -> None:
    assert "Traceback" not in output and "internal error" not in output, f"{output}\nmanifest:\n{manifest_text[:2000]}"
    assert code in ALLOWED_EXITS, f"exit {code}: {output}\nmanifest:\n{manifest_text[:2000]}"
    if code != 0:
        assert len(output.strip().splitlines()) == 1 and output.startswith("error: "), output


@FUZZ
@given(data=mutated_manifests())
def test_mutated_manifests_exit_cleanly(fuzz_project, data):
    try:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    except RecursionError:  # PyYAML's dumper recurses too; such a file is the text test's business
        return
    path = fuzz_project / "edgesdk.yaml"
    path.write_text(text, encoding="utf-8")
    _check(*_validate(path), text)


@FUZZ
@given(raw=mutated_texts())
def test_mutated_yaml_text_exits_cleanly(fuzz_project, raw):
    path = fuzz_project / "edgesdk.yaml"
    path.write_bytes(raw)
    _check(*_validate(path), raw.decode("utf-8", "replace"))


def test_the_mutation_test_sees_a_traceback(fuzz_project, monkeypatch):
    """The checker itself: a manifest path that crashes inside validation is reported, not passed."""
    import edgesdk.api

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(edgesdk.api, "validate", broken)
    path = fuzz_project / "edgesdk.yaml"
    path.write_text(yaml.safe_dump(example_manifest_dict()), encoding="utf-8")
    code, output = _validate(path)
    assert code == 1 and output.strip() == "internal error: ZeroDivisionError: planted (a bug in edgesdk; --debug prints the traceback for a report)"
    with pytest.raises(AssertionError):
        _check(code, output, "")
