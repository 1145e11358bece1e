"""Shared fixtures. The emulator fixtures come from the plugin users enable the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator

import httpx
import pytest

from modelgates import AsyncModelGates, ModelGates
from modelgates.emulator import DEFAULT_API_KEY, Emulator, Exchange

pytest_plugins = ["modelgates.emulator.pytest_plugin"]

KEY = DEFAULT_API_KEY

#: The running test's exchanges with any in-process emulator (appended from its threads).
_exchanges: list[Exchange] = []


def pytest_configure(config: pytest.Config) -> None:
    Emulator.exchange_observers.append(_exchanges.append)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _exchanges.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a test whose exchanges with the emulator the document does not allow, unless
    it is marked ``off_document(reason)`` (see tests/_document_check.py)."""
    result = yield
    if item.get_closest_marker("off_document") is None and _exchanges:
        from tests._document_check import violations

        found = [v for exchange in list(_exchanges) for v in violations(exchange)]
        if found:
            shown = "\n  ".join(found[:8]) + ("\n  ..." if len(found) > 8 else "")
            pytest.fail(
                f"exchanges with the emulator that openapi/modelgates.yaml does not allow "
                f"(mark the test off_document(reason) if on purpose):\n  {shown}",
                pytrace=False,
            )
    return result


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    import sys

    if "tests._document_check" in sys.modules:
        stats = sys.modules["tests._document_check"].stats
        terminalreporter.write_line(
            f"document check: {stats['exchanges']} emulator exchanges, {stats['checked']} "
            f"distinct ones checked against openapi/modelgates.yaml in {stats['seconds']:.2f} s"
        )


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


@pytest.fixture(params=["fast", "general"])
def body_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test once with bodies read by the fast path (``_fastbody``) and once by httpx
    (the general path), and checks the fast run really took the fast path every time."""
    from modelgates import _fastbody

    real = _fastbody.open_body
    fast: list[bool] = []

    def open_body(response: httpx.Response) -> _fastbody.FastBody | None:
        body = real(response) if request.param == "fast" else None
        fast.append(body is not None)
        return body

    monkeypatch.setattr(_fastbody, "open_body", open_body)
    yield request.param
    if request.param == "fast":
        assert all(fast), "a body took the general path (see _fastbody.why_not)"
