"""Contains all the data models used in inputs/outputs"""

from .bad_gateway_response import BadGatewayResponse
from .bad_gateway_response_error_data import BadGatewayResponseErrorData
from .bad_gateway_response_error_data_metadata_type_0 import (
    BadGatewayResponseErrorDataMetadataType0,
)
from .bad_gateway_response_modelgates_metadata_type_0 import (
    BadGatewayResponseModelgatesMetadataType0,
)
from .bad_request_response import BadRequestResponse
from .bad_request_response_error_data import BadRequestResponseErrorData
from .bad_request_response_error_data_metadata_type_0 import (
    BadRequestResponseErrorDataMetadataType0,
)
from .bad_request_response_modelgates_metadata_type_0 import (
    BadRequestResponseModelgatesMetadataType0,
)
from .content_part_audio import ContentPartAudio
from .content_part_audio_audio_url import ContentPartAudioAudioUrl
from .content_part_audio_type import ContentPartAudioType
from .content_part_image import ContentPartImage
from .content_part_image_image_url import ContentPartImageImageUrl
from .content_part_image_type import ContentPartImageType
from .content_part_video import ContentPartVideo
from .content_part_video_type import ContentPartVideoType
from .content_part_video_video_url import ContentPartVideoVideoUrl
from .frame_image import FrameImage
from .frame_image_frame_type import FrameImageFrameType
from .internal_server_response import InternalServerResponse
from .internal_server_response_error_data import InternalServerResponseErrorData
from .internal_server_response_error_data_metadata_type_0 import (
    InternalServerResponseErrorDataMetadataType0,
)
from .internal_server_response_modelgates_metadata_type_0 import (
    InternalServerResponseModelgatesMetadataType0,
)
from .not_found_response import NotFoundResponse
from .not_found_response_error_data import NotFoundResponseErrorData
from .not_found_response_error_data_metadata_type_0 import (
    NotFoundResponseErrorDataMetadataType0,
)
from .not_found_response_modelgates_metadata_type_0 import (
    NotFoundResponseModelgatesMetadataType0,
)
from .payment_required_response import PaymentRequiredResponse
from .payment_required_response_error_data import PaymentRequiredResponseErrorData
from .payment_required_response_error_data_metadata_type_0 import (
    PaymentRequiredResponseErrorDataMetadataType0,
)
from .payment_required_response_modelgates_metadata_type_0 import (
    PaymentRequiredResponseModelgatesMetadataType0,
)
from .provider_options import ProviderOptions
from .provider_options_additional_property import ProviderOptionsAdditionalProperty
from .too_many_requests_response import TooManyRequestsResponse
from .too_many_requests_response_error_data import TooManyRequestsResponseErrorData
from .too_many_requests_response_error_data_metadata_type_0 import (
    TooManyRequestsResponseErrorDataMetadataType0,
)
from .too_many_requests_response_modelgates_metadata_type_0 import (
    TooManyRequestsResponseModelgatesMetadataType0,
)
from .unauthorized_response import UnauthorizedResponse
from .unauthorized_response_error_data import UnauthorizedResponseErrorData
from .unauthorized_response_error_data_metadata_type_0 import (
    UnauthorizedResponseErrorDataMetadataType0,
)
from .unauthorized_response_modelgates_metadata_type_0 import (
    UnauthorizedResponseModelgatesMetadataType0,
)
from .video_generation_request import VideoGenerationRequest
from .video_generation_request_aspect_ratio import VideoGenerationRequestAspectRatio
from .video_generation_request_provider import VideoGenerationRequestProvider
from .video_generation_request_provider_options import (
    VideoGenerationRequestProviderOptions,
)
from .video_generation_request_resolution import VideoGenerationRequestResolution
from .video_generation_response import VideoGenerationResponse
from .video_generation_usage import VideoGenerationUsage
from .video_model import VideoModel
from .video_model_pricing_skus_type_0 import VideoModelPricingSkusType0
from .video_models_list_response import VideoModelsListResponse

__all__ = (
    "BadGatewayResponse",
    "BadGatewayResponseErrorData",
    "BadGatewayResponseErrorDataMetadataType0",
    "BadGatewayResponseModelgatesMetadataType0",
    "BadRequestResponse",
    "BadRequestResponseErrorData",
    "BadRequestResponseErrorDataMetadataType0",
    "BadRequestResponseModelgatesMetadataType0",
    "ContentPartAudio",
    "ContentPartAudioAudioUrl",
    "ContentPartAudioType",
    "ContentPartImage",
    "ContentPartImageImageUrl",
    "ContentPartImageType",
    "ContentPartVideo",
    "ContentPartVideoType",
    "ContentPartVideoVideoUrl",
    "FrameImage",
    "FrameImageFrameType",
    "InternalServerResponse",
    "InternalServerResponseErrorData",
    "InternalServerResponseErrorDataMetadataType0",
    "InternalServerResponseModelgatesMetadataType0",
    "NotFoundResponse",
    "NotFoundResponseErrorData",
    "NotFoundResponseErrorDataMetadataType0",
    "NotFoundResponseModelgatesMetadataType0",
    "PaymentRequiredResponse",
    "PaymentRequiredResponseErrorData",
    "PaymentRequiredResponseErrorDataMetadataType0",
    "PaymentRequiredResponseModelgatesMetadataType0",
    "ProviderOptions",
    "ProviderOptionsAdditionalProperty",
    "TooManyRequestsResponse",
    "TooManyRequestsResponseErrorData",
    "TooManyRequestsResponseErrorDataMetadataType0",
    "TooManyRequestsResponseModelgatesMetadataType0",
    "UnauthorizedResponse",
    "UnauthorizedResponseErrorData",
    "UnauthorizedResponseErrorDataMetadataType0",
    "UnauthorizedResponseModelgatesMetadataType0",
    "VideoGenerationRequest",
    "VideoGenerationRequestAspectRatio",
    "VideoGenerationRequestProvider",
    "VideoGenerationRequestProviderOptions",
    "VideoGenerationRequestResolution",
    "VideoGenerationResponse",
    "VideoGenerationUsage",
    "VideoModel",
    "VideoModelPricingSkusType0",
    "VideoModelsListResponse",
)
