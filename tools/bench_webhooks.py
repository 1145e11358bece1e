"""Cost of checking one webhook delivery: ``webhooks.verify`` and ``webhooks.unwrap`` on a
typical completed-job event, best of 5 runs of 20,000 calls (timeit), with the load average
(the machine may be shared: the figure is per call on this machine, not a goal).

    .venv/bin/python tools/bench_webhooks.py
"""

from __future__ import annotations

import json
import os
import time
import timeit

from modelgates import webhooks

SECRET = "whsec_bench"  # noqa: S105 - a throwaway value
CALLS = 20_000


def main() -> None:
    body = json.dumps(
        {
            "type": "video.generation.completed",
            "created_at": "2026-03-01T12:00:00Z",
            "data": {
                "id": "job-abc123",
                "status": "completed",
                "generation_id": "gen-job-abc123",
                "unsigned_urls": ["https://modelgates.ai/api/v1/videos/job-abc123/content?index=0"],
                "usage": {"cost": 0.5, "is_byok": False},
            },
        }
    ).encode()
    headers = {
        webhooks.SIGNATURE_HEADER: webhooks.sign(body, SECRET, timestamp=int(time.time())),
        webhooks.IDEMPOTENCY_HEADER: "job-abc123-completed",
    }
    print(f"load average {os.getloadavg()[0]:.1f}, {len(body)}-byte event")
    for name, call in (
        ("verify", lambda: webhooks.verify(body, headers, SECRET)),
        ("unwrap", lambda: webhooks.unwrap(body, headers, SECRET)),
    ):
        best = min(timeit.repeat(call, number=CALLS, repeat=5)) / CALLS
        print(f"{name:8} {best * 1e6:7.1f} us per call")


if __name__ == "__main__":
    main()
