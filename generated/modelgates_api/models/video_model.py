from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.video_model_pricing_skus_type_0 import VideoModelPricingSkusType0


T = TypeVar("T", bound="VideoModel")


@_attrs_define
class VideoModel:
    """
    Attributes:
        allowed_passthrough_parameters (list[str] | Unset): List of parameters that are allowed to be passed through to
            the provider
        canonical_slug (str | Unset): Canonical slug for the model
        created (int | Unset): Unix timestamp of when the model was created
        description (str | Unset): Description of the model
        generate_audio (bool | None | Unset): Whether the model supports generating audio alongside video
        hugging_face_id (None | str | Unset): Hugging Face model identifier, if applicable
        id (str | Unset): Unique identifier for the model
        name (str | Unset): Display name of the model
        pricing_skus (None | Unset | VideoModelPricingSkusType0): Pricing SKUs with provider prefix stripped, values as
            strings
        seed (bool | None | Unset): Whether the model supports deterministic generation via seed parameter
        supported_aspect_ratios (list[str] | None | Unset): Supported output aspect ratios
        supported_durations (list[int] | None | Unset): Supported video durations in seconds
        supported_frame_images (list[str] | None | Unset): Supported frame image types (e.g. first_frame, last_frame)
        supported_resolutions (list[str] | None | Unset): Supported output resolutions
        supported_sizes (list[str] | None | Unset): Supported output sizes (width x height)
    """

    allowed_passthrough_parameters: list[str] | Unset = UNSET
    canonical_slug: str | Unset = UNSET
    created: int | Unset = UNSET
    description: str | Unset = UNSET
    generate_audio: bool | None | Unset = UNSET
    hugging_face_id: None | str | Unset = UNSET
    id: str | Unset = UNSET
    name: str | Unset = UNSET
    pricing_skus: None | Unset | VideoModelPricingSkusType0 = UNSET
    seed: bool | None | Unset = UNSET
    supported_aspect_ratios: list[str] | None | Unset = UNSET
    supported_durations: list[int] | None | Unset = UNSET
    supported_frame_images: list[str] | None | Unset = UNSET
    supported_resolutions: list[str] | None | Unset = UNSET
    supported_sizes: list[str] | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.video_model_pricing_skus_type_0 import VideoModelPricingSkusType0

        allowed_passthrough_parameters: list[str] | Unset = UNSET
        if not isinstance(self.allowed_passthrough_parameters, Unset):
            allowed_passthrough_parameters = self.allowed_passthrough_parameters

        canonical_slug = self.canonical_slug

        created = self.created

        description = self.description

        generate_audio: bool | None | Unset
        if isinstance(self.generate_audio, Unset):
            generate_audio = UNSET
        else:
            generate_audio = self.generate_audio

        hugging_face_id: None | str | Unset
        if isinstance(self.hugging_face_id, Unset):
            hugging_face_id = UNSET
        else:
            hugging_face_id = self.hugging_face_id

        id = self.id

        name = self.name

        pricing_skus: dict[str, Any] | None | Unset
        if isinstance(self.pricing_skus, Unset):
            pricing_skus = UNSET
        elif isinstance(self.pricing_skus, VideoModelPricingSkusType0):
            pricing_skus = self.pricing_skus.to_dict()
        else:
            pricing_skus = self.pricing_skus

        seed: bool | None | Unset
        if isinstance(self.seed, Unset):
            seed = UNSET
        else:
            seed = self.seed

        supported_aspect_ratios: list[str] | None | Unset
        if isinstance(self.supported_aspect_ratios, Unset):
            supported_aspect_ratios = UNSET
        elif isinstance(self.supported_aspect_ratios, list):
            supported_aspect_ratios = self.supported_aspect_ratios

        else:
            supported_aspect_ratios = self.supported_aspect_ratios

        supported_durations: list[int] | None | Unset
        if isinstance(self.supported_durations, Unset):
            supported_durations = UNSET
        elif isinstance(self.supported_durations, list):
            supported_durations = self.supported_durations

        else:
            supported_durations = self.supported_durations

        supported_frame_images: list[str] | None | Unset
        if isinstance(self.supported_frame_images, Unset):
            supported_frame_images = UNSET
        elif isinstance(self.supported_frame_images, list):
            supported_frame_images = self.supported_frame_images

        else:
            supported_frame_images = self.supported_frame_images

        supported_resolutions: list[str] | None | Unset
        if isinstance(self.supported_resolutions, Unset):
            supported_resolutions = UNSET
        elif isinstance(self.supported_resolutions, list):
            supported_resolutions = self.supported_resolutions

        else:
            supported_resolutions = self.supported_resolutions

        supported_sizes: list[str] | None | Unset
        if isinstance(self.supported_sizes, Unset):
            supported_sizes = UNSET
        elif isinstance(self.supported_sizes, list):
            supported_sizes = self.supported_sizes

        else:
            supported_sizes = self.supported_sizes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if allowed_passthrough_parameters is not UNSET:
            field_dict["allowed_passthrough_parameters"] = (
                allowed_passthrough_parameters
            )
        if canonical_slug is not UNSET:
            field_dict["canonical_slug"] = canonical_slug
        if created is not UNSET:
            field_dict["created"] = created
        if description is not UNSET:
            field_dict["description"] = description
        if generate_audio is not UNSET:
            field_dict["generate_audio"] = generate_audio
        if hugging_face_id is not UNSET:
            field_dict["hugging_face_id"] = hugging_face_id
        if id is not UNSET:
            field_dict["id"] = id
        if name is not UNSET:
            field_dict["name"] = name
        if pricing_skus is not UNSET:
            field_dict["pricing_skus"] = pricing_skus
        if seed is not UNSET:
            field_dict["seed"] = seed
        if supported_aspect_ratios is not UNSET:
            field_dict["supported_aspect_ratios"] = supported_aspect_ratios
        if supported_durations is not UNSET:
            field_dict["supported_durations"] = supported_durations
        if supported_frame_images is not UNSET:
            field_dict["supported_frame_images"] = supported_frame_images
        if supported_resolutions is not UNSET:
            field_dict["supported_resolutions"] = supported_resolutions
        if supported_sizes is not UNSET:
            field_dict["supported_sizes"] = supported_sizes

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.video_model_pricing_skus_type_0 import VideoModelPricingSkusType0

        d = dict(src_dict)
        allowed_passthrough_parameters = cast(
            list[str], d.pop("allowed_passthrough_parameters", UNSET)
        )

        canonical_slug = d.pop("canonical_slug", UNSET)

        created = d.pop("created", UNSET)

        description = d.pop("description", UNSET)

        def _parse_generate_audio(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        generate_audio = _parse_generate_audio(d.pop("generate_audio", UNSET))

        def _parse_hugging_face_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        hugging_face_id = _parse_hugging_face_id(d.pop("hugging_face_id", UNSET))

        id = d.pop("id", UNSET)

        name = d.pop("name", UNSET)

        def _parse_pricing_skus(
            data: object,
        ) -> None | Unset | VideoModelPricingSkusType0:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                pricing_skus_type_0 = VideoModelPricingSkusType0.from_dict(data)

                return pricing_skus_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | VideoModelPricingSkusType0, data)

        pricing_skus = _parse_pricing_skus(d.pop("pricing_skus", UNSET))

        def _parse_seed(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        seed = _parse_seed(d.pop("seed", UNSET))

        def _parse_supported_aspect_ratios(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                supported_aspect_ratios_type_0 = cast(list[str], data)

                return supported_aspect_ratios_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        supported_aspect_ratios = _parse_supported_aspect_ratios(
            d.pop("supported_aspect_ratios", UNSET)
        )

        def _parse_supported_durations(data: object) -> list[int] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                supported_durations_type_0 = cast(list[int], data)

                return supported_durations_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[int] | None | Unset, data)

        supported_durations = _parse_supported_durations(
            d.pop("supported_durations", UNSET)
        )

        def _parse_supported_frame_images(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                supported_frame_images_type_0 = cast(list[str], data)

                return supported_frame_images_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        supported_frame_images = _parse_supported_frame_images(
            d.pop("supported_frame_images", UNSET)
        )

        def _parse_supported_resolutions(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                supported_resolutions_type_0 = cast(list[str], data)

                return supported_resolutions_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        supported_resolutions = _parse_supported_resolutions(
            d.pop("supported_resolutions", UNSET)
        )

        def _parse_supported_sizes(data: object) -> list[str] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                supported_sizes_type_0 = cast(list[str], data)

                return supported_sizes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[str] | None | Unset, data)

        supported_sizes = _parse_supported_sizes(d.pop("supported_sizes", UNSET))

        video_model = cls(
            allowed_passthrough_parameters=allowed_passthrough_parameters,
            canonical_slug=canonical_slug,
            created=created,
            description=description,
            generate_audio=generate_audio,
            hugging_face_id=hugging_face_id,
            id=id,
            name=name,
            pricing_skus=pricing_skus,
            seed=seed,
            supported_aspect_ratios=supported_aspect_ratios,
            supported_durations=supported_durations,
            supported_frame_images=supported_frame_images,
            supported_resolutions=supported_resolutions,
            supported_sizes=supported_sizes,
        )

        video_model.additional_properties = d
        return video_model

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
