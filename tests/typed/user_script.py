"""A user's script using the typed surface: mypy --strict must pass on it against the
installed wheel (tests/test_typed_wheel.py). Never run, only type-checked."""

from __future__ import annotations

import httpx

from modelgates import (
    AsyncModelGates,
    DownloadResult,
    FrameImage,
    InputReference,
    ModelGates,
    VideoJob,
    VideoRequestFields,
    audio_reference,
    first_frame,
    image_reference,
    last_frame,
    video_reference,
)


def main() -> DownloadResult:
    frames: list[FrameImage] = [first_frame("https://x/1.png"), last_frame("https://x/2.png")]
    references: list[InputReference] = [
        image_reference("https://x/r.png"),
        video_reference("https://x/v.mp4"),
        audio_reference("https://x/a.mp3"),
    ]
    common: VideoRequestFields = {"resolution": "720p", "duration": 8}
    with httpx.Client(proxy="http://127.0.0.1:3128") as http:
        client = ModelGates(http_client=http, max_retries=3)
        job: VideoJob = client.videos.create(
            model="google/veo-3.1",
            prompt="a fox",
            aspect_ratio="16:9",
            resolution="8K",  # a value the API added after this release: any str
            seed=7,
            generate_audio=True,
            frame_images=frames,
            input_references=references,
            callback_url="https://hooks.example.com/modelgates",
            provider={"options": {"google-vertex": {"person_generation": "allow"}}},
            extra_body={"fps": 24},
            extra_headers={"X-Trace": "1"},
            extra_query={"debug": "1"},
            timeout=30,
            check=True,
        )
        quick = client.with_options(timeout=httpx.Timeout(5.0), max_retries=0)
        quick.videos.get(job.id, extra_headers={"X-Trace": "2"})
        return client.videos.generate(
            model="openai/sora-2", prompt="a cat", request_timeout=20.0, **common
        )


async def main_async() -> list[DownloadResult]:
    async with AsyncModelGates() as client:
        job = await client.videos.create(model="m", prompt="p", size="1280x720")
        await client.with_options(max_retries=5).videos.wait(job.id, request_timeout=10)
        return await client.videos.download_all(job.id, "out/", extra_query={"a": 1})
