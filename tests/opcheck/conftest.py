"""Fixtures of the op checks: the cases, their exact results, and the mutation harness per language."""

from __future__ import annotations

import shutil

import pytest
from toolchains import need

from edgesdk import hosttest_kotlin, hosttest_swift

from .mutants import APP_MUTANTS, Harness, of_language, run_cpp, run_kotlin, run_kotlin_app, run_swift


def cpp_problem() -> str | None:
    return None if shutil.which("g++") else "g++ is not on PATH (make system-deps)"


@pytest.fixture(scope="session")
def harness(tmp_path_factory) -> Harness:
    return Harness(tmp_path_factory.mktemp("opcheck"))


@pytest.fixture(scope="session")
def cpp_run(harness):
    """The unmutated C++ program's problems and every curated C++ mutant's outcome (one run)."""
    need(cpp_problem())
    return run_cpp(harness, of_language("cpp"))


@pytest.fixture(scope="session")
def kotlin_run(harness):
    """The same for Kotlin: one kotlinc run compiles the unmutated core and every mutant."""
    need(hosttest_kotlin.toolchain_problem())
    return run_kotlin(harness, of_language("kotlin"))


@pytest.fixture(scope="session")
def swift_run(harness):
    """The unmutated Swift program's problems (one swift build)."""
    need(hosttest_swift.toolchain_problem())
    return run_swift(harness, [])


@pytest.fixture(scope="session")
def kotlin_app_run(tmp_path_factory):
    """The unmutated Kotlin app logic's problems and every app-logic mutant's outcome (one kotlinc run)."""
    need(hosttest_kotlin.toolchain_problem())
    return run_kotlin_app(tmp_path_factory.mktemp("opcheck-app"), APP_MUTANTS)
