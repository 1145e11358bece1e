from enum import StrEnum


class VideoModelSupportedResolutionsType0Item(StrEnum):
    VALUE_0 = "480p"
    VALUE_1 = "720p"
    VALUE_2 = "1080p"
    VALUE_3 = "1K"
    VALUE_4 = "2K"
    VALUE_5 = "4K"

    def __str__(self) -> str:
        return str(self.value)
