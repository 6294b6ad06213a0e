"""One encrypted bundle build for every test of tests/crypto (vault_bundle.py)."""

from __future__ import annotations

import pytest

from .vault_bundle import Built


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    return Built(tmp_path_factory.mktemp("vault"))
