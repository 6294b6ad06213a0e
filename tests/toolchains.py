"""A test that needs a compiler or a native package the machine lacks: a skip with the reason on a
developer's partial machine, a failure where the toolchains are required (`make test` exports
EDGESDK_REQUIRE_TOOLCHAINS=1: CI installs everything, so a missing one is a broken setup)."""

from __future__ import annotations

import os

import pytest

REQUIRE_ENV = "EDGESDK_REQUIRE_TOOLCHAINS"


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") == "1"


def need(problem: str | None) -> None:
    """Skip (or fail, when required) the calling test if `problem` names a missing toolchain."""
    if not problem:
        return
    if required():
        pytest.fail(f"{problem} ({REQUIRE_ENV}=1: toolchains are required here)", pytrace=False)
    pytest.skip(problem)
