"""An independent signer for webhook tests, written from the API's documentation (not from
``modelgates.webhooks``), so a bug shared by the library's signer and verifier cannot hide.

Documented scheme: ``X-ModelGates-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256, keyed with the signing secret, of the ASCII timestamp, a comma and the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

SECRET = "whsec_test_TOP-SECRET-value-0123456789"


def signature(body: bytes, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode("ascii") + b"," + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes,
    *secrets: str,
    timestamp: int | None = None,
    job_id: str = "job-abc123",
    status: str = "completed",
) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    parts = [f"t={t}"] + [f"v1={signature(body, s, t)}" for s in (secrets or (SECRET,))]
    return {
        "X-ModelGates-Signature": ",".join(parts),
        "X-ModelGates-Idempotency-Key": f"{job_id}-{status}",
        "Content-Type": "application/json",
    }


def event_body(job_id: str = "job-abc123", status: str = "completed", **extra: object) -> bytes:
    data: dict[str, object] = {"id": job_id, "status": status}
    if status == "completed":
        data |= {
            "generation_id": f"gen-{job_id}",
            "model": "google/veo-3.1",
            "unsigned_urls": [f"https://modelgates.ai/api/v1/videos/{job_id}/content?index=0"],
            "usage": {"cost": 0.5, "is_byok": False},
        }
    else:
        data["error"] = "The provider rejected the prompt"
    body = {
        "type": f"video.generation.{status}",
        "created_at": "2026-03-01T12:00:00Z",
        "data": data,
        **extra,
    }
    return json.dumps(body).encode()
