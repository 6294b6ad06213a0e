"""A checkout runs its own code: the venv is shared between checkouts and its editable install
points at whichever ran `make` last, so the tests (and every `edgesdk` they start) must import
edgesdk from this checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_child_processes_import_this_checkout(tmp_path):
    # From another folder, as the CLI tests run it: cwd is not on the path there.
    probe = subprocess.run([sys.executable, "-c", "import edgesdk; print(edgesdk.__file__)"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert Path(probe.stdout.strip()).resolve().parent == REPO / "edgesdk"


def test_makefile_puts_this_checkout_first():
    probe_rule = "print-pythonpath:\n\t@echo $$PYTHONPATH\n"
    out = subprocess.run(["make", "-s", "-C", str(REPO), "-f", "Makefile", "-f", "-", "print-pythonpath"], input=probe_rule, capture_output=True, text=True, check=True)
    assert out.stdout.split(":")[0].strip() == str(REPO)
