from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.internal_server_response_error_data import (
        InternalServerResponseErrorData,
    )
    from ..models.internal_server_response_modelgates_metadata_type_0 import (
        InternalServerResponseModelgatesMetadataType0,
    )


T = TypeVar("T", bound="InternalServerResponse")


@_attrs_define
class InternalServerResponse:
    """Internal Server Error - Unexpected server error

    Attributes:
        error (InternalServerResponseErrorData): Error data for InternalServerResponse
        modelgates_metadata (InternalServerResponseModelgatesMetadataType0 | None | Unset):
        user_id (None | str | Unset):
    """

    error: InternalServerResponseErrorData
    modelgates_metadata: (
        InternalServerResponseModelgatesMetadataType0 | None | Unset
    ) = UNSET
    user_id: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.internal_server_response_modelgates_metadata_type_0 import (
            InternalServerResponseModelgatesMetadataType0,
        )

        error = self.error.to_dict()

        modelgates_metadata: dict[str, Any] | None | Unset
        if isinstance(self.modelgates_metadata, Unset):
            modelgates_metadata = UNSET
        elif isinstance(
            self.modelgates_metadata, InternalServerResponseModelgatesMetadataType0
        ):
            modelgates_metadata = self.modelgates_metadata.to_dict()
        else:
            modelgates_metadata = self.modelgates_metadata

        user_id: None | str | Unset
        if isinstance(self.user_id, Unset):
            user_id = UNSET
        else:
            user_id = self.user_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "error": error,
            }
        )
        if modelgates_metadata is not UNSET:
            field_dict["modelgates_metadata"] = modelgates_metadata
        if user_id is not UNSET:
            field_dict["user_id"] = user_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.internal_server_response_error_data import (
            InternalServerResponseErrorData,
        )
        from ..models.internal_server_response_modelgates_metadata_type_0 import (
            InternalServerResponseModelgatesMetadataType0,
        )

        d = dict(src_dict)
        error = InternalServerResponseErrorData.from_dict(d.pop("error"))

        def _parse_modelgates_metadata(
            data: object,
        ) -> InternalServerResponseModelgatesMetadataType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                modelgates_metadata_type_0 = (
                    InternalServerResponseModelgatesMetadataType0.from_dict(data)
                )

                return modelgates_metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                InternalServerResponseModelgatesMetadataType0 | None | Unset, data
            )

        modelgates_metadata = _parse_modelgates_metadata(
            d.pop("modelgates_metadata", UNSET)
        )

        def _parse_user_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        user_id = _parse_user_id(d.pop("user_id", UNSET))

        internal_server_response = cls(
            error=error,
            modelgates_metadata=modelgates_metadata,
            user_id=user_id,
        )

        internal_server_response.additional_properties = d
        return internal_server_response

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
