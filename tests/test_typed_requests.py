"""Typed requests: every document field a typed keyword of create/generate, builders for the
nested parts, extra_body for what a newer API added, and check=True on frames, audio and
the callback URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import modelgates
from modelgates import (
    AsyncModelGates,
    InvalidParameterError,
    ModelGates,
    VideoModel,
    audio_reference,
    first_frame,
    image_reference,
    last_frame,
    video_reference,
)
from modelgates._cli import main
from modelgates._workflow import check_request
from modelgates.emulator import Emulator
from tests.conftest import KEY

MODEL = "emulator/video-1"


def _body(emulator: Emulator) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(emulator.last_body)
    return body


def test_builders_make_the_documents_shapes() -> None:
    url = "https://example.com/a.png"
    assert first_frame(url) == {
        "type": "image_url",
        "image_url": {"url": url},
        "frame_type": "first_frame",
    }
    assert last_frame(url)["frame_type"] == "last_frame"
    assert image_reference(url) == {"type": "image_url", "image_url": {"url": url}}
    assert video_reference(url) == {"type": "video_url", "video_url": {"url": url}}
    assert audio_reference(url) == {"type": "audio_url", "audio_url": {"url": url}}


def test_every_typed_field_is_sent_as_given(client: ModelGates, emulator: Emulator) -> None:
    client.videos.create(
        model=MODEL,
        prompt="a fox",
        resolution="720p",
        aspect_ratio="16:9",
        duration=8,
        size="1280x720",
        seed=42,
        generate_audio=True,
        frame_images=[first_frame("https://x/1.png"), last_frame("https://x/2.png")],
        input_references=[image_reference("https://x/r.png"), audio_reference("https://x/a.mp3")],
        callback_url="https://hooks.example.com/modelgates",
        provider={"options": {"emulator": {"quality": "high"}}},
        check=True,
    )
    body = _body(emulator)
    assert body["frame_images"][1] == last_frame("https://x/2.png")
    assert body["input_references"][1]["audio_url"] == {"url": "https://x/a.mp3"}
    assert sorted(body) == sorted(
        ["model", "prompt", *modelgates._requests.TYPED_FIELDS]
    )  # each typed field once, nothing else


@pytest.mark.off_document("sends an enum value the bundled document does not list yet")
def test_a_value_the_api_adds_tomorrow_is_a_str_today(
    client: ModelGates, emulator: Emulator
) -> None:
    client.videos.create(model=MODEL, prompt="p", resolution="8K", aspect_ratio="5:4")
    assert _body(emulator) == {
        "model": MODEL,
        "prompt": "p",
        "resolution": "8K",
        "aspect_ratio": "5:4",
    }


def test_extra_body_sends_newer_fields_and_a_field_both_ways_is_refused(
    client: ModelGates, emulator: Emulator
) -> None:
    client.videos.create(model=MODEL, prompt="p", extra_body={"fps": 24, "style": {"a": 1}})
    assert _body(emulator) == {"model": MODEL, "prompt": "p", "fps": 24, "style": {"a": 1}}
    posts = len(emulator.requests_to("api"))
    with pytest.raises(InvalidParameterError, match=r"^duration is passed both as duration="):
        client.videos.create(model=MODEL, prompt="p", duration=8, extra_body={"duration": 4})
    with pytest.raises(InvalidParameterError, match="prompt is passed both"):
        client.videos.create(model=MODEL, prompt="p", extra_body={"prompt": "q"})
    assert len(emulator.requests_to("api")) == posts


def test_an_unknown_keyword_names_extra_body(client: ModelGates, emulator: Emulator) -> None:
    with pytest.raises(InvalidParameterError, match=r"fps is not a request field.*extra_body="):
        client.videos.create(model=MODEL, prompt="p", fps=24)  # type: ignore[call-arg]
    assert emulator.requests_to("api") == []


def _model(**capabilities: Any) -> VideoModel:
    return VideoModel(id="m/one", name="One", **capabilities)


def test_check_refuses_frame_images_the_model_does_not_list() -> None:
    models = [_model(supported_frame_images=("first_frame",))]
    check_request(models, "m/one", {"frame_images": [first_frame("https://x/1.png")]})
    with pytest.raises(
        InvalidParameterError,
        match=r"frame_images\[1\] has frame_type='last_frame'.*accepts first_frame",
    ):
        check_request(
            models,
            "m/one",
            {"frame_images": [first_frame("https://x/1.png"), last_frame("https://x/2.png")]},
        )
    with pytest.raises(InvalidParameterError, match="accepts no frame images"):
        check_request(
            [_model(supported_frame_images=())],
            "m/one",
            {"frame_images": [first_frame("u")]},
        )
    # Not listed at all: nothing to check against.
    check_request([_model()], "m/one", {"frame_images": [last_frame("u")]})


def test_check_refuses_audio_the_model_cannot_make() -> None:
    with pytest.raises(InvalidParameterError, match="generate_audio=True is not supported"):
        check_request([_model(generate_audio=False)], "m/one", {"generate_audio": True})
    check_request([_model(generate_audio=False)], "m/one", {"generate_audio": False})


@pytest.mark.parametrize(
    "url",
    ["https://hooks.example.com/x", "http://127.0.0.1:8080/hook", "http://localhost/hook"],
)
def test_check_accepts_https_and_loopback_callbacks(url: str) -> None:
    check_request([_model()], "m/one", {"callback_url": url})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "plain http to 'hooks.example.com'"),
        ("ftp://hooks.example.com/x", "not an absolute https:// URL"),
        ("/relative/hook", "not an absolute https:// URL"),
    ],
)
def test_check_refuses_other_callbacks_naming_the_parameter(url: str, reason: str) -> None:
    with pytest.raises(InvalidParameterError, match=rf"^callback_url '{url}' .*{reason}"):
        check_request([_model()], "m/one", {"callback_url": url})


def test_check_true_refuses_a_plain_http_callback_before_any_post(
    client: ModelGates, emulator: Emulator
) -> None:
    with pytest.raises(InvalidParameterError, match="callback_url"):
        client.videos.create(
            model=MODEL, prompt="p", callback_url="http://hooks.example.com/x", check=True
        )
    assert [r.method for r in emulator.requests_to("api")] == ["GET"]  # the models list only
    # Without check=True it is sent: the API is the judge.
    client.videos.create(model=MODEL, prompt="p", callback_url="http://hooks.example.com/x")
    assert _body(emulator)["callback_url"] == "http://hooks.example.com/x"


@pytest.mark.anyio
async def test_async_create_and_generate_take_the_same_fields(
    emulator: Emulator, tmp_path: Path
) -> None:
    async with AsyncModelGates(api_key=KEY, base_url=emulator.base_url) as client:
        await client.videos.create(
            model=MODEL, prompt="p", frame_images=[first_frame("u")], extra_body={"fps": 24}
        )
        assert _body(emulator)["fps"] == 24
        with pytest.raises(InvalidParameterError, match="seed is passed both"):
            await client.videos.create(model=MODEL, prompt="p", seed=1, extra_body={"seed": 2})
        emulator.polls_to_complete = 0
        result = await client.videos.generate(
            model=MODEL, prompt="p", dest=tmp_path, duration=4, callback_url="https://h/x"
        )
    assert result.path.exists()
    assert _body(emulator)["callback_url"] == "https://h/x"


def test_generate_sends_the_typed_fields(
    client: ModelGates, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.polls_to_complete = 0
    client.videos.generate(
        model=MODEL,
        prompt="p",
        dest=tmp_path,
        poll_interval=0.01,
        input_references=[video_reference("https://x/v.mp4")],
        extra_body={"fps": 30},
    )
    body = _body(emulator)
    assert body["input_references"] == [video_reference("https://x/v.mp4")]
    assert body["fps"] == 30


def test_cli_flags_for_the_new_fields(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    code = main(
        ["videos", "create", "--model", MODEL, "--prompt", "p", "--base-url", emulator.base_url,
         "--first-frame", "https://x/1.png", "--last-frame", "https://x/2.png",
         "--image-reference", "https://x/r.png", "--video-reference", "https://x/v.mp4",
         "--audio-reference", "https://x/a.mp3", "--no-generate-audio",
         "--callback-url", "https://h/x", "--provider", '{"options": {"e": {"k": 1}}}',
         "--field", "fps=24", "--json"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert _body(emulator) == {
        "model": MODEL,
        "prompt": "p",
        "generate_audio": False,
        "frame_images": [first_frame("https://x/1.png"), last_frame("https://x/2.png")],
        "input_references": [
            image_reference("https://x/r.png"),
            video_reference("https://x/v.mp4"),
            audio_reference("https://x/a.mp3"),
        ],
        "callback_url": "https://h/x",
        "provider": {"options": {"e": {"k": 1}}},
        "fps": 24,
    }


def test_cli_callback_url_on_generate_is_checked(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELGATES_API_KEY", KEY)
    code = main(
        ["videos", "generate", "--model", MODEL, "--prompt", "p", "--base-url", emulator.base_url,
         "--callback-url", "http://hooks.example.com/x", "--check"]
    )  # fmt: skip
    assert code == 2
    assert "--callback-url 'http://hooks.example.com/x' is plain http" in capsys.readouterr().err
    assert [r.method for r in emulator.requests_to("api")] == ["GET"]


def test_cli_provider_must_be_a_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["videos", "create", "--model", MODEL, "--provider", "[1]"])
    assert exit_info.value.code == 2
    assert "--provider" in capsys.readouterr().err
