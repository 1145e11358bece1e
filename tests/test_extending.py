"""docs/extending.md, step by step, on a sample endpoint added to a copy of the spec."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from modelgates.emulator import Emulator, StatusFault
from tests._spec import PUBLISHED, ROOT, generate_package, load_yaml, write_yaml
from tests.conftest import KEY

pytestmark = pytest.mark.slow

DOC = (ROOT / "docs" / "extending.md").read_text(encoding="utf-8")


def _yaml_blocks() -> list[str]:
    return [block.split("```", 1)[0] for block in DOC.split("```yaml\n")[1:]]


CALL = textwrap.dedent(
    """
    import sys
    from modelgates import ModelGates, NotFoundError
    from modelgates_api.api.default import list_video_events

    base_url, key = sys.argv[1:]
    with ModelGates(api_key=key, base_url=base_url, max_retries=2) as client:
        assert client.raw.get_httpx_client().timeout == client.timeout
        events = list_video_events.sync("job-demo", client=client.raw)
        print("events", [e.additional_properties["type"] for e in events.data])
        try:
            list_video_events.sync("missing", client=client.raw)
        except NotFoundError as exc:
            print("not found", exc.status_code, exc.message)
    """
)


@pytest.mark.off_document("serves an endpoint a newer document would add")
def test_walk_through_on_a_sample_endpoint(tmp_path: Path, emulator: Emulator) -> None:
    # 1. The operation exactly as the doc shows it, added to a copy of the spec.
    operation, pin = _yaml_blocks()
    doc = load_yaml(PUBLISHED)
    doc["paths"].update(yaml.safe_load(operation))
    # 2. Regenerate (as make generate does), first as is...
    package = generate_package(write_yaml(doc, tmp_path / "spec.yaml"), tmp_path / "out")
    module = package / "api" / "default" / "list_video_events.py"
    source = module.read_text(encoding="utf-8")
    assert "client: AuthenticatedClient" in source and "authorization" not in source
    # ...and the pinning action from the doc is valid overlay syntax for that operation.
    action = yaml.safe_load(pin)[0]
    assert action["target"] == "$.paths['/videos/{jobId}/events'].get"

    # 3. Call it through client.raw: key, base URL, timeouts, retries, error classes.
    def events(emu: Emulator, params: dict[str, str], body: object) -> tuple[int, object]:
        if params["jobId"] not in emu.jobs:
            return 404, {"error": {"code": 404, "message": "no such job"}}
        return 200, {"data": [{"type": "created"}, {"type": "completed"}]}

    emulator.route("GET", "/videos/{jobId}/events", events)
    emulator.fail("poll", StatusFault(503))  # unrelated route: untouched by the new one
    env = {**os.environ, "PYTHONPATH": str(package.parent)}
    run = subprocess.run(
        [sys.executable, "-c", CALL, emulator.base_url, KEY],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "events ['created', 'completed']" in run.stdout
    assert "not found 404 no such job" in run.stdout
    sent = [r for r in emulator.requests_to("api") if r.path.endswith("/events")]
    assert [r.path for r in sent] == [
        "/api/v1/videos/job-demo/events",
        "/api/v1/videos/missing/events",
    ]
    assert all(r.authorization == f"Bearer {KEY}" for r in sent)


def test_raw_calls_are_retried_and_raise_facade_errors(emulator: Emulator) -> None:
    """Step 3's promise, on an endpoint the generated package already has."""
    from modelgates import BadGatewayError, ModelGates, RetryPolicy
    from modelgates_api.api.videos import get_video

    delays: list[float] = []
    policy = RetryPolicy(max_retries=1, sleep=delays.append)
    emulator.fail("poll", StatusFault(502, body="html"), StatusFault(502, body="html"))
    with ModelGates(api_key=KEY, base_url=emulator.base_url, retry=policy) as client:
        with pytest.raises(BadGatewayError) as info:
            get_video.sync("job-demo", client=client.raw)
    assert len(delays) == 1
    assert "<html>" in info.value.body  # an HTML 502 is the facade's error, not a JSONDecodeError
