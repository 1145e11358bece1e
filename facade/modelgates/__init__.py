"""modelgates: the Python client for the ModelGates video generation API.

from modelgates import ModelGates

with ModelGates() as client:  # key from MODELGATES_API_KEY
    result = client.videos.download("job-abc123", "out.mp4")
"""

__version__ = "0.1.0"

from ._client import AsyncModelGates, ModelGates
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    DestinationExistsError,
    DownloadIntegrityError,
    FileSystemError,
    InsecureURLError,
    InternalServerError,
    InvalidAPIKeyError,
    InvalidBaseURLError,
    InvalidParameterError,
    MissingAPIKeyError,
    ModelGatesError,
    NotFoundError,
    PaymentRequiredError,
    RateLimitError,
    ResponseShapeError,
    UnexpectedContentError,
    VideoJobFailedError,
    VideoJobTimeoutError,
    WebhookVerificationError,
)
from ._requests import (
    AspectRatio,
    AudioReference,
    FrameImage,
    FrameType,
    ImageReference,
    InputReference,
    MediaURL,
    ProviderConfig,
    Resolution,
    VideoReference,
    VideoRequestFields,
    audio_reference,
    first_frame,
    image_reference,
    last_frame,
    video_reference,
)
from ._retry import RetryPolicy
from ._stream import AsyncVideoStream, VideoStream
from ._types import DownloadResult, VideoJob, VideoModel
from ._videos import AsyncVideos, Videos
from .batch import BatchIncompleteError, BatchItem, BatchLedgerError, BatchOutput, BatchResult

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AspectRatio",
    "AsyncModelGates",
    "AsyncVideoStream",
    "AsyncVideos",
    "AudioReference",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BatchIncompleteError",
    "BatchItem",
    "BatchLedgerError",
    "BatchOutput",
    "BatchResult",
    "DestinationExistsError",
    "DownloadIntegrityError",
    "DownloadResult",
    "FileSystemError",
    "FrameImage",
    "FrameType",
    "ImageReference",
    "InputReference",
    "InsecureURLError",
    "InternalServerError",
    "InvalidAPIKeyError",
    "InvalidBaseURLError",
    "InvalidParameterError",
    "MediaURL",
    "MissingAPIKeyError",
    "ModelGates",
    "ModelGatesError",
    "NotFoundError",
    "PaymentRequiredError",
    "ProviderConfig",
    "RateLimitError",
    "Resolution",
    "ResponseShapeError",
    "RetryPolicy",
    "UnexpectedContentError",
    "VideoJob",
    "VideoJobFailedError",
    "VideoJobTimeoutError",
    "VideoModel",
    "VideoReference",
    "VideoRequestFields",
    "VideoStream",
    "Videos",
    "WebhookVerificationError",
    "__version__",
    "audio_reference",
    "first_frame",
    "image_reference",
    "last_frame",
    "video_reference",
]
