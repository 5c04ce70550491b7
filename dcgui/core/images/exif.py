"""Capture date and camera of a photo, read from its EXIF header (never the pixels).

Shown in the image pane and written to the clusters CSV. Best effort by design: a file without
EXIF, or one Pillow cannot open (most camera RAW files), gives empty strings, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003  # when the picture was taken (in the Exif sub-IFD)
_DATETIME = 0x0132  # when the file was last written: the fallback
_MAKE, _MODEL = 0x010F, 0x0110


@dataclass(frozen=True)
class PhotoFacts:
    taken: str = ""  # "2021-07-03 14:22:05" as the camera recorded it (local time, no zone)
    camera: str = ""  # "Canon EOS 80D"

    def summary(self) -> str:
        """One line for the image pane ("taken 2021-07-03 14:22:05 · Canon EOS 80D"), or ""."""
        parts = [f"taken {self.taken}" if self.taken else "", self.camera]
        return " · ".join(p for p in parts if p)


def photo_facts(path: Path) -> PhotoFacts:
    """The EXIF capture date and camera of ``path``; empty fields where the file has none."""
    try:
        with Image.open(path) as im:  # reads the header only
            exif = im.getexif()
            taken = _text(exif.get_ifd(_EXIF_IFD).get(_DATETIME_ORIGINAL)) or _text(exif.get(_DATETIME))
            make, model = _text(exif.get(_MAKE)), _text(exif.get(_MODEL))
    except Exception:
        return PhotoFacts()
    return PhotoFacts(_date(taken), _camera(make, model))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return str(value).strip("\x00 ").strip() if value is not None else ""


def _date(value: str) -> str:
    """EXIF writes "2021:07:03 14:22:05"; show the date with dashes."""
    if len(value) >= 10 and value[4] == ":" and value[7] == ":":
        return f"{value[:4]}-{value[5:7]}-{value[8:]}"
    return value


def _camera(make: str, model: str) -> str:
    """Most cameras repeat the maker in the model ("Canon" + "Canon EOS 80D"): say it once."""
    if make and model.lower().startswith(make.split()[0].lower()):
        return model
    return " ".join(p for p in (make, model) if p)
