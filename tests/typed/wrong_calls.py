"""Calls mypy --strict must refuse, each on a line marked ``# wrong``
(tests/test_typed_wheel.py checks the errors land on exactly those lines)."""

from __future__ import annotations

import httpx

from modelgates import AsyncModelGates, ModelGates, first_frame

client = ModelGates()
client.videos.create(model="m", prompt="p", duration="8")  # wrong
client.videos.create(model="m", prompt="p", fps=24)  # wrong
client.videos.create(model="m", prompt="p", frame_images=["https://x/1.png"])  # wrong
client.videos.create(model="m", prompt="p", generate_audio="yes")  # wrong
client.videos.create(model="m", prompt="p", input_references=[{"type": "image_url"}])  # wrong
client.videos.create(model="m", prompt="p", extra_headers={"X-N": 1})  # wrong
client.videos.generate(model="m", prompt="p", seed=1.5)  # wrong
first_frame(url=1)  # wrong
client.with_options(timeout="5")  # wrong
ModelGates(http_client=httpx.AsyncClient())  # wrong
AsyncModelGates(http_client=httpx.Client())  # wrong
