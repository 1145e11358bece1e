"""A local ModelGates API server, for trying the client without a key or a network, and
for testing code that uses it.

    from modelgates import ModelGates
    from modelgates.emulator import DEFAULT_API_KEY, Emulator, Faults, Output

    with Emulator() as emu:
        job = emu.add_job(outputs=[Output.generated(10 * 2**20)], faults=Faults(drop_at=[4096]))
        client = ModelGates(api_key=DEFAULT_API_KEY, base_url=emu.base_url)
        client.videos.download(job.id, "out.mp4")

Jobs created with ``callback_url`` get a signed webhook event when they end
(``emulator.webhook_deliveries``, ``emulator.webhook_faults``); ``WebhookReceiver`` is a
receiver that verifies and collects them.

Also ``modelgates emulator --port 8080`` on the command line, and the pytest fixtures of
``modelgates.emulator.pytest_plugin`` (enable with ``-p modelgates.emulator.pytest_plugin``
or ``pytest_plugins = ["modelgates.emulator.pytest_plugin"]`` in a conftest.py).
"""

from ._content import demo_video, generated_sha256
from ._receiver import ReceivedRequest, WebhookReceiver
from ._server import DEFAULT_API_KEY, DEMO_JOB_ID, Emulator, Exchange, RecordedRequest
from ._state import CreatePlan, Faults, Job, Output, StatusFault
from ._webhooks import DEFAULT_WEBHOOK_SECRET, WebhookDelivery, WebhookFaults

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "DEMO_JOB_ID",
    "CreatePlan",
    "Emulator",
    "Exchange",
    "Faults",
    "Job",
    "Output",
    "ReceivedRequest",
    "RecordedRequest",
    "StatusFault",
    "WebhookDelivery",
    "WebhookFaults",
    "WebhookReceiver",
    "demo_video",
    "generated_sha256",
]
