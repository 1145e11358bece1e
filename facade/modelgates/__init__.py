"""modelgates: the Python client for the ModelGates video generation API.

from modelgates import ModelGates

with ModelGates() as client:  # key from MODELGATES_API_KEY
    result = client.videos.download("job-abc123", "out.mp4")

Names are imported on first use (PEP 562), so ``import modelgates`` and ``modelgates --help``
cost no more than a few milliseconds: httpx, attrs and the generated client load with the
first name that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Every public name, and the module (relative to this package) that defines it. To export
#: a name, add it here AND to the ``TYPE_CHECKING`` imports below (type checkers read
#: those; tests/test_lazy_imports.py keeps the two equal). A name equal to its module's
#: (``"webhooks": "webhooks"``) exports the module itself.
_EXPORTS: dict[str, str] = {
    "AsyncModelGates": "_client",
    "ModelGates": "_client",
    "APIConnectionError": "_errors",
    "APIStatusError": "_errors",
    "APITimeoutError": "_errors",
    "AuthenticationError": "_errors",
    "BadGatewayError": "_errors",
    "BadRequestError": "_errors",
    "DestinationExistsError": "_errors",
    "DownloadIntegrityError": "_errors",
    "FileSystemError": "_errors",
    "InsecureURLError": "_errors",
    "InternalServerError": "_errors",
    "InvalidAPIKeyError": "_errors",
    "InvalidBaseURLError": "_errors",
    "InvalidParameterError": "_errors",
    "MissingAPIKeyError": "_errors",
    "ModelGatesError": "_errors",
    "NotFoundError": "_errors",
    "PaymentRequiredError": "_errors",
    "RateLimitError": "_errors",
    "ResponseShapeError": "_errors",
    "UnexpectedContentError": "_errors",
    "VideoJobFailedError": "_errors",
    "VideoJobTimeoutError": "_errors",
    "WebhookVerificationError": "_errors",
    "AspectRatio": "_requests",
    "AudioReference": "_requests",
    "FrameImage": "_requests",
    "FrameType": "_requests",
    "ImageReference": "_requests",
    "InputReference": "_requests",
    "MediaURL": "_requests",
    "ProviderConfig": "_requests",
    "Resolution": "_requests",
    "VideoReference": "_requests",
    "VideoRequestFields": "_requests",
    "audio_reference": "_requests",
    "first_frame": "_requests",
    "image_reference": "_requests",
    "last_frame": "_requests",
    "video_reference": "_requests",
    "RetryPolicy": "_retry",
    "AsyncVideoStream": "_stream",
    "VideoStream": "_stream",
    "DownloadResult": "_types",
    "VideoJob": "_types",
    "VideoModel": "_types",
    "AsyncVideos": "_videos",
    "Videos": "_videos",
    "BatchIncompleteError": "batch",
    "BatchItem": "batch",
    "BatchLedgerError": "batch",
    "BatchOutput": "batch",
    "BatchResult": "batch",
}

if TYPE_CHECKING:  # the same names, for type checkers (`X as X`: an explicit re-export)
    from ._client import AsyncModelGates as AsyncModelGates
    from ._client import ModelGates as ModelGates
    from ._errors import APIConnectionError as APIConnectionError
    from ._errors import APIStatusError as APIStatusError
    from ._errors import APITimeoutError as APITimeoutError
    from ._errors import AuthenticationError as AuthenticationError
    from ._errors import BadGatewayError as BadGatewayError
    from ._errors import BadRequestError as BadRequestError
    from ._errors import DestinationExistsError as DestinationExistsError
    from ._errors import DownloadIntegrityError as DownloadIntegrityError
    from ._errors import FileSystemError as FileSystemError
    from ._errors import InsecureURLError as InsecureURLError
    from ._errors import InternalServerError as InternalServerError
    from ._errors import InvalidAPIKeyError as InvalidAPIKeyError
    from ._errors import InvalidBaseURLError as InvalidBaseURLError
    from ._errors import InvalidParameterError as InvalidParameterError
    from ._errors import MissingAPIKeyError as MissingAPIKeyError
    from ._errors import ModelGatesError as ModelGatesError
    from ._errors import NotFoundError as NotFoundError
    from ._errors import PaymentRequiredError as PaymentRequiredError
    from ._errors import RateLimitError as RateLimitError
    from ._errors import ResponseShapeError as ResponseShapeError
    from ._errors import UnexpectedContentError as UnexpectedContentError
    from ._errors import VideoJobFailedError as VideoJobFailedError
    from ._errors import VideoJobTimeoutError as VideoJobTimeoutError
    from ._errors import WebhookVerificationError as WebhookVerificationError
    from ._requests import AspectRatio as AspectRatio
    from ._requests import AudioReference as AudioReference
    from ._requests import FrameImage as FrameImage
    from ._requests import FrameType as FrameType
    from ._requests import ImageReference as ImageReference
    from ._requests import InputReference as InputReference
    from ._requests import MediaURL as MediaURL
    from ._requests import ProviderConfig as ProviderConfig
    from ._requests import Resolution as Resolution
    from ._requests import VideoReference as VideoReference
    from ._requests import VideoRequestFields as VideoRequestFields
    from ._requests import audio_reference as audio_reference
    from ._requests import first_frame as first_frame
    from ._requests import image_reference as image_reference
    from ._requests import last_frame as last_frame
    from ._requests import video_reference as video_reference
    from ._retry import RetryPolicy as RetryPolicy
    from ._stream import AsyncVideoStream as AsyncVideoStream
    from ._stream import VideoStream as VideoStream
    from ._types import DownloadResult as DownloadResult
    from ._types import VideoJob as VideoJob
    from ._types import VideoModel as VideoModel
    from ._videos import AsyncVideos as AsyncVideos
    from ._videos import Videos as Videos
    from .batch import BatchIncompleteError as BatchIncompleteError
    from .batch import BatchItem as BatchItem
    from .batch import BatchLedgerError as BatchLedgerError
    from .batch import BatchOutput as BatchOutput
    from .batch import BatchResult as BatchResult

__all__ = sorted([*_EXPORTS, "__version__"])


# Hidden from type checkers, which would otherwise accept any name (they read the imports
# above instead).
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """The public name ``name``, imported from its module the first time it is asked for."""
        where = _EXPORTS.get(name)
        if where is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        import importlib

        module = importlib.import_module(f".{where}", __name__)
        value = module if where == name else getattr(module, name)
        globals()[name] = value  # later lookups do not come back here
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *_EXPORTS})
