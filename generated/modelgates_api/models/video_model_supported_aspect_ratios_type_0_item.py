from enum import StrEnum


class VideoModelSupportedAspectRatiosType0Item(StrEnum):
    VALUE_0 = "16:9"
    VALUE_1 = "9:16"
    VALUE_2 = "1:1"
    VALUE_3 = "4:3"
    VALUE_4 = "3:4"
    VALUE_5 = "3:2"
    VALUE_6 = "2:3"
    VALUE_7 = "21:9"
    VALUE_8 = "9:21"

    def __str__(self) -> str:
        return str(self.value)
