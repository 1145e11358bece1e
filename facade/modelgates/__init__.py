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
    InsecureURLError,
    InternalServerError,
    InvalidAPIKeyError,
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
)
from ._retry import RetryPolicy
from ._stream import AsyncVideoStream, VideoStream
from ._types import DownloadResult, VideoJob, VideoModel
from ._videos import AsyncVideos, Videos

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncModelGates",
    "AsyncVideoStream",
    "AsyncVideos",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "DestinationExistsError",
    "DownloadIntegrityError",
    "DownloadResult",
    "InsecureURLError",
    "InternalServerError",
    "InvalidAPIKeyError",
    "InvalidParameterError",
    "MissingAPIKeyError",
    "ModelGates",
    "ModelGatesError",
    "NotFoundError",
    "PaymentRequiredError",
    "RateLimitError",
    "ResponseShapeError",
    "RetryPolicy",
    "UnexpectedContentError",
    "VideoJob",
    "VideoJobFailedError",
    "VideoJobTimeoutError",
    "VideoModel",
    "VideoStream",
    "Videos",
    "__version__",
]
