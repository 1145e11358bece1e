from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.content_part_video_type import ContentPartVideoType

if TYPE_CHECKING:
    from ..models.content_part_video_video_url import ContentPartVideoVideoUrl


T = TypeVar("T", bound="ContentPartVideo")


@_attrs_define
class ContentPartVideo:
    """
    Attributes:
        type_ (ContentPartVideoType):
        video_url (ContentPartVideoVideoUrl):
    """

    type_: ContentPartVideoType
    video_url: ContentPartVideoVideoUrl
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        type_ = self.type_.value

        video_url = self.video_url.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "type": type_,
                "video_url": video_url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.content_part_video_video_url import ContentPartVideoVideoUrl

        d = dict(src_dict)
        type_ = ContentPartVideoType(d.pop("type"))

        video_url = ContentPartVideoVideoUrl.from_dict(d.pop("video_url"))

        content_part_video = cls(
            type_=type_,
            video_url=video_url,
        )

        content_part_video.additional_properties = d
        return content_part_video

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
