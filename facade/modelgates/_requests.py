"""The typed fields of a video request, and builders for its nested parts.

``videos.create``/``videos.generate`` take every field of the bundled document's
``VideoGenerationRequest`` as a typed keyword, so an editor completes them and mypy checks
them. Enumerated fields list the values known today in a ``Literal`` but accept any
``str`` (``Literal[...] | str``, as openai-python types its model names): the API adds a
resolution or an aspect ratio every few weeks, and a value it accepts tomorrow must be
sendable today without waiting for a release.

The nested parts are ``TypedDict``s (plain dicts at run time: they are sent as they are)
with one builder each, so nobody writes
``{"type": "image_url", "image_url": {"url": ...}, "frame_type": ...}`` by hand.

A field the document adds after this release is sent with ``extra_body={...}``;
``tests/contract/test_request_fields.py`` fails, naming the field, when the document has a
request field that is neither typed here nor listed in ``LEFT_TO_EXTRA_BODY``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

from ._errors import InvalidParameterError

Resolution = Literal["480p", "720p", "1080p", "1K", "2K", "4K"] | str
AspectRatio = Literal["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"] | str
FrameType = Literal["first_frame", "last_frame"] | str


class MediaURL(TypedDict):
    """Where the API fetches an image, video or audio part: an https URL or a data URL."""

    url: str


class ImageReference(TypedDict):
    """An image that guides the generation (every provider honours these)."""

    type: Literal["image_url"]
    image_url: MediaURL


class VideoReference(TypedDict):
    """A video that guides the generation (only some providers honour these)."""

    type: Literal["video_url"]
    video_url: MediaURL


class AudioReference(TypedDict):
    """An audio track that guides the generation (only some providers honour these)."""

    type: Literal["audio_url"]
    audio_url: MediaURL


class FrameImage(TypedDict):
    """An image the video starts (``first_frame``) or ends (``last_frame``) with."""

    type: Literal["image_url"]
    image_url: MediaURL
    frame_type: FrameType


InputReference = ImageReference | VideoReference | AudioReference


class ProviderConfig(TypedDict, total=False):
    """Provider passthrough: ``{"options": {"<provider slug>": {"<option>": value}}}``;
    only the options of the provider that serves the request are forwarded."""

    options: dict[str, dict[str, Any]]


def first_frame(url: str) -> FrameImage:
    """The image the video starts with (``frame_images=[first_frame(url)]``)."""
    return {"type": "image_url", "image_url": {"url": url}, "frame_type": "first_frame"}


def last_frame(url: str) -> FrameImage:
    """The image the video ends with."""
    return {"type": "image_url", "image_url": {"url": url}, "frame_type": "last_frame"}


def image_reference(url: str) -> ImageReference:
    """An image reference for ``input_references``."""
    return {"type": "image_url", "image_url": {"url": url}}


def video_reference(url: str) -> VideoReference:
    """A video reference for ``input_references``."""
    return {"type": "video_url", "video_url": {"url": url}}


def audio_reference(url: str) -> AudioReference:
    """An audio reference for ``input_references``."""
    return {"type": "audio_url", "audio_url": {"url": url}}


class VideoRequestFields(TypedDict, total=False):
    """The request fields of ``create``/``generate`` besides ``model`` and ``prompt``: the
    ``**fields`` of their signatures (PEP 692), so each is a typed keyword, listed once."""

    #: Known: 480p, 720p, 1080p, 1K, 2K, 4K; any other string is sent as given.
    resolution: Resolution
    #: Known: 16:9, 9:16, 1:1, 4:3, 3:4, 3:2, 2:3, 21:9, 9:21.
    aspect_ratio: AspectRatio
    #: Seconds, at least 1.
    duration: int
    #: Exact pixels, ``"WIDTHxHEIGHT"`` (instead of resolution + aspect_ratio).
    size: str
    #: Repeatable sampling where the provider supports it.
    seed: int
    generate_audio: bool
    #: ``[first_frame(url), last_frame(url)]``.
    frame_images: Sequence[FrameImage]
    #: ``[image_reference(url), video_reference(url), audio_reference(url)]``.
    input_references: Sequence[InputReference]
    #: An https URL the API calls when the job ends (``check=True`` refuses plain http
    #: except to loopback).
    callback_url: str
    provider: ProviderConfig


#: The typed request fields, in the order of ``VideoRequestFields``. The CLI and the
#: contract test read it.
TYPED_FIELDS: Final = tuple(VideoRequestFields.__annotations__)

#: Document fields deliberately not typed: sent with ``extra_body`` (none today). A field
#: listed here is one a maintainer decided users should send as given.
LEFT_TO_EXTRA_BODY: Final[frozenset[str]] = frozenset()


def request_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The typed fields of one call; a name this release does not type is refused, naming
    ``extra_body`` (the way to send it), rather than sent unchecked."""
    for name, value in fields.items():
        if name not in TYPED_FIELDS:
            raise InvalidParameterError(
                f"{name} is not a request field of this release; send a field a newer API "
                f"added with extra_body={{{name!r}: {value!r}}}"
            )
    return dict(fields)
