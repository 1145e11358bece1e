from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.content_part_image_type import ContentPartImageType
from ..models.frame_image_frame_type import FrameImageFrameType

if TYPE_CHECKING:
    from ..models.content_part_image_image_url import ContentPartImageImageUrl


T = TypeVar("T", bound="FrameImage")


@_attrs_define
class FrameImage:
    """
    Attributes:
        image_url (ContentPartImageImageUrl):
        type_ (ContentPartImageType):
        frame_type (FrameImageFrameType): Whether this image represents the first or last frame of the video
    """

    image_url: ContentPartImageImageUrl
    type_: ContentPartImageType
    frame_type: FrameImageFrameType
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        image_url = self.image_url.to_dict()

        type_ = self.type_.value

        frame_type = self.frame_type.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "image_url": image_url,
                "type": type_,
                "frame_type": frame_type,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.content_part_image_image_url import ContentPartImageImageUrl

        d = dict(src_dict)
        image_url = ContentPartImageImageUrl.from_dict(d.pop("image_url"))

        type_ = ContentPartImageType(d.pop("type"))

        frame_type = FrameImageFrameType(d.pop("frame_type"))

        frame_image = cls(
            image_url=image_url,
            type_=type_,
            frame_type=frame_type,
        )

        frame_image.additional_properties = d
        return frame_image

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
