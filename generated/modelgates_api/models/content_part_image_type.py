from enum import StrEnum


class ContentPartImageType(StrEnum):
    IMAGE_URL = "image_url"

    def __str__(self) -> str:
        return str(self.value)
