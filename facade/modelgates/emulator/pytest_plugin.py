"""pytest fixtures for testing code that talks to ModelGates, against the emulator.

Enable in a project with ``pytest_plugins = ["modelgates.emulator.pytest_plugin"]`` in its
top-level conftest.py, or ``pytest -p modelgates.emulator.pytest_plugin``.

- ``modelgates_emulator``: a fresh running ``Emulator`` per test.
- ``modelgates_client``: a ``ModelGates`` client for it (key and base URL set).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelgates import ModelGates

from ._server import DEFAULT_API_KEY, Emulator


@pytest.fixture
def modelgates_emulator() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def modelgates_client(modelgates_emulator: Emulator) -> Iterator[ModelGates]:
    with ModelGates(api_key=DEFAULT_API_KEY, base_url=modelgates_emulator.base_url) as client:
        yield client
