"""The generated C++, Kotlin and Swift pre/post-processing against the libraries that define each op, and
the curated template mutants: each must be killed by those same cases (tests/opcheck/mutants.py).
The Swift mutants take minutes to build (one Swift compile of the core each), so the suite runs the
unmutated Swift only; `cd tests && python -m opcheck.mutants swift` runs them."""

from __future__ import annotations

import pytest

from .cases import post_cases
from .mutants import report
from .programs import RUN_OPTIONS, run_order_of


def test_run_options_cases_cut_by_top_k_and_by_threshold():
    """The RunOptions the C++ driver applies change the selection: some case loses classes to
    top_k alone, some to the threshold, and some keeps classes (else a mutant of either goes unseen)."""
    classifications = [c for c in post_cases() if c.task == "classification"]
    by_top_k = [c.id for c in classifications if len(c.expected_order) > RUN_OPTIONS["top_k"] and len(run_order_of(c)) == RUN_OPTIONS["top_k"]]
    by_threshold = [c.id for c in classifications if 0 < len(run_order_of(c)) < min(RUN_OPTIONS["top_k"], c.expected.size)]
    assert by_top_k and by_threshold


@pytest.mark.cpp
def test_cpp_ops_match_the_libraries(cpp_run):
    baseline, _ = cpp_run
    assert baseline == []


@pytest.mark.cpp
def test_cpp_template_mutants_are_killed(cpp_run):
    baseline, outcomes = cpp_run
    assert baseline == [], "the unmutated C++ fails, so no mutant result means anything"
    print(report(outcomes))
    assert outcomes and all(o.killed for o in outcomes), report([o for o in outcomes if not o.killed])


@pytest.mark.kotlin
def test_kotlin_ops_match_the_libraries(kotlin_run):
    baseline, _ = kotlin_run
    assert baseline == []


@pytest.mark.kotlin
def test_kotlin_template_mutants_are_killed(kotlin_run):
    baseline, outcomes = kotlin_run
    assert baseline == [], "the unmutated Kotlin fails, so no mutant result means anything"
    print(report(outcomes))
    assert outcomes and all(o.killed for o in outcomes), report([o for o in outcomes if not o.killed])


@pytest.mark.kotlin
def test_kotlin_app_logic_mutants_are_killed(kotlin_app_run):
    """Accelerator fallback, frame back-pressure, close during a run: each mutant must fail
    tests/kotlin/AppLogicCheck.kt."""
    baseline, outcomes = kotlin_app_run
    assert baseline == [], "the unmutated app logic fails its checks, so no mutant result means anything"
    print(report(outcomes))
    assert outcomes and all(o.killed for o in outcomes), report([o for o in outcomes if not o.killed])


@pytest.mark.swift
def test_swift_ops_match_the_libraries(swift_run):
    baseline, _ = swift_run
    assert baseline == []
