"""One exit-code table behind every error class, the CLI help and README; every flag explained; causes kept."""

from __future__ import annotations

import argparse
import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import edgesdk
from edgesdk import errors
from edgesdk.cli import _parser, main

REPO = Path(__file__).resolve().parents[2]


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_error_class_is_in_the_exit_code_table():
    for module in pkgutil.walk_packages(edgesdk.__path__, "edgesdk."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)  # error classes defined anywhere in the package
    listed = {cls: row.code for row in errors.EXIT_CODES for cls in row.errors}
    for cls in {errors.EdgeSdkError, *_all_subclasses(errors.EdgeSdkError)}:
        assert cls in listed, f"{cls.__module__}.{cls.__name__} is not in errors.EXIT_CODES"
        assert cls.exit_code == listed[cls]
    codes = [row.code for row in errors.EXIT_CODES]
    assert codes == sorted(set(codes)) and {0, 1, 2, 3, 4, 5, 130} <= set(codes)


@pytest.mark.parametrize("argv", [["--help"], ["build", "--help"]])
def test_cli_help_shows_the_exit_code_table(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert errors.exit_codes_text() in out
    for row in errors.EXIT_CODES:
        assert f"  {row.code:<4} {row.meaning}\n" in out


def test_readme_states_the_exit_code_table():
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert errors.exit_codes_line() in readme, f"README.md should say: {errors.exit_codes_line()}"


def _actions(parser: argparse.ArgumentParser, prefix: str = "edgesdk"):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        yield f"{prefix} {'/'.join(action.option_strings) or action.dest}", action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{prefix} {name}")


def test_every_cli_flag_and_argument_has_help():
    seen = list(_actions(_parser()))
    assert len(seen) > 25, "the walk reaches every command"
    missing = [where for where, action in seen if not (action.help or "").strip() or action.help == argparse.SUPPRESS]
    assert missing == []


def _raises_without_their_cause(path: Path) -> list[str]:
    """`raise New(...)` inside `except E as exc:` must say `from exc`: not `from None`, not nothing."""
    found = []
    for handler in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(handler, ast.ExceptHandler):
            for node in ast.walk(handler):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    cause = node.cause.id if isinstance(node.cause, ast.Name) else None
                    if handler.name is None or cause != handler.name:
                        found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_errors_keep_their_cause():
    found = [where for path in sorted((REPO / "edgesdk").rglob("*.py")) for where in _raises_without_their_cause(path)]
    assert found == []


BROKEN_YAML = "name: [unclosed\n"


def test_one_line_by_default_the_chain_with_debug(tmp_path, capsys, monkeypatch):
    manifest = tmp_path / "edgesdk.yaml"
    manifest.write_text(BROKEN_YAML, encoding="utf-8")
    argv = ["build", "-c", str(manifest), "--out", str(tmp_path / "dist")]
    assert main(argv) == 2
    plain = capsys.readouterr().err
    assert plain.startswith("error: ") and "invalid YAML" in plain and len(plain.splitlines()) == 1

    assert main([*argv, "--debug"]) == 2
    debug = capsys.readouterr().err
    assert "yaml.parser.ParserError" in debug and "The above exception was the direct cause of the following exception" in debug
    assert debug.endswith(plain), "the same one line ends the report"

    monkeypatch.setenv("EDGESDK_DEBUG", "1")
    assert main(argv) == 2
    assert capsys.readouterr().err == debug
    assert not (tmp_path / "dist").exists()
