"""pytest fixtures for testing code that talks to ModelGates, against the emulator.

Enable in a project with ``pytest_plugins = ["modelgates.emulator.pytest_plugin"]`` in its
top-level conftest.py, or ``pytest -p modelgates.emulator.pytest_plugin``.

- ``modelgates_emulator``: a fresh running ``Emulator`` per test.
- ``modelgates_client``: a ``ModelGates`` client for it (key and base URL set).
- ``modelgates_webhook_receiver``: a running ``WebhookReceiver`` that verifies events with
  the emulator's secret and collects them: pass its ``url`` as ``callback_url``, then
  ``receiver.wait_for(1)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelgates import ModelGates

from ._receiver import WebhookReceiver
from ._server import DEFAULT_API_KEY, Emulator


@pytest.fixture
def modelgates_emulator() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def modelgates_client(modelgates_emulator: Emulator) -> Iterator[ModelGates]:
    with ModelGates(api_key=DEFAULT_API_KEY, base_url=modelgates_emulator.base_url) as client:
        yield client


@pytest.fixture
def modelgates_webhook_receiver(modelgates_emulator: Emulator) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(list(modelgates_emulator.webhooks.secrets)) as receiver:
        yield receiver
