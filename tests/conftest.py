"""Shared fixtures. The emulator fixtures come from the plugin users enable the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from modelgates import AsyncModelGates, ModelGates
from modelgates.emulator import DEFAULT_API_KEY, Emulator

pytest_plugins = ["modelgates.emulator.pytest_plugin"]

KEY = DEFAULT_API_KEY


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own key or base URL never leaks into a test."""
    for name in ("MODELGATES_API_KEY", "MODELGATES_API_KEY_FILE", "MODELGATES_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def emulator(modelgates_emulator: Emulator) -> Emulator:
    return modelgates_emulator


@pytest.fixture
def client(emulator: Emulator) -> Iterator[ModelGates]:
    with ModelGates(api_key=KEY, base_url=emulator.base_url) as c:
        yield c


@pytest.fixture
async def async_client(emulator: Emulator) -> AsyncIterator[AsyncModelGates]:
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as c:
        yield c


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
