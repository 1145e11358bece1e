from enum import StrEnum


class ContentPartAudioType(StrEnum):
    AUDIO_URL = "audio_url"

    def __str__(self) -> str:
        return str(self.value)
